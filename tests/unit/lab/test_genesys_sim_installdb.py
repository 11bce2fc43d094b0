"""install-db: the simulated Genesys database install."""

import json

import psycopg2

from simtest import SEED, SITE, PASSWORDS, sim_command

CFG_TABLES = ["cfg_agent_login", "cfg_application", "cfg_dn", "cfg_host", "cfg_person"]


def test_install_creates_database_owned_by_nologin_owner_with_schema_and_grants(pg, installed):
    result = installed["cfgdb"][0]
    assert json.loads(result.stdout) == {"database": "cfgdb", "site": SITE, "created": True, "owner_created": True,
                                         "seeded": SEED, "granted": ["ut_cs", "ut_revoke"], "changed": True}
    assert pg.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'cfgdb'") == [("ut_owner",)]
    assert pg.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'ut_owner'") == [(False,)]
    assert pg.execute("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY 1") == [
        (table, "ut_owner") for table in CFG_TABLES]
    privileges = pg.execute(
        "SELECT bool_and(has_table_privilege(r, t, p)) FROM unnest(%s::text[]) AS t,"
        " unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p, unnest(ARRAY['ut_cs', 'ut_revoke']) AS r",
        (CFG_TABLES,))
    assert privileges == [(True,)]
    assert pg.execute("SELECT has_table_privilege('ut_lms', 'cfg_person', 'SELECT')") == [(False,)]
    # The login role itself sees the site of the database.
    conn = psycopg2.connect(pg.dsn("ut_cs", "cfgdb"))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('genesys.db_site')")
        assert cur.fetchone() == (SITE,)
    conn.close()


def test_seed_is_spread_over_the_types_with_deterministic_names_and_fast(pg, installed):
    seconds = installed["cfgdb"][1]
    assert seconds < 2.0
    for table, prefix in (("cfg_person", "person"), ("cfg_dn", "dn"), ("cfg_agent_login", "agent_login"),
                          ("cfg_application", "application"), ("cfg_host", "host")):
        assert pg.execute("SELECT count(*), min(name), max(name) FROM %s WHERE name LIKE '%s\\_0%%'"
                          % (table, prefix)) == [(SEED // 5, prefix + "_00001", "%s_%05d" % (prefix, SEED // 5))]


def test_logdb_rows_default_to_the_site_of_the_database(pg, installed):
    result = installed["logdb"][0]
    assert json.loads(result.stdout)["granted"] == ["ut_lms"]
    conn = psycopg2.connect(pg.dsn("ut_lms", "logdb"))
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO log_event (origin_site, app, level, message) VALUES ('site9', 'a', 'Std', 'm')"
                        " RETURNING db_site, id")
            assert cur.fetchone()[0] == SITE
    finally:
        conn.rollback()
        conn.close()
    assert pg.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                      " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'log_event'::regclass AND i.indisprimary"
                      " ORDER BY a.attnum", dbname="logdb") == [("db_site",), ("id",)]


def test_install_again_changes_nothing_but_missing_grants(pg, installed):
    pg.execute("CREATE ROLE ut_late LOGIN PASSWORD 'x'", dbname="postgres")
    try:
        args = ["install-db", "--dsn", pg.dsn(), "--database", "cfgdb", "--site", SITE, "--owner", "ut_owner",
                "--seed", "10"]
        first = sim_command(*args, "--grant-write", "ut_cs,ut_late")
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        assert summary["granted"] == ["ut_late"] and summary["seeded"] == 0 and summary["changed"] is True
        second = sim_command(*args, "--grant-write", "ut_cs,ut_late")
        assert json.loads(second.stdout)["changed"] is False
    finally:
        pg.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ut_late;"
                   " REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ut_late;"
                   " REVOKE ALL ON SCHEMA public FROM ut_late; REVOKE ALL ON DATABASE cfgdb FROM ut_late")
        pg.execute("DROP ROLE ut_late", dbname="postgres")
    assert pg.execute("SELECT count(*) FROM cfg_host WHERE name LIKE 'host\\_0%'") == [(SEED // 5,)]


def test_install_refuses_unknown_login_roles_and_seeding_logdb(pg, installed):
    result = sim_command("install-db", "--dsn", pg.dsn(), "--database", "cfgdb", "--site", SITE,
                         "--owner", "ut_owner", "--grant-write", "ut_cs,ut_nobody")
    assert result.returncode == 1
    assert "ut_nobody do not exist" in result.stderr
    assert PASSWORDS["postgres"] not in result.stderr
    result = sim_command("install-db", "--dsn", pg.dsn(), "--database", "logdb", "--site", SITE,
                         "--owner", "ut_owner", "--seed", "5")
    assert result.returncode == 64
