# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dr_readiness judges what the status role registered on every host (shaped as the modules'
RETURN documents it); every kind of drift gives exactly its own one-line problem. dr_metrics
writes the same facts in the Prometheus text format, read back here by a strict parser."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import os
import re
import time

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.genesys_dr.framework.plugins.filter.readiness import dr_metrics, dr_readiness, dr_unchanged, FilterModule

ADDRESS = {'e-db': '10.1.0.11', 'e-mgmt': '10.1.0.21', 'e-app': '10.1.0.31',
           'w-db': '10.2.0.11', 'w-mgmt': '10.2.0.21', 'w-app': '10.2.0.31', 'n-app': '10.3.0.31'}
SITE = {'e': 'dc_east', 'w': 'dc_west', 'n': 'branch_north'}
GROUPS = {'db_hosts': ['e-db', 'w-db'], 'management_hosts': ['e-mgmt', 'w-mgmt'],
          'proxy_hosts': ['e-app', 'w-app', 'n-app'],
          'dc_east': ['e-db', 'e-mgmt', 'e-app'], 'dc_west': ['w-db', 'w-mgmt', 'w-app'], 'branch_north': ['n-app']}
MASTERS = [('CS_P', 'master_cs'), ('CS_B', 'master_cs'), ('SCS_M', 'master_scs'), ('MS_SCS', 'scs_message_server')]
SITE_APPS = [('Proxy_P', 'proxy'), ('Proxy_B', 'proxy'), ('SCS_Site', 'site_scs'), ('LMS', 'log_message_server')]
MAX_LAG = 1000
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def site_of(host):
    return SITE[host.split('-')[0]]


def subscription(name, status, lag):
    return {'name': name, 'status': status, 'enabled': status == 'running', 'lag_bytes': lag}


def db_host(host, live):
    here, peer = site_of(host), 'dc_west' if site_of(host) == 'dc_east' else 'dc_east'
    cfgdb = subscription('genesys_cfgdb_from_%s' % peer, 'stopped' if here == live else 'running',
                         None if here == live else 120)
    logdb = subscription('genesys_logdb_from_%s' % peer, 'running', 64)
    return {
        'replication_subscriptions_read': {'changed': False, 'results': [
            {'item': 'cfgdb', 'subscriptions': [cfgdb], 'publisher_reachable': True, 'failed': False},
            {'item': 'logdb', 'subscriptions': [logdb], 'publisher_reachable': True, 'failed': False}]},
        'replication_log_flow': {'flow': 'moving', 'publisher_reachable': True, 'failed': False},
        'status_access': {'results': [
            {'item': 'cfgdb', 'roles': {'genesys_cs': {'access': 'read_write' if here == live else 'read_only'}}},
            {'item': 'logdb', 'roles': {'genesys_ms': {'access': 'read_write'}}}]},
        'status_apps': {'skipped': True},
        'status_proxies': {'skipped': True},
    }


def app_host(host, apps, running):
    return {
        'genesys_apps': [{'name': '%s_%s' % (name, host), 'component': component} for name, component in apps],
        'status_apps': {'applications': [
            {'name': '%s_%s' % (name, host), 'state': 'running' if running else 'stopped',
             'pids': [4242] if running else []} for name, _component in apps]},
        'status_proxies': {'skipped': True},
    }


def deployment(state='NORMAL', live='dc_east'):
    """hostvars and groups of a deployment ready for a failover, live at ``live``."""
    live_mgmt = 'e-mgmt' if live == 'dc_east' else 'w-mgmt'
    hostvars = {'localhost': {
        'status_dr_state': {'failed': False, 'dr_state': {'state': state, 'live_site': live, 'run': 'r1'}, 'lock': None},
        'status_dns': {'failed': False, 'agree': True, 'answers': [
            {'server': 'ns-%s' % s, 'value': [ADDRESS[live_mgmt]], 'ttl': 60, 'error': None, 'error_kind': None}
            for s in ('hq', 'e', 'w')]},
    }}
    for host in GROUPS['db_hosts']:
        hostvars[host] = db_host(host, live)
    for host in GROUPS['management_hosts']:
        hostvars[host] = app_host(host, MASTERS, running=site_of(host) == live)
    for host in GROUPS['proxy_hosts']:
        hostvars[host] = app_host(host, SITE_APPS, running=True)
        hostvars[host]['status_proxies'] = {'failed': False, 'proxies': [
            {'name': 'Proxy_%s_%s' % (r, host), 'pids': [77], 'connected': True,
             'master': '%s:8888' % ADDRESS[live_mgmt]} for r in 'PB']}
    for host, values in hostvars.items():
        if host != 'localhost':
            values.update(genesys_site=site_of(host), genesys_host_address=ADDRESS[host])
    return hostvars


def judge(hostvars):
    return dr_readiness(hostvars, GROUPS, 'dc_east', 'dc_west', max_lag_bytes=MAX_LAG)


@pytest.mark.parametrize('state,live', [('NORMAL', 'dc_east'), ('REPROTECTED', 'dc_west')])
def test_a_protected_deployment_is_ready(state, live):
    result = judge(deployment(state, live))
    assert result['problems'] == [] and result['ready'] is True
    assert result['state'] == state and result['live_site'] == live
    assert len(result['applications']) == 2 * 4 + 3 * 4 and len(result['proxies']) == 6
    assert all(h['reached'] for h in result['hosts']) and len(result['hosts']) == 7


def _set(path, value):
    def change(hostvars):
        target = hostvars
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _del(host):
    def change(hostvars):
        del hostvars[host]
    return change


DRIFTS = {
    'failed over': (_set(['localhost', 'status_dr_state', 'dr_state', 'state'], 'FAILED_OVER'),
                    'DR state: FAILED_OVER (a failover needs NORMAL or REPROTECTED)'),
    'never initialised': (_set(['localhost', 'status_dr_state', 'dr_state'], None),
                          'DR state: ABSENT (a failover needs NORMAL or REPROTECTED)'),
    'state unreadable': (_set(['localhost', 'status_dr_state'], {'failed': True, 'msg': 'TSIG error: BADKEY'}),
                         'DR state: unreadable (TSIG error: BADKEY)'),
    'lock held': (_set(['localhost', 'status_dr_state', 'lock'],
                       {'holder': 'failover-20261127T0900', 'operation': 'failover', 'age_seconds': 4000}),
                  'DR lock: held by run failover-20261127T0900 (failover) for 4000 s: an operation is running or died; '
                  'a failover would be refused'),
    'cfgdb stream stopped': (_set(['w-db', 'replication_subscriptions_read', 'results', 0, 'subscriptions', 0, 'status'], 'stopped'),
                             'replication: w-db cfgdb has no running subscription from the other DR site '
                             '(genesys_cfgdb_from_dc_east stopped)'),
    'cfgdb stream missing': (_set(['w-db', 'replication_subscriptions_read', 'results', 0, 'subscriptions'], []),
                             'replication: w-db cfgdb has no running subscription from the other DR site (none)'),
    'cfgdb behind the gate': (_set(['w-db', 'replication_subscriptions_read', 'results', 0, 'subscriptions', 0, 'lag_bytes'], 5000),
                              'replication: w-db cfgdb subscription genesys_cfgdb_from_dc_east is 5000 bytes behind '
                              '(a failover gate allows 1000)'),
    'cfgdb lag unknown': (_set(['w-db', 'replication_subscriptions_read', 'results', 0, 'subscriptions', 0, 'lag_bytes'], None),
                          'replication: w-db cfgdb subscription genesys_cfgdb_from_dc_east lag cannot be measured '
                          '(publisher reachable)'),
    'cfgdb both ways': (_set(['e-db', 'replication_subscriptions_read', 'results', 0, 'subscriptions', 0, 'status'], 'running'),
                        'replication: e-db cfgdb subscription genesys_cfgdb_from_dc_west into the live site is running, '
                        'not stopped'),
    'logdb stream half up': (_set(['e-db', 'replication_subscriptions_read', 'results', 1, 'subscriptions', 0, 'status'],
                                  'enabled_not_streaming'),
                             'replication: e-db logdb has no running subscription from the other DR site '
                             '(genesys_logdb_from_dc_west enabled_not_streaming)'),
    'log rows not moving': (_set(['w-db', 'replication_log_flow', 'flow'], 'not moving'),
                            "log rows: the other site's rows do not arrive at w-db (flow not moving; publisher reachable)"),
    'replica writable': (_set(['w-db', 'status_access', 'results', 0, 'roles', 'genesys_cs', 'access'], 'read_write'),
                         'client access: w-db cfgdb role genesys_cs is read_write, expected read_only'),
    'live read only': (_set(['e-db', 'status_access', 'results', 0, 'roles', 'genesys_cs', 'access'], 'read_only'),
                       'client access: e-db cfgdb role genesys_cs is read_only, expected read_write'),
    'dns server stale': (_set(['localhost', 'status_dns', 'answers', 2, 'value'], [ADDRESS['w-mgmt']]),
                         'DNS: ns-w answers 10.2.0.21, not the live master 10.1.0.21'),
    'dns server silent': (_set(['localhost', 'status_dns', 'answers', 1, 'error'], 'timed out after 2 s'),
                          'DNS: ns-e did not answer (timed out after 2 s)'),
    'dormant master running': (_set(['w-mgmt', 'status_apps', 'applications', 0, 'state'], 'running'),
                               'application: CS_P_w-mgmt on w-mgmt is running at dc_west, which is not live '
                               '(a second master)'),
    'live master down': (_set(['e-mgmt', 'status_apps', 'applications', 1, 'state'], 'stopped'),
                         'application: CS_B_e-mgmt on e-mgmt is stopped'),
    'proxy limited': (_set(['n-app', 'status_proxies', 'proxies', 1, 'connected'], False),
                      'proxy: Proxy_B_n-app on n-app is in limited mode (no master connection)'),
    'proxy on old master': (_set(['w-app', 'status_proxies', 'proxies', 0, 'master'], '10.2.0.21:8888'),
                            'proxy: Proxy_P_w-app on w-app is connected to 10.2.0.21, not to the live master 10.1.0.21'),
    'host not reached': (_set(['w-app'], {'genesys_site': 'dc_west', 'status_apps': {'unreachable': True,
                                          'msg': 'ssh: connect to host w-app port 22: No route to host'}}),
                         'host w-app: not reached (ssh: connect to host w-app port 22: No route to host)'),
    'host never read': (_set(['n-app'], {'genesys_site': 'branch_north'}),
                        'host n-app: not reached (no result: the play did not run there)'),
}


@pytest.mark.parametrize('drift', sorted(DRIFTS))
def test_each_drift_is_named_once_and_only_it(drift):
    change, expected = DRIFTS[drift]
    hostvars = deployment()
    change(hostvars)
    result = judge(hostvars)
    assert result['ready'] is False
    assert result['problems'] == [expected]


def test_problems_add_up_and_a_lost_main_is_judged_against_the_live_site():
    hostvars = copy.deepcopy(deployment('FAILED_OVER', 'dc_west'))
    for host in ('e-db', 'e-mgmt', 'e-app'):
        hostvars[host] = {'genesys_site': 'dc_east', 'status_apps': {'unreachable': True, 'msg': 'unreachable'}}
    hostvars['w-db']['replication_subscriptions_read']['results'][0]['subscriptions'][0].update(status='stopped')
    hostvars['e-db'] = {'genesys_site': 'dc_east', 'replication_subscriptions_read': {'unreachable': True, 'msg': 'unreachable'}}
    problems = judge(hostvars)['problems']
    assert problems[0] == 'DR state: FAILED_OVER (a failover needs NORMAL or REPROTECTED)'
    assert sorted(p for p in problems if p.startswith('host ')) == [
        'host e-app: not reached (unreachable)', 'host e-db: not reached (unreachable)',
        'host e-mgmt: not reached (unreachable)']
    # The live secondary's cfgdb takes writes and replicates nowhere: its stopped stream from the lost main is fine.
    assert not [p for p in problems if p.startswith('replication: w-db cfgdb')]
    assert len(problems) == 4


def test_bad_arguments_are_refused():
    with pytest.raises(AnsibleFilterError, match='main_site'):
        dr_readiness({}, GROUPS, '', 'dc_west')
    with pytest.raises(AnsibleFilterError, match='max_lag_bytes'):
        dr_readiness({}, GROUPS, 'dc_east', 'dc_west', max_lag_bytes='lots')
    with pytest.raises(AnsibleFilterError, match='dr_readiness'):
        dr_metrics({'problems': []}, 0)


SAMPLE = re.compile(r'^([a-z_]+)(?:\{((?:[a-z_]+="(?:[^"\\]|\\.)*",?)*)\})? (-?[0-9]+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value}, checking the exposition format line by line."""
    assert text.endswith('\n')
    samples, declared = {}, []
    for line in text.splitlines():
        if line.startswith('# HELP ') or line.startswith('# TYPE '):
            if line.startswith('# TYPE '):
                name, kind = line.split()[2:]
                assert kind == 'gauge' and name not in declared
                declared.append(name)
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, labels, value = match.groups()
        assert name == declared[-1], 'sample %s outside its family' % line
        key = (name, frozenset(LABEL.findall(labels or '')))
        assert key not in samples, 'duplicate sample %s' % line
        samples[key] = int(value)
    return samples


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def test_metrics_carry_the_same_facts():
    hostvars = deployment()
    DRIFTS['proxy limited'][0](hostvars)
    DRIFTS['dormant master running'][0](hostvars)
    samples = parse(dr_metrics(judge(hostvars), 1795000000))
    assert value(samples, 'genesys_dr_ready') == 0 and value(samples, 'genesys_dr_problems') == 2
    assert value(samples, 'genesys_dr_state', state='NORMAL') == 1
    assert sum(v for (name, _l), v in samples.items() if name == 'genesys_dr_state') == 1
    assert value(samples, 'genesys_dr_lock_held') == 0
    assert value(samples, 'genesys_dr_subscription_lag_bytes', host='w-db', site='dc_west', database='cfgdb',
                 subscription='genesys_cfgdb_from_dc_east') == 120
    assert value(samples, 'genesys_dr_subscription_running', host='e-db', site='dc_east', database='cfgdb',
                 subscription='genesys_cfgdb_from_dc_west') == 0
    assert value(samples, 'genesys_dr_proxy_connected', host='n-app', site='branch_north', proxy='Proxy_B_n-app') == 0
    assert value(samples, 'genesys_dr_proxy_on_live_master', host='n-app', site='branch_north', proxy='Proxy_P_n-app') == 1
    labels = dict(host='w-mgmt', site='dc_west', application='CS_P_w-mgmt', component='master_cs')
    assert value(samples, 'genesys_dr_application_up', **labels) == 1
    assert value(samples, 'genesys_dr_application_expected_up', **labels) == 0
    assert value(samples, 'genesys_dr_dns_answer_live_master', server='ns-hq') == 1
    assert value(samples, 'genesys_dr_log_rows_arriving', host='e-db', site='dc_east') == 1
    assert value(samples, 'genesys_dr_client_access_expected', host='w-db', site='dc_west', database='cfgdb',
                 role='genesys_cs') == 1
    assert value(samples, 'genesys_dr_host_reached', host='n-app', site='branch_north') == 1
    assert value(samples, 'genesys_dr_status_timestamp_seconds') == 1795000000


def test_each_sites_last_passed_dr_test_is_a_metric_not_a_problem():
    hostvars = deployment()
    assert 'genesys_dr_drtest_last_success' not in dr_metrics(judge(hostvars), 0)
    hostvars['localhost']['status_drtest'] = {'answers': [{'server': 'ns-hq', 'value': [
        'site=dc_west at=1795000100 run=drtest-1', 'site=dc_east at=1794000000 run=drtest-0', 'garbage', 'site=x at=soon']}]}
    result = judge(hostvars)
    assert result['ready'] is True and result['problems'] == []
    assert result['drtests'] == [dict(site='dc_west', at=1795000100, run='drtest-1'),
                                 dict(site='dc_east', at=1794000000, run='drtest-0')]
    samples = parse(dr_metrics(result, 0))
    assert value(samples, 'genesys_dr_drtest_last_success_timestamp_seconds', site='dc_west') == 1795000100
    assert value(samples, 'genesys_dr_drtest_last_success_timestamp_seconds', site='dc_east') == 1794000000
    # The status play skips the read when the inventory names no record.
    hostvars['localhost']['status_drtest'] = {'skipped': True}
    assert judge(hostvars)['drtests'] == []


def test_label_values_are_escaped():
    hostvars = deployment()
    hostvars['localhost']['status_dns']['answers'][0]['server'] = 'ns "quoted" \\ back\nslash'
    text = dr_metrics(judge(hostvars), 0)
    assert 'genesys_dr_dns_answer_live_master{server="ns \\"quoted\\" \\\\ back\\nslash"} 1' in text
    parse(text)


def test_the_filter_module_exposes_its_filters():
    assert sorted(FilterModule().filters()) == ['dr_metrics', 'dr_readiness', 'dr_unchanged']


def test_the_lock_of_the_run_that_asks_is_not_a_problem_but_another_runs_is():
    hostvars = deployment()
    hostvars['localhost']['status_dr_state']['lock'] = {'holder': 'drtest-1', 'operation': 'drtest', 'age_seconds': 3}
    mine = dr_readiness(hostvars, GROUPS, 'dc_east', 'dc_west', max_lag_bytes=MAX_LAG, own_run='drtest-1')
    assert mine['ready'] is True and mine['lock']['holder'] == 'drtest-1'
    other = dr_readiness(hostvars, GROUPS, 'dc_east', 'dc_west', max_lag_bytes=MAX_LAG, own_run='drtest-2')
    assert [p for p in other['problems'] if p.startswith('DR lock: held by run drtest-1')] == other['problems']
    assert len(other['problems']) == 1 and judge(hostvars)['problems'] == other['problems']


def test_production_read_back_the_same_is_unchanged_whatever_moves_on_its_own():
    before = judge(deployment())
    moved = deployment()
    moved['w-db']['replication_subscriptions_read']['results'][0]['subscriptions'][0]['lag_bytes'] = 999
    moved['w-db']['replication_log_flow']['flow'] = 'idle'
    moved['localhost']['status_dr_state']['lock'] = {'holder': 'drtest-1', 'operation': 'drtest', 'age_seconds': 9}
    assert dr_unchanged(before, judge(moved)) == []


@pytest.mark.parametrize('drift', ['failed over', 'cfgdb stream stopped', 'replica writable', 'dns server stale',
                                   'dormant master running', 'proxy limited', 'proxy on old master'])
def test_each_production_change_is_named(drift):
    """Every drift status names that a DR test could cause is also a change between two readings."""
    change, _expected = DRIFTS[drift]
    after = deployment()
    change(after)
    changes = dr_unchanged(judge(deployment()), judge(after))
    assert len(changes) == 1, changes
    assert ' before, ' in changes[0] and changes[0].endswith(' after')


def test_a_fact_read_only_once_is_a_change():
    before = judge(deployment())
    after = deployment()
    after['w-app'] = {'genesys_site': 'dc_west', 'status_apps': {'unreachable': True, 'msg': 'unreachable'}}
    changes = dr_unchanged(before, judge(after))
    # the host's 4 applications and 2 proxies were read before, not after
    assert len(changes) == 6 and all(c.endswith('not read after') for c in changes)
    with pytest.raises(AnsibleFilterError, match='dr_unchanged'):
        dr_unchanged(before, {'problems': []})


def test_the_status_time_defaults_to_now():
    before = int(time.time())
    stamp = value(parse(dr_metrics(judge(deployment()))), 'genesys_dr_status_timestamp_seconds')
    assert before <= stamp <= int(time.time())


def test_the_status_role_judges_with_the_bounds_the_procedures_use():
    """status reads its lag bound and master components from its own defaults: they must be the
    failover gate's and the fencing's, or status calls ready what a failover refuses."""
    def defaults(role):
        with open(os.path.join(TOP, 'roles', role, 'defaults', 'main.yml')) as stream:
            return yaml.safe_load(stream)
    status = defaults('status')
    assert status['status_max_lag_bytes'] == defaults('replication')['replication_max_lag_bytes']
    assert status['status_master_components'] == defaults('fencing')['fencing_master_components']
