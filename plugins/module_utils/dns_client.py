# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The DNS wire of the DNS modules: TSIG keys, names and record data, and a client that sends
signed queries and RFC 2136 updates to a zone's primary (and queries other servers).

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
import traceback

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
except ImportError:
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None


KEY_ALGORITHMS = ('hmac-md5', 'hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512')
# A TXT character-string carries at most 255 octets (RFC 1035 3.3).
TXT_STRING_MAX = 255


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


def sorted_rdatas(rdatas):
    """The rdata in a stable order (by presentation text)."""
    return sorted(rdatas, key=lambda rd: rd.to_text())


def rdata_values(rdtype, rdatas):
    """The C(value) list form of rdata: TXT strings, or presentation text for other types."""
    if rdtype == dns.rdatatype.TXT:
        return [s.decode('utf-8', 'replace') for rd in sorted_rdatas(rdatas) for s in rd.strings]
    return [rd.to_text() for rd in sorted_rdatas(rdatas)]


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
        return dict(exists=self.exists, ttl=self.ttl, value=self.values, rdata=[rd.to_text() for rd in sorted_rdatas(self.rdatas)])

    def to_zone_text(self):
        return ''.join('%s %s IN %s %s\n' % (self.name, self.ttl, dns.rdatatype.to_text(self.rdtype), rd.to_text())
                       for rd in sorted_rdatas(self.rdatas))

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
