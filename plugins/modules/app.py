#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: app
short_description: Start, stop or restart a Genesys application, or an ordered list of them, through their own scripts
version_added: 0.1.0
description:
  - Controls one Genesys application (Configuration Server, Solution Control Server,
    Message Server, Configuration Server Proxy, ...) installed in its own directory with a
    C(run.sh) start script.
  - The application's processes are found by their command line, never through a pid file
    (a stale pid file may name a recycled, unrelated pid). A process belongs to the
    application when its command line holds C(-app) followed by O(name) as two separate,
    exactly equal arguments (C(-app CS_1) does not match C(-app CS_10)).
  - Only processes in the network namespace of the module count (C(/proc/<pid>/ns/net) equal
    to C(/proc/self/ns/net)); zombies are ignored. Run the module as root (become) or as the
    application's user, otherwise the sockets of the application cannot be inspected.
  - The application counts as serving when, for every port of O(ports), a TCP socket in
    LISTEN state on that port exists in C(/proc/net/tcp) or C(/proc/net/tcp6) B(and) belongs to one
    of the application's processes (its socket inode is among the open files in
    C(/proc/<pid>/fd)). A port held by another program does not count.
  - With O(applications) the module acts on several applications in one call, one after the other in
    the given order - each start waits until that application serves its ports before the next one
    starts - and stops at the first that fails. One call instead of one task per application saves
    the cost of a module run per application on a procedure's critical path.
options:
  name:
    description:
      - The application name (AppName in the Configuration Database), as passed to the
        application with C(-app).
      - Required unless O(applications) is given.
    type: str
  app_dir:
    description:
      - Directory of the application; O(start_command) and O(stop_command) run there.
      - Must exist when the application has to be started or O(stop_command) is used.
      - Required with O(name).
    type: path
  applications:
    description:
      - Several applications, acted on in this order with the same O(state) and the other options.
        Mutually exclusive with O(name), O(app_dir) and O(ports).
      - The result then holds RV(applications), one result per application acted on; the module fails at
        the first application that fails, naming it, and does not act on the ones after it.
    type: list
    elements: dict
    version_added: 0.3.0
    suboptions:
      name:
        description: The application name, as passed with C(-app).
        type: str
        required: true
      app_dir:
        description: Directory of the application.
        type: path
        required: true
      ports:
        description: TCP ports on which it must listen before it counts as serving.
        type: list
        elements: int
        default: []
  state:
    description:
      - V(started) starts the application unless it runs already, then waits until it serves O(ports).
      - V(stopped) stops it when it runs and waits until every process is gone.
      - V(restarted) stops it when it runs, then starts it; always reports a change.
    type: str
    choices: [started, stopped, restarted]
    default: started
  start_command:
    description:
      - Shell command that starts the application, run with C(/bin/sh -c) in O(app_dir).
      - It runs detached from the module (own session, standard input from C(/dev/null),
        output appended to O(start_log)), so it may run the application in the foreground,
        C(exec) it or put it in the background.
    type: str
    default: ./run.sh
  start_log:
    description:
      - File that receives the output of O(start_command) and O(stop_command).
      - Defaults to C(genesys_dr_start.log) in O(app_dir).
    type: path
  log_dir:
    description:
      - Directory of the application's own log files. When a start fails, the end of the
        newest file there is part of the error message.
      - Defaults to C(logs) in O(app_dir).
    type: path
  stop_command:
    description:
      - Shell command that stops the application, run with C(/bin/sh -c) in O(app_dir) for at most
        O(stop_timeout) seconds.
      - When omitted, every process of the application receives SIGTERM.
    type: str
  force:
    description:
      - Send SIGKILL to the processes still alive O(stop_timeout) seconds after the stop began.
      - When V(false), such processes make the task fail instead.
    type: bool
    default: true
  ports:
    description:
      - TCP ports on which the application must listen before it counts as serving.
    type: list
    elements: int
    default: []
  start_timeout:
    description:
      - Seconds to wait for the application to run and serve O(ports) after the start.
    type: int
    default: 60
  settle:
    description:
      - Seconds the application must keep running, with the same processes and serving O(ports),
        after a start before the start counts as done. An application that dies at once (bad
        configuration, port in use) then makes the task fail instead of passing unnoticed.
      - Part of the wait, on top of O(start_timeout).
    type: float
    default: 1.0
  stop_timeout:
    description:
      - Seconds to wait for the application to exit after O(stop_command) or SIGTERM.
      - After SIGKILL (O(force)) the module waits up to 10 more seconds.
    type: int
    default: 30
  environment:
    description:
      - Environment variables added to the environment of O(start_command) and O(stop_command).
    type: dict
    default: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports the commands and signals it would use; starts or stops nothing.
  diff_mode:
    support: full
    details: Before and after state (running or stopped) and pids.
  platform:
    platforms: posix
    details: Linux only, it reads C(/proc).
notes:
  - A process that a supervisor (such as a Solution Control Server with auto-restart)
    starts again while the module stops the application is signalled as well (unless
    O(stop_command) is used), and named in the error if it survives.
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Start the master Configuration Server and wait until it serves its port
  genesys_dr.framework.app:
    name: confserv
    app_dir: /opt/genesys/confserv
    ports: [2020]
    start_timeout: 120

- name: Stop the backup master Configuration Server (SIGTERM, SIGKILL after 30 s)
  genesys_dr.framework.app:
    name: confserv_backup
    app_dir: /opt/genesys/confserv_backup
    state: stopped

- name: Stop the site SCS with its own script, never with SIGKILL
  genesys_dr.framework.app:
    name: SCS_site2
    app_dir: /opt/genesys/SCS_site2
    state: stopped
    stop_command: ./stop.sh
    force: false
    stop_timeout: 60

- name: Start the master Message Server, SCS, then the Configuration Server pair, in one call
  genesys_dr.framework.app:
    applications:
      - {name: MessageServer_SCS, app_dir: /opt/genesys/MessageServer_SCS, ports: [4020]}
      - {name: SCS_master, app_dir: /opt/genesys/SCS_master, ports: [5000]}
      - {name: confserv, app_dir: /opt/genesys/confserv, ports: [2020]}
      - {name: confserv_backup, app_dir: /opt/genesys/confserv_backup, ports: [2021]}
    settle: 0

- name: Restart a Message Server with extra environment
  genesys_dr.framework.app:
    name: MessageServer_SCS
    app_dir: /opt/genesys/MessageServer_SCS
    state: restarted
    ports: [4020]
    environment:
      LD_LIBRARY_PATH: /opt/genesys/lib
'''

RETURN = r'''
pids:
  description: Pids of the application's processes observed at the end (empty when stopped).
  returned: always
  type: list
  elements: int
  sample: [41873]
previous_state:
  description: Whether the application was running or stopped when the module began.
  returned: always
  type: str
  sample: stopped
state:
  description:
    - Whether the application runs at the end, as observed. In check mode this is the
      unchanged current state; the diff shows the state it would reach.
  returned: always
  type: str
  sample: running
elapsed:
  description: Seconds the module spent, waiting included.
  returned: always
  type: float
  sample: 2.431
cmdline:
  description: Command line of the application's first process at the end (empty string when stopped).
  returned: always
  type: str
  sample: ./confserv -host cs-master -port 2020 -app confserv
listening:
  description: TCP ports the application's processes listen on at the end.
  returned: always
  type: list
  elements: int
  sample: [2020]
actions:
  description: What the module did, or in check mode would do, in order.
  returned: always
  type: list
  elements: str
  sample: ["run './run.sh' in /opt/genesys/confserv"]
applications:
  description:
    - With O(applications) - one result per application acted on, in order, each with C(name), C(changed) and
      the keys above (RV(pids), RV(previous_state), RV(state), RV(elapsed), RV(cmdline), RV(listening),
      RV(actions)); on a failure the last one is the failed application, with C(failed) and C(msg), and the
      result's C(not_done) names the applications after it, which were not acted on. The top-level keys above
      are then not returned.
  returned: when O(applications) is given
  type: list
  elements: dict
  sample: [{"name": "confserv", "changed": true, "state": "running", "pids": [41873], "listening": [2020]}]
  version_added: 0.3.0
'''

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.genesys_process import (
    ProcAccessError,
    find_app_processes,
    find_processes,
    listening_ports,
    newest_file,
    process_summary,
    run_bounded,
    send_signal,
    start_detached,
    tail_text,
    wait_for,
)

KILL_GRACE = 10


class AppFailure(Exception):
    """One application's failure: its message and the result keys that go with it."""

    def __init__(self, msg, result):
        super(AppFailure, self).__init__(msg)
        self.msg = msg
        self.result = result


def describe_pids(processes):
    return ', '.join(str(p.pid) for p in processes)


def describe_state(processes):
    if processes:
        return 'running (pid %s)\n' % describe_pids(processes)
    return 'stopped\n'


class GenesysApp:
    def __init__(self, module, name, app_dir, ports):
        self.module = module
        params = module.params
        self.name = name
        self.app_dir = app_dir
        self.state = params['state']
        self.start_command = params['start_command']
        self.stop_command = params['stop_command']
        self.start_log = params['start_log'] or os.path.join(self.app_dir, 'genesys_dr_start.log')
        self.log_dir = params['log_dir'] or os.path.join(self.app_dir, 'logs')
        self.ports = sorted(set(ports))
        self.start_timeout = params['start_timeout']
        self.settle = params['settle']
        self.stop_timeout = params['stop_timeout']
        self.force = params['force']
        self.env = dict(os.environ)
        self.env.update(dict((key, str(value)) for key, value in params['environment'].items()))
        self.began = time.monotonic()
        self.actions = []
        self.changed = False
        self.previous = []

    # -- observation --------------------------------------------------------------------

    def processes(self):
        return find_app_processes(self.name)

    def listening(self, processes):
        try:
            return listening_ports(processes)
        except ProcAccessError as exc:
            self.fail('%s' % exc)

    def missing_ports(self, processes):
        if not self.ports or not processes:
            return list(self.ports)
        return sorted(set(self.ports) - set(self.listening(processes)))

    def fail(self, msg, **extra):
        current = self.processes()
        raise AppFailure(msg, dict(changed=self.changed, pids=[p.pid for p in current], elapsed=self.elapsed(), actions=self.actions,
                                   **extra))

    def elapsed(self):
        return round(time.monotonic() - self.began, 3)

    def log_tails(self, start_offset):
        parts = []
        output = tail_text(self.start_log, offset=start_offset)
        parts.append('output of the start command (%s): %s' % (self.start_log, output.strip() or '(none)'))
        newest = newest_file(self.log_dir)
        if newest:
            parts.append('end of the newest log %s: %s' % (newest, tail_text(newest).strip() or '(empty)'))
        return '; '.join(parts)

    # -- start --------------------------------------------------------------------------

    def require_app_dir(self):
        if not os.path.isdir(self.app_dir):
            raise AppFailure('app_dir %s of %s is not a directory: give the directory the application is '
                             'installed in' % (self.app_dir, self.name), dict(elapsed=self.elapsed(), actions=self.actions))

    def start_action(self):
        return 'run %r in %s' % (self.start_command, self.app_dir)

    def start(self):
        self.require_app_dir()
        self.actions.append(self.start_action())
        if self.module.check_mode:
            return
        try:
            with open(self.start_log, 'ab') as output:
                output.write(('--- %s genesys_dr.framework.app starts %s: %s\n' % (
                    time.strftime('%Y-%m-%d %H:%M:%S'), self.name, self.start_command)).encode('utf-8'))
                offset = output.tell()
            started = start_detached(self.start_command, self.app_dir, self.env, self.start_log)
        except (IOError, OSError) as exc:
            raise AppFailure('cannot run the start command of %s in %s: %s' % (self.name, self.app_dir, exc),
                             dict(elapsed=self.elapsed(), actions=self.actions))
        self.changed = True
        observed = {'seen': set(), 'since': None, 'serving': None}

        def started_and_settled():
            processes = self.processes()
            observed['processes'] = processes
            observed['rc'] = started.poll()
            observed['seen'].update(p.pid for p in processes)
            if not processes:
                observed['since'] = None
                # A run.sh that exec'd the application, failed before starting it, or the
                # application died on start.
                return observed['rc'] not in (None, 0) or (observed['rc'] == 0 and bool(observed['seen']))
            if self.missing_ports(processes):
                observed['since'] = None
                return False
            serving = set((p.pid, p.starttime) for p in processes)
            if observed['since'] is None or serving != observed['serving']:
                observed['since'] = time.monotonic()
                observed['serving'] = serving
            return time.monotonic() - observed['since'] >= self.settle

        wait_for(started_and_settled, self.start_timeout + self.settle)
        processes = observed['processes']
        rc = observed['rc']
        if processes and not self.missing_ports(processes):
            if rc not in (None, 0):
                self.module.warn('the start command of %s exited with code %d although the application runs' % (self.name, rc))
            return
        tails = self.log_tails(offset)
        briefly = ''
        if observed['seen']:
            briefly = ' (pid %s ran for a moment)' % ', '.join(str(pid) for pid in sorted(observed['seen']))
        if not processes and rc not in (None, 0):
            self.fail('start of %s failed: %r exited with code %d and no process with "-app %s" runs%s; %s' % (
                self.name, self.start_command, rc, self.name, briefly, tails), rc=rc)
        if not processes:
            if rc is None:
                session = find_processes(match_argv=lambda argv: True, same_netns=False)
                leftovers = [p for p in session if p.session == started.pid]
                running = '; '.join('pid %d: %s' % (p.pid, p.cmdline) for p in leftovers) or 'pid %d' % started.pid
                where = 'the start command is still running (%s)' % running
            else:
                where = 'the start command exited with code 0'
            if observed['seen']:
                self.fail('start of %s failed: it started%s but exited again; %s; %s' % (self.name, briefly, where, tails))
            self.fail('no process with "-app %s" on its command line appeared within %d s after %s; %s; check that '
                      'the start command passes "-app %s"; %s' % (
                          self.name, self.start_timeout, self.start_action(), where, self.name, tails))
        self.fail('%s runs (pid %s) but does not listen on port(s) %s within %d s (it listens on: %s); %s' % (
            self.name, describe_pids(processes), ', '.join(str(p) for p in self.missing_ports(processes)),
            self.start_timeout, ', '.join(str(p) for p in self.listening(processes)) or 'nothing', tails))

    def wait_serving(self, processes):
        """The application already runs: it may still be starting up."""
        if not self.missing_ports(processes):
            return
        observed = {}

        def serving():
            observed['processes'] = self.processes()
            return observed['processes'] and not self.missing_ports(observed['processes'])

        if wait_for(serving, self.start_timeout):
            return
        current = observed['processes']
        if not current:
            self.fail('%s was running (pid %s) but exited while the module waited for port(s) %s; %s' % (
                self.name, describe_pids(processes), ', '.join(str(p) for p in self.ports), self.log_tails(0)))
        self.fail('%s runs (pid %s) but does not listen on port(s) %s within %d s (it listens on: %s); it was already '
                  'running, so the module did not start it: fix or restart it (state=restarted)' % (
                      self.name, describe_pids(current), ', '.join(str(p) for p in self.missing_ports(current)),
                      self.start_timeout, ', '.join(str(p) for p in self.listening(current)) or 'nothing'))

    # -- stop ---------------------------------------------------------------------------

    def signal_all(self, processes, signum, signalled):
        for info in processes:
            try:
                if send_signal(info, signum):
                    signalled.add(info.pid)
            except OSError as exc:
                self.fail('cannot send %s to %s pid %d: %s; run the task as root (become) or as the user that runs '
                          'the application' % (signal.Signals(signum).name, self.name, info.pid, exc))

    def stop(self, processes):
        if self.stop_command:
            self.require_app_dir()
        if self.module.check_mode:
            if self.stop_command:
                self.actions.append('run %r in %s (at most %d s)' % (self.stop_command, self.app_dir, self.stop_timeout))
            else:
                self.actions.append('send SIGTERM to pid(s) %s' % describe_pids(processes))
            if self.force:
                self.actions.append('send SIGKILL to what is still alive after %d s' % self.stop_timeout)
            return
        self.changed = True
        deadline = time.monotonic() + self.stop_timeout
        signalled = set()
        stop_rc = None
        if self.stop_command:
            try:
                stop_rc = run_bounded(self.stop_command, self.app_dir, self.env, self.start_log, self.stop_timeout)
            except (IOError, OSError) as exc:
                self.fail('cannot run the stop command of %s in %s: %s' % (self.name, self.app_dir, exc))
            self.actions.append('ran %r in %s: %s' % (self.stop_command, self.app_dir, 'killed after %d s' % self.stop_timeout
                                                      if stop_rc is None else 'exit code %d' % stop_rc))
        else:
            self.signal_all(processes, signal.SIGTERM, signalled)
            self.actions.append('sent SIGTERM to pid(s) %s' % describe_pids(processes))
        original = set(p.pid for p in processes)

        def gone():
            current = self.processes()
            if not self.stop_command:
                # Also what a supervisor started again meanwhile.
                newcomers = [p for p in current if p.pid not in signalled]
                if newcomers:
                    self.signal_all(newcomers, signal.SIGTERM, signalled)
                    self.actions.append('sent SIGTERM to pid(s) %s (appeared during the stop)' % describe_pids(newcomers))
            return not current

        if wait_for(gone, max(0.0, deadline - time.monotonic())):
            return
        survivors = self.processes()
        if self.force:
            self.signal_all(survivors, signal.SIGKILL, signalled)
            self.actions.append('sent SIGKILL to pid(s) %s after %d s' % (describe_pids(survivors), self.stop_timeout))
            if wait_for(lambda: not self.processes(), KILL_GRACE):
                return
            survivors = self.processes()
        newcomers = [p for p in survivors if p.pid not in original]
        hints = []
        if newcomers:
            hints.append('pid(s) %s appeared during the stop: something starts %s again (a Solution Control Server '
                         'with auto-restart?)' % (describe_pids(newcomers), self.name))
        if self.stop_command:
            hints.append('stop command %s' % ('did not finish in %d s and was killed' % self.stop_timeout
                                              if stop_rc is None else 'exited with code %d' % stop_rc))
        if not self.force:
            hints.append('force=false, so no SIGKILL was sent')
        else:
            hints.append('SIGKILL did not end them within %d s (process state: %s)' % (
                KILL_GRACE, ', '.join('%d=%s' % (p.pid, p.state) for p in survivors)))
        self.fail('%s did not stop: pid(s) %s still alive after %d s; %s' % (
            self.name, describe_pids(survivors), self.stop_timeout, '; '.join(hints)))

    # -- run ----------------------------------------------------------------------------

    def run(self):
        self.previous = self.processes()
        previous_state = 'running' if self.previous else 'stopped'
        if self.state == 'started' and self.previous:
            self.wait_serving(self.previous)
        elif self.state == 'started':
            self.start()
        elif self.previous:
            self.stop(self.previous)
            if self.state == 'restarted':
                self.start()
        elif self.state == 'restarted':
            self.start()
        if self.module.check_mode and self.actions:
            self.changed = True

        current = self.previous if self.module.check_mode else self.processes()
        try:
            observed = process_summary(current)
        except ProcAccessError as exc:
            self.fail('%s' % exc)
        before = describe_state(self.previous)
        if self.module.check_mode and self.changed:
            after = 'stopped\n' if self.state == 'stopped' else 'running (new process)\n'
        else:
            after = describe_state(current)
        return dict(
            observed,
            changed=self.changed,
            previous_state=previous_state,
            elapsed=self.elapsed(),
            actions=self.actions,
            diff={'before': before, 'after': after},
        )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str'),
            app_dir=dict(type='path'),
            applications=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                app_dir=dict(type='path', required=True),
                ports=dict(type='list', elements='int', default=[]),
            )),
            state=dict(type='str', default='started', choices=['started', 'stopped', 'restarted']),
            start_command=dict(type='str', default='./run.sh'),
            start_log=dict(type='path'),
            log_dir=dict(type='path'),
            stop_command=dict(type='str'),
            force=dict(type='bool', default=True),
            ports=dict(type='list', elements='int', default=[]),
            start_timeout=dict(type='int', default=60),
            settle=dict(type='float', default=1.0),
            stop_timeout=dict(type='int', default=30),
            environment=dict(type='dict', default={}),
        ),
        supports_check_mode=True,
        required_one_of=[('name', 'applications')],
        mutually_exclusive=[('name', 'applications'), ('app_dir', 'applications')],
        required_together=[('name', 'app_dir')],
    )
    params = module.params
    if params['applications'] is None:
        try:
            module.exit_json(**GenesysApp(module, params['name'], params['app_dir'], params['ports']).run())
        except AppFailure as failure:
            module.fail_json(msg=failure.msg, **failure.result)
    if params['ports']:
        module.fail_json(msg='ports belongs to each entry of applications, not to the module: give each application its own ports')
    names = [entry['name'] for entry in params['applications']]
    if not names or len(set(names)) != len(names):
        module.fail_json(msg='applications must name at least one application, each once (got: %s)' % ', '.join(names))
    results, diffs = [], []
    for entry in params['applications']:
        try:
            result = GenesysApp(module, entry['name'], entry['app_dir'], entry['ports']).run()
        except AppFailure as failure:
            results.append(dict(failure.result, name=entry['name'], failed=True, msg=failure.msg))
            done = [r['name'] for r in results[:-1]]
            module.fail_json(msg='%s%s' % (failure.msg, '; done before it: %s' % ', '.join(done) if done else ''),
                             changed=any(r.get('changed') for r in results), applications=results,
                             not_done=names[len(results):])
        diffs.append((entry['name'], result.pop('diff')))
        results.append(dict(result, name=entry['name']))
    module.exit_json(changed=any(r['changed'] for r in results), applications=results,
                     diff={'before': ''.join('%s: %s' % (name, d['before']) for name, d in diffs),
                           'after': ''.join('%s: %s' % (name, d['after']) for name, d in diffs)})


if __name__ == '__main__':
    main()
