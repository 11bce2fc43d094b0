#!/usr/bin/env python3
"""Dynamic inventory of the lab built by lab/labctl.

It turns the lab's topology.json ($GENESYS_LAB_STATE, default /var/lib/genesys-lab) into
the same per-site inventory a real deployment writes by hand (see inventories/example):
groups per site and per component, host addresses and the Genesys applications each
host runs. Everything that does not depend on the number of sites is in group_vars/.
"""
import json
import os
import sys

STATE = os.environ.get("GENESYS_LAB_STATE", "/var/lib/genesys-lab")
LAB = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "lab")

COMPONENT_GROUPS = {"db": "db_hosts", "mgmt": "management_hosts", "app": "proxy_hosts", "dns": "dns_secondaries"}


def inventory():
    path = os.path.join(STATE, "topology.json")
    if not os.path.exists(path):
        sys.exit("the lab is not up (no %s): run lab/labctl up" % path)
    sys.path.insert(0, LAB)
    from genesys_lab import apps  # pylint: disable=import-outside-toplevel
    from genesys_lab.topology import Topology  # pylint: disable=import-outside-toplevel
    topo = Topology.load(path)

    groups = {g: {"hosts": [], "vars": {}} for g in list(COMPONENT_GROUPS.values()) + ["dns_primary"]}
    groups["dns_servers"] = {"children": ["dns_primary", "dns_secondaries"]}
    groups["genesys_sites"] = {"children": [s.name for s in topo.dr_sites]}
    hostvars = {}
    for site in topo.sites:
        if site is topo.shared:
            groups["shared_site"] = {"hosts": [h.name for h in site.hosts], "vars": {"genesys_site": "shared"}}
        else:
            groups[site.name] = {"hosts": [h.name for h in site.hosts], "vars": {"genesys_site": site.name}}
        for host in site.hosts:
            hv = {"ansible_host": host.address, "genesys_host_address": host.address}
            if site is topo.shared:
                groups["dns_primary"]["hosts"].append(host.name)
            else:
                groups[COMPONENT_GROUPS[host.role]]["hosts"].append(host.name)
            planned = apps.plan(topo, host)[0]
            if planned:
                hv["genesys_app_base"] = apps.app_base(host)
                hv["genesys_apps"] = [dict({"name": a["name"], "component": a["component"], "role": a["role"],
                                            "port": a["port"]},
                                           **({"drtest": {"name": a["drtest"]["name"], "port": a["drtest"]["port"]}}
                                              if a.get("drtest") else {})) for a in planned]
            hostvars[host.name] = hv
    groups["all"] = {"children": ["genesys_sites", "shared_site", "db_hosts", "management_hosts", "proxy_hosts",
                                  "dns_servers"]}
    # The database the DR test instances' configuration names (drtest.yml copies cfgdb into it).
    groups["all"]["vars"] = {"genesys_drtest_database": apps.DRTEST_DB}
    groups["_meta"] = {"hostvars": hostvars}
    return groups


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        print("{}")
    else:
        print(json.dumps(inventory(), indent=2))
