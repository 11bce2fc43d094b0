# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters the DR roles use (plugins/filter/dr_filters.py): as Python functions, with
the data shapes the roles give them, and once through real Ansible templating by FQCN."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.genesys_dr.framework.plugins.filter import dr_filters
from ansible_collections.genesys_dr.framework.plugins.filter.dr_filters import (
    dns_verify_servers, fencing_verdict, in_sequence, peer_site, row_divergence, site_host, unreachable_hosts)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

MANAGEMENT_APPS = [
    {'name': 'CfgServer_P', 'component': 'master_cs', 'role': 'primary', 'port': 8888},
    {'name': 'CfgServer_B', 'component': 'master_cs', 'role': 'backup', 'port': 8889},
    {'name': 'SCS_Master', 'component': 'master_scs', 'role': 'primary', 'port': 4100},
    {'name': 'MsgServer_SCS', 'component': 'scs_message_server', 'role': 'primary', 'port': 4020},
]


def _applications_defaults():
    with open(os.path.join(TOP, 'roles', 'applications', 'defaults', 'main.yml')) as f:
        return yaml.safe_load(f)


# site_host ---------------------------------------------------------------------------

GROUPS = {'db_hosts': ['east-db', 'west-db-2', 'west-db'], 'management_hosts': ['east-mgmt', 'west-mgmt'],
          'dc_east': ['east-mgmt', 'east-db'], 'dc_west': ['west-db', 'west-mgmt', 'west-db-2'], 'branch': ['branch-app']}


def test_site_host_is_the_component_host_at_the_site_in_component_order():
    assert site_host(GROUPS, 'db_hosts', 'dc_east') == 'east-db'
    assert site_host(GROUPS, 'management_hosts', 'dc_west') == 'west-mgmt'
    # Two DB hosts at one site (the preflight refuses it): the component group's order decides.
    assert site_host(GROUPS, 'db_hosts', 'dc_west') == 'west-db-2'


@pytest.mark.parametrize('component, site, message', [
    ('db_hosts', 'branch', 'no host of group db_hosts at site branch'),
    ('db_hosts', 'dc_north', 'no group dc_north in the inventory'),
    ('dns_servers', 'dc_east', 'no group dns_servers in the inventory'),
    ('db_hosts', '', "the site must be a group name, got ''"),
    ('db_hosts', None, 'the site must be a group name, got None'),
])
def test_site_host_names_what_is_missing(component, site, message):
    with pytest.raises(AnsibleFilterError, match=message):
        site_host(GROUPS, component, site)


# peer_site ---------------------------------------------------------------------------

def test_peer_site_is_the_other_dr_site_whichever_is_main():
    assert peer_site('dc_east', 'dc_east', 'dc_west') == 'dc_west'
    assert peer_site('dc_west', 'dc_east', 'dc_west') == 'dc_east'
    # The lab's second site as main: the answer follows the roles, not the names.
    assert peer_site('dc_east', 'dc_west', 'dc_east') == 'dc_west'


@pytest.mark.parametrize('site', ['branch', '', None])
def test_peer_site_refuses_a_site_that_is_not_a_dr_site(site):
    with pytest.raises(AnsibleFilterError, match='site %s is neither the main site \\(dc_east\\) nor the secondary site \\(dc_west\\)' % site):
        peer_site(site, 'dc_east', 'dc_west')


# in_sequence -------------------------------------------------------------------------

def test_in_sequence_orders_the_applications_role_start_and_stop_sequences():
    defaults = _applications_defaults()
    start = [a['name'] for a in in_sequence(MANAGEMENT_APPS, defaults['applications_master_start'])]
    stop = [a['name'] for a in in_sequence(MANAGEMENT_APPS, defaults['applications_master_stop'])]
    assert start == ['MsgServer_SCS', 'SCS_Master', 'CfgServer_P', 'CfgServer_B']
    # Backup before primary: a backup left running when its primary stops would take over.
    assert stop == ['CfgServer_B', 'CfgServer_P', 'SCS_Master', 'MsgServer_SCS']


def test_in_sequence_leaves_out_applications_not_in_the_sequence():
    proxy_host = [{'name': 'CSProxy_P', 'component': 'proxy', 'role': 'primary'},
                  {'name': 'LMS', 'component': 'log_message_server', 'role': 'primary'}]
    assert in_sequence(MANAGEMENT_APPS + proxy_host, ['proxy/primary']) == [proxy_host[0]]
    assert in_sequence(proxy_host, _applications_defaults()['applications_master_stop']) == []
    assert in_sequence([], ['master_cs/primary']) == []


def test_in_sequence_keeps_inventory_order_for_one_key_and_takes_primary_as_the_default_role():
    apps = [{'name': 'b', 'component': 'proxy', 'role': 'backup'},
            {'name': 'p1', 'component': 'proxy'},
            {'name': 'p2', 'component': 'proxy', 'role': 'primary'}]
    assert [a['name'] for a in in_sequence(apps, ['proxy/primary', 'proxy/backup'])] == ['p1', 'p2', 'b']


def test_in_sequence_returns_the_entries_themselves():
    chosen = in_sequence(MANAGEMENT_APPS, ['master_cs/primary'])
    assert chosen == [MANAGEMENT_APPS[0]] and chosen[0] is MANAGEMENT_APPS[0]


# dns_verify_servers --------------------------------------------------------------------

def _dns_hostvars():
    return [
        {'inventory_hostname': 'hq-ns-01', 'genesys_host_address': '192.0.2.153', 'genesys_site': 'hq'},
        {'inventory_hostname': 'east-ns-01', 'genesys_host_address': '192.0.2.53', 'genesys_site': 'dc_east'},
        {'inventory_hostname': 'west-ns-01', 'genesys_host_address': '198.51.100.53', 'genesys_site': 'dc_west'},
    ]


def test_dns_verify_servers_lists_every_server_by_its_service_address():
    assert dns_verify_servers(_dns_hostvars()) == [
        {'name': 'hq-ns-01', 'address': '192.0.2.153'},
        {'name': 'east-ns-01', 'address': '192.0.2.53'},
        {'name': 'west-ns-01', 'address': '198.51.100.53'},
    ]
    assert dns_verify_servers(_dns_hostvars(), []) == dns_verify_servers(_dns_hostvars(), None)


def test_dns_verify_servers_skips_the_servers_of_lost_sites_with_a_reason():
    servers = dns_verify_servers(_dns_hostvars(), ['dc_east'])
    assert servers[1] == {'name': 'east-ns-01', 'address': '192.0.2.53', 'skip': True,
                          'skip_reason': 'site dc_east confirmed lost'}
    assert [s.get('skip', False) for s in servers] == [False, True, False]


def test_dns_verify_servers_falls_back_to_ansible_host():
    hostvars = [{'inventory_hostname': 'ns', 'ansible_host': '203.0.113.53', 'genesys_site': 'branch_north'}]
    assert dns_verify_servers(hostvars) == [{'name': 'ns', 'address': '203.0.113.53'}]


def test_dns_verify_servers_fails_naming_a_server_without_address():
    with pytest.raises(AnsibleFilterError, match='DNS server north-ns-01 has no genesys_host_address'):
        dns_verify_servers(_dns_hostvars() + [{'inventory_hostname': 'north-ns-01', 'genesys_site': 'branch_north'}])


# unreachable_hosts ----------------------------------------------------------------------

def test_unreachable_hosts_lists_hosts_the_probe_did_not_reach():
    hostvars = {
        'east-mgmt-01': {'failover_probe': {'ping': 'pong', 'changed': False}},
        'east-cfgdb-01': {'failover_probe': {'unreachable': True, 'msg': 'ssh: connect timed out'}},
        'east-app-01': {'other': 1},
    }
    hosts = ['east-mgmt-01', 'east-cfgdb-01', 'east-app-01', 'east-gone-01']
    assert unreachable_hosts(hosts, hostvars, 'failover_probe') == ['east-cfgdb-01', 'east-app-01', 'east-gone-01']


def test_unreachable_hosts_is_empty_when_every_host_answered():
    hostvars = {'a': {'probe': {'ping': 'pong'}}, 'b': {'probe': {'unreachable': False, 'ping': 'pong'}}}
    assert unreachable_hosts(['a', 'b'], hostvars, 'probe') == []
    assert unreachable_hosts([], hostvars, 'probe') == []


def test_unreachable_hosts_counts_a_non_result_as_not_reached():
    assert unreachable_hosts(['a', 'b'], {'a': {'probe': 'pong'}, 'b': None}, 'probe') == ['a', 'b']


# fencing_verdict ---------------------------------------------------------------------------

FENCE_GROUPS = {'management_hosts': ['e-mgmt', 'e-mgmt-2', 'w-mgmt'], 'db_hosts': ['e-db', 'w-db'],
                'proxy_hosts': ['e-proxy'], 'east': ['e-mgmt', 'e-db', 'e-proxy', 'e-mgmt-2'], 'west': ['w-mgmt', 'w-db']}


def fenced_hostvars(**changes):
    """Hostvars after both fencing steps ran everywhere at east; a change replaces a host's vars."""
    hostvars = {'e-mgmt': {'fencing_unlisted': {'changed': False}, 'fencing_masters': 'done'},
                'e-mgmt-2': {'fencing_unlisted': {'changed': False}, 'fencing_masters': 'done'},
                'e-db': {'fencing_access_begun': True, 'fencing_access': 'done'},
                'e-proxy': {}, 'w-mgmt': {}, 'w-db': {}}
    hostvars.update(changes)
    return hostvars


def test_fencing_verdict_fenced_when_every_host_recorded_done():
    verdict = fencing_verdict(fenced_hostvars(), FENCE_GROUPS, 'east')
    assert verdict == {'fenced': True, 'unfenced': [], 'not_reached': [], 'problems': []}


def test_fencing_verdict_names_each_unfenced_host_by_its_kind():
    hostvars = fenced_hostvars(**{
        # its fencing result says it could not be reached
        'e-mgmt': {'fencing_unlisted': {'unreachable': True, 'msg': 'ssh: timed out'}},
        # reachable, the step began, no record: it failed there
        'e-mgmt-2': {'fencing_unlisted': {'changed': False}, 'applications_results': {'failed': True}},
        # the step never began there
        'e-db': {}})
    verdict = fencing_verdict(hostvars, FENCE_GROUPS, 'east', [], True)
    assert not verdict['fenced']
    assert verdict['unfenced'] == ['e-mgmt', 'e-mgmt-2', 'e-db']
    assert verdict['problems'] == [
        'unreachable: e-mgmt',
        'could not fence (reachable, but failed): e-mgmt-2',
        'the fencing step never ran there (the host had left the run before it): e-db']


def test_fencing_verdict_a_host_not_reached_passes_only_when_allowed():
    hostvars = fenced_hostvars(**{'e-db': {'fencing_access_begun': True, 'fencing_access': 'not done: host not reached'}})
    refused = fencing_verdict(hostvars, FENCE_GROUPS, 'east', ['e-mgmt-2'], False)
    assert refused['fenced'] is False and refused['unfenced'] == []
    assert refused['not_reached'] == ['e-db', 'e-mgmt-2']
    assert refused['problems'] == ['unreachable: e-db, e-mgmt-2']
    allowed = fencing_verdict(hostvars, FENCE_GROUPS, 'east', ['e-mgmt-2'], True)
    assert allowed == {'fenced': True, 'unfenced': [], 'not_reached': ['e-db', 'e-mgmt-2'], 'problems': []}


def test_fencing_verdict_a_silent_host_needs_no_record_and_other_sites_are_not_read():
    hostvars = fenced_hostvars(**{'e-mgmt-2': {}, 'w-mgmt': {'fencing_masters': 'failed'}})
    verdict = fencing_verdict(hostvars, FENCE_GROUPS, 'east', ['e-mgmt-2', 'w-mgmt'], True)
    assert verdict == {'fenced': True, 'unfenced': [], 'not_reached': ['e-mgmt-2'], 'problems': []}


class CountingVars(dict):
    """A host's vars that count the reads of each variable (reading hostvars templates it)."""

    def __init__(self, reads, host, *args):
        super(CountingVars, self).__init__(*args)
        self.reads, self.host = reads, host

    def __getitem__(self, name):
        self.reads[(self.host, name)] = self.reads.get((self.host, name), 0) + 1
        return super(CountingVars, self).__getitem__(name)


def test_fencing_verdict_reads_each_variable_of_a_host_once():
    # Unreachable, failed and not reached at once: every read the verdict makes.
    plain = fenced_hostvars(**{
        'e-mgmt': {'fencing_unlisted': {'unreachable': True}},
        'e-mgmt-2': {'fencing_unlisted': {'changed': False}, 'applications_results': {'failed': True},
                     'fencing_leftovers': {'changed': False}},
        'e-db': {'fencing_access': 'not done: host not reached', 'db_access_result': {'changed': True}}})
    reads = {}
    hostvars = dict((host, CountingVars(reads, host, host_vars)) for host, host_vars in plain.items())
    verdict = fencing_verdict(hostvars, FENCE_GROUPS, 'east', [], True)
    assert verdict == fencing_verdict(plain, FENCE_GROUPS, 'east', [], True)
    assert verdict['not_reached'] == ['e-db'] and verdict['unfenced'] == ['e-mgmt', 'e-mgmt-2']
    assert reads and max(reads.values()) == 1, reads


def test_fencing_verdict_refuses_an_unknown_site():
    with pytest.raises(AnsibleFilterError, match='no group north'):
        fencing_verdict(fenced_hostvars(), FENCE_GROUPS, 'north')


# row_divergence ---------------------------------------------------------------------------

def test_row_divergence_counts_rows_only_here_per_table():
    here = ['public.cfg_person|aaa', 'public.cfg_person|bbb', 'public.cfg_person|ccc',
            'public.cfg_app|ddd', 'public.cfg_folder|eee', '']
    there = ['public.cfg_person|aaa', 'public.cfg_app|ddd', 'public.cfg_folder|eee', 'public.cfg_folder|fff']
    result = row_divergence(here, there)
    assert result == {'public.cfg_person': 2}
    assert list(result) == sorted(result)


def test_row_divergence_sorts_tables_and_ignores_blank_lines():
    result = row_divergence(['z.t|1', '', 'a.t|2', 'm.t|3', 'a.t|4'], [])
    assert list(result.items()) == [('a.t', 2), ('m.t', 1), ('z.t', 1)]


def test_row_divergence_is_empty_for_identical_or_missing_input():
    rows = ['public.cfg_person|aaa', 'public.cfg_app|bbb']
    assert row_divergence(rows, list(reversed(rows))) == {}
    assert row_divergence(None, rows) == {}
    assert row_divergence([], None) == {}
    assert row_divergence(rows, None) == {'public.cfg_app': 1, 'public.cfg_person': 1}


def test_row_divergence_splits_at_the_last_bar():
    assert row_divergence(['odd|schema.t|abc'], []) == {'odd|schema.t': 1}


# the plugin as Ansible loads it ------------------------------------------------------------

def test_filter_module_exposes_the_seven_filters():
    filters = dr_filters.FilterModule().filters()
    assert filters == {'in_sequence': in_sequence, 'dns_verify_servers': dns_verify_servers, 'site_host': site_host,
                       'peer_site': peer_site, 'unreachable_hosts': unreachable_hosts, 'row_divergence': row_divergence,
                       'fencing_verdict': fencing_verdict}


def test_filters_by_fqcn_in_real_templating(tmp_path):
    """The roles call them as genesys_dr.framework.<name> inside templates, on lazy data and on
    the real hostvars (east-gone-01 is in the inventory, but the play never probed it)."""
    playbook = tmp_path / 'filters.yml'
    out = tmp_path / 'out.json'
    playbook.write_text('''
- hosts: localhost
  gather_facts: false
  vars:
    apps: %s
    servers:
      - {inventory_hostname: ns1, genesys_host_address: 192.0.2.53, genesys_site: dc_east}
      - {inventory_hostname: ns2, genesys_host_address: 198.51.100.53, genesys_site: dc_west}
  tasks:
    - name: Probe that reaches localhost
      ansible.builtin.ping:
      register: probe
    - name: Write what the filters return
      ansible.builtin.copy:
        dest: %s
        mode: "0600"
        content: "{{ {
          'start': apps | genesys_dr.framework.in_sequence(['master_cs/primary', 'master_cs/backup'])
                        | map(attribute='name') | list,
          'dns': servers | genesys_dr.framework.dns_verify_servers(['dc_west']),
          'unreachable': ['localhost', 'east-gone-01'] | genesys_dr.framework.unreachable_hosts(hostvars, 'probe'),
          'rows': ['t|1', 't|2', 'u|3'] | genesys_dr.framework.row_divergence(['t|1']),
          'site_host': groups | genesys_dr.framework.site_host('ungrouped', 'all'),
          'peer_site': 'dc_west' | genesys_dr.framework.peer_site('dc_east', 'dc_west'),
        } | to_json }}"
''' % (json.dumps(MANAGEMENT_APPS), out))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), GENESYS_DR_REPORT_DIR=str(tmp_path),
               PATH=os.path.join(TOP, '.venv', 'bin') + os.pathsep + os.environ.get('PATH', ''))
    python = os.path.join(TOP, '.venv', 'bin', 'python')
    proc = subprocess.run([os.path.join(TOP, '.venv', 'bin', 'ansible-playbook'), '-i', 'localhost,east-gone-01,',
                           '-c', 'local', '-e', 'ansible_python_interpreter=%s' % python, str(playbook)],
                          cwd=TOP, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(out.read_text()) == {
        'start': ['CfgServer_P', 'CfgServer_B'],
        'dns': [{'name': 'ns1', 'address': '192.0.2.53'},
                {'name': 'ns2', 'address': '198.51.100.53', 'skip': True, 'skip_reason': 'site dc_west confirmed lost'}],
        'unreachable': ['east-gone-01'],
        'rows': {'t': 1, 'u': 1},
        'site_host': 'localhost',
        'peer_site': 'dc_east',
    }
