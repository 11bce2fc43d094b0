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

from ansible_collections.genesys_dr.framework.plugins.module_utils.reachability import ARGUMENT_SPEC, run_check
from ansible_collections.genesys_dr.framework.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):

    def spec(self):
        return dict(argument_spec=ARGUMENT_SPEC)

    def run_here(self, params):
        failed, outcome = run_check(params)
        if failed:
            return dict(failed=True, msg=failed)
        return outcome
