#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: app_sweep
short_description: Stop every Genesys application running from a host's application base directory, except named ones
version_added: 0.2.0
description:
  - Fencing a site must leave no master application running there, including one the inventory does not
    list (a forgotten backup Configuration Server would otherwise keep serving at the fenced site). This
    module finds every Genesys application process of the host by its command line and stops all of
    them except the applications named in O(keep).
  - B(The rule.) A process is a Genesys application of this host when
    (1) its command line is Genesys style - it holds C(-host), C(-port) and C(-app), each followed by its
    value (the Configuration Server it reads its configuration from, and its own Application object);
    (2) it runs from an application directory under O(app_base) - its working directory, or its program
    (the first argument, relative to that directory), lies in a directory C(<app_base>/<dir>), as when it
    is started by its C(run.sh) or by LCA from its own directory; and
    (3) it lives in the network namespace of the module (C(/proc/<pid>/ns/net) equal to
    C(/proc/self/ns/net)) and is not a zombie.
  - Its application name is the value of C(-app). Processes whose name is in O(keep) are left alone, as is
    every process that does not satisfy the rule (other programs, Genesys applications installed elsewhere).
  - Every other one gets SIGTERM; what is still alive after O(stop_timeout) seconds gets SIGKILL (O(force)).
    A process that appears while the module stops the others (restarted by a supervisor) is stopped as well.
  - Each application found whose name is not in O(listed) is reported in RV(unlisted) and in a warning,
    so that an inventory that forgets an application is noticed.
options:
  app_base:
    description:
      - The directory holding the host's Genesys application directories (the inventory's C(genesys_app_base)).
    type: path
    required: true
  keep:
    description:
      - Names (C(-app) values) of the applications never to stop, for example the host's site applications
        when it also runs a proxy.
    type: list
    elements: str
    default: []
  listed:
    description:
      - Names of the applications the inventory lists for the host. They are stopped like the others, but only
        the ones not listed are reported as RV(unlisted).
    type: list
    elements: str
    default: []
  force:
    description:
      - Send SIGKILL to the processes still alive O(stop_timeout) seconds after SIGTERM.
      - When V(false), such processes make the task fail instead.
    type: bool
    default: true
  stop_timeout:
    description:
      - Seconds to wait for the processes to exit after SIGTERM. After SIGKILL (O(force)) the module waits up to
        10 more seconds.
    type: int
    default: 30
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Finds and reports the applications and the signals it would send; stops nothing.
  diff_mode:
    support: none
    description: The processes it stopped are in its result; no file changes.
  platform:
    platforms: posix
    details: Linux only, it reads C(/proc).
notes:
  - Run it as root (become) or as the user that runs the applications; a process whose namespace cannot be
    read is not considered to belong to the host, one whose working directory cannot be read fails the task.
seealso:
  - module: genesys_dr.framework.app
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Stop every master application of a fenced management host, listed in the inventory or not
  genesys_dr.framework.app_sweep:
    app_base: /opt/genesys/gcti
    keep: [CSProxy_East_P, CSProxy_East_B]
    listed: [CfgServer_Master_East_P, CfgServer_Master_East_B, SCS_Master_East, MsgServer_SCS_East]
  register: swept

- name: Say which applications the inventory forgot
  ansible.builtin.debug:
    msg: "Not in the inventory, stopped: {{ swept.unlisted | join(', ') }}"
  when: swept.unlisted | length > 0
'''

RETURN = r'''
found:
  description: The applications found running (before the stop) that were not in O(keep), by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The application name (the C(-app) value).
      type: str
    app_dir:
      description: The application directory it runs from.
      type: str
    pids:
      description: Its processes.
      type: list
      elements: int
    cmdline:
      description: The command line of its first process.
      type: str
    listed:
      description: Whether the name is in O(listed).
      type: bool
  sample:
    - name: CfgServer_Master_East_B
      app_dir: /opt/genesys/gcti/CfgServer_Master_East_B
      pids: [4711]
      cmdline: ./confserv -host confserv-master -port 8888 -app CfgServer_Master_East_B
      listed: false
unlisted:
  description: Names of the applications found that are not in O(listed); stopped unless in check mode.
  returned: always
  type: list
  elements: str
  sample: [CfgServer_Master_East_B]
kept:
  description: Names of the applications of O(keep) found running; left alone.
  returned: always
  type: list
  elements: str
  sample: [CSProxy_East_P]
remaining:
  description: Names of the applications outside O(keep) still running at the end (empty unless in check mode).
  returned: always
  type: list
  elements: str
  sample: []
actions:
  description: What the module did, or in check mode would do, in order.
  returned: always
  type: list
  elements: str
  sample: ["sent SIGTERM to CfgServer_Master_East_B (pid 4711)"]
'''

import signal

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.genesys_process import (
    ProcAccessError,
    find_genesys_processes,
    send_signal,
    wait_for,
)

KILL_GRACE = 10


def describe(processes):
    """'NAME (pid 1, 2), OTHER (pid 3)' for GenesysProcess entries."""
    names = {}
    for entry in processes:
        names.setdefault(entry.name, []).append(entry.info.pid)
    return ', '.join('%s (pid %s)' % (name, ', '.join(str(pid) for pid in sorted(pids))) for name, pids in sorted(names.items()))


class AppSweep:
    def __init__(self, module):
        self.module = module
        self.app_base = module.params['app_base']
        self.keep = set(module.params['keep'])
        self.listed = set(module.params['listed'])
        self.force = module.params['force']
        self.stop_timeout = module.params['stop_timeout']
        self.actions = []
        self.changed = False
        self.kept = set()

    def scan(self):
        """The processes to stop, noting the kept applications seen."""
        try:
            processes = find_genesys_processes(self.app_base)
        except ProcAccessError as exc:
            self.fail('%s' % exc, [])
        self.kept.update(p.name for p in processes if p.name in self.keep)
        return [p for p in processes if p.name not in self.keep]

    def fail(self, msg, found):
        self.module.fail_json(msg=msg, changed=self.changed, found=found, unlisted=self.unlisted(found),
                              kept=sorted(self.kept), remaining=[], actions=self.actions)

    def unlisted(self, found):
        return sorted(entry['name'] for entry in found if not entry['listed'])

    def signal_all(self, processes, signum, signalled, found):
        for entry in processes:
            try:
                if send_signal(entry.info, signum):
                    signalled.add(entry.info.pid)
            except OSError as exc:
                self.fail('cannot send %s to %s pid %d: %s; run the task as root (become) or as the user that runs '
                          'the application' % (signal.Signals(signum).name, entry.name, entry.info.pid, exc), found)

    def stop(self, targets, found):
        self.changed = True
        signalled = set()
        self.signal_all(targets, signal.SIGTERM, signalled, found)
        self.actions.append('sent SIGTERM to %s' % describe(targets))

        def gone():
            current = self.scan()
            newcomers = [p for p in current if p.info.pid not in signalled]
            if newcomers:
                # Started again meanwhile (a supervisor): it is a master process of this host too.
                self.signal_all(newcomers, signal.SIGTERM, signalled, found)
                self.actions.append('sent SIGTERM to %s (appeared during the stop)' % describe(newcomers))
                for entry in newcomers:
                    self.record(found, entry)
            return not current

        if wait_for(gone, self.stop_timeout):
            return
        survivors = self.scan()
        if self.force:
            self.signal_all(survivors, signal.SIGKILL, signalled, found)
            self.actions.append('sent SIGKILL to %s after %d s' % (describe(survivors), self.stop_timeout))
            if wait_for(lambda: not self.scan(), KILL_GRACE):
                return
            survivors = self.scan()
            self.fail('%s did not stop: still alive %d s after SIGKILL (process state: %s)' % (
                describe(survivors), KILL_GRACE, ', '.join('%d=%s' % (p.info.pid, p.info.state) for p in survivors)), found)
        self.fail('%s did not stop: still alive %d s after SIGTERM; force=false, so no SIGKILL was sent' % (
            describe(survivors), self.stop_timeout), found)

    def record(self, found, entry):
        for known in found:
            if known['name'] == entry.name:
                if entry.info.pid not in known['pids']:
                    known['pids'].append(entry.info.pid)
                return
        found.append({'name': entry.name, 'app_dir': entry.app_dir, 'pids': [entry.info.pid],
                      'cmdline': entry.info.cmdline, 'listed': entry.name in self.listed})

    def run(self):
        targets = self.scan()
        found = []
        for entry in targets:
            self.record(found, entry)
        if targets:
            if self.module.check_mode:
                self.changed = True
                self.actions.append('send SIGTERM to %s' % describe(targets))
                if self.force:
                    self.actions.append('send SIGKILL to what is still alive after %d s' % self.stop_timeout)
            else:
                self.stop(targets, found)
        unlisted = self.unlisted(found)
        for entry in found:
            if not entry['listed']:
                self.module.warn('%s (pid %s, in %s) is a Genesys application of this host that the inventory does not '
                                 'list; it was %s' % (entry['name'], ', '.join(str(pid) for pid in entry['pids']),
                                                      entry['app_dir'], 'running (check mode)' if self.module.check_mode
                                                      else 'stopped'))
        remaining = sorted(set(p.name for p in targets)) if self.module.check_mode else sorted(set(p.name for p in self.scan()))
        self.module.exit_json(changed=self.changed, found=sorted(found, key=lambda e: e['name']), unlisted=unlisted,
                              kept=sorted(self.kept), remaining=remaining, actions=self.actions)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app_base=dict(type='path', required=True),
            keep=dict(type='list', elements='str', default=[]),
            listed=dict(type='list', elements='str', default=[]),
            force=dict(type='bool', default=True),
            stop_timeout=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    AppSweep(module).run()


if __name__ == '__main__':
    main()
