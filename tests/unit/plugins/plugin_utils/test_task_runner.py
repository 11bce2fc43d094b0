# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""task_runner: the one answer to "is GENESYS_DR_MITOGEN set" and "do this run's tasks go
through Mitogen". The end-to-end answers (the report of a real run, the preflight under
fail_stop in a forked worker) are pinned in tests/unit/plugins/callback/test_dr_report.py and
tests/unit/playbooks/test_preflight.py; these pin the parse and the detection itself."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib

import pytest
from ansible.errors import AnsibleError
from ansible.plugins.strategy.linear import StrategyModule as PlainLinear

from ansible_collections.genesys_dr.framework.plugins.plugin_utils import task_runner

FAIL_STOP = 'ansible_collections.genesys_dr.framework.plugins.strategy.fail_stop'


@pytest.mark.parametrize('value, wanted', [
    ('true', True), ('false', False), ('yes', True), ('0', False), ('1', True), ('no', False),
    (' True ', True), ('', False), ('  ', False), (None, False),
])
def test_the_switch_is_read_as_a_boolean(value, wanted):
    environ = {'PATH': '/usr/bin'} if value is None else {'PATH': '/usr/bin', task_runner.MITOGEN_ENV: value}
    assert task_runner.mitogen_requested(environ) is wanted


@pytest.mark.parametrize('value', ['maybe', 'ture', '2', 'on please'])
def test_a_switch_that_is_not_a_boolean_is_refused_by_name(value):
    with pytest.raises(AnsibleError) as raised:
        task_runner.mitogen_requested({task_runner.MITOGEN_ENV: value})
    assert str(raised.value).startswith('GENESYS_DR_MITOGEN=%s is not a boolean: set it to true' % value)


def test_the_switch_is_read_from_the_controllers_environment(monkeypatch):
    monkeypatch.setenv('GENESYS_DR_MITOGEN', 'yes')
    assert task_runner.mitogen_requested() is True
    monkeypatch.delenv('GENESYS_DR_MITOGEN')
    assert task_runner.mitogen_requested() is False


@pytest.fixture
def fresh_run(monkeypatch):
    """No strategy has run yet in this (pretended) controller process."""
    monkeypatch.setattr(task_runner, '_STRATEGIES_RUN', set())


@pytest.fixture
def fail_stop_base(monkeypatch):
    """fail_stop's own choice of base class under a given GENESYS_DR_MITOGEN value."""
    monkeypatch.delenv('GENESYS_DR_MITOGEN', raising=False)
    module = importlib.import_module(FAIL_STOP)

    def base(value):
        monkeypatch.setenv('GENESYS_DR_MITOGEN', value)
        return module._linear_base()  # pylint: disable=protected-access
    return base


def test_nothing_ran_nothing_went_through_mitogen(fresh_run):
    assert task_runner.runs_through_mitogen() is False


def test_the_plain_linear_strategy_does_not_run_through_mitogen(fresh_run):
    task_runner.record_strategy(PlainLinear)
    assert task_runner.runs_through_mitogen() is False


def test_mitogen_imported_is_not_mitogen_used(fresh_run):
    """What the old test ('ansible_mitogen.strategy' in sys.modules) got wrong: Mitogen's strategy
    module being loaded does not make a plain strategy run its tasks through Mitogen."""
    importlib.import_module('ansible_mitogen.strategy')
    task_runner.record_strategy(PlainLinear)
    assert task_runner.runs_through_mitogen() is False


@pytest.mark.parametrize('value, through_mitogen', [('false', False), ('true', True)])
def test_the_class_fail_stop_builds_decides(fresh_run, fail_stop_base, value, through_mitogen):
    strategy = fail_stop_base(value)
    assert task_runner.runs_through_mitogen() is False
    task_runner.record_strategy(strategy)
    assert task_runner.runs_through_mitogen() is through_mitogen
