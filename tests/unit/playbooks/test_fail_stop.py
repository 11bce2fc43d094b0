# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fail-stop: a step that fails, or cannot reach a host, on any host ends the procedure
before its next step.

The strategy plugin is checked with real ansible-playbook runs (an unreachable host is a
closed port on 127.0.0.1); the procedures are checked to use it on every play, with
any_errors_fatal, except where a play names the hosts it tolerates (ignore_unreachable -
never both: Ansible then ends the play silently at the first unreachable host)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess

import pytest
import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
PROCEDURES = ['normal.yml', 'failover.yml', 'reprotect.yml', 'failback.yml']

INVENTORY = '''
all:
  hosts:
    db-a: {ansible_connection: local}
    db-b: {ansible_connection: ssh, ansible_host: 127.0.0.1, ansible_port: 1, ansible_ssh_common_args: "-o ConnectTimeout=2 -o BatchMode=yes"}
    localhost: {ansible_connection: local}
  vars:
    ansible_python_interpreter: %s
'''

STEPS = '''
- name: Grant write access at the DB hosts
  hosts: db-a:db-b
  gather_facts: false
  %s
  any_errors_fatal: true
  tasks:
    - name: Grant
      ansible.builtin.ping:
- name: Switch DNS
  hosts: localhost
  gather_facts: false
  %s
  tasks:
    - name: Send the update
      ansible.builtin.debug:
        msg: DNS SWITCHED
'''


def run(tmp_path, strategy):
    (tmp_path / 'inventory.yml').write_text(INVENTORY % os.path.join(BIN, 'python'))
    line = 'strategy: %s' % strategy if strategy else ''
    (tmp_path / 'steps.yml').write_text(STEPS % (line, line))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               GENESYS_DR_REPORT_DIR=str(tmp_path / 'reports'))
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'),
                           str(tmp_path / 'steps.yml')], cwd=TOP, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_linear_goes_on_after_an_unreachable_host(tmp_path):
    """Why the strategy exists: with any_errors_fatal, Ansible still runs the next step."""
    proc = run(tmp_path, None)
    assert 'DNS SWITCHED' in proc.stdout


def test_fail_stop_ends_the_playbook_after_an_unreachable_host(tmp_path):
    proc = run(tmp_path, 'genesys_dr.framework.fail_stop')
    assert proc.returncode != 0
    assert 'DNS SWITCHED' not in proc.stdout
    assert 'Stopping the playbook after play "Grant write access at the DB hosts"' in proc.stderr
    assert 'unreachable: db-b. No further step runs.' in proc.stderr


@pytest.mark.parametrize('playbook', PROCEDURES)
def test_every_step_of_a_procedure_stops_on_failure(playbook):
    with open(os.path.join(TOP, 'playbooks', playbook)) as handle:
        plays = yaml.safe_load(handle)
    for play in plays:
        name = play['name']
        assert play.get('strategy') == 'genesys_dr.framework.fail_stop', '%s: play "%s" does not use fail_stop' % (playbook, name)
        tolerates = 'ignore_unreachable' in play
        assert not (tolerates and play.get('any_errors_fatal')), (
            '%s: play "%s" combines ignore_unreachable with any_errors_fatal' % (playbook, name))
        if not tolerates and not name.startswith('Preflight'):
            assert play.get('any_errors_fatal') is True, '%s: play "%s" lacks any_errors_fatal' % (playbook, name)
