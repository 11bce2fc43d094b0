"""`labctl down` leaves nothing behind and a second `up` works. Runs last."""
import os

import pytest

from conftest import run


def _leftovers(state):
    found = []
    found += [ns for ns in run(["ip", "netns", "list"]).stdout.split() if ns.startswith("gdr")]
    found += [line.split(":")[1].strip() for line in run(["ip", "-o", "link", "show"]).stdout.splitlines()
              if line.split(":")[1].strip().startswith("gdr")]
    with open("/proc/mounts") as f:
        found += [line.split()[1] for line in f if "/run/netns/gdr" in line or state in line.split()[1]]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().decode(errors="replace")
                with open("/proc/%s/environ" % pid, "rb") as f:
                    env = f.read().decode(errors="replace")
            except OSError:
                continue
            # Lab processes name the state dir in their arguments (sshd, named, postgres)
            # or, for the simulated Genesys apps, in PYTHONPATH.
            if state in cmd or "genesys-dr-ansible-cp" in cmd or "PYTHONPATH=%s" % state in env:
                found.append("pid %s: %s" % (pid, cmd.replace("\0", " ")[:120]))
    if os.path.exists(state):
        found.append(state)
    found += [d for d in os.listdir("/etc/netns") if d.startswith("gdr")] if os.path.isdir("/etc/netns") else []
    return found


@pytest.mark.lab_lifecycle
def test_down_leaves_nothing_and_up_again_works(clean_lab):
    lab = clean_lab
    from genesys_lab.topology import state_dir  # pylint: disable=import-outside-toplevel
    state = state_dir()
    lab.start_app(lab.site_host("site1", "mgmt"), "confserv_site1_primary")
    lab.labctl("down")
    assert _leftovers(state) == []
    out = lab.labctl("up").stdout
    assert "ready in" in out
    out = lab.labctl("up").stdout          # idempotent: a second up on a running lab
    assert "ready in" in out
    assert "sshd" in lab.labctl("status").stdout
