#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dns_record
short_description: Change DNS records in one atomic TSIG-signed dynamic update and verify that every server serves them
version_added: 0.1.0
description:
  - Changes several DNS records of one zone in ONE RFC 2136 UPDATE sent to the zone's primary,
    signed with a TSIG key (hmac-sha256 by default). Either all changes are applied or none.
  - Supports compare-and-swap per record (O(records[].expect)), sent as UPDATE prerequisites, so a
    switch of the master name is only made if the name still points where the caller believes.
  - Reads the current records from the primary with signed queries first; records that already
    hold the wanted data are not touched, and when all do no update is sent.
  - Reads the result back from the primary and then waits until every server in O(verify_servers)
    serves the new SOA serial and the new data.
  - Runs where the DNS servers are reached from, normally the controller. On a local connection its
    action plugin runs the module's code inside the controller's Ansible process (no module transfer
    or interpreter start); on any other connection, or with C(async), the module runs on that host.
author:
  - Genesys DR framework team (!UNKNOWN)
extends_documentation_fragment:
  - genesys_dr.framework.dns
  - genesys_dr.framework.dns.records
  - genesys_dr.framework.dns.verify
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the current records and the servers' answers, returns the UPDATE it would send in RV(update) and sends nothing.
  diff_mode:
    support: full
    details: Before and after are the rrsets in zone-file text.
  platform:
    platforms: posix
options:
  records:
    description:
      - The records to change, all in ONE atomic UPDATE.
    required: true
'''

EXAMPLES = r'''
- name: Point the master Configuration Server name at site2, only if it still points at site1
  genesys_dr.framework.dns_record:
    server: "{{ dns_primary_address }}"
    zone: "{{ dns_zone }}"
    key_name: "{{ dns_tsig_key_name }}"
    key_secret: "{{ dns_tsig_key_secret }}"
    records:
      - name: cs-master
        type: A
        ttl: 30
        value: ["{{ site2_mgmt_address }}"]
        expect: ["{{ site1_mgmt_address }}"]
    verify_servers: "{{ dns_authoritative_servers }}"
    verify_timeout: 30

- name: Change an A record and a TXT record together, with the key from a BIND key file
  genesys_dr.framework.dns_record:
    server: ns1.example.com
    zone: example.com
    key_file: /etc/genesys-dr/tsig.key
    records:
      - name: app
        type: A
        value: [192.0.2.10]
      - name: _app-info
        type: TXT
        value: ["owner=genesys", "site=site1"]

- name: Remove a record, and verify both secondaries except the one of a lost site
  genesys_dr.framework.dns_record:
    server: ns1.example.com
    zone: example.com
    key_file: /etc/genesys-dr/tsig.key
    records:
      - name: old-host
        type: A
        state: absent
    verify_servers:
      - name: ns2.example.com
      - name: ns3.example.com
        skip: true
        skip_reason: site2 is lost
'''

RETURN = r'''
records:
  description: One entry per requested record, in the order of O(records).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Absolute owner name.
      type: str
      sample: cs-master.example.com.
    type:
      description: Record type.
      type: str
      sample: A
    state:
      description: The requested state.
      type: str
      sample: present
    changed:
      description: Whether the update changes this rrset.
      type: bool
    compare_and_swap:
      description:
        - V(none) without O(records[].expect), V(expected) when the current data was the expected one,
          V(already_target) when the record already held the wanted data (expectation satisfied by the result).
      type: str
      sample: expected
    before:
      description: The rrset at the primary before the update.
      type: dict
      contains:
        exists:
          description: Whether the rrset exists.
          type: bool
        ttl:
          description: TTL, null when the rrset does not exist.
          type: int
        value:
          description: Data in the format of O(records[].value).
          type: list
          elements: str
        rdata:
          description: Each record's data in zone-file syntax.
          type: list
          elements: str
    after:
      description:
        - The rrset read back from the primary after the update (without an update, the same as RV(records[].before)).
        - In check mode, the rrset the update would produce.
      type: dict
      contains:
        exists:
          description: Whether the rrset exists.
          type: bool
        ttl:
          description: TTL, null when the rrset does not exist.
          type: int
        value:
          description: Data in the format of O(records[].value).
          type: list
          elements: str
        rdata:
          description: Each record's data in zone-file syntax.
          type: list
          elements: str
update:
  description: The UPDATE in nsupdate syntax (also in check mode, where it is not sent).
  returned: always
  type: dict
  contains:
    zone:
      description: The zone updated.
      type: str
      sample: example.com.
    prerequisites:
      description: The prerequisites (compare-and-swap conditions).
      type: list
      elements: str
      sample: ["prereq yxrrset cs-master.example.com. A 192.0.2.10"]
    changes:
      description: The changes; empty when nothing needs to change.
      type: list
      elements: str
      sample: ["update delete cs-master.example.com. A", "update add cs-master.example.com. 30 A 192.0.2.20"]
    sent:
      description: Whether the update was sent and accepted.
      type: bool
serial:
  description:
    - The SOA serial of the zone read from the primary after the update (or now, when nothing was sent).
    - On failure the last serial read, null when the primary could not be read at all.
  returned: always
  type: int
  sample: 2025010105
verify_seconds:
  description:
    - Seconds spent asking the servers of O(verify_servers) (and waiting for them to serve the update);
      null when the module stopped before it asked them.
  returned: always
  type: float
  sample: 0.42
servers:
  description: What each server of O(verify_servers) served at the end.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The server's name as given.
      type: str
    address:
      description: The address queried.
      type: str
    port:
      description: The port queried.
      type: int
    skipped:
      description: Whether the server was skipped (not queried).
      type: bool
    skip_reason:
      description: Why it was skipped.
      type: str
    serial:
      description: The SOA serial it served last, null if it never answered.
      type: int
    answer:
      description: Per record (C(<name> <type>)), the data it served last, in the format of O(records[].value).
      type: dict
      sample: {"cs-master.example.com. A": ["192.0.2.20"]}
    in_sync:
      description: Whether it serves a serial at least RV(serial) and exactly the records of RV(records[].after); null when skipped.
      type: bool
    answered:
      description:
        - Whether it answered any query; V(false) for a server given up after O(timeout) seconds without an answer (not verified,
          not a failure). Null when skipped.
      type: bool
    error:
      description: The last error querying it, null if none.
      type: str
'''

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_options import run_dns_module
from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_record import DnsRecords, module_options


def main():
    run_dns_module(DnsRecords, **module_options())


if __name__ == '__main__':
    main()
