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
import re
import subprocess

import pytest

from ansible_collections.genesys_dr.framework.tests.unit.playbooks import procedure

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
PROCEDURES = procedure.PROCEDURES

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


# Two tasks on one host, each printing the PID of the Python process that runs its module.
TWO_TASKS = '''
- name: Two steps on one host
  hosts: db-a
  gather_facts: false
  strategy: genesys_dr.framework.fail_stop
  any_errors_fatal: true
  tasks:
    - name: First
      ansible.builtin.command: sh -c 'echo "MODULE PID $PPID"'
      register: first
    - name: Second
      ansible.builtin.command: sh -c 'echo "MODULE PID $PPID"'
      register: second
    - name: Show both
      ansible.builtin.debug:
        msg: "{{ first.stdout }} / {{ second.stdout }}"
'''


def run(tmp_path, strategy, mitogen=None, steps=None, extra_env=None):
    (tmp_path / 'inventory.yml').write_text(INVENTORY % os.path.join(BIN, 'python'))
    line = 'strategy: %s' % strategy if strategy else ''
    (tmp_path / 'steps.yml').write_text(steps or STEPS % (line, line))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               GENESYS_DR_REPORT_DIR=str(tmp_path / 'reports'))
    env.pop('GENESYS_DR_MITOGEN', None)
    if mitogen is not None:
        env['GENESYS_DR_MITOGEN'] = mitogen
    env.update(extra_env or {})
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'),
                           str(tmp_path / 'steps.yml')], cwd=TOP, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_linear_goes_on_after_an_unreachable_host(tmp_path):
    """Why the strategy exists: with any_errors_fatal, Ansible still runs the next step."""
    proc = run(tmp_path, None)
    assert 'DNS SWITCHED' in proc.stdout


@pytest.mark.parametrize('mitogen', [None, 'false', 'true'])
def test_fail_stop_ends_the_playbook_after_an_unreachable_host(tmp_path, mitogen):
    proc = run(tmp_path, 'genesys_dr.framework.fail_stop', mitogen=mitogen)
    assert proc.returncode != 0
    assert 'DNS SWITCHED' not in proc.stdout
    assert 'Stopping the playbook after play "Grant write access at the DB hosts"' in proc.stderr
    assert 'unreachable: db-b. No further step runs.' in proc.stderr


@pytest.mark.parametrize('playbook', PROCEDURES)
def test_every_step_of_a_procedure_stops_on_failure(playbook):
    for play in procedure.plays(playbook):
        name = play['name']
        assert play.get('strategy') == 'genesys_dr.framework.fail_stop', '%s: play "%s" does not use fail_stop' % (playbook, name)
        tolerates = 'ignore_unreachable' in play
        assert not (tolerates and play.get('any_errors_fatal')), (
            '%s: play "%s" combines ignore_unreachable with any_errors_fatal' % (playbook, name))
        if not tolerates and not name.startswith('Preflight'):
            assert play.get('any_errors_fatal') is True, '%s: play "%s" lacks any_errors_fatal' % (playbook, name)


def _module_pids(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pids = re.findall(r'MODULE PID (\d+) / MODULE PID (\d+)', proc.stdout)
    assert len(pids) == 1, proc.stdout
    return pids[0]


def test_plain_ssh_runs_each_task_in_a_new_interpreter(tmp_path):
    first, second = _module_pids(run(tmp_path, None, steps=TWO_TASKS))
    assert first != second


def test_mitogen_runs_the_tasks_of_a_host_in_one_interpreter(tmp_path):
    """GENESYS_DR_MITOGEN=true: what the opt-in buys (no new Python per task), seen from the
    host's process table, not from a setting."""
    first, second = _module_pids(run(tmp_path, None, mitogen='true', steps=TWO_TASKS))
    assert first == second


@pytest.mark.parametrize('value, extra_env, message', [
    ('maybe', {}, 'GENESYS_DR_MITOGEN=maybe is not a boolean'),
    # A copy of ansible_mitogen that cannot be imported shadows the installed one.
    ('true', {'PYTHONPATH': 'SHADOW'}, 'GENESYS_DR_MITOGEN=true asks for Mitogen, but the controller cannot import it'),
])
def test_a_bad_mitogen_setting_stops_before_the_first_task(tmp_path, value, extra_env, message):
    shadow = tmp_path / 'shadow' / 'ansible_mitogen'
    shadow.mkdir(parents=True)
    (shadow / '__init__.py').write_text('raise ImportError("mitogen is not installed here")\n')
    extra_env = dict((k, str(tmp_path / 'shadow') if v == 'SHADOW' else v) for k, v in extra_env.items())
    proc = run(tmp_path, 'genesys_dr.framework.fail_stop', mitogen=value, extra_env=extra_env)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert 'TASK [Grant]' not in proc.stdout
    assert 'DNS SWITCHED' not in proc.stdout
