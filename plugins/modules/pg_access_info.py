#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_access_info
short_description: Read the client access of the Genesys database roles on one database, changing nothing
version_added: 0.3.0
description:
  - Reads whether each login role of O(roles) has C(read_write), C(read_only), C(none) or C(partial) access to
    the tables and sequences of O(schema) in the database named by O(login_db), from the effective privileges
    (C(has_table_privilege), C(has_sequence_privilege)), the way M(genesys_dr.framework.pg_access) reads them
    before it acts.
  - Runs no statement that changes anything. This is how C(status.yml) shows which site's Configuration
    Database takes client writes.
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
options:
  roles:
    description:
      - Login roles of the Genesys applications to read. A role that does not exist on the server fails the
        module with its name.
    type: list
    elements: str
    required: true
  schema:
    description:
      - Schema whose tables and sequences are read.
    type: str
    default: public
seealso:
  - module: genesys_dr.framework.pg_access
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Which Genesys roles can write to this site's Configuration Database
  genesys_dr.framework.pg_access_info:
    login_host: "{{ genesys_host_address }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    roles: [genesys_cs]
  register: cfgdb_access

- name: Show it
  ansible.builtin.debug:
    msg: "{{ cfgdb_access.roles | dict2items | map(attribute='value.access') | list }}"
'''

RETURN = r'''
database:
  description: The database read.
  returned: always
  type: str
  sample: cfgdb
schema:
  description: The schema read.
  returned: always
  type: str
  sample: public
roles:
  description:
    - Per role, C(access) (one of V(read_write), V(read_only), V(none), V(partial)), C(superuser), C(tables) and
      C(sequences) (C(total) and, per privilege, on how many of them the role has it); the shape of
      RV(genesys_dr.framework.pg_access#module:initial_state.roles).
  returned: always
  type: dict
  sample:
    genesys_cs:
      access: read_write
      superuser: false
      tables: {total: 5, SELECT: 5, INSERT: 5, UPDATE: 5, DELETE: 5, TRUNCATE: 5}
      sequences: {total: 5, USAGE: 5, SELECT: 5, UPDATE: 5}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.access import AccessState
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import connect, postgres_common_argument_spec


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        roles=dict(type='list', elements='str', required=True),
        schema=dict(type='str', default='public'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not module.params['roles']:
        module.fail_json(msg='roles is empty: name at least one login role')

    conn = connect(module)
    try:
        access = AccessState(module, conn)
        access.check_inputs()
        observed = access.observe()
    finally:
        conn.close()
    module.exit_json(changed=False, **observed)


if __name__ == '__main__':
    main()
