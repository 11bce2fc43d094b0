"""One real sshd per lab host, with a per-lab key pair and per-host host keys."""
import os
import socket

from .system import LabError, in_ns, pid_alive, read_pid, run, wait_for, write_file
from .topology import state_dir


def ssh_dir():
    return os.path.join(state_dir(), "ssh")


def client_key():
    return os.path.join(ssh_dir(), "id_ed25519")


def known_hosts():
    return os.path.join(ssh_dir(), "known_hosts")


def ensure_keys(topo):
    os.makedirs(ssh_dir(), mode=0o700, exist_ok=True)
    if not os.path.exists(client_key()):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "genesys-dr-lab", "-f", client_key()])
    with open(client_key() + ".pub") as f:
        write_file(os.path.join(ssh_dir(), "authorized_keys"), f.read(), mode=0o600)
    lines = []
    for host in topo.hosts():
        key = os.path.join(host.dir, "ssh_host_ed25519_key")
        if not os.path.exists(key):
            os.makedirs(host.dir, exist_ok=True)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", key])
        with open(key + ".pub") as f:
            pub = " ".join(f.read().split()[:2])
        lines.append("%s,%s,%s %s\n" % (host.address, host.name, host.fqdn, pub))
    write_file(known_hosts(), "".join(lines), mode=0o600)


def _config(host):
    return (
        "ListenAddress %(addr)s\n"
        "Port 22\n"
        "HostKey %(dir)s/ssh_host_ed25519_key\n"
        "PidFile %(dir)s/sshd.pid\n"
        "AuthorizedKeysFile %(auth)s\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "UseDNS no\n"
        "MaxStartups 100:30:200\n"
        "MaxSessions 50\n"
        "AcceptEnv LANG LC_*\n"
        "Subsystem sftp internal-sftp\n"
    ) % {"addr": host.address, "dir": host.dir, "auth": os.path.join(ssh_dir(), "authorized_keys")}


def running(host):
    pid = read_pid(os.path.join(host.dir, "sshd.pid"))
    return pid if pid and pid_alive(pid) else None


def start(host):
    if running(host):
        return False
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)   # privilege separation dir
    conf = os.path.join(host.dir, "sshd_config")
    write_file(conf, _config(host), mode=0o600)
    in_ns(host.netns, ["/usr/sbin/sshd", "-f", conf, "-E", os.path.join(host.dir, "sshd.log")])
    return True


def wait_reachable(host, timeout=15):
    def accepts():
        try:
            with socket.create_connection((host.address, 22), timeout=1) as s:
                return s.recv(4).startswith(b"SSH")
        except OSError:
            return False
    try:
        wait_for(accepts, timeout, "sshd on %s (%s)" % (host.name, host.address))
    except LabError:
        raise LabError("sshd on %s does not answer on %s:22; see %s/sshd.log" % (host.name, host.address, host.dir))
