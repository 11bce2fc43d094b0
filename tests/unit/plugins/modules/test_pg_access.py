"""pg_access and pg_access_info on a real PostgreSQL 15 cluster, plus argument and message paths."""
import itertools

import psycopg2
import psycopg2.errors
import pytest

from ansible_collections.genesys_dr.framework.plugins.modules import pg_access, pg_access_info

APP_ROLE = 'genesys_cs'
APP_PASSWORD = 'cs-p4ss'
SCHEMA = (
    'CREATE TABLE cfg_person (dbid serial PRIMARY KEY, name text NOT NULL UNIQUE);'
    'CREATE TABLE cfg_dn (dbid serial PRIMARY KEY, name text NOT NULL UNIQUE);'
    'CREATE TABLE cfg_note (name text);'
    'ALTER TABLE cfg_person OWNER TO genesys_owner; ALTER TABLE cfg_dn OWNER TO genesys_owner; ALTER TABLE cfg_note OWNER TO genesys_owner;'
    'GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO genesys_cs;'
    'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO genesys_cs;')

_names = itertools.count()


@pytest.fixture
def cluster(pg_pair):
    cluster = pg_pair[0]
    cluster.ensure_running()
    cluster.sql('postgres', (
        'DO $$ BEGIN'
        ' IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = \'genesys_owner\') THEN CREATE ROLE genesys_owner NOLOGIN; END IF;'
        ' IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = \'genesys_cs\') THEN CREATE ROLE genesys_cs LOGIN PASSWORD \'%s\'; END IF;'
        ' END $$') % APP_PASSWORD)
    return cluster


@pytest.fixture
def db(cluster):
    name = 'access_%d' % next(_names)
    cluster.sql('postgres', 'CREATE DATABASE %s' % name)
    cluster.sql(name, SCHEMA)
    return name


def args_for(cluster, db, **kwargs):
    args = cluster.login_args(db)
    args.update(roles=[APP_ROLE])
    args.update(kwargs)
    return args


def app_session(cluster, db, name='ConfigServer'):
    conn = psycopg2.connect(host='127.0.0.1', port=cluster.port, dbname=db, user=APP_ROLE, password=APP_PASSWORD,
                            application_name=name, connect_timeout=5)
    return conn


def can(cluster, db, privilege, table='cfg_person'):
    return cluster.sql(db, 'SELECT has_table_privilege(%s, %s, %s)', (APP_ROLE, table, privilege))[0][0]


def alive(conn):
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT 1')
        return True
    except psycopg2.Error:
        return False


def test_read_only_revokes_and_terminates_the_writing_session(cluster, db, module_runner):
    writer = app_session(cluster, db)
    writer.cursor().execute("INSERT INTO cfg_person (name) VALUES ('in flight')")
    reader = app_session(cluster, db, 'Reader')
    reader.autocommit = True
    writer_pid, reader_pid = writer.get_backend_pid(), reader.get_backend_pid()
    args = args_for(cluster, db, state='read_only')
    try:
        checked = module_runner(pg_access, args, check_mode=True)
        assert checked['changed']
        assert 'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "public" FROM "genesys_cs"' in checked['queries']
        assert 'REVOKE USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA "public" FROM "genesys_cs"' in checked['queries']
        assert sorted(s['pid'] for s in checked['sessions_terminated']) == sorted([writer_pid, reader_pid])
        assert checked['final_state']['roles'][APP_ROLE]['access'] == 'read_only'
        assert can(cluster, db, 'INSERT') and alive(reader)

        done = module_runner(pg_access, args, diff=True)
        assert done['changed']
        assert done['initial_state']['roles'][APP_ROLE]['access'] == 'read_write'
        assert done['final_state']['roles'][APP_ROLE]['access'] == 'read_only'
        assert done['final_state']['roles'][APP_ROLE]['tables'] == dict(total=3, SELECT=3, INSERT=0, UPDATE=0, DELETE=0, TRUNCATE=0)
        assert done['diff']['before']['roles'][APP_ROLE]['access'] == 'read_write'
        terminated = dict((s['pid'], s) for s in done['sessions_terminated'])
        assert set(terminated) == {writer_pid, reader_pid}
        assert terminated[writer_pid]['application_name'] == 'ConfigServer' and terminated[writer_pid]['in_write_transaction']
        assert terminated[writer_pid]['terminated'] and terminated[writer_pid]['user'] == APP_ROLE
        with pytest.raises(psycopg2.OperationalError):
            writer.commit()
        assert not cluster.sql(db, "SELECT 1 FROM cfg_person WHERE name = 'in flight'")
    finally:
        writer.close()
        reader.close()

    fresh = app_session(cluster, db)
    fresh.autocommit = True
    try:
        with fresh.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("INSERT INTO cfg_person (name) VALUES ('refused')")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT nextval('cfg_person_dbid_seq')")
            cur.execute('SELECT count(*) FROM cfg_person')
        again = module_runner(pg_access, args)
        assert not again['changed'] and again['queries'] == [] and again['sessions_terminated'] == []
        assert alive(fresh)
    finally:
        fresh.close()


def test_rerun_terminates_sessions_still_in_a_write_transaction(cluster, db, module_runner):
    args = args_for(cluster, db, state='read_only')
    assert module_runner(pg_access, args)['changed']
    # As if an earlier run died between REVOKE and terminating: a session still holds a transaction id.
    holder = app_session(cluster, db, 'Holder')
    holder.cursor().execute('SELECT txid_current()')
    idle = app_session(cluster, db, 'Idle')
    idle.autocommit = True
    try:
        rerun = module_runner(pg_access, args)
        assert rerun['changed'] and [s['pid'] for s in rerun['sessions_terminated']] == [holder.get_backend_pid()]
        assert alive(idle) and not alive(holder)
        assert not module_runner(pg_access, dict(args, terminate_sessions=False))['changed']
    finally:
        holder.close()
        idle.close()


def test_read_write_grants_and_is_idempotent(cluster, db, module_runner):
    cluster.sql(db, 'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM genesys_cs; REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM genesys_cs')
    args = args_for(cluster, db, state='read_write')
    assert module_runner(pg_access, args, check_mode=True)['changed'] and not can(cluster, db, 'SELECT')
    done = module_runner(pg_access, args)
    assert done['changed'] and done['initial_state']['roles'][APP_ROLE]['access'] == 'none'
    assert done['final_state']['roles'][APP_ROLE]['access'] == 'read_write'
    conn = app_session(cluster, db)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO cfg_person (name) VALUES ('granted') RETURNING dbid")
        conn.commit()
    finally:
        conn.close()
    again = module_runner(pg_access, args)
    assert not again['changed'] and again['queries'] == []


def test_read_only_grants_missing_select(cluster, db, module_runner):
    cluster.sql(db, 'REVOKE SELECT ON cfg_dn FROM genesys_cs')
    done = module_runner(pg_access, args_for(cluster, db, state='read_only'))
    assert 'GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO "genesys_cs"' in done['queries']
    assert can(cluster, db, 'SELECT', 'cfg_dn') and not can(cluster, db, 'UPDATE', 'cfg_dn')


@pytest.mark.parametrize('setup, expected', [
    ('GRANT INSERT ON cfg_note TO PUBLIC', 'INSERT on public.cfg_note through a grant to PUBLIC'),
    ('GRANT genesys_owner TO genesys_cs', 'INSERT on public.cfg_dn through ownership by genesys_owner'),
])
def test_read_only_refused_when_write_access_is_kept_elsewhere(cluster, db, module_runner, setup, expected):
    cluster.sql(db, setup)
    try:
        refused = module_runner(pg_access, args_for(cluster, db, state='read_only'))
        assert refused['failed'] and 'nothing was changed' in refused['msg'] and expected in refused['msg']
        assert can(cluster, db, 'INSERT')
    finally:
        cluster.sql(db, 'REVOKE genesys_owner FROM genesys_cs')


def test_read_only_refused_for_a_superuser(cluster, db, module_runner):
    refused = module_runner(pg_access, dict(cluster.login_args(db), roles=['postgres'], state='read_only'))
    assert refused['failed'] and 'role postgres is a superuser' in refused['msg']


def test_advance_sequences_moves_only_sequences_behind(cluster, db, module_runner):
    # Rows arrive with their dbid (as logical replication delivers them); the local sequences stay behind.
    cluster.sql(db, "INSERT INTO cfg_person (dbid, name) VALUES (140, 'a'), (150, 'b')")
    cluster.sql(db, "INSERT INTO cfg_dn (name) VALUES ('dn1'), ('dn2')")
    args = args_for(cluster, db, state='read_write', advance_sequences=True, sequence_margin=10)

    checked = module_runner(pg_access, args, check_mode=True)
    assert checked['changed']
    assert checked['sequences_advanced'] == [dict(sequence='public.cfg_person_dbid_seq', table='public.cfg_person', column='dbid',
                                                  column_max=150, next_value_before=1, next_value_after=161)]
    assert cluster.sql(db, 'SELECT last_value, is_called FROM cfg_person_dbid_seq') == [(1, False)]

    done = module_runner(pg_access, args)
    assert done['changed'] and done['sequences_advanced'] == checked['sequences_advanced']
    assert "SELECT pg_catalog.setval('\"public\".\"cfg_person_dbid_seq\"', 160, true)" in done['queries']
    assert cluster.sql(db, "SELECT nextval('cfg_person_dbid_seq')") == [(161,)]
    assert cluster.sql(db, "SELECT last_value FROM cfg_dn_dbid_seq") == [(2,)]

    again = module_runner(pg_access, args)
    assert not again['changed'] and again['sequences_advanced'] == []


def test_advance_sequences_refuses_beyond_the_sequence_maximum(cluster, db, module_runner):
    cluster.sql(db, "ALTER SEQUENCE cfg_dn_dbid_seq MAXVALUE 100; INSERT INTO cfg_dn (dbid, name) VALUES (95, 'x')")
    refused = module_runner(pg_access, args_for(cluster, db, state='read_write', advance_sequences=True, sequence_margin=10))
    assert refused['failed'] and 'cfg_dn_dbid_seq cannot be advanced to 105: its maximum is 100' in refused['msg']


@pytest.mark.parametrize('override, message', [
    (dict(roles=['nobody_here']), 'role(s) nobody_here do not exist'),
    (dict(schema='no_schema'), 'schema no_schema does not exist in database'),
    (dict(roles=[]), 'roles is empty'),
    (dict(sequence_margin=-1), 'sequence_margin must be 0 or more'),
])
def test_input_errors(cluster, db, module_runner, override, message):
    result = module_runner(pg_access, dict(args_for(cluster, db, state='read_only'), **override))
    assert result['failed'] and message in result['msg']


def test_connection_errors_name_their_cause(cluster, db, module_runner):
    auth = module_runner(pg_access, dict(args_for(cluster, db, state='read_only'), login_password='wrong'))
    assert auth['failed'] and 'authentication to PostgreSQL' in auth['msg'] and auth['connection_error'] == 'auth'
    missing = module_runner(pg_access, dict(args_for(cluster, db, state='read_only'), login_db='no_such_db'))
    assert missing['failed'] and missing['connection_error'] == 'database' and 'does not exist' in missing['msg']


@pytest.mark.parametrize('tables, sequences, expected', [
    (dict(total=2, SELECT=2, INSERT=2, UPDATE=2, DELETE=2, TRUNCATE=2), dict(total=1, USAGE=1, SELECT=1, UPDATE=1), 'read_write'),
    (dict(total=2, SELECT=2, INSERT=0, UPDATE=0, DELETE=0, TRUNCATE=0), dict(total=1, USAGE=0, SELECT=1, UPDATE=0), 'read_only'),
    (dict(total=2, SELECT=0, INSERT=0, UPDATE=0, DELETE=0, TRUNCATE=0), dict(total=1, USAGE=0, SELECT=0, UPDATE=0), 'none'),
    (dict(total=2, SELECT=2, INSERT=1, UPDATE=0, DELETE=0, TRUNCATE=0), dict(total=1, USAGE=0, SELECT=1, UPDATE=0), 'partial'),
    (dict(total=2, SELECT=2, INSERT=0, UPDATE=0, DELETE=0, TRUNCATE=0), dict(total=1, USAGE=1, SELECT=1, UPDATE=0), 'partial'),
])
def test_access_classification(tables, sequences, expected):
    assert pg_access.access_of(dict(tables=tables, sequences=sequences)) == expected


def acls(cluster, db):
    return cluster.sql(db, "SELECT c.relname, c.relacl::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                           " WHERE n.nspname = 'public' ORDER BY 1")


def counted(cluster, db, privilege):
    """On how many tables of the schema the role has the privilege, by a separate query."""
    return cluster.sql(db, "SELECT count(*) FILTER (WHERE has_table_privilege(%s, c.oid, %s)), count(*) FROM pg_class c"
                           " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'",
                       (APP_ROLE, privilege))[0]


@pytest.mark.parametrize('setup, expected', [
    ('', 'read_write'),
    ('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public FROM genesys_cs;'
     ' REVOKE USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA public FROM genesys_cs', 'read_only'),
    ('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM genesys_cs; REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM genesys_cs', 'none'),
    ('REVOKE INSERT ON cfg_dn FROM genesys_cs', 'partial'),
])
def test_info_reads_the_access_and_changes_nothing(cluster, db, module_runner, setup, expected):
    if setup:
        cluster.sql(db, setup)
    before = acls(cluster, db)
    read = module_runner(pg_access_info, args_for(cluster, db))
    assert not read.get('failed') and not read['changed'], read
    assert acls(cluster, db) == before
    role = read['roles'][APP_ROLE]
    assert (read['database'], read['schema'], role['access'], role['superuser']) == (db, 'public', expected, False)
    for privilege in ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'):
        assert [role['tables'][privilege], role['tables']['total']] == list(counted(cluster, db, privilege)), privilege
    # The same reading pg_access starts from.
    checked = module_runner(pg_access, args_for(cluster, db, state='read_write'), check_mode=True)
    assert checked['initial_state']['roles'] == read['roles']


def test_info_reports_write_access_that_pg_access_would_refuse_to_fence(cluster, db, module_runner):
    """A grant to PUBLIC keeps writes open: pg_access read_only refuses (nothing it may revoke fences the role),
    the info module reads the access as it is, so status shows the hole instead of an error."""
    cluster.sql(db, 'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public FROM genesys_cs;'
                    ' REVOKE USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA public FROM genesys_cs; GRANT INSERT ON cfg_note TO PUBLIC')
    read = module_runner(pg_access_info, args_for(cluster, db))
    assert read['roles'][APP_ROLE]['access'] == 'partial' and read['roles'][APP_ROLE]['tables']['INSERT'] == 1
    assert can(cluster, db, 'INSERT', 'cfg_note')


@pytest.mark.parametrize('override, message', [
    (dict(roles=['nobody_here']), 'role(s) nobody_here do not exist'),
    (dict(schema='no_schema'), 'schema no_schema does not exist in database'),
    (dict(roles=[]), 'roles is empty'),
    (dict(login_password='wrong'), 'authentication to PostgreSQL'),
])
def test_info_input_errors(cluster, db, module_runner, override, message):
    result = module_runner(pg_access_info, dict(args_for(cluster, db), **override))
    assert result['failed'] and message in result['msg'] and 'wrong' not in str(result.get('invocation', ''))
