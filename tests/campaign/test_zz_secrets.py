"""Runs last: every secret of every lab the campaign built searched in every output, log and
report of the campaign (one of its runs was at -vvv): 0 occurrences."""
import glob
import os

import pytest

from conftest import OUT, SECRETS, read_lab_secrets, record


@pytest.mark.short
def test_no_secret_in_any_output_log_or_report():
    secrets = SECRETS | read_lab_secrets()
    assert len(secrets) >= 4, "the lab's secrets were not found"
    files = [p for p in glob.glob(os.path.join(OUT, "**", "*"), recursive=True) if os.path.isfile(p)]
    logs = [p for p in files if p.endswith(".log")]
    assert logs, "the campaign left no run output to search"
    found = []
    for path in files:
        with open(path, errors="replace") as handle:
            text = handle.read()
        found += [path for secret in secrets if secret in text]
    verbose = 0
    for path in logs:
        with open(path, errors="replace") as handle:
            verbose += "-vvv" in handle.readline()
    record("secrets (%d) searched in %d files, %d runs at -vvv" % (len(secrets), len(files), verbose), len(files),
           len(files) - len(set(found)))
    assert found == [], "secrets found in: %s" % sorted(set(found))[:10]
