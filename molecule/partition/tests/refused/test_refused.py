"""The partitioned main: the refused failover attempts changed nothing."""
import checks


def test_nothing_moved(lab):
    main, sec = lab.main_site, lab.secondary_site
    state = lab.dr_state()
    assert state.get("state") == "NORMAL" and state.get("live_site") == main, state
    assert lab.dig("dns-primary", lab.lock_name, "TXT") == [], "a refused run left the lock"
    checks.assert_dns(lab, lab.address(lab.one("management_hosts", main)), skip_sites=[main])
    sec_mgmt, sec_db = lab.one("management_hosts", sec), lab.one("db_hosts", sec)
    for app in lab.apps(sec_mgmt):
        assert lab.app_processes(app["name"]) == []
    assert not checks.can_write(lab, sec_db)
    assert checks.subscription(lab, sec_db, "cfgdb", checks.CFG_SUB + main)[0] is True


def test_the_main_still_serves_its_own_site(lab):
    main_mgmt = lab.one("management_hosts", lab.main_site)
    for app in lab.apps(main_mgmt, "master_cs"):
        assert lab.listening(main_mgmt, app["port"], inside=True)
