# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the deployment is ready for a failover, judged from what the status role read on
every host (dr_readiness), and the same facts as Prometheus text-format metrics (dr_metrics)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.genesys_dr.framework.plugins.filter.dr_filters import site_host

READY_STATES = ('NORMAL', 'REPROTECTED')
DR_STATES = ('ABSENT', 'NORMAL', 'FAILED_OVER', 'REPROTECTED', 'UNREADABLE')
# What the status role registers on each host it reads.
HOST_RESULTS = ('replication_subscriptions_read', 'replication_log_flow', 'status_access', 'status_apps', 'status_proxies')
LOG_FLOWS_OK = ('moving', 'idle')


def _vars(hostvars, host):
    """The variables of host; {} for a host hostvars does not know (it returns an Undefined)."""
    try:
        found = hostvars[host]
    except KeyError:
        return {}
    return found if isinstance(found, Mapping) else {}


def _result(host_vars, name):
    value = host_vars.get(name)
    return value if isinstance(value, dict) else None


def _short(text, limit=120):
    text = ' '.join(('%s' % text).split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _endpoint_address(endpoint):
    """'10.0.0.1:8888' or '[fd00::1]:8888' -> the address."""
    address = (endpoint or '').rsplit(':', 1)[0]
    return address[1:-1] if address.startswith('[') and address.endswith(']') else address


class Readiness(object):
    def __init__(self, hostvars, groups, main_site, secondary_site, max_lag_bytes, master_components, cfgdb, own_run=None):
        self.hostvars, self.groups = hostvars, groups
        self.own_run = own_run
        self.main_site, self.secondary_site = main_site, secondary_site
        self.max_lag_bytes = int(max_lag_bytes)
        self.master_components = list(master_components)
        self.cfgdb = cfgdb
        self.problems = []
        self.facts = dict(hosts=[], subscriptions=[], log_flows=[], access=[], dns=[], applications=[], proxies=[],
                          drtests=[])

    def problem(self, text):
        self.problems.append(text)

    def host_site(self, host):
        return _vars(self.hostvars, host).get('genesys_site')

    def site_host(self, component, site):
        """The inventory's one lookup (the site_host filter); None where it finds no host."""
        try:
            return site_host(self.groups, component, site)
        except AnsibleFilterError:
            return None

    # -- the DR state and the lock, read on the controller ---------------------------------

    def dr_state(self):
        read = _result(_vars(self.hostvars, 'localhost'), 'status_dr_state') or {}
        state = read.get('dr_state') or {}
        if read.get('failed') or not read:
            self.facts.update(state='UNREADABLE', live_site=self.main_site, lock=None)
            self.problem('DR state: unreadable (%s)' % _short(read.get('msg', 'not read')))
            return self.main_site
        name = state.get('state') or 'ABSENT'
        live_site = state.get('live_site') or self.main_site
        lock = read.get('lock')
        self.facts.update(state=name, live_site=live_site, lock=lock)
        if name not in READY_STATES:
            self.problem('DR state: %s (a failover needs %s)' % (name, ' or '.join(READY_STATES)))
        if lock and not (self.own_run and lock.get('holder') == self.own_run):
            self.problem('DR lock: held by run %s (%s) for %s s: an operation is running or died; a failover would be '
                         'refused' % (lock.get('holder'), lock.get('operation'), lock.get('age_seconds')))
        return live_site

    # -- the hosts --------------------------------------------------------------------------

    def reached(self, host):
        host_vars = _vars(self.hostvars, host)
        results = [_result(host_vars, name) for name in HOST_RESULTS]
        unreachable = [r for r in results if r and r.get('unreachable')]
        reached = bool([r for r in results if r]) and not unreachable
        self.facts['hosts'].append(dict(host=host, site=self.host_site(host), reached=reached))
        if not reached:
            why = unreachable[0].get('msg') if unreachable else 'no result: the play did not run there'
            self.problem('host %s: not reached (%s)' % (host, _short(why)))
        return reached

    def results_by_database(self, host, name):
        read = _result(_vars(self.hostvars, host), name) or {}
        return dict((r.get('item'), r) for r in read.get('results') or [] if isinstance(r, dict))

    def replication(self, host, live_site):
        site = self.host_site(host)
        for database, read in self.results_by_database(host, 'replication_subscriptions_read').items():
            if read.get('failed'):
                self.problem('replication: %s %s unreadable (%s)' % (host, database, _short(read.get('msg', '?'))))
                continue
            subscriptions = read.get('subscriptions') or []
            for sub in subscriptions:
                self.facts['subscriptions'].append(dict(
                    host=host, site=site, database=database, name=sub.get('name'), status=sub.get('status'),
                    lag_bytes=sub.get('lag_bytes')))
            if database == self.cfgdb and site == live_site:
                for sub in subscriptions:
                    if sub.get('status') not in ('stopped', 'absent'):
                        self.problem('replication: %s %s subscription %s into the live site is %s, not stopped' % (
                            host, database, sub.get('name'), sub.get('status')))
                continue
            running = [s for s in subscriptions if s.get('status') == 'running']
            if not running:
                self.problem('replication: %s %s has no running subscription from the other DR site (%s)' % (
                    host, database, ', '.join('%s %s' % (s.get('name'), s.get('status')) for s in subscriptions) or 'none'))
                continue
            if database != self.cfgdb:
                continue
            for sub in running:
                lag = sub.get('lag_bytes')
                if lag is None:
                    self.problem('replication: %s %s subscription %s lag cannot be measured (publisher %s)' % (
                        host, database, sub.get('name'), 'reachable' if read.get('publisher_reachable') else 'not reachable'))
                elif lag > self.max_lag_bytes:
                    self.problem('replication: %s %s subscription %s is %d bytes behind (a failover gate allows %d)' % (
                        host, database, sub.get('name'), lag, self.max_lag_bytes))

    def log_flow(self, host):
        flow = _result(_vars(self.hostvars, host), 'replication_log_flow')
        if not flow or flow.get('skipped') or flow.get('unreachable'):
            return
        value = flow.get('flow') or 'unreadable'
        self.facts['log_flows'].append(dict(host=host, site=self.host_site(host), flow=value))
        if value not in LOG_FLOWS_OK:
            detail = flow.get('msg') if value == 'unreadable' else 'publisher %s' % (
                'reachable' if flow.get('publisher_reachable') else 'not reachable')
            self.problem('log rows: the other site\'s rows do not arrive at %s (flow %s; %s)' % (host, value, _short(detail)))

    def access(self, host, live_site):
        site = self.host_site(host)
        for database, read in sorted(self.results_by_database(host, 'status_access').items()):
            if read.get('failed'):
                self.problem('client access: %s %s unreadable (%s)' % (host, database, _short(read.get('msg', '?'))))
                continue
            expected = 'read_only' if database == self.cfgdb and site != live_site else 'read_write'
            for role, found in sorted((read.get('roles') or {}).items()):
                access = (found or {}).get('access')
                self.facts['access'].append(dict(host=host, site=site, database=database, role=role, access=access,
                                                 expected=expected))
                if access != expected:
                    self.problem('client access: %s %s role %s is %s, expected %s' % (host, database, role, access, expected))

    def applications(self, host, live_site):
        site = self.host_site(host)
        apps = _result(_vars(self.hostvars, host), 'status_apps')
        if not apps or apps.get('skipped'):
            return
        if apps.get('failed'):
            self.problem('applications: %s unreadable (%s)' % (host, _short(apps.get('msg', '?'))))
            return
        components = dict((a.get('name'), a.get('component')) for a in _vars(self.hostvars, host).get('genesys_apps') or [])
        for app in apps.get('applications') or []:
            component = components.get(app.get('name'))
            dormant = component in self.master_components and site != live_site
            up = app.get('state') == 'running'
            self.facts['applications'].append(dict(host=host, site=site, name=app.get('name'), component=component,
                                                   up=up, expected_up=not dormant))
            if dormant and up:
                self.problem('application: %s on %s is running at %s, which is not live (a second master)' % (
                    app.get('name'), host, site))
            elif not dormant and not up:
                self.problem('application: %s on %s is stopped' % (app.get('name'), host))

    def proxies(self, host, live_address):
        read = _result(_vars(self.hostvars, host), 'status_proxies')
        if not read or read.get('skipped'):
            return
        if read.get('failed') and not read.get('proxies'):
            self.problem('proxies: %s unreadable (%s)' % (host, _short(read.get('msg', '?'))))
            return
        for proxy in read.get('proxies') or []:
            if not proxy.get('pids'):
                continue  # a stopped proxy is an application problem, named once there
            master = _endpoint_address(proxy.get('master')) if proxy.get('connected') else None
            self.facts['proxies'].append(dict(host=host, site=self.host_site(host), name=proxy.get('name'),
                                              connected=bool(proxy.get('connected')), master=master,
                                              on_live_master=master is not None and master == live_address))
            if not proxy.get('connected'):
                self.problem('proxy: %s on %s is in limited mode (no master connection)' % (proxy.get('name'), host))
            elif master != live_address:
                self.problem('proxy: %s on %s is connected to %s, not to the live master %s' % (
                    proxy.get('name'), host, master, live_address))

    # -- DNS, read on the controller --------------------------------------------------------

    def dns(self, live_address):
        read = _result(_vars(self.hostvars, 'localhost'), 'status_dns') or {}
        answers = read.get('answers')
        if read.get('failed') or answers is None:
            self.problem('DNS: not read (%s)' % _short(read.get('msg', 'no result')))
            return
        for answer in answers:
            values = answer.get('value') or []
            ok = answer.get('error') is None and values == [live_address]
            self.facts['dns'].append(dict(server=answer.get('server'), value=values, answered=answer.get('error') is None,
                                          ok=ok))
            if answer.get('error') is not None:
                self.problem('DNS: %s did not answer (%s)' % (answer.get('server'), _short(answer.get('error'))))
            elif not ok:
                self.problem('DNS: %s answers %s, not the live master %s' % (
                    answer.get('server'), ', '.join(values) or 'nothing', live_address))

    def drtests(self):
        """When each site last passed a DR test, as drtest.yml records it (TXT strings 'site=S at=T run=R'). A fact
        for the metrics, not a problem: how old a test may be is for the monitoring to decide."""
        read = _result(_vars(self.hostvars, 'localhost'), 'status_drtest') or {}
        answers = read.get('answers') or [{}]
        for text in answers[0].get('value') or []:
            fields = dict(part.split('=', 1) for part in ('%s' % text).split() if '=' in part)
            try:
                self.facts['drtests'].append(dict(site=fields['site'], at=int(fields['at']), run=fields.get('run')))
            except (KeyError, ValueError):
                continue

    def judge(self):
        self.drtests()
        live_site = self.dr_state()
        live_mgmt = self.site_host('management_hosts', live_site)
        live_address = _vars(self.hostvars, live_mgmt).get('genesys_host_address') if live_mgmt else None
        if live_address is None:
            self.problem('live site %s: no management host in the inventory' % live_site)
        self.facts['live_address'] = live_address
        self.dns(live_address)
        # A host in several of the groups is judged once, in the first group's order.
        for host in dict.fromkeys(self.groups.get('db_hosts', []) + self.groups.get('management_hosts', [])
                                  + self.groups.get('proxy_hosts', [])):
            if not self.reached(host):
                continue
            if host in self.groups.get('db_hosts', []):
                self.replication(host, live_site)
                self.log_flow(host)
                self.access(host, live_site)
            self.applications(host, live_site)
            if host in self.groups.get('proxy_hosts', []):
                self.proxies(host, live_address)
        return dict(ready=not self.problems, problems=self.problems, **self.facts)


def dr_readiness(hostvars, groups, main_site, secondary_site, max_lag_bytes=67108864,
                 master_components=('master_cs', 'master_scs', 'scs_message_server'), cfgdb='cfgdb', own_run=None):
    """Every reason the deployment is not ready for a failover, and the facts they were judged on. A DR lock
    held by own_run (the run that asks, holding it for its own work) is not one of them."""
    if not isinstance(groups, dict) or not main_site or not secondary_site:
        raise AnsibleFilterError('dr_readiness needs groups, main_site and secondary_site')
    try:
        max_lag = int(max_lag_bytes)
    except (TypeError, ValueError):
        raise AnsibleFilterError('dr_readiness: max_lag_bytes must be a number of bytes, got %r' % (max_lag_bytes,))
    return Readiness(hostvars, groups, main_site, secondary_site, max_lag, master_components, cfgdb,
                     own_run=own_run or None).judge()


# What production looks like in a reading, without what moves on its own (lags, log flow, the lock):
# (kind, the fact's key fields, its value fields).
PRODUCTION = (
    ('dns', ('server',), ('value',)),
    ('subscriptions', ('host', 'database', 'name'), ('status',)),
    ('access', ('host', 'database', 'role'), ('access',)),
    ('applications', ('host', 'name'), ('up',)),
    ('proxies', ('host', 'name'), ('connected', 'master')),
)


def _production(readiness):
    seen = {('DR state', ''): (readiness.get('state'), readiness.get('live_site'))}
    for kind, keys, values in PRODUCTION:
        for fact in readiness.get(kind) or []:
            seen[(kind, ' '.join('%s' % fact.get(k) for k in keys))] = tuple(fact.get(v) for v in values)
    return seen


def _shown(value):
    return '/'.join('%s' % v for v in value) if value is not None else 'not read'


def dr_unchanged(before, after):
    """The differences in production between two dr_readiness results: the DR state and live site, each DNS
    server's answer, each subscription's status, each client role's access, each application up or not, each
    proxy's connection and master; one line each, empty when production reads back the same."""
    for name, value in (('before', before), ('after', after)):
        if not isinstance(value, dict) or 'ready' not in value:
            raise AnsibleFilterError('dr_unchanged takes two results of dr_readiness (%s is not one)' % name)
    first, second = _production(before), _production(after)
    return ['%s %s: %s before, %s after' % (kind, key, _shown(first.get((kind, key))), _shown(second.get((kind, key))))
            for kind, key in sorted(set(first) | set(second)) if first.get((kind, key)) != second.get((kind, key))]


# -- Prometheus text format (node_exporter textfile collector) ------------------------------

def _label_value(value):
    return ('%s' % ('' if value is None else value)).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def _sample(name, labels, value):
    if labels:
        name += '{%s}' % ','.join('%s="%s"' % (key, _label_value(labels[key])) for key in sorted(labels))
    return '%s %s' % (name, int(value) if isinstance(value, bool) else value)


METRICS = [
    ('genesys_dr_ready', 'Whether the deployment is ready for a failover (1) or not (0).'),
    ('genesys_dr_problems', 'Reasons the deployment is not ready for a failover.'),
    ('genesys_dr_state', 'The recorded DR state: 1 for the current one.'),
    ('genesys_dr_lock_held', 'Whether the DR lock is held (an operation runs, or one died).'),
    ('genesys_dr_host_reached', 'Whether status could read the host.'),
    ('genesys_dr_subscription_running', 'Whether a logical replication subscription is running.'),
    ('genesys_dr_subscription_lag_bytes', 'WAL bytes a running subscription is behind its publisher.'),
    ('genesys_dr_log_rows_arriving', 'Whether the other DR site\'s log rows arrive (1), or there are none to arrive.'),
    ('genesys_dr_client_access_expected', 'Whether a Genesys role has the client access its site needs.'),
    ('genesys_dr_dns_answer_live_master', 'Whether a DNS server answers the master name with the live master.'),
    ('genesys_dr_application_up', 'Whether a Genesys application runs.'),
    ('genesys_dr_application_expected_up', 'Whether the application should run (0: a dormant master).'),
    ('genesys_dr_proxy_connected', 'Whether a Configuration Server Proxy holds a master connection (0: limited mode).'),
    ('genesys_dr_proxy_on_live_master', 'Whether the proxy is connected to the live master.'),
    ('genesys_dr_drtest_last_success_timestamp_seconds', 'When the site last passed a DR test, drtest.yml (Unix time).'),
    ('genesys_dr_status_timestamp_seconds', 'When status read the deployment (Unix time).'),
]


def dr_metrics(readiness, timestamp=None):
    """The readiness facts as Prometheus text exposition format, every metric a gauge; the status
    timestamp is now unless given (Unix seconds)."""
    if not isinstance(readiness, dict) or 'ready' not in readiness:
        raise AnsibleFilterError('dr_metrics takes the result of dr_readiness')
    samples = dict((name, []) for name, _help in METRICS)
    samples['genesys_dr_ready'].append(({}, readiness['ready']))
    samples['genesys_dr_problems'].append(({}, len(readiness['problems'])))
    for state in DR_STATES:
        samples['genesys_dr_state'].append(({'state': state}, readiness.get('state') == state))
    samples['genesys_dr_lock_held'].append(({}, bool(readiness.get('lock'))))
    for host in readiness.get('hosts', []):
        samples['genesys_dr_host_reached'].append(({'host': host['host'], 'site': host['site']}, host['reached']))
    for sub in readiness.get('subscriptions', []):
        labels = dict(host=sub['host'], site=sub['site'], database=sub['database'], subscription=sub['name'])
        samples['genesys_dr_subscription_running'].append((labels, sub['status'] == 'running'))
        if sub['status'] == 'running' and sub['lag_bytes'] is not None:
            samples['genesys_dr_subscription_lag_bytes'].append((labels, int(sub['lag_bytes'])))
    for flow in readiness.get('log_flows', []):
        samples['genesys_dr_log_rows_arriving'].append(({'host': flow['host'], 'site': flow['site']},
                                                        flow['flow'] in LOG_FLOWS_OK))
    for grant in readiness.get('access', []):
        labels = dict(host=grant['host'], site=grant['site'], database=grant['database'], role=grant['role'])
        samples['genesys_dr_client_access_expected'].append((labels, grant['access'] == grant['expected']))
    for answer in readiness.get('dns', []):
        samples['genesys_dr_dns_answer_live_master'].append(({'server': answer['server']}, answer['ok']))
    for app in readiness.get('applications', []):
        labels = dict(host=app['host'], site=app['site'], application=app['name'], component=app['component'])
        samples['genesys_dr_application_up'].append((labels, app['up']))
        samples['genesys_dr_application_expected_up'].append((labels, app['expected_up']))
    for proxy in readiness.get('proxies', []):
        labels = dict(host=proxy['host'], site=proxy['site'], proxy=proxy['name'])
        samples['genesys_dr_proxy_connected'].append((labels, proxy['connected']))
        samples['genesys_dr_proxy_on_live_master'].append((labels, proxy['on_live_master']))
    for drtest in readiness.get('drtests', []):
        samples['genesys_dr_drtest_last_success_timestamp_seconds'].append(({'site': drtest['site']}, drtest['at']))
    samples['genesys_dr_status_timestamp_seconds'].append(({}, int(time.time() if timestamp is None else timestamp)))
    lines = []
    for name, help_text in METRICS:
        if not samples[name]:
            continue
        lines += ['# HELP %s %s' % (name, help_text), '# TYPE %s gauge' % name]
        lines += [_sample(name, labels, value) for labels, value in samples[name]]
    return '\n'.join(lines) + '\n'


class FilterModule(object):
    def filters(self):
        return {'dr_readiness': dr_readiness, 'dr_metrics': dr_metrics, 'dr_unchanged': dr_unchanged}
