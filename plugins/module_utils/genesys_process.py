# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Genesys application processes as seen in /proc.

A Genesys application is identified by its command line (``-app <AppName>`` as two
separate arguments), never by a pid file. Only processes in the caller's own network
namespace count: several hosts may share one /proc (one PID namespace) and a socket table
(/proc/net/tcp, which always shows the reader's namespace) only makes sense for them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import ipaddress
import os
import re
import shlex
import signal
import subprocess
import sys
import time

from ansible_collections.genesys_dr.framework.plugins.module_utils.waiting import pauses

PROC = '/proc'
# How long run_bounded waits for the processes of a session it killed to be gone.
KILL_SETTLE_SECONDS = 5.0

TCP_STATES = {
    1: 'ESTABLISHED',
    2: 'SYN_SENT',
    3: 'SYN_RECV',
    4: 'FIN_WAIT1',
    5: 'FIN_WAIT2',
    6: 'TIME_WAIT',
    7: 'CLOSE',
    8: 'CLOSE_WAIT',
    9: 'LAST_ACK',
    10: 'LISTEN',
    11: 'CLOSING',
    12: 'NEW_SYN_RECV',
}

# Anything that makes a command more than one plain simple command for /bin/sh.
_SHELL_SYNTAX = re.compile(r'[;&|<>()$`\\"\'*?\[\]#~=%{}!\n]')

# Zombies and dead tasks hold no sockets and cannot be signalled into doing anything.
_GONE_STATES = ('Z', 'X', 'x')


class ProcAccessError(Exception):
    """/proc holds the answer but this user may not read it (needs root or the app's user)."""


class ProcessInfo(collections.namedtuple('ProcessInfo', 'pid ppid session state starttime comm argv')):
    """One live process. ``starttime`` (clock ticks after boot) tells a recycled pid apart."""

    @property
    def cmdline(self):
        return ' '.join(shlex.quote(arg) for arg in self.argv)


class TcpSocket(collections.namedtuple('TcpSocket', 'local_address local_port remote_address remote_port state inode')):
    """One row of /proc/net/tcp or tcp6, addresses as ``ipaddress`` objects."""

    @property
    def local(self):
        return format_endpoint(self.local_address, self.local_port)

    @property
    def remote(self):
        return format_endpoint(self.remote_address, self.remote_port)


def _read(path, mode='r'):
    with open(path, mode) as handle:
        return handle.read()


# ---------------------------------------------------------------------------------------
# Processes

def argv_has_app(argv, name):
    """True when ``-app`` and ``name`` are two consecutive, exactly equal arguments."""
    return any(argv[i] == '-app' and argv[i + 1] == name for i in range(len(argv) - 1))


def parse_stat(text):
    """Fields of /proc/<pid>/stat; ``comm`` may itself contain spaces and parentheses."""
    comm = text[text.index('(') + 1:text.rindex(')')]
    rest = text[text.rindex(')') + 2:].split()
    # rest[0] is field 3 (state) of proc(5); starttime is field 22.
    return {
        'comm': comm,
        'state': rest[0],
        'ppid': int(rest[1]),
        'session': int(rest[3]),
        'starttime': int(rest[19]),
    }


def read_argv(pid, proc=PROC):
    """argv of a process, [] for kernel threads and zombies, None when it is gone."""
    try:
        raw = _read(os.path.join(proc, str(pid), 'cmdline'), 'rb')
    except (IOError, OSError):
        return None
    if raw.endswith(b'\0'):
        raw = raw[:-1]
    if not raw:
        return []
    return [arg.decode('utf-8', 'surrogateescape') for arg in raw.split(b'\0')]


def net_namespace(pid, proc=PROC):
    """Identity of the network namespace of ``pid`` (``self`` allowed), None if unreadable."""
    try:
        return os.readlink(os.path.join(proc, str(pid), 'ns', 'net'))
    except (IOError, OSError):
        return None


def read_process(pid, proc=PROC, argv=None):
    """ProcessInfo of a live process, None when it is gone, a zombie or unreadable."""
    try:
        stat = parse_stat(_read(os.path.join(proc, str(pid), 'stat')))
    except (IOError, OSError, ValueError, IndexError):
        return None
    if stat['state'] in _GONE_STATES:
        return None
    if argv is None:
        argv = read_argv(pid, proc)
        if argv is None:
            return None
    return ProcessInfo(pid=int(pid), ppid=stat['ppid'], session=stat['session'], state=stat['state'],
                       starttime=stat['starttime'], comm=stat['comm'], argv=argv)


def list_pids(proc=PROC):
    return sorted(int(entry) for entry in os.listdir(proc) if entry.isdigit())


def find_processes(match_argv=None, match_comm=None, proc=PROC, same_netns=True):
    """Live processes (not this one) whose argv or comm matches, in this network namespace.

    ``match_argv(argv)`` / ``match_comm(comm)`` are predicates; the cheap one is applied first
    so that /proc is scanned without reading every stat file.
    """
    own_pid = os.getpid()
    own_ns = net_namespace('self', proc) if same_netns else None
    found = []
    for pid in list_pids(proc):
        if pid == own_pid:
            continue
        argv = None
        if match_argv is not None:
            argv = read_argv(pid, proc)
            if not argv or not match_argv(argv):
                continue
        info = read_process(pid, proc, argv=argv)
        if info is None:
            continue
        if match_comm is not None and not match_comm(info.comm):
            continue
        # A process whose namespace cannot be read (another user's, without privilege) may
        # live on another host of a shared /proc: it is not claimed as ours.
        if same_netns and (own_ns is None or net_namespace(pid, proc) != own_ns):
            continue
        found.append(info)
    return found


def find_app_processes(name, proc=PROC, same_netns=True):
    """Processes of the Genesys application ``name`` (``-app name`` on their command line)."""
    return find_processes(match_argv=lambda argv: argv_has_app(argv, name), proc=proc, same_netns=same_netns)


def argv_option(argv, option):
    """The value after ``option`` (``-app``, ``-host``, ...), None when absent or valueless."""
    for i in range(len(argv) - 1):
        if argv[i] == option and argv[i + 1] and not argv[i + 1].startswith('-'):
            return argv[i + 1]
    return None


def genesys_app_name(argv):
    """The AppName of a Genesys-style command line, None for any other command line.

    Every Genesys server is started with the Configuration Server it reads its configuration
    from and its own Application object: ``-host <host> -port <port> -app <AppName>``, each
    option followed by its value.
    """
    if argv_option(argv, '-host') is None or argv_option(argv, '-port') is None:
        return None
    return argv_option(argv, '-app')


def process_cwd(pid, proc=PROC):
    """Working directory of ``pid``, None when it is gone.

    Raises ProcAccessError when it may not be read (another user's process, no privilege).
    """
    link = os.path.join(proc, str(pid), 'cwd')
    try:
        return os.readlink(link)
    except PermissionError:
        raise ProcAccessError('cannot read %s (permission denied): run the task as root (become) or as the user '
                              'that runs the applications' % link)
    except (IOError, OSError):
        return None


def app_dir_under(path, base):
    """The directory directly under ``base`` that holds ``path`` (``base/<dir>``), else None."""
    base = os.path.normpath(base)
    path = os.path.normpath(path)
    if not path.startswith(base.rstrip('/') + '/'):
        return None
    return os.path.join(base, path[len(base.rstrip('/')) + 1:].split('/')[0])


class GenesysProcess(collections.namedtuple('GenesysProcess', 'info name app_dir')):
    """A process with a Genesys command line, its AppName and the application directory it runs from."""


def find_genesys_processes(base, proc=PROC, same_netns=True):
    """Processes of Genesys applications installed under ``base``.

    A process counts when its command line is Genesys style (genesys_app_name) and it runs
    from an application directory under ``base``: its working directory, or its program
    (``argv[0]``, relative to that directory), lies inside ``base/<dir>``. That is how a
    Genesys application is started (its run.sh, or LCA, in its own directory).
    """
    # /proc shows the working directory with symbolic links resolved.
    bases = [os.path.normpath(base)] + ([os.path.realpath(base)] if os.path.realpath(base) != os.path.normpath(base) else [])
    found = []
    for info in find_processes(match_argv=lambda argv: genesys_app_name(argv) is not None, proc=proc,
                               same_netns=same_netns):
        cwd = process_cwd(info.pid, proc)
        if cwd is None:
            continue
        for candidate in bases:
            app_dir = app_dir_under(cwd, candidate) or app_dir_under(os.path.join(cwd, info.argv[0]), candidate)
            if app_dir is not None:
                found.append(GenesysProcess(info, genesys_app_name(info.argv),
                                            os.path.join(bases[0], os.path.basename(app_dir))))
                break
    return found


def top_level(processes):
    """Processes whose parent is not one of ``processes`` (the ones to signal first)."""
    pids = set(p.pid for p in processes)
    return [p for p in processes if p.ppid not in pids]


def is_alive(info, proc=PROC):
    """Whether the very process ``info`` (same pid AND same start time) still lives."""
    current = read_process(info.pid, proc, argv=[])
    return current is not None and current.starttime == info.starttime


def send_signal(info, signum, proc=PROC):
    """Signal ``info`` unless its pid was recycled meanwhile. True when the signal was sent."""
    if not is_alive(info, proc):
        return False
    try:
        os.kill(info.pid, signum)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------------------------------
# TCP sockets

def decode_address(text, byteorder=sys.byteorder):
    """``'0100007F:1F90'`` -> (IPv4Address('127.0.0.1'), 8080); IPv6 from 32 hex digits.

    The kernel prints each 32-bit word of the (network order) address as a host-order
    integer, so on little-endian hosts the bytes of every word appear reversed.
    """
    address_hex, port_hex = text.split(':')
    if len(address_hex) not in (8, 32):
        raise ValueError('unexpected address %r in /proc/net/tcp' % text)
    raw = b''.join(int(address_hex[i:i + 8], 16).to_bytes(4, byteorder) for i in range(0, len(address_hex), 8))
    return ipaddress.ip_address(raw), int(port_hex, 16)


def format_endpoint(address, port):
    if address.version == 6:
        if address.ipv4_mapped is not None:
            # Python before 3.13 would print ::ffff:7f00:1.
            return '[::ffff:%s]:%d' % (address.ipv4_mapped, port)
        return '[%s]:%d' % (address, port)
    return '%s:%d' % (address, port)


def plain_address(address):
    """An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) as the IPv4 address it stands for."""
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_proc_net_tcp(text, byteorder=sys.byteorder):
    """Rows of /proc/net/tcp or /proc/net/tcp6 as TcpSocket tuples (header line skipped)."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local_address, local_port = decode_address(fields[1], byteorder)
        remote_address, remote_port = decode_address(fields[2], byteorder)
        state = TCP_STATES.get(int(fields[3], 16), 'UNKNOWN')
        sockets.append(TcpSocket(local_address, local_port, remote_address, remote_port, state, int(fields[9])))
    return sockets


def read_tcp_sockets(proc=PROC):
    """All TCP sockets of this network namespace (IPv4 and IPv6)."""
    sockets = []
    for table in ('tcp', 'tcp6'):
        try:
            text = _read(os.path.join(proc, 'net', table))
        except (IOError, OSError):
            # No tcp6 when IPv6 is disabled.
            continue
        sockets.extend(parse_proc_net_tcp(text))
    return sockets


def socket_inodes(pid, proc=PROC):
    """Inodes of the sockets held open by ``pid``; empty when it is gone.

    Raises ProcAccessError when /proc/<pid>/fd may not be read.
    """
    fd_dir = os.path.join(proc, str(pid), 'fd')
    try:
        fds = os.listdir(fd_dir)
    except PermissionError:
        raise ProcAccessError('cannot read %s (permission denied): run the task as root (become) or as the '
                              'user that runs the application' % fd_dir)
    except (IOError, OSError):
        return set()
    inodes = set()
    for fd in fds:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except (IOError, OSError):
            continue
        if target.startswith('socket:['):
            inodes.add(int(target[8:-1]))
    return inodes


def process_tcp_sockets(processes, proc=PROC):
    """[(ProcessInfo, TcpSocket)] for every TCP socket held by one of ``processes``."""
    owner = {}
    for info in processes:
        for inode in socket_inodes(info.pid, proc):
            owner.setdefault(inode, info)
    return [(owner[sock.inode], sock) for sock in read_tcp_sockets(proc) if sock.inode in owner]


def listening_ports(processes, proc=PROC):
    """Sorted TCP ports on which one of ``processes`` holds a LISTEN socket."""
    return sorted(set(sock.local_port for dummy, sock in process_tcp_sockets(processes, proc) if sock.state == 'LISTEN'))


def process_summary(processes, proc=PROC):
    """What the modules report of one application's processes: state, pids, listening ports, command line."""
    return dict(
        state='running' if processes else 'stopped',
        pids=[p.pid for p in processes],
        listening=listening_ports(processes, proc) if processes else [],
        cmdline=processes[0].cmdline if processes else '',
    )


# ---------------------------------------------------------------------------------------
# Waiting and commands

def wait_for(check, timeout, interval=0.2):
    """Call ``check`` until it returns something truthy or ``timeout`` seconds passed.

    Always calls it at least once; returns its last result. The pauses between calls start at
    20 ms and grow to ``interval`` (module_utils/waiting.py).
    """
    deadline = time.monotonic() + timeout
    for pause in pauses(interval):
        result = check()
        remaining = deadline - time.monotonic()
        if result or remaining <= 0:
            return result
        time.sleep(min(pause, remaining))


def start_detached(command, cwd, env, output_path):
    """Run a shell command in its own session, stdin from /dev/null, output appended to a file.

    Nothing of the caller (pipes to the Ansible connection, controlling terminal, process
    group) is inherited, so the started application outlives the module and cannot keep
    the task hanging.
    """
    if not _SHELL_SYNTAX.search(command):
        # A plain "./run.sh -x": the shell becomes it instead of waiting beside it for the
        # application's whole life.
        command = 'exec ' + command
    with open(os.devnull, 'rb') as devnull, open(output_path, 'ab') as output:
        return subprocess.Popen(['/bin/sh', '-c', command], cwd=cwd, env=env, stdin=devnull, stdout=output,
                                stderr=subprocess.STDOUT, close_fds=True, start_new_session=True)


def run_bounded(command, cwd, env, output_path, timeout):
    """Run a shell command like start_detached and wait at most ``timeout`` seconds.

    Returns the return code, or None when it did not finish in time: then its whole
    session is killed, so that a hung script cannot act later behind the caller's back.
    Output goes to a file rather than a pipe: a daemon the command leaves behind would
    hold a pipe open forever.
    """
    process = start_detached(command, cwd, env, output_path)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        process.wait()
        # SIGKILL is delivered when a process is next scheduled: on a loaded host a member of
        # the session can still be listed as running for a moment. Return once none is.
        wait_for(lambda: not session_members(process.pid), KILL_SETTLE_SECONDS, interval=0.02)
        return None


def session_members(session, proc=PROC):
    """Live (not zombie) processes of a session, in any network namespace."""
    return [info for info in find_processes(proc=proc, same_netns=False) if info.session == session]


def tail_text(path, offset=0, max_lines=20, max_bytes=4096):
    """The last lines of a file from ``offset`` on ('' when missing)."""
    try:
        with open(path, 'rb') as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(offset, size - max_bytes))
            data = handle.read()
    except (IOError, OSError):
        return ''
    lines = data.decode('utf-8', 'replace').splitlines()
    return '\n'.join(lines[-max_lines:])


def newest_file(directory):
    """Path of the most recently modified regular file in ``directory``, None if none."""
    try:
        entries = [os.path.join(directory, entry) for entry in os.listdir(directory)]
    except (IOError, OSError):
        return None
    files = [path for path in entries if os.path.isfile(path)]
    if not files:
        return None
    return max(files, key=os.path.getmtime)
