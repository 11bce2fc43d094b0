"""What the testinfra verifiers of every scenario read the lab with.

Hosts, groups and deployment values come from the lab inventory (ansible-inventory), the
same data the playbooks use; the verifiers never trust a playbook's own output: they read
the hosts over SSH (testinfra), the DNS servers with dig, the databases with psql. Hosts
cut off from the controller (a partition) are read from inside their network namespace.
"""
import json
import os
import subprocess
import sys

import testinfra

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(PROJECT, "lab"))

from genesys_lab.topology import Topology  # noqa: E402  pylint: disable=wrong-import-position

STATE = os.environ.get("GENESYS_LAB_STATE", "/var/lib/genesys-lab")


class Lab:
    def __init__(self, inventory=None):
        """The lab as an inventory describes it: inventories/lab, or another inventory of the
        same lab (other host and site names) whose hosts carry lab_host_name."""
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(PROJECT, "ansible.cfg"))
        out = subprocess.run([os.path.join(PROJECT, ".venv", "bin", "ansible-inventory"), "-i",
                              inventory or os.path.join(PROJECT, "inventories", "lab"), "--list"],
                             env=env, check=True, capture_output=True, text=True).stdout
        inv = json.loads(out)
        self.hostvars = inv["_meta"]["hostvars"]
        self.groups = {name: data.get("hosts", []) for name, data in inv.items() if isinstance(data, dict)}
        self.topology = Topology.load(os.path.join(STATE, "topology.json"))
        any_host = next(iter(self.hostvars.values()))
        self.main_site = any_host["genesys_main_site"]
        self.secondary_site = any_host["genesys_secondary_site"]
        self.master_name = any_host["genesys_master_name"].rstrip(".")
        self.state_name = any_host["genesys_dr_state_name"].rstrip(".")
        self.lock_name = any_host["genesys_dr_lock_name"].rstrip(".")
        self.db_port = int(any_host["genesys_db_port"])
        self.admin_user = any_host["genesys_db_admin_user"]
        with open(os.path.join(STATE, "secrets", "db_admin_password")) as handle:
            self.admin_password = handle.read().strip()
        self.local = testinfra.get_host("local://")
        self._hosts = {}

    # -- inventory -------------------------------------------------------------------
    def in_site(self, group, site):
        return [h for h in self.groups.get(group, []) if h in self.groups.get(site, [])]

    def one(self, group, site):
        hosts = self.in_site(group, site)
        assert len(hosts) == 1, "expected one %s host at %s, found %s" % (group, site, hosts)
        return hosts[0]

    def address(self, host):
        return self.hostvars[host]["genesys_host_address"]

    def apps(self, host, component=None):
        return [a for a in self.hostvars[host].get("genesys_apps", []) if component in (None, a["component"])]

    def proxy_sites(self):
        return sorted({self.hostvars[h]["genesys_site"] for h in self.groups["proxy_hosts"]})

    # -- reading hosts -----------------------------------------------------------------
    def host(self, name):
        """testinfra host over SSH, as Ansible reaches it."""
        if name not in self._hosts:
            ssh_dir = os.path.join(STATE, "ssh")
            self._hosts[name] = testinfra.get_host(
                "ssh://root@%s" % self.hostvars[name]["ansible_host"], ssh_identity_file=os.path.join(ssh_dir, "id_ed25519"),
                ssh_extra_args="-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o ConnectTimeout=5" % (
                    os.path.join(ssh_dir, "known_hosts")), controlpersist=0)
        return self._hosts[name]

    def netns(self, name):
        """The network namespace of a host (named by this inventory)."""
        return self.topology.host(self.hostvars[name].get("lab_host_name", name)).netns

    def inside(self, name, command):
        """Run a command inside a host's network namespace from the controller (for hosts the
        controller cannot reach over the network, e.g. a partitioned site)."""
        return self.local.run("ip netns exec %s sh -c %s" % (self.netns(name), _quote(command)))

    def listening(self, name, port, inside=False):
        cmd = "ss -Htln 'sport = :%d'" % port
        out = (self.inside(name, cmd) if inside else self.host(name).run(cmd)).stdout
        return bool(out.strip())

    def established_to(self, name, address, port, inside=False):
        cmd = "ss -Htn state established 'dst %s:%d'" % (address, port)
        out = (self.inside(name, cmd) if inside else self.host(name).run(cmd)).stdout
        return len([line for line in out.splitlines() if line.strip()])

    def app_processes(self, app_name):
        """pids whose command line carries -app <name> (app names are unique in the lab)."""
        out = self.local.run("pgrep -f -- '-app %s( |$)'" % app_name).stdout
        return [int(p) for p in out.split()]

    def psql(self, db_host, db, sql, inside=False):
        cmd = "PGPASSWORD=%s PGCONNECT_TIMEOUT=5 psql -X -At -v ON_ERROR_STOP=1 -h %s -p %d -U %s -d %s -c %s" % (
            _quote(self.admin_password), self.address(db_host), self.db_port, self.admin_user, db, _quote(sql))
        result = self.inside(db_host, cmd) if inside else self.host(db_host).run(cmd)
        assert result.rc == 0, "psql on %s failed: %s" % (db_host, result.stderr)
        return result.stdout.strip()

    def dig(self, server, name, rdtype="A"):
        out = self.local.check_output("dig +short +time=2 +tries=2 @%s %s %s" % (self.address(server), name, rdtype))
        return sorted(line.strip().strip('"') for line in out.splitlines() if line.strip())

    def dr_state(self, server="dns-primary"):
        fields = {}
        for txt in self.dig(server, self.state_name, "TXT"):
            for part in txt.replace('" "', " ").split():
                if "=" in part:
                    key, value = part.split("=", 1)
                    fields[key] = value
        return fields

    def client(self, app_host, port, *args, inside=False):
        """The simulated Genesys client through a proxy (exit 0 ok, 2 refused, 1 no reply)."""
        cmd = "env PYTHONPATH=%s/sim /usr/bin/python3 -m genesys_sim client --timeout 5 --server %s:%d %s" % (
            STATE, self.address(app_host), port, " ".join(_quote(a) for a in args))
        return self.inside(app_host, cmd) if inside else self.host(app_host).run(cmd)

    def labctl(self, *args):
        return self.local.run("%s %s %s" % (os.path.join(PROJECT, ".venv", "bin", "python"),
                                            os.path.join(PROJECT, "lab", "labctl"), " ".join(args)))


def _quote(text):
    return "'" + str(text).replace("'", "'\"'\"'") + "'"
