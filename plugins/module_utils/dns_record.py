# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runner of the dns_record module (documentation: plugins/modules/dns_record.py): one atomic record
update, planned, sent, read back and verified. Its action plugin runs it in the controller's process.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_client import DNSClient
from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_options import (
    dns_connection_argument_spec,
    dns_records_argument_spec,
    dns_verify_argument_spec,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_update import check_conflicts, plan_records, records_from_params, UpdatePipeline


class DnsRecords(object):
    """Plan, send, read back and verify one atomic record update."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = dict(changed=False, records=[], serial=None, servers=[], verify_seconds=None,
                           update=dict(zone=self.params['zone'], prerequisites=[], changes=[], sent=False))

    def run(self):
        client = DNSClient.from_params(self.params)
        self.result['update']['zone'] = client.zone.to_text()
        # Zone, reachability and key are checked once before anything is planned.
        self.result['serial'] = client.read_serial()
        plans = plan_records(client, records_from_params(self.params['records'], client.zone))
        self.result['records'] = [plan.to_result() for plan in plans]
        check_conflicts(plans)
        pipeline = UpdatePipeline(self.module, client, self.result)
        pipeline.verify(pipeline.send(plans))
        return self.result


def module_options():
    """The argument spec and its constraints (keyword arguments of run_dns_module, and of the action plugin)."""
    argument_spec = dns_connection_argument_spec()
    argument_spec['records'] = dns_records_argument_spec()
    argument_spec['records']['required'] = True
    argument_spec.update(dns_verify_argument_spec())
    return dict(argument_spec=argument_spec)
