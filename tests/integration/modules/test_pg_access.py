"""genesys_dr.framework.pg_access against the lab's PostgreSQL 15 clusters, through real Ansible.

Pattern of community.postgresql's integration tests: call the module over SSH on a DB host,
assert its result, read the real state back with psql over a separate connection (the
effective privileges of the Genesys role, pg_stat_activity, the sequences), and watch the
client that depends on it: the simulated master Configuration Server must lose its session,
refuse writes and report no_write_access when its database is fenced, and serve again when
write access comes back. Second runs must report changed=false; check mode changes nothing.

The `acl_restored` fixture puts the privileges of genesys_cs back exactly as the test found
them (other engineers' Configuration Servers use the same role at the same time).
"""
import pytest

from conftest import wait_until
from test_logical_replication import (ACCESS, CFG_TABLES, CS_PORT, assert_diff_shown, call, db_host, login, ok, repl, replicate_cfgdb,
                                      sql_rows, sql_value, start_master_cs)
# The fixture, for the test that needs a copied Configuration Database at site2.
from test_logical_replication import scenario  # noqa: F401  pylint: disable=unused-import

CS_ROLE = "genesys_cs"
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")


def access(lab, site, args, **kw):
    return call(lab, site, ACCESS, args, **kw)


def effective_privileges(lab, site, role=CS_ROLE, db="cfgdb"):
    """{relation: set of privileges role effectively holds} over the public schema, read with has_*_privilege."""
    held = "CASE WHEN c.relkind = 'S' THEN concat_ws(',', %s) ELSE concat_ws(',', %s) END" % (
        ", ".join("CASE WHEN has_sequence_privilege('%s', c.oid, '%s') THEN '%s' END" % (role, p, p) for p in SEQUENCE_PRIVILEGES),
        ", ".join("CASE WHEN has_table_privilege('%s', c.oid, '%s') THEN '%s' END" % (role, p, p) for p in TABLE_PRIVILEGES))
    rows = sql_rows(lab, site, db, "SELECT c.relname, %s FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
                                   " AND c.relkind IN ('r', 'S') ORDER BY 1" % held)
    return dict((name, set(privs.split(",")) - {""}) for name, privs in rows)


def assert_read_only(privileges):
    for rel, held in privileges.items():
        if rel.endswith("_seq"):
            assert not held & {"USAGE", "UPDATE"}, (rel, held)
        else:
            assert held == {"SELECT"}, (rel, held)


def assert_read_write(privileges):
    for rel, held in privileges.items():
        assert held == set(SEQUENCE_PRIVILEGES if rel.endswith("_seq") else TABLE_PRIVILEGES), (rel, held)


def cs_sessions(lab, app="confserv_site1_primary"):
    return [int(p) for p in sql_value(lab, "site1", "cfgdb", "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE"
                                                             " datname = 'cfgdb' AND usename = '%s' AND application_name = '%s'"
                                      % (CS_ROLE, app)).split()]


def cs_status(lab, mgmt):
    return (lab.client(mgmt, mgmt, "status", port=CS_PORT)[1] or {}).get("mode")


def _grants(lab, site, role):
    """{relation: (relkind, privileges granted to role directly)} from the ACLs."""
    rows = sql_rows(lab, site, "cfgdb", (
        "SELECT c.relname, c.relkind, coalesce((SELECT string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)"
        " FROM aclexplode(c.relacl) a WHERE a.grantee = '%s'::regrole), '')"
        " FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'S') ORDER BY 1") % role)
    return dict((name, (kind, privs)) for name, kind, privs in rows)


@pytest.fixture
def acl_restored(lab):
    """genesys_cs's grants on both sites' cfgdb, put back as found (REVOKE ALL, then the same GRANTs)."""
    saved = dict((site, _grants(lab, site, CS_ROLE)) for site in ("site1", "site2"))
    yield saved
    for site, grants in saved.items():
        statements = ["REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %s" % CS_ROLE,
                      "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %s" % CS_ROLE]
        statements += ["GRANT %s ON %s %s TO %s" % (privs, "SEQUENCE" if kind == "S" else "TABLE", rel, CS_ROLE)
                       for rel, (kind, privs) in sorted(grants.items()) if privs]
        lab.psql(db_host(lab, site), "cfgdb", "; ".join(statements))
        assert _grants(lab, site, CS_ROLE) == grants


# --------------------------------------------------------------------------- tests

def test_read_only_fences_the_running_master_and_read_write_lets_it_write_again(clean_lab, acl_restored):
    lab = clean_lab
    mgmt, app = start_master_cs(lab)
    wait_until(lambda: cs_sessions(lab, app), 10, "the master's session in pg_stat_activity")
    cs_pid = cs_sessions(lab, app)[0]
    before = effective_privileges(lab, "site1")
    fence = dict(login(lab, "site1", "cfgdb"), roles=[CS_ROLE], state="read_only")

    check = ok(access(lab, "site1", fence, check=True))
    assert check["changed"] is True
    assert 'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "public" FROM "genesys_cs"' in check["queries"]
    assert 'REVOKE USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA "public" FROM "genesys_cs"' in check["queries"]
    assert "SELECT pg_catalog.pg_terminate_backend(%d, 5000)" % cs_pid in check["queries"]
    assert [t["terminated"] for t in check["sessions_terminated"] if t["pid"] == cs_pid] == [False]
    assert check["final_state"]["roles"][CS_ROLE]["access"] == "read_only"
    assert effective_privileges(lab, "site1") == before
    assert cs_pid in cs_sessions(lab, app) and cs_status(lab, mgmt) == "primary"

    fenced = ok(access(lab, "site1", fence, diff=True))
    assert fenced["changed"] is True and fenced["initial_state"] == check["initial_state"]
    assert fenced["final_state"]["roles"][CS_ROLE]["access"] == "read_only"
    assert fenced["final_state"]["roles"][CS_ROLE]["tables"] == dict(total=len(CFG_TABLES), SELECT=len(CFG_TABLES), INSERT=0,
                                                                     UPDATE=0, DELETE=0, TRUNCATE=0)
    terminated = [t for t in fenced["sessions_terminated"] if t["pid"] == cs_pid]
    assert len(terminated) == 1 and terminated[0]["terminated"] is True
    assert terminated[0]["user"] == CS_ROLE and terminated[0]["application_name"] == app
    assert_diff_shown(lab, ["-access: %s" % check["initial_state"]["roles"][CS_ROLE]["access"], "+access: read_only"])
    # Read back: the master's session is gone, the role can only read.
    assert cs_pid not in cs_sessions(lab, app)
    assert_read_only(effective_privileges(lab, "site1"))

    # The master notices, refuses writes, and says why.
    wait_until(lambda: cs_status(lab, mgmt) == "no_write_access", 15, "the master to report no_write_access")
    refused = "it_fenced_%d" % cs_pid
    code, reply, err = lab.client(mgmt, mgmt, "put", "CfgPerson", refused, "{}", port=CS_PORT)
    assert code == 2 and reply["code"] == "no_write_access", (reply, err)
    assert sql_value(lab, "site1", "cfgdb", "SELECT count(*) FROM cfg_person WHERE name = '%s'" % refused) == "0"

    # Converged: nothing more to revoke, and the master's new (read-only, idle) session is left alone.
    wait_until(lambda: cs_sessions(lab, app), 10, "the master to reconnect")
    reconnected = cs_sessions(lab, app)
    assert ok(access(lab, "site1", fence, check=True))["changed"] is False
    again = ok(access(lab, "site1", fence))
    assert again["changed"] is False and again["queries"] == [] and again["sessions_terminated"] == []
    assert set(reconnected) <= set(cs_sessions(lab, app))

    unfence = dict(login(lab, "site1", "cfgdb"), roles=[CS_ROLE], state="read_write")
    check = ok(access(lab, "site1", unfence, check=True))
    assert check["changed"] is True
    assert check["queries"] == ['GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "public" TO "genesys_cs"',
                                'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "public" TO "genesys_cs"']
    assert check["final_state"]["roles"][CS_ROLE]["access"] == "read_write"
    assert_read_only(effective_privileges(lab, "site1"))
    assert cs_status(lab, mgmt) == "no_write_access"

    opened = ok(access(lab, "site1", unfence))
    assert opened["changed"] is True and opened["queries"] == check["queries"] and opened["sessions_terminated"] == []
    assert opened["final_state"]["roles"][CS_ROLE]["access"] == "read_write"
    assert_read_write(effective_privileges(lab, "site1"))
    wait_until(lambda: cs_status(lab, mgmt) == "primary", 15, "the master to serve again")
    written = "it_unfenced_%d" % cs_pid
    code, reply, err = lab.client(mgmt, mgmt, "put", "CfgPerson", written, "{}", port=CS_PORT)
    try:
        assert code == 0, (reply, err)
        assert sql_value(lab, "site1", "cfgdb", "SELECT dbid FROM cfg_person WHERE name = '%s'" % written) == str(reply["object"]["dbid"])
    finally:
        lab.psql(db_host(lab, "site1"), "cfgdb", "DELETE FROM cfg_person WHERE name = '%s'" % written)

    assert ok(access(lab, "site1", unfence, check=True))["changed"] is False
    again = ok(access(lab, "site1", unfence))
    assert again["changed"] is False and again["queries"] == []


def test_advance_sequences_on_site2_after_copy(lab, scenario, acl_restored):
    s = scenario
    replicate_cfgdb(lab, s)
    # As in a failover: replication stopped first, then sequences advanced, then write access granted.
    stop = dict(login(lab, "site2", "cfgdb"), type="subscription", name=s.name("cfgsub"), state="absent",
                publisher=dict(host=db_host(lab, "site1").address, dbname="cfgdb", user="genesys_dr_admin",
                               password=lab.secrets["db_admin_password"]))
    assert ok(repl(lab, "site2", stop))["changed"] is True

    def sequences():
        """{table: (max(dbid), next value its sequence hands out)} at site2."""
        out = {}
        for table in CFG_TABLES:
            column_max, last_value, is_called = sql_rows(lab, "site2", "cfgdb", "SELECT (SELECT max(dbid) FROM %s), last_value, is_called"
                                                                                " FROM %s_dbid_seq" % (table, table))[0]
            out[table] = (int(column_max), int(last_value) + (1 if is_called == "t" else 0))
        return out

    copied = sequences()
    # The copy brought the rows but not the sequence values: every sequence would hand out a taken dbid.
    assert all(next_value <= column_max for column_max, next_value in copied.values()), copied
    margin = 100
    args = dict(login(lab, "site2", "cfgdb"), roles=[CS_ROLE], state="read_write", advance_sequences=True, sequence_margin=margin)

    check = ok(access(lab, "site2", args, check=True))
    assert check["changed"] is True
    expected = sorted((dict(sequence="public.%s_dbid_seq" % t, table="public.%s" % t, column="dbid", column_max=m,
                            next_value_before=n, next_value_after=m + margin + 1) for t, (m, n) in copied.items()),
                      key=lambda e: e["sequence"])
    assert sorted(check["sequences_advanced"], key=lambda e: e["sequence"]) == expected
    for t, (m, unused_next) in copied.items():
        assert "SELECT pg_catalog.setval('\"public\".\"%s_dbid_seq\"', %d, true)" % (t, m + margin) in check["queries"]
    assert sequences() == copied

    advanced = ok(access(lab, "site2", args))
    assert advanced["changed"] is True
    assert sorted(advanced["sequences_advanced"], key=lambda e: e["sequence"]) == expected
    assert advanced["final_state"]["roles"][CS_ROLE]["access"] == "read_write"
    # Read back: every sequence now hands out a value past max(dbid) (by the margin), the rows are untouched.
    now = sequences()
    assert now == dict((t, (m, m + margin + 1)) for t, (m, unused_next) in copied.items())
    assert_read_write(effective_privileges(lab, "site2"))

    assert ok(access(lab, "site2", args, check=True))["changed"] is False
    again = ok(access(lab, "site2", args))
    assert again["changed"] is False and again["sequences_advanced"] == [] and again["queries"] == []
    assert sequences() == now

    # What the Configuration Server would do next at site2: insert without a dbid, without collision.
    name = "it_after_advance_%s" % s.tag
    lab.psql(db_host(lab, "site2"), "cfgdb", "INSERT INTO cfg_person (name) VALUES ('%s')" % name, user=CS_ROLE,
             password=lab.secrets["db_cs_password"])
    assert sql_value(lab, "site2", "cfgdb", "SELECT dbid FROM cfg_person WHERE name = '%s'" % name) == str(now["cfg_person"][1])


def test_read_only_is_refused_when_revoking_cannot_fence_and_changes_nothing(lab, acl_restored):
    fence = dict(login(lab, "site1", "cfgdb"), roles=[CS_ROLE, "genesys_dr_admin"], state="read_only")
    before = effective_privileges(lab, "site1")
    for check in (True, False):
        refused = access(lab, "site1", fence, check=check)
        assert refused.get("failed") is True and refused.get("changed", False) is False
        assert "cannot make genesys_cs, genesys_dr_admin read-only on database cfgdb, nothing was changed" in refused["msg"]
        assert "role genesys_dr_admin is a superuser" in refused["msg"]
        assert effective_privileges(lab, "site1") == before

    missing = access(lab, "site1", dict(fence, roles=[CS_ROLE, "it_no_such_role"]))
    assert missing.get("failed") is True
    assert missing["msg"] == "role(s) it_no_such_role do not exist on the server of database cfgdb: fix the roles option"
    assert effective_privileges(lab, "site1") == before
