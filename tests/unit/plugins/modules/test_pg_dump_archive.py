"""pg_dump_archive on a real PostgreSQL 15 cluster: the dump restores to the same content, a
rerun keeps the first dump, check mode writes nothing, and the password is on no command line,
in no environment variable and in no result."""
import hashlib
import itertools
import json
import os
import stat
import subprocess
import tempfile

import pytest

from ansible.module_utils import basic
from ansible_collections.genesys_dr.framework.plugins.modules import pg_content_info, pg_dump_archive
from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster

PG_DUMP = os.path.join(pgcluster.PG_BIN, 'pg_dump')
PG_RESTORE = os.path.join(pgcluster.PG_BIN, 'pg_restore')
SCHEMA = ('CREATE TABLE cfg_person (dbid serial PRIMARY KEY, name text NOT NULL UNIQUE);'
          "INSERT INTO cfg_person (name) VALUES ('agent one'), ('agent two');")

_names = itertools.count()


@pytest.fixture
def cluster(pg_pair):
    cluster = pg_pair[0]
    cluster.ensure_running()
    return cluster


@pytest.fixture
def db(cluster):
    name = 'dump_%d' % next(_names)
    cluster.sql('postgres', 'CREATE DATABASE %s' % name)
    cluster.sql(name, SCHEMA)
    return name


@pytest.fixture
def archive_dir(tmp_path):
    directory = tmp_path / 'archive'
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def spy(monkeypatch):
    """What the module handed to pg_dump: argv, extra environment, and the password file's content then."""
    seen = []
    real = basic.AnsibleModule.run_command

    def run_command(self, args, **kwargs):
        environ = dict(kwargs.get('environ_update') or {})
        passfile = environ.get('PGPASSFILE')
        content, mode = None, None
        if passfile:
            with open(passfile) as handle:
                content = handle.read()
            mode = stat.S_IMODE(os.stat(passfile).st_mode)
        seen.append(dict(args=list(args), environ=environ, passfile=passfile, passfile_content=content, passfile_mode=mode))
        return real(self, args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    return seen


def args_for(cluster, db, path, **kwargs):
    args = cluster.login_args(db)
    args.update(path=str(path), pg_dump=PG_DUMP)
    args.update(kwargs)
    return args


def sha256(path):
    with open(str(path), 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_dump_restores_to_the_same_content_and_no_secret_is_exposed(cluster, db, archive_dir, spy, module_runner):
    path = archive_dir / ('%s.dump' % db)
    done = module_runner(pg_dump_archive, args_for(cluster, db, path))
    assert not done['failed'], done
    assert done['changed'] and not done['existed'] and done['path'] == str(path)
    assert done['size_bytes'] == os.path.getsize(str(path)) > 0 and done['sha256'] == sha256(path)
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    assert sorted(os.listdir(str(archive_dir))) == [path.name]

    # pg_dump got the password (with its quote, double quote and backslash) from a 0600 password file only.
    [call] = spy
    assert call['args'] == done['command'] and call['args'][0] == PG_DUMP
    assert call['passfile_content'] == '*:*:*:*:%s\n' % pgcluster.SUPERUSER_PASSWORD.replace('\\', '\\\\')
    assert call['passfile_mode'] == 0o600 and not os.path.exists(call['passfile'])
    assert set(call['environ']) == {'PGPASSFILE'}
    assert pgcluster.SUPERUSER_PASSWORD not in json.dumps(call['args'])
    assert pgcluster.SUPERUSER_PASSWORD not in json.dumps(done)

    restored = db + '_restored'
    cluster.sql('postgres', 'CREATE DATABASE %s' % restored)
    proc = subprocess.run([PG_RESTORE, '--no-owner', '-h', pgcluster.HOST, '-p', str(cluster.port), '-U', pgcluster.SUPERUSER,
                           '-d', restored, str(path)], env=dict(os.environ, PGPASSWORD=pgcluster.SUPERUSER_PASSWORD),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    original = module_runner(pg_content_info, cluster.login_args(db))['tables']
    assert module_runner(pg_content_info, cluster.login_args(restored))['tables'] == original
    assert original['public.cfg_person']['rows'] == 2


def test_rerun_keeps_the_first_dump(cluster, db, archive_dir, spy, module_runner):
    path = archive_dir / 'cfgdb.dump'
    first = module_runner(pg_dump_archive, args_for(cluster, db, path))
    assert first['changed']
    # What an initial copy does next: the rows the archive was made for are gone.
    cluster.sql(db, 'TRUNCATE cfg_person')
    again = module_runner(pg_dump_archive, args_for(cluster, db, path))
    assert not again['failed'] and not again['changed'] and again['existed']
    assert (again['sha256'], again['size_bytes']) == (first['sha256'], first['size_bytes']) == (sha256(path), os.path.getsize(str(path)))
    assert len(spy) == 1


def test_a_partial_dump_of_an_interrupted_run_is_replaced(cluster, db, archive_dir, module_runner):
    path = archive_dir / 'cfgdb.dump'
    partial = archive_dir / 'cfgdb.dump.partial'
    partial.write_bytes(b'half a dump')
    done = module_runner(pg_dump_archive, args_for(cluster, db, path))
    assert done['changed'] and not partial.exists()
    assert path.read_bytes().startswith(b'PGDMP')


def test_check_mode_proves_the_login_and_writes_nothing(cluster, db, archive_dir, spy, module_runner):
    path = archive_dir / 'cfgdb.dump'
    checked = module_runner(pg_dump_archive, args_for(cluster, db, path), check_mode=True)
    assert not checked['failed'] and checked['changed'] and not checked['existed']
    assert checked['size_bytes'] is None and checked['sha256'] is None
    assert '--dbname=' in ' '.join(checked['command'])
    assert os.listdir(str(archive_dir)) == [] and spy == []

    refused = module_runner(pg_dump_archive, args_for(cluster, db, path, login_password='not-it'), check_mode=True)
    assert refused['failed'] and refused['connection_error'] == 'auth'


def test_wrong_password_fails_clearly_and_leaves_nothing(cluster, db, archive_dir, spy, module_runner):
    path = archive_dir / 'cfgdb.dump'
    wrong = "Wr0ng:pa\\ss'word"
    failed = module_runner(pg_dump_archive, args_for(cluster, db, path, login_password=wrong))
    assert failed['failed'] and failed['connection_error'] == 'auth'
    assert failed['msg'].startswith('authentication to PostgreSQL at %s@%s:%s/%s was refused' % (
        pgcluster.SUPERUSER, pgcluster.HOST, cluster.port, db))
    assert wrong not in json.dumps(failed)
    assert os.listdir(str(archive_dir)) == [] and spy == []


def test_pg_dump_failure_is_reported_and_leaves_no_partial_file(cluster, db, archive_dir, module_runner, tmp_path):
    path = archive_dir / 'cfgdb.dump'
    fake = tmp_path / 'pg_dump'
    # A pg_dump that prints what it was given and fails: the message must not carry the password.
    fake.write_text('#!/bin/sh\nprintf \'pg_dump: error: disk full; password file %s: %s\\n\' "$PGPASSFILE" "$(cat "$PGPASSFILE")" >&2\nexit 1\n')
    fake.chmod(0o755)
    failed = module_runner(pg_dump_archive, args_for(cluster, db, path, pg_dump=str(fake)))
    assert failed['failed'] and failed['rc'] == 1
    assert failed['msg'].startswith('pg_dump of %s failed (exit 1): pg_dump: error: disk full' % db)
    assert failed['msg'].endswith('*:*:*:*:********')
    assert 'Su-p4ss' not in json.dumps(failed)
    assert os.listdir(str(archive_dir)) == []


def test_missing_archive_directory_is_named(cluster, db, tmp_path, module_runner):
    path = tmp_path / 'nowhere' / 'cfgdb.dump'
    failed = module_runner(pg_dump_archive, args_for(cluster, db, path))
    assert failed['failed']
    assert failed['msg'] == 'the directory of the archive, %s, does not exist: create it first' % path.parent


def test_module_tmpdir_is_private(cluster, db, archive_dir, spy, module_runner, monkeypatch):
    private = tempfile.mkdtemp(prefix='pgdump-tmp-')
    os.chmod(private, 0o700)
    monkeypatch.setattr(basic.AnsibleModule, 'tmpdir', property(lambda self: private))
    module_runner(pg_dump_archive, args_for(cluster, db, archive_dir / 'cfgdb.dump'))
    assert os.path.dirname(spy[0]['passfile']) == private and os.listdir(private) == []
    os.rmdir(private)


def test_a_table_lock_held_elsewhere_fails_the_dump_in_bounded_time(cluster, db, archive_dir, module_runner):
    """An open transaction that holds ACCESS EXCLUSIVE on a table (an operator's ALTER TABLE, a VACUUM FULL)
    would keep pg_dump waiting for its shared lock without bound. The blocker's session ends itself after
    idle_in_transaction_session_timeout, so a module that waits is seen passing, not hanging the suite."""
    path = archive_dir / 'cfgdb.dump'
    blocker = cluster.connect(db)
    try:
        blocker.autocommit = False
        with blocker.cursor() as cur:
            cur.execute("SET idle_in_transaction_session_timeout = '60s'")
            cur.execute('LOCK TABLE cfg_person IN ACCESS EXCLUSIVE MODE')
            cur.execute('SELECT pg_backend_pid()')
            blocker_pid = cur.fetchone()[0]
        failed = module_runner(pg_dump_archive, args_for(cluster, db, path, lock_wait_timeout=1))
        # Read back with a separate connection: the lock was still held when the module gave up.
        held = cluster.sql(db, "SELECT count(*) FROM pg_locks WHERE pid = %s AND mode = 'AccessExclusiveLock' AND granted"
                               " AND relation = 'cfg_person'::regclass", (blocker_pid,))[0][0]
    finally:
        blocker.close()
    assert held == 1
    assert failed['failed'] and failed['rc'] != 0, failed
    assert 'LOCK TABLE public.cfg_person' in failed['msg'] and 'lock_wait_timeout (1 s)' in failed['msg'], failed['msg']
    assert '--lock-wait-timeout=1s' in failed['command']
    assert os.listdir(str(archive_dir)) == []


def test_a_lock_wait_without_bound_is_refused(cluster, db, archive_dir, spy, module_runner):
    refused = module_runner(pg_dump_archive, args_for(cluster, db, archive_dir / 'cfgdb.dump', lock_wait_timeout=0))
    assert refused['failed'] and refused['msg'] == 'lock_wait_timeout must be at least 1, got 0'
    assert spy == [] and os.listdir(str(archive_dir)) == []


def test_the_summary_stays_with_the_first_dump_and_a_report_only_run_reads_it_back(cluster, db, archive_dir, spy, module_runner):
    path = archive_dir / 'cfgdb.dump'
    first = module_runner(pg_dump_archive, args_for(cluster, db, path, summary={'divergent_rows': {'public.cfg_person': 1}}))
    assert first['changed'] and first['summary'] == {'divergent_rows': {'public.cfg_person': 1}}
    summary_file = archive_dir / 'cfgdb.dump.json'
    assert json.loads(summary_file.read_text()) == first['summary']
    assert stat.S_IMODE(os.stat(str(summary_file)).st_mode) == 0o600
    assert sorted(os.listdir(str(archive_dir))) == ['cfgdb.dump', 'cfgdb.dump.json']

    # The initial copy replaced the rows; the rerun's own count would be 0: the first one is kept.
    cluster.sql(db, 'TRUNCATE cfg_person')
    again = module_runner(pg_dump_archive, args_for(cluster, db, path, summary={'divergent_rows': {}}))
    assert again['existed'] and not again['changed'] and again['summary'] == first['summary']

    # Report only: no dump, no connection (a wrong password is never tried), the same archive.
    reported = module_runner(pg_dump_archive, args_for(cluster, db, path, dump=False, login_password='not-it'))
    assert not reported['failed'] and not reported['changed'] and reported['existed'], reported
    assert (reported['sha256'], reported['summary'], reported['command']) == (first['sha256'], first['summary'], [])
    assert len(spy) == 1 and json.loads(summary_file.read_text()) == first['summary']


def test_a_report_only_run_without_an_archive_reports_none_and_writes_nothing(cluster, db, archive_dir, spy, module_runner):
    reported = module_runner(pg_dump_archive, args_for(cluster, db, archive_dir / 'cfgdb.dump', dump=False))
    assert not reported['failed'] and not reported['changed'] and not reported['existed'], reported
    assert reported['size_bytes'] is None and reported['summary'] is None
    assert os.listdir(str(archive_dir)) == [] and spy == []


def test_a_summary_left_without_its_dump_is_not_reported(cluster, db, archive_dir, module_runner):
    """An attempt killed between writing the summary and completing the dump: the next dump replaces the summary,
    or removes it when it brings none."""
    path = archive_dir / 'cfgdb.dump'
    (archive_dir / 'cfgdb.dump.json').write_text('{"divergent_rows": {"public.stale": 9}}')
    assert module_runner(pg_dump_archive, args_for(cluster, db, path, dump=False))['summary'] is None
    done = module_runner(pg_dump_archive, args_for(cluster, db, path))
    assert done['changed'] and done['summary'] is None
    assert sorted(os.listdir(str(archive_dir))) == ['cfgdb.dump']
