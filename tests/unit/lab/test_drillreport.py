"""The drill's verdicts and reports (genesys_lab.drillreport) on hand-made drills: refusal
windows, the client-side RTO, the objectives on both sides of their limits, and the JUnit XML
and SVG as parsers read them. No lab involved."""

import xml.etree.ElementTree as ET

from genesys_lab import drillreport

SVG = "{http://www.w3.org/2000/svg}"


def attempt(t, outcome="ack", took=0.05):
    return {"t": t, "t_end": t + took, "name": "w%.2f" % t, "outcome": outcome}


def log(*spec):
    """spec: (start, end, outcome) runs of attempts every 0.1 s."""
    entries = []
    for start, end, outcome in spec:
        t = start
        while t < end - 1e-9:
            entries.append(attempt(round(t, 2), outcome))
            t += 0.1
    return entries


def phases(*spec, ok=True):
    return [{"name": name, "started": a, "ended": b, "ok": ok, "detail": ""} for name, a, b in spec]


def drill(mode="disaster", measures=None, max_rto=None, max_limited=None, phase_list=None, faults=None):
    d = {"mode": mode, "sites": 2, "main_site": "east", "live_site": "east", "interval_s": 0.1,
         "max_rto_s": max_rto, "max_limited_s": max_limited,
         "phases": phase_list or phases(("normal.yml", 0, 10), ("failover.yml (disaster)", 10, 30)),
         "faults": faults or [],
         "measures": measures or {"sites": {"east": {"attempts": 10, "acknowledged": 8, "acknowledged_lost": 0,
                                                     "lost_in_archive": 0, "longest_refusal_s": 2.0, "refusing_at_end": False},
                                            "west": {"attempts": 10, "acknowledged": 9, "acknowledged_lost": 0,
                                                     "lost_in_archive": 0, "longest_refusal_s": 4.0, "refusing_at_end": False}},
                                  "acknowledged_writes_lost": 0, "rto_s": 6.5}}
    d["objectives"] = drillreport.evaluate(d)
    return d


def objective(d, name):
    return [o for o in d["objectives"] if o["name"] == name][0]


def test_refusal_windows_leave_out_runs_that_begin_while_the_site_is_lost():
    entries = log((0, 1, "ack"), (1, 3, "refused"), (3, 4, "ack"), (4, 9, "no_reply"), (9, 10, "ack"))
    assert drillreport.longest_refusal(entries) == (5.0, False)
    # The site itself was cut off from 4 to 9: that run is not limited mode, the 2 s one is.
    assert drillreport.longest_refusal(entries, exclude=[(4.0, 9.0)]) == (2.0, False)
    # A log that ends refusing counts up to the end of the drill and says so.
    assert drillreport.longest_refusal(log((0, 1, "ack"), (1, 2, "refused")), end_of_log=5.0) == (4.0, True)


def test_client_rto_is_the_first_acknowledged_write_after_the_start_or_after_a_refusal():
    clients = {"east": log((0, 5, "ack"), (5, 12, "refused"), (12, 20, "ack")),
               "west": log((0, 4, "ack"), (4, 9, "refused"), (9, 20, "ack"))}
    # Disaster: the lost main's client does not count; the first write acknowledged at west after 4.
    assert drillreport.client_rto(clients, 4.0, ["west"]) == 5.05
    # Planned: writes are acknowledged until the masters stop; the RTO ends at the first after a refusal.
    assert drillreport.client_rto(clients, 2.0, ["east", "west"], after_refusal=True) == 7.05
    assert drillreport.client_rto(clients, 2.0, ["east", "west"]) == 0.05
    assert drillreport.client_rto({"west": log((0, 9, "refused"))}, 0.0, ["west"]) is None


def test_zero_loss_is_an_objective_of_a_planned_drill_only():
    lost = {"sites": {}, "acknowledged_writes_lost": 3, "rto_s": 2.0}
    assert objective(drill("planned", lost), "zero_loss")["verdict"] == drillreport.MISSED
    assert drillreport.exit_code(drill("planned", lost)) == 1
    assert objective(drill("planned", dict(lost, acknowledged_writes_lost=0)), "zero_loss")["verdict"] == drillreport.MET
    # A disaster's RPO is reported, not judged.
    assert objective(drill("disaster", lost), "zero_loss")["verdict"] == drillreport.REPORTED
    assert drillreport.exit_code(drill("disaster", lost)) == 0


def test_limits_are_met_missed_or_not_measured():
    assert objective(drill(max_rto=6.5), "rto")["verdict"] == drillreport.MET
    assert objective(drill(max_rto=6.4), "rto")["verdict"] == drillreport.MISSED
    assert drillreport.exit_code(drill(max_rto=6.4)) == 1
    no_rto = {"sites": {}, "acknowledged_writes_lost": 0, "rto_s": None}
    assert objective(drill(measures=no_rto, max_rto=8), "rto")["verdict"] == drillreport.NOT_MEASURED
    assert drillreport.exit_code(drill(measures=no_rto, max_rto=8)) == 1
    # Without a limit: reported, never a failure.
    assert objective(drill(measures=no_rto), "rto")["verdict"] == drillreport.REPORTED
    assert objective(drill(max_limited=4.0), "limited")["value"] == 4.0
    assert objective(drill(max_limited=4.0), "limited")["verdict"] == drillreport.MET
    assert objective(drill(max_limited=3.9), "limited")["verdict"] == drillreport.MISSED


def test_a_failed_phase_fails_the_drill_and_its_junit_testcase():
    d = drill(phase_list=phases(("normal.yml", 0, 10)) + [
        {"name": "failover.yml (disaster)", "started": 10, "ended": 12, "ok": False, "detail": "rc=2; see failover.log"}])
    assert drillreport.exit_code(d) == 1
    root = ET.fromstring(drillreport.render_junit(d))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases[:2]] == ["normal.yml", "failover.yml (disaster)"]
    assert cases[0].find("failure") is None and cases[1].find("failure").get("message") == "rc=2; see failover.log"
    assert float(cases[1].get("time")) == 2.0
    assert suite.get("tests") == str(len(cases)) == "5" and suite.get("failures") == "1"
    assert "FAILED: rc=2; see failover.log" in drillreport.render_markdown(d)


def test_junit_objectives_fail_only_when_missed_or_not_measured():
    root = ET.fromstring(drillreport.render_junit(drill(max_rto=6.0, max_limited=5.0)))
    cases = dict((c.get("name"), c) for c in root.iter("testcase"))
    assert cases["RTO <= 6.0 s"].find("failure").get("message") == "missed: value 6.50, limit 6.00"
    assert cases["limited mode at every site <= 5.0 s"].find("failure") is None
    assert root.get("failures") == "1"


def test_svg_timeline_has_the_phases_a_row_per_site_and_a_tick_per_attempt():
    clients = {"east": log((0, 2, "ack"), (2, 3, "refused")), "west": log((0, 3, "ack"))}
    d = drill(phase_list=phases(("normal.yml", 0, 1), ("failover.yml (disaster)", 1, 3)),
              faults=[{"site": "east", "kind": "site-loss", "from": 2.0, "to": None}])
    root = ET.fromstring(drillreport.render_svg(d, clients))
    assert root.tag == SVG + "svg"
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "client east" in texts and "client west" in texts and "normal.yml" in texts
    fills = [r.get("fill") for r in root.iter(SVG + "rect")]
    assert fills.count("#de2d26") == 10 and fills.count("#31a354") == 50
    assert fills.count("#bdbdbd") == 1
