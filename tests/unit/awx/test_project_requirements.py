# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""This repository used as an AWX project: collections/requirements.yml installs the collection.

As AWX's project update does: a checkout (here a copy of the files git would check out, without
.build), `ansible-galaxy collection install -r collections/requirements.yml -p <dir>` run in it,
then every playbook a job template runs is loaded (--syntax-check resolves the roles, the
strategy and the module_defaults groups) with only that directory as collection path - from the
checkout (AWX's working directory, where the checkout's ansible.cfg applies) and from another
directory with no ansible.cfg at all. The same check without the installed collection fails.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import json
import os
import shutil
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(TOP, '.venv', 'bin')


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    env.update(extra)
    return env


def _run(args, cwd, env):
    return subprocess.run(args, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    """A checkout of the project and the collections its requirements file installed."""
    base = tmp_path_factory.mktemp('awx-project')
    checkout = base / 'project'
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                            cwd=TOP, check=True, stdout=subprocess.PIPE).stdout.decode().split('\0')
    for name in filter(None, listed):
        source = os.path.join(TOP, name)
        if os.path.isfile(source):      # a file deleted in the work tree is not checked out
            os.makedirs(os.path.dirname(str(checkout / name)), exist_ok=True)
            shutil.copy2(source, str(checkout / name))
    collections = base / 'collections'
    proc = _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '-r', 'collections/requirements.yml',
                 '-p', str(collections)], checkout, _env())
    assert proc.returncode == 0, proc.stdout
    return base, checkout, collections


def _playbooks(checkout):
    return sorted(os.path.relpath(p, str(checkout)) for p in glob.glob(str(checkout / 'playbooks' / '*.yml'))) \
        + ['awx/workflow_failed.yml']


def test_requirements_install_this_collection(project):
    _base, checkout, collections = project
    with open(str(collections / 'ansible_collections' / 'genesys_dr' / 'framework' / 'MANIFEST.json')) as stream:
        info = json.load(stream)['collection_info']
    assert (info['namespace'], info['name']) == ('genesys_dr', 'framework')
    assert os.path.isdir(str(collections / 'ansible_collections' / 'genesys_dr' / 'framework' / 'roles' / 'preflight'))
    assert not os.path.exists(str(checkout / '.build'))


@pytest.mark.parametrize('where', ['checkout', 'elsewhere'])
def test_every_job_template_playbook_loads(project, where):
    base, checkout, collections = project
    cwd = checkout if where == 'checkout' else base
    env = _env(ANSIBLE_COLLECTIONS_PATH=str(collections))
    for playbook in _playbooks(checkout):
        proc = _run([os.path.join(BIN, 'ansible-playbook'), '--syntax-check', '-i', 'localhost,',
                     str(checkout / playbook)], cwd, env)
        assert proc.returncode == 0, (playbook, proc.stdout)


def test_without_the_requirements_the_playbooks_do_not_load(project):
    base, checkout, _collections = project
    empty = base / 'no-collections'
    empty.mkdir(exist_ok=True)
    proc = _run([os.path.join(BIN, 'ansible-playbook'), '--syntax-check', '-i', 'localhost,',
                 str(checkout / 'playbooks' / 'status.yml')], base, _env(ANSIBLE_COLLECTIONS_PATH=str(empty)))
    assert proc.returncode != 0
    assert 'genesys_dr.framework' in proc.stdout
