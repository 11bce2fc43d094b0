# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The procedures call their roles with ansible.builtin.import_role (static: no "included"
task round per host before the role's tasks run). Static imports differ from includes where
it matters here, and these tests hold the procedures to what makes them equivalent:

- a when: on an import, or on a block around it, is copied onto every task of the role and
  evaluated per task: no variable it reads may be registered or set by the imported tasks;
- a disaster failover, whose gate and content proof do not apply, ends those plays with one
  controller-side meta task instead of paying a skipped task round per imported task;
- the role's argument check still runs for an import, inside the gate's block, and its
  refusal reaches the rescue (ansible_failed_result) that gives the DR lock back."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re
import subprocess

import pytest
import yaml

from ansible_collections.genesys_dr.framework.tests.unit.playbooks import procedure

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')
FQCN = 'genesys_dr.framework.'
PROCEDURES = procedure.PROCEDURES
ROLE_CALLS = ('ansible.builtin.import_role', 'ansible.builtin.include_role')
TASK_FILE_CALLS = ('ansible.builtin.import_tasks', 'ansible.builtin.include_tasks')
JINJA_WORDS = {'and', 'or', 'not', 'is', 'in', 'if', 'else', 'true', 'false', 'none', 'True', 'False', 'None',
               'defined', 'undefined', 'bool', 'int', 'string', 'length', 'default', 'skipped', 'failed'}


def load(path):
    with open(path) as stream:
        return yaml.safe_load(stream) or []


def as_list(value):
    return value if isinstance(value, list) else [] if value is None else [value]


def walk(tasks, conditions=()):
    """Every task with the when: conditions that apply to it (its blocks' and its own)."""
    for task in tasks or []:
        inherited = conditions + tuple(as_list(task.get('when')))
        if 'block' in task:
            for section in ('block', 'rescue', 'always'):
                yield from walk(task.get(section), inherited)
        else:
            yield task, inherited


def names_in(conditions):
    names = set()
    for condition in conditions:
        names |= set(re.findall(r'[A-Za-z_][A-Za-z0-9_]*', str(condition)))
    return names - JINJA_WORDS


def set_by(role, entry, seen=None):
    """Variables the tasks of a role entry point register or set_fact, following the task
    files and roles it imports or includes (static names only, as the roles use)."""
    seen = set() if seen is None else seen
    path = os.path.join(TOP, 'roles', role, 'tasks', entry if entry.endswith('.yml') else entry + '.yml')
    if path in seen:
        return set()
    seen.add(path)
    names = set()
    for task, _conditions in walk(load(path)):
        if 'register' in task:
            names.add(task['register'])
        names |= set((task.get('ansible.builtin.set_fact') or {}).keys()) - {'cacheable'}
        for action in TASK_FILE_CALLS:
            if action in task:
                args = task[action]
                names |= set_by(role, args['file'] if isinstance(args, dict) else args, seen)
        for action in ROLE_CALLS:
            if action in task:
                names |= set_by(task[action]['name'][len(FQCN):], task[action].get('tasks_from', 'main'), seen)
    return names


def imports():
    """(where, role, entry point, conditions) of every import_role of the procedures and roles."""
    sources = [(name, [task for play in procedure.plays(name) for task in play.get('tasks') or []])
               for name in PROCEDURES]
    sources += [(os.path.relpath(path, TOP), load(path)) for path in sorted(glob.glob(os.path.join(TOP, 'roles', '*', 'tasks', '*.yml')))]
    for where, tasks in sources:
        for task, conditions in walk(tasks):
            if 'ansible.builtin.import_role' in task:
                args = task['ansible.builtin.import_role']
                yield where, task.get('name'), args['name'], args.get('tasks_from', 'main'), conditions


def test_every_procedure_step_is_a_static_import():
    found = list(imports())
    assert {where for where, _name, _role, _entry, _conditions in found} >= set(PROCEDURES)
    for name in PROCEDURES + ['frame/' + f for f in sorted(os.listdir(os.path.join(TOP, 'playbooks', 'frame')))]:
        text = open(os.path.join(TOP, 'playbooks', name)).read()
        assert 'ansible.builtin.include_role' not in text, '%s: a dynamic role include is back' % name
    for where, name, role, entry, _conditions in found:
        # An import is resolved when the playbook is parsed: no template in what it names.
        assert '{{' not in role + entry and role.startswith(FQCN), (where, name)


@pytest.mark.parametrize('where,name,role,entry,conditions',
                         [pytest.param(*found, id='%s:%s' % found[:2]) for found in imports() if found[4]])
def test_a_condition_on_an_import_cannot_change_while_the_role_runs(where, name, role, entry, conditions):
    changed_inside = names_in(conditions) & set_by(role[len(FQCN):], entry)
    assert not changed_inside, (
        '%s, "%s": its when: is evaluated again for every task of %s/%s, which sets %s' % (
            where, name, role, entry, ', '.join(sorted(changed_inside))))


INVENTORY = '''
all:
  vars:
    ansible_python_interpreter: %(python)s
    genesys_main_site: east
    genesys_secondary_site: west
  hosts:
    localhost: {ansible_connection: local}
  children:
    db_hosts:
      hosts:
        west-db: {ansible_connection: local}
        east-db: {ansible_connection: local}
    dr_secondary:
      hosts:
        west-db:
    dr_main:
      hosts:
        east-db:
'''

SETUP = '''
- name: What dr_control leaves on the controller
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The DR state read at the start
      ansible.builtin.set_fact:
        dr_control_state: %(state)s
        # A continued run: refuse.yml gives no lock back, so no DNS server is needed here.
        dr_control_resumed: true
        genesys_dr_run: test-run
'''

AFTER = '''
- name: The step after
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Mark it
      ansible.builtin.debug:
        msg: NEXT STEP RAN
'''


def procedure_plays(playbook, *prefixes):
    plays = procedure.plays(playbook)
    chosen = [play for prefix in prefixes for play in plays if play['name'].startswith(prefix)]
    assert len(chosen) == len(prefixes)
    return chosen


def failover_plays(*prefixes):
    return procedure_plays('failover.yml', *prefixes)


# The plays of each planned procedure that do not apply to every run: its gate, its catch-up and its content proof.
CONDITIONAL_STEPS = {
    'failover.yml': ('Gate - ', 'Prove zero loss by content'),
    'failback.yml': ('Gate - ', 'The main has applied every committed change', 'Prove zero loss by content'),
}


def run_failover_steps(tmp_path, mode, state, *extra, playbook='failover.yml'):
    (tmp_path / 'inventory.yml').write_text(INVENTORY % dict(python=os.path.join(BIN, 'python')))
    steps = yaml.safe_dump(procedure_plays(playbook, *CONDITIONAL_STEPS[playbook]), sort_keys=False)
    (tmp_path / 'steps.yml').write_text(SETUP % dict(state=state) + steps + AFTER)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               GENESYS_DR_REPORT_DIR=str(tmp_path / 'reports'))
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'),
                           str(tmp_path / 'steps.yml'), '-e', 'failover_mode=%s' % mode] + list(extra),
                          cwd=TOP, env=env, capture_output=True, text=True, timeout=180, check=False)


def tasks_run_in(stdout, play_prefix):
    """The TASK headers the default callback printed for one play."""
    section = stdout.split('PLAY [' + play_prefix, 1)[1].split('\nPLAY ', 1)[0]
    return re.findall(r'^TASK \[(.*?)\]', section, re.M)


@pytest.mark.parametrize('playbook,mode,state', [
    ('failover.yml', 'disaster', 'NORMAL'), ('failover.yml', 'planned', 'FAILED_OVER'), ('failback.yml', 'planned', 'NORMAL')])
def test_the_gate_and_the_content_proof_cost_no_task_round_where_they_do_not_apply(tmp_path, playbook, mode, state):
    proc = run_failover_steps(tmp_path, mode, state, playbook=playbook)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Only each play's first task, its controller-side meta end_play, and none of the role's.
    for play in procedure_plays(playbook, *CONDITIONAL_STEPS[playbook]):
        assert play['tasks'][0]['ansible.builtin.meta'] == 'end_play'
        assert tasks_run_in(proc.stdout, play['name'][:20]) == [play['tasks'][0]['name']]
    assert 'NEXT STEP RAN' in proc.stdout


def test_no_step_pays_a_task_round_for_ansibles_per_import_argument_check(tmp_path):
    """The procedures import their roles with rolespec_validate: false - the preflight checks every role option the
    inventory or extra vars set, before anything changes (test_inventory_check) - so no step begins with Ansible's
    "Validating arguments against arg spec" task. Before, a disaster failover paid 14 of them, 1.0 s together."""
    # The planned gate imports the replication role (its catch_up then fails here: this inventory has no database).
    proc = run_failover_steps(tmp_path, 'planned', 'NORMAL')
    gate = failover_plays('Gate - ')[0]
    ran = tasks_run_in(proc.stdout, 'Gate - ')
    assert ran.pop(0) == gate['tasks'][0]['name']
    assert ran and ran[0].startswith('genesys_dr.framework.replication : '), ran
    assert [t for t in re.findall(r'^TASK \[(.*?)\]', proc.stdout, re.M) if 'Validating arguments against arg spec' in t] == []


def resume_option(role, entry):
    """The role entry point's option that says this run continues an earlier attempt, if it has one."""
    specs = load(os.path.join(TOP, 'roles', role, 'meta', 'argument_specs.yml'))['argument_specs']
    option = '%s_resume' % role
    return option if option in (specs.get(entry) or {}).get('options', {}) else None


def test_every_step_that_can_continue_an_attempt_is_told_whether_this_run_does():
    """A step that behaves differently in a continued run (a stream its first attempt stopped, the
    archive its first attempt made) only sees that through its resume option: every procedure
    import of such an entry point passes what dr_control found, none leaves the default."""
    checked = []
    for name in PROCEDURES:
        for play in procedure.plays(name):
            for task, _conditions in walk(play.get('tasks')):
                args = task.get('ansible.builtin.import_role')
                if not args:
                    continue
                role, entry = args['name'][len(FQCN):], args.get('tasks_from', 'main')
                option = resume_option(role, entry)
                if option:
                    value = str((task.get('vars') or {}).get(option, ''))
                    assert "hostvars['localhost']['dr_control_resumed']" in value, (
                        '%s, "%s": %s/%s is not told whether the run continues (%s: %r)' % (
                            name, task.get('name'), role, entry, option, value))
                    checked.append((name, entry))
    # drtest.yml changes no replication object: none of its steps has a resume option.
    assert {name for name, _entry in checked} == set(PROCEDURES) - {'drtest.yml'}


def role_calls(tasks):
    """Every import_role / include_role in a task list, blocks included (walk() opens them)."""
    for task, _conditions in walk(tasks):
        for call in ROLE_CALLS:
            if call in task:
                yield task['name'], task[call]


def test_the_fencing_includes_its_roles_without_a_second_argument_check():
    """The fencing includes the applications and db_access roles dynamically (a skipped include on a host not
    reached is one task round). Those includes skip Ansible's argument check too, as the procedures' imports
    do: it was one task round each (about 0.05 s) on a planned failover's and a failback's limited mode."""
    found = []
    for path in sorted(glob.glob(os.path.join(TOP, 'roles', 'fencing', 'tasks', '*.yml'))):
        for name, call in role_calls(load(path)):
            found.append((os.path.basename(path), name, call['name'], call.get('rolespec_validate')))
    assert sorted((f, role) for f, _name, role, _v in found) == [
        ('revoke_access.yml', FQCN + 'db_access'), ('stop_masters.yml', FQCN + 'applications')], found
    assert [entry for entry in found if entry[3] is not False] == []
