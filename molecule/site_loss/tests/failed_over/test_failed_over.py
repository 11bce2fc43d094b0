"""After the main site's loss and a confirmed disaster failover."""
import checks


def test_failed_over_without_the_main(lab):
    checks.assert_failed_over(lab, main_reachable=False, lost_sites=[lab.main_site])


def test_report_says_what_could_not_be_fenced_and_the_rpo_basis(lab, report_dir):
    report = checks.latest_report(report_dir, "failover")
    assert report["result"] == "ok" and report["mode"] == "disaster"
    fencing = report["measures"]["fencing"]
    main_hosts = lab.in_site("management_hosts", lab.main_site) + lab.in_site("db_hosts", lab.main_site)
    assert fencing and all(value.startswith("not done") for value in fencing.values())
    assert {key.split()[0] for key in fencing} == set(main_hosts)
    rpo = report["measures"]["rpo"]
    assert rpo["main_reachable"] is False and rpo["applied_lsn"]
    assert report["measures"]["rto_s"] > 0
