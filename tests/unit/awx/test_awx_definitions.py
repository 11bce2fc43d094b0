# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx/definitions.yml (the job templates, surveys, credential types, workflow and schedules
that awx/configure.yml creates) against the playbooks they run.

What a playbook reads and requires is derived from the real files, not listed here:
- reads: the names in its Jinja expressions and conditions, its play vars, and, for every role
  it includes, the options of the entry points it calls (meta/argument_specs.yml) and the names
  in the role's tasks, defaults and templates; a playbook that runs the preflight role also
  reads the deployment's inventory interface (the preflight role's "inventory" entry point);
- requires: the required options of that inventory interface, and the required options of each
  entry point it includes that the include (or the play) does not set.
A survey variable must be read by the template's playbook; a required variable must come from
a survey, a credential injector of the template, or inventories/example (and then so must every
variable its value refers to). A template's own extra variables must be read by its playbook.
The readiness check (the "status" template) keeps the status role's status_require_ready
default (true), every status node of the failover workflow runs a template that sets it false,
and every schedule runs a job template on a rule AWX accepts. Each check is also run on broken
copies of the definitions, and must find the break.

No AWX server runs here: test_awx_modules_validate runs configure.yml in check mode against a
closed port, so that every awx.awx module validates its arguments and then fails to connect.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import functools
import glob
import json
import os
import re
import socket
import subprocess
import warnings
import zoneinfo
from datetime import datetime

import jinja2
import jinja2.meta
import pytest
import yaml

from ansible_collections.genesys_dr.framework.tests.unit.playbooks import procedure

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
AWX = os.path.join(TOP, 'awx')
DEFINITIONS = os.path.join(AWX, 'definitions.yml')
SETTINGS = os.path.join(AWX, 'vars.yml')
INVENTORY = os.path.join(TOP, 'inventories', 'example')
BIN = os.path.join(TOP, '.venv', 'bin')
AWX_COLLECTION = os.path.join(TOP, '.build', 'awx-collection')
FQCN = 'genesys_dr.framework.'

# Names Ansible (or Jinja) provides; never a deployment's variable.
ANSIBLE_GLOBALS = {
    'lookup', 'query', 'q', 'now', 'undef', 'omit', 'range', 'dict', 'lipsum', 'cycler', 'joiner',
    'namespace', 'hostvars', 'groups', 'group_names', 'inventory_hostname', 'inventory_hostname_short',
    'play_hosts', 'ansible_play_hosts', 'ansible_play_hosts_all', 'ansible_play_batch', 'playbook_dir',
    'inventory_dir', 'role_path', 'item', 'ansible_check_mode', 'ansible_failed_result', 'ansible_failed_task',
    'ansible_loop', 'ansible_facts', 'ansible_run_tags', 'ansible_verbosity', 'true', 'false', 'none',
    'True', 'False', 'None',
}
CONDITIONAL_KEYS = {'when', 'that', 'failed_when', 'changed_when', 'until'}
STATUS_PLAYBOOK = 'playbooks/status.yml'
DRTEST_PLAYBOOK = 'playbooks/drtest.yml'
READY_OPTION = 'status_require_ready'


class _Loader(yaml.SafeLoader):
    """Reads Ansible YAML: !unsafe and !vault values are plain strings here."""


_Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))
_Loader.add_constructor('!vault', lambda loader, node: loader.construct_scalar(node))


def load(path):
    with open(path) as stream:
        return yaml.load(stream, Loader=_Loader)


class _AnyName(dict):
    """Ansible's filters and tests, unknown to plain Jinja: every name is taken as one."""

    def __contains__(self, name):
        return True

    def get(self, name, default=None):
        return super(_AnyName, self).get(name, lambda *args, **kwargs: None)

    def __missing__(self, name):
        return lambda *args, **kwargs: None


_JINJA = jinja2.Environment(extensions=['jinja2.ext.do', 'jinja2.ext.loopcontrols'])
_JINJA.filters = _AnyName(_JINJA.filters)
_JINJA.tests = _AnyName(_JINJA.tests)


def expression_names(text, conditional=False):
    """Variable names a Jinja template (or a bare conditional) refers to."""
    if not isinstance(text, str):
        return set()
    if conditional and '{{' not in text:
        text = '{{ ' + text + ' }}'
    if '{{' not in text and '{%' not in text:
        return set()
    with warnings.catch_warnings():
        # Regular expressions in string literals ('\\s') make Jinja's lexer warn.
        warnings.simplefilter('ignore', DeprecationWarning)
        ast = _JINJA.parse(text)
    return set(jinja2.meta.find_undeclared_variables(ast)) - ANSIBLE_GLOBALS


def walk_names(data, conditional=False):
    """Every variable name referred to anywhere in a loaded YAML document."""
    names = set()
    if isinstance(data, dict):
        for key, value in data.items():
            names |= walk_names(value, conditional=key in CONDITIONAL_KEYS)
    elif isinstance(data, list):
        for value in data:
            names |= walk_names(value, conditional)
    else:
        names |= expression_names(data, conditional)
    return names


def walk_tasks(data):
    """Every task dict of a play / task list, blocks included."""
    if isinstance(data, list):
        for entry in data:
            yield from walk_tasks(entry)
    elif isinstance(data, dict):
        yield data
        for key in ('tasks', 'pre_tasks', 'post_tasks', 'handlers', 'block', 'rescue', 'always'):
            yield from walk_tasks(data.get(key) or [])


@functools.lru_cache(maxsize=None)
def role_specs(role):
    return load(os.path.join(TOP, 'roles', role, 'meta', 'argument_specs.yml'))['argument_specs']


@functools.lru_cache(maxsize=None)
def role_reads(role):
    """Names a role refers to in its tasks, defaults, vars and templates."""
    names = set()
    for sub in ('tasks', 'defaults', 'vars'):
        for path in glob.glob(os.path.join(TOP, 'roles', role, sub, '*.yml')):
            names |= walk_names(load(path))
    for path in glob.glob(os.path.join(TOP, 'roles', role, 'templates', '*.j2')):
        with open(path) as stream:
            names |= expression_names(stream.read())
    return names


class Playbook(object):
    """What one playbook reads and requires, derived from it and the roles it includes."""

    def __init__(self, relative_path):
        self.path = relative_path
        self.plays = procedure.plays(os.path.join(TOP, relative_path))
        self.reads = set()
        self.requires = {}          # variable -> why it is required
        self.includes = []          # (role, entry point, vars the include and its play set)
        for play in self.plays:
            play_vars = set((play.get('vars') or {}).keys())
            self.reads |= play_vars | walk_names(play)
            for task in walk_tasks(play.get('tasks') or []):
                for action in ('ansible.builtin.include_role', 'ansible.builtin.import_role', 'include_role', 'import_role'):
                    if action in task:
                        args = task[action]
                        role = args['name'][len(FQCN):] if args['name'].startswith(FQCN) else args['name']
                        given = play_vars | set((task.get('vars') or {}).keys())
                        self.includes.append((role, args.get('tasks_from', 'main'), given))
        for role, entry, given in self.includes:
            self.reads |= role_reads(role)
            # An entry point without a spec (tasks_from of a plain task file) declares no option.
            options = role_specs(role).get(entry, {}).get('options') or {}
            for name, spec in options.items():
                self.reads.add(name)
                self.reads |= walk_names(spec.get('default'))
                if spec.get('required') and name not in given:
                    self.requires[name] = 'required by role %s, entry point %s' % (role, entry)
            if role == 'preflight':
                # The preflight role checks the deployment's inventory interface, described as
                # its "inventory" entry point: every procedure reads and requires it.
                for name, spec in role_specs('preflight')['inventory']['options'].items():
                    self.reads.add(name)
                    if spec.get('required'):
                        self.requires[name] = 'required by the inventory interface (preflight role)'

    def option_spec(self, name):
        """The argument spec of a role option this playbook's includes read, if any."""
        for role, entry, _given in self.includes:
            options = role_specs(role).get(entry, {}).get('options') or {}
            if name in options:
                return options[name]
        return None

    def play_default(self, name):
        for play in self.plays:
            if name in (play.get('vars') or {}):
                return play['vars'][name]
        return None


@functools.lru_cache(maxsize=None)
def playbook_of(relative_path):
    return Playbook(relative_path)


@functools.lru_cache(maxsize=None)
def inventory_values():
    """Variable -> list of values defined by inventories/example (files Ansible loads only)."""
    values = {}

    def add(mapping):
        for key, value in (mapping or {}).items():
            values.setdefault(key, []).append(value)

    def walk_groups(group):
        for host_vars in (group.get('hosts') or {}).values():
            add(host_vars)
        add(group.get('vars'))
        for child in (group.get('children') or {}).values():
            walk_groups(child or {})

    walk_groups(load(os.path.join(INVENTORY, 'hosts.yml'))['all'])
    for sub in ('group_vars', 'host_vars'):
        for path in glob.glob(os.path.join(INVENTORY, sub, '**', '*'), recursive=True):
            if os.path.isfile(path) and path.endswith(('.yml', '.yaml')):
                add(load(path))
    return values


def credential_extra_vars(definitions, template):
    if template.get('credentials') != 'dr':
        return set()
    names = set()
    for cred_type in definitions['genesys_awx_credential_types']:
        names |= set((cred_type['injectors'].get('extra_vars') or {}).keys())
    return names


def survey_variables(survey):
    return [question['variable'] for question in (survey or {}).get('spec', [])]


def render_name(text, settings):
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(**settings)


@functools.lru_cache(maxsize=None)
def artifact_keys():
    """Keys every role and playbook publishes with set_stats (AWX passes them down a workflow)."""
    keys = set()
    paths = glob.glob(os.path.join(TOP, 'roles', '*', 'tasks', '*.yml')) + glob.glob(os.path.join(TOP, 'playbooks', '**', '*.yml'), recursive=True)
    for path in paths:
        for task in walk_tasks(load(path) or []):
            stats = task.get('ansible.builtin.set_stats') or task.get('set_stats')
            if stats:
                keys |= set(stats['data'].keys())
    return keys


def check_survey(template_name, survey, playbooks):
    """Problems of one survey against the playbooks it feeds (a workflow feeds several)."""
    problems = []
    for question in (survey or {}).get('spec', []):
        variable = question['variable']
        readers = [playbook for playbook in playbooks if variable in playbook.reads]
        if not readers:
            problems.append('%s: survey variable %s is read by none of %s'
                            % (template_name, variable, ', '.join(p.path for p in playbooks)))
            continue
        for playbook in readers:
            spec = playbook.option_spec(variable)
            if spec is not None:
                if question['type'] == 'integer' and spec.get('type') != 'int':
                    problems.append('%s: survey variable %s is an integer, %s reads it as %s'
                                    % (template_name, variable, playbook.path, spec.get('type')))
                if spec.get('choices') and question['type'] == 'multiplechoice' \
                        and not set(question['choices']) <= set(spec['choices']):
                    problems.append('%s: survey choices of %s are not all in %s'
                                    % (template_name, variable, spec['choices']))
                if 'default' in question and 'default' in spec and question['default'] != spec['default']:
                    problems.append('%s: survey default of %s is %r, the role default %r'
                                    % (template_name, variable, question['default'], spec['default']))
            elif 'default' in question and playbook.play_default(variable) is not None:
                if str(question['default']).lower() != str(playbook.play_default(variable)).lower():
                    problems.append('%s: survey default of %s is %r, %s defaults it to %r'
                                    % (template_name, variable, question['default'], playbook.path,
                                       playbook.play_default(variable)))
    return problems


_DTSTART = re.compile(r'DTSTART(?:;TZID=(?P<tzid>[^:;]+))?:(?P<when>[0-9]{8}T[0-9]{6})(?P<utc>Z?)$')
_RRULE_PARTS = {'FREQ', 'INTERVAL', 'COUNT', 'UNTIL', 'BYSECOND', 'BYMINUTE', 'BYHOUR', 'BYDAY', 'BYMONTHDAY',
                'BYYEARDAY', 'BYWEEKNO', 'BYMONTH', 'BYSETPOS', 'WKST'}
_FREQUENCIES = {'MINUTELY', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'}


def parse_rrule(text):
    """An iCal rule in the form AWX's schedules take it (its API refuses the rest): one DTSTART
    with a time zone (;TZID=<zone> or a UTC time ending in Z), then one or more RRULE with FREQ
    (not SECONDLY) and INTERVAL, no COUNT with UNTIL, COUNT at most 999, no EXDATE / RDATE.
    Returns (the DTSTART's time zone, its naive start, the RRULEs as dicts, the problems)."""
    problems = []
    zone, start, rules = None, None, []
    parts = text.split()
    dtstarts = [part for part in parts if part.startswith('DTSTART')]
    for part in parts:
        if not part.startswith(('DTSTART', 'RRULE:')):
            problems.append('%s is neither DTSTART nor RRULE' % part)
    if len(dtstarts) != 1:
        problems.append('%d DTSTART, AWX takes exactly one' % len(dtstarts))
    else:
        match = _DTSTART.match(dtstarts[0])
        if not match:
            problems.append('%s is not DTSTART;TZID=<zone>:YYYYMMDDTHHMMSS or DTSTART:YYYYMMDDTHHMMSSZ' % dtstarts[0])
        else:
            zone = match.group('tzid') or ('UTC' if match.group('utc') else None)
            if zone is None:
                problems.append('DTSTART %s has no time zone (;TZID=<zone> or a trailing Z)' % match.group('when'))
            else:
                try:
                    zoneinfo.ZoneInfo(zone)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    problems.append('DTSTART time zone %s is unknown' % zone)
            try:
                start = datetime.strptime(match.group('when'), '%Y%m%dT%H%M%S')
            except ValueError:
                problems.append('DTSTART %s is no date and time' % match.group('when'))
    for part in parts:
        if not part.startswith('RRULE:'):
            continue
        fields = dict(item.partition('=')[::2] for item in part[len('RRULE:'):].split(';'))
        rules.append(fields)
        unknown = sorted(set(fields) - _RRULE_PARTS)
        if unknown:
            problems.append('%s: unknown rule part %s' % (part, ', '.join(unknown)))
        if fields.get('FREQ') not in _FREQUENCIES:
            problems.append('%s: FREQ must be one of %s' % (part, ', '.join(sorted(_FREQUENCIES))))
        if not fields.get('INTERVAL', '').isdigit() or int(fields['INTERVAL']) < 1:
            problems.append('%s: INTERVAL (a positive number) is required' % part)
        if 'COUNT' in fields and 'UNTIL' in fields:
            problems.append('%s: COUNT and UNTIL together' % part)
        if 'COUNT' in fields and (not fields['COUNT'].isdigit() or int(fields['COUNT']) > 999):
            problems.append('%s: COUNT must be a number up to 999' % part)
    if not rules:
        problems.append('no RRULE')
    return zone, start, rules, problems


def check_definitions(definitions, settings):
    """Every problem of the AWX definitions against the playbooks (an empty list when right)."""
    problems = []
    inventory = inventory_values()
    templates = {}
    playbooks = {}
    for template in definitions['genesys_awx_job_templates']:
        name = render_name(template['name'], settings)
        templates[name] = template
        if not os.path.isfile(os.path.join(TOP, template['playbook'])):
            problems.append('%s: playbook %s does not exist' % (name, template['playbook']))
            continue
        playbook = playbooks[name] = playbook_of(template['playbook'])
        problems += check_survey(name, template.get('survey'), [playbook])
        for variable, value in sorted((template.get('extra_vars') or {}).items()):
            if variable not in playbook.reads:
                problems.append('%s: extra variable %s is read by none of %s' % (name, variable, playbook.path))
            elif (playbook.option_spec(variable) or {}).get('type') == 'bool' and not isinstance(value, bool):
                problems.append('%s: extra variable %s is %r, %s reads it as bool'
                                % (name, variable, value, playbook.path))
        provided = set(survey_variables(template.get('survey'))) | credential_extra_vars(definitions, template)
        pending = sorted(playbook.requires)
        seen = set()
        while pending:
            variable = pending.pop()
            if variable in seen or variable in provided:
                continue
            seen.add(variable)
            if variable not in inventory:
                problems.append('%s: %s (%s) is in no survey, credential or inventories/example'
                                % (name, variable, playbook.requires.get(variable, 'referred to by an inventory value')))
                continue
            for value in inventory[variable]:
                pending += sorted(walk_names(value) - seen)

    for cred_type in definitions['genesys_awx_credential_types']:
        for field in cred_type['inputs']['fields']:
            if not field.get('secret'):
                problems.append('credential type %s: field %s is not secret' % (cred_type['key'], field['id']))
        injected = set((cred_type['injectors'].get('extra_vars') or {}).keys())
        for template_name, template in templates.items():
            if template.get('credentials') == 'dr' and template_name in playbooks:
                for variable in injected - playbooks[template_name].reads:
                    problems.append('credential type %s injects %s, which %s does not read'
                                    % (cred_type['key'], variable, template['playbook']))

    # The readiness check: the status template fails when the deployment is not ready for a
    # failover, which is the status role's default (status_require_ready true); it must keep it.
    readiness = [t for t, template in templates.items() if template['key'] == 'status']
    if len(readiness) != 1:
        problems.append('%d job templates have the key status (the readiness check), not one' % len(readiness))
    for template_name in readiness:
        template = templates[template_name]
        if template['playbook'] != STATUS_PLAYBOOK:
            problems.append('%s runs %s, not the readiness check %s' % (template_name, template['playbook'], STATUS_PLAYBOOK))
        elif READY_OPTION in (template.get('extra_vars') or {}):
            problems.append('%s sets %s to %r: the readiness check must keep the role default'
                            % (template_name, READY_OPTION, template['extra_vars'][READY_OPTION]))
        elif template_name in playbooks \
                and (playbooks[template_name].option_spec(READY_OPTION) or {}).get('default') is not True:
            problems.append('%s: %s does not default to true in %s, so the readiness check would not fail'
                            % (template_name, READY_OPTION, STATUS_PLAYBOOK))

    def reports_only(template_name):
        """True when the template runs status.yml and does not fail on what it finds."""
        template = templates.get(template_name, {})
        return template.get('playbook') == STATUS_PLAYBOOK \
            and (template.get('extra_vars') or {}).get(READY_OPTION) is False

    workflow = definitions['genesys_awx_workflow']
    nodes = {node['identifier']: node for node in workflow['nodes']}
    node_templates = {}
    for identifier, node in nodes.items():
        template_name = render_name(node['unified_job_template']['name'], settings)
        if template_name not in templates:
            problems.append('workflow node %s runs %s, which is no job template' % (identifier, template_name))
        node_templates[identifier] = template_name
        # After a successful failover the deployment is FAILED_OVER, never ready for a failover:
        # a status node that checks the readiness would fail the workflow.
        if templates.get(template_name, {}).get('playbook') == STATUS_PLAYBOOK and not reports_only(template_name):
            problems.append('workflow node %s runs %s, which fails when the deployment is not ready for a failover '
                            '(%s is not false)' % (identifier, template_name, READY_OPTION))
        for children in (node.get('related') or {}).values():
            for child in children:
                if child['identifier'] not in nodes:
                    problems.append('workflow node %s leads to unknown node %s' % (identifier, child['identifier']))
    problems += check_survey('workflow', workflow.get('survey'),
                             [playbooks[t] for t in set(node_templates.values()) if t in playbooks])

    def children(identifier, kinds=('success_nodes', 'failure_nodes', 'always_nodes')):
        related = nodes[identifier].get('related') or {}
        return [child['identifier'] for kind in kinds for child in related.get(kind, []) if child['identifier'] in nodes]

    def descendants(identifier):
        found, pending = set(), [identifier]
        while pending:
            for child in children(pending.pop()):
                if child not in found:
                    found.add(child)
                    pending.append(child)
        return found

    failed_marker = [t for t, template in templates.items() if template['key'] == 'workflow_failed']
    procedure_nodes = [i for i, t in node_templates.items() if templates.get(t, {}).get('key') == 'failover']
    if len(procedure_nodes) != 1:
        problems.append('the workflow runs the failover template %d times, not once' % len(procedure_nodes))
    for identifier in procedure_nodes:
        before = [i for i in nodes if identifier in children(i)]
        if not any(templates.get(node_templates[i], {}).get('playbook') == STATUS_PLAYBOOK for i in before):
            problems.append('no status job runs before the failover')
        if not any(templates.get(node_templates[i], {}).get('playbook') == STATUS_PLAYBOOK
                   for i in children(identifier, ('success_nodes', 'always_nodes'))):
            problems.append('no status job runs after a successful failover')
        failure_path = children(identifier, ('failure_nodes', 'always_nodes'))
        if not failure_path:
            problems.append('the failover node has no failure path')
        for start in failure_path:
            reached = {start} | descendants(start)
            if not any(node_templates[i] in failed_marker and not children(i) for i in reached):
                problems.append('the failure path from %s does not end in the workflow_failed job, '
                                'so AWX would show the workflow successful' % start)
    # Artifacts (set_stats) reach every later node as extra vars: none may be a variable the
    # procedures read (a published run id would make the next job continue that run), except
    # the report the workflow_failed job names.
    marker_reads = set()
    for template_name in failed_marker:
        marker_reads |= playbooks[template_name].reads
    for template_name, playbook in playbooks.items():
        for key in artifact_keys() & playbook.reads:
            if template_name not in failed_marker:
                problems.append('artifact %s published by set_stats is read by %s' % (key, playbook.path))
    if 'genesys_dr_report' not in artifact_keys() or 'genesys_dr_report' not in marker_reads:
        problems.append('the workflow_failed job does not read the genesys_dr_report artifact the procedures publish')

    # Schedules: each runs a job template, on a rule AWX accepts; the readiness check runs daily, the DR test
    # (drtest.yml) at least weekly.
    daily_readiness = weekly_drtest = False
    drtests = [t for t, template in templates.items() if template['playbook'] == DRTEST_PLAYBOOK]
    for schedule in definitions.get('genesys_awx_schedules') or []:
        name = render_name(schedule['name'], settings)
        template_name = render_name(schedule['unified_job_template'], settings)
        if template_name not in templates:
            problems.append('schedule %s runs %s, which is no job template' % (name, template_name))
        try:
            rrule = render_name(schedule['rrule'], settings)
        except jinja2.UndefinedError as error:
            problems.append('schedule %s: rrule %s: %s' % (name, schedule['rrule'], error))
            continue
        _zone, _start, rules, rrule_problems = parse_rrule(rrule)
        problems += ['schedule %s: rrule %s: %s' % (name, rrule, problem) for problem in rrule_problems]
        if template_name in readiness and not rrule_problems and any(rule.get('FREQ') == 'DAILY' for rule in rules):
            daily_readiness = True
        if template_name in drtests and not rrule_problems and any(rule.get('FREQ') in ('DAILY', 'WEEKLY') for rule in rules):
            weekly_drtest = True
    if not daily_readiness:
        problems.append('no schedule runs the readiness check (the status template) daily')
    if not weekly_drtest:
        problems.append('no schedule runs the DR test (%s) at least weekly' % DRTEST_PLAYBOOK)
    return problems


@pytest.fixture(scope='module')
def definitions():
    return load(DEFINITIONS)


@pytest.fixture(scope='module')
def settings():
    return load(SETTINGS)


def test_definitions_match_the_playbooks(definitions, settings):
    assert check_definitions(definitions, settings) == []


def test_required_values_are_derived_from_the_real_files(definitions, settings):
    """The derivation itself: failover.yml reads its survey's variables and requires the secrets."""
    failover = Playbook('playbooks/failover.yml')
    assert {'failover_mode', 'failover_confirm_lost_site', 'replication_max_lag_bytes',
            'replication_catchup_timeout', 'genesys_dr_run'} <= failover.reads
    assert {'genesys_db_admin_password', 'genesys_tsig_key_file', 'genesys_main_site'} <= set(failover.requires)
    assert 'not_a_variable_of_any_playbook' not in failover.reads


def _template(definitions, key):
    return [t for t in definitions['genesys_awx_job_templates'] if t['key'] == key][0]


def _question(survey, variable):
    return [q for q in survey['spec'] if q['variable'] == variable][0]


def _survey_typo(d):
    _template(d, 'failover')['survey']['spec'][0]['variable'] = 'failover_moed'


def _survey_of_another_playbook(d):
    _template(d, 'reprotect')['survey']['spec'].append(
        {'question_name': 'x', 'variable': 'failover_mode', 'type': 'text', 'required': False})


def _no_db_password_injector(d):
    del d['genesys_awx_credential_types'][1]['injectors']['extra_vars']


def _no_credentials_on_status(d):
    _template(d, 'status')['credentials'] = 'none'


def _password_field_shown(d):
    d['genesys_awx_credential_types'][1]['inputs']['fields'][0]['secret'] = False


def _survey_default_changes_objective(d):
    _question(_template(d, 'failback')['survey'], 'replication_max_lag_bytes')['default'] = 1024


def _survey_default_changes_play_default(d):
    _question(_template(d, 'failover')['survey'], 'failover_mode')['default'] = 'disaster'


def _survey_type_the_role_refuses(d):
    question = _template(d, 'reprotect')['survey']['spec'][0]
    question['variable'] = 'replication_wait'


def _node_runs_unknown_template(d):
    d['genesys_awx_workflow']['nodes'][0]['unified_job_template']['name'] = '{{ genesys_awx_prefix }} - stauts'


def _no_failure_path(d):
    del d['genesys_awx_workflow']['nodes'][1]['related']['failure_nodes']


def _failure_path_ends_green(d):
    del d['genesys_awx_workflow']['nodes'][3]['related']


def _workflow_survey_typo(d):
    d['genesys_awx_workflow']['survey'] = copy.deepcopy(d['genesys_awx_workflow']['survey'])
    d['genesys_awx_workflow']['survey']['spec'][1]['variable'] = 'failover_confirm_lost'


def _node(d, identifier):
    return [n for n in d['genesys_awx_workflow']['nodes'] if n['identifier'] == identifier][0]


def _workflow_status_checks_readiness(d):
    # The status nodes share one YAML anchor: give this one its own copy.
    node = _node(d, 'status_after')
    node['unified_job_template'] = dict(node['unified_job_template'], name='{{ genesys_awx_prefix }} - status')


def _report_template_fails_when_not_ready(d):
    del _template(d, 'status_report')['extra_vars']


def _readiness_template_only_reports(d):
    _template(d, 'status')['extra_vars'] = {'status_require_ready': False}


def _extra_var_typo(d):
    _template(d, 'status_report')['extra_vars'] = {'status_require_redy': False}


def _extra_var_not_bool(d):
    _template(d, 'status_report')['extra_vars'] = {'status_require_ready': 'false'}


def _schedule_runs_unknown_template(d):
    d['genesys_awx_schedules'][0]['unified_job_template'] = '{{ genesys_awx_prefix }} - stauts'


def _schedule_runs_the_report(d):
    d['genesys_awx_schedules'][0]['unified_job_template'] = '{{ genesys_awx_prefix }} - status (report)'


def _schedule_weekly(d):
    d['genesys_awx_schedules'][0]['rrule'] = 'DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=WEEKLY;INTERVAL=1'


def _schedule_naive_start(d):
    d['genesys_awx_schedules'][0]['rrule'] = 'DTSTART:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1'


def _schedule_rrule_setting_missing(d):
    d['genesys_awx_schedules'][0]['rrule'] = '{{ genesys_awx_status_schedule_rule }}'


def _no_schedule(d):
    del d['genesys_awx_schedules']


def _drtest_schedule_monthly(d):
    d['genesys_awx_schedules'][1]['rrule'] = 'DTSTART;TZID=UTC:20260104T040000 RRULE:FREQ=MONTHLY;INTERVAL=1'


def _drtest_schedule_runs_status(d):
    d['genesys_awx_schedules'][1]['unified_job_template'] = '{{ genesys_awx_prefix }} - status'


@pytest.mark.parametrize('mutate, expected', [
    (_survey_typo, 'survey variable failover_moed is read by none of playbooks/failover.yml'),
    (_survey_of_another_playbook, 'survey variable failover_mode is read by none of playbooks/reprotect.yml'),
    (_no_db_password_injector, 'vault_genesys_db_admin_password (referred to by an inventory value) is in no survey'),
    (_no_credentials_on_status, 'status: vault_genesys_db_admin_password'),
    (_password_field_shown, 'field password is not secret'),
    (_survey_default_changes_objective, "survey default of replication_max_lag_bytes is 1024, the role default 67108864"),
    (_survey_default_changes_play_default, "survey default of failover_mode is 'disaster'"),
    (_survey_type_the_role_refuses, 'survey variable replication_wait is an integer, playbooks/reprotect.yml reads it as bool'),
    (_node_runs_unknown_template, 'runs Genesys DR - stauts, which is no job template'),
    (_no_failure_path, 'the failover node has no failure path'),
    (_failure_path_ends_green, 'does not end in the workflow_failed job'),
    (_workflow_survey_typo, 'workflow: survey variable failover_confirm_lost is read by none'),
    (_workflow_status_checks_readiness, 'workflow node status_after runs Genesys DR - status, which fails when'),
    (_report_template_fails_when_not_ready, 'workflow node status_before runs Genesys DR - status (report), which fails'),
    (_readiness_template_only_reports, 'Genesys DR - status sets status_require_ready to False'),
    (_extra_var_typo, 'extra variable status_require_redy is read by none of playbooks/status.yml'),
    (_extra_var_not_bool, "extra variable status_require_ready is 'false', playbooks/status.yml reads it as bool"),
    (_schedule_runs_unknown_template, 'runs Genesys DR - stauts, which is no job template'),
    (_schedule_runs_the_report, 'no schedule runs the readiness check (the status template) daily'),
    (_schedule_weekly, 'no schedule runs the readiness check (the status template) daily'),
    (_schedule_naive_start, 'DTSTART 20260101T060000 has no time zone'),
    (_schedule_rrule_setting_missing, "'genesys_awx_status_schedule_rule' is undefined"),
    (_no_schedule, 'no schedule runs the readiness check (the status template) daily'),
    (_drtest_schedule_monthly, 'no schedule runs the DR test (playbooks/drtest.yml) at least weekly'),
    (_drtest_schedule_runs_status, 'no schedule runs the DR test (playbooks/drtest.yml) at least weekly'),
])
def test_a_broken_copy_is_caught(definitions, settings, mutate, expected):
    broken = copy.deepcopy(definitions)
    mutate(broken)
    problems = check_definitions(broken, settings)
    assert any(expected in problem for problem in problems), problems


def test_workflow_status_nodes_only_report(definitions, settings):
    """After a failover the deployment is FAILED_OVER: the workflow's status jobs must not fail on it."""
    templates = {render_name(t['name'], settings): t for t in definitions['genesys_awx_job_templates']}
    status_nodes = [node['identifier'] for node in definitions['genesys_awx_workflow']['nodes']
                    if templates[render_name(node['unified_job_template']['name'], settings)]['playbook'] == STATUS_PLAYBOOK]
    assert sorted(status_nodes) == ['status_after', 'status_after_failure', 'status_before']
    for node in definitions['genesys_awx_workflow']['nodes']:
        if node['identifier'] in status_nodes:
            template = templates[render_name(node['unified_job_template']['name'], settings)]
            assert template['key'] == 'status_report', node['identifier']
            assert template['extra_vars'] == {READY_OPTION: False}, node['identifier']


def test_readiness_template_keeps_the_role_default(definitions):
    """The status template sets no status_require_ready: the role's default (true) makes it fail when not ready."""
    status = _template(definitions, 'status')
    report = _template(definitions, 'status_report')
    assert status['playbook'] == report['playbook'] == STATUS_PLAYBOOK
    assert READY_OPTION not in (status.get('extra_vars') or {})
    spec = playbook_of(STATUS_PLAYBOOK).option_spec(READY_OPTION)
    assert spec is not None and spec['type'] == 'bool' and spec['default'] is True, spec


def test_readiness_check_needs_the_role_default_true(definitions, settings, monkeypatch):
    """Were the role's default false, the status template would no longer check the readiness."""
    real = Playbook.option_spec

    def default_false(self, name):
        spec = real(self, name)
        return dict(spec, default=False) if name == READY_OPTION and spec else spec

    monkeypatch.setattr(Playbook, 'option_spec', default_false)
    problems = check_definitions(definitions, settings)
    assert any('status_require_ready does not default to true in playbooks/status.yml' in p for p in problems), problems


def test_schedule_runs_the_readiness_check_daily_and_the_dr_test_weekly(definitions, settings):
    templates = {render_name(t['name'], settings): t for t in definitions['genesys_awx_job_templates']}
    schedules = {templates[render_name(s['unified_job_template'], settings)]['key']: s for s in definitions['genesys_awx_schedules']}
    assert sorted(schedules) == ['drtest', 'status']
    for key, playbook, setting, start, freq in (
            ('status', STATUS_PLAYBOOK, 'genesys_awx_status_schedule', datetime(2026, 1, 1, 6, 0, 0), 'DAILY'),
            ('drtest', DRTEST_PLAYBOOK, 'genesys_awx_drtest_schedule', datetime(2026, 1, 4, 4, 0, 0), 'WEEKLY')):
        schedule = schedules[key]
        assert _template(definitions, key)['playbook'] == playbook
        rrule = render_name(schedule['rrule'], settings)
        assert rrule == settings[setting + '_rrule']
        zone, found_start, rules, problems = parse_rrule(rrule)
        assert problems == []
        assert zone == 'UTC' and found_start == start
        assert rules == [{'FREQ': freq, 'INTERVAL': '1'}]
        assert render_name(schedule['enabled'], settings) == 'True'


@pytest.mark.parametrize('rrule, expected', [
    ('DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1', None),
    ('DTSTART:20260101T060000Z RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=SU', None),
    ('DTSTART;TZID=Europe/Paris:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=10', None),
    ('RRULE:FREQ=DAILY;INTERVAL=1', '0 DTSTART, AWX takes exactly one'),
    ('DTSTART:20260101T060000Z DTSTART:20270101T060000Z RRULE:FREQ=DAILY;INTERVAL=1', '2 DTSTART'),
    ('DTSTART:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1', 'has no time zone'),
    ('DTSTART;TZID=Mars/Olympus:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1', 'time zone Mars/Olympus is unknown'),
    ('DTSTART;TZID=UTC:20261301T060000 RRULE:FREQ=DAILY;INTERVAL=1', 'DTSTART 20261301T060000 is no date and time'),
    ('DTSTART;TZID=UTC:2026-01-01 RRULE:FREQ=DAILY;INTERVAL=1', 'is not DTSTART;TZID=<zone>'),
    ('DTSTART;TZID=UTC:20260101T060000', 'no RRULE'),
    ('DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=DAILY', 'INTERVAL (a positive number) is required'),
    ('DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=SECONDLY;INTERVAL=5', 'FREQ must be one of'),
    ('DTSTART;TZID=UTC:20260101T060000 RRULE:FRQ=DAILY;INTERVAL=1', 'unknown rule part FRQ'),
    ('DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=5;UNTIL=20270101T000000Z', 'COUNT and UNTIL'),
    ('DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=1000', 'COUNT must be a number up to 999'),
    ('DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1 EXDATE:20260102T060000', 'neither DTSTART nor RRULE'),
])
def test_rrule_parser(rrule, expected):
    problems = parse_rrule(rrule)[3]
    if expected is None:
        assert problems == []
    else:
        assert any(expected in problem for problem in problems), problems


# --- The awx.awx modules' own argument validation -------------------------------------------

_RECORDER = '''
import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record_results'
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result, status):
        item = result._result.get('item')
        with open(os.environ['RECORD_RESULTS_FILE'], 'a') as out:
            out.write(json.dumps({'task': result._task.get_name(), 'action': result._task.action,
                                  'loop': result._task.loop is not None, 'status': status,
                                  'item': item.get('name') if isinstance(item, dict) else None,
                                  'msg': str(result._result.get('msg', ''))}) + '\\n')

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_item_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_item_on_failed(self, result):
        self._record(result, 'failed')

    def v2_runner_item_on_skipped(self, result):
        self._record(result, 'skipped')
'''

CONNECT_ERROR = re.compile(r'trying to connect to https://127\.0\.0\.1:\d+/api/')


@pytest.fixture(scope='module')
def awx_collection():
    # Idempotent: fetches the pinned ansible wheel from PyPI once and keeps only awx.awx.
    subprocess.run([os.path.join(TOP, 'tools', 'fetch-awx-collection')], check=True)
    return AWX_COLLECTION


def _closed_port():
    # A port nothing listens on: bound then released, so the modules get "connection refused".
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_configure(tmp_path, awx_collection, mutate=None):
    """configure.yml in check mode against a closed port; one result per module call."""
    plays = load(os.path.join(AWX, 'configure.yml'))
    # Every task must run although each fails to connect; no_log would hide the messages
    # (the secrets given here are dummies).
    plays[0]['ignore_errors'] = True
    for task in plays[0]['tasks']:
        task.pop('no_log', None)
    if mutate:
        mutate(plays[0]['tasks'])
    for name in ('vars.yml', 'definitions.yml'):
        with open(os.path.join(AWX, name)) as source, open(str(tmp_path / name), 'w') as copy_:
            copy_.write(source.read())
    with open(str(tmp_path / 'configure.yml'), 'w') as out:
        yaml.safe_dump(plays, out, sort_keys=False)
    (tmp_path / 'callback').mkdir()
    (tmp_path / 'callback' / 'record_results.py').write_text(_RECORDER)
    record = tmp_path / 'results.jsonl'
    env = {k: v for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'CONTROLLER_', 'TOWER_'))}
    env.update({
        'PATH': BIN + os.pathsep + env.get('PATH', ''),
        'ANSIBLE_COLLECTIONS_PATH': awx_collection,
        'ANSIBLE_CALLBACK_PLUGINS': str(tmp_path / 'callback'),
        'ANSIBLE_CALLBACKS_ENABLED': 'record_results',
        'RECORD_RESULTS_FILE': str(record),
        'CONTROLLER_HOST': 'https://127.0.0.1:%d' % _closed_port(),
        'CONTROLLER_OAUTH_TOKEN': 'dummy-token-for-validation',
    })
    proc = subprocess.run(
        [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', str(tmp_path / 'configure.yml'), '--check',
         '-e', 'ansible_python_interpreter=%s' % os.path.join(BIN, 'python'),
         '-e', 'genesys_awx_tsig_key=dummy-tsig-key-for-validation',
         '-e', 'genesys_awx_db_admin_password=dummy-password-for-validation'],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
        check=False)
    assert proc.returncode == 0, proc.stdout
    with open(str(record)) as stream:
        return [json.loads(line) for line in stream], plays[0]['tasks']


def test_awx_modules_validate(tmp_path, awx_collection, definitions):
    results, tasks = run_configure(tmp_path, awx_collection)
    module_tasks = [t for t in tasks if any(k.startswith('awx.awx.') for k in t)]
    calls = [r for r in results if r['action'].startswith('awx.awx.') and not (r['loop'] and r['item'] is None)]
    # Every awx.awx task ran its module (none skipped), once per item of its loop ...
    assert sorted({r['task'] for r in calls}) == sorted(t['name'] for t in module_tasks)
    job_templates = [r['item'] for r in calls if r['action'] == 'awx.awx.job_template']
    assert len(job_templates) == len(definitions['genesys_awx_job_templates'])
    schedules = [r['item'] for r in calls if r['action'] == 'awx.awx.schedule']
    assert len(schedules) == len(definitions['genesys_awx_schedules']) > 0
    # The schedules are made once their job templates exist.
    order = [t['name'] for t in module_tasks]
    schedule_task = [t['name'] for t in module_tasks if 'awx.awx.schedule' in t]
    template_task = [t['name'] for t in module_tasks if 'awx.awx.job_template' in t]
    assert len(schedule_task) == len(template_task) == 1
    assert order.index(schedule_task[0]) > order.index(template_task[0])
    # ... and each got past its argument validation: it failed only on the connection.
    for call in calls:
        assert call['status'] == 'failed' and CONNECT_ERROR.search(call['msg']), call


def _break_three_tasks(tasks):
    [t for t in tasks if 'awx.awx.job_template' in t][0]['awx.awx.job_template']['survey_enabeld'] = True
    [t for t in tasks if 'awx.awx.execution_environment' in t][0]['awx.awx.execution_environment']['pull'] = 'sometimes'
    schedule = [t for t in tasks if 'awx.awx.schedule' in t][0]['awx.awx.schedule']
    schedule['job_template'] = schedule.pop('unified_job_template')


def test_awx_module_validation_catches_a_broken_copy(tmp_path, awx_collection):
    # One run with broken tasks (each run of configure.yml costs a module start per call).
    results, _tasks = run_configure(tmp_path, awx_collection, _break_three_tasks)
    for expected in ('Unsupported parameters for (awx.awx.job_template) module: survey_enabeld',
                     'value of pull must be one of: always, missing, never',
                     'Unsupported parameters for (awx.awx.schedule) module: job_template'):
        failures = [r['msg'] for r in results if r['status'] == 'failed' and expected in r['msg']]
        assert failures and not any(CONNECT_ERROR.search(m) for m in failures), results
