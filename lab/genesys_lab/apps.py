"""Installs the simulated Genesys applications (not started) in per-host app directories
that follow the Genesys layout: <base>/<AppName>/{run.sh, <AppName>.cfg, logs/}."""
import os
import shutil

from .postgres import CS_ROLE, MS_ROLE, PG_PORT
from .system import write_file
from .topology import MASTER_NAME, ZONE, state_dir

CS_PORT, CS_BACKUP_PORT = 2020, 2021
SCS_MS_PORT, MASTER_SCS_PORT = 4900, 5000
PROXY_PORT, PROXY_BACKUP_PORT = 2030, 2031
LMS_PORT, SITE_SCS_PORT = 4910, 5001
# The DR test instance of each master application (drtest.yml): an application directory of its
# own (<AppName>_drtest, with its run.sh and configuration) beside the production one, on a test
# port no proxy resolves, serving a copy of the Configuration Database (DRTEST_DB).
DRTEST_OFFSET, DRTEST_DB, DRTEST_SUFFIX = 10000, "cfgdb_drtest", "_drtest"
SIM_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "genesys_sim")


def instances(topo, host):
    """Every application installed on a host: the planned ones and their DR test instances."""
    planned = plan(topo, host)[0]
    return planned + [a["drtest"] for a in planned if a.get("drtest")]


def sim_path():
    return os.path.join(state_dir(), "sim")


def app_base(host):
    return os.path.join(host.dir, "genesys")


def plan(topo, host):
    """The applications a host runs, as the inventory describes them."""
    if host.role not in ("mgmt", "app"):
        return [], None
    site = host.site
    master = "%s.%s" % (MASTER_NAME, ZONE)
    main_db = topo.site(topo.main_site).host("db")
    site_app = topo.sites[host.site_no].host("app")
    lms = "%s:%d" % (site_app.address, LMS_PORT)
    if host.role == "mgmt":
        db = topo.sites[host.site_no].host("db")
        cs_db = {"host": db.address, "port": PG_PORT, "dbname": "cfgdb", "user": CS_ROLE, "password_key": "db_cs_password"}
        return _with_drtest(host, [
            dict(name="confserv_%s_primary" % site, kind="confserv", component="master_cs", role="primary",
                 port=CS_PORT, host_arg=host.address, port_arg=CS_PORT, db=cs_db,
                 sections={"confserv": {"role": "primary", "peer_port": CS_BACKUP_PORT}}),
            dict(name="confserv_%s_backup" % site, kind="confserv", component="master_cs", role="backup",
                 port=CS_BACKUP_PORT, host_arg=host.address, port_arg=CS_BACKUP_PORT, db=cs_db,
                 sections={"confserv": {"role": "backup", "peer_port": CS_PORT}}),
            dict(name="ms_scs_%s" % site, kind="msgserver", component="scs_message_server", role="primary",
                 port=SCS_MS_PORT, host_arg=master, port_arg=CS_PORT,
                 sections={"messageserver": {"signature": "scs_distributed", "log_db": "false"}}),
            dict(name="scs_master_%s" % site, kind="scs", component="master_scs", role="primary",
                 port=MASTER_SCS_PORT, host_arg=master, port_arg=CS_PORT,
                 sections={"scs": {"mode": "distributed", "message_server": "%s:%d" % (host.address, SCS_MS_PORT)}}),
        ]), lms
    ms_db = {"host": main_db.address, "port": PG_PORT, "dbname": "logdb", "user": MS_ROLE, "password_key": "db_ms_password"}
    proxy = {"backup_port": CS_BACKUP_PORT, "reconnect_interval": 10, "heartbeat_interval": 2, "heartbeat_timeout": 5}
    return [
        dict(name="csproxy_%s_primary" % site, kind="csproxy", component="proxy", role="primary",
             port=PROXY_PORT, host_arg=master, port_arg=CS_PORT, sections={"proxy": proxy}),
        dict(name="csproxy_%s_backup" % site, kind="csproxy", component="proxy", role="backup",
             port=PROXY_BACKUP_PORT, host_arg=master, port_arg=CS_PORT, sections={"proxy": proxy}),
        dict(name="lms_%s" % site, kind="msgserver", component="log_message_server", role="primary",
             port=LMS_PORT, host_arg=master, port_arg=CS_PORT, db=ms_db,
             sections={"messageserver": {"signature": "", "log_db": "true"}}),
        dict(name="scs_%s" % site, kind="scs", component="site_scs", role="primary",
             port=SITE_SCS_PORT, host_arg=site_app.address, port_arg=PROXY_PORT,
             sections={"scs": {"mode": "distributed", "message_server": lms}}),
    ], lms


def _with_drtest(host, masters):
    """Give each master application its DR test instance, as an operator prepares one: the same
    program with another configuration - its own name and ports, the copy of the Configuration
    Database, the test Configuration Server and Message Server, no log events to production."""
    for app in masters:
        sections = {k: dict(v) for k, v in app["sections"].items()}
        if "confserv" in sections:
            sections["confserv"]["peer_port"] += DRTEST_OFFSET
        if "scs" in sections:
            sections["scs"]["message_server"] = "%s:%d" % (host.address, SCS_MS_PORT + DRTEST_OFFSET)
        app["drtest"] = dict(
            app, name=app["name"] + DRTEST_SUFFIX, port=app["port"] + DRTEST_OFFSET, sections=sections,
            host_arg=host.address, port_arg=app["port_arg"] + DRTEST_OFFSET if app["kind"] == "confserv" else CS_PORT + DRTEST_OFFSET,
            db=dict(app["db"], dbname=DRTEST_DB) if app.get("db") else None, log_network=False)
    return masters


def _cfg(host, app, lms, secrets):
    lines = ["[app]", "site = %s" % host.site, "listen_host = %s" % host.address, "port = %d" % app["port"], ""]
    db = app.get("db")
    if db:
        lines += ["[dbserver]", "host = %s" % db["host"], "port = %d" % db["port"], "dbname = %s" % db["dbname"],
                  "user = %s" % db["user"], "password = %s" % secrets[db["password_key"]], ""]
    for section, values in app["sections"].items():
        lines.append("[%s]" % section)
        lines += ["%s = %s" % (k, v) for k, v in values.items()]
        lines.append("")
    if app.get("log_network", True) and (app["kind"] != "msgserver" or app["sections"]["messageserver"]["log_db"] != "true"):
        lines += ["[log]", "network = %s" % lms, ""]
    return "\n".join(lines)


def install_sim():
    dst = os.path.join(sim_path(), "genesys_sim")
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    shutil.copytree(SIM_SRC, dst, ignore=shutil.ignore_patterns("__pycache__"))


def install(topo, host, secrets):
    apps, lms = plan(topo, host)
    for app in instances(topo, host):
        d = os.path.join(app_base(host), app["name"])
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        cfg = "%s.cfg" % app["name"]
        write_file(os.path.join(d, cfg), _cfg(host, app, lms, secrets), mode=0o600)
        write_file(os.path.join(d, "run.sh"), (
            "#!/bin/sh\n"
            "# Start script of Genesys application %(name)s (lab simulation of the real binary).\n"
            "cd \"$(dirname \"$0\")\" || exit 1\n"
            "PYTHONPATH=%(sim)s\nexport PYTHONPATH\n"
            "exec /usr/bin/python3 -m genesys_sim %(kind)s -host %(h)s -port %(p)d -app %(name)s -config ./%(cfg)s\n"
        ) % {"name": app["name"], "sim": sim_path(), "kind": app["kind"], "h": app["host_arg"],
             "p": app["port_arg"], "cfg": cfg}, mode=0o755)
    return apps
