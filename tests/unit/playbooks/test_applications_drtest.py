# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The applications role with applications_instance=drtest, through a real ansible-playbook run on this
machine (no lab): a management host whose master applications each have a DR test instance installed
beside them (their own directory, run.sh and port). The role starts and stops the test instances, in
the master order, and never touches the applications themselves - one of them runs throughout, the
others stay stopped. An application without a test instance is left out. The process table is read
back with pgrep and ss, independently of the collection's /proc code."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import socket
import subprocess
import sys
import uuid

import pytest
import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
FAKE_APP = os.path.join(TOP, 'tests', 'unit', 'plugins', 'fake_genesys_app.py')

PLAYBOOK = '''
- name: Bring the DR test instances to {{ wanted }}
  hosts: mgmt-local
  gather_facts: false
  tasks:
    - name: The applications role, on the test instances
      ansible.builtin.import_role:
        name: genesys_dr.framework.applications
      vars:
        applications_instance: drtest
        applications_state: "{{ wanted }}"
        applications_settle: 0.2
'''


def pids_of(name):
    out = subprocess.run(['pgrep', '-f', '--', '-app %s( |$)' % re.escape(name)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=False).stdout
    return sorted(int(pid) for pid in out.split())


def listening(port):
    out = subprocess.run(['ss', '-Htln', 'sport = :%d' % port], stdout=subprocess.PIPE, universal_newlines=True,
                         check=False).stdout
    return bool(out.strip())


def start_time(pid):
    """When the process started, in clock ticks since boot (/proc/PID/stat field 22)."""
    with open('/proc/%d/stat' % pid) as handle:
        return int(handle.read().rsplit(')', 1)[1].split()[19])


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def install(directory, name, port):
    directory.mkdir(parents=True)
    run = directory / 'run.sh'
    run.write_text('#!/bin/sh\nexec %s %s -host cs.invalid -port 2020 -app %s --listen 127.0.0.1:%d\n'
                   % (sys.executable, FAKE_APP, name, port))
    run.chmod(0o755)


@pytest.fixture
def host(tmp_path):
    tag = uuid.uuid4().hex[:8]
    base = tmp_path / 'gcti'
    apps, started = [], []
    for component, role in (('master_cs', 'primary'), ('master_cs', 'backup'), ('master_scs', 'primary'),
                            ('scs_message_server', 'primary')):
        name = 'UT%s_%s_%s' % (tag, component, role)
        app = {'name': name, 'component': component, 'role': role, 'port': free_port()}
        install(base / name, name, app['port'])
        if component != 'scs_message_server':   # the Message Server has no test instance
            app['drtest'] = {'name': name + '_drtest', 'port': free_port()}
            install(base / app['drtest']['name'], app['drtest']['name'], app['drtest']['port'])
        apps.append(app)
    # The primary runs throughout (the live master, say); the test must not touch it.
    started.append(subprocess.Popen([str(base / apps[0]['name'] / 'run.sh')], cwd=str(base / apps[0]['name']),
                                    stdout=subprocess.DEVNULL, start_new_session=True))
    inventory = {'all': {'hosts': {'mgmt-local': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
        'genesys_app_base': str(base), 'genesys_apps': apps}}}}
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inventory))
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    yield tmp_path, apps
    for app in apps:
        for name in [app['name']] + ([app['drtest']['name']] if 'drtest' in app else []):
            for pid in pids_of(name):
                os.kill(pid, 9)
    for proc in started:
        proc.wait()


def run(tmp, wanted):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'),
               ANSIBLE_NOCOLOR='1', GENESYS_DR_REPORT_DIR=str(tmp), ANSIBLE_LOCAL_TEMP=str(tmp / 'ansible-tmp'))
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(tmp / 'inventory.yml'), str(tmp / 'play.yml'),
                           '-e', 'wanted=%s' % wanted], cwd=TOP, env=env, capture_output=True, text=True, timeout=180,
                          check=False)


def test_the_test_instances_start_and_stop_and_the_applications_are_left_alone(host):
    tmp, apps = host
    live = pids_of(apps[0]['name'])
    assert len(live) == 1
    tests = [app['drtest'] for app in apps if 'drtest' in app]

    started = run(tmp, 'started')
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-2000:]
    for test in tests:
        assert len(pids_of(test['name'])) == 1 and listening(test['port']), test
    # The applications: the running one is the same process, the stopped ones were not started.
    assert pids_of(apps[0]['name']) == live
    assert [app['name'] for app in apps[1:] if pids_of(app['name'])] == []
    # In the master start order (SCS, then the primary, then the backup; the Message Server has none).
    order = sorted(tests, key=lambda test: start_time(pids_of(test['name'])[0]))
    assert [t['name'] for t in order] == [tests[2]['name'], tests[0]['name'], tests[1]['name']]

    stopped = run(tmp, 'stopped')
    assert stopped.returncode == 0, stopped.stdout[-3000:] + stopped.stderr[-2000:]
    for test in tests:
        assert pids_of(test['name']) == [] and not listening(test['port']), test
    assert pids_of(apps[0]['name']) == live
