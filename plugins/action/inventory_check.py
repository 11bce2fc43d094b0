# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of genesys_dr.framework.inventory_check (documentation: plugins/modules/inventory_check.py).

Every check of the preflight, over every host of the play, in one controller-side step: the
per-host, per-task cost of Ansible was almost all of the preflight's time, not the checks.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re
import stat
from collections.abc import Mapping

import yaml

from ansible.errors import AnsibleError, AnsibleUndefinedVariable
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.genesys_dr.framework.plugins.plugin_utils.ordering import unique_in_order
from ansible_collections.genesys_dr.framework.plugins.plugin_utils.task_runner import runs_through_mitogen

# The stages, in the order the checks stop at: a later stage reads values an earlier one vouched for.
STAGES = ('left_play', 'unresolved_deployment', 'unresolved_host', 'deployment_types', 'host_types', 'role_options', 'deployment', 'tsig_key',
          'tsig_algorithm', 'host', 'agree', 'applist', 'app', 'components')

UNDEFINED = object()

display = Display()

# With GENESYS_DR_MITOGEN the tasks run through Mitogen, whose own SSH keepalive (30 s x 10 by
# default) comes before the ServerAlive options of ansible_ssh_common_args and so wins: a host
# lost under an open connection would hold a step for 5 minutes. Its keepalive must be set on
# every host the run logs into, and detect a lost host within this many seconds.
MITOGEN_KEEPALIVE_MAX_S = 10

SUPPLY = ('supply it - run with --ask-vault-pass or --vault-id <label>@<source> (under AWX / Automation Platform: add '
          'the vault credential, or the credential that injects the value, to the job template)')

ARGUMENT_SPEC = dict(
    interface=dict(type='dict', required=True),
    host_vars=dict(type='list', elements='str', required=True),
    deployment_vars=dict(type='list', elements='str', required=True),
    unvalidated_vars=dict(type='list', elements='str', default=[]),
    groups=dict(type='list', elements='str', required=True),
    patterns=dict(type='dict', required=True, options=dict(
        ipv4=dict(type='str', required=True), ipv6=dict(type='str', required=True),
        host_name=dict(type='str', required=True), owner_name=dict(type='str', required=True),
        app_name=dict(type='str', required=True))),
    app_roles=dict(type='list', elements='str', required=True),
    tsig_algorithms=dict(type='list', elements='str', required=True),
    required_components=dict(type='dict', required=True),
    host_components=dict(type='dict', required=True),
    fail_on_problems=dict(type='bool', default=True),
    stage_titles=dict(type='dict', default={}),
    role_specs_dir=dict(type='path'),
)


def _plain(value):
    """The value as plain Python data; templating a nested part may still raise (an undefined reference)."""
    if isinstance(value, Mapping):
        return dict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _text(value, default):
    """How the Jinja checks rendered a value in a message ({{ value | default(...) }})."""
    return default if value is UNDEFINED else str(value)


def _is_str(value):
    return isinstance(value, str)


def _is_list(value):
    return isinstance(value, list)


def _port_ok(value):
    return (value is not UNDEFINED and not isinstance(value, bool) and re.match(r'^[0-9]{1,5}$', str(value)) is not None
            and 1 <= int(value) <= 65535)


def _name(value):
    return re.sub(r'\.$', '', value.lower())


class _Host(object):
    """One host's variables, each templated once, on first use."""

    def __init__(self, hostvars, name):
        self.name = name
        self._vars = hostvars[name]
        self._seen = {}

    def __contains__(self, name):
        return name in self._vars

    def get(self, name):
        """The value, UNDEFINED when not set or when it refers to an undefined variable."""
        if name not in self._seen:
            try:
                self._seen[name] = _plain(self._vars[name]) if name in self._vars else UNDEFINED
            except AnsibleUndefinedVariable:
                self._seen[name] = UNDEFINED
        return self._seen[name]

    def unresolved(self, name):
        return name in self._vars and self.get(name) is UNDEFINED


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        self.o = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        self.hostvars = task_vars['hostvars']
        self.groups = dict((k, list(v)) for k, v in task_vars['groups'].items())
        self.play_hosts = list(task_vars.get('ansible_play_hosts') or [task_vars['inventory_hostname']])
        self.play_hosts_all = list(task_vars.get('ansible_play_hosts_all') or self.play_hosts)
        self.reader = task_vars['inventory_hostname']
        self.hosts = {}
        self.me = self._host_of(self.reader)
        self.controller = self._host_of('localhost')
        self.site_groups = []

        problems = {}
        failed = None
        for stage in STAGES:
            problems[stage] = getattr(self, '_' + stage)()
            if problems[stage]:
                failed = stage
                break

        # What every stage found, for an operator who runs with -vv (the lines of the failing one are its message).
        display.vv('inventory_check: problems per stage: %s' % problems)
        result.update(changed=False, problems=problems, failed_stage=failed, site_groups=self.site_groups,
                      dr_roles=self._dr_roles() if failed is None else {})
        if failed is None:
            result['msg'] = 'Inventory OK: %d hosts checked' % len(self.play_hosts)
        else:
            title = self.o['stage_titles'].get(failed)
            result['msg'] = ('%s:\n' % title if title else '') + '\n'.join(problems[failed])
            result['failed'] = self.o['fail_on_problems']
        return result

    # Helpers -------------------------------------------------------------------------------

    def _host_of(self, name):
        if name not in self.hosts:
            self.hosts[name] = _Host(self.hostvars, name)
        return self.hosts[name]

    def _group(self, name):
        return self.groups.get(name, [])

    def _deployment_failure(self, problems):
        return ['Inventory check failed for the deployment (group_vars/all, as read for %s): %s. Nothing was changed.'
                % (self.reader, '; '.join(problems))] if problems else []

    @staticmethod
    def _host_failure(host, problems):
        return ['Inventory check failed for %s: %s. Nothing was changed.' % (host, '; '.join(problems))] if problems else []

    def _unresolved_text(self, host, names):
        parts = ['%s refers to a variable that is not defined (%sis its vault file loaded?)'
                 % (name, 'vault_%s is not defined: ' % name if host.get('vault_' + name) is UNDEFINED else '')
                 for name in names]
        return '; '.join(parts) + '; ' + SUPPLY

    def _kinds(self, host):
        return ((['management'] if host in self._group('management_hosts') else [])
                + (['proxy'] if host in self._group('proxy_hosts') else []))

    def _logged_into(self):
        # The hosts a procedure opens SSH connections to (DNS servers are only queried).
        return self._group('db_hosts') + self._group('management_hosts') + self._group('proxy_hosts')

    def _app_hosts(self):
        apps = self._group('management_hosts') + self._group('proxy_hosts')
        return [h for h in self.play_hosts if h in apps]

    def _dr_roles(self):
        main, secondary = self.me.get('genesys_main_site'), self.me.get('genesys_secondary_site')
        roles = {}
        for name in self.play_hosts:
            site = self._host_of(name).get('genesys_site')
            roles[name] = 'dr_main' if site == main else ('dr_secondary' if site == secondary else 'dr_other')
        return roles

    # Stages: each returns its failure lines, one per host (one for the deployment) --------------

    def _left_play(self):
        # A host that failed an earlier task of this play (the argument check of the role that runs this
        # check, where it is included with one, as status.yml does) is not among the hosts checked here:
        # the run must not go on without it.
        left = [name for name in self.play_hosts_all if name not in self.play_hosts]
        if not left:
            return []
        return ['Inventory check failed for %s: see the argument check of the preflight role\'s own options above. '
                'Nothing was changed.' % ', '.join(left)]

    def _unresolved_deployment(self):
        # Undefined for every host: the deployment's value, named once, not once per host.
        names = [n for n in self.o['interface']
                 if all(self._host_of(h).unresolved(n) for h in self.play_hosts)]
        if not names:
            return []
        return self._deployment_failure([self._unresolved_text(self.me, names)])

    def _unresolved_host(self):
        lines = []
        for name in self.play_hosts:
            host = self._host_of(name)
            names = [n for n in self.o['interface'] if host.unresolved(n)]
            if names:
                lines += self._host_failure(name, [self._unresolved_text(host, names)])
        return lines

    @staticmethod
    def _type_errors(spec, provided):
        """What is wrong with the provided values under an argument spec, as Ansible says it for a role's options."""
        return list(ArgumentSpecValidator(spec).validate(provided, validate_role_argument_spec=True).error_messages)

    def _validate(self, host, names):
        spec = dict((n, self.o['interface'][n]) for n in names)
        return self._type_errors(spec, dict((n, host.get(n)) for n in names if n in host))

    def _deployment_types(self):
        skip = self.o['host_vars'] + self.o['unvalidated_vars']
        return self._deployment_failure(self._validate(self.me, [n for n in self.o['interface'] if n not in skip]))

    def _host_types(self):
        lines = []
        for name in self.play_hosts:
            lines += self._host_failure(name, self._validate(self._host_of(name), self.o['host_vars']))
        return lines

    def _role_specs(self):
        """(role, entry point, options) of every role under role_specs_dir with meta/argument_specs.yml."""
        specs = []
        if not self.o['role_specs_dir']:
            return specs
        for path in sorted(glob.glob(os.path.join(self.o['role_specs_dir'], '*', 'meta', 'argument_specs.yml'))):
            role = os.path.basename(os.path.dirname(os.path.dirname(path)))
            try:
                with open(path) as handle:
                    entries = (yaml.safe_load(handle) or {}).get('argument_specs') or {}
            except (OSError, yaml.YAMLError) as exc:
                raise AnsibleError('cannot read the argument specification of role %s (%s): %s' % (role, path, exc))
            for entry, data in sorted(entries.items()):
                specs.append((role, entry, (data or {}).get('options') or {}))
        return specs

    def _role_options(self):
        # The procedures import their roles without Ansible's own per-role argument check (a task round
        # at every import, on the critical path of a failover): the role options an operator can set -
        # in the inventory or as extra vars - are checked here instead, all at once and before anything
        # changes. An option only the playbook sets, at its import of the role, is not in any host's
        # variables; the role's defaults are checked against the same specifications by the unit tests.
        found = {}
        names = [n for n in self.play_hosts if n != 'localhost'] + ['localhost']
        for role, entry, options in self._role_specs():
            for name in names:
                host = self._host_of(name)
                provided = dict((o, host.get(o)) for o in options
                                if o not in self.o['interface'] and o in host and host.get(o) is not UNDEFINED)
                if not provided:
                    continue
                spec = dict((o, dict((k, v) for k, v in options[o].items() if k != 'required')) for o in provided)
                for error in self._type_errors(spec, provided):
                    hosts, entries = found.setdefault((role, error), ([], []))
                    if name not in hosts:
                        hosts.append(name)
                    if entry not in entries:
                        entries.append(entry)
        # A value every host has (an extra var, group_vars/all) is named once, not once per host.
        return ['Inventory check failed for %s: %s - an option of role %s (entry point %s). Nothing was changed.'
                % ('every host' if len(hosts) == len(names) else ', '.join(hosts), error, role, ', '.join(entries))
                for (role, error), (hosts, entries) in sorted(found.items())]

    def _deployment(self):
        v, p, groups = self.me.get, self.o['patterns'], self.groups
        self.site_groups = unique_in_order(s for s in (self._host_of(h).get('genesys_site') for h in self._group('genesys_sites'))
                                           if _is_str(s))
        sites = ', '.join(self.site_groups) or 'none'
        main, secondary = v('genesys_main_site'), v('genesys_secondary_site')
        main_ok = _is_str(main) and main in groups and main in self.site_groups
        secondary_ok = _is_str(secondary) and secondary in groups and secondary in self.site_groups
        dr_hosts = (groups[main] if main_ok else []) + (groups[secondary] if secondary_ok else [])
        mgmt, dbs, proxies = self._group('management_hosts'), self._group('db_hosts'), self._group('proxy_hosts')
        zone = v('genesys_zone')
        zone_ok = _is_str(zone) and re.match(p['host_name'], zone) is not None
        zone_name = _name('' if zone is UNDEFINED else str(zone))
        master, state, lock = v('genesys_master_name'), v('genesys_dr_state_name'), v('genesys_dr_lock_name')
        dns, port, password = v('genesys_dns_primary'), v('genesys_db_port'), v('genesys_db_admin_password')

        def in_zone(value):
            return not zone_ok or _name(value).endswith('.' + zone_name)

        def roles_ok(value):
            return _is_list(value) and len(value) > 0 and all(_is_str(r) and r for r in value)

        checks = []
        missing = [g for g in self.o['groups'] if g not in groups]
        checks.append((not missing, 'groups missing from the inventory: %s (the roles target %s)'
                       % (', '.join(missing), ', '.join(self.o['groups']))))
        checks.append((self.site_groups, 'no host under group genesys_sites has a genesys_site (each site group sets '
                       'it to its own name)'))
        checks.append((main_ok, 'genesys_main_site (%s) must name a site group under genesys_sites (sites: %s)'
                       % (_text(main, 'not set'), sites)))
        checks.append((secondary_ok, 'genesys_secondary_site (%s) must name a site group under genesys_sites '
                       '(sites: %s)' % (_text(secondary, 'not set'), sites)))
        checks.append((not (main_ok and secondary_ok) or main != secondary,
                       'genesys_main_site and genesys_secondary_site are both %s; they must be two different sites'
                       % _text(main, '')))
        for group in ('management_hosts', 'db_hosts'):
            for label, site, ok, var in (('main', main, main_ok, 'genesys_main_site'),
                                         ('secondary', secondary, secondary_ok, 'genesys_secondary_site')):
                found = [h for h in self._group(group) if h in groups[site]] if ok else []
                checks.append((not ok or len(found) == 1, 'the %s site %s (%s) must have exactly one host in %s, it has: %s'
                               % (label, _text(site, ''), var, group, ', '.join(found) or 'none')))
        outside = [h for h in unique_in_order(mgmt + dbs) if h not in dr_hosts]
        checks.append((not (main_ok and secondary_ok) or main == secondary or not outside,
                       'hosts in management_hosts or db_hosts outside the main and secondary sites (a proxy-only '
                       'site has neither): %s' % ', '.join(outside)))
        unsited = [h for h in unique_in_order(dbs + mgmt + proxies) if h not in self._group('genesys_sites')]
        checks.append((not unsited, 'hosts in db_hosts, management_hosts or proxy_hosts that are in no site group '
                       'under genesys_sites: %s' % ', '.join(unsited)))
        primary = self._group('dns_primary')
        checks.append((len(primary) == 1, "group dns_primary must hold exactly one host (the zone's primary DNS "
                       "server), it has: %s" % (', '.join(primary) or 'none')))
        checks.append((all(h in self._group('dns_servers') for h in primary),
                       'group dns_servers must include the dns_primary host (every DNS server is verified after a '
                       'switch)'))
        checks.append((zone_ok, 'genesys_zone (%s) must be a DNS zone name' % _text(zone, 'not set')))
        checks.append((_is_str(master) and re.match(p['host_name'], master) is not None,
                       'genesys_master_name (%s) must be a DNS host name' % _text(master, 'not set')))
        checks.append((not zone_ok or not _is_str(master) or in_zone(master),
                       'genesys_master_name (%s) must be a name inside genesys_zone (%s)'
                       % (_text(master, ''), _text(zone, ''))))
        for var, value in (('genesys_dr_state_name', state), ('genesys_dr_lock_name', lock)):
            checks.append((_is_str(value) and re.match(p['owner_name'], value) is not None and in_zone(value),
                           '%s (%s) must be a DNS name inside genesys_zone (%s)'
                           % (var, _text(value, 'not set'), _text(zone, ''))))
        checks.append((not _is_str(state) or not _is_str(lock) or _name(state) != _name(lock),
                       'genesys_dr_state_name and genesys_dr_lock_name must be two different names (both are TXT '
                       'records)'))
        checks.append((_is_str(dns) and any(re.match(p[k], dns) for k in ('ipv4', 'ipv6', 'host_name')),
                       "genesys_dns_primary (%s) must be the IP address or host name of the zone's primary DNS server"
                       % _text(dns, 'not set')))
        key_file = v('genesys_tsig_key_file')
        checks.append((_is_str(key_file) and len(key_file) > 0,
                       'genesys_tsig_key_file must be the path of the TSIG key file on the controller'))
        checks.append((_port_ok(port), 'genesys_db_port (%s) must be a port number, 1-65535' % _text(port, 'not set')))
        user = v('genesys_db_admin_user')
        checks.append((_is_str(user) and len(user) > 0,
                       'genesys_db_admin_user must be the PostgreSQL role of the DR automation'))
        # The password is tested, never shown.
        checks.append((_is_str(password) and len(password) > 0,
                       'genesys_db_admin_password is not set or empty (is its vault file loaded? run with '
                       '--ask-vault-pass or --vault-id)'))
        for var in ('genesys_db_cs_roles', 'genesys_db_ms_roles'):
            checks.append((roles_ok(v(var)), '%s (%s) must be a non-empty list of PostgreSQL role names'
                           % (var, _text(v(var), 'not set'))))
        return self._deployment_failure([msg for ok, msg in checks if not ok])

    def _key_file(self):
        return os.path.expanduser(os.path.expandvars(self.me.get('genesys_tsig_key_file')))

    def _tsig_key(self):
        # On the controller, as the stat of the old check did (not following a symbolic link).
        path, shown = self._key_file(), self.me.get('genesys_tsig_key_file')
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = None
        if mode is None:
            why = 'does not exist'
        elif not stat.S_ISREG(mode):
            why = 'is not a regular file'
        elif not os.access(path, os.R_OK):
            why = 'is not readable by the user running Ansible'
        elif mode & stat.S_IROTH:
            why = 'is readable by every user (chmod o-rwx)'
        else:
            return []
        return self._deployment_failure(['genesys_tsig_key_file %s %s on the controller; the DNS switch signs its '
                                         'updates with it' % (shown, why)])

    def _tsig_algorithm(self):
        # Only the algorithm names leave the file's text: the secret is never kept or returned.
        # A file that is not text holds no key statement: that is what the message then says.
        try:
            with open(self._key_file(), errors='replace') as f:
                found = re.findall(r'\balgorithm\s+"?([A-Za-z0-9.-]+)"?\s*;', f.read())
        except OSError as e:
            raise AnsibleError('Could not read the TSIG key file %s: %s'
                               % (self.me.get('genesys_tsig_key_file'), e.strerror))
        found = [re.sub(r'^hmac-md5\.sig-alg\.reg\.int$', 'hmac-md5', re.sub(r'\.$', '', a.lower())) for a in found]
        supported = self.o['tsig_algorithms']
        unsupported = unique_in_order(a for a in found if a not in supported)
        if found and not unsupported:
            return []
        shown = self.me.get('genesys_tsig_key_file')
        if found:
            why = 'uses TSIG algorithm %s, supported: %s' % (', '.join(unsupported), ', '.join(supported))
        else:
            why = 'holds no key statement with an algorithm (BIND syntax: key "name" { algorithm hmac-sha256; ' \
                  'secret "..."; };)'
        return self._deployment_failure(['genesys_tsig_key_file %s %s' % (shown, why)])

    def _host(self):
        lines, p, groups = [], self.o['patterns'], self.groups
        for name in self.play_hosts:
            host = self._host_of(name)
            site, address = host.get('genesys_site'), host.get('genesys_host_address')
            in_sites = name in self._group('genesys_sites')
            my_site_groups = [g for g in (host.get('group_names') or []) if g in self.site_groups]
            checks = [
                (not in_sites or (_is_str(site) and site in groups),
                 "genesys_site (%s) must name the host's site group (set it as a group variable of the site group)"
                 % _text(site, 'not set')),
                (not in_sites or not _is_str(site) or site not in groups or name in groups[site],
                 'genesys_site (%s) names a group that does not hold this host' % _text(site, '')),
                (not in_sites or len(my_site_groups) <= 1,
                 'the host is in several site groups (%s); a host belongs to one site' % ', '.join(my_site_groups)),
                (in_sites or site is UNDEFINED or _is_str(site) and len(site) > 0,
                 'genesys_site (%s) must be a site name' % _text(site, '')),
                (_is_str(address) and any(re.match(p[k], address) for k in ('ipv4', 'ipv6')),
                 "genesys_host_address (%s) must be the host's IP address" % _text(address, 'not set')),
            ]
            if runs_through_mitogen() and name in self._logged_into():
                interval, count = host.get('mitogen_ssh_keepalive_interval'), host.get('mitogen_ssh_keepalive_count')
                checks.append((
                    all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (interval, count))
                    and interval * count <= MITOGEN_KEEPALIVE_MAX_S,
                    'mitogen_ssh_keepalive_interval (%s) and mitogen_ssh_keepalive_count (%s) must be positive integers '
                    'whose product is at most %d s: the run goes through Mitogen (GENESYS_DR_MITOGEN), whose own keepalive '
                    '(30 s x 10 unless set) overrides the ServerAlive options of ansible_ssh_common_args, so a lost host '
                    'would hold a step for minutes; set them like those options (e.g. 1 and 2)'
                    % (_text(interval, 'not set'), _text(count, 'not set'), MITOGEN_KEEPALIVE_MAX_S)))
            if name in self._group('db_hosts'):
                password = host.get('genesys_db_admin_password')
                checks.append((_is_str(password) and len(password) > 0,
                               'genesys_db_admin_password is not set or empty for this DB host (is its vault file '
                               'loaded? run with --ask-vault-pass or --vault-id)'))
            lines += self._host_failure(name, [msg for ok, msg in checks if not ok])
        return lines

    def _agree(self):
        # Plays on localhost run the DNS steps with the controller's values, plays on the hosts with theirs.
        lines = []
        for name in self.play_hosts:
            host = self._host_of(name)
            texts = []
            for var in self.o['deployment_vars']:
                if var in host and (var not in self.controller or self.controller.get(var) != host.get(var)):
                    texts.append('%s is %s for this host but %s for the controller (localhost); '
                                 % (var, _text(host.get(var), ''), _text(self.controller.get(var), 'not set')))
            if texts:
                lines.append('Inventory check failed for %s: %sdeployment-wide values belong in group_vars/all. '
                             'Nothing was changed.' % (name, ''.join(texts)))
        return lines

    def _applist(self):
        lines = []
        for name in self._app_hosts():
            base, apps = self._host_of(name).get('genesys_app_base'), self._host_of(name).get('genesys_apps')
            checks = [
                (_is_str(base) and base.startswith('/'),
                 'genesys_app_base (%s) must be the absolute path of the Genesys application directories'
                 % _text(base, 'not set')),
                (_is_list(apps) and len(apps) > 0 and all(isinstance(a, dict) for a in apps),
                 'genesys_apps must be a non-empty list of applications, each {name, component, role, port}'),
            ]
            lines += self._host_failure(name, [msg for ok, msg in checks if not ok])
        return lines

    def _app(self):
        lines = []
        for name in self._app_hosts():
            kinds = self._kinds(name)
            components = unique_in_order(c for k in kinds for c in self.o['host_components'][k])
            for index, app in enumerate(self._host_of(name).get('genesys_apps')):
                a = dict((k, app.get(k, UNDEFINED)) for k in ('name', 'component', 'role', 'port'))
                checks = [
                    (_is_str(a['name']) and re.match(self.o['patterns']['app_name'], a['name']) is not None,
                     "name (%s) must be the application's directory name under genesys_app_base"
                     % _text(a['name'], 'not set')),
                    (a['component'] is not UNDEFINED and a['component'] in components,
                     'component (%s) must be one of %s on a %s host'
                     % (_text(a['component'], 'not set'), ', '.join(components), ' and '.join(kinds))),
                    (a['role'] is not UNDEFINED and a['role'] in self.o['app_roles'],
                     'role (%s) must be one of %s' % (_text(a['role'], 'not set'), ', '.join(self.o['app_roles']))),
                    (_port_ok(a['port']),
                     'port (%s) must be the port number it listens on, 1-65535' % _text(a['port'], 'not set')),
                ]
                test = app.get('drtest')
                if isinstance(test, Mapping):
                    checks += [
                        (_is_str(test.get('name')) and re.match(self.o['patterns']['app_name'], test['name']) is not None,
                         "drtest.name (%s) must be the test instance's directory name under genesys_app_base"
                         % _text(test.get('name', UNDEFINED), 'not set')),
                        (_port_ok(test.get('port', UNDEFINED)),
                         'drtest.port (%s) must be the port number the test instance listens on, 1-65535'
                         % _text(test.get('port', UNDEFINED), 'not set')),
                    ]
                problems = [msg for ok, msg in checks if not ok]
                if problems:
                    lines.append('Inventory check failed for %s: genesys_apps entry %d (%s): %s. Nothing was changed.'
                                 % (name, index + 1, _text(a['name'], 'no name'), '; '.join(problems)))
        return lines

    def _components(self):
        # A management host lists its complete master set: fencing stops and failover starts exactly what is listed.
        lines = []
        for name in self._app_hosts():
            kinds, apps = self._kinds(name), self._host_of(name).get('genesys_apps')
            required = unique_in_order(r for k in kinds for r in self.o['required_components'][k])
            keys = ['%s/%s' % (a['component'], a['role']) for a in apps]
            missing, surplus = [], []
            for entry in required:
                if '/' in entry:
                    count, most = keys.count(entry), 1
                else:
                    count, most = len([a for a in apps if a['component'] == entry]), None
                if count == 0:
                    missing.append(entry.replace('/', ' '))
                if most is not None and count > most:
                    surplus.append(entry.replace('/', ' '))
            # The DR test instances share the host's names and ports with the applications.
            instances = apps + [a['drtest'] for a in apps if isinstance(a.get('drtest'), Mapping)]
            names = [a['name'] for a in instances]
            ports = [int(a['port']) for a in instances]
            twice_names = [n for n in unique_in_order(names) if names.count(n) > 1]
            twice_ports = ['%d (%s)' % (port, ', '.join(a['name'] for a in instances if a['port'] in (port, str(port))))
                           for port in unique_in_order(ports) if ports.count(port) > 1]
            kind_text = ' and '.join(kinds)
            checks = [
                (not missing, 'genesys_apps has no %s application (a %s host lists %s)'
                 % (', no '.join(missing), kind_text, ', '.join(r.replace('/', ' ') for r in required))),
                (not surplus, 'genesys_apps lists more than one %s application (a %s host has exactly one of each)'
                 % (', more than one '.join(surplus), kind_text)),
                (not twice_names, 'genesys_apps lists an application name twice: %s' % ', '.join(twice_names)),
                (not twice_ports, 'genesys_apps gives one port to two applications: %s' % ', '.join(twice_ports)),
            ]
            lines += self._host_failure(name, [msg for ok, msg in checks if not ok])
        return lines
