# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in Genesys application for the unit tests of the process modules.

Run as ``python fake_genesys_app.py -host H -port P -app NAME [options]``: a real process
with a Genesys-style command line. It listens on the ``--listen`` ports and, with
``--proxy``, behaves like a Configuration Server Proxy: it resolves its master with
socket.getaddrinfo and keeps one TCP connection to it; on SIGHUP it re-reads its target
(``--master-file``, else ``-host``/``-port``) and reconnects.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import os
import select
import signal
import socket
import sys
import time


class FakeApp:
    def __init__(self, args):
        self.args = args
        self.listeners = []
        self.master = None
        self.reconnect_wanted = True
        self.next_attempt = 0.0
        self.log_file = None
        if args.log_dir:
            self.log_file = os.path.join(args.log_dir, '%s.log' % args.app)

    def log(self, message):
        line = '%s %s: %s' % (time.strftime('%H:%M:%S'), self.args.app, message)
        print(line, flush=True)
        if self.log_file:
            with open(self.log_file, 'a') as handle:
                handle.write(line + '\n')

    def target(self):
        if self.args.master_file:
            with open(self.args.master_file) as handle:
                host, port = handle.read().split()[:2]
            return host, int(port)
        return self.args.host, int(self.args.port)

    def connect_master(self):
        self.close_master()
        try:
            host, port = self.target()
            family, socktype, proto, dummy, address = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
            sock = socket.socket(family, socktype, proto)
            sock.settimeout(1.0)
            sock.connect(address)
        except (OSError, ValueError) as exc:
            self.log('cannot connect to master: %s' % exc)
            self.next_attempt = time.monotonic() + 0.5
            return
        sock.setblocking(False)
        self.master = sock
        self.log('connected to master %s:%s' % address[:2])

    def close_master(self):
        if self.master is not None:
            self.master.close()
            self.master = None

    def fatal(self):
        self.log('FATAL: cannot read configuration, exiting with code %d' % self.args.exit_code)
        sys.stderr.write('fatal error, see log\n')
        return self.args.exit_code

    def on_hup(self, signum, frame):
        self.reconnect_wanted = True
        self.next_attempt = 0.0

    def on_term(self, signum, frame):
        self.log('stopping on signal %d' % signum)
        sys.exit(0)

    def run(self):
        args = self.args
        signal.signal(signal.SIGTERM, signal.SIG_IGN if args.ignore_term else self.on_term)
        if args.proxy:
            signal.signal(signal.SIGHUP, self.on_hup)
        self.log('starting (pid %d)' % os.getpid())
        if args.exit_code and not args.exit_after:
            return self.fatal()
        time.sleep(args.start_delay)
        for spec in args.listen:
            host, dummy, port = spec.rpartition(':')
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host or '127.0.0.1', int(port)))
            listener.listen(16)
            self.listeners.append(listener)
            self.log('listening on %s' % spec)
        clients = []
        exit_at = time.monotonic() + args.exit_after
        while True:
            if args.exit_code and time.monotonic() >= exit_at:
                return self.fatal()
            if args.proxy and (self.master is None or self.reconnect_wanted) and time.monotonic() >= self.next_attempt:
                self.reconnect_wanted = False
                self.connect_master()
            watched = self.listeners + clients + ([self.master] if self.master is not None else [])
            if not watched:
                time.sleep(0.1)
                continue
            readable = select.select(watched, [], [], 0.1)[0]
            for sock in readable:
                if sock in self.listeners:
                    clients.append(sock.accept()[0])
                    continue
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b''
                if data:
                    continue
                if sock is self.master:
                    self.log('master closed the connection')
                    self.close_master()
                else:
                    clients.remove(sock)
                    sock.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('-host', required=True)
    parser.add_argument('-port', required=True)
    parser.add_argument('-app', required=True)
    parser.add_argument('--listen', action='append', default=[], metavar='[ADDRESS:]PORT')
    parser.add_argument('--log-dir')
    parser.add_argument('--ignore-term', action='store_true', help='ignore SIGTERM')
    parser.add_argument('--start-delay', type=float, default=0.0, help='seconds before listening')
    parser.add_argument('--exit-code', type=int, default=0, help='log an error and exit with it (at once or after --exit-after)')
    parser.add_argument('--exit-after', type=float, default=0.0, help='seconds of normal running before --exit-code')
    parser.add_argument('--proxy', action='store_true', help='keep a connection to the master')
    parser.add_argument('--master-file', help='file holding "HOST PORT" of the master, re-read on SIGHUP')
    return FakeApp(parser.parse_args(argv)).run()


if __name__ == '__main__':
    sys.exit(main())
