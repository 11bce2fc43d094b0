"""The lab's shape: sites, hosts, addresses, namespaces and link names.

Everything that knows a lab address or name lives here (and in inventories/lab, which
reads topology.json written from this). Site 0 is the shared site: the primary DNS
server and the controller (this machine's root namespace). Sites 1 and 2 follow the
reference architecture (DB, management and application hosts); sites 3.. hold only an
application host. Every site has a secondary DNS server its hosts resolve through.
"""
import json
import os
from dataclasses import asdict, dataclass, field

NET_PREFIX = "198.18"          # RFC 2544 benchmarking range: never routed anywhere
ZONE = "genesys.example"
MASTER_NAME = "cs-master"      # relative to ZONE
TSIG_KEY_NAME = "genesys-dr-key"
MASTER_TTL = 5
ROUTER_NS = "gdr-wan"
ROUTER_OCTET = 254
CONTROLLER_OCTET = 1

# role -> (last octet, short tag used in link names)
HOST_ROLES = {
    "db": (10, "db"),
    "mgmt": (20, "mg"),
    "app": (30, "ap"),
    "dns": (53, "dn"),
}
FULL_SITE_ROLES = ("db", "mgmt", "app", "dns")
PROXY_SITE_ROLES = ("app", "dns")


def state_dir():
    return os.environ.get("GENESYS_LAB_STATE", "/var/lib/genesys-lab")


@dataclass
class Host:
    name: str          # inventory hostname, e.g. site1-db
    site: str          # site0 (shared), site1, ...
    site_no: int
    role: str          # db | mgmt | app | dns
    address: str
    netns: str
    veth_root: str     # bridge-side end of the host's link, in the root namespace

    @property
    def fqdn(self):
        return "%s.%s" % (self.name, ZONE)

    @property
    def dir(self):
        return os.path.join(state_dir(), "hosts", self.name)


@dataclass
class Site:
    name: str
    number: int
    subnet: str
    router_address: str
    bridge: str
    router_link_root: str   # cut this to partition the site from the WAN
    router_link_ns: str
    hosts: list = field(default_factory=list)

    def host(self, role):
        for h in self.hosts:
            if h.role == role:
                return h
        return None


@dataclass
class Topology:
    sites: list
    main_site: str = "site1"
    secondary_site: str = "site2"

    @classmethod
    def build(cls, n_sites, main_site="site1"):
        if n_sites < 2:
            raise ValueError("the lab needs at least 2 sites (got %d)" % n_sites)
        if main_site not in ("site1", "site2"):
            raise ValueError("the main site is site1 or site2 (got %s)" % main_site)
        sites = []
        for k in range(0, n_sites + 1):
            name = "site%d" % k
            site = Site(
                name=name, number=k,
                subnet="%s.%d.0/24" % (NET_PREFIX, k),
                router_address="%s.%d.%d" % (NET_PREFIX, k, ROUTER_OCTET),
                bridge="gdrbr%d" % k,
                router_link_root="gdrr%d" % k,
                router_link_ns="wan%d" % k,
            )
            if k == 0:
                roles = ("dns",)
            elif k <= 2:
                roles = FULL_SITE_ROLES
            else:
                roles = PROXY_SITE_ROLES
            for role in roles:
                octet, tag = HOST_ROLES[role]
                hname = "dns-primary" if k == 0 else "%s-%s" % (name, role)
                site.hosts.append(Host(
                    name=hname, site=name, site_no=k, role=role,
                    address="%s.%d.%d" % (NET_PREFIX, k, octet),
                    netns="gdr-%s" % hname,
                    veth_root="gdrv%d%s" % (k, tag),
                ))
            sites.append(site)
        return cls(sites=sites, main_site=main_site, secondary_site="site2" if main_site == "site1" else "site1")

    @property
    def shared(self):
        return self.sites[0]

    @property
    def dr_sites(self):
        return self.sites[1:]

    @property
    def controller_address(self):
        return "%s.0.%d" % (NET_PREFIX, CONTROLLER_OCTET)

    def site(self, name):
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError("no site %r in this lab (sites: %s)" % (name, ", ".join(s.name for s in self.dr_sites)))

    def hosts(self):
        return [h for s in self.sites for h in s.hosts]

    def host(self, name):
        for h in self.hosts():
            if h.name == name:
                return h
        raise KeyError(name)

    @property
    def dns_primary(self):
        return self.shared.host("dns")

    def to_json(self):
        return json.dumps({
            "main_site": self.main_site,
            "secondary_site": self.secondary_site,
            "zone": ZONE,
            "master_name": "%s.%s" % (MASTER_NAME, ZONE),
            "controller_address": self.controller_address,
            "sites": [dict(asdict(s), hosts=[asdict(h) for h in s.hosts]) for s in self.sites],
        }, indent=2)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            data = json.load(f)
        sites = []
        for s in data["sites"]:
            hosts = [Host(**h) for h in s.pop("hosts")]
            sites.append(Site(hosts=hosts, **s))
        return cls(sites=sites, main_site=data["main_site"], secondary_site=data["secondary_site"])
