# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory_check action (the preflight in one controller-side step), through real
ansible-playbook runs against edited copies of inventories/example; no host is contacted.

tests/unit/playbooks/test_preflight.py pins each message for one broken value; these tests
cover what it does not: problems of several hosts in one failure, the order of precedence
between the stages, hosts named in a fixed order, secrets kept out of the output, and what the
action returns to the tasks after it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import shutil
import subprocess

import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
EXAMPLE = os.path.join(TOP, 'inventories', 'example')
BIN = os.path.join(TOP, '.venv', 'bin')
ROLE = os.path.join(TOP, 'roles', 'preflight')
PASSWORD = 'pw-Zq8-never-shown'
TSIG_SECRET = 'c2VjcmV0LW5ldmVyLXNob3du'


def _inventory(directory, edit=None):
    """A copy of the example; edit(hosts, deployment) changes hosts.yml and group_vars/all/deployment.yml."""
    inventory = os.path.join(str(directory), 'inventory')
    shutil.copytree(EXAMPLE, inventory)
    paths = (os.path.join(inventory, 'hosts.yml'), os.path.join(inventory, 'group_vars', 'all', 'deployment.yml'))
    data = []
    for path in paths:
        with open(path) as f:
            data.append(yaml.safe_load(f))
    if edit is not None:
        edit(*data)
    for path, content in zip(paths, data):
        with open(path, 'w') as f:
            yaml.safe_dump(content, f, default_flow_style=False, sort_keys=False)
    with open(os.path.join(inventory, 'group_vars', 'all', 'vault.yml'), 'w') as f:
        yaml.safe_dump({'vault_genesys_db_admin_password': PASSWORD}, f)
    return inventory


def _tsig_key(directory, algorithm='hmac-sha256'):
    path = os.path.join(str(directory), 'tsig.key')
    with open(path, 'w') as f:
        f.write('key "gdr-update" {\n\talgorithm %s;\n\tsecret "%s";\n};\n' % (algorithm, TSIG_SECRET))
    os.chmod(path, 0o600)
    return path


def _run(directory, inventory, playbook, key, extra=(), seed='0'):
    env = dict(os.environ)
    env.update(PATH=BIN + os.pathsep + env.get('PATH', ''), ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_CALLBACK_RESULT_FORMAT='json', GENESYS_DR_REPORT_DIR=str(directory),
               ANSIBLE_LOCAL_TEMP=os.path.join(str(directory), 'ansible-tmp'), PYTHONHASHSEED=seed)
    env.pop('GENESYS_TSIG_KEY_FILE', None)
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, playbook, '-e', 'genesys_tsig_key_file=%s' % key]
    return subprocess.run(cmd + list(extra), cwd=TOP, env=env, capture_output=True, text=True, timeout=300, check=False)


def _preflight(directory, edit=None, algorithm='hmac-sha256', extra=(), seed='0'):
    return _run(directory, _inventory(directory, edit), os.path.join(TOP, 'playbooks', 'preflight.yml'),
                _tsig_key(directory, algorithm), extra, seed)


def _failures(stdout):
    """(host of the header, msg) of every failed task result."""
    return [(m.group(1), json.loads(m.group(2)).get('msg', ''))
            for m in re.finditer(r'^(?:fatal|failed): \[([^\]]+)\]: FAILED! => (\{.*\})$', stdout, re.M)]


def _host(hosts, name):
    def walk(group):
        yield group
        for child in (group.get('children') or {}).values():
            if child:
                yield from walk(child)
    for group in walk(hosts['all']):
        if (group.get('hosts') or {}).get(name):
            return group['hosts'][name]
    raise KeyError(name)


def _action_playbook(directory, args=''):
    """A play that calls the action with the role's own settings and writes its result to result.json."""
    playbook = os.path.join(str(directory), 'check.yml')
    with open(playbook, 'w') as f:
        f.write('''- hosts: all
  gather_facts: false
  vars_files: [%(role)s/vars/main.yml, %(role)s/defaults/main.yml]
  tasks:
    - genesys_dr.framework.inventory_check:
        interface: "{{ (lookup('ansible.builtin.file', '%(role)s/meta/argument_specs.yml') | from_yaml).argument_specs.inventory.options }}"
        host_vars: "{{ preflight_host_vars }}"
        deployment_vars: "{{ preflight_deployment_vars }}"
        unvalidated_vars: "{{ preflight_unvalidated_vars }}"
        groups: "{{ preflight_groups }}"
        patterns: {ipv4: "{{ preflight_ipv4_pattern }}", ipv6: "{{ preflight_ipv6_pattern }}",
                   host_name: "{{ preflight_host_name_pattern }}", owner_name: "{{ preflight_owner_name_pattern }}",
                   app_name: "{{ preflight_app_name_pattern }}"}
        app_roles: "{{ preflight_app_roles }}"
        tsig_algorithms: "{{ preflight_tsig_algorithms }}"
        required_components: "{{ preflight_required_components }}"
        host_components: "{{ preflight_host_components }}"
        %(args)s
      run_once: true
      register: checked
      ignore_errors: true
    - ansible.builtin.copy:
        content: "{{ checked | to_json }}"
        dest: %(dest)s
        mode: "0600"
      run_once: true
      delegate_to: localhost
''' % {'role': ROLE, 'args': args, 'dest': os.path.join(str(directory), 'result.json')})
    return playbook


def _action(directory, edit=None, args=''):
    proc = _run(directory, _inventory(directory, edit), _action_playbook(directory, args), _tsig_key(directory))
    with open(os.path.join(str(directory), 'result.json')) as f:
        return proc, json.load(f)


def _bad_addresses(hosts, _deployment):
    _host(hosts, 'west-ns-01')['genesys_host_address'] = 'ns.west'
    _host(hosts, 'east-cfgdb-01')['genesys_host_address'] = '192.0.2.300'


def test_problems_of_several_hosts_are_one_failure_with_one_line_per_host(tmp_path):
    proc = _preflight(tmp_path, _bad_addresses)
    assert proc.returncode != 0, proc.stdout
    failures = _failures(proc.stdout)
    assert len(failures) == 1, failures
    assert failures[0][1].split('\n') == [
        "Check the host's site and address:",
        "Inventory check failed for east-cfgdb-01: genesys_host_address (192.0.2.300) must be the host's IP "
        "address. Nothing was changed.",
        "Inventory check failed for west-ns-01: genesys_host_address (ns.west) must be the host's IP address. "
        "Nothing was changed.",
    ]


def _unresolved_and_bad_address(hosts, _deployment):
    _host(hosts, 'west-cfgdb-01')['genesys_db_admin_password'] = '{{ vault_west_password }}'
    _host(hosts, 'west-ns-01')['genesys_host_address'] = 'ns.west'
    _host(hosts, 'west-mgmt-01')['genesys_apps'].pop()


def test_an_undefined_reference_stops_the_check_before_any_later_stage(tmp_path):
    proc, result = _action(tmp_path, _unresolved_and_bad_address)
    assert result['failed'] is True and result['failed_stage'] == 'unresolved_host', result
    # Stopped there: the address and the applications were not evaluated.
    assert list(result['problems']) == ['left_play', 'unresolved_deployment', 'unresolved_host'], result['problems']
    # vault_genesys_db_admin_password is defined (the inventory's vault.yml): the message does not claim otherwise.
    assert result['msg'] == (
        'Inventory check failed for west-cfgdb-01: genesys_db_admin_password refers to a variable that is not '
        'defined (is its vault file loaded?); supply it - run with --ask-vault-pass or --vault-id '
        '<label>@<source> (under AWX / Automation Platform: add the vault credential, or the credential that '
        'injects the value, to the job template). Nothing was changed.'), result['msg']
    assert result['dr_roles'] == {} and 'ns.west' not in proc.stdout


def _two_hosts_outside(hosts, _deployment):
    groups = hosts['all']['children']
    for name in ('north-mgmt-01', 'north-mgmt-02', 'north-mgmt-03'):
        groups['genesys_sites']['children']['branch_north']['hosts'][name] = None
        groups['management_hosts']['hosts'][name] = dict(_host(hosts, 'west-mgmt-01'))


def test_hosts_are_named_in_inventory_order_whatever_the_hash_seed(tmp_path):
    """The Jinja checks listed hosts through set-based filters, in an order that changed from run to run."""
    messages = []
    for seed in ('1', '2', '3', '4'):
        directory = tmp_path / seed
        directory.mkdir()
        proc = _preflight(directory, _two_hosts_outside, seed=seed)
        messages.append([msg for _host_name, msg in _failures(proc.stdout)])
    assert messages[0] and all(m == messages[0] for m in messages), messages
    assert 'proxy-only site has neither): north-mgmt-01, north-mgmt-02, north-mgmt-03. Nothing' in messages[0][0]


def _no_master_backup_at_secondary(hosts, deployment):
    _host(hosts, 'west-mgmt-01')['genesys_apps'] = [a for a in _host(hosts, 'west-mgmt-01')['genesys_apps']
                                                    if a['role'] != 'backup']


def test_no_secret_in_the_output_at_any_verbosity(tmp_path):
    """Every stage runs (the last one fails); neither the DB password nor the TSIG secret is printed."""
    for case, edit, algorithm in (('last-stage', _no_master_backup_at_secondary, 'hmac-sha256'),
                                  ('tsig', None, 'hmac-sha257'), ('pass', None, 'hmac-sha256')):
        directory = tmp_path / case
        directory.mkdir()
        proc = _preflight(directory, edit, algorithm, extra=['-vvv'])
        assert (proc.returncode == 0) == (case == 'pass'), proc.stdout
        for secret in (PASSWORD, TSIG_SECRET):
            assert secret not in proc.stdout + proc.stderr, case


def test_a_passing_inventory_returns_site_groups_and_dr_roles(tmp_path):
    _proc, result = _action(tmp_path)
    assert result.get('failed') is False and result['failed_stage'] is None, result
    assert result['site_groups'] == ['dc_east', 'dc_west', 'branch_north']
    assert result['dr_roles'] == {
        'east-cfgdb-01': 'dr_main', 'east-mgmt-01': 'dr_main', 'east-app-01': 'dr_main', 'east-ns-01': 'dr_main',
        'west-cfgdb-01': 'dr_secondary', 'west-mgmt-01': 'dr_secondary', 'west-app-01': 'dr_secondary',
        'west-ns-01': 'dr_secondary', 'north-app-01': 'dr_other', 'north-ns-01': 'dr_other', 'hq-ns-01': 'dr_other'}
    assert all(lines == [] for lines in result['problems'].values()) and len(result['problems']) == 14
    assert PASSWORD not in json.dumps(result)


def test_it_reports_without_failing_when_asked(tmp_path):
    proc, result = _action(tmp_path, _bad_addresses, args='fail_on_problems: false')
    assert result.get('failed') is False and result['failed_stage'] == 'host', result
    assert len(result['problems']['host']) == 2 and result['msg'] == '\n'.join(result['problems']['host'])
    assert 'ignoring' not in proc.stdout


def test_a_key_file_that_is_a_symbolic_link_is_not_a_regular_file(tmp_path):
    target = _tsig_key(tmp_path)
    link = os.path.join(str(tmp_path), 'link.key')
    os.symlink(target, link)
    proc = _run(tmp_path, _inventory(tmp_path), os.path.join(TOP, 'playbooks', 'preflight.yml'), link)
    failures = _failures(proc.stdout)
    assert len(failures) == 1 and failures[0][1] == (
        'Fail when the TSIG key file is missing, unreadable or readable by everyone:\n'
        'Inventory check failed for the deployment (group_vars/all, as read for %s): genesys_tsig_key_file %s is '
        'not a regular file on the controller; the DNS switch signs its updates with it. Nothing was changed.'
        % (failures[0][0], link)), failures


def _bad_role_option_on_one_host(hosts, _deployment):
    _host(hosts, 'west-cfgdb-01')['replication_max_lag_bytes'] = 'a lot'


def test_a_role_option_of_the_wrong_type_stops_a_procedure_in_its_preflight(tmp_path):
    """The procedures import their roles without Ansible's per-import argument check: an option an operator
    set (extra vars, the inventory) is checked against the role's specification by the preflight, before the
    run contacts any host - not at the step that uses it, after earlier steps changed things."""
    for case, edit, extra, subject, option, value in (
            ('extra-var', None, ['-e', 'replication_catchup_timeout=soon', '-e', 'failover_mode=planned'], 'every host',
             'replication_catchup_timeout', 'soon'),
            ('host-var', _bad_role_option_on_one_host, ['-e', 'failover_mode=planned'], 'west-cfgdb-01',
             'replication_max_lag_bytes', 'a lot')):
        directory = tmp_path / case
        directory.mkdir()
        proc = _run(directory, _inventory(directory, edit), os.path.join(TOP, 'playbooks', 'failover.yml'),
                    _tsig_key(directory), extra)
        assert proc.returncode != 0, proc.stdout
        failures = _failures(proc.stdout)
        assert len(failures) == 1, failures
        assert failures[0][1].split('\n') == [
            'Fail on role options, set in the inventory or as extra vars, of the wrong type:',
            'Inventory check failed for %s: argument \'%s\' is of type str and we were unable to convert to int: '
            '"\'%s\'" cannot be converted to an int - an option of role replication (entry point catch_up, main). '
            'Nothing was changed.' % (subject, option, value)], failures
        # Stopped in the preflight: no later play began (no host was contacted).
        assert 'PLAY [Reach the main site' not in proc.stdout and 'PLAY [Prove SSH' not in proc.stdout, proc.stdout


def test_role_options_of_the_right_type_pass(tmp_path):
    _proc, result = _action(tmp_path, args='role_specs_dir: %s' % os.path.dirname(ROLE))
    assert result['failed_stage'] is None and result['problems']['role_options'] == [], result


def test_every_procedure_import_skips_the_per_import_check_the_preflight_replaces():
    """A procedure that imported a role with Ansible's own check again would pay its task round at that step."""
    checked = 0
    for directory in ('playbooks', os.path.join('playbooks', 'frame')):
        for name in sorted(os.listdir(os.path.join(TOP, directory))):
            # status.yml runs no preflight (it keeps Ansible's check); playbooks/preflight.yml only imports the frame.
            if not name.endswith('.yml') or (directory == 'playbooks' and name in ('status.yml', 'preflight.yml')):
                continue
            with open(os.path.join(TOP, directory, name)) as f:
                text = f.read()
            imports = re.findall(r'ansible\.builtin\.import_role:\n((?:\s+(?:name|tasks_from|rolespec_validate): .*\n)+)', text)
            assert imports or directory.endswith('frame') or 'import_playbook' in text, name
            for body in imports:
                assert 'rolespec_validate: false' in body, (name, body)
                checked += 1
    assert checked >= 60, checked


def _bad_preflight_option(hosts, _deployment):
    _host(hosts, 'north-app-01')['preflight_host_components'] = 'not a mapping'


def test_a_host_that_failed_the_role_argument_check_stops_every_host(tmp_path):
    """Included with Ansible's argument check (as status.yml includes the preflight role), a host whose
    value of the role's own options is wrong leaves the play at that check. The inventory check, run
    once for the hosts left, must not pass for them: it stops every host, naming the one that left."""
    playbook = os.path.join(str(tmp_path), 'included.yml')
    with open(playbook, 'w') as f:
        f.write('- hosts: all\n  gather_facts: false\n  tasks:\n'
                '    - ansible.builtin.include_role:\n        name: genesys_dr.framework.preflight\n'
                '    - ansible.builtin.debug:\n        msg: WENT ON\n')
    proc = _run(tmp_path, _inventory(tmp_path, _bad_preflight_option), playbook, _tsig_key(tmp_path))
    assert proc.returncode != 0, proc.stdout
    assert 'WENT ON' not in proc.stdout and 'Sort hosts by their DR role' not in proc.stdout, proc.stdout
    failures = dict((msg.split('\n')[0], host) for host, msg in _failures(proc.stdout))
    assert "Stop every host when one failed the argument check of the preflight options:" in failures, proc.stdout
    stop = [msg for _host_name, msg in _failures(proc.stdout) if msg.startswith('Stop every host')][0]
    assert stop.split('\n')[1:] == [
        "Inventory check failed for north-app-01: see the argument check of the preflight role's own options above. "
        "Nothing was changed."], stop
