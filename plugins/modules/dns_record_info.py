#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dns_record_info
short_description: Ask DNS servers what one record holds, with TSIG-signed queries, changing nothing
version_added: 0.3.0
description:
  - Asks each server of O(servers) (by default the zone's primary, O(server)) for the record O(name) of type
    O(type), with a query signed by the zone's TSIG key, and returns what each answered.
  - A server that does not answer, refuses or answers without a valid signature is reported in
    RV(answers[].error), not a failure, so the module can show which servers disagree or are down.
    Options that cannot be right (a zone, name or type that is not valid, no key) fail the module.
  - Sends no update. This is how C(status.yml) reads where every DNS server points the master name.
  - Runs where the DNS servers are reached from, normally the controller. On a local connection its
    action plugin runs the module's code inside the controller's Ansible process.
author:
  - Genesys DR framework team (!UNKNOWN)
extends_documentation_fragment:
  - genesys_dr.framework.dns
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  name:
    description:
      - The record's owner name, relative to O(zone) or absolute with a final dot (C(@) is the apex).
    type: str
    required: true
  type:
    description:
      - The record type.
    type: str
    default: A
  servers:
    description:
      - The servers to ask. Empty asks the zone's primary, O(server).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the server in the answer (and its address when O(servers[].address) is not given).
        type: str
        required: true
      address:
        description: Address to send the query to.
        type: str
      port:
        description: Port to send the query to; default O(port).
        type: int
seealso:
  - module: genesys_dr.framework.dns_record
'''

EXAMPLES = r'''
- name: Where every DNS server points the master Configuration Server name
  genesys_dr.framework.dns_record_info:
    server: "{{ dns_primary_address }}"
    zone: "{{ dns_zone }}"
    key_file: /etc/genesys-dr/tsig.key
    name: cs-master
    type: A
    servers:
      - name: dns1.site1
        address: 198.18.1.53
      - name: dns1.site2
        address: 198.18.2.53
  register: master_name

- name: Say whether they agree
  ansible.builtin.debug:
    msg: "{{ 'every server agrees' if master_name.agree else master_name.answers }}"
'''

RETURN = r'''
name:
  description: The absolute owner name asked for.
  returned: always
  type: str
  sample: cs-master.genesys.example.
type:
  description: The record type asked for.
  returned: always
  type: str
  sample: A
answers:
  description: One entry per server, in the order of O(servers).
  returned: always
  type: list
  elements: dict
  contains:
    server:
      description: The server's name (O(servers[].name)).
      type: str
    value:
      description:
        - The record's values as the server serves them (records sorted, a TXT record's strings in their order).
        - Empty when it has no such record; null when it did not answer.
      type: list
      elements: str
      sample: [198.18.1.10]
    ttl:
      description: The record's TTL; null when there is no record or no answer.
      type: int
    error:
      description: Why the server gave no usable answer; null when it answered.
      type: str
    error_kind:
      description: V(unreachable), V(auth), V(refused), V(notauth), V(protocol) or V(config); null when it answered.
      type: str
agree:
  description: Every server answered, with the same values.
  returned: always
  type: bool
'''

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_options import run_dns_module
from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_record_info import DnsRecordInfo, module_options


def main():
    run_dns_module(DnsRecordInfo, **module_options())


if __name__ == '__main__':
    main()
