"""labctl's verbs: build, inspect, break and mend the lab."""
import json
import os
import secrets as pysecrets
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from . import apps, bind, network, postgres, sshd
from .system import LabError, kill_pids, netns_pids, netns_list, run, write_file
from .topology import NET_PREFIX, ROUTER_NS, Topology, state_dir

SEED_OBJECTS = 3000
ANSIBLE_CP_DIR = "/tmp/genesys-dr-ansible-cp"   # ansible.cfg control_path_dir
SECRET_NAMES = ("db_admin_password", "db_cs_password", "db_ms_password")


def _topology_path():
    return os.path.join(state_dir(), "topology.json")


def _faults_path():
    return os.path.join(state_dir(), "faults.json")


def load():
    if not os.path.exists(_topology_path()):
        raise LabError("the lab is not up (no %s); run: labctl up" % _topology_path())
    return Topology.load(_topology_path())


def _secrets_dir():
    return os.path.join(state_dir(), "secrets")


def load_secrets():
    out = {}
    for name in SECRET_NAMES + ("tsig_secret",):
        with open(os.path.join(_secrets_dir(), name)) as f:
            out[name] = f.read().strip()
    return out


def _ensure_secrets():
    d = _secrets_dir()
    os.makedirs(d, mode=0o700, exist_ok=True)
    for name in SECRET_NAMES:
        path = os.path.join(d, name)
        if not os.path.exists(path):
            write_file(path, pysecrets.token_urlsafe(24) + "\n", mode=0o600)
    if not os.path.exists(os.path.join(d, "tsig_secret")):
        secret = bind.new_secret()
        write_file(os.path.join(d, "tsig_secret"), secret + "\n", mode=0o600)
        write_file(os.path.join(d, "tsig.key"), bind.key_clause(secret), mode=0o600)
    return load_secrets()


def _faults():
    try:
        with open(_faults_path()) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _save_faults(faults):
    write_file(_faults_path(), json.dumps(faults, indent=2) + "\n")


def _step(label, started):
    print("  %-44s %6.2f s" % (label, time.monotonic() - started), flush=True)
    return time.monotonic()


def up(n_sites, main_site="site1"):
    if os.geteuid() != 0:
        raise LabError("labctl needs root (network namespaces, bridges)")
    for tool in ("/usr/sbin/named", "/usr/sbin/sshd", postgres.PG_BIN + "/postgres", "/usr/bin/dig"):
        if not os.path.exists(tool):
            raise LabError("%s is missing: run `make deps` (installs bindep.txt)" % tool)
    if os.path.exists(_topology_path()):
        old = Topology.load(_topology_path())
        if len(old.dr_sites) != n_sites or old.main_site != main_site:
            raise LabError("the lab is up with %d sites and main %s; run `labctl down` before `labctl up --sites %d --main %s`"
                           % (len(old.dr_sites), old.main_site, n_sites, main_site))
    if _faults():
        raise LabError("faults are active (%s): `labctl heal SITE` first" % ", ".join(
            "%s: %s" % kv for kv in _faults().items()))
    t0 = t = time.monotonic()
    print("labctl up: %d sites, state in %s" % (n_sites, state_dir()), flush=True)
    topo = Topology.build(n_sites, main_site)
    os.makedirs(os.path.join(state_dir(), "hosts"), exist_ok=True)
    os.chmod(state_dir(), 0o755)
    os.chmod(os.path.join(state_dir(), "hosts"), 0o755)
    # Written first so that status/down/a second up work after a run that failed midway.
    write_file(_topology_path(), topo.to_json() + "\n")
    secrets = _ensure_secrets()
    apps.install_sim()
    t = _step("secrets, simulator", t)

    network.up(topo)
    t = _step("namespaces, bridges, WAN router", t)

    sshd.ensure_keys(topo)
    for host in topo.hosts():
        sshd.start(host)
    t = _step("sshd on %d hosts" % len(topo.hosts()), t)

    bind.configure(topo, secrets["tsig_secret"])
    bind.start(topo.dns_primary)
    for site in topo.dr_sites:
        bind.start(site.host("dns"))
    bind.wait_serving(topo)
    t = _step("BIND primary + %d secondaries" % len(topo.dr_sites), t)

    db_hosts = [s.host("db") for s in topo.dr_sites if s.host("db")]

    def db_up(host):
        postgres.init(host, NET_PREFIX + ".0.0/16")
        postgres.start(host)
        postgres.ensure_roles(host, secrets)
        seed = SEED_OBJECTS if host.site == topo.main_site else 0
        postgres.install_genesys_dbs(host, secrets, host.site, seed, apps.sim_path())

    with ThreadPoolExecutor(len(db_hosts)) as pool:
        list(pool.map(db_up, db_hosts))
    t = _step("PostgreSQL 15 + cfgdb/logdb on %d DB hosts" % len(db_hosts), t)

    for host in topo.hosts():
        apps.install(topo, host, secrets)
    for host in topo.hosts():
        sshd.wait_reachable(host)
    t = _step("Genesys apps installed, ssh reachable", t)
    print("labctl up: ready in %.1f s (%d hosts); inventory: inventories/lab" % (time.monotonic() - t0, len(topo.hosts())))
    return topo


def _kill_ssh_control_masters():
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("ssh\0") and ANSIBLE_CP_DIR in cmd:
            pids.append(int(pid))
    kill_pids(pids, signal.SIGTERM)
    shutil.rmtree(ANSIBLE_CP_DIR, ignore_errors=True)


def down():
    t0 = time.monotonic()
    if os.path.exists(_topology_path()):
        for site in Topology.load(_topology_path()).dr_sites:
            if site.host("db"):
                postgres.stop(site.host("db"))
    lab_ns = [ns for ns in netns_list() if ns == ROUTER_NS or ns.startswith("gdr-")]
    leftover = kill_pids([p for ns in lab_ns for p in netns_pids(ns)], signal.SIGKILL)
    if leftover:
        raise LabError("processes survived SIGKILL: %s" % leftover)
    _kill_ssh_control_masters()
    network.down()
    if os.path.isdir(state_dir()):
        shutil.rmtree(state_dir())
    print("labctl down: done in %.1f s" % (time.monotonic() - t0))


def _lab_processes(netns):
    out = []
    for pid in netns_pids(netns):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        out.append((pid, argv))
    return out


def app_pids(host, name):
    return [pid for pid, argv in _lab_processes(host.netns)
            if "-app" in argv and argv.index("-app") + 1 < len(argv) and argv[argv.index("-app") + 1] == name]


def status():
    topo = load()
    faults = _faults()
    print("lab state: %s   sites: %s   faults: %s" % (state_dir(), ", ".join(s.name for s in topo.dr_sites),
                                                      ", ".join("%s=%s" % kv for kv in faults.items()) or "none"))
    print("%-12s %-15s %-6s %-6s %-6s %-6s %s" % ("host", "address", "wan", "sshd", "pg", "named", "genesys apps"))
    for host in topo.hosts():
        site = topo.sites[host.site_no]
        planned = apps.plan(topo, host)[0]
        app_txt = " ".join("%s:%s" % (a["name"], ",".join(map(str, app_pids(host, a["name"]))) or "-") for a in planned)
        print("%-12s %-15s %-6s %-6s %-6s %-6s %s" % (
            host.name, host.address,
            "up" if network.wan_link_up(site) else "CUT",
            "up" if sshd.running(host) else "-",
            ("up" if postgres.running(host) else "DOWN") if host.role == "db" else "",
            ("up" if bind.running(host) else "DOWN") if host.role == "dns" else "",
            app_txt))


def fault(kind, site_name):
    topo = load()
    site = topo.site(site_name)
    if site is topo.shared:
        raise LabError("the shared site holds the controller and the primary DNS server; fault a DR site")
    faults = _faults()
    network.set_wan_link(site, False)
    if kind == "site-loss":
        pids = [p for h in site.hosts for p in netns_pids(h.netns)]
        survivors = kill_pids(pids, signal.SIGKILL)
        if survivors:
            raise LabError("processes of %s survived SIGKILL: %s" % (site_name, survivors))
        print("fault site-loss %s: WAN link cut, %d processes killed" % (site_name, len(pids)))
    else:
        print("fault partition %s: WAN link cut; hosts inside %s still reach each other" % (site_name, site_name))
    if faults.get(site_name) != "site-loss":
        faults[site_name] = kind
    _save_faults(faults)


def heal(site_name):
    topo = load()
    site = topo.site(site_name)
    faults = _faults()
    kind = faults.pop(site_name, None)
    if kind == "site-loss":
        # Power comes back: the infrastructure restarts, the Genesys applications do not.
        for host in site.hosts:
            sshd.start(host)
            if host.role == "db":
                postgres.start(host)
            if host.role == "dns":
                bind.start(host)
    network.set_wan_link(site, True)
    for host in site.hosts:
        sshd.wait_reachable(host)
    _save_faults(faults)
    print("heal %s: WAN link up%s" % (site_name, "; sshd, PostgreSQL, DNS restarted (Genesys apps stay down)"
                                      if kind == "site-loss" else ""))


def app(action, host_name, app_name):
    """Start/stop one simulated Genesys application through its own run.sh, on its host."""
    topo = load()
    host = topo.host(host_name)
    names = [a["name"] for a in apps.instances(topo, host)]
    if app_name not in names:
        raise LabError("%s runs no application %r (it runs: %s)" % (host_name, app_name, ", ".join(names) or "none"))
    pids = app_pids(host, app_name)
    if action == "start":
        if pids:
            print("%s on %s: already running (pid %s)" % (app_name, host_name, ",".join(map(str, pids))))
            return
        proc = run(["ip", "netns", "exec", host.netns, os.path.join(apps.app_base(host), app_name, "run.sh")],
                   check=False)
        if proc.returncode != 0:
            raise LabError("%s on %s did not start: %s" % (app_name, host_name, (proc.stderr or proc.stdout).strip()))
        print("%s on %s: started (pid %s)" % (app_name, host_name, ",".join(map(str, app_pids(host, app_name)))))
    else:
        if kill_pids(pids, signal.SIGTERM, wait=15):
            raise LabError("%s on %s did not stop on SIGTERM" % (app_name, host_name))
        print("%s on %s: %s" % (app_name, host_name, "stopped" if pids else "was not running"))


def client(host_name, args):
    """The simulator's client command, run on a lab host (its namespace and resolver)."""
    topo = load()
    host = topo.host(host_name)
    env = dict(os.environ, PYTHONPATH=apps.sim_path())
    proc = run(["ip", "netns", "exec", host.netns, "/usr/bin/python3", "-m", "genesys_sim", "client"] + list(args),
               check=False, env=env)
    print(proc.stdout, end="")
    if proc.stderr:
        print(proc.stderr, end="", file=sys.stderr)
    return proc.returncode
