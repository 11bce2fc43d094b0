# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A publication of the database the module connects to: observed, and converged to the wanted definition
(validated and deparsed by PostgreSQL itself before anything changes)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    exec_sql,
    pgsql,
    psycopg2,
    query_dicts,
    query_rows,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.logical_replication import (
    PUBLISH_OPERATIONS,
)


class Publication(object):
    def __init__(self, module, conn):
        self.module = module
        self.conn = conn
        self.cursor = conn.cursor()
        self.executed_queries = []
        self.name = module.params['name']
        self.changed = False

    def observe(self):
        rows = query_dicts(self, (
            'SELECT oid, puballtables AS all_tables, pubinsert, pubupdate, pubdelete, pubtruncate,'
            ' pg_catalog.pg_get_userbyid(pubowner) AS owner FROM pg_catalog.pg_publication WHERE pubname = %s'), (self.name,))
        if not rows:
            return dict(name=self.name, exists=False, all_tables=False, publish=[], tables=[], schemas=[], owner=None)
        pub = rows[0]
        return dict(
            name=self.name, exists=True, all_tables=pub['all_tables'], owner=pub['owner'],
            publish=[op for op in PUBLISH_OPERATIONS if pub['pub' + op]],
            tables=self._tables(pub['oid']),
            schemas=[r[0] for r in query_rows(self, (
                'SELECT n.nspname FROM pg_catalog.pg_publication_namespace pn JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid'
                ' WHERE pn.pnpubid = %s ORDER BY 1'), (pub['oid'],))])

    def _tables(self, pub_oid):
        return [dict(name=r[0], row_filter=r[1]) for r in query_rows(self, (
            "SELECT n.nspname || '.' || c.relname, pg_catalog.pg_get_expr(pr.prqual, pr.prrelid)"
            ' FROM pg_catalog.pg_publication_rel pr JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid'
            ' JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE pr.prpubid = %s ORDER BY 1'), (pub_oid,))]

    def _resolve_tables(self):
        resolved = []
        for table in self.module.params['tables'] or []:
            rows = query_rows(self, (
                'SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'
                " WHERE c.oid = pg_catalog.to_regclass(%s) AND c.relkind IN ('r', 'p')"), (table['name'],))
            if not rows:
                self.module.fail_json(msg='table %s of publication %s does not exist in database %s (or is not a table): create it or fix tables[].name' % (
                    table['name'], self.name, self.conn.info.dbname))
            resolved.append(dict(schema=rows[0][0], table=rows[0][1], row_filter=table.get('row_filter')))
        return resolved

    def _target_sql(self, name, tables):
        """CREATE PUBLICATION statement for the wanted definition under the given name."""
        return pgsql.SQL('CREATE PUBLICATION {name} {target} WITH (publish = {publish})').format(
            name=pgsql.Identifier(name), target=self._target_clause(tables), publish=pgsql.Literal(', '.join(self.module.params['publish'])))

    def _target_clause(self, tables):
        if self.module.params['all_tables']:
            return pgsql.SQL('FOR ALL TABLES')
        if not tables:
            return pgsql.SQL('')
        return pgsql.SQL('FOR ') + self._table_list(tables)

    @staticmethod
    def _table_list(tables):
        items = []
        for t in tables:
            item = pgsql.SQL('TABLE {t}').format(t=pgsql.Identifier(t['schema'], t['table']))
            if t['row_filter']:
                item = item + pgsql.SQL(' WHERE ({f})').format(f=pgsql.SQL(t['row_filter']))
            items.append(item)
        return pgsql.SQL(', ').join(items)

    def desired(self):
        """The wanted definition, normalised by PostgreSQL itself.

        The wanted publication is created under a probe name inside a transaction that is rolled
        back: PostgreSQL validates the row filters and deparses them the way it stores them, and
        client UPDATE/DELETE are tried (WHERE false) to prove they would still be allowed.
        """
        tables = self._resolve_tables()
        probe = 'genesys_dr_probe_%d' % self.conn.get_backend_pid()
        publish = self.module.params['publish']
        self.cursor.execute('BEGIN')
        try:
            try:
                self.cursor.execute(self._target_sql(probe, tables))
            except psycopg2.Error as e:
                self.module.fail_json(msg='the wanted definition of publication %s is not valid: %s. Fix tables[].row_filter or tables[].name' % (
                    self.name, to_native(e).strip()))
            oid = query_rows(self, 'SELECT oid FROM pg_catalog.pg_publication WHERE pubname = %s', (probe,))[0][0]
            normalised = [] if self.module.params['all_tables'] else self._tables(oid)
            self._check_client_writes(oid, publish)
        finally:
            self.cursor.execute('ROLLBACK')
        return dict(name=self.name, exists=True, all_tables=bool(self.module.params['all_tables']),
                    publish=[op for op in PUBLISH_OPERATIONS if op in publish], tables=normalised, schemas=[]), tables

    def _check_client_writes(self, probe_oid, publish):
        operations = [op for op in ('update', 'delete') if op in publish]
        if not operations:
            return
        published = query_rows(self, (
            "SELECT pg_catalog.quote_ident(schemaname) || '.' || pg_catalog.quote_ident(tablename),"
            ' (SELECT pg_catalog.quote_ident(attname) FROM pg_catalog.pg_attribute'
            '   WHERE attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident(schemaname) || \'.\' || pg_catalog.quote_ident(tablename))'
            '   AND attnum > 0 AND NOT attisdropped ORDER BY attnum LIMIT 1)'
            ' FROM pg_catalog.pg_publication_tables WHERE pubname = (SELECT pubname FROM pg_catalog.pg_publication WHERE oid = %s)'), (probe_oid,))
        for table, column in published:
            statements = []
            if 'update' in operations and column:
                statements.append('UPDATE %s SET %s = %s WHERE false' % (table, column, column))
            if 'delete' in operations:
                statements.append('DELETE FROM %s WHERE false' % table)
            for statement in statements:
                self.cursor.execute('SAVEPOINT genesys_dr_probe')
                try:
                    self.cursor.execute(statement)
                except psycopg2.Error as e:
                    self.cursor.execute('ROLLBACK TO SAVEPOINT genesys_dr_probe')
                    self.module.fail_json(msg=(
                        'publication %s as wanted would make PostgreSQL refuse client %s on table %s: %s. '
                        'Give the table a replica identity covering the row filter columns (primary key or REPLICA IDENTITY), '
                        'or publish only insert/truncate') % (self.name, statement.split()[0], table, to_native(e).strip()))
                self.cursor.execute('RELEASE SAVEPOINT genesys_dr_probe')

    def _run(self, query, check_mode):
        exec_sql(self, query, dont_exec=check_mode)
        self.changed = True

    def converge(self, initial, check_mode):
        state = self.module.params['state']
        if state == 'absent':
            if initial['exists']:
                self._run(pgsql.SQL('DROP PUBLICATION {n}').format(n=pgsql.Identifier(self.name)), check_mode)
            return dict(name=self.name, exists=False, all_tables=False, publish=[], tables=[], schemas=[], owner=None)
        wanted, tables = self.desired()
        wanted['owner'] = initial['owner'] or self.conn.info.user
        statements = []
        if not initial['exists']:
            statements.append(self._target_sql(self.name, tables))
        elif initial['all_tables'] != wanted['all_tables'] or (not tables and not wanted['all_tables'] and (initial['tables'] or initial['schemas'])):
            # ALTER PUBLICATION can neither switch FOR ALL TABLES on or off nor empty the table list.
            statements.append(pgsql.SQL('DROP PUBLICATION {n}').format(n=pgsql.Identifier(self.name)))
            statements.append(self._target_sql(self.name, tables))
        else:
            if not wanted['all_tables'] and (initial['tables'] != wanted['tables'] or initial['schemas']):
                statements.append(pgsql.SQL('ALTER PUBLICATION {n} SET {t}').format(n=pgsql.Identifier(self.name), t=self._table_list(tables)))
            if initial['publish'] != wanted['publish']:
                statements.append(pgsql.SQL('ALTER PUBLICATION {n} SET (publish = {p})').format(
                    n=pgsql.Identifier(self.name), p=pgsql.Literal(', '.join(wanted['publish']))))
        if statements:
            # One transaction: a subscriber never sees the publication missing or half changed.
            if not check_mode:
                self.cursor.execute('BEGIN')
            for statement in statements:
                self._run(statement, check_mode)
            if not check_mode:
                self.cursor.execute('COMMIT')
        return wanted
