"""After reprotect: the main is a fenced replica of the live secondary."""
import checks


def test_reprotected(lab, report_dir):
    checks.assert_reprotected(lab, report_dir)
