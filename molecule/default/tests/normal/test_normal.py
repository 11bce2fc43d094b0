"""NORMAL mode, read from the hosts after converge + idempotence."""
import checks


def test_normal_mode(lab):
    checks.assert_normal(lab)
