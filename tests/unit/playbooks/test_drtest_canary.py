# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drtest role's canary entry point through a real ansible-playbook run on this machine: a throw-away
PostgreSQL cluster holds the "copy", the operator's canary command writes into it (standing in for the
test Configuration Server), and the read command answers as two masters would - the test master serves
what the copy holds, the live master serves the sample (one object of it changed since) and not the
canary. The result is read from what the play registers, and the copy's table from a separate query.

Its first lab run skipped every check but the write: the commands are templates of the canary's and the
read's variables, and the tasks that only tested whether a command was given saw it empty."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shlex
import subprocess
import sys

import psycopg2
import pytest
import yaml

from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
TEST_PORT, LIVE_PORT = 18888, 8888

PLAYBOOK = '''
- name: The DR test's write and reads, on the tested management host
  hosts: mgmt
  gather_facts: false
  tasks:
    - name: Canary
      ansible.builtin.import_role:
        name: genesys_dr.framework.drtest
        tasks_from: canary
    - name: Show what it found
      ansible.builtin.copy:
        content: "{{ {'tables': drtest_canary_tables | default(none), 'reads': drtest_read_checks | default(none)} | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
'''

# The read command: the test master (TEST_PORT) serves what the copy holds; the live master serves the
# sample as production has it now - person_2 changed since the copy - and knows no canary.
READER = r'''
import json, sys, psycopg2
port, name, dsn = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if port == %d:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT data FROM person WHERE name = %%s", (name,))
        row = cur.fetchone()
    if row is None:
        sys.exit(2)
    print(json.dumps({"name": name, "data": row[0]}))
else:
    live = {"person_1": {"v": 1}, "person_2": {"v": 99}}
    if name not in live:
        sys.exit(2)
    print(json.dumps({"name": name, "data": live[name]}))
''' % TEST_PORT


@pytest.fixture(scope='module')
def copy_db():
    reason = pgcluster.unavailable_reason()
    if reason:
        pytest.skip(reason)
    clusters = pgcluster.ClusterSet(['copy'])
    cluster = clusters.__enter__()[0]
    try:
        cluster.sql('postgres', 'CREATE DATABASE cfgdb_drtest')
        cluster.sql('cfgdb_drtest', 'CREATE TABLE person (name text PRIMARY KEY, data jsonb)')
        cluster.sql('cfgdb_drtest', "INSERT INTO person VALUES ('person_1', '{\"v\": 1}'), ('person_2', '{\"v\": 2}')")
        yield cluster
    finally:
        clusters.close()


def run(tmp_path, cluster, canary_command=True, read_command=True):
    dsn = psycopg2.extensions.make_dsn(host=pgcluster.HOST, port=cluster.port, dbname='cfgdb_drtest',
                                       user=pgcluster.SUPERUSER, password=pgcluster.SUPERUSER_PASSWORD)
    (tmp_path / 'reader.py').write_text(READER)
    writer = ("%s -c \"import sys, psycopg2; c = psycopg2.connect(sys.argv[1]); c.cursor().execute("
              "'INSERT INTO person VALUES (%%s, %%s)', (sys.argv[2], '{}')); c.commit()\" %s "
              "'{{ proxies_canary_name }}' # {{ proxies_canary_address }}:{{ proxies_canary_port }}") % (sys.executable, shlex.quote(dsn))
    reader = "%s %s '{{ drtest_read_port }}' '{{ drtest_read_name }}' %s # {{ drtest_read_address }}" % (
        sys.executable, tmp_path / 'reader.py', shlex.quote(dsn))
    common = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
              'genesys_db_admin_user': pgcluster.SUPERUSER, 'genesys_db_admin_password': pgcluster.SUPERUSER_PASSWORD}
    hosts = {
        'mgmt': dict(common, genesys_host_address='127.0.0.1', genesys_app_base=str(tmp_path),
                     genesys_apps=[{'name': 'CS_P', 'component': 'master_cs', 'role': 'primary', 'port': LIVE_PORT,
                                    'drtest': {'name': 'CS_P_drtest', 'port': TEST_PORT}}]),
        'live-mgmt': dict(common, genesys_host_address='127.0.0.2',
                          genesys_apps=[{'name': 'CS_P_live', 'component': 'master_cs', 'role': 'primary', 'port': LIVE_PORT}]),
        'db': dict(common, genesys_host_address=pgcluster.HOST, genesys_db_port=cluster.port)}
    settings = {'drtest_db_host': 'db', 'drtest_live_mgmt_host': 'live-mgmt', 'drtest_database': 'cfgdb_drtest',
                'genesys_dr_run_id': 'drtest-1', 'drtest_sample_objects': ['person_1', 'person_2'],
                'result_file': str(tmp_path / 'result.json'), 'drtest_canary_retries': 0}
    if canary_command:
        settings['genesys_canary_command'] = writer
    if read_command:
        settings['genesys_read_command'] = reader
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump({'all': {'hosts': hosts, 'vars': settings}}))
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'),
               ANSIBLE_NOCOLOR='1', GENESYS_DR_REPORT_DIR=str(tmp_path), ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'), str(tmp_path / 'play.yml')],
                          cwd=TOP, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    with open(str(tmp_path / 'result.json')) as handle:
        return json.load(handle)


def test_the_canary_lands_in_the_copy_and_every_read_is_judged(tmp_path, copy_db):
    found = run(tmp_path, copy_db)
    # Read back with a separate query: the canary is in the copy.
    assert copy_db.sql('cfgdb_drtest', "SELECT count(*) FROM person WHERE name = 'dr_canary_drtest_1_drtest'")[0][0] == 1
    assert found['tables'] == ['public.person']
    assert found['reads'] == {'canary_read_back': True, 'sample_identical': ['person_1'], 'sample_changed_since': ['person_2'],
                              'sample_not_compared': [], 'problems': []}


def test_without_the_commands_nothing_is_written_or_read(tmp_path, copy_db):
    found = run(tmp_path, copy_db, canary_command=False, read_command=False)
    assert found == {'tables': None, 'reads': None}
