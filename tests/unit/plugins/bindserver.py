# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Throw-away BIND 9 servers for tests.

A primary serving one zone that accepts updates only signed with a generated TSIG key
(hmac-sha256), sends NOTIFY, and allows signed AXFR; secondaries that pull the zone with
the key. Everything listens on 127.0.0.1 on free non-53 ports (named only binds addresses
configured on an interface, and the loopback interface only holds 127.0.0.1). The
servers run as `named -g` children of the test process, in a temporary directory, and are
stopped at teardown.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import signal
import socket
import subprocess
import time

ADDRESS = '127.0.0.1'
START_TIMEOUT = 15.0
# SOA refresh/retry of 2 s so a secondary that missed a NOTIFY catches up quickly.
INITIAL_ZONE = '$TTL 300\n@ IN SOA ns1 hostmaster 1 2 1 86400 60\n@ IN NS ns1\nns1 IN A %s\n' % ADDRESS


def free_port(address=ADDRESS):
    """A port free for both TCP and UDP on address (named listens on both)."""
    for _attempt in range(50):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tcp.bind((address, 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind((address, port))
            except OSError:
                continue
            return port
        finally:
            tcp.close()
            udp.close()
    raise RuntimeError('no free port on %s' % address)


def tsig_keygen(name, algorithm='hmac-sha256'):
    """(key statement text, secret) from tsig-keygen."""
    text = subprocess.run(['tsig-keygen', '-a', algorithm, name], check=True, capture_output=True, text=True).stdout
    return text, re.search(r'secret "([^"]+)"', text).group(1)


class NamedProcess(object):
    """One named -g process with its own directory and configuration."""

    def __init__(self, directory, label, port, conf):
        self.directory = directory
        self.label = label
        self.address = ADDRESS
        self.port = port
        self.conf_path = os.path.join(directory, 'named.conf')
        self.log_path = os.path.join(directory, 'named.log')
        with open(self.conf_path, 'w') as handle:
            handle.write(conf)
        self.process = None

    def start(self):
        with open(self.log_path, 'ab') as log:
            self.process = subprocess.Popen(['named', '-g', '-c', self.conf_path], cwd=self.directory, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self):
        with open(self.log_path) as handle:
            return handle.read()

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def pause(self):
        """Freeze the server (SIGSTOP): it neither answers nor transfers until resume()."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if not self.alive():
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class BindZone(object):
    """A primary and secondaries of one zone, with the TSIG key to update and query it."""

    def __init__(self, directory, zone='dr-test.example', secondaries=1, key_name='dr-test-key'):
        self.directory = str(directory)
        self.zone = zone.rstrip('.')
        self.key_name = key_name
        self.key_algorithm = 'hmac-sha256'
        key_text, self.key_secret = tsig_keygen(key_name)
        # A key the servers know but that may not update the zone (tests REFUSED).
        self.other_key_name = 'dr-test-readonly'
        other_text, self.other_key_secret = tsig_keygen(self.other_key_name)
        self.key_file = os.path.join(self.directory, 'update.key')
        with open(self.key_file, 'w') as handle:
            handle.write(key_text)
        keys_conf = os.path.join(self.directory, 'keys.conf')
        with open(keys_conf, 'w') as handle:
            handle.write(key_text + other_text)
        self.secondary_count = secondaries
        self.primary = None
        self.secondaries = []
        self._keys_conf = keys_conf

    def _primary_conf(self, directory, port, secondary_ports):
        also_notify = ' '.join('%s port %d;' % (ADDRESS, p) for p in secondary_ports)
        return '''include "%(keys)s";
options {
    directory "%(dir)s";
    listen-on port %(port)d { %(addr)s; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    pid-file none;
    session-keyfile none;
    notify yes;
    notify-delay 0;
    also-notify { %(also)s };
    allow-transfer { key "%(key)s"; };
};
controls { };
zone "%(zone)s" {
    type primary;
    file "primary.db";
    allow-update { key "%(key)s"; };
};
''' % dict(keys=self._keys_conf, dir=directory, port=port, addr=ADDRESS, also=also_notify, key=self.key_name, zone=self.zone)

    def _secondary_conf(self, directory, port, primary_port):
        return '''include "%(keys)s";
options {
    directory "%(dir)s";
    listen-on port %(port)d { %(addr)s; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    pid-file none;
    session-keyfile none;
    notify no;
    min-refresh-time 2;
    min-retry-time 1;
};
controls { };
zone "%(zone)s" {
    type secondary;
    file "secondary.db";
    primaries { %(addr)s port %(pport)d key "%(key)s"; };
};
''' % dict(keys=self._keys_conf, dir=directory, port=port, addr=ADDRESS, pport=primary_port, key=self.key_name, zone=self.zone)

    def cut_off_secondary(self, label='cutoff1'):
        """A started secondary that answers but never gets the zone again (a broken transfer path).

        It loads the zone as the primary first served it (serial 1) from its own file and pulls
        from a port nothing listens on, so it keeps answering, signed, with data older than the
        primary's. The caller stops it.
        """
        directory = os.path.join(self.directory, label)
        os.makedirs(directory)
        with open(os.path.join(directory, 'secondary.db'), 'w') as handle:
            handle.write(INITIAL_ZONE)
        conf = self._secondary_conf(directory, free_port(), free_port()).replace(
            'file "secondary.db";', 'file "secondary.db";\n    masterfile-format text;')
        server = NamedProcess(directory, label, int(re.search(r'listen-on port (\d+)', conf).group(1)), conf)
        server.start()
        self._wait_serving([server], transports=(True,))
        return server

    def start(self):
        primary_port = free_port()
        ports = []
        while len(ports) < self.secondary_count:
            port = free_port()
            if port != primary_port and port not in ports:
                ports.append(port)
        primary_dir = os.path.join(self.directory, 'primary')
        os.makedirs(primary_dir)
        with open(os.path.join(primary_dir, 'primary.db'), 'w') as handle:
            handle.write(INITIAL_ZONE)
        self.primary = NamedProcess(primary_dir, 'primary', primary_port, self._primary_conf(primary_dir, primary_port, ports))
        for index, port in enumerate(ports):
            directory = os.path.join(self.directory, 'secondary%d' % (index + 1))
            os.makedirs(directory)
            self.secondaries.append(NamedProcess(directory, 'secondary%d' % (index + 1), port,
                                                 self._secondary_conf(directory, port, primary_port)))
        # The primary serves the zone before any secondary starts. A secondary that has no copy of the zone yet
        # asks for it once at startup; if that first transfer fails (primary not listening or zone not loaded yet),
        # named retries only after its built-in 60 s (no option shortens it before the zone has an SOA), and the
        # primary's startup NOTIFY that would have rescued it is lost when it reaches the secondary before it listens.
        self.primary.start()
        self._wait_serving([self.primary], transports=(True, False))
        for server in self.secondaries:
            server.start()
        self._wait_serving(self.secondaries, transports=(True,))

    def _wait_serving(self, servers, transports):
        """Wait until every server answers the zone's SOA over each transport (TCP True, UDP False)."""
        deadline = time.monotonic() + START_TIMEOUT
        for server in servers:
            for tcp in transports:
                while self.serial(server, tcp=tcp) is None:
                    if not server.alive() or time.monotonic() > deadline:
                        log = server.log()
                        self.stop()
                        raise RuntimeError('named %s did not start serving %s over %s:\n%s' % (
                            server.label, self.zone, 'TCP' if tcp else 'UDP', log[-3000:]))
                    time.sleep(0.1)

    def stop(self):
        for server in self.secondaries + [self.primary]:
            if server is not None:
                server.stop()

    def dig(self, name, rdtype, server=None, tcp=True):
        """`dig +short` lines for name/type, asked (signed, over TCP or UDP) of server (the primary by default)."""
        server = server or self.primary
        fqdn = name if name.endswith('.') else '%s.%s.' % (name, self.zone) if name != '@' else self.zone + '.'
        command = ['dig', '@%s' % server.address, '-p', str(server.port), '-k', self.key_file, '+short', '+norec', '+tcp' if tcp else '+notcp',
                   '+time=2', '+tries=1', fqdn, rdtype]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        if proc.returncode != 0:
            return None
        return sorted(line for line in proc.stdout.splitlines() if line and not line.startswith(';'))

    def serial(self, server=None, tcp=True):
        """The zone's SOA serial served by server, None when it does not answer yet."""
        lines = self.dig('@', 'SOA', server, tcp=tcp)
        if not lines:
            return None
        return int(lines[0].split()[2])

    def wait_for_serial(self, server, serial, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.serial(server)
            if current is not None and current >= serial:
                return current
            time.sleep(0.1)
        raise AssertionError('%s did not reach serial %d within %s s' % (server.label, serial, timeout))

    def nsupdate(self, commands):
        """Change the zone behind the module's back, with nsupdate (another tool)."""
        script = 'server %s %d\nzone %s\n%s\nsend\n' % (ADDRESS, self.primary.port, self.zone, commands.strip())
        subprocess.run(['nsupdate', '-k', self.key_file, '-t', '5'], input=script, text=True, check=True, capture_output=True, timeout=20)

    def connection_args(self, **overrides):
        """Connection options of the modules for this zone's primary."""
        args = dict(server=ADDRESS, port=self.primary.port, zone=self.zone, key_name=self.key_name, key_secret=self.key_secret, timeout=3)
        args.update(overrides)
        return args

    def verify_servers(self, **extra):
        return [dict(name=server.label, address=server.address, port=server.port, **extra) for server in [self.primary] + self.secondaries]
