# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record changes as one RFC 2136 update: what each requested change means given what the primary
serves (with its compare-and-swap expectation), the one signed UPDATE for all of them, sending it and
reading the result back, and the pipeline both DNS modules run (plan, send, read back, verify).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_client import (
    absolute_name,
    DNSError,
    make_rdatas,
    record_type,
    RRState,
    sorted_rdatas,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_verify import out_of_sync_message, wait_for_servers

try:
    import dns.rdataclass
    import dns.rdatatype
    import dns.update
except ImportError:
    pass  # dns_client.HAS_DNSPYTHON tells; the modules fail with missing_required_lib before any use.


DEFAULT_TTL = 3600


class RecordRequest(object):
    """One wanted record change: the target rrset and an optional compare-and-swap expectation."""

    def __init__(self, name, rdtype, state='present', rdatas=None, ttl=None, expect=None):
        self.name = name
        self.rdtype = rdtype
        self.state = state
        self.rdatas = rdatas
        self.ttl = ttl
        self.expect = expect

    @property
    def key(self):
        return '%s %s' % (self.name.to_text(), dns.rdatatype.to_text(self.rdtype))

    @classmethod
    def from_param(cls, record, zone):
        name = absolute_name(record['name'], zone)
        rdtype = record_type(record['type'])
        values = record.get('value')
        if record['state'] == 'present' and not values:
            raise DNSError('record %s %s: state=present needs at least one value; use state=absent to remove it'
                           % (name, dns.rdatatype.to_text(rdtype)), 'config')
        ttl = record.get('ttl')
        if ttl is not None and not 0 <= ttl < (1 << 31):
            raise DNSError('record %s %s: ttl %s is out of range (0..2147483647)' % (name, dns.rdatatype.to_text(rdtype), ttl), 'config')
        expect = record.get('expect')
        return cls(name, rdtype, record['state'],
                   None if values is None else make_rdatas(name, rdtype, values, zone),
                   ttl,
                   None if expect is None else make_rdatas(name, rdtype, expect, zone))


def records_from_params(records, zone):
    requests = [RecordRequest.from_param(record, zone) for record in records or []]
    seen = set()
    for request in requests:
        if request.key in seen:
            raise DNSError('record %s is listed twice: put all its values in one entry' % request.key, 'config')
        seen.add(request.key)
    return requests


# How a compare-and-swap expectation was met.
CAS_NONE = 'none'
CAS_EXPECTED = 'expected'
CAS_ALREADY = 'already_target'


class RecordPlan(object):
    """What one request means given the current rrset.

    I(after) is the planned rrset, I(prerequisite) None or the exact rdata set (possibly
    empty: must not exist) the UPDATE is conditioned on, I(conflict) a refusal message.
    """

    def __init__(self, request, before):
        self.request = request
        self.before = before
        self.prerequisite = None
        self.conflict = None
        self.compare_and_swap = CAS_NONE
        if request.state == 'present':
            target = request.rdatas
            ttl = request.ttl
            if ttl is None:
                ttl = before.ttl if before.exists else DEFAULT_TTL
        else:
            target = frozenset() if request.rdatas is None else before.rdatas - request.rdatas
            ttl = before.ttl
        self.after = RRState(request.name, request.rdtype, ttl, target)
        self.changed = not before.same_as(self.after)
        if request.expect is not None:
            if before.rdatas == target:
                # The change is already made: the expectation is satisfied by the result.
                self.compare_and_swap = CAS_ALREADY
                self.prerequisite = before.rdatas
            elif before.rdatas == request.expect:
                self.compare_and_swap = CAS_EXPECTED
                self.prerequisite = request.expect
            else:
                expected = RRState(request.name, request.rdtype, 0, request.expect)
                self.conflict = ('%s: expected %s (compare-and-swap) but the primary serves %s'
                                 % (request.key, expected.describe(), before.describe()))

    def to_result(self):
        return dict(name=self.request.name.to_text(), type=dns.rdatatype.to_text(self.request.rdtype), state=self.request.state,
                    changed=self.changed, compare_and_swap=self.compare_and_swap, before=self.before.to_dict(), after=self.after.to_dict())


class Prerequisite(object):
    """An RFC 2136 prerequisite (section 2.4).

    I(kind): C(yxrrset) (with rdatas: the rrset is exactly this set; without: it exists),
    C(nxrrset) (no rrset of that type), C(yxdomain) (name in use), C(nxdomain) (not in use).
    """

    def __init__(self, kind, name, rdtype=None, rdatas=None):
        self.kind = kind
        self.name = name
        self.rdtype = rdtype
        self.rdatas = rdatas

    def add_to(self, update):
        if self.kind == 'yxrrset':
            if self.rdatas:
                update.present(self.name, *sorted_rdatas(self.rdatas))
            else:
                update.present(self.name, self.rdtype)
        elif self.kind == 'nxrrset':
            update.absent(self.name, self.rdtype)
        elif self.kind == 'yxdomain':
            update.present(self.name)
        elif self.kind == 'nxdomain':
            update.absent(self.name)
        else:
            raise ValueError('unknown prerequisite kind %s' % self.kind)


def plan_prerequisites(plans):
    prerequisites = []
    for plan in plans:
        if plan.prerequisite is None:
            continue
        if plan.prerequisite:
            prerequisites.append(Prerequisite('yxrrset', plan.request.name, plan.request.rdtype, plan.prerequisite))
        else:
            prerequisites.append(Prerequisite('nxrrset', plan.request.name, plan.request.rdtype))
    return prerequisites


def build_update(client, plans, prerequisites=None):
    """ONE signed UPDATE with the changes of all plans, conditioned on all prerequisites.

    Returns None when no plan changes anything: then nothing is to be sent.
    """
    if not any(plan.changed for plan in plans):
        return None
    update = dns.update.UpdateMessage(client.zone)
    for prerequisite in plan_prerequisites(plans) + list(prerequisites or []):
        prerequisite.add_to(update)
    for plan in plans:
        if not plan.changed:
            continue
        request = plan.request
        if request.state == 'present':
            update.replace(request.name, plan.after.ttl, *sorted_rdatas(plan.after.rdatas))
        elif request.rdatas is None:
            update.delete(request.name, request.rdtype)
        else:
            update.delete(request.name, *sorted_rdatas(plan.before.rdatas & request.rdatas))
    client.key.sign(update)
    return update


def update_lines(update):
    """The UPDATE in nsupdate syntax: dict(prerequisites=[...], changes=[...])."""
    result = dict(prerequisites=[], changes=[])
    if update is None:
        return result
    for rrset in update.prerequisite:
        rdtype = dns.rdatatype.to_text(rrset.rdtype)
        if rrset.rdclass == dns.rdataclass.ANY:
            result['prerequisites'].append('prereq yxdomain %s' % rrset.name if rrset.rdtype == dns.rdatatype.ANY
                                           else 'prereq yxrrset %s %s' % (rrset.name, rdtype))
        elif rrset.rdclass == dns.rdataclass.NONE:
            result['prerequisites'].append('prereq nxdomain %s' % rrset.name if rrset.rdtype == dns.rdatatype.ANY
                                           else 'prereq nxrrset %s %s' % (rrset.name, rdtype))
        else:
            result['prerequisites'].extend('prereq yxrrset %s %s %s' % (rrset.name, rdtype, rd.to_text()) for rd in sorted_rdatas(rrset))
    for rrset in update.update:
        rdtype = dns.rdatatype.to_text(rrset.rdtype)
        if rrset.deleting == dns.rdataclass.ANY:
            result['changes'].append('update delete %s' % rrset.name if rrset.rdtype == dns.rdatatype.ANY
                                     else 'update delete %s %s' % (rrset.name, rdtype))
        elif rrset.deleting == dns.rdataclass.NONE:
            result['changes'].extend('update delete %s %s %s' % (rrset.name, rdtype, rd.to_text()) for rd in sorted_rdatas(rrset))
        else:
            result['changes'].extend('update add %s %d %s %s' % (rrset.name, rrset.ttl, rdtype, rd.to_text()) for rd in sorted_rdatas(rrset))
    return result


def read_current(client, requests):
    return dict((request.key, client.read_rrset(request.name, request.rdtype)) for request in requests)


def plan_records(client, requests, current=None):
    """Plan every request against the current rrsets at the primary.

    current: rrsets already read (by key); the others are read now.
    """
    current = dict(current or {})
    current.update(read_current(client, [request for request in requests if request.key not in current]))
    return [RecordPlan(request, current[request.key]) for request in requests]


def check_conflicts(plans):
    """Raise DNSError kind C(conflict) naming every record whose compare-and-swap expectation is not met."""
    conflicts = [plan.conflict for plan in plans if plan.conflict]
    if conflicts:
        raise DNSError('compare-and-swap refused, nothing was changed: %s' % '; '.join(conflicts), 'conflict')


def apply_update(client, update, plans):
    """Send the UPDATE and read the records back from the primary.

    Returns the observed rrsets (same order as plans). A failed prerequisite is explained
    by what the records hold now; a server that accepted the update but serves something
    else than planned is an error too.
    """
    try:
        client.send_update(update)
    except DNSError as exc:
        if exc.kind != 'prerequisite':
            raise
        moved = []
        for plan in plans:
            if plan.prerequisite is None:
                continue
            now = client.read_rrset(plan.request.name, plan.request.rdtype)
            if now.rdatas != plan.prerequisite:
                moved.append('%s is now %s (expected %s)' % (plan.request.key, now.describe(),
                                                             RRState(now.name, now.rdtype, 0, plan.prerequisite).describe()))
        detail = '; '.join(moved) if moved else 'the records match the expectation again, so another client changed them meanwhile: run again'
        raise DNSError('prerequisite failed (%s): the record is no longer what you expected; %s. Nothing was changed.' % (exc, detail),
                       'prerequisite')
    observed = [client.read_rrset(plan.request.name, plan.request.rdtype) for plan in plans]
    wrong = ['%s: planned %s, the primary serves %s' % (plan.request.key, plan.after.describe(), now.describe())
             for plan, now in zip(plans, observed) if plan.changed and not now.same_as(plan.after)]
    if wrong:
        raise DNSError('the primary accepted the update but does not serve the result (a CNAME or other data at the same name, or an '
                       'update-policy that drops records?): %s' % '; '.join(wrong), 'readback')
    return observed


def rrsets_diff(befores, afters, header):
    return dict(before=''.join(state.to_zone_text() for state in befores), after=''.join(state.to_zone_text() for state in afters),
                before_header=header, after_header=header)


class UpdatePipeline(object):
    """Plan, send, read back, verify: the one path of a record change in both DNS modules.

    module is what the module's runner has of AnsibleModule (params with verify_servers and
    verify_timeout, check_mode, _diff, warn); result is the runner's result, filled in step by
    step so that a failure still returns what was done.
    """

    def __init__(self, module, client, result):
        self.module = module
        self.client = client
        self.result = result

    def send(self, plans, reported=0):
        """Send the one UPDATE of plans and read the records back from the primary.

        Nothing is sent when no plan changes anything, nor in check mode (the update is only
        shown). The entries of result['records'] belong to plans[reported:]; each gets its
        record as read back. Returns the rrsets after: as read back, or as planned in check mode.
        """
        update = build_update(self.client, plans)
        self.result['update'].update(update_lines(update))
        self.result['changed'] = update is not None
        if update is None:
            afters = [plan.before for plan in plans]
        elif self.module.check_mode:
            afters = [plan.after for plan in plans]
        else:
            afters = apply_update(self.client, update, plans)
            self.result['update']['sent'] = True
            for entry, observed in zip(self.result['records'], afters[reported:]):
                entry['after'] = observed.to_dict()
        if self.module._diff:
            self.result['diff'] = rrsets_diff([plan.before for plan in plans], afters, 'zone %s' % self.client.zone)
        return afters

    def verify(self, expectations, wait=True):
        """Wait until every verify server serves the primary's serial and the expected rrsets.

        With wait false, or in check mode, each server is observed once and nothing fails.
        """
        wait = wait and not self.module.check_mode
        params = self.module.params
        self.result['serial'] = self.client.read_serial()
        started = time.monotonic()
        self.result['servers'], warnings = wait_for_servers(self.client, params['verify_servers'], expectations, self.result['serial'],
                                                            params['verify_timeout'], wait=wait)
        # Waiting for the DNS servers is waiting for the system: the run's report books it so.
        self.result['verify_seconds'] = round(time.monotonic() - started, 3)
        for warning in warnings:
            self.module.warn(warning)
        if wait:
            message = out_of_sync_message(self.result['servers'], self.result['serial'], params['verify_timeout'])
            if message:
                raise DNSError(message, 'verify')
