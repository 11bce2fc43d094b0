# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a subscription is, read without changing anything: its definition, its status, its apply worker's
positions, its tables' sync states, and (when its publisher answers) its lag. The converging module and the
read-only info module both read it this way."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    build_conninfo,
    lsn_to_int,
    mask_secrets,
    parse_conninfo,
    psycopg2,
    query_dicts,
    query_rows,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.logical_replication import (
    SUBREL_STATES,
    PublisherLost,
)


def lag_bytes(slot, insert_lsn):
    """Bytes of publisher WAL past the slot's confirmed position, given the publisher's insert position read
    after the slot (so it never reads low); None without a slot or a confirmed position."""
    if slot is None or not slot['exists'] or slot['confirmed_flush_lsn'] is None:
        return None
    return max(0, insert_lsn - lsn_to_int(slot['confirmed_flush_lsn']))


def absent_subscription(name):
    return dict(name=name, exists=False, status='absent', enabled=False, slot_name=None, publications=[], conninfo=None,
                oid=None, worker_pid=None, streaming=False, received_lsn=None, latest_end_lsn=None, applied_lsn=None, tables=[],
                apply_error_count=None, sync_error_count=None)


class SubscriptionState(object):
    """Reads one subscription of the connected database; `publisher` (a Publisher, or None) measures its lag."""

    def __init__(self, module, conn, name, publisher=None):
        self.module = module
        self.conn = conn
        self.cursor = conn.cursor()
        self.executed_queries = []
        self.name = name
        self.publisher = publisher
        self.secrets = publisher.secrets if publisher is not None else []
        self.database = conn.info.dbname
        self._worker_in_transaction = False
        self._worker_waits_for_publisher = False
    # -- observation ----------------------------------------------------------------------

    def observe(self):
        rows = query_dicts(self, (
            'SELECT s.oid, s.subenabled AS enabled, s.subslotname AS slot_name, s.subpublications AS publications, s.subconninfo AS conninfo'
            ' FROM pg_catalog.pg_subscription s JOIN pg_catalog.pg_database d ON d.oid = s.subdbid'
            ' WHERE d.datname = current_database() AND s.subname = %s'), (self.name,))
        if not rows:
            return absent_subscription(self.name)
        sub = rows[0]
        state = dict(name=self.name, exists=True, enabled=sub['enabled'], slot_name=sub['slot_name'], publications=sorted(sub['publications']),
                     conninfo=self.mask_conninfo(sub['conninfo']), oid=sub['oid'])
        state.update(self.positions(sub['oid']))
        state['tables'] = [dict(name=r[0], state=SUBREL_STATES.get(r[1], r[1])) for r in query_rows(self, (
            "SELECT n.nspname || '.' || c.relname, sr.srsubstate FROM pg_catalog.pg_subscription_rel sr"
            ' JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'
            ' WHERE sr.srsubid = %s ORDER BY 1'), (sub['oid'],))]
        errors = query_rows(self, 'SELECT apply_error_count, sync_error_count FROM pg_catalog.pg_stat_subscription_stats WHERE subid = %s', (sub['oid'],))
        state['apply_error_count'], state['sync_error_count'] = errors[0] if errors else (None, None)
        state['status'] = self.status_of(state)
        return state

    def positions(self, oid):
        worker = query_dicts(self, (
            'SELECT w.pid AS worker_pid, w.received_lsn::text AS received_lsn, w.latest_end_lsn::text AS latest_end_lsn,'
            # An idle publisher may send nothing for a while: waiting in the main apply loop also proves the stream started.
            " w.received_lsn IS NOT NULL OR a.wait_event = 'LogicalApplyMain' AS streaming,"
            ' a.backend_xid IS NOT NULL AS in_transaction,'
            " a.wait_event = 'LogicalApplyMain' AS waits_for_publisher"
            ' FROM pg_catalog.pg_stat_subscription w LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid'
            ' WHERE w.subid = %s AND w.relid IS NULL AND w.pid IS NOT NULL'), (oid,))
        applied = query_rows(self, 'SELECT remote_lsn::text FROM pg_catalog.pg_replication_origin_status WHERE external_id = %s', ('pg_%d' % oid,))
        result = worker[0] if worker else dict(worker_pid=None, received_lsn=None, latest_end_lsn=None, streaming=False, in_transaction=False,
                                               waits_for_publisher=False)
        result['applied_lsn'] = applied[0][0] if applied else None
        self._worker_in_transaction = bool(result.pop('in_transaction'))
        self._worker_waits_for_publisher = bool(result.pop('waits_for_publisher'))
        return result

    @staticmethod
    def status_of(state):
        if not state['exists']:
            return 'absent'
        if state['enabled']:
            return 'running' if state['worker_pid'] and state['streaming'] else 'enabled_not_streaming'
        return 'stopped' if state['slot_name'] is None else 'disabled_with_slot'

    def mask_conninfo(self, conninfo):
        if conninfo is None:
            return None
        try:
            params = parse_conninfo(conninfo)
        except psycopg2.ProgrammingError:
            return mask_secrets(conninfo, self.secrets)
        return build_conninfo(params, mask_password=True)

    def worker_pids(self, oid):
        return [r[0] for r in query_rows(self, 'SELECT pid FROM pg_catalog.pg_stat_subscription WHERE subid = %s AND pid IS NOT NULL ORDER BY 1', (oid,))]

    def lag(self, slot_name):
        """Bytes of publisher WAL not yet confirmed by the subscriber, or None if it cannot be measured."""
        if self.publisher is None or not self.publisher.reachable or not slot_name:
            return None
        try:
            slot = self.publisher.slot(slot_name)
            return lag_bytes(slot, self.publisher.insert_lsn())
        except PublisherLost:
            return None
