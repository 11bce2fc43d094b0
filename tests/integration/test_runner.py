"""The playbooks run the way AWX runs them: ansible_runner.run() with a private data dir per
job - the project (this checkout, as AWX checks it out), inventory/ (the lab's inventory
script and group_vars, its SSH key taken out of the inventory), env/ssh_key (the machine
credential, fed to ssh-agent by ansible-runner), env/extravars (the job template's extra
variables and survey answers) and env/envvars.

One test drives the whole cycle in order - normal, status, a planned failover, reprotect,
failback, then the main site is lost and a disaster failover runs, and the lab is brought
back (heal, reprotect, failback). For every job it checks, from outside the run, that the
run report is in the job's artifacts directory (nowhere else), that the set_stats data is in
the stats event's artifact_data (what AWX keeps as the job's artifacts) and agrees with the
report, that no secret is in either, and reads the DR state and the master record back from
the DNS primary with dig.

Needs the lab (lab/labctl, root) and ansible-runner (requirements.txt)."""
import json
import os
import re
import shutil

import pytest
import yaml

from conftest import TOP, lab_apps, lab_mod, wait_until

ansible_runner = pytest.importorskip("ansible_runner")

STATE_DIR = os.environ.get("GENESYS_LAB_STATE", "/var/lib/genesys-lab")
LAB_INVENTORY = os.path.join(TOP, "inventories", "lab")
BIN = os.path.join(TOP, ".venv", "bin")
# Settings of the shell that started the tests which AWX would not give a job: the project's
# ansible.cfg and the collection's own defaults must be what decides.
NOT_IN_AWX = ("ANSIBLE_CONFIG", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_CALLBACK_WHITELIST", "GENESYS_DR_REPORT_DIR",
              "AWX_ISOLATED_DATA_DIR", "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACK_PLUGINS")
JOB_TIMEOUT = 900


def _private_data_dir(base, ident, extravars):
    """A private data dir as AWX writes one for a job."""
    data = base / ident
    (data / "env").mkdir(parents=True)
    inventory = data / "inventory"
    inventory.mkdir()
    # The inventory source as AWX syncs it: the lab's script (linked, it finds the lab's code
    # through its real path) and its group_vars. The SSH key is the machine credential's, not
    # a file the inventory names.
    os.symlink(os.path.join(LAB_INVENTORY, "hosts.py"), str(inventory / "hosts.py"))
    shutil.copytree(os.path.join(LAB_INVENTORY, "group_vars"), str(inventory / "group_vars"))
    connection = inventory / "group_vars" / "all" / "connection.yml"
    settings = yaml.safe_load(connection.read_text())
    assert settings.pop("ansible_ssh_private_key_file"), settings
    connection.write_text(yaml.safe_dump(settings, default_flow_style=False))
    with open(os.path.join(STATE_DIR, "ssh", "id_ed25519")) as f:
        (data / "env" / "ssh_key").write_text(f.read())
    (data / "env" / "extravars").write_text(json.dumps(extravars))
    (data / "env" / "envvars").write_text(json.dumps({
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "GENESYS_LAB_STATE": STATE_DIR}))
    return data


class Job:
    """One finished ansible_runner.run() job and what it left."""

    def __init__(self, base, ident, playbook, extravars):
        self.ident = ident
        self.data = _private_data_dir(base, ident, extravars)
        self.result = ansible_runner.run(private_data_dir=str(self.data), project_dir=TOP,
                                         playbook=os.path.join("playbooks", playbook), ident=ident, quiet=True,
                                         timeout=JOB_TIMEOUT)
        self.stdout = self.result.stdout.read()
        self.artifacts = self.result.config.artifact_dir
        stats = [e for e in self.result.events if e.get("event") == "playbook_on_stats"]
        assert len(stats) == 1, (ident, self.result.status, self.stdout[-3000:])
        self.artifact_data = stats[0]["event_data"].get("artifact_data") or {}

    def assert_successful(self):
        assert (self.result.status, self.result.rc) == ("successful", 0), "%s:\n%s" % (self.ident, self.stdout[-6000:])

    def report(self, operation, mode):
        """The run report in the artifacts directory, checked against artifact_data."""
        published = self.artifact_data.get("genesys_dr_report")
        assert published, "%s published no genesys_dr_report: %s" % (self.ident, sorted(self.artifact_data))
        assert (published["operation"], published["mode"], published["check_mode"]) == (operation, mode, False)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(published["run_id"]))
        found = sorted(f for f in os.listdir(self.artifacts) if f.startswith(name + "."))
        assert found == [name + ".json", name + ".md"], (self.ident, os.listdir(self.artifacts))
        with open(os.path.join(self.artifacts, name + ".json")) as f:
            report = json.load(f)
        with open(os.path.join(self.artifacts, name + ".md")) as f:
            markdown = f.read()
        assert (report["run_id"], report["operation"], report["mode"]) == (published["run_id"], operation, mode)
        assert report["result"] == "ok" and report["failures"] == [], report["failures"]
        assert report["attempt"] == 1
        assert markdown.startswith("# DR %s report: %s\n" % (operation, published["run_id"]))
        # The report holds everything AWX keeps as the job's artifacts.
        assert set(report["published"]) == set(self.artifact_data) - {"genesys_dr_report"}, self.ident
        assert "report written: %s.json" % os.path.join(self.artifacts, name) in self.stdout
        return report, markdown


@pytest.fixture
def runner_jobs(lab, tmp_path, monkeypatch):
    for name in NOT_IN_AWX:
        monkeypatch.delenv(name, raising=False)
    before = set(os.listdir(os.path.join(TOP, "reports"))) if os.path.isdir(os.path.join(TOP, "reports")) else set()
    jobs = []

    def run(playbook, **extravars):
        job = Job(tmp_path, "%02d-%s" % (len(jobs) + 1, os.path.splitext(playbook)[0]), playbook, extravars)
        jobs.append(job)
        return job

    yield run
    for site in list(lab_mod._faults()):  # pylint: disable=protected-access
        lab.labctl("heal", site)
    # No job wrote its report into the project (the working directory of an AWX job).
    after = set(os.listdir(os.path.join(TOP, "reports"))) if os.path.isdir(os.path.join(TOP, "reports")) else set()
    assert after == before, sorted(after - before)


def _dr_state(lab):
    fields = {}
    for record in lab.dig_txt(lab.topo.dns_primary, "_dr-state." + lab.master_fqdn):
        for part in " ".join(record).split():
            if "=" in part:
                key, value = part.split("=", 1)
                fields[key] = value
    return fields


def _status_verdict(job):
    """status.yml's verdict (status.json) and metrics (genesys_dr.prom, by series) in the job's artifacts."""
    with open(os.path.join(job.artifacts, "status.json")) as f:
        verdict = json.load(f)
    with open(os.path.join(job.artifacts, "genesys_dr.prom")) as f:
        metrics = dict(line.rsplit(" ", 1) for line in f.read().splitlines() if line and not line.startswith("#"))
    return verdict, metrics


def _no_secret(lab, job, *texts):
    for secret in (lab.secrets["db_admin_password"], lab.secrets["tsig_secret"]):
        for text in (job.stdout, json.dumps(job.artifact_data)) + texts:
            assert secret not in text, job.ident


@pytest.mark.lab_lifecycle
def test_every_procedure_under_ansible_runner_leaves_its_report_in_the_artifacts(lab, runner_jobs):
    # A fresh install, as the first job of a new deployment sees it: the tests that share the
    # lab leave rows in both Configuration Databases, which normal.yml rightly refuses to copy over.
    lab.labctl("down")
    lab.labctl("up")
    # A new lab has new secrets: the checks below must search for these.
    lab.topo, lab.secrets = lab_mod.load(), lab_mod.load_secrets()
    main, secondary = lab.topo.main_site, lab.topo.secondary_site
    main_mgmt, secondary_mgmt = lab.site_host(main, "mgmt"), lab.site_host(secondary, "mgmt")

    job = runner_jobs("normal.yml")
    job.assert_successful()
    report, markdown = job.report("normal", "converge")
    _no_secret(lab, job, json.dumps(report), markdown)
    assert _dr_state(lab).get("state") == "NORMAL"
    assert lab.dig(lab.topo.dns_primary, lab.master_fqdn) == [main_mgmt.address]

    job = runner_jobs("status.yml")
    job.assert_successful()
    # status publishes no run report; its table is written next to the job's other artifacts.
    assert "genesys_dr_report" not in job.artifact_data
    with open(os.path.join(job.artifacts, "status.md")) as f:
        assert "DR state: NORMAL, live site: %s" % main in f.read()
    verdict, metrics = _status_verdict(job)
    assert (verdict["ready"], verdict["problems"], verdict["state"]) == (True, [], "NORMAL")
    assert metrics["genesys_dr_ready"] == "1" and metrics['genesys_dr_state{state="NORMAL"}'] == "1"

    # Drift: the cfgdb stream to the secondary disabled, one of its proxies stopped. status ends failed
    # naming both, and only them; repaired, it is ready again.
    secondary_db = lab.site_host(secondary, "db")
    from_main = "genesys_cfgdb_from_" + main
    proxy_host = lab.site_host(secondary, "app")
    proxy = next(a["name"] for a in lab_apps.plan(lab.topo, proxy_host)[0] if a["component"] == "proxy")
    lab.psql(secondary_db, "cfgdb", "ALTER SUBSCRIPTION %s DISABLE" % from_main)
    lab.stop_app(proxy_host, proxy)
    try:
        job = runner_jobs("status.yml")
        assert job.result.rc != 0 and job.result.status == "failed", job.stdout[-3000:]
        verdict, metrics = _status_verdict(job)
        enabled = lab.psql(secondary_db, "cfgdb", "SELECT subenabled FROM pg_subscription WHERE subname = '%s'" % from_main)
        assert enabled.stdout.strip() == "f"
        problems = [
            "replication: %s cfgdb has no running subscription from the other DR site (%s disabled_with_slot)" % (
                secondary_db.name, from_main),
            "application: %s on %s is stopped" % (proxy, proxy_host.name)]
        assert verdict["problems"] == problems and verdict["ready"] is False
        assert "not ready for a failover (2 problems" in job.stdout and "; ".join(problems) in job.stdout
        assert metrics["genesys_dr_ready"] == "0" and metrics["genesys_dr_problems"] == "2"
    finally:
        lab.psql(secondary_db, "cfgdb", "ALTER SUBSCRIPTION %s ENABLE" % from_main)
        lab.start_app(proxy_host, proxy)
    # The planned failover's gate needs the stream running again: wait for its apply worker.
    wait_until(lambda: lab.psql(secondary_db, "cfgdb", (
        "SELECT count(*) FROM pg_stat_subscription p JOIN pg_subscription s ON s.oid = p.subid"
        " WHERE s.subname = '%s' AND p.pid IS NOT NULL AND p.relid IS NULL") % from_main).stdout.strip() == "1",
        60, "%s streaming again" % from_main)

    job = runner_jobs("failover.yml", failover_mode="planned")
    job.assert_successful()
    report, markdown = job.report("failover", "planned")
    _no_secret(lab, job, json.dumps(report), markdown)
    assert job.artifact_data["genesys_dr_rpo"] == report["measures"]["rpo"]
    assert report["measures"]["rpo"]["wal_bytes_not_applied"] == 0
    assert report["measures"]["rto_s"] is not None
    assert _dr_state(lab).get("state") == "FAILED_OVER"
    assert lab.dig(lab.topo.dns_primary, lab.master_fqdn) == [secondary_mgmt.address]

    job = runner_jobs("reprotect.yml")
    job.assert_successful()
    report, markdown = job.report("reprotect", "reprotect")
    _no_secret(lab, job, json.dumps(report), markdown)
    assert _dr_state(lab).get("state") == "REPROTECTED"

    job = runner_jobs("failback.yml")
    job.assert_successful()
    report, markdown = job.report("failback", "planned")
    _no_secret(lab, job, json.dumps(report), markdown)
    assert _dr_state(lab).get("state") == "NORMAL"
    assert lab.dig(lab.topo.dns_primary, lab.master_fqdn) == [main_mgmt.address]

    # The main site is lost; the operator names it in the survey of the disaster job template.
    lab.labctl("fault", "site-loss", main)
    job = runner_jobs("failover.yml", failover_mode="disaster", failover_confirm_lost_site=main)
    job.assert_successful()
    report, markdown = job.report("failover", "disaster")
    _no_secret(lab, job, json.dumps(report), markdown)
    assert job.artifact_data["genesys_dr_rpo"] == report["measures"]["rpo"]
    assert report["measures"]["limited_mode_measured_from"].startswith("start of the run")
    assert job.artifact_data["genesys_dr_fencing"] == report["measures"]["fencing"]
    assert _dr_state(lab).get("state") == "FAILED_OVER"
    assert lab.dig(lab.topo.dns_primary, lab.master_fqdn) == [secondary_mgmt.address]

    # Back to NORMAL for the tests after this one, still as AWX jobs.
    lab.labctl("heal", main)
    for playbook, operation, mode in (("reprotect.yml", "reprotect", "reprotect"), ("failback.yml", "failback", "planned")):
        job = runner_jobs(playbook)
        job.assert_successful()
        job.report(operation, mode)
    assert _dr_state(lab).get("state") == "NORMAL"
