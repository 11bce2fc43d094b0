# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client access of database roles on one schema, read from the effective privileges
(has_table_privilege, has_sequence_privilege): what pg_access converges and pg_access_info reads."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import query_rows, SqlSession

TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']
TABLE_WRITE_PRIVILEGES = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']
SEQUENCE_PRIVILEGES = ['USAGE', 'SELECT', 'UPDATE']
SEQUENCE_WRITE_PRIVILEGES = ['USAGE', 'UPDATE']
# Relation kinds GRANT ... ON ALL TABLES IN SCHEMA covers: tables, partitioned tables, views,
# materialized views, foreign tables (OBSERVE_QUERY lists them too).
TABLE_KINDS = ('r', 'p', 'v', 'm', 'f')

OBSERVE_QUERY = (
    "SELECT c.relkind = 'S',"
    " CASE WHEN c.relkind = 'S' THEN pg_catalog.has_sequence_privilege(%(role)s, c.oid, 'SELECT')"
    "  ELSE pg_catalog.has_table_privilege(%(role)s, c.oid, 'SELECT') END,"
    " CASE WHEN c.relkind = 'S' THEN false ELSE pg_catalog.has_table_privilege(%(role)s, c.oid, 'INSERT') END,"
    " CASE WHEN c.relkind = 'S' THEN pg_catalog.has_sequence_privilege(%(role)s, c.oid, 'UPDATE')"
    "  ELSE pg_catalog.has_table_privilege(%(role)s, c.oid, 'UPDATE') END,"
    " CASE WHEN c.relkind = 'S' THEN false ELSE pg_catalog.has_table_privilege(%(role)s, c.oid, 'DELETE') END,"
    " CASE WHEN c.relkind = 'S' THEN false ELSE pg_catalog.has_table_privilege(%(role)s, c.oid, 'TRUNCATE') END,"
    " CASE WHEN c.relkind = 'S' THEN pg_catalog.has_sequence_privilege(%(role)s, c.oid, 'USAGE') ELSE false END"
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = %(schema)s AND c.relkind IN ('S', 'r', 'p', 'v', 'm', 'f')")


def has_no_write(role_state):
    tables, sequences = role_state['tables'], role_state['sequences']
    return all(tables[p] == 0 for p in TABLE_WRITE_PRIVILEGES) and all(sequences[p] == 0 for p in SEQUENCE_WRITE_PRIVILEGES)


def satisfies(role_state, state):
    tables, sequences = role_state['tables'], role_state['sequences']
    if state == 'read_write':
        return all(tables[p] == tables['total'] for p in TABLE_PRIVILEGES) and all(sequences[p] == sequences['total'] for p in SEQUENCE_PRIVILEGES)
    return has_no_write(role_state) and tables['SELECT'] == tables['total']


def access_of(role_state):
    """read_only wins for an empty schema, where both states hold."""
    if satisfies(role_state, 'read_only'):
        return 'read_only'
    if satisfies(role_state, 'read_write'):
        return 'read_write'
    if has_no_write(role_state) and role_state['tables']['SELECT'] == 0:
        return 'none'
    return 'partial'


def qualified(schema, name):
    return '%s.%s' % (schema, name)


class AccessState(SqlSession):
    """The access of O(roles) on O(schema) of the connected database, read on every call."""

    def __init__(self, module, conn):
        super(AccessState, self).__init__(module, conn)
        self.roles = module.params['roles']
        self.schema = module.params['schema']
        self.database = query_rows(self, 'SELECT current_database()')[0][0]

    def check_inputs(self):
        if not query_rows(self, 'SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s', (self.schema,)):
            self.module.fail_json(msg='schema %s does not exist in database %s: fix the schema option' % (self.schema, self.database))
        found = set(r[0] for r in query_rows(self, 'SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)', (self.roles,)))
        missing = [r for r in self.roles if r not in found]
        if missing:
            self.module.fail_json(msg='role(s) %s do not exist on the server of database %s: fix the roles option' % (', '.join(missing), self.database))

    def observe(self):
        """Effective privileges of each role, counted per privilege over the schema's tables and sequences."""
        roles = {}
        for role in self.roles:
            superuser = query_rows(self, 'SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = %s', (role,))[0][0]
            tables = dict(total=0)
            tables.update((p, 0) for p in TABLE_PRIVILEGES)
            sequences = dict(total=0)
            sequences.update((p, 0) for p in SEQUENCE_PRIVILEGES)
            rows = query_rows(self, OBSERVE_QUERY, dict(role=role, schema=self.schema))
            names = TABLE_PRIVILEGES + ['USAGE']
            for row in rows:
                is_sequence, flags = row[0], dict(zip(names, row[1:]))
                if is_sequence:
                    sequences['total'] += 1
                    for p in SEQUENCE_PRIVILEGES:
                        sequences[p] += 1 if flags[p] else 0
                else:
                    tables['total'] += 1
                    for p in TABLE_PRIVILEGES:
                        tables[p] += 1 if flags[p] else 0
            state = dict(superuser=superuser, tables=tables, sequences=sequences)
            state['access'] = access_of(state)
            roles[role] = state
        return dict(database=self.database, schema=self.schema, roles=roles)
