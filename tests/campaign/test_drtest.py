"""drtest.yml on the lab, checked from outside (dig, psql, the process table, clients writing
through every proxy): the site that is not live is proven able to take over while production keeps
running, production reads back the same, the test leaves nothing behind - also when it is killed
part-way (its rerun, or a clean-up run, clears what it left) or the main site is cut off part-way."""
import glob
import json
import os
import shlex

import pytest

from conftest import BIN, LONG, PROJECT, STATE, assert_never_two_masters, checks, lock_holder, record
from test_kill_and_resume import play_names

REPEAT = 3 if LONG else 1
CAPTURED = "during.json"


def test_instances(lab, mgmt):
    """(name, port) of every DR test instance the inventory gives the host."""
    return [(a["drtest"]["name"], a["drtest"]["port"]) for a in lab.apps(mgmt) if a.get("drtest")]


def databases(lab, db_host):
    return lab.psql(db_host, "postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database").split(",")


def production(lab):
    """What production looks like from outside: every DNS server's answer, the DR state, the lock, the
    cfgdb stream into the secondary, which Configuration Databases take client writes, the master
    processes and every proxy's connection to the live master, and the databases of both DB hosts."""
    main, sec = lab.main_site, lab.secondary_site
    main_mgmt, sec_mgmt = lab.one("management_hosts", main), lab.one("management_hosts", sec)
    main_db, sec_db = lab.one("db_hosts", main), lab.one("db_hosts", sec)
    address, port = lab.address(main_mgmt), checks.master_ports(lab, main_mgmt)[0]
    state = lab.dr_state()
    return dict(
        dns={s: lab.dig(s, lab.master_name) for s in lab.groups["dns_primary"] + lab.groups["dns_secondaries"]},
        dr_state=(state.get("state"), state.get("live_site")),
        lock=lock_holder(lab),
        stream=checks.subscription(lab, sec_db, "cfgdb", checks.CFG_SUB + main),
        writable={h: checks.can_write(lab, h) for h in (main_db, sec_db)},
        masters={a["name"]: len(lab.app_processes(a["name"])) for m in (main_mgmt, sec_mgmt) for a in lab.apps(m)},
        proxies={h: lab.established_to(h, address, port) for h in lab.groups["proxy_hosts"]},
        databases={h: databases(lab, h) for h in (main_db, sec_db)})


def capture_command(lab, directory):
    """A shell command (the campaign's hook) that records, while the test instances run, their processes,
    the ports they listen on and the databases the Configuration Server role has sessions on at the tested
    DB host - as JSON in <directory>/during.json."""
    sec_mgmt, sec_db = lab.one("management_hosts", lab.secondary_site), lab.one("db_hosts", lab.secondary_site)
    role = checks.cs_roles(lab)[0]
    script = (
        "import json, subprocess\n"
        "def out(cmd): return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout\n"
        "print(json.dumps(dict(\n"
        "  processes=out(\"pgrep -af -- '-app [^ ]*_drtest( |$)'\").splitlines(),\n"
        "  listening=out('ip netns exec %(ns)s ss -Htln').splitlines(),\n"
        "  sessions=out('PGPASSWORD=\"$(cat %(state)s/secrets/db_admin_password)\" psql -X -At -h %(db)s -p %(port)d -U %(user)s -d postgres"
        " -c \"SELECT datname FROM pg_stat_activity WHERE usename = \\'%(role)s\\' ORDER BY 1\"').split())))\n"
    ) % dict(ns=lab.netns(sec_mgmt), state=STATE, db=lab.address(sec_db), port=lab.db_port, user=lab.admin_user, role=role)
    return "python3 -c %s > %s" % (shlex.quote(script), shlex.quote(os.path.join(directory, CAPTURED)))


def drtest_result(campaign):
    """genesys_dr_drtest of the newest drtest report the run wrote."""
    reports = sorted(glob.glob(os.path.join(campaign.reports, "drtest-*.json")), key=os.path.getmtime)
    assert reports, "no drtest report in %s" % campaign.reports
    with open(reports[-1]) as handle:
        return json.load(handle)["published"]["genesys_dr_drtest"]


def assert_nothing_left(lab):
    sec_mgmt, sec_db = lab.one("management_hosts", lab.secondary_site), lab.one("db_hosts", lab.secondary_site)
    for name, _port in test_instances(lab, sec_mgmt):
        assert lab.app_processes(name) == [], "test instance %s still runs" % name
    copies = [d for d in databases(lab, sec_db) if d.startswith(lab.hostvars[sec_db]["genesys_drtest_database"])]
    assert copies == [], "the copy is still there: %s" % copies
    assert lock_holder(lab) is None, "the DR lock is still held"


@pytest.mark.short
def test_a_dr_test_under_load_proves_the_secondary_and_leaves_production_as_it_was(campaign, normal_lab, load_factory):
    lab = normal_lab
    main_db, sec_db = lab.one("db_hosts", lab.main_site), lab.one("db_hosts", lab.secondary_site)
    sec_mgmt = lab.one("management_hosts", lab.secondary_site)
    before = production(lab)
    load = load_factory(lab)
    with load:
        run = campaign.run("drtest.yml", hook=("Tear down", capture_command(lab, campaign.dir)))
    assert run.rc == 0, "drtest.yml failed: %s" % run.log
    # The clients writing through every proxy saw no refusal and lost nothing.
    outcomes = {}
    for path in glob.glob(os.path.join(campaign.dir, "load_*.jsonl")):
        with open(path) as handle:
            for line in handle:
                outcome = json.loads(line)["outcome"]
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert set(outcomes) == {"ack"} and outcomes["ack"] > 20, outcomes
    assert load.lost(main_db) == []
    # While the test ran: every test instance ran and listened on its test port, and the Configuration
    # Server role's sessions at the tested DB host were on the copy only (the replica stayed untouched).
    with open(os.path.join(campaign.dir, CAPTURED)) as handle:
        during = json.load(handle)
    copy_name = lab.hostvars[sec_db]["genesys_drtest_database"]
    for name, port in test_instances(lab, sec_mgmt):
        assert [p for p in during["processes"] if "-app %s" % name in p], "%s did not run: %s" % (name, during["processes"])
        # ss -Htln: State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
        assert [s for s in during["listening"] if s.split()[3].endswith(":%d" % port)], (name, port, during["listening"])
    assert during["sessions"] and set(during["sessions"]) == {copy_name}, during["sessions"]
    # Afterwards production reads back the same, and nothing of the test is left.
    assert production(lab) == before
    assert_nothing_left(lab)
    result = drtest_result(campaign)
    assert result["ready"] is True and result["problems"] == [], result
    assert result["site"] == lab.secondary_site and result["production_changes"] == []
    assert result["lsn_min"] and result["lsn_max"], result
    assert 0 < float(result["time_to_ready_seconds"]) <= float(result["time_to_ready_budget_seconds"]), result
    # The canary went into the copy, never into production.
    canary = "dr_canary_%s_drtest" % result["run_id"].replace("-", "_").replace(":", "_").replace(".", "_")
    assert result["canary_tables"], result
    # Read through the test master: the canary back, the seed sample as the live master serves it (the clients
    # write new objects, none of the seed).
    samples = lab.hostvars[sec_mgmt]["genesys_drtest_sample_objects"]
    assert result["reads"] == {"canary_read_back": True, "sample_identical": samples, "sample_changed_since": [],
                               "sample_not_compared": [], "problems": []}, result["reads"]
    for db_host in (main_db, sec_db):
        assert canary not in checks.person_names(lab, db_host)
    assert_never_two_masters(lab)
    checks.assert_normal(lab)
    record("drtest under load", 1, 1, len(load.lost(main_db)))


def kill_then_clean(campaign, lab, kill_at, cleanup):
    """Kill the test at a step; a failover is refused meanwhile (the lock); the rerun of the same id (or
    a clean-up run) clears what it left and releases the lock; production is NORMAL as before."""
    before = production(lab)
    killed = campaign.run("drtest.yml", kill_at=kill_at)
    assert killed.killed and killed.run_id, killed.log
    assert lock_holder(lab) == killed.run_id
    refused = campaign.run("failover.yml", "-e", "failover_mode=planned")
    assert refused.rc != 0 and "holds the lock: run %s (drtest" % killed.run_id in refused.output, refused.log
    assert lab.dr_state().get("state") == "NORMAL"
    extra = ["-e", "genesys_dr_run=%s" % killed.run_id] + (["-e", "drtest_cleanup=true"] if cleanup else [])
    rerun = campaign.run("drtest.yml", *extra)
    assert rerun.rc == 0, rerun.log
    assert "Run %s continues" % killed.run_id in rerun.output
    assert_nothing_left(lab)
    after = production(lab)
    assert after == before
    if not cleanup:
        assert drtest_result(campaign)["ready"] is True
    assert_never_two_masters(lab)


@pytest.mark.short
def test_a_dr_test_killed_with_its_instances_running_is_cleaned_up_by_a_cleanup_run(campaign, normal_lab):
    kill_then_clean(campaign, normal_lab, "Tear down", cleanup=True)
    checks.assert_normal(normal_lab)
    record("kill drtest at Tear down, then drtest_cleanup", 3, 3)


# Every step that holds the lock: the Verdict play runs after End released it.
HOLDING_STEPS = [name for name in play_names("drtest.yml") if not name.startswith("Verdict")]


@pytest.mark.parametrize("attempt", range(REPEAT))
@pytest.mark.parametrize("kill_at", HOLDING_STEPS)
def test_a_dr_test_killed_at_every_step_is_finished_by_its_rerun(campaign, normal_lab, kill_at, attempt):
    kill_then_clean(campaign, normal_lab, kill_at, cleanup=False)
    record("kill drtest at %s" % kill_at, 3, 3)


@pytest.mark.parametrize("at", ["Copy the Configuration Database", "Start the DR test instances", "Tear down"])
def test_a_dr_test_with_the_main_cut_off_part_way(campaign, normal_lab, at):
    """The main site partitioned part-way: the test reports production it could not read back as a
    problem, ends failed, and still leaves nothing behind at the tested site and no lock."""
    lab = normal_lab
    partition = "%s %s fault partition %s" % (os.path.join(BIN, "python"), os.path.join(PROJECT, "lab", "labctl"), lab.main_site)
    run = campaign.run("drtest.yml", hook=(at, partition))
    try:
        assert run.rc != 0, run.log
        result = drtest_result(campaign)
        assert result["ready"] is False and result["production_changes"], result
        assert all(p.startswith("production changed: ") for p in result["problems"]), result["problems"]
        assert "not ready" in run.output
        assert_nothing_left(lab)
        assert lab.dr_state().get("state") == "NORMAL"
    finally:
        lab.labctl("heal", lab.main_site)
    checks.assert_normal(lab)
    record("drtest with the main partitioned at %s" % at, 1, 1)
