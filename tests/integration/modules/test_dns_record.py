"""genesys_dr.framework.dns_record against the lab's real BIND servers, through real Ansible.

Pattern of community.postgresql's integration tests: call the module, assert its result,
read the real state back independently (dig against the primary and every site's
secondary, the primary's update journal for what was sent), call again and assert
changed=false, and run in check mode to show that nothing is sent.

Other engineers use the lab at the same time, so the zone serial may move under a test:
"the zone was not touched" is proven from the primary's journal (no transaction since the
test's starting serial names the test's records), not from a bare serial comparison.
"""
import base64
import os
import time
import uuid

import pytest

from conftest import TSIG_KEY_NAME, ZONE, run, wait_until
from genesys_lab.topology import state_dir  # on sys.path through conftest

MODULE = "genesys_dr.framework.dns_record"
# Addresses from the lab's never-routed range that no lab host uses.
IP1, IP2, IP3, IP4 = "198.18.9.11", "198.18.9.12", "198.18.9.13", "198.18.9.14"


# --------------------------------------------------------------------------- helpers

def dns_servers(lab):
    """The primary and each site's secondary: every server that must serve the zone."""
    return [lab.topo.dns_primary] + [site.host("dns") for site in lab.topo.dr_sites]


def verify_list(lab, skip=None):
    """The verify_servers option for every server; skip: {host name: reason}."""
    servers = []
    for host in dns_servers(lab):
        entry = dict(name=host.name, address=host.address)
        if skip and host.name in skip:
            entry.update(skip=True, skip_reason=skip[host.name])
        servers.append(entry)
    return servers


def dns_args(lab, records, **extra):
    args = dict(server=lab.topo.dns_primary.address, zone=ZONE, key_file=os.path.join(state_dir(), "secrets", "tsig.key"),
                records=records)
    args.update(extra)
    return args


def call(lab, args, host="localhost", check=False, diff=False):
    result = lab.ansible(host, MODULE, args, check=check, diff=diff)[host]
    assert "unreachable" not in result, result
    return result


def soa_serial(server):
    out = run(["dig", "+short", "+time=1", "+tries=1", "@" + server.address, ZONE, "SOA"], check=False).stdout.split()
    return int(out[2]) if len(out) >= 3 else None


def transactions_touching(lab, names, since_serial):
    """Journal transactions applied after since_serial that delete or add a record at one of names."""
    names = {n.lower().rstrip(".") + "." for n in names}
    return [t for t in lab.zone_journal()
            if t["old"] >= since_serial and any(r[0] in names for r in t["deleted"] + t["added"])]


def assert_zone_untouched(lab, names, since_serial):
    touched = transactions_touching(lab, names, since_serial)
    assert touched == [], "the zone was changed at %s: %s" % (names, touched)


def transaction_adding(lab, record):
    """The one journal transaction that added record (name, type, rdata)."""
    found = [t for t in lab.zone_journal() if record in t["added"]]
    assert len(found) == 1, "expected one transaction adding %s, found %s" % (record, found)
    return found[0]


def assert_served_everywhere(lab, name, rtype, expected):
    """What each server answers NOW, without waiting (dig +short, unsigned)."""
    answers = {host.name: lab.dig(host, name, rtype) for host in dns_servers(lab)}
    assert answers == {host.name: sorted(expected) for host in dns_servers(lab)}


def wait_served_everywhere(lab, name, rtype, expected, timeout=30):
    for host in dns_servers(lab):
        wait_until(lambda h=host: lab.dig(h, name, rtype) == sorted(expected), timeout,
                   "%s to serve %s %s %s" % (host.name, name, rtype, expected))


def assert_servers_in_sync(result, names, serial):
    servers = {s["name"]: s for s in result["servers"]}
    assert sorted(servers) == sorted(names)
    for name in names:
        entry = servers[name]
        assert entry["skipped"] is False and entry["error"] is None, entry
        assert entry["in_sync"] is True, entry
        assert entry["serial"] >= serial, entry


@pytest.fixture
def name(lab):
    """A record name of this test's own; everything at it (and at _info.<it>) is deleted afterwards."""
    fqdn = "it-dns-%s.%s" % (uuid.uuid4().hex[:10], ZONE)
    yield fqdn
    proc = lab.nsupdate("update delete %s\nupdate delete _info.%s" % (fqdn, fqdn))
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- tests

def test_single_a_record_reaches_every_server_and_second_run_changes_nothing(lab, name):
    start = soa_serial(lab.topo.dns_primary)
    args = dns_args(lab, [dict(name=name, type="A", value=[IP1], ttl=5)], verify_servers=verify_list(lab))

    result = call(lab, args, diff=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    record = result["records"][0]
    assert record["name"] == name + "." and record["type"] == "A" and record["changed"] is True
    assert record["before"] == dict(exists=False, ttl=None, value=[], rdata=[])
    assert record["after"] == dict(exists=True, ttl=5, value=[IP1], rdata=[IP1])
    assert result["update"]["sent"] is True and result["update"]["zone"] == ZONE + "."
    assert result["update"]["prerequisites"] == []
    assert result["update"]["changes"] == ["update delete %s. A" % name, "update add %s. 5 A %s" % (name, IP1)]
    # Ansible displays the diff (the --tree result does not keep it).
    assert "--- before: zone %s.\n+++ after: zone %s.\n@@ -0,0 +1 @@\n+%s. 5 IN A %s\n" % (ZONE, ZONE, name, IP1) \
        in lab.last_ansible_output

    # Read back independently: the primary's journal holds exactly one transaction for it...
    sent = transaction_adding(lab, (name + ".", "A", IP1))
    assert sent["old"] >= start and sent["new"] == sent["old"] + 1
    assert start < sent["new"] <= result["serial"]
    # ...and, because the module waited, every server already serves it (no polling here).
    assert_servers_in_sync(result, [h.name for h in dns_servers(lab)], sent["new"])
    assert_served_everywhere(lab, name, "A", [IP1])
    for host in dns_servers(lab):
        assert soa_serial(host) >= sent["new"], host.name

    again = call(lab, args)
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False
    assert again["update"]["sent"] is False and again["update"]["changes"] == []
    assert again["records"][0]["before"] == again["records"][0]["after"] == record["after"]
    assert_zone_untouched(lab, [name], sent["new"])
    assert_served_everywhere(lab, name, "A", [IP1])


def test_check_mode_reports_the_update_and_sends_nothing(lab, name):
    assert lab.nsupdate("update add %s 5 A %s" % (name, IP1)).returncode == 0
    wait_served_everywhere(lab, name, "A", [IP1])
    start = soa_serial(lab.topo.dns_primary)

    result = call(lab, dns_args(lab, [dict(name=name, type="A", value=[IP2])], verify_servers=verify_list(lab)),
                  check=True, diff=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert result["update"]["sent"] is False
    assert result["update"]["changes"] == ["update delete %s. A" % name, "update add %s. 5 A %s" % (name, IP2)]
    record = result["records"][0]
    assert record["before"]["value"] == [IP1] and record["after"]["value"] == [IP2]
    assert "-%s. 5 IN A %s\n+%s. 5 IN A %s\n" % (name, IP1, name, IP2) in lab.last_ansible_output
    # Each server was asked once and reported what it serves: the old data.
    for server in result["servers"]:
        assert server["answer"] == {"%s. A" % name: [IP1]} and server["in_sync"] is False, server

    # A record that does not exist yet is not created either.
    new = "new-" + name
    created = call(lab, dns_args(lab, [dict(name=new, type="TXT", value=["check mode"])]), check=True)
    assert created["changed"] is True and created["update"]["sent"] is False

    assert_zone_untouched(lab, [name, new], start)
    assert_served_everywhere(lab, name, "A", [IP1])
    assert_served_everywhere(lab, new, "TXT", [])


def test_a_and_txt_change_together_in_one_update(lab, name):
    info = "_info." + name
    start = soa_serial(lab.topo.dns_primary)
    records = [dict(name=name, type="A", value=[IP1, IP2], ttl=5),
               dict(name=info, type="TXT", value=["owner=integration-test", "note=two words"], ttl=5)]

    result = call(lab, dns_args(lab, records, verify_servers=verify_list(lab)))
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and [r["changed"] for r in result["records"]] == [True, True]
    assert result["records"][1]["after"]["value"] == ["owner=integration-test", "note=two words"]

    # One journal transaction, one serial step, holds both records.
    sent = transaction_adding(lab, (name + ".", "A", IP1))
    assert sent["new"] == sent["old"] + 1 and sent["old"] >= start
    assert sorted(sent["added"]) == sorted([(name + ".", "A", IP1), (name + ".", "A", IP2),
                                            (info + ".", "TXT", '"owner=integration-test" "note=two words"')])
    assert_served_everywhere(lab, name, "A", [IP1, IP2])
    for host in dns_servers(lab):
        assert lab.dig_txt(host, info) == [["owner=integration-test", "note=two words"]], host.name

    # Changing both again is again one transaction: old data out, new data in, together.
    records = [dict(name=name, type="A", value=[IP3]), dict(name=info, type="TXT", value=["owner=integration-test"])]
    second = call(lab, dns_args(lab, records, verify_servers=verify_list(lab)))
    assert not second.get("failed"), second.get("msg")
    swap = transaction_adding(lab, (name + ".", "A", IP3))
    assert swap["new"] == swap["old"] + 1
    assert (info + ".", "TXT", '"owner=integration-test"') in swap["added"]
    assert sorted(swap["deleted"]) == sorted([(name + ".", "A", IP1), (name + ".", "A", IP2),
                                              (info + ".", "TXT", '"owner=integration-test" "note=two words"')])
    assert_served_everywhere(lab, name, "A", [IP3])
    for host in dns_servers(lab):
        assert lab.dig_txt(host, info) == [["owner=integration-test"]], host.name

    assert call(lab, dns_args(lab, records))["changed"] is False


def test_compare_and_swap_applies_only_while_the_record_is_as_expected(lab, name):
    # expect: [] creates only what does not exist yet.
    created = call(lab, dns_args(lab, [dict(name=name, type="A", value=[IP1], ttl=5, expect=[])]))
    assert not created.get("failed"), created.get("msg")
    assert created["update"]["prerequisites"] == ["prereq nxrrset %s. A" % name]
    assert created["records"][0]["compare_and_swap"] == "expected"

    swapped = call(lab, dns_args(lab, [dict(name=name, type="A", value=[IP2], expect=[IP1])], verify_servers=verify_list(lab)))
    assert not swapped.get("failed"), swapped.get("msg")
    assert swapped["changed"] is True and swapped["records"][0]["compare_and_swap"] == "expected"
    assert swapped["update"]["prerequisites"] == ["prereq yxrrset %s. A %s" % (name, IP1)]
    assert_served_everywhere(lab, name, "A", [IP2])

    # A re-run after the switch: the expectation is met by the result, nothing is sent.
    rerun = call(lab, dns_args(lab, [dict(name=name, type="A", value=[IP2], expect=[IP1])]))
    assert not rerun.get("failed"), rerun.get("msg")
    assert rerun["changed"] is False and rerun["records"][0]["compare_and_swap"] == "already_target"

    # Someone else moves the record; a switch that still believes it is at IP2 is refused.
    assert lab.nsupdate("update delete %s A\nupdate add %s 5 A %s" % (name, name, IP3)).returncode == 0
    wait_served_everywhere(lab, name, "A", [IP3])
    start = soa_serial(lab.topo.dns_primary)
    refused = call(lab, dns_args(lab, [dict(name=name, type="A", value=[IP4], expect=[IP2])], verify_servers=verify_list(lab)))
    assert refused.get("failed") is True
    assert refused["changed"] is False and refused["update"]["sent"] is False
    msg = refused["msg"]
    assert "compare-and-swap refused, nothing was changed" in msg
    assert "%s. A" % name in msg and "expected ['%s']" % IP2 in msg and "the primary serves ['%s']" % IP3 in msg
    assert_zone_untouched(lab, [name], start)
    assert_served_everywhere(lab, name, "A", [IP3])


def test_bad_key_secret_and_unknown_key_fail_distinctly_and_change_nothing(lab, name):
    start = soa_serial(lab.topo.dns_primary)
    wrong_secret = base64.b64encode(os.urandom(32)).decode()
    assert wrong_secret != lab.secrets["tsig_secret"]
    record = [dict(name=name, type="A", value=[IP1])]
    base = dict(server=lab.topo.dns_primary.address, zone=ZONE, records=record, verify_servers=verify_list(lab))

    bad_secret = call(lab, dict(base, key_name=TSIG_KEY_NAME, key_secret=wrong_secret))
    assert bad_secret.get("failed") is True and bad_secret["changed"] is False
    assert "BADSIG" in bad_secret["msg"] and "the key secret differs from the server's" in bad_secret["msg"]
    assert TSIG_KEY_NAME in bad_secret["msg"] and lab.topo.dns_primary.address in bad_secret["msg"]
    assert bad_secret["update"]["sent"] is False and bad_secret["serial"] is None

    unknown = call(lab, dict(base, key_name="no-such-key", key_secret=lab.secrets["tsig_secret"]))
    assert unknown.get("failed") is True
    assert "BADKEY" in unknown["msg"] and 'does not know TSIG key "no-such-key"' in unknown["msg"]
    assert "BADSIG" not in unknown["msg"] and "BADKEY" not in bad_secret["msg"]

    for result in (bad_secret, unknown):
        text = repr(result)
        assert wrong_secret not in text and lab.secrets["tsig_secret"] not in text
    assert wrong_secret not in lab.last_ansible_output and lab.secrets["tsig_secret"] not in lab.last_ansible_output
    assert_zone_untouched(lab, [name], start)
    assert_served_everywhere(lab, name, "A", [])


def test_runs_on_a_site_host_with_debian_python_and_inventory_variables(lab, name):
    host = lab.site_host("site2", "app").name
    version = lab.ansible(host, "ansible.builtin.command", {"cmd": "/usr/bin/python3 -c 'import dns.version; print(dns.version.version)'"})
    assert version[host]["stdout"].startswith("2.3"), version[host]
    args = dict(server="{{ genesys_dns_primary }}", zone="{{ genesys_zone }}", key_file="{{ genesys_tsig_key_file }}",
                records=[dict(name=name, type="A", value=[IP1], ttl=5)], verify_servers=verify_list(lab))

    created = call(lab, args, host=host)
    assert not created.get("failed"), created.get("msg")
    assert created["changed"] is True and created["records"][0]["after"]["value"] == [IP1]
    assert_servers_in_sync(created, [h.name for h in dns_servers(lab)], transaction_adding(lab, (name + ".", "A", IP1))["new"])
    assert_served_everywhere(lab, name, "A", [IP1])
    assert call(lab, args, host=host)["changed"] is False

    args["records"] = [dict(name=name, type="A", state="absent")]
    removed = call(lab, args, host=host)
    assert not removed.get("failed"), removed.get("msg")
    assert removed["changed"] is True and removed["records"][0]["after"]["exists"] is False
    assert removed["update"]["changes"] == ["update delete %s. A" % name]
    assert_served_everywhere(lab, name, "A", [])
    assert call(lab, args, host=host)["changed"] is False


def test_verification_gives_up_a_secondary_that_is_cut_off_and_it_catches_up_when_healed(clean_lab, name):
    """A secondary cut off by a partition gives no answer: after the per-query timeout it is
    reported (answered false, a warning), not waited for, and the task does not fail - the
    update is done at the primary. Healed, the secondary serves it by itself (dig)."""
    lab = clean_lab
    cut_off = lab.site_host("site1", "dns")
    alive = [h for h in dns_servers(lab) if h.name != cut_off.name]
    lab.labctl("fault", "partition", "site1")
    try:
        began = time.monotonic()
        result = call(lab, dns_args(lab, [dict(name=name, type="A", value=[IP1], ttl=5)], verify_servers=verify_list(lab),
                                    timeout=1, verify_timeout=90))
        elapsed = time.monotonic() - began
        output = " ".join(lab.last_ansible_output.split())
    finally:
        lab.labctl("heal", "site1")
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    # Given up after about the per-query timeout, not polled until the 90 s deadline.
    assert elapsed < 90
    assert "[WARNING]: DNS server %s did not answer for 1 s and was not verified" % cut_off.name in output, output
    by_name = {s["name"]: s for s in result["servers"]}
    assert by_name[cut_off.name]["answered"] is False and by_name[cut_off.name]["in_sync"] is False
    sent = transaction_adding(lab, (name + ".", "A", IP1))
    assert_servers_in_sync(dict(servers=[by_name[h.name] for h in alive]), [h.name for h in alive], sent["new"])
    wait_until(lambda: lab.dig(cut_off, name) == [IP1], 60, "%s to serve %s after heal" % (cut_off.name, name))
    assert soa_serial(cut_off) >= sent["new"]


def test_lost_site_secondary_is_skipped_or_reported_as_not_answering(clean_lab, name):
    lab = clean_lab
    lost = lab.site_host("site1", "dns")
    alive = [lab.topo.dns_primary, lab.site_host("site2", "dns")]
    lab.labctl("fault", "site-loss", "site1")
    try:
        skipped = call(lab, dns_args(lab, [dict(name=name, type="A", value=[IP1], ttl=5)],
                                     verify_servers=verify_list(lab, skip={lost.name: "site1 is lost (integration test)"}),
                                     timeout=1, verify_timeout=20))
        skip_output = " ".join(lab.last_ansible_output.split())
        assert not skipped.get("failed"), skipped.get("msg")
        assert skipped["changed"] is True
        assert "[WARNING]: DNS server %s was not verified: site1 is lost (integration test)" % lost.name in skip_output
        by_name = {s["name"]: s for s in skipped["servers"]}
        assert by_name[lost.name]["skipped"] is True and by_name[lost.name]["in_sync"] is None
        assert by_name[lost.name]["serial"] is None
        assert_servers_in_sync(dict(servers=[by_name[h.name] for h in alive]), [h.name for h in alive], skipped["serial"])
        for host in alive:
            assert lab.dig(host, name) == [IP1], host.name

        # Not marked lost: it gives no answer, so it is reported and not waited for; the task does
        # not fail (the update is done at the primary; a server answering OLD data would fail it).
        began = time.monotonic()
        unverified = call(lab, dns_args(lab, [dict(name=name, type="A", value=[IP2])], verify_servers=verify_list(lab),
                                        timeout=1, verify_timeout=12))
        elapsed = time.monotonic() - began
        output = " ".join(lab.last_ansible_output.split())
        assert not unverified.get("failed"), unverified.get("msg")
        assert "[WARNING]: DNS server %s did not answer for 1 s and was not verified" % lost.name in output, output
        assert elapsed < 12
        assert unverified["update"]["sent"] is True
        by_name = {s["name"]: s for s in unverified["servers"]}
        assert by_name[lost.name]["answered"] is False and by_name[lost.name]["error"]
        for host in alive:
            assert by_name[host.name]["in_sync"] is True
            assert lab.dig(host, name) == [IP2], host.name
    finally:
        lab.labctl("heal", "site1")
    # Back from the dead, the secondary transfers the zone again.
    wait_until(lambda: lab.dig(lost, name) == [IP2], 60, "%s to serve %s after heal" % (lost.name, name))
