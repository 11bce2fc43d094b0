# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability module and its action plugin against real sockets on the loopback interface only.

Three kinds of port, all made here and read back through the test's own sockets:
- open: a listening socket; the test accepts the module's connection and sees it closed with
  no byte sent;
- refused: a socket bound to the port but not listening, so the kernel answers a SYN with a
  reset (and no other program can take the port meanwhile);
- silent: a listening socket with backlog 0 whose accept queue holds one connection the test
  never accepts. Linux drops every further SYN to a listener whose accept queue is full
  (tcp_conn_request, LISTENOVERFLOWS), so a connect gets no answer at all, as from a dead host.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import select
import socket
import threading
import time

import pytest

from ansible_collections.genesys_dr.framework.plugins.module_utils import reachability as reach_utils
from ansible_collections.genesys_dr.framework.plugins.modules import reachability
from ansible_collections.genesys_dr.framework.tests.unit.plugins.module_runner import run_module_main

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
LOOPBACK = '127.0.0.1'
# Bound of the test's own waits on the kernel (a handshake on loopback takes microseconds).
KERNEL_BOUND = 5.0
# The module's default.
TIMEOUT = 1.0


class Ports(object):
    """Makes open, refused and silent ports on loopback and closes every socket afterwards."""

    def __init__(self, address=LOOPBACK, family=socket.AF_INET):
        self.address = address
        self.family = family
        self.sockets = []

    def _socket(self):
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        self.sockets.append(sock)
        sock.bind((self.address, 0))
        return sock

    def open(self):
        """(listener, port) of a port that accepts connections."""
        listener = self._socket()
        listener.listen(8)
        return listener, listener.getsockname()[1]

    def refused(self):
        return self._socket().getsockname()[1]

    def silent(self):
        return self.silent_listener()[1]

    def silent_listener(self):
        """(listener, port) of a port whose accept queue is full: SYNs to it get no answer until the test accepts."""
        listener = self._socket()
        listener.listen(0)
        port = listener.getsockname()[1]
        filler = socket.create_connection((self.address, port), timeout=KERNEL_BOUND)
        self.sockets.append(filler)
        # Readable means the filler sits in the accept queue: with backlog 0 the queue is full
        # from now on, and every later SYN is dropped.
        assert listener_has_connection(listener, KERNEL_BOUND), 'the accept queue of port %d did not fill' % port
        return listener, port

    def close(self):
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def ports():
    made = Ports()
    yield made
    made.close()


def listener_has_connection(listener, bound):
    """Whether a connection waits in the listener's accept queue within bound seconds."""
    readable, dummy, dummy = select.select([listener], [], [], bound)
    return bool(readable)


def assert_connected_and_closed_silently(listener):
    """The module connected, sent nothing and closed: the test's accept sees end of stream at once."""
    assert listener_has_connection(listener, KERNEL_BOUND), 'the module never connected'
    conn, dummy = listener.accept()
    try:
        conn.settimeout(KERNEL_BOUND)
        assert conn.recv(64) == b''
    finally:
        conn.close()


def run(targets, check_mode=False, **options):
    args = dict(targets=targets, **options)
    return run_module_main(reachability, args, check_mode=check_mode)


def target(name, port_list, address=LOOPBACK):
    return dict(name=name, address=address, ports=port_list)


def test_open_and_refused_ports_are_told_apart(ports):
    listener, open_port = ports.open()
    refused = ports.refused()
    started = time.monotonic()
    result = run([target('db', [open_port]), target('mgmt', [refused])], timeout=TIMEOUT)
    took = time.monotonic() - started
    assert not result['failed'], result['msg']
    assert result['changed'] is False
    assert result['reachable'] == ['db']
    assert result['not_reached'] == {'mgmt': '127.0.0.1:%d refused the connection' % refused}
    assert result['ports'] == {'db': {str(open_port): 'open'}, 'mgmt': {str(refused): 'refused'}}
    # A refusal is an answer: nobody waited for the timeout.
    assert result['elapsed'] < TIMEOUT and took < TIMEOUT
    assert_connected_and_closed_silently(listener)


def test_a_target_is_reachable_only_when_every_port_accepts_and_each_failed_port_is_named(ports):
    listener, open_port = ports.open()
    silent, refused = ports.silent(), ports.refused()
    other_listener, other_port = ports.open()
    result = run([target('db', [open_port, silent, refused]), target('app', [other_port])], timeout=TIMEOUT)
    assert not result['failed'], result['msg']
    assert result['reachable'] == ['app']
    assert result['not_reached'] == {
        'db': 'no answer on 127.0.0.1:%d within 1.0 s; 127.0.0.1:%d refused the connection' % (silent, refused)}
    assert result['ports'] == {'db': {str(open_port): 'open', str(silent): 'timeout', str(refused): 'refused'},
                               'app': {str(other_port): 'open'}}
    assert_connected_and_closed_silently(listener)
    assert_connected_and_closed_silently(other_listener)


def test_silent_targets_are_checked_in_parallel(ports):
    """Five dead hosts cost one timeout, not five."""
    silent = [ports.silent() for dummy in range(5)]
    listener, open_port = ports.open()
    targets = [target('dead%d' % index, [port]) for index, port in enumerate(silent)] + [target('alive', [open_port])]
    started = time.monotonic()
    result = run(targets, timeout=TIMEOUT)
    took = time.monotonic() - started
    assert not result['failed'], result['msg']
    assert result['reachable'] == ['alive']
    assert result['not_reached'] == dict(('dead%d' % index, 'no answer on 127.0.0.1:%d within 1.0 s' % port)
                                         for index, port in enumerate(silent))
    assert all(result['ports']['dead%d' % index] == {str(port): 'timeout'} for index, port in enumerate(silent))
    # It did wait for the silent ports (about one timeout), and only once.
    assert TIMEOUT * 0.9 <= result['elapsed'] <= took < 2.5 * TIMEOUT
    assert_connected_and_closed_silently(listener)


def test_a_dropped_syn_does_not_make_a_live_host_look_dead(ports):
    """The first SYNs are dropped (the silent port's full accept queue); the queue is freed 0.15 s later.

    A single connection attempt would get its SYN sent again only after Linux's initial
    retransmission timeout of one second, past this bound of 0.9 s, and call the host dead; a new
    attempt every 0.2 s gets through as soon as the queue has room.
    """
    listener, port = ports.silent_listener()

    def free_the_queue():
        time.sleep(0.15)
        conn, dummy = listener.accept()
        conn.close()

    freeing = threading.Thread(target=free_the_queue)
    freeing.start()
    try:
        result = run([target('slow', [port])], timeout=0.9)
    finally:
        freeing.join()
    assert not result['failed'], result['msg']
    assert result['reachable'] == ['slow'], result['not_reached']
    assert result['ports'] == {'slow': {str(port): 'open'}}
    assert listener_has_connection(listener, KERNEL_BOUND), 'no attempt reached the freed accept queue'


def test_attempts_are_repeated_only_while_there_is_no_answer(ports, monkeypatch):
    """An open port is connected once; a silent one gets a new attempt every interval until the deadline."""
    listener, open_port = ports.open()
    silent = ports.silent()
    candidates = socket.getaddrinfo(LOOPBACK, open_port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    assert reach_utils.connect(candidates, time.monotonic() + TIMEOUT) == 'open'
    assert_connected_and_closed_silently(listener)
    assert not listener_has_connection(listener, 0.3), 'a second attempt reached a port that had answered'
    made = []
    real_socket = socket.socket

    def counting_socket(*args, **kwargs):
        sock = real_socket(*args, **kwargs)
        made.append(sock)
        return sock

    candidates = socket.getaddrinfo(LOOPBACK, silent, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    monkeypatch.setattr(reach_utils.socket, 'socket', counting_socket)
    started = time.monotonic()
    status = reach_utils.connect(candidates, started + 0.5, interval=0.1)
    monkeypatch.undo()
    took = time.monotonic() - started
    assert status == 'timeout'
    assert 0.5 <= took < 0.5 + KERNEL_BOUND
    # One attempt at 0, 0.1, ..., 0.4 s: five, fewer only when the controller stalled; all closed.
    assert 2 <= len(made) <= 5
    assert all(sock.fileno() == -1 for sock in made)


def test_check_mode_checks_the_same(ports):
    listener, open_port = ports.open()
    refused = ports.refused()
    targets = [target('db', [open_port]), target('mgmt', [refused])]
    checked = run(targets, check_mode=True, timeout=TIMEOUT)
    assert not checked['failed'], checked['msg']
    assert checked['changed'] is False
    assert_connected_and_closed_silently(listener)
    real = run(targets, timeout=TIMEOUT)
    assert_connected_and_closed_silently(listener)
    for key in ('reachable', 'not_reached', 'ports'):
        assert checked[key] == real[key]
    assert checked['reachable'] == ['db'] and list(checked['not_reached']) == ['mgmt']


def test_ipv6_addresses_are_written_in_brackets():
    try:
        made = Ports('::1', socket.AF_INET6)
        listener, open_port = made.open()
    except OSError as exc:
        pytest.skip('no IPv6 loopback here: %s' % exc)
    try:
        refused = made.refused()
        result = run([target('v6', [open_port, refused], address='::1')], timeout=TIMEOUT)
        assert result['not_reached'] == {'v6': '[::1]:%d refused the connection' % refused}
        assert result['ports'] == {'v6': {str(open_port): 'open', str(refused): 'refused'}}
        assert_connected_and_closed_silently(listener)
    finally:
        made.close()


def test_a_name_that_does_not_resolve_is_an_unreachable_target_not_a_failure():
    result = run([target('ghost', [22], address='genesys-dr-reachability-test.invalid')], timeout=TIMEOUT)
    assert not result['failed'], result['msg']
    assert result['reachable'] == []
    # Refused by the resolver, or no resolver answer within the timeout: both say it was the name.
    assert result['ports']['ghost']['22'].startswith('error: name resolution ')
    assert result['not_reached']['ghost'].startswith('genesys-dr-reachability-test.invalid:22: name resolution ')
    assert result['elapsed'] < 2.5 * TIMEOUT


@pytest.mark.parametrize('targets, options, message', [
    ([target('db', [0])], {}, 'targets[1] (db): port 0 in ports is not between 1 and 65535'),
    ([target('db', [22, 70000])], {}, 'targets[1] (db): port 70000 in ports is not between 1 and 65535'),
    ([target('db', [])], {}, 'targets[1] (db): ports is empty; give at least one TCP port'),
    ([target(' ', [22])], {}, 'targets[1]: name is empty'),
    ([target('ok', [22])], {}, 'targets[1] (ok): name is used by another target; names must be unique'),
    ([target('db', [22], address='')], {}, 'targets[1] (db): address is empty'),
    ([], {'timeout': 0}, 'timeout must be more than 0 and at most 30.0 seconds, got 0.0'),
    ([], {'timeout': 30.5}, 'timeout must be more than 0 and at most 30.0 seconds, got 30.5'),
], ids=['port-0', 'port-70000', 'no-ports', 'empty-name', 'duplicate-name', 'empty-address', 'timeout-0',
        'timeout-30.5'])
def test_bad_input_fails_before_any_connection(ports, targets, options, message):
    """targets[0] is always a good one on an open port: nothing may have connected to it."""
    listener, open_port = ports.open()
    result = run([target('ok', [open_port])] + targets, **options)
    assert result['failed']
    assert result['msg'] == 'Nothing was checked: %s' % message
    assert '\n' not in result['msg']
    assert not listener_has_connection(listener, 0)


def test_every_input_problem_is_named_in_one_line(ports):
    listener, open_port = ports.open()
    result = run([target('ok', [open_port]), target('ok', [])], timeout=-1)
    assert result['failed']
    assert result['msg'] == ('Nothing was checked: timeout must be more than 0 and at most 30.0 seconds, got -1.0; '
                             'targets[1] (ok): name is used by another target; names must be unique; '
                             'targets[1] (ok): ports is empty; give at least one TCP port')
    assert not listener_has_connection(listener, 0)


def test_a_port_that_is_not_a_number_is_refused_by_the_argument_spec(ports):
    listener, open_port = ports.open()
    result = run([target('ok', [open_port]), target('db', ['ssh'])])
    assert result['failed'] and "'ports'" in result['msg'] and 'int' in result['msg']
    missing = run([target('ok', [open_port]), dict(name='db', address=LOOPBACK)])
    assert missing['failed'] and 'missing required arguments: ports' in missing['msg']
    assert not listener_has_connection(listener, 0)
