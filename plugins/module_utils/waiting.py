# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long to sleep between two readings of a condition the module waits for.

A fixed interval adds, on average, half of itself to every wait that ends soon: an application
listening 50 ms after its start was seen only at the first reading after 200 ms. The pauses start
short, so a condition met soon is seen soon, and grow to the caller's interval, so a long wait
reads no more often than before.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

FIRST_PAUSE = 0.02
GROWTH = 1.5


def pauses(longest, first=FIRST_PAUSE, growth=GROWTH):
    """Endless pause lengths in seconds: first, then each growth times the one before, at most longest."""
    pause = min(first, longest)
    while True:
        yield pause
        pause = min(longest, pause * growth)
