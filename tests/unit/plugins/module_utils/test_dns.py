# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/dns_client.py, dns_update.py, dns_verify.py: key parsing, planning, the UPDATE text, and the wire paths that the
modules cannot easily provoke (a race between read and update, BADTIME, an unsigned answer)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import threading
import time
import types

import pytest

import dns.message
import dns.name
import dns.rdatatype
import dns.renderer

from ansible_collections.genesys_dr.framework.plugins.module_utils import dns_client
from ansible_collections.genesys_dr.framework.plugins.module_utils import dns_update
from ansible_collections.genesys_dr.framework.plugins.module_utils import dns_verify

pytest_plugins = ['ansible_collections.genesys_dr.framework.tests.unit.plugins.conftest_dns']

ZONE = dns.name.from_text('example.test.')
SECRET = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I='


def params(**extra):
    base = dict(key_name=None, key_secret=None, key_algorithm='hmac-sha256', key_file=None)
    base.update(extra)
    return base


def client_for(bind_zone, **overrides):
    options = dict(bind_zone.connection_args(), key_algorithm='hmac-sha256', key_file=None, protocol='tcp')
    options.update(overrides)
    return dns_client.DNSClient.from_params(options)


def request(name, rdtype, values=None, state='present', expect=None, ttl=None):
    zone = ZONE
    record = dict(name=name, type=rdtype, value=values, state=state, expect=expect, ttl=ttl)
    return dns_update.RecordRequest.from_param(record, zone)


def rrstate(name, rdtype, values, ttl=60):
    owner = dns_client.absolute_name(name, ZONE)
    kind = dns_client.record_type(rdtype)
    return dns_client.RRState(owner, kind, ttl, dns_client.make_rdatas(owner, kind, values, ZONE))


# ------------------------------------------------------------------ keys

KEYGEN_OUTPUT = 'key "ddns-key" {\n\talgorithm hmac-sha256;\n\tsecret "ab//cd+ef/gh==";\n};\n'


def test_parse_key_file_reads_tsig_keygen_output_and_keeps_slashes_in_secret():
    assert dns_client.parse_key_file(KEYGEN_OUTPUT) == [dict(name='ddns-key', algorithm='hmac-sha256', secret='ab//cd+ef/gh==')]


def test_parse_key_file_ignores_comments_and_reads_several_keys():
    text = '''# comment key "fake" { algorithm hmac-md5; secret "x"; };
/* key "also-fake" { algorithm hmac-md5; secret "y"; }; */
key second { algorithm HMAC-SHA512; // trailing comment
  secret "AAAA"; };
''' + KEYGEN_OUTPUT
    keys = dns_client.parse_key_file(text)
    assert [(k['name'], k['algorithm'], k['secret']) for k in keys] == [('second', 'hmac-sha512', 'AAAA'), ('ddns-key', 'hmac-sha256', 'ab//cd+ef/gh==')]


@pytest.mark.parametrize('text, expected', [
    ('', 'no key statement found'),
    ('key "k" { algorithm hmac-sha256; };', 'lacks the algorithm or the secret'),
])
def test_parse_key_file_errors(text, expected):
    with pytest.raises(dns_client.DNSError) as raised:
        dns_client.parse_key_file(text)
    assert expected in str(raised.value) and raised.value.kind == 'config'


def test_key_from_file_selects_by_name(tmp_path):
    path = tmp_path / 'keys.conf'
    path.write_text('key "one" { algorithm hmac-sha256; secret "%s"; };\nkey "two" { algorithm hmac-sha384; secret "%s"; };\n' % (SECRET, SECRET))
    key = dns_client.TsigKey.from_params(params(key_file=str(path), key_name='two'))
    assert key.text_name == 'two' and key.algorithm == 'hmac-sha384'
    with pytest.raises(dns_client.DNSError) as several:
        dns_client.TsigKey.from_params(params(key_file=str(path)))
    assert 'holds several keys (one, two): set key_name' in str(several.value)
    with pytest.raises(dns_client.DNSError) as missing:
        dns_client.TsigKey.from_params(params(key_file=str(path), key_name='three'))
    assert 'holds no key named "three"' in str(missing.value)
    with pytest.raises(dns_client.DNSError) as unreadable:
        dns_client.TsigKey.from_params(params(key_file=str(tmp_path / 'nope')))
    assert 'cannot read key_file' in str(unreadable.value)


@pytest.mark.parametrize('secret, algorithm, expected', [
    ('not base64!', 'hmac-sha256', 'is not a non-empty base64 string'),
    ('', 'hmac-sha256', 'is not a non-empty base64 string'),
    (SECRET, 'hmac-sha3', 'supported: hmac-md5'),
])
def test_bad_key_material(secret, algorithm, expected):
    with pytest.raises(dns_client.DNSError) as raised:
        dns_client.TsigKey('k', secret, algorithm)
    assert expected in str(raised.value)
    if secret:
        assert secret not in str(raised.value)


# ------------------------------------------------------------------ names and data

@pytest.mark.parametrize('text, expected', [
    ('@', 'example.test.'),
    ('cs-master', 'cs-master.example.test.'),
    ('cs-master.example.test.', 'cs-master.example.test.'),
    ('cs-master.example.test', 'cs-master.example.test.'),
    ('a.b', 'a.b.example.test.'),
])
def test_absolute_name(text, expected):
    assert dns_client.absolute_name(text, ZONE).to_text() == expected


def test_absolute_name_outside_zone():
    with pytest.raises(dns_client.DNSError) as raised:
        dns_client.absolute_name('host.other.test.', ZONE)
    assert 'is outside zone example.test.' in str(raised.value)


def test_txt_values_are_one_record_of_literal_strings():
    rdatas = dns_client.make_rdatas(ZONE, dns.rdatatype.TXT, ['b=2', 'a=1 "x"'], ZONE)
    assert len(rdatas) == 1
    assert next(iter(rdatas)).strings == (b'b=2', b'a=1 "x"')
    assert dns_client.rdata_values(dns.rdatatype.TXT, rdatas) == ['b=2', 'a=1 "x"']


def test_relative_names_in_values_are_relative_to_the_zone():
    rdatas = dns_client.make_rdatas(ZONE, dns.rdatatype.CNAME, ['target'], ZONE)
    assert dns_client.rdata_values(dns.rdatatype.CNAME, rdatas) == ['target.example.test.']


def test_serial_arithmetic_wraps():
    assert dns_client.serial_at_least(5, 5)
    assert dns_client.serial_at_least(6, 5)
    assert not dns_client.serial_at_least(4, 5)
    assert dns_client.serial_at_least(3, 4294967290)
    assert not dns_client.serial_at_least(4294967290, 3)


# ------------------------------------------------------------------ planning

def test_plan_compare_and_swap_outcomes():
    expected = dns_update.RecordPlan(request('cs', 'A', ['192.0.2.2'], expect=['192.0.2.1']), rrstate('cs', 'A', ['192.0.2.1']))
    assert expected.changed and expected.compare_and_swap == 'expected' and expected.prerequisite == rrstate('cs', 'A', ['192.0.2.1']).rdatas
    assert expected.after.ttl == 60
    already = dns_update.RecordPlan(request('cs', 'A', ['192.0.2.2'], expect=['192.0.2.1']), rrstate('cs', 'A', ['192.0.2.2']))
    assert not already.changed and already.compare_and_swap == 'already_target' and already.conflict is None
    moved = dns_update.RecordPlan(request('cs', 'A', ['192.0.2.2'], expect=['192.0.2.1']), rrstate('cs', 'A', ['192.0.2.9']))
    assert moved.conflict == "cs.example.test. A: expected ['192.0.2.1'] (compare-and-swap) but the primary serves ['192.0.2.9']"
    new = dns_update.RecordPlan(request('cs', 'A', ['192.0.2.2'], expect=[]), rrstate('cs', 'A', []))
    assert new.changed and new.prerequisite == frozenset() and new.after.ttl == dns_update.DEFAULT_TTL


def test_plan_ttl_change_and_partial_delete():
    ttl_only = dns_update.RecordPlan(request('cs', 'A', ['192.0.2.2'], ttl=30), rrstate('cs', 'A', ['192.0.2.2']))
    assert ttl_only.changed and ttl_only.after.ttl == 30
    partial = dns_update.RecordPlan(request('cs', 'A', ['192.0.2.2'], state='absent'), rrstate('cs', 'A', ['192.0.2.2', '192.0.2.3']))
    assert partial.changed and partial.after.values == ['192.0.2.3']
    gone = dns_update.RecordPlan(request('cs', 'A', None, state='absent'), rrstate('cs', 'A', []))
    assert not gone.changed


def test_duplicate_records_are_refused():
    records = [dict(name='cs', type='A', value=['192.0.2.1'], state='present', expect=None, ttl=None)] * 2
    with pytest.raises(dns_client.DNSError) as raised:
        dns_update.records_from_params(records, ZONE)
    assert 'cs.example.test. A is listed twice' in str(raised.value)


def test_update_text_for_every_prerequisite_kind():
    client = dns_client.DNSClient('192.0.2.53', 53, ZONE, dns_client.TsigKey('k', SECRET, 'hmac-sha256'))
    plans = [dns_update.RecordPlan(request('cs', 'A', ['192.0.2.2'], expect=['192.0.2.1']), rrstate('cs', 'A', ['192.0.2.1'])),
             dns_update.RecordPlan(request('old', 'TXT', None, state='absent', expect=['x']), rrstate('old', 'TXT', ['x']))]
    owner = dns_client.absolute_name('www', ZONE)
    extra = [dns_update.Prerequisite('yxdomain', owner), dns_update.Prerequisite('nxdomain', dns_client.absolute_name('free', ZONE)),
             dns_update.Prerequisite('yxrrset', owner, dns.rdatatype.AAAA)]
    update = dns_update.build_update(client, plans, extra)
    assert update.keyname.to_text() == 'k.'
    assert dns_update.update_lines(update) == dict(
        prerequisites=['prereq yxrrset cs.example.test. A 192.0.2.1', 'prereq yxrrset old.example.test. TXT "x"',
                       'prereq yxdomain www.example.test.', 'prereq nxdomain free.example.test.', 'prereq yxrrset www.example.test. AAAA'],
        changes=['update delete cs.example.test. A', 'update add cs.example.test. 60 A 192.0.2.2', 'update delete old.example.test. TXT'])
    unchanged = [dns_update.RecordPlan(request('cs', 'A', ['192.0.2.1']), rrstate('cs', 'A', ['192.0.2.1']))]
    assert dns_update.build_update(client, unchanged) is None


# ------------------------------------------------------------------ against BIND

def test_record_changed_between_read_and_update_fails_the_whole_update(bind_zone, unique):
    bind_zone.nsupdate('update add %s.%s. 60 A 192.0.2.1' % (unique, bind_zone.zone))
    client = client_for(bind_zone)
    requests = dns_update.records_from_params([
        dict(name=unique, type='A', value=['192.0.2.2'], state='present', expect=['192.0.2.1'], ttl=None),
        dict(name='other-' + unique, type='A', value=['192.0.2.3'], state='present', expect=None, ttl=None)], client.zone)
    plans = dns_update.plan_records(client, requests)
    update = dns_update.build_update(client, plans)
    bind_zone.nsupdate('update delete %s.%s. A\nupdate add %s.%s. 60 A 192.0.2.7' % (unique, bind_zone.zone, unique, bind_zone.zone))
    serial = bind_zone.serial()
    with pytest.raises(dns_client.DNSError) as raised:
        dns_update.apply_update(client, update, plans)
    assert raised.value.kind == 'prerequisite'
    assert str(raised.value) == ("prerequisite failed (NXRRSET): the record is no longer what you expected; %s.%s. A is now ['192.0.2.7'] "
                                 "(expected ['192.0.2.1']). Nothing was changed." % (unique, bind_zone.zone))
    assert bind_zone.serial() == serial
    assert bind_zone.dig('other-' + unique, 'A') == []


def test_name_prerequisites_on_a_real_server(bind_zone, unique):
    client = client_for(bind_zone)
    plans = dns_update.plan_records(client, dns_update.records_from_params(
        [dict(name=unique, type='A', value=['192.0.2.4'], state='present', expect=None, ttl=None)], client.zone))
    in_use = dns_client.absolute_name('ns1', client.zone)
    free = dns_client.absolute_name('free-' + unique, client.zone)
    with pytest.raises(dns_client.DNSError) as raised:
        dns_update.apply_update(client, dns_update.build_update(client, plans, [dns_update.Prerequisite('nxdomain', in_use)]), plans)
    assert raised.value.kind == 'prerequisite' and '(YXDOMAIN)' in str(raised.value)
    assert bind_zone.dig(unique, 'A') == []
    prerequisites = [dns_update.Prerequisite('yxdomain', in_use), dns_update.Prerequisite('nxdomain', free)]
    observed = dns_update.apply_update(client, dns_update.build_update(client, plans, prerequisites), plans)
    assert observed[0].values == ['192.0.2.4'] and bind_zone.dig(unique, 'A') == ['192.0.2.4']


def test_clock_skew_is_reported_as_badtime(bind_zone, monkeypatch):
    # dnspython takes the signing time from time.time() in dns.renderer (2.3) or dns.message (2.9).
    skewed = types.SimpleNamespace(time=lambda: time.time() - 3600)
    monkeypatch.setattr(dns.renderer, 'time', skewed)
    monkeypatch.setattr(dns.message, 'time', skewed)
    with pytest.raises(dns_client.DNSError) as raised:
        client_for(bind_zone).read_serial()
    assert raised.value.kind == 'auth' and 'BADTIME' in str(raised.value) and 'NTP' in str(raised.value)


@pytest.fixture
def unsigned_udp_server():
    """A UDP 'DNS server' on 127.0.0.1 that answers every query unsigned, with an empty answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except socket.timeout:
                continue
            end = 12
            while data[end]:
                end += data[end] + 1
            end += 5
            flags = bytes([data[2] | 0x84, 0])
            sock.sendto(data[:2] + flags + b'\x00\x01\x00\x00\x00\x00\x00\x00' + data[12:end], peer)

    thread = threading.Thread(target=serve)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_unsigned_answer_is_not_trusted(unsigned_udp_server):
    client = dns_client.DNSClient('127.0.0.1', unsigned_udp_server, ZONE, dns_client.TsigKey('k', SECRET, 'hmac-sha256'), timeout=2, protocol='udp')
    with pytest.raises(dns_client.DNSError) as raised:
        client.read_serial()
    assert 'answered without a TSIG signature' in str(raised.value) and raised.value.kind == 'auth', str(raised.value)


def test_wait_for_servers_stops_polling_a_server_that_rejects_the_key(bind_zone):
    good = client_for(bind_zone)
    serial = good.read_serial()
    bad = client_for(bind_zone, key_secret=bind_zone.other_key_secret)
    started = time.monotonic()
    results, warnings = dns_verify.wait_for_servers(bad, bind_zone.verify_servers(), [], serial, timeout=10)
    assert time.monotonic() - started < 5
    assert warnings == []
    assert [r['in_sync'] for r in results] == [False, False] and all('BADSIG' in r['error'] for r in results)
    message = dns_verify.out_of_sync_message(results, serial, 10)
    assert 'primary: ' in message and 'secondary1: ' in message
    synced, _warnings = dns_verify.wait_for_servers(good, bind_zone.verify_servers(), [], serial, timeout=10)
    assert dns_verify.out_of_sync_message(synced, serial, 10) is None


def test_wait_false_observes_each_server_once(bind_zone):
    client = client_for(bind_zone)
    serial = client.read_serial()
    started = time.monotonic()
    results, _warnings = dns_verify.wait_for_servers(client, bind_zone.verify_servers(), [], serial + 1000, timeout=30, wait=False)
    assert time.monotonic() - started < 5
    assert [r['in_sync'] for r in results] == [False, False] and results[0]['serial'] == serial
