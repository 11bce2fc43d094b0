# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The throw-away BIND of the unit tests starts its secondaries deterministically, under any CPU load."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import shutil

import pytest

from ansible_collections.genesys_dr.framework.tests.unit.plugins import bindserver

pytestmark = pytest.mark.skipif(not (shutil.which('named') and shutil.which('tsig-keygen') and shutil.which('dig')),
                                reason='BIND 9 (named, tsig-keygen, dig) is not installed')


class SilentPrimaryZone(bindserver.BindZone):
    """A primary that sends no NOTIFY: a secondary must get the zone from its own first refresh.

    That is the case a loaded machine produces (the primary's startup NOTIFY reaches a secondary that
    does not listen yet); here it is produced on every run.
    """

    def _primary_conf(self, directory, port, secondary_ports):
        return super(SilentPrimaryZone, self)._primary_conf(directory, port, []).replace('notify yes;', 'notify no;')


def test_secondaries_start_only_once_the_primary_serves(tmp_path, monkeypatch):
    zone = bindserver.BindZone(tmp_path, secondaries=2)
    seen = []
    start = bindserver.NamedProcess.start

    def recording_start(server):
        if server.label != 'primary':
            seen.append((server.label, zone.serial(zone.primary, tcp=True), zone.serial(zone.primary, tcp=False)))
        start(server)

    monkeypatch.setattr(bindserver.NamedProcess, 'start', recording_start)
    try:
        zone.start()
    finally:
        zone.stop()
    assert seen == [('secondary1', 1, 1), ('secondary2', 1, 1)]


def test_secondary_serves_without_the_primary_notify(tmp_path):
    zone = SilentPrimaryZone(tmp_path, secondaries=2)
    try:
        zone.start()
        assert [zone.serial(server) for server in zone.secondaries] == [1, 1]
        assert all('transferred serial 1' in server.log() for server in zone.secondaries)
    finally:
        zone.stop()
