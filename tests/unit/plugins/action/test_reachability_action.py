# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability action plugin through real `ansible` runs on the controller, against real
sockets on loopback: on the local connection it checks inside Ansible's own process (no module is
transferred or started, as -vvv shows); run in the background (async) it runs the module, with
the same verdict.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys
import subprocess

import pytest

from ansible_collections.genesys_dr.framework.tests.unit.plugins.modules.test_reachability import (
    assert_connected_and_closed_silently,
    Ports,
    target,
)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
TIMEOUT = 1.0
# What Ansible logs at -vvv when it runs the module itself: the module's wrapper put in place.
MODULE_RUN = 'AnsiballZ_reachability.py'


@pytest.fixture
def ports():
    made = Ports()
    yield made
    made.close()


def ansible(args, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_STDOUT_CALLBACK='minimal', ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-vvv', '-m',
               'genesys_dr.framework.reachability', '-a', json.dumps(args),
               '-e', 'ansible_python_interpreter=/usr/bin/python3'] + list(extra)
    done = subprocess.run(command, cwd=TOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    marker = 'localhost | SUCCESS => '
    assert marker in done.stdout, done.stdout
    # At -vvv the result is printed over several lines, after the log of the run.
    result = json.JSONDecoder().raw_decode(done.stdout.split(marker, 1)[1].lstrip())[0]
    return result, done.stdout + done.stderr


def test_on_the_controller_it_checks_in_process(ports):
    listener, open_port = ports.open()
    silent, refused = ports.silent(), ports.refused()
    args = {'targets': [target('db', [open_port]), target('dead', [silent]), target('gone', [refused])],
            'timeout': TIMEOUT}
    result, log = ansible(args)
    assert MODULE_RUN not in log, 'the module was run instead of the check in process'
    assert result['changed'] is False
    assert result['reachable'] == ['db']
    assert result['not_reached'] == {'dead': 'no answer on 127.0.0.1:%d within 1.0 s' % silent,
                                     'gone': '127.0.0.1:%d refused the connection' % refused}
    assert result['ports'] == {'db': {str(open_port): 'open'}, 'dead': {str(silent): 'timeout'},
                               'gone': {str(refused): 'refused'}}
    assert_connected_and_closed_silently(listener)


def test_bad_input_is_refused_in_process_before_any_connection(ports):
    listener, open_port = ports.open()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, 'ansible.cfg'), ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    args = {'targets': [target('ok', [open_port]), target('ok', [0])]}
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-m',
                           'genesys_dr.framework.reachability', '-a', json.dumps(args)],
                          cwd=TOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=60, check=False)
    assert done.returncode != 0
    assert ('Nothing was checked: targets[1] (ok): name is used by another target; names must be unique; '
            'targets[1] (ok): port 0 in ports is not between 1 and 65535') in done.stdout
    assert not ports_listener_has_connection(listener)


def ports_listener_has_connection(listener):
    listener.setblocking(False)
    try:
        conn, dummy = listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def test_in_the_background_the_module_runs_with_the_same_verdict(ports):
    """async: the action hands the task to the module (through Ansible's async wrapper), as before."""
    listener, open_port = ports.open()
    silent = ports.silent()
    args = {'targets': [target('db', [open_port]), target('dead', [silent])], 'timeout': TIMEOUT}
    result, log = ansible(args, '-B', '30', '-P', '1')
    assert MODULE_RUN in log, 'the module did not run'
    assert result['reachable'] == ['db']
    assert result['not_reached'] == {'dead': 'no answer on 127.0.0.1:%d within 1.0 s' % silent}
    assert_connected_and_closed_silently(listener)
