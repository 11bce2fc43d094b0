"""After failback: NORMAL again, the same as a fresh converge."""
import checks


def test_normal_again(lab):
    checks.assert_normal(lab)


def test_failback_report(report_dir):
    report = checks.latest_report(report_dir, "failback")
    assert report["result"] == "ok"
    assert int(report["measures"]["rpo"]["wal_bytes_not_applied"]) == 0
    assert set(report["measures"]["fencing"].values()) == {"done"}
