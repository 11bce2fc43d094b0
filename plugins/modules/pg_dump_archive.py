#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_dump_archive
short_description: Dump a PostgreSQL database into an archive file once, the password kept out of sight
version_added: 0.2.0
description:
  - Runs C(pg_dump) of the database named by O(login_db) into O(path), unless O(path) already exists.
    This keeps the content a site held before something overwrites it (the restored main's Configuration
    Database before reprotect's initial copy replaces it), and a rerun never replaces the first dump.
  - The credentials are first proven with a connection through the collection's PostgreSQL connection
    layer, so a wrong password or an unreachable server fails with the same clear message as the other
    PostgreSQL modules.
  - The password reaches C(pg_dump) through a password file (mode 0600, in the module's private temporary
    directory, removed when the module ends) named by C(PGPASSFILE); it is never on a command line (which
    every local user can read) nor in the task's environment (which Ansible prints at C(-vvv)).
  - The dump is written to C(<path>.partial) (mode 0600) and renamed to O(path) only once C(pg_dump) has
    succeeded and the file is on disk, so O(path) is always a complete archive; a partial file left by an
    interrupted run is replaced.
  - What the caller knows about the dumped content (O(summary), for example the rows only this site held) is
    kept beside the archive in C(<path>.json), written before the archive is complete, and read back into
    RV(summary). A run that died after the dump and is run again finds both, even when the database no longer
    holds what they describe.
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: The credentials are proven and RV(command) built; nothing is written. RV(ignore:changed) says whether a dump would be made.
  diff_mode:
    support: none
    description: No before and after; RV(path), RV(size_bytes) and RV(sha256) describe the archive.
options:
  path:
    description:
      - Archive file to create. Its directory must exist.
    type: path
    required: true
  format:
    description:
      - C(pg_dump) output format. V(custom) is for C(pg_restore); V(plain) is an SQL script.
    type: str
    default: custom
    choices: [custom, plain, tar]
  pg_dump:
    description:
      - The C(pg_dump) program, an absolute path or a name looked up in C(PATH). Its major version must
        not be older than the server's.
    type: str
    default: pg_dump
  lock_wait_timeout:
    description:
      - Seconds C(pg_dump) waits for the shared lock on each table (C(--lock-wait-timeout)). A session that
        holds a conflicting lock (an C(ALTER TABLE), a C(VACUUM FULL), a transaction left open) would
        otherwise make the dump, and the run that needs it, wait without bound; past this time the module
        fails and names the cause.
    type: int
    default: 30
  summary:
    description:
      - Facts about the dumped content, kept in C(<path>.json) (mode 0600) with the archive and returned as
        RV(summary). Written only when this run makes the dump; a rerun keeps the first summary with the first dump.
    type: dict
    version_added: 0.3.0
  dump:
    description:
      - V(false) makes no dump and no connection; the module only reports the archive an earlier attempt made at
        O(path) (RV(existed), RV(summary)), for a rerun that finds the database already overwritten.
    type: bool
    default: true
    version_added: 0.3.0
notes:
  - C(pg_dump) runs on the host that runs the module; O(login_host) is the server as seen from there.
seealso:
  - module: genesys_dr.framework.pg_content_info
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Dump the Configuration Database before an initial copy replaces it
  genesys_dr.framework.pg_dump_archive:
    login_host: "{{ genesys_host_address }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    path: /var/lib/genesys-dr/archive/cfgdb-site1-failover-20261124.dump
  register: cfgdb_archive

- name: A rerun after the overwrite - report the archive the first attempt made, if it made one
  genesys_dr.framework.pg_dump_archive:
    login_db: cfgdb
    path: /var/lib/genesys-dr/archive/cfgdb-site1-failover-20261124.dump
    dump: false
  register: cfgdb_archive
'''

RETURN = r'''
path:
  description: The archive file.
  returned: always
  type: str
  sample: /var/lib/genesys-dr/archive/cfgdb-site1-failover-20261124.dump
existed:
  description: Whether O(path) existed before the run (then nothing was dumped).
  returned: always
  type: bool
summary:
  description: The summary kept with the archive, read back from C(<path>.json); null when there is no archive or it has none.
  returned: always
  type: dict
  sample: {divergent_rows: {public.cfg_person: 1}}
  version_added: 0.3.0
size_bytes:
  description: Size of the archive, read back from the file; null in check mode when no archive exists.
  returned: always
  type: int
  sample: 40960
sha256:
  description: SHA-256 of the archive, read back from the file; null in check mode when no archive exists.
  returned: always
  type: str
command:
  description: The C(pg_dump) command line run (in check mode, that would run); it holds no password. Empty with O(dump=false).
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/pg_dump, --format=custom, "--file=/var/lib/genesys-dr/archive/cfgdb.dump.partial", --no-password, --lock-wait-timeout=30s,
           "--dbname=connect_timeout='10' dbname='cfgdb' host='198.18.1.20' port='5432' sslmode='prefer' user='genesys_dr_admin'"]
'''

import hashlib
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    build_conninfo,
    conn_params_from_module,
    connect,
    mask_secrets,
    passfile_escape,
    password_file,
    postgres_common_argument_spec,
)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DumpArchive(object):
    def __init__(self, module):
        self.module = module
        self.path = module.params['path']
        self.partial = self.path + '.partial'
        self.summary_path = self.path + '.json'
        self.kw = conn_params_from_module(module.params)
        self.password = self.kw.pop('password', None)
        self.command = None

    def build_command(self):
        pg_dump = self.module.params['pg_dump']
        if os.path.sep not in pg_dump:
            pg_dump = self.module.get_bin_path(pg_dump, required=True)
        # The connection string carries every libpq keyword of the connection layer except the password.
        self.command = [pg_dump, '--format=%s' % self.module.params['format'], '--file=%s' % self.partial,
                        '--no-password', '--lock-wait-timeout=%ds' % self.module.params['lock_wait_timeout'],
                        '--dbname=%s' % build_conninfo(self.kw)]

    def dump(self):
        directory = os.path.dirname(self.path) or '.'
        if not os.path.isdir(directory):
            self.module.fail_json(msg='the directory of the archive, %s, does not exist: create it first' % directory,
                                  path=self.path, command=self.command)
        if os.path.lexists(self.partial):
            os.unlink(self.partial)
        # pg_dump truncates the file it is given and keeps its mode: create it 0600 first.
        os.close(os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with password_file(self.password, self.module.tmpdir) as environ:
            rc, out, err = self.module.run_command(self.command, environ_update=environ)
        if rc != 0:
            os.unlink(self.partial)
            secrets = [passfile_escape(self.password), self.password] if self.password else []
            detail = mask_secrets(' '.join((err or out or '').split()), secrets)
            # pg_dump bounds its LOCK TABLE with a statement timeout: that is the error it ends with.
            if 'LOCK TABLE' in detail and 'statement timeout' in detail:
                detail += ('. A session held a lock on a table for more than lock_wait_timeout (%s s): find it in pg_locks'
                           ' and pg_stat_activity, end it, and run again' % self.module.params['lock_wait_timeout'])
            self.module.fail_json(msg='pg_dump of %s failed (exit %s): %s' % (self.kw.get('dbname'), rc, detail),
                                  path=self.path, command=self.command, rc=rc)
        fsync_path(self.partial)
        # The summary is in place before the archive is: an archive found complete has its summary.
        self.write_summary(self.module.params['summary'])
        os.rename(self.partial, self.path)
        fsync_path(directory, directory=True)

    def write_summary(self, summary):
        if summary is None:
            # A summary left by an attempt killed before its dump was complete describes no archive.
            if os.path.lexists(self.summary_path):
                os.unlink(self.summary_path)
            return
        partial = self.summary_path + '.partial'
        if os.path.lexists(partial):
            os.unlink(partial)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as handle:
            json.dump(summary, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(partial, self.summary_path)

    def read_summary(self):
        if not os.path.exists(self.path) or not os.path.exists(self.summary_path):
            return None
        try:
            with open(self.summary_path) as handle:
                return json.load(handle)
        except ValueError as e:
            self.module.warn('the summary beside the archive, %s, is not JSON (%s): it is not reported' % (self.summary_path, e))
            return None


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        path=dict(type='path', required=True),
        format=dict(type='str', default='custom', choices=['custom', 'plain', 'tar']),
        pg_dump=dict(type='str', default='pg_dump'),
        lock_wait_timeout=dict(type='int', default=30),
        summary=dict(type='dict'),
        dump=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params['lock_wait_timeout'] < 1:
        # pg_dump reads 0 as "wait for ever", the very wait this option bounds.
        module.fail_json(msg='lock_wait_timeout must be at least 1, got %s' % module.params['lock_wait_timeout'])

    archive = DumpArchive(module)
    if module.params['dump']:
        archive.build_command()
    existed = os.path.exists(archive.path)
    if not existed and module.params['dump']:
        # Prove the credentials with the layer's classified messages before pg_dump sees them.
        connect(module).close()
        if not module.check_mode:
            archive.dump()

    present = os.path.exists(archive.path)
    module.exit_json(
        changed=not existed and module.params['dump'],
        path=archive.path,
        existed=existed,
        size_bytes=os.path.getsize(archive.path) if present else None,
        sha256=sha256_of(archive.path) if present else None,
        summary=archive.read_summary(),
        command=[to_native(a) for a in archive.command or []],
    )


if __name__ == '__main__':
    main()
