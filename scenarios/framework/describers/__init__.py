"""Protocol describers: what the framework knows of one protocol, in one module each.

A describer says how a packet of its protocol is named (in frame lines and ladders), which addresses
it assigns (DHCP's leases, so a laptop's new address reads as "laptop1"), and how the bytes of a
dialogue on its ports split into application messages and how each message is drawn. Its packet
predicates (`dns(...)`, `dhcp(...)`, ...) live beside it, in the same module.

Every module of this package that defines `DESCRIBER` is registered, and so is every object an
outside package names in the `wirelab.describers` entry-point group (`smtp = "mypkg.smtp:DESCRIBER"`):
adding a protocol touches one file. A text protocol reuses `lines.LineProtocol` in a few lines:

    DESCRIBER = LineProtocol("smtp", ports=(25, 587), continued=rb"\\d{3}-")
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from scapy.packet import Packet

if TYPE_CHECKING:
    from ..frames import Names
    from ..stream import Message

ENTRY_POINTS = "wirelab.describers"


class Describer:
    """The base: a protocol that names no packet and splits no bytes. Override what applies."""

    name = ""
    transports: tuple[str, ...] = ("tcp",)  # the transports of its dialogues: "tcp", "udp"
    ports: tuple[int, ...] = ()  # server ports whose dialogues are this protocol
    splits = False  # True when split() cuts a byte stream into messages

    def recognizes(self, pkt: Packet) -> bool:
        """This packet is of the protocol (so summary() and arrow() may name it)."""
        return False

    def summary(self, pkt: Packet) -> str:
        """The packet without its addresses, for frame lines: `DNS A? gaia.cs.umass.edu. (RD=1)`."""
        return self.name.upper()

    def arrow(self, pkt: Packet) -> str:
        """The packet's label on a ladder's arrow (the ladder's title already names the protocol)."""
        return self.summary(pkt)

    def learn(self, pkt: Packet, names: Names) -> None:
        """Tell `names` about addresses this packet assigns (nothing, for most protocols)."""

    def split(self, data: bytes, side: str) -> list[int]:
        """The end offset of each complete message in one side's bytes (side: "client" or "server")."""
        return []

    def label(self, message: Message) -> str:
        """A message's label on a ladder's arrow, in the course's words."""
        return message.text


@cache
def describers() -> tuple[Describer, ...]:
    """Every registered describer: this package's modules, then the entry points'."""
    found: list[Describer] = []
    for info in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(mod, "DESCRIBER", None), Describer):
            found.append(mod.DESCRIBER)
    found += [ep.load() for ep in entry_points(group=ENTRY_POINTS)]
    return tuple(found)


def for_packet(pkt: Packet) -> Describer | None:
    """The describer that recognizes this packet, if any."""
    return next((d for d in describers() if d.recognizes(pkt)), None)


def for_port(transport: str, port: int) -> Describer | None:
    """The describer of dialogues on this server port, if any."""
    return next((d for d in describers() if transport in d.transports and port in d.ports), None)


def named(name: str) -> Describer:
    found = next((d for d in describers() if d.name == name), None)
    if found is None:
        raise LookupError(f"no describer named {name!r}; describers: {', '.join(d.name for d in describers())}")
    return found
