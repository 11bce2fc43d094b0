#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_content_info
short_description: Row count and content checksum of every table of a PostgreSQL database
version_added: 0.2.0
description:
  - Reads, for every table of the database named by O(login_db) outside the system schemas, how many
    rows it holds and an md5 checksum of its content, so that the content of two copies of a database
    (the Configuration Database at two DR sites) can be compared without moving the rows.
  - The checksum of a table is the md5 of the md5 fingerprints of its rows (C(md5(row::text))), sorted
    bytewise and joined by newlines, so it depends neither on the physical row order nor on the
    collation of either server.
  - Every table is read in one C(REPEATABLE READ READ ONLY) transaction (one snapshot for the whole
    database) with the output settings that shape C(row::text) pinned (C(TimeZone=UTC), C(DateStyle=ISO),
    C(IntervalStyle=postgres), C(extra_float_digits=1), C(bytea_output=hex)), so two servers with other
    defaults give the same checksums for the same rows.
  - With O(row_fingerprints=true) it also returns every row's fingerprint, to count the rows one copy
    holds and the other does not.
  - Reads only; the connection goes through the collection's PostgreSQL connection layer, so the password
    is a module option (never an environment variable or a command line) and is not shown at any verbosity.
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
  row_fingerprints:
    description:
      - Also return RV(row_fingerprints), one entry per row of every table.
      - The list is as long as the database has rows; use it for a database of configuration size, not
        for bulk data.
    type: bool
    default: false
notes:
  - The login role must be able to read every table (the DR administrator role of the deployment can).
seealso:
  - module: genesys_dr.framework.pg_subscription
  - module: genesys_dr.framework.pg_dump_archive
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Checksum every Configuration Database table at both DR sites
  genesys_dr.framework.pg_content_info:
    login_host: "{{ hostvars[item].genesys_host_address }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
  delegate_to: "{{ item }}"
  loop: "{{ groups['db_hosts'] }}"
  register: cfgdb_content

- name: Fail unless both sites hold the same rows
  ansible.builtin.assert:
    that: cfgdb_content.results[0].tables == cfgdb_content.results[1].tables

- name: Fingerprint every row (to count the rows only one site holds)
  genesys_dr.framework.pg_content_info:
    login_db: cfgdb
    row_fingerprints: true
  register: cfgdb_rows
'''

RETURN = r'''
database:
  description: Database read.
  returned: always
  type: str
  sample: cfgdb
tables:
  description: Per schema-qualified table name, its row count and content checksum.
  returned: always
  type: dict
  sample:
    public.cfg_person: {rows: 2, md5: 2b8d1f1f5a5d2c7d2a8b5e1a6f0c3e4d}
    public.cfg_dn: {rows: 0, md5: d41d8cd98f00b204e9800998ecf8427e}
  contains:
    rows:
      description: Number of rows.
      type: int
    md5:
      description: md5 of the sorted row fingerprints joined by newlines (of the empty string for an empty table).
      type: str
row_fingerprints:
  description:
    - One C(<schema>.<table>|<md5 of the row>) per row, tables in name order, rows sorted within a table; what the
      C(genesys_dr.framework.row_divergence) filter compares.
  returned: when O(row_fingerprints=true)
  type: list
  elements: str
  sample: [public.cfg_person|3b5d5c3712955042212316173ccf37be]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    connect,
    pgsql,
    postgres_common_argument_spec,
    query_rows,
    SqlSession,
)

# Settings that change the text form of a row; pinned so that servers with other defaults agree.
PINNED_SETTINGS = (
    ('TimeZone', 'UTC'),
    ('DateStyle', 'ISO, YMD'),
    ('IntervalStyle', 'postgres'),
    ('extra_float_digits', '1'),
    ('bytea_output', 'hex'),
)

TABLES_QUERY = (
    "SELECT schemaname, tablename FROM pg_catalog.pg_tables"
    " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    " ORDER BY schemaname COLLATE \"C\", tablename COLLATE \"C\"")

# md5 hex digits sort the same in every collation only under "C": say so explicitly.
CHECKSUM_QUERY = (
    "SELECT count(*), md5(coalesce(string_agg(f, E'\\n' ORDER BY f COLLATE \"C\"), ''))"
    " FROM (SELECT md5(t::text) AS f FROM {table} t) rows")
FINGERPRINTS_QUERY = 'SELECT f FROM (SELECT md5(t::text) AS f FROM {table} t) rows ORDER BY f COLLATE "C"'


class PgContentInfo(SqlSession):
    def __init__(self, module, conn):
        super(PgContentInfo, self).__init__(module, conn)
        self.tables = {}
        self.row_fingerprints = []
        self.database = None

    def read(self, with_fingerprints):
        self.conn.set_session(isolation_level='REPEATABLE READ', readonly=True, autocommit=False)
        try:
            for name, value in PINNED_SETTINGS:
                query_rows(self, 'SELECT pg_catalog.set_config(%s, %s, true)', (name, value))
            self.database = query_rows(self, 'SELECT current_database()')[0][0]
            for schema, table in query_rows(self, TABLES_QUERY):
                qualified = '%s.%s' % (schema, table)
                ident = pgsql.Identifier(schema, table)
                rows, md5 = query_rows(self, pgsql.SQL(CHECKSUM_QUERY).format(table=ident))[0]
                self.tables[qualified] = dict(rows=rows, md5=md5)
                if with_fingerprints:
                    self.row_fingerprints.extend(
                        '%s|%s' % (qualified, r[0]) for r in query_rows(self, pgsql.SQL(FINGERPRINTS_QUERY).format(table=ident)))
        finally:
            self.conn.rollback()


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        row_fingerprints=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)

    conn = connect(module)
    try:
        info = PgContentInfo(module, conn)
        info.read(module.params['row_fingerprints'])
    finally:
        conn.close()

    result = dict(changed=False, database=info.database, tables=info.tables)
    if module.params['row_fingerprints']:
        result['row_fingerprints'] = info.row_fingerprints
    module.exit_json(**result)


if __name__ == '__main__':
    main()
