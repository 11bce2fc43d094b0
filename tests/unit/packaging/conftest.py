# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Genesys DR framework team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One build of the collection tarball from this work tree, shared by the packaging tests."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import tarfile

import pytest

from ansible_collections.genesys_dr.framework.tests.unit.packaging.builds import BIN, TOP, clean_env, run


@pytest.fixture(scope='session')
def built(tmp_path_factory):
    """(tarball path, member names) of a build of the work tree."""
    work = tmp_path_factory.mktemp('build')
    out = work / 'dist'
    result = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', TOP, '--output-path', str(out)],
                 clean_env(work), work)
    assert result.returncode == 0, result.stdout
    tarballs = glob.glob(str(out / 'genesys_dr-framework-*.tar.gz'))
    assert len(tarballs) == 1, result.stdout
    with tarfile.open(tarballs[0]) as tar:
        names = [m.name[2:] if m.name.startswith('./') else m.name for m in tar.getmembers()]
    return tarballs[0], names
