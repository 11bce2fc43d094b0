"""Thin wrappers around the commands the lab drives (ip, runuser, process table)."""
import os
import signal
import subprocess
import time


class LabError(Exception):
    """A failure an operator can act on; printed without a traceback."""


def run(cmd, check=True, input=None, env=None, timeout=120):
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise LabError("command failed (%d): %s\n%s" % (proc.returncode, " ".join(cmd),
                                                        (proc.stderr or proc.stdout).strip()))
    return proc


def ip(*args, check=True):
    return run(["ip"] + list(args), check=check)


def in_ns(netns, cmd, check=True, input=None, env=None, timeout=120):
    return run(["ip", "netns", "exec", netns] + cmd, check=check, input=input, env=env, timeout=timeout)


def link_exists(name):
    return ip("link", "show", "dev", name, check=False).returncode == 0


def netns_list():
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(netns):
    out = ip("netns", "pids", netns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kill_pids(pids, sig=signal.SIGKILL, wait=5.0):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not [p for p in pids if pid_alive(p)]:
            return []
        time.sleep(0.05)
    return [p for p in pids if pid_alive(p)]


def wait_for(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise LabError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def write_file(path, text, mode=0o644, owner=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    if owner:
        import pwd
        pw = pwd.getpwnam(owner)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.replace(tmp, path)
