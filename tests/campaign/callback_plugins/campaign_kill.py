# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault injection for the fault campaign (tests only, never shipped): SIGKILL the whole
ansible-playbook process group at a step boundary, as a dying controller would.

GENESYS_CAMPAIGN_KILL_AT names the step: the first play whose name starts with it is the
one that never starts - everything before it ran, nothing of it did. With a "task:" prefix
it names a task instead (a kill inside a step, between two of its tasks).

GENESYS_CAMPAIGN_HOOK_AT / GENESYS_CAMPAIGN_HOOK_CMD: run a shell command (the fault) when
that play or task starts, and go on - for faults of the system rather than the controller
(the DNS primary stops answering just before the switch, a host goes down). The process group is
the one the campaign started the playbook in (start_new_session), so the forks, ssh and
every child die with it, without a chance to clean up.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: campaign_kill
type: aggregate
short_description: Fault campaign - kill the controller at a step boundary
description: Kills the ansible-playbook process group when the play named by GENESYS_CAMPAIGN_KILL_AT starts.
'''

import os
import signal
import subprocess

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'campaign_kill'
    CALLBACK_NEEDS_ENABLED = False

    @staticmethod
    def _matches(target, kind, name):
        wanted = target[len('task:'):] if target.startswith('task:') else target
        # A play by the start of its name; a task by a part of it (roles prefix their tasks' names).
        hit = wanted in name if kind == 'task' else name.startswith(wanted)
        return bool(target) and (kind == 'task') == target.startswith('task:') and hit

    def _hook_if(self, kind, name):
        target = os.environ.get('GENESYS_CAMPAIGN_HOOK_AT', '')
        if self._matches(target, kind, name) and not getattr(self, '_hooked', False):
            self._hooked = True
            command = os.environ['GENESYS_CAMPAIGN_HOOK_CMD']
            self._display.display('CAMPAIGN: fault at %s "%s": %s' % (kind, name, command))
            subprocess.run(command, shell=True, check=True)

    def _kill_if(self, kind, name):
        if self._matches(os.environ.get('GENESYS_CAMPAIGN_KILL_AT', ''), kind, name):
            # Flush what the run printed so far: the log shows where it died.
            self._display.display('CAMPAIGN: SIGKILL of the controller at %s "%s"' % (kind, name))
            os.killpg(os.getpgrp(), signal.SIGKILL)

    def v2_playbook_on_play_start(self, play):
        self._hook_if('play', play.get_name())
        self._kill_if('play', play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._hook_if('task', task.get_name())
        self._kill_if('task', task.get_name())
