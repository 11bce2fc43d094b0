# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Options of the dr_report callback, shared by genesys_dr.framework.dr_report and the copy the
    # collection's playbooks load from playbooks/callback_plugins (one definition, one behaviour).
    DOCUMENTATION = r'''
options:
  report_dir:
    description:
      - Directory the reports are written to (created if missing), unless ansible-runner gives the run an
        artifacts directory.
      - The default is a directory of the user running Ansible, so an installed collection writes its reports
        to the same place whatever directory it is run from.
    type: path
    default: ~/.ansible/genesys_dr/reports
    env:
      - name: GENESYS_DR_REPORT_DIR
    ini:
      - section: genesys_dr_report
        key: report_dir
'''
