#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dr_state
short_description: Read and change the DR state and the DR operation lock kept in DNS
version_added: 0.1.0
description:
  - Keeps the disaster-recovery state machine of a Genesys deployment in DNS, next to the A record of
    the master Configuration Server name, so it survives the loss of either site and the master name
    switch and the state change can be made in ONE signed RFC 2136 UPDATE (O(records)).
  - The state machine is C(NORMAL) --failover--> C(FAILED_OVER) --reprotect--> C(REPROTECTED) --failback--> C(NORMAL).
    This module does not judge transitions; the caller names the state(s) it expects (compare-and-swap).
  - 'The state is ONE TXT record at O(state_name) whose character-strings are C(key=value):
    C(state=NORMAL|FAILED_OVER|REPROTECTED), C(live_site=<site>), C(run=<run id>),
    C(changed=<ISO-8601 UTC time>), C(operation=<name>).'
  - 'The one-operation-at-a-time lock is ONE TXT record at O(lock_name) with the strings
    C(holder=<run id>), C(operation=<name>), C(since=<epoch seconds>), C(host=<host running the module>).
    It exists only while an operation holds it.'
  - All reads and writes go to the zone's primary with TSIG-signed messages; every change is
    conditioned by prerequisites on exactly what was read, so two runs cannot both win.
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
    details: Reads state and lock, returns the UPDATE it would send in RV(update) and sends nothing.
  diff_mode:
    support: full
    details: Before and after are the state, lock and record rrsets in zone-file text.
  platform:
    platforms: posix
options:
  action:
    description:
      - V(read) returns the state and the lock.
      - V(set) changes the state (and O(records)) if the current state is one of O(expect_state).
        When the state and live site are already the wanted ones nothing is written (a re-run),
        whatever O(expect_state) says. When O(lock_name) is given and something must be written,
        the lock must be held by O(run_id), and the update is conditioned on it.
      - V(lock) takes the lock for O(run_id). Already held by O(run_id) is success without change,
        so a re-run after a crash with the same run id proceeds. Held by another run fails, naming
        holder, operation and age, unless O(break_stale_lock) applies.
      - V(unlock) removes the lock if O(run_id) holds it; a free lock is success without change;
        a lock of another run fails.
    type: str
    default: read
    choices: [read, set, lock, unlock]
  state_name:
    description:
      - Owner name of the state TXT record, relative to O(zone) or absolute, for example C(_dr-state.cs-master).
    type: str
    required: true
  lock_name:
    description:
      - Owner name of the lock TXT record, for example C(_dr-lock.cs-master).
      - Required for O(action=lock) and O(action=unlock).
    type: str
  run_id:
    description:
      - Identifier of the DR run (one playbook run, or its re-runs that must continue it).
      - Required for O(action=set), O(action=lock) and O(action=unlock).
    type: str
  operation:
    description:
      - Name of the DR operation, for example C(failover), C(reprotect), C(failback), C(normal).
      - Required for O(action=set) and O(action=lock).
    type: str
  state:
    description:
      - The DR state to set. Required for O(action=set).
    type: str
    choices: [NORMAL, FAILED_OVER, REPROTECTED]
  live_site:
    description:
      - The site whose master Configuration Server is (to be) live in O(state). Required for O(action=set).
    type: str
  expect_state:
    description:
      - The states from which O(action=set) may change the state. V(ABSENT) means no state record
        exists yet (first initialisation). Required for O(action=set).
    type: list
    elements: str
    choices: [NORMAL, FAILED_OVER, REPROTECTED, ABSENT]
  expect_live_site:
    description:
      - With O(action=set), also require that the current live site is this one.
    type: str
  records:
    description:
      - With O(action=set), more records changed in the SAME update as the state, for example the
        master name A record (with its own O(records[].expect)). Only used with O(action=set).
  ttl:
    description:
      - TTL of the state and lock records.
    type: int
    default: 60
  break_stale_lock:
    description:
      - With O(action=lock), take over a lock of another run that is older than O(stale_after)
        seconds (compare-and-swap on its exact content). A warning names the broken holder.
      - Only for a run known to be dead; a live run that lost its lock fails at its next change.
    type: bool
    default: false
  stale_after:
    description:
      - Age in seconds from which O(break_stale_lock) may break a lock. Required with O(break_stale_lock=true).
    type: int
  take_over_from:
    description:
      - With O(action=lock), take over the lock only when it is held by exactly this run id, whatever its
        age (compare-and-swap on the lock as read, so a lock taken meanwhile by another run is never broken).
        A warning names the taken-over holder.
      - For an operator who has checked that the named run is dead and abandons it. A free lock, or one held
        by O(run_id), is taken as usual; a lock of any other run fails as usual.
    type: str
    version_added: 0.2.0
'''

EXAMPLES = r'''
- name: Take the DR operation lock
  genesys_dr.framework.dr_state:
    server: "{{ dns_primary_address }}"
    zone: "{{ dns_zone }}"
    key_file: "{{ dns_tsig_key_file }}"
    state_name: _dr-state.cs-master
    lock_name: _dr-lock.cs-master
    action: lock
    run_id: "{{ dr_run_id }}"
    operation: failover
  delegate_to: localhost

- name: Switch the master name to site2 and record FAILED_OVER in one update
  genesys_dr.framework.dr_state:
    server: "{{ dns_primary_address }}"
    zone: "{{ dns_zone }}"
    key_file: "{{ dns_tsig_key_file }}"
    state_name: _dr-state.cs-master
    lock_name: _dr-lock.cs-master
    action: set
    run_id: "{{ dr_run_id }}"
    operation: failover
    expect_state: [NORMAL]
    expect_live_site: site1
    state: FAILED_OVER
    live_site: site2
    records:
      - name: cs-master
        type: A
        ttl: 30
        value: ["{{ site2_mgmt_address }}"]
        expect: ["{{ site1_mgmt_address }}"]
    verify_servers: "{{ dns_authoritative_servers }}"
  delegate_to: localhost

- name: Read the DR state
  genesys_dr.framework.dr_state:
    server: "{{ dns_primary_address }}"
    zone: "{{ dns_zone }}"
    key_file: "{{ dns_tsig_key_file }}"
    state_name: _dr-state.cs-master
    lock_name: _dr-lock.cs-master
  register: dr
  delegate_to: localhost

- name: Take over the lock of a run that died more than an hour ago
  genesys_dr.framework.dr_state:
    server: "{{ dns_primary_address }}"
    zone: "{{ dns_zone }}"
    key_file: "{{ dns_tsig_key_file }}"
    state_name: _dr-state.cs-master
    lock_name: _dr-lock.cs-master
    action: lock
    run_id: "{{ dr_run_id }}"
    operation: failover
    break_stale_lock: true
    stale_after: 3600
  delegate_to: localhost

- name: Release the lock
  genesys_dr.framework.dr_state:
    server: "{{ dns_primary_address }}"
    zone: "{{ dns_zone }}"
    key_file: "{{ dns_tsig_key_file }}"
    state_name: _dr-state.cs-master
    lock_name: _dr-lock.cs-master
    action: unlock
    run_id: "{{ dr_run_id }}"
  delegate_to: localhost
'''

RETURN = r'''
dr_state:
  description:
    - The DR state read back from the primary after the action (in check mode, the state it would set),
      as the C(key=value) strings of the state record; null when no state record exists.
    - Holds at least C(state), C(live_site), C(run), C(changed) and C(operation) when this module wrote it.
  returned: always
  type: dict
  sample: {"state": "FAILED_OVER", "live_site": "site2", "run": "20250101T120000-failover", "changed": "2025-01-01T12:03:10Z", "operation": "failover"}
lock:
  description: The lock after the action (in check mode, the lock it would leave); null when free or when O(lock_name) is not given.
  returned: always
  type: dict
  contains:
    holder:
      description: Run id of the holder.
      type: str
    operation:
      description: Operation of the holder.
      type: str
    host:
      description: Host that took the lock.
      type: str
    since:
      description: Epoch seconds when it was taken; null if unreadable.
      type: int
    age_seconds:
      description: Seconds since it was taken; null if unreadable.
      type: int
previous:
  description: State and lock as read before the action.
  returned: always
  type: dict
  contains:
    dr_state:
      description: Like RV(dr_state), before the action.
      type: dict
    lock:
      description: Like RV(lock), before the action.
      type: dict
records:
  description: With O(action=set), the O(records) before and after, as the C(records) return of M(genesys_dr.framework.dns_record).
  returned: always
  type: list
  elements: dict
update:
  description: The UPDATE in nsupdate syntax (also in check mode, where it is not sent).
  returned: always
  type: dict
  contains:
    zone:
      description: The zone updated.
      type: str
    prerequisites:
      description: The prerequisites (compare-and-swap conditions).
      type: list
      elements: str
    changes:
      description: The changes; empty when nothing needs to change.
      type: list
      elements: str
    sent:
      description: Whether the update was sent and accepted.
      type: bool
serial:
  description:
    - The zone's SOA serial read from the primary after the action.
    - On failure the last serial read, null when the primary could not be read at all.
  returned: always
  type: int
verify_seconds:
  description:
    - Seconds spent asking the servers of O(verify_servers) (and waiting for them to serve the update);
      null when the module stopped before it asked them.
  returned: always
  type: float
  sample: 0.42
servers:
  description: What each server of O(verify_servers) served at the end, as the C(servers) return of M(genesys_dr.framework.dns_record).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_options import run_dns_module
from ansible_collections.genesys_dr.framework.plugins.module_utils.dr_state import DrState, module_options


def main():
    run_dns_module(DrState, **module_options())


if __name__ == '__main__':
    main()
