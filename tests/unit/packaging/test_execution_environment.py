# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution environment without a container engine: `ansible-builder create` writes the
build context from execution-environment.yml, then the two steps of the image build that
decide what goes into it run here as the Containerfile runs them: the galaxy stage installs
the collection from the context, the builder stage introspects the installed collection."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import shutil
import sys

import pytest
import yaml

from ansible_collections.genesys_dr.framework.tests.unit.packaging.builds import BIN, TOP, clean_env, run

# What the collection's development needs and an image must not carry.
DEVELOPMENT_ONLY = ('pytest', 'pytest-testinfra', 'molecule', 'antsibull-changelog', 'ansible-lint',
                    'ansible-builder', 'psycopg2-binary', 'ansible-runner')


def _pins():
    with open(os.path.join(TOP, 'requirements.txt')) as f:
        return dict(re.findall(r'^([A-Za-z0-9_.-]+)==(\S+)', f.read(), re.M))


def _requirement_lines(path):
    """The requirement lines of a file introspect wrote; it writes none when it found none."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split('#', 1)[0].strip() for line in f if line.split('#', 1)[0].strip()]


def _requirement_names(path):
    lines = _requirement_lines(path)
    return [re.split(r'[\s<>=!~\[;]', line, 1)[0].lower() for line in lines if line]


@pytest.fixture(scope='module')
def context(built, tmp_path_factory):
    """The build context, made from a copy of execution-environment.yml next to the tarball
    where `make ee` puts it."""
    work = tmp_path_factory.mktemp('ee')
    shutil.copy(os.path.join(TOP, 'execution-environment.yml'), str(work))
    (work / '.build' / 'ee').mkdir(parents=True)
    shutil.copy(built[0], str(work / '.build' / 'ee' / 'genesys_dr-framework.tar.gz'))
    result = run([os.path.join(BIN, 'ansible-builder'), 'create', '--file', str(work / 'execution-environment.yml'),
                  '--context', str(work / 'context'), '--output-filename', 'Containerfile'], clean_env(work), work)
    assert result.returncode == 0, result.stdout
    return work


@pytest.fixture(scope='module')
def installed_in_image(context):
    """The galaxy stage: `ansible-galaxy collection install -r requirements.yml` in /build."""
    env = clean_env(context)
    target = context / 'usr-share-ansible' / 'collections'
    result = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', '-r', 'requirements.yml',
                  '--collections-path', str(target)], env, context / 'context' / '_build')
    assert result.returncode == 0, result.stdout
    return target


def test_containerfile_pins_what_is_tested_and_takes_the_base_image_as_an_argument(context):
    text = (context / 'context' / 'Containerfile').read_text()
    pins = _pins()
    assert 'ARG EE_BASE_IMAGE=' in text and 'FROM $EE_BASE_IMAGE AS base' in text
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"' % (
        pins['ansible-core'], pins['ansible-runner']) in text


def test_galaxy_stage_installs_the_collection_from_the_context(installed_in_image):
    manifest = installed_in_image / 'ansible_collections' / 'genesys_dr' / 'framework' / 'MANIFEST.json'
    assert manifest.is_file()


def test_image_takes_only_the_runtime_requirements(context, installed_in_image):
    """The builder stage's introspection of the installed collection (what `pip install` and
    the package manager then get in the image)."""
    out = context / 'introspected'
    out.mkdir()
    result = run([sys.executable, str(context / 'context' / '_build' / 'scripts' / 'introspect.py'), 'introspect',
                  str(installed_in_image), '--write-pip', str(out / 'requirements.txt'),
                  '--write-bindep', str(out / 'bindep.txt')], clean_env(context), context)
    assert result.returncode == 0, result.stdout
    python = _requirement_names(str(out / 'requirements.txt'))
    # mitogen: only used when a job sets GENESYS_DR_MITOGEN=true, but it must be in the image then.
    assert python == ['dnspython', 'mitogen']
    assert not set(python) & set(DEVELOPMENT_ONLY)
    system = _requirement_lines(str(out / 'bindep.txt'))
    # Both package families: the usual EE base images are dnf-based.
    assert system == ['openssh-client [platform:dpkg]', 'openssh-clients [platform:rpm]']


def test_meta_points_at_the_runtime_files(built):
    with open(os.path.join(TOP, 'meta', 'execution-environment.yml')) as f:
        meta = yaml.safe_load(f)
    assert meta['dependencies'] == {'python': 'meta/ee-requirements.txt', 'system': 'meta/ee-bindep.txt'}
    assert all(path in built[1] for path in meta['dependencies'].values())
