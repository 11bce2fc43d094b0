# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pauses between readings of a waited-for condition, on a fake clock: short first, never above the cap,
and a wait_for that reads a condition met after 60 ms within the next short pause, not after a whole interval."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import itertools

import pytest

from ansible_collections.genesys_dr.framework.plugins.module_utils import genesys_process as gp
from ansible_collections.genesys_dr.framework.plugins.module_utils.waiting import pauses


def test_pauses_grow_from_20_ms_to_the_cap_and_stay_there():
    seen = list(itertools.islice(pauses(0.2), 12))
    assert seen[:4] == pytest.approx([0.02, 0.03, 0.045, 0.0675])
    assert all(later >= earlier for earlier, later in zip(seen, seen[1:]))
    assert max(seen) == 0.2 and seen[-3:] == [0.2, 0.2, 0.2]


def test_a_cap_below_the_first_pause_is_kept():
    assert list(itertools.islice(pauses(0.01), 3)) == [0.01, 0.01, 0.01]


class FakeClock(object):
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(gp.time, 'monotonic', fake.monotonic)
    monkeypatch.setattr(gp.time, 'sleep', fake.sleep)
    return fake


def test_wait_for_sees_a_condition_soon_after_it_is_met(clock):
    met_at = clock.now + 0.06
    assert gp.wait_for(lambda: clock.now >= met_at, 10, interval=0.2)
    # Read at 0, 20, 50, 95 ms: seen 35 ms after it was met, where a fixed 200 ms pause saw it 140 ms late.
    assert clock.slept == pytest.approx([0.02, 0.03, 0.045])


def test_wait_for_still_reads_at_the_deadline_and_never_sleeps_past_it(clock):
    start = clock.now
    assert gp.wait_for(lambda: False, 1.0, interval=0.2) is False
    assert clock.now - start == pytest.approx(1.0)
    assert max(clock.slept) <= 0.2
