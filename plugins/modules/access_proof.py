#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: access_proof
short_description: Prove in one step that a procedure can reach a host, log in to its databases and sign DNS updates
version_added: 0.3.0
description:
  - The access proof a DR procedure makes on every host it will change, before its first change, in one
    task round per host (three separate tasks cost three).
  - On the host, one module run. With O(db), M(genesys_dr.framework.pg_ping) logs in to each of
    O(db.databases); its run on the host also proves SSH and Python. Without O(db),
    M(ansible.builtin.ping).
  - With O(dns), first and on the controller, the reads M(genesys_dr.framework.dr_state) makes with
    C(action=read) - the zone's SOA serial, the DR state record and the lock record, every query signed with
    the TSIG key of O(dns.key_file). A failure there fails the task before the host is contacted. Give
    O(dns) on one host of the play (the key is the same for all).
  - A host that cannot be reached over SSH is reported unreachable, as by M(ansible.builtin.ping).
  - A failure message starts with the proof that failed - C(Reach over SSH and run Python on <host>),
    C(Log in as the DB admin to the databases of <host>) or
    C(Read the DR state from the DNS primary with a TSIG-signed query) - followed by the error.
  - This is an action plugin; the DNS part runs on the controller.
attributes:
  check_mode:
    support: full
    description: It only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
options:
  db:
    description:
      - The DB admin login to prove on this host. Leave out on hosts without databases.
    type: dict
    suboptions:
      login_host:
        description: Address of the PostgreSQL server, as seen from the host.
        type: str
        required: true
      login_port:
        description: Port of the PostgreSQL server.
        type: int
        default: 5432
      login_user:
        description: The DB admin role.
        type: str
        required: true
      login_password:
        description: Its password. Never shown in output.
        type: str
      databases:
        description: Every database to log in to, in this order.
        type: list
        elements: str
        required: true
      require_superuser:
        description: Fail when O(db.login_user) is not a superuser.
        type: bool
        default: false
      connect_timeout:
        description: Seconds to wait for each connection (the default of M(genesys_dr.framework.pg_ping) when left out).
        type: int
  dns:
    description:
      - The TSIG-signed read of the DR state to prove from the controller.
    type: dict
    suboptions:
      server:
        description: The zone's primary server.
        type: str
        required: true
      port:
        description: Its port.
        type: int
        default: 53
      zone:
        description: The zone holding the master record, the DR state and the lock.
        type: str
        required: true
      key_file:
        description: The TSIG key file on the controller (a BIND C(key) statement).
        type: path
        required: true
      key_name:
        description: The key to use when O(dns.key_file) holds several.
        type: str
      state_name:
        description: Name of the DR state TXT record.
        type: str
        required: true
      lock_name:
        description: Name of the DR lock TXT record.
        type: str
      timeout:
        description: Seconds to wait for each answer.
        type: float
        default: 10.0
      protocol:
        description: Transport of the queries.
        type: str
        choices: [tcp, udp]
        default: tcp
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Prove the connections and credentials of every host this procedure changes
  genesys_dr.framework.access_proof:
    db: "{{ db_login if inventory_hostname in groups['db_hosts'] else omit }}"
    dns: "{{ dns_read if inventory_hostname == ansible_play_hosts | first else omit }}"
  vars:
    db_login:
      login_host: "{{ genesys_host_address }}"
      login_port: "{{ genesys_db_port }}"
      login_user: "{{ genesys_db_admin_user }}"
      login_password: "{{ genesys_db_admin_password }}"
      databases: [cfgdb, logdb]
      require_superuser: true
    dns_read:
      server: "{{ genesys_dns_primary }}"
      zone: "{{ genesys_zone }}"
      key_file: "{{ genesys_tsig_key_file }}"
      state_name: "{{ genesys_dr_state_name }}"
      lock_name: "{{ genesys_dr_lock_name }}"
'''

RETURN = r'''
proof:
  description: What was proven on this host (C(host) - SSH and Python, C(db) - also the DB admin login), or what failed (also C(dns)).
  returned: always
  type: str
  sample: db
databases:
  description: The databases the DB admin login was proven on.
  returned: when O(db) was given and the login succeeded
  type: list
  elements: str
  sample: [cfgdb, logdb]
superuser:
  description: Whether the DB admin role is a superuser.
  returned: when O(db) was given and the login succeeded
  type: bool
dns:
  description: What the signed reads returned.
  returned: when O(dns) was given and the reads succeeded
  type: dict
  contains:
    serial:
      description: The zone's SOA serial at the primary.
      type: int
    records:
      description: The TXT strings of the state and lock records, by the name given (an empty list when absent).
      type: dict
  sample: {"serial": 2026112601, "records": {"dr-state": ["state=NORMAL", "live_site=site1"], "dr-lock": []}}
msg:
  description: What was proven, or what failed and why.
  returned: always
  type: str
'''
