"""The simulated Genesys applications on the lab, checked the way the DR procedures
depend on them: writes through proxies are committed in cfgdb, proxies go to limited mode
and back, follow the master's DNS name, the master refuses to serve without write access,
and the backup master takes over only when the primary goes away while it runs."""
import os
import signal
import time

from conftest import wait_until

CS, CS_BACKUP, PROXY = 2020, 2021, 2030


def _names(lab, site):
    return {"cs": "confserv_%s_primary" % site, "cs_backup": "confserv_%s_backup" % site,
            "proxy": "csproxy_%s_primary" % site, "lms": "lms_%s" % site}


def _proxy_status(lab, proxy_host, port=PROXY):
    code, reply, _err = lab.client(proxy_host, proxy_host, "status", port=port)
    return reply if code == 0 else None


def _established(lab, host, remote_addr, remote_port):
    """ESTABLISHED connections of `host` to remote, read from its own /proc/net/tcp."""
    out = lab.ns(host, ["cat", "/proc/net/tcp"]).stdout.splitlines()[1:]
    want = "%s:%04X" % ("".join("%02X" % int(o) for o in reversed(remote_addr.split("."))), remote_port)
    return [line for line in out if line.split()[2] == want and line.split()[3] == "01"]


def _start_main(lab, site="site1"):
    n = _names(lab, site)
    mgmt, app = lab.site_host(site, "mgmt"), lab.site_host(site, "app")
    lab.start_app(mgmt, n["cs"])
    lab.start_app(app, n["proxy"])
    wait_until(lambda: (_proxy_status(lab, app) or {}).get("mode") == "normal", 20, "proxy in normal mode")
    return mgmt, app, n


def test_put_through_proxy_is_committed_in_cfgdb(clean_lab):
    lab = clean_lab
    mgmt, app, _names = _start_main(lab)
    name = "it_put_%d" % time.time_ns()
    code, reply, err = lab.client(app, app, "put", "CfgDN", name, '{"number": "5551234"}', port=PROXY)
    assert code == 0, (reply, err)
    row = lab.psql(lab.site_host("site1", "db"), "cfgdb",
                   "SELECT dbid, data->>'number' FROM cfg_dn WHERE name = '%s'" % name).stdout.strip()
    assert row == "%d|5551234" % reply["object"]["dbid"]
    code, reply, _err = lab.client(app, app, "get", "CfgDN", name, port=PROXY)
    assert code == 0 and reply["object"]["data"] == {"number": "5551234"}
    assert _established(lab, app, mgmt.address, CS)


def test_proxy_limited_mode_when_master_stops_and_back(clean_lab):
    lab = clean_lab
    mgmt, app, n = _start_main(lab)
    code, _reply, _err = lab.client(app, app, "get", "CfgPerson", "person_00001", port=PROXY)
    assert code == 0
    lab.stop_app(mgmt, n["cs"])
    wait_until(lambda: (_proxy_status(lab, app) or {}).get("mode") == "limited", 15, "proxy in limited mode")
    code, reply, err = lab.client(app, app, "put", "CfgPerson", "limited_write", "{}", port=PROXY)
    assert code == 2 and reply["code"] == "limited_mode" and "limited mode" in reply["error"]
    code, reply, _err = lab.client(app, app, "get", "CfgPerson", "person_00001", port=PROXY)
    assert code == 0 and reply["object"]["name"] == "person_00001"        # reads keep working from cache
    assert not lab.psql(lab.site_host("site1", "db"), "cfgdb",
                        "SELECT 1 FROM cfg_person WHERE name = 'limited_write'").stdout.strip()
    lab.start_app(mgmt, n["cs"])
    os.kill(lab.app_pids(app, n["proxy"])[0], signal.SIGHUP)
    wait_until(lambda: (_proxy_status(lab, app) or {}).get("mode") == "normal", 15, "proxy back in normal mode")


def test_proxy_follows_master_name_after_dns_change_and_sighup(clean_lab):
    lab = clean_lab
    _mgmt, app, n = _start_main(lab)
    s2 = _names(lab, "site2")
    s2_mgmt = lab.site_host("site2", "mgmt")
    lab.start_app(s2_mgmt, s2["cs"])
    lab.set_master_record(s2_mgmt.address)        # nsupdate -y, waits for every secondary
    pid = lab.app_pids(app, n["proxy"])[0]
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: (_proxy_status(lab, app) or {}).get("master") == "%s:%d" % (s2_mgmt.address, CS), 15,
               "proxy connected to the site2 master")
    assert _established(lab, app, s2_mgmt.address, CS)
    assert not _established(lab, app, lab.site_host("site1", "mgmt").address, CS)
    name = "it_dns_%d" % time.time_ns()
    code, reply, err = lab.client(app, app, "put", "CfgPerson", name, "{}", port=PROXY)
    assert code == 0, (reply, err)
    assert lab.psql(lab.site_host("site2", "db"), "cfgdb",
                    "SELECT count(*) FROM cfg_person WHERE name = '%s'" % name).stdout.strip() == "1"


def test_master_refuses_to_serve_without_write_access(clean_lab):
    lab = clean_lab
    mgmt, app, n = _start_main(lab)
    db = lab.site_host("site1", "db")
    revoke = "REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public FROM genesys_cs"
    grant = "GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO genesys_cs"
    try:
        lab.psql(db, "cfgdb", revoke)
        wait_until(lambda: lab.client(mgmt, mgmt, "status", port=CS)[1].get("mode") == "no_write_access", 10,
                   "the master to notice it lost write access")
        code, reply, _err = lab.client(app, app, "put", "CfgPerson", "refused_write", "{}", port=PROXY)
        assert code == 2
        lab.stop_app(mgmt, n["cs"])
        proc = lab.ns(mgmt, [os.path.join(lab.app_dir(mgmt, n["cs"]), "run.sh")], check=False)
        assert proc.returncode != 0
        assert not lab.app_pids(mgmt, n["cs"])
        log = open(os.path.join(lab.app_dir(mgmt, n["cs"]), "logs", n["cs"] + ".log")).read()
        assert "genesys_cs" in log and "cfgdb" in log
    finally:
        lab.psql(db, "cfgdb", grant)
    assert not lab.psql(db, "cfgdb", "SELECT 1 FROM cfg_person WHERE name = 'refused_write'").stdout.strip()


def test_backup_takes_over_when_primary_dies(clean_lab):
    lab = clean_lab
    mgmt, app, n = _start_main(lab)
    lab.start_app(mgmt, n["cs_backup"])
    assert lab.client(mgmt, mgmt, "status", port=CS_BACKUP)[1]["mode"] == "backup"
    lab.stop_app(mgmt, n["cs"], sig=signal.SIGKILL)
    wait_until(lambda: (lab.client(mgmt, mgmt, "status", port=CS_BACKUP)[1] or {}).get("mode") == "primary", 15,
               "the backup to take over")
    wait_until(lambda: (_proxy_status(lab, app) or {}).get("master") == "%s:%d" % (mgmt.address, CS_BACKUP), 20,
               "proxy to reconnect to the backup's port")
    code, reply, err = lab.client(app, app, "put", "CfgPerson", "after_takeover_%d" % time.time_ns(), "{}", port=PROXY)
    assert code == 0, (reply, err)


def test_stopping_backup_first_prevents_takeover(clean_lab):
    lab = clean_lab
    mgmt, app, n = _start_main(lab)
    lab.start_app(mgmt, n["cs_backup"])
    lab.stop_app(mgmt, n["cs_backup"])
    lab.stop_app(mgmt, n["cs"])
    time.sleep(2)
    assert not lab.app_pids(mgmt, n["cs"]) and not lab.app_pids(mgmt, n["cs_backup"])
    assert not lab.tcp_connect(app, mgmt.address, CS_BACKUP)
    assert (_proxy_status(lab, app) or {}).get("mode") == "limited"


def test_log_message_server_writes_events_to_the_main_log_db(clean_lab):
    lab = clean_lab
    db = lab.site_host("site1", "db")
    before = int(lab.psql(db, "logdb", "SELECT count(*) FROM log_event WHERE origin_site = 'site2'").stdout)
    s2_app = lab.site_host("site2", "app")
    lab.start_app(s2_app, "lms_site2")
    lab.start_app(s2_app, "csproxy_site2_primary")        # logs its start to its site's LMS
    wait_until(lambda: int(lab.psql(db, "logdb", "SELECT count(*) FROM log_event WHERE origin_site = 'site2'"
                                    ).stdout) > before, 15, "site2 events in site1's logdb")
    assert lab.psql(db, "logdb", "SELECT DISTINCT db_site FROM log_event WHERE origin_site = 'site2'"
                    ).stdout.split() == ["site1"]
