"""Fixtures shared by the plugin unit tests: throw-away PostgreSQL clusters and a module runner."""
import pytest

from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster
from ansible_collections.genesys_dr.framework.tests.unit.plugins.module_runner import run_module_main


@pytest.fixture
def module_runner():
    return run_module_main


@pytest.fixture(scope='session')
def pg_pair():
    """Two PostgreSQL 15 clusters (wal_level=logical) on 127.0.0.1, for the whole session."""
    reason = pgcluster.unavailable_reason()
    if reason:
        pytest.skip(reason)
    clusters = pgcluster.ClusterSet(['site_a', 'site_b'])
    with clusters as pair:
        yield pair
