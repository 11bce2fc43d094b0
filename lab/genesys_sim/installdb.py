"""The simulated Genesys database install: database, schema, grants, seed data.

Idempotent: run again, it changes only what is missing. The login roles it grants to
are created by the caller; the NOLOGIN owner role is created when missing.
"""

import json
import os
import sys

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from genesys_sim import protocol

SQL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql")

# Seed objects per type: name prefix and the data of object number n (a zero-padded
# text), as SQL over generate_series(...) AS i.
_SEED = {
    "CfgPerson": ("person", "jsonb_build_object('user_name', 'person_' || n, 'employee_id', 'E' || n,"
                            " 'first_name', 'First' || n, 'last_name', 'Last' || n)"),
    "CfgDN": ("dn", "jsonb_build_object('number', (10000 + i)::text, 'dn_type', 'Extension',"
                    " 'switch', 'SIP_Switch')"),
    "CfgAgentLogin": ("agent_login", "jsonb_build_object('login_code', (20000 + i)::text,"
                                     " 'switch', 'SIP_Switch')"),
    "CfgApplication": ("application", "jsonb_build_object('app_type', 'ThirdPartyServer', 'version', '8.5')"),
    "CfgHost": ("host", "jsonb_build_object('ip_address', '10.1.' || (i / 250) || '.' || (mod(i, 250) + 1),"
                        " 'os_type', 'Linux')"),
}


class InstallError(Exception):
    pass


def main(args):
    roles = [role.strip() for role in (args.grant_write or "").split(",") if role.strip()]
    if args.seed and args.database != "cfgdb":
        print("install-db: --seed applies to cfgdb only", file=sys.stderr)
        return 64
    try:
        summary = install(args.dsn, args.database, args.site, args.owner, roles, args.seed or 0)
    except (InstallError, psycopg2.Error) as exc:
        print("install-db: %s: %s" % (args.database, " ".join(str(exc).split())), file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True))
    return 0


def install(dsn, database, site, owner, roles, seed):
    """Install one database; returns what was done (``changed`` and details)."""
    summary = {"database": database, "site": site, "created": False, "owner_created": False,
               "seeded": 0, "granted": []}
    admin = psycopg2.connect(dsn)
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT rolname FROM unnest(%s::text[]) AS rolname"
                        " WHERE rolname NOT IN (SELECT rolname FROM pg_roles)", (roles,))
            absent = [row[0] for row in cur.fetchall()]
            if absent:
                raise InstallError("login role(s) %s do not exist; create them first" % ", ".join(absent))
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(owner)))
                summary["owner_created"] = True
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(owner)))
                summary["created"] = True
            # New sessions get it; the Log DB uses it as the default of log_event.db_site. Set at
            # install only: afterwards the DR framework owns it (its replication role stamps the
            # inventory's genesys_log_site), and a reinstall must not put the lab's name back.
            cur.execute("SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
                        " WHERE d.datname = %s AND s.setrole = 0"
                        " AND EXISTS (SELECT FROM unnest(s.setconfig) c WHERE c LIKE 'genesys.db_site=%%')",
                        (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("ALTER DATABASE {} SET genesys.db_site = {}").format(
                    sql.Identifier(database), sql.Literal(site)))
    finally:
        admin.close()

    conn = psycopg2.connect(make_dsn(dsn, dbname=database))
    try:
        with conn.cursor() as cur:
            # Objects belong to the owner role, not to whoever ran the install.
            cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(owner)))
            with open(os.path.join(SQL_DIR, database + ".sql"), encoding="utf-8") as schema:
                cur.execute(schema.read())
            for role in roles:
                if not _lacks_write_access(cur, role, database):
                    continue
                summary["granted"].append(role)
                for statement in (
                        "GRANT CONNECT ON DATABASE {db} TO {role}",
                        "GRANT USAGE ON SCHEMA public TO {role}",
                        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"):
                    cur.execute(sql.SQL(statement).format(db=sql.Identifier(database), role=sql.Identifier(role)))
            if seed:
                summary["seeded"] = _seed(cur, seed)
        conn.commit()
    finally:
        conn.close()
    summary["changed"] = bool(summary["created"] or summary["owner_created"] or summary["seeded"]
                              or summary["granted"])
    return summary


def _lacks_write_access(cur, role, database):
    """Whether role misses any privilege the install grants (checked one by one:
    has_*_privilege with a list of privileges means "any of them")."""
    cur.execute(
        "SELECT NOT (has_database_privilege(%(role)s, %(db)s, 'CONNECT')"
        " AND has_schema_privilege(%(role)s, 'public', 'USAGE')"
        " AND coalesce((SELECT bool_and(CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(%(role)s, c.oid, p)"
        "                                    ELSE has_table_privilege(%(role)s, c.oid, p) END)"
        "               FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace,"
        "                    unnest(CASE WHEN c.relkind = 'S' THEN ARRAY['USAGE', 'SELECT']"
        "                                ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] END) AS p"
        "               WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'p', 'S')), true))",
        {"role": role, "db": database})
    return cur.fetchone()[0]


def _seed(cur, count):
    """Insert count objects spread over the types, unless any configuration exists."""
    tables = [protocol.table_for(cfg_type) for cfg_type in _SEED]
    cur.execute(sql.SQL(" UNION ALL ").join(
        sql.SQL("(SELECT 1 FROM {} LIMIT 1)").format(sql.Identifier(table)) for table in tables))
    if cur.fetchone() is not None:
        return 0
    per_type, extra = divmod(count, len(_SEED))
    for index, (cfg_type, (prefix, data)) in enumerate(_SEED.items()):
        number = per_type + (1 if index < extra else 0)
        if not number:
            continue
        cur.execute(sql.SQL(
            "INSERT INTO {table} (name, data)"
            " SELECT {prefix} || n, " + data +
            " FROM generate_series(1, %s) AS i,"
            " LATERAL (SELECT lpad(i::text, greatest(5, length(i::text)), '0') AS n) AS padded"
            " ORDER BY i").format(table=sql.Identifier(protocol.table_for(cfg_type)),
                                  prefix=sql.Literal(prefix + "_")), (number,))
    return count
