# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The beginning of every procedure (role dr_control) raced by several real ansible-playbook
runs started at the same instant against a real BIND primary: exactly one takes the lock and
proceeds, every other one names it and stops; run ids differ even within one second."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import subprocess


pytest_plugins = ['ansible_collections.genesys_dr.framework.tests.unit.plugins.conftest_dns']

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
RUNS = 4

PLAYBOOK = '''
- name: Begin
  hosts: localhost
  gather_facts: false
  vars:
    genesys_dr_operation: failover
    genesys_dr_state_name: "{{ lookup('env', 'T_STATE') }}"
    genesys_dr_lock_name: "{{ lookup('env', 'T_LOCK') }}"
  module_defaults:
    group/genesys_dr.framework.dns:
      server: 127.0.0.1
      port: "{{ lookup('env', 'T_PORT') | int }}"
      zone: "{{ lookup('env', 'T_ZONE') }}"
      key_name: "{{ lookup('env', 'T_KEY_NAME') }}"
      key_secret: "{{ lookup('env', 'T_KEY_SECRET') }}"
  tasks:
    - name: Begin the procedure
      ansible.builtin.include_role:
        name: genesys_dr.framework.dr_control
      vars:
        dr_control_start_states: [ABSENT]
    - name: A step of the procedure
      ansible.builtin.debug:
        msg: "PROCEEDED {{ genesys_dr_run }}"
    - name: Hold the lock a while, as a real failover does
      ansible.builtin.pause:
        seconds: 3
    - name: End
      ansible.builtin.include_role:
        name: genesys_dr.framework.dr_control
        tasks_from: unlock
'''


def start_runs(tmp_path, bind_zone, unique, count, playbook_text=PLAYBOOK):
    playbook = tmp_path / 'begin.yml'
    playbook.write_text(playbook_text)
    args = bind_zone.connection_args()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), PATH=BIN + os.pathsep + os.environ.get('PATH', ''),
               ANSIBLE_NOCOLOR='1', GENESYS_DR_REPORT_DIR=str(tmp_path / 'reports'), T_STATE='_dr-state.' + unique, T_LOCK='_dr-lock.' + unique,
               T_PORT=str(args['port']), T_ZONE=args['zone'], T_KEY_NAME=args['key_name'], T_KEY_SECRET=args['key_secret'])
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % os.path.join(BIN, 'python'), str(playbook)]
    procs = [subprocess.Popen(cmd, cwd=TOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _run in range(count)]
    return [(proc.wait(timeout=180), proc.stdout.read()) for proc in procs]


def test_exactly_one_of_concurrent_runs_takes_the_lock(tmp_path, bind_zone, unique):
    results = start_runs(tmp_path, bind_zone, unique, RUNS)
    ids = [re.search(r'Run (\S+) starts', out) for _rc, out in results]
    proceeded = [re.search(r'PROCEEDED (\S+)', out) for _rc, out in results]
    winners = [m.group(1) for m in proceeded if m]
    assert len(winners) == 1, 'runs that proceeded past the lock: %s\n%s' % (winners, '\n'.join(out for _rc, out in results))
    winner = winners[0]
    for (rc, out), started in zip(results, ids):
        if started and started.group(1) == winner:
            assert rc == 0, out
            continue
        assert rc != 0, out
        assert 'Another DR operation holds the lock: run %s' % winner in out, out
        assert 'Nothing was changed' in out
    assert bind_zone.dig('_dr-lock.' + unique, 'TXT') == [], 'the winner released the lock at its end'


def test_run_ids_are_unique_within_one_second(tmp_path, bind_zone, unique):
    """The id of a new run is unique per invocation, not per clock second."""
    start_runs(tmp_path, bind_zone, unique, 3)
    # Every run's report is named after its run id (a second run with the same id would write
    # <id>.attempt2.json instead).
    reports = sorted(os.listdir(str(tmp_path / 'reports')))
    ids = [name[:-len('.json')] for name in reports if name.endswith('.json')]
    assert len(ids) == 3 and all(re.match(r'^failover-\d{8}T\d{6}Z-[0-9a-f]{8}$', i) for i in ids), reports


def test_a_state_that_does_not_allow_the_operation_stops_it_and_releases_the_lock(tmp_path, bind_zone, unique):
    """The DR state gate, read with the lock: a never-initialised state (ABSENT) does not allow an
    operation that starts only from NORMAL. The run stops before its first step, says why, and
    the lock it took is gone from DNS afterwards (read back with dig)."""
    only_from_normal = PLAYBOOK.replace('dr_control_start_states: [ABSENT]', 'dr_control_start_states: [NORMAL]')
    assert only_from_normal != PLAYBOOK
    [(rc, out)] = start_runs(tmp_path, bind_zone, unique, 1, only_from_normal)
    assert rc != 0, out
    assert 'PROCEEDED' not in out, out
    assert ('DR state is ABSENT (live site unknown, set by run ?); failover starts only from NORMAL. Look with status.yml. '
            'Nothing was changed; the lock is released.') in re.sub(r'\s+', ' ', out), out
    assert bind_zone.dig('_dr-lock.' + unique, 'TXT') == [], 'the refused run left its lock'
