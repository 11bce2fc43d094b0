# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: fail_stop
short_description: Linear execution that ends the whole playbook when a play leaves a host failed or unreachable
version_added: 0.2.0
description:
  - Runs every play exactly like C(ansible.builtin.linear). When the play is over and a host
    failed a task (not rescued, not ignored) or became unreachable (not ignored with
    C(ignore_unreachable)) during it, no further play of the playbook starts.
  - Ansible's own C(any_errors_fatal) ends the play on a failure, but an unreachable host
    only drops out of the play, and the next play still runs for the other hosts, even when
    every host of the step was unreachable. A DR procedure must not switch DNS after its
    database step could not reach a host, so every play of the state-changing playbooks
    uses this strategy together with C(any_errors_fatal).
  - The hosts a play tolerates are named by the play itself, with C(ignore_unreachable)
    (the unreachable hosts of a lost site in a disaster failover, the proxy hosts that are
    down); those never stop the playbook.
author: Genesys DR framework team (!UNKNOWN)
'''

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.utils.display import Display

display = Display()


class StrategyModule(LinearStrategyModule):

    def run(self, iterator, play_context):  # pylint: disable=arguments-differ
        failed_before = set(self._tqm._failed_hosts)
        unreachable_before = set(self._tqm._unreachable_hosts)
        result = super(StrategyModule, self).run(iterator, play_context)
        unreachable_now = set(self._tqm._unreachable_hosts)
        failed = sorted(set(self._tqm._failed_hosts) - failed_before - unreachable_now)
        unreachable = sorted(set(self._tqm._unreachable_hosts) - unreachable_before)
        if failed or unreachable:
            display.error('Stopping the playbook after play "%s": %s. No further step runs.' % (
                iterator._play.get_name(),
                '; '.join(part for part in ('failed: ' + ', '.join(failed) if failed else '',
                                            'unreachable: ' + ', '.join(unreachable) if unreachable else '') if part)))
            return self._tqm.RUN_FAILED_BREAK_PLAY
        return result
