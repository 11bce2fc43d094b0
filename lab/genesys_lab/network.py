"""Namespaces, bridges, the WAN router, and the faults that cut a site off."""
import os

from .system import ip, in_ns, link_exists, netns_list, write_file
from .topology import ROUTER_NS, ZONE


def _ensure_ns(netns):
    if netns not in netns_list():
        ip("netns", "add", netns)
    in_ns(netns, ["ip", "link", "set", "lo", "up"])


def _ensure_veth(root_end, netns, ns_end, bridge):
    """A veth pair: one end on the site bridge in the root namespace, one in `netns`."""
    if not link_exists(root_end):
        tmp = root_end + "x"
        ip("link", "add", root_end, "type", "veth", "peer", "name", tmp)
        ip("link", "set", tmp, "netns", netns)
        in_ns(netns, ["ip", "link", "set", tmp, "name", ns_end])
    ip("link", "set", root_end, "master", bridge)
    ip("link", "set", root_end, "up")
    in_ns(netns, ["ip", "link", "set", ns_end, "up"])


def _ensure_addr(netns, dev, cidr):
    have = in_ns(netns, ["ip", "-o", "addr", "show", "dev", dev]).stdout
    if " %s " % cidr not in have:
        in_ns(netns, ["ip", "addr", "add", cidr, "dev", dev])


def up(topo):
    for site in topo.sites:
        if not link_exists(site.bridge):
            ip("link", "add", site.bridge, "type", "bridge")
        ip("link", "set", site.bridge, "up")

    # The controller sits in the shared site; it reaches the others through the router.
    shared = topo.shared
    have = ip("-o", "addr", "show", "dev", shared.bridge).stdout
    if " %s/24 " % topo.controller_address not in have:
        ip("addr", "add", "%s/24" % topo.controller_address, "dev", shared.bridge)
    for site in topo.dr_sites:
        ip("route", "replace", site.subnet, "via", shared.router_address)

    _ensure_ns(ROUTER_NS)
    in_ns(ROUTER_NS, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    for site in topo.sites:
        _ensure_veth(site.router_link_root, ROUTER_NS, site.router_link_ns, site.bridge)
        _ensure_addr(ROUTER_NS, site.router_link_ns, "%s/24" % site.router_address)

    for host in topo.hosts():
        site = topo.sites[host.site_no]
        _ensure_ns(host.netns)
        _ensure_veth(host.veth_root, host.netns, "eth0", site.bridge)
        _ensure_addr(host.netns, "eth0", "%s/24" % host.address)
        in_ns(host.netns, ["ip", "route", "replace", "default", "via", site.router_address])
        _write_etc(topo, host)


def _write_etc(topo, host):
    """`ip netns exec` bind-mounts /etc/netns/<ns>/* over /etc: each host resolves
    through its own site's secondary DNS server first, then the primary."""
    site = topo.sites[host.site_no]
    servers = []
    local_dns = site.host("dns")
    if local_dns and local_dns is not topo.dns_primary:
        servers.append(local_dns.address)
    servers.append(topo.dns_primary.address)
    resolv = "search %s\n%soptions timeout:1 attempts:2\n" % (
        ZONE, "".join("nameserver %s\n" % s for s in servers))
    hosts = "127.0.0.1\tlocalhost\n%s\t%s %s\n" % (host.address, host.fqdn, host.name)
    etc = os.path.join("/etc/netns", host.netns)
    write_file(os.path.join(etc, "resolv.conf"), resolv)
    write_file(os.path.join(etc, "hosts"), hosts)


def down():
    """Remove every lab namespace and link, whatever topology made them."""
    for netns in netns_list():
        if netns == ROUTER_NS or netns.startswith("gdr-"):
            ip("netns", "del", netns, check=False)
            etc = os.path.join("/etc/netns", netns)
            for f in ("resolv.conf", "hosts"):
                try:
                    os.unlink(os.path.join(etc, f))
                except FileNotFoundError:
                    pass
            try:
                os.rmdir(etc)
            except OSError:
                pass
    out = ip("-o", "link", "show").stdout
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith("gdr"):
            ip("link", "del", name, check=False)


def set_wan_link(site, up_):
    ip("link", "set", site.router_link_root, "up" if up_ else "down")


def wan_link_up(site):
    out = ip("-o", "link", "show", "dev", site.router_link_root, check=False).stdout
    return "state UP" in out or ",UP" in out.split(">")[0]
