"""Fixtures shared by the plugin unit tests: throw-away PostgreSQL clusters and a module runner."""
import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster


class ModuleExit(Exception):
    """exit_json or fail_json was called; ``result`` holds what the module returned."""

    def __init__(self, result):
        super().__init__(result.get('msg', ''))
        self.result = result


def _run_module(module, args, check_mode=False, diff=False):
    """Run a module's main() with args; return its result dict (``failed`` set when it failed)."""
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    warnings = []

    def exit_json(self, **kwargs):  # pylint: disable=unused-argument
        kwargs.setdefault('changed', False)
        kwargs['warnings'] = list(warnings)
        raise ModuleExit(kwargs)

    def fail_json(self, msg, **kwargs):  # pylint: disable=unused-argument
        kwargs.update(failed=True, msg=msg, warnings=list(warnings))
        raise ModuleExit(kwargs)

    def warn(self, warning, **kwargs):  # pylint: disable=unused-argument
        warnings.append(warning)

    with patch_module_args(args):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(basic.AnsibleModule, 'exit_json', exit_json)
            mp.setattr(basic.AnsibleModule, 'fail_json', fail_json)
            mp.setattr(basic.AnsibleModule, 'warn', warn)
            try:
                module.main()
            except ModuleExit as done:
                return done.result
    raise AssertionError('module returned without calling exit_json or fail_json')


@pytest.fixture
def module_runner():
    return _run_module


@pytest.fixture(scope='session')
def pg_pair():
    """Two PostgreSQL 15 clusters (wal_level=logical) on 127.0.0.1, for the whole session."""
    reason = pgcluster.unavailable_reason()
    if reason:
        pytest.skip(reason)
    clusters = pgcluster.ClusterSet(['site_a', 'site_b'])
    with clusters as pair:
        yield pair
