# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The access_check gate on the controller: which hosts that could not be reached stop a
procedure before its first change, and which proxy-only hosts a failover may leave behind.
The SSH results are the registered results of real access_proof runs against a
closed port (unreachable) or the local connection."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
DOWN = 'ansible_connection: ssh, ansible_host: 127.0.0.1, ansible_port: 1, ansible_ssh_common_args: "-o ConnectTimeout=2 -o BatchMode=yes"'
UP = 'ansible_connection: local'

INVENTORY = '''
all:
  vars:
    ansible_python_interpreter: %(python)s
  hosts:
    localhost: {%(up)s}
  children:
    management_hosts:
      hosts:
        east-mgmt: {%(mgmt)s}
    db_hosts:
      hosts:
        east-db: {%(up)s}
    proxy_hosts:
      hosts:
        north-app: {%(proxy)s}
        east-app: {%(up)s}
'''

PLAYBOOK = '''
- name: SSH to every host
  hosts: management_hosts:db_hosts:proxy_hosts
  gather_facts: false
  ignore_unreachable: true
  tasks:
    - name: Reach the host
      genesys_dr.framework.access_proof: {}
      register: access_check_proof
- name: Gate
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Gate
      ansible.builtin.include_role:
        name: genesys_dr.framework.access_check
        tasks_from: gate
      vars:
        access_check_tolerate_proxy_hosts: %(tolerate)s
    - name: After the gate
      ansible.builtin.debug:
        msg: GATE PASSED
'''


def run(tmp_path, mgmt_up, proxy_up, tolerate):
    (tmp_path / 'inventory.yml').write_text(INVENTORY % dict(python=os.path.join(BIN, 'python'), up=UP,
                                                             mgmt=UP if mgmt_up else DOWN, proxy=UP if proxy_up else DOWN))
    (tmp_path / 'gate.yml').write_text(PLAYBOOK % dict(tolerate='true' if tolerate else 'false'))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               GENESYS_DR_REPORT_DIR=str(tmp_path / 'reports'))
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'), str(tmp_path / 'gate.yml')],
                          cwd=TOP, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize('tolerate', [True, False])
def test_an_unreachable_management_host_stops_the_procedure(tmp_path, tolerate):
    proc = run(tmp_path, mgmt_up=False, proxy_up=True, tolerate=tolerate)
    assert proc.returncode != 0 and 'GATE PASSED' not in proc.stdout
    assert 'Cannot reach east-mgmt over SSH (see above); this procedure changes it. Nothing was changed.' in proc.stdout


def test_an_unreachable_proxy_only_host_is_left_behind_when_allowed(tmp_path):
    proc = run(tmp_path, mgmt_up=True, proxy_up=False, tolerate=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'WARNING: proxy host(s) north-app cannot be reached over SSH' in proc.stdout and 'GATE PASSED' in proc.stdout


def test_an_unreachable_proxy_host_stops_a_converge(tmp_path):
    proc = run(tmp_path, mgmt_up=True, proxy_up=False, tolerate=False)
    assert proc.returncode != 0 and 'Cannot reach north-app over SSH' in proc.stdout


def test_all_reachable_passes(tmp_path):
    proc = run(tmp_path, mgmt_up=True, proxy_up=True, tolerate=False)
    assert proc.returncode == 0 and 'GATE PASSED' in proc.stdout
