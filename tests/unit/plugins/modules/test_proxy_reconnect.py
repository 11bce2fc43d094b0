# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""proxy_reconnect against real processes: fake proxies (tests/unit/plugins/fake_genesys_app.py
--proxy) connected to listeners of this test on 127.0.0.2 (old master) and 127.0.0.3 (new
master). Connections are read back with ss, independently of the module's /proc code.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid

import pytest

from ansible_collections.genesys_dr.framework.plugins.module_utils.genesys_process import wait_for
from ansible_collections.genesys_dr.framework.plugins.modules import proxy_info, proxy_reconnect
from ansible_collections.genesys_dr.framework.tests.unit.plugins.module_runner import run_module_main

FAKE_APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fake_genesys_app.py')
OLD = '127.0.0.2'
NEW = '127.0.0.3'


def run_module(args, check=False, diff=False):
    """(failed, result) of one run of the module in this process."""
    result = run_module_main(proxy_reconnect, args, check_mode=check, diff=diff)
    return result['failed'], result


def ok(args, **kwargs):
    failed, result = run_module(args, **kwargs)
    assert not failed, result['msg']
    return result


def failure(args, **kwargs):
    failed, result = run_module(args, **kwargs)
    assert failed, result
    return result


def established(pid):
    """Remote endpoints of the ESTABLISHED TCP connections of pid, as ss sees them."""
    out = subprocess.run(['ss', '-Htnp', 'state', 'established'], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    return sorted(line.split()[3] for line in out.splitlines() if re.search(r'pid=%d,' % pid, line))


def read_bytes(path):
    with open(path, 'rb') as handle:
        return handle.read()


class Proxy:
    """A fake Configuration Server Proxy that reads its master from a file on SIGHUP."""

    def __init__(self, tmp_path, name, target):
        self.name = name
        self.master_file = tmp_path / ('%s.master' % name)
        self.point_to(target)
        self.log = tmp_path / ('%s.out' % name)
        with open(str(self.log), 'wb') as output:
            self.process = subprocess.Popen(
                [sys.executable, FAKE_APP, '-host', 'cs-master.invalid', '-port', '2020', '-app', name, '--proxy',
                 '--master-file', str(self.master_file)], stdout=output, stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        # Right after exec the kernel may still show an empty command line.
        assert wait_for(lambda: name.encode() in read_bytes('/proc/%d/cmdline' % self.pid), 5)

    def point_to(self, target):
        self.master_file.write_text('%s %d\n' % target)

    def connects(self):
        return self.log.read_text().count('connected to master')

    def wait_connected(self, target):
        assert wait_for(lambda: established(self.pid) == ['%s:%d' % target], 5), established(self.pid)


@pytest.fixture
def masters():
    """Listeners on the old and the new master address, on one port number."""
    for dummy in range(20):
        old = socket.socket()
        old.bind((OLD, 0))
        port = old.getsockname()[1]
        new = socket.socket()
        try:
            new.bind((NEW, port))
        except OSError:
            old.close()
            new.close()
            continue
        old.listen(16)
        new.listen(16)
        yield (OLD, port), (NEW, port)
        old.close()
        new.close()
        return
    pytest.fail('no port free on both %s and %s' % (OLD, NEW))


@pytest.fixture
def proxies(tmp_path):
    started = []

    def start(target, suffix='CSProxy'):
        proxy = Proxy(tmp_path, 'UT%s_%s' % (uuid.uuid4().hex[:8], suffix), target)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        if proxy.process.poll() is None:
            proxy.process.kill()
        proxy.process.wait()


def args_for(proxy, port, **extra):
    args = {'name': proxy.name, 'master_address': [NEW], 'master_ports': [port]}
    args.update(extra)
    return args


def test_reconnects_to_the_new_master_then_is_idempotent(masters, proxies):
    old, new = masters
    proxy = proxies(old)
    proxy.wait_connected(old)
    proxy.point_to(new)

    result = ok(args_for(proxy, new[1], timeout=10), diff=True)
    assert result['changed'] is True
    assert result['connected'] is True
    assert result['signalled'] == [proxy.pid]
    assert result['caches_flushed'] == []
    assert established(proxy.pid) == ['%s:%d' % new]
    mine = [c for c in result['connections'] if c['state'] == 'ESTABLISHED']
    assert len(mine) == 1
    assert mine[0]['remote'] == '%s:%d' % new
    assert mine[0]['pid'] == proxy.pid and mine[0]['name'] == proxy.name
    assert re.match(r'127\.0\.0\.1:\d+$', mine[0]['local'])
    assert result['proxies'] == [{'name': proxy.name, 'pids': [proxy.pid], 'connected': True, 'master': '%s:%d' % new}]
    assert result['diff'] == {'before': '%s: not connected to the master\n' % proxy.name,
                              'after': '%s: connected to %s:%d\n' % ((proxy.name,) + new)}
    assert 0 < result['elapsed'] < 10

    connects = proxy.connects()
    again = ok(args_for(proxy, new[1], timeout=10))
    assert again['changed'] is False
    assert again['connected'] is True
    assert again['signalled'] == []
    assert proxy.connects() == connects
    assert established(proxy.pid) == ['%s:%d' % new]


def test_check_mode_sends_nothing(masters, proxies):
    old, new = masters
    proxy = proxies(old)
    proxy.wait_connected(old)
    proxy.point_to(new)
    result = ok(args_for(proxy, new[1], timeout=30), check=True, diff=True)
    assert result['changed'] is True
    assert result['connected'] is False
    assert result['signalled'] == [proxy.pid]
    assert result['diff']['after'] == '%s: connected to a master in %s\n' % (proxy.name, NEW)
    assert result['elapsed'] < 10
    assert established(proxy.pid) == ['%s:%d' % old]
    assert proxy.connects() == 1


def test_timeout_says_what_the_proxy_holds_instead(masters, proxies):
    old, new = masters
    proxy = proxies(old)
    proxy.wait_connected(old)
    result = failure(args_for(proxy, new[1], timeout=1, master_name='localhost'))
    assert result['msg'] == (
        'not connected to the master (%s, port %d) within 1 s: %s (pid %d) is connected to %s:%d instead (the old '
        'master?); resolver caches flushed: none found; this host resolves localhost to 127.0.0.1, not to %s: a DNS '
        'server or cache on the way still gives the old answer (check the site DNS secondary and the resolver caches)'
        % (NEW, new[1], proxy.name, proxy.pid, OLD, old[1], NEW))
    assert result['changed'] is True
    assert result['signalled'] == [proxy.pid]
    assert result['connected'] is False
    assert [c['remote'] for c in result['connections'] if c['state'] == 'ESTABLISHED'] == ['%s:%d' % old]
    assert proxy.connects() == 2


def test_timeout_without_any_connection(masters, proxies):
    dummy, new = masters
    closed = socket.socket()
    closed.bind((NEW, 0))
    nowhere = (NEW, closed.getsockname()[1])
    proxy = proxies(nowhere)
    try:
        result = failure(args_for(proxy, new[1], timeout=1, reconnect='none', flush_resolver_caches=False,
                                  master_name=NEW))
    finally:
        closed.close()
    assert result['msg'] == (
        'not connected to the master (%s, port %d) within 1 s: %s (pid %d) holds no TCP connection at all (limited mode: '
        'it cannot reach any master); resolver caches flushed: none found; this host resolves %s to %s, as expected'
        % (NEW, new[1], proxy.name, proxy.pid, NEW, NEW))
    assert result['changed'] is False
    assert result['signalled'] == [] and result['connections'] == []


def test_a_connection_of_another_process_does_not_count(masters, proxies):
    old, new = masters
    proxy = proxies(old)
    proxy.wait_connected(old)
    mine = socket.create_connection(new)
    try:
        assert established(os.getpid()) == ['%s:%d' % new]
        result = failure(args_for(proxy, new[1], timeout=1, reconnect='none'))
    finally:
        mine.close()
    assert 'is connected to %s:%d instead' % old in result['msg']
    assert [c['pid'] for c in result['connections']] == [proxy.pid]


def test_pair_only_the_disconnected_one_is_signalled(masters, proxies):
    old, new = masters
    primary = proxies(new, 'CSProxy')
    backup = proxies(old, 'CSProxy_backup')
    primary.wait_connected(new)
    backup.wait_connected(old)
    backup.point_to(new)
    result = ok({'names': [primary.name, backup.name], 'master_address': ['::ffff:' + NEW], 'master_ports': [1, new[1]],
                 'timeout': 10})
    assert result['signalled'] == [backup.pid]
    assert [p['connected'] for p in result['proxies']] == [True, True]
    assert established(primary.pid) == established(backup.pid) == ['%s:%d' % new]
    assert primary.connects() == 1


def test_ipv6_connection(proxies):
    listener = socket.socket(socket.AF_INET6)
    try:
        listener.bind(('::1', 0))
    except OSError:
        pytest.skip('no IPv6 loopback here')
    listener.listen(4)
    port = listener.getsockname()[1]
    try:
        proxy = proxies(('::1', port))
        assert wait_for(lambda: established(proxy.pid) == ['[::1]:%d' % port], 5)
        result = ok({'name': proxy.name, 'master_address': ['::1'], 'master_ports': [port], 'timeout': 5})
        assert result['changed'] is False
        assert result['proxies'][0]['master'] == '[::1]:%d' % port
    finally:
        listener.close()


def test_reconnect_command(masters, proxies, tmp_path):
    old, new = masters
    proxy = proxies(old)
    proxy.wait_connected(old)
    proxy.point_to(new)
    result = ok(args_for(proxy, new[1], timeout=10, reconnect='command', command='kill -HUP %d' % proxy.pid))
    assert result['changed'] is True and result['signalled'] == []
    assert established(proxy.pid) == ['%s:%d' % new]

    proxy.point_to(old)
    proxy.process.send_signal(signal.SIGHUP)
    proxy.wait_connected(old)
    result = failure(args_for(proxy, new[1], timeout=5, reconnect='command', command='echo no such proxy >&2; exit 3'))
    assert result['msg'] == "reconnect command 'echo no such proxy >&2; exit 3' exited with code 3; its output: no such proxy"


def test_resolver_caches_found_are_flushed(masters, proxies, tmp_path, monkeypatch):
    """Stand-in daemons named nscd, systemd-resolve and dnsmasq, and stand-in nscd/resolvectl commands."""
    old, new = masters
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    record = tmp_path / 'flushes'
    for command in ('nscd', 'resolvectl'):
        script = bin_dir / command
        script.write_text('#!/bin/sh\nif [ "$#" -gt 0 ]; then echo "%s $*" >> %s; exit 0; fi\nsleep 30 < /dev/null\n'
                          % (command, record))
        script.chmod(0o755)
    shutil.copy('/bin/sleep', str(bin_dir / 'dnsmasq'))
    shutil.copy(str(bin_dir / 'nscd'), str(bin_dir / 'systemd-resolve'))
    daemons = []
    try:
        for daemon in ('nscd', 'systemd-resolve', 'dnsmasq'):
            # SIGHUP at its default action, whatever the test run inherited (nohup ignores it).
            daemons.append(subprocess.Popen([str(bin_dir / daemon)] + (['30'] if daemon == 'dnsmasq' else []),
                                            start_new_session=True,
                                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL)))
        monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
        proxy = proxies(old)
        proxy.wait_connected(old)
        proxy.point_to(new)

        def comms():
            return all(read_bytes('/proc/%d/comm' % d.pid).strip() in (b'nscd', b'systemd-resolve', b'dnsmasq') for d in daemons)
        assert wait_for(comms, 5)

        checked = ok(args_for(proxy, new[1], timeout=10), check=True)
        assert checked['caches_flushed'] == [
            {'cache': 'nscd', 'action': 'nscd -i hosts', 'flushed': False, 'detail': ''},
            {'cache': 'systemd-resolved', 'action': 'resolvectl flush-caches', 'flushed': False, 'detail': ''},
            {'cache': 'dnsmasq', 'action': 'SIGHUP to pid %d' % daemons[2].pid, 'flushed': False, 'detail': ''},
        ]
        assert not record.exists() and daemons[2].poll() is None

        result = ok(args_for(proxy, new[1], timeout=10))
        assert [(c['cache'], c['flushed']) for c in result['caches_flushed']] == [
            ('nscd', True), ('systemd-resolved', True), ('dnsmasq', True)]
        assert record.read_text() == 'nscd -i hosts\nresolvectl flush-caches\n'
        assert daemons[2].wait(5) == -signal.SIGHUP
        assert result['connected'] is True
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


def test_no_flush_and_no_signal_when_connected(masters, proxies, tmp_path):
    dummy, new = masters
    proxy = proxies(new)
    proxy.wait_connected(new)
    result = ok(args_for(proxy, new[1], timeout=1, flush_resolver_caches=True))
    assert result['changed'] is False and result['caches_flushed'] == [] and result['signalled'] == []


@pytest.mark.parametrize('extra, message', [
    ({'master_address': ['cs-master.example']},
     "master_address 'cs-master.example' is not an IP address: give the address(es) the master name now resolves to"),
    ({'signal': 'SIGNOPE'}, "signal 'SIGNOPE' is not a signal name or number (for example HUP or SIGUSR1)"),
    ({'reconnect': 'command'}, 'reconnect is command but all of the following are missing: command'),
])
def test_bad_arguments(extra, message):
    args = {'name': 'UT_any', 'master_address': [NEW], 'master_ports': [2020]}
    args.update(extra)
    assert failure(args)['msg'] == message


def test_proxy_not_running_fails(masters, proxies):
    dummy, new = masters
    proxy = proxies(new)
    proxy.wait_connected(new)
    ghost = proxy.name + '_backup'
    result = failure({'name': [proxy.name, ghost], 'master_address': [NEW], 'master_ports': [new[1]]})
    assert result['msg'] == ('no process with "-app %s" runs on this host (in this network namespace): start the proxy '
                             'first (genesys_dr.framework.app) or leave it out of name' % ghost)
    assert result['signalled'] == []


def test_proxy_not_running_in_check_mode_is_a_predicted_change(masters, proxies):
    # A check run of a playbook cannot see the proxy an earlier task would start: the
    # module predicts the reconnection (changed) instead of failing, and signals nothing.
    dummy, new = masters
    proxy = proxies(new)
    proxy.wait_connected(new)
    ghost = proxy.name + '_backup'
    result = ok({'name': [proxy.name, ghost], 'master_address': [NEW], 'master_ports': [new[1]]}, check=True)
    assert result['changed'] is True
    assert result['signalled'] == []
    assert [p['name'] for p in result['proxies'] if not p['pids']] == [ghost]


def info(args, check=False):
    result = run_module_main(proxy_info, args, check_mode=check)
    return result


def test_proxy_info_names_the_master_each_proxy_follows_and_touches_nothing(masters, proxies):
    old, new = masters
    following_old, stopped = proxies(old), proxies(old, suffix='CSProxy_backup')
    following_old.wait_connected(old)
    stopped.process.kill()
    stopped.process.wait()
    following_old.point_to(new)  # a signal now would move it: proxy_info must send none
    names = [following_old.name, stopped.name]
    either = info({'name': names, 'master_address': [OLD, NEW], 'master_ports': [old[1]]}, check=True)
    assert not either['failed'] and either['changed'] is False
    assert either['proxies'] == [
        {'name': following_old.name, 'pids': [following_old.pid], 'connected': True, 'master': '%s:%d' % old},
        {'name': stopped.name, 'pids': [], 'connected': False, 'master': ''}]
    assert either['connected'] is False
    assert [c['remote'] for c in either['connections']] == established(following_old.pid)
    only_new = info({'name': names, 'master_address': [NEW], 'master_ports': [new[1]]})
    assert not only_new['failed'] and only_new['proxies'][0]['connected'] is False and only_new['proxies'][0]['master'] == ''
    # Read back: still on the old master, never told to reconnect.
    assert established(following_old.pid) == ['%s:%d' % old] and following_old.connects() == 1


@pytest.mark.parametrize('args,message', [
    ({'name': ['P'], 'master_address': ['cs-master.example'], 'master_ports': [2020]}, "'cs-master.example' is not an IP"),
    ({'name': ['P'], 'master_address': [], 'master_ports': [2020]}, 'must each name at least one'),
    ({'name': [], 'master_address': [NEW], 'master_ports': [2020]}, 'name must list at least one proxy'),
])
def test_proxy_info_bad_arguments(args, message):
    result = info(args)
    assert result['failed'] and message in result['msg'], result
