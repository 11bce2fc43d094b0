#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: reachability
short_description: Decide once, from the controller, which hosts answer on the TCP ports a run needs
version_added: 0.3.0
description:
  - Opens a TCP connection to every port of every target B(at the same time), closes it as soon as it is
    established and sends nothing. The whole check takes about one O(timeout), however many targets and
    ports there are, so a DR procedure can decide early which hosts it can reach instead of paying an
    SSH timeout for a dead host in every play.
  - A target is reachable when every one of its ports accepted a connection. A target that does not
    answer is a result, not an error - the module fails only on bad input, and it checks the whole input
    before it opens the first connection.
  - A port is not judged on one connection attempt. Linux sends an unanswered SYN again only after
    one second, so a single lost packet would make a live host look dead under a short O(timeout). The
    module opens a new attempt every 0.2 seconds until one is accepted, one is refused or fails, or
    O(timeout) has passed.
  - Meant to run on the controller (a task delegated to C(localhost), or a play on C(localhost)), so
    what it measures is the path the run's own connections take. On a local connection the action
    plugin of the same name runs the check inside the controller's own Ansible process, with no module
    transfer or interpreter start; on any other connection the module runs on that host.
  - O(targets[].address) may be a host name; its name resolution counts against the same O(timeout).
attributes:
  check_mode:
    support: full
    description: The module only opens and closes TCP connections; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no before and after.
options:
  targets:
    description:
      - The hosts to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the target, as the result reports it (the inventory host name). Unique in O(targets).
        type: str
        required: true
      address:
        description:
          - IP address or host name to connect to (the host's C(ansible_host)).
        type: str
        required: true
      ports:
        description:
          - TCP ports the run needs on this host (for example SSH and PostgreSQL). At least one,
            each between 1 and 65535.
        type: list
        elements: int
        required: true
  timeout:
    description:
      - Seconds a port may take to accept a connection (name resolution included) before it counts as
        not answering. More than 0, at most 30.
      - The default, one second, is several round trips of any network a DR site is reached over; raise
        it for links whose round trip is longer.
    type: float
    default: 1.0
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Decide once which hosts of the main site answer on SSH and PostgreSQL
  genesys_dr.framework.reachability:
    targets:
      - name: site1-db
        address: 10.1.2.3
        ports: [22, 5432]
      - name: site1-mgmt
        address: 10.1.2.4
        ports: [22]
  delegate_to: localhost
  run_once: true
  register: main_site_reach

- name: Name the hosts that did not answer
  ansible.builtin.debug:
    msg: "not reached: {{ main_site_reach.not_reached }}"
  when: main_site_reach.not_reached | length > 0
'''

RETURN = r'''
reachable:
  description: Names of the targets that accepted a connection on every one of their ports, sorted.
  returned: success
  type: list
  elements: str
  sample: [site1-mgmt]
not_reached:
  description:
    - One line per target that did not, naming each port that failed and why.
    - Not called C(unreachable) on purpose - Ansible takes a true C(unreachable) in any task result to mean
      that the host running the task is unreachable, and that host is the controller here.
  returned: success
  type: dict
  sample:
    site1-db: "no answer on 10.1.2.3:22 within 1.0 s; 10.1.2.3:5432 refused the connection"
ports:
  description:
    - "For every target, what each port did, keyed by the port number as a string: V(open), V(timeout),
      V(refused), or V(error: ) followed by the system's message (for example V(error: No route to host)
      or V(error: name resolution failed: ...))."
  returned: success
  type: dict
  sample:
    site1-db: {"22": timeout, "5432": refused}
    site1-mgmt: {"22": open}
elapsed:
  description: Seconds the whole check took.
  returned: success
  type: float
  sample: 1.002
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.genesys_dr.framework.plugins.module_utils.reachability import ARGUMENT_SPEC, run_check


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    failed, result = run_check(module.params)
    if failed:
        module.fail_json(msg=failed)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
