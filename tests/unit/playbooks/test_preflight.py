# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/preflight.yml and the preflight role against inventories/example and against
broken copies of it, through real ansible-playbook / ansible-inventory runs (no host is
contacted: the preflight only asserts, stats the TSIG key file and sorts hosts).

Each broken copy changes one value. Its test checks that the run failed, that one failure
message names the variable and the host, and that no later task ran. The playbook runs of
the selected tests are started together (two per CPU) so the whole module stays quick.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import concurrent.futures
import copy
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXAMPLE = os.path.join(TOP, 'inventories', 'example')
PLAYBOOK = os.path.join(TOP, 'playbooks', 'preflight.yml')
VAULT_EXAMPLE = os.path.join(EXAMPLE, 'group_vars', 'all', 'vault.yml.example')
BIN = os.path.join(TOP, '.venv', 'bin')

# Tasks of a preflight run, in order; the check that stops a run must be the last task that ran. The frame
# imports the role without Ansible's own argument check (its inventory_check checks the role options), and the
# check itself fails naming the stage: no task of its own reports the verdict.
TASKS = [
    "Check every host's inventory values",
    'Find the site groups',
    'Sort hosts by their DR role',
    'Summary of the hosts per DR role',
]
CHECK = TASKS[0]
# The checks of the inventory, in order; a failure starts with the name of the one that failed.
(UNRESOLVED, HOST_UNRESOLVED, DEPLOYMENT_TYPES, HOST_TYPES, DEPLOYMENT, TSIG, TSIG_ALGORITHM, HOST, AGREE, APPLIST, APP,
 COMPONENTS) = (
    'Fail on deployment-wide values that refer to an undefined variable',
    'Fail on host values that refer to an undefined variable',
    'Fail on deployment-wide values that are missing or of the wrong type',
    'Fail on host values that are missing or of the wrong type',
    'Check the deployment-wide values and the inventory groups',
    'Fail when the TSIG key file is missing',
    'Fail when the TSIG key file names an algorithm',
    "Check the host's site and address",
    'Check the host and the controller agree on the deployment-wide values',
    "Check the host's application directory and application list",
    'Check each application of the host',
    'Check the host runs every required application',
)


def _env(tmp):
    env = dict(os.environ)
    env.update(PATH=BIN + os.pathsep + env.get('PATH', ''), ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_CALLBACK_RESULT_FORMAT='json', GENESYS_DR_REPORT_DIR=str(tmp),
               ANSIBLE_LOCAL_TEMP=os.path.join(str(tmp), 'ansible-tmp'))
    env.pop('GENESYS_TSIG_KEY_FILE', None)
    return env


def _run(cmd, tmp):
    return subprocess.run(cmd, cwd=TOP, env=_env(tmp), capture_output=True, text=True, timeout=120, check=False)


def _preflight(inventory, tmp, tsig_key, extra=(), vault=True, check=False):
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, PLAYBOOK, '-e', 'genesys_tsig_key_file=%s' % tsig_key]
    if vault:
        cmd += ['-e', '@' + VAULT_EXAMPLE]
    if check:
        cmd.append('--check')
    return _run(cmd + list(extra), tmp)


def _tsig_key(directory, mode=0o600, algorithm='hmac-sha256'):
    path = os.path.join(str(directory), 'tsig.key')
    with open(path, 'w') as f:
        f.write('key "gdr-update" {\n\talgorithm %s;\n\tsecret "dGVzdC1vbmx5LW5vdC1hLWtleQ==";\n};\n' % algorithm)
    os.chmod(path, mode)
    return path


def _header_host(failure):
    return re.match(r'\w+: \[([^\]]+)\]', failure).group(1)


def _tasks_run(stdout):
    """Titles of the tasks that ran, in order."""
    return re.findall(r'^TASK \[(?:[\w.]+ : )?(.*?)\] \**$', stdout, re.M)


def _failures(stdout):
    """Each 'fatal:' / 'failed:' block of the output, header line included."""
    return re.findall(r'^(?:fatal|failed): \[.*?(?=^\S)', stdout + '\nEND', re.M | re.S)


# ---------------------------------------------------------------------------------------
# Broken copies of the example. Each edit gets the parsed inventory files and changes one
# thing: inv['hosts'] (hosts.yml), inv['all'] (group_vars/all/deployment.yml),
# inv['group_vars'][name] (group_vars/<name>.yml).

def _host(inv, name):
    for group in _walk(inv['hosts']['all']):
        if name in (group.get('hosts') or {}):
            if group['hosts'][name] is not None:
                return group['hosts'][name]
    raise KeyError(name)


def _walk(group):
    yield group
    for child in (group.get('children') or {}).values():
        if child:
            yield from _walk(child)


def _groups(inv):
    found = {}
    for group in _walk(inv['hosts']['all']):
        for name, child in (group.get('children') or {}).items():
            if child is not None:
                found[name] = child
    return found


def _drop_host(inv, name):
    for group in _walk(inv['hosts']['all']):
        (group.get('hosts') or {}).pop(name, None)


def _app(inv, host, index):
    return _host(inv, host)['genesys_apps'][index]


def _set(path, value):
    """Edit setting inv[...] at path to value (a trailing None deletes)."""
    def edit(inv):
        target = inv
        for key in path[:-1]:
            target = target[key]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return edit


def _no_proxy_app(inv):
    apps = _host(inv, 'north-app-01')['genesys_apps']
    apps[:] = [a for a in apps if a['component'] != 'proxy']


def _app_without_port(inv):
    del _app(inv, 'east-mgmt-01', 1)['port']


def _app_unknown_component(inv):
    _app(inv, 'west-app-01', 2)['component'] = 'cs_proxy'


def _proxy_on_management_host(inv):
    _app(inv, 'west-mgmt-01', 2)['component'] = 'proxy'


def _app_unknown_role(inv):
    _app(inv, 'east-app-01', 1)['role'] = 'standby'


def _app_port_out_of_range(inv):
    _app(inv, 'north-app-01', 3)['port'] = 70000


def _app_port_twice(inv):
    _app(inv, 'east-app-01', 1)['port'] = _app(inv, 'east-app-01', 0)['port']


def _app_name_twice(inv):
    _app(inv, 'east-mgmt-01', 3)['name'] = _app(inv, 'east-mgmt-01', 2)['name']


def _drtest_on_an_apps_port(inv):
    _app(inv, 'west-mgmt-01', 0)['drtest']['port'] = _app(inv, 'west-mgmt-01', 1)['port']


def _drtest_named_like_an_app(inv):
    _app(inv, 'east-mgmt-01', 2)['drtest']['name'] = _app(inv, 'east-mgmt-01', 3)['name']


def _drtest_without_port(inv):
    del _app(inv, 'east-mgmt-01', 0)['drtest']['port']


def _drtest_port_out_of_range(inv):
    _app(inv, 'west-mgmt-01', 3)['drtest']['port'] = 70000


def _app_base_relative(inv):
    _host(inv, 'west-app-01')['genesys_app_base'] = 'opt/genesys/gcti'


def _no_management_at_main(inv):
    _drop_host(inv, 'east-mgmt-01')


def _no_db_at_secondary(inv):
    _drop_host(inv, 'west-cfgdb-01')


def _no_dns_primary(inv):
    groups = _groups(inv)
    groups['shared_site']['hosts']['hq-ns-01'] = groups['dns_primary']['hosts'].pop('hq-ns-01')


def _management_at_proxy_site(inv):
    _groups(inv)['genesys_sites']['children']['branch_north']['hosts']['north-mgmt-01'] = None
    _groups(inv)['management_hosts']['hosts']['north-mgmt-01'] = copy.deepcopy(_host(inv, 'west-mgmt-01'))
    _host(inv, 'north-mgmt-01').update(ansible_host='203.0.113.21', genesys_host_address='203.0.113.21')


def _address_not_ip(inv):
    _host(inv, 'east-cfgdb-01')['genesys_host_address'] = 'east-cfgdb-01.contoso-cc.example'


def _site_of_other_group(inv):
    _host(inv, 'east-app-01')['genesys_site'] = 'dc_west'


def _host_in_two_sites(inv):
    _groups(inv)['genesys_sites']['children']['dc_west']['hosts']['east-app-01'] = None


def _db_port_per_site(inv):
    inv['group_vars']['dc_west']['genesys_db_port'] = 5432


def _without(host, component, role=None):
    """Edit: the host's genesys_apps without the component (of that role)."""
    def edit(inv):
        apps = _host(inv, host)['genesys_apps']
        kept = [a for a in apps if not (a['component'] == component and role in (None, a['role']))]
        assert len(kept) == len(apps) - 1
        apps[:] = kept
    return edit


def _two_master_backups(inv):
    _app(inv, 'west-mgmt-01', 0)['role'] = 'backup'


def _apps_not_a_list(inv):
    _host(inv, 'west-app-01')['genesys_apps'] = 'CSProxy_West_P CSProxy_West_B'


def _no_host_address(inv):
    del _host(inv, 'west-ns-01')['genesys_host_address']


def _no_site_of_a_site_group(inv):
    inv['group_vars']['branch_north'] = {}


def _vault_of_one_host(inv):
    _host(inv, 'east-cfgdb-01')['genesys_db_admin_password'] = '{{ vault_east_cfgdb_admin_password }}'


# id: (edit, extra -e arguments, variable named, host named (None: deployment-wide, then
#      the host the values were read for), task that fails)
BROKEN = {
    # Applications of a host.
    'proxy host without a proxy app': (_no_proxy_app, [], 'genesys_apps has no proxy primary', 'north-app-01',
                                       COMPONENTS),
    'apps entry without port': (_app_without_port, [], 'missing required arguments: port found in genesys_apps',
                                'east-mgmt-01', HOST_TYPES),
    'apps entry with unknown component': (_app_unknown_component, [], 'value of component must be one of',
                                          'west-app-01', HOST_TYPES),
    'apps entry of another host kind': (_proxy_on_management_host, [], 'component (proxy)', 'west-mgmt-01', APP),
    'apps entry with unknown role': (_app_unknown_role, [], 'got: standby found in genesys_apps', 'east-app-01',
                                     HOST_TYPES),
    'apps entry port out of range': (_app_port_out_of_range, [], 'port (70000)', 'north-app-01', APP),
    'two apps on one port': (_app_port_twice, [], 'genesys_apps gives one port to two applications: '
                             '7000 (CSProxy_East_P, CSProxy_East_B)', 'east-app-01', COMPONENTS),
    'two apps with one name': (_app_name_twice, [], 'genesys_apps lists an application name twice: SCS_Master_East',
                               'east-mgmt-01', COMPONENTS),
    # The DR test instances (drtest.yml) share the host's names and ports.
    'test instance on an application port': (_drtest_on_an_apps_port, [], 'genesys_apps gives one port to two '
                                             'applications: 8889 (CfgServer_Master_West_B, CfgServer_Master_West_P_DRTest)',
                                             'west-mgmt-01', COMPONENTS),
    'test instance named like an application': (_drtest_named_like_an_app, [], 'genesys_apps lists an application '
                                                'name twice: MsgServer_SCS_East', 'east-mgmt-01', COMPONENTS),
    'test instance without port': (_drtest_without_port, [], 'missing required arguments: port found in '
                                   'genesys_apps -> drtest', 'east-mgmt-01', HOST_TYPES),
    'test instance port out of range': (_drtest_port_out_of_range, [], 'drtest.port (70000)', 'west-mgmt-01', APP),
    'app base not absolute': (_app_base_relative, [], 'genesys_app_base', 'west-app-01', APPLIST),
    'apps not a list': (_apps_not_a_list, [], "'genesys_apps' is of type str", 'west-app-01', HOST_TYPES),
    # The master set of each management host (issue 7 item 5).
    'main master pair without backup': (_without('east-mgmt-01', 'master_cs', 'backup'), [],
                                        'genesys_apps has no master_cs backup application', 'east-mgmt-01', COMPONENTS),
    'main master pair without primary': (_without('east-mgmt-01', 'master_cs', 'primary'), [],
                                         'genesys_apps has no master_cs primary application', 'east-mgmt-01',
                                         COMPONENTS),
    'secondary master pair without backup': (_without('west-mgmt-01', 'master_cs', 'backup'), [],
                                             'genesys_apps has no master_cs backup application', 'west-mgmt-01',
                                             COMPONENTS),
    'secondary master pair of two backups': (_two_master_backups, [],
                                             'genesys_apps has no master_cs primary application (a management host '
                                             'lists master_cs primary, master_cs backup, master_scs primary, '
                                             'scs_message_server primary); genesys_apps lists more than one '
                                             'master_cs backup application', 'west-mgmt-01', COMPONENTS),
    'no master SCS': (_without('east-mgmt-01', 'master_scs'), [], 'genesys_apps has no master_scs primary application',
                      'east-mgmt-01', COMPONENTS),
    'no SCS Message Server': (_without('west-mgmt-01', 'scs_message_server'), [],
                              'genesys_apps has no scs_message_server primary application', 'west-mgmt-01',
                              COMPONENTS),
    # Sites and hosts.
    'main site not a group': (_set(['all', 'genesys_main_site'], 'dc_north'), [], 'genesys_main_site (dc_north)',
                              None, DEPLOYMENT),
    'unknown secondary site': (_set(['all', 'genesys_secondary_site'], 'dc_south'), [],
                               'genesys_secondary_site (dc_south) must name a site group', None, DEPLOYMENT),
    'main site is the secondary': (_set(['all', 'genesys_secondary_site'], 'dc_east'), [],
                                   'genesys_main_site and genesys_secondary_site are both dc_east', None, DEPLOYMENT),
    'main site missing': (_set(['all', 'genesys_main_site'], None), [],
                          'missing required arguments: genesys_main_site', None, DEPLOYMENT_TYPES),
    'main site a list': (_set(['all', 'genesys_main_site'], ['dc_east', 'dc_west']), [],
                         "genesys_main_site (['dc_east', 'dc_west']) must name a site group", None, DEPLOYMENT),
    'no management host at main': (_no_management_at_main, [], 'genesys_main_site) must have exactly one host in '
                                   'management_hosts', None, DEPLOYMENT),
    'no DB host at secondary': (_no_db_at_secondary, [], 'genesys_secondary_site) must have exactly one host in '
                                'db_hosts', None, DEPLOYMENT),
    'management host at a proxy-only site': (_management_at_proxy_site, [], 'north-mgmt-01', None, DEPLOYMENT),
    'no dns_primary': (_no_dns_primary, [], 'group dns_primary must hold exactly one host', None, DEPLOYMENT),
    'host address not an IP': (_address_not_ip, [], 'genesys_host_address (east-cfgdb-01.contoso-cc.example)',
                               'east-cfgdb-01', HOST),
    'host address missing': (_no_host_address, [], 'missing required arguments: genesys_host_address', 'west-ns-01',
                             HOST_TYPES),
    'site group without genesys_site': (_no_site_of_a_site_group, [], 'missing required arguments: genesys_site',
                                        'north-app-01', HOST_TYPES),
    'host site names another site': (_site_of_other_group, [], 'genesys_site (dc_west)', 'east-app-01', HOST),
    'host in two site groups': (_host_in_two_sites, [], 'several site groups', 'east-app-01', HOST),
    # Deployment-wide values.
    'db port out of range': (_set(['all', 'genesys_db_port'], 70000), [], 'genesys_db_port (70000)', None,
                             DEPLOYMENT),
    'db port not a number': (_set(['all', 'genesys_db_port'], 'postgres'), [],
                             "argument 'genesys_db_port' is of type str and we were unable to convert to int", None,
                             DEPLOYMENT_TYPES),
    'db port set for one site only': (_db_port_per_site, [], 'genesys_db_port is 5432', 'west-app-01', AGREE),
    'master name outside the zone': (_set(['all', 'genesys_master_name'], 'confserv-master.contoso-cc.example'), [],
                                     'must be a name inside genesys_zone', None, DEPLOYMENT),
    'state and lock records are one name': (
        _set(['all', 'genesys_dr_lock_name'], '_dr-state.confserv-master.cfg.contoso-cc.example'), [],
        'genesys_dr_state_name and genesys_dr_lock_name must be two different names', None, DEPLOYMENT),
    'cs roles empty': (_set(['all', 'genesys_db_cs_roles'], ''), [], 'genesys_db_cs_roles', None, DEPLOYMENT),
    'ms roles a mapping': (_set(['all', 'genesys_db_ms_roles'], {'gcti_logms': True}), [],
                           "'genesys_db_ms_roles' is of type dict", None, DEPLOYMENT_TYPES),
    'zone missing': (_set(['all', 'genesys_zone'], None), [], 'missing required arguments: genesys_zone', None,
                     DEPLOYMENT_TYPES),
    'tsig key file missing': (None, ['-e', 'genesys_tsig_key_file=/nonexistent/gdr-update.key'],
                              'genesys_tsig_key_file /nonexistent/gdr-update.key does not exist', None, TSIG),
    'tsig key file readable by everyone': (None, ['world-readable-key'], 'is readable by every user', None, TSIG),
    'tsig key of an unsupported algorithm': (None, ['algorithm=hmac-sha257'],
                                             'uses TSIG algorithm hmac-sha257, supported: hmac-md5', None,
                                             TSIG_ALGORITHM),
    # A value that refers to an undefined variable (a vault not loaded) is named, with its host and how to
    # supply it, before any check templates it into a bare "'vault_...' is undefined".
    'vault not loaded': (None, ['no-vault'], 'genesys_db_admin_password refers to a variable that is not defined '
                         '(vault_genesys_db_admin_password is not defined: is its vault file loaded?); supply it - run '
                         'with --ask-vault-pass or --vault-id <label>@<source> (under AWX / Automation Platform: add '
                         'the vault credential', None, UNRESOLVED),
    'vault value of a deployment-wide value not loaded': (
        _set(['all', 'genesys_db_admin_user'], '{{ vault_genesys_db_admin_user }}'), [],
        'genesys_db_admin_user refers to a variable that is not defined (vault_genesys_db_admin_user is not defined: '
        'is its vault file loaded?); supply it - run with --ask-vault-pass', None, UNRESOLVED),
    'vault value of one DB host not loaded': (_vault_of_one_host, [],
                                              'genesys_db_admin_password refers to a variable that is not defined (is '
                                              'its vault file loaded?); supply it - run with --ask-vault-pass',
                                              'east-cfgdb-01', HOST_UNRESOLVED),
}
MARKERS = ('no-vault', 'world-readable-key')


def _write_broken(case, directory):
    """A copy of the example with the case's edit applied; returns (inventory, extra args, vault, key file options)."""
    edit, extra, _var, _host_name, _task = BROKEN[case]
    inventory = os.path.join(str(directory), 'inventory')
    shutil.copytree(EXAMPLE, inventory)
    if edit is not None:
        files = {'hosts': os.path.join(inventory, 'hosts.yml'),
                 'all': os.path.join(inventory, 'group_vars', 'all', 'deployment.yml')}
        for name in ('dc_east', 'dc_west', 'branch_north', 'shared_site'):
            files[name] = os.path.join(inventory, 'group_vars', name + '.yml')
        data = {}
        for key, path in files.items():
            with open(path) as f:
                data[key] = yaml.safe_load(f)
        inv = {'hosts': data['hosts'], 'all': data['all'],
               'group_vars': dict((k, v) for k, v in data.items() if k not in ('hosts', 'all'))}
        edit(inv)
        for key, path in files.items():
            with open(path, 'w') as f:
                yaml.safe_dump(inv['group_vars'].get(key, data[key]), f, default_flow_style=False)
    vault = 'no-vault' not in extra
    key = {'mode': 0o644 if 'world-readable-key' in extra else 0o600}
    key.update(a.split('=', 1) for a in extra if a.startswith('algorithm='))
    return inventory, [a for a in extra if a not in MARKERS and not a.startswith('algorithm=')], vault, key


def _broken_job(case):
    def job(directory):
        inventory, extra, vault, key = _write_broken(case, directory)
        return _preflight(inventory, directory, _tsig_key(directory, **key), extra, vault=vault)
    return job


def _example_job(directory):
    return _preflight(EXAMPLE, directory, _tsig_key(directory))


def _example_check_job(directory):
    return _preflight(EXAMPLE, directory, _tsig_key(directory), check=True)


def _classify_job(directory):
    """A play after the preflight writes the DR role groups to groups.json."""
    playbook = os.path.join(str(directory), 'groups.yml')
    with open(playbook, 'w') as f:
        f.write('- hosts: all\n  gather_facts: false\n  tasks:\n'
                '    - ansible.builtin.include_role: {name: genesys_dr.framework.preflight}\n'
                '- hosts: localhost\n  gather_facts: false\n  vars: {names: [dr_main, dr_secondary, dr_other, dr_pair]}\n'
                '  tasks:\n'
                '    - ansible.builtin.copy:\n'
                '        content: "{{ dict(names | zip(names | map(\'extract\', groups) | map(\'sort\'))) | to_json }}"\n'
                '        dest: %s\n        mode: "0600"\n' % os.path.join(str(directory), 'groups.json'))
    return _run([os.path.join(BIN, 'ansible-playbook'), '-i', EXAMPLE, playbook, '-e',
                 'genesys_tsig_key_file=%s' % _tsig_key(directory), '-e', '@' + VAULT_EXAMPLE], directory)


def _procedure_job(directory):
    """normal.yml in check mode against a copy where one host fails the argument check."""
    inventory, extra, _vault, _key = _write_broken('apps entry without port', directory)
    return _run([os.path.join(BIN, 'ansible-playbook'), '-i', inventory, os.path.join(TOP, 'playbooks', 'normal.yml'),
                 '--check', '-e', 'genesys_tsig_key_file=%s' % _tsig_key(directory), '-e', '@' + VAULT_EXAMPLE]
                + extra, directory)


# The runs each test reads; all selected ones are started together.
EXAMPLE_JOBS = {
    'test_a_procedure_stops_at_its_preflight_when_one_host_is_wrong': _procedure_job,
    'test_example_passes_preflight_and_shows_hosts_per_dr_role': _example_job,
    'test_example_passes_preflight_in_check_mode_changing_nothing': _example_check_job,
    'test_preflight_classifies_hosts_for_the_procedures': _classify_job,
}


@pytest.fixture(scope='module')
def runs(request, tmp_path_factory):
    """{job: (CompletedProcess, its directory)} for the selected tests of this module."""
    jobs = {}
    for item in request.session.items:
        if item.module is not request.module:
            continue
        if hasattr(item, 'callspec') and 'case' in item.callspec.params:
            jobs[item.callspec.params['case']] = _broken_job(item.callspec.params['case'])
        elif item.originalname in EXAMPLE_JOBS:
            jobs[item.originalname] = EXAMPLE_JOBS[item.originalname]
    directories = dict((name, tmp_path_factory.mktemp('run')) for name in jobs)

    def run(name):
        return name, (jobs[name](directories[name]), directories[name])

    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        return dict(pool.map(run, jobs))


@pytest.mark.parametrize('case', sorted(BROKEN))
def test_broken_inventory_fails_naming_variable_and_host_before_any_later_task(case, runs):
    proc = runs[case][0]
    _edit, _extra, variable, host, failing_task = BROKEN[case]
    out = proc.stdout
    assert proc.returncode != 0, out
    ran = _tasks_run(out)
    assert ran, out
    assert ran[-1].startswith(CHECK), 'the run went past the inventory check:\n%s' % out
    assert 'Summary of the hosts per DR role' not in out and 'PLAY [Show the hosts per DR role]' not in out
    failures = _failures(out)
    assert failures, out + proc.stderr
    if host is None:
        # Deployment-wide: one failure for the whole deployment, not one per host.
        assert len(failures) == 1, '\n'.join(failures)
        named = [f for f in failures if variable in ' '.join(f.split())
                 and 'Inventory check failed for the deployment (group_vars/all, as read for %s)' % _header_host(f)
                 in ' '.join(f.split())]
    else:
        named = [f for f in failures if variable in ' '.join(f.split()) and host in f]
    assert len(named) == 1, 'not exactly one failure names %r and %r:\n%s' % (variable, host, '\n'.join(failures))
    # The failure says which check it was.
    assert failing_task in ' '.join(named[0].split()), 'the failure is not that of %r:\n%s' % (failing_task, named[0])
    # The whole argument spec is never printed (it was, once per host, up to 1,564 lines).
    assert 'argument_spec_data' not in out and 'validate_args_context' not in out
    assert len(named[0].splitlines()) <= 12, named[0]


def test_a_procedure_stops_at_its_preflight_when_one_host_is_wrong(runs):
    """One host failing the argument check must stop every host: otherwise the procedure would
    go on with the other hosts (here normal.yml would take the DR lock next)."""
    proc = runs['test_a_procedure_stops_at_its_preflight_when_one_host_is_wrong'][0]
    assert proc.returncode != 0
    assert re.findall(r'^PLAY \[(.*?)\]', proc.stdout, re.M) == ['Preflight - check the inventory, sort hosts by DR role']
    assert _tasks_run(proc.stdout)[-1].startswith(CHECK) and HOST_TYPES in ' '.join(proc.stdout.split()), proc.stdout
    assert 'Inventory check failed for east-mgmt-01' in proc.stdout


def test_example_passes_preflight_and_shows_hosts_per_dr_role(runs):
    proc = runs['test_example_passes_preflight_and_shows_hosts_per_dr_role'][0]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [name for ran in _tasks_run(proc.stdout) for name in TASKS if ran.startswith(name)] == TASKS
    assert 'Inventory OK: main site dc_east, secondary site dc_west' in proc.stdout
    summary = ' '.join(proc.stdout.split('Summary of the hosts per DR role')[1].split())
    assert 'dr_main (dc_east): east-app-01 (proxy), east-cfgdb-01 (db), east-mgmt-01 (management), east-ns-01 (dns)' \
        in summary, summary
    assert 'dr_secondary (dc_west): west-app-01 (proxy), west-cfgdb-01 (db), west-mgmt-01 (management), ' \
        'west-ns-01 (dns)' in summary, summary
    assert re.search(r'dr_other \((hq, branch_north|branch_north, hq)\): hq-ns-01 \(dns\), north-app-01 \(proxy\), '
                     r'north-ns-01 \(dns\)', summary), summary
    assert re.search(r'^localhost\s+: ok=1\s+changed=0\s+unreachable=0\s+failed=0', proc.stdout, re.M)


def test_example_passes_preflight_in_check_mode_changing_nothing(runs):
    proc = runs['test_example_passes_preflight_in_check_mode_changing_nothing'][0]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Inventory OK: main site dc_east, secondary site dc_west' in proc.stdout
    # The recap lists the hosts that ran a task: the check runs once for every host (run_once) and the summary on the
    # controller. (Ansible's per-host argument task, which the procedures no longer run, put every host there.)
    recap = re.findall(r'^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', proc.stdout, re.M)
    assert 'localhost' in [r[0] for r in recap] and len(recap) >= 2, proc.stdout
    assert all(r[1:] == ('0', '0', '0') for r in recap), recap


def test_preflight_classifies_hosts_for_the_procedures(runs):
    """dr_main / dr_secondary / dr_other and dr_pair, as the procedure playbooks target them."""
    proc, directory = runs['test_preflight_classifies_hosts_for_the_procedures']
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(str(directory), 'groups.json')) as f:
        groups = json.load(f)
    assert groups == {
        'dr_main': ['east-app-01', 'east-cfgdb-01', 'east-mgmt-01', 'east-ns-01'],
        'dr_secondary': ['west-app-01', 'west-cfgdb-01', 'west-mgmt-01', 'west-ns-01'],
        'dr_other': ['hq-ns-01', 'north-app-01', 'north-ns-01'],
        'dr_pair': ['east-app-01', 'east-cfgdb-01', 'east-mgmt-01', 'east-ns-01',
                    'west-app-01', 'west-cfgdb-01', 'west-mgmt-01', 'west-ns-01'],
    }


def test_example_inventory_graph(tmp_path):
    proc = _run([os.path.join(BIN, 'ansible-inventory'), '-i', EXAMPLE, '--graph'], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'WARNING' not in proc.stderr, proc.stderr
    graph = proc.stdout
    for line in ('  |--@genesys_sites:', '  |  |--@dc_east:', '  |  |--@dc_west:', '  |  |--@branch_north:',
                 '  |--@db_hosts:', '  |--@management_hosts:', '  |--@proxy_hosts:', '  |--@dns_servers:',
                 '  |  |--@dns_primary:', '  |  |--@dns_secondaries:', '  |  |  |--hq-ns-01'):
        assert line + '\n' in graph, graph
    hosts = set(re.findall(r'--([\w-]+)$', graph, re.M))
    assert hosts == {'east-cfgdb-01', 'east-mgmt-01', 'east-app-01', 'east-ns-01', 'west-cfgdb-01', 'west-mgmt-01',
                     'west-app-01', 'west-ns-01', 'north-app-01', 'north-ns-01', 'hq-ns-01'}, graph


def test_example_keeps_secrets_out_of_the_inventory():
    """Secrets are vault references; the vault example defines every one of them."""
    with open(os.path.join(EXAMPLE, 'group_vars', 'all', 'deployment.yml')) as f:
        deployment = yaml.safe_load(f)
    with open(VAULT_EXAMPLE) as f:
        vault = yaml.safe_load(f)
    assert deployment['genesys_db_admin_password'] == '{{ vault_genesys_db_admin_password }}'
    referenced = set()
    for root, _dirs, files in os.walk(EXAMPLE):
        for name in files:
            with open(os.path.join(root, name)) as f:
                text = f.read()
            if not name.endswith('.example'):
                referenced.update(re.findall(r'\{\{\s*(vault_\w+)\s*\}\}', text))
                assert not re.search(r'^\s*\w*(password|secret)\w*:(?!\s*"\{\{)', text, re.M | re.I), name
    assert referenced and referenced <= set(vault), (referenced, vault)
    assert sorted(vault) == sorted(k for k in vault if k.startswith('vault_'))


def test_example_shares_no_name_address_port_or_zone_with_the_lab():
    """A real deployment's inventory differs from the lab in everything; the example shows it."""
    with open(os.path.join(EXAMPLE, 'hosts.yml')) as f:
        hosts_text = f.read()
    with open(os.path.join(EXAMPLE, 'group_vars', 'all', 'deployment.yml')) as f:
        deployment = yaml.safe_load(f)
    assert not re.search(r'\bsite\d\b|198\.18\.|genesys\.example', hosts_text)
    assert deployment['genesys_zone'] != 'genesys.example'
    assert not {deployment['genesys_main_site'], deployment['genesys_secondary_site']} & {'site1', 'site2'}
    ports = {int(p) for p in re.findall(r'port: (\d+)', hosts_text)} | {deployment['genesys_db_port']}
    assert not ports & {2020, 2021, 2030, 2031, 4900, 4910, 5000, 5001, 5432}, ports


# A run through Mitogen (GENESYS_DR_MITOGEN=true) needs Mitogen's own SSH keepalive on every
# host it logs into: Mitogen's default (30 s x 10) comes before ansible_ssh_common_args.
MITOGEN_PREFLIGHT = '''
- name: Preflight under the procedures' strategy
  hosts: all
  gather_facts: false
  strategy: genesys_dr.framework.fail_stop
  tasks:
    - name: Preflight
      ansible.builtin.include_role:
        name: genesys_dr.framework.preflight
'''


@pytest.mark.parametrize('mitogen, keepalive, refused', [
    ('true', True, False),
    ('true', False, True),
    ('false', False, False),
])
def test_a_mitogen_run_needs_a_bounded_mitogen_keepalive(tmp_path, mitogen, keepalive, refused):
    inventory = tmp_path / 'inventory'
    shutil.copytree(EXAMPLE, str(inventory))
    connection = inventory / 'group_vars' / 'all' / 'connection.yml'
    text = connection.read_text()
    assert 'mitogen_ssh_keepalive_count: 2' in text
    if not keepalive:
        connection.write_text(re.sub(r'^mitogen_ssh_keepalive_\w+: .*$', '', text, flags=re.M))
    playbook = tmp_path / 'preflight.yml'
    playbook.write_text(MITOGEN_PREFLIGHT)
    env = dict(_env(tmp_path), GENESYS_DR_MITOGEN=mitogen)
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory), str(playbook),
                           '-e', 'genesys_tsig_key_file=%s' % _tsig_key(tmp_path), '-e', '@' + VAULT_EXAMPLE],
                          cwd=TOP, env=env, capture_output=True, text=True, timeout=120, check=False)
    if not refused:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert any(ran.startswith('Sort hosts by their DR role') for ran in _tasks_run(proc.stdout)), proc.stdout
        return
    assert proc.returncode != 0, proc.stdout
    assert _tasks_run(proc.stdout)[-1].startswith(CHECK), proc.stdout
    text = ' '.join(proc.stdout.split())
    assert HOST in text
    # Every host the procedures log into is named; the DNS servers (never logged into) are not.
    for host in ('east-cfgdb-01', 'east-mgmt-01', 'west-app-01', 'north-app-01'):
        assert re.search(r'Inventory check failed for %s\b.{0,400}?mitogen_ssh_keepalive_interval \(not set\)' % host,
                         text), host
    assert 'Inventory check failed for hq-ns-01' not in text and 'Inventory check failed for east-ns-01' not in text
