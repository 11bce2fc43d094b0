"""pg_content_info on two real PostgreSQL 15 clusters: the same rows give the same checksums
whatever the insert order and the server's output defaults; one changed row changes exactly
its table's checksum; a refused login says so without the password."""
import itertools
import json

import pytest

from ansible_collections.genesys_dr.framework.plugins.filter.dr_filters import row_divergence
from ansible_collections.genesys_dr.framework.plugins.modules import pg_content_info
from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster

SCHEMA = (
    'CREATE TABLE cfg_person (dbid int PRIMARY KEY, name text NOT NULL, changed_at timestamptz, score float8);'
    'CREATE TABLE cfg_dn (dbid int PRIMARY KEY, number text NOT NULL);'
    'CREATE TABLE cfg_empty (dbid int);'
    'CREATE SCHEMA cfg_extra; CREATE TABLE cfg_extra.cfg_note (body bytea);')
PERSONS = [(1, 'agent one', '2026-11-24 10:00:00+00', 0.1), (2, 'Agent two', '2026-11-24 11:30:00+00', 2.5),
           (3, 'b agent', None, None)]
DNS = [(1, '5551000'), (2, '5551001')]

_names = itertools.count()


def fill(cluster, db, persons, dns):
    for row in persons:
        cluster.sql(db, 'INSERT INTO cfg_person VALUES (%s, %s, %s, %s)', row)
    for row in dns:
        cluster.sql(db, 'INSERT INTO cfg_dn VALUES (%s, %s)', row)
    cluster.sql(db, "INSERT INTO cfg_extra.cfg_note VALUES ('\\x00ff'::bytea)")


@pytest.fixture
def twin_dbs(pg_pair):
    """The same rows in a database at each cluster, inserted in another order, under other server defaults."""
    for cluster in pg_pair:
        cluster.ensure_running()
    name = 'content_%d' % next(_names)
    a, b = pg_pair
    for cluster in pg_pair:
        cluster.sql('postgres', 'CREATE DATABASE %s' % name)
        cluster.sql(name, SCHEMA)
    fill(a, name, PERSONS, DNS)
    fill(b, name, list(reversed(PERSONS)), list(reversed(DNS)))
    # What a row looks like as text depends on these: the module must not.
    b.sql('postgres', "ALTER DATABASE %s SET timezone = 'America/Sao_Paulo'" % name)
    b.sql('postgres', "ALTER DATABASE %s SET datestyle = 'SQL, DMY'" % name)
    b.sql('postgres', 'ALTER DATABASE %s SET extra_float_digits = 3' % name)
    b.sql('postgres', "ALTER DATABASE %s SET bytea_output = 'escape'" % name)
    return a, b, name


def test_same_rows_same_checksums_one_changed_row_changes_only_its_table(twin_dbs, module_runner):
    a, b, db = twin_dbs
    at_a = module_runner(pg_content_info, a.login_args(db))
    at_b = module_runner(pg_content_info, b.login_args(db))
    assert not at_a['failed'] and not at_a['changed'], at_a
    assert at_a['database'] == db
    assert sorted(at_a['tables']) == ['cfg_extra.cfg_note', 'public.cfg_dn', 'public.cfg_empty', 'public.cfg_person']
    assert at_a['tables']['public.cfg_person']['rows'] == 3 and at_a['tables']['public.cfg_empty']['rows'] == 0
    assert at_a['tables']['public.cfg_empty']['md5'] == 'd41d8cd98f00b204e9800998ecf8427e'
    assert at_a['tables'] == at_b['tables']
    assert 'row_fingerprints' not in at_a

    b.sql(db, "UPDATE cfg_person SET name = 'agent 2' WHERE dbid = 2")
    after = module_runner(pg_content_info, b.login_args(db))
    differing = sorted(t for t in at_a['tables'] if at_a['tables'][t] != after['tables'][t])
    assert differing == ['public.cfg_person']
    assert after['tables']['public.cfg_person']['rows'] == 3

    rows_a = module_runner(pg_content_info, dict(a.login_args(db), row_fingerprints=True))
    rows_b = module_runner(pg_content_info, dict(b.login_args(db), row_fingerprints=True))
    assert not rows_a["failed"], rows_a
    assert rows_a["tables"] == at_a["tables"]
    assert len(rows_a['row_fingerprints']) == 3 + 2 + 1
    assert row_divergence(rows_a['row_fingerprints'], rows_b['row_fingerprints']) == {'public.cfg_person': 1}
    assert row_divergence(rows_b['row_fingerprints'], rows_a['row_fingerprints']) == {'public.cfg_person': 1}


def test_check_mode_reads_the_same(twin_dbs, module_runner):
    a, _b, db = twin_dbs
    checked = module_runner(pg_content_info, a.login_args(db), check_mode=True)
    assert not checked['failed'] and not checked['changed']
    assert checked['tables'] == module_runner(pg_content_info, a.login_args(db))['tables']


def test_reads_one_snapshot_and_leaves_no_transaction_open(twin_dbs, module_runner):
    a, _b, db = twin_dbs
    module_runner(pg_content_info, a.login_args(db))
    left = a.sql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state <> 'idle'", (db,))[0][0]
    assert left == 0


def test_wrong_password_fails_clearly_without_the_password(twin_dbs, module_runner):
    a, _b, db = twin_dbs
    wrong = 'Wr0ng-pass:w\\ord'
    failed = module_runner(pg_content_info, dict(a.login_args(db), login_password=wrong))
    assert failed['failed'] and failed['connection_error'] == 'auth'
    assert 'authentication to PostgreSQL at %s@%s:%s/%s was refused' % (
        pgcluster.SUPERUSER, pgcluster.HOST, a.port, db) in failed['msg']
    assert 'Check the user name and password' in failed['msg']
    text = json.dumps(failed)
    assert wrong not in text and pgcluster.SUPERUSER_PASSWORD not in text


def test_unreadable_table_fails_naming_it(twin_dbs, module_runner):
    a, _b, db = twin_dbs
    a.sql('postgres', "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'content_reader') THEN"
                      " CREATE ROLE content_reader LOGIN PASSWORD 'reader-pw'; END IF; END $$")
    a.sql(db, 'GRANT SELECT ON cfg_person, cfg_dn, cfg_empty TO content_reader')
    failed = module_runner(pg_content_info, dict(a.login_args(db), login_user='content_reader', login_password='reader-pw'))
    assert failed['failed']
    assert 'permission denied for schema cfg_extra' in failed['msg'] or 'cfg_note' in failed['msg'], failed['msg']
