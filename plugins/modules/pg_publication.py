#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_publication
short_description: Manage a PostgreSQL logical replication publication
version_added: 0.3.0
description:
  - Manages a publication of the database the module connects to (O(login_db)) - all tables or listed
    tables, a row filter per table, the published operations.
  - An existing publication is compared with the wanted one (tables, row filters as PostgreSQL deparses
    them, operations) and changed in place, in one transaction - a subscriber never sees it missing or half changed.
  - The wanted definition is first created under a probe name in a transaction that is rolled back, so
    PostgreSQL itself validates the row filters before anything changes.
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: Nothing changes; RV(queries) lists the statements that would run.
  diff_mode:
    support: full
    description: Definition of the publication before and after.
options:
  name:
    description: Name of the publication.
    type: str
    required: true
  state:
    description: V(present) or V(absent).
    type: str
    required: true
    choices: [present, absent]
  all_tables:
    description:
      - Publish every table of the database (C(FOR ALL TABLES)).
      - With O(state=present) one of O(all_tables) and O(tables) must be given.
    type: bool
  tables:
    description:
      - The tables published (the publication's whole table list).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Table name, optionally schema-qualified (C(public.log_event)); resolved with the
            connecting role's C(search_path) otherwise.
        type: str
        required: true
      row_filter:
        description:
          - SQL boolean expression (without C(WHERE)) that a row must satisfy to be published,
            for example C(db_site = 'site1').
          - With O(publish) containing V(update) or V(delete), its columns must be part of the
            table's replica identity; the module checks this (and that every table has a replica
            identity) before changing anything, because PostgreSQL would otherwise refuse client
            UPDATE and DELETE on the publisher.
        type: str
  publish:
    description:
      - Operations published.
    type: list
    elements: str
    choices: [insert, update, delete, truncate]
    default: [insert, update, delete, truncate]
notes:
  - For bidirectional replication of the same table without loops, each side publishes only the rows
    it originated, with a row filter on a column that records the originating site, and O(publish=[insert]).
seealso:
  - module: genesys_dr.framework.pg_subscription
  - module: genesys_dr.framework.pg_slot
  - module: genesys_dr.framework.pg_subscription_info
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Publish the whole Configuration Database
  genesys_dr.framework.pg_publication:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    name: cfgdb_pub
    state: present
    all_tables: true

- name: Publish only the log events this site stored first, inserts only (loop-free both ways)
  genesys_dr.framework.pg_publication:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: logdb
    name: logdb_pub
    state: present
    tables:
      - name: public.log_event
        row_filter: "db_site = '{{ dr_site_name }}'"
    publish: [insert]
'''

RETURN = r'''
initial_state:
  description: The publication before the run, as observed - same shape as RV(publication).
  returned: always
  type: dict
final_state:
  description: The publication after the run, read back (in check mode, what it would be).
  returned: always
  type: dict
publication:
  description: The publication after the run.
  returned: always
  type: dict
  contains:
    name:
      description: Publication name.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    all_tables:
      description: Whether it is C(FOR ALL TABLES).
      type: bool
    publish:
      description: Operations published.
      type: list
      elements: str
      sample: [insert]
    tables:
      description: Tables listed explicitly, with the row filter as PostgreSQL deparses it (null when none).
      type: list
      elements: dict
      sample: [{name: public.log_event, row_filter: "(db_site = 'site1'::text)"}]
    schemas:
      description: Schemas published with C(FOR TABLES IN SCHEMA) (the module replaces them with O(tables)).
      type: list
      elements: str
    owner:
      description: Owner role.
      type: str
queries:
  description: Statements that changed something (in check mode, that would have).
  returned: always
  type: list
  elements: str
  sample:
    - CREATE PUBLICATION "cfgdb_pub" FOR ALL TABLES WITH (publish = 'insert, update, delete, truncate')
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.logical_replication import PUBLISH_OPERATIONS, finish
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import connect, postgres_common_argument_spec
from ansible_collections.genesys_dr.framework.plugins.module_utils.publication import Publication


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', required=True, choices=['present', 'absent']),
        all_tables=dict(type='bool'),
        tables=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True),
            row_filter=dict(type='str'),
        )),
        publish=dict(type='list', elements='str', choices=PUBLISH_OPERATIONS, default=list(PUBLISH_OPERATIONS)),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[('all_tables', 'tables')],
        required_if=[('state', 'present', ['all_tables', 'tables'], True)],
    )
    conn = connect(module)
    try:
        pub = Publication(module, conn)
        initial = pub.observe()
        wanted = pub.converge(initial, module.check_mode)
        final = wanted if module.check_mode else pub.observe()
    finally:
        conn.close()
    finish(module, pub, dict(initial_state=initial, final_state=final, publication=final))


if __name__ == '__main__':
    main()
