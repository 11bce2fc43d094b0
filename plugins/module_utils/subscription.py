# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A subscription of the database the module connects to, fed by a publisher the module also talks to:
observed, converged to running / stopped / absent, drained, gated on lag."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.genesys_dr.framework.plugins.module_utils.waiting import pauses
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    exec_sql,
    int_to_lsn,
    lsn_to_int,
    parse_conninfo,
    pgsql,
    psycopg2,
    query_rows,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.logical_replication import (
    POLL_SECONDS,
    IDLE_READINGS,
    STOP_GRACE_SECONDS,
    PublisherLost,
    Publisher,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.subscription_state import SubscriptionState


class Subscription(SubscriptionState):
    """The subscription named by the module's options, converged to its O(state)."""

    def __init__(self, module, conn):
        super(Subscription, self).__init__(module, conn, module.params['name'],
                                           Publisher(module, module.params['publisher'], []))
        self.executed_queries = self.publisher.executed_queries
        self.params = module.params
        self.slot_name = module.params['slot_name'] or module.params['name']
        self.check_mode = module.check_mode
        self.changed = False
        self.orphaned_slots = []
        self.dropped_slots = set()
        self.catchup = None
        self.terminated_workers = []
        self.ended_idle_workers = []

    def conninfo_differs(self, initial):
        current = query_rows(self, 'SELECT subconninfo FROM pg_catalog.pg_subscription WHERE oid = %s', (initial['oid'],))[0][0]
        try:
            current = parse_conninfo(current)
        except psycopg2.ProgrammingError:
            return True
        wanted = dict((k, to_native(v)) for k, v in self.publisher.kw.items())
        return current != wanted

    # -- statements -------------------------------------------------------------------------

    def _run(self, query, params=None, query_text=None, return_rows=False):
        rows = exec_sql(self, query, params, return_rows=return_rows, dont_exec=self.check_mode, query_text=query_text)
        self.changed = True
        return rows

    def _alter(self, clause):
        self._run(pgsql.SQL('ALTER SUBSCRIPTION {n} ').format(n=pgsql.Identifier(self.name)) + pgsql.SQL(clause))

    def _create_statement(self, conninfo, enabled, copy_data):
        if enabled:
            options = pgsql.SQL('slot_name = {slot}, create_slot = true, enabled = true, copy_data = {copy}').format(
                slot=pgsql.Literal(self.slot_name), copy=pgsql.SQL('true' if copy_data else 'false'))
        else:
            options = pgsql.SQL('slot_name = NONE, create_slot = false, enabled = false, copy_data = false')
        return pgsql.SQL('CREATE SUBSCRIPTION {n} CONNECTION {c} PUBLICATION {p} WITH ({o})').format(
            n=pgsql.Identifier(self.name), c=pgsql.Literal(conninfo),
            p=pgsql.SQL(', ').join(pgsql.Identifier(p) for p in self.params['publications']), o=options)

    def _run_talking_to_publisher(self, query, query_text=None):
        """Run a statement for which the subscriber server itself talks to the publisher (creating a slot there waits
        for the transactions running on the publisher; a publisher whose processes hang never answers, whatever TCP
        says): bounded by worker_timeout, which the subscriber enforces."""
        if self.check_mode:
            return self._run(query, query_text=query_text)
        self.cursor.execute('SET statement_timeout = %s', (self.params['worker_timeout'] * 1000,))
        try:
            return self._run(query, query_text=query_text)
        finally:
            self.cursor.execute('RESET statement_timeout')

    def create(self, enabled, copy_data):
        query = self._create_statement(self.publisher.conninfo(), enabled, copy_data)
        text = self._create_statement(self.publisher.conninfo(masked=True), enabled, copy_data).as_string(self.conn)
        if enabled:
            self._run_talking_to_publisher(query, query_text=text)
        else:
            self._run(query, query_text=text)

    def set_connection(self):
        query = pgsql.SQL('ALTER SUBSCRIPTION {n} CONNECTION {c}').format(n=pgsql.Identifier(self.name), c=pgsql.Literal(self.publisher.conninfo()))
        text = pgsql.SQL('ALTER SUBSCRIPTION {n} CONNECTION {c}').format(
            n=pgsql.Identifier(self.name), c=pgsql.Literal(self.publisher.conninfo(masked=True))).as_string(self.conn)
        self._run(query, query_text=text)

    def set_publications(self):
        """Refreshing the table list needs an enabled subscription: refresh_tables does it once it runs."""
        self._run(pgsql.SQL('ALTER SUBSCRIPTION {n} SET PUBLICATION {p} WITH (refresh = false)').format(
            n=pgsql.Identifier(self.name), p=pgsql.SQL(', ').join(pgsql.Identifier(p) for p in self.params['publications'])))

    def drop(self):
        self._run(pgsql.SQL('DROP SUBSCRIPTION {n}').format(n=pgsql.Identifier(self.name)))

    # -- waiting ------------------------------------------------------------------------------

    def _wait(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        for pause in pauses(POLL_SECONDS):
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)

    def wait_streaming(self, oid):
        if self.check_mode:
            return
        if not self._wait(lambda: self.status_of(dict(self.positions(oid), exists=True, enabled=True)) == 'running', self.params['worker_timeout']):
            seen = ' (this module cannot reach it either: %s)' % self.publisher.error if not self.publisher.reachable else ''
            self.module.fail_json(msg=(
                'subscription %s is enabled but its apply worker is not streaming from the publisher at %s after %d s%s: '
                "look for the worker's error in the subscriber's server log (publisher unreachable or refusing the connection, "
                'publication or slot missing on the publisher, max_logical_replication_workers too low)') % (
                    self.name, self.publisher.target, self.params['worker_timeout'], seen),
                queries=self.executed_queries, subscription=self.observe())

    def end_idle_apply_worker(self, oid):
        """After DISABLE: end the apply worker if it sleeps outside a transaction.

        Such a worker has applied everything it read. It notices DISABLE only when it wakes up, up to a second
        later (the apply loop's nap), and until it is gone the subscription may still write, and its WAL sender
        holds the slot on the publisher. Ending it loses nothing it would have applied: a worker rereads its
        subscription before the first change of a transaction, so once awake it would stop there without applying
        more. Nothing more can come from a lost publisher anyway. A worker inside a transaction, or busy, is left
        to wait_workers_gone(), which gives it time to finish.
        """
        if self.check_mode:
            return
        # Read and signalled in one statement (see wait_workers_gone): only a worker that, at that moment, waits for
        # its publisher (LogicalApplyMain) without a transaction id.
        rows = exec_sql(self, 'WITH w AS MATERIALIZED (SELECT s.pid FROM pg_catalog.pg_stat_subscription s'
                              ' JOIN pg_catalog.pg_stat_activity a ON a.pid = s.pid'
                              " WHERE s.subid = %s AND s.relid IS NULL AND a.backend_xid IS NULL AND a.wait_event = 'LogicalApplyMain')"
                              ' SELECT pid FROM w WHERE pg_catalog.pg_terminate_backend(pid) ORDER BY 1', (oid,), return_rows=True)
        self.ended_idle_workers.extend(r[0] for r in rows)

    def wait_workers_gone(self, oid):
        """After DISABLE: give the workers a short time to exit by themselves, then end the rest.

        A worker inside a transaction rereads its subscription only once the transaction is over; when the
        publisher stops answering in the middle of sending one, that is not before wal_receiver_timeout or the
        TCP timeouts of its connection, if ever (a publisher whose processes hang but whose kernel still
        answers is never detected by TCP).
        """
        if self.check_mode:
            return
        timeout = self.params['worker_timeout']
        if self._wait(lambda: not self.worker_pids(oid), min(STOP_GRACE_SECONDS, timeout)):
            return
        # Read and signalled in one statement, so only processes that are workers of this subscription at that moment;
        # materialised first, so that the planner cannot call pg_terminate_backend() on rows of other subscriptions.
        rows = exec_sql(self, 'WITH w AS MATERIALIZED (SELECT pid FROM pg_catalog.pg_stat_subscription WHERE subid = %s AND pid IS NOT NULL)'
                              ' SELECT pid FROM w WHERE pg_catalog.pg_terminate_backend(pid) ORDER BY 1', (oid,), return_rows=True)
        ended = [r[0] for r in rows]
        self.terminated_workers.extend(ended)
        if ended:
            self.changed = True
            pids = ', '.join(str(p) for p in ended)
            self.module.warn(('terminated worker(s) %s of subscription %s, still running %g s after it was disabled (an apply worker '
                              'waiting for the rest of a transaction from a publisher that stopped answering, or still applying one); '
                              'their open transaction was rolled back') % (pids, self.name, min(STOP_GRACE_SECONDS, timeout)))
        if not self._wait(lambda: not self.worker_pids(oid), timeout):
            self.module.fail_json(msg=(
                'the workers of subscription %s (pids %s) are still running %d s after they were terminated: check the subscriber '
                'server log and the process table of the subscriber host') % (
                    self.name, ', '.join(str(p) for p in self.worker_pids(oid)), timeout),
                queries=self.executed_queries, terminated_workers=self.terminated_workers)

    # -- publisher-side work --------------------------------------------------------------------

    def require_publisher(self, why):
        if not self.publisher.reachable:
            self.module.fail_json(msg='cannot %s subscription %s: %s' % (why, self.name, self.publisher.error), publisher_reachable=False,
                                  queries=self.executed_queries)

    def check_publications(self):
        missing = sorted(set(self.params['publications']) - set(self.publisher.publications(self.params['publications'])))
        if missing and self.check_mode:
            # A check run cannot see publications an earlier task of the same run would create.
            self.module.warn('publication(s) %s do not exist (yet) on the publisher at %s: a real run fails here unless they are '
                             'created first (pg_publication)' % (', '.join(missing), self.publisher.target))
        elif missing:
            self.module.fail_json(msg='publication(s) %s do not exist on the publisher at %s: create them there first (pg_publication)' % (
                ', '.join(missing), self.publisher.target))

    def occupied_tables(self, only=None):
        """Local tables holding rows a copy would bring; refuse them unless truncate_before_copy."""
        published = self.publisher.published_tables(self.params['publications'])
        if only is not None:
            published = dict((k, v) for k, v in published.items() if '%s.%s' % k in only)
        occupied = []
        for (schema, table), filters in sorted(published.items()):
            ident = pgsql.Identifier(schema, table)
            if not query_rows(self, 'SELECT pg_catalog.to_regclass(%s)', (ident.as_string(self.conn),))[0][0]:
                self.module.fail_json(msg='table %s.%s is published by the publisher but does not exist in subscriber database %s: create the schema first' % (
                    schema, table, self.database))
            where = pgsql.SQL('') if filters is None else pgsql.SQL(' WHERE ') + pgsql.SQL(' OR ').join(pgsql.SQL('(%s)' % f) for f in filters)
            if query_rows(self, pgsql.SQL('SELECT EXISTS (SELECT 1 FROM {t}').format(t=ident) + where + pgsql.SQL(')'))[0][0]:
                occupied.append((schema, table, filters, where))
        if occupied and not self.params['truncate_before_copy']:
            self.module.fail_json(msg=(
                'refusing to copy into subscriber tables that already hold rows the copy would bring: %s. '
                'Archive their content, then set truncate_before_copy: true (or start without copy_data)') % ', '.join(
                    '%s.%s%s' % (s, t, '' if f is None else ' (rows matching %s)' % ' OR '.join(f)) for s, t, f, w in occupied),
                queries=self.executed_queries)
        return occupied

    def clear_tables(self, occupied):
        whole = [pgsql.Identifier(s, t) for s, t, f, w in occupied if f is None]
        if whole:
            self._run(pgsql.SQL('TRUNCATE {t}').format(t=pgsql.SQL(', ').join(whole)))
        for schema, table, filters, where in occupied:
            if filters is not None:
                self._run(pgsql.SQL('DELETE FROM {t}').format(t=pgsql.Identifier(schema, table)) + where)

    def drop_publisher_slots(self, detached, suboid):
        """Drop the subscription's slots on the publisher (the slot just detached, any slot of the wanted name, its table
        sync slots); when the publisher is unreachable, report the detached slot as orphaned."""
        names = sorted(set(n for n in (detached, self.slot_name) if n))
        if not self.publisher.reachable:
            self._orphaned(detached, self.publisher.error)
            return
        try:
            slots = self.publisher.slots_of(names, suboid)
            for slot in slots:
                if slot['active'] and not self.check_mode:
                    if not self._wait(lambda: not self.publisher.slot(slot['slot_name'])['active'], self.params['worker_timeout']):
                        self.module.fail_json(msg=(
                            'replication slot %s on the publisher at %s is still used by WAL sender pid %s %d s after the subscription was disabled: '
                            'another subscriber may use the same slot name; find it in pg_stat_replication there') % (
                                slot['slot_name'], self.publisher.target, slot['active_pid'], self.params['worker_timeout']),
                            queries=self.executed_queries)
                self._drop_slot(slot['slot_name'])
        except PublisherLost as e:
            self._orphaned(detached, to_native(e))

    def _orphaned(self, slot_name, why):
        if slot_name:
            self.orphaned_slots.append(slot_name)
            self.module.warn('replication slot %s of subscription %s is left on the publisher at %s, retaining WAL there: %s. '
                             'Drop it when the publisher is back (run again, or pg_slot)' % (slot_name, self.name, self.publisher.target, why))

    def _drop_slot(self, name):
        self.publisher.run('SELECT pg_catalog.pg_drop_replication_slot(%s)', (name,), check_mode=self.check_mode)
        self.dropped_slots.add(name)
        self.changed = True

    def fresh_slot(self):
        """Create a slot on the publisher at its current position; return its LSN (None in check mode)."""
        self.drop_stale_slot()
        if not self.check_mode:
            # Creating a logical slot waits for the transactions running on the publisher.
            self.publisher.cursor.execute('SET statement_timeout = %s', (self.params['worker_timeout'] * 1000,))
        try:
            rows = self.publisher.run("SELECT lsn::text FROM pg_catalog.pg_create_logical_replication_slot(%s, 'pgoutput')",
                                      (self.slot_name,), check_mode=self.check_mode)
        finally:
            if not self.check_mode:
                self.publisher.cursor.execute('RESET statement_timeout')
        self.changed = True
        return rows[0][0] if rows else None

    # -- lag and catch-up -------------------------------------------------------------------------

    def gate(self, initial):
        limit = self.params['max_lag_bytes']
        # A table still being copied is behind by rows the lag in bytes does not count: the apply worker
        # skips (and confirms) changes to it until its sync worker catches up.
        unsynced = ['%s (%s)' % (t['name'], t['state']) for t in initial['tables'] if t['state'] != 'ready']
        if unsynced:
            self.module.fail_json(msg=(
                'subscription %s has table(s) not yet in sync: %s; its lag in bytes does not count the rows still being copied. '
                'Nothing was changed. Wait until every table is ready (pg_subscription_rel) and try again') % (self.name, ', '.join(unsynced)),
                publisher_reachable=self.publisher.reachable, initial_state=initial)
        lag = self.lag(initial['slot_name'])
        if lag is None:
            why = self.publisher.error if not self.publisher.reachable else (
                'the subscription does not exist' if not initial['exists'] else 'it has no slot on the publisher (stopped?)')
            self.module.fail_json(msg='max_lag_bytes: cannot measure the lag of subscription %s (%s); nothing was changed' % (self.name, why),
                                  publisher_reachable=self.publisher.reachable, initial_state=initial)
        if lag > limit:
            self.module.fail_json(msg=(
                'subscription %s is %d bytes behind the publisher, more than max_lag_bytes %d; nothing was changed. '
                'Check its apply worker (pg_stat_subscription) and wait or raise the limit') % (self.name, lag, limit),
                lag_bytes=lag, publisher_reachable=True, initial_state=initial)

    def wait_for_catchup(self, oid):
        start = time.monotonic()
        state = self.observe()
        if self.check_mode or not state['enabled']:
            self.catchup = dict(mode='skipped', target_lsn=None, confirmed_flush_lsn=None, applied_lsn=state['applied_lsn'],
                                received_lsn=state['received_lsn'], seconds=0.0)
            return
        if self.publisher.reachable:
            try:
                self._catchup_with_publisher(state, start)
                return
            except PublisherLost as e:
                self.module.warn('%s while waiting for catch-up; waiting until the subscriber has applied what it received' % e)
        self._catchup_received(oid, start)

    def _catchup_with_publisher(self, state, start):
        timeout = self.params['catchup_timeout']
        target = self.publisher.insert_lsn()
        slot_name = state['slot_name']
        while True:
            slot = self.publisher.slot(slot_name)
            if not slot['exists']:
                self.module.fail_json(msg=(
                    'subscription %s is enabled but its slot %s does not exist on the publisher at %s: it cannot catch up. '
                    'Stop it (state=stopped) and start it again, with copy_data if the data may have diverged') % (
                        self.name, slot_name, self.publisher.target), publisher_reachable=True, queries=self.executed_queries)
            confirmed = lsn_to_int(slot['confirmed_flush_lsn'])
            current = self.observe()
            unsynced = [t['name'] + ' (' + t['state'] + ')' for t in current['tables'] if t['state'] != 'ready']
            if confirmed is not None and confirmed >= target and not unsynced:
                self.catchup = dict(mode='publisher', target_lsn=int_to_lsn(target), confirmed_flush_lsn=slot['confirmed_flush_lsn'],
                                    applied_lsn=current['applied_lsn'], received_lsn=current['received_lsn'], seconds=round(time.monotonic() - start, 3))
                return
            if time.monotonic() - start >= timeout:
                behind = 'an unknown amount' if confirmed is None else '%d bytes' % max(0, target - confirmed)
                self.module.fail_json(msg=(
                    'subscription %s has not caught up with the publisher within %d s: publisher position %s, confirmed by the subscriber %s, '
                    'behind by %s%s. Check the apply worker (pg_stat_subscription: worker_pid %s, received %s, applied %s), '
                    "the subscriber's server log for apply errors, and on the publisher the WAL sender (pg_stat_replication) and slot %s") % (
                        self.name, timeout, int_to_lsn(target), slot['confirmed_flush_lsn'], behind,
                        '; tables not yet in sync: ' + ', '.join(unsynced) if unsynced else '',
                        current['worker_pid'], current['received_lsn'], current['applied_lsn'], slot_name),
                    lag_bytes=None if confirmed is None else max(0, target - confirmed), publisher_reachable=True,
                    subscription=current, queries=self.executed_queries)
            time.sleep(POLL_SECONDS)

    def _catchup_received(self, oid, start):
        timeout = self.params['catchup_timeout']
        last_applied, last_received, idle_readings, received = None, None, 0, None
        while True:
            positions = self.positions(oid)
            received = positions['received_lsn'] or received
            now = time.monotonic()
            moved = (positions['applied_lsn'], positions['received_lsn']) != (last_applied, last_received)
            last_applied, last_received = positions['applied_lsn'], positions['received_lsn']
            # Waiting for the publisher inside a transaction, with nothing arriving: the rest of it is not coming.
            abandoned = positions['worker_pid'] is not None and self._worker_in_transaction and self._worker_waits_for_publisher
            # A worker outside a transaction has applied every transaction it received (it applies as it reads);
            # one that has exited applies nothing more. Two such readings in a row with nothing moving in between
            # is the exact end of the drain - no settle period.
            idle = positions['worker_pid'] is None or not self._worker_in_transaction or abandoned
            idle_readings = idle_readings + 1 if idle and not moved else (1 if idle else 0)
            if idle_readings >= IDLE_READINGS:
                if abandoned:
                    self.module.warn((
                        'the apply worker of subscription %s holds a transaction whose end the unreachable publisher never sent '
                        '(received up to %s): it is not applied, it is part of what was lost with the publisher') % (self.name, received))
                self.catchup = dict(mode='received', target_lsn=None, confirmed_flush_lsn=None, applied_lsn=last_applied,
                                    received_lsn=received, seconds=round(now - start, 3))
                unsynced = [t['name'] for t in self.observe()['tables'] if t['state'] != 'ready']
                if unsynced:
                    self.module.warn('publisher unreachable and table(s) %s of subscription %s were not fully synchronised: their content is incomplete' % (
                        ', '.join(unsynced), self.name))
                return
            if now - start >= timeout:
                gap = None
                if received and last_applied:
                    gap = max(0, lsn_to_int(received) - lsn_to_int(last_applied))
                self.module.fail_json(msg=(
                    'subscription %s (publisher unreachable: %s) is still applying after %d s: applied %s, last received %s%s. '
                    "Check the apply worker in pg_stat_subscription and the subscriber's server log") % (
                        self.name, self.publisher.error, timeout, last_applied, received,
                        '' if gap is None else ' (%d bytes between them)' % gap),
                    publisher_reachable=False, queries=self.executed_queries)
            time.sleep(POLL_SECONDS)

    # -- convergence ------------------------------------------------------------------------------

    def converge(self, initial):
        state = self.params['state']
        if initial['exists'] and state != 'absent':
            self.fix_definition(initial)
        if state == 'running':
            self.make_running(initial)
        elif state == 'stopped':
            self.make_stopped(initial)
        else:
            self.make_absent(initial)

    def fix_definition(self, initial):
        if self.conninfo_differs(initial):
            self.set_connection()
        if initial['publications'] != sorted(self.params['publications']):
            self.set_publications()

    def make_running(self, initial):
        copy_data = self.params['copy_data']
        if initial['exists'] and initial['enabled']:
            self.refresh_tables(initial)
            self.wait_streaming(initial['oid'])
            return
        self.require_publisher('start')
        self.check_publications()
        if not initial['exists'] or copy_data:
            occupied = self.occupied_tables() if copy_data else []
            if initial['exists']:
                # A copy needs a new subscription: PostgreSQL copies tables only when they are first added.
                self.make_absent(initial)
            self.clear_tables(occupied)
            self.drop_stale_slot()
            self.create(enabled=True, copy_data=copy_data)
        else:
            self.start_stopped(initial)
        if not self.check_mode:
            self.wait_streaming(self.observe()['oid'])

    def drop_stale_slot(self):
        """A slot of the wanted name left from an earlier stream would replay old WAL: drop it."""
        if self.slot_name in self.dropped_slots:
            return
        existing = self.publisher.slot(self.slot_name)
        if existing['exists']:
            if existing['active']:
                self.module.fail_json(msg='replication slot %s on the publisher at %s is in use by WAL sender pid %s: another subscriber streams from it' % (
                    self.slot_name, self.publisher.target, existing['active_pid']))
            self.module.warn('dropped stale replication slot %s on the publisher (it kept WAL from %s) to start subscription %s from a fresh one' % (
                self.slot_name, existing['restart_lsn'], self.name))
            self._drop_slot(self.slot_name)

    def start_stopped(self, initial):
        """Start an existing, disabled subscription without copying."""
        attached = initial['slot_name']
        if attached and self.publisher.slot(attached)['exists']:
            # Paused with its slot: resume where it stopped (the slot kept the WAL).
            self._alter('ENABLE')
            return
        unsynced = [t['name'] + ' (' + t['state'] + ')' for t in initial['tables'] if t['state'] != 'ready']
        if unsynced:
            self.module.fail_json(msg=(
                'subscription %s has table(s) not synchronised (%s): starting it from a fresh slot would leave them incomplete; '
                'start it with copy_data: true (and truncate_before_copy after archiving) to resynchronise') % (self.name, ', '.join(unsynced)))
        if attached:
            self._alter('SET (slot_name = NONE)')
        lsn = self.fresh_slot()
        self._alter("SET (slot_name = %s)" % pgsql.Literal(self.slot_name).as_string(self.conn))
        # The apply worker resumes from its replication origin; pointing the origin at the new slot's start keeps it from
        # asking for a position the new slot does not have.
        origin = 'pg_%d' % initial['oid']
        if lsn is None:
            self.executed_queries.append(
                "SELECT pg_catalog.pg_replication_origin_advance('%s', /* LSN returned by pg_create_logical_replication_slot */)" % origin)
        else:
            self._run('SELECT pg_catalog.pg_replication_origin_advance(%s, %s::pg_lsn)', (origin, lsn), return_rows=True)
        self._alter('ENABLE')
        self.refresh_tables(initial)

    def refresh_tables(self, initial):
        """Follow tables added to or removed from the publications (needs an enabled subscription)."""
        if not self.publisher.reachable:
            return
        try:
            published = set('%s.%s' % k for k in self.publisher.published_tables(self.params['publications']))
        except PublisherLost:
            return
        subscribed = set(t['name'] for t in initial['tables'])
        publications_changed = initial['publications'] != sorted(self.params['publications'])
        if published == subscribed and not publications_changed:
            return
        copy_data = self.params['copy_data']
        if copy_data:
            self.clear_tables(self.occupied_tables(only=published - subscribed))
        self._run_talking_to_publisher(pgsql.SQL('ALTER SUBSCRIPTION {n} REFRESH PUBLICATION WITH (copy_data = {c})').format(
            n=pgsql.Identifier(self.name), c=pgsql.SQL('true' if copy_data else 'false')))

    def make_stopped(self, initial):
        if not initial['exists']:
            self.require_publisher('create')
            self.check_publications()
            self.create(enabled=False, copy_data=False)
            self.drop_publisher_slots(None, None)
            return
        self.detach(initial)
        self.drop_publisher_slots(initial['slot_name'], initial['oid'])

    def detach(self, initial):
        if initial['enabled']:
            self._alter('DISABLE')
            self.end_idle_apply_worker(initial['oid'])
            self.wait_workers_gone(initial['oid'])
        if initial['slot_name']:
            self._alter('SET (slot_name = NONE)')

    def make_absent(self, initial):
        if initial['exists']:
            self.detach(initial)
            self.drop()
            self.drop_publisher_slots(initial['slot_name'], initial['oid'])
        else:
            self.drop_publisher_slots(None, None)

    def predicted(self, initial):
        """The subscription as check mode expects it after the run."""
        state = self.params['state']
        if state == 'absent':
            return self.observe() if not initial['exists'] else dict(initial, exists=False, status='absent', enabled=False, slot_name=None,
                                                                     worker_pid=None, streaming=False, tables=[], oid=None)
        final = dict(initial, exists=True, publications=sorted(self.params['publications']), conninfo=self.publisher.conninfo(masked=True))
        if state == 'stopped':
            final.update(enabled=False, slot_name=None, worker_pid=None, streaming=False, status='stopped')
        elif not (initial['exists'] and initial['enabled']):
            final.update(enabled=True, slot_name=self.slot_name, status='running')
        return final
