# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fencing role's stop_masters and verify task files through a real ansible-playbook run on
this machine (no lab): three management hosts of one site,

- mgmt-local (local connection): fake Genesys applications run from its application base,
  listed masters, a master the inventory does not list, a listed proxy, and a Genesys
  application installed elsewhere;
- mgmt-gone: SSH to a closed port of 127.0.0.1, so it is unreachable;
- mgmt-broken (local connection): its fencing fails while it is reachable (an unnamed application).

The process table is read back with pgrep, independently of the collection's /proc code.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import signal
import socket
import subprocess
import sys
import uuid

import pytest
import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
FAKE_APP = os.path.join(TOP, 'tests', 'unit', 'plugins', 'fake_genesys_app.py')


def fencing_playbook(stop_vars='', verify_vars='', hosts='management_hosts', play_options='', first_tasks=''):
    """stop_masters on the management hosts, then verify of site_a on the controller; extra vars, play
    options and tasks before the fencing as YAML lines."""
    return '''
- name: Fence the site's management hosts
  hosts: %s
  gather_facts: false
%s  tasks:
%s    - name: Stop the master applications
      ansible.builtin.include_role:
        name: genesys_dr.framework.fencing
        tasks_from: stop_masters
      vars:
        fencing_stop_timeout: 30
%s
- name: Check the fencing
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Verify the fencing of site_a
      ansible.builtin.include_role:
        name: genesys_dr.framework.fencing
        tasks_from: verify
      vars:
        fencing_site: site_a
        genesys_dr_run_id: unit-test-run
%s''' % (hosts, play_options, first_tasks, stop_vars, verify_vars)


PLAYBOOK = fencing_playbook()


def pids_of(name):
    """Pids whose command line holds "-app NAME" as a whole word, from pgrep."""
    out = subprocess.run(['pgrep', '-f', '--', '-app %s( |$)' % re.escape(name)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=False).stdout
    return sorted(int(pid) for pid in out.split())


def closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def run_playbook(tmp, inventory, playbook):
    """ansible-playbook of the playbook text against the inventory (dict), in tmp; its CompletedProcess."""
    with open(str(tmp / 'inventory.yml'), 'w') as f:
        yaml.safe_dump(inventory, f)
    with open(str(tmp / 'fence.yml'), 'w') as f:
        f.write(playbook)
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_CALLBACK_RESULT_FORMAT='json',
               ANSIBLE_SHOW_CUSTOM_STATS='1', GENESYS_DR_REPORT_DIR=str(tmp),
               ANSIBLE_LOCAL_TEMP=str(tmp / 'ansible-tmp'), ANSIBLE_LOCALHOST_WARNING='0')
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(tmp / 'inventory.yml'), str(tmp / 'fence.yml')],
                          cwd=TOP, env=env, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope='module')
def fencing_run(tmp_path_factory):
    """(CompletedProcess, {role: AppName}, {AppName: pids before}) of one run."""
    tmp = tmp_path_factory.mktemp('fencing')
    base = tmp / 'gcti'
    tag = uuid.uuid4().hex[:8]
    roles = ('CS_P', 'CS_B', 'SCS', 'MS', 'Proxy', 'CS_B_unlisted', 'CS_elsewhere')
    names = dict((role, 'UT%s_%s' % (tag, role)) for role in roles)
    started = []
    for role, name in names.items():
        directory = (tmp / 'elsewhere' / name) if role == 'CS_elsewhere' else (base / name)
        directory.mkdir(parents=True)
        if role == 'MS':
            continue  # listed but already stopped
        started.append(subprocess.Popen([sys.executable, FAKE_APP, '-host', 'cs.invalid', '-port', '2020', '-app', name],
                                        cwd=str(directory), stdout=subprocess.DEVNULL, start_new_session=True))
    before = dict((name, pids_of(name)) for name in names.values())

    def apps(prefix):
        return [{'name': prefix + names['CS_P'], 'component': 'master_cs', 'role': 'primary', 'port': 2020},
                {'name': prefix + names['CS_B'], 'component': 'master_cs', 'role': 'backup', 'port': 2021},
                {'name': prefix + names['SCS'], 'component': 'master_scs', 'role': 'primary', 'port': 5000},
                {'name': prefix + names['MS'], 'component': 'scs_message_server', 'role': 'primary', 'port': 4900},
                {'name': prefix + names['Proxy'], 'component': 'proxy', 'role': 'primary', 'port': 2030}]

    local = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    inventory = {'all': {'children': {
        'site_a': {'hosts': {'mgmt-local': None, 'mgmt-gone': None, 'mgmt-broken': None}},
        'db_hosts': {'hosts': {}},
        'management_hosts': {'hosts': {
            'mgmt-local': dict(local, genesys_app_base=str(base), genesys_apps=apps('')),
            'mgmt-gone': {'ansible_host': '127.0.0.1', 'ansible_port': closed_port(), 'ansible_connection': 'ssh',
                          'ansible_ssh_common_args': '-o ConnectTimeout=5 -o BatchMode=yes -o ControlMaster=no',
                          'genesys_app_base': '/nonexistent', 'genesys_apps': apps('gone_')},
            # An application without a name: the host is reached, and its fencing fails.
            'mgmt-broken': dict(local, genesys_app_base=str(tmp / 'broken'),
                                genesys_apps=[{'component': 'master_cs', 'role': 'primary', 'port': 2020}]),
        }},
    }}}
    try:
        yield run_playbook(tmp, inventory, PLAYBOOK), names, before
    finally:
        for process in started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait()


def test_fencing_stops_every_master_listed_or_not_and_leaves_the_rest(fencing_run):
    proc, names, before = fencing_run
    out = proc.stdout
    for role in ('CS_P', 'CS_B', 'SCS', 'Proxy', 'CS_B_unlisted', 'CS_elsewhere'):
        assert before[names[role]], role
    # Read back: every master process of mgmt-local is gone, the unlisted backup included.
    for role in ('CS_P', 'CS_B', 'SCS', 'MS', 'CS_B_unlisted'):
        assert pids_of(names[role]) == [], (role, out)
    # Its own proxy and an application installed outside its application base are untouched.
    assert pids_of(names['Proxy']) == before[names['Proxy']]
    assert pids_of(names['CS_elsewhere']) == before[names['CS_elsewhere']]
    # Reported: a warning of the task that stopped it, and the run's fencing record.
    flat = ' '.join((out + proc.stderr).split())
    assert '%s (pid %d, in ' % (names['CS_B_unlisted'], before[names['CS_B_unlisted']][0]) in flat, out
    assert 'is a Genesys application of this host that the inventory does not list; it was stopped' in flat
    assert re.search(r'"mgmt-local master applications running that the inventory does not list \(stopped\)": "%s"'
                     % names['CS_B_unlisted'], out), out
    assert '"mgmt-local master applications stopped": "done"' in out, out


def test_verify_names_an_unreachable_host_unreachable_and_a_failed_one_failed(fencing_run):
    """Issue 7 item 10: an unreachable host was reported "reachable, but failed"."""
    proc, _names, _before = fencing_run
    out = proc.stdout
    assert proc.returncode != 0
    assert re.search(r'^fatal: \[mgmt-gone\]: UNREACHABLE!', out, re.M), out
    failed = re.findall(r'^fatal: \[localhost\]: FAILED! => (.*?)^\S', out + '\nEND', re.M | re.S)
    assert len(failed) == 1, out
    msg = ' '.join(failed[0].split())
    assert 'Fencing of site_a is incomplete: unreachable: mgmt-gone; could not fence (reachable, but failed): mgmt-broken.' \
        in msg, msg
    assert 'The other site was NOT made writable.' in msg
    assert '-e genesys_dr_run=unit-test-run' in msg


# Disaster: mgmt-silent and db-silent were found silent earlier. As in failover.yml, the fencing plays
# leave such a host out with its first task, and the check of the fencing is told which hosts they are.
LEAVE_OUT_SILENT = '''    - name: Leave out a host found silent
      ansible.builtin.meta: end_host
      when: inventory_hostname in ['mgmt-silent', 'db-silent']
'''
SILENT_HOSTS = '        fencing_silent_hosts: [mgmt-silent, db-silent]\n'
NOT_REACHED_PLAYBOOK = fencing_playbook(first_tasks=LEAVE_OUT_SILENT,
                                        verify_vars='        fencing_allow_unreachable: true\n' + SILENT_HOSTS)
NOT_REACHED_REFUSED_PLAYBOOK = fencing_playbook(first_tasks=LEAVE_OUT_SILENT, verify_vars=SILENT_HOSTS)


@pytest.fixture
def silent_master(tmp_path):
    """(inventory, app name, its pids): mgmt-silent and db-silent of site_a; mgmt-silent is in fact
    reachable (local connection) and runs a master, so any action of the fencing on it would show."""
    name = 'UT%s_CS_P' % uuid.uuid4().hex[:8]
    base = tmp_path / 'gcti'
    (base / name).mkdir(parents=True)
    master = subprocess.Popen([sys.executable, FAKE_APP, '-host', 'cs.invalid', '-port', '2020', '-app', name],
                              cwd=str(base / name), stdout=subprocess.DEVNULL, start_new_session=True)
    local = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    inventory = {'all': {'children': {
        'site_a': {'hosts': {'mgmt-silent': None, 'db-silent': None}},
        'db_hosts': {'hosts': {'db-silent': dict(local)}},
        'management_hosts': {'hosts': {'mgmt-silent': dict(local, genesys_app_base=str(base), genesys_apps=[
            {'name': name, 'component': 'master_cs', 'role': 'primary', 'port': 2020}])}},
    }}}
    try:
        before = pids_of(name)
        assert before and master.poll() is None
        yield inventory, name, before
    finally:
        if master.poll() is None:
            os.kill(master.pid, signal.SIGKILL)
        master.wait()


def test_a_host_found_silent_earlier_is_recorded_not_reached_without_any_action(tmp_path, silent_master):
    """A host the failover's reachability check found silent: no fencing task runs there, and the check
    of the fencing records it not reached and accepts it in a disaster run."""
    inventory, name, before = silent_master
    proc = run_playbook(tmp_path, inventory, NOT_REACHED_PLAYBOOK)
    out = proc.stdout
    # Read back: the master still runs, with the same pid.
    assert pids_of(name) == before, out
    assert proc.returncode == 0, out + proc.stderr
    # No task of the fencing ran there.
    assert not re.search(r'^(ok|changed|skipping|fatal|failed): \[mgmt-silent\]', out, re.M), out
    assert '"mgmt-silent master applications stopped": "not done: host not reached"' in out, out
    assert '"db-silent cfgdb write access revoked": "not done: host not reached"' in out, out
    assert 'site_a fenced except unreachable db-silent, mgmt-silent' in ' '.join(out.split())


def test_a_host_found_silent_is_refused_unless_unreachable_hosts_are_allowed(tmp_path, silent_master):
    """Outside a disaster run a silent host is not fenced, so the check stops the run naming it."""
    inventory, name, before = silent_master
    proc = run_playbook(tmp_path, inventory, NOT_REACHED_REFUSED_PLAYBOOK)
    out = proc.stdout
    assert pids_of(name) == before, out
    failed = re.findall(r'^fatal: \[localhost\]: FAILED! => (.*?)^\S', out + '\nEND', re.M | re.S)
    assert proc.returncode != 0 and len(failed) == 1, out
    msg = ' '.join(failed[0].split())
    assert 'Fencing of site_a is incomplete: unreachable: db-silent, mgmt-silent.' in msg, msg
    assert 'never ran' not in msg and 'reachable, but failed' not in msg, msg


# Disaster: the play goes on past an unreachable host; a host that never ran the fencing is named as such.
IGNORING_PLAYBOOK = fencing_playbook(verify_vars='        fencing_allow_unreachable: true\n',
                                     hosts='management_hosts:!mgmt-skipped', play_options='  ignore_unreachable: true\n')


def test_an_unreachable_host_costs_one_connection_attempt_and_one_never_fenced_is_named(tmp_path):
    """With ignore_unreachable (a disaster run), a host the reachability check passed but SSH does not
    reach is tried once, not once per step, and is recorded "not done: host unreachable"; a host of the
    site that never ran the fencing (here left out of the play) fails the check under its own name."""
    local = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    gone = {'ansible_host': '127.0.0.1', 'ansible_port': closed_port(), 'ansible_connection': 'ssh',
            'ansible_ssh_common_args': '-o ConnectTimeout=5 -o BatchMode=yes -o ControlMaster=no',
            'genesys_app_base': '/nonexistent',
            'genesys_apps': [{'name': 'gone_CS_P', 'component': 'master_cs', 'role': 'primary', 'port': 2020}]}
    skipped = dict(local, genesys_app_base=str(tmp_path), genesys_apps=[])
    inventory = {'all': {'children': {
        'site_a': {'hosts': {'mgmt-gone': None, 'mgmt-skipped': None}},
        'db_hosts': {'hosts': {}},
        'management_hosts': {'hosts': {'mgmt-gone': gone, 'mgmt-skipped': skipped}},
    }}}
    proc = run_playbook(tmp_path, inventory, IGNORING_PLAYBOOK)
    out = proc.stdout
    assert len(re.findall(r'^fatal: \[mgmt-gone\]: UNREACHABLE!', out, re.M)) == 1, out
    assert '"mgmt-gone master applications stopped": "not done: host unreachable"' in out, out
    failed = re.findall(r'^fatal: \[localhost\]: FAILED! => (.*?)^\S', out + '\nEND', re.M | re.S)
    assert proc.returncode != 0 and len(failed) == 1, out
    msg = ' '.join(failed[0].split())
    assert 'the fencing step never ran there (the host had left the run before it): mgmt-skipped' in msg, msg
    assert 'mgmt-gone' not in msg.split('never ran')[1], msg
