# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The replication role and the status role on two throw-away PostgreSQL clusters whose
Log Databases were installed by the simulated Genesys install with the lab's site names
(site1, site2), driven by an inventory whose site groups are named otherwise (dc_east,
dc_west), through real ansible-playbook runs (local connection, no lab).

A log event is inserted the way a Log Message Server inserts it (its own session, the
site column left to the database) and must arrive at the other site's Log Database; the
status role must say whether the rows of each logdb subscription arrive.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import subprocess
import sys
import uuid

import psycopg2
import pytest
import yaml

from ansible_collections.genesys_dr.framework.tests.unit.plugins import pgcluster

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
LAB_DIR = os.path.join(TOP, 'lab')
if LAB_DIR not in sys.path:
    sys.path.insert(0, LAB_DIR)

from genesys_sim import installdb  # noqa: E402  pylint: disable=wrong-import-position

MS_ROLE, MS_PASSWORD = 'ut_lms', 'ut-lms-pw'
# What the simulated Genesys install stamped; the inventory's site groups are named otherwise.
INSTALLED_SITE = {'east': 'site1', 'west': 'site2'}
GROUP = {'east': 'dc_east', 'west': 'dc_west'}
# How a Log Message Server writes an event (lab/genesys_sim/msgserver.py): db_site left to the database.
LMS_INSERT = ('INSERT INTO log_event (origin_site, app, level, message, ts)'
              " VALUES (%s, 'lms_ut', 'Std', %s, now())")

# Every play logs in to its own DB host, as the procedures' module_defaults do.
PG_DEFAULTS = '''  module_defaults:
    group/genesys_dr.framework.postgres:
      login_host: "{{ genesys_host_address }}"
      login_port: "{{ genesys_db_port }}"
      login_user: "{{ genesys_db_admin_user }}"
      login_password: "{{ genesys_db_admin_password }}"
'''

PLAYBOOK = '''
- name: Converge replication, as normal.yml does
  hosts: db_hosts
  gather_facts: false
''' + PG_DEFAULTS + '''  tasks:
    - name: Converge replication
      ansible.builtin.include_role:
        name: genesys_dr.framework.replication
'''

STATUS_PLAYBOOK = '''
- name: Read the DB hosts, as status.yml does
  hosts: db_hosts
  gather_facts: false
''' + PG_DEFAULTS + '''  tasks:
    - name: Read this host
      ansible.builtin.include_role:
        name: genesys_dr.framework.status
      vars:
        status_databases: [logdb]
    - name: Hand the log flow to the test
      ansible.builtin.copy:
        content: "{{ replication_log_flow | to_json }}"
        dest: "{{ lookup('ansible.builtin.env', 'GENESYS_DR_REPORT_DIR') }}/{{ inventory_hostname }}.flow.json"
        mode: "0600"
    - name: Hand the subscriptions read to the test
      ansible.builtin.copy:
        content: "{{ replication_subscriptions_read | to_json }}"
        dest: "{{ lookup('ansible.builtin.env', 'GENESYS_DR_REPORT_DIR') }}/{{ inventory_hostname }}.replication.json"
        mode: "0600"
'''


def _admin_dsn(cluster):
    return psycopg2.extensions.make_dsn(host=pgcluster.HOST, port=cluster.port, dbname='postgres',
                                        user=pgcluster.SUPERUSER, password=pgcluster.SUPERUSER_PASSWORD)


@pytest.fixture
def clusters():
    reason = pgcluster.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with pgcluster.ClusterSet(['east', 'west']) as (east, west):
        pair = {'east': east, 'west': west}
        for name, cluster in pair.items():
            cluster.sql('postgres', 'CREATE ROLE %s LOGIN PASSWORD %%s' % MS_ROLE, (MS_PASSWORD,))
            for database in ('cfgdb', 'logdb'):
                installdb.install(_admin_dsn(cluster), database, INSTALLED_SITE[name], 'ut_owner', [MS_ROLE], 0)
        yield pair


def _inventory(tmp_path, pair, log_sites=None):
    sites = {}
    for name, cluster in pair.items():
        host_vars = {'genesys_host_address': pgcluster.HOST, 'genesys_db_port': cluster.port}
        group_vars = {'genesys_site': GROUP[name]}
        if log_sites:
            group_vars['genesys_log_site'] = log_sites[name]
        sites[GROUP[name]] = {'hosts': {'%s-db' % name: host_vars}, 'vars': group_vars}
    inventory = {'all': {
        'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': os.path.join(BIN, 'python'),
                 'genesys_main_site': GROUP['east'], 'genesys_secondary_site': GROUP['west'],
                 'genesys_db_admin_user': pgcluster.SUPERUSER, 'genesys_db_admin_password': pgcluster.SUPERUSER_PASSWORD,
                 'genesys_db_ms_roles': [MS_ROLE]},
        'children': {'genesys_sites': {'children': sites},
                     'db_hosts': {'hosts': {'%s-db' % name: None for name in pair}},
                     'management_hosts': {}, 'proxy_hosts': {}}}}
    path = tmp_path / 'hosts.yml'
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def _playbook(tmp_path, inventory, text, name, *extra):
    playbook = tmp_path / name
    playbook.write_text(text)
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', GENESYS_DR_REPORT_DIR=str(tmp_path),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', inventory, str(playbook)] + list(extra), cwd=TOP, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _converge(tmp_path, inventory):
    run = _playbook(tmp_path, inventory, PLAYBOOK, 'replication.yml')
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    return run


def _lms_session(cluster):
    conn = psycopg2.connect(host=pgcluster.HOST, port=cluster.port, dbname='logdb', user=MS_ROLE, password=MS_PASSWORD,
                            connect_timeout=5)
    conn.autocommit = True
    return conn


def _log_event(cluster, origin):
    """One event written by a fresh Log Message Server session; returns its message."""
    message = 'event %s' % uuid.uuid4()
    conn = _lms_session(cluster)
    try:
        with conn.cursor() as cur:
            cur.execute(LMS_INSERT, (origin, message))
    finally:
        conn.close()
    return message


def _rows(cluster, message):
    return cluster.sql('logdb', 'SELECT db_site, message FROM log_event WHERE message = %s', (message,))


def _arrives(cluster, message):
    """Whether the row arrives within 30 s (a generous bound: an apply worker on a loaded
    machine applies a committed insert within a second or two; the failure this guards
    against is a row that never arrives)."""
    try:
        pgcluster.wait_until(lambda: _rows(cluster, message), timeout=30, what='row %s' % message)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize('log_sites', [None, INSTALLED_SITE], ids=['log-site-defaults-to-group', 'log-site-set-to-installed'])
def test_lms_rows_arrive_at_the_peer_when_site_groups_have_other_names(tmp_path, clusters, log_sites):
    east, west = clusters['east'], clusters['west']
    # A Log Message Server connected before the run: its session keeps the stamp it started with.
    early = _lms_session(east)
    _converge(tmp_path, _inventory(tmp_path, clusters, log_sites))
    stamp = {name: (log_sites or GROUP)[name] for name in clusters}

    for name, cluster in clusters.items():
        assert cluster.sql('logdb', "SELECT current_setting('genesys.db_site')") == [(stamp[name],)]
        assert cluster.sql('logdb', 'SELECT rowfilter FROM pg_publication_tables WHERE pubname = %s',
                           ('genesys_logdb_%s' % GROUP[name],)) == [("(db_site = '%s'::text)" % stamp[name],)]
    if log_sites is None:
        # The stamp changed under it: the session was ended so the server reconnects with the new stamp.
        with pytest.raises(psycopg2.OperationalError):
            with early.cursor() as cur:
                cur.execute(LMS_INSERT, ('site1', 'written on a session that predates the stamp'))
    else:
        with early.cursor() as cur:
            cur.execute('SELECT 1')
    early.close()

    from_east, from_west = _log_event(east, 'site1'), _log_event(west, 'site2')
    assert _rows(east, from_east) == [(stamp['east'], from_east)]
    assert _arrives(west, from_east), 'a log event written at dc_east never reached dc_west'
    assert _arrives(east, from_west), 'a log event written at dc_west never reached dc_east'
    assert _rows(west, from_east) == [(stamp['east'], from_east)]
    assert _rows(east, from_west) == [(stamp['west'], from_west)]

    # Converged: a second run changes nothing.
    again = _converge(tmp_path, _inventory(tmp_path, clusters, log_sites))
    assert re.search(r'changed=0\s', again.stdout), again.stdout[-3000:]
    # Installing the simulated Genesys databases again (labctl up) leaves the stamp to the DR framework.
    installdb.install(_admin_dsn(east), 'logdb', INSTALLED_SITE['east'], 'ut_owner', [MS_ROLE], 0)
    assert east.sql('logdb', "SELECT current_setting('genesys.db_site')") == [(stamp['east'],)]


def _status(tmp_path, inventory, arrival_timeout=10):
    run = _playbook(tmp_path, inventory, STATUS_PLAYBOOK, 'status.yml', '-e', 'replication_log_arrival_timeout=%d' % arrival_timeout)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    flows = {}
    for host in ('east-db', 'west-db'):
        with open(str(tmp_path / ('%s.flow.json' % host))) as handle:
            flows[host] = json.load(handle)
        with open(str(tmp_path / ('%s.replication.json' % host))) as handle:
            flows[host]['replication'] = json.load(handle)['results']
    return flows


def _assert_subscriptions_shown(clusters, flows):
    """status read every logdb subscription as pg_subscription has it, with a measured lag."""
    for host, cluster in (('east-db', clusters['east']), ('west-db', clusters['west'])):
        (read,) = flows[host]['replication']
        assert read['item'] == 'logdb' and read['publisher_reachable'] is True, read
        # pg_subscription is shared by every database of the cluster.
        names = [r[0] for r in cluster.sql('logdb', 'SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid'
                                                    ' WHERE d.datname = current_database() ORDER BY 1')]
        assert names and [sub['name'] for sub in read['subscriptions']] == names, (names, read)
        for sub in read['subscriptions']:
            assert sub['status'] == 'running' and isinstance(sub['lag_bytes'], int) and sub['lag_bytes'] >= 0, sub


def test_status_says_whether_log_rows_arrive(tmp_path, clusters):
    east, west = clusters['east'], clusters['west']
    inventory = _inventory(tmp_path, clusters)
    _converge(tmp_path, inventory)
    message = _log_event(east, 'site1')
    assert _arrives(west, message)
    flows = _status(tmp_path, inventory)
    _assert_subscriptions_shown(clusters, flows)
    assert flows['west-db']['flow'] == 'moving', flows
    assert flows['west-db']['arrived_newest']['site'] == 'dc_east'
    newest = flows['west-db']['publisher_newest']
    assert (newest['site'], newest['id']) == ('dc_east', flows['west-db']['arrived_newest']['id'])
    assert west.sql('logdb', 'SELECT id FROM log_event WHERE message = %s', (message,)) == [(newest['id'],)]
    assert flows['east-db']['flow'] == 'idle', flows

    # The Log DB at dc_east stamps its rows otherwise than its publication filters (what a site
    # group renamed under a running deployment looks like): the worker runs, nothing arrives.
    east.sql('postgres', "ALTER DATABASE logdb SET genesys.db_site = 'site1'")
    stray = _log_event(east, 'site1')
    # It never arrives: the wait only decides how long status looks before saying so.
    flows = _status(tmp_path, inventory, arrival_timeout=2)
    assert flows['west-db']['flow'] == 'not moving', flows
    assert flows['west-db']['publisher_newest']['site'] == 'site1'
    assert flows['west-db']['arrived_newest']['site'] == 'dc_east'
    assert not _rows(west, stray)


GATE_PLAYBOOK = '''
- name: The gate of a planned switch, as failover.yml runs it
  hosts: west-db
  gather_facts: false
''' + PG_DEFAULTS + '''  tasks:
    - name: Check the subscription and its lag
      ansible.builtin.include_role:
        name: genesys_dr.framework.replication
        tasks_from: catch_up
      vars:
        replication_from_site: dc_east
        replication_gate_only: true
        replication_gate_accept_lag: true
        replication_gate_publisher_lost_hint: " HINT: the way on."
'''


def test_the_gate_refuses_a_silent_publisher_whatever_lag_is_accepted(tmp_path, clusters):
    """The main's database stops answering just before a planned switch: its lag cannot be measured,
    and accepting a lag (failover_force_lag) does not let the run on. Nothing changes at the secondary."""
    east, west = clusters['east'], clusters['west']
    inventory = _inventory(tmp_path, clusters)
    _converge(tmp_path, inventory)
    subscription = 'genesys_cfgdb_from_dc_east'
    before = west.sql('cfgdb', 'SELECT subenabled, subslotname FROM pg_subscription WHERE subname = %s', (subscription,))
    assert before == [(True, subscription)]
    east.stop()
    try:
        run = _playbook(tmp_path, inventory, GATE_PLAYBOOK, 'gate.yml')
    finally:
        east.start()
    text = ' '.join(run.stdout.split())
    assert run.returncode != 0, run.stdout[-3000:]
    assert ('the DB host of dc_east (%s:%d) did not answer: how far subscription %s on west-db is behind it cannot be '
            'measured. Nothing was changed. HINT: the way on.' % (pgcluster.HOST, east.port, subscription)) in text, text[-3000:]
    assert 'accepted on request' not in text
    assert west.sql('cfgdb', 'SELECT subenabled, subslotname FROM pg_subscription WHERE subname = %s', (subscription,)) == before


CATCH_UP_PLAYBOOK = '''
- name: The catch-up of a planned switch, as failover.yml runs it
  hosts: west-db
  gather_facts: false
''' + PG_DEFAULTS + '''  tasks:
    - name: Wait until the secondary has applied everything
      ansible.builtin.include_role:
        name: genesys_dr.framework.replication
        tasks_from: catch_up
      vars:
        replication_from_site: dc_east
        replication_catchup_timeout: 30
'''


@pytest.mark.parametrize('resume', [True, False], ids=['continued-run', 'first-attempt'])
def test_a_stopped_subscription_is_left_stopped_only_by_a_continued_run(tmp_path, clusters, resume):
    """A continued run (replication_resume) whose first attempt stopped the subscription after the
    zero-loss proof leaves it stopped and says so; a first attempt that finds it stopped refuses
    (the sites are out of sync) before it changes anything: it does not start it again."""
    west = clusters['west']
    inventory = _inventory(tmp_path, clusters)
    _converge(tmp_path, inventory)
    subscription = 'genesys_cfgdb_from_dc_east'
    # As the drain or the planned stop leaves it: disabled, its slot on the publisher detached.
    west.sql('cfgdb', 'ALTER SUBSCRIPTION "%s" DISABLE' % subscription)
    west.sql('cfgdb', 'ALTER SUBSCRIPTION "%s" SET (slot_name = NONE)' % subscription)
    run = _playbook(tmp_path, inventory, CATCH_UP_PLAYBOOK, 'catch_up.yml', '-e', 'replication_resume=%s' % resume)
    after = west.sql('cfgdb', 'SELECT subenabled, subslotname FROM pg_subscription WHERE subname = %s', (subscription,))
    text = ' '.join(run.stdout.split())
    assert after == [(False, None)]
    if resume:
        assert run.returncode == 0, run.stdout[-3000:]
        assert ('subscription %s on west-db was stopped by an earlier attempt of this run after the zero-loss proof; '
                'it stays stopped, and the table contents are compared again.' % subscription) in text, text[-3000:]
    else:
        assert run.returncode != 0, run.stdout[-3000:]
        assert ('subscription %s is stopped, not running (require_running): it is not in sync with its publisher. '
                'Nothing was changed.' % subscription) in text, text[-3000:]
        assert 'west-db : ok=2 changed=0 unreachable=0 failed=1' in text, text[-3000:]
        assert 'was stopped by an earlier attempt' not in text
