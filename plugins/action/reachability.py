# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of genesys_dr.framework.reachability (documentation: plugins/modules/reachability.py).

On a local connection (the controller, where the failover runs the check) the check runs inside
this process: it only opens TCP connections, and running it as a module cost a module transfer and
an interpreter start on the failover's critical path (about 0.5-1 s on a loaded controller, issue 8)
for a check whose own bound is one second. On any other connection the module runs on that host,
as any module would, so that a task delegated elsewhere still measures from there.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.genesys_dr.framework.plugins.module_utils.reachability import ARGUMENT_SPEC, run_check


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def runs_here(self):
        """Whether the task's connection is this controller itself (and not run in the background)."""
        # mitogen_local: the local connection as the Mitogen strategy replaces it (GENESYS_DR_MITOGEN=1).
        return self._connection.transport in ('local', 'mitogen_local') and not self._task.async_val

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        if not self.runs_here():
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result.update(self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        failed, outcome = run_check(params)
        if failed:
            return dict(result, failed=True, msg=failed)
        result.update(outcome)
        return result
