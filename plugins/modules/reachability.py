#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: reachability
short_description: Decide once, from the controller, which hosts answer on the TCP ports a run needs
version_added: 0.3.0
description:
  - Opens a TCP connection to every port of every target B(at the same time), closes it as soon as it is
    established and sends nothing. The whole check takes about one O(timeout), however many targets and
    ports there are, so a DR procedure can decide early which hosts it can reach instead of paying an
    SSH timeout for a dead host in every play.
  - A target is reachable when every one of its ports accepted the connection. A target that does not
    answer is a result, not an error - the module fails only on bad input, and it checks the whole input
    before it opens the first connection.
  - Meant to run on the controller (a task delegated to C(localhost), or a play on C(localhost)), so
    what it measures is the path the run's own connections take.
  - O(targets[].address) may be a host name; its name resolution counts against the same O(timeout).
attributes:
  check_mode:
    support: full
    description: The module only opens and closes TCP connections; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no before and after.
options:
  targets:
    description:
      - The hosts to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the target, as the result reports it (the inventory host name). Unique in O(targets).
        type: str
        required: true
      address:
        description:
          - IP address or host name to connect to (the host's C(ansible_host)).
        type: str
        required: true
      ports:
        description:
          - TCP ports the run needs on this host (for example SSH and PostgreSQL). At least one,
            each between 1 and 65535.
        type: list
        elements: int
        required: true
  timeout:
    description:
      - Seconds a port may take to accept a connection (name resolution included) before it counts as
        not answering. More than 0, at most 30.
    type: float
    default: 2.0
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Decide once which hosts of the main site answer on SSH and PostgreSQL
  genesys_dr.framework.reachability:
    targets:
      - name: site1-db
        address: 10.1.2.3
        ports: [22, 5432]
      - name: site1-mgmt
        address: 10.1.2.4
        ports: [22]
  delegate_to: localhost
  run_once: true
  register: main_site_reach

- name: Name the hosts that did not answer
  ansible.builtin.debug:
    msg: "not reached: {{ main_site_reach.not_reached }}"
  when: main_site_reach.not_reached | length > 0
'''

RETURN = r'''
reachable:
  description: Names of the targets that accepted a connection on every one of their ports, sorted.
  returned: success
  type: list
  elements: str
  sample: [site1-mgmt]
not_reached:
  description:
    - One line per target that did not, naming each port that failed and why.
    - Not called C(unreachable) on purpose - Ansible takes a true C(unreachable) in any task result to mean
      that the host running the task is unreachable, and that host is the controller here.
  returned: success
  type: dict
  sample:
    site1-db: "no answer on 10.1.2.3:22 within 2.0 s; 10.1.2.3:5432 refused the connection"
ports:
  description:
    - "For every target, what each port did, keyed by the port number as a string: V(open), V(timeout),
      V(refused), or V(error: ) followed by the system's message (for example V(error: No route to host)
      or V(error: name resolution failed: ...))."
  returned: success
  type: dict
  sample:
    site1-db: {"22": timeout, "5432": refused}
    site1-mgmt: {"22": open}
elapsed:
  description: Seconds the whole check took.
  returned: success
  type: float
  sample: 2.003
'''

import socket
import threading
import time

from ansible.module_utils.basic import AnsibleModule

OPEN = 'open'
TIMEOUT = 'timeout'
REFUSED = 'refused'
MAX_TIMEOUT = 30.0


def endpoint(address, port):
    """address:port, with an IPv6 address in brackets so the port stays readable."""
    if ':' in address:
        return '[%s]:%d' % (address, port)
    return '%s:%d' % (address, port)


def input_errors(targets, timeout):
    """One line per problem in the input, each naming the target and the field."""
    errors = []
    if not 0 < timeout <= MAX_TIMEOUT:
        errors.append('timeout must be more than 0 and at most %s seconds, got %s' % (MAX_TIMEOUT, timeout))
    seen = set()
    for index, target in enumerate(targets):
        name = target['name']
        label = 'targets[%d] (%s)' % (index, name) if name.strip() else 'targets[%d]' % index
        if not name.strip():
            errors.append('%s: name is empty' % label)
        elif name in seen:
            errors.append('%s: name is used by another target; names must be unique' % label)
        seen.add(name)
        if not target['address'].strip():
            errors.append('%s: address is empty' % label)
        if not target['ports']:
            errors.append('%s: ports is empty; give at least one TCP port' % label)
        for port in target['ports']:
            if not 1 <= port <= 65535:
                errors.append('%s: port %d in ports is not between 1 and 65535' % (label, port))
    return errors


class Probe(object):
    """One TCP connect to one (address, port), run in its own thread, bounded by a shared deadline."""

    def __init__(self, name, address, port, deadline):
        self.name = name
        self.address = address
        self.port = port
        self.deadline = deadline
        self.status = None
        # Set before the thread starts: a probe still resolving at the deadline is reported as such.
        self.resolving = True
        self.thread = threading.Thread(target=self.run, name='reach-%s-%d' % (name, port))
        # A probe stuck in name resolution cannot be interrupted; it must not keep the module alive.
        self.thread.daemon = True

    def run(self):
        try:
            candidates = socket.getaddrinfo(self.address, self.port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            self.status = 'error: name resolution failed: %s' % exc
            return
        self.resolving = False
        status = TIMEOUT
        # Every address a name resolves to, in the resolver's order, within the same deadline.
        for family, socktype, proto, dummy, sockaddr in candidates:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                status = TIMEOUT
                break
            status = self.connect(family, socktype, proto, sockaddr, remaining)
            if status == OPEN:
                break
        self.status = status

    @staticmethod
    def connect(family, socktype, proto, sockaddr, remaining):
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(sockaddr)
            return OPEN
        except socket.timeout:
            return TIMEOUT
        except ConnectionRefusedError:
            return REFUSED
        except OSError as exc:
            return 'error: %s' % (exc.strerror or exc)
        finally:
            sock.close()

    def reason(self, status, timeout):
        where = endpoint(self.address, self.port)
        if status == TIMEOUT:
            return 'no answer on %s within %s s' % (where, timeout)
        if status == REFUSED:
            return '%s refused the connection' % where
        return '%s: %s' % (where, status[len('error: '):])


def check(targets, timeout):
    """Run every probe at once; return (ports, not_reached, reachable)."""
    deadline = time.monotonic() + timeout
    probes = [Probe(target['name'], target['address'], port, deadline)
              for target in targets for port in target['ports']]
    for probe in probes:
        probe.thread.start()
    for probe in probes:
        probe.thread.join(max(0.0, deadline - time.monotonic()))
    ports = dict((target['name'], {}) for target in targets)
    reasons = dict((target['name'], []) for target in targets)
    for probe in probes:
        # Read once: a probe that finishes after the deadline does not change this run's verdict.
        status, resolving = probe.status, probe.resolving
        if status is None:
            status = 'error: name resolution did not finish within %s s' % timeout if resolving else TIMEOUT
        ports[probe.name][str(probe.port)] = status
        if status != OPEN:
            reasons[probe.name].append(probe.reason(status, timeout))
    not_reached = dict((name, '; '.join(lines)) for name, lines in reasons.items() if lines)
    reachable = sorted(name for name in ports if name not in not_reached)
    return ports, not_reached, reachable


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                address=dict(type='str', required=True),
                ports=dict(type='list', elements='int', required=True),
            )),
            timeout=dict(type='float', default=2.0),
        ),
        supports_check_mode=True,
    )
    targets = module.params['targets']
    timeout = module.params['timeout']
    errors = input_errors(targets, timeout)
    if errors:
        module.fail_json(msg='Nothing was checked: %s' % '; '.join(errors))
    started = time.monotonic()
    ports, not_reached, reachable = check(targets, timeout)
    module.exit_json(changed=False, reachable=reachable, not_reached=not_reached, ports=ports,
                     elapsed=round(time.monotonic() - started, 3))


if __name__ == '__main__':
    main()
