"""After a planned failover: the secondary is live, the main fenced, nothing lost."""
import json
import os

import checks


def test_failed_over(lab):
    checks.assert_failed_over(lab, main_reachable=True)


def test_zero_loss_every_main_row_is_at_the_secondary(lab):
    main_db = lab.one("db_hosts", lab.main_site)
    sec_db = lab.one("db_hosts", lab.secondary_site)
    missing = checks.person_names(lab, main_db) - checks.person_names(lab, sec_db)
    assert not missing, "rows committed at the main are missing at the secondary: %s" % sorted(missing)[:10]


def test_report_proves_zero_loss_and_full_fencing(report_dir):
    report = checks.latest_report(report_dir, "failover")
    assert report["result"] == "ok" and report["mode"] == "planned"
    rpo = report["measures"]["rpo"]
    assert rpo["main_reachable"] and int(rpo["wal_bytes_not_applied"]) == 0
    assert rpo["source_lsn"] == rpo["confirmed_lsn"] or rpo["confirmed_lsn"] > rpo["source_lsn"]
    assert report["measures"]["fencing"] and set(report["measures"]["fencing"].values()) == {"done"}
    assert report["measures"]["rto_s"] > 0


def test_status_table_matches_the_hosts(lab, report_dir):
    """status.yml's table says what the hosts say (read independently here)."""
    with open(os.path.join(report_dir, "status.md")) as handle:
        table = handle.read()
    sec_mgmt, main_mgmt = lab.one("management_hosts", lab.secondary_site), lab.one("management_hosts", lab.main_site)
    assert "DR state: FAILED_OVER, live site: %s" % lab.secondary_site in table
    assert "Lock: free" in table
    for server in lab.groups["dns_primary"] + lab.groups["dns_secondaries"]:
        assert "| %s | %s |" % (server, lab.dig(server, lab.master_name)[0]) in table
    for app in lab.apps(sec_mgmt):
        pid = lab.app_processes(app["name"])[0]
        assert "| %s | %s | running | %d |" % (sec_mgmt, app["name"], pid) in table
    for app in lab.apps(main_mgmt):
        assert "| %s | %s | stopped | - |" % (main_mgmt, app["name"]) in table
    master = "%s:%d" % (lab.address(sec_mgmt), checks.master_ports(lab, sec_mgmt)[0])
    for app_host in lab.groups["proxy_hosts"]:
        for proxy in lab.apps(app_host, "proxy"):
            assert "| %s | %s | normal | %s |" % (app_host, proxy["name"], master) in table
    sec_db, main_db = lab.one("db_hosts", lab.secondary_site), lab.one("db_hosts", lab.main_site)
    assert "| %s | cfgdb | %s | read_write |" % (sec_db, checks.cs_roles(lab)[0]) in table
    assert "| %s | cfgdb | %s | read_only |" % (main_db, checks.cs_roles(lab)[0]) in table
    # Both cfgdb subscriptions are disabled after a planned failover (read here from pg_subscription): stopped,
    # no slot, so no lag; the other site's DB host answered status.yml.
    for here, there in ((sec_db, lab.main_site), (main_db, lab.secondary_site)):
        name = checks.CFG_SUB + there
        assert checks.subscription(lab, here, "cfgdb", name) == (False, None, False)
        assert "| %s | cfgdb: %s | stopped | False | - | reachable |" % (here, name) in table


def test_status_verdict_is_not_ready_for_exactly_what_the_hosts_show(lab, report_dir):
    """status.yml ran with status_require_ready false: its verdict (status.json) and metrics say not
    ready, for the two reasons read here from the hosts - and for nothing else that is as it should be."""
    with open(os.path.join(report_dir, "status.json")) as handle:
        verdict = json.load(handle)
    main_db, main_mgmt = lab.one("db_hosts", lab.main_site), lab.one("management_hosts", lab.main_site)
    sec_mgmt = lab.one("management_hosts", lab.secondary_site)
    # The main's cfgdb follows nothing until reprotect: its subscription from the secondary is disabled, no slot.
    from_secondary = checks.CFG_SUB + lab.secondary_site
    assert checks.subscription(lab, main_db, "cfgdb", from_secondary) == (False, None, False)
    assert verdict["ready"] is False and verdict["live_site"] == lab.secondary_site
    assert verdict["problems"] == [
        "DR state: FAILED_OVER (a failover needs NORMAL or REPROTECTED)",
        "replication: %s cfgdb has no running subscription from the other DR site (%s stopped)" % (main_db, from_secondary),
    ]
    samples = checks.metrics(os.path.join(report_dir, "genesys_dr.prom"))
    assert samples[("genesys_dr_ready", frozenset())] == 0
    assert samples[("genesys_dr_problems", frozenset())] == 2
    assert samples[("genesys_dr_state", frozenset({("state", "FAILED_OVER")}))] == 1
    for host, site in ((main_mgmt, lab.main_site), (sec_mgmt, lab.secondary_site)):
        for app in lab.apps(host):
            labels = frozenset({("host", host), ("site", site), ("application", app["name"]),
                                ("component", app["component"])})
            assert samples[("genesys_dr_application_up", labels)] == (1 if lab.app_processes(app["name"]) else 0)
            assert samples[("genesys_dr_application_expected_up", labels)] == (1 if host == sec_mgmt else 0)
