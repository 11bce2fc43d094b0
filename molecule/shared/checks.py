"""DR states as the verifiers check them on the real hosts (see lab.py for how they read)."""
import glob
import json
import os
import re
import time

CFG_SUB = "genesys_cfgdb_from_"   # subscription names the replication role creates (role defaults)
LOG_SUB = "genesys_logdb_from_"


def wait_for(check, timeout=20, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def cs_roles(lab):
    return next(iter(lab.hostvars.values()))["genesys_db_cs_roles"]


def can_write(lab, db_host, inside=False):
    role = cs_roles(lab)[0]
    return lab.psql(db_host, "cfgdb", "SELECT has_table_privilege('%s', 'public.cfg_person', 'INSERT')" % role,
                    inside=inside) == "t"


def subscription(lab, db_host, db, name, inside=False):
    """(enabled, slot_name, streaming) of a subscription, None when it does not exist."""
    row = lab.psql(db_host, db, "SELECT s.subenabled, coalesce(s.subslotname, ''), "
                   "EXISTS (SELECT 1 FROM pg_stat_subscription p WHERE p.subid = s.oid AND p.pid IS NOT NULL AND p.relid IS NULL) "
                   "FROM pg_subscription s WHERE s.subname = '%s'" % name, inside=inside)
    if not row:
        return None
    enabled, slot, streaming = row.split("|")
    return enabled == "t", slot or None, streaming == "t"


def slots(lab, db_host, inside=False):
    return lab.psql(db_host, "cfgdb", "SELECT coalesce(string_agg(slot_name, ',' ORDER BY slot_name), '') FROM pg_replication_slots",
                    inside=inside).split(",")


def person_names(lab, db_host, inside=False):
    return set(lab.psql(db_host, "cfgdb", "SELECT name FROM cfg_person", inside=inside).split())


def master_ports(lab, mgmt):
    return [a["port"] for a in lab.apps(mgmt, "master_cs")]


def assert_dns(lab, address, skip_sites=()):
    servers = [s for s in lab.groups["dns_primary"] + lab.groups["dns_secondaries"]
               if lab.hostvars[s].get("genesys_site") not in skip_sites]
    for server in servers:
        assert wait_for(lambda s=server: lab.dig(s, lab.master_name) == [address], 15), (
            "%s answers %s for %s, expected %s" % (server, lab.dig(server, lab.master_name), lab.master_name, address))


def assert_masters(lab, live_mgmt, dormant_mgmt, dormant_reachable=True):
    for app in lab.apps(live_mgmt):
        assert lab.listening(live_mgmt, app["port"]), "%s on %s does not listen on %d" % (app["name"], live_mgmt, app["port"])
        assert len(lab.app_processes(app["name"])) == 1, "%s: expected one process" % app["name"]
    if dormant_reachable:
        for app in lab.apps(dormant_mgmt):
            assert lab.app_processes(app["name"]) == [], "%s on %s should be dormant" % (app["name"], dormant_mgmt)


def assert_proxies_on(lab, master_mgmt, sites):
    address, port = lab.address(master_mgmt), master_ports(lab, master_mgmt)[0]
    for site in sites:
        for app_host in lab.in_site("proxy_hosts", site):
            proxies = lab.apps(app_host, "proxy")
            assert wait_for(lambda h=app_host: lab.established_to(h, address, port) >= len(proxies), 20), (
                "proxies on %s are not all connected to %s:%d" % (app_host, address, port))


def write_through_proxies(lab, sites, live_db, tag, inside_sites=()):
    """A write through the primary proxy of every listed site must be acknowledged and be in
    the live Configuration Database (read back with psql, not from the client)."""
    names = []
    for site in sites:
        for app_host in lab.in_site("proxy_hosts", site):
            port = [a["port"] for a in lab.apps(app_host, "proxy") if a["role"] == "primary"][0]
            name = "verify_%s_%s_%d" % (tag, site, int(time.time() * 1000))
            result = lab.client(app_host, port, "put", "CfgPerson", name, '{"verify": true}', inside=site in inside_sites)
            assert result.rc == 0, "write through %s refused (rc %d): %s %s" % (app_host, result.rc, result.stdout, result.stderr)
            names.append(name)
    live = person_names(lab, live_db)
    assert set(names) <= live, "acknowledged writes missing in %s: %s" % (live_db, sorted(set(names) - live))
    return names


def assert_normal(lab):
    main, sec = lab.main_site, lab.secondary_site
    main_mgmt, sec_mgmt = lab.one("management_hosts", main), lab.one("management_hosts", sec)
    main_db, sec_db = lab.one("db_hosts", main), lab.one("db_hosts", sec)
    assert lab.dr_state().get("state") == "NORMAL" and lab.dr_state().get("live_site") == main, lab.dr_state()
    assert lab.dig("dns-primary", lab.lock_name, "TXT") == [], "the DR lock is still held"
    assert_dns(lab, lab.address(main_mgmt))
    assert_masters(lab, main_mgmt, sec_mgmt)
    assert can_write(lab, main_db) and not can_write(lab, sec_db)
    # cfgdb main -> secondary streaming; secondary -> main present, disabled, no slot anywhere retaining WAL
    assert subscription(lab, sec_db, "cfgdb", CFG_SUB + main)[0:2] == (True, CFG_SUB + main)
    assert wait_for(lambda: subscription(lab, sec_db, "cfgdb", CFG_SUB + main)[2]), "cfgdb main->secondary not streaming"
    assert subscription(lab, main_db, "cfgdb", CFG_SUB + sec) == (False, None, False)
    assert CFG_SUB + sec not in slots(lab, sec_db)
    for here, there in ((main_db, sec), (sec_db, main)):
        assert wait_for(lambda h=here, t=there: (subscription(lab, h, "logdb", LOG_SUB + t) or (0, 0, 0))[2]), (
            "logdb %s -> %s not streaming" % (there, here))
    assert_proxies_on(lab, main_mgmt, lab.proxy_sites())
    names = write_through_proxies(lab, lab.proxy_sites(), main_db, "normal")
    assert wait_for(lambda: set(names) <= person_names(lab, sec_db), 15), "writes did not reach the secondary"


def assert_failed_over(lab, main_reachable=True, lost_sites=()):
    main, sec = lab.main_site, lab.secondary_site
    main_mgmt, sec_mgmt = lab.one("management_hosts", main), lab.one("management_hosts", sec)
    main_db, sec_db = lab.one("db_hosts", main), lab.one("db_hosts", sec)
    state = lab.dr_state()
    assert state.get("state") == "FAILED_OVER" and state.get("live_site") == sec, state
    assert lab.dig("dns-primary", lab.lock_name, "TXT") == [], "the DR lock is still held"
    assert_dns(lab, lab.address(sec_mgmt), skip_sites=lost_sites)
    assert_masters(lab, sec_mgmt, main_mgmt, dormant_reachable=main_reachable)
    assert can_write(lab, sec_db)
    if main_reachable:
        assert not can_write(lab, main_db)
        assert subscription(lab, main_db, "cfgdb", CFG_SUB + sec) == (False, None, False)
    enabled, slot = subscription(lab, sec_db, "cfgdb", CFG_SUB + main)[0:2]
    assert not enabled and slot is None, "the main->secondary stream must be stopped"
    surviving = [s for s in lab.proxy_sites() if s not in lost_sites]
    assert_proxies_on(lab, sec_mgmt, surviving)
    write_through_proxies(lab, surviving, sec_db, "failedover")


def assert_reprotected(lab, report_dir):
    main, sec = lab.main_site, lab.secondary_site
    main_mgmt, sec_mgmt = lab.one("management_hosts", main), lab.one("management_hosts", sec)
    main_db, sec_db = lab.one("db_hosts", main), lab.one("db_hosts", sec)
    state = lab.dr_state()
    assert state.get("state") == "REPROTECTED" and state.get("live_site") == sec, state
    assert_dns(lab, lab.address(sec_mgmt))
    assert_masters(lab, sec_mgmt, main_mgmt)
    assert can_write(lab, sec_db) and not can_write(lab, main_db)
    assert wait_for(lambda: subscription(lab, main_db, "cfgdb", CFG_SUB + sec) == (True, CFG_SUB + sec, True)), (
        "cfgdb secondary->main is not streaming")
    assert CFG_SUB + main not in slots(lab, main_db), "the old main->secondary slot still retains WAL on the main"
    assert_proxies_on(lab, sec_mgmt, lab.proxy_sites())
    names = write_through_proxies(lab, lab.proxy_sites(), sec_db, "reprotected")
    assert wait_for(lambda: set(names) <= person_names(lab, main_db), 15), "writes did not reach the restored main"
    assert person_names(lab, main_db) == person_names(lab, sec_db)
    archive = latest_report(report_dir, "reprotect")["measures"]["archive"][main_db]
    dump = lab.host(main_db).file(archive["path"])
    assert dump.exists and dump.size == archive["size_bytes"] and dump.size > 0
    return archive


def latest_report(report_dir, operation):
    reports = sorted(glob.glob(os.path.join(report_dir, "%s-*.json" % operation)), key=os.path.getmtime)
    assert reports, "no %s report in %s" % (operation, report_dir)
    with open(reports[-1]) as handle:
        return json.load(handle)


def archived_names(lab, db_host, path):
    """cfg_person names in a pg_dump archive, read with pg_restore on the DB host."""
    out = lab.host(db_host).check_output("pg_restore --data-only --table=cfg_person -f - %s" % path)
    return {line.split("\t")[1] for line in out.splitlines() if line.count("\t") >= 2}


def metrics(path):
    """{(name, frozenset of (label, value))}: value} of a Prometheus text-format file."""
    samples = {}
    with open(path) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            series, value = line.rsplit(" ", 1)
            name, dummy, labels = series.partition("{")
            pairs = re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', labels)
            samples[(name, frozenset(pairs))] = float(value)
    return samples
