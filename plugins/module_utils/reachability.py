# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which hosts answer on the TCP ports a run needs: the check behind the reachability module and
its action plugin (which runs it inside the controller's own process).

Every port of every target is probed at once, each in its own thread (name resolution cannot be
interrupted), against one shared deadline. A probe does not rely on a single connection attempt:
Linux retransmits an unanswered SYN only after one second, so one SYN lost on the way would make
a live host look dead under a bound of a second or two. A probe therefore opens a new attempt
every ATTEMPT_INTERVAL seconds until one is accepted, one is answered with a refusal or an error,
or the deadline passes.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import selectors
import socket
import threading
import time

OPEN = 'open'
TIMEOUT = 'timeout'
REFUSED = 'refused'
MAX_TIMEOUT = 30.0
DEFAULT_TIMEOUT = 1.0
# Seconds between two connection attempts of one probe that has no answer yet.
ATTEMPT_INTERVAL = 0.2
IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY)

ARGUMENT_SPEC = dict(
    targets=dict(type='list', elements='dict', required=True, options=dict(
        name=dict(type='str', required=True),
        address=dict(type='str', required=True),
        ports=dict(type='list', elements='int', required=True),
    )),
    timeout=dict(type='float', default=DEFAULT_TIMEOUT),
)


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


def _answer(code):
    """The status of a connection attempt that got an answer (code: its errno, 0 when accepted)."""
    if code == 0:
        return OPEN
    if code == errno.ECONNREFUSED:
        return REFUSED
    return 'error: %s' % os.strerror(code)


def _give_up(selector, waiting, remaining, candidate):
    """An address answered with a refusal or an error: stop its attempts still waiting, and do not try it again."""
    for sock in [sock for sock in waiting if selector.get_key(sock).data == candidate]:
        selector.unregister(sock)
        waiting.remove(sock)
        sock.close()
    if candidate in remaining:
        remaining.remove(candidate)


def connect(candidates, deadline, interval=ATTEMPT_INTERVAL):
    """Status of one port: attempts every interval seconds, over the candidate addresses in turn.

    An accepted attempt ends the probe as open. A refusal or an error (no route, network down)
    is an answer for its address: that address is not tried again, and when every address has
    answered so, the probe ends with the last answer. No answer by the deadline is a timeout.
    """
    selector = selectors.DefaultSelector()
    waiting = []
    remaining = list(candidates)
    turn = 0
    last = TIMEOUT
    next_attempt = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                return TIMEOUT
            if remaining and now >= next_attempt:
                candidate = remaining[turn % len(remaining)]
                turn += 1
                family, socktype, proto, dummy, sockaddr = candidate
                sock = socket.socket(family, socktype, proto)
                sock.setblocking(False)
                code = sock.connect_ex(sockaddr)
                if code in IN_PROGRESS:
                    selector.register(sock, selectors.EVENT_WRITE, candidate)
                    waiting.append(sock)
                else:
                    sock.close()
                    last = _answer(code)
                    if last == OPEN:
                        return OPEN
                    _give_up(selector, waiting, remaining, candidate)
                next_attempt = now + interval
            if not remaining and not waiting:
                return last
            wake = deadline if not remaining else min(deadline, next_attempt)
            for key, dummy in selector.select(max(0.0, wake - time.monotonic())):
                sock, candidate = key.fileobj, key.data
                last = _answer(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
                if last == OPEN:
                    return OPEN
                _give_up(selector, waiting, remaining, candidate)
    finally:
        for sock in waiting:
            sock.close()
        selector.close()


class Probe(object):
    """The probe of one (address, port), run in its own thread, bounded by a shared deadline."""

    def __init__(self, name, address, port, deadline):
        self.name = name
        self.address = address
        self.port = port
        self.deadline = deadline
        self.status = None
        # Set before the thread starts: a probe still resolving at the deadline is reported as such.
        self.resolving = True
        self.thread = threading.Thread(target=self.run, name='reach-%s-%d' % (name, port))
        # A probe stuck in name resolution cannot be interrupted; it must not keep the process alive.
        self.thread.daemon = True

    def run(self):
        try:
            candidates = socket.getaddrinfo(self.address, self.port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            self.status = 'error: name resolution failed: %s' % exc
            return
        self.resolving = False
        try:
            self.status = connect(candidates, self.deadline)
        except OSError as exc:
            self.status = 'error: %s' % (exc.strerror or exc)

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


def run_check(params):
    """The module's result for params (targets, timeout): (failed message or None, result)."""
    targets, timeout = params['targets'], params['timeout']
    errors = input_errors(targets, timeout)
    if errors:
        return 'Nothing was checked: %s' % '; '.join(errors), {}
    started = time.monotonic()
    ports, not_reached, reachable = check(targets, timeout)
    return None, dict(changed=False, reachable=reachable, not_reached=not_reached, ports=ports,
                      elapsed=round(time.monotonic() - started, 3))
