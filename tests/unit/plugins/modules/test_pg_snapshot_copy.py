# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_snapshot_copy on two real PostgreSQL 15 clusters: a subscriber's database is copied while a
writer keeps committing at the publisher and the subscription keeps applying. The copy is read
back with separate queries: one consistent prefix of the writer's rows, every one of them written
before the reported position, no subscription of its own, the source's stream untouched."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading

import pytest

from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import lsn_to_int
from ansible_collections.genesys_dr.framework.plugins.modules import pg_snapshot_copy
from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster
from ansible_collections.genesys_dr.framework.tests.unit.plugins.modules.test_logical_replication import (  # noqa: F401 pylint: disable=unused-import
    assert_no_secret,
    new_db,
    pair,
    pub_args,
    replicate,
    sub_args,
)

# Each row carries the publisher's WAL insert position inside its own transaction: below its commit.
SCHEMA = 'CREATE TABLE cfg_object (id integer PRIMARY KEY, written_at_lsn pg_lsn NOT NULL);'
INSERT = 'INSERT INTO cfg_object VALUES (%s, pg_catalog.pg_current_wal_insert_lsn())'


def copy_args(cluster, db, **kwargs):
    args = cluster.login_args(db)
    args.update(target=db + '_copy')
    args.update(kwargs)
    return args


def ids(cluster, db):
    return [r[0] for r in cluster.sql(db, 'SELECT id FROM cfg_object ORDER BY id')]


def worker_pid(cluster, db, subscription):
    rows = cluster.sql(db, 'SELECT p.pid FROM pg_stat_subscription p JOIN pg_subscription s ON s.oid = p.subid'
                           ' WHERE s.subname = %s AND p.relid IS NULL', (subscription,))
    return rows[0][0] if rows else None


class Writer(threading.Thread):
    """Commits one row after another at the publisher until stopped."""

    def __init__(self, cluster, db):
        super(Writer, self).__init__(daemon=True)
        self.cluster, self.db = cluster, db
        self.stop = threading.Event()
        self.written = 0
        self.error = None

    def run(self):
        conn = self.cluster.connect(self.db)
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    cur.execute(INSERT, (self.written + 1,))
                    self.written += 1
        except Exception as exc:  # pylint: disable=broad-except
            self.error = exc
        finally:
            conn.close()


@pytest.fixture
def streaming(pair, module_runner):
    """(publisher, subscriber, db, subscription): a running subscription of cfg_object."""
    publisher, subscriber = pair
    db = new_db(pair, SCHEMA, prefix='snapdb')
    assert not replicate(module_runner, pub_args(publisher, db, 'snap_pub', all_tables=True))['failed']
    result = replicate(module_runner, sub_args(subscriber, publisher, db, 'snap_sub', ['snap_pub']))
    assert not result['failed'], result['msg']
    yield publisher, subscriber, db, 'snap_sub'
    for name in (db + '_copy', db + '_copy__partial', db + '_other'):
        subscriber.sql('postgres', 'DROP DATABASE IF EXISTS %s WITH (FORCE)' % name)


def test_a_copy_taken_while_rows_stream_in_is_one_consistent_snapshot(streaming, module_runner):
    publisher, subscriber, db, subscription = streaming
    pid = worker_pid(subscriber, db, subscription)
    writer = Writer(publisher, db)
    writer.start()
    try:
        pgcluster.wait_until(lambda: len(ids(subscriber, db)) >= 50, what='rows streaming into the subscriber')
        result = module_runner(pg_snapshot_copy, copy_args(subscriber, db, subscription=subscription))
        pgcluster.wait_until(lambda: writer.written > len(ids(subscriber, db + '_copy')) + 50, what='rows after the copy')
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.error is None, writer.error
    assert not result['failed'], result['msg']
    assert result['changed'] is True and result['existed'] is False and result['source'] == db
    assert_no_secret(result)

    copied = ids(subscriber, db + '_copy')
    # One snapshot: the rows 1..k, no gap, none from after it; the subscriber went on past it.
    assert copied and copied == list(range(1, len(copied) + 1))
    pgcluster.wait_until(lambda: len(ids(subscriber, db)) == writer.written, what='the subscriber to apply every row')
    assert len(copied) < writer.written
    # Every copied row was written (so committed) at or before the position reported as the copy's upper bound.
    lsn_min, lsn_max = lsn_to_int(result['lsn_min']), lsn_to_int(result['lsn_max'])
    assert 0 < lsn_min <= lsn_max
    written_at = subscriber.sql(db + '_copy', 'SELECT max(written_at_lsn)::text FROM cfg_object')[0][0]
    assert lsn_to_int(written_at) < lsn_max
    # The copy is of the data only: no subscription of its own, while the source's stream never stopped.
    assert subscriber.sql('postgres', "SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid"
                                      " WHERE d.datname = %s", (db + '_copy',)) == [(0,)]
    assert worker_pid(subscriber, db, subscription) == pid
    assert result['size_bytes'] == subscriber.sql('postgres', 'SELECT pg_database_size(%s)', (db + '_copy',))[0][0]

    # A rerun reports the same copy and changes nothing.
    again = module_runner(pg_snapshot_copy, copy_args(subscriber, db, subscription=subscription))
    assert not again['failed'] and again['changed'] is False and again['existed'] is True
    assert (again['lsn_min'], again['lsn_max'], again['copied_at']) == (result['lsn_min'], result['lsn_max'], result['copied_at'])
    assert ids(subscriber, db + '_copy') == copied

    # Dropped: check mode only says so; then it is gone, and a second drop changes nothing.
    checked = module_runner(pg_snapshot_copy, copy_args(subscriber, db, state='absent'), check_mode=True)
    assert checked['changed'] is True and ids(subscriber, db + '_copy') == copied
    dropped = module_runner(pg_snapshot_copy, copy_args(subscriber, db, state='absent'))
    assert dropped['changed'] is True
    assert subscriber.sql('postgres', 'SELECT count(*) FROM pg_database WHERE datname = %s', (db + '_copy',)) == [(0,)]
    assert module_runner(pg_snapshot_copy, copy_args(subscriber, db, state='absent'))['changed'] is False


def test_a_partial_copy_is_replaced_and_a_foreign_database_is_never_touched(streaming, module_runner):
    dummy, subscriber, db, subscription = streaming
    # A run killed during the restore left this behind.
    subscriber.sql('postgres', 'CREATE DATABASE %s_copy__partial' % db)
    subscriber.sql(db + '_copy__partial', 'CREATE TABLE leftover (x int)')
    made = module_runner(pg_snapshot_copy, copy_args(subscriber, db, subscription=subscription))
    assert not made['failed'], made['msg']
    assert subscriber.sql(db + '_copy', "SELECT to_regclass('leftover') IS NULL")[0][0] is True
    assert subscriber.sql('postgres', 'SELECT count(*) FROM pg_database WHERE datname = %s', (db + '_copy__partial',)) == [(0,)]

    # A database of the target's name that this module did not make: refused, both ways, and left as it is.
    subscriber.sql('postgres', 'CREATE DATABASE %s_other' % db)
    subscriber.sql(db + '_other', 'CREATE TABLE precious (x int)')
    for state in ('present', 'absent'):
        refused = module_runner(pg_snapshot_copy, copy_args(subscriber, db, target=db + '_other', state=state))
        assert refused['failed'] and 'was not made by this module' in refused['msg']
        assert subscriber.sql(db + '_other', "SELECT to_regclass('precious') IS NOT NULL")[0][0] is True


@pytest.mark.parametrize('target,message', [
    ('SOURCE', 'cannot be the source'),
    ('postgres', 'cannot be the source, a system database'),
    ('x__partial', 'end in __partial'),
])
def test_bad_targets_are_refused_before_connecting(module_runner, target, message):
    args = dict(login_db='cfgdb', login_host='127.0.0.1', login_port=1, login_password='x', target=target)
    if target == 'SOURCE':
        args['target'] = 'cfgdb'
    result = module_runner(pg_snapshot_copy, args)
    assert result['failed'] and message in result['msg'], result


def test_an_unknown_subscription_is_refused_and_nothing_is_made(streaming, module_runner):
    dummy, subscriber, db, dummy_sub = streaming
    result = module_runner(pg_snapshot_copy, copy_args(subscriber, db, subscription='no_such_sub'))
    assert result['failed'] and 'subscription no_such_sub has no replication origin' in result['msg']
    assert subscriber.sql('postgres', "SELECT count(*) FROM pg_database WHERE datname LIKE %s", (db + '_copy%',)) == [(0,)]
