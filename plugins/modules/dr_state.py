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

import socket
import time

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns import (
    DNSClient,
    DNSError,
    RecordPlan,
    RecordRequest,
    absolute_name,
    apply_update,
    build_update,
    check_conflicts,
    dns_connection_argument_spec,
    dns_records_argument_spec,
    dns_verify_argument_spec,
    make_rdatas,
    out_of_sync_message,
    plan_records,
    record_type,
    records_from_params,
    rrsets_diff,
    update_lines,
    wait_for_servers,
    run_dns_module,
)

DR_STATES = ['NORMAL', 'FAILED_OVER', 'REPROTECTED']
NO_STATE = 'ABSENT'


def txt_fields(rrstate):
    """The C(key=value) strings of a TXT rrset as a dict; None when it does not exist."""
    if not rrstate.exists:
        return None
    fields = {}
    for text in rrstate.values:
        key, sep, value = text.partition('=')
        if sep:
            fields[key.strip()] = value
    return fields


def lock_view(rrstate, now):
    fields = txt_fields(rrstate) if rrstate is not None else None
    if fields is None:
        return None
    try:
        since = int(fields.get('since'))
    except (TypeError, ValueError):
        since = None
    return dict(holder=fields.get('holder'), operation=fields.get('operation'), host=fields.get('host'), since=since,
                age_seconds=None if since is None else int(now - since))


def describe_lock(lock):
    return 'run %s (operation %s, host %s, taken %s s ago)' % (lock['holder'], lock['operation'], lock['host'],
                                                               '?' if lock['age_seconds'] is None else lock['age_seconds'])


class DrState(object):
    """The actions of dr_state on the state and lock TXT records."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.now = time.time()
        self.client = None
        self.state_name = None
        self.lock_name = None
        self.txt = None
        # The stale lock that this run takes over; warned about once the takeover is done (or planned in check mode).
        self.broken_lock = None
        self.result = dict(changed=False, dr_state=None, lock=None, previous=dict(dr_state=None, lock=None), records=[],
                           serial=None, servers=[], verify_seconds=None, update=dict(zone=self.params['zone'], prerequisites=[], changes=[], sent=False))

    def run(self):
        if self.params['records'] and self.params['action'] != 'set':
            raise DNSError('records is only used with action=set (the records changed together with the state)', 'config')
        self.client = DNSClient.from_params(self.params)
        self.txt = record_type('TXT')
        zone = self.client.zone
        self.result['update']['zone'] = zone.to_text()
        # Zone, reachability and key are checked once before anything is read.
        self.result['serial'] = self.client.read_serial()
        self.state_name = absolute_name(self.params['state_name'], zone)
        self.lock_name = absolute_name(self.params['lock_name'], zone) if self.params['lock_name'] else None
        if self.lock_name == self.state_name:
            raise DNSError('state_name and lock_name must name different records (both are %s)' % self.state_name, 'config')
        state_before = self.client.read_rrset(self.state_name, self.txt)
        lock_before = self.client.read_rrset(self.lock_name, self.txt) if self.lock_name else None
        self.result['previous'] = dict(dr_state=txt_fields(state_before), lock=lock_view(lock_before, self.now))
        self.result['dr_state'], self.result['lock'] = self.result['previous']['dr_state'], self.result['previous']['lock']
        action = self.params['action']
        if action == 'read':
            plans = []
        elif action == 'set':
            plans = self.plan_set(state_before, lock_before)
        elif action == 'lock':
            plans = self.plan_lock(lock_before)
        else:
            plans = self.plan_unlock(lock_before)
        self.execute(plans, [state_before] + ([lock_before] if lock_before is not None else []))
        return self.result

    # ------------------------------------------------------------------ planning

    def _txt_request(self, name, rrstate, strings=None, expect=None, state='present'):
        """A TXT request; without strings it keeps rrstate as it is and only conditions the update on it."""
        if strings is None:
            return RecordRequest(name, rrstate.rdtype, state, None if state == 'absent' else rrstate.rdatas, rrstate.ttl,
                                 rrstate.rdatas if expect is None else expect)
        return RecordRequest(name, rrstate.rdtype, state, make_rdatas(name, rrstate.rdtype, strings, self.client.zone),
                             self.params['ttl'], expect)

    def plan_set(self, state_before, lock_before):
        params = self.params
        current = txt_fields(state_before)
        if current is not None and 'state' not in current:
            raise DNSError('the DR state record %s is malformed (no state=... string): it holds %s; repair or delete it by hand (nsupdate)'
                           % (self.state_name, state_before.values), 'conflict')
        current = current or {}
        if current.get('state') == params['state'] and current.get('live_site') == params['live_site']:
            # Already there (a re-run): keep the record as it is, only condition the update on it.
            state_request = self._txt_request(self.state_name, state_before)
        else:
            self.check_expected_state(current)
            strings = ['state=%s' % params['state'], 'live_site=%s' % params['live_site'], 'run=%s' % params['run_id'],
                       'changed=%s' % time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.now)), 'operation=%s' % params['operation']]
            state_request = self._txt_request(self.state_name, state_before, strings, expect=state_before.rdatas)
        requests = [state_request] + records_from_params(params['records'], self.client.zone)
        keys = [request.key for request in requests] + ([self.lock_name.to_text() + ' TXT'] if self.lock_name else [])
        if len(set(keys)) != len(keys):
            raise DNSError('records must not name the state or lock record, nor one record twice', 'config')
        plans = plan_records(self.client, requests, {state_request.key: state_before})
        self.result['records'] = [plan.to_result() for plan in plans[1:]]
        check_conflicts(plans)
        if self.lock_name and any(plan.changed for plan in plans):
            lock_plan = self.held_lock_plan(lock_before)
            if lock_plan is not None:
                plans.append(lock_plan)
        return plans

    def check_expected_state(self, current):
        params = self.params
        state = current.get('state', NO_STATE)
        wrong_site = params['expect_live_site'] is not None and current.get('live_site') != params['expect_live_site']
        if state in params['expect_state'] and not wrong_site:
            return
        expected = ' or '.join(params['expect_state'])
        if params['expect_live_site'] is not None:
            expected += ' with live site %s' % params['expect_live_site']
        if state == NO_STATE:
            found = 'no DR state record exists at %s (initialise it with expect_state: [ABSENT])' % self.state_name
        else:
            found = 'the DR state at %s is %s (live site %s), set by run %s (operation %s) at %s' % (
                self.state_name, state, current.get('live_site'), current.get('run'), current.get('operation'), current.get('changed'))
        raise DNSError('%s; this run (%s) expected %s. Nothing was changed.' % (found, params['run_id'], expected), 'conflict')

    def held_lock_plan(self, lock_before):
        """A prerequisite-only plan: the lock is still held by this run when the update is applied."""
        lock = lock_view(lock_before, self.now)
        run_id = self.params['run_id']
        if lock is None:
            if self.module.check_mode:
                # In check mode the lock step before this one did not really take the lock.
                return None
            raise DNSError('changing the DR state needs the DR operation lock %s held by this run (%s) but the lock is free: '
                           'take it first with action=lock' % (self.lock_name, run_id), 'conflict')
        if lock['holder'] != run_id:
            raise DNSError('changing the DR state needs the DR operation lock %s held by this run (%s) but it is held by %s. '
                           'Nothing was changed.' % (self.lock_name, run_id, describe_lock(lock)), 'conflict')
        return RecordPlan(self._txt_request(self.lock_name, lock_before), lock_before)

    def plan_lock(self, lock_before):
        params = self.params
        lock = lock_view(lock_before, self.now)
        strings = ['holder=%s' % params['run_id'], 'operation=%s' % params['operation'], 'since=%d' % int(self.now),
                   'host=%s' % socket.gethostname()]
        if lock is None:
            request = self._txt_request(self.lock_name, lock_before, strings, expect=frozenset())
        elif lock['holder'] == params['run_id']:
            request = self._txt_request(self.lock_name, lock_before)
        else:
            if not (params['take_over_from'] and lock['holder'] == params['take_over_from']):
                self.check_stale(lock)
            self.broken_lock = lock
            request = self._txt_request(self.lock_name, lock_before, strings, expect=lock_before.rdatas)
        return [RecordPlan(request, lock_before)]

    def check_stale(self, lock):
        params = self.params
        held = 'the DR operation lock %s is held by %s' % (self.lock_name, describe_lock(lock))
        if not params['break_stale_lock']:
            raise DNSError('%s: another DR operation is running. Wait for it to finish or, if that run is dead, run again with '
                           'break_stale_lock: true and stale_after: <seconds>' % held, 'conflict')
        if lock['age_seconds'] is None:
            raise DNSError('%s and has no readable since=...; its age is unknown, so it is not broken: check that no DR run is active '
                           'and delete it by hand (nsupdate)' % held, 'conflict')
        if lock['age_seconds'] < params['stale_after']:
            raise DNSError('%s, less than stale_after=%d s, so it is not broken' % (held, params['stale_after']), 'conflict')

    def plan_unlock(self, lock_before):
        lock = lock_view(lock_before, self.now)
        if lock is None:
            return []
        if lock['holder'] != self.params['run_id']:
            raise DNSError('the DR operation lock %s is held by %s, not by this run (%s). Nothing was changed.'
                           % (self.lock_name, describe_lock(lock), self.params['run_id']), 'conflict')
        return [RecordPlan(self._txt_request(self.lock_name, lock_before, expect=lock_before.rdatas, state='absent'), lock_before)]

    # ------------------------------------------------------------------ execution

    def execute(self, plans, observed_now):
        check_mode = self.module.check_mode
        client = self.client
        update = build_update(client, plans)
        self.result['update'].update(update_lines(update))
        self.result['changed'] = update is not None
        if update is None:
            afters = [plan.before for plan in plans]
        elif check_mode:
            afters = [plan.after for plan in plans]
        else:
            afters = apply_update(client, update, plans)
            self.result['update']['sent'] = True
            for entry, observed in zip(self.result['records'], afters[1:]):
                entry['after'] = observed.to_dict()
        if self.broken_lock is not None:
            self.module.warn('%s the stale DR operation lock %s of %s: make sure that run is really dead'
                             % ('would break' if check_mode else 'broke', self.lock_name, describe_lock(self.broken_lock)))
        for after in afters:
            if after.name == self.state_name and after.rdtype == self.txt:
                self.result['dr_state'] = txt_fields(after)
            elif after.name == self.lock_name and after.rdtype == self.txt:
                self.result['lock'] = lock_view(after, self.now)
        if self.module._diff:
            self.result['diff'] = rrsets_diff([plan.before for plan in plans], afters, 'zone %s' % client.zone)
        self.result['serial'] = client.read_serial()
        wait = bool(plans) and not check_mode
        timeout = self.params['verify_timeout']
        expectations = afters if plans else observed_now
        verify_started = time.monotonic()
        self.result['servers'], warnings = wait_for_servers(client, self.params['verify_servers'], expectations, self.result['serial'],
                                                            timeout, wait=wait)
        # Waiting for the DNS servers is waiting for the system: the run's report books it so.
        self.result['verify_seconds'] = round(time.monotonic() - verify_started, 3)
        for warning in warnings:
            self.module.warn(warning)
        if wait:
            message = out_of_sync_message(self.result['servers'], self.result['serial'], timeout)
            if message:
                raise DNSError(message, 'verify')


def module_options():
    """The argument spec and its constraints (keyword arguments of run_dns_module, and of the action plugin)."""
    argument_spec = dns_connection_argument_spec()
    argument_spec.update(
        action=dict(type='str', default='read', choices=['read', 'set', 'lock', 'unlock']),
        state_name=dict(type='str', required=True),
        lock_name=dict(type='str'),
        run_id=dict(type='str'),
        operation=dict(type='str'),
        state=dict(type='str', choices=DR_STATES),
        live_site=dict(type='str'),
        expect_state=dict(type='list', elements='str', choices=DR_STATES + [NO_STATE]),
        expect_live_site=dict(type='str'),
        records=dns_records_argument_spec(),
        ttl=dict(type='int', default=60),
        break_stale_lock=dict(type='bool', default=False),
        stale_after=dict(type='int'),
        take_over_from=dict(type='str'),
    )
    argument_spec.update(dns_verify_argument_spec())
    return dict(argument_spec=argument_spec, required_if=[
        ('action', 'set', ('run_id', 'operation', 'state', 'live_site', 'expect_state')),
        ('action', 'lock', ('lock_name', 'run_id', 'operation')),
        ('action', 'unlock', ('lock_name', 'run_id')),
        ('break_stale_lock', True, ('stale_after',)),
    ], mutually_exclusive=[('break_stale_lock', 'take_over_from')])


def main():
    run_dns_module(DrState, **module_options())


if __name__ == '__main__':
    main()
