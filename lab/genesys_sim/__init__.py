"""Simulated Genesys Management Framework applications for the DR lab.

Behaves like the real applications where the DR procedures depend on it: Genesys
style command lines, daemons found by their command line, a master Configuration
Server pair that reads and writes the Configuration Database over a real PostgreSQL
connection and serves only with write access, proxies that find the master by DNS
name and fall back to limited mode, Message Servers that store log events in the Log
Database. Standard library plus psycopg2 (only for the database-facing commands).

Run with ``lab`` on PYTHONPATH: ``python3 -m genesys_sim <command> ...``.

Applications
============

``python3 -m genesys_sim <kind> -host <host> -port <port> -app <AppName> -config <file.cfg>``

kind is ``confserv`` (master Configuration Server), ``csproxy`` (Configuration Server
Proxy), ``msgserver`` (Message Server / Log Message Server) or ``scs`` (Solution
Control Server, distributed mode). The process keeps that command line (no exec), so
``-app <AppName>`` identifies it in /proc/PID/cmdline.

-host/-port:
  confserv: its own host and listen port. It listens on ``[app] listen_host`` (default
  0.0.0.0) and -port; -host is used to reach its peer at ``[confserv] peer_port`` (the
  pair runs on one host).
  csproxy: the master Configuration Server's DNS name and port.
  msgserver, scs: the Configuration Server they would take their configuration from;
  kept for the Genesys command-line shape, unused (the simulation reads the file).

Start-up: the launcher double-forks a daemon (setsid, stdin /dev/null, stdout/stderr
into the log) and waits up to 15 s for it: exit 0 with one line on stdout ("<kind>
<AppName> started, pid N, mode M") once it listens and is initialised; exit 1 with the
reason on stderr when it failed (e.g. no write access), died or stayed silent. Ready
means: confserv connected with write access (primary) or listening (backup); csproxy
listening after its first attempt to reach the master (mode normal or limited; the
wait for that attempt is capped at 10 s); msgserver and scs listening.
Exit 64 for command-line errors, 1 for configuration errors (before daemonizing).

Files, next to the configuration file: ``logs/<AppName>.log`` (appended) and
``<AppName>.pid`` (removed at a graceful stop; informative only).

Signals: SIGTERM (or SIGINT) stops gracefully: logs it, closes the listener and every
connection, exits 0. SIGHUP: csproxy re-resolves the master name (see below); the
others log it and carry on.

Configuration file (INI; ``;``/``#`` comments, also inline)::

  [app]
  site = site1              ; required, every kind
  listen_host = 0.0.0.0     ; optional
  port = 2030               ; own listen port, required (confserv: optional, must equal -port)

  [dbserver]                ; confserv, and msgserver with log_db = true
  host = 198.18.1.10
  port = 5432               ; default 5432
  dbname = cfgdb
  user = genesys_cs         ; the application's own login role
  password = ...            ; optional

  [confserv]
  role = primary            ; primary | backup, required
  peer_port = 2021          ; the other member's port: required for a backup;
                            ; optional for a primary (see "Configuration Server")

  [proxy]
  backup_port = 2021        ; the master backup's port (optional)
  reconnect_interval = 10   ; seconds between attempts to reach a master
  heartbeat_interval = 2    ; seconds between pings to the master
  heartbeat_timeout = 5     ; no answer within this: master lost

  [messageserver]
  signature = scs_distributed   ; optional, shown in status
  log_db = false            ; true: Log Message Server writing log_event

  [scs]
  message_server = 198.18.1.30:4040   ; required
  mode = distributed        ; default, shown in status

  [log]
  network = 198.18.1.40:5050   ; optional: Log Message Server for this app's events

Configuration Server
--------------------
Serving ("primary" mode): every request but status/ping needs write access of its
login role to the cfg_* tables (INSERT, UPDATE, DELETE; USAGE on their sequences;
database not read-only). Checked at start (no access or unreachable: start fails),
every second, and after any failed DB operation; a terminated session is replaced
(an operation that found its session dead before COMMIT is retried once). On losing
access it drops every connection except a watching backup and answers
``no_write_access`` until access is back. put/delete: one transaction each; the reply
(and the change notification to subscribers, sent first) follows the COMMIT.

"backup" mode: answers only status/ping (others: ``backup_mode``), connects to
-host:peer_port with ``hello role=backup`` and pings it every second (3 s timeout).
When that connection is lost it takes over (primary mode, same write-access rules).
It never takes over from a primary it has not reached yet. A *primary* whose peer_port
is set starts in backup mode when that peer already serves (it took over earlier), so
restarting the old primary does not make two serving servers.

Status: app, kind, site, role, mode (primary | backup | no_write_access), since, db
{host, port, dbname, user}, clients (connected proxies), peer, peer_connected, pid.

Configuration Server Proxy
--------------------------
Each connection attempt resolves the master name with socket.getaddrinfo (the system
resolver, no cache of its own) and tries every address on -port, then backup_port;
a server that refuses ``hello`` (backup_mode, no_write_access) counts as unavailable.
Connected: hello, subscribe, list (subscribing first means no change can fall between
the snapshot and the notifications), then a ping every heartbeat_interval. EOF or a
ping unanswered within heartbeat_timeout: limited mode; retried every
reconnect_interval, at once on SIGHUP. SIGHUP while connected (even with a ping still
unanswered: like the real, event-driven proxy, an outstanding heartbeat does not hold it
back): re-resolve at once; if the current master address is no longer in the answer,
disconnect and reconnect at once.
Reads (get, list) come from the cache in any mode. Writes are forwarded and the
master's reply relayed; in limited mode they are refused with ``limited_mode``; a write
whose connection to the master broke before the reply gets ``master_lost`` (outcome
unknown). Status: app, mode (normal | limited), master ("ip:port" or null),
master_name, master_ports, since, cached_objects, pid.

Message Server / Solution Control Server
----------------------------------------
msgserver keeps a registry of ``hello`` registrations (status: clients). With
``log_db = true``, ``log`` events go to log_event in arrival order through a queue of up
to 10000 events that waits out DB outages (reconnect every 2 s; a full queue refuses
with ``queue_full``); status adds db.connected, queued, written, dropped. Without it,
``log`` is refused with ``no_log_db``.
scs registers with ``[scs] message_server`` (hello role=scs), pings it every 2 s and
re-registers every 2 s after a loss; status: mode/registered (registered |
unregistered), message_server.

Log lines
=========
``<YYYY-MM-DD>T<HH:MM:SS.mmm> <Std|Alarm|Trc> <id> <text>``. The ones automation may
look for (events marked * are also sent to ``[log] network``)::

  04503   Listening on HOST:PORT
  05060*  Application NAME (KIND) started, pid N, mode MODE
  05061*  Application NAME (KIND) stopping: SIGTERM
  05062*  Application NAME (KIND) start failed: REASON
  05064   Application NAME stopped
  21001   Connected with write access: role 'U' on database 'D' at H:P
  21002*  Database unreachable for role 'U' on database 'D' at H:P: ERROR[; refusing clients, mode no_write_access]
  21003*  No write access for role 'U' on database 'D' at H:P: DETAIL[; refusing clients, mode no_write_access]
  21004*  Write access for role 'U' on database 'D' at H:P available; serving clients, mode primary
  21005   Dropped N client connections
  21020*  Connected to primary at H:P; backup mode
  21021   Peer at H:P already serves (mode M); starting in backup mode
  21030*  Connection to primary H:P lost (REASON); switching to primary mode
  22001*  Connected to master Configuration Server IP:PORT (NAME), N objects cached; mode normal
  22002*  Connection to master Configuration Server IP:PORT lost (REASON); mode limited
  22003*  Master Configuration Server NAME (ports P/B) not available: REASONS; mode limited
  22009   SIGHUP received: re-resolving NAME
  23001*  Connected to Log Database 'D' at H:P
  23002*  Log Database 'D' at H:P unavailable (ERROR); queueing events
  24001*  Registered with Message Server H:P
  24002*  Connection to Message Server H:P lost (REASON)

Protocol
========
JSON objects, one per line, over TCP. Request ``{"op": ..., ...}``; reply
``{"ok": true, ...}`` or ``{"ok": false, "code": ..., "error": ...}``.

  status                    every kind
  ping                      every kind
  hello {role, app, site}   confserv, csproxy, msgserver
  get {type, name}          confserv, csproxy -> {object}
  put {type, name, data}    confserv, csproxy -> {object} (with its dbid)
  delete {type, name}       confserv, csproxy -> {object} (as it was)
  list {type?}              confserv, csproxy -> {objects: [...]}
  subscribe                 confserv; then {"event": "changed", "op": "put"|"delete",
                            "object": {...}} lines arrive on that connection
  log {level, message, app, site}   msgserver (app/site default to those of hello)

Object: ``{"type": "CfgPerson", "name": ..., "dbid": N, "data": {...}}``; types CfgPerson,
CfgDN, CfgAgentLogin, CfgApplication, CfgHost (tables cfg_person, cfg_dn,
cfg_agent_login, cfg_application, cfg_host). Error codes: bad_request, unknown_op,
unknown_type, not_found, backup_mode, no_write_access, db_error, limited_mode,
master_lost, no_log_db, queue_full, internal_error.

Client
======
``python3 -m genesys_sim client --server HOST:PORT [--timeout S] status | get TYPE NAME |
put TYPE NAME JSON | delete TYPE NAME | list [TYPE]`` prints the reply as JSON; exit 0
ok, 2 refused (code and text on stderr), 1 no reply (connection refused, closed,
timeout; message on stderr), 64 usage error. In Python:
``genesys_sim.client.Client(host, port, timeout).request({...}) -> dict`` (raises
``ClientError``, an OSError, when there is no reply).

Install
=======
``python3 -m genesys_sim install-db --dsn DSN --database cfgdb|logdb --site SITE
--owner OWNER [--grant-write ROLE[,ROLE]] [--seed N]``: as the admin in DSN, creates the
NOLOGIN owner role and the database (owned by it) if missing, sets the database's
``genesys.db_site`` to SITE, creates the schema from ``sql/<database>.sql`` as the owner,
grants each listed (existing) login role CONNECT, USAGE on schema public,
SELECT/INSERT/UPDATE/DELETE on its tables and USAGE/SELECT on its sequences, and with
``--seed N`` (cfgdb only) inserts N objects spread over the types (``person_00001``,
``dn_00001``, ``agent_login_00001``, ``application_00001``, ``host_00001``, ...) when no
configuration exists yet. Idempotent; prints a JSON summary with ``changed``.
"""
