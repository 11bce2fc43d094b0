"""Throw-away PostgreSQL 15 clusters for unit tests.

Each cluster lives in its own directory under a private temporary directory, runs as the
``postgres`` OS user (``runuser -u postgres --``), listens on 127.0.0.1 on a free port with
``wal_level = logical`` and is removed when the test session ends.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psycopg2

PG_BIN = '/usr/lib/postgresql/15/bin'
SUPERUSER = 'postgres'
SUPERUSER_PASSWORD = 'Su-p4ss\'w"r\\d'
HOST = '127.0.0.1'

SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
wal_level = logical
max_replication_slots = 16
max_wal_senders = 16
max_worker_processes = 24
max_logical_replication_workers = 12
max_sync_workers_per_subscription = 2
wal_retrieve_retry_interval = '500ms'
fsync = off
full_page_writes = off
synchronous_commit = off
shared_buffers = '16MB'
max_connections = 40
lc_messages = 'C'
log_min_messages = warning
"""


def unavailable_reason():
    """Why real clusters cannot be started here, or None when they can."""
    if os.geteuid() != 0:
        return 'starting PostgreSQL as user postgres needs root (runuser)'
    if not os.path.exists(os.path.join(PG_BIN, 'initdb')):
        return 'PostgreSQL 15 server binaries not found in %s' % PG_BIN
    try:
        pwd.getpwnam('postgres')
    except KeyError:
        return 'no OS user postgres'
    return None


def free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


class PgCluster:
    """One PostgreSQL cluster owned by this test session."""

    def __init__(self, root, name):
        self.name = name
        self.dir = os.path.join(root, name)
        self.data = os.path.join(self.dir, 'data')
        self.logfile = os.path.join(self.dir, 'server.log')
        self.port = free_port()
        os.mkdir(self.dir)
        pg_user = pwd.getpwnam('postgres')
        os.chown(self.dir, pg_user.pw_uid, pg_user.pw_gid)

    def _run(self, *args, **kwargs):
        cmd = ['runuser', '-u', 'postgres', '--'] + [str(a) for a in args]
        proc = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=kwargs.get('timeout', 60), check=False)
        if proc.returncode != 0 and kwargs.get('check', True):
            raise RuntimeError('%s failed (%s): %s %s\nserver log:\n%s' % (' '.join(cmd), proc.returncode, proc.stdout, proc.stderr, self.log_tail()))
        return proc

    def log_tail(self, size=3000):
        try:
            with open(self.logfile) as handle:
                return handle.read()[-size:]
        except OSError:
            return ''

    def init(self):
        pwfile = os.path.join(self.dir, 'pwfile')
        with open(pwfile, 'w') as handle:
            handle.write(SUPERUSER_PASSWORD + '\n')
        os.chmod(pwfile, 0o644)
        self._run(os.path.join(PG_BIN, 'initdb'), '-D', self.data, '-U', SUPERUSER, '--pwfile', pwfile, '-N', '-E', 'UTF8', '--no-locale',
                  '--auth-local=trust', '--auth-host=scram-sha-256')
        os.unlink(pwfile)
        with open(os.path.join(self.data, 'postgresql.conf'), 'a') as handle:
            handle.write(SERVER_SETTINGS.format(port=self.port, socket_dir=self.dir))
        return self

    def start(self):
        self._run(os.path.join(PG_BIN, 'pg_ctl'), '-D', self.data, '-l', self.logfile, '-w', '-t', '30', 'start')
        return self

    def stop(self, mode='fast'):
        self._run(os.path.join(PG_BIN, 'pg_ctl'), '-D', self.data, '-m', mode, '-w', '-t', '30', 'stop', check=False)

    def kill(self):
        """Stop the cluster the hard way (what a lost site looks like to its peers)."""
        self.stop('immediate')

    def postmaster_pid(self):
        with open(os.path.join(self.data, 'postmaster.pid')) as handle:
            return int(handle.readline())

    @staticmethod
    def children(parent):
        pids = []
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    # The command name (field 2) may hold spaces: the parent pid is the 2nd field after its ')'.
                    ppid = int(handle.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                pids.append(int(entry))
        return sorted(pids)

    def pause(self):
        """Freeze the whole cluster (SIGSTOP): its kernel still accepts and acknowledges TCP but no process
        answers, which is how a hung or partitioned server looks to a peer. Returns the pids for resume()."""
        postmaster = self.postmaster_pid()
        # The postmaster first: once it is stopped it forks no child that the list below would miss.
        os.kill(postmaster, signal.SIGSTOP)
        pids = [postmaster] + self.children(postmaster)
        for pid in pids[1:]:
            # A backend that exited since the listing needs no stopping; raising here would leave the
            # postmaster frozen with no pid list to resume it, for every later test of the session.
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        return pids

    @staticmethod
    def resume(pids):
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def is_running(self):
        return self._run(os.path.join(PG_BIN, 'pg_ctl'), '-D', self.data, 'status', check=False).returncode == 0

    def ensure_running(self):
        if not self.is_running():
            self.start()

    def connect(self, dbname='postgres', user=SUPERUSER, password=SUPERUSER_PASSWORD):
        conn = psycopg2.connect(host=HOST, port=self.port, dbname=dbname, user=user, password=password, connect_timeout=5)
        conn.autocommit = True
        return conn

    def sql(self, dbname, query, params=None):
        """Run one statement on a fresh connection; return its rows (or None)."""
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def login_args(self, dbname):
        """Connection options of the collection's PostgreSQL modules for this cluster."""
        return dict(login_host=HOST, login_port=self.port, login_user=SUPERUSER, login_password=SUPERUSER_PASSWORD, login_db=dbname, connect_timeout=5)

    def publisher(self, dbname):
        """The ``publisher`` option of pg_subscription and pg_subscription_info for this cluster."""
        return dict(host=HOST, port=self.port, dbname=dbname, user=SUPERUSER, password=SUPERUSER_PASSWORD, connect_timeout=3)


class ClusterSet:
    """Several clusters in one private directory, started and torn down together."""

    def __init__(self, names):
        self.root = tempfile.mkdtemp(prefix='genesys-dr-pg-')
        os.chmod(self.root, 0o755)
        self.clusters = [PgCluster(self.root, name) for name in names]

    def __enter__(self):
        try:
            for cluster in self.clusters:
                cluster.init()
            for cluster in self.clusters:
                cluster.start()
        except Exception:
            self.close()
            raise
        return self.clusters

    def close(self):
        for cluster in self.clusters:
            if os.path.isdir(cluster.data):
                cluster.stop('immediate')
        shutil.rmtree(self.root, ignore_errors=True)

    def __exit__(self, *exc):
        self.close()


def wait_until(predicate, timeout=20.0, interval=0.1, what='condition'):
    """Poll predicate until it returns a truthy value; return it or raise AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ss waiting for %s' % (timeout, what))
        time.sleep(interval)
