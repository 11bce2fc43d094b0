#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_subscription_info
short_description: Read PostgreSQL logical replication subscriptions, their positions and their lag, changing nothing
version_added: 0.3.0
description:
  - Reads subscriptions of the database the module connects to (O(login_db)) - definition, status,
    apply worker positions, table sync states, error counters - the way
    M(genesys_dr.framework.pg_subscription) observes them before it acts.
  - With O(publisher), it also connects to the publisher to read each subscription's slot there and
    its lag. A publisher that does not answer is not a failure - RV(publisher_reachable=false), the lag
    and the slots are then null - so the module can report on a site whose peer is down.
  - Runs no statement that changes anything, on either server.
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
options:
  name:
    description:
      - Names of the subscriptions to read. A name with no subscription is returned with RV(subscriptions[].exists=false)
        and RV(subscriptions[].status=absent).
      - When not given, every subscription of O(login_db), in name order.
    type: list
    elements: str
  publisher:
    description:
      - How the module reaches the publisher database, to read the subscriptions' slots and lag there
        (the same option as M(genesys_dr.framework.pg_subscription)'s); without it, RV(subscriptions[].lag_bytes)
        and RV(subscriptions[].slot) are null.
    type: dict
    suboptions:
      host:
        description: Host name or address of the publisher.
        type: str
        required: true
      port:
        description: Port of the publisher.
        type: int
        default: 5432
      dbname:
        description: Publisher database.
        type: str
        required: true
      user:
        description: Role used on the publisher; needs to read C(pg_replication_slots).
        type: str
        required: true
      password:
        description: Password of O(publisher.user).
        type: str
      sslmode:
        description: libpq C(sslmode).
        type: str
        default: prefer
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      sslrootcert:
        description: CA file for O(publisher.sslmode=verify-ca) or O(publisher.sslmode=verify-full).
        type: path
      connect_timeout:
        description:
          - Seconds to wait for a connection to the publisher; one that does not answer within this time is
            reported unreachable. Must be at least 1.
        type: int
        default: 5
seealso:
  - module: genesys_dr.framework.pg_subscription
  - module: genesys_dr.framework.pg_log_flow_info
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Read the Configuration Database subscription from the other site, with its lag
  genesys_dr.framework.pg_subscription_info:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    name: [cfgdb_from_main]
    publisher: "{{ dr_main_publisher }}"
  register: cfgdb_replication

- name: Refuse when it is not streaming
  ansible.builtin.assert:
    that: cfgdb_replication.subscriptions[0].status == 'running'
'''

RETURN = r'''
subscriptions:
  description:
    - One entry per subscription read (per O(name) when given), in the shape of
      RV(genesys_dr.framework.pg_subscription#module:subscription), with two more keys.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Subscription name.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    status:
      description:
        - V(running), V(stopped), V(absent), or what stands in between - V(enabled_not_streaming)
          (enabled, no worker streaming), V(disabled_with_slot) (disabled but a slot still attached).
      type: str
    enabled:
      description: Whether it is enabled.
      type: bool
    slot_name:
      description: Slot attached (null when none).
      type: str
    publications:
      description: Publications it follows.
      type: list
      elements: str
    conninfo:
      description: Its connection string, password masked.
      type: str
    worker_pid:
      description: Process id of the apply worker (null when none).
      type: int
    received_lsn:
      description: Last WAL position received by the apply worker (null without worker).
      type: str
    applied_lsn:
      description: Publisher position of the last transaction applied (replication origin C(remote_lsn)).
      type: str
    tables:
      description: Per table, its sync state (V(init), V(data_copy), V(finished_copy), V(sync_done), V(ready)).
      type: list
      elements: dict
    lag_bytes:
      description:
        - Publisher WAL insert position minus the slot's C(confirmed_flush_lsn); null when it cannot be
          measured (no O(publisher), publisher unreachable, no slot).
      type: int
    slot:
      description:
        - Its slot on the publisher (same keys as RV(genesys_dr.framework.pg_slot#module:slot)); null without
          O(publisher) or when the publisher is unreachable.
      type: dict
publisher_reachable:
  description: Whether the module could connect to the publisher; null without O(publisher).
  returned: always
  type: bool
publisher_error:
  description: Why the publisher could not be read (null when it was, or without O(publisher)).
  returned: always
  type: str
publisher_lsn:
  description: WAL insert position of the publisher (null when it could not be read).
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.genesys_dr.framework.plugins.module_utils.logical_replication import (
    Publisher,
    PublisherLost,
    publisher_argument_spec,
    publisher_errors,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    connect,
    int_to_lsn,
    postgres_common_argument_spec,
    query_rows,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.subscription_state import SubscriptionState, lag_bytes


def subscription_names(reader):
    return [r[0] for r in query_rows(reader, (
        'SELECT s.subname FROM pg_catalog.pg_subscription s JOIN pg_catalog.pg_database d ON d.oid = s.subdbid'
        ' WHERE d.datname = current_database() ORDER BY 1'))]


def read(module, conn, publisher):
    """Every named subscription, its slot on the publisher, and its lag measured against one publisher insert
    position read after all the slots (returned too, as the publisher LSN)."""
    reader = SubscriptionState(module, conn, None, publisher)
    names = module.params['name'] if module.params['name'] is not None else subscription_names(reader)
    subscriptions = []
    for name in names:
        reader.name = name
        state = reader.observe()
        state['slot'] = None
        state['lag_bytes'] = None
        subscriptions.append(state)
    insert_lsn = None
    if publisher is not None and publisher.reachable:
        try:
            for state in subscriptions:
                if state['slot_name']:
                    state['slot'] = publisher.slot(state['slot_name'])
            insert_lsn = publisher.insert_lsn()
        except PublisherLost as e:
            module.warn(to_native(e))
        else:
            for state in subscriptions:
                state['lag_bytes'] = lag_bytes(state['slot'], insert_lsn)
    return subscriptions, insert_lsn


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        name=dict(type='list', elements='str'),
        publisher=publisher_argument_spec(required=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    errors = publisher_errors(module.params)
    if errors:
        module.fail_json(msg='; '.join(errors))
    publisher = None
    if module.params['publisher']:
        publisher = Publisher(module, module.params['publisher'], [])
        publisher.connect()
    conn = connect(module)
    result = dict(changed=False, publisher_reachable=None, publisher_error=None, publisher_lsn=None)
    try:
        result['subscriptions'], insert_lsn = read(module, conn, publisher)
        if insert_lsn is not None:
            result['publisher_lsn'] = int_to_lsn(insert_lsn)
        if publisher is not None:
            result['publisher_reachable'] = bool(publisher.reachable)
            result['publisher_error'] = publisher.error
    finally:
        conn.close()
        if publisher is not None and publisher.conn is not None:
            publisher.conn.close()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
