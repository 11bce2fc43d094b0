# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""dr_state against a real BIND primary + secondary; effects are read back with dig."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import subprocess
import time

import pytest

from ansible_collections.genesys_dr.framework.plugins.modules import dr_state

pytest_plugins = ['ansible_collections.genesys_dr.framework.tests.unit.plugins.conftest_dns']

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


@pytest.fixture
def names(unique):
    return dict(state_name='_dr-state.' + unique, lock_name='_dr-lock.' + unique)


def fields(dig_lines):
    """The key=value strings of a TXT record as dig prints it."""
    assert len(dig_lines) == 1, dig_lines
    return dict(part.split('=', 1) for part in json.loads('[%s]' % dig_lines[0].replace('" "', '", "')))


def set_args(bind_zone, names, **extra):
    args = bind_zone.connection_args(action='set', run_id='run-1', operation='failover', state='FAILED_OVER', live_site='site2',
                                     expect_state=['NORMAL'], **names)
    args.update(extra)
    return args


def seed_state(bind_zone, names, state='NORMAL', live_site='site1', run='run-0'):
    bind_zone.nsupdate('update add %s.%s. 60 TXT "state=%s" "live_site=%s" "run=%s" "changed=2025-01-01T00:00:00Z" "operation=normal"'
                       % (names['state_name'], bind_zone.zone, state, live_site, run))


def seed_lock(bind_zone, names, holder, since, operation='failover'):
    bind_zone.nsupdate('update add %s.%s. 60 TXT "holder=%s" "operation=%s" "since=%d" "host=ctl1"'
                       % (names['lock_name'], bind_zone.zone, holder, operation, since))


def take_lock(run_module, bind_zone, names, run_id='run-1', **extra):
    return run_module(dr_state, bind_zone.connection_args(action='lock', run_id=run_id, operation='failover', **dict(names, **extra)))


def test_initialise_from_absent_then_rerun_is_unchanged(run_module, bind_zone, names):
    assert take_lock(run_module, bind_zone, names)['changed'] is True
    args = set_args(bind_zone, names, state='NORMAL', live_site='site1', expect_state=['ABSENT'], operation='normal')
    first = run_module(dr_state, args)
    assert not first['failed'], first
    assert first['changed'] is True and first['previous']['dr_state'] is None
    stored = fields(bind_zone.dig(names['state_name'], 'TXT'))
    assert stored['state'] == 'NORMAL' and stored['live_site'] == 'site1' and stored['run'] == 'run-1' and stored['operation'] == 'normal'
    assert time.strptime(stored['changed'], '%Y-%m-%dT%H:%M:%SZ')
    assert first['dr_state'] == stored
    serial = bind_zone.serial()
    second = run_module(dr_state, args)
    assert not second['failed'], second
    assert second['changed'] is False and second['update']['changes'] == []
    assert bind_zone.serial() == serial


def test_set_switches_state_and_a_record_in_one_update(run_module, bind_zone, names, unique):
    seed_state(bind_zone, names)
    bind_zone.nsupdate('update add cs-%s.%s. 30 A 192.0.2.1' % (unique, bind_zone.zone))
    take_lock(run_module, bind_zone, names)
    serial = bind_zone.serial()
    records = [dict(name='cs-' + unique, type='A', ttl=30, value=['192.0.2.2'], expect=['192.0.2.1'])]
    args = set_args(bind_zone, names, expect_live_site='site1', records=records, verify_servers=bind_zone.verify_servers(), verify_timeout=10)
    result = run_module(dr_state, args, diff=True)
    assert not result['failed'], result
    assert bind_zone.serial() == serial + 1
    assert bind_zone.dig('cs-' + unique, 'A') == ['192.0.2.2']
    assert fields(bind_zone.dig(names['state_name'], 'TXT', bind_zone.secondaries[0]))['state'] == 'FAILED_OVER'
    assert result['dr_state']['state'] == 'FAILED_OVER' and result['dr_state']['live_site'] == 'site2'
    assert result['previous']['dr_state']['state'] == 'NORMAL'
    assert result['records'][0]['after']['value'] == ['192.0.2.2']
    # The update is conditioned on the old state, the old A record and the lock held by this run.
    prereqs = ' '.join(result['update']['prerequisites'])
    assert 'state=NORMAL' in prereqs and '192.0.2.1' in prereqs and 'holder=run-1' in prereqs
    assert [server['in_sync'] for server in result['servers']] == [True, True]
    assert 'state=FAILED_OVER' in result['diff']['after'] and 'state=NORMAL' in result['diff']['before']


def test_set_refused_when_state_is_not_the_expected_one(run_module, bind_zone, names):
    seed_state(bind_zone, names, state='REPROTECTED', live_site='site2', run='run-x')
    take_lock(run_module, bind_zone, names)
    serial = bind_zone.serial()
    result = run_module(dr_state, set_args(bind_zone, names))
    assert result['failed']
    assert 'is REPROTECTED (live site site2), set by run run-x (operation normal)' in result['msg']
    assert 'expected NORMAL' in result['msg']
    assert bind_zone.serial() == serial
    assert fields(bind_zone.dig(names['state_name'], 'TXT'))['state'] == 'REPROTECTED'


def test_set_refused_on_wrong_live_site(run_module, bind_zone, names):
    seed_state(bind_zone, names, live_site='site3')
    take_lock(run_module, bind_zone, names)
    result = run_module(dr_state, set_args(bind_zone, names, expect_live_site='site1'))
    assert result['failed'] and 'expected NORMAL with live site site1' in result['msg']


def test_set_is_all_or_nothing_when_the_a_record_moved(run_module, bind_zone, names, unique):
    seed_state(bind_zone, names)
    bind_zone.nsupdate('update add cs-%s.%s. 30 A 192.0.2.9' % (unique, bind_zone.zone))
    take_lock(run_module, bind_zone, names)
    records = [dict(name='cs-' + unique, type='A', value=['192.0.2.2'], expect=['192.0.2.1'])]
    result = run_module(dr_state, set_args(bind_zone, names, records=records))
    assert result['failed'] and 'compare-and-swap refused' in result['msg'] and '192.0.2.9' in result['msg']
    assert fields(bind_zone.dig(names['state_name'], 'TXT'))['state'] == 'NORMAL'
    assert bind_zone.dig('cs-' + unique, 'A') == ['192.0.2.9']


def test_set_needs_the_lock_of_this_run(run_module, bind_zone, names):
    seed_state(bind_zone, names)
    free = run_module(dr_state, set_args(bind_zone, names))
    assert free['failed'] and 'the lock is free: take it first with action=lock' in free['msg']
    take_lock(run_module, bind_zone, names, run_id='run-other')
    other = run_module(dr_state, set_args(bind_zone, names))
    assert other['failed'] and 'held by run run-other (operation failover' in other['msg']
    assert fields(bind_zone.dig(names['state_name'], 'TXT'))['state'] == 'NORMAL'


def test_set_in_check_mode_sends_nothing(run_module, bind_zone, names):
    seed_state(bind_zone, names)
    serial = bind_zone.serial()
    # The lock step of a check-mode run did not really take the lock: accepted in check mode.
    result = run_module(dr_state, set_args(bind_zone, names), check_mode=True)
    assert not result['failed'], result
    assert result['changed'] is True and result['update']['sent'] is False
    assert any('state=FAILED_OVER' in change for change in result['update']['changes'])
    assert result['dr_state']['state'] == 'FAILED_OVER'
    assert bind_zone.serial() == serial
    assert fields(bind_zone.dig(names['state_name'], 'TXT'))['state'] == 'NORMAL'


def test_lock_is_reentrant_and_refuses_other_runs(run_module, bind_zone, names):
    first = take_lock(run_module, bind_zone, names)
    assert first['changed'] is True and first['previous']['lock'] is None
    stored = fields(bind_zone.dig(names['lock_name'], 'TXT'))
    assert stored['holder'] == 'run-1' and stored['operation'] == 'failover' and abs(int(stored['since']) - time.time()) < 60
    assert first['lock']['holder'] == 'run-1' and first['lock']['age_seconds'] >= 0
    assert first['update']['prerequisites'] == ['prereq nxrrset %s.%s. TXT' % (names['lock_name'], bind_zone.zone)]
    again = take_lock(run_module, bind_zone, names)
    assert not again['failed'] and again['changed'] is False
    other = take_lock(run_module, bind_zone, names, run_id='run-2')
    assert other['failed']
    assert re.search(r'held by run run-1 \(operation failover, host [^,]+, taken [01] s ago\)', other['msg']), other['msg']
    assert 'break_stale_lock' in other['msg']
    assert fields(bind_zone.dig(names['lock_name'], 'TXT'))['holder'] == 'run-1'


def test_unlock_only_by_the_holder(run_module, bind_zone, names):
    take_lock(run_module, bind_zone, names)
    unlock = dict(names, action='unlock')
    other = run_module(dr_state, bind_zone.connection_args(run_id='run-2', **unlock))
    assert other['failed'] and 'held by run run-1' in other['msg'] and 'not by this run (run-2)' in other['msg']
    assert bind_zone.dig(names['lock_name'], 'TXT') != []
    released = run_module(dr_state, bind_zone.connection_args(run_id='run-1', **unlock))
    assert released['changed'] is True and released['lock'] is None
    assert bind_zone.dig(names['lock_name'], 'TXT') == []
    again = run_module(dr_state, bind_zone.connection_args(run_id='run-1', **unlock))
    assert not again['failed'] and again['changed'] is False


def test_stale_lock_is_broken_only_when_old_enough(run_module, bind_zone, names):
    seed_lock(bind_zone, names, 'run-dead', int(time.time()) - 1000)
    young = take_lock(run_module, bind_zone, names, break_stale_lock=True, stale_after=5000)
    assert young['failed'] and 'less than stale_after=5000 s, so it is not broken' in young['msg']
    assert fields(bind_zone.dig(names['lock_name'], 'TXT'))['holder'] == 'run-dead'
    broken = take_lock(run_module, bind_zone, names, break_stale_lock=True, stale_after=500)
    assert not broken['failed'], broken
    assert broken['changed'] is True
    assert len(broken['warnings']) == 1 and 'broke the stale DR operation lock' in broken['warnings'][0]
    assert 'run run-dead' in broken['warnings'][0]
    assert broken['previous']['lock']['holder'] == 'run-dead' and broken['previous']['lock']['age_seconds'] >= 1000
    assert fields(bind_zone.dig(names['lock_name'], 'TXT'))['holder'] == 'run-1'
    assert broken['update']['prerequisites'][0].startswith('prereq yxrrset %s.%s. TXT "holder=run-dead"' % (names['lock_name'], bind_zone.zone))


def test_read_returns_state_and_lock(run_module, bind_zone, names):
    seed_state(bind_zone, names, state='FAILED_OVER', live_site='site2')
    seed_lock(bind_zone, names, 'run-7', int(time.time()) - 30, operation='reprotect')
    result = run_module(dr_state, bind_zone.connection_args(verify_servers=bind_zone.verify_servers(), **names))
    assert not result['failed'], result
    assert result['changed'] is False
    assert result['dr_state'] == dict(state='FAILED_OVER', live_site='site2', run='run-0', changed='2025-01-01T00:00:00Z', operation='normal')
    assert result['lock']['holder'] == 'run-7' and result['lock']['operation'] == 'reprotect' and 30 <= result['lock']['age_seconds'] < 90
    assert result['serial'] == bind_zone.serial()
    assert len(result['servers']) == 2 and result['servers'][0]['in_sync'] is True


def test_records_only_with_set(run_module, bind_zone, names):
    result = run_module(dr_state, bind_zone.connection_args(records=[dict(name='x', type='A', value=['192.0.2.1'])], **names))
    assert result['failed'] and 'records is only used with action=set' in result['msg']


def test_required_options_per_action(run_module, bind_zone, names):
    result = run_module(dr_state, bind_zone.connection_args(action='set', **names))
    assert result['failed'] and 'action is set but all of the following are missing' in result['msg']


def test_state_and_lock_must_differ(run_module, bind_zone, names):
    args = bind_zone.connection_args(action='lock', run_id='run-1', operation='failover', state_name=names['state_name'],
                                     lock_name=names['state_name'])
    result = run_module(dr_state, args)
    assert result['failed'] and 'state_name and lock_name must name different records' in result['msg']


def test_through_ansible_with_debian_python(bind_zone, names):
    """dr_state end to end through ansible with /usr/bin/python3 (dnspython 2.3): lock, then a refused lock."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='minimal',
               ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_NOCOLOR='1')
    outputs = []
    for run_id in ('run-a', 'run-b'):
        args = bind_zone.connection_args(action='lock', run_id=run_id, operation='failback', **names)
        outputs.append(subprocess.run([os.path.join(TOP, '.venv', 'bin', 'ansible'), 'localhost', '-m', 'genesys_dr.framework.dr_state',
                                       '-a', json.dumps(args), '-e', 'ansible_python_interpreter=/usr/bin/python3'],
                                      cwd=TOP, env=env, capture_output=True, text=True, timeout=60, check=False).stdout)
    assert 'localhost | CHANGED' in outputs[0], outputs[0]
    assert 'localhost | FAILED!' in outputs[1] and 'held by run run-a (operation failback' in outputs[1], outputs[1]
    assert fields(bind_zone.dig(names['lock_name'], 'TXT'))['holder'] == 'run-a'


def test_take_over_from_breaks_only_the_named_run(run_module, bind_zone, names):
    seed_lock(bind_zone, names, 'run-dead', int(time.time()))
    wrong = take_lock(run_module, bind_zone, names, take_over_from='run-other')
    assert wrong['failed'] and 'held by run run-dead' in wrong['msg']
    assert fields(bind_zone.dig(names['lock_name'], 'TXT'))['holder'] == 'run-dead'
    taken = take_lock(run_module, bind_zone, names, take_over_from='run-dead')
    assert not taken['failed'], taken
    assert taken['changed'] is True and 'run run-dead' in taken['warnings'][0]
    assert fields(bind_zone.dig(names['lock_name'], 'TXT'))['holder'] == 'run-1'
    # The takeover is a compare-and-swap on the named holder's lock as read.
    assert taken['update']['prerequisites'][0].startswith('prereq yxrrset %s.%s. TXT "holder=run-dead"' % (names['lock_name'], bind_zone.zone))
    both = take_lock(run_module, bind_zone, names, take_over_from='run-dead', break_stale_lock=True, stale_after=1)
    assert both['failed'] and 'mutually exclusive' in both['msg']
