# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's defaults against its own argument specification.

The procedures import their roles with rolespec_validate: false (the preflight checks what the inventory
and extra vars set), so Ansible no longer checks a role's defaults at each import: a default of the wrong
type, or one its specification does not know, is caught here instead."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
               for p in glob.glob(os.path.join(TOP, 'roles', '*', 'meta', 'argument_specs.yml')))


def _load(path):
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


@pytest.mark.parametrize('role', ROLES)
def test_the_role_defaults_have_the_types_its_specification_gives(role):
    specs = _load(os.path.join(TOP, 'roles', role, 'meta', 'argument_specs.yml'))['argument_specs']
    path = os.path.join(TOP, 'roles', role, 'defaults', 'main.yml')
    defaults = _load(path) if os.path.exists(path) else {}
    known = set()
    checked = 0
    for entry, data in sorted(specs.items()):
        options = (data or {}).get('options') or {}
        known.update(options)
        # A template is only a value at run time; the rest must pass the specification as they are.
        provided = dict((name, value) for name, value in defaults.items()
                        if name in options and '{{' not in str(value) and '{%' not in str(value))
        spec = dict((name, dict((k, v) for k, v in options[name].items() if k != 'required')) for name in provided)
        errors = ArgumentSpecValidator(spec).validate(provided, validate_role_argument_spec=True).error_messages
        assert errors == [], (role, entry, errors)
        checked += len(provided)
    # Every default is an option of some entry point (an unknown name is a typo or a stale default).
    assert sorted(set(defaults) - known) == [], role
    assert checked or not defaults, role
