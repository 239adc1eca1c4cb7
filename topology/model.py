"""The lab model: plain data parsed from a lab file, with no I/O.

A backend realises a `Lab`; the loader builds one from YAML; addressing and routing complete it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from .linksettings import Delay, Rate

IPv4Interface = ipaddress.IPv4Interface
IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address


@dataclass
class Segment:
    """An L2 broadcast domain, realised as one Linux bridge."""

    name: str
    subnet: IPv4Network
    kind: str = "switch"  # "switch" learns addresses; "hub" floods every frame to every port
    mtu: int = 1500
    rate: Rate | None = None  # each host's own link at this rate, in each direction
    delay: Delay | None = None  # needs sch_netem in the kernel
    loss: float | None = None  # percent, each frame towards each receiver
    index: int = 0


@dataclass
class Interface:
    name: str  # inside the node: eth0, eth1, ...
    segment: str
    address: IPv4Interface | None = None  # None until addressing fills it in (or DHCP does, at run time)
    dhcp: bool = False
    mac: str | None = None
    index: int = 0


@dataclass
class Route:
    to: IPv4Network
    via: IPv4Address
    auto: bool = False  # computed by wirelab rather than written in the lab file


@dataclass
class ServiceRef:
    """A service a node runs: a name from the service registry and extra arguments."""

    name: str
    args: list[str] = field(default_factory=list)
    restart: str | None = None  # "on-failure", "always" or "never"; None: the service's own default


@dataclass
class Node:
    name: str
    kind: str = "host"  # "host" or "router"
    interfaces: list[Interface] = field(default_factory=list)
    gateway: IPv4Address | None = None
    gateway_ref: str | None = None  # as written: a node name or an address
    routes: list[Route] = field(default_factory=list)
    services: list[ServiceRef] = field(default_factory=list)
    index: int = 0
    host: str | None = None  # the swarm host to place it on (other backends: one host, ignored)

    @property
    def is_router(self) -> bool:
        return self.kind == "router"

    def interface_on(self, segment: str) -> Interface | None:
        return next((i for i in self.interfaces if i.segment == segment), None)


@dataclass
class Lab:
    name: str
    segments: dict[str, Segment]
    nodes: dict[str, Node]
    description: str = ""
    source: Path | None = None
    ipv6: bool = False
    dns: list[IPv4Address] = field(default_factory=list)  # written into every node's resolv.conf
    domain: str | None = None

    @property
    def hash(self) -> str:
        """Six hex digits naming every kernel object of this lab (`wl<hash>...`)."""
        return lab_hash(self.name)

    @property
    def directory(self) -> Path | None:
        return self.source.parent if self.source else None

    def routers(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.is_router]

    def members(self, segment: str) -> list[tuple[Node, Interface]]:
        return [(n, i) for n in self.nodes.values() for i in n.interfaces if i.segment == segment]

    def address_of(self, node: str, segment: str | None = None) -> IPv4Address | None:
        """The node's address (on `segment`, or its first addressed interface)."""
        for iface in self.nodes[node].interfaces:
            if iface.address and (segment is None or iface.segment == segment):
                return iface.address.ip
        return None

    def to_dict(self) -> dict:
        """A JSON-ready view, used for `wirelab ps --json` and the lab record; `from_dict` reads it back."""
        return {
            "name": self.name,
            "description": self.description,
            "source": str(self.source) if self.source else None,
            "ipv6": self.ipv6,
            "dns": [str(a) for a in self.dns],
            "domain": self.domain,
            "segments": {
                s.name: {
                    "kind": s.kind,
                    "subnet": str(s.subnet),
                    "mtu": s.mtu,
                    "rate": str(s.rate) if s.rate else None,
                    "delay": str(s.delay) if s.delay else None,
                    "loss": s.loss,
                }
                for s in self.segments.values()
            },
            "nodes": {
                n.name: {
                    "kind": n.kind,
                    "interfaces": [
                        {
                            "name": i.name,
                            "segment": i.segment,
                            "address": "dhcp" if i.dhcp else (str(i.address) if i.address else None),
                            "mac": i.mac,
                        }
                        for i in n.interfaces
                    ],
                    "gateway": str(n.gateway) if n.gateway else None,
                    "routes": [{"to": str(r.to), "via": str(r.via), "auto": r.auto} for r in n.routes],
                    "services": [{"name": s.name, "args": s.args, "restart": s.restart} for s in n.services],
                    "host": n.host,
                }
                for n in self.nodes.values()
            },
        }

    @classmethod
    def from_dict(cls, d: dict) -> Lab:
        """The model again from `to_dict`'s view (the lab record): no re-validation, it was checked."""
        segments = {
            name: Segment(name=name, subnet=IPv4Network(sd["subnet"]), kind=sd["kind"], mtu=sd["mtu"],
                          rate=Rate.parse(sd["rate"]) if sd.get("rate") else None,
                          delay=Delay.parse(sd["delay"]) if sd.get("delay") else None,
                          loss=sd.get("loss"), index=idx)
            for idx, (name, sd) in enumerate(d["segments"].items())
        }
        nodes = {}
        for nidx, (name, nd) in enumerate(d["nodes"].items()):
            node = Node(name=name, kind=nd["kind"], index=nidx, host=nd.get("host"),
                        gateway=IPv4Address(nd["gateway"]) if nd.get("gateway") else None,
                        routes=[Route(IPv4Network(r["to"]), IPv4Address(r["via"]), r.get("auto", False))
                                for r in nd.get("routes", [])],
                        services=[ServiceRef(s["name"], list(s.get("args", [])), s.get("restart"))
                                  for s in nd.get("services", [])])
            for iidx, i in enumerate(nd["interfaces"]):
                dynamic = i["address"] == "dhcp"
                node.interfaces.append(Interface(
                    name=i["name"], segment=i["segment"], mac=i.get("mac"), index=iidx, dhcp=dynamic,
                    address=IPv4Interface(i["address"]) if i["address"] and not dynamic else None))
            nodes[name] = node
        return cls(name=d["name"], segments=segments, nodes=nodes, description=d.get("description", ""),
                   source=Path(d["source"]) if d.get("source") else None, ipv6=d.get("ipv6", False),
                   dns=[IPv4Address(a) for a in d.get("dns", [])], domain=d.get("domain"))


def lab_hash(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:6]
