"""Helpers and fixtures for the lab's unit tests: real genesys_sim daemons on 127.0.0.1, a throw-away
PostgreSQL 15 cluster for the database parts. The tests import it as ``simtest`` (conftest.py hands
pytest the fixtures): a module named ``conftest`` is not unique across tests/unit, and which one
``from conftest import`` finds depends on what pytest collected first.

The commands run under this interpreter, or under $GENESYS_SIM_PYTHON when set (e.g.
/usr/bin/python3, the one the lab hosts use)."""

import configparser
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import psycopg2
import pytest

# The lab is its own top-level part of the checkout (lab/), beside tests/.
LAB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "lab")
if LAB_DIR not in sys.path:
    sys.path.insert(0, LAB_DIR)

from genesys_sim.client import Client, ClientError  # noqa: E402  pylint: disable=wrong-import-position

PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORDS = {"postgres": "ut-admin-pw", "ut_cs": "ut-cs-pw", "ut_lms": "ut-lms-pw", "ut_revoke": "ut-revoke-pw",
             "ut_reader": "ut-reader-pw"}
SITE = "site1"
SEED = 3000


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, what):
    """Poll predicate until it returns a truthy value; fail the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (ClientError, psycopg2.Error):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("timed out after %s s waiting for %s" % (timeout, what))
        time.sleep(0.05)


def request(port, message, timeout=5.0, host="127.0.0.1"):
    with Client(host, port, timeout) as client:
        return client.request(message)


def sim_command(*args, timeout=30):
    env = dict(os.environ, PYTHONPATH=LAB_DIR)
    python = os.environ.get("GENESYS_SIM_PYTHON", sys.executable)
    return subprocess.run([python, "-m", "genesys_sim", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def pids_with_app(name):
    """Pids whose command line holds ``-app <name>``: how automation finds them."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as cmdline:
                words = cmdline.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if any(words[i] == "-app" and words[i + 1] == name for i in range(len(words) - 1)):
            pids.append(int(entry))
    return pids


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class App:
    """A started daemon: its name, port, pid, log."""

    def __init__(self, name, host, port, config_path):
        self.name = name
        self.host = host
        self.port = port
        self.config_path = config_path
        self.log_path = os.path.join(os.path.dirname(config_path), "logs", name + ".log")
        self.pid = None

    def status(self):
        return self.request({"op": "status"})

    def request(self, message, timeout=5.0):
        return request(self.port, message, timeout, self.host)

    def log(self):
        with open(self.log_path, encoding="utf-8") as log:
            return log.read()

    def send_signal(self, signum):
        os.kill(self.pid, signum)

    def stop(self, signum=signal.SIGTERM, timeout=10):
        os.kill(self.pid, signum)
        wait_for(lambda: not alive(self.pid), timeout, "%s to exit" % self.name)


class Sim:
    """Starts simulated applications through the real CLI, in one temp directory.

    Application names get a unique prefix: processes are found (and killed at the
    end) by their -app name, which must never match anything but this test's.
    """

    def __init__(self, directory):
        self.dir = directory
        self.prefix = "ut%s_" % uuid.uuid4().hex[:8]
        self.apps = []

    def write_config(self, name, sections):
        parser = configparser.ConfigParser(interpolation=None)
        for section, values in sections.items():
            parser[section] = {key: str(value) for key, value in values.items()}
        path = os.path.join(self.dir, name + ".cfg")
        with open(path, "w", encoding="utf-8") as config:
            parser.write(config)
        return path

    def launch(self, kind, name, host, port, sections):
        """Run the start command; (CompletedProcess, App)."""
        name = self.prefix + name
        config_path = self.write_config(name, sections)
        own_port = port if kind == "confserv" else int(sections["app"]["port"])
        listen_host = sections["app"].get("listen_host", "0.0.0.0")
        app = App(name, "127.0.0.1" if listen_host == "0.0.0.0" else listen_host, own_port, config_path)
        self.apps.append(app)
        result = sim_command(kind, "-host", host, "-port", str(port), "-app", name, "-config", config_path)
        pids = pids_with_app(name)
        app.pid = pids[0] if pids else None
        return result, app

    def start(self, kind, name, host, port, sections):
        result, app = self.launch(kind, name, host, port, sections)
        assert result.returncode == 0, "%s failed to start: %s" % (name, result.stderr)
        assert app.pid, "%s: no process with -app %s in its command line" % (name, name)
        return app

    def cleanup(self):
        for app in self.apps:
            for pid in pids_with_app(app.name):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def sim(tmp_path):
    sims = Sim(str(tmp_path))
    yield sims
    sims.cleanup()


class PgCluster:
    """A PostgreSQL 15 cluster in a temp dir, listening on 127.0.0.1 only."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ut-genesys-pg-")
        self.data = os.path.join(self.dir, "data")
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")

    def _run(self, *command):
        subprocess.run(self._as_postgres + list(command), check=True, capture_output=True, timeout=60)

    def start(self):
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w", encoding="ascii") as pw:
            pw.write(PASSWORDS["postgres"])
        if self._as_postgres:
            shutil.chown(pwfile, "postgres")
        self._run(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--pwfile", pwfile, "--no-sync")
        self._run(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "pg.log"),
                  "-w", "-t", "30", "start", "-o",
                  "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (self.port, self.dir))

    def stop(self):
        subprocess.run(self._as_postgres + [os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "immediate",
                                            "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def dsn(self, user="postgres", dbname="postgres"):
        return "host=127.0.0.1 port=%d user=%s password=%s dbname=%s" % (self.port, user, PASSWORDS[user], dbname)

    def dbserver(self, user, dbname="cfgdb"):
        """A [dbserver] configuration section."""
        return {"host": "127.0.0.1", "port": self.port, "dbname": dbname, "user": user, "password": PASSWORDS[user]}

    def execute(self, query, params=None, dbname="cfgdb"):
        """Run one statement as the superuser; the rows it returned (or None)."""
        conn = psycopg2.connect(self.dsn(dbname=dbname))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()


@pytest.fixture(scope="session")
def pg():
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        pytest.skip("PostgreSQL 15 server binaries not installed")
    cluster = PgCluster()
    try:
        cluster.start()
        for role in PASSWORDS:
            if role != "postgres":
                cluster.execute("CREATE ROLE %s LOGIN PASSWORD %%s" % role, (PASSWORDS[role],), dbname="postgres")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def installed(pg):
    """cfgdb (seeded) and logdb installed through the install-db command; the
    results and durations of both runs."""
    runs = {}
    for database, grants, extra in (("cfgdb", "ut_cs,ut_revoke", ["--seed", str(SEED)]), ("logdb", "ut_lms", [])):
        started = time.monotonic()
        result = sim_command("install-db", "--dsn", pg.dsn(), "--database", database, "--site", SITE,
                             "--owner", "ut_owner", "--grant-write", grants, *extra)
        runs[database] = (result, time.monotonic() - started)
        assert result.returncode == 0, result.stderr
    # Read-only role: can connect and read, cannot write.
    pg.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO ut_reader")
    return runs


def confserv_sections(pg, role="primary", peer_port=None, user="ut_cs", listen_host="127.0.0.1"):
    confserv = {"role": role}
    if peer_port:
        confserv["peer_port"] = peer_port
    return {"app": {"site": SITE, "listen_host": listen_host}, "dbserver": pg.dbserver(user), "confserv": confserv}


def proxy_sections(port, backup_port=None, reconnect_interval=0.5):
    proxy = {"reconnect_interval": reconnect_interval, "heartbeat_interval": 0.3, "heartbeat_timeout": 1}
    if backup_port:
        proxy["backup_port"] = backup_port
    return {"app": {"site": SITE, "listen_host": "127.0.0.1", "port": port}, "proxy": proxy}


def mode_is(app, mode):
    return app.status()["mode"] == mode
