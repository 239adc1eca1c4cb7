"""The server's configuration: one address pool per subnet, with exclusions, reservations and options.

    server_id: 10.0.3.60          # optional: else the address of the interface a request came in on
    lease_time: 3600              # seconds; renew (T1) and rebind (T2) default to 1/2 and 7/8 of it
    pools:
      - subnet: 10.0.1.0/24
        range: 10.0.1.100-10.0.1.199
        exclude: [10.0.1.150, 10.0.1.160-10.0.1.169]
        router: 10.0.1.1
        dns: [10.0.3.53]
        domain: campus.lab
        reservations: [{mac: "02:00:00:00:01:99", address: 10.0.1.99}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import yaml

from .. import daemon
from .packet import Opt


class ConfigError(daemon.ConfigError):
    """A mistake in the server's configuration file, said in one line."""


@dataclass
class Pool:
    subnet: IPv4Network
    first: IPv4Address
    last: IPv4Address
    exclude: frozenset[IPv4Address] = frozenset()
    reservations: dict[str, IPv4Address] = field(default_factory=dict)  # mac -> address
    router: IPv4Address | None = None
    dns: list[IPv4Address] = field(default_factory=list)
    domain: str | None = None
    lease_time: int = 3600
    renew: int | None = None
    rebind: int | None = None

    @property
    def name(self) -> str:
        return str(self.subnet)

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def dynamic(self, ip: IPv4Address) -> bool:
        """May this address be handed to any client? In the range, not excluded, not reserved."""
        return self.first <= ip <= self.last and ip not in self.exclude and ip not in self._reserved

    def assignable(self, ip: IPv4Address, mac: str) -> bool:
        return self.reservations.get(mac) == ip or self.dynamic(ip)

    def __post_init__(self) -> None:
        self._reserved = frozenset(self.reservations.values())

    def times(self) -> tuple[int, int, int]:
        """Lease time, T1 and T2 (RFC 2131 section 4.4.5 defaults)."""
        t1 = self.renew if self.renew is not None else self.lease_time // 2
        t2 = self.rebind if self.rebind is not None else self.lease_time * 7 // 8
        return self.lease_time, t1, t2

    def options(self) -> dict[int, object]:
        opts: dict[int, object] = {Opt.SUBNET_MASK: self.subnet.netmask}
        if self.router:
            opts[Opt.ROUTER] = [self.router]
        if self.dns:
            opts[Opt.DNS_SERVERS] = self.dns
        if self.domain:
            opts[Opt.DOMAIN_NAME] = self.domain
        return opts


@dataclass
class ServerConfig:
    pools: list[Pool]
    server_id: IPv4Address | None = None
    offer_hold: int = 60  # seconds an offered address stays held for the client it was offered to
    decline_hold: int = 600  # seconds a declined address (in use by someone) is kept out of the pool

    def pool_for(self, ip: IPv4Address) -> Pool | None:
        return next((p for p in self.pools if ip in p.subnet), None)


def _addr(value: object, where: str) -> IPv4Address:
    try:
        return IPv4Address(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not an IPv4 address") from None


def _span(value: object, where: str) -> tuple[IPv4Address, IPv4Address]:
    text = str(value)
    if "-" in text:
        a, b = text.split("-", 1)
        lo, hi = _addr(a.strip(), where), _addr(b.strip(), where)
    else:
        lo = hi = _addr(text, where)
    if hi < lo:
        raise ConfigError(f"{where}: range {text} ends before it starts")
    return lo, hi


def parse_pool(spec: dict, where: str, lease_time: int) -> Pool:
    if not isinstance(spec, dict) or "subnet" not in spec:
        raise ConfigError(f"{where}: a pool needs `subnet:` (for example 10.0.1.0/24)")
    try:
        subnet = IPv4Network(str(spec["subnet"]))
    except ValueError as e:
        raise ConfigError(f"{where}: subnet {spec['subnet']!r}: {e}") from None
    lo, hi = _span(spec.get("range", f"{subnet[1]}-{subnet[-2]}"), f"{where}.range")
    if lo not in subnet or hi not in subnet:
        raise ConfigError(f"{where}: range {lo}-{hi} is not inside subnet {subnet}")
    exclude: set[IPv4Address] = set()
    for i, e in enumerate(spec.get("exclude", []) or []):
        a, b = _span(e, f"{where}.exclude[{i}]")
        exclude.update(IPv4Address(n) for n in range(int(a), int(b) + 1))
    reservations = {}
    for i, r in enumerate(spec.get("reservations", []) or []):
        if not isinstance(r, dict) or "mac" not in r or "address" not in r:
            raise ConfigError(f"{where}.reservations[{i}]: write {{mac: 02:..., address: A}}")
        ip = _addr(r["address"], f"{where}.reservations[{i}]")
        if ip not in subnet:
            raise ConfigError(f"{where}.reservations[{i}]: {ip} is not inside subnet {subnet}")
        reservations[str(r["mac"]).lower()] = ip
    return Pool(subnet=subnet, first=lo, last=hi, exclude=frozenset(exclude), reservations=reservations,
                router=_addr(spec["router"], f"{where}.router") if spec.get("router") else None,
                dns=[_addr(d, f"{where}.dns") for d in _list(spec.get("dns"))],
                domain=spec.get("domain"), lease_time=int(spec.get("lease_time", lease_time)),
                renew=spec.get("renew"), rebind=spec.get("rebind"))


def _list(value: object) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def parse_config(data: dict, source: str = "config") -> ServerConfig:
    if not isinstance(data, dict) or not data.get("pools"):
        raise ConfigError(f"{source}: no `pools:`; give at least one pool with a subnet and a range")
    lease_time = int(data.get("lease_time", 3600))
    pools = [parse_pool(p, f"{source}: pools[{i}]", lease_time) for i, p in enumerate(data["pools"])]
    for i, a in enumerate(pools):
        for b in pools[i + 1:]:
            if a.subnet.overlaps(b.subnet):
                raise ConfigError(f"{source}: pools {a.subnet} and {b.subnet} overlap; one pool per subnet")
    sid = data.get("server_id")
    return ServerConfig(pools=pools, server_id=_addr(sid, f"{source}: server_id") if sid else None,
                        offer_hold=int(data.get("offer_hold", 60)),
                        decline_hold=int(data.get("decline_hold", 600)))


def load_config(path: str | Path) -> ServerConfig:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such file; pass the server's pools with --config FILE")
    try:
        data = yaml.safe_load(daemon.read_config(p))
    except daemon.ConfigError as e:
        raise ConfigError(str(e)) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {str(e).splitlines()[0]}") from None
    return parse_config(data, str(p))


def interface_pool(config: ServerConfig, iface: IPv4Interface) -> Pool | None:
    return config.pool_for(iface.ip)
