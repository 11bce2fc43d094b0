# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as a user receives it: the tarball `ansible-galaxy collection build` makes
from this work tree, installed the way a user installs it, with no setting of this checkout.

The tarball is built from the work tree as it is (untracked caches and reports included), so a
cache a tool leaves behind (.ansible/) or a new development file shows up here before a release.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re
import tarfile

import pytest

from ansible_collections.genesys_dr.framework.tests.unit.packaging.builds import BIN, TOP, clean_env, run

# Development-only paths: the checkout's settings, the lab (lab/, and inventories/lab/hosts.py
# that imports it), caches, run reports, tests and the tools that build them.
FORBIDDEN = [
    r'^ansible\.cfg$',
    r'^lab(/|$)',
    r'^inventories/lab(/|$)',
    r'(^|/)\.ansible(/|$)',
    r'^reports(/|$)',
    r'^tests(/|$)',
    r'^molecule(/|$)',
    r'^tools(/|$)',
    r'^\.ci(/|$)',
    r'^\.config(/|$)',
    r'^\.build(/|$)',
    r'^\.venv(/|$)',
    r'^\.lab(/|$)',
    r'^\.git(/|$)',
    r'^\.gitignore$',
    r'^\.ansible-lint$',
    r'^Makefile$',
    r'^requirements\.txt$',
    r'^execution-environment\.yml$',
    r'^docs/development\.md$',
    r'^docs/architecture\.md$',
    r'(^|/)__pycache__(/|$)',
    r'\.pyc$',
    r'\.tar\.gz$',
]

# A built tarball today is ~0.2 MiB; a cache or a report directory shipped by mistake
# multiplies it, an almost empty one means the build dropped the content.
MIN_BYTES = 64 * 1024
MAX_BYTES = 1024 * 1024

# The procedures and the frame they import (playbooks/frame/).
PLAYBOOKS = sorted(os.path.relpath(p, os.path.join(TOP, 'playbooks')).replace(os.sep, '/')
                   for p in glob.glob(os.path.join(TOP, 'playbooks', '**', '*.yml'), recursive=True))


@pytest.fixture(scope='module')
def installed(built, tmp_path_factory):
    """A tmp dir with the tarball installed into collections/, and the env that uses only it."""
    home = tmp_path_factory.mktemp('user')
    env = clean_env(home)
    result = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', built[0],
                  '-p', env['ANSIBLE_COLLECTIONS_PATH']], env, home)
    assert result.returncode == 0, result.stdout
    return home, env


def test_no_development_file_is_shipped(built):
    shipped = [n for n in built[1] if any(re.search(p, n) for p in FORBIDDEN)]
    assert not shipped, 'development files in the tarball: %s' % shipped


def test_every_playbook_role_and_plugin_is_shipped(built):
    names = set(built[1])
    expected = {'MANIFEST.json', 'FILES.json', 'README.md', 'LICENSE', 'meta/runtime.yml',
                'meta/execution-environment.yml', 'meta/ee-requirements.txt', 'meta/ee-bindep.txt'}
    expected.update('playbooks/' + p for p in PLAYBOOKS)
    for role in glob.glob(os.path.join(TOP, 'roles', '*', 'tasks', 'main.yml')):
        name = role.split(os.sep)[-3]
        expected.update({'roles/%s/tasks/main.yml' % name, 'roles/%s/meta/argument_specs.yml' % name})
    for plugin in glob.glob(os.path.join(TOP, 'plugins', '*', '*.py')):
        expected.add(os.path.relpath(plugin, TOP).replace(os.sep, '/'))
    assert len(PLAYBOOKS) >= 9 and 'frame/begin.yml' in PLAYBOOKS
    assert sorted(expected - names) == []


def test_tarball_size_is_sane(built):
    size = os.path.getsize(built[0])
    assert MIN_BYTES < size < MAX_BYTES, 'tarball is %d bytes' % size


def test_license_is_the_gpl3_text(built):
    with tarfile.open(built[0]) as tar:
        text = tar.extractfile('LICENSE').read().decode('utf-8')
    assert 'GNU GENERAL PUBLIC LICENSE' in text and 'Version 3, 29 June 2007' in text
    assert 'END OF TERMS AND CONDITIONS' in text


@pytest.mark.parametrize('playbook', PLAYBOOKS)
def test_installed_playbook_passes_syntax_check_without_checkout_settings(installed, playbook):
    home, env = installed
    fqcn = 'genesys_dr.framework.' + playbook[:-len('.yml')].replace('/', '.')
    result = run([os.path.join(BIN, 'ansible-playbook'), '--syntax-check', '-i', 'localhost,', fqcn], env, home)
    assert result.returncode == 0, result.stdout


def test_installed_copy_is_the_one_ansible_finds(installed):
    home, env = installed
    listed = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'list', 'genesys_dr.framework'], env, home)
    assert listed.returncode == 0, listed.stdout
    assert env['ANSIBLE_COLLECTIONS_PATH'] in listed.stdout and TOP not in listed.stdout
