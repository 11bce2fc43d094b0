# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verification of a DNS change: poll the zone's authoritative servers until each serves the new
serial and the expected records, giving up on a server that does not answer at all.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_client import DNSError, serial_at_least
from ansible_collections.genesys_dr.framework.plugins.module_utils.waiting import pauses


POLL_INTERVAL = 0.25
# The shortest per-query timeout used while the verification deadline runs out.
MIN_QUERY_TIMEOUT = 0.2


def _observe_server(client, endpoint, expectations, timeout):
    serial = client.read_serial(endpoint, timeout)
    answer = {}
    matches = True
    for expected in expectations:
        now = client.read_rrset(expected.name, expected.rdtype, endpoint, timeout)
        answer[expected.key] = now.values
        matches = matches and now.rdatas == expected.rdatas
    return serial, answer, matches


def wait_for_servers(client, servers, expectations, serial, timeout, wait=True):
    """Poll authoritative servers until each serves SOA serial >= serial and the expected rrsets.

    servers: dicts with name, address, port, skip, skip_reason (the verify_servers option).
    expectations: RRState objects as read back from the primary.
    With wait=False every server is observed once (status and check mode).
    Returns (results, warnings); results hold name, address, port, skipped, skip_reason,
    serial, answer, in_sync, answered and error per server. A server that rejects the key is
    not polled again.

    A server that has not answered a single query for the client's per-query timeout is
    given up (answered false, a warning): it is down or cut off, it cannot serve anything,
    and it fetches the new zone by NOTIFY/refresh when it is back. Waiting the whole
    verification deadline for it and then failing stopped a failover after its switch and
    before any master was started, for every site, over one DNS server. Only a server that
    answers with data older than the primary's is waited for and fails the verification.
    """
    results = []
    warnings = []
    pending = []
    for server in servers or []:
        result = dict(name=server['name'], address=server.get('address') or server['name'], port=server.get('port') or client.port,
                      skipped=bool(server.get('skip')), skip_reason=server.get('skip_reason'), serial=None, answer={},
                      in_sync=None, answered=None, error=None)
        results.append(result)
        if result['skipped']:
            warnings.append('DNS server %s was not verified: %s' % (server['name'], server.get('skip_reason') or 'marked skip (lost)'))
            continue
        result['in_sync'] = False
        result['answered'] = False
        pending.append((result, client.endpoint('DNS server %s' % server['name'], result['address'], result['port'])))
    started = time.monotonic()
    deadline = started + (timeout if wait else 0)
    # Short pauses first: a secondary usually serves a change tens of milliseconds after NOTIFY.
    pause = pauses(POLL_INTERVAL)
    while pending:
        still = []
        for result, endpoint in pending:
            query_timeout = max(MIN_QUERY_TIMEOUT, min(client.timeout, deadline - time.monotonic())) if wait else client.timeout
            try:
                result['serial'], result['answer'], matches = _observe_server(client, endpoint, expectations, query_timeout)
            except DNSError as exc:
                result['error'] = str(exc)
                if exc.kind in ('auth', 'config'):
                    # It answered, and refused the key: asking again cannot help.
                    result['answered'] = True
                elif exc.kind == 'unreachable' and not result['answered'] and time.monotonic() - started >= client.timeout:
                    warnings.append(_unanswered_warning(result, client.timeout))
                else:
                    still.append((result, endpoint))
                continue
            result['error'] = None
            result['answered'] = True
            result['address'] = endpoint.address
            result['in_sync'] = serial_at_least(result['serial'], serial) and matches
            if not result['in_sync']:
                still.append((result, endpoint))
        pending = still
        remaining = deadline - time.monotonic()
        if not pending or not wait or remaining <= 0:
            break
        time.sleep(min(next(pause), remaining))
    if wait:
        # The deadline ran out (a verify_timeout shorter than the per-query timeout) before a
        # server that never answered was given up: it is as unverifiable as one given up.
        warnings.extend(_unanswered_warning(result, timeout) for result, dummy in pending if not result['answered'])
    return results, warnings


def _unanswered_warning(result, seconds):
    return ('DNS server %s did not answer for %.0f s and was not verified (%s). The update is done at the primary; hosts that resolve '
            'through this server get the new answer when it is back and has fetched the zone (NOTIFY/refresh)'
            % (result['name'], seconds, result['error']))


def out_of_sync_message(results, serial, timeout):
    """None when every verified server is in sync, else a message naming each laggard."""
    lagging = []
    for result in results:
        if result['skipped'] or result['in_sync'] or result.get('answered') is False:
            continue
        if result['error']:
            lagging.append('%s: %s' % (result['name'], result['error']))
        else:
            lagging.append('%s serves serial %s and %s' % (result['name'], result['serial'], result['answer']))
    if not lagging:
        return None
    # A BIND secondary whose transfer connects to the primary failed twice within 600 s (a partition or
    # an outage of a few minutes) skips every transfer from it until 600 s after the last failure. Measured
    # on BIND 9.18: neither a new NOTIFY (a second update, a serial bump) nor rndc refresh/retransfer ends
    # that; the cache lives in the named process, so a restart of that named does.
    return ('not every DNS server serves the new data (serial %s) after %s s: %s. The update itself is done at the primary; check zone '
            'transfers (NOTIFY/AXFR, allow-transfer) to these servers, or mark a lost server skip: true. A BIND secondary that could not '
            'reach the primary for a few minutes skips transfers from it for up to 10 minutes after its last failed attempt, even when '
            'NOTIFY arrives and after rndc retransfer (its log says "skipping zone transfer as primary ... is unreachable (cached)"): '
            'restart named on that server, or run again after that time'
            % (serial, timeout, '; '.join(lagging)))
