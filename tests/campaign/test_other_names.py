"""The procedures on an inventory whose site groups and hosts have other names than the
lab's, with the lab's second site as main: nothing in the collection may know the lab's
names. The inventory is the lab's own, renamed; the checks read the hosts through it."""
import json
import os
import subprocess

import pytest
import yaml

from conftest import BIN, PROJECT, checks, lab_reset, record
from lab import Lab

SITES = {"site1": "dc_west", "site2": "dc_east"}   # the lab's site2 becomes the main site


def renamed_inventory(path):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(PROJECT, "ansible.cfg"))
    inv = json.loads(subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", os.path.join(PROJECT, "inventories", "lab"),
                                     "--list"], env=env, check=True, capture_output=True, text=True).stdout)
    hosts = {}
    for name in inv["_meta"]["hostvars"]:
        site = next((s for s in SITES if name.startswith(s + "-")), None)
        hosts[name] = ("%s-%s-01" % (SITES[site].replace("_", "-"), name.split("-", 1)[1]) if site else name)

    def rename(value):
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return SITES.get(value, hosts.get(value, value)) if isinstance(value, str) else value

    groups = {}
    for group, data in inv.items():
        if group in ("_meta", "all", "ungrouped"):
            continue
        entry = {}
        if data.get("hosts"):
            entry["hosts"] = {hosts[h]: None for h in data["hosts"]}
        if data.get("children"):
            entry["children"] = {SITES.get(c, c): None for c in data["children"]}
        groups[SITES.get(group, group)] = entry
    hostvars = {}
    for name, variables in inv["_meta"]["hostvars"].items():
        variables = rename(variables)
        variables.update(genesys_main_site=SITES["site2"], genesys_secondary_site=SITES["site1"], lab_host_name=name)
        hostvars[hosts[name]] = variables
    # Deployment-wide values (the same on every host) go to group all, as a real inventory has them.
    shared = {k: v for k, v in next(iter(hostvars.values())).items() if all(hv.get(k) == v for hv in hostvars.values())}
    for entry in groups.values():
        for host in entry.get("hosts", {}):
            entry["hosts"][host] = {k: v for k, v in hostvars[host].items() if k not in shared}
    path.write_text(yaml.safe_dump({"all": {"vars": shared, "children": groups}}, default_flow_style=False))
    return str(path)


@pytest.mark.short
def test_other_names_with_the_second_site_as_main(campaign, tmp_path):
    lab_reset(main_site="site2")
    inventory = renamed_inventory(tmp_path / "renamed.yml")
    lab = Lab(inventory)
    assert lab.main_site == "dc_east" and "site1" not in json.dumps(lab.groups)
    assert campaign.run("normal.yml", inventory=inventory).rc == 0
    checks.assert_normal(lab)
    failover = campaign.run("failover.yml", "-e", "failover_mode=planned", inventory=inventory)
    assert failover.rc == 0, failover.log
    checks.assert_failed_over(lab)
    status = campaign.run("status.yml", inventory=inventory)
    # After a failover the deployment is not ready for another one: status ends failed, for exactly the
    # two reasons that hold, named with this inventory's own hosts and sites.
    assert status.rc == 2, status.log
    with open(os.path.join(campaign.reports, "status.json")) as handle:
        verdict = json.load(handle)
    main_db = lab.one("db_hosts", lab.main_site)
    assert verdict["problems"] == [
        "DR state: FAILED_OVER (a failover needs NORMAL or REPROTECTED)",
        "replication: %s cfgdb has no running subscription from the other DR site (%s%s stopped)" % (
            main_db, checks.CFG_SUB, lab.secondary_site),
    ], status.log
    record("other names, lab site2 as main: normal + planned failover", 2, 2)
