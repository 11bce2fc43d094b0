# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plays a procedure playbook runs, read from its YAML: the plays of the procedure frame it
imports (playbooks/frame/*.yml) in place of each import, with the variables the import gives them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROCEDURES = ['normal.yml', 'failover.yml', 'reprotect.yml', 'failback.yml', 'drtest.yml']


def plays(playbook):
    """The plays of playbooks/<playbook> (or of a path), imports expanded, in the order they run."""
    path = playbook if os.path.isabs(playbook) else os.path.join(TOP, 'playbooks', playbook)
    with open(path) as stream:
        entries = yaml.safe_load(stream) or []
    found = []
    for entry in entries:
        imported = entry.get('ansible.builtin.import_playbook')
        if not imported:
            found.append(entry)
            continue
        for play in plays(os.path.join(os.path.dirname(path), imported)):
            found.append(dict(play, vars=dict(play.get('vars') or {}, **(entry.get('vars') or {}))))
    return found
