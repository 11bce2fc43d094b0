"""After `normal.yml --check` on a freshly installed lab: nothing was changed."""
import checks


def test_no_dr_state_and_no_master_record_change(lab):
    assert lab.dr_state() == {}, "check mode wrote the DR state"
    assert lab.dig("dns-primary", lab.lock_name, "TXT") == [], "check mode left a lock"


def test_no_replication_and_no_access_change(lab):
    for site in (lab.main_site, lab.secondary_site):
        db = lab.one("db_hosts", site)
        for database in ("cfgdb", "logdb"):
            assert lab.psql(db, database, "SELECT count(*) FROM pg_subscription") == "0"
            assert lab.psql(db, database, "SELECT count(*) FROM pg_publication") == "0"
        assert checks.slots(lab, db) == [""]


def test_no_application_started(lab):
    for host in lab.groups["management_hosts"] + lab.groups["proxy_hosts"]:
        for app in lab.apps(host):
            assert lab.app_processes(app["name"]) == [], "check mode started %s" % app["name"]
