# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of genesys_dr.framework.dns_record_info (documentation: plugins/modules/dns_record_info.py).

On the controller the module's own code runs in this process (plugins/plugin_utils/in_process.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_record_info import DnsRecordInfo, module_options
from ansible_collections.genesys_dr.framework.plugins.plugin_utils.in_process import DNSModuleAction


class ActionModule(DNSModuleAction):
    RUNNER = DnsRecordInfo
    OPTIONS = staticmethod(module_options)
