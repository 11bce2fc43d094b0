# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A procedure may start applications without a settle period (applications_settle: 0): each start
is then done as soon as the port accepts, and an application that dies a moment later would go
unnoticed by the start itself. Such a play must be followed, before the play that ends the run and
releases the lock, by a play on the same hosts that runs the applications role's verify entry point,
so the run fails naming the application instead of reporting success."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.genesys_dr.framework.tests.unit.playbooks import procedure

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROCEDURES = procedure.PROCEDURES
ROLE = 'genesys_dr.framework.applications'


def plays(name):
    return procedure.plays(name)


def role_calls(play):
    for task in play.get('tasks') or []:
        call = task.get('ansible.builtin.import_role') or task.get('ansible.builtin.include_role')
        if call and call.get('name') == ROLE:
            yield call.get('tasks_from', 'main'), task.get('vars') or {}


def unsettled_start(play):
    return any(entry == 'main' and str(args.get('applications_settle')) in ('0', '0.0')
               for entry, args in role_calls(play))


def verifies(play):
    return any(entry == 'verify' for entry, _args in role_calls(play))


def ends_run(play):
    return any((task.get('ansible.builtin.import_role') or {}).get('tasks_from') == 'end'
               for task in play.get('tasks') or [])


def missing_verifications(procedure):
    """The hosts patterns of unsettled starts with no verify play on the same hosts before the End play."""
    missing = []
    for index, play in enumerate(procedure):
        if not unsettled_start(play):
            continue
        later = []
        for after in procedure[index + 1:]:
            if ends_run(after):
                break
            later.append(after)
        if not any(verifies(after) and after.get('hosts') == play.get('hosts') for after in later):
            missing.append(play.get('hosts'))
    return missing


@pytest.mark.parametrize('name', PROCEDURES)
def test_every_unsettled_start_is_verified_before_the_end(name):
    assert missing_verifications(plays(name)) == []


def test_the_disaster_path_starts_unsettled():
    """The failover and failback start their masters without a settle period (the RTO depends on it)."""
    for name in ('failover.yml', 'failback.yml'):
        assert any(unsettled_start(play) for play in plays(name)), name


def test_a_missing_verification_is_found():
    """The check itself: the failback without its verify play, or with it after the End play, is refused."""
    procedure = plays('failback.yml')
    verify = [play for play in procedure if verifies(play)]
    assert len(verify) == 1
    without = [play for play in procedure if play is not verify[0]]
    assert missing_verifications(without) == ['management_hosts:&dr_main']
    after_end = without + verify
    assert missing_verifications(after_end) == ['management_hosts:&dr_main']
    elsewhere = [dict(play, hosts='management_hosts:&dr_secondary') if play is verify[0] else play
                 for play in procedure]
    assert missing_verifications(elsewhere) == ['management_hosts:&dr_main']
