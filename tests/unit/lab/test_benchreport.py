"""The report of `make bench` (genesys_lab.benchreport): statistics, goal verdicts and the
rendered text, Markdown and SVG, on hand-made results. No lab involved."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from simtest import LAB_DIR
from genesys_lab import benchreport

SVG = "{http://www.w3.org/2000/svg}"
MACHINE = {"host": "bench-host", "cpus": 2, "load_at_start": [0.42, 0.31, 0.2], "python": "3.11.2",
           "ansible_core": "2.19.14"}


def cycle(scenario, variant, rto, ok=True, sites=2, number=1, limited=None, steps=None, error=None):
    return {"scenario": scenario, "sites": sites, "variant": variant, "cycle": number, "ok": ok,
            "error": error if not ok else None, "rto_s": rto, "limited_s": limited or {}, "steps": steps or {},
            "wall_s": 30.0}


def results(*cycles):
    return {"machine": MACHINE, "started": "2025-03-01T10:00:00Z", "finished": "2025-03-01T11:00:00Z",
            "git": "0123456789abcdef0123456789abcdef01234567", "cycles": list(cycles)}


def group(summary, scenario, sites, variant):
    found = [g for g in summary["groups"] if (g["scenario"], g["sites"], g["variant"]) == (scenario, sites, variant)]
    assert len(found) == 1, summary["groups"]
    return found[0]


def goal(summary, scenario, sites, name, variant="playbook"):
    found = [g for g in summary["goals"]
             if (g["scenario"], g["sites"], g["goal"], g["variant"]) == (scenario, sites, name, variant)]
    assert len(found) == 1, summary["goals"]
    return found[0]


# Disaster at 2 sites: playbook RTOs 7, 9, 8, 10 (ok) plus a failed run that still has an
# RTO and an ok run without one; runbook 5, 6, 4.
# By hand: playbook median (8 + 9) / 2 = 8.5, min 7, max 10, p90 at rank 0.9 * 3 = 2.7 of
# [7, 8, 9, 10] = 9 + 0.7 = 9.7; runbook median 5; ratio 8.5 / 5 = 1.7.
DISASTER = [
    cycle("disaster", "playbook", 7.0, number=1, steps={"preflight": 1.0, "wait for catch-up": 4.0}),
    cycle("disaster", "runbook", 5.0, number=1, steps={"dns": 9.0}),
    cycle("disaster", "playbook", 9.0, number=2, steps={"preflight": 3.0, "wait for catch-up": 2.0, "switch": 0.5}),
    cycle("disaster", "runbook", 6.0, number=2),
    cycle("disaster", "playbook", 1.0, ok=False, number=3, error="fencing failed\nTraceback...",
          steps={"preflight": 50.0}),
    cycle("disaster", "runbook", 4.0, number=3),
    cycle("disaster", "playbook", 8.0, number=4, steps={"preflight": 2.0, "wait for catch-up": 6.0}),
    cycle("disaster", "playbook", 10.0, number=5),
    cycle("disaster", "playbook", None, number=6),
]


def test_rto_statistics_and_ratio_match_hand_computed_values():
    summary = benchreport.summarize(results(*DISASTER))
    playbook = group(summary, "disaster", 2, "playbook")
    assert (playbook["median"], playbook["min"], playbook["max"]) == (8.5, 7.0, 10.0)
    assert playbook["p90"] == pytest.approx(9.7)
    runbook = group(summary, "disaster", 2, "runbook")
    assert (runbook["runs"], runbook["ok"], runbook["failed"]) == (3, 3, 0)
    assert (runbook["median"], runbook["min"], runbook["max"]) == (5.0, 4.0, 6.0)
    assert runbook["p90"] == pytest.approx(5.8)
    [comparison] = summary["comparisons"]
    assert comparison["ratio"] == pytest.approx(1.7)
    assert (comparison["playbook_median"], comparison["runbook_median"]) == (8.5, 5.0)


def test_failed_runs_are_counted_but_left_out_of_the_statistics():
    summary = benchreport.summarize(results(*DISASTER))
    playbook = group(summary, "disaster", 2, "playbook")
    # The failed run's 1.0 s would be the minimum and pull the median down to 8.0.
    assert (playbook["runs"], playbook["ok"], playbook["failed"]) == (6, 5, 1)
    assert playbook["min"] == 7.0 and playbook["median"] == 8.5
    # The ok run without an RTO counts as ok, not as a measurement.
    assert playbook["measured"] == 4
    assert summary["failures"] == [{"scenario": "disaster", "sites": 2, "variant": "playbook", "cycle": 3,
                                    "error": "fencing failed\nTraceback..."}]


def test_step_medians_come_from_ok_playbook_runs_sorted_by_time():
    summary = benchreport.summarize(results(*DISASTER))
    [entry] = summary["steps"]
    # wait for catch-up: median(4, 2, 6) = 4; preflight: median(1, 3, 2) = 2 (the failed run's 50 s left
    # out); switch: only one run has it; the runbook's dns step is not the playbook's.
    assert [list(step) for step in entry["steps"]] == [["wait for catch-up", 4.0], ["preflight", 2.0], ["switch", 0.5]]


def test_goals_without_their_inputs_are_not_measured():
    summary = benchreport.summarize(results(
        # disaster: a playbook but no runbook -> ratio not measured.
        cycle("disaster", "playbook", 6.0),
        # partition: only a runbook -> every playbook goal not measured.
        cycle("partition", "runbook", 3.0),
        # planned: ok, but no limited-mode time recorded.
        cycle("planned", "playbook", 4.0),
        # failback: the only playbook run failed.
        cycle("failback", "playbook", 2.0, ok=False, error="boom", limited={"site1": 1.0}),
        # failback at 8 sites against a 2-site failback whose playbook runs all failed.
        cycle("failback", "playbook", 4.0, sites=8),
        cycle("failback", "runbook", 4.0, sites=2),
    ))
    assert goal(summary, "disaster", 2, "rto_median")["verdict"] == benchreport.MET
    not_measured = [("disaster", 2, "ratio"), ("partition", 2, "rto_median"), ("partition", 2, "ratio"),
                    ("partition", 2, "all_ok"), ("planned", 2, "limited"), ("failback", 2, "rto_median"),
                    ("failback", 2, "limited"), ("failback", 8, "scale")]
    for scenario, sites, name in not_measured:
        found = goal(summary, scenario, sites, name)
        assert found["verdict"] == benchreport.NOT_MEASURED, found
        assert found["value"] is None
    assert goal(summary, "planned", 2, "rto_median")["verdict"] == benchreport.MET


def test_no_scale_goal_without_a_two_site_result():
    summary = benchreport.summarize(results(cycle("disaster", "playbook", 6.0, sites=8)))
    assert [g["goal"] for g in summary["goals"]] == ["rto_median", "ratio"]


@pytest.mark.parametrize("cycles, scenario, sites, name, verdict", [
    ([cycle("disaster", "playbook", 8.0)], "disaster", 2, "rto_median", benchreport.MET),
    ([cycle("disaster", "playbook", 8.01)], "disaster", 2, "rto_median", benchreport.NOT_MET),
    ([cycle("disaster", "playbook", 7.5), cycle("disaster", "runbook", 5.0)], "disaster", 2, "ratio",
     benchreport.MET),
    ([cycle("disaster", "playbook", 7.6), cycle("disaster", "runbook", 5.0)], "disaster", 2, "ratio",
     benchreport.NOT_MET),
    ([cycle("planned", "playbook", 6.0)], "planned", 2, "rto_median", benchreport.MET),
    ([cycle("planned", "playbook", 6.01)], "planned", 2, "rto_median", benchreport.NOT_MET),
    ([cycle("failback", "playbook", 6.0)], "failback", 2, "rto_median", benchreport.MET),
    ([cycle("failback", "playbook", 6.01)], "failback", 2, "rto_median", benchreport.NOT_MET),
    # Limited mode: the median per site, then the worst site. site2: median(5.0, 9.0, 1.0) = 5.0.
    ([cycle("planned", "playbook", 3.0, limited={"site1": 2.0, "site2": 5.0}),
      cycle("planned", "playbook", 3.0, limited={"site1": 2.0, "site2": 9.0}),
      cycle("planned", "playbook", 3.0, limited={"site2": 1.0})], "planned", 2, "limited", benchreport.MET),
    ([cycle("failback", "playbook", 3.0, limited={"site1": 5.01, "site2": 0.5})], "failback", 2, "limited",
     benchreport.NOT_MET),
    ([cycle("partition", "playbook", 7.0, number=n) for n in (1, 2, 3)], "partition", 2, "all_ok",
     benchreport.MET),
    ([cycle("partition", "playbook", 7.0), cycle("partition", "playbook", None, ok=False, error="x", number=2)],
     "partition", 2, "all_ok", benchreport.NOT_MET),
    ([cycle("partition", "playbook", 8.0)], "partition", 2, "rto_median", benchreport.MET),
    ([cycle("partition", "playbook", 8.5)], "partition", 2, "rto_median", benchreport.NOT_MET),
    ([cycle("partition", "playbook", 6.0), cycle("partition", "runbook", 4.0)], "partition", 2, "ratio",
     benchreport.MET),
    ([cycle("partition", "playbook", 6.1), cycle("partition", "runbook", 4.0)], "partition", 2, "ratio",
     benchreport.NOT_MET),
    ([cycle("disaster", "playbook", 5.0), cycle("disaster", "playbook", 6.0, sites=8)], "disaster", 8, "scale",
     benchreport.MET),
    ([cycle("disaster", "playbook", 5.0), cycle("disaster", "playbook", 6.05, sites=8)], "disaster", 8, "scale",
     benchreport.NOT_MET),
])
def test_each_goal_on_each_side_of_its_threshold(cycles, scenario, sites, name, verdict):
    found = goal(benchreport.summarize(results(*cycles)), scenario, sites, name)
    assert found["verdict"] == verdict, found


def test_text_table_holds_the_numbers_and_the_verdicts():
    summary = benchreport.summarize(results(*DISASTER))
    text = benchreport.render_text(summary)
    rows = {tuple(line.split()[:3]): line.split()[3:] for line in text.splitlines()
            if line.startswith("disaster ")}
    # runs, ok, median, min, max, p90, limited, ratio
    assert rows[("disaster", "2", "playbook")] == ["6", "5", "8.50", "7.00", "10.00", "9.70", "-", "1.70x"]
    assert rows[("disaster", "2", "runbook")] == ["3", "3", "5.00", "4.00", "6.00", "5.80", "-", "-"]
    goal_lines = [line.split() for line in text.splitlines() if "disaster 2 sites:" in line]
    assert [" ".join(words) for words in goal_lines] == [
        "NOT MET disaster 2 sites: playbook RTO median <= 8.0 s: 8.50 s, median of 4 ok runs",
        "NOT MET disaster 2 sites: playbook / runbook RTO median <= 1.5x: 1.70x (playbook 8.50 s / runbook 5.00 s)"]
    assert "fencing failed" in text and "Traceback" not in text
    met = benchreport.render_text(benchreport.summarize(results(cycle("disaster", "playbook", 7.25))))
    assert "met           disaster 2 sites: playbook RTO median <= 8.0 s: 7.25 s, median of 1 ok run" in met
    assert "host bench-host, 2 cpus, load 0.42 0.31 0.20 at start, Python 3.11.2, ansible-core 2.19.14" in text


def test_markdown_has_the_same_rows_with_cells_escaped():
    cycles = DISASTER + [cycle("odd|name", "playbook", 3.0, ok=False, error="a <b>c</b> | d")]
    markdown = benchreport.render_markdown(benchreport.summarize(results(*cycles)))
    lines = markdown.splitlines()
    assert "| disaster | 2 | playbook | 6 | 5 | 8.50 | 7.00 | 10.00 | 9.70 | - | 1.70x |" in lines
    assert "| odd\\|name | 2 | playbook | 1 | 0 | - | - | - | - | - | - |" in lines
    assert "| odd\\|name | 2 | playbook | 1 | a &lt;b>c&lt;/b> \\| d |" in lines
    assert "| **not measured** | odd\\|name" not in markdown  # an unknown scenario has no goal


def test_svg_is_valid_xml_with_one_circle_per_run_and_escaped_text():
    cycles = DISASTER + [cycle("weird <&> \x01", "runbook", 2.0, error=None),
                         cycle("planned", "playbook", None, ok=False, error="lost \x07 <&>")]
    data = results(*cycles)
    svg = benchreport.render_svg(data, benchreport.summarize(data))
    root = ET.fromstring(svg.encode("utf-8"))
    circles = root.iter(SVG + "circle")
    assert len(list(circles)) == len(cycles)
    texts = ["".join(node.itertext()) for node in root.iter(SVG + "text")]
    assert "weird <&> ?, 2 sites" in texts
    assert "disaster, 2 sites" in texts and "planned, 2 sites" in texts
    # No external resource: nothing links or imports anything.
    assert "href" not in svg and "@import" not in svg and "<script" not in svg
    # The 8 s goal and the 1.5x runbook line (1.5 * 5 s) are drawn dashed in the disaster row.
    dashed = [line for line in root.iter(SVG + "line") if line.get("stroke-dasharray")]
    assert len(dashed) >= 3  # legend, 8 s goal, 1.5x runbook
    x_labels = {"".join(node.itertext()) for node in root.iter(SVG + "text")}
    assert {"0", "2", "4", "6", "8", "10"} <= x_labels and "RTO (s)" in x_labels


def test_write_all_and_the_command_rerender_the_same_report(tmp_path):
    data = results(*DISASTER)
    paths = benchreport.write_all(data, str(tmp_path / "out"))
    assert sorted(os.path.basename(path) for path in paths.values()) == ["bench.json", "bench.md", "bench.svg"]
    with open(paths["json"], encoding="utf-8") as written:
        stored = json.load(written)
    assert stored["results"] == data
    assert stored["summary"] == json.loads(json.dumps(benchreport.summarize(data)))
    ET.parse(paths["svg"])

    again = tmp_path / "again"
    env = dict(os.environ, PYTHONPATH=LAB_DIR)
    run = subprocess.run([sys.executable, "-m", "genesys_lab.benchreport", paths["json"], str(again)], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(benchreport.render_text(benchreport.summarize(data)))
    with open(again / "bench.md", encoding="utf-8") as rerendered, open(paths["markdown"], encoding="utf-8") as first:
        assert rerendered.read() == first.read()


def test_command_refuses_a_file_without_cycles(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"machine": {}}', encoding="utf-8")
    assert benchreport.main([str(path)]) == 2
    assert "no list of cycles" in capsys.readouterr().err


def test_a_cycle_without_its_variant_is_refused():
    bad = cycle("disaster", "playbook", 5.0)
    del bad["variant"]
    with pytest.raises(ValueError, match="variant"):
        benchreport.summarize(results(bad))


# The mitogen variant (the playbook with GENESYS_DR_MITOGEN=1) next to the playbook, at 2 and
# 8 sites, planned and partition. By hand, disaster at 2 sites: playbook median 9, mitogen
# median 6, runbook 5: ratios 1.8 (NOT MET) and 1.2 (met); at 8 sites: playbook 9.5 against
# its own 9 at 2 sites = 1.06x (met), mitogen 7.5 against its own 6 = 1.25x (NOT MET; against
# the playbook's 9 it would be met).
MITOGEN = [
    cycle("disaster", "playbook", 9.0, number=1, steps={"preflight": 3.0}),
    cycle("disaster", "mitogen", 6.0, number=1, steps={"preflight": 1.0, "mitogen only": 0.2}),
    cycle("disaster", "runbook", 5.0, number=1, steps={"dns": 9.0}),
    cycle("disaster", "playbook", 9.5, sites=8),
    cycle("disaster", "mitogen", 7.5, sites=8),
    cycle("disaster", "runbook", 5.0, sites=8),
    cycle("planned", "playbook", 5.0, limited={"site1": 3.0}),
    cycle("planned", "mitogen", 4.0, limited={"site2": 6.0}),
    cycle("partition", "playbook", 7.0),
    cycle("partition", "mitogen", None, ok=False, error="mitogen: broken pipe"),
]


@pytest.mark.parametrize("scenario, sites, name, variant, value, verdict", [
    ("disaster", 2, "rto_median", "playbook", 9.0, benchreport.NOT_MET),
    ("disaster", 2, "rto_median", "mitogen", 6.0, benchreport.MET),
    ("disaster", 2, "ratio", "playbook", 1.8, benchreport.NOT_MET),
    ("disaster", 2, "ratio", "mitogen", 1.2, benchreport.MET),
    ("disaster", 8, "scale", "playbook", 9.5 / 9.0, benchreport.MET),
    ("disaster", 8, "scale", "mitogen", 1.25, benchreport.NOT_MET),
    ("planned", 2, "limited", "playbook", 3.0, benchreport.MET),
    ("planned", 2, "limited", "mitogen", 6.0, benchreport.NOT_MET),
    ("partition", 2, "all_ok", "playbook", 0, benchreport.MET),
    ("partition", 2, "all_ok", "mitogen", 1, benchreport.NOT_MET),
    ("partition", 2, "rto_median", "mitogen", None, benchreport.NOT_MEASURED),
])
def test_each_goal_is_checked_against_each_playbook_like_variant(scenario, sites, name, variant, value, verdict):
    found = goal(benchreport.summarize(results(*MITOGEN)), scenario, sites, name, variant)
    assert found["value"] == (None if value is None else pytest.approx(value))
    assert found["verdict"] == verdict, found
    assert variant in found["text"].split(), found


def test_the_playbooks_goals_do_not_change_when_mitogen_runs_beside_it():
    alone = benchreport.summarize(results(*[c for c in MITOGEN if c["variant"] != "mitogen"]))
    beside = benchreport.summarize(results(*MITOGEN))
    # Only the limited-mode text gains the variant's name once another variant is checked.
    keep = ("scenario", "sites", "goal", "limit", "value", "verdict", "detail", "line_s", "variant")
    assert ([{k: g[k] for k in keep} for g in beside["goals"] if g["variant"] == "playbook"]
            == [{k: g[k] for k in keep} for g in alone["goals"]])
    assert {g["variant"] for g in alone["goals"]} == {"playbook"}


def test_comparisons_keep_the_playbook_keys_and_add_each_variant():
    summary = benchreport.summarize(results(*MITOGEN))
    disaster = [c for c in summary["comparisons"] if (c["scenario"], c["sites"]) == ("disaster", 2)][0]
    assert (disaster["playbook_median"], disaster["runbook_median"]) == (9.0, 5.0)
    assert disaster["ratio"] == pytest.approx(1.8)
    assert disaster["variants"]["playbook"] == {"median": 9.0, "ratio": pytest.approx(1.8)}
    assert disaster["variants"]["mitogen"] == {"median": 6.0, "ratio": pytest.approx(1.2)}
    assert summary["playbook_variants"] == ["playbook", "mitogen"]


def test_where_the_time_goes_per_playbook_like_variant():
    summary = benchreport.summarize(results(*MITOGEN))
    entries = {(e["variant"]): e["steps"] for e in summary["steps"] if (e["scenario"], e["sites"]) == ("disaster", 2)}
    assert sorted(entries) == ["mitogen", "playbook"]
    assert [list(step) for step in entries["playbook"]] == [["preflight", 3.0]]
    assert [list(step) for step in entries["mitogen"]] == [["preflight", 1.0], ["mitogen only", 0.2]]
    text = benchreport.render_text(summary)
    assert "Where the playbook's time goes: disaster 2 sites" in text
    assert "Where the playbook's time goes (mitogen): disaster 2 sites" in text
    markdown = benchreport.render_markdown(summary)
    assert "### Where the playbook's time goes (mitogen): disaster, 2 sites" in markdown


def test_text_and_markdown_give_mitogen_its_own_rows_and_goal_lines():
    summary = benchreport.summarize(results(*MITOGEN))
    text = benchreport.render_text(summary)
    rows = [line.split() for line in text.splitlines() if line.startswith("disaster ")]
    # runs, ok, median, min, max, p90, limited, ratio; playbook, mitogen, runbook in that order.
    assert [row[:3] for row in rows[:3]] == [["disaster", "2", "playbook"], ["disaster", "2", "mitogen"],
                                             ["disaster", "2", "runbook"]]
    assert rows[0][3:] == ["1", "1", "9.00", "9.00", "9.00", "9.00", "-", "1.80x"]
    assert rows[1][3:] == ["1", "1", "6.00", "6.00", "6.00", "6.00", "-", "1.20x"]
    assert rows[2][-1] == "-"
    goal_lines = [" ".join(line.split()) for line in text.splitlines() if "disaster 2 sites:" in line]
    assert goal_lines == [
        "NOT MET disaster 2 sites: playbook RTO median <= 8.0 s: 9.00 s, median of 1 ok run",
        "NOT MET disaster 2 sites: playbook / runbook RTO median <= 1.5x: 1.80x (playbook 9.00 s / runbook 5.00 s)",
        "met disaster 2 sites: mitogen RTO median <= 8.0 s: 6.00 s, median of 1 ok run",
        "met disaster 2 sites: mitogen / runbook RTO median <= 1.5x: 1.20x (mitogen 6.00 s / runbook 5.00 s)"]
    assert ("NOT MET disaster 8 sites: mitogen RTO median <= 1.2x the 2-site one: 1.25x (7.50 s against 6.00 s at "
            "2 sites)") in [" ".join(line.split()) for line in text.splitlines()]
    assert "partition 2 sites mitogen cycle 1: mitogen: broken pipe" in text
    markdown = benchreport.render_markdown(summary).splitlines()
    assert markdown[0] == "## Benchmark: RTO playbook and mitogen against runbook"
    assert "| disaster | 2 | mitogen | 1 | 1 | 6.00 | 6.00 | 6.00 | 6.00 | - | 1.20x |" in markdown
    assert "| **NOT MET** | planned | 2 | mitogen limited mode, max over sites of the median <= 5.0 s | 6.00 s at site2 |" \
        in markdown


def test_a_run_without_the_playbook_variant_checks_only_what_ran():
    summary = benchreport.summarize(results(cycle("disaster", "mitogen", 6.0), cycle("disaster", "runbook", 5.0)))
    assert [(g["variant"], g["goal"]) for g in summary["goals"]] == [("mitogen", "rto_median"), ("mitogen", "ratio")]
    summary = benchreport.summarize(results(cycle("planned", "mitogen", 4.0, limited={"site1": 1.0})))
    assert goal(summary, "planned", 2, "limited", "mitogen")["text"].startswith("mitogen limited mode")
    # A run of the runbook alone still shows the playbook's goals, unmeasured, as before.
    summary = benchreport.summarize(results(cycle("disaster", "runbook", 5.0)))
    assert [(g["variant"], g["verdict"]) for g in summary["goals"]] == [("playbook", benchreport.NOT_MEASURED)] * 2


def test_svg_draws_mitogen_in_its_own_colour_and_lane():
    data = results(*MITOGEN)
    root = ET.fromstring(benchreport.render_svg(data, benchreport.summarize(data)).encode("utf-8"))
    colours = benchreport.VARIANT_COLOURS
    assert len({colours["playbook"], colours["mitogen"], colours["runbook"]}) == 3
    by_variant = {}
    for circle in root.iter(SVG + "circle"):
        variant = "".join(circle.itertext()).split(" cycle ", maxsplit=1)[0]
        by_variant.setdefault(variant, set()).add((circle.get("stroke"), circle.get("cy")))
    assert {stroke for stroke, _y in by_variant["mitogen"]} == {colours["mitogen"]}
    # Each variant has a lane of its own: no two variants' dots at the same height.
    heights = {variant: {y for _s, y in dots} for variant, dots in by_variant.items()}
    assert not heights["mitogen"] & (heights["playbook"] | heights["runbook"])
    legend = ["".join(node.itertext()) for node in root.iter(SVG + "text")]
    assert "mitogen" in legend
    title = "".join(root.find(SVG + "title").itertext())
    assert title.startswith("RTO per run: playbook and mitogen against runbook")
    # The shared RTO goal is one line; mitogen's own 8-site scale goal is a line with its name.
    labels = [node for node in root.iter(SVG + "text") if node.get("fill") == "#c0002a"]
    assert sum("".join(n.itertext()) == "mitogen 1.2x 2 sites" for n in labels) == 1
    goal_titles = ["".join(line.itertext()) for line in root.iter(SVG + "line") if line.get("stroke-dasharray")]
    assert "playbook RTO median <= 8.0 s; mitogen RTO median <= 8.0 s" in goal_titles
