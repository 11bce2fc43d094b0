# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters the DR roles use to turn inventory data into module arguments."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.genesys_dr.framework.plugins.plugin_utils.ordering import unique_in_order


def in_sequence(apps, sequence):
    """Applications whose component/role key is in `sequence`, in that order (stable)."""
    rank = dict((key, i) for i, key in enumerate(sequence))
    chosen = []
    for i, app in enumerate(apps):
        key = '%s/%s' % (app.get('component'), app.get('role', 'primary'))
        if key in rank:
            chosen.append((rank[key], i, app))
    return [entry[2] for entry in sorted(chosen, key=lambda t: (t[0], t[1]))]


def site_host(groups, component, site):
    """The host of group `component` (db_hosts, management_hosts, ...) at site `site`: the first in
    the component group's order that is also in the site's group (the preflight requires exactly one)."""
    for name, what in ((component, 'component'), (site, 'site')):
        if not isinstance(name, str) or not name:
            raise AnsibleFilterError('site_host: the %s must be a group name, got %r' % (what, name))
        if name not in groups:
            raise AnsibleFilterError('site_host: no group %s in the inventory' % name)
    at_site = set(groups[site])
    for host in groups[component]:
        if host in at_site:
            return host
    raise AnsibleFilterError('site_host: no host of group %s at site %s' % (component, site))


def peer_site(site, main_site, secondary_site):
    """The other DR site: the secondary for the main, the main for the secondary. Only the two DR sites
    have DB and management hosts (the preflight checks it), so any other site is an error."""
    if site == main_site:
        return secondary_site
    if site == secondary_site:
        return main_site
    raise AnsibleFilterError('peer_site: site %s is neither the main site (%s) nor the secondary site (%s), so it has no peer DR site'
                             % (site, main_site, secondary_site))


def dns_verify_servers(hosts, lost_sites=None):
    """`verify_servers` for dns_record/dr_state from the DNS servers' hostvars; servers of
    lost sites are listed with skip so the module warns instead of waiting for them."""
    lost = set(lost_sites or [])
    servers = []
    for hv in hosts:
        address = hv.get('genesys_host_address') or hv.get('ansible_host')
        if not address:
            raise AnsibleFilterError('DNS server %s has no genesys_host_address' % hv.get('inventory_hostname'))
        site = hv.get('genesys_site')
        entry = {'name': hv.get('inventory_hostname'), 'address': address}
        if site in lost:
            entry.update(skip=True, skip_reason='site %s confirmed lost' % site)
        servers.append(entry)
    return servers


def unreachable_hosts(hosts, hostvars, result_name):
    """Hosts whose registered result `result_name` is missing (the play never reached them) or
    marks them unreachable."""
    missing = []
    for host in hosts:
        host_vars = hostvars[host] if host in hostvars else None
        result = host_vars.get(result_name) if host_vars else None
        if not isinstance(result, dict) or result.get('unreachable'):
            missing.append(host)
    return missing


# Set or registered by the first task of the fencing's stop_masters.yml and revoke_access.yml,
# whether it ran or was skipped: the fencing step began on that host.
FENCING_BEGUN_MARKERS = ('fencing_unlisted', 'fencing_access_begun')
# What the fencing tasks register: one of them marked unreachable says the host left the run
# because it could not be reached.
FENCING_RESULT_NAMES = ('fencing_unlisted', 'applications_results', 'fencing_leftovers', 'db_access_result')


def fencing_verdict(hostvars, groups, site, silent_hosts=None, allow_unreachable=False):
    """Whether every management and DB host of `site` was fenced, from what the fencing steps
    recorded (fencing_masters, fencing_access: 'done' or why not) and registered. Which hosts pass
    is decided by unfenced and not_reached alone; the kind of each unfenced host only words the
    problems: a host that could not be reached is never called "reachable, but failed"."""
    if site not in groups:
        raise AnsibleFilterError('fencing_verdict: no group %s in the inventory' % site)
    silent_hosts = set(silent_hosts or [])
    management, databases = set(groups.get('management_hosts', [])), set(groups.get('db_hosts', []))
    silent = [host for host in groups[site] if host in silent_hosts]
    hosts = [host for host in unique_in_order(groups[site]) if host in management | databases and host not in silent]

    kinds = (('fencing_masters', management), ('fencing_access', databases))
    # Each variable is read once per host: a read of hostvars templates it.
    names = unique_in_order([name for name, _group in kinds] + list(FENCING_RESULT_NAMES))
    records, begun = {}, {}
    for host in hosts:
        host_vars = hostvars[host]
        records[host] = dict((name, host_vars[name]) for name in names if name in host_vars)
        begun[host] = any(name in host_vars for name in FENCING_BEGUN_MARKERS)

    unfenced = [host for name, group in kinds for host in hosts if host in group and name not in records[host]]
    not_reached = [host for name, _group in kinds for host in hosts
                   if name in records[host] and records[host][name] != 'done'] + silent
    unreachable, never_ran = [], []
    unfenced_hosts = unique_in_order(unfenced)
    for host in unfenced_hosts:
        results = [records[host].get(name) for name in FENCING_RESULT_NAMES]
        if any(isinstance(result, Mapping) and result.get('unreachable') for result in results):
            unreachable.append(host)
        elif not begun[host]:
            never_ran.append(host)
    failed = [host for host in unfenced_hosts if host not in unreachable + never_ran]
    problems = []
    if unreachable or (not_reached and not allow_unreachable):
        problems.append('unreachable: ' + ', '.join(sorted(set(unreachable + ([] if allow_unreachable else not_reached)))))
    if failed:
        problems.append('could not fence (reachable, but failed): ' + ', '.join(failed))
    if never_ran:
        problems.append('the fencing step never ran there (the host had left the run before it): ' + ', '.join(never_ran))
    return {'fenced': not unfenced and (allow_unreachable or not not_reached), 'unfenced': unfenced,
            'not_reached': sorted(set(not_reached)), 'problems': problems}


def row_divergence(here, there):
    """Rows fingerprinted as 'table|md5(row)' that exist in `here` but not in `there`, counted
    per table: {table: count}, only tables with such rows."""
    theirs = set(there or [])
    counts = {}
    for line in here or []:
        if not line or line in theirs:
            continue
        table = line.rsplit('|', 1)[0]
        counts[table] = counts.get(table, 0) + 1
    return dict(sorted(counts.items()))


class FilterModule(object):
    def filters(self):
        return {'in_sequence': in_sequence, 'dns_verify_servers': dns_verify_servers, 'site_host': site_host,
                'peer_site': peer_site, 'unreachable_hosts': unreachable_hosts, 'row_divergence': row_divergence,
                'fencing_verdict': fencing_verdict}
