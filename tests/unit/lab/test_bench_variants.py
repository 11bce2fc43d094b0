"""The variants of `make bench` (genesys_lab.bench): which environment the ansible-playbook
runs of each variant get, that the mitogen variant is the playbook variant in all else, and
the order of interleaving. No lab: a stand-in ansible-playbook records the environment it
was really started with, and the lab calls of a cycle are replaced by stand-ins."""

import json
import os
import stat
import sys
import types

import pytest

from genesys_lab import bench

MITOGEN = "GENESYS_DR_MITOGEN"

# Records what it was started with; as failover.yml or failback.yml, also writes a dr_report
# the way the callback does (each operation its own steps), so that the cycle's step timings can be read back.
FAKE_PLAYBOOK = """#!%s
import json, os, sys
report_dir = os.environ["GENESYS_DR_REPORT_DIR"]
with open(os.path.join(report_dir, "calls.jsonl"), "a") as calls:
    calls.write(json.dumps({"playbook": os.path.basename(sys.argv[3]), "extra": sys.argv[4:],
                            "mitogen": os.environ.get("%s"), "ansible_config": os.environ.get("ANSIBLE_CONFIG")}) + "\\n")
operation = os.path.basename(sys.argv[3])[:-len(".yml")]
if operation in ("failover", "failback"):
    steps = ([{"name": "switch DNS", "duration": 0.25}, {"name": "start masters", "duration": 1.5}]
             if operation == "failover" else [{"name": "switch DNS back", "duration": 0.75}])
    with open(os.path.join(report_dir, operation + "-20250301T100000.json"), "w") as report:
        json.dump({"steps": steps,
                   "task_runner": os.environ.get("FAKE_TASK_RUNNER") or
                   ("mitogen" if os.environ.get("%s") == "1" else "ansible")}, report)
""" % (sys.executable, MITOGEN, MITOGEN)


@pytest.fixture
def fake_top(tmp_path, monkeypatch):
    """A TOP whose .venv/bin/ansible-playbook is the recording stand-in."""
    top = tmp_path / "top"
    (top / ".venv" / "bin").mkdir(parents=True)
    script = top / ".venv" / "bin" / "ansible-playbook"
    script.write_text(FAKE_PLAYBOOK, encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(bench, "TOP", str(top))
    return top


def calls(report_dir):
    with open(os.path.join(str(report_dir), "calls.jsonl"), encoding="utf-8") as recorded:
        return [json.loads(line) for line in recorded]


@pytest.mark.parametrize("operator_setting", [None, "1", "0"])
@pytest.mark.parametrize("variant, expected", [("playbook", None), ("mitogen", "1"), ("runbook", None)])
def test_only_the_mitogen_variant_runs_ansible_with_the_switch(fake_top, tmp_path, monkeypatch, operator_setting,
                                                               variant, expected):
    # Whatever the operator's shell holds must not decide what a variant measures.
    if operator_setting is None:
        monkeypatch.delenv(MITOGEN, raising=False)
    else:
        monkeypatch.setenv(MITOGEN, operator_setting)
    report_dir = tmp_path / "reports"
    report_dir.mkdir()
    bench._playbook("normal.yml", [], variant, str(report_dir), str(tmp_path / "normal.log"))
    [call] = calls(report_dir)
    assert call["mitogen"] == expected
    assert call["ansible_config"] == os.path.join(str(fake_top), "ansible.cfg")
    # The bench's own environment is left as the operator set it.
    assert os.environ.get(MITOGEN) == operator_setting


def test_playbook_env_leaves_the_base_untouched_and_refuses_an_unknown_variant():
    base = {"PATH": "/usr/bin", MITOGEN: "1"}
    env = bench.playbook_env("playbook", "/reports", base)
    assert MITOGEN not in env and env["PATH"] == "/usr/bin" and env["GENESYS_DR_REPORT_DIR"] == "/reports"
    assert base == {"PATH": "/usr/bin", MITOGEN: "1"}
    with pytest.raises(ValueError, match="unknown variant"):
        bench.playbook_env("mitogn", "/reports", base)


class FakeProbe(object):
    """The client of a site, as if every write after the recovery's start were acknowledged 2 s in."""

    def __init__(self, _topo, site, out):
        self.site, self.out = site, out

    def wait_ack(self, _since, _timeout):
        return True

    def first_ack_after(self, since):
        return since + 2.0

    def outage_after(self, since):
        return since + 0.5, since + 2.0

    def stop(self):
        pass


def fake_lab(monkeypatch):
    sites = [types.SimpleNamespace(name="site1"), types.SimpleNamespace(name="site2")]
    topo = types.SimpleNamespace(main_site="site1", dr_sites=sites,
                                 site=lambda name: [s for s in sites if s.name == name][0])
    monkeypatch.setattr(bench, "LABCTL", ["true"])
    monkeypatch.setattr(bench.lab, "load", lambda: topo)
    monkeypatch.setattr(bench.lab, "load_secrets", lambda: {})
    monkeypatch.setattr(bench, "Probe", FakeProbe)
    ran = []
    monkeypatch.setattr(bench, "runbook", lambda _topo, lost, survivor, _secrets, **kwargs: ran.append(
        dict(kwargs, lost=lost.name, survivor=survivor.name)) or {"DB": 0.1})
    return ran


@pytest.mark.parametrize("variant, mitogen, failover", [("playbook", None, True), ("mitogen", "1", True),
                                                        ("runbook", None, False)])
def test_a_cycle_of_each_variant(fake_top, tmp_path, monkeypatch, variant, mitogen, failover):
    monkeypatch.setenv(MITOGEN, "1")
    ran_runbook = fake_lab(monkeypatch)
    args = types.SimpleNamespace(scenario="planned", sites=2)
    result = bench.cycle(args, variant, 1, str(tmp_path / "out"))
    assert result["ok"], result["error"]
    assert result["variant"] == variant and result["rto_s"] is not None
    recorded = calls(tmp_path / "out" / ("planned-2-%s-01" % variant))
    # normal.yml before the fault, then failover.yml: both with the variant's setting.
    assert [c["playbook"] for c in recorded] == (["normal.yml", "failover.yml"] if failover else ["normal.yml"])
    assert [c["mitogen"] for c in recorded] == [mitogen] * len(recorded)
    if failover:
        assert recorded[1]["extra"] == ["-e", "failover_mode=planned"]
        # The per-step timings come from the playbook's report, for mitogen as for playbook.
        assert result["steps"] == {"switch DNS": 0.25, "start masters": 1.5}
        assert ran_runbook == []
    else:
        assert result["steps"] == {"DB": 0.1} and len(ran_runbook) == 1


@pytest.mark.parametrize("variant, mitogen", [("playbook", None), ("mitogen", "1"), ("runbook", None)])
def test_a_failback_cycle_times_the_switch_back_from_the_secondary(fake_top, tmp_path, monkeypatch, variant, mitogen):
    monkeypatch.setenv(MITOGEN, "1")
    ran_runbook = fake_lab(monkeypatch)
    args = types.SimpleNamespace(scenario="failback", sites=2)
    result = bench.cycle(args, variant, 1, str(tmp_path / "out"))
    assert result["ok"], result["error"]
    recorded = calls(tmp_path / "out" / ("failback-2-%s-01" % variant))
    # Untimed: a planned failover and the reprotect, by the collection, on the variant's task
    # runner (the runbook's by the plain playbook variant). Then the timed switch back.
    prep = ["normal.yml", "failover.yml", "reprotect.yml"]
    if variant == "runbook":
        assert [c["playbook"] for c in recorded] == prep
        assert [c["mitogen"] for c in recorded] == [None] * 3
        assert ran_runbook == [dict(planned=True, failback=True, lost="site2", survivor="site1")]
        assert result["steps"] == {"DB": 0.1}
    else:
        assert [c["playbook"] for c in recorded] == prep + ["failback.yml"]
        assert [c["mitogen"] for c in recorded] == [mitogen] * 4
        assert recorded[3]["extra"] == []
        # The steps are the failback's report's, not those of the failover before it.
        assert result["steps"] == {"switch DNS back": 0.75}
        assert ran_runbook == []
    assert recorded[1]["extra"] == ["-e", "failover_mode=planned"]
    # As in a planned failover: the outage each client saw, the RTO ending at the earliest.
    assert result["limited_s"] == {"site1": 1.5, "site2": 1.5} and result["rto_s"] == 2.0


@pytest.mark.parametrize("variant, runner", [("playbook", "mitogen"), ("mitogen", "ansible")])
def test_a_cycle_whose_report_names_the_other_task_runner_fails(fake_top, tmp_path, monkeypatch, variant, runner):
    """The run report, not the environment the bench set, decides what a number measured."""
    monkeypatch.setenv("FAKE_TASK_RUNNER", runner)
    fake_lab(monkeypatch)
    args = types.SimpleNamespace(scenario="planned", sites=2)
    result = bench.cycle(args, variant, 1, str(tmp_path / "out"))
    assert not result["ok"]
    assert "ran on task runner %r" % runner in result["error"]


def test_variants_are_interleaved_in_the_order_given(fake_top, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "LABCTL", ["true"])
    seen = []

    def fake_cycle(args, variant, n, _out_dir):
        seen.append((variant, n))
        return dict(scenario=args.scenario, sites=args.sites, variant=variant, cycle=n, ok=True, error=None,
                    rto_s=float(n), limited_s={}, steps={}, wall_s=1.0)

    monkeypatch.setattr(bench, "cycle", fake_cycle)
    out = tmp_path / "out"
    assert bench.main(["--cycles", "2", "--scenario", "disaster", "--variants", "mitogen", "runbook", "playbook",
                       "--out", str(out)]) == 0
    assert seen == [("mitogen", 1), ("runbook", 1), ("playbook", 1), ("mitogen", 2), ("runbook", 2), ("playbook", 2)]
    with open(str(out / "bench.json"), encoding="utf-8") as written:
        stored = json.load(written)
    assert [c["variant"] for c in stored["results"]["cycles"]] == [v for v, _n in seen]
    assert "mitogen RTO median <= 8.0 s" in capsys.readouterr().out


def test_without_a_scenario_the_bench_runs_every_scenario_of_the_goals(fake_top, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "LABCTL", ["true"])
    seen = []

    def fake_cycle(args, variant, n, _out_dir):
        seen.append((args.scenario, args.sites, variant, n))
        return dict(scenario=args.scenario, sites=args.sites, variant=variant, cycle=n, ok=True, error=None,
                    rto_s=5.0 if args.sites == 2 else 5.5, limited_s={}, steps={}, wall_s=1.0)

    monkeypatch.setattr(bench, "cycle", fake_cycle)
    assert bench.main(["--cycles", "2", "--out", str(tmp_path / "out")]) == 0
    groups = [("disaster", 2), ("planned", 2), ("failback", 2), ("partition", 2), ("disaster", 8)]
    # One scenario after the other; within each, cycle by cycle, the variants interleaved.
    assert seen == [(name, sites, variant, n) for name, sites in groups for n in (1, 2) for variant in ("playbook", "runbook")]
    out = capsys.readouterr().out
    # One table, with every goal: the planned and failback limits, and 8 sites against 2.
    for line in ("planned 2 sites: playbook RTO median <= 6.0 s", "failback 2 sites: playbook RTO median <= 6.0 s",
                 "partition 2 sites: playbook RTO median <= 8.0 s", "disaster 8 sites: playbook RTO median"):
        assert line in out, out


@pytest.mark.parametrize("argv, groups", [
    (["--scenario", "planned"], [("planned", 2)]),
    (["--scenario", "failback", "disaster:8", "--sites", "3"], [("failback", 3), ("disaster", 8)]),
    (["--scenario", "disaster", "disaster:8"], [("disaster", 2), ("disaster", 8)]),
])
def test_scenarios_with_and_without_their_sites(argv, groups):
    assert bench.parse_args(argv).groups == groups


@pytest.mark.parametrize("argv, message", [
    (["--scenario", "planed"], "unknown scenario 'planed'"),
    (["--scenario", "disaster:9"], "from 2 to 8"),
    (["--scenario", "disaster:x"], "from 2 to 8"),
    (["--scenario", "disaster", "disaster:2"], "same number of sites twice"),
    (["--sites", "8"], "without --scenario the bench runs its full set"),
    (["--scenario", "planned", "--sites", "1"], "--sites must be between 2 and 8"),
    (["--cycles", "0"], "--cycles must be >= 1"),
])
def test_a_bad_scenario_is_refused_before_any_lab_is_built(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        bench.parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_default_variants_stay_playbook_and_runbook():
    assert bench.parse_args([]).variants == ["playbook", "runbook"]
    assert bench.parse_args(["--variants", "runbook", "mitogen"]).variants == ["runbook", "mitogen"]


@pytest.mark.parametrize("variants", [["mitogn"], ["playbook", "playbook"]])
def test_unknown_or_repeated_variants_are_refused(variants, capsys):
    with pytest.raises(SystemExit) as exited:
        bench.parse_args(["--variants"] + variants)
    assert exited.value.code == 2
    assert "--variants" in capsys.readouterr().err


@pytest.fixture
def baseline_tree(tmp_path):
    """Another checkout: playbooks/failover.yml and the collection link that leads to it."""
    tree = tmp_path / "baseline"
    (tree / "playbooks").mkdir(parents=True)
    (tree / "playbooks" / "failover.yml").write_text("---\n")
    link = tree / ".build" / "collections" / "ansible_collections" / "genesys_dr" / "framework"
    link.parent.mkdir(parents=True)
    link.symlink_to("../../../..")
    return tree


def test_a_baseline_variant_runs_the_other_trees_playbooks_with_the_same_ansible(fake_top, baseline_tree, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setattr(bench, "BASELINE", str(baseline_tree))
    report_dir = tmp_path / "reports"
    report_dir.mkdir()
    for variant in ("playbook", "mitogen@base"):
        bench._playbook("failover.yml", [], variant, str(report_dir), str(tmp_path / "failover.log"))
    plain, base = calls(report_dir)
    assert plain["ansible_config"] == os.path.join(str(fake_top), "ansible.cfg") and plain["mitogen"] is None
    assert base["ansible_config"] == os.path.join(str(baseline_tree), "ansible.cfg") and base["mitogen"] == "1"
    # Its cycle is checked against the runner of the variant it repeats.
    assert bench._report_steps(str(report_dir), "mitogen@base") == {"switch DNS": 0.25, "start masters": 1.5}


def test_baseline_variants_follow_their_own_and_a_bad_baseline_is_refused(baseline_tree, tmp_path, capsys):
    args = bench.parse_args(["--variants", "playbook", "mitogen", "runbook", "--baseline", str(baseline_tree)])
    assert args.variants == ["playbook", "playbook@base", "mitogen", "mitogen@base", "runbook"]
    (tmp_path / "nolink" / "playbooks").mkdir(parents=True)
    (tmp_path / "nolink" / "playbooks" / "failover.yml").write_text("---\n")
    for tree, problem in ((tmp_path / "nolink", "does not lead to it"), (tmp_path, "not a checkout of the collection")):
        with pytest.raises(SystemExit):
            bench.parse_args(["--baseline", str(tree)])
        assert problem in capsys.readouterr().err
    with pytest.raises(ValueError, match="needs a --baseline tree"):
        bench.variant_tree("playbook@base")
