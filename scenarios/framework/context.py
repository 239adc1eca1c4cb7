"""What a scenario's `run(ctx)` works with: the running lab, its nodes by name, marks, extra captures,
the assertions to evaluate once the captures are complete, and the exchange to draw as a ladder.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scapy.packet import Packet

from topology.capture import Capture
from topology.lab import RunningLab
from topology.state import ServiceRecord

from . import ladder
from .assertions import Assertion
from .describers import Describer
from .dialogue import conversations, describer_for
from .frames import Host, Names, Traffic
from .match import Endpoint, Match


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

    def arrows(self, traffic: Traffic, names: Names) -> list[ladder.Arrow]:
        frames = [f for f in traffic.frames(self.capture, self.after, self.before)
                  if self.match is None or self.match(f.pkt)]
        return ladder.arrows(frames, names, self.label, self.link, self.stop)


@dataclass
class MessageLadderSpec:
    capture: str
    client: Endpoint
    server: Endpoint
    port: int | None
    title: str
    transport: str = "tcp"
    describer: Describer | str | None = None
    after: str | None = None
    before: str | None = None
    columns: list[str] = field(default_factory=list)

    def arrows(self, traffic: Traffic, names: Names) -> list[ladder.Arrow]:
        convs = conversations(traffic, self.capture, self.client, self.server, self.port, self.transport,
                              self.after, self.before)
        return ladder.message_arrows(convs, names, describer_for(self.transport, self.port, self.describer))


class Context:
    def __init__(self, running: RunningLab, folder: Path):
        self.lab, self.folder = running, folder
        self.assertions: list[Assertion] = []
        self.marks: dict[str, float] = {}
        self.commands: list[Command] = []
        self.captures: dict[str, Capture] = {}
        self.services: list[ServiceRecord] = []
        self.ladders: list[LadderSpec | MessageLadderSpec] = []

    # the lab --------------------------------------------------------------------------------------

    def host(self, node: str, segment: str | None = None) -> Host:
        """A node, with its address and MAC on `segment` or on its first addressed interface. An
        interface on DHCP has no address until a lease: its Host has ip "" (and its MAC)."""
        if segment is None:
            addr = self.lab.address(node)  # a clear error when the node has no static address
            iface = next(i for i in self.lab.nodes[node].interfaces if i.address and str(i.address.ip) == addr)
        else:
            iface = self.lab.interface(node, segment)
        return Host(node, str(iface.address.ip) if iface.address else "", iface.mac or "")

    def nodes_on(self, segment: str) -> list[str]:
        """The nodes with an interface on `segment` (its hosts and routers)."""
        return [n for n, spec in self.lab.nodes.items() if spec.interface_on(segment) is not None]

    def run(self, node: str, argv: list[str], *, check: bool = False, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a command on a node; recorded in the report. check=True stops the scenario if it fails."""
        proc = self.lab.run(node, argv, check=check, timeout=timeout)
        self.commands.append(Command(node, argv, proc.returncode, (proc.stdout + proc.stderr)[-2000:]))
        return proc

    def python(self, node: str, args: list[str], **kw) -> subprocess.CompletedProcess:
        """Run the lab's Python on a node: ctx.python("h1", ["-m", "scenarios.framework.traffic", ...])."""
        python = self.lab.backend.placeholders(self.lab.state, node)["python"]
        return self.run(node, [python, *args], **kw)

    def data(self, node: str) -> Path:
        """The node's data folder: files a scenario hands a node (a seed's file, a .torrent) go here. The
        path is the same on this side and inside the node, on every backend."""
        return Path(self.lab.backend.placeholders(self.lab.state, node)["data"])

    # services ------------------------------------------------------------------------------------

    def service(self, node: str, name: str, iface: str | None = None) -> ServiceRecord:
        """The service `name` running on `node` (on `iface`, for a per-interface service such as dhcp-client)."""
        return self.lab.service(node, name, iface)

    def start_service(self, node: str, name: str, args: list[str] | None = None, *, iface: str | None = None,
                      keep: bool = False) -> ServiceRecord:
        """Start a registry service on a node and wait until it is ready. It is stopped when the scenario
        ends, unless keep=True (it then stays, as if the lab had started it)."""
        rec = self.lab.start_service(node, name, args, iface=iface)
        if not keep:
            self.services.append(rec)
        self.lab.wait_ready(rec)
        return rec

    def stop_service(self, rec: ServiceRecord) -> None:
        """Stop a service; returns once it is gone (its ports closed)."""
        self.lab.stop_service(rec)
        self.services = [s for s in self.services if s is not rec]
        self.note(f"{rec.node}: stopped {rec.name}")

    def restart_service(self, rec: ServiceRecord) -> ServiceRecord:
        """Stop a service and start it again with the same arguments; returns the new one, ready."""
        new = self.lab.restart_service(rec)
        self.services = [new if s is rec else s for s in self.services]
        self.note(f"{rec.node}: restarted {rec.name}{' on ' + rec.iface if rec.iface else ''}")
        return new

    def signal_service(self, rec: ServiceRecord, sig: int) -> None:
        """Send a signal to a service (SIGHUP: reload; SIGUSR1 to a DHCP client: renew now)."""
        self.lab.signal_service(rec, sig)
        self.note(f"{rec.node}: signal {signal.Signals(sig).name} to {rec.name}")

    def service_log(self, rec: ServiceRecord) -> str:
        """Everything the service has written so far."""
        return self.lab.service_log(rec)

    def wait_log(self, rec: ServiceRecord, text: str, *, since: int = 0, timeout: float = 10.0) -> bool:
        """Wait until the service's log shows `text` after its first `since` characters. The log is how a
        program says it has done something (a renewal) the capture cannot show yet. False when it never
        does (noted in the report): the scenario goes on, and its assertions say what was missing."""
        deadline = time.monotonic() + timeout
        while text not in self.lab.service_log(rec)[since:]:
            if time.monotonic() > deadline:
                self.note(f"{rec.node}: {rec.name} did not log {text!r} within {timeout:g} s")
                return False
            time.sleep(0.05)
        return True

    # captures, marks, what to check and draw -------------------------------------------------------

    def watch(self, node: str, segment: str) -> str:
        """Capture on node's own interface to segment (what that host's NIC sees); returns its name."""
        iface = self.lab.interface(node, segment).name
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

    def message_ladder(self, capture: str, client: Endpoint, server: Endpoint, port: int | None = None,
                       title: str = "", *, transport: str = "tcp", describer: Describer | str | None = None,
                       after: str | None = None, before: str | None = None, columns: list[str] | None = None) -> None:
        """Draw the dialogues client > server:port as the course does: the handshake, one arrow per
        application message (a command, a reply: the protocol's describer names them), the teardown."""
        where = f"{getattr(server, 'name', server)}{f':{port}' if port else ''}"
        self.ladders.append(MessageLadderSpec(capture, client, server, port, title or f"dialogue with {where}",
                                              transport, describer, after, before, list(columns or [])))

    def note(self, text: str) -> None:
        self.commands.append(Command("", ["#", text], 0, ""))

    def describe_commands(self) -> list[dict]:
        return [{"node": c.node, "command": shlex.join(c.argv), "exit": c.returncode, "output": c.output}
                for c in self.commands]
