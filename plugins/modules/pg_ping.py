#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_ping
short_description: Prove a login to a PostgreSQL database and read what the procedures rely on
version_added: 0.2.0
description:
  - Connects to the database named by O(login_db) with the collection's connection options, reads
    the server version, whether the server is a physical standby, and the role's attributes, and
    changes nothing.
  - Unlike a plain availability probe it fails, with the connection layer's message (refused
    login, unreachable server, missing database), when the login does not work, so a DR procedure
    can prove every credential it will need before its first change.
  - With O(require_superuser=true) it also fails when the role is not a superuser (the DR
    procedures create subscriptions and read replication state, which needs it).
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no before and after.
options:
  login_db:
    description:
      - Database the login is proven on.
      - Required unless O(databases) is given.
    type: str
    required: false
  databases:
    description:
      - Prove the login to each of these databases, in this order, instead of O(login_db) - one
        module run for all of them (each costs a connection, not a round trip to the host). The module
        fails at the first one that refuses the login, naming it.
      - The top-level return values describe the first database; RV(checked) lists every one.
    type: list
    elements: str
    version_added: 0.3.0
  require_superuser:
    description:
      - Fail when O(login_user) is not a superuser on the server.
    type: bool
    default: false
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Prove the DB admin login on the Configuration Database before anything changes
  genesys_dr.framework.pg_ping:
    login_host: "{{ genesys_host_address }}"
    login_port: 5432
    login_user: genesys_dr_admin
    login_password: "{{ vault_db_admin_password }}"
    login_db: cfgdb
    require_superuser: true
'''

RETURN = r'''
server_version:
  description: The server's version number (C(server_version_num)).
  returned: success
  type: int
  sample: 150008
in_recovery:
  description: Whether the server is a physical standby (C(pg_is_in_recovery())).
  returned: success
  type: bool
  sample: false
user:
  description: The role the module is logged in as.
  returned: success
  type: str
  sample: genesys_dr_admin
superuser:
  description: Whether that role is a superuser.
  returned: success
  type: bool
  sample: true
database:
  description: The database the login was proven on (the first of O(databases)).
  returned: success
  type: str
  sample: cfgdb
checked:
  description: Every database the login was proven on, each with the values above for it.
  returned: success
  type: list
  elements: dict
  sample: [{"database": "cfgdb", "server_version": 150008, "in_recovery": false, "user": "genesys_dr_admin", "superuser": true}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    conn_params_from_module,
    connect,
    connection_bound_errors,
    postgres_common_argument_spec,
    query_rows,
    SqlSession,
)


def prove(module, dbname):
    conn = connect(module, conn_params_from_module(dict(module.params, login_db=dbname)))
    try:
        rows = query_rows(SqlSession(module, conn),
                          "SELECT current_setting('server_version_num')::int, pg_is_in_recovery(), current_user, "
                          "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), current_database()")
    finally:
        conn.close()
    version, in_recovery, user, superuser, database = rows[0]
    result = dict(server_version=version, in_recovery=in_recovery, user=user, superuser=superuser, database=database)
    if module.params['require_superuser'] and not superuser:
        module.fail_json(msg='role %s can log in to %s but is not a superuser; the DR procedures need a superuser to manage '
                             'replication and privileges' % (user, database), changed=False, **result)
    return result


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(require_superuser=dict(type='bool', default=False),
                         databases=dict(type='list', elements='str'),
                         login_db=dict(type='str'))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, required_one_of=[('login_db', 'databases')],
                           mutually_exclusive=[('login_db', 'databases')])
    databases = module.params['databases']
    if databases is not None and not databases:
        module.fail_json(msg='databases is empty: name at least one database, or leave it out to use login_db')
    # connect() checks the bounds only for its own login_* options; here every connection is built from them.
    errors = connection_bound_errors(module.params)
    if errors:
        module.fail_json(msg='; '.join(errors))
    checked = [prove(module, dbname) for dbname in (databases if databases is not None else [module.params['login_db']])]
    module.exit_json(changed=False, checked=checked, **checked[0])


if __name__ == '__main__':
    main()
