"""After the drift check (normal.yml --check --diff): the drift made by hand is still there."""
import checks


def test_dormant_master_scs_started_by_hand_still_runs(lab):
    mgmt = lab.one("management_hosts", lab.secondary_site)
    scs = [a["name"] for a in lab.apps(mgmt, "master_scs")][0]
    assert len(lab.app_processes(scs)) == 1


def test_disabled_subscription_still_disabled(lab):
    sec_db = lab.one("db_hosts", lab.secondary_site)
    enabled, slot = checks.subscription(lab, sec_db, "cfgdb", checks.CFG_SUB + lab.main_site)[0:2]
    assert enabled is False and slot == checks.CFG_SUB + lab.main_site
