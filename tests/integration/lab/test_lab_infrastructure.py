"""The lab's real parts: SSH reachability, per-site resolution, TSIG-only DNS updates,
PostgreSQL clusters with the Genesys databases, partitions and site losses."""
import json
import os

from conftest import TOP, run, wait_until


def test_ansible_reaches_every_host_over_ssh(lab):
    proc = run([os.path.join(TOP, ".venv", "bin", "ansible"), "-i", os.path.join(TOP, "inventories", "lab"), "all",
                "-m", "ansible.builtin.command", "-a", "cat /proc/self/net/dev", "-o"],
               cwd=TOP, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(TOP, "ansible.cfg")))
    lines = [line for line in proc.stdout.splitlines() if "| CHANGED |" in line]
    assert sorted(line.split()[0] for line in lines) == sorted(h.name for h in lab.topo.hosts())
    # Each host answers from its own namespace: one eth0, not the controller's bridges.
    for line in lines:
        assert "eth0:" in line and "gdrbr" not in line, line


def test_hosts_resolve_through_their_site_secondary(lab):
    for site in lab.topo.dr_sites:
        app = site.host("app")
        resolv = lab.ns(app, ["cat", "/etc/resolv.conf"]).stdout
        first = [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")][0]
        assert first == site.host("dns").address
        main_mgmt = lab.site_host(lab.topo.main_site, "mgmt")
        assert lab.ns(app, ["getent", "hosts", lab.master_fqdn]).stdout.split()[0] == main_mgmt.address


def test_dns_accepts_signed_updates_only_and_notifies_secondaries(lab):
    name = "lab-test-record.genesys.example"
    unsigned = run(["nsupdate"], input="server %s\nupdate add %s 5 A 198.18.9.9\nsend\n"
                   % (lab.topo.dns_primary.address, name), check=False)
    assert unsigned.returncode != 0 and "REFUSED" in unsigned.stdout + unsigned.stderr
    assert lab.dig(lab.topo.dns_primary, name) == []

    bad = run(["nsupdate", "-y", "hmac-sha256:genesys-dr-key:" + "QUJD" * 11],
              input="server %s\nupdate add %s 5 A 198.18.9.9\nsend\n" % (lab.topo.dns_primary.address, name),
              check=False)
    assert bad.returncode != 0
    assert lab.dig(lab.topo.dns_primary, name) == []

    try:
        assert lab.nsupdate("update add %s 5 A 198.18.9.9" % name).returncode == 0
        for site in lab.topo.dr_sites:
            wait_until(lambda s=site: lab.dig(s.host("dns"), name) == ["198.18.9.9"], 15,
                       "NOTIFY + transfer to %s" % site.host("dns").name)
    finally:
        lab.nsupdate("update delete %s A" % name)


def test_postgres_clusters_hold_the_genesys_databases(lab):
    main = lab.site_host(lab.topo.main_site, "db")
    for site in lab.topo.dr_sites:
        db = site.host("db")
        if db is None:
            continue
        assert lab.psql(db, "postgres", "SHOW wal_level").stdout.strip() == "logical"
        dbs = lab.psql(db, "postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database").stdout
        assert "cfgdb" in dbs and "logdb" in dbs
        # The Genesys login roles are not superusers; no replication is configured yet.
        roles = lab.psql(db, "postgres", "SELECT rolname, rolsuper FROM pg_roles WHERE rolname LIKE 'genesys%' "
                                         "ORDER BY 1").stdout.split()
        assert "genesys_cs|f" in roles and "genesys_ms|f" in roles and "genesys_dr_admin|t" in roles
        assert lab.psql(db, "cfgdb", "SELECT count(*) FROM pg_subscription").stdout.strip() == "0"
        assert lab.psql(db, "cfgdb", "SELECT count(*) FROM pg_publication").stdout.strip() == "0"
    seeded = int(lab.psql(main, "cfgdb", "SELECT (SELECT count(*) FROM cfg_person) + (SELECT count(*) FROM cfg_dn)"
                                         " + (SELECT count(*) FROM cfg_agent_login)"
                                         " + (SELECT count(*) FROM cfg_application) + (SELECT count(*) FROM cfg_host)"
                          ).stdout)
    assert seeded >= 2000
    # The Configuration Server's own role can write at main (the install grants it).
    assert lab.psql(main, "cfgdb", "SELECT has_table_privilege('cfg_person', 'INSERT')", user="genesys_cs",
                    password=lab.secrets["db_cs_password"]).stdout.strip() == "t"


def test_partition_keeps_intra_site_traffic_and_cuts_cross_site(clean_lab):
    lab = clean_lab
    s1_app, s1_db = lab.site_host("site1", "app"), lab.site_host("site1", "db")
    s2_app, s2_db = lab.site_host("site2", "app"), lab.site_host("site2", "db")
    assert lab.tcp_connect(s1_app, s2_db.address, 5432)
    lab.labctl("fault", "partition", "site1")
    assert lab.tcp_connect(s1_app, s1_db.address, 5432)            # inside site1
    assert lab.tcp_connect(s2_app, s2_db.address, 5432)            # inside site2
    assert not lab.tcp_connect(s1_app, s2_db.address, 5432)        # site1 -> site2
    assert not lab.tcp_connect(s2_app, s1_db.address, 5432)        # site2 -> site1
    assert not lab.tcp_connect(lab.topo.dns_primary, s1_db.address, 5432)
    # Nothing was killed: site1's database still runs.
    assert lab.psql(s2_db, "postgres", "SELECT 1").stdout.strip() == "1"
    lab.labctl("heal", "site1")
    assert lab.tcp_connect(s2_app, s1_db.address, 5432)


def test_site_loss_kills_every_process_and_heal_brings_back_infrastructure_only(clean_lab):
    lab = clean_lab
    site = lab.topo.site("site1")
    proxy = site.host("app")
    lab.start_app(lab.site_host("site1", "mgmt"), "confserv_site1_primary")
    lab.start_app(proxy, "csproxy_site1_primary")
    before = {h.name: run(["ip", "netns", "pids", h.netns]).stdout.split() for h in site.hosts}
    assert all(before.values()), before

    lab.labctl("fault", "site-loss", "site1")
    for host in site.hosts:
        assert run(["ip", "netns", "pids", host.netns]).stdout.split() == [], host.name
    assert not lab.tcp_connect(lab.site_host("site2", "app"), site.host("db").address, 5432)
    status = lab.labctl("status").stdout
    assert "faults: site1=site-loss" in status

    lab.labctl("heal", "site1")
    db = site.host("db")
    wait_until(lambda: lab.psql(db, "postgres", "SELECT 1", check=False).stdout.strip() == "1", 30,
               "PostgreSQL at site1 after heal")
    assert not lab.app_pids(lab.site_host("site1", "mgmt"), "confserv_site1_primary")
    assert not lab.app_pids(proxy, "csproxy_site1_primary")
    assert lab.dig(site.host("dns"), lab.master_fqdn)          # its secondary DNS serves again
    faults = json.loads(open(os.path.join(lab_state(), "faults.json")).read())
    assert faults == {}


def lab_state():
    from genesys_lab.topology import state_dir  # pylint: disable=import-outside-toplevel
    return state_dir()
