"""The drill's verdicts and its reports: Markdown, JUnit XML and an SVG timeline.

Pure functions over what the drill recorded (genesys_lab.drill): its phases, the faults it
injected and every client's log of write attempts. No lab is needed to use them, so they are
unit-tested on hand-made inputs (tests/unit/lab/test_drillreport.py).

Verdicts:
- every phase (a playbook, a fault, a heal) must succeed;
- zero loss: in a planned drill every write a client saw acknowledged must be in the live
  Configuration Database; a disaster or a partition does not promise it (asynchronous
  replication), so there the count is reported, with the part reprotect archived;
- RTO: from the start of the failover run to the first write acknowledged through a proxy of
  a site that keeps a master (in a planned drill: the first one after a refused write);
- limited mode: per site, the longest run of refused writes, leaving out the time the site
  itself was lost or cut off (nothing there can reach a master then).
An objective with a limit (--max-rto, --max-limited) is met, missed, or not measured (a
failure too: a limit that cannot be checked is not met); without a limit it is reported.
"""
import xml.etree.ElementTree as ET

MET, MISSED, NOT_MEASURED, REPORTED = "met", "missed", "not measured", "reported"
FAILING = (MISSED, NOT_MEASURED)


def _inside(t, intervals):
    return any(start <= t and (end is None or t < end) for start, end in intervals)


def refusal_windows(entries, exclude=()):
    """(start, end) of each run of refused attempts, end being the start of the next acknowledged
    one (None when the log ends refusing). A run that begins inside an excluded interval (the
    site lost or cut off) is left out."""
    windows, start = [], None
    for e in sorted(entries, key=lambda e: e["t"]):
        if e["outcome"] != "ack":
            if start is None and not _inside(e["t"], exclude):
                start = e["t"]
        elif start is not None:
            windows.append((start, e["t"]))
            start = None
    if start is not None:
        windows.append((start, None))
    return windows


def longest_refusal(entries, exclude=(), end_of_log=None):
    """Seconds of the longest refusal run (one still open counts up to end_of_log), and whether the log ends refusing."""
    longest, open_ = 0.0, False
    for start, end in refusal_windows(entries, exclude):
        if end is None:
            open_ = True
            end = end_of_log if end_of_log is not None else start
        longest = max(longest, end - start)
    return round(longest, 2), open_


def client_rto(clients, since, sites, after_refusal=False):
    """Seconds from since to the first write acknowledged at one of sites (after a refused one when
    after_refusal: a planned failover's clients go on writing until the main's masters stop); None if none."""
    firsts = []
    for site in sites:
        entries = sorted((e for e in clients.get(site, []) if e["t"] >= since), key=lambda e: e["t"])
        if after_refusal:
            refused = next((e for e in entries if e["outcome"] != "ack"), None)
            if refused is None:
                continue
            entries = [e for e in entries if e["t"] >= refused["t_end"]]
        ack = next((e for e in entries if e["outcome"] == "ack"), None)
        if ack is not None:
            firsts.append(ack["t_end"])
    return round(min(firsts) - since, 2) if firsts else None


def _objective(name, text, limit, value, promised=True):
    if not promised or limit is None:
        verdict = REPORTED
    elif value is None:
        verdict = NOT_MEASURED
    else:
        verdict = MET if value <= limit else MISSED
    return {"name": name, "text": text, "limit": limit, "value": value, "verdict": verdict}


def evaluate(drill):
    """The objectives of a drill (a list of dicts) from its recorded measures."""
    m = drill["measures"]
    planned = drill["mode"] == "planned"
    lost = m.get("acknowledged_writes_lost")
    limited = [s.get("longest_refusal_s") for s in m.get("sites", {}).values()]
    limited_value = max(limited) if limited and None not in limited else None
    return [
        _objective("zero_loss", "acknowledged writes not in the live Configuration Database = 0"
                   + ("" if planned else " (not promised in %s mode: the disaster's RPO, reported)" % drill["mode"]),
                   0, lost, promised=planned),
        _objective("rto", "RTO <= %s s" % drill.get("max_rto_s") if drill.get("max_rto_s") is not None else "RTO",
                   drill.get("max_rto_s"), m.get("rto_s")),
        _objective("limited", ("limited mode at every site <= %s s" % drill.get("max_limited_s")
                               if drill.get("max_limited_s") is not None else "limited mode, longest at a site"),
                   drill.get("max_limited_s"), limited_value),
    ]


def exit_code(drill):
    failed_phase = any(not p["ok"] for p in drill["phases"])
    return 1 if failed_phase or any(o["verdict"] in FAILING for o in drill["objectives"]) else 0


def _fmt(value, unit=""):
    if value is None:
        return "-"
    return ("%.2f%s" % (value, unit)) if isinstance(value, float) else "%s%s" % (value, unit)


def render_markdown(drill):
    m = drill["measures"]
    lines = ["# Drill: %s, %d sites, main %s" % (drill["mode"], drill["sites"], drill["main_site"]), "",
             "Result: **%s**" % ("passed" if exit_code(drill) == 0 else "FAILED"), "", "## Phases", "",
             "| phase | result | seconds |", "| --- | --- | ---: |"]
    for p in drill["phases"]:
        result = "ok" if p["ok"] else "FAILED: %s" % p.get("detail", "")
        lines.append("| %s | %s | %.1f |" % (p["name"], result, p["ended"] - p["started"]))
    lines += ["", "## Objectives", "", "| objective | value | verdict |", "| --- | ---: | --- |"]
    for o in drill["objectives"]:
        lines.append("| %s | %s | %s |" % (o["text"], _fmt(o["value"]), o["verdict"]))
    lines += ["", "## Clients (a write through each site's proxy every %s s)" % drill.get("interval_s", "?"), "",
              "| site | attempts | acknowledged | acknowledged lost | of them archived | longest refusal s |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for site, s in sorted(m.get("sites", {}).items()):
        lines.append("| %s | %d | %d | %d | %d | %s%s |" % (
            site, s["attempts"], s["acknowledged"], s["acknowledged_lost"], s["lost_in_archive"], _fmt(s["longest_refusal_s"]),
            " (still refusing at the end)" if s.get("refusing_at_end") else ""))
    return "\n".join(lines) + "\n"


def render_junit(drill):
    """JUnit XML: one testcase per phase and one per objective."""
    cases = []
    for p in drill["phases"]:
        case = ET.Element("testcase", classname="drill.%s.phase" % drill["mode"], name=p["name"],
                          time="%.3f" % (p["ended"] - p["started"]))
        if not p["ok"]:
            ET.SubElement(case, "failure", message=p.get("detail") or "failed")
        cases.append(case)
    for o in drill["objectives"]:
        case = ET.Element("testcase", classname="drill.%s.objective" % drill["mode"], name=o["text"], time="0")
        if o["verdict"] in FAILING:
            ET.SubElement(case, "failure", message="%s: value %s, limit %s" % (o["verdict"], _fmt(o["value"]), _fmt(o["limit"])))
        else:
            ET.SubElement(case, "system-out").text = "%s: %s" % (o["verdict"], _fmt(o["value"]))
        cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    suite = ET.Element("testsuite", name="drill-%s-%dsites" % (drill["mode"], drill["sites"]), tests=str(len(cases)),
                       failures=str(failures), errors="0", skipped="0")
    suite.extend(cases)
    suites = ET.Element("testsuites", tests=str(len(cases)), failures=str(failures))
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode") + "\n"


def render_svg(drill, clients, width=960):
    """A timeline: the phases on top, the faults shaded, then one row per site with each write
    attempt as a tick (green acknowledged, red refused or unanswered)."""
    start = min(p["started"] for p in drill["phases"])
    end = max(p["ended"] for p in drill["phases"])
    span = max(end - start, 1e-6)
    left, row_h, top = 140, 26, 30
    sites = sorted(clients)
    height = top + row_h * (len(sites) + 2) + 20

    def x(t):
        return left + (width - left - 10) * (min(max(t, start), end) - start) / span

    svg = ET.Element("svg", xmlns="http://www.w3.org/2000/svg", width=str(width), height=str(height),
                     viewBox="0 0 %d %d" % (width, height), style="font-family: sans-serif; font-size: 11px")
    ET.SubElement(svg, "text", x="4", y="16").text = "Drill %s, %d sites: %.0f s" % (drill["mode"], drill["sites"], span)
    for i, p in enumerate(drill["phases"]):
        rect = ET.SubElement(svg, "rect", x="%.1f" % x(p["started"]), y=str(top), height=str(row_h - 6),
                             width="%.1f" % max(x(p["ended"]) - x(p["started"]), 1.0),
                             fill=("#9ecae1" if i % 2 else "#c6dbef") if p["ok"] else "#fb6a4a")
        ET.SubElement(rect, "title").text = "%s: %.1f s%s" % (p["name"], p["ended"] - p["started"], "" if p["ok"] else " (FAILED)")
        ET.SubElement(svg, "text", x="%.1f" % (x(p["started"]) + 2), y=str(top + row_h - 10)).text = p["name"][:18]
    ET.SubElement(svg, "text", x="4", y=str(top + row_h - 10)).text = "phases"
    for f in drill.get("faults", []):
        ET.SubElement(svg, "rect", x="%.1f" % x(f["from"]), y=str(top + row_h), height=str(row_h * len(sites)),
                      width="%.1f" % max(x(f["to"] if f["to"] is not None else end) - x(f["from"]), 1.0),
                      fill="#bdbdbd", opacity="0.4")
    for row, site in enumerate(sites, 1):
        y = top + row_h * row
        ET.SubElement(svg, "text", x="4", y=str(y + row_h - 10)).text = "client %s" % site
        for e in clients[site]:
            if start <= e["t"] <= end:
                ET.SubElement(svg, "rect", x="%.1f" % x(e["t"]), y=str(y + 2), width="1.5", height=str(row_h - 8),
                              fill="#31a354" if e["outcome"] == "ack" else "#de2d26")
    legend_y = top + row_h * (len(sites) + 1) + 12
    ET.SubElement(svg, "text", x="4", y=str(legend_y)).text = (
        "green: write acknowledged; red: refused or no reply; grey: the site lost or cut off")
    return ET.tostring(svg, encoding="unicode") + "\n"
