"""Run a module's main() in this process, as the unit tests do: exit_json/fail_json/warn
patched to hand back the result dict (``failed`` and ``warnings`` set as Ansible would)."""
import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    """exit_json or fail_json was called; ``result`` holds what the module returned."""

    def __init__(self, result):
        super().__init__(result.get('msg', ''))
        self.result = result


def run_module_main(module, args, check_mode=False, diff=False):
    """Run a module's main() with args; return its result dict (``failed`` set when it failed)."""
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    warnings = []

    def exit_json(self, **kwargs):  # pylint: disable=unused-argument
        kwargs.setdefault('changed', False)
        kwargs.setdefault('failed', False)
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
