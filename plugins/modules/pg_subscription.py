#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_subscription
short_description: Run, stop or drop a PostgreSQL logical replication subscription between sites; drain it, gate on its lag
version_added: 0.3.0
description:
  - Manages a subscription of the subscriber database the module connects to (O(login_db)), fed by the
    publisher described by O(publisher). The module also connects to the publisher itself, to create and
    drop replication slots and to measure lag.
  - States. V(running) - exists, enabled, its apply worker streams. V(stopped) - exists, disabled, no slot
    attached and no slot of it left on the publisher retaining WAL. V(absent) - dropped, its slots too.
  - Starting a subscription that has no stream (creating it, or starting it from V(stopped)) with
    O(copy_data=false) attaches a fresh slot created on the publisher at its current WAL position.
    B(Nothing the publisher committed while the subscription was stopped is replayed) - use this only
    when both sides are known to be identical (for example after a catch-up, before the publisher
    accepts writes). With O(copy_data=true) the subscription is (re)created and the tables are copied
    again, the way to resynchronise after divergence.
  - Subscriber positions come from C(pg_stat_subscription) (received), C(pg_replication_origin_status)
    (applied, origin C(pg_<subscription oid>)) and C(pg_subscription_rel) (table sync); publisher
    positions from C(pg_current_wal_insert_lsn()) and the slot's C(confirmed_flush_lsn).
  - To read subscriptions without wanting a state, use M(genesys_dr.framework.pg_subscription_info).
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
    description: Definition and status of the subscription before and after.
options:
  name:
    description:
      - Name of the subscription.
    type: str
    required: true
  state:
    description:
      - V(running), V(stopped) or V(absent).
    type: str
    required: true
    choices: [running, stopped, absent]
  publications:
    description:
      - Publications of the publisher the subscription follows.
      - Required with O(state=running) and O(state=stopped).
    type: list
    elements: str
  publisher:
    description:
      - How the subscriber server and this module reach the publisher
        database. The subscription's connection string is built from it, quoted safely; the
        password is never shown (C(********) in RV(queries) and returned connection strings).
    type: dict
    required: true
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
      - The caller has already found that the publisher does not answer (for example the
        M(genesys_dr.framework.reachability) check at the start of a disaster failover). The module then does not
        try to connect to it - a lost publisher costs no O(publisher.connect_timeout) - and acts as on a failed
        connection - waits only for what the subscriber received, leaves the publisher's slot as an orphan
        (RV(orphaned_slots)), and refuses what needs the publisher (creating or starting a subscription).
    type: bool
    default: false
  slot_name:
    description:
      - Name of the replication slot on the publisher when the module
        creates or attaches one. Defaults to O(name), which must then be a valid slot name
        (lower-case letters, digits, underscores).
    type: str
  copy_data:
    description:
      - When the module starts a subscription that has no stream
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
      - Before a copy, empty the local tables that hold rows the copy would bring -
        C(TRUNCATE) for tables published without row filter, C(DELETE ... WHERE <row filter>) for the others.
      - Archive the content first; these rows are gone afterwards.
    type: bool
    default: false
  wait_for_catchup:
    description:
      - Wait until the subscriber has applied everything the publisher had
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
      - Seconds O(wait_for_catchup) may take before the module fails,
        saying how many bytes the subscriber is behind.
    type: int
    default: 300
  max_lag_bytes:
    description:
      - Refuse (fail before changing anything) when the subscriber is more than
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
  require_running:
    description:
      - With O(state=running), fail before changing anything when the subscription does not exist or its
        status is not V(running) (enabled, its apply worker streaming); nothing is started or created then.
      - For a wait for catch-up that must only wait. A subscription that something else stopped or
        disabled may be stopped on purpose (the other site may already be writable), and starting it
        again before a refusal would change the deployment the refusal says was left alone.
      - The failure returns RV(initial_state).
    type: bool
    default: false
    version_added: 0.3.0
  worker_timeout:
    description:
      - Seconds to wait for the apply worker to stream after a start, for workers
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
  - A stop whose publisher is unreachable leaves the slot on the publisher; it is returned in
    RV(orphaned_slots) with a warning, and dropped by a later run (O(state=stopped) or O(state=absent)
    with the publisher back) or by M(genesys_dr.framework.pg_slot).
seealso:
  - module: genesys_dr.framework.pg_publication
  - module: genesys_dr.framework.pg_slot
  - module: genesys_dr.framework.pg_subscription_info
  - module: genesys_dr.framework.pg_access
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Run the main -> secondary replication of the Configuration Database, with initial copy
  genesys_dr.framework.pg_subscription:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
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
  genesys_dr.framework.pg_subscription:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    name: cfgdb_from_main
    state: running
    publications: [cfgdb_pub]
    publisher: "{{ dr_main_publisher }}"
    max_lag_bytes: 104857600
    wait_for_catchup: true
    catchup_timeout: 120
  register: catchup

- name: Disaster - apply what was received, then stop (no slot left behind where reachable)
  genesys_dr.framework.pg_subscription:
    login_host: "{{ dr_db_host }}"
    login_user: genesys_dr_admin
    login_password: "{{ dr_db_admin_password }}"
    login_db: cfgdb
    name: cfgdb_from_main
    state: stopped
    publications: [cfgdb_pub]
    publisher: "{{ dr_main_publisher }}"
    wait_for_catchup: true
  register: drained
'''

RETURN = r'''
initial_state:
  description: The subscription before the run, as observed - same shape as RV(subscription).
  returned: always
  type: dict
final_state:
  description: The subscription after the run, read back (in check mode, the state before plus what would change).
  returned: always
  type: dict
subscription:
  description: The subscription after the run (in check mode, before plus what would change).
  returned: always
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
  returned: always
  type: bool
publisher_lsn:
  description: WAL insert position of the publisher at the end of the run (null when unreachable).
  returned: always
  type: str
slot:
  description:
    - The subscription's slot on the publisher (null when the publisher is unreachable), with the keys of
      RV(genesys_dr.framework.pg_slot#module:slot) - C(name), C(exists), C(active), C(active_pid), C(slot_type),
      C(database), C(confirmed_flush_lsn), C(restart_lsn), C(retained_bytes).
  returned: always
  type: dict
lag_bytes:
  description:
    - Publisher WAL insert position minus the slot's C(confirmed_flush_lsn), at the end of the run;
      null when it cannot be measured (publisher unreachable, no slot).
  returned: always
  type: int
catchup:
  description: Result of O(wait_for_catchup).
  returned: when O(wait_for_catchup=true)
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
  description: Slots of the subscription left on an unreachable publisher (drop them later with M(genesys_dr.framework.pg_slot)).
  returned: always
  type: list
  elements: str
terminated_workers:
  description:
    - Process ids of the subscription's workers that had not exited a few seconds after it was disabled and were
      ended with C(pg_terminate_backend()) (see O(worker_timeout)); empty when every worker went by itself.
  returned: always
  type: list
  elements: int
  sample: [48213]
ended_idle_workers:
  description:
    - Process ids of apply workers ended (C(pg_terminate_backend())) right after the subscription was disabled because
      they slept outside a transaction, waiting for their publisher - having applied all they had received. Such a
      worker would notice the disabling only at its next wake-up, up to a second later, and would then stop before
      the next change anyway; until then its WAL sender holds the slot on the publisher.
    - A worker inside a transaction is never ended this way (see RV(terminated_workers)).
    - Before version 0.3.0, only with O(publisher_lost).
  returned: always
  type: list
  elements: int
  sample: [48214]
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

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.genesys_dr.framework.plugins.module_utils.logical_replication import (
    PublisherLost,
    check_slot_name,
    finish,
    publisher_argument_spec,
    publisher_errors,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import connect, int_to_lsn, postgres_common_argument_spec
from ansible_collections.genesys_dr.framework.plugins.module_utils.subscription import Subscription
from ansible_collections.genesys_dr.framework.plugins.module_utils.subscription_state import lag_bytes


def run(module, sub):
    initial = sub.observe()
    # main() refuses require_running with another state than running.
    if module.params['require_running'] and initial['status'] != 'running':
        module.fail_json(msg='subscription %s is %s, not running (require_running): it is not in sync with its publisher. '
                             'Nothing was changed.' % (sub.name, initial['status']), initial_state=initial, changed=False)
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
            insert_lsn = sub.publisher.insert_lsn()
            result['publisher_lsn'] = int_to_lsn(insert_lsn)
            if final['exists'] and final['slot_name']:
                result['lag_bytes'] = lag_bytes(result['slot'], insert_lsn)
        except PublisherLost as e:
            module.warn(to_native(e))
        result['publisher_reachable'] = bool(sub.publisher.reachable)
    if wait:
        result['catchup'] = sub.catchup
    return result


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', required=True, choices=['running', 'stopped', 'absent']),
        publications=dict(type='list', elements='str'),
        publisher=publisher_argument_spec(required=True),
        publisher_lost=dict(type='bool', default=False),
        slot_name=dict(type='str'),
        copy_data=dict(type='bool', default=False),
        truncate_before_copy=dict(type='bool', default=False),
        wait_for_catchup=dict(type='bool', default=False),
        catchup_timeout=dict(type='int', default=300),
        max_lag_bytes=dict(type='int'),
        worker_timeout=dict(type='int', default=30),
        require_running=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[('state', 'running', ['publications']), ('state', 'stopped', ['publications'])],
    )
    p = module.params
    if p['require_running'] and p['state'] != 'running':
        module.fail_json(msg='require_running applies only with state=running (state is %s); nothing was changed' % p['state'])
    if p['state'] == 'running':
        check_slot_name(module, p['slot_name'] or p['name'], hint=': set slot_name')
    errors = publisher_errors(p)
    if errors:
        module.fail_json(msg='; '.join(errors))
    conn = connect(module)
    try:
        sub = Subscription(module, conn)
        result = run(module, sub)
    finally:
        conn.close()
    finish(module, sub, result)


if __name__ == '__main__':
    main()
