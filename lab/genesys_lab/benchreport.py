"""The report of `make bench`: a summary of the benchmark's cycles with the goals of
issue 8 checked, as a terminal table, Markdown, JSON and a self-contained SVG chart.

The benchmark runs the same failover several ways on the same lab, interleaved: "playbook"
(the collection's playbook), "mitogen" (the same playbook with GENESYS_DR_MITOGEN=1, its
strategy on Mitogen) and "runbook" (a bare script of the same steps). Every cycle is timed
by an independent client that tries a write every 100 ms. Every goal is checked against
each playbook-like variant present, on lines of its own, the ratio against the runbook of
the same run. This module only turns those results into a report; it touches no lab and
needs nothing but the standard library.

Re-render an existing results file (raw results, or a bench.json written here):
  python -m genesys_lab.benchreport RESULTS.json [OUT_DIR]
It prints the text table; with OUT_DIR it also writes bench.json, bench.md and bench.svg.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys
from xml.sax.saxutils import escape, quoteattr

MET, NOT_MET, NOT_MEASURED = "met", "NOT MET", "not measured"

# Goals of issue 8. A goal is checked against each playbook-like variant; the runbook is
# only the yardstick of the ratio goal.
RTO_LIMIT_S = {"disaster": 8.0, "partition": 8.0, "planned": 6.0, "failback": 6.0}
RATIO_LIMIT = 1.5
RATIO_SCENARIOS = ("disaster", "partition")
LIMITED_LIMIT_S = 5.0
LIMITED_SCENARIOS = ("planned", "failback")
ALL_OK_SCENARIOS = ("partition",)
SCALE_LIMIT = 1.2
BASE_SITES = 2

GOAL_LABELS = {"rto_median": "goal", "ratio": "%.1fx runbook" % RATIO_LIMIT,
               "scale": "%.1fx %d sites" % (SCALE_LIMIT, BASE_SITES)}

SCENARIO_ORDER = ("disaster", "planned", "failback", "partition")
# The variants that run failover.yml; "playbook" is the one every report has always checked.
PLAYBOOK_VARIANTS = ("playbook", "mitogen")
VARIANT_ORDER = ("playbook", "mitogen", "runbook")
VARIANT_COLOURS = {"playbook": "#1f5fa8", "mitogen": "#12877f", "runbook": "#d9730d"}
OTHER_COLOURS = ("#2a8a3e", "#8a2a7e", "#555555")
LABEL_CHAR_W = 5.5  # a generous width of one character of a 9 px sans-serif goal label

# Characters XML 1.0 cannot carry even escaped; an error message may hold any of them.
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _scenario_key(scenario):
    if scenario in SCENARIO_ORDER:
        return (SCENARIO_ORDER.index(scenario), "")
    return (len(SCENARIO_ORDER), scenario)


def _variant_key(variant):
    # A baseline variant ("playbook@base", bench --baseline) sorts right after its own variant.
    own, _at, tree = variant.partition("@")
    if own in VARIANT_ORDER:
        return (VARIANT_ORDER.index(own), tree)
    return (len(VARIANT_ORDER), variant)


def _group_key(scenario, sites, variant=None):
    key = (_scenario_key(scenario), sites)
    return key if variant is None else key + (_variant_key(variant),)


def _p90(values):
    """The 90th percentile, interpolated between the closest ranks (the 'inclusive' method:
    the value a run at 90 % of the sorted list would have); a single value is its own p90."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def _stats(values):
    if not values:
        return {"median": None, "min": None, "max": None, "p90": None}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "p90": _p90(values)}


def _check_cycle(index, cycle):
    for field in ("scenario", "sites", "variant", "ok"):
        if field not in cycle:
            raise ValueError("cycle %d has no %r: %r" % (index, field, cycle))


def _ok_runs(cycles, scenario, sites, variant):
    return [c for c in cycles
            if c["scenario"] == scenario and c["sites"] == sites and c["variant"] == variant and c["ok"]]


def _median_per_key(dicts):
    """{key: median of that key's values} over a list of {key: seconds} dicts; a key that
    some runs lack is the median of the runs that have it."""
    values = {}
    for entry in dicts:
        for key, seconds in (entry or {}).items():
            if seconds is not None:
                values.setdefault(key, []).append(seconds)
    return {key: statistics.median(found) for key, found in values.items()}


def _goal(scenario, sites, name, text, limit, value, detail, line_s=None):
    """One checked goal. A goal without its value is 'not measured', never 'met'."""
    if value is None:
        verdict = NOT_MEASURED
    else:
        verdict = MET if value <= limit else NOT_MET
    return {"scenario": scenario, "sites": sites, "goal": name, "text": text, "limit": limit, "value": value,
            "verdict": verdict, "detail": detail, "line_s": line_s}


def _fmt_s(seconds):
    return "-" if seconds is None else "%.2f s" % seconds


def _goals_for(scenario, sites, variant, groups, ratio, base_median, alone):
    """The goals of one (scenario, sites) checked against one playbook-like variant; alone:
    the playbook is the only one checked (the report as it was before there were others)."""
    own = groups.get((scenario, sites, variant))
    runbook = groups.get((scenario, sites, "runbook"))
    median = own["median"] if own else None
    measured_runs = own["measured"] if own else 0
    goals = []

    def add(*args, **kwargs):
        goals.append(dict(_goal(scenario, sites, *args, **kwargs), variant=variant))

    if scenario in RTO_LIMIT_S:
        limit = RTO_LIMIT_S[scenario]
        if median is not None:
            detail = "%s, median of %d ok run%s" % (_fmt_s(median), measured_runs, "" if measured_runs == 1 else "s")
        else:
            detail = "no ok %s run with an RTO" % variant
        add("rto_median", "%s RTO median <= %.1f s" % (variant, limit), limit, median, detail, line_s=limit)
    if scenario in RATIO_SCENARIOS:
        runbook_median = runbook["median"] if runbook else None
        if ratio is not None:
            detail = "%.2fx (%s %s / runbook %s)" % (ratio, variant, _fmt_s(median), _fmt_s(runbook_median))
        else:
            detail = "needs an ok run of both: %s %s, runbook %s" % (variant, _fmt_s(median), _fmt_s(runbook_median))
        add("ratio", "%s / runbook RTO median <= %.1fx" % (variant, RATIO_LIMIT), RATIO_LIMIT, ratio, detail,
            line_s=None if runbook_median is None else RATIO_LIMIT * runbook_median)
    if scenario in LIMITED_SCENARIOS:
        limited = own["limited_median_s"] if own else {}
        limited_max = max(limited.items(), key=lambda item: (item[1], item[0])) if limited else None
        if limited_max is not None:
            detail = "%s at %s" % (_fmt_s(limited_max[1]), limited_max[0])
        else:
            detail = "no limited-mode time in an ok %s run" % variant
        # The text of a report with one playbook-like variant predates the others: it stays.
        text = "limited mode, max over sites of the median <= %.1f s" % LIMITED_LIMIT_S
        add("limited", text if alone else "%s %s" % (variant, text),
            LIMITED_LIMIT_S, None if limited_max is None else limited_max[1], detail)
    if scenario in ALL_OK_SCENARIOS:
        runs = own["runs"] if own else 0
        failed = own["failed"] if own else None
        add("all_ok", "every %s run succeeds" % variant, 0, failed if runs else None,
            "%d of %d ok" % (runs - failed, runs) if runs else "no %s run" % variant)
    if base_median is not False:
        limit_s = None if base_median is None else SCALE_LIMIT * base_median
        if median is not None and base_median is not None:
            value = median / base_median
            detail = "%.2fx (%s against %s at %d sites)" % (value, _fmt_s(median), _fmt_s(base_median), BASE_SITES)
        else:
            value = None
            detail = "needs an ok %s run at %d and at %d sites: %s against %s" % (
                variant, sites, BASE_SITES, _fmt_s(median), _fmt_s(base_median))
        add("scale", "%s RTO median <= %.1fx the %d-site one" % (variant, SCALE_LIMIT, BASE_SITES),
            SCALE_LIMIT, value, detail, line_s=limit_s)
    return goals


def playbook_variants(variants):
    """The playbook-like variants among variants, in report order; "playbook" when there is
    none, so that a run of the runbook alone still shows the playbook's goals unmeasured."""
    found = sorted((v for v in set(variants) if v.partition("@")[0] in PLAYBOOK_VARIANTS), key=_variant_key)
    return found or ["playbook"]


def summarize(results):
    """The summary of a benchmark's results: per (scenario, sites, variant) the run counts
    and RTO statistics over the ok runs, per (scenario, sites) the ratio of each
    playbook-like variant to the runbook, the goals with a verdict each (per playbook-like
    variant) and the median of every step of each playbook-like variant."""
    cycles = results.get("cycles") or []
    for index, cycle in enumerate(cycles):
        _check_cycle(index, cycle)

    groups = {}
    for cycle in cycles:
        key = (cycle["scenario"], cycle["sites"], cycle["variant"])
        group = groups.setdefault(key, {"scenario": key[0], "sites": key[1], "variant": key[2],
                                        "runs": 0, "ok": 0, "failed": 0})
        group["runs"] += 1
        group["ok" if cycle["ok"] else "failed"] += 1
    for (scenario, sites, variant), group in groups.items():
        ok_runs = _ok_runs(cycles, scenario, sites, variant)
        # A run that succeeded but whose client never saw a write has no RTO to count.
        rtos = [c["rto_s"] for c in ok_runs if c.get("rto_s") is not None]
        group["measured"] = len(rtos)
        group.update(_stats(rtos))
        group["limited_median_s"] = _median_per_key(c.get("limited_s") for c in ok_runs)

    checked = playbook_variants(variant for _s, _n, variant in groups)
    pairs = sorted({(s, n) for s, n, _v in groups}, key=lambda pair: _group_key(*pair))
    comparisons, goals, steps = [], [], []
    for scenario, sites in pairs:
        runbook = groups.get((scenario, sites, "runbook"))
        runbook_median = runbook["median"] if runbook else None
        # Each playbook-like variant against the runbook of the same run; the flat keys are
        # the playbook's, as they were before there was more than one such variant.
        per_variant = {}
        for variant in checked:
            own = groups.get((scenario, sites, variant))
            median = own["median"] if own else None
            per_variant[variant] = {"median": median,
                                    "ratio": median / runbook_median if median is not None and runbook_median else None}
        playbook = per_variant.get("playbook") or {"median": None, "ratio": None}
        comparisons.append({"scenario": scenario, "sites": sites, "playbook_median": playbook["median"],
                            "runbook_median": runbook_median, "ratio": playbook["ratio"], "variants": per_variant})

        has_base = sites > BASE_SITES and any(s == scenario and n == BASE_SITES for s, n, _v in groups)
        for variant in checked:
            # False: no scale goal at all (2-site run itself, or no 2-site result to compare with).
            base_median = False
            if has_base:
                base = groups.get((scenario, BASE_SITES, variant))
                base_median = base["median"] if base else None
            goals.extend(_goals_for(scenario, sites, variant, groups, per_variant[variant]["ratio"], base_median,
                                    checked == ["playbook"]))

        for variant in checked:
            step_medians = _median_per_key(c.get("steps") for c in _ok_runs(cycles, scenario, sites, variant))
            steps.append({"scenario": scenario, "sites": sites, "variant": variant,
                          "steps": sorted(step_medians.items(), key=lambda item: (-item[1], item[0]))})

    failures = [{"scenario": c["scenario"], "sites": c["sites"], "variant": c["variant"], "cycle": c.get("cycle"),
                 "error": c.get("error")} for c in cycles if not c["ok"]]
    return {
        "machine": results.get("machine") or {},
        "started": results.get("started"),
        "finished": results.get("finished"),
        "git": results.get("git"),
        "baseline": results.get("baseline"),
        "groups": [groups[key] for key in sorted(groups, key=lambda k: _group_key(*k))],
        "playbook_variants": checked,
        "comparisons": comparisons,
        "goals": goals,
        "steps": steps,
        "failures": failures,
    }


def _num(seconds):
    return "-" if seconds is None else "%.2f" % seconds


def _ratio(ratio):
    return "-" if ratio is None else "%.2fx" % ratio


def _limited_max(group):
    limited = group.get("limited_median_s") or {}
    return max(limited.values()) if limited else None


def _table_rows(summary):
    ratios = {(c["scenario"], c["sites"], variant): entry["ratio"]
              for c in summary["comparisons"] for variant, entry in c["variants"].items()}
    rows = []
    for group in summary["groups"]:
        # A ratio is a playbook-like variant's against the runbook: shown on that variant's row.
        ratio = ratios.get((group["scenario"], group["sites"], group["variant"]))
        rows.append([group["scenario"], str(group["sites"]), group["variant"], str(group["runs"]), str(group["ok"]),
                     _num(group["median"]), _num(group["min"]), _num(group["max"]), _num(group["p90"]),
                     _num(_limited_max(group)), _ratio(ratio)])
    return rows


TABLE_HEADER = ["scenario", "sites", "variant", "runs", "ok", "median s", "min s", "max s", "p90 s", "limited s",
                "ratio"]
_LEFT_COLUMNS = 3


def _compared(summary):
    """'playbook' or e.g. 'playbook and mitogen': what the report sets against the runbook."""
    return " and ".join(summary.get("playbook_variants") or ["playbook"])


def _ratio_legend(summary):
    if list(summary.get("playbook_variants") or ["playbook"]) == ["playbook"]:
        return "ratio = playbook median / runbook median"
    return "ratio = the row's median / runbook median"


def _steps_title(variant):
    return "Where the playbook's time goes" + ("" if variant == "playbook" else " (%s)" % variant)


def _goal_line(goal):
    return "%s %d sites: %s: %s" % (goal["scenario"], goal["sites"], goal["text"], goal["detail"])


def _machine_line(summary):
    machine = summary.get("machine") or {}
    load = machine.get("load_at_start")
    parts = ["host %s" % machine.get("host", "?"), "%s cpus" % machine.get("cpus", "?")]
    if load:
        parts.append("load %s at start" % " ".join("%.2f" % value for value in load))
    parts.append("Python %s" % machine.get("python", "?"))
    parts.append("ansible-core %s" % machine.get("ansible_core", "?"))
    line = "machine: " + ", ".join(parts)
    if summary.get("git"):
        line += "; git %s" % summary["git"]
    if summary.get("baseline"):
        line += "; baseline (@base) git %s at %s" % (summary["baseline"].get("git") or "?", summary["baseline"].get("tree"))
    if summary.get("started"):
        line += "; %s to %s" % (summary["started"], summary.get("finished") or "?")
    return line


def _first_line(text, limit=200):
    text = (text or "").strip()
    text = text.splitlines()[0] if text else "no error recorded"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def render_text(summary):
    """A fixed-width table for a terminal, the goals with their numbers, where the
    playbook's time goes, the failed runs and the machine."""
    rows = _table_rows(summary)
    widths = [max(len(row[i]) for row in [TABLE_HEADER] + rows) for i in range(len(TABLE_HEADER))]

    def line(cells):
        return "  ".join(cell.ljust(widths[i]) if i < _LEFT_COLUMNS else cell.rjust(widths[i])
                         for i, cell in enumerate(cells)).rstrip()

    out = ["RTO (s, over the ok runs; %s; limited = max over sites of the median)" % _ratio_legend(summary),
           line(TABLE_HEADER), line(["-" * width for width in widths])]
    out.extend(line(row) for row in rows)
    out.append("")
    out.append("Goals")
    verdict_width = max(len(MET), len(NOT_MET), len(NOT_MEASURED))
    for goal in summary["goals"]:
        out.append("  %s  %s" % (goal["verdict"].ljust(verdict_width), _goal_line(goal)))
    if not summary["goals"]:
        out.append("  (no goal applies to these scenarios)")
    for entry in summary["steps"]:
        if entry["steps"]:
            out.append("")
            out.append("%s: %s %d sites (median per step over the ok runs)"
                       % (_steps_title(entry["variant"]), entry["scenario"], entry["sites"]))
            name_width = max(len(name) for name, _s in entry["steps"])
            out.extend("  %s  %8.2f s" % (name.ljust(name_width), seconds) for name, seconds in entry["steps"])
    if summary["failures"]:
        out.append("")
        out.append("Failed runs")
        for failure in summary["failures"]:
            out.append("  %s %d sites %s cycle %s: %s" % (
                failure["scenario"], failure["sites"], failure["variant"], failure["cycle"],
                _first_line(failure["error"])))
    out.append("")
    out.append(_machine_line(summary))
    return "\n".join(out) + "\n"


def _md_cell(text):
    text = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    # Only what would turn into HTML: "<=" and a lone "&" stay readable in the raw file.
    text = _MD_ENTITY.sub("&amp;", text)
    return _MD_TAG.sub("&lt;", text)


def _md_table(header, rows, right_from):
    out = ["| " + " | ".join(_md_cell(cell) for cell in header) + " |",
           "|" + "|".join("---" if i < right_from else "--:" for i in range(len(header))) + "|"]
    out.extend("| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows)
    return out


def render_markdown(summary):
    """The same report as Markdown tables."""
    out = ["## Benchmark: RTO %s against runbook" % _compared(summary), "",
           "RTO in seconds over the ok runs; %s; limited = max over sites of the median limited-mode time."
           % _ratio_legend(summary), ""]
    out.extend(_md_table(TABLE_HEADER, _table_rows(summary), _LEFT_COLUMNS))
    out.extend(["", "### Goals", ""])
    if summary["goals"]:
        out.extend(_md_table(["verdict", "scenario", "sites", "goal", "measured"],
                             [["**%s**" % goal["verdict"] if goal["verdict"] != MET else goal["verdict"],
                               goal["scenario"], goal["sites"], goal["text"], goal["detail"]]
                              for goal in summary["goals"]], 5))
    else:
        out.append("No goal applies to these scenarios.")
    for entry in summary["steps"]:
        if entry["steps"]:
            where = (_steps_title(entry["variant"]), _md_cell(entry["scenario"]), entry["sites"])
            out.extend(["", "### %s: %s, %d sites" % where, ""])
            out.extend(_md_table(["step", "median s"], [[name, _num(seconds)] for name, seconds in entry["steps"]],
                                 1))
    if summary["failures"]:
        out.extend(["", "### Failed runs", ""])
        out.extend(_md_table(["scenario", "sites", "variant", "cycle", "error"],
                             [[f["scenario"], f["sites"], f["variant"], f["cycle"], _first_line(f["error"])]
                              for f in summary["failures"]], 5))
    out.extend(["", _md_cell(_machine_line(summary)), ""])
    return "\n".join(out)


def _xml_text(text):
    return escape(_NOT_XML.sub("?", str(text)))


def _xml_attr(text):
    return quoteattr(_NOT_XML.sub("?", str(text)))


def _nice_step(span, target=8):
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5):
        if raw <= multiple * magnitude:
            return multiple * magnitude
    return 10 * magnitude


def _tick_label(value):
    return ("%.2f" % value).rstrip("0").rstrip(".")


def render_svg(results, summary):
    """A self-contained SVG chart: one row per (scenario, sites), a dot per run of each
    variant at its RTO, a tick at each median, the goal lines dashed. A failed run is a
    hollow dot; a run without an RTO sits, hollow, in a 'no RTO' column right of the axis."""
    cycles = results.get("cycles") or []
    pairs = [(c["scenario"], c["sites"]) for c in summary["comparisons"]]
    variants = sorted({g["variant"] for g in summary["groups"]}, key=_variant_key)
    colours = dict(VARIANT_COLOURS)
    for index, variant in enumerate(v for v in variants if v not in VARIANT_COLOURS):
        colours[variant] = OTHER_COLOURS[index % len(OTHER_COLOURS)]
    # One dashed line per place: the playbook-like variants share the RTO goal and the runbook
    # yardstick, so their lines coincide; a line that is one variant's own (scale) says whose.
    lines_by_pair = {}
    for goal in summary["goals"]:
        if goal["line_s"] is not None:
            drawn = lines_by_pair.setdefault((goal["scenario"], goal["sites"]), [])
            same = [line for line in drawn if (line["goal"], line["line_s"]) == (goal["goal"], goal["line_s"])]
            if same:
                same[0]["texts"].append(goal["text"])
                continue
            own = goal.get("variant", "playbook") != "playbook"
            drawn.append({"goal": goal["goal"], "line_s": goal["line_s"], "own": own, "texts": [goal["text"]],
                          "label": "%s %s" % (goal["variant"], GOAL_LABELS[goal["goal"]]) if own
                          else GOAL_LABELS[goal["goal"]]})

    values = [c["rto_s"] for c in cycles if c.get("rto_s") is not None]
    values.extend(line["line_s"] for lines in lines_by_pair.values() for line in lines)
    span = max(values + [1.0])
    step = _nice_step(span)
    x_max = math.ceil(span / step) * step
    has_no_rto = any(c.get("rto_s") is None for c in cycles)

    lane_h = 16
    row_h = 14 + lane_h * max(2, len(variants))
    left, right, top = 180, 90 if has_no_rto else 30, 58
    width = 960
    plot_w = width - left - right
    height = top + row_h * max(1, len(pairs)) + 46

    no_rto_x = left + plot_w + 55

    def x_of(seconds):
        return left + plot_w * seconds / x_max

    title = "RTO per run: %s against runbook" % _compared(summary)
    if summary.get("git"):
        title += " (git %s)" % summary["git"][:12]
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="12">' % (width, height, width, height),
           '<title>%s</title>' % _xml_text(title),
           '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (width, height),
           '<text x="%d" y="20" font-size="15" font-weight="bold">%s</text>' % (10, _xml_text(title))]

    legend_x = left
    for variant in variants:
        out.append('<rect x="%d" y="32" width="10" height="10" fill=%s/>' % (legend_x, _xml_attr(colours[variant])))
        out.append('<text x="%d" y="41">%s</text>' % (legend_x + 14, _xml_text(variant)))
        legend_x += 24 + 7 * len(variant) + 20
    out.append('<line x1="%d" y1="30" x2="%d" y2="44" stroke="#333333" stroke-width="2.5"/>' % (legend_x, legend_x))
    out.append('<text x="%d" y="41">median</text>' % (legend_x + 6))
    legend_x += 70
    out.append('<line x1="%d" y1="30" x2="%d" y2="44" stroke="#c0002a" stroke-dasharray="4 3"/>'
               % (legend_x, legend_x))
    out.append('<text x="%d" y="41">goal</text>' % (legend_x + 6))
    legend_x += 50
    out.append('<text x="%d" y="41" fill="#555555">hollow dot: failed run</text>' % legend_x)

    medians = {(g["scenario"], g["sites"], g["variant"]): g["median"] for g in summary["groups"]}
    for row, (scenario, sites) in enumerate(pairs):
        y0 = top + row * row_h
        if row % 2 == 0:
            out.append('<rect x="0" y="%d" width="%d" height="%d" fill="#f2f4f7"/>' % (y0, width, row_h))
        row_label = _xml_text("%s, %d sites" % (scenario, sites))
        out.append('<text x="10" y="%d">%s</text>' % (y0 + row_h // 2 + 4, row_label))
        # Labels of neighbouring lines alternate top and bottom so that they do not overlap; the
        # label of a line that is another variant's own (longer, it names the variant) takes the
        # first of four heights where it overlaps no label placed before it.
        heights = (y0 + 10, y0 + row_h - 4, y0 + 20, y0 + row_h - 14)
        placed = []
        for index, goal_line in enumerate(lines_by_pair.get((scenario, sites), [])):
            x = x_of(goal_line["line_s"])
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c0002a" stroke-dasharray="4 3">'
                       '<title>%s</title></line>' % (x, y0 + 2, x, y0 + row_h - 2,
                                                     _xml_text("; ".join(goal_line["texts"]))))
            label_span = (x + 3, x + 3 + LABEL_CHAR_W * len(goal_line["label"]))
            label_y = heights[index % 2]
            if goal_line["own"]:
                free = [h for h in (heights[index % 2], heights[1 - index % 2]) + heights[2:]
                        if not any(h == y and label_span[0] < end and start < label_span[1]
                                   for y, start, end in placed)]
                label_y = free[0] if free else label_y
            placed.append((label_y,) + label_span)
            out.append('<text x="%.1f" y="%d" font-size="9" fill="#c0002a">%s</text>'
                       % (x + 3, label_y, _xml_text(goal_line["label"])))
        for lane, variant in enumerate(variants):
            lane_y = y0 + 7 + lane_h * lane + lane_h // 2
            colour = _xml_attr(colours[variant])
            runs = [c for c in cycles if (c["scenario"], c["sites"], c["variant"]) == (scenario, sites, variant)]
            for index, cycle in enumerate(runs):
                # Spread dots of equal RTO a little apart so that each run stays visible.
                y = lane_y + ((index % 3) - 1) * 3
                rto = cycle.get("rto_s")
                x = x_of(rto) if rto is not None else no_rto_x
                label = "%s cycle %s: %s%s" % (variant, cycle.get("cycle", index + 1), _fmt_s(rto),
                                               "" if cycle["ok"] else ", failed: " + _first_line(cycle.get("error")))
                fill = colour if cycle["ok"] and rto is not None else '"none"'
                out.append('<circle class="run" cx="%.1f" cy="%d" r="4" fill=%s fill-opacity="0.75" stroke=%s>'
                           '<title>%s</title></circle>' % (x, y, fill, colour, _xml_text(label)))
            median = medians.get((scenario, sites, variant))
            if median is not None:
                x = x_of(median)
                out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke=%s stroke-width="2.5">'
                           '<title>%s</title></line>' % (x, lane_y - 8, x, lane_y + 8, colour,
                                                         _xml_text("%s median %s" % (variant, _fmt_s(median)))))

    axis_y = top + row_h * max(1, len(pairs))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333333"/>' % (left, axis_y, left + plot_w, axis_y))
    ticks = int(round(x_max / step))
    for tick in range(ticks + 1):
        value = tick * step
        x = x_of(value)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333333"/>' % (x, axis_y, x, axis_y + 5))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, axis_y + 18, _tick_label(value)))
    out.append('<text x="%d" y="%d" text-anchor="middle">RTO (s)</text>' % (left + plot_w // 2, axis_y + 36))
    if has_no_rto:
        out.append('<text x="%d" y="%d" text-anchor="middle">no RTO</text>' % (no_rto_x, axis_y + 18))
    out.append('</svg>')
    return "\n".join(out) + "\n"


def write_all(results, out_dir):
    """Write bench.json (results and summary), bench.md and bench.svg into out_dir; their paths."""
    os.makedirs(out_dir, exist_ok=True)
    summary = summarize(results)
    paths = {"json": os.path.join(out_dir, "bench.json"), "markdown": os.path.join(out_dir, "bench.md"),
             "svg": os.path.join(out_dir, "bench.svg")}
    contents = {"json": json.dumps({"results": results, "summary": summary}, indent=2, sort_keys=True) + "\n",
                "markdown": render_markdown(summary), "svg": render_svg(results, summary)}
    for kind, path in paths.items():
        with open(path, "w", encoding="utf-8") as out:
            out.write(contents[kind])
    return paths


def load_results(path):
    """The results in a file: raw results, or the 'results' of a bench.json written here."""
    with open(path, encoding="utf-8") as source:
        data = json.load(source)
    if not isinstance(data, dict):
        raise ValueError("%s: not a JSON object" % path)
    if "cycles" not in data and isinstance(data.get("results"), dict):
        data = data["results"]
    if not isinstance(data.get("cycles"), list):
        raise ValueError("%s: no list of cycles" % path)
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(prog="benchreport", description="Re-render a benchmark results file.")
    parser.add_argument("results", help="results JSON (or a bench.json written by this module)")
    parser.add_argument("out_dir", nargs="?", help="write bench.json, bench.md and bench.svg here")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.results)
        summary = summarize(results)
    except (OSError, ValueError) as exc:
        print("benchreport: %s" % exc, file=sys.stderr)
        return 2
    sys.stdout.write(render_text(summary))
    if args.out_dir:
        for path in write_all(results, args.out_dir).values():
            print("wrote %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
