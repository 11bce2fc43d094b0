# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The replication role's content check and archive (the tasks failover, failback and
reprotect include) run by real ansible-playbook at -vvv against two throw-away PostgreSQL
clusters, one per "DR site" (local connections stand in for SSH): they still prove equal
content, name the table that differs and count the divergent rows, and the DB admin password
appears in no output, log or report - also when the login is refused."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import itertools
import json
import os
import subprocess

import pytest
import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BIN = os.path.join(TOP, '.venv', 'bin')
ADMIN = 'genesys_dr_admin_vvv'
ADMIN_PASSWORD = 'Zx9-DrAdmin-S3cr3t-0451'
WRONG_PASSWORD = 'Qw7-NotThe-S3cr3t-7782'
SCHEMA = ('CREATE TABLE cfg_person (dbid int PRIMARY KEY, name text NOT NULL);'
          'CREATE TABLE cfg_dn (dbid int PRIMARY KEY, number text NOT NULL);'
          "INSERT INTO cfg_person VALUES (1, 'agent one'), (2, 'agent two');"
          "INSERT INTO cfg_dn VALUES (1, '5551000');")

PLAYBOOK = '''
- name: Publish the run
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish the run
      ansible.builtin.set_stats:
        data:
          genesys_dr_report: {operation: reprotect, mode: reprotect, run_id: "{{ run_id }}", check_mode: false}

- name: Archive the restored main's Configuration Database
  hosts: east-db
  gather_facts: false
  tasks:
    - name: Archive
      ansible.builtin.include_role:
        name: genesys_dr.framework.replication
        tasks_from: archive
      vars:
        genesys_dr_run_id: "{{ run_id }}"
        replication_archive_peer: west
        replication_archive_dir: %(archive_dir)s

- name: Prove zero loss by content
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Compare every Configuration Database table at both sites
      ansible.builtin.include_role:
        name: genesys_dr.framework.replication
        tasks_from: content_check
'''

_names = itertools.count()


@pytest.fixture
def sites(pg_pair, tmp_path):
    """Database `db` with the same rows at both clusters, and a deployment writer for them."""
    east, west = pg_pair
    db = 'cfgdb_vvv_%d' % next(_names)
    for cluster in pg_pair:
        cluster.ensure_running()
        cluster.sql('postgres', (
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN"
            " CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'; END IF; END $$") % (ADMIN, ADMIN, ADMIN_PASSWORD))
        cluster.sql('postgres', 'CREATE DATABASE %s' % db)
        cluster.sql(db, SCHEMA)
    return east, west, db


def _run(tmp_path, east, west, db, run_id, password=ADMIN_PASSWORD, attempt='', extra_vars=()):
    work = tmp_path / (run_id + attempt)
    work.mkdir()
    archive_dir = tmp_path / 'archive'
    python = os.path.join(BIN, 'python')

    def db_host(cluster, site):
        return {'ansible_connection': 'local', 'ansible_python_interpreter': python, 'genesys_site': site,
                'genesys_host_address': '127.0.0.1', 'genesys_db_port': cluster.port}

    inventory = {'all': {
        'vars': {'genesys_main_site': 'east', 'genesys_secondary_site': 'west', 'genesys_db_admin_user': ADMIN,
                 'genesys_db_admin_password': password, 'replication_cfgdb': db},
        'hosts': {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': python}},
        'children': {'db_hosts': {'hosts': {'east-db': None, 'west-db': None}},
                     'east': {'hosts': {'east-db': db_host(east, 'east')}},
                     'west': {'hosts': {'west-db': db_host(west, 'west')}}}}}
    (work / 'inventory.yml').write_text(yaml.safe_dump(inventory))
    (work / 'playbook.yml').write_text(PLAYBOOK % {'archive_dir': archive_dir})
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), PATH=BIN + os.pathsep + os.environ.get('PATH', ''),
               ANSIBLE_NOCOLOR='1', ANSIBLE_LOG_PATH=str(work / 'ansible.log'), GENESYS_DR_REPORT_DIR=str(work / 'reports'),
               ANSIBLE_LOCAL_TEMP=str(work / 'tmp-local'), ANSIBLE_REMOTE_TEMP=str(work / 'tmp-remote'))
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-vvv', '-i', str(work / 'inventory.yml'),
                           '-e', 'run_id=%s' % run_id] + [a for v in extra_vars for a in ('-e', v)] + [str(work / 'playbook.yml')],
                          cwd=TOP, env=env, capture_output=True, text=True, timeout=300, check=False)
    texts = {'stdout': proc.stdout, 'stderr': proc.stderr}
    for name in ('ansible.log', 'reports/%s.json' % run_id, 'reports/%s.md' % run_id):
        with open(str(work / name)) as f:
            texts[name] = f.read()
    return proc, texts


def assert_no_secret(texts, secret):
    # Whole, JSON-escaped, and any 8-character piece of it.
    pieces = [secret, json.dumps(secret)[1:-1]] + [secret[i:i + 8] for i in range(len(secret) - 7)]
    leaks = ['%s holds %r' % (name, piece) for name, text in texts.items() for piece in pieces if piece in text]
    assert not leaks, leaks


def test_content_check_and_archive_at_vvv_show_no_password(sites, tmp_path):
    east, west, db = sites

    proc, texts = _run(tmp_path, east, west, db, 'same')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert '2 tables identical at both sites' in proc.stdout
    report = json.loads(texts['reports/same.json'])
    archive = report['measures']['archive']['east-db']
    assert archive['divergent_rows'] == {} and archive['path'] == str(tmp_path / 'archive' / ('%s-east-same.dump' % db))
    with open(archive['path'], 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest() == archive['sha256']
    assert archive['size_bytes'] == os.path.getsize(archive['path'])
    assert_no_secret(texts, ADMIN_PASSWORD)

    # The restored main took a write the live site never saw.
    east.sql(db, "UPDATE cfg_person SET name = 'written at the partitioned main' WHERE dbid = 2")
    proc, texts = _run(tmp_path, east, west, db, 'diverged')
    assert proc.returncode != 0
    assert 'contents differ between the DR sites, tables: public.cfg_person.' in ' '.join(proc.stdout.split())
    archive = json.loads(texts['reports/diverged.json'])['measures']['archive']['east-db']
    assert archive['divergent_rows'] == {'public.cfg_person': 1}
    assert archive['divergent_rows_summary'] == 'public.cfg_person: 1'
    assert_no_secret(texts, ADMIN_PASSWORD)

    # The initial copy then replaced the main's rows, and the controller died before the report. The rerun
    # of the same run finds the copy done (no dump) and still reports the first archive and its count.
    east.sql(db, "UPDATE cfg_person SET name = 'agent two' WHERE dbid = 2")
    proc, texts = _run(tmp_path, east, west, db, 'diverged', attempt='-rerun', extra_vars=['replication_archive_dump=false'])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    rerun = json.loads(texts['reports/diverged.json'])['measures']['archive']['east-db']
    assert rerun == archive
    with open(rerun['path'], 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest() == rerun['sha256']
    assert_no_secret(texts, ADMIN_PASSWORD)


def test_a_refused_login_at_vvv_says_so_without_the_password(sites, tmp_path):
    east, west, db = sites
    proc, texts = _run(tmp_path, east, west, db, 'refused', password=WRONG_PASSWORD)
    assert proc.returncode != 0
    assert 'authentication to PostgreSQL at %s@127.0.0.1:%s/%s was refused' % (ADMIN, east.port, db) in proc.stdout
    assert not os.path.exists(str(tmp_path / 'archive' / ('%s-east-refused.dump' % db)))
    assert_no_secret(texts, WRONG_PASSWORD)
