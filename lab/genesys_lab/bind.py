"""Real BIND 9: the primary for the lab zone in the shared site (dynamic updates only
with the lab's TSIG key) and a secondary per site that gets NOTIFY and transfers with it."""
import base64
import os
import time

from .system import LabError, in_ns, pid_alive, read_pid, run, wait_for, write_file
from .topology import MASTER_NAME, MASTER_TTL, TSIG_KEY_NAME, ZONE

NAMED = "/usr/sbin/named"


def key_clause(secret):
    return 'key "%s" {\n\talgorithm hmac-sha256;\n\tsecret "%s";\n};\n' % (TSIG_KEY_NAME, secret)


def new_secret():
    return base64.b64encode(os.urandom(32)).decode()


def _zone_text(topo):
    primary = topo.dns_primary
    secondaries = [s.host("dns") for s in topo.dr_sites]
    main_mgmt = topo.site(topo.main_site).host("mgmt")
    lines = [
        "$ORIGIN %s." % ZONE,
        "$TTL 60",
        "@ IN SOA ns0 hostmaster ( %d 30 10 604800 5 )" % int(time.time()),
        "@ IN NS ns0",
    ]
    for i in range(1, len(secondaries) + 1):
        lines.append("@ IN NS ns%d" % i)
    lines.append("ns0 IN A %s" % primary.address)
    for i, sec in enumerate(secondaries, 1):
        lines.append("ns%d IN A %s" % (i, sec.address))
    for host in topo.hosts():
        lines.append("%s IN A %s" % (host.name, host.address))
    # The master Configuration Server name: low TTL so a switch is seen quickly.
    lines.append("%s %d IN A %s" % (MASTER_NAME, MASTER_TTL, main_mgmt.address))
    return "\n".join(lines) + "\n"


def _named_conf(host, secret, zone_clause, options=''):
    return (
        'options {\n'
        '\tdirectory "%(dir)s";\n'
        '\tpid-file "%(dir)s/named.pid";\n'
        '\tlisten-on port 53 { %(addr)s; };\n'
        '\tlisten-on-v6 { none; };\n'
        '\trecursion no;\n'
        '\tallow-query { any; };\n'
        '\tdnssec-validation no;\n'
        '\tnotify-source %(addr)s;\n'
        '\ttransfer-source %(addr)s;\n'
        '%(options)s'
        '};\n'
        'logging { channel main { file "%(dir)s/named.log" versions 2 size 5m; print-time yes; severity info; };\n'
        '\tcategory default { main; }; category update { main; }; category xfer-in { main; };\n'
        '\tcategory xfer-out { main; }; category notify { main; }; };\n'
        'controls { };\n'
        '%(key)s'
        '%(zone)s'
    ) % {"dir": os.path.join(host.dir, "named"), "addr": host.address, "key": key_clause(secret),
         "zone": zone_clause, "options": options}


def configure(topo, secret):
    primary = topo.dns_primary
    secondaries = [s.host("dns") for s in topo.dr_sites]
    notify = " ".join("%s;" % s.address for s in secondaries)
    zone = (
        'zone "%(zone)s" {\n\ttype primary;\n\tfile "%(zone)s.db";\n'
        '\tallow-update { key "%(key)s"; };\n\tallow-transfer { key "%(key)s"; };\n'
        '\tnotify explicit;\n\tnotify-delay 0;\n\talso-notify { %(notify)s };\n};\n'
    ) % {"zone": ZONE, "key": TSIG_KEY_NAME, "notify": notify}
    zdir = os.path.join(primary.dir, "named")
    # BIND sends NOTIFY through a rate limiter: at a notify-rate above 10 it ticks every
    # 10/notify-rate s and the first NOTIFY after a change waits for the next tick, 0.5 s at the
    # default of 20 (seen in the logs: "sending notifies" at the primary, "received notify" at a
    # secondary 0.50 s later, on every change). At 1000 the tick is 10 ms. The failover waits
    # for every surviving secondary to serve the switch, so the tick sits on its critical path;
    # README.md (Requirements) recommends the same setting for production.
    write_file(os.path.join(primary.dir, "named.conf"),
               _named_conf(primary, secret, zone, options='\tnotify-rate 1000;\n'), mode=0o600)
    zfile = os.path.join(zdir, "%s.db" % ZONE)
    if not os.path.exists(zfile):
        write_file(zfile, _zone_text(topo))
    for sec in secondaries:
        zone = (
            'zone "%(zone)s" {\n\ttype secondary;\n\tfile "%(zone)s.db";\n'
            '\tprimaries { %(primary)s key "%(key)s"; };\n\tallow-notify { %(primary)s; };\n'
            # The zone's SOA refresh (30 s) is honoured, not raised to BIND's 300 s floor: a
            # secondary that comes back from a site loss or a partition catches up within
            # 30 s even without a NOTIFY (it missed them while it was cut off).
            '\tmin-refresh-time 10;\n\tmax-refresh-time 30;\n\tmin-retry-time 5;\n\tmax-retry-time 10;\n};\n'
        ) % {"zone": ZONE, "key": TSIG_KEY_NAME, "primary": primary.address}
        os.makedirs(os.path.join(sec.dir, "named"), exist_ok=True)
        write_file(os.path.join(sec.dir, "named.conf"), _named_conf(sec, secret, zone), mode=0o600)


def running(host):
    pid = read_pid(os.path.join(host.dir, "named", "named.pid"))
    return pid if pid and pid_alive(pid) else None


def start(host):
    if running(host):
        return False
    conf = os.path.join(host.dir, "named.conf")
    run(["named-checkconf", conf])
    proc = in_ns(host.netns, [NAMED, "-c", conf, "-4"], check=False)
    if proc.returncode != 0:
        raise LabError("named on %s did not start: %s (see %s/named/named.log)"
                       % (host.name, (proc.stderr or proc.stdout).strip(), host.dir))
    return True


def serial(host):
    proc = run(["dig", "+short", "+time=1", "+tries=1", "@" + host.address, ZONE, "SOA"], check=False)
    parts = proc.stdout.split()
    return int(parts[2]) if proc.returncode == 0 and len(parts) >= 3 else None


def wait_serving(topo, timeout=20):
    primary_serial = wait_for(lambda: serial(topo.dns_primary), timeout, "the primary DNS server to answer")
    for site in topo.dr_sites:
        sec = site.host("dns")
        try:
            wait_for(lambda: (serial(sec) or 0) >= primary_serial, timeout,
                     "DNS secondary %s to transfer the zone" % sec.name, interval=0.2)
        except LabError:
            raise LabError("DNS secondary %s has not transferred %s from the primary; see %s/named/named.log"
                           % (sec.name, ZONE, sec.dir))
