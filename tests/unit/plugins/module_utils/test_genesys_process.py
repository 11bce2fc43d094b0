# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.genesys_dr.framework.plugins.module_utils import genesys_process as gp

FAKE_APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fake_genesys_app.py')

# Rows as a little-endian kernel prints them (from real /proc/net/tcp and tcp6, tcp6 rows cut after the inode).
TCP_TEXT = '''\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0300007F:07E4 01 00000000:00000000 00:00000000 00000000     0        0 51235 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C352 0200007F:07E4 02 00000000:00000000 01:00000064 00000000     0        0 51236 2 0000000000000000 100 0 0 10 -1
   3: 0100007F:C354 0200007F:07E4 06 00000000:00000000 03:00000064 00000000     0        0 0 3 0000000000000000
'''
TCP6_TEXT = '''\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0FA0 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 61000
   1: 0000000000000000FFFF00000100007F:C360 0000000000000000FFFF00000300007F:07E4 01 00000000:00000000 00:00000000 00000000     0        0 61001
   2: B80D0120000000000000000001000000:0016 B80D0120000000000000000002000000:D431 01 00000000:00000000 00:00000000 00000000     0        0 61002
'''


# -- address decoding ----------------------------------------------------------------------

@pytest.mark.parametrize('text, byteorder, address, port', [
    ('0100007F:1F90', 'little', '127.0.0.1', 8080),
    ('0300007F:07E4', 'little', '127.0.0.3', 2020),
    ('0A0012C6:0050', 'little', '198.18.0.10', 80),
    ('C612000A:0050', 'big', '198.18.0.10', 80),
    ('00000000000000000000000001000000:0FA0', 'little', '::1', 4000),
    ('0000000000000000FFFF00000100007F:C360', 'little', '::ffff:127.0.0.1', 50016),
    ('B80D0120000000000000000001000000:0016', 'little', '2001:db8::1', 22),
    ('20010DB8000000000000000000000001:0016', 'big', '2001:db8::1', 22),
])
def test_decode_address(text, byteorder, address, port):
    assert gp.decode_address(text, byteorder) == (ipaddress.ip_address(address), port)


def test_decode_address_rejects_garbage():
    with pytest.raises(ValueError):
        gp.decode_address('0100:1F90', 'little')


def test_format_and_plain_address():
    assert gp.format_endpoint(ipaddress.ip_address('127.0.0.1'), 2020) == '127.0.0.1:2020'
    assert gp.format_endpoint(ipaddress.ip_address('::1'), 2020) == '[::1]:2020'
    assert gp.plain_address(ipaddress.ip_address('::ffff:198.18.1.10')) == ipaddress.ip_address('198.18.1.10')
    assert gp.plain_address(ipaddress.ip_address('2001:db8::1')) == ipaddress.ip_address('2001:db8::1')


def test_parse_proc_net_tcp_states_and_inodes():
    rows = gp.parse_proc_net_tcp(TCP_TEXT, 'little')
    assert [(r.local, r.remote, r.state, r.inode) for r in rows] == [
        ('127.0.0.1:8080', '0.0.0.0:0', 'LISTEN', 51234),
        ('127.0.0.1:50000', '127.0.0.3:2020', 'ESTABLISHED', 51235),
        ('127.0.0.1:50002', '127.0.0.2:2020', 'SYN_SENT', 51236),
        ('127.0.0.1:50004', '127.0.0.2:2020', 'TIME_WAIT', 0),
    ]


def test_parse_proc_net_tcp6():
    rows = gp.parse_proc_net_tcp(TCP6_TEXT, 'little')
    assert [(r.local, r.remote, r.state, r.inode) for r in rows] == [
        ('[::1]:4000', '[::]:0', 'LISTEN', 61000),
        ('[::ffff:127.0.0.1]:50016', '[::ffff:127.0.0.3]:2020', 'ESTABLISHED', 61001),
        ('[2001:db8::1]:22', '[2001:db8::2]:54321', 'ESTABLISHED', 61002),
    ]


@pytest.mark.parametrize('code, name', [(1, 'ESTABLISHED'), (2, 'SYN_SENT'), (6, 'TIME_WAIT'), (8, 'CLOSE_WAIT'),
                                        (10, 'LISTEN'), (12, 'NEW_SYN_RECV'), (99, 'UNKNOWN')])
def test_parse_proc_net_tcp_state_codes(code, name):
    line = '   0: 0100007F:1F90 00000000:0000 %02X 00000000:00000000 00:00000000 00000000     0        0 7 1' % code
    assert gp.parse_proc_net_tcp('header\n' + line, 'little')[0].state == name


def test_real_sockets_are_read_back_with_their_owner():
    """Cross-check the parser against the kernel: our own listener and connection."""
    listener = socket.socket()
    listener.bind(('127.0.0.2', 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    client = socket.create_connection(('127.0.0.2', port))
    try:
        me = gp.read_process(os.getpid())
        inodes = gp.socket_inodes(os.getpid())
        assert os.fstat(listener.fileno()).st_ino in inodes
        assert os.fstat(client.fileno()).st_ino in inodes
        mine = [(sock.local, sock.remote, sock.state) for info, sock in gp.process_tcp_sockets([me])]
        assert ('127.0.0.2:%d' % port, '0.0.0.0:0', 'LISTEN') in mine
        assert ('%s:%d' % client.getsockname(), '127.0.0.2:%d' % port, 'ESTABLISHED') in mine
        assert port in gp.listening_ports([me])
    finally:
        client.close()
        listener.close()


def test_process_summary_reads_the_real_process():
    """The one summary app and app_info report: our own process, its listener, and nothing at all."""
    listener = socket.socket()
    listener.bind(('127.0.0.2', 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        me = gp.read_process(os.getpid())
        summary = gp.process_summary([me])
        assert summary['state'] == 'running'
        assert summary['pids'] == [os.getpid()]
        assert port in summary['listening']
        with open('/proc/self/cmdline', 'rb') as f:
            argv = [a.decode() for a in f.read().split(b'\0') if a]
        assert shlex.split(summary['cmdline']) == argv
    finally:
        listener.close()
    assert gp.process_summary([]) == dict(state='stopped', pids=[], listening=[], cmdline='')


def test_real_ipv6_socket_is_read_back():
    try:
        listener = socket.socket(socket.AF_INET6)
        listener.bind(('::1', 0))
    except OSError:
        pytest.skip('no IPv6 loopback here')
    listener.listen(1)
    try:
        port = listener.getsockname()[1]
        rows = [s for s in gp.read_tcp_sockets() if s.inode == os.fstat(listener.fileno()).st_ino]
        assert [(r.local, r.state) for r in rows] == [('[::1]:%d' % port, 'LISTEN')]
    finally:
        listener.close()


# -- command lines and /proc/<pid>/stat --------------------------------------------------

@pytest.mark.parametrize('argv, expected', [
    (['./confserv', '-host', 'cs', '-port', '2020', '-app', 'CS_1'], True),
    (['./confserv', '-app', 'CS_1', '-host', 'cs'], True),
    (['./confserv', '-app', 'CS_10'], False),
    (['./confserv', '-app', 'XCS_1'], False),
    (['./confserv', '-app', 'cs_1'], False),
    (['./confserv', '-app=CS_1'], False),
    (['./confserv', '-appCS_1'], False),
    (['./confserv', '-application', 'CS_1'], False),
    (['/bin/sh', '-c', './confserv -app CS_1'], False),
    (['./confserv', 'CS_1', '-app'], False),
    (['./confserv', '-app'], False),
    (['./confserv', '-app', '-app', 'CS_1'], True),
    ([], False),
])
def test_argv_has_app(argv, expected):
    assert gp.argv_has_app(argv, 'CS_1') is expected


def test_parse_stat_with_awkward_comm():
    text = '4242 (we) ird (name)) S 17 4242 4240 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3 4\n'
    assert gp.parse_stat(text) == {'comm': 'we) ird (name)', 'state': 'S', 'ppid': 17, 'session': 4240, 'starttime': 987654}


def make_fake_proc(root, net_self='net:[4026531840]'):
    """A /proc look-alike: pid -> (argv, state, net namespace or None)."""
    def add(pid, argv, state='S', netns=net_self, ppid=1):
        piddir = root / str(pid)
        (piddir / 'ns').mkdir(parents=True)
        (piddir / 'cmdline').write_bytes(b''.join(a.encode() + b'\0' for a in argv))
        (piddir / 'stat').write_text('%d (%s) %s %d %d %d 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n' % (
            pid, os.path.basename(argv[0]) if argv else 'kworker', state, ppid, pid, pid, 1000 + pid))
        if netns is not None:
            os.symlink(netns, str(piddir / 'ns' / 'net'))
    (root / 'self' / 'ns').mkdir(parents=True)
    os.symlink(net_self, str(root / 'self' / 'ns' / 'net'))
    return add


def test_find_app_processes_filters_namespace_zombies_and_names(tmp_path):
    add = make_fake_proc(tmp_path)
    add(100, ['./confserv', '-host', 'h', '-port', '1', '-app', 'CS_1'])
    add(101, ['./confserv', '-app', 'CS_1'], netns='net:[4026532999]')
    add(102, ['./confserv', '-app', 'CS_1'], state='Z')
    add(103, ['./confserv', '-app', 'CS_10'])
    add(104, ['./confserv', '-app', 'CS_1'], netns=None)
    add(105, ['./confserv', '-app', 'CS_1'], state='X')
    add(106, ['./confserv', '-app', 'CS_1'], ppid=100)
    add(107, [])
    found = gp.find_app_processes('CS_1', proc=str(tmp_path))
    assert [p.pid for p in found] == [100, 106]
    assert found[0].argv == ['./confserv', '-host', 'h', '-port', '1', '-app', 'CS_1']
    assert found[0].cmdline == './confserv -host h -port 1 -app CS_1'
    assert found[0].starttime == 1100
    assert [p.pid for p in gp.top_level(found)] == [100]
    every_namespace = gp.find_app_processes('CS_1', proc=str(tmp_path), same_netns=False)
    assert [p.pid for p in every_namespace] == [100, 101, 104, 106]


def test_find_processes_by_comm(tmp_path):
    add = make_fake_proc(tmp_path)
    add(200, ['/usr/sbin/dnsmasq', '-k'])
    add(201, ['/usr/sbin/nscd'])
    add(202, ['/usr/sbin/dnsmasq'], netns='net:[1]')
    assert [p.pid for p in gp.find_processes(match_comm=lambda c: c == 'dnsmasq', proc=str(tmp_path))] == [200]


@pytest.fixture
def children():
    started = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait()


def cmdline_of(pid):
    with open('/proc/%d/cmdline' % pid, 'rb') as handle:
        return handle.read()


def wait_stat_state(pid, states, timeout=5):
    def state():
        with open('/proc/%d/stat' % pid) as handle:
            return gp.parse_stat(handle.read())['state'] in states
    assert gp.wait_for(state, timeout, 0.02)


def test_real_zombie_is_not_a_live_process(children):
    child = subprocess.Popen([sys.executable, FAKE_APP, '-host', 'h', '-port', '1', '-app', 'UT_zombie', '--exit-code', '2'],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children.append(child)
    wait_stat_state(child.pid, 'Z')
    assert os.path.exists('/proc/%d' % child.pid)
    assert gp.read_process(child.pid) is None


def test_real_process_in_another_network_namespace_is_ignored(children, tmp_path):
    if os.geteuid() != 0:
        pytest.skip('unshare --net needs root')
    name = 'UT_netns_%d' % os.getpid()
    argv = [sys.executable, FAKE_APP, '-host', 'h', '-port', '1', '-app', name]
    here = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    children.append(here)
    elsewhere = subprocess.Popen(['unshare', '--net', '--'] + argv, stdout=subprocess.DEVNULL)
    children.append(elsewhere)
    own_ns = gp.net_namespace('self')

    def both_settled():
        # unshare carries '-app NAME' in its own argv before it has left our
        # namespace and exec'd the app: wait until it really lives elsewhere.
        found = gp.find_app_processes(name, same_netns=False)
        return (len(found) == 2 and here.pid in [p.pid for p in found]
                and gp.net_namespace(elsewhere.pid) not in (None, own_ns))
    assert gp.wait_for(both_settled, 5, 0.02)
    assert [p.pid for p in gp.find_app_processes(name)] == [here.pid]


def test_send_signal_spares_a_recycled_pid(children):
    child = subprocess.Popen(['sleep', '30'])
    children.append(child)
    info = gp.read_process(child.pid)
    recycled = info._replace(starttime=info.starttime - 1)
    assert gp.is_alive(info)
    assert not gp.is_alive(recycled)
    assert gp.send_signal(recycled, signal.SIGTERM) is False
    time.sleep(0.1)
    assert child.poll() is None
    assert gp.send_signal(info, signal.SIGTERM) is True
    assert child.wait(5) == -signal.SIGTERM
    assert gp.send_signal(info, signal.SIGTERM) is False


# -- waiting and commands ----------------------------------------------------------------

def test_wait_for_returns_early_and_times_out():
    calls = []
    began = time.monotonic()
    assert gp.wait_for(lambda: calls.append(1) or len(calls) >= 3, 5, 0.01) is True
    assert len(calls) == 3 and time.monotonic() - began < 4
    began = time.monotonic()
    assert gp.wait_for(lambda: [], 0.3, 0.05) == []
    assert 0.3 <= time.monotonic() - began < 4
    assert gp.wait_for(lambda: 'x', 0) == 'x'


def test_start_detached_leaves_nothing_of_ours_behind(children, tmp_path):
    output = tmp_path / 'out.log'
    child = gp.start_detached('echo "started $GREETING"; exec sleep 30', str(tmp_path), dict(os.environ, GREETING='hello'), str(output))
    children.append(child)
    assert gp.wait_for(lambda: output.read_text() == 'started hello\n', 5)
    wait_stat_state(child.pid, 'S')
    info = gp.read_process(child.pid)
    assert info.session == child.pid != os.getsid(0)
    assert os.readlink('/proc/%d/fd/0' % child.pid) == os.devnull
    assert os.readlink('/proc/%d/fd/1' % child.pid) == str(output)
    assert os.readlink('/proc/%d/cwd' % child.pid) == str(tmp_path)
    assert sorted(os.listdir('/proc/%d/fd' % child.pid)) == ['0', '1', '2']


def test_start_detached_execs_a_simple_command(children, tmp_path):
    child = gp.start_detached('sleep 30', str(tmp_path), dict(os.environ), str(tmp_path / 'out.log'))
    children.append(child)
    assert gp.wait_for(lambda: gp.read_argv(child.pid) == ['sleep', '30'], 5)


def test_run_bounded_returns_code_and_kills_a_hung_command(tmp_path):
    output = tmp_path / 'out.log'
    assert gp.run_bounded('echo bye; exit 3', str(tmp_path), dict(os.environ), str(output), 5) == 3
    assert output.read_text() == 'bye\n'
    began = time.monotonic()
    assert gp.run_bounded('echo $$ > pid; sleep 30 & wait', str(tmp_path), dict(os.environ), str(output), 0.5) is None
    assert time.monotonic() - began < 5
    shell = int((tmp_path / 'pid').read_text())
    assert not os.path.exists('/proc/%d' % shell)
    assert not [p for p in gp.find_processes(match_argv=lambda argv: argv == ['sleep', '30']) if p.session == shell]


def test_session_members_lists_the_live_processes_of_a_session(tmp_path):
    process = gp.start_detached('sleep 30 & sleep 31 & wait', str(tmp_path), dict(os.environ), str(tmp_path / 'out'))
    try:
        def sleeps():
            found = [p for p in gp.session_members(process.pid) if p.argv[:1] == ['sleep']]
            return found if len(found) == 2 else None
        members = gp.wait_for(sleeps, 10, interval=0.02)
        assert sorted(p.argv for p in members) == [['sleep', '30'], ['sleep', '31']]
        assert all(p.session == process.pid for p in members)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert gp.wait_for(lambda: not gp.session_members(process.pid), 10, interval=0.02)


def test_tail_text_and_newest_file(tmp_path):
    older = tmp_path / 'a.log'
    newer = tmp_path / 'b.log'
    older.write_text(''.join('line %d\n' % i for i in range(100)))
    newer.write_text('only\n')
    os.utime(str(older), (1000, 1000))
    (tmp_path / 'subdir').mkdir()
    assert gp.newest_file(str(tmp_path)) == str(newer)
    assert gp.newest_file(str(tmp_path / 'missing')) is None
    assert gp.tail_text(str(older), max_lines=3) == 'line 97\nline 98\nline 99'
    assert gp.tail_text(str(older), offset=older.stat().st_size - 8) == 'line 99'
    assert gp.tail_text(str(tmp_path / 'missing')) == ''


# -- Genesys processes under an application base -------------------------------------------

@pytest.mark.parametrize('argv, name', [
    (['./confserv', '-host', 'cs-master', '-port', '2020', '-app', 'CS_P'], 'CS_P'),
    (['/usr/bin/python3', '-m', 'sim', 'scs', '-app', 'SCS', '-host', 'h', '-port', '1', '-config', './x.cfg'], 'SCS'),
    (['./confserv', '-port', '2020', '-app', 'CS_P'], None),
    (['./confserv', '-host', 'cs-master', '-port', '2020'], None),
    (['./confserv', '-host', '-port', '2020', '-app', 'CS_P'], None),
    (['./confserv', '-host', 'h', '-port', '2020', '-app'], None),
    (['sleep', '60'], None),
])
def test_genesys_app_name(argv, name):
    assert gp.genesys_app_name(argv) == name


@pytest.mark.parametrize('path, base, app_dir', [
    ('/opt/gcti/CS_P', '/opt/gcti', '/opt/gcti/CS_P'),
    ('/opt/gcti/CS_P/bin', '/opt/gcti/', '/opt/gcti/CS_P'),
    ('/opt/gcti/CS_P/./confserv', '/opt/gcti', '/opt/gcti/CS_P'),
    ('/opt/gcti', '/opt/gcti', None),
    ('/opt/gcti2/CS_P', '/opt/gcti', None),
    ('/opt/gcti/../other/CS_P', '/opt/gcti', None),
])
def test_app_dir_under(path, base, app_dir):
    assert gp.app_dir_under(path, base) == app_dir


def test_find_genesys_processes_by_working_directory_or_program(tmp_path):
    """A process counts when it runs from <base>/<dir>, by working directory or by its program path."""
    base = tmp_path / 'gcti'
    (base / 'CS_cwd').mkdir(parents=True)
    (base / 'CS_exe').mkdir()
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    program = base / 'CS_exe' / 'confserv'
    program.symlink_to(sys.executable)
    link = tmp_path / 'gcti_link'
    link.symlink_to(base)
    started = [
        subprocess.Popen([sys.executable, FAKE_APP, '-host', 'h', '-port', '1', '-app', 'UT_cwd'], cwd=str(base / 'CS_cwd')),
        subprocess.Popen([str(program), FAKE_APP, '-host', 'h', '-port', '1', '-app', 'UT_exe'], cwd=str(elsewhere)),
        subprocess.Popen([sys.executable, FAKE_APP, '-host', 'h', '-port', '1', '-app', 'UT_out'], cwd=str(elsewhere)),
    ]
    try:
        mine = set(p.pid for p in started)
        # Popen returns once the child is forked; it runs the Genesys command line only after exec.
        for process, name in zip(started, ('UT_cwd', 'UT_exe', 'UT_out')):
            assert gp.wait_for(lambda p=process, n=name: ('-app\0%s' % n).encode() in cmdline_of(p.pid), 10, 0.02)
        for given in (str(base), str(link)):
            found = [p for p in gp.find_genesys_processes(given) if p.info.pid in mine]
            assert sorted((p.name, p.app_dir) for p in found) == [
                ('UT_cwd', os.path.join(given, 'CS_cwd')), ('UT_exe', os.path.join(given, 'CS_exe'))]
    finally:
        for process in started:
            process.kill()
            process.wait()
