"""The main site is lost while a planned failover runs: power off (site loss) or cut off from
the WAN (partition) when a step starts. The planned run finishes, or stops naming the command
that continues it, and the operator continues it as a disaster failover that names the lost
site; or, lost before its first change (at the gate), it is refused with nothing changed and
the lock given back, naming the disaster failover the operator then runs.
It finishes, never two writable masters, the lock released; the writes the main acknowledged
and could not send before it died are counted (the RPO of a disaster), not hidden.

A partitioned main keeps running inside its island: what the planned run had not fenced
before the cut still serves there (the split brain the operator accepts by naming the site
lost). The case then heals the partition and runs reprotect, which must fence it: from there
on, one master again."""
import os

import pytest

from conftest import LONG, PROJECT, assert_never_two_masters, checks, lock_holder, record
from test_kill_and_resume import play_names

REPEAT = 3 if LONG else 1
LABCTL = "%s %s" % (os.path.join(PROJECT, ".venv", "bin", "python"), os.path.join(PROJECT, "lab", "labctl"))
SHORT = ["Secondary has applied every committed change"]
# The masters at the main are stopped, its database not yet fenced, when the WAN is cut.
SHORT_PARTITION = ["Fence the main site - no client write access"]


def lose_main_during_planned_failover(campaign, lab, load, fault_at, kind="site-loss"):
    main, sec_db = lab.main_site, lab.one("db_hosts", lab.secondary_site)
    disaster = ["-e", "failover_mode=disaster", "-e", "failover_confirm_lost_site=%s" % main]
    # The checks ask the DB hosts over SSH from the controller: a lost or partitioned main cannot
    # be asked (the process table, which the master check reads, still covers it).
    lost_sites = (main,)
    with load:
        planned = campaign.run("failover.yml", "-e", "failover_mode=planned",
                               hook=(fault_at, "%s fault %s %s" % (LABCTL, kind, main)))
        assert planned.run_id, planned.log
        # Whatever the planned run did before the cut, it did with the main reachable.
        assert_never_two_masters(lab, lost_sites=lost_sites)
        runs = 1
        if planned.rc != 0 and lock_holder(lab) is None:
            # Refused before its first change (the gate found the main's DB host silent): the lock given
            # back, the DR state untouched, and the disaster failover named as a new run - nothing to continue.
            assert "Nothing was changed." in planned.output and "The DR lock is released." in planned.output, planned.log
            assert planned.changed_hosts() == [], "the refused run changed %s" % planned.changed_hosts()
            assert lab.dr_state().get("state") == "NORMAL", lab.dr_state()
            assert "failover.yml %s" % " ".join(disaster) in planned.output, planned.log
            continued = campaign.run("failover.yml", *disaster)
            runs += 1
            assert continued.rc == 0, "the disaster failover after the refusal did not finish: %s" % continued.log
        elif planned.rc != 0:
            assert lock_holder(lab) == planned.run_id, "the stopped planned run must keep the lock: %s" % planned.log
            assert "-e genesys_dr_run=%s" % planned.run_id in planned.output, planned.log
            continued = campaign.run("failover.yml", *disaster, "-e", "genesys_dr_run=%s" % planned.run_id)
            runs += 1
            assert continued.rc == 0, "the disaster continuation did not finish: %s" % continued.log
            assert "Run %s continues" % planned.run_id in continued.output
        if kind == "site-loss":
            assert_never_two_masters(lab, lost_sites=lost_sites)
        checks.assert_failed_over(lab, main_reachable=False, lost_sites=(main,))
        assert lock_holder(lab) is None
    # Writes acknowledged inside the island after the cut are not in the live database (reprotect
    # archives them): counted here as the disaster's RPO.
    lost = len(load.lost(sec_db))
    if kind == "partition":
        # The clients have stopped: the reprotected check compares both databases row for row.
        lab.labctl("heal", main)
        reprotect = campaign.run("reprotect.yml")
        runs += 1
        assert reprotect.rc == 0, "reprotect after the partition healed did not finish: %s" % reprotect.log
        assert_never_two_masters(lab)
        checks.assert_reprotected(lab, campaign.reports)
    return runs, lost


@pytest.mark.short
@pytest.mark.parametrize("fault_at", SHORT)
def test_main_lost_during_planned_failover_short(campaign, normal_lab, load_factory, fault_at):
    runs, lost = lose_main_during_planned_failover(campaign, normal_lab, load_factory(normal_lab), fault_at)
    record("main lost during planned failover at %s" % fault_at, runs, runs, lost)


@pytest.mark.parametrize("attempt", range(REPEAT))
@pytest.mark.parametrize("fault_at", play_names("failover.yml"))
def test_main_lost_at_every_step_of_a_planned_failover(campaign, normal_lab, load_factory, fault_at, attempt):
    runs, lost = lose_main_during_planned_failover(campaign, normal_lab, load_factory(normal_lab), fault_at)
    record("main lost during planned failover at %s" % fault_at, runs, runs, lost)


@pytest.mark.short
@pytest.mark.parametrize("fault_at", SHORT_PARTITION)
def test_main_partitioned_during_planned_failover_short(campaign, normal_lab, load_factory, fault_at):
    runs, lost = lose_main_during_planned_failover(campaign, normal_lab, load_factory(normal_lab), fault_at, kind="partition")
    record("main partitioned during planned failover at %s" % fault_at, runs, runs, lost)


@pytest.mark.parametrize("attempt", range(REPEAT))
@pytest.mark.parametrize("fault_at", play_names("failover.yml"))
def test_main_partitioned_at_every_step_of_a_planned_failover(campaign, normal_lab, load_factory, fault_at, attempt):
    runs, lost = lose_main_during_planned_failover(campaign, normal_lab, load_factory(normal_lab), fault_at, kind="partition")
    record("main partitioned during planned failover at %s" % fault_at, runs, runs, lost)
