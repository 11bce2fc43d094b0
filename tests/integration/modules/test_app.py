"""genesys_dr.framework.app against the lab's simulated Genesys applications, through real
Ansible over SSH (community.postgresql pattern: call, assert the result, read the real
state back independently, call again for changed=false, check mode changes nothing).

Real state is read without the module's code: the host's process table (`ip netns pids`
+ /proc/<pid>/cmdline, lab.app_pids), its socket table (/proc/net/tcp read inside the
host's namespace) matched against /proc/<pid>/fd, and the application's own status
through the simulator's client. Other engineers drive the same lab concurrently: every
expectation about an asynchronous effect is a bounded wait on re-read state, the check
mode and pid file tests use applications nobody else drives, and a test that fails while
the application logs prove another run interfered (Watch) is run again, at most
ATTEMPTS times; a failure without such proof is reported at once.
"""
import functools
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import run, wait_until
from genesys_lab import apps as lab_apps
from genesys_lab import lab as lab_mod

MODULE = "genesys_dr.framework.app"
CS, CS_BACKUP, PROXY, MS_SCS, MASTER_SCS = 2020, 2021, 2030, 4900, 5000
TCP_LISTEN, TCP_ESTABLISHED = 0x0A, 0x01
ATTEMPTS = 3


# --------------------------------------------------------------------------- sharing the lab

class Watch:
    """What the application logs of the lab say happened while one attempt of a test ran.

    Other engineers' suites share the lab: their clean_lab kills every application with
    SIGKILL, their drills cut sites off, their tests revoke write access. When a test fails,
    the logs tell whether such a run interfered: an application started that this test did
    not start, one it started gone without its own "stopping" line (SIGKILL), a loss of
    database or write access this test did not cause, an active fault.
    """

    STARTED = re.compile(r" 05060 Application (\S+) \((\w+)\) started, pid (\d+)")

    def __init__(self, lab):
        self.mine = set()
        self.revokes = False
        self.offsets = {}
        for host in lab.topo.hosts():
            for planned in lab_apps.plan(lab.topo, host)[0]:
                path = log_path(lab, host, planned["name"])
                self.offsets[path] = file_size(path)

    def disturbance(self):
        found = []
        faults = lab_mod._faults()  # pylint: disable=protected-access
        if faults:
            found.append("faults active: %s" % faults)
        for path, offset in sorted(self.offsets.items()):
            text = read_from(path, offset)
            starts = list(self.STARTED.finditer(text))
            for i, match in enumerate(starts):
                pid = int(match.group(3))
                after = text[match.end():starts[i + 1].start() if i + 1 < len(starts) else len(text)]
                if pid not in self.mine:
                    found.append("%s pid %d started by another run" % (match.group(1), pid))
                elif not alive(pid) and " 05061 " not in after:
                    found.append("%s pid %d killed without a graceful stop" % (match.group(1), pid))
            if not self.revokes and re.search(r" (21002|21003) ", text):
                found.append("%s lost its database or write access" % os.path.basename(path))
        return found


_WATCH = []


def mine(pids):
    """Pids this test started (through the module or run.sh)."""
    if _WATCH:
        _WATCH[-1].mine.update(pids)
    return pids


def revoking():
    """This test takes write access away itself."""
    if _WATCH:
        _WATCH[-1].revokes = True


def reset_lab(lab):
    """clean_lab's setup again, once the other run's fault is healed."""
    wait_until(lambda: not lab_mod._faults(), 300, "the other run's fault to be healed")  # pylint: disable=protected-access
    lab.stop_all_apps()
    main_mgmt = lab.site_host(lab.topo.main_site, "mgmt")
    if lab.dig(lab.topo.dns_primary, lab.master_fqdn) != [main_mgmt.address]:
        lab.set_master_record(main_mgmt.address)


def retried_when_disturbed(test):
    """Run the test again (at most ATTEMPTS times in all) when it failed while another run
    demonstrably interfered; a failure without interference is reported at once."""
    @functools.wraps(test)
    def wrapper(clean_lab, *args, **kwargs):
        for attempt in range(1, ATTEMPTS + 1):
            _WATCH.append(Watch(clean_lab))
            try:
                return test(clean_lab, *args, **kwargs)
            except Exception as exc:  # pylint: disable=broad-except
                disturbance = _WATCH[-1].disturbance()
                if not disturbance:
                    raise
                if attempt == ATTEMPTS:
                    raise AssertionError("%s\n-- another run disturbed the lab in each of %d attempts, last: %s" % (
                        exc, ATTEMPTS, "; ".join(disturbance))) from exc
                sys.stderr.write("%s: attempt %d disturbed by another run (%s): %s\n" % (
                    test.__name__, attempt, "; ".join(disturbance), (str(exc) or type(exc).__name__).splitlines()[0]))
                reset_lab(clean_lab)
            finally:
                _WATCH.pop()
        raise AssertionError("not reached")
    return wrapper


# --------------------------------------------------------------------------- reading state

def names(site="site1"):
    return {"cs": "confserv_%s_primary" % site, "cs_backup": "confserv_%s_backup" % site,
            "proxy": "csproxy_%s_primary" % site}


def hosts(lab, site="site1"):
    return lab.site_host(site, "mgmt"), lab.site_host(site, "app")


def _endpoint(text):
    address, port = text.split(":")
    return ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)), int(port, 16)


def tcp_table(lab, host):
    """Rows of the host's own /proc/net/tcp: (local, remote, state, inode)."""
    rows = []
    for line in lab.ns(host, ["cat", "/proc/net/tcp"]).stdout.splitlines()[1:]:
        fields = line.split()
        rows.append((_endpoint(fields[1]), _endpoint(fields[2]), int(fields[3], 16), int(fields[9])))
    return rows


def socket_inodes(pid):
    inodes = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def netns_pids(host):
    return [int(p) for p in run(["ip", "netns", "pids", host.netns]).stdout.split()]


def listeners(lab, host, port):
    """Pids of the host's namespace holding a LISTEN socket on port (empty: nobody listens)."""
    inodes = set(inode for local, dummy, state, inode in tcp_table(lab, host) if local[1] == port and state == TCP_LISTEN)
    if not inodes:
        return []
    return sorted(pid for pid in netns_pids(host) if socket_inodes(pid) & inodes)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


def status(lab, host, port):
    code, reply, dummy = lab.client(host, host, "status", port=port, timeout=3)
    return reply if code == 0 else None


def log_path(lab, host, name):
    return os.path.join(lab.app_dir(host, name), "logs", name + ".log")


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_from(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def log_size(lab, host, name):
    return file_size(log_path(lab, host, name))


def log_since(lab, host, name, offset):
    return read_from(log_path(lab, host, name), offset)


def alive(pid):
    """The process exists and is not a zombie (the lab's init reaps daemons late)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def start_app(lab, host, name):
    """Start through the app's run.sh directly (not through the module under test)."""
    return mine(lab.start_app(host, name))


# --------------------------------------------------------------------------- calling the module

def app_args(name, **extra):
    """The application directory comes from the inventory (genesys_app_base), as in a playbook."""
    args = {"name": name, "app_dir": "{{ genesys_app_base }}/%s" % name}
    args.update(extra)
    return args


def app(lab, host, name, check=False, diff=False, **extra):
    result = lab.ansible(host.name, MODULE, app_args(name, **extra), check=check, diff=diff)[host.name]
    assert "unreachable" not in result, result
    if result.get("changed") and result.get("state") == "running":
        mine(result["pids"])
    return result


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def assert_serving(lab, host, name, port, pids):
    """The application runs with exactly these pids, they own the LISTEN socket on port, and
    the application answers its own status request there."""
    assert lab.app_pids(host, name) == pids
    assert listeners(lab, host, port) == pids
    reply = status(lab, host, port)
    assert reply is not None and reply["ok"] and reply["app"] == name and reply["pid"] == pids[0], reply
    return reply


def assert_stopped(lab, host, name, port):
    assert lab.app_pids(host, name) == []
    assert listeners(lab, host, port) == []


def start(lab, host, name, port):
    result = ok(app(lab, host, name, ports=[port]))
    assert result["state"] == "running" and result["listening"] == [port], result
    return result


# --------------------------------------------------------------------------- tests

@retried_when_disturbed
def test_start_waits_until_serving_then_is_idempotent(clean_lab):
    lab = clean_lab
    mgmt = lab.site_host("site1", "mgmt")
    name = names()["cs"]
    assert_stopped(lab, mgmt, name, CS)

    first = ok(app(lab, mgmt, name, diff=True, ports=[CS]))
    assert first["changed"] is True
    assert first["previous_state"] == "stopped" and first["state"] == "running"
    assert len(first["pids"]) == 1 and first["listening"] == [CS]
    assert "-app %s" % name in first["cmdline"]
    assert first["actions"] == ["run './run.sh' in %s" % lab.app_dir(mgmt, name)]
    assert "-stopped" in lab.last_ansible_output and "+running (pid %d)" % first["pids"][0] in lab.last_ansible_output
    # Read back: the pid is in the namespace's process table with that command line, owns
    # the LISTEN socket on 2020, and the server itself says it serves.
    pid = first["pids"][0]
    assert pid in netns_pids(mgmt)
    argv = cmdline(pid)
    assert argv[argv.index(b"-app") + 1] == name.encode()
    assert assert_serving(lab, mgmt, name, CS, [pid])["mode"] == "primary"
    # The module returned only once the server was ready: a request through it works now.
    code, reply, err = lab.client(mgmt, mgmt, "get", "CfgPerson", "person_00001", port=CS)
    assert code == 0 and reply["object"]["name"] == "person_00001", (reply, err)

    second = ok(app(lab, mgmt, name, ports=[CS]))
    assert second["changed"] is False and second["actions"] == []
    assert second["previous_state"] == "running" and second["state"] == "running"
    assert second["pids"] == [pid] and second["listening"] == [CS]
    assert_serving(lab, mgmt, name, CS, [pid])

    # restarted always acts: a new process, serving again.
    third = ok(app(lab, mgmt, name, state="restarted", ports=[CS]))
    assert third["changed"] is True and third["previous_state"] == "running" and third["state"] == "running"
    assert third["actions"][0] == "sent SIGTERM to pid(s) %d" % pid
    assert third["pids"] != [pid] and not alive(pid)
    assert_serving(lab, mgmt, name, CS, third["pids"])


@retried_when_disturbed
def test_check_mode_starts_and_stops_nothing(clean_lab):
    lab = clean_lab
    mgmt = lab.site_host("site1", "mgmt")
    # Not the master CS: other engineers' tests start and stop that one at the same time.
    name = "ms_scs_site1"
    log_before = log_size(lab, mgmt, name)

    would_start = ok(app(lab, mgmt, name, check=True, diff=True, ports=[MS_SCS]))
    assert would_start["changed"] is True
    assert would_start["state"] == "stopped" and would_start["pids"] == [] and would_start["listening"] == []
    assert would_start["actions"] == ["run './run.sh' in %s" % lab.app_dir(mgmt, name)]
    assert "+running (new process)" in lab.last_ansible_output
    # Given time to show up, nothing started: no process, no listener, no answer on the
    # port, not a line in the application's log.
    time.sleep(2)
    assert_stopped(lab, mgmt, name, MS_SCS)
    assert not lab.tcp_connect(mgmt, mgmt.address, MS_SCS)
    assert log_size(lab, mgmt, name) == log_before

    running = start(lab, mgmt, name, MS_SCS)
    pid = running["pids"][0]
    would_stop = ok(app(lab, mgmt, name, check=True, state="stopped"))
    assert would_stop["changed"] is True and would_stop["state"] == "running" and would_stop["pids"] == [pid]
    assert would_stop["actions"] == ["send SIGTERM to pid(s) %d" % pid, "send SIGKILL to what is still alive after 30 s"]
    would_restart = ok(app(lab, mgmt, name, check=True, state="restarted", ports=[MS_SCS]))
    assert would_restart["changed"] is True and would_restart["pids"] == [pid]
    time.sleep(1)
    assert_serving(lab, mgmt, name, MS_SCS, [pid])
    assert " 05061 " not in log_since(lab, mgmt, name, log_before)          # never told to stop


@retried_when_disturbed
def test_stale_pid_file_and_foreign_namespace_do_not_fool_it(clean_lab):
    lab = clean_lab
    mgmt, app_host = hosts(lab)
    name = "scs_master_site1"
    pid_file = os.path.join(lab.app_dir(mgmt, name), name + ".pid")
    # An unrelated live process on the same host, named by a stale pid file; and, on another
    # host of the shared /proc, a process whose command line does say "-app <name>".
    unrelated = subprocess.Popen(["ip", "netns", "exec", mgmt.netns, "sleep", "300"])
    foreign = subprocess.Popen(["ip", "netns", "exec", app_host.netns, sys.executable, "-c", "import time; time.sleep(300)",
                                "-app", name])
    try:
        wait_until(lambda: unrelated.pid in netns_pids(mgmt) and foreign.pid in netns_pids(app_host), 10, "decoys to run")
        with open(pid_file, "w") as f:
            f.write("%d\n" % unrelated.pid)

        stopped = ok(app(lab, mgmt, name, state="stopped"))
        assert stopped["changed"] is False and stopped["previous_state"] == "stopped" and stopped["pids"] == []
        assert unrelated.poll() is None and foreign.poll() is None

        started = ok(app(lab, mgmt, name, ports=[MASTER_SCS]))
        assert started["changed"] is True and started["previous_state"] == "stopped"
        pid = started["pids"][0]
        assert pid not in (unrelated.pid, foreign.pid)
        assert_serving(lab, mgmt, name, MASTER_SCS, [pid])

        # The pid file goes stale again while the application runs: the stop still ends the
        # real process and leaves the one the file names alone.
        with open(pid_file, "w") as f:
            f.write("%d\n" % unrelated.pid)
        stopped = ok(app(lab, mgmt, name, state="stopped"))
        assert stopped["changed"] is True and stopped["previous_state"] == "running" and stopped["state"] == "stopped"
        assert stopped["actions"] == ["sent SIGTERM to pid(s) %d" % pid]
        assert_stopped(lab, mgmt, name, MASTER_SCS)
        assert unrelated.poll() is None and foreign.poll() is None
        assert unrelated.pid in netns_pids(mgmt) and foreign.pid in netns_pids(app_host)
    finally:
        for decoy in (unrelated, foreign):
            decoy.kill()
            decoy.wait()
        if os.path.exists(pid_file) and not lab.app_pids(mgmt, name):
            os.unlink(pid_file)


def _pair_and_proxy(lab):
    """Master pair at site1 (primary serving, backup watching it) and the site1 proxy connected."""
    mgmt, app_host = hosts(lab)
    n = names()
    primary = start(lab, mgmt, n["cs"], CS)["pids"]
    backup = start(lab, mgmt, n["cs_backup"], CS_BACKUP)["pids"]
    proxy = start(lab, app_host, n["proxy"], PROXY)["pids"]
    wait_until(lambda: (status(lab, mgmt, CS_BACKUP) or {}).get("peer_connected"), 10, "the backup to watch the primary")
    assert status(lab, mgmt, CS_BACKUP)["mode"] == "backup"
    wait_until(lambda: (status(lab, app_host, PROXY) or {}).get("master") == "%s:%d" % (mgmt.address, CS), 20,
               "the proxy to connect to the primary")
    return mgmt, app_host, n, primary, backup, proxy


@retried_when_disturbed
def test_stopping_backup_then_primary_leaves_no_master(clean_lab):
    lab = clean_lab
    mgmt, app_host, n, primary, backup, proxy = _pair_and_proxy(lab)

    stop_backup = ok(app(lab, mgmt, n["cs_backup"], state="stopped"))
    assert stop_backup["changed"] is True and stop_backup["state"] == "stopped" and stop_backup["pids"] == []
    assert stop_backup["actions"] == ["sent SIGTERM to pid(s) %d" % backup[0]]
    assert_stopped(lab, mgmt, n["cs_backup"], CS_BACKUP)
    stop_primary = ok(app(lab, mgmt, n["cs"], state="stopped"))
    assert stop_primary["changed"] is True and stop_primary["pids"] == []
    assert stop_primary["actions"] == ["sent SIGTERM to pid(s) %d" % primary[0]]

    wait_until(lambda: (status(lab, app_host, PROXY) or {}).get("mode") == "limited", 15, "the proxy in limited mode")
    # Long enough for a takeover or a proxy reconnect to show: nothing serves either port.
    time.sleep(3)
    for name, port in ((n["cs"], CS), (n["cs_backup"], CS_BACKUP)):
        assert_stopped(lab, mgmt, name, port)
        assert not lab.tcp_connect(app_host, mgmt.address, port)
    proxy_status = status(lab, app_host, PROXY)
    assert proxy_status["mode"] == "limited" and proxy_status["master"] is None and proxy_status["pid"] == proxy[0]
    assert not [row for row in tcp_table(lab, app_host) if row[1][0] == mgmt.address and row[2] == TCP_ESTABLISHED]
    refused = "it_app_no_master_%d" % time.time_ns()
    code, reply, dummy = lab.client(app_host, app_host, "put", "CfgPerson", refused, "{}", port=PROXY)
    assert code == 2 and reply["code"] == "limited_mode"

    again = ok(app(lab, mgmt, n["cs_backup"], state="stopped"))
    assert again["changed"] is False and again["actions"] == []


@retried_when_disturbed
def test_stopping_primary_first_lets_backup_take_over(clean_lab):
    """The contrast: the order matters, and the module's stop is what triggers the takeover."""
    lab = clean_lab
    mgmt, app_host, n, primary, backup, proxy = _pair_and_proxy(lab)

    stop_primary = ok(app(lab, mgmt, n["cs"], state="stopped"))
    assert stop_primary["changed"] is True and stop_primary["actions"] == ["sent SIGTERM to pid(s) %d" % primary[0]]
    assert_stopped(lab, mgmt, n["cs"], CS)

    wait_until(lambda: (status(lab, mgmt, CS_BACKUP) or {}).get("mode") == "primary", 15, "the backup to take over")
    assert listeners(lab, mgmt, CS_BACKUP) == backup == lab.app_pids(mgmt, n["cs_backup"])
    wait_until(lambda: (status(lab, app_host, PROXY) or {}).get("master") == "%s:%d" % (mgmt.address, CS_BACKUP), 25,
               "the proxy to reconnect to the backup")
    assert status(lab, app_host, PROXY)["mode"] == "normal"
    code, reply, err = lab.client(app_host, app_host, "put", "CfgPerson", "it_app_takeover_%d" % time.time_ns(), "{}",
                                  port=PROXY)
    assert code == 0, (reply, err)


@retried_when_disturbed
def test_failed_start_reports_the_application_log(clean_lab):
    lab = clean_lab
    mgmt = lab.site_host("site1", "mgmt")
    name = names()["cs"]
    db = lab.site_host("site1", "db")
    offset = log_size(lab, mgmt, name)
    revoking()
    lab.psql(db, "cfgdb", "REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public FROM genesys_cs")
    try:
        result = app(lab, mgmt, name, ports=[CS], start_timeout=20)
    finally:
        lab.psql(db, "cfgdb", "GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO genesys_cs")
    assert result.get("failed") is True, result
    assert result["changed"] is True and result["pids"] == [] and result["rc"] == 1
    msg = result["msg"]
    assert msg.startswith("start of %s failed: './run.sh' exited with code 1 and no process with \"-app %s\" runs" % (name, name))
    # The application's own reason, as its log has it, is in the message.
    written = log_since(lab, mgmt, name, offset).splitlines()
    refusal = [line for line in written if " 21003 No write access for role 'genesys_cs' on database 'cfgdb'" in line]
    failed = [line for line in written if " 05062 Application %s (confserv) start failed" % name in line]
    assert refusal and failed, written
    assert refusal[-1] in msg and failed[-1] in msg
    assert "end of the newest log %s" % log_path(lab, mgmt, name) in msg
    assert_stopped(lab, mgmt, name, CS)

    # Access restored, the same task succeeds.
    start(lab, mgmt, name, CS)


@pytest.mark.parametrize("bad", ["app_dir", "no_app"])
@retried_when_disturbed
def test_start_failures_name_what_to_fix(clean_lab, bad):
    lab = clean_lab
    mgmt = lab.site_host("site1", "mgmt")
    name = names()["cs"]
    if bad == "app_dir":
        result = app(lab, mgmt, name, ports=[CS], app_dir="{{ genesys_app_base }}/no_such_app")
        assert result.get("failed") is True
        assert result["msg"] == ("app_dir %s of %s is not a directory: give the directory the application is installed in"
                                 % (os.path.join(os.path.dirname(lab.app_dir(mgmt, name)), "no_such_app"), name))
    else:
        # A start command that runs but never starts anything with "-app <name>".
        result = app(lab, mgmt, name, ports=[CS], start_command="echo not starting anything", start_timeout=3, settle=0.5)
        assert result.get("failed") is True and result["changed"] is True
        assert "no process with \"-app %s\" on its command line appeared within 3 s" % name in result["msg"]
        assert "the start command exited with code 0" in result["msg"] and "not starting anything" in result["msg"]
    assert_stopped(lab, mgmt, name, CS)
