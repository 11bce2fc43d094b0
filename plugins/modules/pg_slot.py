#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_slot
short_description: Drop a PostgreSQL replication slot, ending the WAL sender that holds it if asked
version_added: 0.3.0
description:
  - Drops a replication slot by name on the server the module connects to (a publisher), for example
    the slot a subscription left behind while its publisher was unreachable
    (RV(genesys_dr.framework.pg_subscription#module:orphaned_slots)).
  - A slot a WAL sender still holds is refused, unless O(terminate_holder=true).
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: Nothing changes; RV(queries) lists the statements that would run.
  diff_mode:
    support: full
    description: The slot before and after.
options:
  name:
    description:
      - Name of the replication slot (lower-case letters, digits, underscores, at most 63).
    type: str
    required: true
  state:
    description:
      - Only V(absent).
    type: str
    required: true
    choices: [absent]
  terminate_holder:
    description:
      - When a WAL sender holds the slot, end it (C(pg_terminate_backend)) and drop the slot, instead of refusing.
      - Only for a slot whose subscriber is known to be gone. After a partition, the publisher's WAL sender of a
        subscription that was stopped on the other side keeps holding its slot, unaware that its peer left,
        until C(wal_sender_timeout) or TCP notices; the slot cannot be dropped until then.
      - The WAL sender ended is returned (RV(terminated_walsender)) and named in a warning; the module waits up
        to O(worker_timeout) seconds for the slot to be free.
    type: bool
    default: false
  worker_timeout:
    description:
      - Seconds to wait, with O(terminate_holder=true), for the slot to be free after its WAL sender was ended.
    type: int
    default: 30
seealso:
  - module: genesys_dr.framework.pg_subscription
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Disaster - apply what was received, then stop
  genesys_dr.framework.pg_subscription:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    name: cfgdb_from_main
    state: stopped
    publications: [cfgdb_pub]
    publisher: "{{ dr_main_publisher }}"
    wait_for_catchup: true
  register: drained

- name: Later, drop the slot the stop could not drop on the lost publisher
  genesys_dr.framework.pg_slot:
    login_host: "{{ dr_main_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    name: "{{ item }}"
    state: absent
  loop: "{{ drained.orphaned_slots }}"
'''

RETURN = r'''
initial_state:
  description: The slot before the run - same shape as RV(slot).
  returned: always
  type: dict
final_state:
  description: The slot after the run, read back (in check mode, what it would be).
  returned: always
  type: dict
slot:
  description: The slot after the run.
  returned: always
  type: dict
  contains:
    name:
      description: Slot name.
      type: str
    exists:
      description: Whether the slot exists.
      type: bool
    active:
      description: Whether a WAL sender uses it.
      type: bool
    active_pid:
      description: Process id of that WAL sender.
      type: int
    slot_type:
      description: V(logical) or V(physical).
      type: str
    database:
      description: Database of a logical slot.
      type: str
    confirmed_flush_lsn:
      description: Position the subscriber confirmed as applied and flushed.
      type: str
    restart_lsn:
      description: Oldest WAL position the slot retains.
      type: str
    retained_bytes:
      description: WAL bytes the slot keeps on the publisher.
      type: int
terminated_walsender:
  description:
    - With O(terminate_holder=true), the WAL sender the module ended because it held the slot
      (from C(pg_stat_replication)); null when none held it.
  returned: always
  type: dict
  sample: {"pid": 27061, "client_addr": "198.18.2.10", "application_name": "genesys_cfgdb_from_site1",
           "state": "streaming", "reply_time": "2026-11-26 04:40:02.118+00"}
queries:
  description: Statements that changed something (in check mode, that would have).
  returned: always
  type: list
  elements: str
  sample:
    - SELECT pg_catalog.pg_drop_replication_slot('cfgdb_from_main')
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.logical_replication import check_slot_name, finish
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import connect, postgres_common_argument_spec
from ansible_collections.genesys_dr.framework.plugins.module_utils.replication_slot import Slot


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', required=True, choices=['absent']),
        terminate_holder=dict(type='bool', default=False),
        worker_timeout=dict(type='int', default=30),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    check_slot_name(module, module.params['name'])
    conn = connect(module)
    try:
        slot = Slot(module, conn)
        initial = slot.observe()
        final = slot.converge(initial, module.check_mode)
        if not module.check_mode:
            final = slot.observe()
    finally:
        conn.close()
    finish(module, slot, dict(initial_state=initial, final_state=final, slot=final, terminated_walsender=slot.terminated))


if __name__ == '__main__':
    main()
