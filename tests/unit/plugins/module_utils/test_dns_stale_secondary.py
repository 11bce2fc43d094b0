# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A BIND secondary that stays stale after its primary was unreachable (issue 7).

BIND's zone manager keeps an "unreachable primaries" cache: two failed zone-transfer connects to a
primary within 600 s make the secondary skip every transfer from it until 600 s after the last
failure ("refresh: skipping zone transfer as primary ... is unreachable (cached)"). A NOTIFY from the
primary does not clear the entry (the NOTIFY comes from another source port than the primary's
listening port, and the cache compares address and port), and neither does a second update: its
NOTIFY is answered by the same skipped transfer. So after a partition of a few minutes a secondary
serves the old serial for up to 10 minutes after the primary answers again (rndc refresh / retransfer
do not end it either; a restart of that named does), and the verification of dns_record / dr_state can
only report it, in words that name the cause and the remedy.

The partition is made by a small relay in front of the primary: it forwards UDP (SOA queries keep
working, which makes the transfer attempts come quickly) and drops TCP connects without a reset (a
listening socket whose accept queue is full: Linux drops the SYNs), like a firewall that drops
packets. A paused primary alone does not reproduce it: the kernel completes the TCP handshake of a
stopped process, and a connect that succeeds deletes the cache entry.

Takes about 70 s (two 30 s transfer-connect timeouts of named): set GDR_SKIP_SLOW_TESTS=1 to skip it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import select
import shutil
import socket
import threading
import time

import pytest

from ansible_collections.genesys_dr.framework.plugins.module_utils import dns_client
from ansible_collections.genesys_dr.framework.plugins.module_utils import dns_verify
from ansible_collections.genesys_dr.framework.tests.unit.plugins.bindserver import ADDRESS, BindZone, free_port

pytestmark = [
    pytest.mark.skipif(not (shutil.which('named') and shutil.which('tsig-keygen') and shutil.which('dig')),
                       reason='BIND 9 (named, tsig-keygen, dig) is not installed'),
    pytest.mark.skipif(os.environ.get('GDR_SKIP_SLOW_TESTS') == '1', reason='slow (about 70 s): GDR_SKIP_SLOW_TESTS=1'),
]

# named gives up a transfer connect after 30 s; twice that plus retries, with a wide margin.
CACHED_WITHIN = 150.0
FAILED_CONNECT = 'failed to connect: timed out'
SKIPPED_CACHED = re.compile(r'skipping zone transfer as primary \S+ \(source \S+\) is unreachable \(cached\)')


class TcpBlackholeRelay(object):
    """UDP and TCP relay to the primary on its own port; partition() makes TCP connects time out.

    During a partition the TCP listening socket is not accepted from and its accept queue is kept
    full by idle connections of the relay itself, so the kernel drops further SYNs (no reset).
    """

    def __init__(self, target_port):
        self.target = (ADDRESS, target_port)
        self.port = free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((ADDRESS, self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((ADDRESS, self.port))
        self.tcp.listen(0)
        self.fillers = []
        # Held while accepting, so partition() knows no accept() is under way once it holds it.
        self.lock = threading.Lock()
        self.accepting = True
        self.healed = threading.Event()
        self.healed.set()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._udp_loop), threading.Thread(target=self._tcp_loop)]
        for thread in self.threads:
            thread.daemon = True
            thread.start()

    def _udp_loop(self):
        clients = {}
        upstreams = []
        while not self.stopping.is_set():
            readable = select.select([self.udp] + upstreams, [], [], 0.2)[0]
            for sock in readable:
                data, peer = sock.recvfrom(65535)
                if sock is self.udp:
                    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    upstream.connect(self.target)
                    upstream.send(data)
                    clients[upstream] = peer
                    upstreams.append(upstream)
                else:
                    self.udp.sendto(data, clients.pop(sock))
                    upstreams.remove(sock)
                    sock.close()

    def _tcp_loop(self):
        while not self.stopping.is_set():
            if not self.healed.wait(0.2) or not select.select([self.tcp], [], [], 0.2)[0]:
                continue
            with self.lock:
                if not self.accepting:
                    continue
                conn, dummy = self.tcp.accept()
            thread = threading.Thread(target=self._pipe_connection, args=(conn,))
            thread.daemon = True
            thread.start()

    def _pipe_connection(self, conn):
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            conn.close()
            return
        pair = {conn: upstream, upstream: conn}
        try:
            while not self.stopping.is_set():
                for sock in select.select(list(pair), [], [], 0.2)[0]:
                    data = sock.recv(65535)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            conn.close()
            upstream.close()

    def partition(self):
        """Stop accepting and fill the accept queue until a connect is dropped."""
        with self.lock:
            self.accepting = False
            self.healed.clear()
        while True:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(1.0)
            try:
                probe.connect((ADDRESS, self.port))
            except socket.timeout:
                probe.close()
                return
            self.fillers.append(probe)
            if len(self.fillers) > 64:
                raise RuntimeError('the accept queue of the relay does not fill up')

    def heal(self):
        for sock in self.fillers:
            sock.close()
        self.fillers = []
        with self.lock:
            self.accepting = True
            self.healed.set()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(5)
        self.heal()
        self.udp.close()
        self.tcp.close()


class RelayedZone(BindZone):
    """A BindZone whose secondary pulls the zone through a relay (the NOTIFY still comes straight from the primary)."""

    relay = None

    def _secondary_conf(self, directory, port, primary_port):
        if self.relay is None:
            self.relay = TcpBlackholeRelay(primary_port)
        return super(RelayedZone, self)._secondary_conf(directory, port, self.relay.port)

    def stop(self):
        if self.relay is not None:
            self.relay.stop()
        super(RelayedZone, self).stop()


def _wait_for_log(server, pattern, count, timeout):
    """Wait until server's log holds count matches of pattern (named's own account of what it did)."""
    deadline = time.monotonic() + timeout
    while True:
        found = len(re.findall(pattern, server.log()))
        if found >= count:
            return found
        assert server.alive(), server.log()[-3000:]
        assert time.monotonic() < deadline, 'named %s logged %d of %d "%s" in %s s:\n%s' % (
            server.label, found, count, pattern, timeout, server.log()[-3000:])
        time.sleep(0.2)


@pytest.fixture
def relayed_zone(tmp_path):
    zone = RelayedZone(tmp_path)
    try:
        zone.start()
        yield zone
    finally:
        zone.stop()


def test_secondary_stays_stale_after_failed_transfers_and_the_message_names_the_cause(relayed_zone):
    zone = relayed_zone
    relay = zone.relay
    secondary = zone.secondaries[0]
    client = dns_client.DNSClient(ADDRESS, zone.primary.port, dns_client.zone_name(zone.zone),
                                  dns_client.TsigKey(zone.key_name, zone.key_secret, zone.key_algorithm), timeout=3)
    assert zone.serial(secondary) == zone.serial()

    relay.partition()
    # A change during the partition: its NOTIFY reaches the secondary, whose SOA query (UDP) sees the
    # newer serial and whose transfer connects (TCP) time out; after the second failure the primary is
    # cached as unreachable.
    zone.nsupdate('update add during.%s. 60 A 192.0.2.1' % zone.zone)
    _wait_for_log(secondary, FAILED_CONNECT, 2, CACHED_WITHIN)
    relay.heal()

    # The primary answers again (through the relay too) and a new change is made.
    zone.nsupdate('update add after.%s. 60 A 192.0.2.2' % zone.zone)
    target = client.read_serial()
    # The NOTIFY of that change reaches the secondary and its transfer is skipped from the cache.
    _wait_for_log(secondary, SKIPPED_CACHED, 1, 30)

    results, warnings = dns_verify.wait_for_servers(client, zone.verify_servers(), [], target, timeout=5)
    assert warnings == []
    by_name = dict((result['name'], result) for result in results)
    assert by_name['primary']['in_sync'] is True
    stale = by_name[secondary.label]
    assert stale['answered'] is True and stale['in_sync'] is False
    # Read back with another tool: the secondary really serves the old serial.
    assert zone.serial(secondary) < target

    message = dns_verify.out_of_sync_message(results, target, 5)
    assert secondary.label in message
    assert 'unreachable (cached)' in message
    assert 'restart named on that server' in message

    # What the message advises works: the cache lives in the named process.
    secondary.stop()
    secondary.start()
    zone._wait_serving([secondary], transports=(True,))
    results, warnings = dns_verify.wait_for_servers(client, zone.verify_servers(), [], target, timeout=30)
    assert warnings == [] and all(result['in_sync'] for result in results), results
    assert zone.serial(secondary) == target
