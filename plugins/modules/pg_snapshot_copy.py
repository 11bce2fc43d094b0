#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_snapshot_copy
short_description: Copy a live database into a new one as of one consistent snapshot, leaving the source untouched
version_added: 0.3.0
description:
  - With O(state=present), copies the database named by O(login_db) into the new database O(target) as one
    consistent snapshot, while the source keeps serving and, on a logical replication subscriber, keeps applying.
    C(CREATE DATABASE ... TEMPLATE) is not used - it needs the source without any other session, and an apply
    worker is one. Instead a C(REPEATABLE READ) transaction exports its snapshot, C(pg_dump --snapshot) dumps
    exactly that snapshot (without subscriptions and publications) and C(pg_restore) restores it.
  - With O(subscription), the position of the publisher this copy corresponds to is reported - the subscription's
    replication origin progress read just before and just after the snapshot was taken (RV(lsn_min), RV(lsn_max);
    equal when nothing was applied in between).
  - The copy is restored into C(<target>__partial) and renamed to O(target) only once complete, with what it is
    (source, positions, time) kept as the database's comment; a copy left partial by a killed run is dropped and
    made again. A run that finds O(target) made by this module reports it and changes nothing.
  - With O(state=absent), drops O(target) (ending its sessions) and any partial copy - only a database this module
    made; any other database of that name is refused.
  - The password reaches C(pg_dump) and C(pg_restore) through a password file (mode 0600, removed at the end), never
    on a command line or in the environment.
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: Connects and reads; copies and drops nothing. RV(ignore:changed) says whether it would.
  diff_mode:
    support: none
    description: RV(target), RV(lsn_min) and RV(lsn_max) describe the copy.
options:
  target:
    description:
      - Name of the copy. It must differ from the source (O(login_db)).
    type: str
    required: true
  state:
    description:
      - V(present) makes the copy unless it exists; V(absent) drops it.
    type: str
    choices: [present, absent]
    default: present
  subscription:
    description:
      - A subscription of the source database; its replication origin progress says which publisher position the
        copy holds.
    type: str
  owner:
    description:
      - Owner of the copy; by default the login role.
    type: str
  pg_dump:
    description:
      - The C(pg_dump) program, an absolute path or a name looked up in C(PATH).
    type: str
    default: pg_dump
  pg_restore:
    description:
      - The C(pg_restore) program, an absolute path or a name looked up in C(PATH).
    type: str
    default: pg_restore
notes:
  - C(pg_dump) and C(pg_restore) run on the host that runs the module; O(login_host) is the server as seen from there.
    The login role must be allowed to create databases and to read every object of the source.
seealso:
  - module: genesys_dr.framework.pg_dump_archive
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Copy the replica's Configuration Database for a DR test, as of the position it has applied
  genesys_dr.framework.pg_snapshot_copy:
    login_db: cfgdb
    target: cfgdb_drtest
    subscription: genesys_cfgdb_from_dc_east
  register: drtest_copy

- name: Drop it after the test
  genesys_dr.framework.pg_snapshot_copy:
    login_db: cfgdb
    target: cfgdb_drtest
    state: absent
'''

RETURN = r'''
target:
  description: The copy's name.
  returned: always
  type: str
  sample: cfgdb_drtest
existed:
  description: Whether the copy was already there (made by an earlier run).
  returned: always
  type: bool
source:
  description: The database copied (as recorded on the copy).
  returned: when the copy exists
  type: str
  sample: cfgdb
lsn_min:
  description: The subscription's origin progress just before the snapshot; null without O(subscription).
  returned: when the copy exists
  type: str
  sample: 0/1E7CB00
lsn_max:
  description: The same just after the snapshot; the copy holds every change up to a position between the two.
  returned: when the copy exists
  type: str
  sample: 0/1E7CB00
copied_at:
  description: When the snapshot was taken (UTC, ISO 8601).
  returned: when the copy exists
  type: str
size_bytes:
  description: Size of the copy (C(pg_database_size)); null in check mode before it exists.
  returned: when the copy exists
  type: int
queries:
  description: Statements that changed something (not the C(pg_dump) and C(pg_restore) runs).
  returned: always
  type: list
  elements: str
elapsed:
  description: Seconds the module spent.
  returned: always
  type: float
'''

import datetime
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    build_conninfo,
    conn_params_from_module,
    connect,
    exec_sql,
    mask_secrets,
    passfile_escape,
    password_file,
    pgsql,
    postgres_common_argument_spec,
    query_rows,
    SqlSession,
)

MARK = 'genesys_dr.framework.pg_snapshot_copy'
PARTIAL = '__partial'
ORIGIN_QUERY = (
    'SELECT o.remote_lsn::text FROM pg_catalog.pg_subscription s'
    ' JOIN pg_catalog.pg_replication_origin_status o ON o.external_id = %s || s.oid'
    ' WHERE s.subname = %s AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())')


class SnapshotCopy(SqlSession):
    def __init__(self, module):
        self.kw = conn_params_from_module(module.params)
        self.source = self.kw.get('dbname')
        super(SnapshotCopy, self).__init__(module, connect(module))
        self.target = module.params['target']
        self.partial = self.target + PARTIAL
        self.password = self.kw.get('password')
        self.secrets = [self.password, passfile_escape(self.password)] if self.password else []

    # -- the copy as found -------------------------------------------------------------

    def describe(self, name):
        """(exists, record) of a database: record is what this module wrote on it, None if not its own."""
        rows = query_rows(self, 'SELECT pg_catalog.shobj_description(oid, \'pg_database\') FROM pg_catalog.pg_database'
                                ' WHERE datname = %s', (name,))
        if not rows:
            return False, None
        try:
            record = json.loads(rows[0][0] or '')
        except ValueError:
            return True, None
        return True, record if isinstance(record, dict) and record.get('made_by') == MARK else None

    def size_of(self, name):
        return query_rows(self, 'SELECT pg_catalog.pg_database_size(%s)', (name,))[0][0]

    def drop(self, name):
        exec_sql(self, pgsql.SQL('DROP DATABASE IF EXISTS {name} WITH (FORCE)').format(name=pgsql.Identifier(name)),
                 dont_exec=self.module.check_mode)

    # -- the copy ------------------------------------------------------------------------

    def origin_lsn(self, cursor):
        subscription = self.module.params['subscription']
        if not subscription:
            return None
        cursor.execute(ORIGIN_QUERY, ('pg_', subscription))
        row = cursor.fetchone()
        if row is None:
            self.module.fail_json(msg='subscription %s has no replication origin in database %s (not a subscription of '
                                      'it, or never started): nothing was changed' % (subscription, self.source))
        return row[0]

    def program(self, name):
        path = self.module.params[name]
        return path if os.path.sep in path else self.module.get_bin_path(path, required=True)

    def run(self, command, environ, what):
        rc, out, err = self.module.run_command(command, environ_update=environ)
        if rc != 0:
            detail = mask_secrets(' '.join((err or out or '').split()), self.secrets)
            self.module.fail_json(msg='%s failed (exit %s): %s; the partial copy %s is left for the next run to replace'
                                      % (what, rc, detail, self.partial), rc=rc)

    def copy(self):
        snapshot_conn = connect(self.module, dict(self.kw))
        cursor = snapshot_conn.cursor()
        lsn_min = self.origin_lsn(cursor)
        # The snapshot is taken by the transaction's first statement, after lsn_min and before lsn_max.
        cursor.execute('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
        cursor.execute('SELECT pg_catalog.pg_export_snapshot()')
        snapshot = cursor.fetchone()[0]
        copied_at = datetime.datetime.utcnow().replace(microsecond=0).isoformat() + 'Z'
        lsn_max = self.origin_lsn(cursor)
        dump = os.path.join(self.module.tmpdir, 'snapshot.dump')
        try:
            with password_file(self.password, self.module.tmpdir) as environ:
                source = dict(self.kw, password=None)
                self.drop(self.partial)
                owner = self.module.params['owner'] or self.kw.get('user')
                exec_sql(self, pgsql.SQL('CREATE DATABASE {name} TEMPLATE template0 OWNER {owner}').format(
                    name=pgsql.Identifier(self.partial), owner=pgsql.Identifier(owner)))
                self.run([self.program('pg_dump'), '--format=custom', '--no-subscriptions', '--no-publications',
                          '--no-password', '--snapshot=%s' % snapshot, '--file=%s' % dump, '--dbname=%s' % build_conninfo(source)],
                         environ, 'pg_dump of %s' % self.source)
                # pg_dump holds the snapshot it imported: the exporting transaction may end.
                cursor.execute('ROLLBACK')
                self.run([self.program('pg_restore'), '--exit-on-error', '--no-password',
                          '--dbname=%s' % build_conninfo(dict(source, dbname=self.partial)), dump],
                         environ, 'pg_restore into %s' % self.partial)
        finally:
            snapshot_conn.close()
            if os.path.exists(dump):
                os.unlink(dump)
        record = dict(made_by=MARK, source=self.source, subscription=self.module.params['subscription'],
                      lsn_min=lsn_min, lsn_max=lsn_max, copied_at=copied_at)
        exec_sql(self, pgsql.SQL('COMMENT ON DATABASE {name} IS {record}').format(
            name=pgsql.Identifier(self.partial), record=pgsql.Literal(json.dumps(record, sort_keys=True))))
        exec_sql(self, pgsql.SQL('ALTER DATABASE {partial} RENAME TO {name}').format(
            partial=pgsql.Identifier(self.partial), name=pgsql.Identifier(self.target)))
        return record


def report(target, existed, record, size):
    result = dict(target=target, existed=existed)
    if record is not None:
        result.update(source=record.get('source'), lsn_min=record.get('lsn_min'), lsn_max=record.get('lsn_max'),
                      copied_at=record.get('copied_at'), size_bytes=size)
    return result


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        target=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        subscription=dict(type='str'),
        owner=dict(type='str'),
        pg_dump=dict(type='str', default='pg_dump'),
        pg_restore=dict(type='str', default='pg_restore'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if not params['login_db']:
        module.fail_json(msg='login_db names the database to copy')
    if params['target'] in (params['login_db'], 'postgres', 'template0', 'template1') or params['target'].endswith(PARTIAL):
        module.fail_json(msg='target %r cannot be the source, a system database or end in %s: name a new database'
                             % (params['target'], PARTIAL))
    began = time.monotonic()
    copy = SnapshotCopy(module)
    exists, record = copy.describe(copy.target)
    if exists and record is None:
        module.fail_json(msg='database %s exists and was not made by this module: it is neither replaced nor dropped; '
                             'name another target, or drop it yourself if it is a leftover' % copy.target)
    if params['state'] == 'absent':
        partial_exists, dummy = copy.describe(copy.partial)
        if exists:
            copy.drop(copy.target)
        if partial_exists:
            copy.drop(copy.partial)
        module.exit_json(changed=exists or partial_exists, target=copy.target, existed=exists,
                         queries=copy.executed_queries, elapsed=round(time.monotonic() - began, 3))
    if exists:
        module.exit_json(changed=False, queries=[], elapsed=round(time.monotonic() - began, 3),
                         **report(copy.target, True, record, copy.size_of(copy.target)))
    if module.check_mode:
        lsn = copy.origin_lsn(copy.cursor)
        module.exit_json(changed=True, queries=[], elapsed=round(time.monotonic() - began, 3),
                         **report(copy.target, False, dict(source=copy.source, lsn_min=lsn, lsn_max=lsn), None))
    record = copy.copy()
    module.exit_json(changed=True, queries=copy.executed_queries, elapsed=round(time.monotonic() - began, 3),
                     **report(copy.target, False, record, copy.size_of(copy.target)))


if __name__ == '__main__':
    main()
