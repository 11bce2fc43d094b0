# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app module against real processes (tests/unit/plugins/fake_genesys_app.py).

Every test uses its own unique AppNames, and reads the process table back with pgrep and
ss, independently of the module's own /proc code.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from ansible_collections.genesys_dr.framework.plugins.modules import app, app_info, app_sweep
from ansible_collections.genesys_dr.framework.tests.unit.plugins.module_runner import run_module_main

FAKE_APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fake_genesys_app.py')
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def run_module(args, check=False, diff=False):
    """(failed, result) of one run of the module in this process.

    Starts settle 0.3 s instead of the default 1 s to keep the file fast; the tests about
    dying applications and the run through ansible use the default or more.
    """
    args = dict(args)
    args.setdefault('settle', 0.3)
    result = run_module_main(app, args, check_mode=check, diff=diff)
    return result['failed'], result


def ok(args, **kwargs):
    failed, result = run_module(args, **kwargs)
    assert not failed, result['msg']
    return result


def failure(args, **kwargs):
    failed, result = run_module(args, **kwargs)
    assert failed, result
    return result


def pids_of(name):
    """Pids whose command line holds "-app NAME" as a whole word, from pgrep."""
    out = subprocess.run(['pgrep', '-f', '--', '-app %s( |$)' % re.escape(name)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=False).stdout
    return sorted(int(pid) for pid in out.split())


def listening_pids(port):
    """Pids that ss shows holding a LISTEN socket on the TCP port."""
    out = subprocess.run(['ss', '-Hltnp', 'sport = :%d' % port], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    return sorted(set(int(pid) for pid in re.findall(r'pid=(\d+)', out)))


def process_start(pid):
    """Seconds since boot at which the process started (field 22 of /proc/<pid>/stat)."""
    with open('/proc/%d/stat' % pid) as handle:
        return int(handle.read().rsplit(')', 1)[1].split()[19]) / float(os.sysconf('SC_CLK_TCK'))


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except IOError:
        return False


def free_port(address='127.0.0.1'):
    sock = socket.socket()
    sock.bind((address, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def lab(tmp_path):
    """Makes app directories; kills whatever the test left running."""
    class Lab:
        names = []
        others = []

        def name(self, suffix):
            name = 'UT%s_%s' % (uuid.uuid4().hex[:8], suffix)
            self.names.append(name)
            return name

        def app_dir(self, name, *fake_args, **options):
            """<tmp>/<name>/run.sh starting the fake app; options: background, app_arg, before."""
            directory = tmp_path / name
            (directory / 'logs').mkdir(parents=True)
            command = '%s %s -host cs.invalid -port 2020 -app %s --log-dir logs %s' % (
                sys.executable, FAKE_APP, options.get('app_arg', name), ' '.join(fake_args))
            if options.get('background'):
                body = 'nohup %s >/dev/null 2>&1 &\necho started in the background\n' % command
            else:
                body = 'exec %s\n' % command
            (directory / 'run.sh').write_text('#!/bin/sh\n%s%s' % (options.get('before', ''), body))
            (directory / 'run.sh').chmod(0o755)
            return str(directory)

    lab = Lab()
    yield lab
    for name in lab.names:
        for pid in pids_of(name):
            os.kill(pid, signal.SIGKILL)
    for other in lab.others:
        if other.poll() is None:
            other.kill()
        other.wait()


def test_start_stop_cycle_is_idempotent_and_observed(lab):
    name = lab.name('CS_1')
    port = free_port()
    args = {'name': name, 'app_dir': lab.app_dir(name, '--listen 127.0.0.1:%d' % port), 'ports': [port]}

    result = ok(args, diff=True)
    pids = pids_of(name)
    assert len(pids) == 1
    assert result['changed'] is True
    assert result['previous_state'] == 'stopped'
    assert result['state'] == 'running'
    assert result['pids'] == pids
    assert os.getsid(pids[0]) == pids[0], 'run.sh should have become the application, alone in its session'
    assert listening_pids(port) == pids
    assert result['listening'] == [port]
    assert result['cmdline'].endswith('-app %s --log-dir logs --listen 127.0.0.1:%d' % (name, port))
    assert result['actions'] == ["run './run.sh' in %s" % args['app_dir']]
    assert result['diff'] == {'before': 'stopped\n', 'after': 'running (pid %d)\n' % pids[0]}
    assert isinstance(result['elapsed'], float)

    again = ok(args)
    assert again['changed'] is False
    assert again['previous_state'] == 'running'
    assert again['pids'] == pids == pids_of(name)
    assert again['actions'] == []

    stopped = ok(dict(args, state='stopped'), diff=True)
    assert stopped['changed'] is True
    assert stopped['previous_state'] == 'running'
    assert stopped['state'] == 'stopped'
    assert stopped['pids'] == [] == pids_of(name)
    assert stopped['listening'] == [] and stopped['cmdline'] == ''
    assert stopped['actions'] == ['sent SIGTERM to pid(s) %d' % pids[0]]
    assert stopped['diff'] == {'before': 'running (pid %d)\n' % pids[0], 'after': 'stopped\n'}
    with open(os.path.join(args['app_dir'], 'logs', '%s.log' % name)) as handle:
        assert 'stopping on signal %d' % signal.SIGTERM in handle.read()

    assert ok(dict(args, state='stopped'))['changed'] is False


def test_a_list_starts_in_order_each_serving_before_the_next(lab):
    """applications: one call, in order; each start waits for its port before the next starts."""
    names = [lab.name('MS'), lab.name('SCS'), lab.name('CS_P')]
    ports = [free_port() for _name in names]
    apps = [{'name': n, 'app_dir': lab.app_dir(n, '--listen 127.0.0.1:%d --start-delay 0.4' % p), 'ports': [p]}
            for n, p in zip(names, ports)]
    result = ok({'applications': apps, 'settle': 0}, diff=True)
    assert result['changed'] is True
    assert [r['name'] for r in result['applications']] == names
    for entry, port in zip(result['applications'], ports):
        # Read back: each runs and holds its port.
        assert entry['state'] == 'running' and entry['pids'] == pids_of(entry['name']) == listening_pids(port)
    # In order: each started only after the previous one listened, 0.4 s after its own start (start
    # times from /proc/<pid>/stat, not from the module).
    started = [process_start(pids_of(n)[0]) for n in names]
    assert all(later - earlier >= 0.35 for earlier, later in zip(started, started[1:])), started
    assert result['diff']['before'] == ''.join('%s: stopped\n' % n for n in names)
    again = ok({'applications': apps})
    assert again['changed'] is False and [r['previous_state'] for r in again['applications']] == ['running'] * 3
    stopped = ok({'applications': list(reversed(apps)), 'state': 'stopped'})
    assert stopped['changed'] and all(pids_of(n) == [] for n in names)


def test_a_list_stops_at_the_first_failure_and_names_what_was_not_done(lab):
    good, broken, after = lab.name('MS'), lab.name('SCS_broken'), lab.name('CS_P')
    port = free_port()
    apps = [{'name': good, 'app_dir': lab.app_dir(good, '--listen 127.0.0.1:%d' % port), 'ports': [port]},
            {'name': broken, 'app_dir': lab.app_dir(broken, '--exit-code 3')},
            {'name': after, 'app_dir': lab.app_dir(after)}]
    result = failure({'applications': apps, 'start_timeout': 10})
    assert result['msg'].startswith('start of %s failed:' % broken), result['msg']
    assert result['msg'].endswith('; done before it: %s' % good)
    assert result['changed'] is True and result['not_done'] == [after]
    assert [r['name'] for r in result['applications']] == [good, broken] and result['applications'][1]['failed']
    # Read back: the first runs, the one after the failure was never started.
    assert pids_of(good) and pids_of(broken) == [] and pids_of(after) == []


def test_a_list_refuses_bad_input_before_acting(lab):
    name = lab.name('CS_P')
    app_dir = lab.app_dir(name)
    assert 'mutually exclusive' in failure({'applications': [{'name': name, 'app_dir': app_dir}], 'name': name})['msg']
    assert 'each once' in failure({'applications': [{'name': name, 'app_dir': app_dir}] * 2})['msg']
    assert 'ports belongs to each entry' in failure({'applications': [{'name': name, 'app_dir': app_dir}], 'ports': [1]})['msg']
    assert pids_of(name) == []


def test_background_start_script_is_detached(lab):
    name = lab.name('SCS')
    port = free_port()
    args = {'name': name, 'app_dir': lab.app_dir(name, '--listen 127.0.0.1:%d' % port, background=True), 'ports': [port]}
    result = ok(args)
    assert result['changed'] is True
    assert result['pids'] == pids_of(name) == listening_pids(port)
    with open(os.path.join(args['app_dir'], 'genesys_dr_start.log')) as handle:
        assert 'started in the background' in handle.read()
    pid = result['pids'][0]
    assert os.getsid(pid) != os.getsid(0)
    assert ok(args)['changed'] is False


def test_exact_app_name_only(lab):
    name = lab.name('CS_1')
    longer = name + '0'
    lab.names.append(longer)
    ok({'name': longer, 'app_dir': lab.app_dir(longer)})
    other_pids = pids_of(longer)
    assert other_pids

    directory = lab.app_dir(name)
    assert ok({'name': name, 'app_dir': directory, 'state': 'stopped'})['changed'] is False
    assert pids_of(longer) == other_pids
    result = ok({'name': name, 'app_dir': directory})
    assert result['changed'] is True
    assert result['pids'] == pids_of(name)
    assert not set(result['pids']) & set(other_pids)


def test_stale_pid_file_naming_an_unrelated_process_is_ignored(lab):
    name = lab.name('MsgSrv')
    directory = lab.app_dir(name)
    unrelated = subprocess.Popen(['sleep', '60'])
    lab.others.append(unrelated)
    with open(os.path.join(directory, '%s.pid' % name), 'w') as handle:
        handle.write('%d\n' % unrelated.pid)
    args = {'name': name, 'app_dir': directory}

    assert ok(dict(args, state='stopped'))['changed'] is False
    assert unrelated.poll() is None

    result = ok(args)
    assert result['changed'] is True
    assert result['previous_state'] == 'stopped'
    assert result['pids'] == pids_of(name)
    assert unrelated.pid not in result['pids']

    assert ok(dict(args, state='stopped'))['changed'] is True
    assert pids_of(name) == []
    assert unrelated.poll() is None


def test_sigterm_ignored_escalates_to_sigkill(lab):
    name = lab.name('CS_stubborn')
    port = free_port()
    # Waiting for the port also waits until the fake app has set SIGTERM to be ignored.
    args = {'name': name, 'app_dir': lab.app_dir(name, '--ignore-term --listen 127.0.0.1:%d' % port), 'ports': [port],
            'stop_timeout': 1}
    pid = ok(args)['pids'][0]
    began = time.monotonic()
    result = ok(dict(args, state='stopped'))
    assert time.monotonic() - began >= 1
    assert result['changed'] is True
    assert result['actions'] == ['sent SIGTERM to pid(s) %d' % pid, 'sent SIGKILL to pid(s) %d after 1 s' % pid]
    assert pids_of(name) == [] and not alive(pid)


def test_survivor_without_force_fails_naming_the_pid(lab):
    name = lab.name('CS_stubborn')
    port = free_port()
    # Waiting for the port also waits until the fake app has set SIGTERM to be ignored.
    args = {'name': name, 'app_dir': lab.app_dir(name, '--ignore-term --listen 127.0.0.1:%d' % port), 'ports': [port],
            'stop_timeout': 1}
    pid = ok(args)['pids'][0]
    result = failure(dict(args, state='stopped', force=False))
    assert result['msg'] == ('%s did not stop: pid(s) %d still alive after 1 s; force=false, so no SIGKILL was sent'
                             % (name, pid))
    assert result['pids'] == [pid]
    assert result['changed'] is True
    assert alive(pid)


def test_stop_command_is_used_and_its_failure_reported(lab):
    name = lab.name('SCS_site')
    directory = lab.app_dir(name, before='echo $$ > app.pid\n')
    with open(os.path.join(directory, 'stop.sh'), 'w') as handle:
        handle.write('#!/bin/sh\nkill "$(cat app.pid)"\necho stop requested\n')
    os.chmod(os.path.join(directory, 'stop.sh'), 0o755)
    args = {'name': name, 'app_dir': directory, 'stop_command': './stop.sh', 'stop_timeout': 5}
    pid = ok(args)['pids'][0]
    result = ok(dict(args, state='stopped'))
    assert result['actions'] == ["ran './stop.sh' in %s: exit code 0" % directory]
    assert pids_of(name) == [] and not alive(pid)
    with open(os.path.join(directory, 'genesys_dr_start.log')) as handle:
        assert 'stop requested' in handle.read()

    pid = ok(dict(args))['pids'][0]
    useless = dict(args, state='stopped', stop_command='echo nothing to do; exit 4', stop_timeout=1, force=False)
    result = failure(useless)
    assert result['msg'] == ('%s did not stop: pid(s) %d still alive after 1 s; stop command exited with code 4; '
                             'force=false, so no SIGKILL was sent' % (name, pid))
    assert alive(pid)


def test_restart_replaces_the_process(lab):
    name = lab.name('LMS')
    port = free_port()
    args = {'name': name, 'app_dir': lab.app_dir(name, '--listen 127.0.0.1:%d' % port), 'ports': [port]}
    first = ok(args)['pids']
    result = ok(dict(args, state='restarted'))
    assert result['changed'] is True
    assert result['previous_state'] == 'running'
    assert result['pids'] == pids_of(name) == listening_pids(port)
    assert result['pids'] != first and not alive(first[0])


def test_failing_start_reports_exit_code_and_log_tails(lab):
    name = lab.name('CS_broken')
    args = {'name': name, 'app_dir': lab.app_dir(name, '--exit-code 3'), 'start_timeout': 10, 'settle': 1.0}
    began = time.monotonic()
    result = failure(args)
    assert time.monotonic() - began < 5
    assert re.match(r'start of %s failed: \'\./run\.sh\' exited with code 3 and no process with "-app %s" runs'
                    r'( \(pid \d+ ran for a moment\))?; output of the start command \(%s/genesys_dr_start\.log\): '
                    % (name, name, re.escape(args['app_dir'])), result['msg']), result['msg']
    assert 'fatal error, see log' in result['msg']
    assert 'end of the newest log %s/logs/%s.log: ' % (args['app_dir'], name) in result['msg']
    assert 'FATAL: cannot read configuration, exiting with code 3' in result['msg']
    assert result['rc'] == 3
    assert result['pids'] == [] == pids_of(name)


def test_application_dying_right_after_start_fails(lab):
    name = lab.name('CS_flaky')
    port = free_port()
    args = {'name': name, 'app_dir': lab.app_dir(name, '--listen 127.0.0.1:%d --exit-code 5 --exit-after 0.5' % port, background=True),
            'ports': [port], 'settle': 1.5}
    result = failure(args)
    assert re.match(r'start of %s failed: it started \(pid \d+ ran for a moment\) but exited again; the start command exited '
                    r'with code 0; output of the start command' % name, result['msg']), result['msg']
    assert 'FATAL: cannot read configuration, exiting with code 5' in result['msg']
    assert result['pids'] == [] == pids_of(name)


def test_start_command_that_runs_the_wrong_app_is_explained(lab):
    name = lab.name('CS_1')
    wrong = name + '_typo'
    lab.names.append(wrong)
    args = {'name': name, 'app_dir': lab.app_dir(name, app_arg=wrong), 'start_timeout': 1}
    result = failure(args)
    assert result['msg'].startswith('no process with "-app %s" on its command line appeared within 1 s after run \'./run.sh\' '
                                    'in %s; the start command is still running (pid ' % (name, args['app_dir']))
    assert 'pid %d: %s %s -host cs.invalid -port 2020 -app %s ' % (pids_of(wrong)[0], sys.executable, FAKE_APP, wrong) in result['msg']
    assert 'check that the start command passes "-app %s"' % name in result['msg']


def test_waits_for_ports_of_a_slow_start(lab):
    name = lab.name('CS_slow')
    port = free_port()
    args = {'name': name, 'app_dir': lab.app_dir(name, '--start-delay 1.5 --listen 127.0.0.1:%d' % port), 'ports': [port]}
    result = ok(args)
    assert result['elapsed'] >= 1.4
    assert result['listening'] == [port]
    assert listening_pids(port) == result['pids'] == pids_of(name)


def test_port_held_by_another_process_does_not_count(lab):
    name = lab.name('CS_wrong_port')
    its_port = free_port()
    squatter = socket.socket()
    squatter.bind(('127.0.0.1', 0))
    squatter.listen(1)
    port = squatter.getsockname()[1]
    try:
        args = {'name': name, 'app_dir': lab.app_dir(name, '--listen 127.0.0.1:%d' % its_port), 'ports': [port, its_port],
                'start_timeout': 1}
        result = failure(args)
        pid = pids_of(name)[0]
        assert listening_pids(port) == [os.getpid()]
        assert result['msg'].startswith('%s runs (pid %d) but does not listen on port(s) %d within 1 s (it listens on: %d); '
                                        % (name, pid, port, its_port))

        again = failure(args)
        assert again['msg'] == ('%s runs (pid %d) but does not listen on port(s) %d within 1 s (it listens on: %d); it was '
                                'already running, so the module did not start it: fix or restart it (state=restarted)'
                                % (name, pid, port, its_port))
        assert pids_of(name) == [pid]
    finally:
        squatter.close()


def test_environment_reaches_the_start_command(lab):
    name = lab.name('CS_env')
    port = free_port()
    directory = lab.app_dir(name, '--listen 127.0.0.1:$GDR_TEST_PORT')
    result = ok({'name': name, 'app_dir': directory, 'ports': [port], 'environment': {'GDR_TEST_PORT': port}})
    assert result['listening'] == [port] and listening_pids(port) == result['pids']


def test_check_mode_changes_nothing(lab):
    name = lab.name('CS_check')
    port = free_port()
    args = {'name': name, 'app_dir': lab.app_dir(name, '--ignore-term --listen 127.0.0.1:%d' % port), 'ports': [port]}
    result = ok(args, check=True, diff=True)
    assert result['changed'] is True
    assert result['state'] == 'stopped' and result['pids'] == []
    assert result['actions'] == ["run './run.sh' in %s" % args['app_dir']]
    assert result['diff'] == {'before': 'stopped\n', 'after': 'running (new process)\n'}
    time.sleep(0.3)
    assert pids_of(name) == []
    assert not os.path.exists(os.path.join(args['app_dir'], 'genesys_dr_start.log'))

    pid = ok(args)['pids'][0]
    for state in ('stopped', 'restarted'):
        result = ok(dict(args, state=state, stop_timeout=1), check=True, diff=True)
        assert result['changed'] is True
        assert result['pids'] == [pid] and result['state'] == 'running'
        assert result['actions'][:2] == ['send SIGTERM to pid(s) %d' % pid, 'send SIGKILL to what is still alive after 1 s']
        assert result['diff']['before'] == 'running (pid %d)\n' % pid
        time.sleep(0.2)
        assert pids_of(name) == [pid]
    assert ok(args, check=True)['changed'] is False


def test_missing_app_dir_fails(lab, tmp_path):
    name = lab.name('CS_nowhere')
    result = failure({'name': name, 'app_dir': str(tmp_path / 'nowhere')})
    assert result['msg'] == ('app_dir %s of %s is not a directory: give the directory the application is installed in'
                             % (tmp_path / 'nowhere', name))
    assert ok({'name': name, 'app_dir': str(tmp_path / 'nowhere'), 'state': 'stopped'})['changed'] is False


def test_through_ansible_with_the_system_python(lab):
    """The real module path: AnsiballZ, Debian's python3, no hang on the started app's output."""
    name = lab.name('CS_ansible')
    port = free_port()
    directory = lab.app_dir(name, '--listen 127.0.0.1:%d' % port)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_STDOUT_CALLBACK='minimal', ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-m', 'genesys_dr.framework.app',
               '-a', json.dumps({'name': name, 'app_dir': directory, 'ports': [port]}),
               '-e', 'ansible_python_interpreter=/usr/bin/python3']
    done = subprocess.run(command, cwd=TOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith('localhost | CHANGED => ')
    result = json.loads(done.stdout.split('=>', 1)[1])
    assert result['changed'] is True
    assert result['pids'] == pids_of(name) == listening_pids(port)


# -- app_sweep: every Genesys application under the base, listed or not --------------------

def sweep(args, check=False):
    return run_module_main(app_sweep, args, check_mode=check)


def test_sweep_stops_every_master_under_the_base_and_reports_the_unlisted(lab, tmp_path, tmp_path_factory):
    """The fencing case of issue 7 item 5: a master the inventory does not list is found by its
    command line, stopped and reported; a kept application, a Genesys application installed
    elsewhere and a process of another kind under the base are left alone."""
    listed, unlisted, kept, elsewhere = (lab.name('CS_P'), lab.name('CS_B_unlisted'), lab.name('CSProxy'),
                                         lab.name('CS_elsewhere'))
    for name in (listed, unlisted, kept):
        ok({'name': name, 'app_dir': lab.app_dir(name)})
    other_base = tmp_path_factory.mktemp('other_base')
    lab.others.append(subprocess.Popen([sys.executable, FAKE_APP, '-host', 'cs.invalid', '-port', '2020', '-app', elsewhere],
                                       cwd=str(other_base), stdout=subprocess.DEVNULL))
    # Not Genesys style (no -host), though it runs from an application directory under the base.
    not_genesys = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', '-port', '2020', '-app', listed],
                                   cwd=lab.app_dir(lab.name('tools')))
    lab.others.append(not_genesys)
    before = dict((name, [pid for pid in pids_of(name) if pid != not_genesys.pid]) for name in (listed, unlisted, kept))
    # Popen returns once the program is exec'd: its command line is in the process table.
    assert all(before.values()) and pids_of(elsewhere)

    result = sweep({'app_base': str(tmp_path), 'keep': [kept], 'listed': [listed], 'stop_timeout': 10})
    assert not result['failed'], result['msg']
    assert result['changed'] is True
    assert [(f['name'], f['app_dir'], f['pids'], f['listed']) for f in result['found']] == sorted([
        (listed, str(tmp_path / listed), before[listed], True), (unlisted, str(tmp_path / unlisted), before[unlisted], False)])
    assert result['unlisted'] == [unlisted]
    assert result['kept'] == [kept]
    assert result['remaining'] == []
    assert len(result['warnings']) == 1 and result['warnings'][0].startswith(
        '%s (pid %d, in %s) is a Genesys application of this host that the inventory does not list; it was stopped'
        % (unlisted, before[unlisted][0], tmp_path / unlisted))
    # Read back from the process table.
    assert pids_of(listed) == [not_genesys.pid] and pids_of(unlisted) == []
    assert pids_of(kept) == before[kept]
    assert pids_of(elsewhere) and not_genesys.poll() is None

    again = sweep({'app_base': str(tmp_path), 'keep': [kept], 'listed': [listed]})
    assert again['changed'] is False and again['found'] == [] and again['unlisted'] == [] and again['warnings'] == []


def test_sweep_in_check_mode_stops_nothing(lab, tmp_path):
    name = lab.name('SCS_unlisted')
    pid = ok({'name': name, 'app_dir': lab.app_dir(name)})['pids'][0]
    result = sweep({'app_base': str(tmp_path), 'stop_timeout': 1}, check=True)
    assert result['changed'] is True and result['unlisted'] == [name] and result['remaining'] == [name]
    assert result['actions'] == ['send SIGTERM to %s (pid %d)' % (name, pid), 'send SIGKILL to what is still alive after 1 s']
    assert 'it was running (check mode)' in result['warnings'][0]
    assert pids_of(name) == [pid]


def test_sweep_kills_a_master_that_ignores_sigterm(lab, tmp_path):
    name = lab.name('CS_stubborn')
    port = free_port()
    # Waiting for the port also waits until the fake app has set SIGTERM to be ignored.
    pid = ok({'name': name, 'app_dir': lab.app_dir(name, '--ignore-term --listen 127.0.0.1:%d' % port), 'ports': [port]})['pids'][0]
    result = sweep({'app_base': str(tmp_path), 'listed': [name], 'stop_timeout': 1})
    assert not result['failed'], result['msg']
    assert result['actions'] == ['sent SIGTERM to %s (pid %d)' % (name, pid), 'sent SIGKILL to %s (pid %d) after 1 s' % (name, pid)]
    assert result['unlisted'] == [] and result['warnings'] == []
    assert pids_of(name) == [] and not alive(pid)

    pid = ok({'name': name, 'app_dir': str(tmp_path / name), 'ports': [port]})['pids'][0]
    result = sweep({'app_base': str(tmp_path), 'listed': [name], 'stop_timeout': 1, 'force': False})
    assert result['failed']
    assert result['msg'] == ('%s (pid %d) did not stop: still alive 1 s after SIGTERM; force=false, so no SIGKILL was sent'
                             % (name, pid))
    assert pids_of(name) == [pid]


def test_app_info_reads_running_and_stopped_applications_and_changes_nothing(lab):
    running, stopped, lookalike = lab.name('CS_info'), lab.name('SCS_info'), None
    port = free_port()
    ok({'name': running, 'app_dir': lab.app_dir(running, '--listen 127.0.0.1:%d' % port), 'ports': [port]})
    # Another application whose name only starts with the first one's is not counted as it.
    lookalike = running + '_copy'
    lab.names.append(lookalike)
    ok({'name': lookalike, 'app_dir': lab.app_dir(lookalike)})
    lab.app_dir(stopped)
    before = (pids_of(running), pids_of(lookalike), pids_of(stopped))

    result = run_module_main(app_info, {'name': [stopped, running]}, check_mode=False)
    assert not result['failed'] and not result['changed'], result
    down, up = result['applications']
    assert (pids_of(running), pids_of(lookalike), pids_of(stopped)) == before
    assert down == {'name': stopped, 'state': 'stopped', 'pids': [], 'listening': [], 'cmdline': ''}
    assert (up['name'], up['state'], up['pids']) == (running, 'running', before[0]) and len(before[0]) == 1
    assert up['listening'] == [port] and listening_pids(port) == up['pids']
    assert up['cmdline'].endswith('-app %s --log-dir logs --listen 127.0.0.1:%d' % (running, port))
    assert run_module_main(app_info, {'name': [running]}, check_mode=True)['applications'] == [up]


@pytest.mark.parametrize('names', [[], ['CS_a', 'CS_a'], ['']])
def test_app_info_refuses_an_empty_or_repeated_name(names):
    result = run_module_main(app_info, {'name': names})
    assert result['failed'] and result['msg'].startswith('name must list at least one application, each once')
