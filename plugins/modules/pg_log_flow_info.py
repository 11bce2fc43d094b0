#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_log_flow_info
short_description: Prove that log rows of another site arrive in this Log Database
version_added: 0.2.0
description:
  - A running subscription with no lag proves only that a worker applies what it is sent. This module
    reads the rows themselves - on the publisher (the other site's Log Database) the newest row that was
    not stamped with this site (O(local_site)), and here the newest row that came from elsewhere - and
    waits at most O(timeout) seconds for the publisher's newest row to arrive here.
  - RV(flow) is V(moving) when it arrived, V(not moving) when it did not (for example the publisher stamps
    its rows with another site than its publication filters on), V(idle) when the publisher holds no row
    of its own, V(unknown) when the publisher cannot be reached.
  - Reads only; rows are found through the index on (O(column), O(order_column)) one site at a time.
extends_documentation_fragment:
  - genesys_dr.framework.postgres
attributes:
  check_mode:
    support: full
    description: Reads only, the same in check mode.
  diff_mode:
    support: none
    description: It only reads; there is no before and after.
options:
  publisher:
    description:
      - Connection to the other site's Log Database.
    type: dict
    required: true
    suboptions:
      host:
        description: Host name or address.
        type: str
        required: true
      port:
        description: Port.
        type: int
        default: 5432
      dbname:
        description: Database.
        type: str
        required: true
      user:
        description: Role.
        type: str
        required: true
      password:
        description: Password of O(publisher.user).
        type: str
      connect_timeout:
        description: Seconds to wait for the connection.
        type: int
        default: 10
  local_site:
    description:
      - The stamp of rows first stored in this database (this site's C(genesys_log_site)); every other row came
        from another site.
    type: str
    required: true
  table:
    description: The replicated log table, optionally schema-qualified.
    type: str
    default: public.log_event
  column:
    description: The site column (the publication's row filter is on it).
    type: str
    default: db_site
  order_column:
    description: Column that grows with every row a site stores (its key within a site).
    type: str
    default: id
  time_column:
    description: Column holding when the row was written, for its age.
    type: str
    default: ts
  timeout:
    description:
      - Seconds to wait for the publisher's newest row to arrive here before the flow is V(not moving).
    type: int
    default: 10
seealso:
  - module: genesys_dr.framework.pg_log_site
  - module: genesys_dr.framework.pg_subscription
author:
  - Genesys DR framework team (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Do the other site's log rows arrive?
  genesys_dr.framework.pg_log_flow_info:
    login_host: "{{ genesys_host_address }}"
    login_user: genesys_dr_admin
    login_password: "{{ genesys_db_admin_password }}"
    login_db: logdb
    local_site: dc_west
    publisher:
      host: 192.0.2.10
      port: 5432
      dbname: logdb
      user: genesys_dr_admin
      password: "{{ genesys_db_admin_password }}"
  register: log_flow
'''

RETURN = r'''
flow:
  description: V(moving), V(not moving), V(idle) or V(unknown) (see the description).
  returned: always
  type: str
  sample: moving
publisher_reachable:
  description: Whether the publisher's Log Database answered.
  returned: always
  type: bool
publisher_newest:
  description: The publisher's newest row not stamped with O(local_site); null when it has none or is unreachable.
  returned: always
  type: dict
  contains:
    site:
      description: Its stamp.
      type: str
    id:
      description: Its O(order_column).
      type: int
    ts:
      description: Its O(time_column) (ISO 8601).
      type: str
    age_seconds:
      description: Seconds since O(time_column), on the database's clock.
      type: float
arrived_newest:
  description: The newest row here not stamped with O(local_site), read after the wait; same shape as RV(publisher_newest).
  returned: always
  type: dict
waited_seconds:
  description: How long the module waited for the publisher's newest row to arrive.
  returned: always
  type: float
msg:
  description: One line for an operator.
  returned: always
  type: str
  sample: "not moving: the publisher's newest row (site1 #12, 3.2 s old) has not arrived within 10 s"
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesys_dr.framework.plugins.module_utils.postgres import (
    PgConnectionError,
    connect,
    ensure_required_libs,
    open_connection,
    pgsql,
    postgres_common_argument_spec,
    query_rows,
    SqlSession,
)

POLL_INTERVAL = 0.2


class LogDb(SqlSession):
    """Reads of one Log Database."""

    def __init__(self, module, conn):
        super(LogDb, self).__init__(module, conn)
        p = module.params
        self.ident = dict(table=pgsql.Identifier(*p['table'].split('.')), col=pgsql.Identifier(p['column']),
                          order=pgsql.Identifier(p['order_column']), time=pgsql.Identifier(p['time_column']))

    def sites(self, exclude):
        """Distinct stamps other than exclude, one index probe per stamp (a skip scan)."""
        query = pgsql.SQL(
            'WITH RECURSIVE s(v) AS ((SELECT {col} FROM {table} ORDER BY {col} LIMIT 1)'
            ' UNION ALL SELECT (SELECT {col} FROM {table} WHERE {col} > s.v ORDER BY {col} LIMIT 1) FROM s WHERE s.v IS NOT NULL)'
            ' SELECT v FROM s WHERE v IS NOT NULL AND v <> %s').format(**self.ident)
        return [row[0] for row in query_rows(self, query, (exclude,))]

    def newest(self, exclude):
        """The newest row (by time) among each stamp's highest order value, stamps other than exclude."""
        found = None
        for site in self.sites(exclude):
            rows = query_rows(self, pgsql.SQL(
                'SELECT {order}, {time}, extract(epoch FROM now() - {time})::float FROM {table}'
                ' WHERE {col} = %s ORDER BY {order} DESC LIMIT 1').format(**self.ident), (site,))
            if rows:
                row = dict(site=site, id=rows[0][0], ts=rows[0][1].isoformat(), age_seconds=round(rows[0][2], 3), _ts=rows[0][1])
                if found is None or row['_ts'] > found['_ts']:
                    found = row
        if found:
            found.pop('_ts')
        return found

    def has(self, row):
        return bool(query_rows(self, pgsql.SQL('SELECT 1 FROM {table} WHERE {col} = %s AND {order} = %s').format(**self.ident),
                               (row['site'], row['id'])))


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        publisher=dict(type='dict', required=True, options=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', default=5432),
            dbname=dict(type='str', required=True),
            user=dict(type='str', required=True),
            password=dict(type='str', no_log=True),
            connect_timeout=dict(type='int', default=10),
        )),
        local_site=dict(type='str', required=True),
        table=dict(type='str', default='public.log_event'),
        column=dict(type='str', default='db_site'),
        order_column=dict(type='str', default='id'),
        time_column=dict(type='str', default='ts'),
        timeout=dict(type='int', default=10),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params['timeout'] < 0:
        module.fail_json(msg='timeout must be 0 or more')
    ensure_required_libs(module)
    local_conn = connect(module, what='this Log Database')
    result = dict(changed=False, flow='unknown', publisher_reachable=False, publisher_newest=None, arrived_newest=None,
                  waited_seconds=0.0)
    try:
        local = LogDb(module, local_conn)
        pub_params = dict((k, v) for k, v in module.params['publisher'].items() if v is not None)
        try:
            pub_conn = open_connection(pub_params, "the publisher's Log Database", secrets=[pub_params.get('password')])
        except PgConnectionError as e:
            result.update(arrived_newest=local.newest(module.params['local_site']),
                          msg='unknown: %s' % e.msg)
            module.exit_json(**result)
        try:
            published = LogDb(module, pub_conn).newest(module.params['local_site'])
        finally:
            pub_conn.close()
        result.update(publisher_reachable=True, publisher_newest=published)
        started = time.monotonic()
        arrived = published is None or local.has(published)
        while not arrived and time.monotonic() - started < module.params['timeout']:
            time.sleep(POLL_INTERVAL)
            arrived = local.has(published)
        result['waited_seconds'] = round(time.monotonic() - started, 3) if published else 0.0
        result['arrived_newest'] = local.newest(module.params['local_site'])
    finally:
        local_conn.close()

    if published is None:
        result.update(flow='idle', msg='idle: the publisher holds no row of its own')
    elif arrived:
        result.update(flow='moving', msg="moving: the publisher's newest row (%s #%s) is here" % (published['site'], published['id']))
    else:
        result.update(flow='not moving', msg="not moving: the publisher's newest row (%s #%s, %s s old) has not arrived within %d s" % (
            published['site'], published['id'], published['age_seconds'], module.params['timeout']))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
