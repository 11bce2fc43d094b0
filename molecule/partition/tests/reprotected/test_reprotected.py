"""After heal and reprotect: the old main was fenced first, its partition write archived."""
import os

import checks


def test_reprotected(lab, report_dir):
    archive = checks.assert_reprotected(lab, report_dir)
    with open(os.path.join(report_dir, "partition_write.txt")) as handle:
        name = handle.read().strip()
    main_db = lab.one("db_hosts", lab.main_site)
    assert name in checks.archived_names(lab, main_db, archive["path"]), "the acknowledged partition write is not in the archive"
    assert archive["divergent_rows"].get("public.cfg_person", 0) >= 1, archive


def test_old_main_fenced_before_anything_else(report_dir):
    steps = [s["name"] for s in checks.latest_report(report_dir, "reprotect")["steps"]]
    fence = min(i for i, s in enumerate(steps) if s.startswith("Fence the restored main"))
    later = [i for i, s in enumerate(steps) if s.startswith(("Replication", "Record", "Every restored site"))]
    assert later and fence < min(later), steps
    fencing = checks.latest_report(report_dir, "reprotect")["measures"]["fencing"]
    assert fencing and set(fencing.values()) == {"done"}
