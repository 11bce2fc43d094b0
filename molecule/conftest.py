"""Shared fixtures of the molecule scenarios' testinfra verifiers."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "shared"))

from lab import Lab  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def report_dir():
    """Where the dr_report callback wrote this scenario's run reports (molecule.yml sets it)."""
    return os.environ["GENESYS_DR_REPORT_DIR"]
