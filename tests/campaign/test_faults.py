"""Faults of the system and of the operator during real runs, checked from outside."""
import os
import re
import signal
import time

import pytest

from conftest import (STATE, assert_never_two_masters, checks, lab_reset, lock_holder, record,
                      running_master_sites)
from lab import Lab

NAMED_PID = os.path.join(STATE, "hosts", "dns-primary", "named", "named.pid")
PG_BIN = "/usr/lib/postgresql/15/bin"
NOTHING = "Nothing was changed"


def refused_and_unchanged(campaign, lab, reason, *extra, playbook="failover.yml"):
    run = campaign.run(playbook, *extra)
    assert run.rc != 0, "%s was not refused: %s" % (reason, run.log)
    assert NOTHING in run.output, "%s: the refusal does not say '%s': %s" % (reason, NOTHING, run.log)
    assert run.changed_hosts() == [], "%s: the refused run changed %s" % (reason, run.changed_hosts())
    assert lock_holder(lab) is None, "%s: the refused run left the DR lock held" % reason
    return run


@pytest.mark.short
def test_bad_credentials_and_requests_change_nothing(campaign, normal_lab, tmp_path):
    """A wrong DB password, a wrong TSIG key, an unreachable main in a planned run, a bad mode,
    a wrong or missing confirmation: each is refused before the first change, and the hosts
    read back NORMAL - masters running at the main, writes accepted through every proxy."""
    lab = normal_lab
    cases = [("wrong DB admin password", ["-e", "genesys_db_admin_password=not-the-Passw0rd"])]
    with open(os.path.join(STATE, "secrets", "tsig.key")) as handle:
        key = handle.read()
    wrong_key = tmp_path / "wrong-tsig.key"
    wrong_key.write_text(re.sub(r'secret "[^"]+"', 'secret "%s"' % ("A" * 43 + "="), key))
    wrong_key.chmod(0o600)
    cases.append(("wrong TSIG key", ["-e", "genesys_tsig_key_file=%s" % wrong_key]))
    cases.append(("bad failover_mode", ["-e", "failover_mode=plannned"]))
    cases.append(("disaster without confirmation", ["-e", "failover_mode=disaster"]))
    cases.append(("disaster confirming the wrong site", ["-e", "failover_mode=disaster",
                                                         "-e", "failover_confirm_lost_site=%s" % lab.secondary_site]))
    for reason, extra in cases:
        refused_and_unchanged(campaign, lab, reason, *extra)
        record("refused: %s" % reason, 1, 1)
    lab.labctl("fault", "partition", lab.main_site)
    try:
        refused_and_unchanged(campaign, lab, "planned failover with the main unreachable", "-e", "failover_mode=planned")
    finally:
        lab.labctl("heal", lab.main_site)
    record("refused: planned failover with the main unreachable", 1, 1)
    checks.assert_normal(lab)


@pytest.mark.short
def test_a_failed_step_stops_every_later_step(campaign, fresh_lab):
    """normal.yml on a fresh install whose secondary Configuration Database is not empty: the
    replication step fails on that DB host. Nothing after it may run - no DNS switch, no DR
    state, no master started - and the run names the command that continues it."""
    lab = fresh_lab
    sec_db = lab.one("db_hosts", lab.secondary_site)
    lab.psql(sec_db, "cfgdb", "INSERT INTO cfg_person (name, data) VALUES ('stray_row_at_the_replica', '{}')")
    servers = lab.groups["dns_primary"] + lab.groups["dns_secondaries"]
    answers = {server: lab.dig(server, lab.master_name) for server in servers}
    run = campaign.run("normal.yml")
    assert run.rc != 0, "normal.yml converged over a non-empty replica: %s" % run.log
    assert "Replication" in re.search(r'STOPPED at step "([^"]+)"', run.output).group(1), run.log
    assert lab.dr_state() == {}, "the DR state was recorded by a failed run: %s" % lab.dr_state()
    assert {server: lab.dig(server, lab.master_name) for server in servers} == answers, "DNS changed by a failed run"
    assert running_master_sites(lab) == [], "master applications were started after a failed step"
    assert lock_holder(lab) == run.run_id, "the failed run must keep the lock for its continuation"
    assert "Continue with: ansible-playbook" in run.output and "-e genesys_dr_run=%s" % run.run_id in run.output
    record("failed step stops the run (normal, non-empty replica)", 1, 1)


@pytest.mark.short
def test_dns_primary_stops_answering_before_the_switch(campaign, normal_lab, load_factory):
    """The DNS primary freezes (SIGSTOP) when the switch starts: the run fails in bounded time,
    never two writable masters; once it answers again, the rerun with the run id finishes."""
    lab = normal_lab
    with open(NAMED_PID) as handle:
        named = int(handle.read().split()[0])
    with load_factory(lab) as load:
        try:
            started = time.monotonic()
            run = campaign.run("failover.yml", "-e", "failover_mode=planned",
                               hook=("Switch the master name", "kill -STOP %d" % named), timeout=600)
            took = time.monotonic() - started
            assert run.rc != 0, run.log
            assert_never_two_masters(lab)
        finally:
            os.kill(named, 18)  # SIGCONT
        assert 'STOPPED at step "Switch the master name' in run.output, run.log
        assert "-e genesys_dr_run=%s" % run.run_id in run.output
        assert lock_holder(lab) == run.run_id
        resumed = campaign.run("failover.yml", "-e", "failover_mode=planned", "-e", "genesys_dr_run=%s" % run.run_id)
        assert resumed.rc == 0, resumed.log
        checks.assert_failed_over(lab)
    lost = load.lost(lab.one("db_hosts", lab.secondary_site))
    assert lost == [], lost[:10]
    record("DNS primary frozen before the switch, then rerun (failed after %.0f s)" % took, 2, 2, len(lost))


@pytest.mark.short
def test_lag_above_the_gate_is_refused_unless_forced(campaign, normal_lab, load_factory):
    """The secondary's apply worker is frozen while the main writes ~300 kB: a planned failover
    is refused by the lag gate with nothing changed and the lock released; forced, it waits
    until everything is applied, and the RPO it reports is what the clients lost: nothing."""
    lab = normal_lab
    main_db, sec_db = lab.one("db_hosts", lab.main_site), lab.one("db_hosts", lab.secondary_site)
    worker = int(lab.psql(sec_db, "cfgdb", "SELECT pid FROM pg_stat_subscription WHERE subname = '%s%s' AND relid IS NULL"
                          % (checks.CFG_SUB, lab.main_site)))
    gate = ["-e", "failover_mode=planned", "-e", "replication_max_lag_bytes=65536"]
    with load_factory(lab) as load:
        os.kill(worker, signal.SIGSTOP)
        try:
            lab.psql(main_db, "cfgdb", "INSERT INTO cfg_person (name, data) SELECT 'lagging_' || g, "
                     "jsonb_build_object('pad', repeat(md5(g::text), 64)) FROM generate_series(1, 128) g")
            refused = refused_and_unchanged(campaign, lab, "lag above the gate", *gate)
            assert re.search(r"is \d+ bytes behind %s, more than replication_max_lag_bytes 65536" % lab.main_site, refused.output), refused.log
            assert "-e failover_force_lag=true" in refused.output and "The DR lock is released." in refused.output
            # Still NORMAL, read from outside (replication itself is frozen, so not assert_normal).
            assert lab.dr_state().get("state") == "NORMAL" and lab.dr_state().get("live_site") == lab.main_site
            assert running_master_sites(lab) == [lab.main_site]
            assert checks.can_write(lab, main_db) and not checks.can_write(lab, sec_db)
            run = campaign.run("failover.yml", *gate, "-e", "failover_force_lag=true",
                               hook=("Fence the main site - master applications", "kill -CONT %d" % worker))
        finally:
            try:
                os.kill(worker, signal.SIGCONT)
            except ProcessLookupError:
                pass  # the forced run stopped the subscription: its worker is gone
        assert run.rc == 0, run.log
        assert "accepted on request" in run.output
        checks.assert_failed_over(lab)
    lost = load.lost(sec_db)
    rpo = checks.latest_report(campaign.reports, "failover")["published"]["genesys_dr_rpo"]
    assert rpo["wal_bytes_not_applied"] == 0 and lost == [], (rpo, lost[:10])
    assert lab.psql(sec_db, "cfgdb", "SELECT count(*) FROM cfg_person WHERE name LIKE 'lagging\\_%'") == "128"
    record("lag above the gate: refused, then forced (RPO reported = lost)", 2, 2, len(lost))


def named_pid(lab, host):
    with open(os.path.join(STATE, "hosts", lab.hostvars[host].get("lab_host_name", host), "named", "named.pid")) as handle:
        return int(handle.read().split()[0])


@pytest.mark.short
def test_dns_secondary_stops_answering_during_the_switch(campaign, normal_lab, load_factory):
    """The main site's DNS secondary freezes (SIGSTOP) when the switch starts. The switch is done
    at the primary, so the failover goes on and finishes (that site's hosts fall back to the
    primary in their resolver list), naming the server it could not verify - it used to wait
    60 s for it and stop before any master was started, for every site."""
    lab = normal_lab
    frozen = lab.one("dns_secondaries", lab.main_site)
    named = named_pid(lab, frozen)
    with load_factory(lab) as load:
        try:
            run = campaign.run("failover.yml", "-e", "failover_mode=planned",
                               hook=("Switch the master name", "kill -STOP %d" % named), timeout=600)
            assert run.rc == 0, run.log
            assert "DNS server %s did not answer" % frozen in run.output, run.log
            report = checks.latest_report(campaign.reports, "failover")
            assert report["published"]["genesys_dr_dns_not_verified"] == [frozen]
            assert_never_two_masters(lab)
            assert running_master_sites(lab) == [lab.secondary_site]
        finally:
            os.kill(named, 18)  # SIGCONT
        # Back, it serves the new answer by itself (NOTIFY / refresh), checked with dig.
        checks.assert_failed_over(lab)
    lost = load.lost(lab.one("db_hosts", lab.secondary_site))
    assert lost == [], lost[:10]
    record("DNS secondary frozen during the switch: failover finishes, reports it", 1, 1, len(lost))


@pytest.mark.short
def test_concurrent_failovers_exactly_one_proceeds(campaign, normal_lab):
    """Three planned failovers started at the same instant: one takes the lock and finishes;
    the others name it as the holder and change nothing."""
    lab = normal_lab
    procs = [campaign.start("failover.yml", "-e", "failover_mode=planned") for _run in range(3)]
    runs = [campaign.finish(proc, log) for proc, log in procs]
    winners = [r for r in runs if r.rc == 0]
    assert len(winners) == 1, "expected exactly one run to proceed: %s" % runs
    winner = winners[0]
    assert len({r.run_id for r in runs if r.run_id} | {winner.run_id}) == len([r for r in runs if r.run_id]), \
        "two runs got the same run id"
    for loser in runs:
        if loser is winner:
            continue
        assert "Another DR operation holds the lock: run %s" % winner.run_id in loser.output, loser.log
        assert loser.changed_hosts() == [], "a refused run changed %s" % loser.changed_hosts()
    assert lab.dr_state()["run"] == winner.run_id
    checks.assert_failed_over(lab)
    record("3 failovers started at once (exactly one proceeds)", 3, 3)


def test_moved_record_is_refused_by_compare_and_swap(campaign, normal_lab):
    """Someone moved the master name by hand: the switch refuses, the moved record stays."""
    lab = normal_lab
    elsewhere = "198.18.0.99"
    key = os.path.join(STATE, "secrets", "tsig.key")
    update = "server %s\nupdate delete %s. A\nupdate add %s. 30 A %s\nsend\n" % (
        lab.address("dns-primary"), lab.master_name, lab.master_name, elsewhere)
    lab.local.run("printf %s | nsupdate -k %s" % ("'" + update.replace("'", "") + "'", key))
    assert lab.dig("dns-primary", lab.master_name) == [elsewhere]
    run = campaign.run("failover.yml", "-e", "failover_mode=planned")
    assert run.rc != 0 and "compare-and-swap" in run.output, run.log
    assert lab.dig("dns-primary", lab.master_name) == [elsewhere]
    assert lab.dr_state()["state"] == "NORMAL"
    assert_never_two_masters(lab)
    record("record moved by someone else (CAS refusal)", 1, 1)


def host_down(lab, host):
    """Power a lab host off: every process in its namespace killed, its links down."""
    netns = lab.netns(host)
    lab.local.run("ip netns pids %s | xargs -r kill -9" % netns)
    for line in lab.local.check_output("ip -n %s -o link show" % netns).splitlines():
        dev = line.split(":")[1].strip().split("@")[0]
        if dev != "lo":
            lab.local.check_output("ip -n %s link set dev %s down" % (netns, dev))


def test_proxy_host_down_failover_completes_and_reports_it(campaign):
    """The proxy host of a proxy-only site is down: the planned failover completes, names that
    host as not reconnected, and every other proxy is on the new master."""
    lab_reset(n_sites=3)
    lab = Lab()
    assert campaign.run("normal.yml").rc == 0
    third = [s for s in lab.proxy_sites() if s not in (lab.main_site, lab.secondary_site)][0]
    down = lab.in_site("proxy_hosts", third)
    for host in down:
        host_down(lab, host)
    run = campaign.run("failover.yml", "-e", "failover_mode=planned")
    assert run.rc == 0, run.log
    assert "WARNING: proxy host(s) %s cannot be reached" % ", ".join(down) in run.output
    assert "NOT RECONNECTED (unreachable): %s" % ", ".join(down) in run.output, run.log
    report = checks.latest_report(campaign.reports, "failover")
    assert report["published"]["genesys_dr_proxies_not_reconnected"] == down
    surviving = [s for s in lab.proxy_sites() if s != third]
    checks.assert_proxies_on(lab, lab.one("management_hosts", lab.secondary_site), surviving)
    checks.write_through_proxies(lab, surviving, lab.one("db_hosts", lab.secondary_site), "proxydown")
    assert lab.dr_state()["state"] == "FAILED_OVER" and lock_holder(lab) is None
    record("proxy host down: failover completes, reports it", 1, 1)


def test_secondary_db_down_is_refused_before_any_change(campaign, normal_lab):
    lab = normal_lab
    sec_db = lab.one("db_hosts", lab.secondary_site)
    pg = os.path.join(STATE, "hosts", lab.hostvars[sec_db].get("lab_host_name", sec_db), "pg")
    lab.local.check_output("ip netns exec %s runuser -u postgres -- %s/pg_ctl -D %s/data -m fast -w stop"
                           % (lab.netns(sec_db), PG_BIN, pg))
    try:
        refused_and_unchanged(campaign, lab, "secondary DB down", "-e", "failover_mode=planned")
    finally:
        lab.local.check_output("ip netns exec %s runuser -u postgres -- %s/pg_ctl -D %s/data -l %s/postgresql.log -w start"
                               % (lab.netns(sec_db), PG_BIN, pg, pg))
    checks.assert_normal(lab)
    record("secondary DB down: refused, nothing changed", 1, 1)
