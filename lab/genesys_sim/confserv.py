"""Master Configuration Server: one member of a primary/backup pair (warm standby).

The server that serves ("primary" mode) owns the Configuration Database through its
own login role and serves only while that role can write to it. The other member
("backup" mode) watches the serving one and takes over when its connection is lost.
"""

import threading

import psycopg2
from psycopg2 import sql
from psycopg2.extras import Json

from genesys_sim import protocol
from genesys_sim.client import Client, ClientError
from genesys_sim.daemon import App, ConfigError, StartupError

# How often the serving server re-checks its write access.
CHECK_INTERVAL = 1.0
# How often the backup pings the primary, and how long it waits for an answer.
PEER_PING_INTERVAL = 1.0
PEER_TIMEOUT = 3.0

_REFUSAL_CODES = {"backup": "backup_mode", "no_write_access": "no_write_access"}


class CommitUnknown(Exception):
    """COMMIT failed on the wire: the transaction may or may not have committed."""


class ConfigDB:
    """The Configuration Database as seen through the server's own login role.

    Not thread-safe: the server calls it with its lock held.
    """

    def __init__(self, settings, app_name):
        self.settings = settings
        self._app_name = app_name
        self._conn = None

    def describe(self):
        return "role '%(user)s' on database '%(dbname)s' at %(host)s:%(port)s" % self.settings

    def session_lost(self):
        return self._conn is None or self._conn.closed != 0

    def close(self):
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def probe(self):
        """None when the role may write; else (msgid, text) saying why not.

        Connects when not connected, and reconnects once when the session turns out
        to be gone (e.g. terminated by pg_terminate_backend).
        """
        for attempt in (1, 2):
            if self._conn is None or self._conn.closed:
                try:
                    self._conn = psycopg2.connect(
                        connect_timeout=3, application_name=self._app_name,
                        # Notice a vanished DB host within seconds, not hours.
                        keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
                        **self.settings)
                except psycopg2.Error as exc:
                    self._conn = None
                    return 21002, "Database unreachable for %s: %s" % (self.describe(), _oneline(exc))
            try:
                missing = self._missing_privileges()
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                self.close()
                if attempt == 2:
                    return 21002, "Database unreachable for %s: %s" % (self.describe(), _oneline(exc))
                continue
            if missing:
                return 21003, "No write access for %s: %s" % (self.describe(), missing)
            return None
        raise AssertionError("not reached")

    def _missing_privileges(self):
        """What keeps the role from writing, as text ('' when nothing does)."""
        tables = sorted(protocol.CFG_TYPES.values())
        with self._conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'")
            in_recovery, read_only = cur.fetchone()
            cur.execute("SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL", (tables,))
            absent = [row[0] for row in cur.fetchall()]
            rows = []
            if not absent:
                cur.execute(
                    "SELECT t, has_table_privilege(t, 'INSERT'), has_table_privilege(t, 'UPDATE'),"
                    " has_table_privilege(t, 'DELETE'),"
                    " coalesce(has_sequence_privilege(pg_get_serial_sequence(t, 'dbid'), 'USAGE'), true)"
                    " FROM unnest(%s::text[]) AS t", (tables,))
                rows = cur.fetchall()
        self._conn.rollback()
        if in_recovery or read_only:
            return "database is read-only (%s)" % ("in recovery" if in_recovery else "transaction_read_only")
        if absent:
            return "tables missing: %s" % ", ".join(absent)
        by_privileges = {}
        for table, can_insert, can_update, can_delete, can_use_seq in rows:
            lacking = [name for name, granted in (("INSERT", can_insert), ("UPDATE", can_update),
                                                  ("DELETE", can_delete), ("sequence USAGE", can_use_seq))
                       if not granted]
            if lacking:
                by_privileges.setdefault(", ".join(lacking), []).append(table)
        return "; ".join("missing %s on %s" % (privileges, ", ".join(tables))
                         for privileges, tables in by_privileges.items())

    def get(self, cfg_type, name):
        query = sql.SQL("SELECT dbid, data FROM {} WHERE name = %s").format(
            sql.Identifier(protocol.table_for(cfg_type)))
        with self._transaction() as cur:
            cur.execute(query, (name,))
            row = cur.fetchone()
        return None if row is None else _object(cfg_type, name, *row)

    def list(self, cfg_type=None):
        objects = []
        with self._transaction() as cur:
            for each_type in [cfg_type] if cfg_type else sorted(protocol.CFG_TYPES):
                cur.execute(sql.SQL("SELECT name, dbid, data FROM {} ORDER BY dbid").format(
                    sql.Identifier(protocol.table_for(each_type))))
                objects.extend(_object(each_type, *row) for row in cur.fetchall())
        return objects

    def put(self, cfg_type, name, data):
        query = sql.SQL(
            "INSERT INTO {} (name, data) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, updated_at = now()"
            " RETURNING dbid").format(sql.Identifier(protocol.table_for(cfg_type)))
        with self._transaction(commit=True) as cur:
            cur.execute(query, (name, Json(data)))
            dbid = cur.fetchone()[0]
        return _object(cfg_type, name, dbid, data)

    def delete(self, cfg_type, name):
        query = sql.SQL("DELETE FROM {} WHERE name = %s RETURNING dbid, data").format(
            sql.Identifier(protocol.table_for(cfg_type)))
        with self._transaction(commit=True) as cur:
            cur.execute(query, (name,))
            row = cur.fetchone()
        return None if row is None else _object(cfg_type, name, *row)

    def _transaction(self, commit=False):
        if self._conn is None or self._conn.closed:
            raise psycopg2.InterfaceError("not connected")
        return _Transaction(self._conn, commit)


class _Transaction:
    """A cursor in one transaction: committed (or, for reads, ended) on success,
    rolled back on error."""

    def __init__(self, conn, commit):
        self._conn = conn
        self._commit = commit
        self._cur = None

    def __enter__(self):
        self._cur = self._conn.cursor()
        return self._cur

    def __exit__(self, exc_type, exc, tb):
        self._cur.close()
        if exc_type is None and self._commit:
            try:
                self._conn.commit()
            except psycopg2.Error as exc:
                raise CommitUnknown(_oneline(exc)) from exc
            return
        if self._conn.closed:
            return
        try:
            self._conn.rollback()
        except psycopg2.Error:
            # On the error path the original exception is the one worth reporting.
            if exc_type is None:
                raise


def _object(cfg_type, name, dbid, data):
    return {"type": cfg_type, "name": name, "dbid": dbid, "data": data}


def _oneline(exc):
    return " ".join(str(exc).split())


class ConfServ(App):
    kind = "confserv"

    def __init__(self, name, cs_host, cs_port, config_path):
        super().__init__(name, cs_host, cs_port, config_path)
        self.role = self.config.get("confserv", "role")
        if self.role not in ("primary", "backup"):
            raise ConfigError("%s: [confserv] role must be primary or backup" % self.config.path)
        self.peer_port = self.config.getint("confserv", "peer_port", None)
        if self.role == "backup" and self.peer_port is None:
            raise ConfigError("%s: [confserv] peer_port is required for a backup" % self.config.path)
        self.db = ConfigDB(self.config.dbserver(), name)
        # Serializes every use of the DB session and the change notifications, so
        # proxies receive changes in commit order.
        self._lock = threading.Lock()
        self._problem = None
        self._peer_connected = False
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)

    def listen_port(self):
        configured = self.config.getint("app", "port", None)
        if configured is not None and configured != self.cs_port:
            raise ConfigError("%s: [app] port %d differs from -port %d (a Configuration Server"
                              " listens on -port)" % (self.config.path, configured, self.cs_port))
        return self.cs_port

    def initialize(self):
        peer_mode = self._peer_mode() if self.role == "primary" and self.peer_port else None
        if peer_mode in ("primary", "no_write_access"):
            self.log.std(21021, "Peer at %s:%d already serves (mode %s); starting in backup mode"
                         % (self.cs_host, self.peer_port, peer_mode))
            self.mode = "backup"
        elif self.role == "primary":
            with self._lock:
                problem = self.db.probe()
            if problem:
                self.db.close()
                self.event("Alarm", *problem)
                raise StartupError(problem[1])
            self.mode = "primary"
            self.log.std(21001, "Connected with write access: %s" % self.db.describe())
        else:
            self.mode = "backup"
        self._supervisor.start()

    def shutdown(self):
        with self._lock:
            self.db.close()

    def _peer_mode(self):
        try:
            with Client(self.cs_host, self.peer_port, PEER_TIMEOUT) as peer:
                return peer.request({"op": "status"}).get("mode")
        except ClientError:
            return None

    def _supervise(self):
        if self.mode == "backup":
            reason = self._watch_primary()
            if reason is None:
                return
            self.event("Alarm", 21030, "Connection to primary %s:%d lost (%s); switching to primary mode"
                       % (self.cs_host, self.peer_port, reason))
            with self._lock:
                self._recheck_locked()
        while not self.stopping.wait(CHECK_INTERVAL):
            with self._lock:
                self._recheck_locked()

    def _watch_primary(self):
        """Block while the primary is there; return why it was lost (None: stopping).

        A primary that was never reached is waited for: a backup does not take over
        at start-up.
        """
        unreachable_logged = False
        while not self.stopping.is_set():
            peer = Client(self.cs_host, self.peer_port, PEER_TIMEOUT)
            try:
                reply = peer.request({"op": "hello", "role": "backup", "app": self.name})
                if not reply.get("ok"):
                    raise ClientError("hello refused: %s" % reply.get("code"))
            except ClientError as exc:
                peer.close()
                if not unreachable_logged:
                    self.log.std(21022, "Primary at %s:%d not available (%s); staying in backup mode"
                                 % (self.cs_host, self.peer_port, exc))
                    unreachable_logged = True
                self.stopping.wait(PEER_PING_INTERVAL)
                continue
            self.event("Std", 21020, "Connected to primary at %s:%d; backup mode" % (self.cs_host, self.peer_port))
            self._peer_connected = True
            try:
                while not self.stopping.wait(PEER_PING_INTERVAL):
                    peer.request({"op": "ping"})
            except ClientError as exc:
                return str(exc)
            finally:
                self._peer_connected = False
                peer.close()
        return None

    def _recheck_locked(self):
        """Re-check write access and switch between primary and no_write_access."""
        problem = self.db.probe()
        if problem is None and self.mode != "primary":
            self._problem = None
            self.set_mode("primary", "Std", 21004, "Write access for %s available; serving clients, mode primary"
                          % self.db.describe())
        elif problem is not None and self.mode != "no_write_access":
            self._problem = problem
            self.set_mode("no_write_access", "Alarm", problem[0], problem[1] + "; refusing clients, mode no_write_access")
            dropped = 0
            for conn in self.server.connections():
                if not conn.hello or conn.hello.get("role") != "backup":
                    conn.close()
                    dropped += 1
            self.log.std(21005, "Dropped %d client connections" % dropped)
        elif problem is not None and problem != self._problem:
            self._problem = problem
            self.log.alarm(*problem)

    def _require_primary(self):
        if self.mode != "primary":
            raise protocol.ProtocolError(_REFUSAL_CODES.get(self.mode, "not_ready"),
                                         "%s is in %s mode and does not serve clients" % (self.name, self.mode))

    def _db_call(self, method, *args):
        """Run a DB operation with the lock held, mapping failures to replies.

        A session found dead before COMMIT (e.g. terminated by an administrator) is
        replaced and the operation retried once: nothing of it can have committed.
        """
        for attempt in (1, 2):
            self._require_primary()
            try:
                return method(*args)
            except CommitUnknown as exc:
                self.log.alarm(21007, "COMMIT failed, outcome unknown: %s" % exc)
                self._recheck_locked()
                raise protocol.ProtocolError("db_error", "COMMIT failed, outcome unknown: %s" % exc) from None
            except psycopg2.Error as exc:
                self.log.alarm(21006, "Database operation failed: %s" % _oneline(exc))
                session_lost = self.db.session_lost()
                # A failed operation often means the session or the privileges are gone.
                self._recheck_locked()
                self._require_primary()
                if not session_lost or attempt == 2:
                    raise protocol.ProtocolError("db_error", _oneline(exc)) from None
        raise AssertionError("not reached")

    def _notify(self, op, obj):
        event = {"event": "changed", "op": op, "object": obj}
        for conn in self.server.connections():
            if conn.subscribed:
                conn.send(event)

    def status(self):
        conns = self.server.connections() if self.server else []
        roles = [conn.hello.get("role") for conn in conns if conn.hello]
        settings = self.db.settings
        peer_connected = self._peer_connected if self.mode == "backup" else "backup" in roles
        return dict(super().status(), role=self.role, clients=roles.count("proxy"),
                    db={"host": settings["host"], "port": settings["port"], "dbname": settings["dbname"],
                        "user": settings["user"]},
                    peer=None if self.peer_port is None else "%s:%d" % (self.cs_host, self.peer_port),
                    peer_connected=peer_connected)

    def op_hello(self, conn, request):
        role = request.get("role", "client")
        # A backup may watch a server that lost write access: it must not take over
        # just because the database was fenced.
        if role != "backup" or self.mode == "backup":
            self._require_primary()
        conn.hello = {"role": role, "app": request.get("app")}
        return protocol.ok(app=self.name, mode=self.mode)

    def op_subscribe(self, conn, request):  # pylint: disable=unused-argument
        with self._lock:
            self._require_primary()
            conn.subscribed = True
        return protocol.ok()

    def op_get(self, conn, request):  # pylint: disable=unused-argument
        cfg_type, name = protocol.object_ref(request)
        with self._lock:
            obj = self._db_call(self.db.get, cfg_type, name)
        if obj is None:
            raise protocol.ProtocolError("not_found", "%s %r not found" % (cfg_type, name))
        return protocol.ok(object=obj)

    def op_list(self, conn, request):  # pylint: disable=unused-argument
        cfg_type = protocol.list_filter(request)
        with self._lock:
            objects = self._db_call(self.db.list, cfg_type)
        return protocol.ok(objects=objects)

    def op_put(self, conn, request):  # pylint: disable=unused-argument
        cfg_type, name = protocol.object_ref(request)
        data = protocol.object_data(request)
        with self._lock:
            obj = self._db_call(self.db.put, cfg_type, name, data)
            self._notify("put", obj)
        return protocol.ok(object=obj)

    def op_delete(self, conn, request):  # pylint: disable=unused-argument
        cfg_type, name = protocol.object_ref(request)
        with self._lock:
            obj = self._db_call(self.db.delete, cfg_type, name)
            if obj is not None:
                self._notify("delete", obj)
        if obj is None:
            raise protocol.ProtocolError("not_found", "%s %r not found" % (cfg_type, name))
        return protocol.ok(object=obj)
