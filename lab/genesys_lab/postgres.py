"""A real PostgreSQL 15 cluster per site DB host, with wal_level=logical.

No replication is configured here: that is the normal-mode playbook's job. The lab only
creates the roles and lets the simulated Genesys install scripts create cfgdb and logdb.
"""
import os
import pwd

from .system import LabError, in_ns, pid_alive, run, write_file

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_PORT = 5432
ADMIN_ROLE = "genesys_dr_admin"
OWNER_ROLE = "genesys_owner"
CS_ROLE = "genesys_cs"
MS_ROLE = "genesys_ms"


def pgroot(host):
    """Everything of the cluster, owned by postgres: data/, run/ (socket), postgresql.log."""
    return os.path.join(host.dir, "pg")


def datadir(host):
    return os.path.join(pgroot(host), "data")


def sockdir(host):
    return os.path.join(pgroot(host), "run")


def logfile(host):
    return os.path.join(pgroot(host), "postgresql.log")


def _as_postgres(host, cmd, check=True, input=None):
    return in_ns(host.netns, ["runuser", "-u", "postgres", "--"] + cmd, check=check, input=input)


def _chown_postgres(path):
    pw = pwd.getpwnam("postgres")
    os.chown(path, pw.pw_uid, pw.pw_gid)


def init(host, subnet_cidr):
    data = datadir(host)
    if os.path.exists(os.path.join(data, "PG_VERSION")):
        return False
    os.makedirs(host.dir, exist_ok=True)
    os.chmod(host.dir, 0o755)
    for d in (pgroot(host), data, sockdir(host)):
        os.makedirs(d, exist_ok=True)
        _chown_postgres(d)
    os.chmod(data, 0o700)
    _as_postgres(host, [PG_BIN + "/initdb", "-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                        "--auth-local=peer", "--auth-host=scram-sha-256"])
    conf = (
        "\n# genesys DR lab\n"
        "listen_addresses = '%(addr)s'\n"
        "port = %(port)d\n"
        "unix_socket_directories = '%(sock)s'\n"
        "wal_level = logical\n"
        "max_wal_senders = 20\n"
        "max_replication_slots = 20\n"
        "max_logical_replication_workers = 12\n"
        "max_worker_processes = 24\n"
        "shared_buffers = 32MB\n"
        "max_connections = 100\n"
        "password_encryption = scram-sha-256\n"
        "log_line_prefix = '%%m [%%p] %%q%%u@%%d '\n"
        "log_connections = off\n"
    ) % {"addr": host.address, "port": PG_PORT, "sock": sockdir(host)}
    with open(os.path.join(data, "postgresql.conf"), "a") as f:
        f.write(conf)
    hba = (
        "local all postgres peer\n"
        "local all all scram-sha-256\n"
        "host all all %(net)s scram-sha-256\n"
        "host replication all %(net)s scram-sha-256\n"
    ) % {"net": subnet_cidr}
    write_file(os.path.join(data, "pg_hba.conf"), hba, mode=0o600, owner="postgres")
    return True


def running(host):
    try:
        with open(os.path.join(datadir(host), "postmaster.pid")) as f:
            pid = int(f.readline())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def start(host):
    if running(host):
        return False
    proc = _as_postgres(host, [PG_BIN + "/pg_ctl", "-D", datadir(host), "-l", logfile(host),
                               "-w", "-t", "60", "start"], check=False)
    if proc.returncode != 0:
        raise LabError("PostgreSQL on %s did not start; see %s\n%s"
                       % (host.name, logfile(host), proc.stdout + proc.stderr))
    return True


def stop(host):
    if running(host):
        _as_postgres(host, [PG_BIN + "/pg_ctl", "-D", datadir(host), "-m", "fast", "-w", "stop"], check=False)


def psql(host, sql, db="postgres"):
    """Run SQL as the local superuser over the unix socket (set-up only)."""
    return _as_postgres(host, ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", sockdir(host), "-p", str(PG_PORT),
                               "-d", db, "-At"], input=sql).stdout


def _role_sql(name, password, attrs):
    quoted = password.replace("'", "''")
    return (
        "DO $$ BEGIN\n"
        "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%(n)s') THEN\n"
        "    CREATE ROLE %(n)s %(a)s PASSWORD '%(p)s';\n"
        "  ELSE\n"
        "    ALTER ROLE %(n)s %(a)s PASSWORD '%(p)s';\n"
        "  END IF;\n"
        "END $$;\n"
    ) % {"n": name, "a": attrs, "p": quoted}


def ensure_roles(host, secrets):
    # CREATE SUBSCRIPTION and FOR ALL TABLES publications need superuser in PostgreSQL 15.
    sql = (_role_sql(ADMIN_ROLE, secrets["db_admin_password"], "LOGIN SUPERUSER REPLICATION")
           + _role_sql(CS_ROLE, secrets["db_cs_password"], "LOGIN NOSUPERUSER")
           + _role_sql(MS_ROLE, secrets["db_ms_password"], "LOGIN NOSUPERUSER")
           + "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
             "CREATE ROLE %s NOLOGIN; END IF; END $$;\n" % (OWNER_ROLE, OWNER_ROLE))
    psql(host, sql)


def admin_dsn(host, db="postgres"):
    """libpq DSN of the DR admin role; the password goes in PGPASSWORD, not argv."""
    return "host=%s port=%d dbname=%s user=%s connect_timeout=5" % (host.address, PG_PORT, db, ADMIN_ROLE)


def install_genesys_dbs(host, secrets, site, seed, sim_path):
    """The simulated Genesys install: cfgdb and logdb schema, grants, seed data at main."""
    env = dict(os.environ, PYTHONPATH=sim_path, PGPASSWORD=secrets["db_admin_password"])
    dsn = admin_dsn(host)
    for db, roles, n in (("cfgdb", CS_ROLE, seed), ("logdb", MS_ROLE, 0)):
        cmd = ["/usr/bin/python3", "-m", "genesys_sim", "install-db", "--dsn", dsn, "--database", db,
               "--site", site, "--owner", OWNER_ROLE, "--grant-write", roles]
        if n:
            cmd += ["--seed", str(n)]
        run(cmd, env=env)
