#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_log_site
short_description: Make a Log Database stamp the rows written into it with one site name
version_added: 0.2.0
description:
  - The Log Database is replicated in both directions; each site publishes only the rows first stored in its
    own database, found by a site column (O(column)) whose default reads a database-level setting
    (O(setting)). The publication's row filter and this stamp must name the same site, or rows are
    written, the subscription runs, and nothing moves.
  - This module sets the database-level O(setting) of the database named by O(login_db) to O(site), so
    the replication role can key the row filter to the same value.
  - A session keeps the value it started with. When the stamp changes, the sessions of O(roles) (the Log
    Message Servers) are terminated so that they reconnect and stamp new rows with O(site); a Log
    Message Server keeps the events of a broken session and writes them again.
  - What a new row gets is read back on a new session by evaluating the column's default, so a default
    that does not read O(setting) is found and reported instead of being assumed.
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: Nothing changes; RV(queries) lists the statements that would run, RV(stamp) is the predicted stamp.
  diff_mode:
    support: full
    description: The setting before and after.
options:
  site:
    description:
      - The site name rows written into this database are stamped with (the inventory's C(genesys_log_site)).
    type: str
    required: true
  table:
    description:
      - The log table, optionally schema-qualified.
    type: str
    default: public.log_event
  column:
    description:
      - The site column of O(table); its default must read O(setting).
    type: str
    default: db_site
  setting:
    description:
      - The database-level setting (a custom C(prefix.name) parameter) the default of O(column) reads.
    type: str
    default: genesys.db_site
  roles:
    description:
      - Login roles of the Log Message Servers; their sessions on this database are terminated when the
        stamp changes.
    type: list
    elements: str
    default: []
seealso:
  - module: genesys_dr.framework.pg_subscription
  - module: genesys_dr.framework.pg_log_flow_info
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Stamp the rows of this site's Log Database with the site's log name
  genesys_dr.framework.pg_log_site:
    login_host: "{{ genesys_host_address }}"
    login_user: genesys_dr_admin
    login_password: "{{ genesys_db_admin_password }}"
    login_db: logdb
    site: "{{ genesys_log_site | default(genesys_site) }}"
    roles: [gcti_logms]
'''

RETURN = r'''
initial_state:
  description: The database-level setting before the run.
  returned: always
  type: dict
  contains:
    database:
      description: Database acted on.
      type: str
      sample: logdb
    setting:
      description: Name of the setting.
      type: str
      sample: genesys.db_site
    value:
      description: Its database-level value, null when not set.
      type: str
      sample: site1
    column_default:
      description: The default expression of the site column.
      type: str
      sample: current_setting('genesys.db_site'::text)
final_state:
  description: The same after the run, read back (in check mode, what it would be).
  returned: always
  type: dict
stamp:
  description: What a row inserted by a new session gets in the site column (in check mode, predicted).
  returned: always
  type: str
  sample: dc_east
sessions_terminated:
  description: Sessions of O(roles) terminated because the stamp changed (in check mode, that would be).
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Backend process id.
      type: int
    user:
      description: Role of the session.
      type: str
    application_name:
      description: C(application_name) the client set.
      type: str
    client_addr:
      description: Client address, null for a Unix socket.
      type: str
    backend_start:
      description: When the session started (ISO 8601).
      type: str
    in_write_transaction:
      description: Whether the session was inside a transaction that had written something.
      type: bool
    terminated:
      description: Whether the backend was gone within 5 seconds (false in check mode).
      type: bool
queries:
  description: Statements that changed something (in check mode, that would have).
  returned: always
  type: list
  elements: str
  sample: ["ALTER DATABASE \"logdb\" SET \"genesys\".\"db_site\" = 'dc_east'"]
'''

import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    conn_params_from_module,
    connect,
    exec_sql,
    pgsql,
    postgres_common_argument_spec,
    query_rows,
    role_sessions,
    SqlSession,
    terminate_session,
)

SETTING_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_$]*$')


class PgLogSite(SqlSession):
    def __init__(self, module, conn):
        super(PgLogSite, self).__init__(module, conn)
        self.site = module.params['site']
        self.table = module.params['table']
        self.column = module.params['column']
        self.setting = module.params['setting']
        self.roles = module.params['roles']
        self.check_mode = module.check_mode
        self.changed = False
        self.sessions_terminated = []
        self.database = query_rows(self, 'SELECT current_database()')[0][0]

    def observe(self):
        value = query_rows(self, (
            'SELECT substr(s, length(%(name)s) + 2) FROM pg_catalog.pg_db_role_setting d, unnest(d.setconfig) s'
            ' WHERE d.setrole = 0 AND d.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())'
            " AND s LIKE %(name)s || '=%%'"), dict(name=self.setting))
        return dict(database=self.database, setting=self.setting, value=value[0][0] if value else None,
                    column_default=self.column_default())

    def column_default(self):
        if not query_rows(self, 'SELECT to_regclass(%s) IS NOT NULL', (self.table,))[0][0]:
            self.module.fail_json(msg='table %s does not exist in database %s: fix the table option (the Log Database table '
                                      'that is replicated)' % (self.table, self.database))
        rows = query_rows(self, (
            'SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attribute a'
            ' LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum'
            ' WHERE a.attrelid = to_regclass(%s) AND a.attname = %s AND NOT a.attisdropped'), (self.table, self.column))
        if not rows:
            self.module.fail_json(msg='table %s of database %s has no column %s: fix the column option' % (self.table, self.database, self.column))
        expression = rows[0][0]
        if not expression or "current_setting('%s'" % self.setting not in expression:
            self.module.fail_json(msg=(
                'rows of %s in database %s get %s from %s, not from the setting %s: the stamp cannot be set by this '
                'module; give the column the default current_setting(%r)') % (
                    self.table, self.database, self.column, expression or 'no default', self.setting, self.setting))
        return expression

    def converge(self, initial):
        if initial['value'] == self.site:
            return
        query = pgsql.SQL('ALTER DATABASE {db} SET {setting} = {value}').format(
            db=pgsql.Identifier(self.database), setting=pgsql.Identifier(*self.setting.split('.')), value=pgsql.Literal(self.site))
        exec_sql(self, query, dont_exec=self.check_mode)
        self.changed = True
        if self.roles:
            self.terminate_sessions()

    def terminate_sessions(self):
        for session in role_sessions(self, self.roles):
            self.sessions_terminated.append(terminate_session(
                self, session, self.database, consequence='; it may still write rows with the old stamp'))

    def stamp_of_new_session(self, expression):
        """Evaluate the column default on a new session: what the next row written will carry."""
        conn = connect(self.module, conn_params_from_module(self.module.params))
        try:
            cursor = conn.cursor()
            cursor.execute('BEGIN READ ONLY')
            cursor.execute('SELECT (%s)::text' % expression)
            stamp = cursor.fetchone()[0]
            cursor.execute('ROLLBACK')
            return stamp
        finally:
            conn.close()


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        site=dict(type='str', required=True),
        table=dict(type='str', default='public.log_event'),
        column=dict(type='str', default='db_site'),
        setting=dict(type='str', default='genesys.db_site'),
        roles=dict(type='list', elements='str', default=[]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not module.params['site'].strip():
        module.fail_json(msg='site is empty: give the site name rows of this Log Database are stamped with')
    if not SETTING_RE.match(module.params['setting']):
        module.fail_json(msg='setting %r is not a custom parameter name (prefix.name)' % module.params['setting'])

    conn = connect(module)
    try:
        stamper = PgLogSite(module, conn)
        initial = stamper.observe()
        stamper.converge(initial)
        if module.check_mode:
            final = dict(initial, value=module.params['site'])
            stamp = module.params['site']
        else:
            final = stamper.observe()
            stamp = stamper.stamp_of_new_session(final['column_default'])
            if stamp != module.params['site']:
                module.fail_json(msg='after setting %s = %s on %s, a new row would still be stamped %s (default %s): '
                                     'a role-level setting may override it' % (
                                         stamper.setting, module.params['site'], stamper.database, stamp, final['column_default']),
                                 initial_state=initial, final_state=final, queries=stamper.executed_queries)
    finally:
        conn.close()

    result = dict(changed=stamper.changed, initial_state=initial, final_state=final, stamp=stamp,
                  sessions_terminated=stamper.sessions_terminated, queries=[to_native(q) for q in stamper.executed_queries])
    if module._diff:
        result['diff'] = dict(before=initial, after=final)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
