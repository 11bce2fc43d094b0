# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""RFC 2136 dynamic updates signed with TSIG, shared by dns_record and dr_state.

Every message (queries included) is signed with the configured key, every answer must be
signed back, and each failure is turned into a DNSError whose text tells the operator
what to fix. Works with dnspython 2.3 (Debian 12) and newer.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import re
import socket
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.genesys_dr.framework.plugins.module_utils.waiting import pauses

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.rdtypes.ANY.TXT
    import dns.tsig
    import dns.tsigkeyring
    import dns.update
except ImportError:
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None


KEY_ALGORITHMS = ('hmac-md5', 'hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512')
DEFAULT_TTL = 3600
# A TXT character-string carries at most 255 octets (RFC 1035 3.3).
TXT_STRING_MAX = 255
POLL_INTERVAL = 0.25
# The shortest per-query timeout used while the verification deadline runs out.
MIN_QUERY_TIMEOUT = 0.2


def dns_connection_argument_spec():
    """Options that say where the zone's primary is and how to sign messages."""
    return dict(
        server=dict(type='str', required=True),
        port=dict(type='int', default=53),
        zone=dict(type='str', required=True),
        key_name=dict(type='str', no_log=False),
        key_secret=dict(type='str', no_log=True),
        key_algorithm=dict(type='str', default='hmac-sha256', choices=list(KEY_ALGORITHMS), no_log=False),
        key_file=dict(type='path', no_log=False),
        timeout=dict(type='float', default=10.0),
        protocol=dict(type='str', default='tcp', choices=['tcp', 'udp']),
    )


# Only explicitly given options count here: Ansible checks exclusivity before defaults.
DNS_CONNECTION_MUTUALLY_EXCLUSIVE = [('key_file', 'key_secret'), ('key_file', 'key_algorithm')]
DNS_CONNECTION_REQUIRED_ONE_OF = [('key_file', 'key_secret')]
DNS_CONNECTION_REQUIRED_BY = {'key_secret': 'key_name'}


def dns_module_options(argument_spec, required_if=None, mutually_exclusive=None):
    """The argument spec of a DNS module with the shared connection constraints, as keyword arguments of
    AnsibleModule (and of an action plugin's validate_argument_spec, which runs the module in process)."""
    return dict(
        argument_spec=argument_spec,
        mutually_exclusive=DNS_CONNECTION_MUTUALLY_EXCLUSIVE + (mutually_exclusive or []),
        required_one_of=DNS_CONNECTION_REQUIRED_ONE_OF,
        required_by=DNS_CONNECTION_REQUIRED_BY,
        required_if=required_if,
    )


def run_dns_module(runner_class, argument_spec, required_if=None, mutually_exclusive=None):
    """main() of a DNS module: the AnsibleModule with the shared connection constraints, then
    ``runner_class(module).run()``; a DNSError fails the module with the runner's partial result."""
    module = AnsibleModule(supports_check_mode=True, **dns_module_options(argument_spec, required_if, mutually_exclusive))
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib('dnspython'), exception=DNSPYTHON_IMPORT_ERROR)
    runner = runner_class(module)
    try:
        module.exit_json(**runner.run())
    except DNSError as exc:
        module.fail_json(msg=str(exc), **runner.result)


def dns_records_argument_spec():
    """The C(records) option: record changes applied together in one UPDATE."""
    return dict(
        type='list',
        elements='dict',
        options=dict(
            name=dict(type='str', required=True),
            type=dict(type='str', required=True),
            value=dict(type='list', elements='str'),
            ttl=dict(type='int'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            expect=dict(type='list', elements='str'),
        ),
        required_if=[('state', 'present', ('value',))],
    )


def dns_verify_argument_spec():
    """The C(verify_servers) and C(verify_timeout) options."""
    return dict(
        verify_servers=dict(
            type='list',
            elements='dict',
            default=[],
            options=dict(
                name=dict(type='str', required=True),
                address=dict(type='str'),
                port=dict(type='int'),
                skip=dict(type='bool', default=False),
                skip_reason=dict(type='str'),
            ),
        ),
        verify_timeout=dict(type='float', default=60.0),
    )


class DNSError(Exception):
    """A failure with an operator-facing message.

    I(kind) lets callers tell the causes apart: C(config), C(auth), C(unreachable),
    C(refused), C(notauth), C(zone), C(prerequisite), C(conflict), C(protocol), C(readback).
    """

    def __init__(self, msg, kind='protocol'):
        super(DNSError, self).__init__(msg)
        self.kind = kind


# --------------------------------------------------------------------------- keys

KEY_FILE_SYNTAX = 'key "name" { algorithm hmac-sha256; secret "base64"; };'
_KEY_FILE_TOKENS = re.compile(r'"[^"]*"|/\*.*?\*/|//[^\n]*|#[^\n]*', re.S)
_KEY_STATEMENT = re.compile(r'\bkey\s+(?:"(?P<qname>[^"]+)"|(?P<name>[^\s{;"]+))\s*\{(?P<body>[^{}]*)\}\s*;')
_KEY_ALGORITHM = re.compile(r'\balgorithm\s+"?(?P<value>[A-Za-z0-9.-]+)"?\s*;')
_KEY_SECRET = re.compile(r'\bsecret\s+"(?P<value>[^"]*)"\s*;')


def _strip_conf_comments(text):
    # Base64 secrets may contain "//", so comments are only removed outside quoted strings.
    return _KEY_FILE_TOKENS.sub(lambda m: m.group(0) if m.group(0).startswith('"') else ' ', text)


def _normalize_algorithm(name):
    algorithm = name.lower().rstrip('.')
    if algorithm == 'hmac-md5.sig-alg.reg.int':
        algorithm = 'hmac-md5'
    return algorithm


def parse_key_file(text):
    """Parse BIND C(key "name" { algorithm ...; secret "..."; };) statements.

    Returns a list of dicts with name, algorithm and secret; raises DNSError when the text
    holds no complete key statement.
    """
    keys = []
    for match in _KEY_STATEMENT.finditer(_strip_conf_comments(text)):
        body = match.group('body')
        algorithm = _KEY_ALGORITHM.search(body)
        secret = _KEY_SECRET.search(body)
        name = match.group('qname') or match.group('name')
        if not algorithm or not secret:
            raise DNSError('key "%s" in the key file lacks the algorithm or the secret: expected %s' % (name, KEY_FILE_SYNTAX), 'config')
        keys.append(dict(name=name, algorithm=_normalize_algorithm(algorithm.group('value')), secret=secret.group('value')))
    if not keys:
        raise DNSError('no key statement found: expected BIND syntax %s' % KEY_FILE_SYNTAX, 'config')
    return keys


class TsigKey(object):
    """A TSIG key ready for dnspython: keyring, key name and algorithm."""

    def __init__(self, name, secret, algorithm):
        self.algorithm = _normalize_algorithm(algorithm)
        if self.algorithm not in KEY_ALGORITHMS:
            raise DNSError('TSIG key "%s" uses algorithm %s; supported: %s' % (name, algorithm, ', '.join(KEY_ALGORITHMS)), 'config')
        secret = ''.join((secret or '').split())
        try:
            if not base64.b64decode(secret, validate=True):
                raise ValueError('empty secret')
        except (binascii.Error, ValueError) as exc:
            raise DNSError('the secret of TSIG key "%s" is not a non-empty base64 string (%s): copy it from the server\'s key statement'
                           % (name, exc), 'config')
        try:
            self.keyring = dns.tsigkeyring.from_text({name: (self.algorithm, secret)})
        except dns.exception.DNSException as exc:
            raise DNSError('TSIG key name "%s" is not a valid DNS name: %s' % (name, exc), 'config')
        self.name = next(iter(self.keyring))
        self.text_name = self.name.to_text(omit_final_dot=True)

    def sign(self, message):
        message.use_tsig(self.keyring, keyname=self.name, algorithm=self.algorithm)

    @classmethod
    def from_params(cls, params):
        """Build the key from key_name/key_secret/key_algorithm or from key_file."""
        if not params.get('key_file'):
            return cls(params['key_name'], params['key_secret'], params['key_algorithm'] or 'hmac-sha256')
        path = params['key_file']
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            raise DNSError('cannot read key_file %s: %s' % (path, exc), 'config')
        try:
            keys = parse_key_file(text)
        except DNSError as exc:
            raise DNSError('key_file %s: %s' % (path, exc), 'config')
        wanted = params.get('key_name')
        if wanted:
            chosen = [k for k in keys if k['name'].rstrip('.').lower() == wanted.rstrip('.').lower()]
            if not chosen:
                raise DNSError('key_file %s holds no key named "%s" (it holds: %s)' % (path, wanted, ', '.join(k['name'] for k in keys)), 'config')
        elif len(keys) > 1:
            raise DNSError('key_file %s holds several keys (%s): set key_name to choose one' % (path, ', '.join(k['name'] for k in keys)), 'config')
        else:
            chosen = keys
        return cls(chosen[0]['name'], chosen[0]['secret'], chosen[0]['algorithm'])


# --------------------------------------------------------------------------- names and data

def zone_name(text):
    try:
        return dns.name.from_text(text.strip().rstrip('.') + '.')
    except dns.exception.DNSException as exc:
        raise DNSError('zone "%s" is not a valid DNS name: %s' % (text, exc), 'config')


def absolute_name(text, zone):
    """Make a record name absolute.

    C(@) is the zone apex, a name ending in a dot is absolute, a name that already ends
    with the zone name is taken as absolute, anything else is relative to the zone.
    """
    text = (text or '').strip()
    zone_text = zone.to_text(omit_final_dot=True).lower()
    try:
        if text in ('', '@'):
            name = zone
        elif text.endswith('.'):
            name = dns.name.from_text(text)
        elif text.lower() == zone_text or text.lower().endswith('.' + zone_text):
            name = dns.name.from_text(text + '.')
        else:
            name = dns.name.from_text(text, origin=zone)
    except dns.exception.DNSException as exc:
        raise DNSError('record name "%s" is not a valid DNS name: %s' % (text, exc), 'config')
    if not name.is_subdomain(zone):
        raise DNSError('record name %s is outside zone %s: use a name in the zone or set zone' % (name, zone), 'config')
    return name


def record_type(text):
    try:
        rdtype = dns.rdatatype.from_text(text.strip().upper())
    except dns.exception.DNSException:
        raise DNSError('record type "%s" is not a DNS record type (A, AAAA, CNAME, TXT, ...)' % text, 'config')
    if dns.rdatatype.is_metatype(rdtype) or rdtype in (dns.rdatatype.ANY, dns.rdatatype.AXFR, dns.rdatatype.IXFR, dns.rdatatype.NONE):
        raise DNSError('record type %s cannot be stored in a zone' % text, 'config')
    return rdtype


def make_rdatas(name, rdtype, values, zone):
    """Turn the C(value) strings of a record into a frozenset of rdata.

    For TXT the whole list is ONE record and each string one character-string, taken
    literally (no zone-file quoting). Other types take zone-file presentation text per
    string, relative names being relative to the zone.
    """
    what = '%s %s' % (name, dns.rdatatype.to_text(rdtype))
    if not values:
        return frozenset()
    if rdtype == dns.rdatatype.TXT:
        strings = []
        for value in values:
            raw = value.encode('utf-8')
            if len(raw) > TXT_STRING_MAX:
                raise DNSError('%s: the string "%s..." is %d bytes; a TXT character-string holds at most %d, split it into several strings'
                               % (what, value[:40], len(raw), TXT_STRING_MAX), 'config')
            strings.append(raw)
        return frozenset([dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)])
    rdatas = set()
    for value in values:
        try:
            rdatas.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=zone, relativize=False))
        except (dns.exception.DNSException, ValueError, TypeError) as exc:
            raise DNSError('%s: value "%s" is not valid %s data: %s' % (what, value, dns.rdatatype.to_text(rdtype), exc), 'config')
    return frozenset(rdatas)


def _sorted(rdatas):
    return sorted(rdatas, key=lambda rd: rd.to_text())


def rdata_values(rdtype, rdatas):
    """The C(value) list form of rdata: TXT strings, or presentation text for other types."""
    if rdtype == dns.rdatatype.TXT:
        return [s.decode('utf-8', 'replace') for rd in _sorted(rdatas) for s in rd.strings]
    return [rd.to_text() for rd in _sorted(rdatas)]


def serial_at_least(serial, target):
    """RFC 1982 serial number arithmetic: serial >= target."""
    return serial == target or 0 < ((serial - target) % (1 << 32)) < (1 << 31)


class RRState(object):
    """An rrset as observed (or planned): owner, type, TTL and the set of rdata."""

    def __init__(self, name, rdtype, ttl=None, rdatas=frozenset()):
        self.name = name
        self.rdtype = rdtype
        self.rdatas = frozenset(rdatas)
        self.ttl = ttl if self.rdatas else None

    @property
    def exists(self):
        return bool(self.rdatas)

    @property
    def key(self):
        return '%s %s' % (self.name.to_text(), dns.rdatatype.to_text(self.rdtype))

    @property
    def values(self):
        return rdata_values(self.rdtype, self.rdatas)

    def same_as(self, other):
        return self.rdatas == other.rdatas and (not self.exists or self.ttl == other.ttl)

    def to_dict(self):
        return dict(exists=self.exists, ttl=self.ttl, value=self.values, rdata=[rd.to_text() for rd in _sorted(self.rdatas)])

    def to_zone_text(self):
        return ''.join('%s %s IN %s %s\n' % (self.name, self.ttl, dns.rdatatype.to_text(self.rdtype), rd.to_text())
                       for rd in _sorted(self.rdatas))

    def describe(self):
        return '%s' % self.values if self.exists else 'no record'


# --------------------------------------------------------------------------- client

class Endpoint(object):
    """One DNS server: a label for messages, the address to send to and the port."""

    def __init__(self, label, host, port, protocol):
        self.label = label
        self.host = host
        self.port = port
        self.protocol = protocol
        self.address = None

    def resolve(self):
        if self.address is None:
            try:
                infos = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as exc:
                raise DNSError('cannot resolve the address of %s: %s: give an IP address or a resolvable name' % (self.describe(), exc), 'unreachable')
            self.address = infos[0][4][0]
        return self.address

    def describe(self):
        where = self.host if self.address in (None, self.host) else '%s = %s' % (self.host, self.address)
        return '%s (%s port %d/%s)' % (self.label, where, self.port, self.protocol)


class DNSClient(object):
    """Signed queries and updates to the primary of one zone (and to other servers)."""

    def __init__(self, server, port, zone, key, timeout=10.0, protocol='tcp'):
        self.zone = zone
        self.key = key
        self.timeout = timeout
        self.protocol = protocol
        self.port = port
        self.primary = Endpoint('primary server %s' % server, server, port, protocol)

    @classmethod
    def from_params(cls, params):
        return cls(params['server'], params['port'], zone_name(params['zone']), TsigKey.from_params(params),
                   params['timeout'], params['protocol'])

    def endpoint(self, label, host, port=None):
        return Endpoint(label, host, port or self.port, self.protocol)

    def exchange(self, message, endpoint, timeout=None):
        """Send a signed message and return the validated, signed answer."""
        timeout = self.timeout if timeout is None else timeout
        address = endpoint.resolve()
        key = self.key.text_name
        try:
            if self.protocol == 'udp':
                response = dns.query.udp(message, address, timeout=timeout, port=endpoint.port)
                if response.flags & dns.flags.TC:
                    response = dns.query.tcp(message, address, timeout=timeout, port=endpoint.port)
            else:
                response = dns.query.tcp(message, address, timeout=timeout, port=endpoint.port)
        except dns.tsig.PeerBadKey:
            raise DNSError('%s does not know TSIG key "%s" with algorithm %s (BADKEY): check key_name and key_algorithm (or key_file) against '
                           'the key statement in the server\'s named.conf' % (endpoint.describe(), key, self.key.algorithm), 'auth')
        except dns.tsig.PeerBadSignature:
            raise DNSError('%s rejected the signature made with TSIG key "%s" (BADSIG): the key secret differs from the server\'s; '
                           'check key_secret or key_file' % (endpoint.describe(), key), 'auth')
        except dns.tsig.PeerBadTime:
            raise DNSError('%s rejected the time in the TSIG signature of key "%s" (BADTIME): the clocks of this host and the DNS server '
                           'differ by more than 300 seconds; fix time synchronisation (NTP)' % (endpoint.describe(), key), 'auth')
        except dns.tsig.PeerError as exc:
            raise DNSError('%s rejected TSIG key "%s": %s' % (endpoint.describe(), key, exc), 'auth')
        except (dns.tsig.BadSignature, dns.tsig.BadTime, dns.message.UnknownTSIGKey) as exc:
            raise DNSError('the answer of %s does not carry a valid signature of TSIG key "%s" (%s): the answer was altered or the server uses '
                           'another secret under this key name' % (endpoint.describe(), key, exc.__class__.__name__), 'auth')
        except dns.exception.Timeout:
            # The last polls of a verification get what is left of its deadline: round that for the operator.
            raise DNSError('no answer from %s within %.1f s: check the server address and port, that named is running and that no firewall '
                           'drops DNS over %s' % (endpoint.describe(), timeout, self.protocol.upper()), 'unreachable')
        except EOFError:
            raise DNSError('%s closed the connection without answering: check the port and that this host may send to it'
                           % endpoint.describe(), 'unreachable')
        except OSError as exc:
            raise DNSError('cannot reach %s: %s: check the server address and port, and that named is running' % (endpoint.describe(), exc),
                           'unreachable')
        except dns.exception.FormError as exc:
            # Newer dnspython rejects an unsigned answer to a signed request itself, as a FormError.
            if 'TSIG' in str(exc):
                raise self._unsigned_answer(endpoint)
            raise DNSError('malformed answer from %s: %s' % (endpoint.describe(), exc), 'protocol')
        except dns.exception.DNSException as exc:
            raise DNSError('malformed answer from %s: %s' % (endpoint.describe(), exc), 'protocol')
        if not response.had_tsig:
            raise self._unsigned_answer(endpoint)
        return response

    def _unsigned_answer(self, endpoint):
        return DNSError('%s answered without a TSIG signature although the request was signed with key "%s": the answer cannot be trusted; '
                        'check that server and port name the zone\'s DNS server' % (endpoint.describe(), self.key.text_name), 'auth')

    def _query(self, name, rdtype, endpoint, timeout):
        query = dns.message.make_query(name, rdtype, dns.rdataclass.IN)
        # Authoritative data only: never ask the server to recurse.
        query.flags &= ~dns.flags.RD
        self.key.sign(query)
        response = self.exchange(query, endpoint, timeout)
        rcode = response.rcode()
        if rcode == dns.rcode.REFUSED:
            raise DNSError('%s refused the query for %s (REFUSED): it does not serve zone %s or does not answer this host; '
                           'point it at a server authoritative for the zone' % (endpoint.describe(), name, self.zone), 'refused')
        if rcode == dns.rcode.NOTAUTH:
            raise DNSError('%s is not authoritative for zone %s (NOTAUTH): point it at a server of the zone' % (endpoint.describe(), self.zone),
                           'notauth')
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DNSError('%s answered %s to the query for %s %s' % (endpoint.describe(), dns.rcode.to_text(rcode), name, dns.rdatatype.to_text(rdtype)),
                           'protocol')
        if not response.flags & dns.flags.AA:
            raise DNSError('%s is not authoritative for %s (answer without the AA flag): it does not serve zone %s; point it at the zone\'s '
                           'primary or one of its secondaries' % (endpoint.describe(), name, self.zone), 'notauth')
        return response

    def read_rrset(self, name, rdtype, endpoint=None, timeout=None):
        """The rrset (name, type) as served by endpoint (the primary by default)."""
        response = self._query(name, rdtype, endpoint or self.primary, timeout)
        rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
        if rrset is None:
            return RRState(name, rdtype)
        return RRState(name, rdtype, rrset.ttl, rrset)

    def read_serial(self, endpoint=None, timeout=None):
        """The SOA serial of the zone as served by endpoint (the primary by default)."""
        endpoint = endpoint or self.primary
        response = self._query(self.zone, dns.rdatatype.SOA, endpoint, timeout)
        if response.rcode() == dns.rcode.NXDOMAIN:
            raise DNSError('zone %s does not exist on %s (NXDOMAIN): check the zone option' % (self.zone, endpoint.describe()), 'zone')
        rrset = response.get_rrset(response.answer, self.zone, dns.rdataclass.IN, dns.rdatatype.SOA)
        if rrset is None:
            enclosing = [r.name.to_text() for r in response.authority if r.rdtype == dns.rdatatype.SOA]
            raise DNSError('%s is not a zone on %s (no SOA record at that name%s): check the zone option'
                           % (self.zone, endpoint.describe(), '; it lies in zone %s' % enclosing[0] if enclosing else ''), 'zone')
        return rrset[0].serial

    def send_update(self, update):
        """Send an UPDATE to the primary; prerequisite failures raise DNSError kind C(prerequisite)."""
        response = self.exchange(update, self.primary)
        rcode = response.rcode()
        where = self.primary.describe()
        if rcode == dns.rcode.NOERROR:
            return
        if rcode in (dns.rcode.YXRRSET, dns.rcode.NXRRSET, dns.rcode.YXDOMAIN, dns.rcode.NXDOMAIN):
            raise DNSError(dns.rcode.to_text(rcode), 'prerequisite')
        if rcode == dns.rcode.REFUSED:
            raise DNSError('%s refused the update of zone %s (REFUSED): TSIG key "%s" is not allowed to update it (see allow-update or '
                           'update-policy in named.conf) or the server is not the zone\'s primary' % (where, self.zone, self.key.text_name),
                           'refused')
        if rcode == dns.rcode.NOTAUTH:
            raise DNSError('%s is not authoritative for zone %s (NOTAUTH): set server to the zone\'s primary and check zone'
                           % (where, self.zone), 'notauth')
        if rcode == dns.rcode.NOTZONE:
            raise DNSError('%s says a record of the update is outside zone %s (NOTZONE): check the record names' % (where, self.zone), 'config')
        if rcode == dns.rcode.SERVFAIL:
            raise DNSError('%s failed to apply the update of zone %s (SERVFAIL): see the server log (zone not loaded, journal not writable)'
                           % (where, self.zone), 'protocol')
        raise DNSError('%s answered %s to the update of zone %s' % (where, dns.rcode.to_text(rcode), self.zone), 'protocol')


# --------------------------------------------------------------------------- planning

class RecordRequest(object):
    """One wanted record change: the target rrset and an optional compare-and-swap expectation."""

    def __init__(self, name, rdtype, state='present', rdatas=None, ttl=None, expect=None):
        self.name = name
        self.rdtype = rdtype
        self.state = state
        self.rdatas = rdatas
        self.ttl = ttl
        self.expect = expect

    @property
    def key(self):
        return '%s %s' % (self.name.to_text(), dns.rdatatype.to_text(self.rdtype))

    @classmethod
    def from_param(cls, record, zone):
        name = absolute_name(record['name'], zone)
        rdtype = record_type(record['type'])
        values = record.get('value')
        if record['state'] == 'present' and not values:
            raise DNSError('record %s %s: state=present needs at least one value; use state=absent to remove it'
                           % (name, dns.rdatatype.to_text(rdtype)), 'config')
        ttl = record.get('ttl')
        if ttl is not None and not 0 <= ttl < (1 << 31):
            raise DNSError('record %s %s: ttl %s is out of range (0..2147483647)' % (name, dns.rdatatype.to_text(rdtype), ttl), 'config')
        expect = record.get('expect')
        return cls(name, rdtype, record['state'],
                   None if values is None else make_rdatas(name, rdtype, values, zone),
                   ttl,
                   None if expect is None else make_rdatas(name, rdtype, expect, zone))


def records_from_params(records, zone):
    requests = [RecordRequest.from_param(record, zone) for record in records or []]
    seen = set()
    for request in requests:
        if request.key in seen:
            raise DNSError('record %s is listed twice: put all its values in one entry' % request.key, 'config')
        seen.add(request.key)
    return requests


# How a compare-and-swap expectation was met.
CAS_NONE = 'none'
CAS_EXPECTED = 'expected'
CAS_ALREADY = 'already_target'


class RecordPlan(object):
    """What one request means given the current rrset.

    I(after) is the planned rrset, I(prerequisite) None or the exact rdata set (possibly
    empty: must not exist) the UPDATE is conditioned on, I(conflict) a refusal message.
    """

    def __init__(self, request, before):
        self.request = request
        self.before = before
        self.prerequisite = None
        self.conflict = None
        self.compare_and_swap = CAS_NONE
        if request.state == 'present':
            target = request.rdatas
            ttl = request.ttl
            if ttl is None:
                ttl = before.ttl if before.exists else DEFAULT_TTL
        else:
            target = frozenset() if request.rdatas is None else before.rdatas - request.rdatas
            ttl = before.ttl
        self.after = RRState(request.name, request.rdtype, ttl, target)
        self.changed = not before.same_as(self.after)
        if request.expect is not None:
            if before.rdatas == target:
                # The change is already made: the expectation is satisfied by the result.
                self.compare_and_swap = CAS_ALREADY
                self.prerequisite = before.rdatas
            elif before.rdatas == request.expect:
                self.compare_and_swap = CAS_EXPECTED
                self.prerequisite = request.expect
            else:
                expected = RRState(request.name, request.rdtype, 0, request.expect)
                self.conflict = ('%s: expected %s (compare-and-swap) but the primary serves %s'
                                 % (request.key, expected.describe(), before.describe()))

    def to_result(self):
        return dict(name=self.request.name.to_text(), type=dns.rdatatype.to_text(self.request.rdtype), state=self.request.state,
                    changed=self.changed, compare_and_swap=self.compare_and_swap, before=self.before.to_dict(), after=self.after.to_dict())


class Prerequisite(object):
    """An RFC 2136 prerequisite (section 2.4).

    I(kind): C(yxrrset) (with rdatas: the rrset is exactly this set; without: it exists),
    C(nxrrset) (no rrset of that type), C(yxdomain) (name in use), C(nxdomain) (not in use).
    """

    def __init__(self, kind, name, rdtype=None, rdatas=None):
        self.kind = kind
        self.name = name
        self.rdtype = rdtype
        self.rdatas = rdatas

    def add_to(self, update):
        if self.kind == 'yxrrset':
            if self.rdatas:
                update.present(self.name, *_sorted(self.rdatas))
            else:
                update.present(self.name, self.rdtype)
        elif self.kind == 'nxrrset':
            update.absent(self.name, self.rdtype)
        elif self.kind == 'yxdomain':
            update.present(self.name)
        elif self.kind == 'nxdomain':
            update.absent(self.name)
        else:
            raise ValueError('unknown prerequisite kind %s' % self.kind)


def plan_prerequisites(plans):
    prerequisites = []
    for plan in plans:
        if plan.prerequisite is None:
            continue
        if plan.prerequisite:
            prerequisites.append(Prerequisite('yxrrset', plan.request.name, plan.request.rdtype, plan.prerequisite))
        else:
            prerequisites.append(Prerequisite('nxrrset', plan.request.name, plan.request.rdtype))
    return prerequisites


def build_update(client, plans, prerequisites=None):
    """ONE signed UPDATE with the changes of all plans, conditioned on all prerequisites.

    Returns None when no plan changes anything: then nothing is to be sent.
    """
    if not any(plan.changed for plan in plans):
        return None
    update = dns.update.UpdateMessage(client.zone)
    for prerequisite in plan_prerequisites(plans) + list(prerequisites or []):
        prerequisite.add_to(update)
    for plan in plans:
        if not plan.changed:
            continue
        request = plan.request
        if request.state == 'present':
            update.replace(request.name, plan.after.ttl, *_sorted(plan.after.rdatas))
        elif request.rdatas is None:
            update.delete(request.name, request.rdtype)
        else:
            update.delete(request.name, *_sorted(plan.before.rdatas & request.rdatas))
    client.key.sign(update)
    return update


def update_lines(update):
    """The UPDATE in nsupdate syntax: dict(prerequisites=[...], changes=[...])."""
    result = dict(prerequisites=[], changes=[])
    if update is None:
        return result
    for rrset in update.prerequisite:
        rdtype = dns.rdatatype.to_text(rrset.rdtype)
        if rrset.rdclass == dns.rdataclass.ANY:
            result['prerequisites'].append('prereq yxdomain %s' % rrset.name if rrset.rdtype == dns.rdatatype.ANY
                                           else 'prereq yxrrset %s %s' % (rrset.name, rdtype))
        elif rrset.rdclass == dns.rdataclass.NONE:
            result['prerequisites'].append('prereq nxdomain %s' % rrset.name if rrset.rdtype == dns.rdatatype.ANY
                                           else 'prereq nxrrset %s %s' % (rrset.name, rdtype))
        else:
            result['prerequisites'].extend('prereq yxrrset %s %s %s' % (rrset.name, rdtype, rd.to_text()) for rd in _sorted(rrset))
    for rrset in update.update:
        rdtype = dns.rdatatype.to_text(rrset.rdtype)
        if rrset.deleting == dns.rdataclass.ANY:
            result['changes'].append('update delete %s' % rrset.name if rrset.rdtype == dns.rdatatype.ANY
                                     else 'update delete %s %s' % (rrset.name, rdtype))
        elif rrset.deleting == dns.rdataclass.NONE:
            result['changes'].extend('update delete %s %s %s' % (rrset.name, rdtype, rd.to_text()) for rd in _sorted(rrset))
        else:
            result['changes'].extend('update add %s %d %s %s' % (rrset.name, rrset.ttl, rdtype, rd.to_text()) for rd in _sorted(rrset))
    return result


def read_current(client, requests):
    return dict((request.key, client.read_rrset(request.name, request.rdtype)) for request in requests)


def plan_records(client, requests, current=None):
    """Plan every request against the current rrsets at the primary.

    current: rrsets already read (by key); the others are read now.
    """
    current = dict(current or {})
    current.update(read_current(client, [request for request in requests if request.key not in current]))
    return [RecordPlan(request, current[request.key]) for request in requests]


def check_conflicts(plans):
    """Raise DNSError kind C(conflict) naming every record whose compare-and-swap expectation is not met."""
    conflicts = [plan.conflict for plan in plans if plan.conflict]
    if conflicts:
        raise DNSError('compare-and-swap refused, nothing was changed: %s' % '; '.join(conflicts), 'conflict')


def apply_update(client, update, plans):
    """Send the UPDATE and read the records back from the primary.

    Returns the observed rrsets (same order as plans). A failed prerequisite is explained
    by what the records hold now; a server that accepted the update but serves something
    else than planned is an error too.
    """
    try:
        client.send_update(update)
    except DNSError as exc:
        if exc.kind != 'prerequisite':
            raise
        moved = []
        for plan in plans:
            if plan.prerequisite is None:
                continue
            now = client.read_rrset(plan.request.name, plan.request.rdtype)
            if now.rdatas != plan.prerequisite:
                moved.append('%s is now %s (expected %s)' % (plan.request.key, now.describe(),
                                                             RRState(now.name, now.rdtype, 0, plan.prerequisite).describe()))
        detail = '; '.join(moved) if moved else 'the records match the expectation again, so another client changed them meanwhile: run again'
        raise DNSError('prerequisite failed (%s): the record is no longer what you expected; %s. Nothing was changed.' % (exc, detail),
                       'prerequisite')
    observed = [client.read_rrset(plan.request.name, plan.request.rdtype) for plan in plans]
    wrong = ['%s: planned %s, the primary serves %s' % (plan.request.key, plan.after.describe(), now.describe())
             for plan, now in zip(plans, observed) if plan.changed and not now.same_as(plan.after)]
    if wrong:
        raise DNSError('the primary accepted the update but does not serve the result (a CNAME or other data at the same name, or an '
                       'update-policy that drops records?): %s' % '; '.join(wrong), 'readback')
    return observed


# --------------------------------------------------------------------------- verification

def _observe_server(client, endpoint, expectations, timeout):
    serial = client.read_serial(endpoint, timeout)
    answer = {}
    matches = True
    for expected in expectations:
        now = client.read_rrset(expected.name, expected.rdtype, endpoint, timeout)
        answer[expected.key] = now.values
        matches = matches and now.rdatas == expected.rdatas
    return serial, answer, matches


def wait_for_servers(client, servers, expectations, serial, timeout, wait=True):
    """Poll authoritative servers until each serves SOA serial >= serial and the expected rrsets.

    servers: dicts with name, address, port, skip, skip_reason (the verify_servers option).
    expectations: RRState objects as read back from the primary.
    With wait=False every server is observed once (status and check mode).
    Returns (results, warnings); results hold name, address, port, skipped, skip_reason,
    serial, answer, in_sync, answered and error per server. A server that rejects the key is
    not polled again.

    A server that has not answered a single query for the client's per-query timeout is
    given up (answered false, a warning): it is down or cut off, it cannot serve anything,
    and it fetches the new zone by NOTIFY/refresh when it is back. Waiting the whole
    verification deadline for it and then failing stopped a failover after its switch and
    before any master was started, for every site, over one DNS server. Only a server that
    answers with data older than the primary's is waited for and fails the verification.
    """
    results = []
    warnings = []
    pending = []
    for server in servers or []:
        result = dict(name=server['name'], address=server.get('address') or server['name'], port=server.get('port') or client.port,
                      skipped=bool(server.get('skip')), skip_reason=server.get('skip_reason'), serial=None, answer={},
                      in_sync=None, answered=None, error=None)
        results.append(result)
        if result['skipped']:
            warnings.append('DNS server %s was not verified: %s' % (server['name'], server.get('skip_reason') or 'marked skip (lost)'))
            continue
        result['in_sync'] = False
        result['answered'] = False
        pending.append((result, client.endpoint('DNS server %s' % server['name'], result['address'], result['port'])))
    started = time.monotonic()
    deadline = started + (timeout if wait else 0)
    # Short pauses first: a secondary usually serves a change tens of milliseconds after NOTIFY.
    pause = pauses(POLL_INTERVAL)
    while pending:
        still = []
        for result, endpoint in pending:
            query_timeout = max(MIN_QUERY_TIMEOUT, min(client.timeout, deadline - time.monotonic())) if wait else client.timeout
            try:
                result['serial'], result['answer'], matches = _observe_server(client, endpoint, expectations, query_timeout)
            except DNSError as exc:
                result['error'] = str(exc)
                if exc.kind in ('auth', 'config'):
                    # It answered, and refused the key: asking again cannot help.
                    result['answered'] = True
                elif exc.kind == 'unreachable' and not result['answered'] and time.monotonic() - started >= client.timeout:
                    warnings.append(_unanswered_warning(result, client.timeout))
                else:
                    still.append((result, endpoint))
                continue
            result['error'] = None
            result['answered'] = True
            result['address'] = endpoint.address
            result['in_sync'] = serial_at_least(result['serial'], serial) and matches
            if not result['in_sync']:
                still.append((result, endpoint))
        pending = still
        remaining = deadline - time.monotonic()
        if not pending or not wait or remaining <= 0:
            break
        time.sleep(min(next(pause), remaining))
    if wait:
        # The deadline ran out (a verify_timeout shorter than the per-query timeout) before a
        # server that never answered was given up: it is as unverifiable as one given up.
        warnings.extend(_unanswered_warning(result, timeout) for result, dummy in pending if not result['answered'])
    return results, warnings


def _unanswered_warning(result, seconds):
    return ('DNS server %s did not answer for %.0f s and was not verified (%s). The update is done at the primary; hosts that resolve '
            'through this server get the new answer when it is back and has fetched the zone (NOTIFY/refresh)'
            % (result['name'], seconds, result['error']))


def out_of_sync_message(results, serial, timeout):
    """None when every verified server is in sync, else a message naming each laggard."""
    lagging = []
    for result in results:
        if result['skipped'] or result['in_sync'] or result.get('answered') is False:
            continue
        if result['error']:
            lagging.append('%s: %s' % (result['name'], result['error']))
        else:
            lagging.append('%s serves serial %s and %s' % (result['name'], result['serial'], result['answer']))
    if not lagging:
        return None
    # A BIND secondary whose transfer connects to the primary failed twice within 600 s (a partition or
    # an outage of a few minutes) skips every transfer from it until 600 s after the last failure. Measured
    # on BIND 9.18: neither a new NOTIFY (a second update, a serial bump) nor rndc refresh/retransfer ends
    # that; the cache lives in the named process, so a restart of that named does.
    return ('not every DNS server serves the new data (serial %s) after %s s: %s. The update itself is done at the primary; check zone '
            'transfers (NOTIFY/AXFR, allow-transfer) to these servers, or mark a lost server skip: true. A BIND secondary that could not '
            'reach the primary for a few minutes skips transfers from it for up to 10 minutes after its last failed attempt, even when '
            'NOTIFY arrives and after rndc retransfer (its log says "skipping zone transfer as primary ... is unreachable (cached)"): '
            'restart named on that server, or run again after that time'
            % (serial, timeout, '; '.join(lagging)))


def rrsets_diff(befores, afters, header):
    return dict(before=''.join(state.to_zone_text() for state in befores), after=''.join(state.to_zone_text() for state in afters),
                before_header=header, after_header=header)
