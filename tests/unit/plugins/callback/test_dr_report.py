# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dr_report callback (plugins/callback/dr_report.py) driven by real ansible-playbook
runs on localhost: the plays publish with set_stats what the DR roles publish, and the
tests read back the JSON and Markdown reports written to GENESYS_DR_REPORT_DIR."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BIN = os.path.join(TOP, '.venv', 'bin')
SECRET = 'Sup3r-s3cret-DB-pw-4711'


def _run(tmp_path, playbook_text, *args):
    playbook = tmp_path / 'drill.yml'
    playbook.write_text(playbook_text)
    reports = tmp_path / 'reports'
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(
        'all:\n  hosts:\n'
        '    localhost: {ansible_connection: local, ansible_python_interpreter: %s}\n'
        '    east-mgmt-01: {ansible_connection: ssh, ansible_host: 127.0.0.1, ansible_port: 1,\n'
        '                   ansible_ssh_common_args: "-o ConnectTimeout=2 -o BatchMode=yes"}\n'
        % os.path.join(BIN, 'python'))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), GENESYS_DR_REPORT_DIR=str(reports),
               PATH=BIN + os.pathsep + os.environ.get('PATH', ''), ANSIBLE_NOCOLOR='1',
               ANSIBLE_CALLBACKS_ENABLED='genesys_dr.framework.dr_report',
               genesys_db_admin_password_env=SECRET)
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory), str(playbook)] + list(args),
                          cwd=TOP, env=env, capture_output=True, text=True, timeout=120, check=False)
    return proc, reports


def _read(reports, name):
    with open(os.path.join(str(reports), name + '.json')) as f:
        report = json.load(f)
    with open(os.path.join(str(reports), name + '.md')) as f:
        markdown = f.read()
    return report, markdown


def _epoch(iso):
    return datetime.datetime.strptime(iso, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc).timestamp()


PLANNED_FAILOVER = '''
- name: Take the DR lock, check the DR state
  hosts: localhost
  gather_facts: false
  vars:
    genesys_db_admin_password: "{{ lookup('ansible.builtin.env', 'genesys_db_admin_password_env') }}"
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: failover, mode: planned, run_id: "failover-20261124/test", check_mode: false}
    - name: Use the DB password (no_log)
      ansible.builtin.command: echo {{ genesys_db_admin_password }}
      no_log: true
      changed_when: true
- name: Stop the main master applications (backup first) - limited mode starts
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Remember when the masters stopped
      ansible.builtin.set_fact:
        drill_limited: "{{ now().timestamp() }}"
    - name: Record the fencing and the start of limited mode
      ansible.builtin.set_stats:
        data:
          genesys_dr_fencing: {"east-mgmt-01 master applications stopped": done, "east-cfgdb-01 cfgdb write access revoked": done}
          genesys_dr_limited_from: "{{ drill_limited }}"
    - name: Wait for the secondary to apply everything (a module that reports its wait)
      ansible.builtin.wait_for:
        timeout: 1
    - name: Publish the RPO
      ansible.builtin.set_stats:
        data:
          genesys_dr_rpo: {main_reachable: true, wal_bytes_not_applied: 0, source_lsn: 0/3000148,
                           confirmed_lsn: 0/3000148, applied_lsn: 0/3000148, note: zero loss proven by LSN}
- name: Push name resolution to every proxy, verify with a canary write
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Proxies connected, canary writes acknowledged (in the future, to make the RTO known)
      ansible.builtin.set_stats:
        data:
          genesys_dr_proxies:
            west-app-01: {site: dc_west, connected_at: "{{ hostvars.localhost.drill_limited + 4.5 }}"}
            north-app-01: {site: branch_north, connected_at: "{{ hostvars.localhost.drill_limited + 2 }}"}
            north-app-02: {site: branch_north, connected_at: "{{ hostvars.localhost.drill_limited + 3 }}"}
          genesys_dr_canary:
            west-app-01: {acknowledged_at: "{{ drill_ack + 5 }}", attempts: 2}
            north-app-01: {acknowledged_at: "{{ drill_ack }}", attempts: 1}
          genesys_dr_archive:
            west-cfgdb-01: {path: /var/lib/genesys-dr/archive/cfgdb-dc_west-run.dump, size_bytes: 40960,
                            sha256: 0123abcd, divergent_rows: {public.cfg_person: 2}, divergent_rows_summary: "public.cfg_person: 2"}
      vars:
        drill_ack: "{{ hostvars.localhost.drill_now + 30 }}"
  pre_tasks:
    - name: Remember when the canary step started
      ansible.builtin.set_fact:
        drill_now: "{{ now().timestamp() }}"
'''


def test_report_of_a_planned_failover(tmp_path):
    proc, reports = _run(tmp_path, PLANNED_FAILOVER)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(os.listdir(str(reports))) == ['failover-20261124_test.json', 'failover-20261124_test.md']
    report, markdown = _read(reports, 'failover-20261124_test')

    assert (report['operation'], report['mode'], report['run_id'], report['playbook'], report['result']) == \
        ('failover', 'planned', 'failover-20261124/test', 'drill.yml', 'ok')
    assert report['failures'] == [] and report['check_mode'] is False
    assert [(s['name'], s['ok'], s['changed'], s['failed']) for s in report['steps']] == [
        ('Take the DR lock, check the DR state', 2, 1, 0),
        ('Stop the main master applications (backup first) - limited mode starts', 4, 0, 0),
        ('Push name resolution to every proxy, verify with a canary write', 2, 0, 0),
    ]
    started = _epoch(report['started'])
    assert _epoch(report['ended']) >= started + 1
    assert all(s['duration'] >= 0 and _epoch(s['started']) >= started - 0.01 for s in report['steps'])
    assert report['steps'][1]['duration'] >= 1

    m = report['measures']
    canary = report['published']['genesys_dr_canary']
    first_ack = min(c['acknowledged_at'] for c in canary.values())
    assert first_ack == canary['north-app-01']['acknowledged_at']
    # RTO: from the start of the run to the first acknowledged canary write.
    assert abs(m['rto_s'] - (first_ack - started)) <= 0.02, (m, started)
    assert 30 <= m['rto_s'] < 60
    assert m['rto_waiting_s'] == 1.0
    assert abs(m['rto_orchestration_overhead_s'] - (m['rto_s'] - 1.0)) <= 0.011
    assert abs(_epoch(m['first_canary_at']) - first_ack) <= 0.01
    assert m['limited_mode_s_per_site'] == {'dc_west': pytest.approx(4.5, abs=0.02),
                                            'branch_north': pytest.approx(3.0, abs=0.02)}
    assert m['limited_mode_measured_from'] == 'masters stopped'
    assert m['rpo']['wal_bytes_not_applied'] == 0 and m['rpo']['source_lsn'] == '0/3000148'
    assert m['fencing'] == {'east-mgmt-01 master applications stopped': 'done',
                            'east-cfgdb-01 cfgdb write access revoked': 'done'}
    assert m['archive']['west-cfgdb-01']['path'] == '/var/lib/genesys-dr/archive/cfgdb-dc_west-run.dump'

    assert markdown.startswith('# DR failover report: failover-20261124/test\n')
    assert '| Take the DR lock, check the DR state | %s |' % report['steps'][0]['started'] in markdown
    assert '- RTO: %.2f s (waiting for the system 1.00 s, orchestration overhead %.2f s), first canary write ' \
        'acknowledged %s' % (m['rto_s'], m['rto_orchestration_overhead_s'], m['first_canary_at']) in markdown
    assert '- RPO: 0 bytes of WAL not applied (source at 0/3000148, confirmed by the replica 0/3000148, applied ' \
        '0/3000148): zero loss proven by LSN' in markdown
    assert '- limited mode at branch_north: 3.00 s (from masters stopped to the proxies reconnected)' in markdown
    assert '- limited mode at dc_west: 4.50 s' in markdown
    assert '- fencing east-mgmt-01 master applications stopped: done' in markdown
    assert '- archive of west-cfgdb-01 before it was overwritten: `/var/lib/genesys-dr/archive/cfgdb-dc_west-run.dump`' \
        ' (40960 bytes); rows only there, not at the live site: public.cfg_person: 2' in markdown
    assert '## Failures' not in markdown
    assert 'DR REPORT' in proc.stdout and markdown.splitlines()[0] in proc.stdout

    for text in (json.dumps(report), markdown):
        assert SECRET not in text


FAILED_DISASTER = '''
- name: Confirm, take the DR lock
  hosts: localhost
  gather_facts: false
  vars:
    genesys_db_admin_password: "{{ lookup('ansible.builtin.env', 'genesys_db_admin_password_env') }}"
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: failover, mode: disaster, run_id: failover-disaster, check_mode: "{{ ansible_check_mode }}"}
    - name: Proxies reconnected five seconds after this point
      ansible.builtin.set_stats:
        data:
          genesys_dr_proxies: {west-app-01: {site: dc_west, connected_at: "{{ now().timestamp() + 5 }}"}}
    - name: A refused login, with the password in its message (no_log)
      ansible.builtin.fail:
        msg: "login refused for password {{ genesys_db_admin_password }}"
      no_log: true
      ignore_errors: true
    - name: Grant write access at the secondary
      ansible.builtin.command: /bin/sh -c 'echo {{ genesys_db_admin_password }} >&2; exit 3'
      no_log: true
      check_mode: false
- name: Never reached
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Switch DNS
      ansible.builtin.debug:
        msg: "{{ genesys_db_admin_password | default('') }}"
'''


def test_report_of_a_failed_disaster_failover_in_check_mode_holds_no_secret(tmp_path):
    proc, reports = _run(tmp_path, FAILED_DISASTER, '--check')
    assert proc.returncode != 0
    report, markdown = _read(reports, 'failover-disaster')
    assert report['result'] == 'failed' and report['check_mode'] is True
    assert [s['name'] for s in report['steps']] == ['Confirm, take the DR lock']
    assert (report['steps'][0]['ok'], report['steps'][0]['failed']) == (3, 1)
    assert [(f['step'], f['host'], f['task']) for f in report['failures']] == [
        ('Confirm, take the DR lock', 'localhost', 'Grant write access at the secondary')]
    m = report['measures']
    assert m['rto_s'] is None
    # After a site loss the run cannot know when the masters died: a lower bound from its start.
    assert m['limited_mode_measured_from'].startswith('start of the run')
    assert 5 <= m['limited_mode_s_per_site']['dc_west'] < 15
    assert '- playbook: `drill.yml` (check mode), mode: disaster' in markdown
    assert 'result: **failed**' in markdown
    assert '- RTO: not measured (no canary write acknowledged)' in markdown
    assert '## Failures\n\n- Confirm, take the DR lock / localhost / Grant write access at the secondary: ' in markdown
    for text in (json.dumps(report), markdown, proc.stdout.split('DR REPORT')[-1]):
        assert SECRET not in text


def test_no_report_for_a_playbook_that_does_not_publish_one(tmp_path):
    proc, reports = _run(tmp_path, '''
- name: Not a DR procedure
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish something else
      ansible.builtin.set_stats:
        data: {genesys_dr_canary: {west-app-01: {acknowledged_at: 1.0}}}
''')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not reports.exists() or os.listdir(str(reports)) == []
    assert 'DR REPORT' not in proc.stdout


def test_an_ignored_unreachable_host_is_not_a_failure_of_the_run(tmp_path):
    proc, reports = _run(tmp_path, '''
- name: Publish the run
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: failover, mode: disaster, run_id: probe, check_mode: false}
- name: Probe the main site (nothing is changed)
  hosts: east-mgmt-01
  gather_facts: false
  ignore_unreachable: true
  tasks:
    - name: Reach the main site's management host
      ansible.builtin.ping:
''')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report, _markdown = _read(reports, 'probe')
    assert report['steps'][1]['unreachable'] == 1
    assert report['result'] == 'ok', report['failures']


def test_reprotect_counts_limited_mode_only_where_proxies_were_moved(tmp_path):
    # Reprotect fences a partitioned main whose own site was still on it: only that site's
    # proxies had to reconnect; the live site's were never without a master.
    not_moved = PLANNED_FAILOVER.replace(
        '{site: dc_west, connected_at: "{{ hostvars.localhost.drill_limited + 4.5 }}"}',
        '{site: dc_west, connected_at: "{{ hostvars.localhost.drill_limited + 4.5 }}", reconnected: false}')
    (tmp_path / 'reprotect').mkdir()
    proc, reports = _run(tmp_path / 'reprotect', not_moved.replace('operation: failover, mode: planned',
                                                                   'operation: reprotect, mode: reprotect'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report, markdown = _read(reports, 'failover-20261124_test')
    assert report['operation'] == 'reprotect'
    assert report['measures']['limited_mode_s_per_site'] == {'branch_north': pytest.approx(3.0, abs=0.02)}
    assert 'limited mode at dc_west' not in markdown
    # the same data in a failover counts every site: each lost its master
    (tmp_path / 'failover').mkdir()
    proc, reports = _run(tmp_path / 'failover', not_moved)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = _read(reports, 'failover-20261124_test')[0]
    assert set(report['measures']['limited_mode_s_per_site']) == {'dc_west', 'branch_north'}


ATTEMPT = '''
- name: Take the DR lock
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: failover, mode: planned, run_id: "failover-resumed", check_mode: false}
    - name: Publish the RPO this attempt measured
      ansible.builtin.set_stats:
        data:
          genesys_dr_rpo: {main_reachable: true, wal_bytes_not_applied: "{{ rpo_bytes | int }}", source_lsn: "{{ lsn }}",
                           note: "attempt with {{ rpo_bytes }} bytes behind"}
    - name: Die here when asked to (the controller killed, the DNS primary gone)
      ansible.builtin.fail:
        msg: the DNS primary does not answer
      when: fail_here | bool
'''


def test_every_attempt_of_a_resumed_run_keeps_its_own_report(tmp_path):
    proc, reports = _run(tmp_path, ATTEMPT, '-e', 'rpo_bytes=4096 lsn=0/3000000 fail_here=true')
    assert proc.returncode != 0
    first, _md = _read(reports, 'failover-resumed')
    assert first['attempt'] == 1 and first['earlier_attempts'] == [] and first['result'] == 'failed'
    assert first['measures']['rpo']['wal_bytes_not_applied'] == 4096

    proc, reports = _run(tmp_path, ATTEMPT, '-e', 'rpo_bytes=0 lsn=0/3000148 fail_here=false')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(os.listdir(str(reports))) == ['failover-resumed.attempt2.json', 'failover-resumed.attempt2.md',
                                                'failover-resumed.json', 'failover-resumed.md']
    # The first attempt's report is untouched: its RPO is still there.
    assert _read(reports, 'failover-resumed') == (first, _md)
    second, markdown = _read(reports, 'failover-resumed.attempt2')
    assert second['attempt'] == 2 and second['result'] == 'ok' and second['run_id'] == 'failover-resumed'
    assert second['measures']['rpo']['wal_bytes_not_applied'] == 0
    assert second['earlier_attempts'] == [{
        'attempt': 1, 'report': 'failover-resumed.json', 'started': first['started'], 'ended': first['ended'],
        'result': 'failed', 'rpo': first['measures']['rpo']}]
    assert markdown.startswith('# DR failover report: failover-resumed (attempt 2)\n')
    assert '- earlier attempt 1 (`failover-resumed.json`): started %s, result failed, RPO {"main_reachable": true, ' \
        '"note": "attempt with 4096 bytes behind", "source_lsn": "0/3000000", "wal_bytes_not_applied": 4096}' % first['started'] in markdown
    assert 'report written: %s.json' % os.path.join(str(reports), 'failover-resumed.attempt2') in proc.stdout

    proc, reports = _run(tmp_path, ATTEMPT, '-e', 'rpo_bytes=0 lsn=0/3000148 fail_here=false')
    third, _md = _read(reports, 'failover-resumed.attempt3')
    assert third['attempt'] == 3 and [e['attempt'] for e in third['earlier_attempts']] == [1, 2]
    assert _read(reports, 'failover-resumed.attempt2')[0] == second


SECRETS_PUBLISHED = '''
- name: A run whose tasks handle the DB password
  hosts: localhost
  gather_facts: false
  vars:
    genesys_db_admin_password: "{{ lookup('ansible.builtin.env', 'genesys_db_admin_password_env') }}"
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: reprotect, mode: reprotect, run_id: secrets, check_mode: false}
    - name: A module given the password as a no_log option fails (the server does not answer)
      genesys_dr.framework.pg_content_info:
        login_host: 127.0.0.1
        login_port: 1
        login_user: genesys_dr_admin
        login_password: "{{ genesys_db_admin_password }}"
        login_db: cfgdb
        connect_timeout: 2
      ignore_errors: true
    - name: A no_log task returns the password and fails with it in its message
      ansible.builtin.fail:
        msg: "refused: {{ genesys_db_admin_password }}"
      no_log: true
      ignore_errors: true
    - name: A no_log loop over items holding the password
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop: ["{{ genesys_db_admin_password }}"]
      no_log: true
    - name: A role publishes a connection it used, password included
      ansible.builtin.set_stats:
        data:
          genesys_dr_archive:
            west-cfgdb-01: {path: /var/lib/genesys-dr/archive/x.dump, size_bytes: 1, divergent_rows_summary: none,
                            publisher: {host: 198.18.2.20, password: "{{ genesys_db_admin_password }}"}}
          genesys_dr_debug: {db_admin_password: "{{ genesys_db_admin_password }}", tsig_key: "{{ genesys_db_admin_password }}"}
    - name: Fail the run with a no_log task
      ansible.builtin.command: /bin/sh -c 'echo {{ genesys_db_admin_password }}; exit 4'
      no_log: true
'''


def test_no_secret_reaches_the_report(tmp_path):
    proc, reports = _run(tmp_path, SECRETS_PUBLISHED, '-vvv')
    assert proc.returncode != 0
    report, markdown = _read(reports, 'secrets')
    assert report['result'] == 'failed'
    assert [f['task'] for f in report['failures']] == ['Fail the run with a no_log task']
    assert report['published']['genesys_dr_debug'] == {'db_admin_password': '********', 'tsig_key': '********'}
    archive = report['measures']['archive']['west-cfgdb-01']
    assert archive['publisher'] == {'host': '198.18.2.20', 'password': '********'} and archive['size_bytes'] == 1
    for text in (json.dumps(report), markdown, proc.stdout.split('DR REPORT')[-1]):
        assert SECRET not in text


STOPPED_RUN = '''
- name: Begin
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: failover, mode: planned, run_id: "failover-x-1", check_mode: false}
- name: Fence the main site
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Stop the masters
      ansible.builtin.command: "true"
      changed_when: "{{ fence_changes | default(true) | bool }}"
- name: Switch DNS
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Send the update
      ansible.builtin.fail:
        msg: the DNS primary does not answer
'''


def test_a_stopped_run_says_what_changed_and_how_to_continue(tmp_path):
    proc, reports = _run(tmp_path, STOPPED_RUN, '-e', 'failover_mode=planned', '-e', 'genesys_dr_run=old-id',
                         '-e', 'genesys_db_admin_password=%s' % SECRET)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    report, markdown = _read(reports, 'failover-x-1')
    stopped = report['stopped']
    assert stopped['step'] == 'Switch DNS' and stopped['host'] == 'localhost' and stopped['task'] == 'Send the update'
    assert stopped['changed_steps'] == ['Fence the main site'] and stopped['nothing_changed'] is False
    command = stopped['continue_with']
    assert command.startswith('ansible-playbook -i ') and command.endswith('drill.yml -e failover_mode=planned '
                                                                           '-e genesys_db_admin_password=******** '
                                                                           '-e genesys_dr_run=failover-x-1')
    assert 'old-id' not in command
    assert 'STOPPED at step "Switch DNS"' in markdown and 'Continue with: %s' % command in markdown
    assert 'Continue with: %s' % command in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr + markdown + json.dumps(report)


def test_a_run_stopped_before_any_change_says_nothing_was_changed(tmp_path):
    proc, reports = _run(tmp_path, STOPPED_RUN, '-e', 'fence_changes=false')
    assert proc.returncode == 2
    report, markdown = _read(reports, 'failover-x-1')
    assert report['stopped']['nothing_changed'] is True and 'continue_with' not in report['stopped']
    assert 'STOPPED at step "Switch DNS" (localhost, task "Send the update"). Nothing was changed.' in markdown


WAITS = '''
- name: Wait for the system in three ways
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: failover, mode: disaster, run_id: "failover-waits", check_mode: false}
    - name: The DNS servers serving an update (dr_state, dns_record)
      returns: {values: {verify_seconds: 0.75, elapsed: true}}
    - name: A subscription draining (pg_subscription)
      returns: {values: {catchup: {mode: received, seconds: 1.5}}}
    - name: Applications started one by one (a loop, each reporting its wait)
      returns: {values: {elapsed: "{{ item }}"}}
      loop: [0.25, 0.5]
    - name: A field that is not a wait
      returns: {values: {seconds: 9, catchup: null}}
    - name: The canary, acknowledged later
      ansible.builtin.set_stats:
        data:
          genesys_dr_canary:
            west-app-01: {acknowledged_at: "{{ now().timestamp() + 20 }}", attempts: 1}
'''

RETURNS_MODULE = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(values=dict(type='dict', required=True)))
    values = dict((k, float(v) if isinstance(v, str) else v) for k, v in module.params['values'].items())
    module.exit_json(changed=False, **values)


if __name__ == '__main__':
    main()
'''


def test_every_wait_the_modules_report_is_booked_as_waiting(tmp_path):
    """The DNS verification and a subscription's catch-up count as waiting for the system, not as
    orchestration overhead, as a module's own elapsed does; a boolean or an unnamed field does not."""
    library = tmp_path / 'library'
    library.mkdir()
    (library / 'returns.py').write_text(RETURNS_MODULE)
    proc, reports = _run(tmp_path, WAITS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = _read(reports, 'failover-waits')[0]['measures']
    assert m['rto_waiting_s'] == 3.0, m
    assert abs(m['rto_orchestration_overhead_s'] - (m['rto_s'] - 3.0)) <= 0.011, m


MINIMAL_RUN = '''
- name: Take the DR lock, check the DR state
  hosts: localhost
  gather_facts: false
  strategy: genesys_dr.framework.fail_stop
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: failover, mode: planned, run_id: "failover-20261126/runner", check_mode: false}
'''


@pytest.mark.parametrize('mitogen, runner', [(None, 'ansible'), ('false', 'ansible'), ('true', 'mitogen')])
def test_the_report_says_what_ran_the_tasks(tmp_path, monkeypatch, mitogen, runner):
    """A benchmark or drill run with GENESYS_DR_MITOGEN must be able to prove from the report
    that Mitogen ran it (and one without, that it did not)."""
    monkeypatch.delenv('GENESYS_DR_MITOGEN', raising=False)
    if mitogen is not None:
        monkeypatch.setenv('GENESYS_DR_MITOGEN', mitogen)
    proc, reports = _run(tmp_path, MINIMAL_RUN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report, markdown = _read(reports, 'failover-20261126_runner')
    assert report['task_runner'] == runner
    assert ('tasks run through Mitogen' in markdown) == (runner == 'mitogen')


DRTEST = '''
- name: A DR test publishes its result
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data: {genesys_dr_report: {operation: drtest, mode: drtest, run_id: drtest-20261127T120000Z-0000abcd, check_mode: false}}
    - name: Publish the result
      ansible.builtin.set_stats:
        data:
          genesys_dr_drtest:
            ready: %(ready)s
            site: dc_west
            database: cfgdb_drtest
            lsn_min: %(lsn_min)s
            lsn_max: %(lsn_max)s
            copy_bytes: 7861043
            copy_seconds: 1.83
            test_master: CS_P_drtest
            time_to_ready_seconds: 2.41
            time_to_ready_budget_seconds: 15
            started_seconds: {MS_drtest: 0.61, SCS_drtest: 0.7, CS_P_drtest: 1.1, CS_B_drtest: 0.9}
            canary_tables: [public.cfg_person]
            reads: {canary_read_back: true, sample_identical: [person_00001, person_00002], sample_changed_since: [person_00003],
                    sample_not_compared: []}
            replication_lag_bytes: {before: 0, after: 312}
            production_changes: %(changes)s
            left_running: []
            problems: %(problems)s
'''


@pytest.mark.parametrize('ready, lsn_min, lsn_max, lsn_text', [
    (True, '0/3000060', '0/3000148', '0/3000060..0/3000148'),
    (False, '0/3000060', '0/3000148', '0/3000060..0/3000148'),
    (True, '0/0', '0/0', "0/0 (nothing applied since the subscription's initial copy)")])
def test_a_dr_test_report_gives_the_verdict_and_every_check(tmp_path, ready, lsn_min, lsn_max, lsn_text):
    change = 'DNS ns-w: 10.1.0.21 before, not read after'
    proc, reports = _run(tmp_path, DRTEST % dict(ready=ready, changes=[] if ready else [change], lsn_min=lsn_min,
                                                 lsn_max=lsn_max, problems=[] if ready else ['production changed: ' + change]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report, markdown = _read(reports, 'drtest-20261127T120000Z-0000abcd')
    assert report['operation'] == 'drtest' and report['measures']['drtest']['ready'] is ready
    section = markdown[markdown.index('## DR test'):]
    assert ('- site dc_west: **%s**' % ('ready to take over' if ready else 'NOT READY')) in section
    assert '- copy `cfgdb_drtest` of the Configuration Database at publisher LSN %s (7861043 bytes, 1.83 s)' % lsn_text in section
    assert '- test master `CS_P_drtest` served after 2.41 s (budget 15 s)' in section
    assert '  - `SCS_drtest` started in 0.7 s' in section
    assert '- canary write through the test master changed: public.cfg_person' in section
    assert ('- read through the test master: canary read back; sample objects identical to the live master: '
            'person_00001, person_00002; changed since the copy: person_00003; not served by the live master: none') in section
    assert '- cfgdb stream into the tested site: lag 0 bytes before, 312 after' in section
    if ready:
        assert '- production read back after the test: the same' in section and '- problem:' not in section
    else:
        assert '- production read back after the test: %s' % change in section
        assert '- problem: production changed: %s' % change in section
    # No RTO line: a DR test measures the test master's time to ready, not a switch.
    assert 'RTO' not in markdown
