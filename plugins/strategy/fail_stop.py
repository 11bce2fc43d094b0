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
  - Opt-in acceleration. With the environment variable E(GENESYS_DR_MITOGEN=true) on the
    controller, the same strategy runs its tasks through Mitogen for Ansible (the C(mitogen)
    Python package, which must be installed in the controller's Python), with one persistent
    Python interpreter per host instead of a new one per task. The fail-stop rule above is
    unchanged. A value that is not a boolean, or Mitogen missing, stops the run before its
    first task with a message that says so. Unset or false, the strategy is plain
    C(ansible.builtin.linear) over the connection plugins the inventory names.
author: Genesys DR framework team (!UNKNOWN)
'''

import os

from ansible.errors import AnsibleError
from ansible.plugins.strategy.linear import StrategyModule as PlainLinearStrategyModule
from ansible.utils.display import Display

from ansible_collections.genesys_dr.framework.plugins.plugin_utils.task_runner import (
    MITOGEN_ENV, mitogen_requested, record_strategy)

display = Display()


def _linear_base():
    """The linear strategy to build on: Ansible's own, or Mitogen's when the controller's
    environment asks for it. Chosen when Ansible loads the plugin, before any task runs."""
    if not mitogen_requested():
        return PlainLinearStrategyModule
    try:
        import ansible_mitogen.loaders  # pylint: disable=import-outside-toplevel
        import ansible_mitogen.strategy  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise AnsibleError('%s=%s asks for Mitogen, but the controller cannot import it (%s): install the mitogen '
                           'package in the Python that runs ansible-playbook, or unset %s' % (
                               MITOGEN_ENV, os.environ[MITOGEN_ENV].strip(), exc, MITOGEN_ENV))
    mitogen_linear = ansible_mitogen.loaders.strategy_loader.get('linear', class_only=True)
    return type('MitogenLinearStrategyModule', (ansible_mitogen.strategy.StrategyMixin, mitogen_linear), {})


LinearStrategyModule = _linear_base()


class StrategyModule(LinearStrategyModule):

    def run(self, iterator, play_context):  # pylint: disable=arguments-differ
        # Before the base class forks the workers of this play, so that the report and the
        # preflight, wherever they run, learn from this class what runs the tasks.
        record_strategy(type(self))
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
