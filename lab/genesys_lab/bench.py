"""The failover benchmark that `make bench` runs: the playbook against a bare runbook.

Each cycle builds a fresh lab (`labctl up`), converges it with normal.yml, starts an
independent client at every site that keeps a master (every DR site in a planned failover,
the surviving ones otherwise) that tries a write through its site's proxy every 100 ms,
injects the fault of the scenario (disaster: `labctl fault site-loss` of the main;
partition: `labctl fault partition` of the main; planned and failback: none), and then
recovers one of these ways (the variants). A failback cycle first runs, untimed, a planned
failover.yml and reprotect.yml (a playbook variant's own; this tree's for the runbook, which
has no reprotect), so that the secondary is live and the main replicates from it; its
recovery then switches back to the main.

- playbook: `ansible-playbook failover.yml` (disaster and partition: confirmed by naming the
  lost site; planned: `failover_mode=planned`), or `failback.yml` in a failback, on plain SSH;
- mitogen (opt-in, `--variants playbook mitogen runbook`): exactly the playbook variant, but
  every ansible-playbook of the cycle (normal.yml as well as failover.yml) runs with
  GENESYS_DR_MITOGEN=1, so that the collection's fail_stop strategy runs on Mitogen. The
  other variants run with that variable removed, whatever the operator's shell has set, so
  that the "playbook" numbers are always plain SSH;
- runbook: the same steps as a bare script would do them, with no checks, no lock, no report.
  Planned and failback only, first: stop the live site's master applications (backup first)
  and revoke the client write access on its Configuration Database (one ssh, one SQL
  session), then wait until the other site has confirmed its last WAL position. Then, every
  scenario: stop the cfgdb subscription at the site taking over, advance its sequences, grant write access (one SQL
  session), one TSIG-signed DNS UPDATE of the master name and the DR state, wait until the
  DNS servers of the sites with a client answer it, start the master Message Server, SCS,
  Configuration Server primary then backup through their run.sh (one ssh session), SIGHUP
  the proxies site by site (one ssh each).

Variants alternate cycle by cycle (interleaved, in the order given to --variants; the default
is playbook then runbook) so that the load of the machine hits them alike. RTO = from the start of the recovery to the first write acknowledged through a
surviving site's proxy, as that client saw it (the end of the acknowledged attempt). In a
planned failover and a failback the clients' writes go on being acknowledged until the live site's masters stop:
there the RTO ends at the first write acknowledged after a refused one, and a site's limited
mode is its time from the first refused write to the next acknowledged one.

With --baseline TREE (another checkout of the collection, e.g. `git worktree add` of the
commit before a change), every playbook-like variant V also runs as "V@base": the same
cycle with TREE's playbooks, collection, ansible.cfg and lab inventory (the same Ansible,
the same lab code), interleaved right after V. A change is then measured against its
baseline in one run, under the same load.

python -m genesys_lab.bench [--cycles N] [--scenario SCENARIO[:SITES] ...] [--sites N]
                           [--variants playbook|mitogen|runbook ...] [--baseline TREE]

SCENARIO is disaster, planned, failback or partition; without --scenario the bench runs its
full set (FULL_SET: each at 2 sites, and the disaster at 8), one scenario after the other,
the variants interleaved within each. --sites sets the sites of names without :SITES.
"""
import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time

from . import apps, lab
from .postgres import ADMIN_ROLE, CS_ROLE, PG_PORT
from .system import LabError, write_file
from .topology import MASTER_NAME, MASTER_TTL, ZONE, state_dir

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.path.join(TOP, "lab")
LABCTL = [sys.executable, os.path.join(LAB_DIR, "labctl")]
PROBE_INTERVAL = 0.1
MASTER_ORDER = ("scs_message_server", "master_scs", ("master_cs", "primary"), ("master_cs", "backup"))
SCENARIOS = ("disaster", "planned", "failback", "partition")
# What `make bench` measures by default: every scenario of the goals at 2 sites, the disaster at 8.
FULL_SET = (("disaster", 2), ("planned", 2), ("failback", 2), ("partition", 2), ("disaster", 8))
VARIANTS = ("playbook", "mitogen", "runbook")
DEFAULT_VARIANTS = ("playbook", "runbook")
# The variants that recover with failover.yml (the others run a script).
PLAYBOOK_VARIANTS = ("playbook", "mitogen")
# The collection's opt-in switch that puts its fail_stop strategy on Mitogen.
MITOGEN_ENV = "GENESYS_DR_MITOGEN"
# "playbook@base": the playbook variant run from the --baseline tree.
BASELINE_SUFFIX = "@base"
# The --baseline tree of this run (None: no baseline variants).
BASELINE = None


def own_variant(variant):
    """The variant a baseline variant repeats ("mitogen" for "mitogen@base")."""
    return variant[:-len(BASELINE_SUFFIX)] if variant.endswith(BASELINE_SUFFIX) else variant


def variant_tree(variant):
    """The checkout whose playbooks, collection and inventory a variant's cycles run."""
    if variant.endswith(BASELINE_SUFFIX):
        if BASELINE is None:
            raise ValueError("variant %r needs a --baseline tree" % variant)
        return BASELINE
    return TOP


def _log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def playbook_env(variant, report_dir, base=None):
    """The environment of an ansible-playbook run of the variant's cycle: base (default
    os.environ) with the variant's tree's ansible.cfg and the report directory, and
    GENESYS_DR_MITOGEN set for the mitogen variants only; removed otherwise, so that an
    operator's shell setting cannot turn the plain-SSH numbers into Mitogen ones."""
    if own_variant(variant) not in VARIANTS:
        raise ValueError("unknown variant %r (known: %s)" % (variant, ", ".join(VARIANTS)))
    env = dict(os.environ if base is None else base, ANSIBLE_CONFIG=os.path.join(variant_tree(variant), "ansible.cfg"),
               GENESYS_DR_REPORT_DIR=report_dir)
    env.pop(MITOGEN_ENV, None)
    if own_variant(variant) == "mitogen":
        env[MITOGEN_ENV] = "1"
    return env


def _playbook(name, extra, variant, report_dir, log):
    # One Ansible (this tree's venv) for every variant: a baseline differs only in the collection.
    tree = variant_tree(variant)
    cmd = [os.path.join(TOP, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(tree, "inventories", "lab"),
           os.path.join(tree, "playbooks", name)] + list(extra)
    with open(log, "w") as f:
        rc = subprocess.call(cmd, cwd=tree, env=playbook_env(variant, report_dir), stdout=f, stderr=subprocess.STDOUT)
    if rc != 0:
        raise LabError("%s %s failed (rc=%d); see %s" % (name, " ".join(extra), rc, log))


class Probe(object):
    """The independent client at one site: a write through its proxy every 100 ms."""

    def __init__(self, topo, site, out):
        host = site.host("app")
        port = [a["port"] for a in apps.plan(topo, host)[0] if a["component"] == "proxy" and a["role"] == "primary"][0]
        self.out = out
        env = dict(os.environ, PYTHONPATH="%s:%s" % (apps.sim_path(), LAB_DIR))
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", host.netns, "/usr/bin/python3", "-m", "genesys_lab.loadgen",
             "--server", "%s:%d" % (host.address, port), "--prefix", "bench_%s_%d" % (site.name, int(time.time() * 1000)),
             "--out", out, "--interval", str(PROBE_INTERVAL)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def entries(self):
        if not os.path.exists(self.out):
            return []
        with open(self.out) as f:
            return [json.loads(line) for line in f if line.strip().endswith("}")]

    def first_ack_after(self, since):
        for e in self.entries():
            if e["outcome"] == "ack" and e["t_end"] > since:
                return e["t_end"]
        return None

    def outage_after(self, since):
        """(first refused attempt's start, the next acknowledged write's end) after since; (since, first ack)
        when no write was refused."""
        entries = [e for e in self.entries() if e["t"] >= since]
        refused = next((e for e in entries if e["outcome"] != "ack"), None)
        if refused is None:
            return since, self.first_ack_after(since)
        return refused["t"], self.first_ack_after(refused["t_end"])

    def wait_ack(self, since, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.first_ack_after(since) is not None:
                return True
            time.sleep(0.1)
        return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- the bare runbook ---------------------------------------------------------------------

def _ssh(host, script):
    """One ssh session to a lab host, as a hand-written runbook would open it."""
    state = state_dir()
    cmd = ["ssh", "-i", os.path.join(state, "ssh", "id_ed25519"), "-o", "UserKnownHostsFile=%s/ssh/known_hosts" % state,
           "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes",
           "root@%s" % host.address, script]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise LabError("runbook: ssh %s failed (rc=%d): %s" % (host.name, proc.returncode, (proc.stderr or proc.stdout).strip()))
    return proc.stdout


def _tsig_keyring():
    import dns.tsigkeyring  # pylint: disable=import-outside-toplevel
    with open(os.path.join(state_dir(), "secrets", "tsig.key")) as f:
        text = f.read()
    name = re.search(r'key\s+"([^"]+)"', text).group(1)
    secret = re.search(r'secret\s+"([^"]+)"', text).group(1)
    return dns.tsigkeyring.from_text({name: secret}), name


def _runbook_db(topo, lost, survivor, secrets):
    import psycopg2  # pylint: disable=import-outside-toplevel
    db = survivor.host("db")
    conn = psycopg2.connect(host=db.address, port=PG_PORT, dbname="cfgdb", user=ADMIN_ROLE,
                            password=secrets["db_admin_password"], connect_timeout=5)
    conn.autocommit = True
    sub = "genesys_cfgdb_from_%s" % lost.name
    with conn.cursor() as cur:
        cur.execute('ALTER SUBSCRIPTION "%s" DISABLE' % sub)
        cur.execute('ALTER SUBSCRIPTION "%s" SET (slot_name = NONE)' % sub)
        cur.execute(
            "DO $$ DECLARE r record; m bigint; BEGIN"
            " FOR r IN SELECT s.oid::regclass AS seq, t.oid::regclass AS tbl, a.attname FROM pg_class s"
            "  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid"
            "   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
            "  JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = t.relnamespace"
            "  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
            "  WHERE s.relkind = 'S' AND n.nspname = 'public' LOOP"
            "  EXECUTE format('SELECT max(%I)::bigint FROM %s', r.attname, r.tbl) INTO m;"
            "  IF m IS NOT NULL THEN PERFORM setval(r.seq, m + 1000, true); END IF;"
            " END LOOP; END $$")
        cur.execute('GRANT INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO "%s"' % CS_ROLE)
        cur.execute('GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "%s"' % CS_ROLE)
    conn.close()


def _runbook_dns(topo, lost, survivor, failback=False):
    import dns.query  # pylint: disable=import-outside-toplevel
    import dns.resolver  # pylint: disable=import-outside-toplevel
    import dns.update  # pylint: disable=import-outside-toplevel
    keyring, keyname = _tsig_keyring()
    address = survivor.host("mgmt").address
    update = dns.update.Update(ZONE, keyring=keyring, keyname=keyname, keyalgorithm="hmac-sha256")
    update.replace(MASTER_NAME, MASTER_TTL, "A", address)
    update.replace("_dr-state.%s" % MASTER_NAME, MASTER_TTL, "TXT",
                   '"state=%s" "live_site=%s" "operation=%s" "run=bench-runbook"' % (
                       ("NORMAL", survivor.name, "failback") if failback else ("FAILED_OVER", survivor.name, "failover")))
    response = dns.query.tcp(update, topo.dns_primary.address, timeout=5)
    if response.rcode() != 0:
        raise LabError("runbook: DNS UPDATE refused: rcode %d" % response.rcode())
    # The proxies resolve through their site's DNS server: wait until each answers the new address.
    fqdn = "%s.%s." % (MASTER_NAME, ZONE)
    deadline = time.time() + 30
    for server in [s.host("dns") for s in topo.dr_sites if lost is None or s.name != lost.name]:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [server.address]
        resolver.lifetime = 1.0
        while True:
            try:
                if [r.to_text() for r in resolver.resolve(fqdn, "A")] == [address]:
                    break
            except Exception:  # pylint: disable=broad-except
                pass
            if time.time() > deadline:
                raise LabError("runbook: %s does not answer %s for %s" % (server.name, address, fqdn))
            time.sleep(0.02)


def _runbook_masters(topo, survivor):
    mgmt = survivor.host("mgmt")
    planned = apps.plan(topo, mgmt)[0]
    lines = ['wait_port() { i=0; until ss -Hltn "sport = :$1" | grep -q .; do i=$((i+1));'
             ' [ $i -gt 1200 ] && { echo "port $1 not listening" >&2; exit 1; }; sleep 0.05; done; }']
    for want in MASTER_ORDER:
        comp, role = want if isinstance(want, tuple) else (want, "primary")
        app = [a for a in planned if a["component"] == comp and a["role"] == role][0]
        d = os.path.join(apps.app_base(mgmt), app["name"])
        lines.append("(cd %s && setsid ./run.sh </dev/null >/dev/null 2>&1 &)" % d)
        lines.append("wait_port %d" % app["port"])
    _ssh(mgmt, "\n".join(lines))


def _runbook_proxies(topo, lost):
    for site in topo.dr_sites:
        if lost is not None and site.name == lost.name:
            continue
        # [c]: the pattern must not match the shell that runs pkill.
        _ssh(site.host("app"), "pkill -HUP -f -- '-app [c]sproxy_'")


def _runbook_stop_main(topo, main, secrets):
    """Planned: the main's masters stopped (backup first), its client writes revoked; returns its WAL position."""
    import psycopg2  # pylint: disable=import-outside-toplevel
    mgmt = main.host("mgmt")
    planned = apps.plan(topo, mgmt)[0]
    lines = []
    for want in reversed(MASTER_ORDER):
        comp, role = want if isinstance(want, tuple) else (want, "primary")
        app = [a for a in planned if a["component"] == comp and a["role"] == role][0]
        # [x]: the pattern must not match the shell that runs pkill; ( |$): nor another app whose
        # name starts with this one's. Then wait until it is gone.
        pattern = "-app [%s]%s( |$)" % (app["name"][0], app["name"][1:])
        lines.append("pkill -TERM -f -- '%s'; i=0; while pgrep -f -- '%s' >/dev/null; do i=$((i+1));"
                     " [ $i -gt 600 ] && { echo '%s did not stop' >&2; exit 1; }; sleep 0.05; done" % (pattern, pattern, app["name"]))
    _ssh(mgmt, "\n".join(lines))
    db = main.host("db")
    conn = psycopg2.connect(host=db.address, port=PG_PORT, dbname="cfgdb", user=ADMIN_ROLE,
                            password=secrets["db_admin_password"], connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public FROM "%s"' % CS_ROLE)
        cur.execute("SELECT pg_current_wal_insert_lsn()::text")
        lsn = cur.fetchone()[0]
    conn.close()
    return lsn


def _runbook_wait_lsn(main, secondary, lsn, secrets):
    """Planned: the secondary's slot on the main has confirmed the main's last position."""
    import psycopg2  # pylint: disable=import-outside-toplevel
    db = main.host("db")
    conn = psycopg2.connect(host=db.address, port=PG_PORT, dbname="cfgdb", user=ADMIN_ROLE,
                            password=secrets["db_admin_password"], connect_timeout=5)
    conn.autocommit = True
    deadline = time.time() + 30
    with conn.cursor() as cur:
        while True:
            cur.execute("SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
                        (lsn, "genesys_cfgdb_from_%s" % main.name))
            row = cur.fetchone()
            if row and row[0]:
                break
            if time.time() > deadline:
                raise LabError("runbook: %s has not confirmed %s within 30 s" % (secondary.name, lsn))
            time.sleep(0.02)
    conn.close()


def runbook(topo, lost, survivor, secrets, planned=False, failback=False):
    """The bare steps from lost (the live site: the main, or in a failback the secondary) to
    survivor; planned (and failback) first stop and revoke at lost and wait for its last position."""
    steps = {}
    if planned:
        for name, fn in (("planned: main masters stopped, client writes revoked", lambda: _runbook_stop_main(topo, lost, secrets)),):
            started = time.time()
            lsn = fn()
            steps[name] = round(time.time() - started, 3)
        started = time.time()
        _runbook_wait_lsn(lost, survivor, lsn, secrets)
        steps["planned: secondary confirmed the main's last position"] = round(time.time() - started, 3)
    for name, fn in (("DB: stop subscription, advance sequences, grant", lambda: _runbook_db(topo, lost, survivor, secrets)),
                     ("DNS: one signed UPDATE, secondaries answer it",
                      lambda: _runbook_dns(topo, None if planned else lost, survivor, failback)),
                     ("masters started in order", lambda: _runbook_masters(topo, survivor)),
                     ("proxies SIGHUP", lambda: _runbook_proxies(topo, None if planned else lost))):
        started = time.time()
        fn()
        steps[name] = round(time.time() - started, 3)
    return steps


# -- one cycle ----------------------------------------------------------------------------

def _report_steps(report_dir, variant, operation="failover"):
    """Step durations of the newest report of the operation (failover, failback) written by
    the playbook. The report must say the variant's task runner ran it (Mitogen for mitogen,
    Ansible's own otherwise): a number measured on the other one would be booked under the
    wrong name."""
    newest = None
    for name in sorted(os.listdir(report_dir)):
        if name.startswith(operation + "-") and name.endswith(".json"):
            newest = os.path.join(report_dir, name)
    if not newest:
        return {}
    with open(newest) as f:
        report = json.load(f)
    expected = "mitogen" if own_variant(variant) == "mitogen" else "ansible"
    if report.get("task_runner") != expected:
        raise LabError("the %s variant's failover ran on task runner %r, not %r (see %s)" % (
            variant, report.get("task_runner"), expected, newest))
    return dict((s["name"], s["duration"]) for s in report.get("steps", []) if "name" in s and "duration" in s)


def cycle(args, variant, n, out_dir):
    cycle_dir = os.path.join(out_dir, "%s-%d-%s-%02d" % (args.scenario, args.sites, variant, n))
    os.makedirs(cycle_dir, exist_ok=True)
    result = dict(scenario=args.scenario, sites=args.sites, variant=variant, cycle=n, ok=False, error=None,
                  rto_s=None, limited_s={}, steps={}, wall_s=None)
    probes = []
    try:
        subprocess.run(LABCTL + ["down"], check=True, capture_output=True)
        subprocess.run(LABCTL + ["up", "--sites", str(args.sites)], check=True, capture_output=True)
        topo = lab.load()
        secrets = lab.load_secrets()
        lost = topo.site(topo.main_site)
        survivor = [s for s in topo.dr_sites if s.name != lost.name][0]
        _playbook("normal.yml", [], variant, cycle_dir, os.path.join(cycle_dir, "normal.log"))
        failback = args.scenario == "failback"
        planned = args.scenario in ("planned", "failback")
        if failback:
            # Not timed: the planned failover and the reprotect that a failback returns from,
            # by the collection (the runbook variant's too: it has no reprotect of its own). The
            # secondary is then live and the main replicates from it; the recovery switches back.
            prep = variant if own_variant(variant) in PLAYBOOK_VARIANTS else "playbook"
            _playbook("failover.yml", ["-e", "failover_mode=planned"], prep, cycle_dir,
                      os.path.join(cycle_dir, "failover.log"))
            _playbook("reprotect.yml", [], prep, cycle_dir, os.path.join(cycle_dir, "reprotect.log"))
            lost, survivor = survivor, lost
        since = time.time()
        client_sites = [s for s in topo.dr_sites if planned or s.name != lost.name]
        probes = [Probe(topo, s, os.path.join(cycle_dir, "probe_%s.jsonl" % s.name)) for s in client_sites]
        for p in probes:
            if not p.wait_ack(since, 30):
                raise LabError("the client at %s gets no write acknowledged in NORMAL mode" % p.out)
        if not planned:
            lab.fault("site-loss" if args.scenario == "disaster" else args.scenario, lost.name)
            time.sleep(1.0)
        started = time.time()
        if own_variant(variant) in PLAYBOOK_VARIANTS:
            if failback:
                _playbook("failback.yml", [], variant, cycle_dir, os.path.join(cycle_dir, "failback.log"))
            else:
                extra = (["-e", "failover_mode=planned"] if planned else
                         ["-e", "failover_mode=disaster", "-e", "failover_confirm_lost_site=%s" % lost.name])
                _playbook("failover.yml", extra, variant, cycle_dir, os.path.join(cycle_dir, "failover.log"))
            result["wall_s"] = round(time.time() - started, 3)
            result["steps"] = _report_steps(cycle_dir, variant, "failback" if failback else "failover")
        else:
            result["steps"] = runbook(topo, lost, survivor, secrets, planned=planned, failback=failback)
            result["wall_s"] = round(time.time() - started, 3)
        # Every client must get a write through after the recovery; RTO is the first of them.
        windows = []
        for p in probes:
            if not p.wait_ack(time.time() - 0.05, 60):
                raise LabError("no write acknowledged through %s within 60 s of the recovery's end" % p.out)
            windows.append(p.outage_after(started) if planned else (started, p.first_ack_after(started)))
        result["rto_s"] = round(min(end for _start, end in windows) - started, 3)
        result["limited_s"] = dict((s.name, round(end - begin, 3)) for s, (begin, end) in zip(client_sites, windows))
        result["ok"] = True
    except (LabError, subprocess.CalledProcessError, OSError) as exc:
        result["error"] = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
    finally:
        for p in probes:
            p.stop()
    outcome = ("RTO %s s (wall %s s)" % (result["rto_s"], result["wall_s"])) if result["ok"] else "FAILED: %s" % result["error"]
    _log("%-9s %-8s cycle %d: %s" % (args.scenario, variant, n, outcome))
    return result


def _ansible_core():
    try:
        out = subprocess.run([os.path.join(TOP, ".venv", "bin", "ansible"), "--version"], capture_output=True, text=True,
                             check=False).stdout
        return out.split("\n")[0]
    except OSError:
        return None


def scenario_spec(text):
    """'planned' or 'disaster:8' -> (scenario, sites or None)."""
    name, _colon, sites = text.partition(":")
    if name not in SCENARIOS:
        raise argparse.ArgumentTypeError("unknown scenario %r (known: %s)" % (name, ", ".join(SCENARIOS)))
    if not _colon:
        return name, None
    if not sites.isdigit() or not 2 <= int(sites) <= 8:
        raise argparse.ArgumentTypeError("%r: the sites after the colon must be a number from 2 to 8" % text)
    return name, int(sites)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="bench", description="failover.yml against a bare runbook, interleaved cycles")
    parser.add_argument("--cycles", type=int, default=5, help="cycles per variant and scenario (default 5)")
    parser.add_argument("--scenario", nargs="+", type=scenario_spec, default=None, metavar="SCENARIO[:SITES]",
                        help="one or more of %s, each optionally with its number of sites (default: the full set, %s)"
                        % ("|".join(SCENARIOS), " ".join("%s:%d" % g for g in FULL_SET)))
    parser.add_argument("--sites", type=int, default=None,
                        help="sites of the --scenario names given without :SITES (2 to 8, default 2)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(DEFAULT_VARIANTS),
                        help="interleaved in this order (default: %s); mitogen is the playbook with %s=1"
                        % (" ".join(DEFAULT_VARIANTS), MITOGEN_ENV))
    parser.add_argument("--out", default=None, help="directory of the results (default reports/bench-<time>)")
    parser.add_argument("--baseline", default=None, metavar="TREE",
                        help="another checkout of the collection: each playbook-like variant V also runs from it as V%s"
                        % BASELINE_SUFFIX)
    args = parser.parse_args(argv)
    if args.cycles < 1:
        parser.error("--cycles must be >= 1")
    if args.sites is not None and not 2 <= args.sites <= 8:
        parser.error("--sites must be between 2 and 8")
    if args.scenario is None and args.sites is not None:
        parser.error("--sites applies to the --scenario names without :SITES; without --scenario the bench runs its full "
                     "set (%s)" % " ".join("%s:%d" % g for g in FULL_SET))
    args.groups = (list(FULL_SET) if args.scenario is None else
                   [(name, (args.sites or 2) if sites is None else sites) for name, sites in args.scenario])
    if len(set(args.groups)) != len(args.groups):
        parser.error("--scenario names a scenario at the same number of sites twice")
    if len(set(args.variants)) != len(args.variants):
        parser.error("--variants names a variant twice")
    if args.baseline is not None:
        problem = baseline_problem(args.baseline)
        if problem:
            parser.error("--baseline %s: %s" % (args.baseline, problem))
        args.baseline = os.path.realpath(args.baseline)
        args.variants = [v for own in args.variants
                         for v in ([own, own + BASELINE_SUFFIX] if own in PLAYBOOK_VARIANTS else [own])]
    return args


def baseline_problem(tree):
    """Why tree cannot be a baseline, or None. Its ansible.cfg must find its own collection
    (the .build link that make deps and the test runner create), or the "baseline" would run
    this tree's roles."""
    if not os.path.isfile(os.path.join(tree, "playbooks", "failover.yml")):
        return "not a checkout of the collection (no playbooks/failover.yml)"
    link = os.path.join(tree, ".build", "collections", "ansible_collections", "genesys_dr", "framework")
    if os.path.realpath(link) != os.path.realpath(tree):
        return ("its collection link %s does not lead to it; create it: mkdir -p %s && ln -s ../../../.. %s"
                % (link, os.path.dirname(link), link))
    if os.path.realpath(tree) == os.path.realpath(TOP):
        return "it is this tree"
    return None


def main(argv=None):
    global BASELINE  # pylint: disable=global-statement
    args = parse_args(argv)
    BASELINE = args.baseline
    out_dir = args.out or os.path.join(TOP, "reports", "bench-%s" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    os.makedirs(out_dir, exist_ok=True)
    results = dict(machine=dict(host=platform.node(), cpus=os.cpu_count(), load_at_start=list(os.getloadavg()),
                                python=platform.python_version(), ansible_core=_ansible_core()),
                   started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   git=subprocess.run(["git", "rev-parse", "HEAD"], cwd=TOP, capture_output=True, text=True,
                                      check=False).stdout.strip(),
                   baseline=None if BASELINE is None else dict(
                       tree=BASELINE, git=subprocess.run(["git", "rev-parse", "HEAD"], cwd=BASELINE, capture_output=True,
                                                         text=True, check=False).stdout.strip()),
                   cycles=[])
    _log("%d cycle(s) per variant (%s) of %s; results in %s" % (
        args.cycles, ", ".join(args.variants), ", ".join("%s at %d sites" % g for g in args.groups), out_dir))
    try:
        for scenario, sites in args.groups:
            group = argparse.Namespace(**dict(vars(args), scenario=scenario, sites=sites))
            for n in range(1, args.cycles + 1):
                for variant in args.variants:
                    results["cycles"].append(cycle(group, variant, n, out_dir))
                    write_file(os.path.join(out_dir, "bench.json"), json.dumps(results, indent=2) + "\n")
    finally:
        subprocess.run(LABCTL + ["down"], capture_output=True, check=False)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    from . import benchreport  # pylint: disable=import-outside-toplevel
    benchreport.write_all(results, out_dir)
    print(benchreport.render_text(benchreport.summarize(results)))
    print("results: %s" % out_dir)
    return 0 if all(r["ok"] for r in results["cycles"]) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LabError as exc:
        print("bench: %s" % exc, file=sys.stderr)
        sys.exit(1)
