#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_access
short_description: Grant or revoke client write access of the Genesys database roles on one database
version_added: 0.1.0
description:
  - Puts the login roles of the Genesys applications (for example the Configuration Server's
    role on the Configuration Database) into C(read_write) or C(read_only) access on every
    table and sequence of one schema of the database named by O(login_db).
  - This is how a site is fenced (its database refuses client writes) and how the surviving
    site is opened for writes.
  - The current access is read from the effective privileges (C(has_table_privilege),
    C(has_sequence_privilege)) on every run, never remembered, so the module is idempotent
    and a rerun after an interrupted run finishes the job.
  - O(state=read_only) is refused, before anything changes, when a role would keep write access
    by another way than its own grants (superuser, ownership or membership of the owner, a
    grant to PUBLIC or to a role it is member of), because revoking its grants could not fence it.
  - With O(advance_sequences=true) every sequence owned by a table column of the schema is
    moved past the highest value of its column. Logical replication does not carry sequence
    values, so this is needed before a replica takes writes.
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: Nothing changes; RV(queries) lists the statements that would run and RV(ignore:changed) says whether anything would change.
  diff_mode:
    support: full
    description: The per-role privileges before and after.
options:
  roles:
    description:
      - Login roles of the Genesys applications whose access is managed.
    type: list
    elements: str
    required: true
  schema:
    description:
      - Schema whose tables and sequences are concerned.
    type: str
    default: public
  state:
    description:
      - V(read_write) grants C(SELECT, INSERT, UPDATE, DELETE, TRUNCATE) on every table (and view)
        of the schema and C(USAGE, SELECT, UPDATE) on every sequence.
      - V(read_only) grants C(SELECT) on every table where it is missing, and revokes
        C(INSERT, UPDATE, DELETE, TRUNCATE) on the tables and C(USAGE, UPDATE) on the sequences
        (C(SELECT) on sequences is left as it is).
    type: str
    required: true
    choices: [read_write, read_only]
  terminate_sessions:
    description:
      - With O(state=read_only), terminate the sessions of O(roles) on this database, so that a
        connected client loses its writing session at once and an open transaction cannot commit.
      - All their sessions are terminated when this run revoked privileges; on a later run (access
        already read-only) only sessions still inside a transaction that wrote something
        (an assigned transaction id) are, so a rerun stays idempotent for read-only clients.
    type: bool
    default: true
  advance_sequences:
    description:
      - Move every sequence owned by a column of a table of the schema that is behind - the next value
        it would hand out is not above the highest value of that column - to that highest value plus
        O(sequence_margin). Done before privileges change.
      - Sequences counting downwards are left alone with a warning.
    type: bool
    default: false
  sequence_margin:
    description:
      - Added to the column maximum when a sequence is advanced (a sequence that is not behind is left alone).
    type: int
    default: 0
notes:
  - Only existing tables and sequences are concerned; default privileges for tables created later are not changed.
  - Advance sequences while no client writes (after the other site is fenced and before write access is granted).
seealso:
  - module: genesys_dr.framework.pg_subscription
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Fence the Configuration Database of the main site
  genesys_dr.framework.pg_access:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    roles: [genesys_cs]
    state: read_only
  register: fence

- name: Open the secondary Configuration Database for writes, sequences first
  genesys_dr.framework.pg_access:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    roles: [genesys_cs]
    state: read_write
    advance_sequences: true
    sequence_margin: 1000
'''

RETURN = r'''
initial_state:
  description: Access of each role before the run.
  returned: always
  type: dict
  contains:
    database:
      description: Database acted on.
      type: str
      sample: cfgdb
    schema:
      description: Schema acted on.
      type: str
      sample: public
    roles:
      description:
        - Per role, C(access) (one of V(read_write), V(read_only), V(none), V(partial)),
          C(superuser), C(tables) and C(sequences) (C(total) and, per privilege, on how many
          of them the role has it).
      type: dict
      sample:
        genesys_cs:
          access: read_write
          superuser: false
          tables: {total: 5, SELECT: 5, INSERT: 5, UPDATE: 5, DELETE: 5, TRUNCATE: 5}
          sequences: {total: 5, USAGE: 5, SELECT: 5, UPDATE: 5}
final_state:
  description: Access of each role after the run, read back (in check mode, what it would be). Same shape as RV(initial_state).
  returned: always
  type: dict
sessions_terminated:
  description: Sessions of O(roles) terminated on this database (in check mode, that would be).
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
sequences_advanced:
  description: Sequences moved past their column maximum (in check mode, that would be).
  returned: always
  type: list
  elements: dict
  contains:
    sequence:
      description: Schema-qualified sequence name.
      type: str
      sample: public.cfg_person_dbid_seq
    table:
      description: Schema-qualified table owning the sequence.
      type: str
    column:
      description: Column owning the sequence.
      type: str
    column_max:
      description: Highest value found in the column.
      type: int
    next_value_before:
      description: Value the sequence would have handed out next, before.
      type: int
    next_value_after:
      description: Value the sequence hands out next, after (read back; computed in check mode).
      type: int
queries:
  description: Statements that changed something (in check mode, that would have).
  returned: always
  type: list
  elements: str
  sample:
    - REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "public" FROM "genesys_cs"
    - SELECT pg_terminate_backend(4242, 5000)
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.genesys_dr.framework.plugins.module_utils.access import (
    AccessState,
    SEQUENCE_PRIVILEGES,
    SEQUENCE_WRITE_PRIVILEGES,
    TABLE_KINDS,
    TABLE_PRIVILEGES,
    TABLE_WRITE_PRIVILEGES,
    access_of,
    qualified,
    satisfies,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    connect,
    exec_sql,
    pgsql,
    postgres_common_argument_spec,
    query_dicts,
    query_rows,
    role_sessions,
    terminate_session,
)

# A refusal lists at most this many grants that keep write access.
MAX_LISTED = 10


class PgAccess(AccessState):
    def __init__(self, module, conn):
        super(PgAccess, self).__init__(module, conn)
        self.state = module.params['state']
        self.check_mode = module.check_mode
        self.changed = False
        self.revoked = False
        self.sessions_terminated = []
        self.sequences_advanced = []

    def write_kept_elsewhere(self, role):
        """Write privileges the role would keep after its own grants are revoked, and through what."""
        rows = query_rows(self, (
            "SELECT n.nspname || '.' || c.relname, a.privilege_type,"
            " CASE WHEN a.grantee = 0 THEN 'a grant to PUBLIC'"
            "      WHEN a.grantee = c.relowner THEN 'ownership by ' || pg_catalog.quote_ident(g.rolname)"
            "      ELSE 'membership of ' || pg_catalog.quote_ident(g.rolname) END"
            " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,"
            " LATERAL pg_catalog.aclexplode(COALESCE(c.relacl, pg_catalog.acldefault("
            "   CASE WHEN c.relkind = 'S' THEN 's'::\"char\" ELSE 'r'::\"char\" END, c.relowner))) a"
            " LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee,"
            " (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(role)s) r"
            " WHERE n.nspname = %(schema)s"
            " AND ((c.relkind = 'S' AND a.privilege_type IN ('USAGE', 'UPDATE'))"
            "   OR (c.relkind IN (" + ', '.join("'%s'" % k for k in TABLE_KINDS) + ")"
            "       AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')))"
            " AND CASE WHEN a.grantee = 0 THEN true WHEN a.grantee = r.oid THEN a.grantee = c.relowner"
            "      ELSE pg_catalog.pg_has_role(r.oid, a.grantee, 'MEMBER') END"
            " ORDER BY 1, 2"), dict(role=role, schema=self.schema))
        return ['%s on %s through %s' % (priv, table, how) for table, priv, how in rows]

    def refuse_unreachable_read_only(self, initial):
        problems = []
        for role in self.roles:
            if initial['roles'][role]['superuser']:
                problems.append('role %s is a superuser: privileges cannot fence it; use a non-superuser login role for the application' % role)
                continue
            kept = self.write_kept_elsewhere(role)
            if kept:
                listed = kept[:MAX_LISTED] + (['... %d more' % (len(kept) - MAX_LISTED)] if len(kept) > MAX_LISTED else [])
                problems.append('role %s keeps write access after REVOKE: %s; give the tables to a role %s is not member of '
                                'and revoke those grants' % (role, '; '.join(listed), role))
        if problems:
            self.module.fail_json(msg='cannot make %s read-only on database %s, nothing was changed: %s' % (
                ', '.join(self.roles), self.database, ' | '.join(problems)), initial_state=initial)

    def _run(self, query, params=None):
        exec_sql(self, query, params, dont_exec=self.check_mode)
        self.changed = True

    def _on_all(self, verb, privileges, kind, role):
        query = pgsql.SQL('{verb} {privs} ON ALL {kind} IN SCHEMA {schema} {to} {role}').format(
            verb=pgsql.SQL(verb), privs=pgsql.SQL(', '.join(privileges)), kind=pgsql.SQL(kind),
            schema=pgsql.Identifier(self.schema), to=pgsql.SQL('TO' if verb == 'GRANT' else 'FROM'), role=pgsql.Identifier(role))
        self._run(query)

    def converge_privileges(self, initial):
        for role in self.roles:
            tables, sequences = initial['roles'][role]['tables'], initial['roles'][role]['sequences']
            if self.state == 'read_write':
                if any(tables[p] < tables['total'] for p in TABLE_PRIVILEGES):
                    self._on_all('GRANT', TABLE_PRIVILEGES, 'TABLES', role)
                if any(sequences[p] < sequences['total'] for p in SEQUENCE_PRIVILEGES):
                    self._on_all('GRANT', SEQUENCE_PRIVILEGES, 'SEQUENCES', role)
                continue
            if tables['SELECT'] < tables['total']:
                self._on_all('GRANT', ['SELECT'], 'TABLES', role)
            if any(tables[p] for p in TABLE_WRITE_PRIVILEGES):
                self._on_all('REVOKE', TABLE_WRITE_PRIVILEGES, 'TABLES', role)
                self.revoked = True
            if any(sequences[p] for p in SEQUENCE_WRITE_PRIVILEGES):
                self._on_all('REVOKE', SEQUENCE_WRITE_PRIVILEGES, 'SEQUENCES', role)
                self.revoked = True

    def terminate_sessions(self):
        for session in role_sessions(self, self.roles):
            if self.revoked or session['in_write_transaction']:
                self.sessions_terminated.append(terminate_session(self, session, self.database))
                self.changed = True

    def advance_sequences(self, margin):
        owned = query_dicts(self, (
            "SELECT sn.nspname AS seq_schema, s.relname AS seq_name, tn.nspname AS table_schema, t.relname AS table_name,"
            " a.attname AS column_name, q.seqincrement AS increment, q.seqmax AS max_value"
            " FROM pg_catalog.pg_class s"
            " JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace"
            " JOIN pg_catalog.pg_sequence q ON q.seqrelid = s.oid"
            " JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.oid"
            "  AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')"
            " JOIN pg_catalog.pg_class t ON t.oid = d.refobjid"
            " JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace"
            " JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
            " WHERE s.relkind = 'S' AND tn.nspname = %s"
            " ORDER BY 1, 2"), (self.schema,))
        for seq in owned:
            seq_ident = pgsql.Identifier(seq['seq_schema'], seq['seq_name'])
            name = qualified(seq['seq_schema'], seq['seq_name'])
            if seq['increment'] < 0:
                self.module.warn('sequence %s counts downwards; not advanced' % name)
                continue
            column_max = query_rows(self, pgsql.SQL('SELECT max({col})::bigint FROM {table}').format(
                col=pgsql.Identifier(seq['column_name']), table=pgsql.Identifier(seq['table_schema'], seq['table_name'])))[0][0]
            if column_max is None:
                continue
            next_before = self._next_value(seq_ident, seq['increment'])
            if next_before > column_max:
                continue
            target = column_max + margin
            if target > seq['max_value']:
                self.module.fail_json(msg=(
                    'sequence %s cannot be advanced to %d: its maximum is %d; raise it (ALTER SEQUENCE ... MAXVALUE) or lower sequence_margin') % (
                        name, target, seq['max_value']))
            query = pgsql.SQL('SELECT pg_catalog.setval({seq}, {value}, true)').format(
                seq=pgsql.Literal(seq_ident.as_string(self.conn)), value=pgsql.Literal(target))
            exec_sql(self, query, return_rows=True, dont_exec=self.check_mode)
            self.changed = True
            next_after = target + seq['increment'] if self.check_mode else self._next_value(seq_ident, seq['increment'])
            self.sequences_advanced.append(dict(
                sequence=name, table=qualified(seq['table_schema'], seq['table_name']), column=seq['column_name'],
                column_max=column_max, next_value_before=next_before, next_value_after=next_after))

    def _next_value(self, seq_ident, increment):
        last_value, is_called = query_rows(self, pgsql.SQL('SELECT last_value, is_called FROM {seq}').format(seq=seq_ident))[0]
        return last_value + increment if is_called else last_value

    def predicted(self, initial):
        """The state the run would leave (check mode)."""
        final = dict(database=initial['database'], schema=initial['schema'], roles={})
        for role, state in initial['roles'].items():
            tables, sequences = dict(state['tables']), dict(state['sequences'])
            if self.state == 'read_write':
                tables.update((p, tables['total']) for p in TABLE_PRIVILEGES)
                sequences.update((p, sequences['total']) for p in SEQUENCE_PRIVILEGES)
            else:
                tables['SELECT'] = tables['total']
                tables.update((p, 0) for p in TABLE_WRITE_PRIVILEGES)
                sequences.update((p, 0) for p in SEQUENCE_WRITE_PRIVILEGES)
            new = dict(superuser=state['superuser'], tables=tables, sequences=sequences)
            new['access'] = access_of(new)
            final['roles'][role] = new
        return final


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        roles=dict(type='list', elements='str', required=True),
        schema=dict(type='str', default='public'),
        state=dict(type='str', required=True, choices=['read_write', 'read_only']),
        terminate_sessions=dict(type='bool', default=True),
        advance_sequences=dict(type='bool', default=False),
        sequence_margin=dict(type='int', default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not module.params['roles']:
        module.fail_json(msg='roles is empty: name at least one login role')
    if module.params['sequence_margin'] < 0:
        module.fail_json(msg='sequence_margin must be 0 or more')

    conn = connect(module)
    try:
        access = PgAccess(module, conn)
        access.check_inputs()
        initial = access.observe()
        if access.state == 'read_only':
            access.refuse_unreachable_read_only(initial)
        if module.params['advance_sequences']:
            access.advance_sequences(module.params['sequence_margin'])
        access.converge_privileges(initial)
        if access.state == 'read_only' and module.params['terminate_sessions']:
            access.terminate_sessions()
        final = access.predicted(initial) if module.check_mode else access.observe()
        if not module.check_mode:
            wrong = [r for r in access.roles if not satisfies(final['roles'][r], access.state)]
            if wrong:
                module.fail_json(msg='after the change, role(s) %s on database %s still do not have %s access (read back: %s); '
                                     'another session may have changed privileges concurrently: run again' % (
                                         ', '.join(wrong), access.database, access.state, ', '.join(final['roles'][r]['access'] for r in wrong)),
                                 initial_state=initial, final_state=final, queries=access.executed_queries)
    finally:
        conn.close()

    result = dict(
        changed=access.changed,
        initial_state=initial,
        final_state=final,
        sessions_terminated=access.sessions_terminated,
        sequences_advanced=access.sequences_advanced,
        queries=[to_native(q) for q in access.executed_queries],
    )
    if module._diff:
        result['diff'] = dict(before=initial, after=final)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
