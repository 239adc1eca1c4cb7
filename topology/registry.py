"""The service registry: service names a lab file may use, each mapped to the command that runs it on a
node, what shows it is ready, and the ports it uses.

Every protocol package declares its own services through the `wirelab.services` entry point, as plain
dicts, so the lab engine never imports a protocol package by name:

    [project.entry-points."wirelab.services"]
    echo = "services.echo:SERVICES"

    SERVICES = {"echo-udp": {"argv": ["{python}", "-m", "services.echo", "--udp"], "ready": ["udp/7"],
                             "about": "...", "restart": "on-failure"}}

Keys of a service:
- `argv`: the command. Placeholders: {python} {node} {lab_dir} (the lab file's folder) {data} (a writable
  folder of the node's that outlives the service) {iface} (for per-interface services). Only these are
  substituted; any other brace is kept as written.
- `ready`: what shows the service is ready: "tcp/PORT" or "udp/PORT" (a socket of the service's own
  processes listens on it in the node), or "ipv4/{iface}" (the interface holds an IPv4 address).
- `ports`: the ports the service uses ("tcp/25"), for describers and `ps`; defaults to the ready sockets.
- `serves_address`: the service runs once per interface whose lab-file address is this word (a DHCP
  client serves `address: dhcp`), with {iface} set to that interface.
- `restart`: the default restart policy ("on-failure", "always" or "never"); a lab file may override it.
- `env`: extra environment variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

from .errors import WirelabError

PLACEHOLDERS = ("python", "node", "lab_dir", "data", "iface")
RESTART_POLICIES = ("on-failure", "always", "never")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace the documented placeholders only: `{python.__class__}` or `{nope}` stay as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True)
class ServiceDef:
    name: str
    argv: tuple[str, ...]
    # ("tcp"|"udp", port): a listening socket must open on that port; ("ipv4", "{iface}"): the interface
    # must hold an IPv4 address (a DHCP client has bound its lease)
    ready: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[str, int], ...] = ()
    about: str = ""
    serves_address: str | None = None
    restart: str = "on-failure"
    env: dict[str, str] = field(default_factory=dict)

    def command(self, values: dict[str, str], args: list[str] | tuple[str, ...] = ()) -> list[str]:
        return [substitute(a, values) for a in (*self.argv, *args)]


def _parse(name: str, spec: dict, origin: str) -> ServiceDef:
    try:
        ready = tuple(tuple(r.split("/", 1)) for r in spec.get("ready", []))
        ports = tuple((p.split("/", 1)[0], int(p.split("/", 1)[1])) for p in spec.get("ports", [])) or tuple(
            (proto, int(port)) for proto, port in ready if proto in ("tcp", "udp"))
        restart = spec.get("restart", "on-failure")
        if restart not in RESTART_POLICIES:
            raise ValueError(f"restart {restart!r} is not one of {', '.join(RESTART_POLICIES)}")
        return ServiceDef(name=name, argv=tuple(spec["argv"]), ready=ready, ports=ports,
                          about=spec.get("about", ""), serves_address=spec.get("serves_address"),
                          restart=restart, env=dict(spec.get("env", {})))
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise WirelabError(f"service {name!r} declared by {origin} is malformed: {e}") from None


@cache
def registry() -> dict[str, ServiceDef]:
    out: dict[str, ServiceDef] = {}
    for ep in entry_points(group="wirelab.services"):
        for name, spec in ep.load().items():
            if name in out:
                raise WirelabError(f"service {name!r} is declared twice (again by {ep.value})")
            out[name] = _parse(name, spec, ep.value)
    return out


def lookup(name: str) -> ServiceDef:
    reg = registry()
    if name not in reg:
        known = ", ".join(sorted(reg)) or "none (is wirelab installed? run make setup)"
        raise WirelabError(f"unknown service {name!r}; known services: {known}")
    return reg[name]


def serving(address: str) -> ServiceDef | None:
    """The service that runs for each interface whose address is `address` (e.g. "dhcp"), if any."""
    return next((s for s in registry().values() if s.serves_address == address), None)
