# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dns_record_info against a real BIND primary + secondary (tests/unit/plugins/bindserver.py): what it
reports is what dig reads from each server, a server that does not answer is reported and not a
failure, and nothing is ever sent to the zone (its serial does not move)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.genesys_dr.framework.plugins.modules import dns_record_info
from ansible_collections.genesys_dr.framework.tests.unit.plugins.bindserver import ADDRESS, free_port

pytest_plugins = ['ansible_collections.genesys_dr.framework.tests.unit.plugins.conftest_dns']


def test_every_server_answers_what_dig_reads_and_nothing_is_sent(run_module, bind_zone, unique):
    bind_zone.nsupdate('update add %s.%s. 45 A 192.0.2.61\nupdate add %s.%s. 45 A 192.0.2.62' % (
        unique, bind_zone.zone, unique, bind_zone.zone))
    serial = bind_zone.serial()
    for secondary in bind_zone.secondaries:
        bind_zone.wait_for_serial(secondary, serial)
    servers = bind_zone.verify_servers()

    result = run_module(dns_record_info, bind_zone.connection_args(name=unique, servers=servers))
    assert not result['failed'] and not result['changed'], result
    assert (result['name'], result['type']) == ('%s.%s.' % (unique, bind_zone.zone), 'A')
    assert [a['server'] for a in result['answers']] == [s['name'] for s in servers]
    for answer, server in zip(result['answers'], [bind_zone.primary] + bind_zone.secondaries):
        assert answer['value'] == bind_zone.dig(unique, 'A', server) == ['192.0.2.61', '192.0.2.62']
        assert (answer['ttl'], answer['error'], answer['error_kind']) == (45, None, None)
    assert result['agree'] is True
    assert bind_zone.serial() == serial

    # No record: an empty answer, which every server gives alike.
    missing = run_module(dns_record_info, bind_zone.connection_args(name=unique + '-none', servers=servers), check_mode=True)
    assert [a['value'] for a in missing['answers']] == [[]] * len(servers) and missing['agree'] is True


def test_the_primary_alone_by_default_and_txt_values(run_module, bind_zone, unique):
    bind_zone.nsupdate('update add _s.%s.%s. 30 TXT "state=NORMAL" "site=east"' % (unique, bind_zone.zone))
    result = run_module(dns_record_info, bind_zone.connection_args(name='_s.' + unique, type='txt'))
    assert not result['failed'], result
    [answer] = result['answers']
    assert answer['server'] == ADDRESS and answer['value'] == ['state=NORMAL', 'site=east'] and result['type'] == 'TXT'


def test_a_silent_server_and_a_wrong_key_are_reported_not_failed(run_module, bind_zone, unique):
    bind_zone.nsupdate('update add %s.%s. 30 A 192.0.2.63' % (unique, bind_zone.zone))
    silent = dict(name='silent', address=ADDRESS, port=free_port())
    result = run_module(dns_record_info, bind_zone.connection_args(name=unique, servers=[bind_zone.verify_servers()[0], silent],
                                                                   timeout=1))
    assert not result['failed'], result
    primary, down = result['answers']
    assert primary['value'] == ['192.0.2.63'] and primary['error'] is None
    assert down['value'] is None and down['error_kind'] == 'unreachable' and 'server silent' in down['error']
    assert result['agree'] is False

    wrong = run_module(dns_record_info, bind_zone.connection_args(name=unique, key_secret=bind_zone.other_key_secret))
    assert not wrong['failed'] and wrong['answers'][0]['error_kind'] == 'auth' and wrong['agree'] is False
    assert bind_zone.other_key_secret not in str(wrong)


@pytest.mark.parametrize('override, message', [
    (dict(type='NOPE'), 'record type "NOPE" is not a DNS record type'),
    (dict(name='outside.example.org.'), 'is outside zone'),
])
def test_options_that_cannot_be_right_fail(run_module, bind_zone, override, message):
    result = run_module(dns_record_info, bind_zone.connection_args(**dict(dict(name='x'), **override)))
    assert result['failed'] and message in result['msg'], result
