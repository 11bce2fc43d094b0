"""After a planned failover: the secondary is live, the main fenced, nothing lost."""
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
