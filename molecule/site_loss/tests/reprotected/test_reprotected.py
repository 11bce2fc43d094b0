"""After the main site came back and reprotect ran."""
import checks


def test_reprotected(lab, report_dir):
    archive = checks.assert_reprotected(lab, report_dir)
    main_db = lab.one("db_hosts", lab.main_site)
    # the archive is a readable pg_dump of the main's cfgdb as it was before the copy: it
    # holds the seeded configuration every site has had since the install
    archived = checks.archived_names(lab, main_db, archive["path"])
    seeded = {name for name in checks.person_names(lab, main_db) if name.startswith("person_")}
    assert seeded and seeded <= archived
