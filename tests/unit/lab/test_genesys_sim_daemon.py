"""Process contract of the simulated applications and the client command (no DB)."""

import os
import re
import signal
import socket

from simtest import alive, free_port, pids_with_app, request, sim_command, wait_for


def msgserver_sections(port, **messageserver):
    return {"app": {"site": "site1", "listen_host": "127.0.0.1", "port": port}, "messageserver": messageserver}


def test_daemon_contract_command_line_log_pid_file_and_sigterm(sim):
    port = free_port()
    result, app = sim.launch("msgserver", "MS", "cs.example", 2020, msgserver_sections(port))
    assert result.returncode == 0, result.stderr
    assert re.match(r"msgserver %s started, pid \d+, mode running" % app.name, result.stdout)
    # Found by its command line, which keeps the Genesys-style arguments.
    assert len(pids_with_app(app.name)) == 1
    with open("/proc/%d/cmdline" % app.pid, "rb") as cmdline:
        words = cmdline.read().split(b"\0")
    assert [b"-host", b"cs.example", b"-port", b"2020", b"-app", app.name.encode()] == words[words.index(b"-host"):-3]
    # Detached (double fork): in a session of its own, of which it is not the leader.
    assert os.getsid(app.pid) not in (os.getsid(0), app.pid)
    with open(os.path.join(sim.dir, app.name + ".pid"), encoding="ascii") as pid_file:
        assert int(pid_file.read()) == app.pid
    assert app.status()["pid"] == app.pid
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} Std 05060 Application %s \(msgserver\) started"
                     % app.name, app.log(), re.M)

    app.stop(signal.SIGTERM)
    log = app.log()
    assert "Std 05061 Application %s (msgserver) stopping: SIGTERM" % app.name in log
    assert "Std 05064 Application %s stopped" % app.name in log
    assert not os.path.exists(os.path.join(sim.dir, app.name + ".pid"))
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_bad_configuration_fails_before_daemonizing(sim):
    result, app = sim.launch("scs", "SCS", "cs.example", 2020, {"app": {"site": "site1", "port": free_port()}})
    assert result.returncode == 1
    assert "[scs] message_server is required" in result.stderr
    assert app.pid is None


def test_start_failure_is_reported_by_the_launcher(sim):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result, app = sim.launch("msgserver", "MS", "cs", 2020, msgserver_sections(busy.getsockname()[1]))
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1" in result.stderr
    assert app.pid is None
    assert "Alarm 05062 Application %s (msgserver) start failed: cannot listen" % app.name in app.log()


def test_scs_registers_with_its_message_server_and_re_registers(sim):
    ms_port = free_port()
    ms = sim.start("msgserver", "MS", "cs", 2020, msgserver_sections(ms_port, signature="scs_distributed"))
    scs = sim.start("scs", "SCS", "cs", 2020, {
        "app": {"site": "site2", "port": free_port()}, "scs": {"message_server": "127.0.0.1:%d" % ms_port}})
    wait_for(lambda: scs.status()["registered"], 5, "SCS registration")
    clients = ms.status()["clients"]
    assert [(c["app"], c["role"], c["site"]) for c in clients] == [(scs.name, "scs", "site2")]
    assert ms.status()["signature"] == "scs_distributed"

    ms.stop()
    wait_for(lambda: not scs.status()["registered"], 5, "SCS to notice the lost Message Server")
    ms = sim.start("msgserver", "MS", "cs", 2020, msgserver_sections(ms_port))
    wait_for(lambda: ms.status()["clients"], 5, "SCS to re-register")
    assert scs.status()["mode"] == "registered"
    assert "Alarm 24002 Connection to Message Server 127.0.0.1:%d lost" % ms_port in scs.log()


def test_client_exit_codes(sim):
    port = free_port()
    sim.start("msgserver", "MS", "cs", 2020, msgserver_sections(port))
    server = "127.0.0.1:%d" % port

    result = sim_command("client", "--server", server, "status")
    assert result.returncode == 0, result.stderr
    assert '"ok": true' in result.stdout

    result = sim_command("client", "--server", server, "get", "CfgPerson", "nobody")
    assert result.returncode == 2
    assert '"code": "unknown_op"' in result.stdout and "unknown_op" in result.stderr

    result = sim_command("client", "--server", "127.0.0.1:%d" % free_port(), "status")
    assert result.returncode == 1
    assert "Connection refused" in result.stderr

    result = sim_command("client", "--server", server, "put", "CfgPerson", "x", "{broken")
    assert result.returncode == 64
    assert "not valid JSON" in result.stderr


def test_client_times_out_on_a_silent_server():
    with socket.socket() as silent:
        # Listening but never accepting: the handshake completes, no reply ever comes.
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        result = sim_command("client", "--server", "127.0.0.1:%d" % silent.getsockname()[1], "--timeout", "0.5",
                             "status")
    assert result.returncode == 1
    assert "no reply" in result.stderr


def test_sighup_does_not_stop_an_app(sim):
    port = free_port()
    app = sim.start("msgserver", "MS", "cs", 2020, msgserver_sections(port))
    app.send_signal(signal.SIGHUP)
    wait_for(lambda: "Std 05065 SIGHUP received" in app.log(), 5, "SIGHUP to be logged")
    assert alive(app.pid) and request(port, {"op": "ping"})["ok"]
