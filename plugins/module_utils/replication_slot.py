# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A replication slot of the server the module connects to: observed, dropped (ending the WAL sender that
holds it when asked)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    exec_sql,
    query_dicts,
)
from ansible_collections.genesys_dr.framework.plugins.module_utils.logical_replication import (
    POLL_SECONDS,
    SLOT_QUERY,
    slot_view,
)


class Slot(object):
    """A replication slot of the server the module connects to (pg_slot)."""

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
