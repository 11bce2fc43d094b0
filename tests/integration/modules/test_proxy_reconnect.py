"""genesys_dr.framework.proxy_reconnect against the lab's simulated proxies and masters,
through real Ansible over SSH.

The switch is real: the master name's A record is changed on the lab BIND (every site's
secondary serves it before the module runs), the proxies resolve it through their site's
secondary. What the proxies hold is read back without the module's code: the proxy host's
own /proc/net/tcp (inside its namespace) matched against /proc/<pid>/fd of the proxy
pids, and the proxy's own status through the simulator's client. Every test that moves the
master name puts it back at the main site.
"""
import contextlib
import subprocess
import sys
import time

from conftest import wait_until
from test_app import (CS, CS_BACKUP, PROXY, TCP_ESTABLISHED, log_since, log_size, netns_pids, ok, retried_when_disturbed,
                      socket_inodes, start_app, status, tcp_table)

MODULE = "genesys_dr.framework.proxy_reconnect"
PROXY_BACKUP = 2031
PROXY_PORTS = {"primary": PROXY, "backup": PROXY_BACKUP}


def proxies(site):
    return {"csproxy_%s_%s" % (site, role): port for role, port in PROXY_PORTS.items()}


def tuple_endpoint(text):
    address, port = text.rsplit(":", 1)
    return address, int(port)


def established(lab, host, pids):
    """{pid: [remote (address, port)]} of the ESTABLISHED TCP connections each pid holds."""
    rows = [(remote, inode) for dummy, remote, state, inode in tcp_table(lab, host) if state == TCP_ESTABLISHED]
    return {pid: sorted(remote for remote, inode in rows if inode in socket_inodes(pid)) for pid in pids}


def connections_to(lab, host, address):
    """Every ESTABLISHED connection of the host (any process) to a master port at address, as
    (local, remote)."""
    return [(local, remote) for local, remote, state, dummy in tcp_table(lab, host)
            if remote[0] == address and remote[1] in (CS, CS_BACKUP) and state == TCP_ESTABLISHED]


@contextlib.contextmanager
def app_connected_to(lab, proxy_host, port):
    """An application holding a connection to the proxy (as every Genesys app at a site
    does): an inbound connection the proxy accepted, not one it made."""
    code = ("import socket, time\n"
            "s = socket.create_connection((%r, %d), timeout=5)\n"
            "print(s.getsockname()[1], flush=True)\n"
            "time.sleep(120)\n") % (proxy_host.address, port)
    client = subprocess.Popen(["ip", "netns", "exec", proxy_host.netns, sys.executable, "-c", code],
                              stdout=subprocess.PIPE, text=True)
    try:
        local_port = int(client.stdout.readline())
        yield "%s:%d" % (proxy_host.address, local_port)
    finally:
        client.kill()
        client.wait()


def start_proxies(lab, host):
    pids = {}
    for name in proxies(host.site):
        pids[name] = start_app(lab, host, name)
    return pids


def wait_connected(lab, host, master, port=CS):
    for name, proxy_port in proxies(host.site).items():
        wait_until(lambda p=proxy_port: (status(lab, host, p) or {}).get("master") == "%s:%d" % (master.address, port), 25,
                   "%s to be connected to %s:%d" % (name, master.address, port))


def reconnect(lab, host, addresses, check=False, diff=False, **extra):
    args = {"name": sorted(proxies(host.site)), "master_address": [a.address if hasattr(a, "address") else a for a in addresses],
            "master_ports": [CS, CS_BACKUP], "master_name": "{{ genesys_master_name }}"}
    args.update(extra)
    result = lab.ansible(host.name, MODULE, args, check=check, diff=diff)[host.name]
    assert "unreachable" not in result, result
    return result


def sighup_count(lab, host, offsets):
    return sum(log_since(lab, host, name, offsets[name]).count(" 22009 SIGHUP received") for name in offsets)


def assert_module_saw(result, lab, host, pids, master, port=CS):
    """The module's report matches the proxy host's socket table and the proxies' status."""
    endpoint = "%s:%d" % (master.address, port)
    assert result["connected"] is True
    assert sorted(result["proxies"], key=lambda p: p["name"]) == [
        {"name": name, "pids": pids[name], "connected": True, "master": endpoint} for name in sorted(pids)]
    held = established(lab, host, [pid for p in pids.values() for pid in p])
    for name, proxy_port in proxies(host.site).items():
        reply = status(lab, host, proxy_port)
        assert reply["mode"] == "normal" and reply["master"] == endpoint and [reply["pid"]] == pids[name], reply
        assert (master.address, port) in held[pids[name][0]]
        reported = [c for c in result["connections"] if c["name"] == name and c["state"] == "ESTABLISHED"]
        assert endpoint in [c["remote"] for c in reported]
        assert sorted(tuple(c["remote"].rsplit(":", 1)) for c in reported) == sorted(
            (a, str(p)) for a, p in held[pids[name][0]])


@retried_when_disturbed
def test_proxies_follow_the_master_name_to_site2(clean_lab):
    lab = clean_lab
    s1_mgmt, s1_app = lab.site_host("site1", "mgmt"), lab.site_host("site1", "app")
    s2_mgmt, s2_app = lab.site_host("site2", "mgmt"), lab.site_host("site2", "app")
    start_app(lab, s1_mgmt, "confserv_site1_primary")
    start_app(lab, s2_mgmt, "confserv_site2_primary")
    s1_pids = start_proxies(lab, s1_app)
    s2_pids = start_proxies(lab, s2_app)
    wait_connected(lab, s1_app, s1_mgmt)
    wait_connected(lab, s2_app, s1_mgmt)

    # Before the switch the proxies already hold the master the name gives: nothing to do.
    steady = ok(reconnect(lab, s1_app, [s1_mgmt]))
    assert steady["changed"] is False and steady["signalled"] == [] and steady["caches_flushed"] == []
    assert_module_saw(steady, lab, s1_app, s1_pids, s1_mgmt)

    try:
        lab.set_master_record(s2_mgmt.address)
        offsets = {name: log_size(lab, s1_app, name) for name in s1_pids}

        # Check mode: would signal both proxies, signals none; they stay with site1.
        would = ok(reconnect(lab, s1_app, [s2_mgmt], check=True, diff=True))
        assert would["changed"] is True and would["connected"] is False
        assert sorted(would["signalled"]) == sorted(pid for p in s1_pids.values() for pid in p)
        assert all(p["connected"] is False and p["master"] == "" for p in would["proxies"])
        assert "+csproxy_site1_primary: connected to a master in %s" % s2_mgmt.address in lab.last_ansible_output
        time.sleep(3)
        assert sighup_count(lab, s1_app, offsets) == 0
        for name, proxy_port in proxies("site1").items():
            assert status(lab, s1_app, proxy_port)["master"] == "%s:%d" % (s1_mgmt.address, CS)
        assert not connections_to(lab, s1_app, s2_mgmt.address)

        result = ok(reconnect(lab, s1_app, [s2_mgmt], diff=True))
        assert result["changed"] is True
        assert sorted(result["signalled"]) == sorted(pid for p in s1_pids.values() for pid in p)
        assert sighup_count(lab, s1_app, offsets) == 2        # one SIGHUP each, as the proxies logged
        assert_module_saw(result, lab, s1_app, s1_pids, s2_mgmt)
        assert "-csproxy_site1_primary: not connected to the master\n" in lab.last_ansible_output
        assert "+csproxy_site1_primary: connected to %s:%d" % (s2_mgmt.address, CS) in lab.last_ansible_output
        # Read back on the proxy host itself: ESTABLISHED to site2's master on 2020, held by the
        # proxies; nothing left established to the old master.
        to_site2 = connections_to(lab, s1_app, s2_mgmt.address)
        assert sorted(remote for dummy, remote in to_site2) == [(s2_mgmt.address, CS)] * 2
        assert connections_to(lab, s1_app, s1_mgmt.address) == []
        assert all(pid in netns_pids(s1_app) for p in s1_pids.values() for pid in p)

        again = ok(reconnect(lab, s1_app, [s2_mgmt]))
        assert again["changed"] is False and again["signalled"] == []
        assert_module_saw(again, lab, s1_app, s1_pids, s2_mgmt)
        assert sighup_count(lab, s1_app, offsets) == 2

        # The other site's proxy host, its own resolver path (site2's secondary).
        other = ok(reconnect(lab, s2_app, [s2_mgmt]))
        assert other["changed"] is True
        assert sorted(other["signalled"]) == sorted(pid for p in s2_pids.values() for pid in p)
        assert_module_saw(other, lab, s2_app, s2_pids, s2_mgmt)
        assert sorted(remote for dummy, remote in connections_to(lab, s2_app, s2_mgmt.address)) == [(s2_mgmt.address, CS)] * 2
        assert connections_to(lab, s2_app, s1_mgmt.address) == []
    finally:
        lab.set_master_record(s1_mgmt.address)


@retried_when_disturbed
def test_timeout_says_what_the_proxies_hold_instead(clean_lab):
    lab = clean_lab
    s1_mgmt, s1_app = lab.site_host("site1", "mgmt"), lab.site_host("site1", "app")
    s2_mgmt = lab.site_host("site2", "mgmt")
    start_app(lab, s1_mgmt, "confserv_site1_primary")
    pids = start_proxies(lab, s1_app)
    wait_connected(lab, s1_app, s1_mgmt)

    # The run expects site2's master, but nothing runs there and the name still gives site1.
    began = time.monotonic()
    with app_connected_to(lab, s1_app, PROXY) as inbound:
        result = reconnect(lab, s1_app, [s2_mgmt], timeout=5)
        # What the host holds: each proxy its connection to site1's master, the primary
        # also the one its client opened.
        held = established(lab, s1_app, [p[0] for p in pids.values()])
    assert time.monotonic() - began < 60
    assert result.get("failed") is True, result
    assert result["connected"] is False and result["changed"] is True
    msg = result["msg"]
    assert msg.startswith("not connected to the master (%s, port %d/%d) within 5 s: " % (s2_mgmt.address, CS, CS_BACKUP)), msg
    for name in sorted(pids):
        assert "%s (pid %d) is connected to %s:%d instead (the old master?)" % (name, pids[name][0], s1_mgmt.address, CS) in msg
    assert "this host resolves %s to %s, not to %s" % (lab.master_fqdn, s1_mgmt.address, s2_mgmt.address) in msg
    # The application connected to the proxy is no master the proxy holds.
    assert inbound in [c["remote"] for c in result["connections"]]
    assert inbound not in msg
    assert held == {pids["csproxy_site1_primary"][0]: sorted([(s1_mgmt.address, CS), tuple_endpoint(inbound)]),
                    pids["csproxy_site1_backup"][0]: [(s1_mgmt.address, CS)]}


@retried_when_disturbed
def test_timeout_in_limited_mode_and_absent_proxy(clean_lab):
    lab = clean_lab
    s1_mgmt, s1_app = lab.site_host("site1", "mgmt"), lab.site_host("site1", "app")
    # No proxy runs: the module names the one to start, and waits for nothing.
    absent = reconnect(lab, s1_app, [s1_mgmt])
    assert absent.get("failed") is True and absent["changed"] is False
    assert absent["msg"].startswith('no process with "-app csproxy_site1_backup", "-app csproxy_site1_primary" runs on this host')
    assert absent["signalled"] == []

    # A proxy without any master (limited mode), only a client connected to it.
    pid = start_app(lab, s1_app, "csproxy_site1_primary")[0]
    assert (status(lab, s1_app, PROXY) or {}).get("mode") == "limited"
    with app_connected_to(lab, s1_app, PROXY) as inbound:
        result = reconnect(lab, s1_app, [s1_mgmt], name=["csproxy_site1_primary"], timeout=3)
        # What the host holds: the proxy has that one connection, accepted from its client.
        assert established(lab, s1_app, [pid]) == {pid: [tuple_endpoint(inbound)]}
    assert result.get("failed") is True and result["connected"] is False and result["signalled"] == [pid]
    assert [(c["local"], c["remote"]) for c in result["connections"]] == [("%s:%d" % (s1_app.address, PROXY), inbound)]
    # The application connected to it is not mistaken for a master connection.
    assert ("csproxy_site1_primary (pid %d) holds no outgoing TCP connection, only 1 from its clients (limited mode: it "
            "cannot reach any master)" % pid) in result["msg"]
    assert "this host resolves %s to %s, as expected" % (lab.master_fqdn, s1_mgmt.address) in result["msg"]
