"""Message Server: a registry of connected applications, optionally a Log Message
Server that stores the log events it receives in the Log Database."""

import collections
import threading
import time

import psycopg2
from psycopg2.extras import execute_values

from genesys_sim import protocol
from genesys_sim.daemon import App

# Events kept while the Log Database is unreachable; beyond that new ones are dropped
# so the oldest (already waiting longest) keep their place and order.
QUEUE_SIZE = 10000
BATCH_SIZE = 500
DB_RETRY_DELAY = 2.0
# How long a stopping Log Message Server tries to write what it still holds.
DRAIN_TIMEOUT = 2.0


class MsgServer(App):
    kind = "msgserver"

    def __init__(self, name, cs_host, cs_port, config_path):
        super().__init__(name, cs_host, cs_port, config_path)
        self.signature = self.config.get("messageserver", "signature", "")
        self.log_db = self.config.getbool("messageserver", "log_db", False)
        self.db_settings = self.config.dbserver() if self.log_db else None
        self._queue = collections.deque()
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._db_connected = False
        self.written = 0
        self.dropped = 0
        self._writer = threading.Thread(target=self._write_loop, name="logdb-writer", daemon=True)

    def initialize(self):
        self.mode = "running"
        if self.log_db:
            self._writer.start()

    def shutdown(self):
        if self.log_db:
            with self._cond:
                self._cond.wait_for(lambda: not self._queue, DRAIN_TIMEOUT)
                if self._queue:
                    self.log.alarm(23005, "%d log events not written to the Log Database" % len(self._queue))
                self._closed.set()
                self._cond.notify_all()

    def status(self):
        clients = [dict(conn.hello, peer=conn.peer) for conn in self.server.connections() if conn.hello]
        result = dict(super().status(), signature=self.signature, log_db=self.log_db, clients=clients)
        if self.log_db:
            result["db"] = {"host": self.db_settings["host"], "port": self.db_settings["port"],
                            "dbname": self.db_settings["dbname"], "connected": self._db_connected}
            result.update(queued=len(self._queue), written=self.written, dropped=self.dropped)
        return result

    def op_hello(self, conn, request):
        conn.hello = {"role": request.get("role", "app"), "app": request.get("app"),
                      "site": request.get("site"), "since": time.time()}
        self.log.std(23010, "Client registered: %(app)s (role %(role)s, site %(site)s)" % conn.hello
                     + " from %s" % conn.peer)
        return protocol.ok(app=self.name, signature=self.signature)

    def op_log(self, conn, request):
        if not self.log_db:
            raise protocol.ProtocolError("no_log_db", "%s is not a Log Message Server" % self.name)
        hello = conn.hello or {}
        row = (request.get("site") or hello.get("site") or "", request.get("app") or hello.get("app") or "",
               str(request.get("level", "Std")), protocol.require_str(request, "message"), time.time())
        if not row[0] or not row[1]:
            raise protocol.ProtocolError("bad_request", "a log event needs app and site (in it or in hello)")
        with self._cond:
            if len(self._queue) >= QUEUE_SIZE:
                self.dropped += 1
                raise protocol.ProtocolError("queue_full", "Log Database unavailable and %d events queued;"
                                             " event dropped" % QUEUE_SIZE)
            self._queue.append(row)
            self._cond.notify_all()
            queued = len(self._queue)
        return protocol.ok(queued=queued)

    def _write_loop(self):
        """Write queued events in arrival order; an event leaves the queue only once
        its batch is committed, so a DB outage delays events but loses none.

        While disconnected it reconnects every DB_RETRY_DELAY, events or not."""
        conn = None
        unreachable_logged = False
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed.is_set() or conn is None)
                if self._closed.is_set():
                    break
                batch = [self._queue[i] for i in range(min(BATCH_SIZE, len(self._queue)))]
            established = conn is not None
            try:
                if conn is None:
                    conn = psycopg2.connect(connect_timeout=3, application_name=self.name, **self.db_settings)
                    self._db_connected = True
                    unreachable_logged = False
                    self.event("Std", 23001, "Connected to Log Database '%(dbname)s' at %(host)s:%(port)s"
                               % self.db_settings)
                if batch:
                    with conn.cursor() as cur:
                        execute_values(cur, "INSERT INTO log_event (origin_site, app, level, message, ts)"
                                       " VALUES %s", batch, template="(%s, %s, %s, %s, to_timestamp(%s))")
                    conn.commit()
            except psycopg2.Error as exc:
                if conn is not None:
                    conn.close()
                    conn = None
                self._db_connected = False
                if not unreachable_logged:
                    self.event("Alarm", 23002, "Log Database '%s' at %s:%s unavailable (%s); queueing events"
                               % (self.db_settings["dbname"], self.db_settings["host"], self.db_settings["port"],
                                  " ".join(str(exc).split())))
                    unreachable_logged = True
                # A session that broke (e.g. was terminated) is replaced at once;
                # a failed connection attempt is retried later.
                if not established:
                    self._closed.wait(DB_RETRY_DELAY)
                continue
            with self._cond:
                for _row in batch:
                    self._queue.popleft()
                self.written += len(batch)
                self._cond.notify_all()
        if conn is not None:
            conn.close()
