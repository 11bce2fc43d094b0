# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one PostgreSQL connection layer of the collection.

Every PostgreSQL module takes its connection options from postgres_common_argument_spec()
(documented once in the genesys_dr.framework.postgres doc fragment), connects with
connect() and runs statements with exec_sql(), which records what changes the database
(or would change it, in check mode) so the module can return it as ``queries``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import os
import re
import tempfile
import traceback

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    import psycopg2.extensions
    # Modules compose SQL with it; importing it here keeps the one import guard for psycopg2.
    from psycopg2 import sql as pgsql  # pylint: disable=unused-import
    HAS_PSYCOPG2 = True
except ImportError:
    psycopg2 = None
    pgsql = None
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes, to_native

SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']
MASK = '********'

# Kinds of connection failure; each gets its own message because each has its own fix.
AUTH_FAILED = 'auth'
UNREACHABLE = 'unreachable'
NO_DATABASE = 'database'
OTHER = 'other'

_AUTH_PATTERNS = (
    'password authentication failed',
    'no password supplied',
    'authentication failed',
    'no pg_hba.conf entry',
    'pg_hba.conf rejects',
    'permission denied for database',
    'must be superuser',
    'scram',
)
_UNREACHABLE_PATTERNS = (
    'could not connect',
    'connection refused',
    'timeout expired',
    'timed out',
    'could not translate host name',
    'name or service not known',
    'no route to host',
    'network is unreachable',
    'server closed the connection unexpectedly',
    'the database system is starting up',
    'the database system is shutting down',
    'the database system is in recovery mode',
    'no such file or directory',
    'connection reset',
)
_NO_DATABASE_RE = re.compile(r'database "[^"]*" does not exist')
_ROLE_MISSING_RE = re.compile(r'role "[^"]*" does not exist')


def postgres_common_argument_spec():
    """Connection options shared by every PostgreSQL module of the collection."""
    return dict(
        login_host=dict(type='str'),
        login_port=dict(type='int', default=5432),
        login_user=dict(type='str', default='postgres'),
        login_password=dict(type='str', no_log=True),
        login_unix_socket=dict(type='path'),
        login_db=dict(type='str', required=True),
        ssl_mode=dict(type='str', default='prefer', choices=SSL_MODES),
        ca_cert=dict(type='path'),
        connect_timeout=dict(type='int', default=5),
        keepalives_idle=dict(type='int', default=5),
        keepalives_interval=dict(type='int', default=2),
        keepalives_count=dict(type='int', default=3),
        tcp_user_timeout=dict(type='int', default=15000),
    )


# Without these, a peer that stops answering (partition, host lost) is waited for as long as the kernel
# waits: about two minutes for a connect, about fifteen for a query on an open connection.
DEAD_PEER_OPTIONS = ('keepalives_idle', 'keepalives_interval', 'keepalives_count', 'tcp_user_timeout')


def dead_peer_params(params):
    """libpq keywords that end a TCP connection whose peer stopped answering, from the module's options."""
    kw = dict(keepalives=1)
    for name in DEAD_PEER_OPTIONS:
        kw[name] = params[name]
    return kw


def connection_bound_errors(params, names=('connect_timeout',) + DEAD_PEER_OPTIONS, where=''):
    """One message per option that would let a connection wait without bound (libpq reads 0 as no limit)."""
    return ['%s%s must be at least 1, got %s: libpq reads 0 as "no limit"' % (where, name, params[name])
            for name in names if params.get(name) is not None and params[name] < 1]


def ensure_required_libs(module):
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)


def conn_params_from_module(params):
    """libpq keywords for the database named by the login_* options."""
    kw = dict(
        port=params['login_port'],
        user=params['login_user'],
        dbname=params['login_db'],
        sslmode=params['ssl_mode'],
        connect_timeout=params['connect_timeout'],
    )
    kw.update(dead_peer_params(params))
    if params.get('login_host'):
        kw['host'] = params['login_host']
    elif params.get('login_unix_socket'):
        kw['host'] = params['login_unix_socket']
    if params.get('login_password'):
        kw['password'] = params['login_password']
    if params.get('ca_cert'):
        kw['sslrootcert'] = params['ca_cert']
    return kw


def describe_target(kw):
    """user@host:port/dbname, for messages (never the password)."""
    return '%s@%s:%s/%s' % (kw.get('user', ''), kw.get('host') or 'local socket', kw.get('port', 5432), kw.get('dbname', ''))


def classify_connect_error(message):
    text = message.lower()
    if _NO_DATABASE_RE.search(message):
        return NO_DATABASE
    if _ROLE_MISSING_RE.search(message) or any(p in text for p in _AUTH_PATTERNS):
        return AUTH_FAILED
    if any(p in text for p in _UNREACHABLE_PATTERNS):
        return UNREACHABLE
    return OTHER


class PgConnectionError(Exception):
    """A connection attempt failed; ``kind`` says why, ``msg`` what to do about it."""

    def __init__(self, kind, msg, target):
        super(PgConnectionError, self).__init__(msg)
        self.kind = kind
        self.msg = msg
        self.target = target


def connection_error_message(kind, target, detail, what='PostgreSQL'):
    detail = ' '.join(detail.split())
    if kind == AUTH_FAILED:
        return ('authentication to %s at %s was refused: %s. Check the user name and password, that the role may log in, '
                'and the pg_hba.conf entry for this client' % (what, target, detail))
    if kind == UNREACHABLE:
        return ('cannot reach %s at %s: %s. Check that the server is running, listens on that address and port, '
                'and that the network between here and there is up' % (what, target, detail))
    if kind == NO_DATABASE:
        return 'the database named for %s at %s does not exist: %s. Create it or fix the database name' % (what, target, detail)
    return 'cannot connect to %s at %s: %s' % (what, target, detail)


def open_connection(kw, what='PostgreSQL', secrets=()):
    """Open an autocommit connection; raise PgConnectionError with a classified message."""
    target = describe_target(kw)
    try:
        conn = psycopg2.connect(**kw)
    except psycopg2.Error as e:
        detail = mask_secrets(to_native(e), secrets)
        kind = classify_connect_error(detail)
        raise PgConnectionError(kind, connection_error_message(kind, target, detail, what), target)
    conn.autocommit = True
    return conn


def connect(module, kw=None, what='PostgreSQL'):
    """Connect with the module's login_* options (or kw); fail the module with a clear message."""
    ensure_required_libs(module)
    if kw is None:
        errors = connection_bound_errors(module.params)
        if errors:
            module.fail_json(msg='; '.join(errors))
        kw = conn_params_from_module(module.params)
    try:
        return open_connection(kw, what, secrets=[kw.get('password')])
    except PgConnectionError as e:
        module.fail_json(msg=e.msg, connection_error=e.kind)


def mask_secrets(text, secrets):
    """Replace every secret (and its conninfo-quoted form) in text by a mask."""
    text = to_native(text)
    for secret in secrets:
        if secret:
            for form in (quote_conninfo_value(secret), secret):
                text = text.replace(form, MASK)
    return text


def quote_conninfo_value(value):
    """A libpq connection-string value, single-quoted with backslash escapes."""
    value = to_native(value)
    return "'" + value.replace('\\', '\\\\').replace("'", "\\'") + "'"


def build_conninfo(params, mask_password=False):
    """A libpq connection string from a dict of keywords (None values left out), sorted by key."""
    parts = []
    for key in sorted(params):
        value = params[key]
        if value is None or value == '':
            continue
        if key == 'password' and mask_password:
            value = MASK
        parts.append('%s=%s' % (key, quote_conninfo_value(value)))
    return ' '.join(parts)


def passfile_escape(password):
    r"""The password as a .pgpass field: backslash and colon escaped."""
    return password.replace('\\', '\\\\').replace(':', '\\:')


def passfile_line(password):
    """A .pgpass line matching every server, database and user."""
    return '*:*:*:*:%s\n' % passfile_escape(password)


@contextlib.contextmanager
def password_file(password, directory):
    """The environment a libpq program (pg_dump, pg_restore) needs to log in with `password`, which
    is then on no command line and in no environment: {'PGPASSFILE': path} of a file in `directory`,
    created 0600 (mkstemp) and removed when the block ends, whatever happens in it. Without a
    password: {} and no file (the program logs in as libpq does by default)."""
    if not password:
        yield {}
        return
    fd, path = tempfile.mkstemp(prefix='pgpass-', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(to_bytes(passfile_line(password)))
        yield {'PGPASSFILE': path}
    finally:
        os.unlink(path)


def parse_conninfo(conninfo):
    """The keywords of a libpq connection string, as a dict of strings."""
    return dict(psycopg2.extensions.parse_dsn(conninfo))


class SqlSession(object):
    """What exec_sql, query_rows and query_dicts work on: the module, its connection, a cursor and
    the statements it ran. A module's own class derives from it (or a read-only module uses it as is)."""

    def __init__(self, module, conn):
        self.module = module
        self.conn = conn
        self.cursor = conn.cursor()
        self.executed_queries = []


def exec_sql(obj, query, query_params=None, return_rows=False, add_to_executed=True, dont_exec=False, query_text=None):
    """Run one statement for a module class.

    obj needs ``module``, ``cursor`` and ``executed_queries``. A statement that changes
    something is recorded in ``executed_queries`` (as ``query_text`` when given, so a
    statement carrying a secret is recorded masked); with ``dont_exec`` (check mode) it is
    only recorded. Returns the rows when ``return_rows``, else True.
    """
    if query_text is None:
        query_text = to_native(obj.cursor.mogrify(query, query_params))
    if add_to_executed:
        obj.executed_queries.append(query_text)
    if dont_exec:
        return [] if return_rows else True
    try:
        obj.cursor.execute(query, query_params)
        if return_rows:
            return obj.cursor.fetchall()
        return True
    except psycopg2.Error as e:
        secrets = getattr(obj, 'secrets', ())
        obj.module.fail_json(msg="Cannot execute SQL '%s': %s" % (query_text, mask_secrets(to_native(e).strip(), secrets)),
                             queries=list(obj.executed_queries))
    return False


def query_rows(obj, query, query_params=None):
    """Read-only query for a module class: rows, never recorded."""
    return exec_sql(obj, query, query_params, return_rows=True, add_to_executed=False)


def query_dicts(obj, query, query_params=None):
    rows = query_rows(obj, query, query_params)
    names = [d[0] for d in obj.cursor.description]
    return [dict(zip(names, row)) for row in rows]


# pg_terminate_backend(pid, timeout) waits this long for the session to exit (PostgreSQL 14+).
TERMINATE_WAIT_MS = 5000


def role_sessions(obj, roles):
    """The other sessions of ``roles`` on the current database, lowest pid first, with what a
    report names: user, application name, client address, start, and whether a write is open."""
    sessions = query_dicts(obj, (
        'SELECT pid, usename AS user, application_name, client_addr::text AS client_addr, backend_start,'
        ' backend_xid IS NOT NULL AS in_write_transaction'
        ' FROM pg_catalog.pg_stat_activity'
        ' WHERE datname = current_database() AND usename = ANY(%s) AND pid <> pg_catalog.pg_backend_pid()'
        ' ORDER BY pid'), (list(roles),))
    for session in sessions:
        session['backend_start'] = session['backend_start'].isoformat() if session['backend_start'] else None
    return sessions


def terminate_session(obj, session, database, consequence=''):
    """Terminate one session of role_sessions() and wait for it to exit (only recorded in check
    mode). Sets session['terminated']; warns when it outlived the wait, with ``consequence``."""
    query = pgsql.SQL('SELECT pg_catalog.pg_terminate_backend({pid}, {wait})').format(
        pid=pgsql.Literal(session['pid']), wait=pgsql.Literal(TERMINATE_WAIT_MS))
    rows = exec_sql(obj, query, return_rows=True, dont_exec=obj.module.check_mode)
    session['terminated'] = bool(rows and rows[0][0])
    if not obj.module.check_mode and not session['terminated']:
        obj.module.warn('session %s of %s on %s was signalled but had not exited after %d ms%s' % (
            session['pid'], session['user'], database, TERMINATE_WAIT_MS, consequence))
    return session


def lsn_to_int(lsn):
    """'16/B374D848' -> byte position, None stays None."""
    if lsn is None:
        return None
    high, low = to_native(lsn).split('/')
    return (int(high, 16) << 32) + int(low, 16)


def int_to_lsn(pos):
    if pos is None:
        return None
    return '%X/%X' % (pos >> 32, pos & 0xFFFFFFFF)
