#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: proxy_reconnect
short_description: Make Configuration Server Proxies reconnect to the current master
version_added: 0.1.0
description:
  - Runs on a Configuration Server Proxy host after the master name was switched in DNS.
  - Checks whether every named proxy process already holds an ESTABLISHED TCP connection to
    one of O(master_address) on one of O(master_ports). If so, it changes nothing.
  - Otherwise it flushes the local resolver caches that run on the host (O(flush_resolver_caches)),
    makes the proxies that are not connected reconnect (O(reconnect)), and waits until each
    of them holds such a connection.
  - The proxy processes are found by their command line (C(-app <AppName>) as two separate,
    exactly equal arguments) among the processes of the module's own network namespace,
    zombies excluded. Their connections are the sockets in C(/proc/net/tcp) and
    C(/proc/net/tcp6) whose inode is open in C(/proc/<pid>/fd) of a proxy process, so a
    connection of another program on the host never counts. Connections a proxy accepted on
    its own listening ports (from the applications it serves) are reported in RV(connections)
    but never count as, or are mistaken in error messages for, a connection to a master.
    Run the module as root (become) or as the proxies' user.
options:
  name:
    description:
      - AppName of the proxy, or the AppNames of the proxies of a pair that run on this host.
      - Every one of them must run on the host.
    type: list
    elements: str
    required: true
    aliases: [names]
  master_address:
    description:
      - IP address(es) of the master Configuration Server host(s) the proxies must be connected to
        (where the master name now resolves). An IPv4-mapped IPv6 peer address matches the IPv4 address.
    type: list
    elements: str
    required: true
  master_ports:
    description:
      - Ports of the master Configuration Servers (primary and backup) that count as a connection to the master.
    type: list
    elements: int
    required: true
  master_name:
    description:
      - DNS name of the master. Only used for the error message on timeout, which then tells
        what this host resolves the name to (C(getaddrinfo), the proxies' own resolver path).
    type: str
  flush_resolver_caches:
    description:
      - Before the reconnect, flush the name caches that run in this host's network namespace,
        nscd (C(nscd -i hosts)), systemd-resolved (C(resolvectl flush-caches)) and dnsmasq
        (SIGHUP). A cache that does not run is not an error.
    type: bool
    default: true
  reconnect:
    description:
      - How to make a proxy that is not connected to the master reconnect.
      - V(signal) sends O(signal) to its processes (the topmost processes of the proxy).
      - V(command) runs O(command) once.
      - V(none) only waits (the proxy reconnects by itself).
    type: str
    choices: [signal, command, none]
    default: signal
  signal:
    description:
      - Signal sent when O(reconnect=signal), by name (V(HUP), V(SIGUSR1)) or number.
    type: str
    default: HUP
  command:
    description:
      - Shell command run with C(/bin/sh -c) when O(reconnect=command); it must finish within O(timeout).
    type: str
  timeout:
    description:
      - Seconds to wait until every proxy is connected to the master.
    type: int
    default: 60
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports the caches it would flush and the pids it would signal; changes nothing.
      - A proxy that is not running is reported as a change with a warning (an earlier task of the same check run
        would start it), not as a failure.
  diff_mode:
    support: full
    details: Before and after connection status of every proxy.
  platform:
    platforms: posix
    details: Linux only, it reads C(/proc).
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Reconnect the proxy pair of this site to the new master
  genesys_dr.framework.proxy_reconnect:
    names: [CSProxy_site2, CSProxy_site2_backup]
    master_address: "{{ master_addresses }}"
    master_ports: [2020, 2021]
    master_name: cs-master.genesys.example
    timeout: 120

- name: Only verify that the proxy follows the master (no flush, no signal)
  genesys_dr.framework.proxy_reconnect:
    name: CSProxy_site1
    master_address: [192.0.2.10]
    master_ports: [2020]
    flush_resolver_caches: false
    reconnect: none
    timeout: 10

- name: Reconnect through the proxy's own restart script
  genesys_dr.framework.proxy_reconnect:
    name: CSProxy_site3
    master_address: [192.0.2.10]
    master_ports: [2020, 2021]
    reconnect: command
    command: /opt/genesys/CSProxy_site3/reconnect.sh
'''

RETURN = r'''
connected:
  description: Whether every proxy holds an ESTABLISHED connection to the master at the end (in check mode, at the start).
  returned: always
  type: bool
  sample: true
connections:
  description: TCP connections (every state except LISTEN) held by the proxy processes at the end.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: AppName of the proxy holding the connection.
      type: str
      sample: CSProxy_site2
    pid:
      description: Process holding the connection.
      type: int
      sample: 3141
    local:
      description: Local address and port (IPv6 as C([address]:port)).
      type: str
      sample: 192.0.2.30:48712
    remote:
      description: Remote address and port.
      type: str
      sample: 192.0.2.10:2020
    state:
      description: TCP state, for example C(ESTABLISHED) or C(SYN_SENT).
      type: str
      sample: ESTABLISHED
  sample:
    - {name: CSProxy_site2, pid: 3141, local: "192.0.2.30:48712", remote: "192.0.2.10:2020", state: ESTABLISHED}
proxies:
  description: Per proxy, its pids and whether it is connected to the master at the end.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: AppName.
      type: str
    pids:
      description: Pids of its processes.
      type: list
      elements: int
    connected:
      description: Whether it holds an ESTABLISHED connection to the master.
      type: bool
    master:
      description: Remote endpoint of that connection, empty string when not connected.
      type: str
  sample:
    - {name: CSProxy_site2, pids: [3141], connected: true, master: "192.0.2.10:2020"}
caches_flushed:
  description:
    - The resolver caches found running on the host, with what was (or in check mode would be) done.
      Empty when none runs, or when nothing had to be reconnected.
  returned: always
  type: list
  elements: dict
  contains:
    cache:
      description: V(nscd), V(systemd-resolved) or V(dnsmasq).
      type: str
    action:
      description: Command run or signal sent.
      type: str
    flushed:
      description: Whether the flush succeeded (false in check mode).
      type: bool
    detail:
      description: Error output when the flush failed, else empty.
      type: str
  sample:
    - {cache: nscd, action: nscd -i hosts, flushed: true, detail: ""}
signalled:
  description: Pids that received O(signal) (in check mode, would receive it).
  returned: always
  type: list
  elements: int
  sample: [3141]
elapsed:
  description: Seconds the module spent, waiting included.
  returned: always
  type: float
  sample: 1.204
'''

import ipaddress
import os
import shlex
import signal
import socket
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.genesys_process import (
    ProcAccessError,
    find_processes,
    plain_address,
    run_bounded,
    send_signal,
    tail_text,
    top_level,
    wait_for,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.proxy import master_addresses, ProxyConnections

FLUSH_TIMEOUT = 10


def parse_signal(text):
    text = text.strip().upper()
    if text.isdigit():
        return signal.Signals(int(text))
    if not text.startswith('SIG'):
        text = 'SIG' + text
    return signal.Signals[text]


class ProxyReconnect:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.names = list(dict.fromkeys(params['name']))
        self.master_ports = set(params['master_ports'])
        self.master_name = params['master_name']
        self.flush = params['flush_resolver_caches']
        self.reconnect = params['reconnect']
        self.command = params['command']
        self.timeout = params['timeout']
        self.began = time.monotonic()
        self.caches = []
        self.signalled = []
        try:
            addresses = master_addresses(params['master_address'])
        except ValueError as exc:
            module.fail_json(msg='master_address %r is not an IP address: give the address(es) the master name '
                                 'now resolves to' % ('%s' % exc))
        self.master_addresses = addresses
        self.connections = ProxyConnections(self.names, addresses, self.master_ports)
        self.signum = None
        if self.reconnect == 'signal':
            try:
                self.signum = parse_signal(params['signal'])
            except (KeyError, ValueError):
                module.fail_json(msg='signal %r is not a signal name or number (for example HUP or SIGUSR1)' % params['signal'])

    def elapsed(self):
        return round(time.monotonic() - self.began, 3)

    # -- observation --------------------------------------------------------------------

    def observe(self):
        try:
            return self.connections.observe()
        except ProcAccessError as exc:
            self.module.fail_json(msg=str(exc), elapsed=self.elapsed())

    def missing(self, seen):
        absent = [entry['name'] for entry in seen if not entry['processes']]
        if absent and self.module.check_mode:
            # A check run cannot see a proxy an earlier task of the same run would start.
            self.module.warn('no process with "-app %s" runs on this host: a real run fails here unless the proxy is started '
                             'first' % '", "-app '.join(absent))
            self.module.exit_json(changed=True, elapsed=self.elapsed(), **self.report(seen))
        if absent:
            self.module.fail_json(
                msg='no process with "-app %s" runs on this host (in this network namespace): start the proxy first '
                    '(genesys_dr.framework.app) or leave it out of name' % '", "-app '.join(absent),
                elapsed=self.elapsed(), **self.report(seen))

    def report(self, seen):
        return dict(ProxyConnections.report(seen), caches_flushed=self.caches, signalled=self.signalled)

    # -- resolver caches ----------------------------------------------------------------

    def run_quiet(self, args):
        with tempfile.NamedTemporaryFile(prefix='genesys_dr_flush_') as output:
            rc = run_bounded(' '.join(shlex.quote(arg) for arg in args), '/', dict(os.environ), output.name, FLUSH_TIMEOUT)
            return rc, tail_text(output.name).strip()

    def flush_caches(self):
        daemons = [
            ('nscd', 'nscd', ['nscd', '-i', 'hosts']),
            ('systemd-resolved', 'systemd-resolve', ['resolvectl', 'flush-caches']),
        ]
        for cache, comm, args in daemons:
            if not find_processes(match_comm=lambda c, comm=comm: c == comm):
                continue
            path = self.module.get_bin_path(args[0])
            entry = {'cache': cache, 'action': ' '.join(args), 'flushed': False, 'detail': ''}
            if path is None:
                entry['detail'] = '%s runs but %s is not installed' % (cache, args[0])
            elif not self.module.check_mode:
                rc, output = self.run_quiet([path] + args[1:])
                entry['flushed'] = rc == 0
                entry['detail'] = '' if rc == 0 else 'exit code %s: %s' % ('timeout' if rc is None else rc, output)
            self.caches.append(entry)
        for info in find_processes(match_comm=lambda c: c == 'dnsmasq'):
            entry = {'cache': 'dnsmasq', 'action': 'SIGHUP to pid %d' % info.pid, 'flushed': False, 'detail': ''}
            if not self.module.check_mode:
                try:
                    entry['flushed'] = send_signal(info, signal.SIGHUP)
                except OSError as exc:
                    entry['detail'] = str(exc)
            self.caches.append(entry)
        for entry in self.caches:
            if entry['detail']:
                self.module.warn('could not flush the %s cache: %s' % (entry['cache'], entry['detail']))

    # -- reconnect ----------------------------------------------------------------------

    def make_reconnect(self, seen):
        if self.reconnect == 'signal':
            for entry in seen:
                if entry['master']:
                    continue
                for info in top_level(entry['processes']):
                    if self.module.check_mode:
                        self.signalled.append(info.pid)
                        continue
                    try:
                        if send_signal(info, self.signum):
                            self.signalled.append(info.pid)
                    except OSError as exc:
                        self.module.fail_json(msg='cannot send %s to %s pid %d: %s; run the task as root (become) or as the '
                                                  'proxy user' % (self.signum.name, entry['name'], info.pid, exc),
                                              elapsed=self.elapsed(), **self.report(seen))
        elif self.reconnect == 'command' and not self.module.check_mode:
            with tempfile.NamedTemporaryFile(prefix='genesys_dr_reconnect_') as output:
                try:
                    rc = run_bounded(self.command, '/', dict(os.environ), output.name, self.timeout)
                except (IOError, OSError) as exc:
                    self.module.fail_json(msg='cannot run the reconnect command %r: %s' % (self.command, exc), elapsed=self.elapsed())
                if rc != 0:
                    self.module.fail_json(msg='reconnect command %r %s; its output: %s' % (
                        self.command, 'did not finish within %d s' % self.timeout if rc is None else 'exited with code %d' % rc,
                        tail_text(output.name).strip() or '(none)'), changed=True, elapsed=self.elapsed(), **self.report(seen))

    # -- explanation on timeout ---------------------------------------------------------

    def explain(self, entry):
        pids = ', '.join(str(p.pid) for p in entry['processes'])
        established = [sock.remote for dummy, sock in entry['outbound'] if sock.state == 'ESTABLISHED']
        trying = [sock.remote for dummy, sock in entry['outbound'] if sock.state == 'SYN_SENT']
        text = '%s (pid %s)' % (entry['name'], pids)
        if established:
            text += ' is connected to %s instead (the old master?)' % ', '.join(established)
        if trying:
            text += ' %s trying to connect to %s without answer (is that master running and reachable?)' % (
                'and is' if established else 'is', ', '.join(trying))
        if not established and not trying:
            if entry['inbound']:
                text += (' holds no outgoing TCP connection, only %d from its clients (limited mode: it cannot reach '
                         'any master)' % entry['inbound'])
            else:
                text += ' holds no TCP connection at all (limited mode: it cannot reach any master)'
        return text

    def dns_hint(self):
        if not self.master_name:
            return ''
        try:
            answers = sorted(set(info[4][0] for info in socket.getaddrinfo(self.master_name, None, 0, socket.SOCK_STREAM)))
        except (socket.gaierror, UnicodeError) as exc:
            return '; this host cannot resolve %s (%s)' % (self.master_name, exc)
        if any(plain_address(ipaddress.ip_address(a.split('%')[0])) in self.master_addresses for a in answers):
            return '; this host resolves %s to %s, as expected' % (self.master_name, ', '.join(answers))
        return ('; this host resolves %s to %s, not to %s: a DNS server or cache on the way still gives the old answer '
                '(check the site DNS secondary and the resolver caches)' % (
                    self.master_name, ', '.join(answers), ', '.join(str(a) for a in sorted(self.master_addresses))))

    # -- run ----------------------------------------------------------------------------

    def run(self):
        before = self.observe()
        self.missing(before)
        diff = {'before': self.describe(before)}
        if all(entry['master'] for entry in before):
            diff['after'] = diff['before']
            self.module.exit_json(changed=False, elapsed=self.elapsed(), diff=diff, **self.report(before))
        if self.flush:
            self.flush_caches()
        self.make_reconnect(before)
        if self.module.check_mode:
            diff['after'] = ''.join('%s: connected to a master in %s\n' % (entry['name'], ', '.join(str(a) for a in sorted(
                self.master_addresses))) for entry in before)
            self.module.exit_json(changed=True, elapsed=self.elapsed(), diff=diff, **self.report(before))
        observed = {}

        def all_connected():
            observed['seen'] = self.observe()
            return all(entry['master'] for entry in observed['seen'])

        wait_for(all_connected, self.timeout)
        after = observed['seen']
        diff['after'] = self.describe(after)
        if not all(entry['master'] for entry in after):
            self.missing(after)
            problems = '; '.join(self.explain(entry) for entry in after if not entry['master'])
            caches = ', '.join('%s%s' % (c['cache'], '' if c['flushed'] else ' (not flushed)') for c in self.caches)
            self.module.fail_json(
                msg='not connected to the master (%s, port %s) within %d s: %s; resolver caches flushed: %s%s' % (
                    ', '.join(str(a) for a in sorted(self.master_addresses)),
                    '/'.join(str(p) for p in sorted(self.master_ports)), self.timeout, problems,
                    caches or 'none found', self.dns_hint()),
                changed=bool(self.signalled or self.reconnect == 'command' or any(c['flushed'] for c in self.caches)), elapsed=self.elapsed(),
                **self.report(after))
        self.module.exit_json(changed=True, elapsed=self.elapsed(), diff=diff, **self.report(after))

    @staticmethod
    def describe(seen):
        return ''.join('%s: %s\n' % (entry['name'], 'connected to %s' % entry['master'] if entry['master'] else 'not connected to the master')
                       for entry in seen)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='list', elements='str', required=True, aliases=['names']),
            master_address=dict(type='list', elements='str', required=True),
            master_ports=dict(type='list', elements='int', required=True),
            master_name=dict(type='str'),
            flush_resolver_caches=dict(type='bool', default=True),
            reconnect=dict(type='str', default='signal', choices=['signal', 'command', 'none']),
            signal=dict(type='str', default='HUP'),
            command=dict(type='str'),
            timeout=dict(type='int', default=60),
        ),
        required_if=[('reconnect', 'command', ['command'])],
        supports_check_mode=True,
    )
    ProxyReconnect(module).run()


if __name__ == '__main__':
    main()
