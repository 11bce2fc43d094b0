# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What runs the tasks of this ansible-playbook run: Ansible's own executor, or Mitogen.

The opt-in (GENESYS_DR_MITOGEN) is read here once for the genesys_dr.framework.fail_stop strategy,
which builds its class on Mitogen's linear strategy when it is asked to; the report callback and
the preflight's inventory check ask runs_through_mitogen() instead of guessing on their own.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean

MITOGEN_ENV = 'GENESYS_DR_MITOGEN'

# The strategy classes that have run a play in this controller process, recorded by the strategy
# itself when its run starts. Ansible forks its workers from this process after that, so action
# plugins see the record too.
_STRATEGIES_RUN = set()


def mitogen_requested(environ=None):
    """Whether the controller's environment asks for Mitogen: GENESYS_DR_MITOGEN as a boolean,
    unset or empty meaning false. Anything else is an error, never quietly false: an operator
    who typed it meant something."""
    value = (os.environ if environ is None else environ).get(MITOGEN_ENV, '').strip()
    if not value:
        return False
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise AnsibleError('%s=%s is not a boolean: set it to true to run the procedures through Mitogen, '
                           'or to false (or unset it) for plain SSH' % (MITOGEN_ENV, value))


def record_strategy(strategy_class):
    """Called by a strategy as its run starts, with the class that runs it."""
    _STRATEGIES_RUN.add(strategy_class)


def runs_through_mitogen():
    """Whether a strategy of this run dispatches its tasks through Mitogen.

    Decided from the class that actually ran, not from the environment variable (it only asks) nor
    from ansible_mitogen being imported (any plugin may import it, and Mitogen's strategy wraps the
    connection and action loaders only inside its own run()): a class whose run() goes through
    Mitogen's StrategyMixin.run() is the one thing that makes the tasks go through Mitogen. Ansible
    2.19 gives plugins no handle on the strategy instance of the play, hence the record."""
    # StrategyMixin in a class's MRO means ansible_mitogen.strategy is already imported; without
    # it nothing can have run through Mitogen, and Mitogen need not be installed to answer.
    mixin = getattr(sys.modules.get('ansible_mitogen.strategy'), 'StrategyMixin', None)
    return mixin is not None and any(issubclass(cls, mixin) for cls in _STRATEGIES_RUN)
