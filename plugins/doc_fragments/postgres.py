# -*- coding: utf-8 -*-
# Copyright: Contributors to the genesys_dr.framework collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of every PostgreSQL module (module_utils/postgres.py).
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host name or address of the PostgreSQL server.
      - When neither O(login_host) nor O(login_unix_socket) is set, libpq connects through
        its default Unix socket directory.
    type: str
  login_port:
    description:
      - TCP port of the PostgreSQL server (also the port number of the Unix socket file).
    type: int
    default: 5432
  login_user:
    description:
      - Role the module connects as.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Never shown in output.
    type: str
  login_unix_socket:
    description:
      - Directory of the server's Unix socket, used when O(login_host) is not set.
    type: path
  login_db:
    description:
      - Database the module connects to and acts on.
    type: str
    required: true
  ssl_mode:
    description:
      - libpq C(sslmode) of the connection.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - File of CA certificates that signed the server certificate (libpq C(sslrootcert)),
        for O(ssl_mode=verify-ca) or O(ssl_mode=verify-full).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for a connection to be established (libpq C(connect_timeout)), for each address of the host.
      - A server that does not complete the connection within this time is reported unreachable.
      - Must be at least 1 (libpq reads 0 as no limit).
    type: int
    default: 5
  keepalives_idle:
    description:
      - Seconds a TCP connection may stay silent before the client starts sending TCP keepalive probes
        (libpq C(keepalives_idle); keepalives are always on).
      - With O(keepalives_interval), O(keepalives_count) and O(tcp_user_timeout) it bounds how long a
        statement waits for a server that stopped answering (network partition, host lost) - without
        them the kernel waits about fifteen minutes.
      - Applies to every TCP connection the module opens and, in M(genesys_dr.framework.pg_subscription),
        also to the connection string of a subscription (its workers' connection to the publisher).
      - Must be at least 1.
    type: int
    default: 5
  keepalives_interval:
    description:
      - Seconds between TCP keepalive probes that are not answered (libpq C(keepalives_interval)).
      - Must be at least 1.
    type: int
    default: 2
  keepalives_count:
    description:
      - Unanswered TCP keepalive probes after which the connection is considered dead (libpq C(keepalives_count)).
      - On Linux, when O(tcp_user_timeout) is set (it is, by default), the kernel ends the connection once
        O(tcp_user_timeout) has passed since the peer was last heard from and at least one probe went
        unanswered, whichever count this is.
      - Must be at least 1.
    type: int
    default: 3
  tcp_user_timeout:
    description:
      - B(Milliseconds), as in libpq C(tcp_user_timeout) - how long data sent may stay unacknowledged (and,
        with keepalives, how long the peer may stay silent) before the connection is ended.
      - The default detects a dead peer within about 15 seconds. Raise it together with the other
        options for links that are known to stall longer without being down.
      - Must be at least 1.
    type: int
    default: 15000
requirements:
  - psycopg2 (python3-psycopg2 on Debian) on the host that runs the module.
notes:
  - Every wait on a server is bounded - the connection by O(connect_timeout), every statement on an open connection
    by TCP keepalives and O(tcp_user_timeout) - so a task never hangs on a server that stopped answering. A connection
    over a Unix socket is not concerned (it has no TCP peer).
  - A failed connection is reported with its cause, each with its own fix - authentication
    refused (user, password, pg_hba.conf), server unreachable (not running, wrong
    address or port, network down), database missing.
'''
