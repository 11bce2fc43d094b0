"""genesys_dr.framework.pg_publication, pg_subscription and pg_slot against the lab's PostgreSQL 15 clusters, through real Ansible.

Pattern of community.postgresql's integration tests: call the module over SSH on a DB host
(it connects to its own host's address), assert its result, read the real state back with
psql over a separate connection (pg_publication, pg_subscription, pg_replication_slots on
the publisher, the rows themselves on both sides), call again and assert changed=false,
and run in check mode first to show that nothing changes.

Other engineers use the lab at the same time: every publication, subscription and slot
of a test carries the test's own tag (prefix it_), and the `scenario` fixture drops them
(subscriptions first, then publications and leftover slots, with psql), deletes the rows
the test wrote, and puts site2's Configuration Database back as it found it, so that the
lab is again "no replication configured".
"""
import json
import os
import re
import time
import types
import uuid

import pytest

from conftest import lab_mod, run, wait_until
from genesys_lab.postgres import PG_PORT  # on sys.path through conftest

ACCESS = "genesys_dr.framework.pg_access"
ADMIN = "genesys_dr_admin"
CFG_TABLES = ("cfg_agent_login", "cfg_application", "cfg_dn", "cfg_host", "cfg_person")
CS_PORT = 2020
MASK = "********"


# --------------------------------------------------------------------------- helpers

def db_host(lab, site):
    return lab.site_host(site, "db")


def login(lab, site, db):
    """Connection options of a module run on site's DB host, to its own host's address."""
    return dict(login_host=db_host(lab, site).address, login_port=PG_PORT, login_user=ADMIN,
                login_password=lab.secrets["db_admin_password"], login_db=db)


def publisher(lab, site, db, **extra):
    """The publisher option; one connect_timeout for every test, short, so that a lost publisher is noticed quickly."""
    pub = dict(host=db_host(lab, site).address, port=PG_PORT, dbname=db, user=ADMIN, password=lab.secrets["db_admin_password"],
               connect_timeout=3)
    pub.update(extra)
    return pub


def call(lab, site, module, args, check=False, diff=False, extra_vars=None):
    """Run module on site's DB host; the result must not carry any secret, nor Ansible's output."""
    host = db_host(lab, site).name
    result = lab.ansible(host, module, args, check=check, diff=diff, extra_vars=extra_vars)[host]
    assert "unreachable" not in result, result
    for secret in (lab.secrets["db_admin_password"], lab.secrets["db_cs_password"]):
        assert secret not in json.dumps(result), "a password leaked into the result of %s" % module
        assert secret not in lab.last_ansible_output, "a password leaked into Ansible's output of %s" % module
    return result


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def repl(lab, site, args, **kw):
    """Call pg_publication, pg_subscription or pg_slot, as args["type"] says, with the other arguments."""
    args = dict(args)
    return call(lab, site, "genesys_dr.framework.pg_" + args.pop("type"), args, **kw)


def sql_value(lab, site, db, sql, **kw):
    return lab.psql(db_host(lab, site), db, sql, **kw).stdout.strip()


def sql_rows(lab, site, db, sql):
    return [line.split("|") for line in sql_value(lab, site, db, sql).splitlines() if line]


def psql_script(lab, site, db, script):
    """A multi-statement script through psql's stdin, in one transaction (too long for -c)."""
    env = dict(os.environ, PGPASSWORD=lab.secrets["db_admin_password"], PGCONNECT_TIMEOUT="5")
    return run(["psql", "-X", "-At", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-h", db_host(lab, site).address, "-p", str(PG_PORT),
                "-U", ADMIN, "-d", db, "-f", "-"], input=script, env=env)


def lsn(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def insert_lsn(lab, site, db):
    return lsn(sql_value(lab, site, db, "SELECT pg_current_wal_insert_lsn()"))


def slot_row(lab, site, name):
    """pg_replication_slots on site's cluster: None or dict(active, confirmed_flush_lsn, database, plugin)."""
    rows = sql_rows(lab, site, "postgres", "SELECT active, coalesce(confirmed_flush_lsn::text, ''), database, plugin"
                                           " FROM pg_replication_slots WHERE slot_name = '%s'" % name)
    if not rows:
        return None
    active, confirmed, database, plugin = rows[0]
    return dict(active=active == "t", confirmed_flush_lsn=confirmed or None, database=database, plugin=plugin)


def slots_of_subscription(lab, publisher_site, slot_name, sub_oid):
    """Every slot of the subscription on the publisher: its slot and its table sync slots (pg_<oid>_sync_...)."""
    query = "SELECT slot_name FROM pg_replication_slots WHERE slot_name = '%s' OR slot_name LIKE 'pg\\_%d\\_sync\\_%%'" % (slot_name, sub_oid)
    return [row[0] for row in sql_rows(lab, publisher_site, "postgres", query)]


def subscription_row(lab, site, db, name):
    """pg_subscription on the subscriber: None or dict(oid, enabled, slot_name, publications)."""
    rows = sql_rows(lab, site, db, "SELECT oid, subenabled, coalesce(subslotname, ''), array_to_string(subpublications, ',')"
                                   " FROM pg_subscription WHERE subname = '%s'" % name)
    if not rows:
        return None
    oid, enabled, slot, pubs = rows[0]
    return dict(oid=int(oid), enabled=enabled == "t", slot_name=slot or None, publications=sorted(pubs.split(",")))


def publication_row(lab, site, db, name):
    rows = sql_rows(lab, site, db, "SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication"
                                   " WHERE pubname = '%s'" % name)
    if not rows:
        return None
    all_tables, *ops = rows[0]
    return dict(all_tables=all_tables == "t",
                publish=[op for op, flag in zip(("insert", "update", "delete", "truncate"), ops) if flag == "t"])


def cfg_content(lab, site):
    """Per table of the Configuration Database: row count and a digest of (dbid, name, data)."""
    parts = ["(SELECT '%s:' || count(*) || ':' || coalesce(md5(string_agg(dbid || '/' || name || '/' || data::text, ','"
             " ORDER BY dbid)), '') FROM %s)" % (t, t) for t in CFG_TABLES]
    return sql_value(lab, site, "cfgdb", "SELECT " + " || ' ' || ".join(parts)).split()


def assert_cfg_content_equal(lab, timeout=20):
    """site2's cfgdb holds exactly site1's rows (retried: other engineers may write at site1 meanwhile)."""
    wait_until(lambda: cfg_content(lab, "site1") == cfg_content(lab, "site2"), timeout, "site2's cfgdb to equal site1's")


def assert_diff_shown(lab, lines):
    """Ansible displays the diff (the --tree result does not keep it): before/after lines, indentation ignored."""
    shown = set(re.sub(r"^([-+])\s+", r"\1", line) for line in lab.last_ansible_output.splitlines())
    missing = [line for line in lines if line not in shown]
    assert not missing, "diff lines %s not shown in:\n%s" % (missing, lab.last_ansible_output)


def count_named(lab, site, table, pattern):
    return int(sql_value(lab, site, "cfgdb", "SELECT count(*) FROM %s WHERE name LIKE '%s'" % (table, pattern)))


def insert_cfg(lab, site, table, names):
    """Rows written the way the Configuration Server writes them: as genesys_cs, dbid from the sequence."""
    values = ", ".join("('%s')" % n for n in names)
    lab.psql(db_host(lab, site), "cfgdb", "INSERT INTO %s (name) VALUES %s" % (table, values), user="genesys_cs",
             password=lab.secrets["db_cs_password"])


def cs_put(lab, name, site="site1"):
    """A CfgPerson put through the site's master Configuration Server; returns its dbid."""
    mgmt = lab.site_host(site, "mgmt")
    code, reply, err = lab.client(mgmt, mgmt, "put", "CfgPerson", name, "{}", port=CS_PORT)
    assert code == 0, (reply, err)
    return reply["object"]["dbid"]


def start_master_cs(lab, site="site1"):
    mgmt = lab.site_host(site, "mgmt")
    app = "confserv_%s_primary" % site
    if not lab.app_pids(mgmt, app):
        lab.start_app(mgmt, app)
    wait_until(lambda: (lab.client(mgmt, mgmt, "status", port=CS_PORT)[1] or {}).get("mode") == "primary", 20,
               "%s to serve in primary mode" % app)
    return mgmt, app


# --------------------------------------------------------------------------- scenario (names and clean-up)

def _heal_faults(lab):
    for site in list(lab_mod._faults()):  # pylint: disable=protected-access
        lab.labctl("heal", site)
    for site in lab.topo.dr_sites:
        if site.host("db") is not None:
            wait_until(lambda s=site.name: sql_value(lab, s, "postgres", "SELECT 1", check=False) == "1", 60,
                       "PostgreSQL at %s" % site.name)


def _archive_cfgdb(lab, site):
    archive = {}
    for table in CFG_TABLES:
        rows = sql_value(lab, site, "cfgdb", "SELECT coalesce(json_agg(t ORDER BY dbid), '[]') FROM %s t" % table)
        seq = sql_rows(lab, site, "cfgdb", "SELECT last_value, is_called FROM %s_dbid_seq" % table)[0]
        archive[table] = (rows, int(seq[0]), seq[1] == "t")
    return archive


def _restore_cfgdb(lab, site, archive):
    script = []
    for table, (rows, last_value, is_called) in sorted(archive.items()):
        script.append("TRUNCATE %s;" % table)
        script.append("INSERT INTO %s SELECT * FROM json_populate_recordset(NULL::%s, $it_archive$%s$it_archive$);" % (
            table, table, rows))
        script.append("SELECT setval('%s_dbid_seq', %d, %s);" % (table, last_value, "true" if is_called else "false"))
    psql_script(lab, site, "cfgdb", "\n".join(script))


def _drop_replication_objects(lab, tag):
    """Subscriptions first (detached from their slots), then leftover slots and publications, on every site."""
    sites = [s.name for s in lab.topo.dr_sites if s.host("db") is not None]
    oids = []
    for site in sites:
        for db in ("cfgdb", "logdb"):
            for name, oid in sql_rows(lab, site, db, "SELECT subname, oid FROM pg_subscription WHERE subname LIKE '%%%s%%'"
                                                     " AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                                      % tag):
                oids.append(oid)
                lab.psql(db_host(lab, site), db, 'ALTER SUBSCRIPTION "%s" DISABLE' % name)
                wait_until(lambda s=site, d=db, o=oid: sql_value(lab, s, d, "SELECT count(*) FROM pg_stat_subscription"
                                                                 " WHERE subid = %s AND pid IS NOT NULL" % o) == "0", 30,
                           "the workers of %s to exit" % name)
                lab.psql(db_host(lab, site), db, 'ALTER SUBSCRIPTION "%s" SET (slot_name = NONE)' % name)
                lab.psql(db_host(lab, site), db, 'DROP SUBSCRIPTION "%s"' % name)
    owned = "slot_name LIKE '%%%s%%'" % tag + "".join(" OR slot_name LIKE 'pg\\_%s\\_sync\\_%%'" % o for o in oids)
    for site in sites:
        wait_until(lambda s=site: sql_value(lab, s, "postgres", "SELECT count(*) FROM pg_replication_slots WHERE active AND (%s)"
                                            % owned) == "0", 30, "the WAL senders of the test's slots at %s to exit" % site)
        lab.psql(db_host(lab, site), "postgres", "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE %s" % owned)
        for db in ("cfgdb", "logdb"):
            for (name,) in sql_rows(lab, site, db, "SELECT pubname FROM pg_publication WHERE pubname LIKE '%%%s%%'" % tag):
                lab.psql(db_host(lab, site), db, 'DROP PUBLICATION "%s"' % name)


@pytest.fixture
def scenario(lab):
    """Names of this test's own, and the clean-up that puts the lab back to 'no replication configured'."""
    tag = uuid.uuid4().hex[:8]
    s = types.SimpleNamespace(tag=tag, logdb_used=False, site2_cfgdb=_archive_cfgdb(lab, "site2"))
    s.name = lambda what: "it_%s_%s" % (what, tag)
    yield s
    errors = []
    for step in (lambda: _heal_faults(lab),
                 lambda: _drop_replication_objects(lab, tag),
                 lambda: [lab.psql(db_host(lab, "site1"), "cfgdb", "DELETE FROM %s WHERE name LIKE '%%%s%%'" % (t, tag))
                          for t in CFG_TABLES],
                 lambda: _restore_cfgdb(lab, "site2", s.site2_cfgdb),
                 lambda: [lab.psql(db_host(lab, site), "logdb", "DELETE FROM log_event WHERE message LIKE '%%%s%%'%s" % (
                     tag, " OR db_site <> current_setting('genesys.db_site')" if s.logdb_used else ""))
                     for site in ("site1", "site2")]):
        try:
            step()
        except Exception as e:  # pylint: disable=broad-except
            errors.append(repr(e))
    for site in ("site1", "site2"):
        assert sql_value(lab, site, "postgres", "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%%%s%%'" % tag) == "0"
        for db in ("cfgdb", "logdb"):
            assert sql_value(lab, site, db, "SELECT (SELECT count(*) FROM pg_subscription WHERE subname LIKE '%%%s%%')"
                                            " + (SELECT count(*) FROM pg_publication WHERE pubname LIKE '%%%s%%')" % (tag, tag)) == "0"
    assert not errors, "clean-up failed: %s" % errors


def cfg_publication(lab, s, name=None, check=False):
    """FOR ALL TABLES publication of site1's Configuration Database."""
    args = dict(login(lab, "site1", "cfgdb"), type="publication", name=name or s.name("cfgpub"), state="present", all_tables=True)
    return repl(lab, "site1", args, check=check)


def cfg_subscription_args(lab, s, state="running", **extra):
    args = dict(login(lab, "site2", "cfgdb"), type="subscription", name=s.name("cfgsub"), state=state,
                publications=[s.name("cfgpub")], publisher=publisher(lab, "site1", "cfgdb"))
    args.update(extra)
    return args


def replicate_cfgdb(lab, s):
    """site1 -> site2 replication of the Configuration Database, with initial copy, caught up."""
    ok(cfg_publication(lab, s))
    result = ok(repl(lab, "site2", cfg_subscription_args(lab, s, copy_data=True, truncate_before_copy=True, wait_for_catchup=True)))
    assert result["subscription"]["status"] == "running", result["subscription"]
    return result


# --------------------------------------------------------------------------- publications

def test_publication_all_tables_check_mode_create_idempotent_drop(lab, scenario):
    name = scenario.name("cfgpub")
    check = ok(cfg_publication(lab, scenario, check=True))
    assert check["changed"] is True
    assert check["queries"] == ['CREATE PUBLICATION "%s" FOR ALL TABLES WITH (publish = \'insert, update, delete, truncate\')' % name]
    assert check["initial_state"]["exists"] is False and check["final_state"]["exists"] is True
    assert publication_row(lab, "site1", "cfgdb", name) is None

    created = ok(repl(lab, "site1", dict(login(lab, "site1", "cfgdb"), type="publication", name=name, state="present", all_tables=True),
                      diff=True))
    assert created["changed"] is True and created["queries"] == check["queries"]
    assert created["publication"] == dict(name=name, exists=True, all_tables=True, publish=["insert", "update", "delete", "truncate"],
                                          tables=[], schemas=[], owner=ADMIN)
    assert_diff_shown(lab, ["-exists: false", "+exists: true", "-all_tables: false", "+all_tables: true"])
    assert publication_row(lab, "site1", "cfgdb", name) == dict(all_tables=True, publish=["insert", "update", "delete", "truncate"])
    # FOR ALL TABLES publishes every Configuration Database table.
    assert sql_value(lab, "site1", "cfgdb", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables"
                                            " WHERE pubname = '%s'" % name) == ",".join(CFG_TABLES)

    again = ok(cfg_publication(lab, scenario))
    assert again["changed"] is False and again["queries"] == []
    assert ok(cfg_publication(lab, scenario, check=True))["changed"] is False

    drop = dict(login(lab, "site1", "cfgdb"), type="publication", name=name, state="absent")
    check = ok(repl(lab, "site1", drop, check=True))
    assert check["changed"] is True and check["queries"] == ['DROP PUBLICATION "%s"' % name]
    assert publication_row(lab, "site1", "cfgdb", name) is not None
    dropped = ok(repl(lab, "site1", drop))
    assert dropped["changed"] is True and dropped["publication"]["exists"] is False
    assert publication_row(lab, "site1", "cfgdb", name) is None
    again = ok(repl(lab, "site1", drop))
    assert again["changed"] is False and again["queries"] == []


def test_publication_row_filter_is_changed_in_place(lab, scenario):
    scenario.logdb_used = True
    name = scenario.name("logpub")
    args = dict(login(lab, "site1", "logdb"), type="publication", name=name, state="present",
                tables=[dict(name="public.log_event", row_filter="db_site = 'site1'")], publish=["insert"])
    created = ok(repl(lab, "site1", args))
    assert created["changed"] is True
    assert created["publication"]["tables"] == [dict(name="public.log_event", row_filter="(db_site = 'site1'::text)")]
    assert sql_rows(lab, "site1", "logdb", "SELECT tablename, rowfilter FROM pg_publication_tables WHERE pubname = '%s'" % name) == [
        ["log_event", "(db_site = 'site1'::text)"]]
    assert publication_row(lab, "site1", "logdb", name) == dict(all_tables=False, publish=["insert"])
    # The filter as written and as PostgreSQL deparses it are the same: no change on the second run.
    assert ok(repl(lab, "site1", args))["changed"] is False
    oid = sql_value(lab, "site1", "logdb", "SELECT oid FROM pg_publication WHERE pubname = '%s'" % name)

    args["tables"][0]["row_filter"] = "db_site = 'site2'"
    check = ok(repl(lab, "site1", args, check=True))
    assert check["changed"] is True
    assert check["queries"] == ['ALTER PUBLICATION "%s" SET TABLE "public"."log_event" WHERE (db_site = \'site2\')' % name]
    assert sql_value(lab, "site1", "logdb", "SELECT rowfilter FROM pg_publication_tables WHERE pubname = '%s'" % name) == \
        "(db_site = 'site1'::text)"
    changed = ok(repl(lab, "site1", args))
    assert changed["changed"] is True and changed["queries"] == check["queries"]
    assert sql_value(lab, "site1", "logdb", "SELECT rowfilter FROM pg_publication_tables WHERE pubname = '%s'" % name) == \
        "(db_site = 'site2'::text)"
    # Changed in place (a subscriber never sees it missing): same object.
    assert sql_value(lab, "site1", "logdb", "SELECT oid FROM pg_publication WHERE pubname = '%s'" % name) == oid
    assert ok(repl(lab, "site1", args))["changed"] is False


# --------------------------------------------------------------------------- subscriptions

def test_subscription_with_copy_then_master_writes_reach_site2(clean_lab, scenario):
    lab, s = clean_lab, scenario
    sub, slot = s.name("cfgsub"), s.name("cfgsub")
    ok(cfg_publication(lab, s))
    site2_before = cfg_content(lab, "site2")
    args = cfg_subscription_args(lab, s, copy_data=True, truncate_before_copy=True, wait_for_catchup=True)

    check = ok(repl(lab, "site2", args, check=True))
    assert check["changed"] is True and check["publisher_reachable"] is True
    create = [q for q in check["queries"] if q.startswith("CREATE SUBSCRIPTION")]
    assert len(create) == 1 and "password=''%s''" % MASK in create[0], check["queries"]       # in an SQL literal
    assert "slot_name = '%s', create_slot = true, enabled = true, copy_data = true" % slot in create[0]
    assert check["final_state"]["status"] == "running" and check["catchup"]["mode"] == "skipped"
    assert subscription_row(lab, "site2", "cfgdb", sub) is None
    assert slot_row(lab, "site1", slot) is None
    assert cfg_content(lab, "site2") == site2_before

    created = ok(repl(lab, "site2", args))
    assert created["changed"] is True
    state = created["subscription"]
    assert state["status"] == "running" and state["enabled"] is True and state["slot_name"] == slot
    assert state["publications"] == [s.name("cfgpub")] and "password='%s'" % MASK in state["conninfo"]
    assert sorted(t["name"] for t in state["tables"]) == ["public." + t for t in CFG_TABLES]
    assert all(t["state"] == "ready" for t in state["tables"]), state["tables"]
    assert created["catchup"]["mode"] == "publisher"
    assert lsn(created["catchup"]["confirmed_flush_lsn"]) >= lsn(created["catchup"]["target_lsn"])
    assert created["slot"]["exists"] is True and created["slot"]["name"] == slot

    # Read back independently: the subscription at site2, its slot at site1, the same rows on both sides.
    row = subscription_row(lab, "site2", "cfgdb", sub)
    assert row["enabled"] is True and row["slot_name"] == slot and row["publications"] == [s.name("cfgpub")]
    assert row["oid"] == state["oid"]
    streaming = slot_row(lab, "site1", slot)
    assert streaming["active"] and streaming["database"] == "cfgdb" and streaming["plugin"] == "pgoutput", streaming
    assert sql_value(lab, "site2", "cfgdb", "SELECT count(*) FROM pg_subscription_rel WHERE srsubid = %d AND srsubstate <> 'r'"
                     % row["oid"]) == "0"
    assert_cfg_content_equal(lab)
    assert int(cfg_content(lab, "site2")[CFG_TABLES.index("cfg_person")].split(":")[1]) >= 600

    # A write of the master Configuration Server at site1 arrives at site2.
    start_master_cs(lab)
    person = "it_cs_%s" % s.tag
    dbid = cs_put(lab, person)
    wait_until(lambda: sql_value(lab, "site2", "cfgdb", "SELECT dbid FROM cfg_person WHERE name = '%s'" % person) == str(dbid), 15,
               "the master's write to reach site2")

    # Converged: check mode and a second run change nothing (copy_data does not copy a running subscription again).
    assert ok(repl(lab, "site2", args, check=True))["changed"] is False
    again = ok(repl(lab, "site2", args))
    assert again["changed"] is False and again["queries"] == []
    assert subscription_row(lab, "site2", "cfgdb", sub)["oid"] == row["oid"]
    assert count_named(lab, "site2", "cfg_person", person) == 1

    # Absent: subscription and slot gone, rows stay.
    absent = dict(cfg_subscription_args(lab, s, state="absent"))
    del absent["publications"]
    check = ok(repl(lab, "site2", absent, check=True))
    assert check["changed"] is True and 'DROP SUBSCRIPTION "%s"' % sub in check["queries"]
    assert subscription_row(lab, "site2", "cfgdb", sub) is not None and slot_row(lab, "site1", slot) is not None
    dropped = ok(repl(lab, "site2", absent))
    assert dropped["changed"] is True and dropped["subscription"]["exists"] is False and dropped["orphaned_slots"] == []
    assert subscription_row(lab, "site2", "cfgdb", sub) is None
    assert slots_of_subscription(lab, "site1", slot, row["oid"]) == []
    assert count_named(lab, "site2", "cfg_person", person) == 1
    assert ok(repl(lab, "site2", absent))["changed"] is False


def test_stopped_leaves_no_slot_and_running_again_starts_from_a_fresh_slot(lab, scenario):
    s = scenario
    sub = slot = s.name("cfgsub")
    oid = replicate_cfgdb(lab, s)["subscription"]["oid"]
    # A planned stop: what site1 committed before it is applied at site2 first.
    before_stop = ["it_before_stop_%s_%d" % (s.tag, i) for i in range(1000)]
    insert_cfg(lab, "site1", "cfg_dn", before_stop)
    stop = cfg_subscription_args(lab, s, state="stopped", wait_for_catchup=True)

    check = ok(repl(lab, "site2", stop, check=True))
    assert check["changed"] is True
    assert check["queries"][:2] == ['ALTER SUBSCRIPTION "%s" DISABLE' % sub, 'ALTER SUBSCRIPTION "%s" SET (slot_name = NONE)' % sub]
    assert any("pg_drop_replication_slot('%s')" % slot in q and q.startswith("/* on publisher ") for q in check["queries"])
    assert subscription_row(lab, "site2", "cfgdb", sub)["enabled"] is True
    assert slot_row(lab, "site1", slot) is not None

    assert check["catchup"]["mode"] == "skipped"

    stopped = ok(repl(lab, "site2", stop, diff=True))
    assert stopped["changed"] is True and stopped["orphaned_slots"] == []
    assert stopped["catchup"]["mode"] == "publisher"
    assert count_named(lab, "site2", "cfg_dn", "it\\_before\\_stop\\_%s\\_%%" % s.tag) == len(before_stop)
    assert stopped["subscription"]["status"] == "stopped" and stopped["subscription"]["slot_name"] is None
    assert stopped["slot"]["exists"] is False
    assert_diff_shown(lab, ["-status: running", "+status: stopped", "-slot_name: %s" % slot, "+slot_name: null"])
    row = subscription_row(lab, "site2", "cfgdb", sub)
    assert row["enabled"] is False and row["slot_name"] is None
    assert slots_of_subscription(lab, "site1", slot, oid) == []
    assert sql_value(lab, "site2", "cfgdb", "SELECT count(*) FROM pg_stat_subscription WHERE subid = %d AND pid IS NOT NULL" % oid) == "0"

    # New rows at site1 no longer arrive.
    while_stopped = "it_stopped_%s" % s.tag
    insert_cfg(lab, "site1", "cfg_dn", [while_stopped])
    time.sleep(3)
    assert count_named(lab, "site1", "cfg_dn", while_stopped) == 1
    assert count_named(lab, "site2", "cfg_dn", while_stopped) == 0

    assert ok(repl(lab, "site2", stop, check=True))["changed"] is False
    again = ok(repl(lab, "site2", stop))
    assert again["changed"] is False and again["queries"] == [] and again["catchup"]["mode"] == "skipped"

    # Running again without copy: a fresh slot at the publisher's current position.
    run_args = cfg_subscription_args(lab, s)
    check = ok(repl(lab, "site2", run_args, check=True))
    assert check["changed"] is True
    assert any("pg_create_logical_replication_slot('%s', 'pgoutput')" % slot in q for q in check["queries"]), check["queries"]
    assert slot_row(lab, "site1", slot) is None and subscription_row(lab, "site2", "cfgdb", sub)["enabled"] is False
    position_before = insert_lsn(lab, "site1", "cfgdb")
    running = ok(repl(lab, "site2", run_args))
    assert running["changed"] is True and running["subscription"]["status"] == "running"
    assert running["subscription"]["oid"] == oid            # the same subscription, not a new one
    fresh = slot_row(lab, "site1", slot)
    assert fresh is not None and fresh["database"] == "cfgdb"
    assert lsn(fresh["confirmed_flush_lsn"]) >= position_before
    wait_until(lambda: slot_row(lab, "site1", slot)["active"], 10, "a WAL sender to stream from the fresh slot")
    row = subscription_row(lab, "site2", "cfgdb", sub)
    assert row["enabled"] is True and row["slot_name"] == slot

    after_restart = "it_restarted_%s" % s.tag
    insert_cfg(lab, "site1", "cfg_dn", [after_restart])
    wait_until(lambda: count_named(lab, "site2", "cfg_dn", after_restart) == 1, 15, "a row written after the restart at site2")
    # As documented: what site1 committed while the subscription was stopped is not replayed.
    assert count_named(lab, "site2", "cfg_dn", while_stopped) == 0

    assert ok(repl(lab, "site2", run_args, check=True))["changed"] is False
    assert ok(repl(lab, "site2", run_args))["changed"] is False


def test_wait_for_catchup_after_a_burst_of_writes(lab, scenario):
    s = scenario
    slot = s.name("cfgsub")
    replicate_cfgdb(lab, s)
    burst = 30000
    lab.psql(db_host(lab, "site1"), "cfgdb", "INSERT INTO cfg_dn (name, data) SELECT 'it_burst_%s_' || i, jsonb_build_object('n', i)"
                                             " FROM generate_series(1, %d) i" % (s.tag, burst), user="genesys_cs",
             password=lab.secrets["db_cs_password"])
    committed = insert_lsn(lab, "site1", "cfgdb")
    args = cfg_subscription_args(lab, s, wait_for_catchup=True, catchup_timeout=120, max_lag_bytes=1024 ** 3)

    check = ok(repl(lab, "site2", args, check=True))
    assert check["changed"] is False and check["catchup"]["mode"] == "skipped"

    result = ok(repl(lab, "site2", args))
    assert result["changed"] is False and result["publisher_reachable"] is True
    catchup = result["catchup"]
    assert catchup["mode"] == "publisher", catchup
    assert lsn(catchup["target_lsn"]) >= committed
    assert lsn(catchup["confirmed_flush_lsn"]) >= lsn(catchup["target_lsn"])
    assert isinstance(result["lag_bytes"], int) and result["lag_bytes"] >= 0
    # Caught up means applied: every row of the burst is at site2 the moment the module returns.
    assert count_named(lab, "site2", "cfg_dn", "it\\_burst\\_%s\\_%%" % s.tag) == burst
    assert lsn(slot_row(lab, "site1", slot)["confirmed_flush_lsn"]) >= committed
    assert_cfg_content_equal(lab)


def test_catchup_with_the_publisher_lost_then_orphaned_slot_dropped(clean_lab, scenario):
    lab, s = clean_lab, scenario
    sub = slot = s.name("cfgsub")
    oid = replicate_cfgdb(lab, s)["subscription"]["oid"]
    for i in range(5):
        insert_cfg(lab, "site1", "cfg_dn", ["it_lost_%s_%d_%d" % (s.tag, i, k) for k in range(200)])
    # The same publisher option as at creation: a different connection string would restart the apply worker.
    drain = cfg_subscription_args(lab, s, wait_for_catchup=True, catchup_timeout=60)
    stop = dict(drain, state="stopped")

    lab.labctl("fault", "site-loss", "site1")
    try:
        started = time.monotonic()
        waited = ok(repl(lab, "site2", drain))
        waited_for = time.monotonic() - started
        started = time.monotonic()
        drained = ok(repl(lab, "site2", stop))
        drained_for = time.monotonic() - started
        drained_output = lab.last_ansible_output
        applied = count_named(lab, "site2", "cfg_dn", "it\\_lost\\_%s\\_%%" % s.tag)
        again = ok(repl(lab, "site2", stop))
    finally:
        lab.labctl("heal", "site1")
    # Running: the wait ends once what was received is applied, without the publisher.
    assert waited_for < 20, "catch-up with the publisher lost took %.1f s" % waited_for
    assert waited["publisher_reachable"] is False and waited["changed"] is False
    assert waited["catchup"]["mode"] == "received" and waited["catchup"]["target_lsn"] is None
    assert waited["catchup"]["applied_lsn"] is not None and waited["lag_bytes"] is None and waited["orphaned_slots"] == []
    # Stopped: drained the same way, then disabled and detached; the slot stays behind on the lost publisher.
    assert drained_for < 20, "stop with the publisher lost took %.1f s" % drained_for
    assert drained["publisher_reachable"] is False and drained["changed"] is True
    assert drained["catchup"]["mode"] == "received" and drained["catchup"]["target_lsn"] is None
    assert drained["catchup"]["applied_lsn"] == waited["catchup"]["applied_lsn"]
    assert drained["subscription"]["status"] == "stopped"
    assert drained["orphaned_slots"] == [slot] and drained["slot"] is None and drained["lag_bytes"] is None
    assert "replication slot %s of subscription %s is left on the publisher" % (slot, sub) in " ".join(drained_output.split())
    # Whatever arrived was applied and nothing moves afterwards: the subscription is stopped and detached.
    row = subscription_row(lab, "site2", "cfgdb", sub)
    assert row["enabled"] is False and row["slot_name"] is None
    assert again["changed"] is False and again["publisher_reachable"] is False
    assert count_named(lab, "site2", "cfg_dn", "it\\_lost\\_%s\\_%%" % s.tag) == applied
    assert sql_value(lab, "site2", "cfgdb", "SELECT count(*) FROM pg_stat_subscription WHERE subid = %d AND pid IS NOT NULL" % oid) == "0"

    # site1 is back (crash recovery): the slot survived there, retaining WAL, and nobody uses it.
    wait_until(lambda: sql_value(lab, "site1", "postgres", "SELECT 1", check=False) == "1", 60, "PostgreSQL at site1")
    orphan = slot_row(lab, "site1", slot)
    assert orphan is not None and orphan["active"] is False
    drop = dict(login(lab, "site1", "cfgdb"), type="slot", name=slot, state="absent")
    # The controller's SSH connection to site1 died with the site; let Ansible open a new one.
    retry = dict(ansible_ssh_retries=3)
    check = ok(repl(lab, "site1", drop, check=True, extra_vars=retry))
    assert check["changed"] is True and check["queries"] == ["SELECT pg_catalog.pg_drop_replication_slot('%s')" % slot]
    assert check["initial_state"]["exists"] is True and check["initial_state"]["active"] is False
    assert check["initial_state"]["retained_bytes"] >= 0
    assert slot_row(lab, "site1", slot) is not None
    dropped = ok(repl(lab, "site1", drop, extra_vars=retry))
    assert dropped["changed"] is True and dropped["slot"]["exists"] is False
    assert slot_row(lab, "site1", slot) is None
    assert ok(repl(lab, "site1", drop))["changed"] is False


def test_bidirectional_row_filtered_logdb_does_not_loop(lab, scenario):
    s = scenario
    s.logdb_used = True
    sites = {"site1": "site2", "site2": "site1"}                 # subscriber -> its publisher
    for site in sites:
        ok(repl(lab, site, dict(login(lab, site, "logdb"), type="publication", name=s.name("log_%s" % site), state="present",
                                tables=[dict(name="public.log_event", row_filter="db_site = '%s'" % site)], publish=["insert"])))
    subs = {}
    for site, other in sites.items():
        args = dict(login(lab, site, "logdb"), type="subscription", name=s.name("logsub_%s" % site), state="running",
                    publications=[s.name("log_%s" % other)], publisher=publisher(lab, other, "logdb"))
        assert ok(repl(lab, site, args, check=True))["changed"] is True
        assert subscription_row(lab, site, "logdb", args["name"]) is None
        result = ok(repl(lab, site, args))
        assert result["changed"] is True and result["subscription"]["status"] == "running"
        subs[site] = args
    for site, args in subs.items():
        assert ok(repl(lab, site, args))["changed"] is False
        assert subscription_row(lab, site, "logdb", args["name"])["enabled"] is True
        assert slot_row(lab, sites[site], args["name"])["database"] == "logdb"

    # Rows inserted the way the Message Servers insert them: db_site from the database default.
    written = {}
    for site in sites:
        written[site] = ["it_%s_%s_%d" % (s.tag, site, i) for i in range(20)]
        values = ", ".join("('%s', 'it', 'STANDARD', '%s')" % (site, m) for m in written[site])
        lab.psql(db_host(lab, site), "logdb", "INSERT INTO log_event (origin_site, app, level, message) VALUES %s" % values,
                 user="genesys_ms", password=lab.secrets["db_ms_password"])

    def copies(site):
        return dict(sql_rows(lab, site, "logdb", "SELECT message, count(*) || '@' || min(db_site) FROM log_event"
                                                 " WHERE message LIKE 'it\\_%s\\_%%' GROUP BY message" % s.tag))

    expected = dict(("%s" % m, "1@%s" % site) for site in sites for m in written[site])
    for site in sites:
        wait_until(lambda st=site: copies(st) == expected, 20, "every row once at %s" % site)
    time.sleep(3)                     # a loop would show within this: duplicates, or apply errors and stalled workers
    for site, args in subs.items():
        assert copies(site) == expected
        assert sql_value(lab, site, "logdb", "SELECT apply_error_count + sync_error_count FROM pg_stat_subscription_stats"
                                             " WHERE subname = '%s'" % args["name"]) == "0"
        observed = ok(repl(lab, site, args))
        assert observed["changed"] is False and observed["subscription"]["status"] == "running"
        assert observed["subscription"]["apply_error_count"] == 0
