"""pg_subscription_info on two real PostgreSQL 15 clusters: what it reports is read back with separate queries,
and nothing changes on either server."""
from ansible_collections.genesys_dr.framework.plugins.modules import pg_subscription_info
from ansible_collections.genesys_dr.framework.plugins.module_utils import postgres as pgutil

from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster
from ansible_collections.genesys_dr.framework.tests.unit.plugins.modules.test_logical_replication import (  # noqa: F401 pylint: disable=unused-import
    CFG_SCHEMA,
    assert_no_secret,
    new_db,
    pair,
    pub_args,
    replicate,
    slots,
    sub_args,
)

# new_db() numbers databases with a counter of the module it comes from, which pytest also imports under
# another name (with a counter of its own): this module's databases take their own prefix.
DB_PREFIX = 'infodb'
BASE = dict(login_db='cfgdb', login_host='127.0.0.1', login_password='x')


def catalog(cluster, db):
    """Everything the module could change, read directly: subscriptions, slots, publications."""
    return (cluster.sql(db, 'SELECT subname, subenabled, subslotname, subpublications FROM pg_subscription ORDER BY 1'),
            cluster.sql('postgres', 'SELECT slot_name, active FROM pg_replication_slots ORDER BY 1'),
            cluster.sql(db, 'SELECT pubname FROM pg_publication ORDER BY 1'))


def info(module_runner, cluster, db, **kwargs):
    return module_runner(pg_subscription_info, dict(cluster.login_args(db), **kwargs))


def test_unbounded_publisher_wait_is_refused(module_runner):
    result = module_runner(pg_subscription_info, dict(BASE, publisher=dict(host='h', dbname='d', user='u', connect_timeout=0)))
    assert result['failed'] and 'publisher.connect_timeout must be at least 1' in result['msg']


def test_reads_running_stopped_and_absent_subscriptions_changing_nothing(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA, DB_PREFIX)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    replicate(module_runner, sub_args(b, a, db, 'run_a_to_b', ['cfg_pub'], wait_for_catchup=True))
    replicate(module_runner, sub_args(b, a, db, 'stop_a_to_b', ['cfg_pub'], state='stopped'))
    before = (catalog(a, db), catalog(b, db))

    result = info(module_runner, b, db, name=['run_a_to_b', 'stop_a_to_b', 'nothing_here'], publisher=a.publisher(db))
    assert not result['changed'] and not result.get('failed'), result
    running, stopped, absent = result['subscriptions']
    assert (catalog(a, db), catalog(b, db)) == before

    # Read back independently: the catalog and the statistics views say the same.
    row = b.sql(db, 'SELECT s.oid, s.subenabled, s.subslotname, w.pid FROM pg_subscription s LEFT JOIN pg_stat_subscription w'
                    ' ON w.subid = s.oid AND w.relid IS NULL WHERE s.subname = %s', ('run_a_to_b',))[0]
    assert (running['name'], running['exists'], running['oid'], running['enabled'], running['slot_name'], running['worker_pid']) == (
        'run_a_to_b', True, row[0], True, 'run_a_to_b', row[3])
    assert running['status'] == 'running' and running['publications'] == ['cfg_pub']
    assert running['slot']['name'] == 'run_a_to_b' and running['slot']['exists'] and running['slot']['active']
    assert isinstance(running['lag_bytes'], int) and running['lag_bytes'] >= 0
    # One reading: the lag is the reported publisher position past the reported slot's confirmed position.
    assert running['lag_bytes'] == max(0, pgutil.lsn_to_int(result['publisher_lsn'])
                                       - pgutil.lsn_to_int(running['slot']['confirmed_flush_lsn']))
    assert stopped['status'] == 'stopped' and stopped['slot_name'] is None and stopped['slot'] is None and stopped['lag_bytes'] is None
    assert b.sql(db, "SELECT subenabled, subslotname FROM pg_subscription WHERE subname = 'stop_a_to_b'") == [(False, None)]
    assert absent == dict(absent, name='nothing_here', exists=False, status='absent', lag_bytes=None, slot=None)
    assert result['publisher_reachable'] is True and result['publisher_error'] is None
    assert pgutil.lsn_to_int(result['publisher_lsn']) <= pgutil.lsn_to_int(a.sql(db, 'SELECT pg_current_wal_insert_lsn()::text')[0][0])
    assert_no_secret(result)

    # Without a name: every subscription of the database, in name order; without a publisher: no lag, no slot.
    every = info(module_runner, b, db)
    assert [s['name'] for s in every['subscriptions']] == ['run_a_to_b', 'stop_a_to_b']
    assert every['publisher_reachable'] is None and all(s['lag_bytes'] is None and s['slot'] is None for s in every['subscriptions'])
    assert every['subscriptions'][0]['status'] == 'running'


def test_unreachable_publisher_is_reported_not_failed(pair, module_runner):
    a, b = pair
    db = new_db(pair, CFG_SCHEMA, DB_PREFIX)
    replicate(module_runner, pub_args(a, db, 'cfg_pub', all_tables=True))
    replicate(module_runner, sub_args(b, a, db, 'cfg_a_to_b', ['cfg_pub']))

    lost = info(module_runner, b, db, name=['cfg_a_to_b'], publisher=dict(a.publisher(db), port=pgcluster.free_port()))
    assert not lost.get('failed'), lost
    assert lost['publisher_reachable'] is False and 'cannot reach the publisher' in lost['publisher_error']
    assert lost['publisher_lsn'] is None
    assert lost['subscriptions'][0]['exists'] and lost['subscriptions'][0]['lag_bytes'] is None
    assert_no_secret(lost)

    wrong = info(module_runner, b, db, name=['cfg_a_to_b'], publisher=dict(a.publisher(db), password='wrong'))
    assert wrong['failed'] and 'authentication' in wrong['msg']
    assert_no_secret(wrong)


def test_subscriber_down_fails_with_its_address(pair, module_runner):
    a, b = pair
    b.stop('fast')
    try:
        result = info(module_runner, b, 'postgres')
    finally:
        b.ensure_running()
    assert result['failed'] and str(b.port) in result['msg']
