"""genesys_dr.framework.dr_state against the lab's real BIND servers, through real Ansible.

Each test keeps the DR state and lock in TXT records of its own (never the deployment's
_dr-state/_dr-lock names, which other engineers' drills use), reads them back with
`dig TXT` against the primary and every site's secondary, and proves what was (not) sent
from the primary's update journal. Only the failover test switches the master name, under
clean_lab, and puts it back.
"""
import re
import socket
import time
import types
import uuid

import pytest

from conftest import ZONE
from test_dns_record import (assert_served_everywhere, assert_servers_in_sync, assert_zone_untouched, dns_args, dns_servers,
                             soa_serial, transaction_adding, verify_list)

MODULE = "genesys_dr.framework.dr_state"
RUN_A, RUN_B, RUN_C = "it-run-a", "it-run-b", "it-run-c"
CHANGED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def names(lab):
    """State and lock record names of this test's own, deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    records = types.SimpleNamespace(state="_it-state-%s.%s" % (tag, ZONE), lock="_it-lock-%s.%s" % (tag, ZONE))
    yield records
    proc = lab.nsupdate("update delete %s TXT\nupdate delete %s TXT" % (records.state, records.lock))
    assert proc.returncode == 0, proc.stderr


def dr_args(lab, names, with_lock=True, **extra):
    """Connection options as for dns_record, this test's state (and lock) names, and extra."""
    args = dns_args(lab, extra.pop("records", None), state_name=names.state, **extra)
    if args["records"] is None:
        del args["records"]
    if with_lock:
        args["lock_name"] = names.lock
    return args


def dr(lab, args, host="localhost", check=False):
    result = lab.ansible(host, MODULE, args, check=check)[host]
    assert "unreachable" not in result, result
    return result


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def served_txt(lab, name):
    """Per server, the TXT records at name as dig reads them."""
    return {host.name: lab.dig_txt(host, name) for host in dns_servers(lab)}


def assert_txt_everywhere(lab, name, strings):
    expected = [strings] if strings else []
    assert served_txt(lab, name) == {host.name: expected for host in dns_servers(lab)}


def state_strings(state, live_site, run, changed, operation):
    return ["state=%s" % state, "live_site=%s" % live_site, "run=%s" % run, "changed=%s" % changed, "operation=%s" % operation]


def initialise(lab, names):
    """State NORMAL, live site site1, written by RUN_A (no lock needed without lock_name)."""
    return ok(dr(lab, dr_args(lab, names, with_lock=False, action="set", run_id=RUN_A, operation="normal", state="NORMAL",
                              live_site="site1", expect_state=["ABSENT"])))


def take_lock(lab, names, run_id, operation="failover", **extra):
    return dr(lab, dr_args(lab, names, action="lock", run_id=run_id, operation=operation, **extra))


def txt_line(strings):
    """A TXT record's strings as zone files, nsupdate and the journal write them."""
    return " ".join('"%s"' % s for s in strings)


# --------------------------------------------------------------------------- tests

def test_read_finds_neither_state_nor_lock_on_fresh_names(lab, names):
    result = ok(dr(lab, dr_args(lab, names, verify_servers=verify_list(lab))))
    assert result["changed"] is False
    assert result["dr_state"] is None and result["lock"] is None
    assert result["previous"] == dict(dr_state=None, lock=None)
    assert result["update"]["sent"] is False and result["update"]["changes"] == []
    # Every server was asked once (read does not wait) and agrees that nothing is there.
    assert sorted(s["name"] for s in result["servers"]) == sorted(h.name for h in dns_servers(lab))
    for server in result["servers"]:
        assert server["error"] is None and server["serial"] is not None, server
        assert server["answer"] == {"%s. TXT" % names.state: [], "%s. TXT" % names.lock: []}, server


def test_initialise_conditioned_on_the_master_record_in_the_same_update(lab, names):
    primary = lab.topo.dns_primary
    master = lab.dig(primary, lab.master_fqdn)
    assert len(master) == 1, master
    init = dict(action="set", run_id=RUN_A, operation="normal", state="NORMAL", live_site="site1", expect_state=["ABSENT"],
                verify_servers=verify_list(lab))
    start = soa_serial(primary)
    try:
        # The master name is not where this run believes: neither record is written.
        moved = [dict(name=lab.master_fqdn, type="A", value=["198.18.9.98"], expect=["198.18.9.99"])]
        wrong = dr(lab, dr_args(lab, names, with_lock=False, records=moved, **init))
        assert wrong.get("failed") is True and wrong["changed"] is False and wrong["update"]["sent"] is False
        assert "compare-and-swap refused, nothing was changed" in wrong["msg"]
        assert "%s. A: expected ['198.18.9.99'] (compare-and-swap) but the primary serves %s" % (lab.master_fqdn, master) in wrong["msg"]
    finally:
        # Only undo what a broken module would have written (others may switch the name meanwhile).
        if lab.dig(primary, lab.master_fqdn) == ["198.18.9.98"]:
            lab.set_master_record(master[0])
    assert_zone_untouched(lab, [names.state, lab.master_fqdn], start)

    records = [dict(name=lab.master_fqdn, type="A", value=master, expect=master)]
    planned = ok(dr(lab, dr_args(lab, names, with_lock=False, records=records, **init), check=True))
    assert planned["changed"] is True and planned["update"]["sent"] is False
    assert planned["dr_state"]["state"] == "NORMAL" and planned["dr_state"]["run"] == RUN_A
    assert any(line.startswith('update add %s. 60 TXT "state=NORMAL"' % names.state) for line in planned["update"]["changes"])
    assert_zone_untouched(lab, [names.state], start)
    assert_txt_everywhere(lab, names.state, [])

    result = ok(dr(lab, dr_args(lab, names, with_lock=False, records=records, **init)))
    assert result["changed"] is True and result["update"]["sent"] is True
    assert result["previous"]["dr_state"] is None
    fields = result["dr_state"]
    assert CHANGED_TIME.match(fields["changed"]), fields
    assert fields == dict(state="NORMAL", live_site="site1", run=RUN_A, operation="normal", changed=fields["changed"])
    # The master record rides in the same update as a prerequisite: the state is only
    # written while the master name is where the run saw it.
    assert "prereq nxrrset %s. TXT" % names.state in result["update"]["prerequisites"]
    assert "prereq yxrrset %s. A %s" % (lab.master_fqdn, master[0]) in result["update"]["prerequisites"]
    assert result["records"][0]["changed"] is False and result["records"][0]["compare_and_swap"] == "already_target"
    strings = state_strings("NORMAL", "site1", RUN_A, fields["changed"], "normal")
    written = transaction_adding(lab, (names.state + ".", "TXT", txt_line(strings)))
    assert written["new"] == written["old"] + 1 and written["old"] >= start
    assert_servers_in_sync(result, [h.name for h in dns_servers(lab)], written["new"])
    assert_txt_everywhere(lab, names.state, strings)

    again = ok(dr(lab, dr_args(lab, names, with_lock=False, records=records, **init)))
    assert again["changed"] is False and again["update"]["sent"] is False and again["dr_state"] == fields
    read = ok(dr(lab, dr_args(lab, names)))
    assert read["changed"] is False and read["dr_state"] == fields and read["lock"] is None

    # Initialising once more (another run that believes nothing is there) is refused.
    other = dr(lab, dr_args(lab, names, with_lock=False, action="set", run_id=RUN_B, operation="normal", state="FAILED_OVER",
                            live_site="site2", expect_state=["ABSENT"]))
    assert other.get("failed") is True and other["changed"] is False
    assert ("the DR state at %s. is NORMAL (live site site1), set by run %s (operation normal) at %s; this run (%s) expected ABSENT"
            % (names.state, RUN_A, fields["changed"], RUN_B)) in other["msg"]
    assert_zone_untouched(lab, [names.state], written["new"])
    assert_txt_everywhere(lab, names.state, strings)


def test_lock_is_exclusive_and_guards_every_state_change(lab, names):
    init = initialise(lab, names)
    state_before = state_strings("NORMAL", "site1", RUN_A, init["dr_state"]["changed"], "normal")
    failover = dict(action="set", operation="failover", state="FAILED_OVER", live_site="site2", expect_state=["NORMAL"],
                    expect_live_site="site1")

    free = dr(lab, dr_args(lab, names, run_id=RUN_A, **failover))
    assert free.get("failed") is True
    assert "needs the DR operation lock %s. held by this run (%s) but the lock is free" % (names.lock, RUN_A) in free["msg"]

    before = time.time()
    locked = ok(take_lock(lab, names, RUN_A, verify_servers=verify_list(lab)))
    assert locked["changed"] is True and locked["previous"]["lock"] is None
    lock = locked["lock"]
    assert lock["holder"] == RUN_A and lock["operation"] == "failover" and lock["host"] == socket.gethostname()
    assert int(before) <= lock["since"] <= time.time() and 0 <= lock["age_seconds"] < 60
    assert locked["update"]["prerequisites"] == ["prereq nxrrset %s. TXT" % names.lock]
    lock_strings = ["holder=%s" % RUN_A, "operation=failover", "since=%d" % lock["since"], "host=%s" % lock["host"]]
    assert_txt_everywhere(lab, names.lock, lock_strings)
    taken = transaction_adding(lab, (names.lock + ".", "TXT", txt_line(lock_strings)))

    again = ok(take_lock(lab, names, RUN_A))
    assert again["changed"] is False and again["lock"]["holder"] == RUN_A

    refused = take_lock(lab, names, RUN_B)
    assert refused.get("failed") is True and refused["changed"] is False
    assert re.search(r"the DR operation lock %s\. is held by run %s \(operation failover, host %s, taken \d+ s ago\): another DR "
                     r"operation is running" % (re.escape(names.lock), RUN_A, re.escape(lock["host"])), refused["msg"]), refused["msg"]
    assert "break_stale_lock: true" in refused["msg"]
    assert refused["lock"]["holder"] == RUN_A

    not_holder = dr(lab, dr_args(lab, names, run_id=RUN_B, **failover))
    assert not_holder.get("failed") is True
    assert "needs the DR operation lock %s. held by this run (%s) but it is held by run %s" % (names.lock, RUN_B, RUN_A) in not_holder["msg"]
    assert_zone_untouched(lab, [names.state, names.lock], taken["new"])
    assert_txt_everywhere(lab, names.state, state_before)
    assert_txt_everywhere(lab, names.lock, lock_strings)

    changed = ok(dr(lab, dr_args(lab, names, run_id=RUN_A, verify_servers=verify_list(lab), **failover)))
    assert changed["changed"] is True
    fields = changed["dr_state"]
    assert (fields["state"], fields["live_site"], fields["run"], fields["operation"]) == ("FAILED_OVER", "site2", RUN_A, "failover")
    assert changed["previous"]["dr_state"]["state"] == "NORMAL"
    # Conditioned on the state it read and on the lock being still this run's.
    assert "prereq yxrrset %s. TXT %s" % (names.state, txt_line(state_before)) in changed["update"]["prerequisites"]
    assert "prereq yxrrset %s. TXT %s" % (names.lock, txt_line(lock_strings)) in changed["update"]["prerequisites"]
    assert_txt_everywhere(lab, names.state, state_strings("FAILED_OVER", "site2", RUN_A, fields["changed"], "failover"))
    assert_txt_everywhere(lab, names.lock, lock_strings)
    assert ok(dr(lab, dr_args(lab, names, run_id=RUN_A, **failover)))["changed"] is False

    wrong_site = dr(lab, dr_args(lab, names, run_id=RUN_A, action="set", operation="failback", state="NORMAL", live_site="site1",
                                 expect_state=["FAILED_OVER"], expect_live_site="site1"))
    assert wrong_site.get("failed") is True
    assert "is FAILED_OVER (live site site2)" in wrong_site["msg"] and "expected FAILED_OVER with live site site1" in wrong_site["msg"]

    other_unlock = dr(lab, dr_args(lab, names, action="unlock", run_id=RUN_B))
    assert other_unlock.get("failed") is True
    assert "is held by run %s" % RUN_A in other_unlock["msg"] and "not by this run (%s)" % RUN_B in other_unlock["msg"]
    planned = ok(dr(lab, dr_args(lab, names, action="unlock", run_id=RUN_A), check=True))
    assert planned["changed"] is True and planned["update"]["sent"] is False and planned["lock"] is None
    # The whole lock rrset goes, on condition that it is still exactly this run's lock.
    assert planned["update"]["changes"] == ["update delete %s. TXT" % names.lock]
    assert planned["update"]["prerequisites"] == ["prereq yxrrset %s. TXT %s" % (names.lock, txt_line(lock_strings))]
    assert_txt_everywhere(lab, names.lock, lock_strings)

    unlocked = ok(dr(lab, dr_args(lab, names, action="unlock", run_id=RUN_A, verify_servers=verify_list(lab))))
    assert unlocked["changed"] is True and unlocked["lock"] is None and unlocked["previous"]["lock"]["holder"] == RUN_A
    assert_txt_everywhere(lab, names.lock, [])
    assert ok(dr(lab, dr_args(lab, names, action="unlock", run_id=RUN_A)))["changed"] is False

    # Any host of the inventory reads the same state (Debian's python3 and dnspython 2.3).
    remote = lab.site_host("site2", "app").name
    seen = ok(dr(lab, dr_args(lab, names), host=remote))
    assert seen["changed"] is False and seen["dr_state"] == fields and seen["lock"] is None


def test_failover_switches_master_record_and_state_in_one_update(clean_lab, names):
    lab = clean_lab
    main = lab.site_host("site1", "mgmt").address
    secondary = lab.site_host("site2", "mgmt").address
    initialise(lab, names)
    ok(take_lock(lab, names, RUN_A))
    failover = dict(action="set", run_id=RUN_A, operation="failover", state="FAILED_OVER", live_site="site2",
                    expect_state=["NORMAL"], expect_live_site="site1", verify_servers=verify_list(lab),
                    records=[dict(name=lab.master_fqdn, type="A", ttl=5, value=[secondary], expect=[main])])
    failback = dict(action="set", run_id=RUN_A, operation="failback", state="NORMAL", live_site="site1",
                    expect_state=["FAILED_OVER"], expect_live_site="site2", verify_servers=verify_list(lab),
                    records=[dict(name=lab.master_fqdn, type="A", ttl=5, value=[main], expect=[secondary])])
    try:
        switched = ok(dr(lab, dr_args(lab, names, **failover)))
        assert switched["changed"] is True and switched["dr_state"]["state"] == "FAILED_OVER"
        record = switched["records"][0]
        assert record["changed"] is True and record["compare_and_swap"] == "expected"
        assert record["before"]["value"] == [main] and record["after"]["value"] == [secondary]
        assert "prereq yxrrset %s. A %s" % (lab.master_fqdn, main) in switched["update"]["prerequisites"]
        # One journal transaction, one serial step: the master name and the state moved together.
        state_strings_now = state_strings("FAILED_OVER", "site2", RUN_A, switched["dr_state"]["changed"], "failover")
        # (Found by the state record, unique to this test: other drills switch the master name too.)
        sent = transaction_adding(lab, (names.state + ".", "TXT", txt_line(state_strings_now)))
        assert sent["new"] == sent["old"] + 1
        assert (lab.master_fqdn + ".", "A", secondary) in sent["added"]
        assert (lab.master_fqdn + ".", "A", main) in sent["deleted"]
        assert_servers_in_sync(switched, [h.name for h in dns_servers(lab)], sent["new"])
        assert_served_everywhere(lab, lab.master_fqdn, "A", [secondary])
        assert_txt_everywhere(lab, names.state, state_strings_now)

        rerun = ok(dr(lab, dr_args(lab, names, **failover)))
        assert rerun["changed"] is False and rerun["records"][0]["compare_and_swap"] == "already_target"
        assert_zone_untouched(lab, [names.state, lab.master_fqdn], sent["new"])

        back = ok(dr(lab, dr_args(lab, names, **failback)))
        assert back["changed"] is True and back["dr_state"]["state"] == "NORMAL" and back["dr_state"]["operation"] == "failback"
        assert_served_everywhere(lab, lab.master_fqdn, "A", [main])
        assert_txt_everywhere(lab, names.state, state_strings("NORMAL", "site1", RUN_A, back["dr_state"]["changed"], "failback"))
        ok(dr(lab, dr_args(lab, names, action="unlock", run_id=RUN_A)))
    finally:
        if lab.dig(lab.topo.dns_primary, lab.master_fqdn) != [main]:
            lab.set_master_record(main)


def test_stale_lock_is_broken_only_when_asked_and_old_enough(lab, names):
    since = int(time.time()) - 7200
    dead = ["holder=it-dead-run", "operation=failover", "since=%d" % since, "host=lost-host"]
    assert lab.nsupdate("update add %s 60 TXT %s" % (names.lock, txt_line(dead))).returncode == 0
    start = soa_serial(lab.topo.dns_primary)

    held = take_lock(lab, names, RUN_C)
    assert held.get("failed") is True
    age = re.search(r"held by run it-dead-run \(operation failover, host lost-host, taken (\d+) s ago\)", held["msg"])
    assert age and 7200 <= int(age.group(1)) < 7500, held["msg"]
    assert "run again with break_stale_lock: true and stale_after: <seconds>" in held["msg"]

    young = take_lock(lab, names, RUN_C, break_stale_lock=True, stale_after=10000)
    assert young.get("failed") is True and "less than stale_after=10000 s, so it is not broken" in young["msg"]

    broken_by = ok(take_lock(lab, names, RUN_C, break_stale_lock=True, stale_after=3600, verify_servers=verify_list(lab)))
    assert broken_by["changed"] is True and broken_by["update"]["sent"] is True and broken_by["lock"]["holder"] == RUN_C
    assert broken_by["previous"]["lock"]["holder"] == "it-dead-run" and broken_by["previous"]["lock"]["since"] == since
    assert broken_by["update"]["prerequisites"] == ["prereq yxrrset %s. TXT %s" % (names.lock, txt_line(dead))]
    warning = " ".join(lab.last_ansible_output.split())
    assert "[WARNING]: broke the stale DR operation lock %s. of run it-dead-run (operation failover, host lost-host" % names.lock in warning
    lock = broken_by["lock"]
    assert_txt_everywhere(lab, names.lock, ["holder=%s" % RUN_C, "operation=failover", "since=%d" % lock["since"],
                                            "host=%s" % lock["host"]])
    assert transaction_adding(lab, (names.lock + ".", "TXT", txt_line(dead)))["old"] < start

    # A lock whose age cannot be read is never broken.
    unknown = ["holder=it-no-since", "operation=failover"]
    assert lab.nsupdate("update delete %s TXT\nupdate add %s 60 TXT %s"
                        % (names.lock, names.lock, txt_line(unknown))).returncode == 0
    ageless = take_lock(lab, names, RUN_B, break_stale_lock=True, stale_after=1)
    assert ageless.get("failed") is True
    assert "held by run it-no-since" in ageless["msg"] and "has no readable since=...; its age is unknown, so it is not broken" in ageless["msg"]
    assert lab.dig_txt(lab.topo.dns_primary, names.lock) == [unknown]


def test_check_mode_lock_and_break_send_nothing(lab, names):
    start = soa_serial(lab.topo.dns_primary)
    planned = ok(dr(lab, dr_args(lab, names, action="lock", run_id=RUN_A, operation="failover"), check=True))
    assert planned["changed"] is True and planned["update"]["sent"] is False
    assert planned["lock"]["holder"] == RUN_A and planned["previous"]["lock"] is None
    assert planned["update"]["prerequisites"] == ["prereq nxrrset %s. TXT" % names.lock]
    assert_zone_untouched(lab, [names.lock, names.state], start)
    assert_txt_everywhere(lab, names.lock, [])

    dead = ["holder=it-dead-run", "operation=failover", "since=%d" % (int(time.time()) - 7200), "host=lost-host"]
    assert lab.nsupdate("update add %s 60 TXT %s" % (names.lock, txt_line(dead))).returncode == 0
    start = soa_serial(lab.topo.dns_primary)
    breaking = ok(dr(lab, dr_args(lab, names, action="lock", run_id=RUN_C, operation="failover", break_stale_lock=True,
                                  stale_after=3600), check=True))
    assert breaking["changed"] is True and breaking["update"]["sent"] is False and breaking["lock"]["holder"] == RUN_C
    # The warning tells what would happen; nothing was broken.
    warning = " ".join(lab.last_ansible_output.split())
    assert "[WARNING]: would break the stale DR operation lock %s. of run it-dead-run" % names.lock in warning
    assert "broke the stale" not in warning
    assert_zone_untouched(lab, [names.lock, names.state], start)
    assert lab.dig_txt(lab.topo.dns_primary, names.lock) == [dead]
