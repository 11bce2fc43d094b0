# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Ansible loads a collection's callback only when a configuration names it, but it loads every
# callback in a callback_plugins directory next to the playbook it runs (also a collection playbook
# run by its FQCN) without any configuration. This file makes the collection's playbooks bring their
# run report with them: installed from a tarball, under AWX or ansible-navigator, with no ansible.cfg.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: dr_report
type: aggregate
short_description: The genesys_dr.framework.dr_report callback, loaded by the collection's playbooks themselves
version_added: 0.2.0
description:
  - Runs M(genesys_dr.framework.dr_report#callback) for the playbooks of this collection without any
    configuration; see that callback for the report it writes and where.
  - When genesys_dr.framework.dr_report is also enabled by name (C(callbacks_enabled)), this copy stands down,
    so a run writes one report.
extends_documentation_fragment:
  - genesys_dr.framework.dr_report
author:
  - Genesys DR framework team (!UNKNOWN)
'''

from ansible import constants as C
from ansible_collections.genesys_dr.framework.plugins.callback.dr_report import CallbackModule as DrReport


class CallbackModule(DrReport):
    CALLBACK_NAME = 'dr_report'
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        # Enabled by name as well: Ansible then loads both, and the named one writes the report.
        self.disabled = DrReport.CALLBACK_NAME in (C.CALLBACKS_ENABLED or ())
