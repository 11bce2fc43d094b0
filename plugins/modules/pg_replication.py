#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_replication
short_description: Manage PostgreSQL logical replication between sites (publications, subscriptions, slots)
version_added: 0.1.0
description:
  - Manages one object of PostgreSQL 15 logical replication, chosen by O(type).
  - O(type=publication) manages a publication of the database the module connects to
    (O(login_db)) - all tables or listed tables, a row filter per table, the published
    operations. An existing publication is compared with the wanted one (tables, row filters
    as PostgreSQL deparses them, operations) and changed in place, in one transaction.
  - O(type=subscription) manages a subscription of the subscriber database the module
    connects to, fed by the publisher described by O(publisher). The module also connects to
    the publisher itself, to create and drop replication slots and to measure lag.
  - O(type=slot) drops a replication slot by name on the database the module connects to
    (a publisher), for example the slot a subscription left behind while its publisher was unreachable
    (RV(orphaned_slots)).
  - Subscription states. V(running) - exists, enabled, its apply worker streams. V(stopped) - exists,
    disabled, no slot attached and no slot of it left on the publisher retaining WAL. V(absent) - dropped, its slots too.
  - Starting a subscription that has no stream (creating it, or starting it from V(stopped)) with
    O(copy_data=false) attaches a fresh slot created on the publisher at its current WAL position.
    B(Nothing the publisher committed while the subscription was stopped is replayed) - use this only
    when both sides are known to be identical (for example after a catch-up, before the publisher
    accepts writes). With O(copy_data=true) the subscription is (re)created and the tables are copied
    again, the way to resynchronise after divergence.
  - Subscriber positions come from C(pg_stat_subscription) (received), C(pg_replication_origin_status)
    (applied, origin C(pg_<subscription oid>)) and C(pg_subscription_rel) (table sync); publisher
    positions from C(pg_current_wal_insert_lsn()) and the slot's C(confirmed_flush_lsn).
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description:
      - Nothing changes on either server and nothing is waited for; RV(queries) lists the statements
        that would run (on the subscriber and, marked C(/* on publisher ... */), on the publisher).
      - A publication missing on the publisher is a warning, not a failure (an earlier task of the same check
        run would create it).
  diff_mode:
    support: full
    description: Definition and status of the object before and after.
options:
  type:
    description:
      - Kind of object managed.
    type: str
    required: true
    choices: [publication, subscription, slot]
  name:
    description:
      - Name of the publication, subscription or replication slot.
    type: str
    required: true
  state:
    description:
      - For a publication V(present) or V(absent).
      - For a subscription V(running), V(stopped) or V(absent).
      - For a slot only V(absent).
    type: str
    required: true
    choices: [present, absent, running, stopped]
  all_tables:
    description:
      - O(type=publication) - publish every table of the database (C(FOR ALL TABLES)).
      - With O(state=present) one of O(all_tables) and O(tables) must be given.
    type: bool
  tables:
    description:
      - O(type=publication) - the tables published (the publication's whole table list).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Table name, optionally schema-qualified (C(public.log_event)); resolved with the
            connecting role's C(search_path) otherwise.
        type: str
        required: true
      row_filter:
        description:
          - SQL boolean expression (without C(WHERE)) that a row must satisfy to be published,
            for example C(db_site = 'site1').
          - With O(publish) containing V(update) or V(delete), its columns must be part of the
            table's replica identity; the module checks this (and that every table has a replica
            identity) before changing anything, because PostgreSQL would otherwise refuse client
            UPDATE and DELETE on the publisher.
        type: str
  publish:
    description:
      - O(type=publication) - operations published.
    type: list
    elements: str
    choices: [insert, update, delete, truncate]
    default: [insert, update, delete, truncate]
  publications:
    description:
      - O(type=subscription) - publications of the publisher the subscription follows.
      - Required with O(state=running) and O(state=stopped).
    type: list
    elements: str
  publisher:
    description:
      - O(type=subscription) - how the subscriber server and this module reach the publisher
        database. The subscription's connection string is built from it, quoted safely; the
        password is never shown (C(********) in RV(queries) and returned connection strings).
      - Required with O(type=subscription).
    type: dict
    suboptions:
      host:
        description: Host name or address of the publisher.
        type: str
        required: true
      port:
        description: Port of the publisher.
        type: int
        default: 5432
      dbname:
        description: Publisher database.
        type: str
        required: true
      user:
        description:
          - Role used on the publisher, by the subscription and by this module; needs the C(REPLICATION)
            attribute (or superuser), and C(SELECT) on the published tables for O(copy_data).
        type: str
        required: true
      password:
        description: Password of O(publisher.user).
        type: str
      sslmode:
        description: libpq C(sslmode).
        type: str
        default: prefer
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      sslrootcert:
        description: CA file for O(publisher.sslmode=verify-ca) or O(publisher.sslmode=verify-full), on the subscriber host.
        type: path
      connect_timeout:
        description:
          - Seconds to wait for a connection to the publisher, by this module and by the subscription.
          - A publisher that does not answer within this time is treated as unreachable.
          - The TCP keepalive options and O(tcp_user_timeout) of the module apply to the publisher too - to this
            module's connection and to the subscription's connection string - so a publisher that stops answering
            is noticed within seconds by both.
          - Must be at least 1.
        type: int
        default: 5
  publisher_lost:
    description:
      - O(type=subscription) - the caller has already found that the publisher does not answer (for example the
        M(genesys_dr.framework.reachability) check at the start of a disaster failover). The module then does not
        try to connect to it - a lost publisher costs no O(publisher.connect_timeout) - and acts as on a failed
        connection - waits only for what the subscriber received, leaves the publisher's slot as an orphan
        (RV(orphaned_slots)), and refuses what needs the publisher (creating or starting a subscription).
    type: bool
    default: false
    version_added: 0.3.0
  terminate_holder:
    description:
      - O(type=slot), O(state=absent) - when a WAL sender holds the slot, end it (C(pg_terminate_backend)) and
        drop the slot, instead of refusing.
      - Only for a slot whose subscriber is known to be gone. After a partition, the publisher's WAL sender of a
        subscription that was stopped on the other side keeps holding its slot, unaware that its peer left,
        until C(wal_sender_timeout) or TCP notices; the slot cannot be dropped until then.
      - The WAL sender ended is returned (RV(terminated_walsender)) and named in a warning; the module waits up
        to O(worker_timeout) seconds for the slot to be free.
    type: bool
    default: false
    version_added: 0.3.0
  slot_name:
    description:
      - O(type=subscription) - name of the replication slot on the publisher when the module
        creates or attaches one. Defaults to O(name), which must then be a valid slot name
        (lower-case letters, digits, underscores).
    type: str
  copy_data:
    description:
      - O(type=subscription) - when the module starts a subscription that has no stream
        (creating it, or starting a stopped one), copy the tables' current content from the
        publisher first. A stopped subscription is then dropped and created again.
      - For a running subscription it applies only to tables newly added to its publications (picked up with
        C(REFRESH PUBLICATION)); tables already synchronised are never copied again.
      - Copying into a local table that already holds rows the copy would bring (all rows, or with a
        row filter the rows matching it) is refused unless O(truncate_before_copy=true).
      - V(false) starts from a fresh slot (see the description above).
    type: bool
    default: false
  truncate_before_copy:
    description:
      - O(type=subscription) - before a copy, empty the local tables that hold rows the copy would bring -
        C(TRUNCATE) for tables published without row filter, C(DELETE ... WHERE <row filter>) for the others.
      - Archive the content first; these rows are gone afterwards.
    type: bool
    default: false
  wait_for_catchup:
    description:
      - O(type=subscription) - wait until the subscriber has applied everything the publisher had
        committed when the wait began - the publisher's WAL insert position is read B(once, at the
        start of the wait); the wait ends when the slot's C(confirmed_flush_lsn) (the position the
        subscriber reports as applied and flushed) has reached it and every table of the
        subscription is in sync state C(ready).
      - The insert position (C(pg_current_wal_insert_lsn())) is used rather than C(pg_current_wal_lsn()),
        because it also covers transactions committed with C(synchronous_commit=off) whose WAL is not written yet.
      - If the publisher is unreachable (or is lost while waiting), the module waits instead until
        the subscriber has applied everything it received - two readings in a row, 0.2 seconds apart, find the
        apply worker outside any transaction (or exited) with its applied and received positions unchanged - and
        returns RV(publisher_reachable=false); what the subscriber never received cannot be measured then.
      - An apply worker that holds an open transaction and waits for the rest of it from the unreachable
        publisher, receiving nothing between those two readings, never gets it; the wait ends there too, with a
        warning - that transaction is not applied, it is part of what was lost with the publisher.
      - With O(state=running) the wait happens after the subscription is running; with
        O(state=stopped) or O(state=absent) before it is disabled. A subscription that is not enabled is not waited for.
      - Not done in check mode.
    type: bool
    default: false
  catchup_timeout:
    description:
      - O(type=subscription) - seconds O(wait_for_catchup) may take before the module fails,
        saying how many bytes the subscriber is behind.
    type: int
    default: 300
  max_lag_bytes:
    description:
      - O(type=subscription) - refuse (fail before changing anything) when the subscriber is more than
        this many bytes of publisher WAL behind (publisher WAL insert position minus the slot's
        C(confirmed_flush_lsn)), or when the lag cannot be measured (publisher unreachable, no slot).
      - Also refused while a table of the subscription is not yet in sync state C(ready) - its sync worker
        is still copying it, and the lag in bytes does not count those rows.
      - A coarse gate, not a proof of catch-up. While the publisher's WAL sender is still decoding a large
        transaction, an idle subscriber confirms positions inside it (it answers keepalives with the last
        position received), so that transaction may be counted only from such a position on - in the
        module's tests a committed 2000-row transaction (about 500 kB of WAL) not yet applied showed 39 kB
        to 517 kB. O(wait_for_catchup) has no such gap, as it waits for a position past the end of everything committed.
    type: int
  worker_timeout:
    description:
      - O(type=subscription) - seconds to wait for the apply worker to stream after a start, for workers
        and the publisher's WAL sender to let go after a stop, and for a fresh slot to be created on
        the publisher (which waits for running transactions there) - by this module, or by the subscriber
        server for C(CREATE SUBSCRIPTION) and C(ALTER SUBSCRIPTION ... REFRESH PUBLICATION), which talk to the
        publisher themselves and are cancelled after this time (C(statement_timeout)).
      - A worker notices within a second that its subscription was disabled, unless it is inside a transaction
        (one that the publisher never finishes sending, during a partition, or one still being applied). A worker
        still running 5 seconds (or O(worker_timeout), if shorter) after the subscription was disabled is ended
        with C(pg_terminate_backend()) - its open transaction is rolled back - and reported in
        RV(terminated_workers); the module then waits up to O(worker_timeout) for it to be gone.
    type: int
    default: 30
notes:
  - PostgreSQL 15 requires a superuser to create and alter subscriptions; O(login_user) needs it on the subscriber.
  - The subscription's tables must exist on the subscriber (same schema and name) before it is created.
  - Sequences are not replicated; see M(genesys_dr.framework.pg_access) O(genesys_dr.framework.pg_access#module:advance_sequences).
  - For bidirectional replication of the same table without loops, each side publishes only the rows
    it originated, with a row filter on a column that records the originating site, and O(publish=[insert]).
  - A stop whose publisher is unreachable leaves the slot on the publisher; it is returned in
    RV(orphaned_slots) with a warning, and dropped by a later run (O(state=stopped) or O(state=absent)
    with the publisher back) or by O(type=slot).
seealso:
  - module: genesys_dr.framework.pg_access
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Publish the whole Configuration Database
  genesys_dr.framework.pg_replication:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    type: publication
    name: cfgdb_pub
    state: present
    all_tables: true

- name: Publish only the log events this site stored first, inserts only (loop-free both ways)
  genesys_dr.framework.pg_replication:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: logdb
    type: publication
    name: logdb_pub
    state: present
    tables:
      - name: public.log_event
        row_filter: "db_site = '{{ dr_site_name }}'"
    publish: [insert]

- name: Run the main -> secondary replication of the Configuration Database, with initial copy
  genesys_dr.framework.pg_replication:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    type: subscription
    name: cfgdb_from_main
    state: running
    publications: [cfgdb_pub]
    copy_data: true
    publisher:
      host: "{{ dr_main_db_host }}"
      dbname: cfgdb
      user: genesys_dr_replicator
      password: "{{ dr_replicator_password }}"

- name: Planned failover - refuse if far behind, then wait until everything committed on main is applied
  genesys_dr.framework.pg_replication:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    type: subscription
    name: cfgdb_from_main
    state: running
    publications: [cfgdb_pub]
    publisher: "{{ dr_main_publisher }}"
    max_lag_bytes: 104857600
    wait_for_catchup: true
    catchup_timeout: 120
  register: catchup

- name: Disaster - apply what was received, then stop (no slot left behind where reachable)
  genesys_dr.framework.pg_replication:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    type: subscription
    name: cfgdb_from_main
    state: stopped
    publications: [cfgdb_pub]
    publisher: "{{ dr_main_publisher }}"
    wait_for_catchup: true
  register: drained

- name: Later, drop the slot the stop could not drop on the lost publisher
  genesys_dr.framework.pg_replication:
    login_host: "{{ dr_main_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    type: slot
    name: "{{ item }}"
    state: absent
  loop: "{{ drained.orphaned_slots }}"
'''

RETURN = r'''
initial_state:
  description:
    - The object before the run, as observed - same shape as RV(publication), RV(subscription) or RV(slot) for the O(type).
  returned: always
  type: dict
final_state:
  description:
    - The object after the run, read back (in check mode, the state before plus what would change).
  returned: always
  type: dict
publication:
  description: The publication after the run.
  returned: when O(type=publication)
  type: dict
  contains:
    name:
      description: Publication name.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    all_tables:
      description: Whether it is C(FOR ALL TABLES).
      type: bool
    publish:
      description: Operations published.
      type: list
      elements: str
      sample: [insert]
    tables:
      description: Tables listed explicitly, with the row filter as PostgreSQL deparses it (null when none).
      type: list
      elements: dict
      sample: [{name: public.log_event, row_filter: "(db_site = 'site1'::text)"}]
    schemas:
      description: Schemas published with C(FOR TABLES IN SCHEMA) (the module replaces them with O(tables)).
      type: list
      elements: str
    owner:
      description: Owner role.
      type: str
subscription:
  description: The subscription after the run (in check mode, before plus what would change).
  returned: when O(type=subscription)
  type: dict
  contains:
    name:
      description: Subscription name.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    status:
      description:
        - V(running), V(stopped), V(absent), or what stands in between - V(enabled_not_streaming)
          (enabled, no worker streaming), V(disabled_with_slot) (disabled but a slot still attached).
      type: str
    enabled:
      description: Whether it is enabled.
      type: bool
    slot_name:
      description: Slot attached (null when none).
      type: str
    publications:
      description: Publications it follows.
      type: list
      elements: str
    conninfo:
      description: Its connection string, password masked.
      type: str
    oid:
      description: Its object id (its replication origin is C(pg_<oid>)).
      type: int
    worker_pid:
      description: Process id of the apply worker (null when none).
      type: int
    streaming:
      description: Whether the apply worker has started streaming (it received data, or waits for it in its main loop).
      type: bool
    received_lsn:
      description: Last WAL position received by the apply worker (null without worker).
      type: str
    latest_end_lsn:
      description: Last WAL position reported back to the publisher's WAL sender.
      type: str
    applied_lsn:
      description: Publisher position of the last transaction applied (replication origin C(remote_lsn)).
      type: str
    tables:
      description: Per table, its sync state (V(init), V(data_copy), V(finished_copy), V(sync_done), V(ready)).
      type: list
      elements: dict
      sample: [{name: public.cfg_person, state: ready}]
    apply_error_count:
      description: Errors of the apply worker since statistics were reset (C(pg_stat_subscription_stats)).
      type: int
    sync_error_count:
      description: Errors of table sync workers since statistics were reset.
      type: int
publisher_reachable:
  description: Whether the module could connect to the publisher.
  returned: when O(type=subscription)
  type: bool
publisher_lsn:
  description: WAL insert position of the publisher at the end of the run (null when unreachable).
  returned: when O(type=subscription)
  type: str
slot:
  description:
    - With O(type=subscription), the subscription's slot on the publisher (null when the publisher is unreachable);
      with O(type=slot), the slot managed.
  returned: when O(type=subscription) or O(type=slot)
  type: dict
  contains:
    name:
      description: Slot name.
      type: str
    exists:
      description: Whether the slot exists.
      type: bool
    active:
      description: Whether a WAL sender uses it.
      type: bool
    active_pid:
      description: Process id of that WAL sender.
      type: int
    slot_type:
      description: V(logical) or V(physical).
      type: str
    database:
      description: Database of a logical slot.
      type: str
    confirmed_flush_lsn:
      description: Position the subscriber confirmed as applied and flushed.
      type: str
    restart_lsn:
      description: Oldest WAL position the slot retains.
      type: str
    retained_bytes:
      description: WAL bytes the slot keeps on the publisher.
      type: int
terminated_walsender:
  description:
    - O(type=slot) with O(terminate_holder=true) - the WAL sender the module ended because it held the slot
      (from C(pg_stat_replication)); null when none held it.
  returned: when O(type=slot)
  type: dict
  sample: {"pid": 27061, "client_addr": "198.18.2.10", "application_name": "genesys_cfgdb_from_site1",
           "state": "streaming", "reply_time": "2026-11-26 04:40:02.118+00"}
lag_bytes:
  description:
    - Publisher WAL insert position minus the slot's C(confirmed_flush_lsn), at the end of the run;
      null when it cannot be measured (publisher unreachable, no slot).
  returned: when O(type=subscription)
  type: int
catchup:
  description: Result of O(wait_for_catchup).
  returned: when O(type=subscription) and O(wait_for_catchup=true)
  type: dict
  contains:
    mode:
      description:
        - V(publisher) (waited for the publisher's position), V(received) (publisher unreachable - waited until
          what was received is applied) or V(skipped) (subscription not enabled, or check mode).
      type: str
    target_lsn:
      description: Publisher WAL insert position read at the start of the wait (null unless mode is V(publisher)).
      type: str
    confirmed_flush_lsn:
      description: Slot position reached (null unless mode is V(publisher)).
      type: str
    applied_lsn:
      description: Subscriber applied position at the end of the wait.
      type: str
    received_lsn:
      description: Last position the subscriber had received (null if its worker had exited).
      type: str
    seconds:
      description: Time waited.
      type: float
orphaned_slots:
  description: Slots of the subscription left on an unreachable publisher (drop them later, see O(type=slot)).
  returned: when O(type=subscription)
  type: list
  elements: str
terminated_workers:
  description:
    - Process ids of the subscription's workers that had not exited a few seconds after it was disabled and were
      ended with C(pg_terminate_backend()) (see O(worker_timeout)); empty when every worker went by itself.
  returned: when O(type=subscription)
  type: list
  elements: int
  sample: [48213]
ended_idle_workers:
  description:
    - With O(publisher_lost), process ids of apply workers ended (C(pg_terminate_backend())) right after the subscription
      was disabled because they slept outside a transaction, waiting for the lost publisher - having applied all
      they had received. Such a worker would notice the disabling only at its next wake-up, up to a second later.
      A worker inside a transaction is never ended this way (see RV(terminated_workers)).
  returned: when O(type=subscription)
  type: list
  elements: int
  sample: [48214]
  version_added: 0.3.0
queries:
  description: Statements that changed something (in check mode, that would have); passwords masked.
  returned: always
  type: list
  elements: str
  sample:
    - ALTER SUBSCRIPTION "cfgdb_from_main" DISABLE
    - ALTER SUBSCRIPTION "cfgdb_from_main" SET (slot_name = NONE)
    - /* on publisher genesys_dr_replicator@db1:5432/cfgdb */ SELECT pg_catalog.pg_drop_replication_slot('cfgdb_from_main')
'''

import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.genesys_dr.framework.plugins.module_utils.waiting import pauses
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    SSL_MODES,
    UNREACHABLE,
    PgConnectionError,
    build_conninfo,
    connect,
    connection_bound_errors,
    dead_peer_params,
    describe_target,
    exec_sql,
    int_to_lsn,
    lsn_to_int,
    mask_secrets,
    open_connection,
    parse_conninfo,
    pgsql,
    postgres_common_argument_spec,
    psycopg2,
    query_dicts,
    query_rows,
)

STATES_BY_TYPE = dict(publication=['present', 'absent'], subscription=['running', 'stopped', 'absent'], slot=['absent'])
PUBLISH_OPERATIONS = ['insert', 'update', 'delete', 'truncate']
SUBREL_STATES = dict(i='init', d='data_copy', f='finished_copy', s='sync_done', r='ready')
SLOT_NAME_RE = re.compile(r'^[a-z0-9_]{1,63}$')
POLL_SECONDS = 0.2
# Readings, POLL_SECONDS apart, of an idle apply worker with nothing moving that end a drain.
IDLE_READINGS = 2
# How long workers get to exit by themselves after their subscription is disabled; an idle worker rereads its
# subscription every second.
STOP_GRACE_SECONDS = 5.0
# Size of the WAL page header that pg_current_wal_insert_lsn() counts when the last record ends
# exactly at a page (or segment) boundary; no record can end there, so it is taken off.
SHORT_PAGE_HEADER = 24
LONG_PAGE_HEADER = 40
VOLATILE_KEYS = ('worker_pid', 'streaming', 'received_lsn', 'latest_end_lsn', 'applied_lsn', 'active_pid', 'confirmed_flush_lsn',
                 'restart_lsn', 'retained_bytes', 'apply_error_count', 'sync_error_count')


def stable_view(state):
    """What diff shows: the definition and status, not positions that move by themselves."""
    return dict((k, v) for k, v in state.items() if k not in VOLATILE_KEYS)


class Publication(object):
    def __init__(self, module, conn):
        self.module = module
        self.conn = conn
        self.cursor = conn.cursor()
        self.executed_queries = []
        self.name = module.params['name']
        self.changed = False

    def observe(self):
        rows = query_dicts(self, (
            'SELECT oid, puballtables AS all_tables, pubinsert, pubupdate, pubdelete, pubtruncate,'
            ' pg_catalog.pg_get_userbyid(pubowner) AS owner FROM pg_catalog.pg_publication WHERE pubname = %s'), (self.name,))
        if not rows:
            return dict(name=self.name, exists=False, all_tables=False, publish=[], tables=[], schemas=[], owner=None)
        pub = rows[0]
        return dict(
            name=self.name, exists=True, all_tables=pub['all_tables'], owner=pub['owner'],
            publish=[op for op in PUBLISH_OPERATIONS if pub['pub' + op]],
            tables=self._tables(pub['oid']),
            schemas=[r[0] for r in query_rows(self, (
                'SELECT n.nspname FROM pg_catalog.pg_publication_namespace pn JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid'
                ' WHERE pn.pnpubid = %s ORDER BY 1'), (pub['oid'],))])

    def _tables(self, pub_oid):
        return [dict(name=r[0], row_filter=r[1]) for r in query_rows(self, (
            "SELECT n.nspname || '.' || c.relname, pg_catalog.pg_get_expr(pr.prqual, pr.prrelid)"
            ' FROM pg_catalog.pg_publication_rel pr JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid'
            ' JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE pr.prpubid = %s ORDER BY 1'), (pub_oid,))]

    def _resolve_tables(self):
        resolved = []
        for table in self.module.params['tables'] or []:
            rows = query_rows(self, (
                'SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'
                " WHERE c.oid = pg_catalog.to_regclass(%s) AND c.relkind IN ('r', 'p')"), (table['name'],))
            if not rows:
                self.module.fail_json(msg='table %s of publication %s does not exist in database %s (or is not a table): create it or fix tables[].name' % (
                    table['name'], self.name, self.conn.info.dbname))
            resolved.append(dict(schema=rows[0][0], table=rows[0][1], row_filter=table.get('row_filter')))
        return resolved

    def _target_sql(self, name, tables):
        """CREATE PUBLICATION statement for the wanted definition under the given name."""
        return pgsql.SQL('CREATE PUBLICATION {name} {target} WITH (publish = {publish})').format(
            name=pgsql.Identifier(name), target=self._target_clause(tables), publish=pgsql.Literal(', '.join(self.module.params['publish'])))

    def _target_clause(self, tables):
        if self.module.params['all_tables']:
            return pgsql.SQL('FOR ALL TABLES')
        if not tables:
            return pgsql.SQL('')
        return pgsql.SQL('FOR ') + self._table_list(tables)

    @staticmethod
    def _table_list(tables):
        items = []
        for t in tables:
            item = pgsql.SQL('TABLE {t}').format(t=pgsql.Identifier(t['schema'], t['table']))
            if t['row_filter']:
                item = item + pgsql.SQL(' WHERE ({f})').format(f=pgsql.SQL(t['row_filter']))
            items.append(item)
        return pgsql.SQL(', ').join(items)

    def desired(self):
        """The wanted definition, normalised by PostgreSQL itself.

        The wanted publication is created under a probe name inside a transaction that is rolled
        back: PostgreSQL validates the row filters and deparses them the way it stores them, and
        client UPDATE/DELETE are tried (WHERE false) to prove they would still be allowed.
        """
        tables = self._resolve_tables()
        probe = 'genesys_dr_probe_%d' % self.conn.get_backend_pid()
        publish = self.module.params['publish']
        self.cursor.execute('BEGIN')
        try:
            try:
                self.cursor.execute(self._target_sql(probe, tables))
            except psycopg2.Error as e:
                self.module.fail_json(msg='the wanted definition of publication %s is not valid: %s. Fix tables[].row_filter or tables[].name' % (
                    self.name, to_native(e).strip()))
            oid = query_rows(self, 'SELECT oid FROM pg_catalog.pg_publication WHERE pubname = %s', (probe,))[0][0]
            normalised = [] if self.module.params['all_tables'] else self._tables(oid)
            self._check_client_writes(oid, publish)
        finally:
            self.cursor.execute('ROLLBACK')
        return dict(name=self.name, exists=True, all_tables=bool(self.module.params['all_tables']),
                    publish=[op for op in PUBLISH_OPERATIONS if op in publish], tables=normalised, schemas=[]), tables

    def _check_client_writes(self, probe_oid, publish):
        operations = [op for op in ('update', 'delete') if op in publish]
        if not operations:
            return
        published = query_rows(self, (
            "SELECT pg_catalog.quote_ident(schemaname) || '.' || pg_catalog.quote_ident(tablename),"
            ' (SELECT pg_catalog.quote_ident(attname) FROM pg_catalog.pg_attribute'
            '   WHERE attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident(schemaname) || \'.\' || pg_catalog.quote_ident(tablename))'
            '   AND attnum > 0 AND NOT attisdropped ORDER BY attnum LIMIT 1)'
            ' FROM pg_catalog.pg_publication_tables WHERE pubname = (SELECT pubname FROM pg_catalog.pg_publication WHERE oid = %s)'), (probe_oid,))
        for table, column in published:
            statements = []
            if 'update' in operations and column:
                statements.append('UPDATE %s SET %s = %s WHERE false' % (table, column, column))
            if 'delete' in operations:
                statements.append('DELETE FROM %s WHERE false' % table)
            for statement in statements:
                self.cursor.execute('SAVEPOINT genesys_dr_probe')
                try:
                    self.cursor.execute(statement)
                except psycopg2.Error as e:
                    self.cursor.execute('ROLLBACK TO SAVEPOINT genesys_dr_probe')
                    self.module.fail_json(msg=(
                        'publication %s as wanted would make PostgreSQL refuse client %s on table %s: %s. '
                        'Give the table a replica identity covering the row filter columns (primary key or REPLICA IDENTITY), '
                        'or publish only insert/truncate') % (self.name, statement.split()[0], table, to_native(e).strip()))
                self.cursor.execute('RELEASE SAVEPOINT genesys_dr_probe')

    def _run(self, query, check_mode):
        exec_sql(self, query, dont_exec=check_mode)
        self.changed = True

    def converge(self, initial, check_mode):
        state = self.module.params['state']
        if state == 'absent':
            if initial['exists']:
                self._run(pgsql.SQL('DROP PUBLICATION {n}').format(n=pgsql.Identifier(self.name)), check_mode)
            return dict(name=self.name, exists=False, all_tables=False, publish=[], tables=[], schemas=[], owner=None)
        wanted, tables = self.desired()
        wanted['owner'] = initial['owner'] or self.conn.info.user
        statements = []
        if not initial['exists']:
            statements.append(self._target_sql(self.name, tables))
        elif initial['all_tables'] != wanted['all_tables'] or (not tables and not wanted['all_tables'] and (initial['tables'] or initial['schemas'])):
            # ALTER PUBLICATION can neither switch FOR ALL TABLES on or off nor empty the table list.
            statements.append(pgsql.SQL('DROP PUBLICATION {n}').format(n=pgsql.Identifier(self.name)))
            statements.append(self._target_sql(self.name, tables))
        else:
            if not wanted['all_tables'] and (initial['tables'] != wanted['tables'] or initial['schemas']):
                statements.append(pgsql.SQL('ALTER PUBLICATION {n} SET {t}').format(n=pgsql.Identifier(self.name), t=self._table_list(tables)))
            if initial['publish'] != wanted['publish']:
                statements.append(pgsql.SQL('ALTER PUBLICATION {n} SET (publish = {p})').format(
                    n=pgsql.Identifier(self.name), p=pgsql.Literal(', '.join(wanted['publish']))))
        if statements:
            # One transaction: a subscriber never sees the publication missing or half changed.
            if not check_mode:
                self.cursor.execute('BEGIN')
            for statement in statements:
                self._run(statement, check_mode)
            if not check_mode:
                self.cursor.execute('COMMIT')
        return wanted


class Slot(object):
    """A replication slot of the server the module connects to (type=slot)."""

    def __init__(self, module, conn):
        self.module = module
        self.cursor = conn.cursor()
        self.executed_queries = []
        self.name = module.params['name']
        self.changed = False
        self.terminated = None

    def observe(self):
        rows = query_dicts(self, SLOT_QUERY, (self.name,))
        return slot_view(self.name, rows[0] if rows else None)

    def converge(self, initial, check_mode):
        if not initial['exists']:
            return initial
        if initial['active']:
            if not self.module.params['terminate_holder']:
                self.module.fail_json(msg=(
                    'replication slot %s is in use by WAL sender pid %s: stop or drop the subscription that streams from it first '
                    '(or, if that subscriber is gone, set terminate_holder)') % (self.name, initial['active_pid']), initial_state=initial)
            self.terminate_holder(initial, check_mode)
        exec_sql(self, 'SELECT pg_catalog.pg_drop_replication_slot(%s)', (self.name,), return_rows=True, dont_exec=check_mode)
        self.changed = True
        return slot_view(self.name, None)

    def terminate_holder(self, initial, check_mode):
        """End the WAL sender that holds the slot and wait (worker_timeout) until the slot is free."""
        pid = initial['active_pid']
        rows = query_dicts(self, ('SELECT pid, client_addr::text AS client_addr, application_name, state, reply_time::text AS reply_time'
                                  ' FROM pg_catalog.pg_stat_replication WHERE pid = %s'), (pid,))
        self.terminated = rows[0] if rows else dict(pid=pid, client_addr=None, application_name=None, state=None, reply_time=None)
        self.module.warn('ending WAL sender pid %s (client %s, last reply %s) that holds replication slot %s (terminate_holder)' % (
            pid, self.terminated['client_addr'], self.terminated['reply_time'], self.name))
        exec_sql(self, 'SELECT pg_catalog.pg_terminate_backend(%s)', (pid,), return_rows=True, dont_exec=check_mode)
        self.changed = True
        if check_mode:
            return
        deadline = time.monotonic() + self.module.params['worker_timeout']
        while self.observe()['active']:
            if time.monotonic() >= deadline:
                self.module.fail_json(msg='replication slot %s is still held %d s after its WAL sender pid %s was ended' % (
                    self.name, self.module.params['worker_timeout'], pid), initial_state=initial, terminated_walsender=self.terminated)
            time.sleep(POLL_SECONDS)


SLOT_QUERY = (
    'SELECT slot_name, slot_type, database, active, active_pid, restart_lsn::text, confirmed_flush_lsn::text,'
    ' pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes'
    ' FROM pg_catalog.pg_replication_slots WHERE slot_name = %s')


def slot_view(name, row):
    if row is None:
        return dict(name=name, exists=False, active=False, active_pid=None, slot_type=None, database=None,
                    confirmed_flush_lsn=None, restart_lsn=None, retained_bytes=None)
    return dict(name=name, exists=True, active=row['active'], active_pid=row['active_pid'], slot_type=row['slot_type'],
                database=row['database'], confirmed_flush_lsn=row['confirmed_flush_lsn'], restart_lsn=row['restart_lsn'],
                retained_bytes=row['retained_bytes'])


class PublisherLost(Exception):
    pass


class Publisher(object):
    """This module's own connection to the publisher of a subscription."""

    def __init__(self, module, executed_queries):
        self.module = module
        params = module.params['publisher']
        self.kw = dict((k, params[k]) for k in ('host', 'port', 'dbname', 'user', 'password', 'sslmode', 'sslrootcert', 'connect_timeout')
                       if params.get(k) not in (None, ''))
        # The same bounds for this module's connection and for the subscription's workers (its connection string).
        self.kw.update(dead_peer_params(module.params))
        self.secrets = [params.get('password')]
        self.target = describe_target(self.kw)
        self.executed_queries = executed_queries
        self.conn = None
        self.cursor = None
        self.reachable = None
        self.error = None
        self._sizes = None

    def conninfo(self, masked=False):
        return build_conninfo(self.kw, mask_password=masked)

    def give_up(self):
        """The caller found the publisher lost: no connection attempt, as if it had failed."""
        self.reachable = False
        self.error = 'not contacted: the publisher at %s was reported lost by the caller (publisher_lost)' % self.target

    def connect(self):
        try:
            self.conn = open_connection(self.kw, 'the publisher', self.secrets)
        except PgConnectionError as e:
            if e.kind != UNREACHABLE:
                self.module.fail_json(msg=e.msg)
            self.reachable = False
            self.error = e.msg
            return False
        self.cursor = self.conn.cursor()
        self.reachable = True
        return True

    def _lost(self, error):
        self.reachable = False
        self.error = 'lost the connection to the publisher at %s: %s' % (self.target, mask_secrets(to_native(error).strip(), self.secrets))
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        raise PublisherLost(self.error)

    def read(self, query, params=None):
        """Rows as dicts; PublisherLost when the publisher went away."""
        if not self.reachable:
            raise PublisherLost(self.error)
        try:
            self.cursor.execute(query, params)
            names = [d[0] for d in self.cursor.description]
            return [dict(zip(names, row)) for row in self.cursor.fetchall()]
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            self._lost(e)
        except psycopg2.Error as e:
            self.module.fail_json(msg='reading from the publisher at %s failed: %s. Check the privileges of publisher.user there' % (
                self.target, mask_secrets(to_native(e).strip(), self.secrets)))
        return None

    def run(self, query, params=None, check_mode=False):
        text = '/* on publisher %s */ %s' % (self.target, to_native(self.cursor.mogrify(query, params)))
        return exec_sql(self, query, params, return_rows=True, dont_exec=check_mode, query_text=text)

    def insert_lsn(self):
        """The publisher's WAL insert position, as a byte position."""
        if self._sizes is None:
            row = self.read("SELECT current_setting('wal_block_size')::int AS block,"
                            " pg_catalog.pg_size_bytes(current_setting('wal_segment_size')) AS segment")[0]
            self._sizes = (row['block'], row['segment'])
        pos = lsn_to_int(self.read('SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn')[0]['lsn'])
        block, segment = self._sizes
        if pos % segment == LONG_PAGE_HEADER:
            return pos - LONG_PAGE_HEADER
        if pos % block == SHORT_PAGE_HEADER:
            return pos - SHORT_PAGE_HEADER
        return pos

    def slot(self, name):
        rows = self.read(SLOT_QUERY, (name,))
        return slot_view(name, rows[0] if rows else None)

    def slots_of(self, names, suboid):
        """Logical slots of this database that belong to the subscription: by name, and its table sync slots."""
        clauses = ['slot_name = ANY(%(names)s)']
        if suboid:
            clauses.append("slot_name LIKE %(sync)s")
        rows = self.read((
            "SELECT slot_name, active, active_pid FROM pg_catalog.pg_replication_slots"
            " WHERE slot_type = 'logical' AND database = current_database() AND (" + ' OR '.join(clauses) + ') ORDER BY 1'),
            dict(names=[n for n in names if n], sync='pg\\_%d\\_sync\\_%%' % suboid if suboid else None))
        return rows

    def publications(self, names):
        return [r['pubname'] for r in self.read('SELECT pubname FROM pg_catalog.pg_publication WHERE pubname = ANY(%s)', (names,))]

    def published_tables(self, publications):
        """{'schema.table': [row filters] or None when the whole table is published}."""
        tables = {}
        for row in self.read((
                'SELECT schemaname, tablename, rowfilter FROM pg_catalog.pg_publication_tables'
                ' WHERE pubname = ANY(%s) ORDER BY 1, 2'), (publications,)):
            key = (row['schemaname'], row['tablename'])
            if row['rowfilter'] is None:
                tables[key] = None
            elif key not in tables:
                tables[key] = [row['rowfilter']]
            elif tables[key] is not None:
                tables[key].append(row['rowfilter'])
        return tables


class Subscription(object):
    def __init__(self, module, conn):
        self.module = module
        self.conn = conn
        self.cursor = conn.cursor()
        self.executed_queries = []
        self.params = module.params
        self.name = module.params['name']
        self.slot_name = module.params['slot_name'] or module.params['name']
        self.check_mode = module.check_mode
        self.changed = False
        self.publisher = Publisher(module, self.executed_queries)
        self.secrets = self.publisher.secrets
        self.orphaned_slots = []
        self.dropped_slots = set()
        self.catchup = None
        self.terminated_workers = []
        self.ended_idle_workers = []
        self.database = conn.info.dbname
        self._worker_in_transaction = False
        self._worker_waits_for_publisher = False

    # -- observation ----------------------------------------------------------------------

    def observe(self):
        rows = query_dicts(self, (
            'SELECT s.oid, s.subenabled AS enabled, s.subslotname AS slot_name, s.subpublications AS publications, s.subconninfo AS conninfo'
            ' FROM pg_catalog.pg_subscription s JOIN pg_catalog.pg_database d ON d.oid = s.subdbid'
            ' WHERE d.datname = current_database() AND s.subname = %s'), (self.name,))
        if not rows:
            return dict(name=self.name, exists=False, status='absent', enabled=False, slot_name=None, publications=[], conninfo=None,
                        oid=None, worker_pid=None, streaming=False, received_lsn=None, latest_end_lsn=None, applied_lsn=None, tables=[],
                        apply_error_count=None, sync_error_count=None)
        sub = rows[0]
        state = dict(name=self.name, exists=True, enabled=sub['enabled'], slot_name=sub['slot_name'], publications=sorted(sub['publications']),
                     conninfo=self.mask_conninfo(sub['conninfo']), oid=sub['oid'])
        state.update(self.positions(sub['oid']))
        state['tables'] = [dict(name=r[0], state=SUBREL_STATES.get(r[1], r[1])) for r in query_rows(self, (
            "SELECT n.nspname || '.' || c.relname, sr.srsubstate FROM pg_catalog.pg_subscription_rel sr"
            ' JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'
            ' WHERE sr.srsubid = %s ORDER BY 1'), (sub['oid'],))]
        errors = query_rows(self, 'SELECT apply_error_count, sync_error_count FROM pg_catalog.pg_stat_subscription_stats WHERE subid = %s', (sub['oid'],))
        state['apply_error_count'], state['sync_error_count'] = errors[0] if errors else (None, None)
        state['status'] = self.status_of(state)
        return state

    def positions(self, oid):
        worker = query_dicts(self, (
            'SELECT w.pid AS worker_pid, w.received_lsn::text AS received_lsn, w.latest_end_lsn::text AS latest_end_lsn,'
            # An idle publisher may send nothing for a while: waiting in the main apply loop also proves the stream started.
            " w.received_lsn IS NOT NULL OR a.wait_event = 'LogicalApplyMain' AS streaming,"
            ' a.backend_xid IS NOT NULL AS in_transaction,'
            " a.wait_event = 'LogicalApplyMain' AS waits_for_publisher"
            ' FROM pg_catalog.pg_stat_subscription w LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid'
            ' WHERE w.subid = %s AND w.relid IS NULL AND w.pid IS NOT NULL'), (oid,))
        applied = query_rows(self, 'SELECT remote_lsn::text FROM pg_catalog.pg_replication_origin_status WHERE external_id = %s', ('pg_%d' % oid,))
        result = worker[0] if worker else dict(worker_pid=None, received_lsn=None, latest_end_lsn=None, streaming=False, in_transaction=False,
                                               waits_for_publisher=False)
        result['applied_lsn'] = applied[0][0] if applied else None
        self._worker_in_transaction = bool(result.pop('in_transaction'))
        self._worker_waits_for_publisher = bool(result.pop('waits_for_publisher'))
        return result

    @staticmethod
    def status_of(state):
        if not state['exists']:
            return 'absent'
        if state['enabled']:
            return 'running' if state['worker_pid'] and state['streaming'] else 'enabled_not_streaming'
        return 'stopped' if state['slot_name'] is None else 'disabled_with_slot'

    def mask_conninfo(self, conninfo):
        if conninfo is None:
            return None
        try:
            params = parse_conninfo(conninfo)
        except psycopg2.ProgrammingError:
            return mask_secrets(conninfo, self.secrets)
        return build_conninfo(params, mask_password=True)

    def conninfo_differs(self, initial):
        current = query_rows(self, 'SELECT subconninfo FROM pg_catalog.pg_subscription WHERE oid = %s', (initial['oid'],))[0][0]
        try:
            current = parse_conninfo(current)
        except psycopg2.ProgrammingError:
            return True
        wanted = dict((k, to_native(v)) for k, v in self.publisher.kw.items())
        return current != wanted

    def worker_pids(self, oid):
        return [r[0] for r in query_rows(self, 'SELECT pid FROM pg_catalog.pg_stat_subscription WHERE subid = %s AND pid IS NOT NULL ORDER BY 1', (oid,))]

    # -- statements -------------------------------------------------------------------------

    def _run(self, query, params=None, query_text=None, return_rows=False):
        rows = exec_sql(self, query, params, return_rows=return_rows, dont_exec=self.check_mode, query_text=query_text)
        self.changed = True
        return rows

    def _alter(self, clause):
        self._run(pgsql.SQL('ALTER SUBSCRIPTION {n} ').format(n=pgsql.Identifier(self.name)) + pgsql.SQL(clause))

    def _create_statement(self, conninfo, enabled, copy_data):
        if enabled:
            options = pgsql.SQL('slot_name = {slot}, create_slot = true, enabled = true, copy_data = {copy}').format(
                slot=pgsql.Literal(self.slot_name), copy=pgsql.SQL('true' if copy_data else 'false'))
        else:
            options = pgsql.SQL('slot_name = NONE, create_slot = false, enabled = false, copy_data = false')
        return pgsql.SQL('CREATE SUBSCRIPTION {n} CONNECTION {c} PUBLICATION {p} WITH ({o})').format(
            n=pgsql.Identifier(self.name), c=pgsql.Literal(conninfo),
            p=pgsql.SQL(', ').join(pgsql.Identifier(p) for p in self.params['publications']), o=options)

    def _run_talking_to_publisher(self, query, query_text=None):
        """Run a statement for which the subscriber server itself talks to the publisher (creating a slot there waits
        for the transactions running on the publisher; a publisher whose processes hang never answers, whatever TCP
        says): bounded by worker_timeout, which the subscriber enforces."""
        if self.check_mode:
            return self._run(query, query_text=query_text)
        self.cursor.execute('SET statement_timeout = %s', (self.params['worker_timeout'] * 1000,))
        try:
            return self._run(query, query_text=query_text)
        finally:
            self.cursor.execute('RESET statement_timeout')

    def create(self, enabled, copy_data):
        query = self._create_statement(self.publisher.conninfo(), enabled, copy_data)
        text = self._create_statement(self.publisher.conninfo(masked=True), enabled, copy_data).as_string(self.conn)
        if enabled:
            self._run_talking_to_publisher(query, query_text=text)
        else:
            self._run(query, query_text=text)

    def set_connection(self):
        query = pgsql.SQL('ALTER SUBSCRIPTION {n} CONNECTION {c}').format(n=pgsql.Identifier(self.name), c=pgsql.Literal(self.publisher.conninfo()))
        text = pgsql.SQL('ALTER SUBSCRIPTION {n} CONNECTION {c}').format(
            n=pgsql.Identifier(self.name), c=pgsql.Literal(self.publisher.conninfo(masked=True))).as_string(self.conn)
        self._run(query, query_text=text)

    def set_publications(self):
        """Refreshing the table list needs an enabled subscription: refresh_tables does it once it runs."""
        self._run(pgsql.SQL('ALTER SUBSCRIPTION {n} SET PUBLICATION {p} WITH (refresh = false)').format(
            n=pgsql.Identifier(self.name), p=pgsql.SQL(', ').join(pgsql.Identifier(p) for p in self.params['publications'])))

    def drop(self):
        self._run(pgsql.SQL('DROP SUBSCRIPTION {n}').format(n=pgsql.Identifier(self.name)))

    # -- waiting ------------------------------------------------------------------------------

    def _wait(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        for pause in pauses(POLL_SECONDS):
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)

    def wait_streaming(self, oid):
        if self.check_mode:
            return
        if not self._wait(lambda: self.status_of(dict(self.positions(oid), exists=True, enabled=True)) == 'running', self.params['worker_timeout']):
            seen = ' (this module cannot reach it either: %s)' % self.publisher.error if not self.publisher.reachable else ''
            self.module.fail_json(msg=(
                'subscription %s is enabled but its apply worker is not streaming from the publisher at %s after %d s%s: '
                "look for the worker's error in the subscriber's server log (publisher unreachable or refusing the connection, "
                'publication or slot missing on the publisher, max_logical_replication_workers too low)') % (
                    self.name, self.publisher.target, self.params['worker_timeout'], seen),
                queries=self.executed_queries, subscription=self.observe())

    def end_idle_apply_worker(self, oid):
        """After DISABLE, with the publisher reported lost: end the apply worker if it sleeps outside a transaction.

        Such a worker has applied everything it read, and nothing more can come from a lost publisher; but it
        notices DISABLE only when it wakes up, up to a second later (the apply loop's nap), and until it is gone
        the subscription may still write. A worker inside a transaction, or busy, is left to wait_workers_gone().
        """
        if self.check_mode:
            return
        # Read and signalled in one statement (see wait_workers_gone): only a worker that, at that moment, waits for
        # its publisher (LogicalApplyMain) without a transaction id.
        rows = exec_sql(self, 'WITH w AS MATERIALIZED (SELECT s.pid FROM pg_catalog.pg_stat_subscription s'
                              ' JOIN pg_catalog.pg_stat_activity a ON a.pid = s.pid'
                              " WHERE s.subid = %s AND s.relid IS NULL AND a.backend_xid IS NULL AND a.wait_event = 'LogicalApplyMain')"
                              ' SELECT pid FROM w WHERE pg_catalog.pg_terminate_backend(pid) ORDER BY 1', (oid,), return_rows=True)
        self.ended_idle_workers.extend(r[0] for r in rows)

    def wait_workers_gone(self, oid):
        """After DISABLE: give the workers a short time to exit by themselves, then end the rest.

        A worker inside a transaction rereads its subscription only once the transaction is over; when the
        publisher stops answering in the middle of sending one, that is not before wal_receiver_timeout or the
        TCP timeouts of its connection, if ever (a publisher whose processes hang but whose kernel still
        answers is never detected by TCP).
        """
        if self.check_mode:
            return
        timeout = self.params['worker_timeout']
        if self._wait(lambda: not self.worker_pids(oid), min(STOP_GRACE_SECONDS, timeout)):
            return
        # Read and signalled in one statement, so only processes that are workers of this subscription at that moment;
        # materialised first, so that the planner cannot call pg_terminate_backend() on rows of other subscriptions.
        rows = exec_sql(self, 'WITH w AS MATERIALIZED (SELECT pid FROM pg_catalog.pg_stat_subscription WHERE subid = %s AND pid IS NOT NULL)'
                              ' SELECT pid FROM w WHERE pg_catalog.pg_terminate_backend(pid) ORDER BY 1', (oid,), return_rows=True)
        ended = [r[0] for r in rows]
        self.terminated_workers.extend(ended)
        if ended:
            self.changed = True
            pids = ', '.join(str(p) for p in ended)
            self.module.warn(('terminated worker(s) %s of subscription %s, still running %g s after it was disabled (an apply worker '
                              'waiting for the rest of a transaction from a publisher that stopped answering, or still applying one); '
                              'their open transaction was rolled back') % (pids, self.name, min(STOP_GRACE_SECONDS, timeout)))
        if not self._wait(lambda: not self.worker_pids(oid), timeout):
            self.module.fail_json(msg=(
                'the workers of subscription %s (pids %s) are still running %d s after they were terminated: check the subscriber '
                'server log and the process table of the subscriber host') % (
                    self.name, ', '.join(str(p) for p in self.worker_pids(oid)), timeout),
                queries=self.executed_queries, terminated_workers=self.terminated_workers)

    # -- publisher-side work --------------------------------------------------------------------

    def require_publisher(self, why):
        if not self.publisher.reachable:
            self.module.fail_json(msg='cannot %s subscription %s: %s' % (why, self.name, self.publisher.error), publisher_reachable=False,
                                  queries=self.executed_queries)

    def check_publications(self):
        missing = sorted(set(self.params['publications']) - set(self.publisher.publications(self.params['publications'])))
        if missing and self.check_mode:
            # A check run cannot see publications an earlier task of the same run would create.
            self.module.warn('publication(s) %s do not exist (yet) on the publisher at %s: a real run fails here unless they are '
                             'created first (type=publication)' % (', '.join(missing), self.publisher.target))
        elif missing:
            self.module.fail_json(msg='publication(s) %s do not exist on the publisher at %s: create them there first (type=publication)' % (
                ', '.join(missing), self.publisher.target))

    def occupied_tables(self, only=None):
        """Local tables holding rows a copy would bring; refuse them unless truncate_before_copy."""
        published = self.publisher.published_tables(self.params['publications'])
        if only is not None:
            published = dict((k, v) for k, v in published.items() if '%s.%s' % k in only)
        occupied = []
        for (schema, table), filters in sorted(published.items()):
            ident = pgsql.Identifier(schema, table)
            if not query_rows(self, 'SELECT pg_catalog.to_regclass(%s)', (ident.as_string(self.conn),))[0][0]:
                self.module.fail_json(msg='table %s.%s is published by the publisher but does not exist in subscriber database %s: create the schema first' % (
                    schema, table, self.database))
            where = pgsql.SQL('') if filters is None else pgsql.SQL(' WHERE ') + pgsql.SQL(' OR ').join(pgsql.SQL('(%s)' % f) for f in filters)
            if query_rows(self, pgsql.SQL('SELECT EXISTS (SELECT 1 FROM {t}').format(t=ident) + where + pgsql.SQL(')'))[0][0]:
                occupied.append((schema, table, filters, where))
        if occupied and not self.params['truncate_before_copy']:
            self.module.fail_json(msg=(
                'refusing to copy into subscriber tables that already hold rows the copy would bring: %s. '
                'Archive their content, then set truncate_before_copy: true (or start without copy_data)') % ', '.join(
                    '%s.%s%s' % (s, t, '' if f is None else ' (rows matching %s)' % ' OR '.join(f)) for s, t, f, w in occupied),
                queries=self.executed_queries)
        return occupied

    def clear_tables(self, occupied):
        whole = [pgsql.Identifier(s, t) for s, t, f, w in occupied if f is None]
        if whole:
            self._run(pgsql.SQL('TRUNCATE {t}').format(t=pgsql.SQL(', ').join(whole)))
        for schema, table, filters, where in occupied:
            if filters is not None:
                self._run(pgsql.SQL('DELETE FROM {t}').format(t=pgsql.Identifier(schema, table)) + where)

    def drop_publisher_slots(self, detached, suboid):
        """Drop the subscription's slots on the publisher (the slot just detached, any slot of the wanted name, its table
        sync slots); when the publisher is unreachable, report the detached slot as orphaned."""
        names = sorted(set(n for n in (detached, self.slot_name) if n))
        if not self.publisher.reachable:
            self._orphaned(detached, self.publisher.error)
            return
        try:
            slots = self.publisher.slots_of(names, suboid)
            for slot in slots:
                if slot['active'] and not self.check_mode:
                    if not self._wait(lambda: not self.publisher.slot(slot['slot_name'])['active'], self.params['worker_timeout']):
                        self.module.fail_json(msg=(
                            'replication slot %s on the publisher at %s is still used by WAL sender pid %s %d s after the subscription was disabled: '
                            'another subscriber may use the same slot name; find it in pg_stat_replication there') % (
                                slot['slot_name'], self.publisher.target, slot['active_pid'], self.params['worker_timeout']),
                            queries=self.executed_queries)
                self._drop_slot(slot['slot_name'])
        except PublisherLost as e:
            self._orphaned(detached, to_native(e))

    def _orphaned(self, slot_name, why):
        if slot_name:
            self.orphaned_slots.append(slot_name)
            self.module.warn('replication slot %s of subscription %s is left on the publisher at %s, retaining WAL there: %s. '
                             'Drop it when the publisher is back (run again, or type=slot)' % (slot_name, self.name, self.publisher.target, why))

    def _drop_slot(self, name):
        self.publisher.run('SELECT pg_catalog.pg_drop_replication_slot(%s)', (name,), check_mode=self.check_mode)
        self.dropped_slots.add(name)
        self.changed = True

    def fresh_slot(self):
        """Create a slot on the publisher at its current position; return its LSN (None in check mode)."""
        self.drop_stale_slot()
        if not self.check_mode:
            # Creating a logical slot waits for the transactions running on the publisher.
            self.publisher.cursor.execute('SET statement_timeout = %s', (self.params['worker_timeout'] * 1000,))
        try:
            rows = self.publisher.run("SELECT lsn::text FROM pg_catalog.pg_create_logical_replication_slot(%s, 'pgoutput')",
                                      (self.slot_name,), check_mode=self.check_mode)
        finally:
            if not self.check_mode:
                self.publisher.cursor.execute('RESET statement_timeout')
        self.changed = True
        return rows[0][0] if rows else None

    # -- lag and catch-up -------------------------------------------------------------------------

    def lag(self, slot_name):
        """Bytes of publisher WAL not yet confirmed by the subscriber, or None if it cannot be measured."""
        if not self.publisher.reachable or not slot_name:
            return None
        try:
            slot = self.publisher.slot(slot_name)
            if not slot['exists'] or slot['confirmed_flush_lsn'] is None:
                return None
            return max(0, self.publisher.insert_lsn() - lsn_to_int(slot['confirmed_flush_lsn']))
        except PublisherLost:
            return None

    def gate(self, initial):
        limit = self.params['max_lag_bytes']
        # A table still being copied is behind by rows the lag in bytes does not count: the apply worker
        # skips (and confirms) changes to it until its sync worker catches up.
        unsynced = ['%s (%s)' % (t['name'], t['state']) for t in initial['tables'] if t['state'] != 'ready']
        if unsynced:
            self.module.fail_json(msg=(
                'subscription %s has table(s) not yet in sync: %s; its lag in bytes does not count the rows still being copied. '
                'Nothing was changed. Wait until every table is ready (pg_subscription_rel) and try again') % (self.name, ', '.join(unsynced)),
                publisher_reachable=self.publisher.reachable, initial_state=initial)
        lag = self.lag(initial['slot_name'])
        if lag is None:
            why = self.publisher.error if not self.publisher.reachable else (
                'the subscription does not exist' if not initial['exists'] else 'it has no slot on the publisher (stopped?)')
            self.module.fail_json(msg='max_lag_bytes: cannot measure the lag of subscription %s (%s); nothing was changed' % (self.name, why),
                                  publisher_reachable=self.publisher.reachable, initial_state=initial)
        if lag > limit:
            self.module.fail_json(msg=(
                'subscription %s is %d bytes behind the publisher, more than max_lag_bytes %d; nothing was changed. '
                'Check its apply worker (pg_stat_subscription) and wait or raise the limit') % (self.name, lag, limit),
                lag_bytes=lag, publisher_reachable=True, initial_state=initial)

    def wait_for_catchup(self, oid):
        start = time.monotonic()
        state = self.observe()
        if self.check_mode or not state['enabled']:
            self.catchup = dict(mode='skipped', target_lsn=None, confirmed_flush_lsn=None, applied_lsn=state['applied_lsn'],
                                received_lsn=state['received_lsn'], seconds=0.0)
            return
        if self.publisher.reachable:
            try:
                self._catchup_with_publisher(state, start)
                return
            except PublisherLost as e:
                self.module.warn('%s while waiting for catch-up; waiting until the subscriber has applied what it received' % e)
        self._catchup_received(oid, start)

    def _catchup_with_publisher(self, state, start):
        timeout = self.params['catchup_timeout']
        target = self.publisher.insert_lsn()
        slot_name = state['slot_name']
        while True:
            slot = self.publisher.slot(slot_name)
            if not slot['exists']:
                self.module.fail_json(msg=(
                    'subscription %s is enabled but its slot %s does not exist on the publisher at %s: it cannot catch up. '
                    'Stop it (state=stopped) and start it again, with copy_data if the data may have diverged') % (
                        self.name, slot_name, self.publisher.target), publisher_reachable=True, queries=self.executed_queries)
            confirmed = lsn_to_int(slot['confirmed_flush_lsn'])
            current = self.observe()
            unsynced = [t['name'] + ' (' + t['state'] + ')' for t in current['tables'] if t['state'] != 'ready']
            if confirmed is not None and confirmed >= target and not unsynced:
                self.catchup = dict(mode='publisher', target_lsn=int_to_lsn(target), confirmed_flush_lsn=slot['confirmed_flush_lsn'],
                                    applied_lsn=current['applied_lsn'], received_lsn=current['received_lsn'], seconds=round(time.monotonic() - start, 3))
                return
            if time.monotonic() - start >= timeout:
                behind = 'an unknown amount' if confirmed is None else '%d bytes' % max(0, target - confirmed)
                self.module.fail_json(msg=(
                    'subscription %s has not caught up with the publisher within %d s: publisher position %s, confirmed by the subscriber %s, '
                    'behind by %s%s. Check the apply worker (pg_stat_subscription: worker_pid %s, received %s, applied %s), '
                    "the subscriber's server log for apply errors, and on the publisher the WAL sender (pg_stat_replication) and slot %s") % (
                        self.name, timeout, int_to_lsn(target), slot['confirmed_flush_lsn'], behind,
                        '; tables not yet in sync: ' + ', '.join(unsynced) if unsynced else '',
                        current['worker_pid'], current['received_lsn'], current['applied_lsn'], slot_name),
                    lag_bytes=None if confirmed is None else max(0, target - confirmed), publisher_reachable=True,
                    subscription=current, queries=self.executed_queries)
            time.sleep(POLL_SECONDS)

    def _catchup_received(self, oid, start):
        timeout = self.params['catchup_timeout']
        last_applied, last_received, idle_readings, received = None, None, 0, None
        while True:
            positions = self.positions(oid)
            received = positions['received_lsn'] or received
            now = time.monotonic()
            moved = (positions['applied_lsn'], positions['received_lsn']) != (last_applied, last_received)
            last_applied, last_received = positions['applied_lsn'], positions['received_lsn']
            # Waiting for the publisher inside a transaction, with nothing arriving: the rest of it is not coming.
            abandoned = positions['worker_pid'] is not None and self._worker_in_transaction and self._worker_waits_for_publisher
            # A worker outside a transaction has applied every transaction it received (it applies as it reads);
            # one that has exited applies nothing more. Two such readings in a row with nothing moving in between
            # is the exact end of the drain - no settle period.
            idle = positions['worker_pid'] is None or not self._worker_in_transaction or abandoned
            idle_readings = idle_readings + 1 if idle and not moved else (1 if idle else 0)
            if idle_readings >= IDLE_READINGS:
                if abandoned:
                    self.module.warn((
                        'the apply worker of subscription %s holds a transaction whose end the unreachable publisher never sent '
                        '(received up to %s): it is not applied, it is part of what was lost with the publisher') % (self.name, received))
                self.catchup = dict(mode='received', target_lsn=None, confirmed_flush_lsn=None, applied_lsn=last_applied,
                                    received_lsn=received, seconds=round(now - start, 3))
                unsynced = [t['name'] for t in self.observe()['tables'] if t['state'] != 'ready']
                if unsynced:
                    self.module.warn('publisher unreachable and table(s) %s of subscription %s were not fully synchronised: their content is incomplete' % (
                        ', '.join(unsynced), self.name))
                return
            if now - start >= timeout:
                gap = None
                if received and last_applied:
                    gap = max(0, lsn_to_int(received) - lsn_to_int(last_applied))
                self.module.fail_json(msg=(
                    'subscription %s (publisher unreachable: %s) is still applying after %d s: applied %s, last received %s%s. '
                    "Check the apply worker in pg_stat_subscription and the subscriber's server log") % (
                        self.name, self.publisher.error, timeout, last_applied, received,
                        '' if gap is None else ' (%d bytes between them)' % gap),
                    publisher_reachable=False, queries=self.executed_queries)
            time.sleep(POLL_SECONDS)

    # -- convergence ------------------------------------------------------------------------------

    def converge(self, initial):
        state = self.params['state']
        if initial['exists'] and state != 'absent':
            self.fix_definition(initial)
        if state == 'running':
            self.make_running(initial)
        elif state == 'stopped':
            self.make_stopped(initial)
        else:
            self.make_absent(initial)

    def fix_definition(self, initial):
        if self.conninfo_differs(initial):
            self.set_connection()
        if initial['publications'] != sorted(self.params['publications']):
            self.set_publications()

    def make_running(self, initial):
        copy_data = self.params['copy_data']
        if initial['exists'] and initial['enabled']:
            self.refresh_tables(initial)
            self.wait_streaming(initial['oid'])
            return
        self.require_publisher('start')
        self.check_publications()
        if not initial['exists'] or copy_data:
            occupied = self.occupied_tables() if copy_data else []
            if initial['exists']:
                # A copy needs a new subscription: PostgreSQL copies tables only when they are first added.
                self.make_absent(initial)
            self.clear_tables(occupied)
            self.drop_stale_slot()
            self.create(enabled=True, copy_data=copy_data)
        else:
            self.start_stopped(initial)
        if not self.check_mode:
            self.wait_streaming(self.observe()['oid'])

    def drop_stale_slot(self):
        """A slot of the wanted name left from an earlier stream would replay old WAL: drop it."""
        if self.slot_name in self.dropped_slots:
            return
        existing = self.publisher.slot(self.slot_name)
        if existing['exists']:
            if existing['active']:
                self.module.fail_json(msg='replication slot %s on the publisher at %s is in use by WAL sender pid %s: another subscriber streams from it' % (
                    self.slot_name, self.publisher.target, existing['active_pid']))
            self.module.warn('dropped stale replication slot %s on the publisher (it kept WAL from %s) to start subscription %s from a fresh one' % (
                self.slot_name, existing['restart_lsn'], self.name))
            self._drop_slot(self.slot_name)

    def start_stopped(self, initial):
        """Start an existing, disabled subscription without copying."""
        attached = initial['slot_name']
        if attached and self.publisher.slot(attached)['exists']:
            # Paused with its slot: resume where it stopped (the slot kept the WAL).
            self._alter('ENABLE')
            return
        unsynced = [t['name'] + ' (' + t['state'] + ')' for t in initial['tables'] if t['state'] != 'ready']
        if unsynced:
            self.module.fail_json(msg=(
                'subscription %s has table(s) not synchronised (%s): starting it from a fresh slot would leave them incomplete; '
                'start it with copy_data: true (and truncate_before_copy after archiving) to resynchronise') % (self.name, ', '.join(unsynced)))
        if attached:
            self._alter('SET (slot_name = NONE)')
        lsn = self.fresh_slot()
        self._alter("SET (slot_name = %s)" % pgsql.Literal(self.slot_name).as_string(self.conn))
        # The apply worker resumes from its replication origin; pointing the origin at the new slot's start keeps it from
        # asking for a position the new slot does not have.
        origin = 'pg_%d' % initial['oid']
        if lsn is None:
            self.executed_queries.append(
                "SELECT pg_catalog.pg_replication_origin_advance('%s', /* LSN returned by pg_create_logical_replication_slot */)" % origin)
        else:
            self._run('SELECT pg_catalog.pg_replication_origin_advance(%s, %s::pg_lsn)', (origin, lsn), return_rows=True)
        self._alter('ENABLE')
        self.refresh_tables(initial)

    def refresh_tables(self, initial):
        """Follow tables added to or removed from the publications (needs an enabled subscription)."""
        if not self.publisher.reachable:
            return
        try:
            published = set('%s.%s' % k for k in self.publisher.published_tables(self.params['publications']))
        except PublisherLost:
            return
        subscribed = set(t['name'] for t in initial['tables'])
        publications_changed = initial['publications'] != sorted(self.params['publications'])
        if published == subscribed and not publications_changed:
            return
        copy_data = self.params['copy_data']
        if copy_data:
            self.clear_tables(self.occupied_tables(only=published - subscribed))
        self._run_talking_to_publisher(pgsql.SQL('ALTER SUBSCRIPTION {n} REFRESH PUBLICATION WITH (copy_data = {c})').format(
            n=pgsql.Identifier(self.name), c=pgsql.SQL('true' if copy_data else 'false')))

    def make_stopped(self, initial):
        if not initial['exists']:
            self.require_publisher('create')
            self.check_publications()
            self.create(enabled=False, copy_data=False)
            self.drop_publisher_slots(None, None)
            return
        self.detach(initial)
        self.drop_publisher_slots(initial['slot_name'], initial['oid'])

    def detach(self, initial):
        if initial['enabled']:
            self._alter('DISABLE')
            if self.params['publisher_lost']:
                self.end_idle_apply_worker(initial['oid'])
            self.wait_workers_gone(initial['oid'])
        if initial['slot_name']:
            self._alter('SET (slot_name = NONE)')

    def make_absent(self, initial):
        if initial['exists']:
            self.detach(initial)
            self.drop()
            self.drop_publisher_slots(initial['slot_name'], initial['oid'])
        else:
            self.drop_publisher_slots(None, None)

    def predicted(self, initial):
        """The subscription as check mode expects it after the run."""
        state = self.params['state']
        if state == 'absent':
            return self.observe() if not initial['exists'] else dict(initial, exists=False, status='absent', enabled=False, slot_name=None,
                                                                     worker_pid=None, streaming=False, tables=[], oid=None)
        final = dict(initial, exists=True, publications=sorted(self.params['publications']), conninfo=self.publisher.conninfo(masked=True))
        if state == 'stopped':
            final.update(enabled=False, slot_name=None, worker_pid=None, streaming=False, status='stopped')
        elif not (initial['exists'] and initial['enabled']):
            final.update(enabled=True, slot_name=self.slot_name, status='running')
        return final


def check_type_state(module):
    p = module.params
    if p['state'] not in STATES_BY_TYPE[p['type']]:
        module.fail_json(msg='state=%s does not apply to type=%s: use one of %s' % (p['state'], p['type'], ', '.join(STATES_BY_TYPE[p['type']])))
    if p['type'] == 'subscription' and p['state'] == 'running':
        slot = p['slot_name'] or p['name']
        if not SLOT_NAME_RE.match(slot):
            module.fail_json(msg='%s is not a valid replication slot name (lower-case letters, digits, underscores, at most 63): set slot_name' % slot)
    if p['type'] == 'subscription':
        errors = connection_bound_errors(p['publisher'], names=('connect_timeout',), where='publisher.')
        if errors:
            module.fail_json(msg='; '.join(errors))
    if p['terminate_holder'] and (p['type'], p['state']) != ('slot', 'absent'):
        module.fail_json(msg='terminate_holder applies to type=slot with state=absent only')
    if p['type'] == 'slot' and not SLOT_NAME_RE.match(p['name']):
        module.fail_json(msg='%s is not a valid replication slot name (lower-case letters, digits, underscores, at most 63)' % p['name'])


def run_publication(module, conn):
    pub = Publication(module, conn)
    initial = pub.observe()
    wanted = pub.converge(initial, module.check_mode)
    final = wanted if module.check_mode else pub.observe()
    return pub, dict(initial_state=initial, final_state=final, publication=final)


def run_slot(module, conn):
    slot = Slot(module, conn)
    initial = slot.observe()
    final = slot.converge(initial, module.check_mode)
    if not module.check_mode:
        final = slot.observe()
    return slot, dict(initial_state=initial, final_state=final, slot=final, terminated_walsender=slot.terminated)


def run_subscription(module, conn):
    sub = Subscription(module, conn)
    initial = sub.observe()
    if module.params['publisher_lost']:
        sub.publisher.give_up()
    else:
        sub.publisher.connect()
    if module.params['max_lag_bytes'] is not None:
        sub.gate(initial)
    wait = module.params['wait_for_catchup']
    if wait and module.params['state'] != 'running' and initial['exists']:
        sub.wait_for_catchup(initial['oid'])
    sub.converge(initial)
    final = sub.predicted(initial) if module.check_mode else sub.observe()
    if wait and module.params['state'] == 'running' and final['exists']:
        sub.wait_for_catchup(final['oid'])
        if not module.check_mode:
            final = sub.observe()
    elif wait and not initial['exists']:
        sub.catchup = dict(mode='skipped', target_lsn=None, confirmed_flush_lsn=None, applied_lsn=None, received_lsn=None, seconds=0.0)
    result = dict(initial_state=initial, final_state=final, subscription=final, publisher_reachable=bool(sub.publisher.reachable),
                  publisher_lsn=None, slot=None, lag_bytes=None, orphaned_slots=sub.orphaned_slots, terminated_workers=sub.terminated_workers,
                  ended_idle_workers=sub.ended_idle_workers)
    if sub.publisher.reachable:
        try:
            result['slot'] = sub.publisher.slot(final['slot_name'] or sub.slot_name)
            result['publisher_lsn'] = int_to_lsn(sub.publisher.insert_lsn())
            result['lag_bytes'] = sub.lag(final['slot_name']) if final['exists'] else None
        except PublisherLost as e:
            module.warn(to_native(e))
        result['publisher_reachable'] = bool(sub.publisher.reachable)
    if wait:
        result['catchup'] = sub.catchup
    return sub, result


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        type=dict(type='str', required=True, choices=['publication', 'subscription', 'slot']),
        name=dict(type='str', required=True),
        state=dict(type='str', required=True, choices=['present', 'absent', 'running', 'stopped']),
        all_tables=dict(type='bool'),
        tables=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True),
            row_filter=dict(type='str'),
        )),
        publish=dict(type='list', elements='str', choices=PUBLISH_OPERATIONS, default=list(PUBLISH_OPERATIONS)),
        publications=dict(type='list', elements='str'),
        publisher=dict(type='dict', options=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', default=5432),
            dbname=dict(type='str', required=True),
            user=dict(type='str', required=True),
            password=dict(type='str', no_log=True),
            sslmode=dict(type='str', default='prefer', choices=SSL_MODES),
            sslrootcert=dict(type='path'),
            connect_timeout=dict(type='int', default=5),
        )),
        publisher_lost=dict(type='bool', default=False),
        slot_name=dict(type='str'),
        copy_data=dict(type='bool', default=False),
        truncate_before_copy=dict(type='bool', default=False),
        wait_for_catchup=dict(type='bool', default=False),
        catchup_timeout=dict(type='int', default=300),
        max_lag_bytes=dict(type='int'),
        worker_timeout=dict(type='int', default=30),
        terminate_holder=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[('all_tables', 'tables')],
        required_if=[
            ('type', 'subscription', ['publisher']),
            ('state', 'present', ['all_tables', 'tables'], True),
            ('state', 'running', ['publications']),
            ('state', 'stopped', ['publications']),
        ],
    )
    check_type_state(module)
    conn = connect(module)
    runner = dict(publication=run_publication, subscription=run_subscription, slot=run_slot)[module.params['type']]
    try:
        obj, result = runner(module, conn)
    finally:
        conn.close()
    result['changed'] = obj.changed
    result['queries'] = [to_native(q) for q in obj.executed_queries]
    if module._diff:
        result['diff'] = dict(before=stable_view(result['initial_state']), after=stable_view(result['final_state']))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
