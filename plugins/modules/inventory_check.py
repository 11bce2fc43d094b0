#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: inventory_check
short_description: Check the whole DR inventory once, on the controller, before anything changes
version_added: 0.3.0
description:
  - Runs every check of the C(genesys_dr.framework.preflight) role in one step on the controller. It reads
    every host's variables through C(hostvars) (the hosts of the play) and the groups through C(groups),
    and looks at the TSIG key file on the controller. No host is contacted; call it with C(run_once).
  - The checks run in stages, in the order they depend on each other - values that refer to an undefined
    variable (a vault not loaded) for the deployment, then per host; the deployment-wide values, then the
    host values against the types of the role's C(inventory) entry point; the options of every role that
    the hosts' variables set (O(role_specs_dir)); the deployment-wide values and
    the groups; the TSIG key file; each host's site and address (and, on a run through Mitogen, the
    Mitogen SSH keepalive of each host it logs into, see below); host and controller agreeing on the
    deployment-wide values; the applications of management and proxy hosts. The first stage with a
    problem stops the check; the later stages are not evaluated (they would read values already known bad).
  - A stage's problems are one line per host (one line for the deployment), each starting with
    C(Inventory check failed for) and the host, and ending with C(Nothing was changed.)
  - Secret values (C(genesys_db_admin_password), the TSIG secret) are tested, never put into a message or
    the result; only the algorithm names are read from the key file.
  - When the run's tasks go through Mitogen (E(GENESYS_DR_MITOGEN=true), the C(genesys_dr.framework.fail_stop)
    strategy), every DB, management and proxy host must set C(mitogen_ssh_keepalive_interval) and
    C(mitogen_ssh_keepalive_count) to positive integers whose product is at most 10 (seconds). Mitogen's
    own keepalive (30 s times 10 unless set) comes before the C(ServerAlive) options of
    C(ansible_ssh_common_args) and wins, so a host lost under an open connection would hold a step for
    minutes.
  - This is an action plugin; it runs on the controller only.
attributes:
  check_mode:
    support: full
    description: It only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
options:
  interface:
    description:
      - The inventory interface, the C(options) of the C(inventory) entry point of the preflight role's
        C(meta/argument_specs.yml).
    type: dict
    required: true
  host_vars:
    description: Names of the interface values that belong to one host; every other one is deployment-wide.
    type: list
    elements: str
    required: true
  deployment_vars:
    description: Deployment-wide values every host and the controller (C(localhost)) must agree on.
    type: list
    elements: str
    required: true
  unvalidated_vars:
    description: Interface values left out of the type check (a secret, checked for being set only).
    type: list
    elements: str
    default: []
  groups:
    description: Inventory groups the roles and playbooks target; each must exist.
    type: list
    elements: str
    required: true
  patterns:
    description: Regular expressions of the value shapes.
    type: dict
    required: true
    suboptions:
      ipv4:
        description: An IPv4 address.
        type: str
        required: true
      ipv6:
        description: An IPv6 address.
        type: str
        required: true
      host_name:
        description: A DNS host name.
        type: str
        required: true
      owner_name:
        description: A DNS record owner name (underscores allowed).
        type: str
        required: true
      app_name:
        description: An application directory name.
        type: str
        required: true
  app_roles:
    description: Roles an application may have in its pair.
    type: list
    elements: str
    required: true
  tsig_algorithms:
    description: TSIG algorithms the DNS modules sign with.
    type: list
    elements: str
    required: true
  required_components:
    description:
      - Per host kind (C(management), C(proxy)), the applications the host must list, as C(component/role)
        (exactly one) or a bare C(component) (at least one).
    type: dict
    required: true
  host_components:
    description: Per host kind (C(management), C(proxy)), the components a host of that kind may list.
    type: dict
    required: true
  role_specs_dir:
    description:
      - A directory of roles (the collection's C(roles)). Every option of every entry point of their
        C(meta/argument_specs.yml) that a host's variables set (the inventory, extra vars) is checked
        against its type, before anything changes; an option of the inventory interface is left to
        the stages above. The procedure playbooks import their roles with O(ansible.builtin.import_role#module:rolespec_validate=false)
        and rely on this check instead of a validation task at every import.
      - Omitted, the role options are not checked.
    type: path
    version_added: 0.3.0
  fail_on_problems:
    description:
      - Fail when a stage has a problem, with the stage's title (O(stage_titles)) and its lines as the message.
        With V(false) the result carries the problems and the caller decides.
    type: bool
    default: true
  stage_titles:
    description:
      - A title per stage (the keys of RV(problems)). A failure's message starts with the failing stage's title
        and a colon on a line of its own; a stage without a title gives only its lines.
    type: dict
    default: {}
    version_added: 0.3.0
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Check the inventory once, on the controller
  genesys_dr.framework.inventory_check:
    interface: "{{ (lookup('ansible.builtin.file', 'roles/preflight/meta/argument_specs.yml') | from_yaml).argument_specs.inventory.options }}"
    host_vars: [genesys_site, genesys_host_address, genesys_app_base, genesys_apps]
    deployment_vars: [genesys_main_site, genesys_secondary_site, genesys_zone, genesys_db_port]
    unvalidated_vars: [genesys_db_admin_password]
    groups: [genesys_sites, db_hosts, management_hosts, proxy_hosts, dns_primary, dns_servers]
    patterns:
      ipv4: '^([0-9]{1,3}\.){3}[0-9]{1,3}$'
      ipv6: '^(?=.*:.*:)[0-9A-Fa-f:]{2,39}$'
      host_name: '^[A-Za-z0-9.-]+$'
      owner_name: '^[A-Za-z0-9_.-]+$'
      app_name: '^[^/\s]+$'
    app_roles: [primary, backup]
    tsig_algorithms: [hmac-sha256, hmac-sha512]
    required_components:
      management: [master_cs/primary, master_cs/backup, master_scs/primary, scs_message_server/primary]
      proxy: [proxy/primary]
    host_components:
      management: [master_cs, master_scs, scs_message_server]
      proxy: [proxy, site_scs, log_message_server]
  run_once: true
  register: inventory
'''

RETURN = r'''
problems:
  description:
    - The failure lines of each stage that was evaluated, in order; the first stage with lines is the last key.
    - Stages are V(left_play) (hosts of the play that failed an earlier task of it, such as Ansible's argument
      check of the role that runs this check), V(unresolved_deployment), V(unresolved_host), V(deployment_types), V(host_types), V(role_options), V(deployment),
      V(tsig_key), V(tsig_algorithm), V(host), V(agree), V(applist), V(app), V(components).
  returned: always
  type: dict
  sample:
    left_play: []
    unresolved_deployment: []
    unresolved_host: []
    deployment_types: []
    host_types: ["Inventory check failed for west-ns-01: missing required arguments: genesys_host_address. Nothing was changed."]
failed_stage:
  description: The stage that found a problem; V(null) when the inventory passed.
  returned: always
  type: str
  sample: host_types
site_groups:
  description: The site groups, the C(genesys_site) values of the hosts under C(genesys_sites), first seen first.
  returned: always (empty when a stage before the deployment-wide checks failed)
  type: list
  elements: str
  sample: [dc_east, dc_west, branch_north]
dr_roles:
  description: Each host of the play and its DR role (V(dr_main), V(dr_secondary) or V(dr_other)); empty on a problem.
  returned: always
  type: dict
  sample: {east-mgmt-01: dr_main, west-mgmt-01: dr_secondary, north-app-01: dr_other}
msg:
  description:
    - The failing stage's title (from O(stage_titles)) and lines, one per line, or a one-line summary when the
      inventory passed.
    - With C(-vv) the problems of every stage are shown as well.
  returned: always
  type: str
'''
