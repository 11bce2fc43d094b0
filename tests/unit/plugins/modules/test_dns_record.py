# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""dns_record against a real BIND primary + secondary (see tests/unit/plugins/bindserver.py).

Every effect is read back with dig (or nsupdate for changes behind the module's back),
never only from the module's own return.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import threading
import time

import pytest

from ansible_collections.genesys_dr.framework.plugins.modules import dns_record
from ansible_collections.genesys_dr.framework.tests.unit.plugins.bindserver import free_port

pytest_plugins = ['ansible_collections.genesys_dr.framework.tests.unit.plugins.conftest_dns']

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def a_record(name, *values, **extra):
    record = dict(name=name, type='A', value=list(values))
    record.update(extra)
    return record


def test_creates_a_record_and_dig_reads_it_back(run_module, bind_zone, unique):
    serial = bind_zone.serial()
    result = run_module(dns_record, bind_zone.connection_args(records=[a_record(unique, '192.0.2.10', ttl=30)]))
    assert not result['failed'], result
    assert result['changed'] is True
    assert bind_zone.dig(unique, 'A') == ['192.0.2.10']
    assert bind_zone.serial() == serial + 1 == result['serial']
    entry = result['records'][0]
    assert entry['name'] == '%s.%s.' % (unique, bind_zone.zone)
    assert entry['before'] == dict(exists=False, ttl=None, value=[], rdata=[])
    assert entry['after'] == dict(exists=True, ttl=30, value=['192.0.2.10'], rdata=['192.0.2.10'])
    assert result['update']['sent'] is True
    assert result['update']['changes'] == ['update delete %s A' % entry['name'], 'update add %s 30 A 192.0.2.10' % entry['name']]


def test_second_identical_run_changes_nothing(run_module, bind_zone, unique):
    args = bind_zone.connection_args(records=[a_record(unique, '192.0.2.11', '192.0.2.12')])
    assert run_module(dns_record, args)['changed'] is True
    serial = bind_zone.serial()
    again = run_module(dns_record, args)
    assert not again['failed'], again
    assert again['changed'] is False
    assert again['update'] == dict(zone=bind_zone.zone + '.', prerequisites=[], changes=[], sent=False)
    assert bind_zone.serial() == serial == again['serial']
    assert bind_zone.dig(unique, 'A') == ['192.0.2.11', '192.0.2.12']


def test_a_and_txt_change_in_one_update(run_module, bind_zone, unique):
    bind_zone.nsupdate('update add %s.%s. 60 A 192.0.2.20' % (unique, bind_zone.zone))
    serial = bind_zone.serial()
    records = [a_record(unique, '192.0.2.21', expect=['192.0.2.20']),
               dict(name='_info.' + unique, type='TXT', value=['state=NORMAL', 'with space "quoted"'])]
    result = run_module(dns_record, bind_zone.connection_args(records=records))
    assert not result['failed'], result
    assert bind_zone.dig(unique, 'A') == ['192.0.2.21']
    assert bind_zone.dig('_info.' + unique, 'TXT') == ['"state=NORMAL" "with space \\"quoted\\""']
    # One UPDATE message, one serial increment.
    assert bind_zone.serial() == serial + 1
    assert result['records'][0]['compare_and_swap'] == 'expected'
    assert result['records'][1]['after']['value'] == ['state=NORMAL', 'with space "quoted"']
    assert result['update']['prerequisites'] == ['prereq yxrrset %s.%s. A 192.0.2.20' % (unique, bind_zone.zone)]


def test_compare_and_swap_refused_when_record_moved_and_nothing_changes(run_module, bind_zone, unique):
    bind_zone.nsupdate('update add %s.%s. 60 A 192.0.2.31' % (unique, bind_zone.zone))
    serial = bind_zone.serial()
    records = [a_record(unique, '192.0.2.32', expect=['192.0.2.30']),
               dict(name='_info.' + unique, type='TXT', value=['other change'])]
    result = run_module(dns_record, bind_zone.connection_args(records=records))
    assert result['failed']
    assert result['changed'] is False
    assert 'compare-and-swap refused' in result['msg']
    assert "%s.%s. A: expected ['192.0.2.30']" % (unique, bind_zone.zone) in result['msg']
    assert "serves ['192.0.2.31']" in result['msg']
    assert result['records'][0]['before']['value'] == ['192.0.2.31'] and result['update']['sent'] is False
    assert bind_zone.dig(unique, 'A') == ['192.0.2.31']
    assert bind_zone.dig('_info.' + unique, 'TXT') == []
    assert bind_zone.serial() == serial


def test_compare_and_swap_already_at_target_is_satisfied_by_result(run_module, bind_zone, unique):
    args = bind_zone.connection_args(records=[a_record(unique, '192.0.2.41', expect=['192.0.2.40'])])
    bind_zone.nsupdate('update add %s.%s. 60 A 192.0.2.40' % (unique, bind_zone.zone))
    first = run_module(dns_record, args)
    assert first['changed'] is True and first['records'][0]['compare_and_swap'] == 'expected'
    serial = bind_zone.serial()
    second = run_module(dns_record, args)
    assert not second['failed'], second
    assert second['changed'] is False
    assert second['records'][0]['compare_and_swap'] == 'already_target'
    assert bind_zone.serial() == serial
    assert bind_zone.dig(unique, 'A') == ['192.0.2.41']


def test_expect_empty_means_must_not_exist(run_module, bind_zone, unique):
    args = bind_zone.connection_args(records=[a_record(unique, '192.0.2.50', expect=[])])
    created = run_module(dns_record, args)
    assert created['changed'] is True
    assert created['update']['prerequisites'] == ['prereq nxrrset %s.%s. A' % (unique, bind_zone.zone)]
    bind_zone.nsupdate('update delete %s.%s. A\nupdate add %s.%s. 60 A 192.0.2.51' % (unique, bind_zone.zone, unique, bind_zone.zone))
    refused = run_module(dns_record, args)
    assert refused['failed']
    assert 'expected no record' in refused['msg'] and '192.0.2.51' in refused['msg']
    assert bind_zone.dig(unique, 'A') == ['192.0.2.51']


def test_absent_removes_the_rrset_or_only_given_values(run_module, bind_zone, unique):
    bind_zone.nsupdate('update add %s.%s. 60 A 192.0.2.60\nupdate add %s.%s. 60 A 192.0.2.61' % (unique, bind_zone.zone, unique, bind_zone.zone))
    one = run_module(dns_record, bind_zone.connection_args(records=[a_record(unique, '192.0.2.60', state='absent')]))
    assert one['changed'] is True
    assert one['update']['changes'] == ['update delete %s.%s. A 192.0.2.60' % (unique, bind_zone.zone)]
    assert bind_zone.dig(unique, 'A') == ['192.0.2.61']
    args = bind_zone.connection_args(records=[dict(name=unique, type='A', state='absent')])
    assert run_module(dns_record, args)['changed'] is True
    assert bind_zone.dig(unique, 'A') == []
    assert run_module(dns_record, args)['changed'] is False


def test_check_mode_reports_the_update_and_sends_nothing(run_module, bind_zone, unique):
    bind_zone.nsupdate('update add %s.%s. 60 A 192.0.2.70' % (unique, bind_zone.zone))
    serial = bind_zone.serial()
    args = bind_zone.connection_args(records=[a_record(unique, '192.0.2.71', expect=['192.0.2.70'])],
                                     verify_servers=bind_zone.verify_servers())
    result = run_module(dns_record, args, check_mode=True, diff=True)
    assert not result['failed'], result
    assert result['changed'] is True
    assert result['update']['sent'] is False
    assert 'update add %s.%s. 60 A 192.0.2.71' % (unique, bind_zone.zone) in result['update']['changes']
    assert result['records'][0]['after']['value'] == ['192.0.2.71']
    assert result['diff']['before'] == '%s.%s. 60 IN A 192.0.2.70\n' % (unique, bind_zone.zone)
    assert result['diff']['after'] == '%s.%s. 60 IN A 192.0.2.71\n' % (unique, bind_zone.zone)
    # The servers are observed once, they do not serve the planned data yet.
    assert [server['in_sync'] for server in result['servers']] == [False, False]
    assert bind_zone.serial() == serial
    assert bind_zone.dig(unique, 'A') == ['192.0.2.70']


def test_diff_mode_shows_before_and_after(run_module, bind_zone, unique):
    bind_zone.nsupdate('update add %s.%s. 60 A 192.0.2.80' % (unique, bind_zone.zone))
    result = run_module(dns_record, bind_zone.connection_args(records=[a_record(unique, '192.0.2.81')]), diff=True)
    assert result['diff']['before'] == '%s.%s. 60 IN A 192.0.2.80\n' % (unique, bind_zone.zone)
    assert result['diff']['after'] == '%s.%s. 60 IN A 192.0.2.81\n' % (unique, bind_zone.zone)


def test_bad_secret_fails_with_badsig_and_changes_nothing(run_module, bind_zone, unique):
    serial = bind_zone.serial()
    args = bind_zone.connection_args(key_secret=bind_zone.other_key_secret, records=[a_record(unique, '192.0.2.90')])
    result = run_module(dns_record, args)
    assert result['failed']
    assert 'BADSIG' in result['msg'] and 'check key_secret or key_file' in result['msg']
    assert bind_zone.other_key_secret not in json.dumps(result)
    assert bind_zone.serial() == serial
    assert bind_zone.dig(unique, 'A') == []


def test_unknown_key_name_fails_with_badkey(run_module, bind_zone, unique):
    args = bind_zone.connection_args(key_name='no-such-key', records=[a_record(unique, '192.0.2.91')])
    result = run_module(dns_record, args)
    assert result['failed']
    assert 'does not know TSIG key "no-such-key"' in result['msg'] and 'BADKEY' in result['msg']
    assert bind_zone.dig(unique, 'A') == []


def test_key_not_allowed_to_update_is_refused(run_module, bind_zone, unique):
    serial = bind_zone.serial()
    args = bind_zone.connection_args(key_name=bind_zone.other_key_name, key_secret=bind_zone.other_key_secret,
                                     records=[a_record(unique, '192.0.2.92')])
    result = run_module(dns_record, args)
    assert result['failed']
    assert 'refused the update' in result['msg'] and 'allow-update' in result['msg']
    assert bind_zone.serial() == serial


@pytest.mark.parametrize('protocol, expected', [('tcp', 'cannot reach primary server'), ('udp', 'no answer from primary server')])
def test_unreachable_server(run_module, bind_zone, unique, protocol, expected):
    args = bind_zone.connection_args(port=free_port(), protocol=protocol, timeout=0.5, records=[a_record(unique, '192.0.2.93')])
    result = run_module(dns_record, args)
    assert result['failed']
    assert expected in result['msg'] and 'check the server address and port' in result['msg']


@pytest.mark.parametrize('zone, expected', [
    ('missing.{zone}', 'does not exist on primary server'),
    ('ns1.{zone}', 'is not a zone on primary server'),
    ('not-served.invalid', 'refused the query'),
])
def test_wrong_zone(run_module, bind_zone, unique, zone, expected):
    args = bind_zone.connection_args(zone=zone.format(zone=bind_zone.zone), records=[a_record(unique, '192.0.2.94')])
    result = run_module(dns_record, args)
    assert result['failed']
    assert expected in result['msg'], result['msg']


@pytest.mark.parametrize('record, expected', [
    (dict(type='A', value=['not-an-address']), 'is not valid A data'),
    (dict(type='BOGUS', value=['x']), 'is not a DNS record type'),
    (dict(type='A'), 'state is present but all of the following are missing: value'),
    (dict(type='A', value=[]), 'state=present needs at least one value; use state=absent'),
    (dict(type='TXT', value=['x' * 256]), 'at most 255'),
    (dict(type='A', value=['192.0.2.1'], name='host.elsewhere.invalid.'), 'is outside zone'),
])
def test_invalid_records(run_module, bind_zone, unique, record, expected):
    record = dict(dict(name=unique), **record)
    result = run_module(dns_record, bind_zone.connection_args(records=[record]))
    assert result['failed']
    assert expected in result['msg'], result['msg']


def test_key_file_and_key_options_are_exclusive(run_module, bind_zone, unique):
    ok = run_module(dns_record, dict(server='127.0.0.1', port=bind_zone.primary.port, zone=bind_zone.zone, key_file=bind_zone.key_file,
                                     records=[a_record(unique, '192.0.2.95')]))
    assert ok['changed'] is True
    assert bind_zone.dig(unique, 'A') == ['192.0.2.95']
    both = run_module(dns_record, bind_zone.connection_args(key_file=bind_zone.key_file, records=[a_record(unique, '192.0.2.95')]))
    assert both['failed'] and 'mutually exclusive' in both['msg']


def test_verify_waits_until_the_secondary_serves_the_new_serial(run_module, bind_zone, unique):
    secondary = bind_zone.secondaries[0]
    args = bind_zone.connection_args(records=[a_record(unique, '192.0.2.100')], verify_servers=bind_zone.verify_servers(),
                                     verify_timeout=20)
    secondary.pause()
    timer = threading.Timer(1.5, secondary.resume)
    timer.start()
    started = time.monotonic()
    try:
        result = run_module(dns_record, args)
    finally:
        timer.join()
    assert not result['failed'], result
    assert time.monotonic() - started >= 1.4
    assert [server['in_sync'] for server in result['servers']] == [True, True]
    assert result['servers'][1]['serial'] >= result['serial']
    assert result['servers'][1]['answer'] == {'%s.%s. A' % (unique, bind_zone.zone): ['192.0.2.100']}
    assert bind_zone.dig(unique, 'A', secondary) == ['192.0.2.100']


def test_verify_fails_when_a_server_answers_old_data(run_module, bind_zone, unique):
    cut_off = bind_zone.cut_off_secondary()
    try:
        servers = bind_zone.verify_servers() + [dict(name=cut_off.label, address=cut_off.address, port=cut_off.port)]
        args = bind_zone.connection_args(records=[a_record(unique, '192.0.2.101')], verify_servers=servers, verify_timeout=1.5)
        result = run_module(dns_record, args)
        stale_answer = bind_zone.dig(unique, 'A', cut_off)
    finally:
        cut_off.stop()
    assert result['failed']
    assert result['changed'] is True
    assert 'not every DNS server serves the new data' in result['msg'] and 'cutoff1 serves serial 1' in result['msg']
    assert 'primary:' not in result['msg'] and 'secondary1' not in result['msg']
    assert [server['in_sync'] for server in result['servers']] == [True, True, False]
    assert result['servers'][2]['answered'] is True
    assert stale_answer == []
    assert bind_zone.dig(unique, 'A') == ['192.0.2.101']


@pytest.mark.parametrize('query_timeout, verify_timeout', [(1, 30), (3, 1.5)], ids=['given-up-after-timeout', 'deadline-first'])
def test_verify_does_not_fail_on_a_server_that_does_not_answer(run_module, bind_zone, unique, query_timeout, verify_timeout):
    """A frozen secondary is reported, not waited for until the deadline, and fails nothing: the update is done."""
    secondary = bind_zone.secondaries[0]
    args = bind_zone.connection_args(records=[a_record(unique, '192.0.2.103')], verify_servers=bind_zone.verify_servers(),
                                     verify_timeout=verify_timeout, timeout=query_timeout)
    secondary.pause()
    started = time.monotonic()
    try:
        result = run_module(dns_record, args)
        elapsed = time.monotonic() - started
        frozen_answer = bind_zone.dig(unique, 'A', secondary)
    finally:
        secondary.resume()
    assert not result['failed'], result
    assert result['changed'] is True
    assert [server['in_sync'] for server in result['servers']] == [True, False]
    assert [server['answered'] for server in result['servers']] == [True, False]
    assert len(result['warnings']) == 1 and result['warnings'][0].startswith('DNS server secondary1 did not answer for ')
    assert 'no answer from DNS server secondary1' in result['warnings'][0]
    # Given up, not polled until the deadline of 30 s.
    assert elapsed < 30
    assert frozen_answer is None
    assert bind_zone.dig(unique, 'A') == ['192.0.2.103']
    # Back, it fetches the new zone by itself.
    bind_zone.wait_for_serial(secondary, result['serial'])
    assert bind_zone.dig(unique, 'A', secondary) == ['192.0.2.103']


def test_verify_skips_a_lost_server_with_a_warning(run_module, bind_zone, unique):
    servers = bind_zone.verify_servers()
    servers[1].update(skip=True, skip_reason='site2 is lost', address='192.0.2.250')
    args = bind_zone.connection_args(records=[a_record(unique, '192.0.2.102')], verify_servers=servers, verify_timeout=5)
    result = run_module(dns_record, args)
    assert not result['failed'], result
    assert result['warnings'] == ['DNS server secondary1 was not verified: site2 is lost']
    assert result['servers'][1]['skipped'] is True and result['servers'][1]['in_sync'] is None
    assert result['servers'][0]['in_sync'] is True


def ansible_adhoc(module, args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='minimal',
               ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_NOCOLOR='1')
    return subprocess.Popen([os.path.join(TOP, '.venv', 'bin', 'ansible'), 'localhost', '-m', 'genesys_dr.framework.' + module,
                             '-a', json.dumps(args), '-e', 'ansible_python_interpreter=/usr/bin/python3'],
                            cwd=TOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def adhoc_result(proc):
    """(status, result, whole output) of `ansible localhost` with the minimal callback."""
    output = proc.communicate(timeout=60)[0]
    head, sep, body = output.partition('localhost | ')
    assert sep, output
    status, sep, body = body.partition(' => ')
    return status, json.loads(body), output


@pytest.mark.skipif(not os.path.exists('/usr/bin/python3'), reason='needs the managed hosts\' /usr/bin/python3')
def test_through_ansible_with_debian_python(run_module, bind_zone, unique):
    """End to end through ansible with /usr/bin/python3 and its dnspython 2.3: change, then a bad secret."""
    change = ansible_adhoc('dns_record', bind_zone.connection_args(records=[a_record(unique, '192.0.2.110')],
                                                                   verify_servers=bind_zone.verify_servers()))
    bad = ansible_adhoc('dns_record', bind_zone.connection_args(key_secret=bind_zone.other_key_secret,
                                                                records=[a_record('bad' + unique, '192.0.2.111')]))
    (status, changed, output), (bad_status, failed, bad_output) = adhoc_result(change), adhoc_result(bad)
    assert status == 'CHANGED', output
    assert changed['servers'][1]['in_sync'] is True
    assert bind_zone.dig(unique, 'A') == ['192.0.2.110']
    assert bad_status == 'FAILED!' and 'BADSIG' in failed['msg'], bad_output
    assert bind_zone.other_key_secret not in bad_output and bind_zone.key_secret not in output
    assert bind_zone.dig('bad' + unique, 'A') == []
