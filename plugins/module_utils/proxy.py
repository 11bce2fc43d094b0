# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which master each Configuration Server Proxy holds a connection to, read from the process
table and /proc/net/tcp: what proxy_reconnect converges and proxy_info reads."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

from ansible_collections.genesys_dr.framework.plugins.module_utils.genesys_process import (
    find_app_processes,
    plain_address,
    process_tcp_sockets,
)


def master_addresses(texts):
    """The plain addresses of ``texts``; ValueError naming the first that is not an IP address."""
    found = set()
    for text in texts:
        try:
            found.add(plain_address(ipaddress.ip_address(text.strip())))
        except ValueError:
            raise ValueError(text)
    return found


class ProxyConnections(object):
    """The proxies ``names`` and their connections to a master at ``addresses`` on ``ports``."""

    def __init__(self, names, addresses, ports):
        self.names = list(dict.fromkeys(names))
        self.addresses = set(addresses)
        self.ports = set(ports)

    def is_master(self, sock):
        return (sock.state == 'ESTABLISHED' and sock.remote_port in self.ports
                and plain_address(sock.remote_address) in self.addresses)

    def observe(self):
        """Per proxy name: its processes, its connections and the master connection if any
        (raises ProcAccessError when /proc cannot be read)."""
        seen = []
        for name in self.names:
            processes = find_app_processes(name)
            held = process_tcp_sockets(processes)
            listen_ports = set(sock.local_port for dummy, sock in held if sock.state == 'LISTEN')
            sockets = [(info, sock) for info, sock in held if sock.state != 'LISTEN']
            # Connections the proxy accepted on its own ports come from the applications it
            # serves; only the ones it opened can lead to a master.
            outbound = [(info, sock) for info, sock in sockets if sock.local_port not in listen_ports]
            master = [sock for dummy, sock in outbound if self.is_master(sock)]
            seen.append({'name': name, 'processes': processes, 'sockets': sockets, 'outbound': outbound,
                         'inbound': len(sockets) - len(outbound), 'master': master[0].remote if master else ''})
        return seen

    @staticmethod
    def report(seen):
        """What both modules return of an observation: connected, connections, proxies."""
        return dict(
            connected=all(entry['master'] for entry in seen),
            connections=[{'name': entry['name'], 'pid': info.pid, 'local': sock.local, 'remote': sock.remote, 'state': sock.state}
                         for entry in seen for info, sock in entry['sockets']],
            proxies=[{'name': entry['name'], 'pids': [p.pid for p in entry['processes']], 'connected': bool(entry['master']),
                      'master': entry['master']} for entry in seen],
        )
