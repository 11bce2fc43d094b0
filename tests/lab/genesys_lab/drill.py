"""The lab drill: what `make drill` runs after `labctl up`.

Until the failover playbook exists this is the smoke drill of the lab: the main site's
master Configuration Server pair and every site's proxy pair come up, a write goes in
through one site's proxy and is read back through another's, and the lab status is shown.
"""
import json
import os
import sys
import time

from . import apps, lab
from .system import LabError, run


def _proxy(topo, site):
    host = site.host("app")
    port = [a["port"] for a in apps.plan(topo, host)[0] if a["component"] == "proxy" and a["role"] == "primary"][0]
    return host, "%s:%d" % (host.address, port)


def _client(host, *args):
    env = dict(os.environ, PYTHONPATH=apps.sim_path())
    proc = run(["ip", "netns", "exec", host.netns, "/usr/bin/python3", "-m", "genesys_sim", "client"] + list(args),
               check=False, env=env)
    reply = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, reply, proc.stderr.strip()


def main():
    topo = lab.load()
    main_site = topo.site(topo.main_site)
    mgmt = main_site.host("mgmt")
    print("\n== master Configuration Server pair at %s: primary, then backup" % main_site.name)
    for app in apps.plan(topo, mgmt)[0]:
        if app["component"] == "master_cs":
            lab.app("start", mgmt.name, app["name"])
    print("\n== proxy pairs at every site")
    for site in topo.dr_sites:
        for app in apps.plan(topo, site.host("app"))[0]:
            if app["component"] == "proxy":
                lab.app("start", site.host("app").name, app["name"])

    writer_host, writer = _proxy(topo, topo.dr_sites[0])
    reader_host, reader = _proxy(topo, topo.dr_sites[-1])
    name = "drill_%d" % int(time.time())
    print("\n== write %s through %s's proxy, read it back through %s's proxy" % (
        name, writer_host.name, reader_host.name))
    deadline = time.monotonic() + 30
    while True:
        code, reply, err = _client(writer_host, "--server", writer, "put", "CfgPerson", name, '{"drill": true}')
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if code != 0:
        raise LabError("write through %s refused: %s %s" % (writer, reply, err))
    print("put  via %-18s -> dbid %s" % (writer, reply["object"]["dbid"]))
    t0 = time.monotonic()
    while True:
        code, reply, err = _client(reader_host, "--server", reader, "get", "CfgPerson", name)
        if code == 0 or time.monotonic() - t0 > 30:
            break
        time.sleep(0.2)
    if code != 0:
        raise LabError("read back through %s failed: %s %s" % (reader, reply, err))
    print("get  via %-18s -> %s (visible after %.2f s)"
          % (reader, json.dumps(reply.get("object")), time.monotonic() - t0))
    print("\n== lab status")
    lab.status()


if __name__ == "__main__":
    try:
        main()
    except LabError as exc:
        print("drill: %s" % exc, file=sys.stderr)
        sys.exit(1)
