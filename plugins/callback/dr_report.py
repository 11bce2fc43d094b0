# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: dr_report
type: aggregate
short_description: Write the report of a DR procedure run (JSON and Markdown)
version_added: 0.1.0
description:
  - For playbooks that publish C(genesys_dr_report) with M(ansible.builtin.set_stats) (the procedures of this
    collection do), writes at the end of the run, also when it failed, a JSON and a Markdown report
    named after the run id into O(report_dir).
  - Every attempt of a run keeps its own report, never overwritten - a run continued with
    C(-e genesys_dr_run=<id>) after a failure is a new attempt of the same run. The first attempt writes
    C(<run id>.json) and C(<run id>.md), the second C(<run id>.attempt2.json) and C(<run id>.attempt2.md),
    and so on. Each report holds its C(attempt) number and, from the second on, C(earlier_attempts) - the
    file, start, result and RPO of every earlier attempt - so the RPO measured by the attempt that made
    the cutover is found from the last one.
  - Each play of a procedure is one step; the report lists the steps with start time, duration and outcome,
    and what the roles published with C(set_stats) (the same data AWX keeps as artifacts) - RTO (from
    the start of the run to the first canary write acknowledged through a proxy), the part of it spent in
    waits the modules reported versus orchestration overhead, RPO, limited-mode time per site, fencing
    results and the archive path.
  - It never copies module arguments, so secrets given to modules do not reach the report, and what tasks
    with C(no_log) return never reaches a callback. As a second guard, a published value under a key that
    names a secret (C(password), C(passwd), C(secret), C(token), C(private_key), C(tsig_key)) is written as
    C(********).
  - When a run stops on a failure it says where (step, host, task), which steps changed something, whether the
    DR lock is still held by the run, and the one command that continues it (the same playbook, inventory and
    C(-e) options - values of secret-named variables masked - plus C(-e genesys_dr_run=<id>)); or that nothing
    was changed when no task changed anything and the run holds no lock. The same is in the report
    (C(stopped)).
  - Where the reports go, first match wins - E(AWX_ISOLATED_DATA_DIR), the artifacts directory ansible-runner
    gives the playbook it runs (AWX, Ansible Automation Platform, ansible-navigator), so the reports are kept with
    the job's other artifacts next to the C(set_stats) data; else O(report_dir).
  - The playbooks of this collection load it by themselves, from their adjacent C(callback_plugins) directory -
    nothing needs to be configured. A playbook of your own that imports them with
    M(ansible.builtin.import_playbook) gets it the same way. Only for a playbook that does not, enable it with
    C(callbacks_enabled = genesys_dr.framework.dr_report) in C(ansible.cfg) or
    C(ANSIBLE_CALLBACKS_ENABLED=genesys_dr.framework.dr_report) (one report per run either way - the copy the
    playbooks load stands down when it is enabled by name).
extends_documentation_fragment:
  - genesys_dr.framework.dr_report
author:
  - Genesys DR framework team (!UNKNOWN)
'''

import datetime
import json
import os
import re
import time

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.genesys_dr.framework.plugins.plugin_utils.task_runner import runs_through_mitogen

# Fields of module results (dotted: nested) that carry time spent waiting for the system, not
# orchestration: a module's own wait (elapsed: reachability, app, wait_for), the DNS servers
# serving an update (verify_seconds: dr_state, dns_record), a subscription catching up or
# draining (catchup.seconds: pg_subscription).
WAIT_FIELDS = ('elapsed', 'verify_seconds', 'catchup.seconds')
MASK = '********'
SECRET_KEY = re.compile(r'password|passwd|secret|token|private_key|tsig_key', re.IGNORECASE)
ATTEMPT_SUFFIX = '.attempt%d'


def _scrub(value):
    """value with every item under a key that names a secret replaced by a mask."""
    if isinstance(value, dict):
        return dict((k, MASK if isinstance(k, str) and SECRET_KEY.search(k) and v not in (None, '') else _scrub(v))
                    for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')[:-4] + 'Z'


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'genesys_dr.framework.dr_report'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.started = time.time()
        self.playbook = None
        self.steps = []
        self.failures = []
        self.waits = []   # (end time, seconds waited) reported by modules
        # Whether this run holds the DR lock: taken by a dr_state lock action, given back by unlock.
        self.lock_held = False

    def _step(self):
        return self.steps[-1] if self.steps else None

    def _close_step(self):
        step = self._step()
        if step and step.get('ended') is None:
            step['ended'] = time.time()
            step['duration'] = round(step['ended'] - step['started'], 2)

    def v2_playbook_on_start(self, playbook):
        self.started = time.time()
        self.playbook = os.path.basename(playbook._file_name)

    def v2_playbook_on_play_start(self, play):
        self._close_step()
        self.steps.append({'name': play.get_name(), 'started': time.time(), 'ended': None, 'duration': None,
                           'ok': 0, 'changed': 0, 'failed': 0, 'unreachable': 0, 'skipped': 0})

    def _count(self, key, result):
        step = self._step()
        if step is not None:
            step[key] += 1
            if key == 'ok' and result._result.get('changed'):
                step['changed'] += 1

    @staticmethod
    def _waited(result):
        """Seconds a module result reports waiting for the system (the sum of its WAIT_FIELDS)."""
        total = 0.0
        for field in WAIT_FIELDS:
            value = result
            for part in field.split('.'):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total += float(value)
        return total

    def _record_wait(self, result):
        for one in [result._result] + [item for item in result._result.get('results') or [] if isinstance(item, dict)]:
            waited = self._waited(one)
            if waited:
                self.waits.append((time.time(), waited))

    def v2_runner_on_ok(self, result):
        self._count('ok', result)
        self._record_wait(result)
        if result._task.action.endswith('dr_state') and not result._task.check_mode:
            action = result._task.args.get('action')
            if action == 'lock' and not result._result.get('failed'):
                self.lock_held = bool(result._result.get('lock'))
            elif action == 'unlock' and not result._result.get('failed'):
                self.lock_held = False

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            self._count('ok', result)
            return
        self._count('failed', result)
        self.failures.append({'step': (self._step() or {}).get('name'), 'host': result._host.get_name(),
                              'task': result._task.get_name(), 'msg': str(result._result.get('msg', ''))[:2000]})

    def v2_runner_on_unreachable(self, result):
        self._count('unreachable', result)
        if result._task.ignore_unreachable:
            # A host the play expects may be gone (the lost site of a disaster failover): the
            # step shows it as unreachable and the fencing results say what was not done, but
            # it does not fail the run.
            return
        self.failures.append({'step': (self._step() or {}).get('name'), 'host': result._host.get_name(),
                              'task': result._task.get_name(), 'msg': 'unreachable: %s' % result._result.get('msg', '')})

    def v2_runner_on_skipped(self, result):
        self._count('skipped', result)

    def v2_playbook_on_stats(self, stats):
        self._close_step()
        custom = (getattr(stats, 'custom', None) or {}).get('_run', {})
        meta = custom.get('genesys_dr_report')
        if not meta:
            return
        ended = time.time()
        report = {
            'operation': meta.get('operation'),
            'mode': meta.get('mode'),
            'run_id': meta.get('run_id'),
            'playbook': self.playbook,
            'check_mode': bool(meta.get('check_mode')),
            # What ran the tasks, as the strategy that ran them recorded it in this process.
            'task_runner': 'mitogen' if runs_through_mitogen() else 'ansible',
            'started': _iso(self.started),
            'ended': _iso(ended),
            'wall_time_s': round(ended - self.started, 2),
            'result': 'failed' if self.failures else 'ok',
            'failures': self.failures,
            'steps': [dict(s, started=_iso(s['started']), ended=_iso(s['ended']) if s['ended'] else None)
                      for s in self.steps],
            'measures': self._measures(custom),
            'stopped': self._stopped(meta) if self.failures and not meta.get('check_mode') else None,
            'published': _scrub(dict((k, v) for k, v in custom.items() if k != 'genesys_dr_report')),
        }
        report['measures'] = _scrub(report['measures'])
        directory = self._report_directory()
        os.makedirs(directory, exist_ok=True)
        run_base = os.path.join(directory, re.sub(r'[^A-Za-z0-9_.-]', '_', str(report['run_id'] or 'run')))
        handle, base, attempt = self._claim_attempt(run_base)
        report['attempt'] = attempt
        report['earlier_attempts'] = self._earlier_attempts(run_base, attempt)
        with os.fdopen(handle, 'w') as f:
            json.dump(report, f, indent=2, sort_keys=True)
        with open(base + '.md', 'w') as f:
            f.write(self._markdown(report))
        self._display.banner('DR REPORT')
        self._display.display(self._markdown(report))
        self._display.display('report written: %s.json, %s.md' % (base, base))

    def _report_directory(self):
        # ansible-runner runs the playbook with its artifacts directory in the environment: a report
        # written there is kept with the job (AWX artifacts, ansible-navigator's artifact), where the
        # operator looks for it, rather than in a working directory that is thrown away with the job.
        return os.environ.get('AWX_ISOLATED_DATA_DIR') or self.get_option('report_dir')

    @staticmethod
    def _stopped_text(r):
        stop = r['stopped']
        where = 'Run %s STOPPED at step "%s" (%s, task "%s").' % (r['run_id'], stop['step'], stop['host'], stop['task'])
        if stop['nothing_changed']:
            return where + ' Nothing was changed.'
        return '%s Changed before it stopped: %s. The DR lock %s. Continue with: %s' % (
            where, ', '.join('"%s"' % name for name in stop['changed_steps']) or 'no step',
            'stays with this run' if stop['lock_held'] else 'is not held', stop['continue_with'])

    def _stopped(self, meta):
        """Where the run stopped, what it had changed, and how to continue it."""
        first = self.failures[0]
        changed = [s['name'] for s in self.steps if s['changed']]
        stopped = {'step': first['step'], 'host': first['host'], 'task': first['task'], 'changed_steps': changed,
                   'lock_held': self.lock_held, 'nothing_changed': not changed and not self.lock_held}
        if not stopped['nothing_changed']:
            stopped['continue_with'] = self._continue_command(meta.get('run_id'))
        return stopped

    @staticmethod
    def _continue_command(run_id):
        args = context.CLIARGS
        words = ['ansible-playbook']
        for inventory in args.get('inventory') or ():
            words += ['-i', inventory]
        words += list(args.get('args') or ())
        for extra in args.get('extra_vars') or ():
            if re.match(r'\s*genesys_dr_run\s*=', extra):
                continue
            key = extra.split('=', 1)[0]
            words += ['-e', '%s=%s' % (key, MASK) if '=' in extra and SECRET_KEY.search(key) else extra]
        words += ['-e', 'genesys_dr_run=%s' % run_id]
        return ' '.join(words)

    @staticmethod
    def _attempt_base(run_base, attempt):
        return run_base if attempt == 1 else run_base + ATTEMPT_SUFFIX % attempt

    def _claim_attempt(self, run_base):
        """The first attempt number whose JSON report does not exist yet, created exclusively (two runs
        finishing at once get two numbers): (open file descriptor, file base, attempt)."""
        attempt = 1
        while True:
            base = self._attempt_base(run_base, attempt)
            try:
                return os.open(base + '.json', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), base, attempt
            except FileExistsError:
                attempt += 1

    def _earlier_attempts(self, run_base, attempt):
        earlier = []
        for number in range(1, attempt):
            path = self._attempt_base(run_base, number) + '.json'
            entry = {'attempt': number, 'report': os.path.basename(path)}
            try:
                with open(path) as f:
                    previous = json.load(f)
                entry.update(started=previous.get('started'), ended=previous.get('ended'), result=previous.get('result'),
                             rpo=(previous.get('measures') or {}).get('rpo'))
            except (OSError, ValueError) as e:
                # Another attempt still writing it, or a damaged file: name it, do not fail the report.
                entry['result'] = 'unreadable (%s)' % e.__class__.__name__
            earlier.append(entry)
        return earlier

    def _measures(self, custom):
        m = {}
        canaries = custom.get('genesys_dr_canary') or {}
        acks = [v.get('acknowledged_at') for v in canaries.values() if isinstance(v, dict) and v.get('acknowledged_at')]
        if acks:
            first = min(acks)
            rto = first - self.started
            waited = sum(sec for end, sec in self.waits if end <= first + 1)
            m['rto_s'] = round(rto, 2)
            m['rto_waiting_s'] = round(min(waited, rto), 2)
            m['rto_orchestration_overhead_s'] = round(max(rto - waited, 0.0), 2)
            m['first_canary_at'] = _iso(first)
        else:
            m['rto_s'] = None
        if 'genesys_dr_rpo' in custom:
            m['rpo'] = custom['genesys_dr_rpo']
        limited_from = custom.get('genesys_dr_limited_from')
        proxies = custom.get('genesys_dr_proxies') or {}
        report = custom.get('genesys_dr_report') or {}
        # Limited mode is measured from the masters' stop of this run; after a site loss the run cannot
        # know when the masters died, so it counts from its own start (a lower bound).
        if proxies and (limited_from is not None or report.get('mode') == 'disaster'):
            per_site = {}
            every_site = report.get('operation') in ('failover', 'failback')
            for host, info in proxies.items():
                if not every_site and not info.get('reconnected', True):
                    continue   # a site this run did not take its master from
                start = limited_from if limited_from is not None else self.started
                seconds = max(float(info.get('connected_at', start)) - float(start), 0.0)
                site = info.get('site', host)
                per_site[site] = round(max(per_site.get(site, 0.0), seconds), 2)
            if per_site:
                m['limited_mode_s_per_site'] = per_site
            m['limited_mode_measured_from'] = (
                'masters stopped' if limited_from is not None else 'start of the run (lower bound: the main was lost or cut off before the run)')
        if 'genesys_dr_fencing' in custom:
            m['fencing'] = custom['genesys_dr_fencing']
        if 'genesys_dr_archive' in custom:
            m['archive'] = custom['genesys_dr_archive']
        if isinstance(custom.get('genesys_dr_drtest'), dict):
            m['drtest'] = custom['genesys_dr_drtest']
        return m

    @staticmethod
    def _drtest_lines(t):
        """The DR test's verdict and every check, for the Markdown report."""
        lsn = t.get('lsn_min') or '-'
        if t.get('lsn_max') and t.get('lsn_max') != t.get('lsn_min'):
            lsn = '%s..%s' % (lsn, t['lsn_max'])
        elif lsn == '0/0':
            lsn = '0/0 (nothing applied since the subscription\'s initial copy)'
        lag = t.get('replication_lag_bytes') or {}
        lines = ['', '## DR test', '',
                 '- site %s: **%s**' % (t.get('site') or '-', 'ready to take over' if t.get('ready') else 'NOT READY'),
                 '- copy `%s` of the Configuration Database at publisher LSN %s (%s bytes, %s s)' % (
                     t.get('database') or '-', lsn, t.get('copy_bytes', '-'), t.get('copy_seconds', '-')),
                 '- test master `%s` served after %s s (budget %s s)' % (
                     t.get('test_master') or '-', t.get('time_to_ready_seconds'), t.get('time_to_ready_budget_seconds'))]
        for name, seconds in sorted((t.get('started_seconds') or {}).items()):
            lines.append('  - `%s` started in %s s' % (name, seconds))
        reads = t.get('reads') if isinstance(t.get('reads'), dict) else None
        lines += ['- canary write through the test master changed: %s' % (', '.join(t.get('canary_tables') or []) or 'nothing (not tried)'),
                  '- read through the test master: %s' % (
                      'canary %s; sample objects identical to the live master: %s; changed since the copy: %s; '
                      'not served by the live master: %s' % (
                          'read back' if reads.get('canary_read_back') else 'not read',
                          ', '.join(reads.get('sample_identical') or []) or 'none',
                          ', '.join(reads.get('sample_changed_since') or []) or 'none',
                          ', '.join(reads.get('sample_not_compared') or []) or 'none') if reads else 'not tried'),
                  '- cfgdb stream into the tested site: lag %s bytes before, %s after' % (lag.get('before', '-'), lag.get('after', '-')),
                  '- production read back after the test: %s' % ('; '.join(t.get('production_changes') or []) or 'the same'),
                  '- left running after the teardown: %s' % (', '.join(t.get('left_running') or []) or 'nothing')]
        for problem in t.get('problems') or []:
            lines.append('- problem: %s' % problem)
        return lines

    @staticmethod
    def _markdown(r):
        attempt = r.get('attempt', 1)
        lines = ['# DR %s report: %s%s' % (r['operation'], r['run_id'], ' (attempt %d)' % attempt if attempt > 1 else ''), '',
                 '- playbook: `%s`%s, mode: %s%s' % (r['playbook'], ' (check mode)' if r['check_mode'] else '',
                                                     r['mode'] or '-',
                                                     ', tasks run through Mitogen' if r.get('task_runner') == 'mitogen' else ''),
                 '- started %s, ended %s, wall time %.1f s, result: **%s**' % (r['started'], r['ended'],
                                                                               r['wall_time_s'], r['result'])]
        for e in r.get('earlier_attempts') or []:
            rpo = e.get('rpo')
            lines.append('- earlier attempt %d (`%s`): started %s, result %s, RPO %s' % (
                e['attempt'], e['report'], e.get('started') or '-', e.get('result') or '-',
                json.dumps(rpo, sort_keys=True) if rpo is not None else 'not measured'))
        lines += ['', '| step | started | duration (s) | ok | changed | failed | unreachable |',
                  '| --- | --- | ---: | ---: | ---: | ---: | ---: |']
        for s in r['steps']:
            lines.append('| %s | %s | %s | %d | %d | %d | %d |' % (
                s['name'], s['started'], s['duration'], s['ok'], s['changed'], s['failed'], s['unreachable']))
        m = r['measures']
        lines += ['', '## Measures', '']
        if m.get('rto_s') is not None:
            lines.append('- RTO: %.2f s (waiting for the system %.2f s, orchestration overhead %.2f s), first canary '
                         'write acknowledged %s' % (m['rto_s'], m['rto_waiting_s'], m['rto_orchestration_overhead_s'],
                                                    m['first_canary_at']))
        elif r['operation'] in ('failover', 'failback'):
            lines.append('- RTO: not measured (no canary write acknowledged)')
        rpo = m.get('rpo')
        if isinstance(rpo, dict):
            lost = rpo.get('wal_bytes_not_applied')
            lines.append('- RPO: %s (source at %s, confirmed by the replica %s, applied %s): %s' % (
                'unknown at cutover' if lost is None else '%s bytes of WAL not applied' % lost,
                rpo.get('source_lsn') or '-', rpo.get('confirmed_lsn') or '-', rpo.get('applied_lsn') or '-',
                rpo.get('note', '')))
        elif rpo is not None:
            lines.append('- RPO: %s' % json.dumps(rpo, sort_keys=True))
        for site, sec in sorted((m.get('limited_mode_s_per_site') or {}).items()):
            lines.append('- limited mode at %s: %.2f s (from %s to the proxies reconnected)'
                         % (site, sec, m['limited_mode_measured_from']))
        for name, outcome in sorted((m.get('fencing') or {}).items()):
            lines.append('- fencing %s: %s' % (name, outcome))
        archive = m.get('archive')
        if isinstance(archive, dict):
            for host, a in sorted(archive.items()):
                lines.append('- archive of %s before it was overwritten: `%s` (%s); rows only there, not at the live site: %s' % (
                    host, a.get('path'), '%s bytes' % a['size_bytes'] if a.get('size_bytes') is not None else 'size unknown',
                    a.get('divergent_rows_summary') or 'none'))
        elif archive:
            lines.append('- archive of the divergent data: `%s`' % archive)
        if isinstance(m.get('drtest'), dict):
            lines += CallbackModule._drtest_lines(m['drtest'])
        if r.get('stopped'):
            lines += ['', '## Stopped', '', CallbackModule._stopped_text(r)]
        if r['failures']:
            lines += ['', '## Failures', '']
            for f in r['failures']:
                lines.append('- %s / %s / %s: %s' % (f['step'], f['host'], f['task'], f['msg'].replace('\n', ' ')))
        return '\n'.join(lines) + '\n'
