"""Master Configuration Server: DB writes, write-access rules, primary/backup pair."""

import signal
import socket
import time

import psycopg2

from simtest import SEED, confserv_sections, free_port, mode_is, proxy_sections, wait_for

ALL_TABLES = "cfg_agent_login, cfg_application, cfg_dn, cfg_host, cfg_person"


def db_row(pg, table, name):
    """The row as a separate session sees it (committed data only)."""
    conn = psycopg2.connect(pg.dsn(dbname="cfgdb"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT dbid, data FROM %s WHERE name = %%s" % table, (name,))
            return cur.fetchone()
    finally:
        conn.close()


def start_master(sim, pg, name="CS", **kwargs):
    port = free_port()
    return sim.start("confserv", name, "127.0.0.1", port, confserv_sections(pg, **kwargs))


def start_proxy(sim, name, master_port, **kwargs):
    proxy = sim.start("csproxy", name, "localhost", master_port, proxy_sections(free_port(), **kwargs))
    return proxy


def test_writes_through_a_proxy_are_committed_and_pushed_to_every_proxy(pg, installed, sim):
    master = start_master(sim, pg)
    px1 = start_proxy(sim, "PX1", master.port)
    px2 = start_proxy(sim, "PX2", master.port)
    for proxy in (px1, px2):
        status = proxy.status()
        assert status["mode"] == "normal" and status["master"] == "127.0.0.1:%d" % master.port
        assert status["cached_objects"] >= SEED
    assert master.status()["clients"] == 2

    reply = px1.request({"op": "put", "type": "CfgPerson", "name": "ut_alice", "data": {"first_name": "Alice"}})
    assert reply["ok"], reply
    assert db_row(pg, "cfg_person", "ut_alice") == (reply["object"]["dbid"], {"first_name": "Alice"})
    # The writer's own proxy has it before acknowledging; the other one gets it pushed.
    assert px1.request({"op": "get", "type": "CfgPerson", "name": "ut_alice"})["object"] == reply["object"]
    wait_for(lambda: px2.request({"op": "get", "type": "CfgPerson", "name": "ut_alice"})["ok"], 3,
             "the change to reach the second proxy")

    update = px2.request({"op": "put", "type": "CfgPerson", "name": "ut_alice", "data": {"first_name": "Alicia"}})
    assert update["object"]["dbid"] == reply["object"]["dbid"]
    assert db_row(pg, "cfg_person", "ut_alice")[1] == {"first_name": "Alicia"}

    assert px2.request({"op": "delete", "type": "CfgPerson", "name": "ut_alice"})["ok"]
    assert db_row(pg, "cfg_person", "ut_alice") is None
    wait_for(lambda: px1.request({"op": "get", "type": "CfgPerson", "name": "ut_alice"})["code"] == "not_found", 3,
             "the delete to reach the first proxy")
    assert px1.request({"op": "delete", "type": "CfgPerson", "name": "ut_alice"})["code"] == "not_found"
    assert px1.request({"op": "put", "type": "CfgTrunk", "name": "x", "data": {}})["code"] == "unknown_type"


def test_refuses_to_start_without_write_access(pg, installed, sim):
    result, master = sim.launch("confserv", "CS", "127.0.0.1", free_port(), confserv_sections(pg, user="ut_reader"))
    assert result.returncode == 1
    line = ("Alarm 21003 No write access for role 'ut_reader' on database 'cfgdb' at 127.0.0.1:%d: missing INSERT,"
            " UPDATE, DELETE, sequence USAGE on %s" % (pg.port, ALL_TABLES))
    assert line in master.log()
    assert "No write access for role 'ut_reader' on database 'cfgdb'" in result.stderr
    assert master.pid is None


def test_refuses_to_start_when_the_database_is_unreachable(pg, installed, sim):
    sections = confserv_sections(pg)
    sections["dbserver"]["port"] = free_port()
    result, master = sim.launch("confserv", "CS", "127.0.0.1", free_port(), sections)
    assert result.returncode == 1
    assert ("Alarm 21002 Database unreachable for role 'ut_cs' on database 'cfgdb' at 127.0.0.1:%d"
            % sections["dbserver"]["port"]) in master.log()
    assert master.pid is None


def test_revoked_write_access_drops_clients_until_it_is_granted_again(pg, installed, sim):
    master = start_master(sim, pg, user="ut_revoke")
    proxy = start_proxy(sim, "PX", master.port)
    assert proxy.status()["mode"] == "normal"
    try:
        pg.execute("REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public FROM ut_revoke")
        wait_for(lambda: mode_is(master, "no_write_access"), 4, "the master to notice the revoke")
        assert ("Alarm 21003 No write access for role 'ut_revoke' on database 'cfgdb' at 127.0.0.1:%d: missing"
                " INSERT, UPDATE, DELETE on %s; refusing clients, mode no_write_access" % (pg.port, ALL_TABLES)
                ) in master.log()
        wait_for(lambda: mode_is(proxy, "limited"), 3, "the proxy to be dropped")
        assert master.status()["clients"] == 0
        for op in ({"op": "hello", "role": "proxy"}, {"op": "put", "type": "CfgDN", "name": "ut_1", "data": {}},
                   {"op": "get", "type": "CfgDN", "name": "dn_00001"}):
            assert master.request(op)["code"] == "no_write_access"
        assert proxy.request({"op": "put", "type": "CfgDN", "name": "ut_1", "data": {}})["code"] == "limited_mode"
    finally:
        pg.execute("GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ut_revoke")
    wait_for(lambda: mode_is(master, "primary"), 4, "the master to serve again")
    assert "Std 21004 Write access for role 'ut_revoke' on database 'cfgdb'" in master.log()
    wait_for(lambda: mode_is(proxy, "normal"), 4, "the proxy to reconnect")
    assert proxy.request({"op": "put", "type": "CfgDN", "name": "ut_1", "data": {"n": 1}})["ok"]
    assert db_row(pg, "cfg_dn", "ut_1")[1] == {"n": 1}


def test_terminated_db_session_is_replaced(pg, installed, sim):
    master = start_master(sim, pg)
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    (backend,), = pg.execute(query, (master.name,))
    # Waits until the backend is gone, so the next request finds its session dead.
    pg.execute("SELECT pg_terminate_backend(%s, 5000)", (backend,))
    reply = master.request({"op": "put", "type": "CfgHost", "name": "ut_host", "data": {"os": "Linux"}})
    assert reply["ok"], reply
    assert db_row(pg, "cfg_host", "ut_host")[0] == reply["object"]["dbid"]
    assert master.status()["mode"] == "primary"
    assert pg.execute(query, (master.name,))[0][0] != backend


def start_pair(sim, pg):
    primary_port, backup_port = free_port(), free_port()
    primary = sim.start("confserv", "CS_Primary", "127.0.0.1", primary_port,
                        confserv_sections(pg, "primary", peer_port=backup_port))
    backup = sim.start("confserv", "CS_Backup", "127.0.0.1", backup_port,
                       confserv_sections(pg, "backup", peer_port=primary_port))
    wait_for(lambda: backup.status()["peer_connected"], 4, "the backup to connect to the primary")
    assert backup.request({"op": "get", "type": "CfgPerson", "name": "person_00001"})["code"] == "backup_mode"
    proxy = start_proxy(sim, "PX", primary_port, backup_port=backup_port)
    assert proxy.status()["master"] == "127.0.0.1:%d" % primary_port
    return primary, backup, proxy


def test_backup_takes_over_when_the_primary_is_killed(pg, installed, sim):
    primary, backup, proxy = start_pair(sim, pg)
    assert primary.status()["peer_connected"] is True

    primary.stop(signal.SIGKILL)
    wait_for(lambda: mode_is(backup, "primary"), 5, "the backup to take over")
    assert "Alarm 21030 Connection to primary 127.0.0.1:%d lost" % primary.port in backup.log()
    wait_for(lambda: proxy.status()["master"] == "127.0.0.1:%d" % backup.port, 5, "the proxy to find the backup")
    reply = proxy.request({"op": "put", "type": "CfgAgentLogin", "name": "ut_after_takeover", "data": {}})
    assert reply["ok"], reply
    assert db_row(pg, "cfg_agent_login", "ut_after_takeover")[0] == reply["object"]["dbid"]

    # The old primary, restarted, finds its peer serving and becomes the backup.
    restarted = sim.start("confserv", "CS_Primary", "127.0.0.1", primary.port,
                          confserv_sections(pg, "primary", peer_port=backup.port))
    assert restarted.status()["mode"] == "backup"
    assert "Std 21021 Peer at 127.0.0.1:%d already serves (mode primary)" % backup.port in restarted.log()
    wait_for(lambda: backup.status()["peer_connected"], 4, "the old primary to watch the new one")


def test_stopping_backup_then_primary_leaves_nothing_serving(pg, installed, sim):
    primary, backup, proxy = start_pair(sim, pg)
    backup.stop(signal.SIGTERM)
    primary.stop(signal.SIGTERM)
    wait_for(lambda: mode_is(proxy, "limited"), 3, "the proxy to lose its master")
    time.sleep(0.5)
    for port in (primary.port, backup.port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert "21030" not in backup.log()
    assert proxy.request({"op": "put", "type": "CfgPerson", "name": "ut_x", "data": {}})["code"] == "limited_mode"


def test_backup_does_not_take_over_at_start_up(pg, installed, sim):
    backup = sim.start("confserv", "CS_Backup", "127.0.0.1", free_port(),
                       confserv_sections(pg, "backup", peer_port=free_port()))
    time.sleep(1.5)
    assert backup.status()["mode"] == "backup"
    assert "Std 21022 Primary at 127.0.0.1" in backup.log()
    assert backup.request({"op": "hello", "role": "proxy"})["code"] == "backup_mode"
