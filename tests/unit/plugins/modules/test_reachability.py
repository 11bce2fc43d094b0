# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability module against real sockets on the loopback interface only.

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

import json
import os
import select
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.genesys_dr.framework.plugins.modules import reachability
from ansible_collections.genesys_dr.framework.tests.unit.plugins.module_runner import run_module_main

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
LOOPBACK = '127.0.0.1'
# Bound of the test's own waits on the kernel (a handshake on loopback takes microseconds).
KERNEL_BOUND = 5.0
# Short, so the silent cases stay fast; the module's default is 2 s.
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
        listener = self._socket()
        listener.listen(0)
        port = listener.getsockname()[1]
        filler = socket.create_connection((self.address, port), timeout=KERNEL_BOUND)
        self.sockets.append(filler)
        # Readable means the filler sits in the accept queue: with backlog 0 the queue is full
        # from now on, and every later SYN is dropped.
        assert listener_has_connection(listener, KERNEL_BOUND), 'the accept queue of port %d did not fill' % port
        return port

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


def test_through_ansible_with_the_system_python(ports):
    """The real module path: AnsiballZ, Debian's python3 on the controller, as a playbook calls it."""
    listener, open_port = ports.open()
    silent, refused = ports.silent(), ports.refused()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_STDOUT_CALLBACK='minimal', ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    args = {'targets': [target('db', [open_port]), target('dead', [silent]), target('gone', [refused])],
            'timeout': TIMEOUT}
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-m',
               'genesys_dr.framework.reachability', '-a', json.dumps(args),
               '-e', 'ansible_python_interpreter=/usr/bin/python3']
    done = subprocess.run(command, cwd=TOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith('localhost | SUCCESS => ')
    result = json.loads(done.stdout.split('=>', 1)[1])
    assert result['changed'] is False
    assert result['reachable'] == ['db']
    assert result['not_reached'] == {'dead': 'no answer on 127.0.0.1:%d within 1.0 s' % silent,
                                     'gone': '127.0.0.1:%d refused the connection' % refused}
    assert_connected_and_closed_silently(listener)
