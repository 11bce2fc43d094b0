# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # Connection to the zone's primary and the TSIG key that signs every message.
    DOCUMENTATION = r'''
options:
  server:
    description:
      - The primary (master) DNS server of O(zone), as host name or IP address.
      - Updates and the reads that decide them go to this server only.
    type: str
    required: true
  port:
    description:
      - DNS port of O(server), and the default port of the other servers the module asks or verifies.
    type: int
    default: 53
  zone:
    description:
      - The zone that holds the records, for example C(genesys.example.com).
      - Relative record names are relative to this zone.
    type: str
    required: true
  key_name:
    description:
      - Name of the TSIG key that signs every message (queries included).
      - Required with O(key_secret). With O(key_file) it selects the key when the file holds several.
    type: str
  key_secret:
    description:
      - Base64 secret of the TSIG key O(key_name).
      - Never logged or returned.
      - Mutually exclusive with O(key_file).
    type: str
  key_algorithm:
    description:
      - HMAC algorithm of the TSIG key O(key_name).
      - Mutually exclusive with O(key_file), which names its own algorithm.
    type: str
    default: hmac-sha256
    choices: [hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512]
  key_file:
    description:
      - Path (on the host that runs the module) of a BIND key file as written by C(tsig-keygen),
        C(key "name" { algorithm hmac-sha256; secret "..."; };).
      - Either O(key_file) or O(key_name) and O(key_secret) must be given.
    type: path
  timeout:
    description:
      - Seconds to wait for the answer to each DNS message.
    type: float
    default: 10
  protocol:
    description:
      - Transport for DNS messages. C(udp) falls back to TCP for truncated answers.
    type: str
    default: tcp
    choices: [tcp, udp]
requirements:
  - dnspython >= 2.3
notes:
  - Every query and update is signed with the TSIG key and every answer must be signed back.
    A bad key name, a bad secret, a clock skew, a refusing or an unreachable server each fail with
    their own message.
'''

    # The records option shared by dns_record and dr_state.
    RECORDS = r'''
options:
  records:
    description:
      - Record changes, all sent in ONE atomic RFC 2136 UPDATE (all or nothing).
      - Records already as wanted are left out of the update; when none needs a change nothing is sent.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Owner name, relative to O(zone), or absolute with a final dot. V(@) is the zone apex.
          - A name without a final dot that already ends with the zone name is taken as absolute.
        type: str
        required: true
      type:
        description:
          - Record type, for example V(A), V(AAAA), V(CNAME), V(TXT), V(SRV).
        type: str
        required: true
      value:
        description:
          - The wanted data of the rrset, one string per record in zone-file syntax
            (V(192.0.2.10), V(10 mail), names relative to O(zone) unless they end with a dot).
          - For V(TXT) the whole list is ONE record and each string one character-string (max
            255 bytes), taken literally without zone-file quoting.
          - Required with O(records[].state=present). With V(absent) only these values are removed;
            without it the whole rrset of that type is removed.
        type: list
        elements: str
      ttl:
        description:
          - TTL of the rrset. When omitted an existing rrset keeps its TTL and a new one gets 3600.
        type: int
      state:
        description:
          - Whether the rrset must hold O(records[].value) or be removed.
        type: str
        default: present
        choices: [present, absent]
      expect:
        description:
          - Compare-and-swap. Apply the change only if the rrset currently is exactly this list
            (same syntax as O(records[].value)); V([]) means it must not exist.
          - The expectation is sent as an RFC 2136 prerequisite, so a change made by someone else
            between the read and the update also makes the whole update fail.
          - When the rrset already holds the wanted data the expectation counts as satisfied by the
            result (a re-run after a successful switch), nothing is changed and no error is raised.
          - When the rrset is neither the expected nor the wanted data the module fails, naming the
            record, what was expected and what is there, and changes nothing.
        type: list
        elements: str
'''

    # Verification that the authoritative servers serve the result.
    VERIFY = r'''
options:
  verify_servers:
    description:
      - Authoritative servers (the primary and the secondaries) that must serve the new data.
      - After the update (or when nothing had to change) each one is polled with signed queries until
        it serves a zone SOA serial at least the primary's and exactly the records as read back from
        the primary, or O(verify_timeout) runs out, which fails the task.
      - A server that does not answer at all for O(timeout) seconds (down, or cut off from this host) is not
        waited for and does not fail the task - a warning names it, and it fetches the new zone by
        NOTIFY/refresh when it is back. Only a server that answers with older data fails the task.
      - In check mode each server is asked once and nothing is waited for.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name of the server, used in results and messages (and as address when O(verify_servers[].address) is not set).
        type: str
        required: true
      address:
        description:
          - Host name or IP address to query.
        type: str
      port:
        description:
          - DNS port of this server; defaults to O(port).
        type: int
      skip:
        description:
          - Do not query this server (for example the secondary of a lost site); a warning names it.
        type: bool
        default: false
      skip_reason:
        description:
          - Why the server is skipped, repeated in the warning.
        type: str
  verify_timeout:
    description:
      - Seconds to wait, in total, for all O(verify_servers) to serve the new data.
    type: float
    default: 60
'''
