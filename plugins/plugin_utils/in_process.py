# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a controller-side module inside the controller's own Ansible process.

The DR procedures run their DNS and reachability steps on the controller (plays on localhost).
As modules, each paid a module transfer and a Python start with its imports, 0.3-0.5 s on a
loaded controller, several times on the failover's critical path (issue 8). Their action plugins
run the same code in process when the task's connection is the controller itself, and hand the
task to the module otherwise (another host, or async), so their behaviour does not depend on
where they run.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_client import DNSError, HAS_DNSPYTHON
from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_options import dns_module_options

# The Mitogen strategy (GENESYS_DR_MITOGEN=1) replaces the local connection with its own, whose
# transport is 'local' too.
LOCAL_TRANSPORTS = ('local',)


def runs_here(action):
    """Whether the action's task runs on this controller, in the foreground, as the user running Ansible.

    With become the module runs as the other user (who may be the only one able to read a key file),
    so it is left to the module.
    """
    return (action._connection.transport in LOCAL_TRANSPORTS and not action._task.async_val
            and not action._play_context.become)


def run_module(action, task_vars, result):
    """The task run as the module itself, as the 'normal' action plugin runs any module."""
    wrap_async = bool(action._task.async_val) and not action._connection.has_native_async
    result.update(action._execute_module(task_vars=task_vars, wrap_async=wrap_async))
    if not wrap_async:
        action._remove_tmp_path(action._connection._shell.tmpdir)
    return result


def validate(action, argument_spec, **constraints):
    """(params, None) for the task's arguments checked against the spec, or (None, message).

    Not ActionBase.validate_argument_spec: its failure is raised with the task's arguments as the
    error's origin, and Ansible prints that origin - no_log values (a TSIG secret, a DB password)
    included - at every verbosity. Here a failure carries the validator's messages only, with every
    no_log value masked, as a module's would.
    """
    outcome = ArgumentSpecValidator(argument_spec, **constraints).validate(dict(action._task.args))
    if outcome.error_messages:
        return None, remove_values('; '.join(outcome.error_messages), outcome._no_log_values)
    return outcome.validated_parameters, None


class ControllerModule(object):
    """What the modules' runner classes use of AnsibleModule, for a run in the controller's process."""

    def __init__(self, params, check_mode, diff):
        self.params = params
        self.check_mode = bool(check_mode)
        self._diff = bool(diff)
        self.warnings = []

    def warn(self, warning):
        self.warnings.append(warning)


class InProcessAction(ActionBase):
    """Base of the action plugins that run their module's code in process on the controller.

    run() hands the task to the module unless runs_here(); otherwise it checks the arguments against
    spec() (keyword arguments of ArgumentSpecValidator) and calls run_here() with the validated
    parameters. run_here() returns the keys to add to the task's result.
    """

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def spec(self):
        raise NotImplementedError

    def run_here(self, params):
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super(InProcessAction, self).run(tmp, task_vars)
        del tmp
        if not runs_here(self):
            return run_module(self, task_vars, result)
        params, invalid = validate(self, **self.spec())
        if invalid:
            return dict(result, failed=True, msg=invalid)
        result.update(self.run_here(params))
        return result


class DNSModuleAction(InProcessAction):
    """Base of the action plugins of the DNS modules: RUNNER is the module's runner class (DrState,
    DnsRecords), OPTIONS the function returning its argument spec and constraints."""

    RUNNER = None
    OPTIONS = None

    def spec(self):
        return dns_module_options(**self.OPTIONS())

    def run_here(self, params):
        if not HAS_DNSPYTHON:
            return dict(failed=True, msg=missing_required_lib('dnspython'))
        module = ControllerModule(params, self._task.check_mode, self._task.diff)
        runner = self.RUNNER(module)
        try:
            outcome = runner.run()
        except DNSError as exc:
            outcome = dict(runner.result, failed=True, msg=str(exc))
        if module.warnings:
            outcome['warnings'] = module.warnings
        return outcome
