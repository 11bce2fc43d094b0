"""Fixtures for tests that run against the lab (lab/labctl).

The lab is built once per session (`labctl up` is idempotent) and left up for the next
suite; `tools/run-tests` takes it down at the end. Every helper here reads real state
through an independent path (psql, dig, the process table, /proc/net/tcp) so that a test
never trusts the component it checks.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import sys
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.path.join(TOP, "lab")
LABCTL = [sys.executable, os.path.join(LAB_DIR, "labctl")]
sys.path.insert(0, LAB_DIR)

from genesys_lab import apps as lab_apps  # noqa: E402  pylint: disable=wrong-import-position
from genesys_lab import lab as lab_mod  # noqa: E402  pylint: disable=wrong-import-position
from genesys_lab.postgres import PG_PORT  # noqa: E402  pylint: disable=wrong-import-position
from genesys_lab.topology import TSIG_KEY_NAME, ZONE, MASTER_NAME  # noqa: E402  pylint: disable=wrong-import-position


def run(cmd, check=True, timeout=120, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), proc.returncode, proc.stdout, proc.stderr))
    return proc


def wait_until(predicate, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))


class Lab:
    """Handles on the running lab, for tests."""

    def __init__(self):
        self.topo = lab_mod.load()
        self.secrets = lab_mod.load_secrets()
        self.master_fqdn = "%s.%s" % (MASTER_NAME, ZONE)
        # stdout + stderr of the last ansible() run: Ansible 2.19 shows module warnings
        # there only, the --tree results do not hold them.
        self.last_ansible_output = ""

    def host(self, name):
        return self.topo.host(name)

    def site_host(self, site, role):
        return self.topo.site(site).host(role)

    def labctl(self, *args, check=True, timeout=300):
        return run(LABCTL + list(args), check=check, timeout=timeout)

    def ns(self, host, cmd, check=True, timeout=60, env=None):
        return run(["ip", "netns", "exec", host.netns] + cmd, check=check, timeout=timeout, env=env)

    # --- PostgreSQL, read through psql as the DR admin role over the network
    def psql(self, host, db, sql, user="genesys_dr_admin", password=None, check=True):
        env = dict(os.environ, PGPASSWORD=password or self.secrets["db_admin_password"], PGCONNECT_TIMEOUT="5")
        return run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", host.address, "-p", str(PG_PORT),
                    "-U", user, "-d", db, "-c", sql], check=check, env=env)

    # --- DNS, read with dig (TSIG-signed where asked)
    def dig(self, server, name, rtype="A"):
        out = run(["dig", "+short", "+time=1", "+tries=1", "@" + server.address, name, rtype], check=False).stdout
        return sorted(out.split())

    def dig_txt(self, server, name):
        """The TXT records of name as server answers: a sorted list of records, each the list of its strings."""
        out = run(["dig", "+short", "+time=1", "+tries=1", "@" + server.address, name, "TXT"], check=False).stdout
        return sorted(shlex.split(line) for line in out.splitlines() if line.strip())

    def zone_journal(self):
        """The primary's journal of dynamic updates (named-journalprint), one dict per
        transaction: old and new SOA serial, deleted and added records as (name, type, rdata)."""
        path = os.path.join(self.topo.dns_primary.dir, "named", "%s.db.jnl" % ZONE)
        if not os.path.exists(path):
            return []
        transactions = []
        for line in run(["named-journalprint", path]).stdout.splitlines():
            parts = line.split(None, 5)
            if len(parts) < 6 or parts[0] not in ("add", "del"):
                continue
            op, name, rtype, rdata = parts[0], parts[1].lower(), parts[4].upper(), parts[5].strip()
            if rtype == "SOA" and name == ZONE + ".":
                serial = int(rdata.split()[2])
                if op == "del":
                    transactions.append(dict(old=serial, new=None, deleted=[], added=[]))
                else:
                    transactions[-1]["new"] = serial
                continue
            transactions[-1]["deleted" if op == "del" else "added"].append((name, rtype, rdata))
        return transactions

    def nsupdate(self, script):
        key = "hmac-sha256:%s:%s" % (TSIG_KEY_NAME, self.secrets["tsig_secret"])
        body = "server %s\nzone %s\n%s\nsend\n" % (self.topo.dns_primary.address, ZONE, script)
        return run(["nsupdate", "-y", key], input=body, check=False)

    def set_master_record(self, address):
        proc = self.nsupdate("update delete %s A\nupdate add %s 5 A %s" % (self.master_fqdn, self.master_fqdn, address))
        assert proc.returncode == 0, proc.stderr
        for site in self.topo.dr_sites:
            wait_until(lambda s=site: self.dig(s.host("dns"), self.master_fqdn) == [address], 15,
                       "%s to serve %s -> %s" % (site.host("dns").name, self.master_fqdn, address))

    # --- Genesys applications (simulated), driven through their own run.sh
    def app_dir(self, host, name):
        return os.path.join(lab_apps.app_base(host), name)

    def app_pids(self, host, name):
        return lab_mod.app_pids(host, name)

    def start_app(self, host, name):
        proc = self.ns(host, [os.path.join(self.app_dir(host, name), "run.sh")], check=False, timeout=30)
        assert proc.returncode == 0, "%s did not start: %s %s" % (name, proc.stdout, proc.stderr)
        return wait_until(lambda: self.app_pids(host, name), 10, "%s in the process table" % name)

    def stop_app(self, host, name, sig=15):
        pids = self.app_pids(host, name)
        for pid in pids:
            os.kill(pid, sig)
        wait_until(lambda: not self.app_pids(host, name), 15, "%s to exit" % name)

    def stop_all_apps(self):
        for host in self.topo.hosts():
            for app in lab_apps.instances(self.topo, host):
                if self.app_pids(host, app["name"]):
                    self.stop_app(host, app["name"], sig=9)

    def client(self, host, server, *args, port=None, timeout=10):
        """The simulator's client command, run on `host` (its namespace, its resolver)."""
        target = "%s:%d" % (server.address if hasattr(server, "address") else server, port)
        env = dict(os.environ, PYTHONPATH=lab_apps.sim_path())
        proc = self.ns(host, ["/usr/bin/python3", "-m", "genesys_sim", "client", "--server", target,
                              "--timeout", str(timeout)] + list(args), check=False, env=env, timeout=timeout + 10)
        reply = None
        if proc.stdout.strip():
            reply = json.loads(proc.stdout)
        return proc.returncode, reply, proc.stderr

    def ansible(self, pattern, module, args, check=False, diff=False, extra_vars=None, timeout=300):
        """Run one module of the collection through real Ansible over SSH against the
        lab inventory; returns {hostname: result dict} as Ansible reported it."""
        tree = tempfile.mkdtemp(prefix="genesys-dr-it-")
        cmd = [os.path.join(TOP, ".venv", "bin", "ansible"), "-i", os.path.join(TOP, "inventories", "lab"), pattern,
               "-m", module, "-a", json.dumps(args), "--tree", tree]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        proc = run(cmd, check=False, cwd=TOP, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, "ansible.cfg")),
                   timeout=timeout)
        self.last_ansible_output = proc.stdout + proc.stderr
        try:
            results = {}
            for host in os.listdir(tree):
                with open(os.path.join(tree, host)) as f:
                    results[host] = json.load(f)
                # Ansible 2.19 leaves failed/unreachable out of the --tree results: take them from
                # the status line it prints per host ("HOST | FAILED! =>").
                status = re.search(r"^%s \| (FAILED!|UNREACHABLE!)" % re.escape(host), self.last_ansible_output, re.M)
                if status:
                    results[host].setdefault("failed" if status.group(1) == "FAILED!" else "unreachable", True)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        if not results:
            raise AssertionError("ansible %s -m %s returned nothing:\n%s\n%s"
                                 % (pattern, module, proc.stdout, proc.stderr))
        return results

    def tcp_connect(self, host, address, port, timeout=2.0):
        code = ("import socket,sys\n"
                "try:\n socket.create_connection((%r, %d), timeout=%s).close()\nexcept OSError as e:\n"
                " sys.exit(str(e))\n") % (address, port, timeout)
        return self.ns(host, ["/usr/bin/python3", "-c", code], check=False).returncode == 0


@pytest.fixture(scope="session")
def lab():
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (network namespaces)")
    run(LABCTL + ["up"], timeout=600)
    return Lab()


@pytest.fixture
def clean_lab(lab):
    """No Genesys application running, the master name at the main site, no faults."""
    lab.stop_all_apps()
    main_mgmt = lab.site_host(lab.topo.main_site, "mgmt")
    if lab.dig(lab.topo.dns_primary, lab.master_fqdn) != [main_mgmt.address]:
        lab.set_master_record(main_mgmt.address)
    yield lab
    for site in list(lab_mod._faults()):  # pylint: disable=protected-access
        lab.labctl("heal", site)
    lab.stop_all_apps()


def pytest_collection_modifyitems(items):
    """Tests that take the whole lab down run last, so the others share one lab."""
    items.sort(key=lambda item: 1 if item.get_closest_marker("lab_lifecycle") else 0)


def pytest_configure(config):
    config.addinivalue_line("markers", "lab_lifecycle: takes the lab down and up again (runs last)")
