"""The disaster drill that `make drill` runs after `labctl up`.

1. normal.yml converges the lab to NORMAL mode.
2. A load generator at every site writes through its site's proxy for the whole drill.
3. The main site is lost (`labctl fault site-loss`): power off, every process killed.
4. failover.yml in disaster mode, confirmed by naming the lost site.
5. The site comes back (`labctl heal`): reprotect.yml, then failback.yml to NORMAL.
6. The drill checks, from outside the automation: every write a client saw acknowledged is
   in the live Configuration Database (or, if the lost site acknowledged it in its last
   moments, in the archive reprotect made); how long each site's proxies refused writes;
   the client-side RTO; each playbook's wall time. It prints the playbooks' own reports.
"""
import glob
import json
import os
import signal
import subprocess
import sys
import time

from . import apps, lab
from .postgres import ADMIN_ROLE, PG_PORT
from .system import LabError, run, write_file


TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LAB_DIR = os.path.join(TOP, "tests", "lab")


def _playbook(name, *extra, report_dir):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, "ansible.cfg"), GENESYS_DR_REPORT_DIR=report_dir)
    cmd = [os.path.join(TOP, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(TOP, "inventories", "lab"),
           os.path.join(TOP, "playbooks", name)] + list(extra)
    print("\n== ansible-playbook %s %s" % (name, " ".join(extra)), flush=True)
    started = time.time()
    log = os.path.join(report_dir, name.replace(".yml", ".log"))
    with open(log, "w") as f:
        rc = subprocess.call(cmd, cwd=TOP, env=env, stdout=f, stderr=subprocess.STDOUT)
    took = time.time() - started
    with open(log) as f:
        tail = f.read().split("PLAY RECAP")[-1]
    print("PLAY RECAP" + tail.split("DR REPORT")[0].rstrip(), flush=True)
    print("-> rc=%d in %.1f s (log: %s)" % (rc, took, log), flush=True)
    if rc != 0:
        raise LabError("%s failed (rc=%d); see %s" % (name, rc, log))
    return started, took


def _proxy(topo, site):
    host = site.host("app")
    port = [a["port"] for a in apps.plan(topo, host)[0] if a["component"] == "proxy" and a["role"] == "primary"][0]
    return host, "%s:%d" % (host.address, port)


def _start_load(topo, report_dir):
    procs = []
    for site in topo.dr_sites:
        host, server = _proxy(topo, site)
        out = os.path.join(report_dir, "load_%s.jsonl" % site.name)
        env = dict(os.environ, PYTHONPATH="%s:%s" % (apps.sim_path(), LAB_DIR))
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", host.netns, "/usr/bin/python3", "-m", "genesys_lab.loadgen",
             "--server", server, "--prefix", "load_%s_%d" % (site.name, int(time.time())), "--out", out],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


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


def _refusal_windows(entries):
    """Longest run of non-acknowledged attempts between acknowledged ones (seconds)."""
    longest, start = 0.0, None
    for e in entries:
        if e["outcome"] != "ack":
            start = e["t"] if start is None else start
        elif start is not None:
            longest = max(longest, e["t"] - start)
            start = None
    return round(longest, 2), start is not None


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


def main():
    topo = lab.load()
    secrets = lab.load_secrets()
    main_site = topo.main_site
    report_dir = os.path.join(TOP, "reports", "drill-%s" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    os.makedirs(report_dir, exist_ok=True)
    walls = {}
    confirm = ["-e", "failover_mode=disaster", "-e", "failover_confirm_lost_site=%s" % main_site]

    walls["normal"] = _playbook("normal.yml", report_dir=report_dir)[1]
    loads = _start_load(topo, report_dir)
    try:
        time.sleep(5)
        print("\n== labctl fault site-loss %s" % main_site, flush=True)
        lost_at = time.time()
        lab.fault("site-loss", main_site)
        failover_started, walls["failover (disaster)"] = _playbook("failover.yml", *confirm, report_dir=report_dir)
        time.sleep(3)
        print("\n== labctl heal %s" % main_site, flush=True)
        lab.heal(main_site)
        walls["reprotect"] = _playbook("reprotect.yml", report_dir=report_dir)[1]
        failback_started, walls["failback"] = _playbook("failback.yml", report_dir=report_dir)
        time.sleep(3)
    finally:
        for p in loads:
            p.send_signal(signal.SIGTERM)
        for p in loads:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()

    live_db = topo.site(main_site).host("db")
    per_site = _read_load(report_dir)
    archived = _archived_names(report_dir)
    measures = {"main_site_lost_at": lost_at, "playbook_wall_time_s": {k: round(v, 2) for k, v in walls.items()},
                "sites": {}}
    lost_total = archived_total = 0
    for site, entries in sorted(per_site.items()):
        acked = [e["name"] for e in entries if e["outcome"] == "ack"]
        live = _live_names(live_db, secrets, acked)
        lost = sorted(set(acked) - live)
        lost_total += len(lost)
        archived_total += len(set(lost) & archived)
        first_after = [e["t"] for e in entries if e["outcome"] == "ack" and e["t"] > failover_started]
        window, still_refusing = _refusal_windows(entries)
        measures["sites"][site] = {
            "attempts": len(entries), "acknowledged": len(acked), "acknowledged_lost": len(lost),
            "lost_in_archive": len(set(lost) & archived), "lost_examples": lost[:5],
            "longest_refusal_s": window, "refusing_at_end": still_refusing,
            "client_rto_s": round(first_after[0] - lost_at, 2) if first_after else None,
        }
    measures["acknowledged_writes_lost"] = lost_total
    measures["acknowledged_writes_lost_but_archived"] = archived_total
    write_file(os.path.join(report_dir, "drill.json"), json.dumps(measures, indent=2) + "\n")

    print("\n== drill measures (from the clients' logs and the live Configuration Database at %s)" % live_db.name)
    header = ("site", "attempts", "acknowledged", "ack lost", "in archive", "longest refusal s", "client RTO s")
    print("%-8s %9s %12s %9s %11s %18s %13s" % header)
    for site, m in sorted(measures["sites"].items()):
        refusal = "%.2f%s" % (m["longest_refusal_s"], " (lost site)" if m["refusing_at_end"] else "")
        row = (site, m["attempts"], m["acknowledged"], m["acknowledged_lost"], m["lost_in_archive"], refusal, m["client_rto_s"])
        print("%-8s %9d %12d %9d %11d %18s %13s" % row)
    print("playbook wall times: %s" % ", ".join("%s %.1f s" % kv for kv in walls.items()))
    print("acknowledged writes lost: %d (of which in the reprotect archive: %d)" % (lost_total, archived_total))
    for kind in ("failover", "reprotect", "failback"):
        for md in sorted(glob.glob(os.path.join(report_dir, "%s-*.md" % kind))):
            with open(md) as f:
                print("\n" + f.read())
    print("reports: %s" % report_dir)
    print("\nThe lab stays up, back in NORMAL mode: tests/lab/labctl status | down")
    if lost_total:
        # Asynchronous replication: a write the main site acknowledged in its last moments
        # may not have reached the secondary. That is the RPO of a disaster, shown, not hidden.
        print("WARNING: %d acknowledged writes are not in the live Configuration Database (disaster RPO)"
              % lost_total)


if __name__ == "__main__":
    try:
        main()
    except LabError as exc:
        print("drill: %s" % exc, file=sys.stderr)
        sys.exit(1)
