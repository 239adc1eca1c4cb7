"""What the backends whose nodes are network namespaces on this host share (netns, docker): process
control through host pids and /proc, teardown of the lab's namespaces, the nodes' /etc files, and the
error for a node or segment the lab does not have.

A handle is the host pid of the process a backend started (the leader of its own session, so a signal
reaches everything it started). Processes are found by the network namespace they live in.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..backend import Backend, Process
from ..errors import WirelabError
from ..model import Lab
from ..progress import Progress
from ..state import LabState
from .kernel import existing_netns, has_netem, require_root, run_batch


def node_ns(lab_hash: str, node: str) -> str:
    """The named network namespace of a node (`ip netns exec` reaches every node, on either backend)."""
    return f"wl{lab_hash}-{node}"


class LocalBackend(Backend):
    """A backend whose nodes are named network namespaces here: state.objects["nodes"] maps each node to
    its namespace and state.objects["fabric"] names the namespace of the segments' bridges."""

    def check(self, lab: Lab) -> None:
        """Root, and the kernel features the lab's link settings need (segments are local bridges)."""
        require_root()
        delayed = [s for s in lab.segments.values() if s.delay]
        if delayed and not has_netem():
            s = delayed[0]
            raise WirelabError(
                f"segment {s.name} asks for delay {s.delay}, but this kernel has no sch_netem (tc qdisc netem), "
                f"so wirelab cannot emulate delay here; remove `delay:` from the lab or run on a kernel "
                f"built with CONFIG_NET_SCH_NETEM (loss works without it)")
        if any(s.loss for s in lab.segments.values()) and shutil.which("nft") is None:
            raise WirelabError("segment loss is emulated with nftables; install it (apt-get install nftables, "
                               "or make setup)")

    # names ----------------------------------------------------------------------------------------

    def namespace(self, state: LabState, node: str) -> str:
        ns = state.objects.get("nodes", {}).get(node)
        if ns is None:
            raise WirelabError(f"lab {state.name} has no node {node!r}; nodes: {', '.join(state.objects['nodes'])}")
        return ns

    def segment_argv(self, state: LabState, segment: str, argv: list[str]) -> list[str]:
        if segment not in state.lab.segments:
            raise WirelabError(f"lab {state.name} has no segment {segment!r}; "
                               f"segments: {', '.join(state.lab.segments)}")
        return ["ip", "netns", "exec", state.objects["fabric"], *argv]

    def bridge(self, state: LabState, segment: str) -> str:
        return segment

    def node_files(self, state: LabState, node: str, files: dict[str, str]) -> Path:
        """Write node's /etc files (hostname, hosts, resolv.conf) into the lab's runtime folder."""
        folder = state.dir / "etc" / node
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text)
        return folder

    # processes ------------------------------------------------------------------------------------

    def spawn(self, state: LabState, node: str, argv: list[str], *, log: Path,
              env: dict[str, str] | None = None) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.node_argv(state, node, argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    env=os.environ | (env or {}))
        return proc.pid

    def alive(self, state: LabState, handle: int) -> bool:
        _reap(handle)
        return _alive(handle)

    def signal(self, state: LabState, handle: int, sig: int) -> None:
        try:
            os.killpg(handle, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def node_pids(self, state: LabState, node: str) -> list[int]:
        """Host pids of node's own processes (a backend may leave out its plumbing)."""
        return netns_pids([self.namespace(state, node)])

    def processes(self, state: LabState, node: str) -> list[Process]:
        out = []
        for pid in self.node_pids(state, node):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                group = os.getpgid(pid)
            except OSError:
                continue
            out.append(Process(pid, cmd, group))
        return out

    def listening(self, state: LabState, node: str, handle: int | None = None) -> set[tuple[str, int]]:
        # ss run from the host's pid namespace, in the node's network namespace: owners are host pids.
        ns = self.namespace(state, node)
        proc = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hlntup"], capture_output=True, text=True,
                              timeout=10)
        mine = process_tree(handle) if handle is not None else None
        found = set()
        for line in proc.stdout.splitlines():
            f = line.split()
            if len(f) < 5:
                continue
            owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            if mine is None or owners & mine:
                found.add((f[0], int(f[4].rsplit(":", 1)[1])))
        return found

    def interrupt(self, state: LabState, proc: subprocess.Popen, sig: int) -> None:
        # The whole session: a docker node's nsenter forks the command into the container and passes
        # no signal on.
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def read_file(self, state: LabState, node: str, path: str) -> bytes | None:
        # Logs are written from the host side, and a node's data folder is the host's (bind-mounted into
        # containers at the same path): both are read where they are.
        try:
            return Path(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    # teardown -------------------------------------------------------------------------------------

    def remove_namespaces(self, state: LabState, progress: Progress) -> None:
        """End every process in the lab's namespaces, then delete the namespaces that still exist."""
        objs = state.objects
        owned = [ns for ns in [objs.get("fabric"), *objs.get("nodes", {}).values(),
                               *objs.get("segments", {}).values()] if ns]
        present = [ns for ns in owned if ns in existing_netns()]
        with progress.step("processes"):
            kill_all(netns_pids(present))
        with progress.step("namespaces", len(present)):
            run_batch("ip", [f"netns del {ns}" for ns in present])


def netns_pids(namespaces: list[str]) -> list[int]:
    """Pids of every process living in any of the named network namespaces (one pass over /proc)."""
    wanted = set()
    for ns in namespaces:
        try:
            st = os.stat(f"/run/netns/{ns}")
            wanted.add((st.st_dev, st.st_ino))
        except FileNotFoundError:
            pass
    if not wanted:
        return []
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                st = os.stat(f"/proc/{entry.name}/ns/net")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in wanted:
                pids.append(int(entry.name))
    return pids


def process_tree(root: int) -> set[int]:
    """root and all its descendants (host pids)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            ppid = parent_pid(int(entry.name))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def kill_all(pids: list[int]) -> None:
    """SIGTERM, then after a second SIGKILL, every pid given (never this process or init)."""
    pids = sorted({p for p in pids if p > 1 and p != os.getpid()})
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 1.0
        while pids and time.monotonic() < deadline:
            for p in pids:
                _reap(p)
            pids = [p for p in pids if _alive(p)]
            if pids:
                time.sleep(0.02)
        if not pids:
            return


def _reap(pid: int) -> None:
    """Collect pid's exit status if it is our child (else it would stay a zombie and look alive)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie whose parent has not reaped it yet counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
