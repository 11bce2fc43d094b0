"""The fault campaign: faults injected into real runs of the procedures on the lab, and
DESIGN.md's invariants checked from outside (dig, psql, the process table, a client writing
through every proxy) - never from the playbooks' own output.

`make test` runs the short form (the cases marked `short`); `make campaign` runs every case,
each kill point at least three times (GENESYS_CAMPAIGN=long). Every run's output, log and
report is kept under .build/campaign/ and searched for every secret of the lab at the end
(test_zz_secrets.py). One lab per machine: nothing else may use it while this runs.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

PROJECT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(PROJECT, "molecule", "shared"))
# procedure.py: the plays of a procedure, the frame it imports expanded (test_kill_and_resume's kill points).
sys.path.insert(0, os.path.join(PROJECT, "tests", "unit", "playbooks"))

import checks  # noqa: E402  pylint: disable=wrong-import-position
from lab import Lab, STATE  # noqa: E402  pylint: disable=wrong-import-position

LONG = os.environ.get("GENESYS_CAMPAIGN", "short") == "long"
OUT = os.path.join(PROJECT, ".build", "campaign")
BIN = os.path.join(PROJECT, ".venv", "bin")
KILL_PLUGINS = os.path.join(os.path.dirname(__file__), "callback_plugins")
RESULTS = os.path.join(OUT, "results.jsonl")


def pytest_configure(config):
    config.addinivalue_line("markers", "short: part of the short campaign that `make test` runs")


# The long form takes hours: it can run in parts (CAMPAIGN_ARGS='-k ...'), each with
# GENESYS_CAMPAIGN_KEEP=1 after the first, so that the table at the end covers every part.
KEEP = os.environ.get("GENESYS_CAMPAIGN_KEEP", "") not in ("", "0")


def pytest_sessionstart(session):
    # Each campaign starts empty (its logs, reports, client logs and table are its own), unless it
    # continues an earlier part; a case's own directory is emptied when the case starts either way.
    # Listing the cases (--collect-only) runs none: it leaves a campaign that runs meanwhile alone.
    if session.config.option.collectonly:
        return
    if not KEEP:
        shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT, exist_ok=True)


def pytest_terminal_summary(terminalreporter):
    """The campaign table: case, runs, passes, acknowledged writes lost."""
    if not os.path.exists(RESULTS):
        return
    rows = {}
    with open(RESULTS) as handle:
        for entry in (json.loads(line) for line in handle if line.strip()):
            row = rows.setdefault(entry["case"], [0, 0, 0])
            row[0] += entry["runs"]
            row[1] += entry["passed"]
            row[2] += entry["acked_lost"]
    terminalreporter.write_sep("=", "fault campaign (%s form)" % ("long" if LONG else "short"))
    terminalreporter.write_line("| case | runs | passes | acknowledged writes lost |")
    terminalreporter.write_line("| --- | ---: | ---: | ---: |")
    for case, (runs, passed, lost) in rows.items():
        terminalreporter.write_line("| %s | %d | %d | %d |" % (case, runs, passed, lost))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # pylint: disable=unused-argument
    """A case records its row only once it has passed; a failed one gets a row too, so the table
    that ends the campaign shows every failure (passes 0), not only what passed."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        record("FAILED %s (%s)" % (item.name, report.when), 1, 0)


def pytest_collection_modifyitems(config, items):
    if LONG:
        return
    skip = pytest.mark.skip(reason="long campaign only (make campaign)")
    for item in items:
        if "short" not in item.keywords:
            item.add_marker(skip)


class Run:
    """One ansible-playbook run: its exit code, its output, whether it was killed."""

    def __init__(self, rc, log, killed):
        self.rc = rc
        self.log = log
        self.killed = killed
        with open(log, errors="replace") as handle:
            self.output = handle.read()

    @property
    def run_id(self):
        found = re.findall(r"Run (\S+) (?:starts|continues)", self.output)
        return found[-1] if found else None

    def changed_hosts(self):
        """Hosts whose PLAY RECAP line shows changed > 0."""
        return sorted(set(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=[1-9]", self.output, re.M)))

    def __repr__(self):
        return "<Run rc=%s killed=%s log=%s>" % (self.rc, self.killed, self.log)


class Campaign:
    """Runs playbooks for one case, with the lab inventory (or another one)."""

    def __init__(self, case):
        self.case = re.sub(r"[^A-Za-z0-9_.-]+", "_", case)
        self.dir = os.path.join(OUT, self.case)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.reports = os.path.join(self.dir, "reports")
        self.inventory = os.path.join(PROJECT, "inventories", "lab")
        self.count = 0

    def env(self, **extra):
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(PROJECT, "ansible.cfg"), GENESYS_DR_REPORT_DIR=self.reports,
                   ANSIBLE_CALLBACK_PLUGINS=KILL_PLUGINS, PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
                   ANSIBLE_NOCOLOR="1")
        for name in ("GENESYS_CAMPAIGN_KILL_AT", "GENESYS_CAMPAIGN_HOOK_AT", "GENESYS_CAMPAIGN_HOOK_CMD"):
            env.pop(name, None)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start(self, playbook, *extra, kill_at=None, verbosity=0, inventory=None, hook=None):
        """Start a run in its own process group; returns (Popen, log path)."""
        self.count += 1
        log = os.path.join(self.dir, "%02d-%s.log" % (self.count, playbook.replace(".yml", "")))
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory or self.inventory,
               os.path.join(PROJECT, "playbooks", playbook)] + list(extra)
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        faults = {}
        if kill_at:
            faults["GENESYS_CAMPAIGN_KILL_AT"] = kill_at
        if hook:
            faults["GENESYS_CAMPAIGN_HOOK_AT"], faults["GENESYS_CAMPAIGN_HOOK_CMD"] = hook
        env = self.env(**faults)
        with open(log, "w") as handle:
            handle.write("# %s\n" % " ".join(cmd))
            proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        return proc, log

    def run(self, playbook, *extra, kill_at=None, verbosity=0, inventory=None, hook=None, timeout=900):
        proc, log = self.start(playbook, *extra, kill_at=kill_at, verbosity=verbosity, inventory=inventory, hook=hook)
        return self.finish(proc, log, timeout)

    @staticmethod
    def finish(proc, log, timeout=900):
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError("%s did not end within %d s (see %s)" % (proc.args, timeout, log))
        return Run(rc, log, rc == -signal.SIGKILL)


def record(case, runs, passed, acked_lost=0):
    """One line of the campaign table (case, runs, passes, acknowledged writes lost)."""
    os.makedirs(OUT, exist_ok=True)
    with open(RESULTS, "a") as handle:
        handle.write(json.dumps(dict(case=case, runs=runs, passed=passed, acked_lost=acked_lost, at=time.time())) + "\n")


# Every secret of every lab the campaign built (each lab makes its own): test_zz_secrets
# searches the whole campaign's output for all of them.
SECRETS = set()


def read_lab_secrets():
    found = set()
    for path in glob.glob(os.path.join(STATE, "secrets", "*")):
        with open(path) as handle:
            text = handle.read()
        if path.endswith(".key"):
            match = re.search(r'secret "([^"]+)"', text)
            text = match.group(1) if match else ""
        if text.strip():
            found.add(text.strip())
    return found


def lab_reset(n_sites=2, main_site="site1"):
    """A new lab (labctl down, up): every case starts from the same fresh install."""
    subprocess.run([os.path.join(BIN, "python"), os.path.join(PROJECT, "lab", "labctl"), "down"],
                   check=True, capture_output=True)
    subprocess.run([os.path.join(BIN, "python"), os.path.join(PROJECT, "lab", "labctl"), "up", "--sites", str(n_sites), "--main", main_site],
                   check=True, capture_output=True)
    SECRETS.update(read_lab_secrets())


@pytest.fixture(scope="session", autouse=True)
def lab_down_at_the_end():
    """Each case builds its own lab; the last one is taken down when the campaign ends. A lab
    left up made the next lab user (make test's integration stage) refuse to start."""
    yield
    subprocess.run([os.path.join(BIN, "python"), os.path.join(PROJECT, "lab", "labctl"), "down"],
                   check=False, capture_output=True)


@pytest.fixture
def campaign(request):
    return Campaign(request.node.name)


@pytest.fixture
def fresh_lab():
    lab_reset()
    return Lab()


@pytest.fixture
def normal_lab(campaign):
    """A new lab converged to NORMAL by normal.yml, checked from outside."""
    lab_reset()
    run = campaign.run("normal.yml")
    assert run.rc == 0, "normal.yml failed on a fresh lab: %s" % run.log
    lab = Lab()
    checks.assert_normal(lab)
    return lab


class Load:
    """A client at every DR site writing through its primary proxy every 100 ms."""

    def __init__(self, lab, directory):
        self.lab = lab
        self.dir = directory
        self.procs = []

    def __enter__(self):
        for site in (self.lab.main_site, self.lab.secondary_site):
            app_host = self.lab.one("proxy_hosts", site)
            port = [a["port"] for a in self.lab.apps(app_host, "proxy") if a["role"] == "primary"][0]
            netns = self.lab.netns(app_host)
            out = os.path.join(self.dir, "load_%s.jsonl" % site)
            env = dict(os.environ, PYTHONPATH="%s:%s" % (os.path.join(STATE, "sim"), os.path.join(PROJECT, "lab")))
            self.procs.append(subprocess.Popen(
                ["ip", "netns", "exec", netns, "/usr/bin/python3", "-m", "genesys_lab.loadgen", "--server",
                 "%s:%d" % (self.lab.address(app_host), port), "--prefix", "campaign_%s_%d" % (site, int(time.time() * 1000)),
                 "--out", out, "--interval", "0.1", "--duration", "1200"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def acknowledged(self):
        names = []
        for path in glob.glob(os.path.join(self.dir, "load_*.jsonl")):
            with open(path) as handle:
                names += [e["name"] for e in (json.loads(line) for line in handle if line.strip()) if e["outcome"] == "ack"]
        return names

    def lost(self, live_db):
        """Acknowledged writes that are not in the live Configuration Database (read with psql)."""
        acked = self.acknowledged()
        assert acked, "the clients saw no acknowledged write at all"
        live = set()
        for start in range(0, len(acked), 500):
            chunk = acked[start:start + 500]
            live |= set(self.lab.psql(live_db, "cfgdb", "SELECT name FROM cfg_person WHERE name IN (%s)"
                                      % ",".join("'%s'" % n for n in chunk)).split())
        return sorted(set(acked) - live)


@pytest.fixture
def load_factory(campaign):
    return lambda lab: Load(lab, campaign.dir)


def lock_holder(lab):
    """The holder of the DR lock as the DNS primary serves it (None when free)."""
    for txt in lab.dig("dns-primary", lab.lock_name, "TXT"):
        for part in txt.replace('" "', " ").split():
            if part.startswith("holder="):
                return part.split("=", 1)[1]
    return None


def writable_db_hosts(lab, sites):
    return [h for site in sites for h in lab.in_site("db_hosts", site) if checks.can_write(lab, h)]


def running_master_sites(lab):
    """DR sites where a master Configuration Server process runs (process table)."""
    sites = []
    for site in (lab.main_site, lab.secondary_site):
        mgmt = lab.one("management_hosts", site)
        if any(lab.app_processes(a["name"]) for a in lab.apps(mgmt, "master_cs")):
            sites.append(site)
    return sites


def assert_never_two_masters(lab, lost_sites=(), writable_before=()):
    """At most one site's Configuration Database takes client writes, at most one site runs masters.

    The DB hosts of a site lost by `labctl fault site-loss` (every process there SIGKILLed) cannot
    be asked; the process table, which the master check reads, still covers them.

    writable_before: the DB hosts that took client writes before the run. The lab's fresh install
    grants them at both sites, and normal.yml revokes them at the secondary in its first step: a run
    killed before that step leaves the install as it found it. What no run may do is make a
    Configuration Database writable while another one is."""
    writable = writable_db_hosts(lab, [s for s in (lab.main_site, lab.secondary_site) if s not in lost_sites])
    made_writable = [host for host in writable if host not in writable_before]
    assert len(writable) <= 1 or not made_writable, \
        "two writable Configuration Databases: %s (writable before the run: %s)" % (writable, list(writable_before))
    masters = running_master_sites(lab)
    assert len(masters) <= 1, "master Configuration Servers run at two sites: %s" % masters
