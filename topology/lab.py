"""Bringing labs up and down, and working with a lab that is up, through whichever backend made it.

This is the API the CLI, the scenarios and the tests use:

    running = up(load("campus"))          # or attach("campus") for a lab already up
    running.run("client1", ["ping", "-c1", "10.0.2.10"])
    with running.capture("lan1") as cap: ...
    down("campus")
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .backend import Backend, get_backend
from .errors import WirelabError
from .model import Lab
from .progress import Progress
from .registry import lookup, serving
from .state import LabState, ServiceRecord, all_labs, lab_dir, prepare_run_dir, release_run_dir

# The backend when --backend is not given: $WIRELAB_BACKEND, else the word in /etc/wirelab/backend (the
# machine's setting: it holds under sudo, which drops the caller's environment), else netns.
BACKEND_FILE = Path("/etc/wirelab/backend")
DEFAULT_BACKEND = (os.environ.get("WIRELAB_BACKEND", "").strip()
                   or (BACKEND_FILE.read_text().strip() if BACKEND_FILE.is_file() else "") or "netns")


class RunningLab:
    """A lab that is up: run commands on its nodes, start services, capture on its segments."""

    def __init__(self, state: LabState, backend: Backend):
        self.state, self.backend = state, backend

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def nodes(self) -> dict[str, dict]:
        return self.state.lab["nodes"]

    @property
    def segments(self) -> dict[str, dict]:
        return self.state.lab["segments"]

    def address(self, node: str, segment: str | None = None) -> str:
        """A node's address (without prefix) on a segment, or its first one."""
        for iface in self.nodes[node]["interfaces"]:
            if (segment is None or iface["segment"] == segment) and iface["address"] not in (None, "dhcp"):
                return iface["address"].split("/")[0]
        raise WirelabError(f"node {node} has no static address{' on ' + segment if segment else ''}")

    def interface(self, node: str, segment: str) -> dict:
        return next(i for i in self.nodes[node]["interfaces"] if i["segment"] == segment)

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

    def bridge(self, segment: str) -> str:
        return self.backend.bridge(self.state, segment)

    # services ------------------------------------------------------------------------------------

    def start_service(self, node: str, name: str, args: list[str] | None = None,
                      iface: str | None = None) -> ServiceRecord:
        sdef = lookup(name)
        values = self.backend.placeholders(self.state, node) | {"iface": iface or ""}
        argv = sdef.command(values, args or [])
        logdir = lab_dir(self.name) / "logs"
        logdir.mkdir(parents=True, exist_ok=True)
        log = logdir / f"{node}-{name}{'-' + iface if iface else ''}.log"
        env = os.environ | sdef.env | {"PYTHONUNBUFFERED": "1"}
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.argv(node, argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        rec = ServiceRecord(node=node, name=name, pid=proc.pid, log=str(log), argv=argv, iface=iface,
                            args=list(args or []))
        self.state.services.append(rec)
        self.state.save()
        return rec

    def wait_ready(self, rec: ServiceRecord, timeout: float = 20.0) -> None:
        """Observe readiness: every port the service declares has a listening socket in the node."""
        sdef = lookup(rec.name)
        deadline = time.monotonic() + timeout
        while True:
            if _exited(rec.pid):
                raise WirelabError(f"service {rec.name} on {rec.node} exited at start; its log ends:\n{_tail(rec.log)}")
            if self._ready(rec, sdef.ready):
                return
            if time.monotonic() > deadline:
                wanted = ", ".join(f"an address on {w.format(iface=rec.iface or '')}" if p == "ipv4" else f"{p} port {w}"
                                   for p, w in sdef.ready)
                raise WirelabError(f"service {rec.name} on {rec.node} did not get ready ({wanted}) within "
                                   f"{timeout:.0f} s; its log ends:\n{_tail(rec.log)}")
            time.sleep(0.05)

    def _ready(self, rec: ServiceRecord, ready: tuple[tuple[str, str], ...]) -> bool:
        sockets = {(proto, int(port)) for proto, port in ready if proto in ("tcp", "udp")}
        if sockets:
            # A port counts only when this service's own processes hold it, not another one's
            # (two services on one port: the second must fail, not look ready).
            mine = _process_tree(rec.pid) if self.backend.shares_host_pids else None
            listening = set()
            for line in self.run(rec.node, ["ss", "-Hlntup"], timeout=10).stdout.splitlines():
                f = line.split()
                if len(f) < 5:
                    continue
                owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
                if mine is None or owners & mine:
                    listening.add((f[0], int(f[4].rsplit(":", 1)[1])))
            if not sockets <= listening:
                return False
        for proto, what in ready:
            if proto == "ipv4":
                dev = what.format(iface=rec.iface or "")
                out = self.run(rec.node, ["ip", "-4", "-o", "addr", "show", "dev", dev], timeout=10).stdout
                if "inet " not in out:
                    return False
        return True

    def start_services(self, progress: Progress) -> None:
        wanted = []
        for node, spec in self.nodes.items():
            for svc in spec["services"]:
                wanted.append((node, svc["name"], svc["args"], None))
            for iface in spec["interfaces"]:
                if iface["address"] in ("dhcp",) and (sdef := serving(iface["address"])) is not None:
                    wanted.append((node, sdef.name, [], iface["name"]))
        if not wanted:
            return
        with progress.step("services", len(wanted)):
            recs = [self.start_service(n, s, a, iface=i) for n, s, a, i in wanted]
            for rec in recs:
                self.wait_ready(rec)

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

    def stop_service(self, rec: ServiceRecord, *, timeout: float = 10.0) -> None:
        """Stop a service and wait until it is gone (its ports closed with it)."""
        try:
            os.killpg(rec.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while not _exited(rec.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not _exited(rec.pid):
            try:
                os.killpg(rec.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.state.services = [s for s in self.state.services if s.pid != rec.pid]
        self.state.save()

    def restart_service(self, rec: ServiceRecord, *, timeout: float = 20.0) -> ServiceRecord:
        """Stop a service and start it again with the same arguments; returns the new one, ready."""
        self.stop_service(rec)
        new = self.start_service(rec.node, rec.name, rec.args, iface=rec.iface)
        self.wait_ready(new, timeout)
        return new

    def signal_service(self, rec: ServiceRecord, sig: int) -> None:
        """Send a signal to a service (SIGHUP to reload, SIGUSR1 to a DHCP client to renew...)."""
        os.killpg(rec.pid, sig)

    def service_log(self, rec: ServiceRecord) -> str:
        """Everything the service has written so far (stdout and stderr)."""
        try:
            return Path(rec.log).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def processes(self, node: str) -> list[tuple[int, str]]:
        out = []
        for pid in self.backend.node_pids(self.state, node):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            out.append((pid, cmd))
        return out

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
    old = LabState.load(lab.name)
    if old is not None:
        raise WirelabError(f"lab {lab.name} is already up (backend {old.backend}); run `wirelab down {lab.name}` first")
    prepare_run_dir()
    state = LabState(name=lab.name, hash=lab.hash, backend=be.name,
                     source=str(lab.source) if lab.source else None, lab=lab.to_dict())
    be.plan(lab, state)
    state.save()  # before any object exists: `down` knows what to remove even after kill -9
    running = RunningLab(state, be)
    try:
        be.up(lab, state, progress)
        if services:
            running.start_services(progress)
    except BaseException as e:
        why = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        progress.note(f"[red]bring-up of {lab.name} {why}; removing what was made[/]")
        down(lab.name, progress=Progress(quiet=True))
        raise
    state.status = "up"
    state.save()
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
    state = LabState.load(name)
    if state is None:
        return False
    get_backend(state.backend).down(state, progress)
    shutil.rmtree(state.dir, ignore_errors=True)
    release_run_dir()
    return True


def _tail(log: str, lines: int = 8) -> str:
    """The end of a service's log, quoted into an error (the log itself goes when the lab is rolled back)."""
    try:
        text = Path(log).read_text(errors="replace").rstrip().splitlines()[-lines:]
    except OSError:
        return "  (no log)"
    return "\n".join(f"  | {line}" for line in text) or "  (empty)"


def _process_tree(root: int) -> set[int]:
    """root and all its descendants (host pids)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def _exited(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == pid
    except ChildProcessError:
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True

