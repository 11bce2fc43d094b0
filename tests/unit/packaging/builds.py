# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the packaging tests: run ansible tools as a user would, with no setting of this checkout."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
BIN = os.path.dirname(sys.executable)


def clean_env(tmp_path):
    """An environment with no ANSIBLE_* setting of this checkout: only an empty ansible.cfg."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    empty_cfg = tmp_path / 'empty-ansible.cfg'
    empty_cfg.write_text('')
    env.update({
        'ANSIBLE_CONFIG': str(empty_cfg),
        'ANSIBLE_COLLECTIONS_PATH': str(tmp_path / 'collections'),
        'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'tmp'),
        'ANSIBLE_NOCOLOR': '1',
        'HOME': str(tmp_path),
        'PATH': BIN + os.pathsep + env.get('PATH', ''),
    })
    return env


def run(cmd, env, cwd):
    return subprocess.run(cmd, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
