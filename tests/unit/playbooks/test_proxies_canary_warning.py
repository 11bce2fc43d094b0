# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proxies role's canary entry point warns that no canary write is configured only when none is:
the command is a template of the canary's own variables, and a task without them used to render it
empty, so every failover and failback printed the warning and then wrote the canary anyway."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import sys

import pytest
import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
WARNING = 'No genesys_canary_command configured for app-01'
PLAYBOOK = '''
- name: The canary step of a proxy host
  hosts: app-01
  gather_facts: false
  tasks:
    - name: Canary
      ansible.builtin.import_role:
        name: genesys_dr.framework.proxies
        tasks_from: canary
'''


@pytest.mark.parametrize('command, warned', [('true {{ proxies_canary_address }}:{{ proxies_canary_port }} {{ proxies_canary_name }}', False),
                                             ('', True)])
def test_the_warning_shows_only_without_a_canary_command(tmp_path, command, warned):
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
            'genesys_host_address': '127.0.0.1', 'genesys_apps': [{'name': 'P', 'component': 'proxy', 'role': 'primary', 'port': 7000}],
            'genesys_canary_command': command, 'genesys_main_site': 's1', 'genesys_secondary_site': 's2',
            'genesys_dr_run_id': 'run-1', 'proxies_live_site': 's1', 'proxies_reconnect': {'changed': False}}
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump({'all': {'hosts': {'app-01': host}}}))
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'),
               ANSIBLE_NOCOLOR='1', GENESYS_DR_REPORT_DIR=str(tmp_path), ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    run = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'), str(tmp_path / 'play.yml')],
                         cwd=TOP, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert (WARNING in run.stdout) is warned, run.stdout[-3000:]
    # Configured, the canary ran (its command through a shell, the one task that reports a change).
    assert ('changed: [app-01]' in run.stdout) is not warned, run.stdout[-3000:]
