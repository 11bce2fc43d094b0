# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runner of the dr_state module (documentation: plugins/modules/dr_state.py): the DR state and the
DR operation lock as TXT records (read, set, lock, unlock). Its action plugin runs it in the controller's process.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import time

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_client import absolute_name, DNSClient, DNSError, make_rdatas, record_type
from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_options import (
    dns_connection_argument_spec,
    dns_records_argument_spec,
    dns_verify_argument_spec,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_update import (
    check_conflicts,
    plan_records,
    RecordPlan,
    RecordRequest,
    records_from_params,
    UpdatePipeline,
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
        pipeline = UpdatePipeline(self.module, self.client, self.result)
        # result['records'] reports the records changed with the state: plans[1:] (plans[0] is the state record).
        afters = pipeline.send(plans, reported=1)
        if self.broken_lock is not None:
            self.module.warn('%s the stale DR operation lock %s of %s: make sure that run is really dead'
                             % ('would break' if self.module.check_mode else 'broke', self.lock_name, describe_lock(self.broken_lock)))
        for after in afters:
            if after.name == self.state_name and after.rdtype == self.txt:
                self.result['dr_state'] = txt_fields(after)
            elif after.name == self.lock_name and after.rdtype == self.txt:
                self.result['lock'] = lock_view(after, self.now)
        # A read (no plans) observes each server once against what the primary serves now.
        pipeline.verify(afters if plans else observed_now, wait=bool(plans))


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
