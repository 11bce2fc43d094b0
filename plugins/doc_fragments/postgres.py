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
      - Seconds to wait for the connection to be established.
    type: int
    default: 10
requirements:
  - psycopg2 (python3-psycopg2 on Debian) on the host that runs the module.
notes:
  - A failed connection is reported with its cause, each with its own fix - authentication
    refused (user, password, pg_hba.conf), server unreachable (not running, wrong
    address or port, network down), database missing.
'''
