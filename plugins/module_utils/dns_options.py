# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Genesys DR framework team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options shared by the DNS modules (dns_record, dr_state) and their main()."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_client import DNSError, DNSPYTHON_IMPORT_ERROR, HAS_DNSPYTHON, KEY_ALGORITHMS


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
