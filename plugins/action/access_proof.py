# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of genesys_dr.framework.access_proof (documentation: plugins/modules/access_proof.py).

The access proof of a procedure in one task round per host: SSH and Python (ansible.builtin.ping,
or pg_ping, whose run on the host proves both), the DB admin login on DB hosts, and - from the
controller, on the one host it is asked for - the TSIG-signed read of the DR state. As three tasks
it cost three task rounds, most of the proof's time on a loaded controller (issue 8).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.genesys_dr.framework.plugins.module_utils.dns_client import (
    absolute_name,
    DNSClient,
    DNSError,
    HAS_DNSPYTHON,
    record_type,
)
from ansible_collections.genesys_dr.framework.plugins.plugin_utils.in_process import validate

ARGUMENT_SPEC = dict(
    db=dict(type='dict', options=dict(
        login_host=dict(type='str', required=True),
        login_port=dict(type='int', default=5432),
        login_user=dict(type='str', required=True),
        login_password=dict(type='str', no_log=True),
        databases=dict(type='list', elements='str', required=True),
        require_superuser=dict(type='bool', default=False),
        connect_timeout=dict(type='int'),
    )),
    dns=dict(type='dict', options=dict(
        server=dict(type='str', required=True),
        port=dict(type='int', default=53),
        zone=dict(type='str', required=True),
        key_file=dict(type='path', required=True, no_log=False),
        key_name=dict(type='str', no_log=False),
        state_name=dict(type='str', required=True),
        lock_name=dict(type='str'),
        timeout=dict(type='float', default=10.0),
        protocol=dict(type='str', default='tcp', choices=['tcp', 'udp']),
    )),
)

DNS_STEP = 'Read the DR state from the DNS primary with a TSIG-signed query'


def read_dr_state(params):
    """The signed reads dr_state action=read makes: the zone's serial (zone, reachability, key), the state and lock records."""
    client = DNSClient.from_params(dict(params, key_secret=None, key_algorithm=None))
    serial = client.read_serial()
    txt = record_type('TXT')
    names = [params['state_name']] + ([params['lock_name']] if params['lock_name'] else [])
    records = {}
    for name in names:
        rrstate = client.read_rrset(absolute_name(name, client.zone), txt)
        records[name] = rrstate.values if rrstate.exists else []
    return dict(serial=serial, records=records)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        options, invalid = validate(self, ARGUMENT_SPEC)
        if invalid:
            return dict(result, failed=True, msg=invalid)
        host = task_vars.get('inventory_hostname') if task_vars else None
        result['changed'] = False

        if options['dns'] is not None:
            # First, on the controller: a wrong key stops the run before any host is contacted.
            if not HAS_DNSPYTHON:
                return dict(result, failed=True, msg='%s: the Python library dnspython is missing on the controller' % DNS_STEP)
            try:
                result['dns'] = read_dr_state(options['dns'])
            except DNSError as exc:
                return dict(result, failed=True, proof='dns', msg='%s: %s' % (DNS_STEP, exc))

        # One module run on the host: reaching it over SSH and running Python is proven by any module;
        # pg_ping also proves the DB admin login. An unreachable host raises here and is reported
        # unreachable by the task executor, as the ping task was.
        db = options['db']
        if db is not None:
            proof, module, step = 'db', 'genesys_dr.framework.pg_ping', 'Log in as the DB admin to the databases of %s' % host
            args = dict((k, v) for k, v in db.items() if v is not None)
        else:
            proof, module, step = 'host', 'ansible.builtin.ping', 'Reach over SSH and run Python on %s' % host
            args = {}
        outcome = self._execute_module(module_name=module, module_args=args, task_vars=task_vars)
        outcome.pop('invocation', None)
        if outcome.get('failed'):
            return dict(result, failed=True, proof=proof, msg='%s: %s' % (step, outcome.get('msg', 'failed without a message')),
                        **dict((k, v) for k, v in outcome.items() if k not in ('failed', 'msg', 'changed')))
        result['proof'] = proof
        proven = ['SSH and Python']
        if db is not None:
            result['databases'] = [entry['database'] for entry in outcome.get('checked', [])]
            result['superuser'] = outcome.get('superuser')
            proven.append('DB admin login to %s' % ', '.join(result['databases']))
        if options['dns'] is not None:
            proven.append('TSIG-signed DNS read')
        result['msg'] = 'proven: %s' % ', '.join(proven)
        return result
