"""Processes on swarm nodes, through the Docker API of each node's host (for the swarm backend).

A handle is the node's index and the command's pid inside its container: (index + 1) << 22 | pid
(pid_max is at most 2**22), so any wirelab process can resolve it without a shared table. A spawned
command leads a session of its own inside the node, so a signal to its group reaches everything it
started; its log is a file inside the node, at the path lab.py names, read back with read_file.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from ..backend import Process
from ..errors import WirelabError
from ..progress import console
from ..state import LabState

PID_BITS = 22


class NodeProcesses:
    """The process half of the backend contract; the backend gives `_exec` (a command in a node)."""

    WAIT_POLL = 0.05  # each look of `wait` (through `alive`) is a command run on the node's host

    def _exec(self, state: LabState, node: str, argv: list[str],
              env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
        raise NotImplementedError

    def _handle(self, state: LabState, node: str, pid: int) -> int:
        return (state.lab.nodes[node].index + 1) << PID_BITS | pid

    def _unhandle(self, state: LabState, handle: int) -> tuple[str, int]:
        index = (handle >> PID_BITS) - 1
        node = next((n for n in state.lab.nodes.values() if n.index == index), None)
        if node is None:
            raise WirelabError(f"lab {state.name} started no command with handle {handle}")
        return node.name, handle & ((1 << PID_BITS) - 1)

    def spawn(self, state: LabState, node: str, argv: list[str], *, log: Path,
              env: dict[str, str] | None = None) -> int:
        # The command leads a session of its own (a signal to its group reaches all it starts); its pid
        # comes back on fd 3 before it execs, its output goes to the log inside the node.
        inner = "echo $$ >&3; exec 3>&-; exec \"$@\""
        # A supervisor's status file is in the node: lab.py clears the last one where it would be on
        # this host, so the node's own copy (a stopped service's "exited") is cleared here, or a restart
        # would read it as the new one's.
        stale = argv[argv.index("--status") + 1] if "--status" in argv[:-1] else None
        script = (f"rm -f {shlex.quote(stale)}; " if stale else "") + (f"mkdir -p {shlex.quote(str(log.parent))}; "
                  f"setsid sh -c {shlex.quote(inner)} sh {shlex.join(argv)} 3>&1 >>{shlex.quote(str(log))} 2>&1 "
                  f"</dev/null &")
        code, out, err = self._exec(state, node, ["sh", "-c", script], env=env)
        try:
            pid = int(out.split()[0])
        except (IndexError, ValueError):
            raise WirelabError(f"starting `{shlex.join(argv)}` on {node} failed: {err.decode(errors='replace')[-300:]}") from None
        return self._handle(state, node, pid)

    def alive(self, state: LabState, handle: int) -> bool:
        node, pid = self._unhandle(state, handle)
        try:
            code, out, _ = self._exec(state, node, ["cat", f"/proc/{pid}/stat"])
        except WirelabError:
            return False  # its node or its host is gone
        return code == 0 and out.rsplit(b")", 1)[-1].split()[:1] != [b"Z"]

    def signal(self, state: LabState, handle: int, sig: int) -> None:
        node, pid = self._unhandle(state, handle)
        try:
            self._exec(state, node, ["kill", f"-{int(sig)}", "--", f"-{pid}"])
        except WirelabError:
            pass  # gone already, with its node


    def _ps(self, state: LabState, node: str, extra: str = "") -> tuple[list[tuple[int, int, int, str]], str]:
        """(pid, ppid, pgid, command) of every process in the node, and the output of `extra`."""
        script = (f"{extra}; " if extra else "") + "echo ----; ps -eo pid=,ppid=,pgid=,args="
        code, out, _ = self._exec(state, node, ["sh", "-c", script])
        head, _, table = out.decode(errors="replace").rpartition("----\n")
        rows = []
        for line in table.splitlines():
            f = line.split(None, 3)
            if len(f) == 4:
                rows.append((int(f[0]), int(f[1]), int(f[2]), f[3]))
        return rows, head

    def processes(self, state: LabState, node: str) -> list[Process]:
        try:
            rows, _ = self._ps(state, node)
        except WirelabError as e:
            console.print(f"[yellow]wirelab: {e}[/]", soft_wrap=True)
            return []
        mine = {pid for pid, _, pgid, _ in rows if pgid == pid}
        out = []
        for pid, ppid, pgid, cmd in rows:
            # not the container's init and its sleep, nor the exec that lists them (a child of no one here)
            if pid == 1 or ppid == 1 and cmd == "sleep infinity" or ppid == 0 or cmd.startswith("ps -eo"):
                continue
            out.append(Process(self._handle(state, node, pid), cmd,
                               self._handle(state, node, pgid) if pgid in mine else None))
        return out

    def listening(self, state: LabState, node: str, handle: int | None = None) -> set[tuple[str, int]]:
        rows, ss = self._ps(state, node, "ss -Hlntup")
        mine = None
        if handle is not None:
            _, leader = self._unhandle(state, handle)
            mine = {pid for pid, _, pgid, _ in rows if pgid == leader}
        found = set()
        for line in ss.splitlines():
            f = line.split()
            if len(f) < 5:
                continue
            owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            if mine is None or owners & mine:
                found.add((f[0], int(f[4].rsplit(":", 1)[1])))
        return found

    def read_file(self, state: LabState, node: str, path: str) -> bytes | None:
        try:
            code, out, _ = self._exec(state, node, ["cat", path])
        except WirelabError:
            return None  # its node or its host is gone
        return out if code == 0 else None
