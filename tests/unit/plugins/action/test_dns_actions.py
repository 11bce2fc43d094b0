# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugins of dr_state and dns_record through real `ansible` runs on the controller,
against a real BIND primary and secondary, read back with dig: on the local connection the
module's code runs in Ansible's own process (no module is transferred or started, as -vvv shows)
with the module's results, refusals, warnings and check mode; run in the background (async) the
module itself runs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys
import time

pytest_plugins = ['ansible_collections.genesys_dr.framework.tests.unit.plugins.conftest_dns']

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def ansible(module, args, *extra):
    """(rc, result, whole output) of `ansible localhost -vvv -m genesys_dr.framework.<module>`."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_STDOUT_CALLBACK='minimal', ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0', ANSIBLE_NOCOLOR='1')
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-vvv', '-m',
               'genesys_dr.framework.' + module, '-a', json.dumps(args),
               '-e', 'ansible_python_interpreter=%s' % sys.executable] + list(extra)
    done = subprocess.run(command, cwd=TOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    for marker in ('localhost | SUCCESS => ', 'localhost | CHANGED => ', 'localhost | FAILED! => '):
        if marker in done.stdout:
            return done.returncode, json.JSONDecoder().raw_decode(done.stdout.split(marker, 1)[1].lstrip())[0], output
    raise AssertionError('no result in the output:\n' + output)


def module_ran(output, module):
    return ('AnsiballZ_%s.py' % module) in output


def names(unique):
    return dict(state_name='_dr-state.' + unique, lock_name='_dr-lock.' + unique)


def lock_holder(bind_zone, names, server=None):
    lines = bind_zone.dig(names['lock_name'], 'TXT', server) or []
    fields = dict(part.split('=', 1) for line in lines for part in line.replace('"', '').split())
    return fields.get('holder')


def test_dr_state_lock_runs_in_process_and_is_read_back_on_every_server(bind_zone, unique):
    record_names = names(unique)
    args = bind_zone.connection_args(action='lock', run_id='run-a', operation='failover',
                                     verify_servers=bind_zone.verify_servers(), verify_timeout=20, **record_names)
    serial = bind_zone.serial()
    rc, result, output = ansible('dr_state', args)
    assert rc == 0, output
    assert not module_ran(output, 'dr_state'), 'the module was run instead of its code in process'
    assert result['changed'] is True and result['update']['sent'] is True
    assert result['lock']['holder'] == 'run-a'
    assert bind_zone.serial() == serial + 1
    assert lock_holder(bind_zone, record_names) == 'run-a'
    assert lock_holder(bind_zone, record_names, bind_zone.secondaries[0]) == 'run-a'
    assert [server['in_sync'] for server in result['servers']] == [True] * (1 + len(bind_zone.secondaries))
    # The TSIG secret given as key_secret is never printed, at -vvv either.
    assert bind_zone.key_secret not in output


def test_dr_state_refusal_in_process_changes_nothing_and_says_why(bind_zone, unique):
    record_names = names(unique)
    bind_zone.nsupdate('update add %s.%s. 60 TXT "holder=run-other" "operation=failback" "since=%d" "host=ctl9"'
                       % (record_names['lock_name'], bind_zone.zone, int(time.time())))
    serial = bind_zone.serial()
    args = bind_zone.connection_args(action='lock', run_id='run-b', operation='failover', **record_names)
    rc, result, output = ansible('dr_state', args)
    assert rc != 0
    assert not module_ran(output, 'dr_state')
    assert 'localhost | FAILED! => ' in output
    assert 'is held by run run-other' in result['msg'] and 'another DR operation is running' in result['msg']
    assert result['lock']['holder'] == 'run-other'
    assert bind_zone.serial() == serial
    assert lock_holder(bind_zone, record_names) == 'run-other'


def test_dr_state_warning_and_check_mode_in_process(bind_zone, unique):
    """Breaking a stale lock in check mode: the module's warning reaches the operator, nothing is sent."""
    record_names = names(unique)
    bind_zone.nsupdate('update add %s.%s. 60 TXT "holder=run-dead" "operation=failover" "since=%d" "host=ctl9"'
                       % (record_names['lock_name'], bind_zone.zone, int(time.time()) - 3600))
    serial = bind_zone.serial()
    args = bind_zone.connection_args(action='lock', run_id='run-c', operation='failover', break_stale_lock=True,
                                     stale_after=600, **record_names)
    rc, result, output = ansible('dr_state', args, '--check')
    assert rc == 0, output
    assert not module_ran(output, 'dr_state')
    assert result['changed'] is True and result['update']['sent'] is False
    assert '[WARNING]: would break the stale DR operation lock' in output
    assert bind_zone.serial() == serial
    assert lock_holder(bind_zone, record_names) == 'run-dead'


def test_dr_state_bad_arguments_are_refused_in_process(bind_zone, unique):
    args = bind_zone.connection_args(action='lock', **names(unique))
    rc, result, output = ansible('dr_state', args)
    assert rc != 0
    assert not module_ran(output, 'dr_state')
    assert 'action is lock but all of the following are missing: run_id, operation' in result['msg']


def test_dns_record_in_process_and_as_a_background_module_give_the_same_record(bind_zone, unique):
    name = 'cs-' + unique
    records = [dict(name=name, type='A', value=['192.0.2.10'], ttl=30)]
    rc, result, output = ansible('dns_record', bind_zone.connection_args(records=records))
    assert rc == 0, output
    assert not module_ran(output, 'dns_record')
    assert result['changed'] is True
    assert bind_zone.dig(name, 'A') == ['192.0.2.10']
    records[0]['value'] = ['192.0.2.11']
    rc, result, output = ansible('dns_record', bind_zone.connection_args(records=records), '-B', '60', '-P', '1')
    assert rc == 0, output
    assert module_ran(output, 'dns_record'), 'async must run the module itself'
    assert result['changed'] is True
    assert bind_zone.dig(name, 'A') == ['192.0.2.11']


def test_a_bad_argument_names_the_problem_and_never_prints_the_secret(bind_zone, unique):
    """Ansible prints the task's arguments with an argument check that fails in an action plugin; ours must not."""
    args = bind_zone.connection_args(action='lock', run_id='run-d', operation='failover', ttl='sixty', **names(unique))
    rc, result, output = ansible('dr_state', args)
    assert rc != 0
    assert "argument 'ttl' is of type" in result['msg']
    assert bind_zone.key_secret not in output


def test_with_become_the_module_runs_as_the_become_user(bind_zone, unique):
    """become: the module runs (as that user, who may be the only one able to read the key file), not the in-process code."""
    name = 'cs-' + unique
    records = [dict(name=name, type='A', value=['192.0.2.20'], ttl=30)]
    rc, result, output = ansible('dns_record', bind_zone.connection_args(records=records), '--become', '--become-method', 'su')
    assert rc == 0, output
    assert module_ran(output, 'dns_record'), 'with become the module must run'
    assert result['changed'] is True
    assert bind_zone.dig(name, 'A') == ['192.0.2.20']
