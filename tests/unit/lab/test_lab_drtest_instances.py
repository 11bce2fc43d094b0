"""The DR test instances the lab installs beside each master application (drtest.yml starts them):
written to a scratch state directory and read back - their own names and ports, the copy of the
Configuration Database, the test Configuration Server and Message Server, no log events to the
production Log Message Server - while the production applications stay as they were."""
import configparser
import json
import os
import re
import subprocess
import sys

import pytest

import simtest  # puts lab/ on sys.path
from genesys_lab import apps  # pylint: disable=wrong-import-order
from genesys_lab.topology import Topology  # pylint: disable=wrong-import-order

SECRETS = {"db_cs_password": "cs-pw", "db_ms_password": "ms-pw"}


@pytest.fixture
def installed(tmp_path, monkeypatch):
    monkeypatch.setenv("GENESYS_LAB_STATE", str(tmp_path))
    topo = Topology.build(2)
    mgmt = topo.site(topo.secondary_site).host("mgmt")
    apps.install(topo, mgmt, SECRETS)
    return topo, mgmt


def config(host, name):
    parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    with open(os.path.join(apps.app_base(host), name, name + ".cfg")) as handle:
        parser.read_file(handle)
    return parser


def command(host, name):
    with open(os.path.join(apps.app_base(host), name, "run.sh")) as handle:
        return re.search(r"^exec (.*)$", handle.read(), re.M).group(1).split()


def option(argv, name):
    return argv[argv.index(name) + 1]


def test_every_master_application_has_a_test_instance_of_its_own(installed):
    topo, mgmt = installed
    masters = apps.plan(topo, mgmt)[0]
    tests = [a["drtest"] for a in masters]
    assert len(tests) == 4 and all(t["name"] == a["name"] + "_drtest" for t, a in zip(tests, masters))
    production_ports = {a["port"] for a in apps.instances(topo, topo.site(topo.secondary_site).host("app"))}
    production_ports |= {a["port"] for a in masters}
    assert not {t["port"] for t in tests} & production_ports
    assert len({t["port"] for t in tests}) == 4
    # The site hosts' applications have none.
    assert not [a for a in apps.plan(topo, topo.site(topo.secondary_site).host("app"))[0] if a.get("drtest")]
    for test in tests:
        argv = command(mgmt, test["name"])
        assert option(argv, "-app") == test["name"] and option(argv, "-config") == "./%s.cfg" % test["name"]
        assert int(config(mgmt, test["name"])["app"]["port"]) == test["port"]


def test_the_test_instances_serve_the_copy_and_talk_only_to_each_other(installed):
    topo, mgmt = installed
    by_component = {(a["component"], a["role"]): a for a in apps.plan(topo, mgmt)[0]}
    primary, backup = by_component[("master_cs", "primary")], by_component[("master_cs", "backup")]
    ms, scs = by_component[("scs_message_server", "primary")], by_component[("master_scs", "primary")]
    for cs, peer in ((primary, backup), (backup, primary)):
        test = config(mgmt, cs["drtest"]["name"])
        assert test["dbserver"]["dbname"] == apps.DRTEST_DB
        assert int(test["confserv"]["peer_port"]) == peer["drtest"]["port"]
        # A Configuration Server listens on -port: the test port.
        assert int(option(command(mgmt, cs["drtest"]["name"]), "-port")) == cs["drtest"]["port"]
        assert config(mgmt, cs["name"])["dbserver"]["dbname"] == "cfgdb"
    assert config(mgmt, scs["drtest"]["name"])["scs"]["message_server"] == "%s:%d" % (mgmt.address, ms["drtest"]["port"])
    for app in (primary, backup, ms, scs):
        argv = command(mgmt, app["drtest"]["name"])
        # Its configuration comes from the test Configuration Server, its log events go nowhere.
        assert option(argv, "-host") == mgmt.address
        assert int(option(argv, "-port")) in (primary["drtest"]["port"], app["drtest"]["port"])
        assert not config(mgmt, app["drtest"]["name"]).has_section("log")
        assert config(mgmt, app["name"]).has_section("log")


def test_the_lab_inventory_names_the_test_instances_and_the_copy(installed):
    topo, mgmt = installed
    state = os.environ["GENESYS_LAB_STATE"]
    with open(os.path.join(state, "topology.json"), "w") as handle:
        handle.write(topo.to_json())
    script = os.path.join(os.path.dirname(simtest.LAB_DIR), "inventories", "lab", "hosts.py")
    inventory = json.loads(subprocess.run([sys.executable, script, "--list"], check=True, capture_output=True,
                                          text=True, env=dict(os.environ, GENESYS_LAB_STATE=state)).stdout)
    assert inventory["all"]["vars"]["genesys_drtest_database"] == apps.DRTEST_DB
    entries = inventory["_meta"]["hostvars"][mgmt.name]["genesys_apps"]
    assert [e["drtest"] for e in entries] == [{"name": a["drtest"]["name"], "port": a["drtest"]["port"]}
                                              for a in apps.plan(topo, mgmt)[0]]
