"""The service registry: service names a lab file may use, mapped to the command that runs each on a node
and the port whose opening shows it is ready.

Entries come from the `wirelab.services` entry point as plain dicts, so this package never imports a
protocol package by name:

    {"echo-udp": {"argv": ["{python}", "-m", "services.echo", "--udp"], "ready": ["udp/7"], "about": "..."}}

`ready` lists what shows the service is ready: "tcp/PORT" or "udp/PORT" (a listening socket in the node),
or "ipv4/{iface}" (the interface holds an IPv4 address: a DHCP client has bound its lease).

Placeholders in argv: {python}, {node}, {lab_dir} (the lab file's folder), {data} (a writable folder of
the node's), {iface} (for per-interface services such as a DHCP client).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

from .errors import WirelabError


@dataclass(frozen=True)
class ServiceDef:
    name: str
    argv: tuple[str, ...]
    # ("tcp"|"udp", port): a listening socket must open on that port; ("ipv4", "{iface}"): the interface
    # must hold an IPv4 address (a DHCP client has bound its lease)
    ready: tuple[tuple[str, str], ...] = ()
    about: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def command(self, **values: str) -> list[str]:
        return [a.format(**values) for a in self.argv]


@cache
def registry() -> dict[str, ServiceDef]:
    out: dict[str, ServiceDef] = {}
    for ep in entry_points(group="wirelab.services"):
        for name, spec in ep.load().items():
            ready = tuple(tuple(r.split("/", 1)) for r in spec.get("ready", []))
            out[name] = ServiceDef(name=name, argv=tuple(spec["argv"]), ready=ready,
                                   about=spec.get("about", ""),
                                   env=dict(spec.get("env", {})))
    return out


def lookup(name: str) -> ServiceDef:
    reg = registry()
    if name not in reg:
        known = ", ".join(sorted(reg)) or "none (is wirelab installed? run make setup)"
        raise WirelabError(f"unknown service {name!r}; known services: {known}")
    return reg[name]
