# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures for the DNS modules, loaded with
pytest_plugins = ['ansible_collections.genesys_dr.framework.tests.unit.plugins.conftest_dns'].
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import itertools
import shutil

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.genesys_dr.framework.tests.unit.plugins.bindserver import BindZone

_COUNTER = itertools.count(1)


class ModuleExit(Exception):
    """exit_json or fail_json was called; .result holds its arguments."""

    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


def _run_module(module, args, check_mode=False, diff=False):
    warnings = []

    def exit_json(self, **kwargs):
        kwargs.setdefault('failed', False)
        raise ModuleExit(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.update(failed=True, msg=msg)
        raise ModuleExit(kwargs)

    def warn(self, warning):
        warnings.append(warning)

    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.MonkeyPatch.context() as patcher:
            patcher.setattr(basic.AnsibleModule, 'exit_json', exit_json)
            patcher.setattr(basic.AnsibleModule, 'fail_json', fail_json)
            patcher.setattr(basic.AnsibleModule, 'warn', warn)
            with pytest.raises(ModuleExit) as raised:
                module.main()
    result = raised.value.result
    result['warnings'] = warnings
    return result


@pytest.fixture
def run_module():
    """run_module(module, args, check_mode=False, diff=False): run module.main() in-process with args
    and return its result (exit_json or fail_json arguments, with 'failed' and 'warnings')."""
    return _run_module


@pytest.fixture(scope='session')
def bind_zone(tmp_path_factory):
    """A running BIND primary + one secondary for a test zone (shared by all DNS tests)."""
    if not shutil.which('named') or not shutil.which('tsig-keygen') or not shutil.which('dig'):
        pytest.skip('BIND 9 (named, tsig-keygen, dig) is not installed')
    zone = BindZone(tmp_path_factory.mktemp('bind'))
    zone.start()
    yield zone
    zone.stop()


@pytest.fixture
def unique():
    """A record name no other test uses (the zone is shared by the session)."""
    return 'r%d' % next(_COUNTER)
