#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: app_info
short_description: Read whether Genesys applications run on a host, changing nothing
version_added: 0.3.0
description:
  - For each application of O(name), reads the process table the way M(genesys_dr.framework.app) does
    (the processes whose command line holds C(-app NAME), in the host's network namespace) and the TCP ports
    they listen on.
  - Starts, stops and waits for nothing. This is how C(status.yml) shows which applications run.
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
options:
  name:
    description:
      - Application names as the Genesys configuration knows them (the C(-app) argument of their command line).
    type: list
    elements: str
    required: true
seealso:
  - module: genesys_dr.framework.app
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Which master applications run here
  genesys_dr.framework.app_info:
    name: [confserv_primary, confserv_backup, scs_master, msgserver_scs]
  register: masters

- name: Show the running ones
  ansible.builtin.debug:
    msg: "{{ masters.applications | selectattr('state', 'equalto', 'running') | map(attribute='name') | list }}"
'''

RETURN = r'''
applications:
  description: One entry per name of O(name), in that order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The application.
      type: str
    state:
      description: V(running) when a process of it exists, else V(stopped).
      type: str
      sample: running
    pids:
      description: Its processes, lowest first; empty when stopped.
      type: list
      elements: int
      sample: [4242]
    listening:
      description: TCP ports its processes listen on.
      type: list
      elements: int
      sample: [2020]
    cmdline:
      description: The command line of its first process; empty when stopped.
      type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.genesys_process import (
    ProcAccessError,
    argv_has_app,
    find_processes,
    process_summary,
)


def observe(names):
    """Every application of names, from one scan of the process table."""
    found = find_processes(match_argv=lambda argv: any(argv_has_app(argv, name) for name in names))
    return [dict(process_summary([p for p in found if argv_has_app(p.argv, name)]), name=name) for name in names]


def main():
    module = AnsibleModule(
        argument_spec=dict(name=dict(type='list', elements='str', required=True)),
        supports_check_mode=True,
    )
    names = module.params['name']
    if not names or len(set(names)) != len(names) or not all(names):
        module.fail_json(msg='name must list at least one application, each once (got: %s)' % ', '.join(names or []))
    try:
        applications = observe(names)
    except ProcAccessError as exc:
        module.fail_json(msg='%s' % exc)
    module.exit_json(changed=False, applications=applications)


if __name__ == '__main__':
    main()
