"""Bringing labs up and down, and working with a lab that is up, through whichever backend made it.

This is the API the CLI, the scenarios and the tests use:

    running = up(load("campus"))          # or attach("campus") for a lab already up
    running.run("client1", ["ping", "-c1", "10.0.2.10"])
    rec = running.service("dhcp", "dhcp-server"); running.restart_service(rec)
    with running.capture("lan1") as cap: ...
    down("campus")

Every process on a node is the backend's: started, signalled, listed and waited for through it.
Services run under a supervisor on their node (topology.supervisor), which restarts them as their
policy says and keeps a status file that `ps` reads.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .backend import Backend, Process, get_backend
from .errors import WirelabError
from .model import Interface, Lab, Node, Segment
from .progress import Progress
from .registry import lookup, serving
from .state import (
    LabState,
    ServiceRecord,
    admission,
    all_labs,
    being_made,
    hold_owner,
    lab_dir,
    prepare_run_dir,
    release_owner,
    release_run_dir,
)

# The backend when --backend is not given: $WIRELAB_BACKEND, else the word in /etc/wirelab/backend (the
# machine's setting: it holds under sudo, which drops the caller's environment), else netns.
BACKEND_FILE = Path("/etc/wirelab/backend")
DEFAULT_BACKEND = (os.environ.get("WIRELAB_BACKEND", "").strip()
                   or (BACKEND_FILE.read_text().strip() if BACKEND_FILE.is_file() else "") or "netns")
STOP_GRACE = 5.0  # seconds a stopped service has to exit before it is killed


@dataclass(frozen=True)
class ServiceStatus:
    """What `ps` says of a service: running, restarting, exited (with its status) or gone."""

    state: str
    restarts: int = 0
    exit: int | None = None

    def __str__(self) -> str:
        text = self.state
        if self.exit is not None and self.state != "running":
            how = f"killed by {signal.Signals(-self.exit).name}" if self.exit < 0 else f"status {self.exit}"
            text += f" ({how})"
        return text + (f", restarted {self.restarts}x" if self.restarts else "")


class RunningLab:
    """A lab that is up: run commands on its nodes, start services, capture on its segments."""

    def __init__(self, state: LabState, backend: Backend):
        self.state, self.backend = state, backend

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def lab(self) -> Lab:
        return self.state.lab

    @property
    def nodes(self) -> dict[str, Node]:
        return self.state.lab.nodes

    @property
    def segments(self) -> dict[str, Segment]:
        return self.state.lab.segments

    def _node(self, node: str) -> Node:
        if node not in self.nodes:
            raise WirelabError(f"lab {self.name} has no node {node!r}; nodes: {', '.join(self.nodes)}")
        return self.nodes[node]

    def address(self, node: str, segment: str | None = None) -> str:
        """A node's static address (without prefix) on a segment, or its first one."""
        for iface in self._node(node).interfaces:
            if (segment is None or iface.segment == segment) and iface.address is not None:
                return str(iface.address.ip)
        raise WirelabError(f"node {node} has no static address{' on ' + segment if segment else ''}")

    def interface(self, node: str, segment: str) -> Interface:
        iface = self._node(node).interface_on(segment)
        if iface is None:
            raise WirelabError(f"node {node} has no interface on segment {segment}")
        return iface

    # commands -------------------------------------------------------------------------------------

    def argv(self, node: str, argv: list[str], interactive: bool = False) -> list[str]:
        return self.backend.node_argv(self.state, node, argv, interactive=interactive)

    def run(self, node: str, argv: list[str], *, check: bool = False, timeout: float | None = 60,
            input: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(node, argv), capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise WirelabError(f"{node}: `{shlex.join(argv)}` exited {proc.returncode}: "
                               f"{(proc.stderr or proc.stdout).strip()[-400:]}")
        return proc

    def popen(self, node: str, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(node, argv), **kw)

    def segment_popen(self, segment: str, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(self.backend.segment_argv(self.state, segment, argv), **kw)

    def interrupt(self, proc: subprocess.Popen, sig: int = signal.SIGINT) -> None:
        """Signal a command started with popen or segment_popen (start_new_session=True) and what it forked."""
        self.backend.interrupt(self.state, proc, sig)

    def bridge(self, segment: str) -> str:
        return self.backend.bridge(self.state, segment)

    def processes(self, node: str) -> list[Process]:
        self._node(node)
        return self.backend.processes(self.state, node)

    # services -------------------------------------------------------------------------------------

    def services(self, node: str | None = None, name: str | None = None) -> list[ServiceRecord]:
        """The services running in the lab, optionally only those of a node and/or of a name."""
        return [s for s in self.state.services if (node is None or s.node == node) and (name is None or s.name == name)]

    def service(self, node: str, name: str, iface: str | None = None) -> ServiceRecord:
        """The one service `name` on `node` (on interface `iface`, for per-interface services)."""
        found = [s for s in self.services(node, name) if iface is None or s.iface == iface]
        if len(found) != 1:
            raise WirelabError(f"{node} runs {len(found)} services named {name!r}"
                               f"{' on ' + iface if iface else ''} (expected one)")
        return found[0]

    def start_service(self, node: str, name: str, args: list[str] | None = None,
                      iface: str | None = None, restart: str | None = None) -> ServiceRecord:
        """Start a registry service on node under its supervisor; returns at once (see wait_ready)."""
        self._node(node)
        sdef = lookup(name)
        values = self.backend.placeholders(self.state, node) | {"iface": iface or ""}
        argv = sdef.command(values, args or [])
        tag = f"{node}-{name}{'-' + iface if iface else ''}"
        log = lab_dir(self.name) / "logs" / f"{tag}.log"
        status = Path(values["data"]) / "services" / f"{name}{'-' + iface if iface else ''}.status.json"
        status.unlink(missing_ok=True)
        policy = restart or sdef.restart
        supervised = [values["python"], "-m", "topology.supervisor", "--status", str(status),
                      "--restart", policy, "--", *argv]
        handle = self.backend.spawn(self.state, node, supervised, log=log,
                                    env=sdef.env | {"PYTHONUNBUFFERED": "1"})
        rec = ServiceRecord(node=node, name=name, pid=handle, log=str(log), argv=argv, iface=iface,
                            args=list(args or []), restart=policy, status=str(status))
        self.state.services.append(rec)
        self.state.save()
        return rec

    def wait_ready(self, rec: ServiceRecord, timeout: float = 20.0) -> None:
        """Observe readiness: every port the service declares has a listening socket of its own, and
        every interface it serves has an address. A service that dies or restarts meanwhile fails."""
        sdef = lookup(rec.name)
        deadline = time.monotonic() + timeout
        while True:
            status = self.service_status(rec)
            if status.state not in ("running", "starting"):
                raise WirelabError(f"service {rec.label} on {rec.node} {status} at start; its log ends:\n"
                                   f"{_tail(self.service_log(rec))}")
            if status.state == "running" and self._ready(rec, sdef.ready):
                return
            if time.monotonic() > deadline:
                wanted = ", ".join(f"an address on {w.format(iface=rec.iface or '')}" if p == "ipv4" else f"{p} port {w}"
                                   for p, w in sdef.ready)
                raise WirelabError(f"service {rec.label} on {rec.node} did not get ready ({wanted}) within "
                                   f"{timeout:.0f} s; its log ends:\n{_tail(self.service_log(rec))}")
            time.sleep(0.05)

    def _ready(self, rec: ServiceRecord, ready: tuple[tuple[str, str], ...]) -> bool:
        sockets = {(proto, int(port)) for proto, port in ready if proto in ("tcp", "udp")}
        # A port counts only when this service's own processes hold it, not another one's
        # (two services on one port: the second must fail, not look ready).
        if sockets and not sockets <= self.backend.listening(self.state, rec.node, rec.pid):
            return False
        for proto, what in ready:
            if proto == "ipv4":
                dev = what.format(iface=rec.iface or "")
                out = self.run(rec.node, ["ip", "-4", "-o", "addr", "show", "dev", dev], timeout=10).stdout
                if "inet " not in out:
                    return False
        return True

    def start_services(self, progress: Progress) -> None:
        wanted: list[tuple[str, str, list[str], str | None, str | None]] = []
        for node in self.nodes.values():
            for svc in node.services:
                wanted.append((node.name, svc.name, svc.args, None, svc.restart))
            for iface in node.interfaces:
                if iface.dhcp and (sdef := serving("dhcp")) is not None:
                    wanted.append((node.name, sdef.name, [], iface.name, None))
        if not wanted:
            return
        with progress.step("services", len(wanted)):
            recs = [self.start_service(n, s, a, iface=i, restart=r) for n, s, a, i, r in wanted]
            for rec in recs:
                self.wait_ready(rec)

    def service_status(self, rec: ServiceRecord) -> ServiceStatus:
        """running, restarting or exited (from the supervisor's status file), starting before the
        supervisor has written it, gone when the supervisor itself was killed."""
        alive = self.backend.alive(self.state, rec.pid)
        try:
            data = json.loads(self.backend.read_file(self.state, rec.node, rec.status) or b"")
        except ValueError:
            return ServiceStatus("starting" if alive else "gone")
        state = data.get("state", "running")
        if not alive and state != "exited":
            state = "gone"
        return ServiceStatus(state, int(data.get("restarts", 0)), data.get("exit"))

    def stop_service(self, rec: ServiceRecord, *, timeout: float = STOP_GRACE) -> None:
        """Stop a service (and its supervisor) and wait until it is gone: its ports are closed."""
        self.backend.signal(self.state, rec.pid, signal.SIGTERM)
        if not self.backend.wait(self.state, rec.pid, timeout):
            self.backend.signal(self.state, rec.pid, signal.SIGKILL)
            self.backend.wait(self.state, rec.pid, 5.0)
        self.state.services = [s for s in self.state.services if s.pid != rec.pid]
        self.state.save()

    def restart_service(self, rec: ServiceRecord, *, timeout: float = 20.0) -> ServiceRecord:
        """Stop a service and start it again with the same arguments; returns the new one, ready."""
        self.stop_service(rec)
        new = self.start_service(rec.node, rec.name, rec.args, iface=rec.iface, restart=rec.restart)
        self.wait_ready(new, timeout)
        return new

    def signal_service(self, rec: ServiceRecord, sig: int) -> None:
        """Send a signal to a service (SIGHUP to reload, SIGUSR1 to a DHCP client to renew...)."""
        if not self.backend.alive(self.state, rec.pid):
            raise WirelabError(f"service {rec.label} on {rec.node} is not running")
        self.backend.signal(self.state, rec.pid, sig)

    def service_log(self, rec: ServiceRecord) -> str:
        """Everything the service (and its supervisor) has written so far."""
        return (self.backend.read_file(self.state, rec.node, rec.log) or b"").decode(errors="replace")

    def capture(self, segment: str, path: Path | str, filter: str = ""):
        from .capture import Capture

        return Capture(self, segment, Path(path), filter)


def up(lab: Lab, backend: str | None = None, progress: Progress | None = None,
       services: bool = True) -> RunningLab:
    progress = progress or Progress(quiet=True)
    be = get_backend(backend or DEFAULT_BACKEND)
    be.check(lab)
    for svc in (s for n in lab.nodes.values() for s in n.services):
        lookup(svc.name)  # an unknown service is refused before anything is made
    with admission():
        old = LabState.load(lab.name)
        if old is not None:
            if being_made(lab.name):
                raise WirelabError(f"lab {lab.name} is already coming up (another wirelab is making it on "
                                   f"{old.backend}); wait for it, or interrupt it and run `wirelab down {lab.name}`")
            raise WirelabError(f"lab {lab.name} is already up (backend {old.backend}); run `wirelab down {lab.name}` "
                               f"first")
        prepare_run_dir()
        state = LabState(name=lab.name, hash=lab.hash, backend=be.name,
                         source=str(lab.source) if lab.source else None, lab=lab)
        be.plan(lab, state)
        owner = hold_owner(state)
        state.save()  # before any object exists: `down` knows what to remove even after kill -9
    running = RunningLab(state, be)
    try:
        be.up(lab, state, progress)
        if services:
            running.start_services(progress)
        state.status = "up"
        state.save()
    except BaseException as e:
        why = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        progress.note(f"[red]bring-up of {lab.name} {why}; removing what was made[/]")
        release_owner(owner)
        down(lab.name, progress=Progress(quiet=True))
        raise
    release_owner(owner)
    return running


def attach(name: str) -> RunningLab:
    state = LabState.load(name)
    if state is None:
        up_now = ", ".join(all_labs()) or "none"
        raise WirelabError(f"lab {name!r} is not up (labs up: {up_now}); bring it up with `wirelab up {name}`")
    return RunningLab(state, get_backend(state.backend))


def down(name: str, progress: Progress | None = None) -> bool:
    """Remove everything the lab's record names. Returns False when there was no such lab."""
    progress = progress or Progress(quiet=True)
    with admission():
        state = LabState.load(name)
        if state is None:
            return False
        if being_made(name):
            raise WirelabError(f"lab {name} is coming up right now (another wirelab is making it); "
                               f"wait for it or interrupt it, then run `wirelab down {name}`")
        get_backend(state.backend).down(state, progress)
        shutil.rmtree(state.dir, ignore_errors=True)
        release_run_dir()
    return True


def _tail(log: str, lines: int = 8) -> str:
    """The end of a service's log, quoted into an error (the log itself goes when the lab is rolled back)."""
    text = log.rstrip().splitlines()[-lines:]
    return "\n".join(f"  | {line}" for line in text) or "  (empty)"
