"""The PostgreSQL connection layer: error classification, conninfo quoting and masking, exec_sql, on mocks and a real cluster."""
import os
import socket
import stat
import time
from unittest import mock

import psycopg2
import pytest

from ansible_collections.genesys_dr.framework.plugins.module_utils import postgres as pgutil
from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster


class FakeModule:
    def __init__(self, params=None):
        self.params = params or {}

    def fail_json(self, **kwargs):
        raise RuntimeError(kwargs)


def module_params(**overrides):
    params = dict(login_host=None, login_port=5432, login_user='postgres', login_password=None, login_unix_socket=None,
                  login_db='cfgdb', ssl_mode='prefer', ca_cert=None, connect_timeout=5, keepalives_idle=5, keepalives_interval=2,
                  keepalives_count=3, tcp_user_timeout=15000)
    params.update(overrides)
    return params


@pytest.mark.parametrize('message, kind', [
    ('connection to server at "10.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "genesys"', pgutil.AUTH_FAILED),
    ('connection to server at "10.0.0.1", port 5432 failed: fe_sendauth: no password supplied', pgutil.AUTH_FAILED),
    ('connection to server at "10.0.0.1", port 5432 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.2", user "x", database "y"', pgutil.AUTH_FAILED),
    ('FATAL:  role "nobody" does not exist', pgutil.AUTH_FAILED),
    ('connection to server at "10.0.0.1", port 5432 failed: FATAL:  database "cfgdb" does not exist', pgutil.NO_DATABASE),
    ('connection to server at "10.0.0.1", port 5432 failed: Connection refused\n\tIs the server running on that host', pgutil.UNREACHABLE),
    ('connection to server at "10.0.0.1", port 5432 failed: timeout expired', pgutil.UNREACHABLE),
    ('could not translate host name "db.example" to address: Name or service not known', pgutil.UNREACHABLE),
    ('connection to server at "10.0.0.1", port 5432 failed: FATAL:  the database system is shutting down', pgutil.UNREACHABLE),
    ('connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: No such file or directory', pgutil.UNREACHABLE),
    ('FATAL:  sorry, too many clients already', pgutil.OTHER),
])
def test_classify_connect_error(message, kind):
    assert pgutil.classify_connect_error(message) == kind


@pytest.mark.parametrize('kind, advice', [
    (pgutil.AUTH_FAILED, 'pg_hba.conf'),
    (pgutil.UNREACHABLE, 'listens on that address and port'),
    (pgutil.NO_DATABASE, 'Create it or fix the database name'),
])
def test_connection_error_messages_say_what_to_fix(kind, advice):
    message = pgutil.connection_error_message(kind, 'u@h:5432/d', 'detail\n  text', 'the publisher')
    assert advice in message and 'the publisher at u@h:5432/d' in message and 'detail text' in message


def test_conn_params_from_module():
    kw = pgutil.conn_params_from_module(module_params(login_host='db1', login_password='pw', ca_cert='/ca.pem', login_unix_socket='/run/pg'))
    assert kw == dict(host='db1', port=5432, user='postgres', password='pw', dbname='cfgdb', sslmode='prefer', sslrootcert='/ca.pem', connect_timeout=5,
                      keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3, tcp_user_timeout=15000)
    socket_kw = pgutil.conn_params_from_module(module_params(login_unix_socket='/run/pg'))
    assert socket_kw['host'] == '/run/pg' and 'password' not in socket_kw and 'sslrootcert' not in socket_kw


NASTY = 'p\'a"s s\\w=rd'


def test_conninfo_quoting_round_trips_and_masks():
    params = dict(host='db1', port=5432, dbname='cfg db', user='repl', password=NASTY, sslrootcert=None)
    conninfo = pgutil.build_conninfo(params)
    assert pgutil.parse_conninfo(conninfo) == dict(host='db1', port='5432', dbname='cfg db', user='repl', password=NASTY)
    masked = pgutil.build_conninfo(params, mask_password=True)
    assert NASTY not in masked and "password='********'" in masked
    assert pgutil.parse_conninfo(masked)['password'] == pgutil.MASK


def test_mask_secrets_hides_raw_and_quoted_forms():
    text = 'raw %s quoted %s' % (NASTY, pgutil.quote_conninfo_value(NASTY))
    masked = pgutil.mask_secrets(text, [NASTY, None])
    assert NASTY not in masked and pgutil.quote_conninfo_value(NASTY) not in masked and masked.count(pgutil.MASK) == 2


@pytest.mark.parametrize('lsn, pos', [('0/0', 0), ('16/B374D848', (0x16 << 32) + 0xB374D848), ('0/1926C80', 0x1926C80)])
def test_lsn_conversions(lsn, pos):
    assert pgutil.lsn_to_int(lsn) == pos and pgutil.int_to_lsn(pos) == lsn
    assert pgutil.lsn_to_int(None) is None and pgutil.int_to_lsn(None) is None


class Recorder:
    def __init__(self, cursor):
        self.module = FakeModule()
        self.cursor = cursor
        self.executed_queries = []
        self.secrets = ['s3cret']


def test_exec_sql_check_mode_records_without_executing():
    cursor = mock.Mock()
    cursor.mogrify.return_value = b"DROP PUBLICATION \"p\""
    obj = Recorder(cursor)
    assert pgutil.exec_sql(obj, 'DROP PUBLICATION "p"', dont_exec=True) is True
    assert obj.executed_queries == ['DROP PUBLICATION "p"'] and not cursor.execute.called


def test_exec_sql_failure_is_masked_and_actionable():
    cursor = mock.Mock()
    cursor.execute.side_effect = psycopg2.ProgrammingError('syntax error near s3cret')
    obj = Recorder(cursor)
    with pytest.raises(RuntimeError) as failed:
        pgutil.exec_sql(obj, 'ALTER SUBSCRIPTION s CONNECTION ...', query_text="ALTER SUBSCRIPTION s CONNECTION 'password=********'")
    result = failed.value.args[0]
    assert "Cannot execute SQL 'ALTER SUBSCRIPTION s CONNECTION 'password=********''" in result['msg']
    assert 's3cret' not in repr(result)


def test_missing_psycopg2(monkeypatch):
    monkeypatch.setattr(pgutil, 'HAS_PSYCOPG2', False)
    monkeypatch.setattr(pgutil, 'PSYCOPG2_IMPORT_ERROR', 'trace')
    with pytest.raises(RuntimeError) as failed:
        pgutil.ensure_required_libs(FakeModule())
    assert 'psycopg2' in failed.value.args[0]['msg'] and failed.value.args[0]['exception'] == 'trace'


# --- against a real cluster -------------------------------------------------------------------------

def connect_with(cluster, **overrides):
    args = cluster.login_args('postgres')
    params = module_params(**dict(args, **overrides))
    return pgutil.connect(FakeModule(params))


def test_connect_succeeds_over_tcp_and_unix_socket(pg_pair):
    cluster = pg_pair[0]
    cluster.ensure_running()
    conn = connect_with(cluster)
    assert conn.autocommit and conn.info.dbname == 'postgres'
    conn.close()
    conn = connect_with(cluster, login_host=None, login_password=None, login_unix_socket=cluster.dir)
    assert conn.info.host == cluster.dir
    conn.close()


@pytest.mark.parametrize('overrides, kind, words', [
    (dict(login_password='wrong'), pgutil.AUTH_FAILED, 'authentication to PostgreSQL'),
    (dict(login_db='no_such_db'), pgutil.NO_DATABASE, 'does not exist'),
    (dict(login_port=None), pgutil.UNREACHABLE, 'cannot reach PostgreSQL'),
])
def test_connect_failures_are_classified(pg_pair, overrides, kind, words):
    cluster = pg_pair[0]
    cluster.ensure_running()
    if 'login_port' in overrides:
        overrides = dict(login_port=pgcluster.free_port())
    with pytest.raises(RuntimeError) as failed:
        connect_with(cluster, **overrides)
    result = failed.value.args[0]
    assert result['connection_error'] == kind and words in result['msg']
    assert pgcluster.SUPERUSER_PASSWORD not in result['msg']


def test_common_argument_spec_bounds_every_wait_by_default():
    spec = pgutil.postgres_common_argument_spec()
    defaults = dict((name, spec[name]['default']) for name in ('connect_timeout',) + pgutil.DEAD_PEER_OPTIONS)
    assert defaults == dict(connect_timeout=5, keepalives_idle=5, keepalives_interval=2, keepalives_count=3, tcp_user_timeout=15000)


@pytest.mark.parametrize('option', ('connect_timeout',) + pgutil.DEAD_PEER_OPTIONS)
def test_an_unbounded_wait_is_refused_before_connecting(monkeypatch, option):
    monkeypatch.setattr(pgutil.psycopg2, 'connect', mock.Mock(side_effect=AssertionError('must not connect')))
    with pytest.raises(RuntimeError) as failed:
        pgutil.connect(FakeModule(module_params(login_host='db1', **{option: 0})))
    assert '%s must be at least 1' % option in failed.value.args[0]['msg']


def test_connection_error_never_shows_the_password(monkeypatch):
    """libpq may quote its connection options back in an error; psycopg2 quotes the password as build_conninfo does."""
    dsn = pgutil.build_conninfo(dict(host='db1', password=NASTY, keepalives_idle=5))
    monkeypatch.setattr(pgutil.psycopg2, 'connect', mock.Mock(side_effect=psycopg2.OperationalError(
        'invalid connection option in "%s": raw %s' % (dsn, NASTY))))
    with pytest.raises(RuntimeError) as failed:
        pgutil.connect(FakeModule(module_params(login_host='db1', login_password=NASTY)))
    result = failed.value.args[0]
    assert NASTY not in repr(result) and pgutil.quote_conninfo_value(NASTY) not in repr(result)
    assert pgutil.MASK in result['msg']


def tcp_option(conn, level, option, size=None):
    sock = socket.socket(fileno=socket.dup(conn.fileno()))
    try:
        return sock.getsockopt(level, option) if size is None else sock.getsockopt(level, option, size)
    finally:
        sock.close()


def test_tcp_connection_carries_keepalives_and_user_timeout(pg_pair):
    """Read back from the kernel: the socket of the module's connection has the bounds set."""
    cluster = pg_pair[0]
    cluster.ensure_running()
    conn = connect_with(cluster, keepalives_idle=7, keepalives_interval=3, keepalives_count=4, tcp_user_timeout=12000)
    try:
        assert tcp_option(conn, socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert tcp_option(conn, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
        assert tcp_option(conn, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3
        assert tcp_option(conn, socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
        assert tcp_option(conn, socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 12000
    finally:
        conn.close()


def test_connect_to_a_server_that_never_answers_is_bounded():
    """A listener whose process never answers (the kernel completes the TCP handshake): connect_timeout ends the wait."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((pgcluster.HOST, 0))
    listener.listen(8)
    try:
        started = time.monotonic()
        with pytest.raises(RuntimeError) as failed:
            pgutil.connect(FakeModule(module_params(login_host=pgcluster.HOST, login_port=listener.getsockname()[1], login_password=NASTY,
                                                    connect_timeout=2)))
        waited = time.monotonic() - started
    finally:
        listener.close()
    result = failed.value.args[0]
    assert result['connection_error'] == pgutil.UNREACHABLE and 'timeout expired' in result['msg']
    # Bounded by connect_timeout, not by the kernel. libpq sets its deadline as time(NULL) +
    # connect_timeout on the whole-second wall clock, so the wait ends 1 to 2 s after the start
    # (1.99986 s was seen once): more than a second, never more than the timeout plus slack.
    assert 1 < waited < 10
    assert NASTY not in repr(result)


def test_passfile_line_escapes_colon_and_backslash():
    assert pgutil.passfile_line('a:b\\c') == '*:*:*:*:a\\:b\\\\c\n'


def test_password_file_is_private_and_removed_when_the_block_ends(tmp_path):
    with pgutil.password_file('s3:cr\\t', str(tmp_path)) as environ:
        path = environ['PGPASSFILE']
        assert os.path.dirname(path) == str(tmp_path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path) as handle:
            assert handle.read() == '*:*:*:*:s3\\:cr\\\\t\n'
    assert os.listdir(str(tmp_path)) == []


def test_password_file_is_removed_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with pgutil.password_file('secret', str(tmp_path)) as environ:
            assert os.path.exists(environ['PGPASSFILE'])
            raise RuntimeError('pg_dump failed')
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize('password', [None, ''])
def test_no_password_means_no_file(tmp_path, password):
    with pgutil.password_file(password, str(tmp_path)) as environ:
        assert environ == {}
        assert os.listdir(str(tmp_path)) == []
