"""Configuration Server Proxy: limited mode, heartbeat, SIGHUP, name resolution."""

import contextlib
import json
import signal
import socket
import threading
import time

from simtest import SITE, confserv_sections, free_port, mode_is, proxy_sections, wait_for
from genesys_sim.proxy import CSProxy


def start_master(sim, pg, port=None, name="CS", listen_host="127.0.0.1"):
    return sim.start("confserv", name, "127.0.0.1", port or free_port(),
                     confserv_sections(pg, listen_host=listen_host))


def test_limited_mode_refuses_writes_serves_reads_and_ends_when_the_master_returns(pg, installed, sim):
    master = start_master(sim, pg)
    proxy = sim.start("csproxy", "PX", "localhost", master.port, proxy_sections(free_port()))
    assert proxy.request({"op": "put", "type": "CfgPerson", "name": "ut_cached", "data": {"v": 1}})["ok"]
    cached = proxy.status()["cached_objects"]

    master.stop(signal.SIGTERM)
    wait_for(lambda: mode_is(proxy, "limited"), 3, "limited mode")
    status = proxy.status()
    assert status["master"] is None and status["master_name"] == "localhost"
    assert ("Alarm 22002 Connection to master Configuration Server 127.0.0.1:%d lost" % master.port) in proxy.log()
    refused = proxy.request({"op": "put", "type": "CfgPerson", "name": "ut_cached", "data": {"v": 2}})
    assert refused["ok"] is False and refused["code"] == "limited_mode"
    assert "limited mode" in refused["error"]
    assert proxy.request({"op": "get", "type": "CfgPerson", "name": "ut_cached"})["object"]["data"] == {"v": 1}
    assert len(proxy.request({"op": "list"})["objects"]) == cached

    master = start_master(sim, pg, port=master.port)
    wait_for(lambda: mode_is(proxy, "normal"), 4, "normal mode after the master returned")
    assert proxy.request({"op": "put", "type": "CfgPerson", "name": "ut_cached", "data": {"v": 3}})["ok"]


def test_a_silent_master_is_detected_by_the_heartbeat(pg, installed, sim):
    master = start_master(sim, pg)
    proxy = sim.start("csproxy", "PX", "127.0.0.1", master.port, proxy_sections(free_port()))
    master.send_signal(signal.SIGSTOP)
    try:
        # Sent before the heartbeat gives up: the master never answers it.
        in_flight = proxy.request({"op": "put", "type": "CfgDN", "name": "ut_in_flight", "data": {}}, timeout=10)
        assert in_flight["code"] == "master_lost" and "outcome is unknown" in in_flight["error"]
        wait_for(lambda: mode_is(proxy, "limited"), 3, "limited mode")
        assert "lost (heartbeat: no reply from 127.0.0.1:%d" % master.port in proxy.log()
    finally:
        master.send_signal(signal.SIGCONT)
    wait_for(lambda: mode_is(proxy, "normal"), 4, "normal mode after the master woke up")


def test_sighup_makes_a_limited_proxy_retry_at_once(pg, installed, sim):
    master_port = free_port()
    proxy = sim.start("csproxy", "PX", "localhost", master_port,
                      proxy_sections(free_port(), reconnect_interval=60))
    assert proxy.status()["mode"] == "limited"
    assert "Alarm 22003 Master Configuration Server localhost (ports %d) not available" % master_port in proxy.log()
    start_master(sim, pg, port=master_port)
    proxy.send_signal(signal.SIGHUP)
    wait_for(lambda: mode_is(proxy, "normal"), 5, "reconnect on SIGHUP (the interval is 60 s)")
    assert "Std 22009 SIGHUP received: re-resolving localhost" in proxy.log()


class FakeResolver:
    """Answers for one made-up master name; every other name goes to the real resolver."""

    NAME = "cs-master.ut.invalid"

    def __init__(self, real):
        self.real = real
        self.address = None
        self.lookups = 0

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):  # pylint: disable=redefined-builtin
        if host != self.NAME:
            return self.real(host, port, family, type, proto, flags)
        self.lookups += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.address, port or 0))]


def test_sighup_moves_the_proxy_to_the_address_the_master_name_now_has(pg, installed, sim, tmp_path, monkeypatch):
    port = free_port()
    old = start_master(sim, pg, port=port, name="CS_Old", listen_host="127.0.0.1")
    new = start_master(sim, pg, port=port, name="CS_New", listen_host="127.0.0.2")
    resolver = FakeResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    resolver.address = "127.0.0.1"
    config = sim.write_config("PX", proxy_sections(free_port(), reconnect_interval=60))
    proxy = CSProxy("ut_in_process_proxy", FakeResolver.NAME, port, config)
    proxy.start()
    try:
        assert proxy.status()["master"] == "127.0.0.1:%d" % port
        since = proxy.status()["since"]

        # Same answer: the connection stays.
        lookups = resolver.lookups
        proxy.on_sighup()
        wait_for(lambda: resolver.lookups > lookups, 3, "the re-resolution")
        assert proxy.status()["master"] == "127.0.0.1:%d" % port and proxy.status()["since"] == since

        resolver.address = "127.0.0.2"
        proxy.on_sighup()
        wait_for(lambda: proxy.status()["master"] == "127.0.0.2:%d" % port, 3, "the move to the new address")
        assert proxy.status()["mode"] == "normal"
        assert new.status()["clients"] == 1
        wait_for(lambda: old.status()["clients"] == 0, 3, "the old master to lose the proxy")
        reply = proxy.handle(None, {"op": "put", "type": "CfgHost", "name": "ut_moved", "data": {"site": SITE}})
        assert reply["ok"], reply
    finally:
        proxy.stop("test over")
    wait_for(lambda: not [t for t in threading.enumerate() if t.name.startswith("master 127.0.0.")], 3,
             "the proxy's connection threads to end")


class SilentMaster:
    """A master on 127.0.0.1:port that sets the proxy up (hello, subscribe, list) and then
    never answers a ping: a host that is gone while its socket stays open, as when its
    packets are dropped. Records when the first ping arrived and when the proxy hung up."""

    def __init__(self, port):
        self._listener = socket.create_server(("127.0.0.1", port))
        self.ping_received = threading.Event()
        self.ping_at = None
        self.closed = threading.Event()
        self.closed_at = None
        self._conns = []
        threading.Thread(target=self._serve, name="silent master", daemon=True).start()

    def _serve(self):
        try:
            sock = self._listener.accept()[0]
        except OSError:
            return  # closed by the test before the proxy connected
        self._conns.append(sock)
        try:
            with sock.makefile("rb") as reader:
                for line in reader:
                    op = json.loads(line)["op"]
                    if op == "ping":
                        if not self.ping_received.is_set():
                            self.ping_at = time.monotonic()
                            self.ping_received.set()
                        continue
                    reply = {"ok": True, "objects": []} if op == "list" else {"ok": True}
                    sock.sendall(json.dumps(reply).encode("utf-8") + b"\n")
        except (OSError, ValueError):
            return  # closed by the test: not the proxy hanging up
        self.closed_at = time.monotonic()
        self.closed.set()

    def close(self):
        self._listener.close()
        for sock in self._conns:
            sock.close()


def in_process_proxy(sim, port, heartbeat_timeout):
    sections = proxy_sections(free_port(), reconnect_interval=60)
    sections["proxy"]["heartbeat_timeout"] = heartbeat_timeout
    proxy = CSProxy("ut_in_process_proxy", FakeResolver.NAME, port, sim.write_config("PX", sections))
    proxy.start()
    return proxy


def proxy_log(proxy):
    with open(proxy.log.path, encoding="utf-8") as log:
        return log.read()


@contextlib.contextmanager
def proxy_pinging_a_silent_master(sim, monkeypatch, heartbeat_timeout):
    """An in-process proxy connected to a master that answered the set-up but answers no
    ping, the master name resolving to it: (proxy, silent master, resolver, port) once the
    first ping is out. Both are stopped at the end."""
    port = free_port()
    silent = SilentMaster(port)
    resolver = FakeResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    resolver.address = "127.0.0.1"
    proxy = in_process_proxy(sim, port, heartbeat_timeout)
    try:
        assert proxy.status()["master"] == "127.0.0.1:%d" % port
        assert silent.ping_received.wait(10), "the proxy never pinged the master"
        yield proxy, silent, resolver, port
    finally:
        if not proxy.stopping.is_set():
            proxy.stop("test over")
        silent.close()


def test_sighup_during_an_unanswered_heartbeat_moves_the_proxy_at_once(pg, installed, sim, monkeypatch):
    heartbeat_timeout = 30
    with proxy_pinging_a_silent_master(sim, monkeypatch, heartbeat_timeout) as (proxy, silent, resolver, port):
        new = start_master(sim, pg, port=port, name="CS_New", listen_host="127.0.0.2")
        resolver.address = "127.0.0.2"
        proxy.on_sighup()
        # The unanswered ping would end the link only after heartbeat_timeout: being
        # connected to the new master well before that means the SIGHUP did it.
        wait_for(lambda: proxy.status()["master"] == "127.0.0.2:%d" % port, heartbeat_timeout / 3,
                 "the move to the new address while the heartbeat is outstanding")
        assert proxy.status()["mode"] == "normal"
        assert new.status()["clients"] == 1
        assert silent.closed.wait(10), "the proxy kept its connection to the silent master"
        log = proxy_log(proxy)
        assert "Std 22010 %s resolves to 127.0.0.2; connected to 127.0.0.1:%d" % (FakeResolver.NAME, port) in log
        assert ("lost (master name %s no longer resolves to 127.0.0.1)" % FakeResolver.NAME) in log
        assert "lost (heartbeat" not in log
        reply = proxy.handle(None, {"op": "put", "type": "CfgHost", "name": "ut_moved_at_once", "data": {}})
        assert reply["ok"], reply


def test_sighup_with_an_unchanged_answer_leaves_the_unanswered_heartbeat_to_end_the_link(sim, monkeypatch):
    heartbeat_timeout = 2
    with proxy_pinging_a_silent_master(sim, monkeypatch, heartbeat_timeout) as (proxy, silent, _resolver, port):
        proxy.on_sighup()
        wait_for(lambda: mode_is(proxy, "limited"), heartbeat_timeout + 10, "the heartbeat to end the link")
        log = proxy_log(proxy)
        resolved = "Std 22010 %s resolves to 127.0.0.1; connected to 127.0.0.1:%d" % (FakeResolver.NAME, port)
        lost = ("Alarm 22002 Connection to master Configuration Server 127.0.0.1:%d lost (heartbeat: no reply"
                " from 127.0.0.1:%d within %s s)" % (port, port, float(heartbeat_timeout)))
        assert resolved in log, "the SIGHUP was not handled while the ping was outstanding"
        assert lost in log
        assert log.index(resolved) < log.index(lost)
        assert "no longer resolves" not in log
        assert silent.closed.wait(10), "the proxy kept its connection to the silent master"
        # Counted from when the ping reached the master (a little after it was sent); the
        # SIGHUP came right after that, so a link it had ended would have closed at once.
        assert silent.closed_at - silent.ping_at >= heartbeat_timeout / 2


def test_stop_during_an_unanswered_heartbeat_ends_the_link_thread_at_once(sim, monkeypatch):
    heartbeat_timeout = 30
    with proxy_pinging_a_silent_master(sim, monkeypatch, heartbeat_timeout) as (proxy, silent, _resolver, _port):
        proxy.stop("test over")
        manager = proxy._manager  # pylint: disable=protected-access
        manager.join(heartbeat_timeout / 3)
        assert not manager.is_alive(), "the master-link thread still waits for the ping's reply"
        assert silent.closed.wait(10), "the proxy kept its connection to the silent master"
