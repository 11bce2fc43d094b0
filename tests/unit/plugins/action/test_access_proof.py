# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""access_proof run by real ansible-playbook (local connections stand in for SSH; a closed port
for a host that cannot be reached) against a throw-away PostgreSQL 15 cluster and a real BIND
primary: one task proves SSH and Python, the DB admin login and the TSIG key; each kind of bad
credential fails with the proof that failed named, the password shown nowhere even at -vvv; a
bad TSIG key fails before the host is contacted. What it reports is read back with dig and SQL."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import os
import subprocess

import pytest
import yaml

pytest_plugins = ['ansible_collections.genesys_dr.framework.tests.unit.plugins.conftest_dns']

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BIN = os.path.join(TOP, '.venv', 'bin')
DOWN = dict(ansible_connection='ssh', ansible_host='127.0.0.1', ansible_port=1,
            ansible_ssh_common_args='-o ConnectTimeout=2 -o BatchMode=yes')
UP = dict(ansible_connection='local')

PLAYBOOK = '''
- name: Prove access
  hosts: all
  gather_facts: false
  ignore_unreachable: true
  tasks:
    - name: Prove
      genesys_dr.framework.access_proof:
        db: "{{ db_login if db_login is defined else omit }}"
        dns: "{{ dns_read if inventory_hostname == ansible_play_hosts | first else omit }}"
      register: proof
    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ proof | to_json }}"
        dest: "%(out)s/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
'''


def write_key_file(path, name, secret):
    path.write_text('key "%s" {\n\talgorithm hmac-sha256;\n\tsecret "%s";\n};\n' % (name, secret))
    return str(path)


def run(tmp_path, hosts, dns_read, verbosity=None):
    inventory = dict(all=dict(vars=dict(ansible_python_interpreter=os.path.join(BIN, 'python'), dns_read=dns_read), hosts=hosts))
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inventory))
    (tmp_path / 'out').mkdir()
    (tmp_path / 'proof.yml').write_text(PLAYBOOK % dict(out=tmp_path / 'out'))
    # JSON results: a message stays on one line (the YAML format folds it).
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_NOCOLOR='1', ANSIBLE_CALLBACK_RESULT_FORMAT='json',
               GENESYS_DR_REPORT_DIR=str(tmp_path / 'reports'))
    command = [os.path.join(BIN, 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'), str(tmp_path / 'proof.yml')]
    if verbosity:
        command.append(verbosity)
    return subprocess.run(command, cwd=TOP, env=env, capture_output=True, text=True, timeout=180, check=False, stdin=subprocess.DEVNULL)


def results(tmp_path):
    """Each host's registered result, as the play wrote it (a failed host writes none: the play stops for it)."""
    return dict((path.stem, json.loads(path.read_text())) for path in (tmp_path / 'out').glob('*.json'))


@pytest.fixture
def dns_read(bind_zone, tmp_path):
    return dict(server='127.0.0.1', port=bind_zone.primary.port, zone=bind_zone.zone, key_name=bind_zone.key_name,
                key_file=write_key_file(tmp_path / 'good.key', bind_zone.key_name, bind_zone.key_secret),
                state_name='_dr-state.proof', lock_name='_dr-lock.proof', timeout=3)


@pytest.fixture
def db_login(pg_pair):
    cluster = pg_pair[0]
    cluster.ensure_running()
    args = cluster.login_args('postgres')
    del args['login_db']
    return dict(args, databases=['postgres'], require_superuser=True)


def test_one_task_proves_ssh_db_and_tsig(tmp_path, bind_zone, dns_read, db_login, pg_pair):
    bind_zone.nsupdate('update delete _dr-state.proof.%s. TXT\nupdate add _dr-state.proof.%s. 60 TXT "state=NORMAL" "live_site=east"'
                       % (bind_zone.zone, bind_zone.zone))
    proc = run(tmp_path, {'a-db': dict(UP, db_login=db_login), 'b-app': dict(UP)}, dns_read)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = results(tmp_path)
    assert got['a-db']['proof'] == 'db' and got['a-db']['databases'] == ['postgres'] and got['a-db']['superuser'] is True
    assert got['b-app']['proof'] == 'host' and 'databases' not in got['b-app']
    # Only the first play host read DNS; what it read is what dig reads back from the primary.
    assert 'dns' not in got['b-app']
    assert got['a-db']['dns']['serial'] == bind_zone.serial()
    assert sorted(got['a-db']['dns']['records']['_dr-state.proof']) == ['live_site=east', 'state=NORMAL']
    assert got['a-db']['dns']['records']['_dr-lock.proof'] == []
    # The login really happened as the DB admin: the server's own view of the role.
    assert pg_pair[0].sql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = '%s'" % db_login['login_user'])[0][0] is True


def test_a_wrong_db_password_is_named_and_never_shown(tmp_path, dns_read, db_login):
    wrong = 'Wr0ng-Proof-P4ssw0rd-6131'
    proc = run(tmp_path, {'a-db': dict(UP, db_login=dict(db_login, login_password=wrong)), 'b-app': dict(UP)}, dns_read, '-vvv')
    assert proc.returncode != 0
    assert 'Log in as the DB admin to the databases of a-db: authentication to PostgreSQL at' in proc.stdout
    assert 'b-app' in results(tmp_path) and 'a-db' not in results(tmp_path)
    assert wrong not in proc.stdout + proc.stderr
    for path in (tmp_path / 'reports').rglob('*') if (tmp_path / 'reports').exists() else []:
        if path.is_file():
            assert wrong not in path.read_text(errors='replace')


def test_a_wrong_tsig_secret_fails_before_the_host_is_contacted(tmp_path, bind_zone, dns_read):
    forged = base64.b64encode(b'not the secret of this key, 32b!').decode()
    bad = dict(dns_read, key_file=write_key_file(tmp_path / 'bad.key', bind_zone.key_name, forged))
    # The first host cannot be reached: a DNS proof made after contacting it would report it unreachable instead.
    proc = run(tmp_path, {'a-down': dict(DOWN), 'b-app': dict(UP)}, bad)
    assert proc.returncode != 0
    assert 'Read the DR state from the DNS primary with a TSIG-signed query: primary server' in proc.stdout
    assert '(BADSIG)' in proc.stdout
    assert 'UNREACHABLE' not in proc.stdout
    assert forged not in proc.stdout + proc.stderr


def test_a_host_that_cannot_be_reached_is_unreachable_not_failed(tmp_path, dns_read):
    proc = run(tmp_path, {'a-app': dict(UP), 'b-down': dict(DOWN)}, dns_read)
    assert 'UNREACHABLE' in proc.stdout and 'b-down' in proc.stdout.split('UNREACHABLE', 1)[0].rsplit('\n', 1)[-1]
    assert results(tmp_path)['b-down']['unreachable'] is True
    assert results(tmp_path)['a-app']['proof'] == 'host'


def test_a_bad_argument_is_named_and_the_password_never_shown(tmp_path, dns_read, db_login):
    """ansible-core prints the task's arguments when an action's own argument check fails; access_proof must not."""
    secret = 'Arg-Check-P4ssw0rd-7741'
    proc = run(tmp_path, {'a-db': dict(UP, db_login=dict(db_login, login_password=secret, login_port='fivefourthreetwo'))},
               dns_read, '-vvv')
    assert proc.returncode != 0
    assert "argument 'login_port' is of type str found in 'db'" in proc.stdout
    assert secret not in proc.stdout + proc.stderr
