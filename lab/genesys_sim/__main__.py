"""Command line: ``python3 -m genesys_sim <command> ...`` (see the package docstring)."""

import argparse
import importlib
import sys

from genesys_sim import client, daemon

# Imported on demand: only the database-facing commands need psycopg2, so the client
# (and proxies, SCSs) run on any Python 3.
APPS = {"confserv": ("confserv", "ConfServ"), "csproxy": ("proxy", "CSProxy"), "scs": ("scs", "SCS"),
        "msgserver": ("msgserver", "MsgServer")}


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 64 (EX_USAGE): 2 means "refused by the server" for ``client``."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(client.EX_USAGE, "%s: error: %s\n" % (self.prog, message))


def build_parser():
    parser = _Parser(prog="genesys_sim", description="Simulated Genesys Management Framework applications")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for kind in APPS:
        # Genesys style: single-dash options; -app must stay visible in the command line.
        app = commands.add_parser(kind, help="run a %s application as a daemon" % kind, allow_abbrev=False)
        app.add_argument("-host", required=True, help="Configuration Server host (confserv: its peer's host)")
        app.add_argument("-port", required=True, type=int, help="Configuration Server port (confserv: its own)")
        app.add_argument("-app", required=True, help="application name")
        app.add_argument("-config", required=True, help="INI configuration file")

    cli = commands.add_parser("client", help="send one request and print the reply")
    cli.add_argument("--server", required=True, help="HOST:PORT of the application")
    cli.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the reply")
    cli.add_argument("words", nargs="+", metavar="WORD",
                     help="status | get TYPE NAME | put TYPE NAME JSON | delete TYPE NAME | list [TYPE]")

    install = commands.add_parser("install-db", help="create a Genesys database (simulated install)")
    install.add_argument("--dsn", required=True, help="libpq connection string of an admin/superuser")
    install.add_argument("--database", required=True, choices=["cfgdb", "logdb"])
    install.add_argument("--site", required=True, help="site whose DBMS this is (genesys.db_site)")
    install.add_argument("--owner", required=True, help="NOLOGIN role that owns database and schema")
    install.add_argument("--grant-write", default="", help="comma-separated login roles to grant read/write")
    install.add_argument("--seed", type=int, default=0, help="insert N configuration objects into an empty cfgdb")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "client":
        return client.main(args)
    if args.command == "install-db":
        return importlib.import_module("genesys_sim.installdb").main(args)
    module, class_name = APPS[args.command]
    app_class = getattr(importlib.import_module("genesys_sim." + module), class_name)
    try:
        app = app_class(args.app, args.host, args.port, args.config)
    except daemon.ConfigError as exc:
        print("%s %s: %s" % (args.command, args.app, exc), file=sys.stderr)
        return 1
    return daemon.run(app)


if __name__ == "__main__":
    sys.exit(main())
