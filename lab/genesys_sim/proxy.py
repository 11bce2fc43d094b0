"""Configuration Server Proxy: caches the configuration, serves reads, forwards writes.

It finds the master by DNS name through the system resolver on every connection
attempt, so a changed A record takes effect at the next attempt (or at SIGHUP).
Without a master it runs in limited mode: reads from the cache, writes refused.
"""

import collections
import socket
import threading
import time

from genesys_sim import protocol
from genesys_sim.daemon import App

CONNECT_TIMEOUT = 2.0
# hello/subscribe/list while a connection to the master is being set up.
SETUP_TIMEOUT = 5.0
# A forwarded write; a lost master ends the wait sooner, through the heartbeat.
FORWARD_TIMEOUT = 15.0
# How long start-up waits for the first connection attempt before reporting ready.
FIRST_ATTEMPT_WAIT = 10.0


class LinkError(Exception):
    """The master did not answer: connection lost, refused, or timed out."""


class _Waiter:
    """One request's reply (None: the link was lost first).

    notify, an Event shared with other sources of work, is set too when the waiter is
    done, so its owner can wait for the reply and for those others at the same time.
    """

    def __init__(self, notify=None):
        self.done = threading.Event()
        self.reply = None
        self._notify = notify

    def finish(self, reply):
        self.reply = reply
        # done before notify: an owner woken by notify finds done already set.
        self.done.set()
        if self._notify is not None:
            self._notify.set()


class MasterLink:
    """The proxy's single connection to the master.

    Replies arrive in request order (a server handles a connection's requests in
    order), so they are matched to a FIFO of waiters; change events pushed in between
    go to on_event. A waiter that timed out stays queued so later replies still match.
    """

    def __init__(self, sock, ip, port, on_event, on_lost):
        self.ip = ip
        self.address = "%s:%d" % (ip, port)
        self.lost_reason = None
        self._conn = protocol.Connection(sock)
        self._pending = collections.deque()
        self._lock = threading.Lock()
        self._on_event = on_event
        self._on_lost = on_lost
        threading.Thread(target=self._read_loop, name="master " + self.address, daemon=True).start()

    def send(self, message, notify=None):
        """Send a request without waiting for its reply; the waiter that will hold it."""
        waiter = _Waiter(notify)
        with self._lock:
            if self.lost_reason is not None:
                raise LinkError(self.lost_reason)
            # Queued and sent under one lock, so queue order is wire order.
            self._pending.append(waiter)
            self._conn.send(message)
        return waiter

    def request(self, message, timeout):
        waiter = self.send(message)
        if not waiter.done.wait(timeout):
            raise LinkError(self.no_reply(timeout))
        if waiter.reply is None:
            raise LinkError(self.lost_reason)
        return waiter.reply

    def no_reply(self, timeout):
        return "no reply from %s within %s s" % (self.address, timeout)

    def close(self, reason):
        with self._lock:
            if self.lost_reason is None:
                self.lost_reason = reason
        self._conn.close()

    def _read_loop(self):
        reason = "connection closed by the master"
        try:
            while True:
                message = self._conn.read()
                if message is None:
                    break
                if "event" in message:
                    self._on_event(self, message)
                    continue
                with self._lock:
                    waiter = self._pending.popleft() if self._pending else None
                if waiter is not None:
                    waiter.finish(message)
        except protocol.ProtocolError as exc:
            reason = "bad message from the master: %s" % exc.message
        self.close(reason)
        with self._lock:
            pending, self._pending = self._pending, collections.deque()
        for waiter in pending:
            waiter.finish(None)
        self._on_lost(self)


class CSProxy(App):
    kind = "csproxy"

    def __init__(self, name, cs_host, cs_port, config_path):
        super().__init__(name, cs_host, cs_port, config_path)
        self.ports = [cs_port]
        backup_port = self.config.getint("proxy", "backup_port", None)
        if backup_port is not None:
            self.ports.append(backup_port)
        self.reconnect_interval = self.config.getfloat("proxy", "reconnect_interval", 10.0)
        self.heartbeat_interval = self.config.getfloat("proxy", "heartbeat_interval", 2.0)
        self.heartbeat_timeout = self.config.getfloat("proxy", "heartbeat_timeout", 5.0)
        self._cache = {}
        # Guards the cache, the current link and the events held back during a sync.
        self._cache_lock = threading.Lock()
        self._link = None
        self._syncing = None
        self._backlog = []
        self._wake = threading.Event()
        self._hup = False
        self._first_attempt = threading.Event()
        self._manager = threading.Thread(target=self._manage, name="master-link", daemon=True)

    def initialize(self):
        self._manager.start()
        self._first_attempt.wait(FIRST_ATTEMPT_WAIT)

    def shutdown(self):
        self._wake.set()
        link = self._link
        if link is not None:
            link.close("proxy stopping")

    def on_sighup(self):
        self.log.std(22009, "SIGHUP received: re-resolving %s" % self.cs_host)
        self._hup = True
        self._wake.set()

    def _manage(self):
        while not self.stopping.is_set():
            link = self._connect()
            self._first_attempt.set()
            if link is not None and self._supervise(link):
                continue
            # Wait for the next attempt; only a SIGHUP (or stop) cuts it short, not
            # a stale wake-up left by the link that was just lost.
            deadline = time.monotonic() + self.reconnect_interval
            while not self.stopping.is_set() and not self._hup and time.monotonic() < deadline:
                self._wake.wait(deadline - time.monotonic())
                self._wake.clear()

    def _resolve(self):
        """The master's addresses, in resolver order, looked up afresh every time."""
        infos = socket.getaddrinfo(self.cs_host, None, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(info[4][0] for info in infos))

    def _connect(self):
        """Try every address of the master name on each port; the link, or None."""
        self._hup = False
        failures = []
        try:
            addresses = self._resolve()
        except socket.gaierror as exc:
            addresses = []
            failures.append("cannot resolve %s: %s" % (self.cs_host, exc))
        for ip in addresses:
            for port in self.ports:
                try:
                    return self._open(ip, port)
                except (OSError, LinkError) as exc:
                    failures.append("%s:%d: %s" % (ip, port, exc))
        text = "master Configuration Server %s (ports %s) not available: %s" % (
            self.cs_host, "/".join(map(str, self.ports)), "; ".join(failures))
        if self.mode != "limited":
            self.set_mode("limited", "Alarm", 22003, text[0].upper() + text[1:] + "; mode limited")
        else:
            self.log.trc(22004, "Reconnect failed, %s" % text)
        return None

    def _open(self, ip, port):
        sock = socket.create_connection((ip, port), timeout=CONNECT_TIMEOUT)
        sock.settimeout(None)
        link = MasterLink(sock, ip, port, self._on_event, self._on_link_lost)
        try:
            self._expect_ok(link, {"op": "hello", "role": "proxy", "app": self.name, "site": self.site})
            # Subscribe before listing: a change committed in between is then both in
            # the snapshot and in the backlog replayed over it, never in neither.
            with self._cache_lock:
                self._syncing = link
                self._backlog = []
            self._expect_ok(link, {"op": "subscribe"})
            objects = self._expect_ok(link, {"op": "list"})["objects"]
            with self._cache_lock:
                self._cache = {(obj["type"], obj["name"]): obj for obj in objects}
                for event in self._backlog:
                    self._apply(event)
                self._syncing = None
                self._backlog = []
                self._link = link
                cached = len(self._cache)
        except (LinkError, KeyError, TypeError) as exc:
            link.close(str(exc))
            with self._cache_lock:
                self._syncing = None
            raise LinkError(str(exc)) from None
        self.set_mode("normal", "Std", 22001, "Connected to master Configuration Server %s (%s), %d objects"
                      " cached; mode normal" % (link.address, self.cs_host, cached))
        return link

    @staticmethod
    def _expect_ok(link, message):
        reply = link.request(message, SETUP_TIMEOUT)
        if not reply.get("ok"):
            raise LinkError("%s refused: %s" % (message["op"], reply.get("code")))
        return reply

    def _supervise(self, link):
        """Heartbeat the master until the link is lost; True: reconnect at once.

        One wait serves the heartbeat and the SIGHUP (or stop): the ping's reply is
        signalled through _wake as well, so a SIGHUP is acted on at once even while a
        ping to a master that no longer answers is outstanding, as a real, event-driven
        proxy does (its ADDP to a dead peer holds back no other event).
        """
        reconnect_now = False
        ping = None
        # Until the next ping is sent, or, with a ping outstanding, until it times out.
        deadline = time.monotonic() + self.heartbeat_interval
        while not self.stopping.is_set() and link.lost_reason is None:
            if ping is not None and ping.done.is_set():
                # Answered (a lost link ends the loop through lost_reason instead).
                ping = None
                deadline = time.monotonic() + self.heartbeat_interval
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if ping is not None:
                    link.close("heartbeat: %s" % link.no_reply(self.heartbeat_timeout))
                    continue
                try:
                    ping = link.send({"op": "ping"}, notify=self._wake)
                except LinkError as exc:
                    link.close("heartbeat: %s" % exc)
                deadline = time.monotonic() + self.heartbeat_timeout
                continue
            if not self._wake.wait(remaining):
                continue
            # Cleared before the checks above and below run again, so a reply or a
            # SIGHUP that comes after this point sets it anew and is not missed.
            self._wake.clear()
            if self._hup and link.lost_reason is None:
                self._hup = False
                reconnect_now = self._master_moved(link)
                if reconnect_now:
                    link.close("master name %s no longer resolves to %s" % (self.cs_host, link.ip))
        with self._cache_lock:
            self._link = None
        if not self.stopping.is_set():
            self.set_mode("limited", "Alarm", 22002, "Connection to master Configuration Server %s lost (%s);"
                          " mode limited" % (link.address, link.lost_reason))
        return reconnect_now

    def _master_moved(self, link):
        try:
            addresses = self._resolve()
        except socket.gaierror as exc:
            self.log.alarm(22012, "Cannot re-resolve %s (%s); staying with %s" % (self.cs_host, exc, link.address))
            return False
        self.log.std(22010, "%s resolves to %s; connected to %s" % (self.cs_host, ", ".join(addresses), link.address))
        return link.ip not in addresses

    def _on_event(self, link, event):
        with self._cache_lock:
            if link is self._syncing:
                self._backlog.append(event)
            elif link is self._link:
                self._apply(event)

    def _apply(self, event):
        obj = event.get("object") or {}
        key = (obj.get("type"), obj.get("name"))
        if event.get("op") == "delete":
            self._cache.pop(key, None)
        elif event.get("op") == "put":
            self._cache[key] = obj

    def _on_link_lost(self, link):
        if link is self._link:
            self._wake.set()

    def status(self):
        link = self._link
        return dict(super().status(), master=link.address if link else None, master_name=self.cs_host,
                    master_ports=self.ports, cached_objects=len(self._cache))

    def op_hello(self, conn, request):
        conn.hello = {"role": request.get("role", "client"), "app": request.get("app")}
        return protocol.ok(app=self.name, mode=self.mode)

    def op_get(self, conn, request):  # pylint: disable=unused-argument
        cfg_type, name = protocol.object_ref(request)
        obj = self._cache.get((cfg_type, name))
        if obj is None:
            raise protocol.ProtocolError("not_found", "%s %r not found" % (cfg_type, name))
        return protocol.ok(object=obj)

    def op_list(self, conn, request):  # pylint: disable=unused-argument
        cfg_type = protocol.list_filter(request)
        with self._cache_lock:
            objects = [obj for obj in self._cache.values() if cfg_type in (None, obj["type"])]
        objects.sort(key=lambda obj: (obj["type"], obj["dbid"]))
        return protocol.ok(objects=objects)

    def op_put(self, conn, request):  # pylint: disable=unused-argument
        cfg_type, name = protocol.object_ref(request)
        return self._forward({"op": "put", "type": cfg_type, "name": name, "data": protocol.object_data(request)})

    def op_delete(self, conn, request):  # pylint: disable=unused-argument
        cfg_type, name = protocol.object_ref(request)
        return self._forward({"op": "delete", "type": cfg_type, "name": name})

    def _forward(self, message):
        """Relay a write to the master; its reply comes after the master's commit."""
        link = self._link
        if link is None:
            raise protocol.ProtocolError("limited_mode", "%s is in limited mode (no master Configuration"
                                         " Server); writes are refused" % self.name)
        try:
            return link.request(message, FORWARD_TIMEOUT)
        except LinkError as exc:
            raise protocol.ProtocolError("master_lost", "connection to master %s failed before its reply (%s);"
                                         " the outcome is unknown" % (link.address, exc)) from None
