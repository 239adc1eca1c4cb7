"""What a scenario's `run(ctx)` works with: the running lab, its nodes by name, marks, extra captures,
the assertions to evaluate once the captures are complete, and the exchange to draw as a ladder.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scapy.packet import Packet

from topology.capture import Capture
from topology.lab import RunningLab
from topology.state import ServiceRecord

from .assertions import Assertion
from .frames import Host
from .match import Match


@dataclass
class Command:
    node: str
    argv: list[str]
    returncode: int
    output: str


@dataclass
class LadderSpec:
    capture: str
    match: Match | None
    title: str
    after: str | None = None
    before: str | None = None
    columns: list[str] = field(default_factory=list)  # node names, left to right
    label: Callable[[Packet], str | None] | None = None  # a scenario's own words for some packets
    link: bool = False  # arrows join Ethernet ends (this hop) rather than IP ends
    stop: Callable[[Packet], str | None] | None = None  # where a packet's journey ends, if not its address


class Context:
    def __init__(self, running: RunningLab, folder: Path):
        self.lab, self.folder = running, folder
        self.assertions: list[Assertion] = []
        self.marks: dict[str, float] = {}
        self.commands: list[Command] = []
        self.captures: dict[str, Capture] = {}
        self.services: list[ServiceRecord] = []
        self.ladders: list[LadderSpec] = []

    # the lab --------------------------------------------------------------------------------------

    def host(self, node: str, segment: str | None = None) -> Host:
        """A node, with its address (and MAC) on `segment` or on its first addressed interface."""
        addr = self.lab.address(node, segment)
        mac = next((i["mac"] for i in self.lab.nodes[node]["interfaces"]
                    if (segment is None or i["segment"] == segment) and i["address"]
                    and i["address"].split("/")[0] == addr), "")
        return Host(node, addr, mac)

    def run(self, node: str, argv: list[str], *, check: bool = False, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a command on a node; recorded in the report. check=True stops the scenario if it fails."""
        proc = self.lab.run(node, argv, check=check, timeout=timeout)
        self.commands.append(Command(node, argv, proc.returncode, (proc.stdout + proc.stderr)[-2000:]))
        return proc

    def python(self, node: str, args: list[str], **kw) -> subprocess.CompletedProcess:
        """Run the lab's Python on a node: ctx.python("h1", ["-m", "scenarios.traffic", ...])."""
        python = self.lab.backend.placeholders(self.lab.state, node)["python"]
        return self.run(node, [python, *args], **kw)

    def start_service(self, node: str, name: str, args: list[str] | None = None) -> ServiceRecord:
        """Start a registry service on a node for this scenario only (stopped when it ends)."""
        rec = self.lab.start_service(node, name, args)
        self.services.append(rec)
        self.lab.wait_ready(rec)
        return rec

    # captures, marks, what to check and draw -------------------------------------------------------

    def watch(self, node: str, segment: str) -> str:
        """Capture on node's own interface to segment (what that host's NIC sees); returns its name."""
        iface = self.lab.interface(node, segment)["name"]
        name = f"{node}-{iface}"
        if name not in self.captures:
            cap = Capture(self.lab, segment, self.folder / f"{name}.pcap", node=node)
            self.captures[name] = cap.start()
        return name

    def mark(self, name: str) -> None:
        """A point in time; assertions and ladders can look only after or before it."""
        self.marks[name] = time.time()

    def expect(self, *assertions: Assertion) -> None:
        self.assertions.extend(assertions)

    def ladder(self, capture: str, match: Match | None = None, title: str = "", *, after: str | None = None,
               before: str | None = None, columns: list[str] | None = None,
               label: Callable[[Packet], str | None] | None = None, link: bool = False,
               stop: Callable[[Packet], str | None] | None = None) -> None:
        """Draw the frames of `capture` that `match` as a message sequence (ladder) diagram.
        columns: lifelines, left to right (ladder.BROADCAST places the broadcast one); label(pkt) may
        name a packet in the scenario's words (None: the usual description); link=True draws each
        frame between its Ethernet ends, so a datagram a router drops ends at that router; stop(pkt) may
        name the lifeline where a packet's journey ends (None: where it is addressed)."""
        self.ladders.append(LadderSpec(capture, match, title or (match.label if match else capture),
                                       after, before, list(columns or []), label, link, stop))

    def note(self, text: str) -> None:
        self.commands.append(Command("", ["#", text], 0, ""))

    def describe_commands(self) -> list[dict]:
        return [{"node": c.node, "command": shlex.join(c.argv), "exit": c.returncode, "output": c.output}
                for c in self.commands]
