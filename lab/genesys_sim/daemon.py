"""What every simulated application shares: configuration, log, network logging,
the request dispatch, and the process life cycle (daemon, readiness, signals)."""

import collections
import configparser
import os
import select
import signal
import sys
import threading
import time
import traceback

from genesys_sim import protocol
from genesys_sim.client import Client, ClientError

# How long the launching process waits for the daemon to report ready or failed.
READY_TIMEOUT = 15

_REQUIRED = object()


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


class StartupError(Exception):
    """The application cannot start; the text is what the launcher prints."""


class Config:
    """The INI configuration file of one application."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self._parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"),
                                                 interpolation=None)
        try:
            if not self._parser.read(self.path):
                raise ConfigError("cannot read configuration file %s" % self.path)
        except configparser.Error as exc:
            raise ConfigError("%s: %s" % (self.path, exc)) from None

    def get(self, section, key, default=_REQUIRED):
        value = self._parser.get(section, key, fallback=None)
        if value is None or value == "":
            if default is _REQUIRED:
                raise ConfigError("%s: [%s] %s is required" % (self.path, section, key))
            return default
        return value

    def _convert(self, section, key, default, convert, what):
        value = self.get(section, key, default)
        if value is default and default is not _REQUIRED:
            return default
        try:
            return convert(value)
        except ValueError:
            raise ConfigError("%s: [%s] %s must be %s, got %r"
                              % (self.path, section, key, what, value)) from None

    def getint(self, section, key, default=_REQUIRED):
        return self._convert(section, key, default, int, "an integer")

    def getfloat(self, section, key, default=_REQUIRED):
        return self._convert(section, key, default, float, "a number")

    def getbool(self, section, key, default=_REQUIRED):
        def to_bool(text):
            if text.lower() in ("true", "yes", "on", "1"):
                return True
            if text.lower() in ("false", "no", "off", "0"):
                return False
            raise ValueError(text)
        return self._convert(section, key, default, to_bool, "true or false")

    def hostport(self, section, key, default=_REQUIRED):
        return self._convert(section, key, default, protocol.split_hostport, "HOST:PORT")

    def dbserver(self):
        """Connection settings of the [dbserver] section."""
        return {
            "host": self.get("dbserver", "host"),
            "port": self.getint("dbserver", "port", 5432),
            "dbname": self.get("dbserver", "dbname"),
            "user": self.get("dbserver", "user"),
            "password": self.get("dbserver", "password", ""),
        }


class AppLog:
    """The application log: ``<date>T<time>.<ms> <Level> <id> <text>`` lines.

    Levels follow Genesys: Std (standard), Alarm, Trc (trace).
    """

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self._file = open(path, "a", buffering=1, encoding="utf-8")  # pylint: disable=consider-using-with
        self._lock = threading.Lock()

    def fileno(self):
        return self._file.fileno()

    def write(self, level, msgid, text):
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + ".%03d" % (now % 1 * 1000)
        with self._lock:
            self._file.write("%s %s %05d %s\n" % (stamp, level, msgid, text))

    def std(self, msgid, text):
        self.write("Std", msgid, text)

    def alarm(self, msgid, text):
        self.write("Alarm", msgid, text)

    def trc(self, msgid, text):
        self.write("Trc", msgid, text)

    def exception(self, text):
        self.write("Alarm", 5070, "%s:\n%s" % (text, traceback.format_exc().rstrip()))


class NetLogger:
    """Sends an application's own events to a Log Message Server, best effort.

    Events wait in a bounded queue served by one thread, so a slow or absent Log
    Message Server never blocks the application; an event that cannot be delivered
    is dropped.
    """

    QUEUE_SIZE = 1000
    RETRY_DELAY = 2.0

    def __init__(self, address, app, site):
        self._address = address
        self._app = app
        self._site = site
        self._queue = collections.deque()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="netlog", daemon=True)

    def start(self):
        self._thread.start()

    def send(self, level, text):
        with self._cond:
            if len(self._queue) < self.QUEUE_SIZE:
                self._queue.append({"op": "log", "level": level, "message": text,
                                    "app": self._app, "site": self._site})
                self._cond.notify_all()

    def flush(self, timeout):
        """Wait up to timeout seconds until every queued event was handled."""
        with self._cond:
            self._cond.wait_for(lambda: not self._queue, timeout)

    def _run(self):
        client = Client(self._address[0], self._address[1], timeout=2.0)
        registered = False
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue)
                event = self._queue[0]
            try:
                if not registered:
                    client.request({"op": "hello", "role": "app", "app": self._app, "site": self._site})
                    registered = True
                client.request(event)
                delivered = True
            except ClientError:
                registered = delivered = False
            with self._cond:
                self._queue.popleft()
                self._cond.notify_all()
            if not delivered:
                time.sleep(self.RETRY_DELAY)


class App:
    """Base of the simulated applications.

    A subclass sets ``kind``, reads its settings in ``__init__``, prepares itself in
    ``initialize`` (raising StartupError when it cannot serve), answers requests with
    ``op_<name>(conn, request)`` methods and releases its resources in ``shutdown``.
    """

    kind = None

    def __init__(self, name, cs_host, cs_port, config_path):
        self.name = name
        self.cs_host = cs_host
        self.cs_port = cs_port
        self.config = Config(config_path)
        self.site = self.config.get("app", "site")
        self.listen_host = self.config.get("app", "listen_host", "0.0.0.0")
        self.port = self.listen_port()
        config_dir = os.path.dirname(self.config.path)
        self.pid_path = os.path.join(config_dir, name + ".pid")
        self.log = AppLog(os.path.join(config_dir, "logs", name + ".log"))
        network = self.config.hostport("log", "network", None)
        self.net = NetLogger(network, name, self.site) if network else None
        self.mode = "starting"
        self.since = time.time()
        self.stopping = threading.Event()
        self.server = None

    def listen_port(self):
        return self.config.getint("app", "port")

    def event(self, level, msgid, text):
        """Log a start/stop/mode change locally and to the Log Message Server."""
        self.log.write(level, msgid, text)
        if self.net:
            self.net.send(level, "%05d %s" % (msgid, text))

    def set_mode(self, mode, level, msgid, text):
        self.mode = mode
        self.since = time.time()
        self.event(level, msgid, text)

    def start(self):
        if self.net:
            self.net.start()
        try:
            self.server = protocol.Server(self.listen_host, self.port, self.handle, self.log)
        except OSError as exc:
            raise StartupError("cannot listen on %s:%d: %s" % (self.listen_host, self.port, exc)) from None
        self.log.std(4503, "Listening on %s:%d" % (self.listen_host, self.port))
        try:
            self.initialize()
        except BaseException:
            self.server.close()
            raise
        self.server.start()
        self.event("Std", 5060, "Application %s (%s) started, pid %d, mode %s"
                   % (self.name, self.kind, os.getpid(), self.mode))

    def start_failed(self, reason):
        self.event("Alarm", 5062, "Application %s (%s) start failed: %s" % (self.name, self.kind, reason))
        if self.net:
            self.net.flush(1.0)

    def stop(self, reason):
        self.event("Std", 5061, "Application %s (%s) stopping: %s" % (self.name, self.kind, reason))
        self.stopping.set()
        self.server.close()
        self.shutdown()
        self.log.std(5064, "Application %s stopped" % self.name)
        if self.net:
            self.net.flush(1.0)

    def on_sighup(self):
        self.log.std(5065, "SIGHUP received, nothing to do")

    def initialize(self):
        """Prepare to serve; raise StartupError if the application must not start."""

    def shutdown(self):
        """Release what initialize() and the running application acquired."""

    def status(self):
        return {"app": self.name, "kind": self.kind, "site": self.site, "mode": self.mode,
                "since": self.since, "pid": os.getpid(), "port": self.port}

    def handle(self, conn, request):
        op = protocol.require_str(request, "op")
        method = getattr(self, "op_" + op, None)
        if method is None:
            raise protocol.ProtocolError("unknown_op", "%s does not support op %r" % (self.kind, op))
        return method(conn, request)

    def op_status(self, conn, request):  # pylint: disable=unused-argument
        return protocol.ok(**self.status())

    def op_ping(self, conn, request):  # pylint: disable=unused-argument
        return protocol.ok(mode=self.mode)


def daemonize(log_fd):
    """Detach from the terminal and the launcher (double fork, setsid).

    Only the daemon returns, with the write end of the readiness pipe. The launcher
    waits on that pipe and exits: 0 once the daemon reports ready, 1 with the reason
    on stderr when it reports failure, dies, or stays silent for READY_TIMEOUT.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        os.waitpid(pid, 0)
        sys.exit(_await_readiness(read_fd))
    os.close(read_fd)
    os.setsid()
    if os.fork():
        os._exit(0)  # pylint: disable=protected-access
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    # Tracebacks and anything else written to stdout/stderr end up in the log.
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    return write_fd


def _await_readiness(read_fd):
    deadline = time.monotonic() + READY_TIMEOUT
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([read_fd], [], [], remaining)[0]:
            print("not ready within %d s (still starting; see its log)" % READY_TIMEOUT, file=sys.stderr)
            return 1
        chunk = os.read(read_fd, 4096)
        if not chunk:
            print("daemon exited during start-up (see its log)", file=sys.stderr)
            return 1
        data += chunk
    status, text = data.decode("utf-8", "replace").rstrip("\n").split(" ", 1)
    if status == "ready":
        print(text.strip())
        return 0
    print(text.strip(), file=sys.stderr)
    return 1


def _report(ready_fd, status, text):
    os.write(ready_fd, ("%s %s\n" % (status, " ".join(text.split()))).encode("utf-8"))
    os.close(ready_fd)


def run(app):
    """Run app as a daemon until SIGTERM/SIGINT; never returns."""
    ready_fd = daemonize(app.log.fileno())
    signals = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    # Blocked before any thread exists, so every thread inherits the mask and the
    # main thread alone takes the signals, synchronously, with sigwait().
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    with open(app.pid_path, "w", encoding="ascii") as pid_file:
        pid_file.write("%d\n" % os.getpid())
    try:
        app.start()
    except StartupError as exc:
        reason = str(exc)
    except Exception as exc:  # pylint: disable=broad-except
        app.log.exception("start-up failed")
        reason = "%s: %s" % (type(exc).__name__, exc)
    else:
        reason = None
    if reason is not None:
        app.start_failed(reason)
        _report(ready_fd, "failed", "%s %s: %s" % (app.kind, app.name, reason))
        _remove(app.pid_path)
        os._exit(1)  # pylint: disable=protected-access
    _report(ready_fd, "ready", "%s %s started, pid %d, mode %s" % (app.kind, app.name, os.getpid(), app.mode))
    while True:
        signum = signal.sigwait(signals)
        if signum != signal.SIGHUP:
            break
        app.on_sighup()
    app.stop(signal.Signals(signum).name)
    _remove(app.pid_path)
    # Worker threads may sit in blocking calls; nothing is left to flush.
    os._exit(0)  # pylint: disable=protected-access


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
