# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner of the dns_record_info module (documentation: plugins/modules/dns_record_info.py): one
record asked of several servers with signed queries, changing nothing. Its action plugin runs it in the
controller's process."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_client import DNSClient, DNSError, absolute_name, record_type
from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_options import dns_connection_argument_spec


class DnsRecordInfo(object):
    """Ask every server for one record; a server that does not answer is reported, not a failure."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = dict(changed=False, name=None, type=None, answers=[], agree=None)

    def run(self):
        client = DNSClient.from_params(self.params)
        name = absolute_name(self.params['name'], client.zone)
        rdtype = record_type(self.params['type'])
        self.result.update(name=name.to_text(), type=self.params['type'].upper())
        servers = self.params['servers'] or [dict(name=self.params['server'], address=self.params['server'], port=None)]
        for server in servers:
            endpoint = client.endpoint('server %s' % server['name'], server['address'] or server['name'], server['port'])
            answer = dict(server=server['name'], value=None, ttl=None, error=None, error_kind=None)
            try:
                rrset = client.read_rrset(name, rdtype, endpoint)
                answer.update(value=rrset.values, ttl=rrset.ttl)
            except DNSError as exc:
                answer.update(error=str(exc), error_kind=exc.kind)
            self.result['answers'].append(answer)
        seen = set(tuple(a['value']) if a['error'] is None else None for a in self.result['answers'])
        self.result['agree'] = len(seen) == 1 and None not in seen
        return self.result


def module_options():
    """The argument spec and its constraints (keyword arguments of run_dns_module, and of the action plugin)."""
    argument_spec = dns_connection_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        type=dict(type='str', default='A'),
        servers=dict(type='list', elements='dict', default=[], options=dict(
            name=dict(type='str', required=True),
            address=dict(type='str'),
            port=dict(type='int'),
        )),
    )
    return dict(argument_spec=argument_spec)
