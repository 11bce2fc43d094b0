# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures for the DNS modules, loaded with
pytest_plugins = ['ansible_collections.genesys_dr.framework.tests.unit.plugins.conftest_dns'].
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import itertools
import shutil

import pytest

from ansible_collections.genesys_dr.framework.tests.unit.plugins.bindserver import BindZone
from ansible_collections.genesys_dr.framework.tests.unit.plugins.module_runner import run_module_main

_COUNTER = itertools.count(1)


@pytest.fixture
def run_module():
    """run_module(module, args, check_mode=False, diff=False): run module.main() in-process with args
    and return its result (exit_json or fail_json arguments, with 'failed' and 'warnings')."""
    return run_module_main


@pytest.fixture(scope='session')
def bind_zone(tmp_path_factory):
    """A running BIND primary + one secondary for a test zone (shared by all DNS tests)."""
    if not shutil.which('named') or not shutil.which('tsig-keygen') or not shutil.which('dig'):
        pytest.skip('BIND 9 (named, tsig-keygen, dig) is not installed')
    zone = BindZone(tmp_path_factory.mktemp('bind'))
    zone.start()
    yield zone
    zone.stop()


@pytest.fixture
def unique():
    """A record name no other test uses (the zone is shared by the session)."""
    return 'r%d' % next(_COUNTER)
