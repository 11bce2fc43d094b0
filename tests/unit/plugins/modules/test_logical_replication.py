"""pg_publication, pg_subscription, pg_slot: argument and message paths with mocks, replication paths on two real PostgreSQL 15 clusters."""
import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import psycopg2
import pytest

from ansible_collections.genesys_dr.framework.plugins.modules import pg_publication, pg_slot, pg_subscription
from ansible_collections.genesys_dr.framework.plugins.module_utils.logical_replication import Publisher
from ansible_collections.genesys_dr.framework.plugins.module_utils.subscription_state import SubscriptionState
from ansible_collections.genesys_dr.framework.plugins.module_utils import postgres as pgutil

from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster
from ansible_collections.genesys_dr.framework.tests.unit.plugins.pgcluster import wait_until

CFG_SCHEMA = (
    'CREATE TABLE cfg_person (dbid serial PRIMARY KEY, name text NOT NULL UNIQUE);'
    'CREATE TABLE cfg_dn (dbid serial PRIMARY KEY, name text NOT NULL UNIQUE);')
LOG_SCHEMA = (
    "CREATE TABLE log_event (db_site text NOT NULL DEFAULT current_setting('genesys.db_site'), id bigserial,"
    ' message text NOT NULL, PRIMARY KEY (db_site, id));')

_names = itertools.count()


def new_db(pair, schema, prefix='cfgdb'):
    name = '%s_%d' % (prefix, next(_names))
    for cluster in pair:
        cluster.sql('postgres', 'CREATE DATABASE %s' % name)
        cluster.sql(name, schema)
    return name


MODULES = dict(publication=pg_publication, subscription=pg_subscription, slot=pg_slot)


def replicate(module_runner, args, **kwargs):
    """Run the module for args['type'] (publication, subscription or slot) with the other arguments."""
    args = dict(args)
    return module_runner(MODULES[args.pop('type')], args, **kwargs)


def pub_args(cluster, db, name, **kwargs):
    args = cluster.login_args(db)
    args.update(type='publication', name=name, state='present')
    args.update(kwargs)
    return args


def sub_args(subscriber, publisher, db, name, publications, state='running', **kwargs):
    args = subscriber.login_args(db)
    args.update(type='subscription', name=name, state=state, publications=publications, publisher=publisher.publisher(db),
                worker_timeout=15, catchup_timeout=30)
    args.update(kwargs)
    return args


def slots(cluster):
    return [r[0] for r in cluster.sql('postgres', 'SELECT slot_name FROM pg_replication_slots ORDER BY 1')]


def count(cluster, db, query):
    return cluster.sql(db, query)[0][0]


def subscription_row(cluster, db, name):
    rows = cluster.sql(db, 'SELECT subenabled, subslotname FROM pg_subscription WHERE subname = %s', (name,))
    return rows[0] if rows else None


def assert_no_secret(result):
    text = repr(result)
    assert pgcluster.SUPERUSER_PASSWORD not in text
    assert pgutil.quote_conninfo_value(pgcluster.SUPERUSER_PASSWORD) not in text


@pytest.fixture
def pair(pg_pair):
    """Both clusters up; every subscription and slot removed after the test."""
    for cluster in pg_pair:
        cluster.ensure_running()
    yield pg_pair
    for cluster in pg_pair:
        cluster.ensure_running()
    for cluster in pg_pair:
        for sub, db in cluster.sql('postgres', 'SELECT s.subname, d.datname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid'):
            conn = cluster.connect(db)
            with conn.cursor() as cur:
                cur.execute('ALTER SUBSCRIPTION %s DISABLE' % sub)
                cur.execute('ALTER SUBSCRIPTION %s SET (slot_name = NONE)' % sub)
                cur.execute('DROP SUBSCRIPTION %s' % sub)
            conn.close()
    for cluster in pg_pair:
        for name in slots(cluster):
            wait_until(lambda n=name, c=cluster: not c.sql('postgres', 'SELECT active FROM pg_replication_slots WHERE slot_name = %s', (n,))[0][0],
                       what='slot %s inactive' % name)
            cluster.sql('postgres', 'SELECT pg_drop_replication_slot(%s)', (name,))


# --- argument and message paths (no server needed) -----------------------------------------------

BASE = dict(login_db='cfgdb', login_host='127.0.0.1', login_password='x')


@pytest.mark.parametrize('args, message', [
    (dict(type='publication', name='p', state='running', all_tables=True), 'value of state must be one of: present, absent, got: running'),
    (dict(type='slot', name='s', state='present'), 'value of state must be one of: absent, got: present'),
    (dict(type='subscription', name='s', state='present', publications=['p'], publisher=dict(host='h', dbname='d', user='u')),
     'value of state must be one of: running, stopped, absent, got: present'),
    (dict(type='subscription', name='Bad-Name', state='running', publications=['p'], publisher=dict(host='h', dbname='d', user='u')),
     'Bad-Name is not a valid replication slot name'),
    (dict(type='slot', name='Bad-Name', state='absent'), 'Bad-Name is not a valid replication slot name'),
    (dict(type='subscription', name='s', state='running', publications=['p']), 'missing required arguments: publisher'),
    (dict(type='subscription', name='s', state='stopped', publisher=dict(host='h', dbname='d', user='u')), 'publications'),
    (dict(type='subscription', name='s', state='stopped', publications=['p'], publisher=dict(host='h', dbname='d', user='u'),
          terminate_holder=True), 'Unsupported parameters'),
    (dict(type='publication', name='p', state='present'), 'all_tables, tables'),
    (dict(type='publication', name='p', state='present', all_tables=True, tables=[dict(name='t')]), 'mutually exclusive'),
])
def test_argument_errors(module_runner, args, message):
    result = replicate(module_runner, dict(BASE, **args))
    assert result['failed']
    assert message in result['msg']


def test_missing_psycopg2_is_reported(module_runner, monkeypatch):
    monkeypatch.setattr(pgutil, 'HAS_PSYCOPG2', False)
    monkeypatch.setattr(pgutil, 'PSYCOPG2_IMPORT_ERROR', 'ImportError: no psycopg2')
    result = replicate(module_runner, dict(BASE, type='slot', name='s', state='absent'))
    assert result['failed']
    assert 'psycopg2' in result['msg'] and 'Failed to import' in result['msg']


@pytest.mark.parametrize('pos, block, segment, expected', [
    (0x1000000 + 40, 8192, 0x1000000, 0x1000000),
    (3 * 8192 + 24, 8192, 0x1000000, 3 * 8192),
    (3 * 8192 + 64, 8192, 0x1000000, 3 * 8192 + 64),
])
def test_insert_lsn_drops_page_header(monkeypatch, pos, block, segment, expected):
    publisher = Publisher.__new__(Publisher)
    publisher._sizes = (block, segment)
    monkeypatch.setattr(publisher, 'read', lambda query, params=None: [dict(lsn=pgutil.int_to_lsn(pos))], raising=False)
    assert publisher.insert_lsn() == expected


@pytest.mark.parametrize('state, status', [
    (dict(exists=False), 'absent'),
    (dict(exists=True, enabled=True, worker_pid=12, streaming=True), 'running'),
    (dict(exists=True, enabled=True, worker_pid=12, streaming=False), 'enabled_not_streaming'),
    (dict(exists=True, enabled=True, worker_pid=None, streaming=False), 'enabled_not_streaming'),
    (dict(exists=True, enabled=False, slot_name=None), 'stopped'),
    (dict(exists=True, enabled=False, slot_name='s'), 'disabled_with_slot'),
])
def test_status_of(state, status):
    assert SubscriptionState.status_of(state) == status


# --- publications on a real cluster ----------------------------------------------------------------

def test_publication_row_filter_idempotent_and_changed_in_place(pair, module_runner):
    a = pair[0]
    db = new_db([a], LOG_SCHEMA, 'logdb')
    args = pub_args(a, db, 'logdb_pub', tables=[dict(name='log_event', row_filter="db_site = 'site_a'")], publish=['insert'])

    checked = replicate(module_runner, args, check_mode=True)
    assert checked['changed'] and checked['queries'][0].startswith('CREATE PUBLICATION "logdb_pub" FOR TABLE "public"."log_event"')
    assert not a.sql(db, "SELECT 1 FROM pg_publication WHERE pubname = 'logdb_pub'")

    created = replicate(module_runner, args, diff=True)
    assert created['changed'], created
    assert a.sql(db, "SELECT tablename, rowfilter FROM pg_publication_tables WHERE pubname = 'logdb_pub'") == [('log_event', "(db_site = 'site_a'::text)")]
    assert a.sql(db, "SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = 'logdb_pub'") == [(True, False, False, False)]
    assert created['publication']['tables'] == [dict(name='public.log_event', row_filter="(db_site = 'site_a'::text)")]
    assert created['diff']['before']['exists'] is False and created['diff']['after']['exists'] is True

    again = replicate(module_runner, args)
    assert not again['changed'], again['queries']

    changed = replicate(module_runner, dict(args, tables=[dict(name='public.log_event', row_filter="db_site = 'site_b'")], publish=['insert', 'truncate']))
    assert changed['changed']
    assert [q.split(' SET ')[0] for q in changed['queries']] == ['ALTER PUBLICATION "logdb_pub"', 'ALTER PUBLICATION "logdb_pub"']
    assert a.sql(db, "SELECT rowfilter FROM pg_publication_tables WHERE pubname = 'logdb_pub'") == [("(db_site = 'site_b'::text)",)]
    assert a.sql(db, "SELECT pubinsert, pubtruncate FROM pg_publication WHERE pubname = 'logdb_pub'") == [(True, True)]

    to_all = replicate(module_runner, pub_args(a, db, 'logdb_pub', all_tables=True))
    assert to_all['changed'] and to_all['publication']['all_tables']
    assert a.sql(db, "SELECT puballtables FROM pg_publication WHERE pubname = 'logdb_pub'") == [(True,)]

    emptied = replicate(module_runner, pub_args(a, db, 'logdb_pub', all_tables=False))
    assert [q.split(' ')[0] for q in emptied['queries']] == ['DROP', 'CREATE'] and emptied['publication']['all_tables'] is False
    assert a.sql(db, "SELECT puballtables, (SELECT count(*) FROM pg_publication_tables WHERE pubname = 'logdb_pub') FROM pg_publication") == [(False, 0)]

    dropped = replicate(module_runner, pub_args(a, db, 'logdb_pub', state='absent'))
    assert dropped['changed'] and not a.sql(db, "SELECT 1 FROM pg_publication WHERE pubname = 'logdb_pub'")
    assert not replicate(module_runner, pub_args(a, db, 'logdb_pub', state='absent'))['changed']


def test_publication_refuses_definitions_that_would_break_the_publisher(pair, module_runner):
    a = pair[0]
    db = new_db([a], LOG_SCHEMA + 'CREATE TABLE no_key (v text);')
    bad_filter = replicate(module_runner, pub_args(a, db, 'p', tables=[dict(name='log_event', row_filter='no_such_column = 1')]))
    assert bad_filter['failed'] and 'not valid' in bad_filter['msg'] and 'no_such_column' in bad_filter['msg']

    no_identity = replicate(module_runner, pub_args(a, db, 'p', tables=[dict(name='no_key')], publish=['insert', 'update']))
    assert no_identity['failed'] and 'refuse client UPDATE on table public.no_key' in no_identity['msg']

    outside_identity = replicate(module_runner, pub_args(a, db, 'p', tables=[dict(name='log_event', row_filter="message <> ''")], publish=['delete']))
    assert outside_identity['failed'] and 'replica identity' in outside_identity['msg']

    missing = replicate(module_runner, pub_args(a, db, 'p', tables=[dict(name='nope')]))
    assert missing['failed'] and 'table nope of publication p does not exist' in missing['msg']
    assert not a.sql(db, 'SELECT pubname FROM pg_publication')


# --- subscriptions on two real clusters -----------------------------------------------------------------

def test_subscription_copy_stream_catchup_and_masked_password(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    a.sql(db, "INSERT INTO cfg_person (name) SELECT 'p' || i FROM generate_series(1, 50) i")
    assert not replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True)).get('failed')
    args = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'], copy_data=True, wait_for_catchup=True)

    checked = replicate(module_runner, args, check_mode=True)
    assert checked['changed'] and 'CREATE SUBSCRIPTION "cfg_a_to_b"' in checked['queries'][0]
    assert subscription_row(b, db, 'cfg_a_to_b') is None
    assert_no_secret(checked)

    created = replicate(module_runner, args)
    assert created['changed'], created
    assert_no_secret(created)
    assert "password=''********''" in created['queries'][0]
    sub = created['subscription']
    assert sub['status'] == 'running' and sub['worker_pid'] and sub['slot_name'] == 'cfg_a_to_b'
    assert "password='********'" in sub['conninfo']
    assert sorted(t['state'] for t in sub['tables']) == ['ready', 'ready']
    assert created['catchup']['mode'] == 'publisher' and created['publisher_reachable'] is True
    assert created['lag_bytes'] is not None and created['slot']['exists']
    assert count(b, db, 'SELECT count(*) FROM cfg_person') == 50

    # The server-side connection string carries the real password (quoted) and works.
    conninfo = b.sql(db, "SELECT subconninfo FROM pg_subscription WHERE subname = 'cfg_a_to_b'")[0][0]
    assert psycopg2.extensions.parse_dsn(conninfo)['password'] == pgcluster.SUPERUSER_PASSWORD

    a.sql(db, "INSERT INTO cfg_person (name) VALUES ('streamed')")
    caught = replicate(module_runner, args)
    assert not caught['changed'], caught['queries']
    assert pgutil.lsn_to_int(caught['catchup']['confirmed_flush_lsn']) >= pgutil.lsn_to_int(caught['catchup']['target_lsn'])
    # Read back with a separate connection: the row is there as soon as the module says caught up.
    assert count(b, db, "SELECT count(*) FROM cfg_person WHERE name = 'streamed'") == 1


def test_copy_refuses_non_empty_tables_unless_truncate(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    a.sql(db, "INSERT INTO cfg_person (name) VALUES ('from_a')")
    b.sql(db, "INSERT INTO cfg_person (name) VALUES ('diverged_b')")
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    args = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'], copy_data=True, wait_for_catchup=True)

    refused = replicate(module_runner, args)
    assert refused['failed'] and 'refusing to copy' in refused['msg'] and 'public.cfg_person' in refused['msg']
    assert 'public.cfg_dn' not in refused['msg']
    assert subscription_row(b, db, 'cfg_a_to_b') is None and count(b, db, 'SELECT count(*) FROM cfg_person') == 1

    done = replicate(module_runner, dict(args, truncate_before_copy=True))
    assert done['changed'] and 'TRUNCATE "public"."cfg_person"' in done['queries']
    assert b.sql(db, 'SELECT name FROM cfg_person') == [('from_a',)]


def test_stop_leaves_no_slot_and_restart_streams_from_fresh_slot(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    running = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'])
    assert replicate(module_runner, running)['changed']
    assert slots(a) == ['cfg_a_to_b']

    stopped_args = dict(running, state='stopped')
    checked = replicate(module_runner, stopped_args, check_mode=True)
    assert checked['changed']
    assert checked['queries'][:2] == ['ALTER SUBSCRIPTION "cfg_a_to_b" DISABLE', 'ALTER SUBSCRIPTION "cfg_a_to_b" SET (slot_name = NONE)']
    assert 'pg_drop_replication_slot' in checked['queries'][2] and checked['queries'][2].startswith('/* on publisher')
    assert subscription_row(b, db, 'cfg_a_to_b') == (True, 'cfg_a_to_b') and slots(a) == ['cfg_a_to_b']

    stopped = replicate(module_runner, stopped_args, diff=True)
    assert stopped['changed'] and stopped['subscription']['status'] == 'stopped'
    assert stopped['diff']['before']['status'] == 'running' and stopped['diff']['after']['status'] == 'stopped'
    assert subscription_row(b, db, 'cfg_a_to_b') == (False, None)
    assert slots(a) == []
    assert not replicate(module_runner, stopped_args)['changed']

    a.sql(db, "INSERT INTO cfg_person (name) VALUES ('while_stopped')")
    restarted = replicate(module_runner, dict(running, wait_for_catchup=True))
    assert restarted['changed'] and restarted['subscription']['status'] == 'running'
    assert any('pg_create_logical_replication_slot' in q for q in restarted['queries'])
    assert slots(a) == ['cfg_a_to_b']
    a.sql(db, "INSERT INTO cfg_person (name) VALUES ('after_start')")
    assert not replicate(module_runner, dict(running, wait_for_catchup=True))['changed']
    names = [r[0] for r in b.sql(db, 'SELECT name FROM cfg_person ORDER BY 1')]
    # A fresh slot starts at the publisher's current position: what was committed while stopped is not replayed.
    assert names == ['after_start']


def sigterm_pending(pid):
    """Whether a SIGTERM waits for process pid (a stopped process keeps it pending); True once it is gone."""
    try:
        with open('/proc/%d/status' % pid) as stream:
            masks = [int(line.split()[1], 16) for line in stream if line.startswith(('SigPnd:', 'ShdPnd:'))]
    except FileNotFoundError:
        return True
    return any(mask & (1 << (signal.SIGTERM - 1)) for mask in masks)


def stop_while_idle(cluster, db, pid):
    """SIGSTOP the apply worker pid at a moment it waits for its publisher outside a transaction, and leave it so."""
    reading = 'SELECT wait_event, backend_xid IS NULL FROM pg_stat_activity WHERE pid = %s'
    while True:
        wait_until(lambda: cluster.sql(db, reading, (pid,)) == [('LogicalApplyMain', True)], what='apply worker idle')
        os.kill(pid, signal.SIGSTOP)
        # It may have woken between the reading and the signal: then it is let go and caught at its next wait.
        if cluster.sql(db, reading, (pid,)) == [('LogicalApplyMain', True)]:
            return
        os.kill(pid, signal.SIGCONT)


def streaming_cfg(pair, module_runner, rows):
    """A new database with the cfg schema at both clusters, cfg_pub on a, subscription cfg_a_to_b running on b, and
    rows cfg_person rows written on a and streamed to b. Returns (db, the running subscription's module args)."""
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    running = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'])
    assert replicate(module_runner, running)['changed']
    a.sql(db, "INSERT INTO cfg_person (name) SELECT 'p' || i FROM generate_series(1, %d) i" % rows)
    wait_until(lambda: count(b, db, 'SELECT count(*) FROM cfg_person') == rows, what='rows streamed')
    return db, running


@contextlib.contextmanager
def held_idle(cluster, db, pid):
    """Hold the apply worker pid (SIGSTOP) in its wait for the publisher, outside a transaction, so that it cannot
    notice DISABLE and go by itself: only a SIGTERM ends it. It is let go once a SIGTERM is pending, or at the end.
    Yields an Event set only when the SIGTERM came while the worker was held (not when the watcher gave up)."""
    stop_while_idle(cluster, db, pid)
    terminated_while_held = threading.Event()
    done = threading.Event()

    def resume_once_terminated():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done.is_set():
            if sigterm_pending(pid):
                terminated_while_held.set()
                break
            time.sleep(0.01)
        os.kill(pid, signal.SIGCONT)

    watcher = threading.Thread(target=resume_once_terminated)
    watcher.start()
    try:
        yield terminated_while_held
    finally:
        done.set()
        watcher.join()


def test_stop_ends_an_idle_apply_worker_at_once_and_drops_the_slot(pair, module_runner):
    """A reachable publisher: the idle worker is ended right after DISABLE, not left to its next wake-up (up to a
    second later, while its WAL sender holds the slot the module then drops). It had applied all it received."""
    a, b = pair
    db, running = streaming_cfg(pair, module_runner, 5)
    worker = worker_pids(b, db, 'cfg_a_to_b')
    assert len(worker) == 1
    with held_idle(b, db, worker[0]) as terminated_while_held:
        stopped = replicate(module_runner, dict(running, state='stopped'))
    assert terminated_while_held.is_set()
    assert not stopped.get('failed'), stopped['msg']
    # Ended as idle, not after the grace period as a worker that does not exit: no transaction rolled back.
    assert stopped['ended_idle_workers'] == worker
    assert stopped['terminated_workers'] == [] and not [w for w in stopped.get('warnings', []) if 'rolled back' in w]
    assert stopped['publisher_reachable'] is True and stopped['orphaned_slots'] == []
    # Read back: no worker, the subscription stopped, its slot gone from the publisher, every row there.
    assert worker_pids(b, db, 'cfg_a_to_b') == []
    assert subscription_row(b, db, 'cfg_a_to_b') == (False, None)
    assert slots(a) == []
    assert count(b, db, 'SELECT count(*) FROM cfg_person') == 5


def test_publisher_lost_is_never_contacted(pair, module_runner):
    """publisher_lost: the caller found the publisher silent; the module must not connect to it.

    The publisher here is alive: had the module talked to it, it would have dropped the slot."""
    a, b = pair
    db, running = streaming_cfg(pair, module_runner, 5)

    refused = replicate(module_runner, dict(running, publisher_lost=True, copy_data=True, state='running',
                                            name='cfg_new', slot_name='cfg_new'))
    assert refused.get('failed') and 'not contacted' in refused['msg'], refused
    assert 'cfg_new' not in slots(a)

    worker = worker_pids(b, db, 'cfg_a_to_b')
    assert len(worker) == 1
    with held_idle(b, db, worker[0]) as terminated_while_held:
        drained = replicate(module_runner, dict(running, state='stopped', wait_for_catchup=True, publisher_lost=True))
    assert terminated_while_held.is_set()
    assert not drained.get('failed'), drained['msg']
    assert drained['changed'] and drained['publisher_reachable'] is False
    assert drained['catchup']['mode'] == 'received'
    # Ended at once as idle, not after the grace period as a worker that does not exit; nothing rolled back.
    assert drained['ended_idle_workers'] == worker
    assert drained['terminated_workers'] == [] and not [w for w in drained.get('warnings', []) if 'rolled back' in w]
    assert worker_pids(b, db, 'cfg_a_to_b') == []
    assert not [q for q in drained['queries'] if 'on publisher' in q], drained['queries']
    assert drained['orphaned_slots'] == ['cfg_a_to_b']
    # Read back: the subscription is stopped at the subscriber, the slot untouched at the publisher.
    assert subscription_row(b, db, 'cfg_a_to_b') == (False, None)
    assert slots(a) == ['cfg_a_to_b']
    assert count(b, db, 'SELECT count(*) FROM cfg_person') == 5
    # Leave no orphan for the next tests: without publisher_lost the module drops it.
    replicate(module_runner, dict(running, state='stopped'))
    assert slots(a) == []


def test_catchup_with_publisher_killed_then_orphan_slot_cleanup(pair, module_runner):
    a, b = pair
    db, running = streaming_cfg(pair, module_runner, 20)
    a.kill()
    try:
        drained = replicate(module_runner, dict(running, state='stopped', wait_for_catchup=True))
        assert not drained.get('failed'), drained
        assert drained['publisher_reachable'] is False
        assert drained['catchup']['mode'] == 'received' and drained['catchup']['applied_lsn']
        assert drained['orphaned_slots'] == ['cfg_a_to_b'] and drained['lag_bytes'] is None
        assert any('cfg_a_to_b' in w and 'retaining WAL' in w for w in drained['warnings'])
        assert subscription_row(b, db, 'cfg_a_to_b') == (False, None)
        assert count(b, db, 'SELECT count(*) FROM cfg_person') == 20
    finally:
        a.start()
    assert slots(a) == ['cfg_a_to_b']
    cleaned = replicate(module_runner, dict(running, state='stopped'))
    assert cleaned['changed'] and cleaned['publisher_reachable'] and slots(a) == []


def test_absent_with_publisher_gone_and_slot_type_drops_orphan(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    running = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'])
    replicate(module_runner, running)
    a.kill()
    try:
        started = time.monotonic()
        gone = replicate(module_runner, dict(running, state='absent'))
        assert gone['changed'] and not gone.get('failed'), gone
        assert time.monotonic() - started < 15
        assert gone['orphaned_slots'] == ['cfg_a_to_b'] and subscription_row(b, db, 'cfg_a_to_b') is None
    finally:
        a.start()
    slot_args = dict(a.login_args(db), type='slot', name='cfg_a_to_b', state='absent')
    assert replicate(module_runner, slot_args, check_mode=True)['changed'] and slots(a) == ['cfg_a_to_b']
    dropped = replicate(module_runner, slot_args)
    assert dropped['changed'] and dropped['initial_state']['exists'] and slots(a) == []
    assert not replicate(module_runner, slot_args)['changed']


def test_active_slot_is_not_dropped(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    replicate(module_runner, sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub']))
    wait_until(lambda: a.sql('postgres', "SELECT active FROM pg_replication_slots WHERE slot_name = 'cfg_a_to_b'")[0][0], what='slot active')
    refused = replicate(module_runner, dict(a.login_args(db), type='slot', name='cfg_a_to_b', state='absent'))
    assert refused['failed'] and 'in use by WAL sender' in refused['msg'] and slots(a) == ['cfg_a_to_b']


def test_max_lag_bytes_refuses_while_a_table_is_still_copied(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    a.sql(db, "INSERT INTO cfg_person (name) VALUES ('copied')")
    # The table sync worker's COPY fails on this constraint at the subscriber and is retried, so
    # cfg_person cannot become ready while it is there.
    b.sql(db, "ALTER TABLE cfg_person ADD CONSTRAINT not_yet CHECK (name <> 'copied')")
    replicate(module_runner, pub_args(a, db, 'sync_pub', all_tables=True))
    running = sub_args(b, a, db, 'sync_a_to_b', ['sync_pub'], copy_data=True)
    created = replicate(module_runner, running)
    assert not created.get('failed'), created.get('msg')
    refused = replicate(module_runner, dict(running, state='stopped', max_lag_bytes=10 ** 9))
    # The small table may still be listed before it (sync_done is not ready yet): the big one must be among them.
    assert refused['failed'] and re.search(r'not yet in sync: (\S+ \([a-z_]+\), )*public\.cfg_person \(', refused['msg'])
    assert 'Nothing was changed' in refused['msg']
    assert subscription_row(b, db, 'sync_a_to_b') == (True, 'sync_a_to_b') and 'sync_a_to_b' in slots(a)

    b.sql(db, 'ALTER TABLE cfg_person DROP CONSTRAINT not_yet')
    passed = replicate(module_runner, dict(running, wait_for_catchup=True))
    assert not passed.get('failed'), passed.get('msg')
    assert count(b, db, "SELECT count(*) FROM cfg_person WHERE name = 'copied'") == 1
    replicate(module_runner, dict(running, state='absent'))


def test_max_lag_bytes_refuses_and_changes_nothing(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'lag_pub', all_tables=True))
    running = sub_args(b, a, db, 'lag_a_to_b', ['lag_pub'])
    replicate(module_runner, running)
    blocker = b.connect(db)
    try:
        # The apply worker waits for this lock, so the subscriber falls behind.
        blocker.autocommit = False
        blocker.cursor().execute('LOCK TABLE cfg_person IN ACCESS EXCLUSIVE MODE')
        # In 20 transactions, not one: while a transaction's WAL is still being decoded, the WAL sender's
        # keepalive lets an idle subscriber confirm a position inside it, so a single one can show almost no
        # lag (this test failed 3 times in CI that way). The apply worker, blocked in the first, confirms
        # nothing after it, so at least the other 19 are measured.
        for first in range(0, 2000, 100):
            a.sql(db, "INSERT INTO cfg_person (name) SELECT repeat('x', 200) || i FROM generate_series(%d, %d) i" % (first + 1, first + 100))
        refused = replicate(module_runner, dict(running, state='stopped', max_lag_bytes=10000))
        assert refused['failed'] and 'more than max_lag_bytes 10000' in refused['msg'], refused.get('msg')
        assert refused['lag_bytes'] > 10000
        assert subscription_row(b, db, 'lag_a_to_b') == (True, 'lag_a_to_b') and slots(a) == ['lag_a_to_b']

        timed_out = replicate(module_runner, dict(running, wait_for_catchup=True, catchup_timeout=1))
        assert timed_out['failed'] and 'has not caught up' in timed_out['msg'] and 'bytes' in timed_out['msg']
    finally:
        blocker.rollback()
        blocker.close()
    passed = replicate(module_runner, dict(running, max_lag_bytes=10 ** 9, wait_for_catchup=True))
    assert not passed.get('failed') and passed['lag_bytes'] < 10 ** 9
    assert count(b, db, 'SELECT count(*) FROM cfg_person') == 2000

    stopped = replicate(module_runner, dict(running, state='stopped'))
    assert stopped['changed']
    unmeasurable = replicate(module_runner, dict(running, max_lag_bytes=10 ** 9))
    assert unmeasurable['failed'] and 'cannot measure the lag' in unmeasurable['msg']
    assert subscription_row(b, db, 'lag_a_to_b') == (False, None)


def test_bidirectional_row_filtered_replication_does_not_loop(pair, module_runner):
    a, b = pair
    db = new_db(pair, LOG_SCHEMA, 'logdb')
    for cluster, site in ((a, 'site_a'), (b, 'site_b')):
        cluster.sql('postgres', "ALTER DATABASE %s SET genesys.db_site = '%s'" % (db, site))
        result = replicate(module_runner, pub_args(cluster, db, 'log_pub', publish=['insert'],
                                                   tables=[dict(name='public.log_event', row_filter="db_site = '%s'" % site)]))
        assert result['changed'], result
    a_to_b = sub_args(b, a, db, 'log_a_to_b', ['log_pub'], wait_for_catchup=True)
    b_to_a = sub_args(a, b, db, 'log_b_to_a', ['log_pub'], wait_for_catchup=True)
    assert replicate(module_runner, a_to_b)['changed']
    assert replicate(module_runner, b_to_a)['changed']

    a.sql(db, "INSERT INTO log_event (message) VALUES ('written at a')")
    b.sql(db, "INSERT INTO log_event (message) VALUES ('written at b')")
    for _round in range(2):
        for args in (a_to_b, b_to_a):
            result = replicate(module_runner, args)
            assert not result['changed'] and result['catchup']['mode'] == 'publisher'
    expected = [('site_a', 'written at a'), ('site_b', 'written at b')]
    for cluster in (a, b):
        assert cluster.sql(db, 'SELECT db_site, message FROM log_event ORDER BY 1') == expected
        assert cluster.sql(db, 'SELECT apply_error_count, sync_error_count FROM pg_stat_subscription_stats') == [(0, 0)]


def test_creating_needs_reachable_publisher_and_existing_publication(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    unreachable = replicate(module_runner, dict(sub_args(b, a, db, 's', ['cfg_pub']), publisher=dict(a.publisher(db), port=pgcluster.free_port())))
    assert unreachable['failed'] and 'cannot start subscription s' in unreachable['msg'] and 'cannot reach the publisher' in unreachable['msg']
    bad_password = replicate(module_runner, dict(sub_args(b, a, db, 's', ['cfg_pub']), publisher=dict(a.publisher(db), password='wrong')))
    assert bad_password['failed'] and 'authentication to the publisher' in bad_password['msg']
    no_pub = replicate(module_runner, sub_args(b, a, db, 's', ['cfg_pub']))
    assert no_pub['failed'] and 'publication(s) cfg_pub do not exist on the publisher' in no_pub['msg']
    # A check run cannot see the publication an earlier task of the same run would create:
    # it predicts the change and warns instead of failing.
    checked = replicate(module_runner, sub_args(b, a, db, 's', ['cfg_pub']), check_mode=True)
    assert not checked.get('failed') and checked['changed']
    assert any('cfg_pub do not exist (yet)' in w for w in checked['warnings'])
    assert subscription_row(b, db, 's') is None


def test_stopped_subscription_created_without_stream_then_started(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    stopped_args = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'], state='stopped')
    created = replicate(module_runner, stopped_args)
    assert created['changed'] and created['subscription']['status'] == 'stopped'
    assert sorted(t['state'] for t in created['subscription']['tables']) == ['ready', 'ready']
    assert slots(a) == [] and not replicate(module_runner, stopped_args)['changed']
    started = replicate(module_runner, dict(stopped_args, state='running'))
    assert started['changed'] and started['subscription']['status'] == 'running'
    a.sql(db, "INSERT INTO cfg_dn (name) VALUES ('dn1')")
    replicate(module_runner, dict(stopped_args, state='running', wait_for_catchup=True))
    assert b.sql(db, 'SELECT name FROM cfg_dn') == [('dn1',)]


def test_resync_by_copy_recreates_a_stopped_subscription(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    stopped_args = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'], state='stopped')
    replicate(module_runner, stopped_args)
    old_oid = b.sql(db, "SELECT oid FROM pg_subscription WHERE subname = 'cfg_a_to_b'")[0][0]
    a.sql(db, "INSERT INTO cfg_person (name) VALUES ('a1'), ('a2')")
    b.sql(db, "INSERT INTO cfg_person (name) VALUES ('diverged_at_b')")
    resync = dict(stopped_args, state='running', copy_data=True, wait_for_catchup=True)

    refused = replicate(module_runner, resync)
    assert refused['failed'] and 'refusing to copy' in refused['msg']
    assert subscription_row(b, db, 'cfg_a_to_b') == (False, None) and refused.get('queries') == []

    checked = replicate(module_runner, dict(resync, truncate_before_copy=True), check_mode=True)
    assert [q.split(' ')[0] for q in checked['queries']] == ['DROP', 'TRUNCATE', 'CREATE']
    assert b.sql(db, 'SELECT name FROM cfg_person') == [('diverged_at_b',)]

    done = replicate(module_runner, dict(resync, truncate_before_copy=True))
    assert done['changed'] and done['catchup']['mode'] == 'publisher'
    assert done['subscription']['oid'] != old_oid
    assert b.sql(db, 'SELECT name FROM cfg_person ORDER BY 1') == [('a1',), ('a2',)]


def test_running_subscription_follows_tables_added_to_the_publication(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', tables=[dict(name='cfg_person')]))
    running = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'], copy_data=True, wait_for_catchup=True)
    assert [t['name'] for t in replicate(module_runner, running)['subscription']['tables']] == ['public.cfg_person']
    a.sql(db, "INSERT INTO cfg_dn (name) VALUES ('dn_before_added')")
    assert replicate(module_runner, pub_args(a, db, 'cfg_pub', tables=[dict(name='cfg_person'), dict(name='cfg_dn')]))['changed']

    followed = replicate(module_runner, running)
    assert followed['changed'] and 'ALTER SUBSCRIPTION "cfg_a_to_b" REFRESH PUBLICATION WITH (copy_data = true)' in followed['queries']
    assert [(t['name'], t['state']) for t in followed['subscription']['tables']] == [('public.cfg_dn', 'ready'), ('public.cfg_person', 'ready')]
    assert b.sql(db, 'SELECT name FROM cfg_dn') == [('dn_before_added',)]
    assert not replicate(module_runner, running)['changed']


def test_stop_waits_for_catchup_with_reachable_publisher(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    running = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'])
    replicate(module_runner, running)
    a.sql(db, "INSERT INTO cfg_person (name) SELECT 'p' || i FROM generate_series(1, 500) i")
    stopped = replicate(module_runner, dict(running, state='stopped', wait_for_catchup=True))
    assert stopped['changed'] and stopped['catchup']['mode'] == 'publisher'
    assert count(b, db, 'SELECT count(*) FROM cfg_person') == 500 and slots(a) == []
    again = replicate(module_runner, dict(running, state='stopped', wait_for_catchup=True))
    assert not again['changed'] and again['catchup']['mode'] == 'skipped'


# --- bounded waits on the publisher ---------------------------------------------------------------------

def conninfo_of(cluster, db, name):
    return psycopg2.extensions.parse_dsn(cluster.sql(db, 'SELECT subconninfo FROM pg_subscription WHERE subname = %s', (name,))[0][0])


def keepalive_timer(pid, port):
    """Seconds left on the TCP keepalive timer of process pid's connection to port, as the kernel shows it (ss)."""
    out = subprocess.run(['ss', '-tnop', 'state', 'established', 'dport = :%d' % port], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if 'pid=%d,' % pid in line:
            match = re.search(r'timer:\(keepalive,(?:(\d+)min)?(?:([\d.]+)sec)?(?:([\d.]+)ms)?', line)
            if match:
                minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
                return minutes * 60 + seconds + millis / 1000
    return None


@pytest.mark.skipif(not shutil.which('ss'), reason='ss (iproute2) not installed')
def test_subscription_connection_bounds_waits_and_is_rewritten_only_when_changed(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    running = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'])
    assert replicate(module_runner, running)['changed']
    bounds = dict(keepalives='1', keepalives_idle='5', keepalives_interval='2', keepalives_count='3', tcp_user_timeout='15000', connect_timeout='3')
    conninfo = conninfo_of(b, db, 'cfg_a_to_b')
    assert dict((k, conninfo.get(k)) for k in bounds) == bounds
    # The apply worker's own connection to the publisher really has them (the kernel's keepalive timer, not 2 hours).
    worker = wait_until(lambda: worker_pids(b, db, 'cfg_a_to_b'), what='apply worker')[0]
    timer = wait_until(lambda: keepalive_timer(worker, a.port), what='keepalive timer of the apply worker connection')
    assert timer <= 5

    # The replication role passes the same publisher every time: nothing is rewritten.
    again = replicate(module_runner, running)
    assert not again['changed'] and again['queries'] == []

    tuned = replicate(module_runner, dict(running, keepalives_idle=9))
    assert tuned['changed'] and [q.split(' CONNECTION ')[0] for q in tuned['queries']] == ['ALTER SUBSCRIPTION "cfg_a_to_b"']
    assert "password=''********''" in tuned['queries'][0]
    assert_no_secret(tuned)
    assert conninfo_of(b, db, 'cfg_a_to_b')['keepalives_idle'] == '9'
    assert not replicate(module_runner, dict(running, keepalives_idle=9))['changed']

    # A subscription created before the bounds existed gets them, once.
    old = dict((k, v) for k, v in conninfo_of(b, db, 'cfg_a_to_b').items() if k not in bounds)
    b.sql(db, 'ALTER SUBSCRIPTION cfg_a_to_b CONNECTION %s', (pgutil.build_conninfo(old),))
    upgraded = replicate(module_runner, running)
    assert upgraded['changed'] and upgraded['queries'][0].startswith('ALTER SUBSCRIPTION "cfg_a_to_b" CONNECTION')
    conninfo = conninfo_of(b, db, 'cfg_a_to_b')
    assert dict((k, conninfo.get(k)) for k in bounds) == bounds
    assert not replicate(module_runner, running)['changed']


def test_terminate_holder_ends_the_wal_sender_of_a_gone_subscriber_and_drops_the_slot(pair, module_runner):
    """After a partition the publisher's WAL sender keeps the slot of a subscriber that is gone. Here
    the subscriber's apply worker is frozen (SIGSTOP): it neither answers nor lets go, as across a cut link."""
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'held_pub', all_tables=True))
    running = sub_args(b, a, db, 'held_a_to_b', ['held_pub'])
    replicate(module_runner, running)
    wait_until(lambda: a.sql('postgres', "SELECT active FROM pg_replication_slots WHERE slot_name = 'held_a_to_b'")[0][0],
               what='slot active')
    worker = b.sql('postgres', "SELECT pid FROM pg_stat_subscription WHERE subname = 'held_a_to_b' AND relid IS NULL")[0][0]
    walsender = a.sql('postgres', "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'held_a_to_b'")[0][0]
    slot_args = dict(a.login_args(db), type='slot', name='held_a_to_b', state='absent', worker_timeout=15)
    os.kill(worker, signal.SIGSTOP)
    try:
        refused = replicate(module_runner, slot_args)
        assert refused['failed'] and 'set terminate_holder' in refused['msg'] and 'held_a_to_b' in slots(a)
        checked = replicate(module_runner, dict(slot_args, terminate_holder=True), check_mode=True)
        assert checked['changed'] and 'held_a_to_b' in slots(a)
        assert a.sql('postgres', 'SELECT count(*) FROM pg_stat_replication WHERE pid = %s', (walsender,))[0][0] == 1
        dropped = replicate(module_runner, dict(slot_args, terminate_holder=True))
        assert not dropped.get('failed'), dropped.get('msg')
        assert dropped['changed'] and dropped['terminated_walsender']['pid'] == walsender
        assert any('ending WAL sender pid %d' % walsender in w for w in dropped['warnings'])
        # Read back: the slot is gone, and so is that WAL sender.
        assert 'held_a_to_b' not in slots(a)
        assert a.sql('postgres', 'SELECT count(*) FROM pg_stat_activity WHERE pid = %s', (walsender,))[0][0] == 0
        b.sql(db, 'ALTER SUBSCRIPTION held_a_to_b DISABLE')
    finally:
        os.kill(worker, signal.SIGCONT)
    b.sql(db, 'ALTER SUBSCRIPTION held_a_to_b SET (slot_name = NONE)')
    b.sql(db, 'DROP SUBSCRIPTION held_a_to_b')


def test_creating_is_bounded_while_the_publisher_cannot_create_the_slot(pair, module_runner):
    """CREATE SUBSCRIPTION makes the subscriber server create the slot on the publisher, which waits for every
    transaction running there: the module bounds it by worker_timeout."""
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    running = sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub'], worker_timeout=3)
    blocker = a.connect(db)
    blocker.autocommit = False
    # Only a safety net for the unbounded case, which would otherwise wait for ever: it ends the open transaction.
    release = threading.Timer(60, lambda: a.sql('postgres', 'SELECT pg_terminate_backend(%s)', (blocker.get_backend_pid(),)))
    try:
        blocker.cursor().execute("INSERT INTO cfg_dn (name) VALUES ('open transaction')")
        release.start()
        started = time.monotonic()
        created = replicate(module_runner, running)
        waited = time.monotonic() - started
    finally:
        release.cancel()
        if not blocker.closed:
            try:
                blocker.rollback()
            except psycopg2.Error:
                pass
            blocker.close()
    # The publisher's WAL sender finishes the slot once the transaction is over; the fixture drops what it leaves.
    wait_until(lambda: not a.sql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walsender' AND application_name = 'cfg_a_to_b'"),
               what='WAL sender of the cancelled CREATE SUBSCRIPTION gone')
    assert created['failed'] and 'statement timeout' in created['msg'] and 'CREATE SUBSCRIPTION' in created['msg'], created['msg']
    assert waited < 60
    assert_no_secret(created)
    assert subscription_row(b, db, 'cfg_a_to_b') is None


def test_unbounded_publisher_wait_is_refused(module_runner):
    result = replicate(module_runner, dict(BASE, type='subscription', name='s', state='running', publications=['p'],
                                           publisher=dict(host='h', dbname='d', user='u', connect_timeout=0)))
    assert result['failed'] and 'publisher.connect_timeout must be at least 1' in result['msg']


# --- a publisher that stops answering in the middle of a transaction ------------------------------------

BULK_SCHEMA = 'CREATE TABLE bulk (id bigserial PRIMARY KEY, payload text NOT NULL);'


def worker_pids(cluster, db, name):
    return [r[0] for r in cluster.sql(db, 'SELECT pid FROM pg_stat_subscription WHERE subname = %s AND pid IS NOT NULL ORDER BY 1', (name,))]


def freeze_publisher_mid_transaction(a, b, db, name):
    """Leave the apply worker of subscription ``name`` (a -> b, running) inside a remote transaction that the
    publisher a, frozen, will never finish sending: a partition in the middle of a stream. Returns
    (apply worker pid, pids to resume a)."""
    worker = wait_until(lambda: worker_pids(b, db, name), what='apply worker of %s' % name)[0]
    blocker = b.connect(db)
    paused = None
    try:
        # The apply worker stops at the first row of the transaction on this lock, so the publisher's WAL sender
        # fills the socket buffers and has to wait for them with the rest of the transaction unsent.
        blocker.autocommit = False
        blocker.cursor().execute('LOCK TABLE bulk IN ACCESS EXCLUSIVE MODE')
        a.sql(db, "INSERT INTO bulk (payload) SELECT repeat('x', 600) FROM generate_series(1, 100000)")
        wait_until(lambda: b.sql(db, 'SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s', (worker,)) == [('Lock',)],
                   timeout=60, what='apply worker waiting for the lock inside the remote transaction')
        wait_until(lambda: a.sql('postgres', "SELECT wait_event FROM pg_stat_activity WHERE backend_type = 'walsender' AND application_name = %s",
                                 (name,)) == [('WalSenderWriteData',)], timeout=60, what='WAL sender of %s blocked on a full socket' % name)
        paused = a.pause()
    finally:
        blocker.rollback()
        blocker.close()
    return worker, paused


@contextlib.contextmanager
def stream_cut_mid_transaction(pair, module_runner):
    """A running subscription bulk_a_to_b (a -> b) that has applied one committed row, then its publisher a frozen
    in the middle of sending a transaction (freeze_publisher_mid_transaction). Yields (db, the subscription's
    arguments, apply worker pid) while a is frozen; resumes a afterwards."""
    a, b = pair
    db = new_db(pair, BULK_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'bulk_pub', all_tables=True))
    running = sub_args(b, a, db, 'bulk_a_to_b', ['bulk_pub'])
    a.sql(db, "INSERT INTO bulk (payload) VALUES ('committed before')")
    assert replicate(module_runner, dict(running, copy_data=True, wait_for_catchup=True))['changed']
    worker, paused = freeze_publisher_mid_transaction(a, b, db, 'bulk_a_to_b')
    try:
        yield db, running, worker
    finally:
        a.resume(paused)


def test_stop_ends_an_apply_worker_stuck_on_a_silent_publisher(pair, module_runner):
    b = pair[1]
    with stream_cut_mid_transaction(pair, module_runner) as (db, running, worker):
        stopped = replicate(module_runner, dict(running, state='stopped'))
        # Read back with separate connections, while the publisher is still frozen.
        left = worker_pids(b, db, 'bulk_a_to_b')
        row = subscription_row(b, db, 'bulk_a_to_b')
    assert not stopped.get('failed'), stopped['msg']
    assert stopped['terminated_workers'] == [worker]
    assert any('terminated' in w and str(worker) in w for w in stopped['warnings'])
    assert left == [] and row == (False, None)
    assert stopped['publisher_reachable'] is False and stopped['orphaned_slots'] == ['bulk_a_to_b']
    assert stopped['subscription']['status'] == 'stopped'
    assert_no_secret(stopped)


def test_drain_ends_at_a_transaction_a_silent_publisher_never_finishes(pair, module_runner):
    b = pair[1]
    with stream_cut_mid_transaction(pair, module_runner) as (db, running, worker):
        drained = replicate(module_runner, dict(running, state='stopped', wait_for_catchup=True))
        left = worker_pids(b, db, 'bulk_a_to_b')
        rows = count(b, db, 'SELECT count(*) FROM bulk')
    assert not drained.get('failed'), drained['msg']
    assert drained['catchup']['mode'] == 'received' and drained['catchup']['seconds'] < running['catchup_timeout']
    # The transaction the publisher never finished sending is not applied: it is part of what was lost with it.
    assert rows == 1
    assert drained['terminated_workers'] == [worker] and left == []
    assert drained['ended_idle_workers'] == []


def test_a_lost_publisher_never_ends_a_worker_inside_a_transaction_at_once(pair, module_runner):
    """publisher_lost: the worker holding a transaction the publisher never finishes is not ended as idle.

    It is ended only after the grace period, with the warning that its open transaction was rolled back."""
    b = pair[1]
    with stream_cut_mid_transaction(pair, module_runner) as (db, running, worker):
        drained = replicate(module_runner, dict(running, state='stopped', wait_for_catchup=True, publisher_lost=True))
        left = worker_pids(b, db, 'bulk_a_to_b')
        rows = count(b, db, 'SELECT count(*) FROM bulk')
    assert not drained.get('failed'), drained['msg']
    assert drained['ended_idle_workers'] == []
    assert drained['terminated_workers'] == [worker] and left == [] and rows == 1
    assert any('rolled back' in w and str(worker) in w for w in drained['warnings'])
    # Leave no orphan for the next tests.
    replicate(module_runner, dict(running, state='stopped'))


def test_require_running_only_waits_and_refuses_a_subscription_that_is_not_running(pair, module_runner):
    """A wait that must only wait: running, it waits for catch-up; disabled (with or without its slot) or
    absent, it is refused before anything changes, in check mode too: nothing started, nothing created."""
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    replicate(module_runner, pub_args(a, db, 'rr_pub', all_tables=True))
    running = sub_args(b, a, db, 'rr_a_to_b', ['rr_pub'])
    replicate(module_runner, running)
    a.sql(db, "INSERT INTO cfg_person (name) VALUES ('before the wait')")
    waited = replicate(module_runner, dict(running, require_running=True, wait_for_catchup=True))
    assert not waited.get('failed') and not waited.get('changed'), waited.get('msg')
    assert waited['catchup']['mode'] == 'publisher'
    assert count(b, db, "SELECT count(*) FROM cfg_person WHERE name = 'before the wait'") == 1

    b.sql(db, 'ALTER SUBSCRIPTION rr_a_to_b DISABLE')
    refused = replicate(module_runner, dict(running, require_running=True, wait_for_catchup=True))
    assert refused['failed'] and refused['msg'] == (
        'subscription rr_a_to_b is disabled_with_slot, not running (require_running): it is not in sync with its '
        'publisher. Nothing was changed.'), refused.get('msg')
    assert refused['initial_state']['enabled'] is False
    assert subscription_row(b, db, 'rr_a_to_b') == (False, 'rr_a_to_b') and slots(a) == ['rr_a_to_b']

    b.sql(db, 'ALTER SUBSCRIPTION rr_a_to_b SET (slot_name = NONE)')
    for check_mode in (True, False):
        refused = replicate(module_runner, dict(running, require_running=True), check_mode=check_mode)
        assert refused['failed'] and 'is stopped, not running (require_running)' in refused['msg'], refused.get('msg')
    assert subscription_row(b, db, 'rr_a_to_b') == (False, None) and slots(a) == ['rr_a_to_b']

    absent = replicate(module_runner, dict(running, name='rr_never', require_running=True))
    assert absent['failed'] and 'subscription rr_never is absent, not running' in absent['msg'], absent.get('msg')
    assert subscription_row(b, db, 'rr_never') is None and slots(a) == ['rr_a_to_b']


def test_require_running_is_refused_with_another_state(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA)
    refused = replicate(module_runner, sub_args(b, a, db, 'rr_stop', ['rr_pub'], state='stopped', require_running=True))
    assert refused['failed'] and refused['msg'] == (
        'require_running applies only with state=running (state is stopped); nothing was changed')
    assert subscription_row(b, db, 'rr_stop') is None
