# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Order helpers shared by the controller-side plugins (the inventory check, the DR filters).

Messages that name hosts, components or ports list them in the inventory's order, once each:
set-based filters printed them in a random order, which made one run's refusal read differently
from the next one's.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def unique_in_order(items):
    """The items once each, in the order of their first occurrence. Compared by equality, not by
    hash, so that an unhashable value from a wrong inventory (a dict where a port belongs) is
    listed instead of raising a TypeError before the check that words the problem."""
    found = []
    for item in items:
        if item not in found:
            found.append(item)
    return found
