"""The drill that `make drill` runs, as a command any CI can call.

python -m genesys_lab.drill [--mode disaster|planned|partition] [--sites N] [--max-rto S]
                            [--max-limited S] [--keep-lab]

1. `labctl down`, `labctl up --sites N` build a fresh lab; normal.yml converges it to NORMAL mode.
2. A client at every site writes through its site's proxy every 0.1 s for the whole drill
   (a lost site's client again once the site is back).
3. disaster: the main site is lost (`labctl fault site-loss`: power off, every process
   killed); partition: it is cut off from the WAN (`labctl fault partition`), its hosts still
   running; then failover.yml in disaster mode, confirmed by naming the lost site. planned:
   no fault, failover.yml in planned mode.
4. The site comes back (`labctl heal`, disaster and partition): reprotect.yml, then
   failback.yml to NORMAL.
5. The drill checks, from outside the automation: every write a client saw acknowledged is
   in the live Configuration Database (or, if the lost site acknowledged it, in the archive
   reprotect made); each site's longest refusal; the client-side RTO; each phase's time. It
   judges the objectives (genesys_lab.drillreport), prints a progress line per phase and the
   Markdown report, and writes drill.json, drill.md, drill-junit.xml and drill.svg under
   reports/drill-<time>/. It exits 1 when a phase failed, an acknowledged write is lost in a
   planned drill, or an objective with a limit is missed or cannot be measured.
6. The lab is removed at the end, unless --keep-lab (`make drill` keeps it for inspection).
"""
import argparse
import glob
import json
import os
import signal
import subprocess
import sys
import time

from . import apps, drillreport, lab
from .postgres import ADMIN_ROLE, PG_PORT
from .system import LabError, run, write_file
from .topology import MASTER_NAME, ZONE


TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.path.join(TOP, "lab")
INTERVAL = 0.1


def _progress(msg):
    print("[drill %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def _playbook(name, *extra, report_dir):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, "ansible.cfg"), GENESYS_DR_REPORT_DIR=report_dir)
    cmd = [os.path.join(TOP, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(TOP, "inventories", "lab"),
           os.path.join(TOP, "playbooks", name)] + list(extra)
    log = os.path.join(report_dir, name.replace(".yml", ".log"))
    with open(log, "w") as f:
        rc = subprocess.call(cmd, cwd=TOP, env=env, stdout=f, stderr=subprocess.STDOUT)
    return rc, log


def _proxy(topo, site):
    host = site.host("app")
    port = [a["port"] for a in apps.plan(topo, host)[0] if a["component"] == "proxy" and a["role"] == "primary"][0]
    return host, "%s:%d" % (host.address, port)


def _start_load(topo, report_dir, sites=None):
    procs = []
    for site in topo.dr_sites:
        if sites is not None and site.name not in sites:
            continue
        host, server = _proxy(topo, site)
        # Appended to: a client started again after its site came back writes to the same log.
        out = os.path.join(report_dir, "load_%s.jsonl" % site.name)
        env = dict(os.environ, PYTHONPATH="%s:%s" % (apps.sim_path(), LAB_DIR))
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", host.netns, "/usr/bin/python3", "-m", "genesys_lab.loadgen",
             "--server", server, "--prefix", "load_%s_%d" % (site.name, int(time.time() * 1000)), "--out", out,
             "--interval", str(INTERVAL), "--duration", "3600"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def _stop_load(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _read_load(report_dir):
    per_site = {}
    for path in glob.glob(os.path.join(report_dir, "load_*.jsonl")):
        site = os.path.basename(path)[len("load_"):-len(".jsonl")]
        with open(path) as f:
            per_site[site] = [json.loads(line) for line in f if line.strip()]
    return per_site


def _live_names(host, secrets, names):
    if not names:
        return set()
    env = dict(os.environ, PGPASSWORD=secrets["db_admin_password"])
    sql = "SELECT name FROM cfg_person WHERE name = ANY(string_to_array('%s', ','))" % ",".join(names)
    out = run(["psql", "-X", "-At", "-h", host.address, "-p", str(PG_PORT), "-U", ADMIN_ROLE, "-d", "cfgdb",
               "-c", sql], env=env).stdout
    return set(out.split())


def _archived_names(report_dir):
    """cfg_person names in the dump reprotect archived before the copy replaced the main."""
    names = set()
    for path in glob.glob(os.path.join(report_dir, "reprotect-*.json")):
        with open(path) as f:
            archive = (json.load(f).get("measures") or {}).get("archive") or {}
        for entry in archive.values():
            if entry.get("path") and os.path.exists(entry["path"]):
                out = run(["pg_restore", "--data-only", "--table=cfg_person", "-f", "-", entry["path"]]).stdout
                names |= {line.split("\t")[1] for line in out.splitlines() if line.count("\t") >= 2}
    return names


class Drill(object):
    """Runs the phases in order, each timed and recorded; the first that fails ends the drill."""

    def __init__(self, report_dir):
        self.report_dir = report_dir
        self.phases = []
        self.faults = []

    def phase(self, name, fn):
        number = len(self.phases) + 1
        _progress("phase %d: %s ..." % (number, name))
        started = time.time()
        ok, detail = True, ""
        try:
            detail = fn() or ""
        except (LabError, subprocess.CalledProcessError, OSError) as exc:
            ok, detail = False, str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        ended = time.time()
        self.phases.append({"name": name, "started": started, "ended": ended, "ok": ok, "detail": detail})
        outcome = "ok" if ok else "FAILED"
        _progress("phase %d: %s %s in %.1f s%s" % (number, name, outcome, ended - started, (": " + detail) if detail else ""))
        if not ok:
            raise DrillStopped(name)
        return started

    def playbook(self, name, *extra):
        def run_it():
            rc, log = _playbook(name, *extra, report_dir=self.report_dir)
            if rc != 0:
                raise LabError("%s %s failed (rc=%d); see %s" % (name, " ".join(extra), rc, log))
            return "log %s" % os.path.relpath(log, TOP)
        return run_it


class DrillStopped(Exception):
    pass


def _parse(argv):
    parser = argparse.ArgumentParser(prog="drill", description="a DR drill on a fresh lab, judged from outside the automation")
    parser.add_argument("--mode", choices=["disaster", "planned", "partition"], default="disaster",
                        help="disaster: the main site lost; partition: cut off from the WAN; planned: no fault (default disaster)")
    parser.add_argument("--sites", type=int, default=2, help="DR sites of the lab, 2 to 8 (default 2)")
    parser.add_argument("--max-rto", type=float, default=None, metavar="S", help="fail when the client-side RTO is above S seconds")
    parser.add_argument("--max-limited", type=float, default=None, metavar="S",
                        help="fail when a site's clients are refused for longer than S seconds in a row")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end (for inspection)")
    args = parser.parse_args(argv)
    if not 2 <= args.sites <= 8:
        parser.error("--sites must be between 2 and 8, got %d" % args.sites)
    for name in ("max_rto", "max_limited"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error("--%s must be a number of seconds above 0" % name.replace("_", "-"))
    return args


def _measure(drill_data, topo, secrets, report_dir, failover_started, faulted):
    main_site = drill_data["main_site"]
    live_db = topo.site(drill_data["live_site"]).host("db")
    per_site = _read_load(report_dir)
    archived = _archived_names(report_dir)
    end_of_log = max(p["ended"] for p in drill_data["phases"])
    sites, lost_total, archived_total = {}, 0, 0
    for site, entries in sorted(per_site.items()):
        acked = [e["name"] for e in entries if e["outcome"] == "ack"]
        live = _live_names(live_db, secrets, acked)
        lost = sorted(set(acked) - live)
        lost_total += len(lost)
        archived_total += len(set(lost) & archived)
        exclude = [(f["from"], f["to"]) for f in faulted if f["site"] == site]
        window, still_refusing = drillreport.longest_refusal(entries, exclude, end_of_log)
        sites[site] = {"attempts": len(entries), "acknowledged": len(acked), "acknowledged_lost": len(lost),
                       "lost_in_archive": len(set(lost) & archived), "lost_examples": lost[:5],
                       "longest_refusal_s": window, "refusing_at_end": still_refusing}
    planned = drill_data["mode"] == "planned"
    rto = None
    if failover_started is not None:
        keep = [s for s in per_site if planned or s != main_site]
        rto = drillreport.client_rto(per_site, failover_started, keep, after_refusal=planned)
    return {"sites": sites, "acknowledged_writes_lost": lost_total, "acknowledged_writes_lost_but_archived": archived_total,
            "rto_s": rto}, per_site


def main(argv=None):
    args = _parse(argv)
    report_dir = os.path.join(TOP, "reports", "drill-%s" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    os.makedirs(report_dir, exist_ok=True)
    drill = Drill(report_dir)
    topo = None
    loads = []
    failover_started = None
    try:
        try:
            def build():
                # A fresh lab every time: what an earlier drill or test left is not this drill's start.
                lab.down()
                lab.up(args.sites)
                return "%d sites" % args.sites
            drill.phase("labctl up --sites %d" % args.sites, build)
            topo = lab.load()
            main_site = topo.main_site
            drill.phase("normal.yml", drill.playbook("normal.yml"))
            loads += _start_load(topo, report_dir)
            time.sleep(3)
            if args.mode == "planned":
                failover_started = drill.phase("failover.yml (planned)", drill.playbook("failover.yml", "-e", "failover_mode=planned"))
            else:
                kind = "site-loss" if args.mode == "disaster" else "partition"

                def fault():
                    lab.fault(kind, main_site)
                    drill.faults.append({"site": main_site, "kind": kind, "from": time.time(), "to": None})
                drill.phase("labctl fault %s %s" % (kind, main_site), fault)
                failover_started = drill.phase("failover.yml (disaster)", drill.playbook(
                    "failover.yml", "-e", "failover_mode=disaster", "-e", "failover_confirm_lost_site=%s" % main_site))
                time.sleep(3)

                def heal():
                    lab.heal(main_site)
                    drill.faults[-1]["to"] = time.time()
                    if kind == "site-loss":
                        # Its client died with the site: a new one writes from now on.
                        loads.extend(_start_load(topo, report_dir, sites=[main_site]))
                drill.phase("labctl heal %s" % main_site, heal)
            drill.phase("reprotect.yml", drill.playbook("reprotect.yml"))
            drill.phase("failback.yml", drill.playbook("failback.yml"))
            time.sleep(3)
        except DrillStopped:
            pass
        finally:
            _stop_load(loads)
        data = {"mode": args.mode, "sites": args.sites, "main_site": topo.main_site if topo else None,
                "live_site": None, "interval_s": INTERVAL,
                "max_rto_s": args.max_rto, "max_limited_s": args.max_limited, "phases": drill.phases, "faults": drill.faults}
        clients = {}
        if topo is not None:
            data["live_site"] = _live_site(topo)
            data["measures"], clients = _measure(data, topo, lab.load_secrets(), report_dir, failover_started, drill.faults)
        else:
            data["measures"] = {"sites": {}, "acknowledged_writes_lost": None, "rto_s": None}
        data["objectives"] = drillreport.evaluate(data)
        write_file(os.path.join(report_dir, "drill.json"), json.dumps(data, indent=2) + "\n")
        markdown = drillreport.render_markdown(data)
        write_file(os.path.join(report_dir, "drill.md"), markdown)
        write_file(os.path.join(report_dir, "drill-junit.xml"), drillreport.render_junit(data))
        write_file(os.path.join(report_dir, "drill.svg"), drillreport.render_svg(data, clients))
        print("\n" + markdown)
        for kind in ("failover", "reprotect", "failback"):
            for md in sorted(glob.glob(os.path.join(report_dir, "%s-*.md" % kind))):
                with open(md) as f:
                    print(f.read())
        print("reports: %s (drill.md, drill.json, drill-junit.xml, drill.svg)" % report_dir)
        code = drillreport.exit_code(data)
        if data["measures"].get("acknowledged_writes_lost") and args.mode != "planned":
            # Asynchronous replication: a write the main site acknowledged in its last moments may
            # not have reached the secondary. That is the RPO of a disaster, shown, not hidden.
            m = data["measures"]
            print("NOTE: %d acknowledged writes are not in the live Configuration Database (the disaster's RPO; "
                  "%d of them in the reprotect archive)" % (m["acknowledged_writes_lost"], m["acknowledged_writes_lost_but_archived"]))
        return code
    finally:
        if args.keep_lab:
            print("The lab stays up: lab/labctl status | down")
        else:
            lab.down()


def _live_site(topo):
    """The site whose Configuration Server is the master now, from the DR state the lab's DNS primary serves."""
    out = run(["dig", "+short", "@" + topo.dns_primary.address, "_dr-state.%s.%s" % (MASTER_NAME, ZONE), "TXT"], check=False).stdout
    for part in out.replace('"', " ").split():
        if part.startswith("live_site="):
            return part.split("=", 1)[1]
    return topo.main_site


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LabError as exc:
        print("drill: %s" % exc, file=sys.stderr)
        sys.exit(1)
