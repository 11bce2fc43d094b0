# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logical replication pieces every replication module shares: names, states, the diff view, a slot's view,
and the module's own connection to a subscription's publisher."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    SSL_MODES,
    build_conninfo,
    connection_bound_errors,
    dead_peer_params,
    describe_target,
    exec_sql,
    lsn_to_int,
    mask_secrets,
    open_connection,
    PgConnectionError,
    psycopg2,
    UNREACHABLE,
)


PUBLISH_OPERATIONS = ['insert', 'update', 'delete', 'truncate']
SUBREL_STATES = dict(i='init', d='data_copy', f='finished_copy', s='sync_done', r='ready')
SLOT_NAME_RE = re.compile(r'^[a-z0-9_]{1,63}$')
POLL_SECONDS = 0.2
# Readings, POLL_SECONDS apart, of an idle apply worker with nothing moving that end a drain.
IDLE_READINGS = 2
# How long workers get to exit by themselves after their subscription is disabled; an idle worker rereads its
# subscription every second.
STOP_GRACE_SECONDS = 5.0
# Size of the WAL page header that pg_current_wal_insert_lsn() counts when the last record ends
# exactly at a page (or segment) boundary; no record can end there, so it is taken off.
SHORT_PAGE_HEADER = 24
LONG_PAGE_HEADER = 40
VOLATILE_KEYS = ('worker_pid', 'streaming', 'received_lsn', 'latest_end_lsn', 'applied_lsn', 'active_pid', 'confirmed_flush_lsn',
                 'restart_lsn', 'retained_bytes', 'apply_error_count', 'sync_error_count')


def stable_view(state):
    """What diff shows: the definition and status, not positions that move by themselves."""
    return dict((k, v) for k, v in state.items() if k not in VOLATILE_KEYS)


def publisher_argument_spec(required):
    """The O(publisher) option: how the subscriber server and the module reach the publisher database."""
    return dict(type='dict', required=required, options=dict(
        host=dict(type='str', required=True),
        port=dict(type='int', default=5432),
        dbname=dict(type='str', required=True),
        user=dict(type='str', required=True),
        password=dict(type='str', no_log=True),
        sslmode=dict(type='str', default='prefer', choices=SSL_MODES),
        sslrootcert=dict(type='path'),
        connect_timeout=dict(type='int', default=5),
    ))


def publisher_errors(params):
    """Messages for a publisher connection that could wait without bound; empty when there is no publisher."""
    if not params.get('publisher'):
        return []
    return connection_bound_errors(params['publisher'], names=('connect_timeout',), where='publisher.')


def check_slot_name(module, name, hint=''):
    if not SLOT_NAME_RE.match(name):
        module.fail_json(msg='%s is not a valid replication slot name (lower-case letters, digits, underscores, at most 63)%s' % (name, hint))


def finish(module, obj, result):
    """Exit with what every converging replication module returns: changed, the statements run, the diff."""
    result['changed'] = obj.changed
    result['queries'] = [to_native(q) for q in obj.executed_queries]
    if module._diff:
        result['diff'] = dict(before=stable_view(result['initial_state']), after=stable_view(result['final_state']))
    module.exit_json(**result)


SLOT_QUERY = (
    'SELECT slot_name, slot_type, database, active, active_pid, restart_lsn::text, confirmed_flush_lsn::text,'
    ' pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes'
    ' FROM pg_catalog.pg_replication_slots WHERE slot_name = %s')


def slot_view(name, row):
    if row is None:
        return dict(name=name, exists=False, active=False, active_pid=None, slot_type=None, database=None,
                    confirmed_flush_lsn=None, restart_lsn=None, retained_bytes=None)
    return dict(name=name, exists=True, active=row['active'], active_pid=row['active_pid'], slot_type=row['slot_type'],
                database=row['database'], confirmed_flush_lsn=row['confirmed_flush_lsn'], restart_lsn=row['restart_lsn'],
                retained_bytes=row['retained_bytes'])


class PublisherLost(Exception):
    pass


class Publisher(object):
    """This module's own connection to the publisher of a subscription."""

    def __init__(self, module, params, executed_queries):
        self.module = module
        self.kw = dict((k, params[k]) for k in ('host', 'port', 'dbname', 'user', 'password', 'sslmode', 'sslrootcert', 'connect_timeout')
                       if params.get(k) not in (None, ''))
        # The same bounds for this module's connection and for the subscription's workers (its connection string).
        self.kw.update(dead_peer_params(module.params))
        self.secrets = [params.get('password')]
        self.target = describe_target(self.kw)
        self.executed_queries = executed_queries
        self.conn = None
        self.cursor = None
        self.reachable = None
        self.error = None
        self._sizes = None

    def conninfo(self, masked=False):
        return build_conninfo(self.kw, mask_password=masked)

    def give_up(self):
        """The caller found the publisher lost: no connection attempt, as if it had failed."""
        self.reachable = False
        self.error = 'not contacted: the publisher at %s was reported lost by the caller (publisher_lost)' % self.target

    def connect(self):
        try:
            self.conn = open_connection(self.kw, 'the publisher', self.secrets)
        except PgConnectionError as e:
            if e.kind != UNREACHABLE:
                self.module.fail_json(msg=e.msg)
            self.reachable = False
            self.error = e.msg
            return False
        self.cursor = self.conn.cursor()
        self.reachable = True
        return True

    def _lost(self, error):
        self.reachable = False
        self.error = 'lost the connection to the publisher at %s: %s' % (self.target, mask_secrets(to_native(error).strip(), self.secrets))
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        raise PublisherLost(self.error)

    def read(self, query, params=None):
        """Rows as dicts; PublisherLost when the publisher went away."""
        if not self.reachable:
            raise PublisherLost(self.error)
        try:
            self.cursor.execute(query, params)
            names = [d[0] for d in self.cursor.description]
            return [dict(zip(names, row)) for row in self.cursor.fetchall()]
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            self._lost(e)
        except psycopg2.Error as e:
            self.module.fail_json(msg='reading from the publisher at %s failed: %s. Check the privileges of publisher.user there' % (
                self.target, mask_secrets(to_native(e).strip(), self.secrets)))
        return None

    def run(self, query, params=None, check_mode=False):
        text = '/* on publisher %s */ %s' % (self.target, to_native(self.cursor.mogrify(query, params)))
        return exec_sql(self, query, params, return_rows=True, dont_exec=check_mode, query_text=text)

    def insert_lsn(self):
        """The publisher's WAL insert position, as a byte position."""
        if self._sizes is None:
            row = self.read("SELECT current_setting('wal_block_size')::int AS block,"
                            " pg_catalog.pg_size_bytes(current_setting('wal_segment_size')) AS segment")[0]
            self._sizes = (row['block'], row['segment'])
        pos = lsn_to_int(self.read('SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn')[0]['lsn'])
        block, segment = self._sizes
        if pos % segment == LONG_PAGE_HEADER:
            return pos - LONG_PAGE_HEADER
        if pos % block == SHORT_PAGE_HEADER:
            return pos - SHORT_PAGE_HEADER
        return pos

    def slot(self, name):
        rows = self.read(SLOT_QUERY, (name,))
        return slot_view(name, rows[0] if rows else None)

    def slots_of(self, names, suboid):
        """Logical slots of this database that belong to the subscription: by name, and its table sync slots."""
        clauses = ['slot_name = ANY(%(names)s)']
        if suboid:
            clauses.append("slot_name LIKE %(sync)s")
        rows = self.read((
            "SELECT slot_name, active, active_pid FROM pg_catalog.pg_replication_slots"
            " WHERE slot_type = 'logical' AND database = current_database() AND (" + ' OR '.join(clauses) + ') ORDER BY 1'),
            dict(names=[n for n in names if n], sync='pg\\_%d\\_sync\\_%%' % suboid if suboid else None))
        return rows

    def publications(self, names):
        return [r['pubname'] for r in self.read('SELECT pubname FROM pg_catalog.pg_publication WHERE pubname = ANY(%s)', (names,))]

    def published_tables(self, publications):
        """{'schema.table': [row filters] or None when the whole table is published}."""
        tables = {}
        for row in self.read((
                'SELECT schemaname, tablename, rowfilter FROM pg_catalog.pg_publication_tables'
                ' WHERE pubname = ANY(%s) ORDER BY 1, 2'), (publications,)):
            key = (row['schemaname'], row['tablename'])
            if row['rowfilter'] is None:
                tables[key] = None
            elif key not in tables:
                tables[key] = [row['rowfilter']]
            elif tables[key] is not None:
                tables[key].append(row['rowfilter'])
        return tables
