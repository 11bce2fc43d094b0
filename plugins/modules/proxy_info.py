#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: proxy_info
short_description: Read which master each Configuration Server Proxy is connected to, changing nothing
version_added: 0.3.0
description:
  - For each proxy of O(name), reads its processes and the TCP connections they opened, the way
    M(genesys_dr.framework.proxy_reconnect) does, and whether one of them is an ESTABLISHED connection to one of
    O(master_address) on one of O(master_ports) - a proxy without one serves in limited mode.
  - Flushes, signals and waits for nothing; a proxy that does not run is reported with no pids, not as a failure.
    This is how C(status.yml) shows each proxy's mode and master.
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
options:
  name:
    description:
      - AppNames of the proxies on this host (the C(-app) argument of their command line).
    type: list
    elements: str
    required: true
  master_address:
    description:
      - IP addresses of the hosts whose master Configuration Servers count as a master (every management host, to
        see which one a proxy follows). An IPv4-mapped IPv6 peer address matches the IPv4 address.
    type: list
    elements: str
    required: true
  master_ports:
    description:
      - Ports of the master Configuration Servers (primary and backup).
    type: list
    elements: int
    required: true
seealso:
  - module: genesys_dr.framework.proxy_reconnect
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Which master the proxies of this host follow
  genesys_dr.framework.proxy_info:
    name: [CSProxy_site2, CSProxy_site2_backup]
    master_address: [192.0.2.21, 198.51.100.21]
    master_ports: [8888, 8889]
  register: proxies

- name: Name the proxies in limited mode
  ansible.builtin.debug:
    msg: "{{ proxies.proxies | rejectattr('connected') | map(attribute='name') | list }}"
'''

RETURN = r'''
connected:
  description: Whether every proxy holds an ESTABLISHED connection to a master.
  returned: always
  type: bool
  sample: true
proxies:
  description: One entry per proxy of O(name), in that order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: AppName.
      type: str
    pids:
      description: Pids of its processes; empty when it does not run.
      type: list
      elements: int
    connected:
      description: Whether it holds an ESTABLISHED connection to a master.
      type: bool
    master:
      description: Remote endpoint of that connection (IPv6 as C([address]:port)); empty string when not connected.
      type: str
  sample:
    - {name: CSProxy_site2, pids: [3141], connected: true, master: "192.0.2.21:8888"}
connections:
  description: TCP connections (every state except LISTEN) held by the proxy processes.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: AppName of the proxy holding the connection.
      type: str
    pid:
      description: Process holding the connection.
      type: int
    local:
      description: Local address and port.
      type: str
    remote:
      description: Remote address and port.
      type: str
    state:
      description: TCP state, for example C(ESTABLISHED) or C(SYN_SENT).
      type: str
  sample:
    - {name: CSProxy_site2, pid: 3141, local: "192.0.2.30:48712", remote: "192.0.2.21:8888", state: ESTABLISHED}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.genesys_process import ProcAccessError
from ansible_collections.genesys_dr.framework.plugins.module_utils.proxy import master_addresses, ProxyConnections


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='list', elements='str', required=True),
            master_address=dict(type='list', elements='str', required=True),
            master_ports=dict(type='list', elements='int', required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params['name'] or not all(params['name']):
        module.fail_json(msg='name must list at least one proxy (got: %s)' % ', '.join(params['name'] or []))
    try:
        addresses = master_addresses(params['master_address'])
    except ValueError as exc:
        module.fail_json(msg='master_address %r is not an IP address' % ('%s' % exc))
    if not addresses or not params['master_ports']:
        module.fail_json(msg='master_address and master_ports must each name at least one')
    connections = ProxyConnections(params['name'], addresses, params['master_ports'])
    try:
        seen = connections.observe()
    except ProcAccessError as exc:
        module.fail_json(msg='%s' % exc)
    module.exit_json(changed=False, **ProxyConnections.report(seen))


if __name__ == '__main__':
    main()
