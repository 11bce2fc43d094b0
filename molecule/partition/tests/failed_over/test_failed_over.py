"""Confirmed disaster failover while the main is only partitioned."""
import os

import checks


def test_secondary_live_for_every_reachable_site(lab):
    checks.assert_failed_over(lab, main_reachable=False, lost_sites=[lab.main_site])


def test_fencing_of_the_unreachable_main_reported_not_done(lab, report_dir):
    fencing = checks.latest_report(report_dir, "failover")["measures"]["fencing"]
    main_hosts = lab.in_site("management_hosts", lab.main_site) + lab.in_site("db_hosts", lab.main_site)
    assert {key.split()[0] for key in fencing} == set(main_hosts)
    assert all(value == "not done: host not reached" for value in fencing.values()), fencing


def test_the_old_main_keeps_only_its_own_site(lab, report_dir):
    main_mgmt, main_app = lab.one("management_hosts", lab.main_site), lab.one("proxy_hosts", lab.main_site)
    port = checks.master_ports(lab, main_mgmt)[0]
    assert lab.listening(main_mgmt, port, inside=True), "the partitioned main master should still run"
    assert lab.established_to(main_app, lab.address(main_mgmt), port, inside=True) >= 1
    for site in lab.proxy_sites():
        if site != lab.main_site:
            for app_host in lab.in_site("proxy_hosts", site):
                assert lab.established_to(app_host, lab.address(main_mgmt), port) == 0
    # and the write its own site's client saw acknowledged is in the old main's cfgdb only
    with open(os.path.join(report_dir, "partition_write.txt")) as handle:
        name = handle.read().strip()
    assert name in checks.person_names(lab, lab.one("db_hosts", lab.main_site), inside=True)
    assert name not in checks.person_names(lab, lab.one("db_hosts", lab.secondary_site))
