# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run report reaches the user wherever a playbook of the collection runs: from an
installed collection with no ansible.cfg at all, with the callback also enabled by name,
and under ansible-runner the way AWX runs it (the report lands in the job's artifacts
directory, the set_stats data in artifact_data).

Each test installs a copy of the collection (plugins/ and the playbooks' callback_plugins/)
into a throw-away collections path with a small procedure-like playbook next to the real
ones, and runs it on localhost through a real ansible-playbook (or ansible_runner.run())."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import signal
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
RUN_ID = 'failover-20261125/runner'
REPORT = 'failover-20261125_runner'
# Settings of the developer's shell or of this checkout that would hide what a user gets.
LEAKING = ('ANSIBLE_CONFIG', 'ANSIBLE_CALLBACKS_ENABLED', 'ANSIBLE_CALLBACK_WHITELIST', 'GENESYS_DR_REPORT_DIR',
           'AWX_ISOLATED_DATA_DIR', 'ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_COLLECTIONS_PATHS', 'ANSIBLE_CALLBACK_PLUGINS',
           'ANSIBLE_STDOUT_CALLBACK')

DRILL = '''
- name: Take the DR lock
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: failover, mode: planned, run_id: "%s", check_mode: false}
    - name: Publish the RPO
      ansible.builtin.set_stats:
        data:
          genesys_dr_rpo: {main_reachable: true, wal_bytes_not_applied: 0, note: "{{ drill_note | default('none') }}"}
''' % RUN_ID


class Installed:
    """A copy of the collection as `ansible-galaxy collection install` lays it out, a home directory, an
    empty ansible.cfg and a working directory, all under tmp_path."""

    def __init__(self, tmp_path):
        self.root = tmp_path
        self.collections = tmp_path / 'collections'
        self.collection = self.collections / 'ansible_collections' / 'genesys_dr' / 'framework'
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
        shutil.copytree(os.path.join(TOP, 'plugins'), str(self.collection / 'plugins'), ignore=ignore)
        shutil.copytree(os.path.join(TOP, 'meta'), str(self.collection / 'meta'), ignore=ignore)
        shutil.copytree(os.path.join(TOP, 'playbooks', 'callback_plugins'),
                        str(self.collection / 'playbooks' / 'callback_plugins'), ignore=ignore)
        (self.collection / 'playbooks' / 'drill.yml').write_text(DRILL)
        self.home = tmp_path / 'home'
        self.work = tmp_path / 'work'
        self.home.mkdir()
        self.work.mkdir()
        self.cfg = tmp_path / 'ansible.cfg'
        self.cfg.write_text('[defaults]\n')

    def env(self, **extra):
        env = dict((k, v) for k, v in os.environ.items() if k not in LEAKING)
        env.update(PATH=BIN + os.pathsep + os.environ.get('PATH', ''), HOME=str(self.home), ANSIBLE_NOCOLOR='1',
                   ANSIBLE_CONFIG=str(self.cfg), ANSIBLE_COLLECTIONS_PATH=str(self.collections),
                   ANSIBLE_LOCAL_TEMP=str(self.root / 'ansible-tmp'))
        env.update(extra)
        return env

    def playbook(self, *args, **env):
        cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % os.path.join(BIN, 'python'), 'genesys_dr.framework.drill']
        return subprocess.run(cmd + list(args), cwd=str(self.work), env=self.env(**env), capture_output=True,
                              text=True, timeout=120, check=False)


def _files(directory):
    return sorted(os.listdir(str(directory))) if os.path.isdir(str(directory)) else []


def _report(directory, name=REPORT):
    with open(os.path.join(str(directory), name + '.json')) as f:
        return json.load(f)


@pytest.fixture
def installed(tmp_path):
    return Installed(tmp_path)


def test_an_installed_collection_writes_its_report_with_no_configuration(installed):
    proc = installed.playbook()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    default_dir = installed.home / '.ansible' / 'genesys_dr' / 'reports'
    assert _files(default_dir) == [REPORT + '.json', REPORT + '.md'], proc.stdout
    report = _report(default_dir)
    assert (report['run_id'], report['playbook'], report['result'], report['attempt']) == (RUN_ID, 'drill.yml', 'ok', 1)
    assert report['measures']['rpo'] == {'main_reachable': True, 'wal_bytes_not_applied': 0, 'note': 'none'}
    # Nothing left in the directory it was started from.
    assert _files(installed.work) == []
    assert proc.stdout.count('DR REPORT') == 1
    assert 'report written: %s.json' % os.path.join(str(default_dir), REPORT) in proc.stdout


def test_the_report_directory_is_one_setting(installed):
    chosen = installed.root / 'dr-reports'
    proc = installed.playbook(GENESYS_DR_REPORT_DIR=str(chosen))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _files(chosen) == [REPORT + '.json', REPORT + '.md']
    assert not (installed.home / '.ansible' / 'genesys_dr').exists()


def test_enabled_by_name_as_well_the_run_still_writes_one_report(installed):
    chosen = installed.root / 'dr-reports'
    proc = installed.playbook(GENESYS_DR_REPORT_DIR=str(chosen),
                              ANSIBLE_CALLBACKS_ENABLED='genesys_dr.framework.dr_report')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Two loaded copies would have written a second attempt of the same run.
    assert _files(chosen) == [REPORT + '.json', REPORT + '.md']
    assert proc.stdout.count('DR REPORT') == 1


def test_a_playbook_outside_the_collection_gets_it_by_name(installed):
    own = installed.work / 'own.yml'
    own.write_text(DRILL)
    chosen = installed.root / 'dr-reports'
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % os.path.join(BIN, 'python'), str(own)]
    proc = subprocess.run(cmd, cwd=str(installed.work), env=installed.env(GENESYS_DR_REPORT_DIR=str(chosen)),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _files(chosen) == []
    proc = subprocess.run(cmd, cwd=str(installed.work), capture_output=True, text=True, timeout=120, check=False,
                          env=installed.env(GENESYS_DR_REPORT_DIR=str(chosen),
                                            ANSIBLE_CALLBACKS_ENABLED='genesys_dr.framework.dr_report'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _files(chosen) == [REPORT + '.json', REPORT + '.md']
    assert _report(chosen)['playbook'] == 'own.yml'


def test_under_ansible_runner_the_report_is_in_the_artifacts(installed, monkeypatch):
    """A private data dir laid out as AWX lays it out for a job: the project (here the installed
    collection, whose playbooks/ AWX runs by path), inventory/hosts, env/extravars, env/envvars."""
    ansible_runner = pytest.importorskip('ansible_runner')
    for name in LEAKING:
        monkeypatch.delenv(name, raising=False)
    data = installed.root / 'runner'
    (data / 'inventory').mkdir(parents=True)
    (data / 'env').mkdir()
    (data / 'inventory' / 'hosts').write_text(
        'localhost ansible_connection=local ansible_python_interpreter=%s\n' % os.path.join(BIN, 'python'))
    (data / 'env' / 'extravars').write_text(json.dumps({'drill_note': 'from env/extravars'}))
    # Set on purpose: the artifacts directory of the job wins over a configured directory.
    configured = installed.root / 'dr-reports'
    env = installed.env(GENESYS_DR_REPORT_DIR=str(configured))
    (data / 'env' / 'envvars').write_text(json.dumps(dict((k, env[k]) for k in (
        'PATH', 'HOME', 'ANSIBLE_CONFIG', 'ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_LOCAL_TEMP', 'GENESYS_DR_REPORT_DIR'))))
    handlers = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    # cancel_callback: without one, ansible-runner installs SIGTERM/SIGINT handlers in this pytest
    # process that only set a flag and are never removed - a timeout or Ctrl-C could no longer end the suite.
    result = ansible_runner.run(private_data_dir=str(data), project_dir=str(installed.collection),
                                playbook='playbooks/drill.yml', ident='job-1', quiet=True, timeout=120,
                                cancel_callback=lambda: False)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers
    stdout = result.stdout.read()
    assert (result.status, result.rc) == ('successful', 0), stdout
    artifacts = data / 'artifacts' / 'job-1'
    assert result.config.artifact_dir == str(artifacts)
    assert {REPORT + '.json', REPORT + '.md'} <= set(_files(artifacts)), (_files(artifacts), stdout)
    report = _report(artifacts)
    assert (report['run_id'], report['result']) == (RUN_ID, 'ok')
    assert report['measures']['rpo']['note'] == 'from env/extravars'
    with open(str(artifacts / (REPORT + '.md'))) as f:
        assert f.read().startswith('# DR failover report: %s\n' % RUN_ID)
    assert _files(configured) == [] and not (installed.home / '.ansible' / 'genesys_dr').exists()
    # set_stats still reaches AWX: the stats event carries it as artifact_data.
    stats = [e for e in result.events if e.get('event') == 'playbook_on_stats']
    assert len(stats) == 1
    published = stats[0]['event_data']['artifact_data']
    assert published['genesys_dr_report']['run_id'] == RUN_ID
    assert published['genesys_dr_rpo']['note'] == 'from env/extravars'
