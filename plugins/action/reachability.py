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
from ansible_collections.genesys_dr.framework.plugins.plugin_utils.in_process import run_module, runs_here, validate


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        if not runs_here(self):
            return run_module(self, task_vars, result)
        params, invalid = validate(self, ARGUMENT_SPEC)
        if invalid:
            return dict(result, failed=True, msg=invalid)
        failed, outcome = run_check(params)
        if failed:
            return dict(result, failed=True, msg=failed)
        result.update(outcome)
        return result
