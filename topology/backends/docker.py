"""The Docker backend: one container per node, segments as bridges in the lab's fabric namespace.

Containers run with `--network none`: Docker's IPAM, NAT and firewall never see the lab. Each interface
is a veth made straight into the container's network namespace (by the pid of its init), its peer a
port of a bridge in the fabric namespace, exactly as on the netns backend (`fabric.py` is shared). The
container's namespace is also named `wl<hash>-<node>` under /run/netns (as containerlab does), so
`ip netns exec` reaches every node.

Commands run in a node through nsenter into the container's namespaces: the process is the caller's
child, so its exit status, signals (stopping a service, ending a capture) and output behave as on
netns, and it costs no daemon round trip. An interactive shell is `docker exec -it` (a terminal
of the container's own).

Every container is labelled `wirelab.lab=<lab>` and `wirelab.hash=<hash>`; `down` removes containers
by those labels, then the namespaces the lab's record names: also after `kill -9` halfway through `up`.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import WirelabError
from ..model import Lab
from ..nodefiles import lab_files
from ..progress import Progress, console
from ..state import LabState
from . import fabric
from .kernel import existing_netns, parallel, run_batch
from .local import LocalBackend, netns_pids, node_ns, parent_pid, process_tree

IMAGE = os.environ.get("WIRELAB_IMAGE", "wirelab/node:latest")
BASE_REPO = "wirelab/base"
ROOT = Path(__file__).resolve().parents[2]
CODE_PACKAGES = ("topology", "services", "scenarios")
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CAPS = ["NET_ADMIN", "NET_RAW"]
ETC_FILES = {"hostname": "/etc/hostname", "hosts": "/etc/hosts", "resolv.conf": "/etc/resolv.conf"}
WORKERS = 8  # concurrent container creations: dockerd does the work, this only keeps it busy
INIT = ["tini", "--", "sleep", "infinity"]  # a container's pid 1, and its one child: not the node's processes


def container_name(lab_hash: str, node: str) -> str:
    return f"wl{lab_hash}-{node}"


def code_files() -> list[Path]:
    """The project's source files baked into the node image's top layer."""
    out = []
    for pkg in CODE_PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pcap"):
                out.append(path)
    return out


def code_hash() -> str:
    h = hashlib.sha256()
    for path in code_files():
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@contextmanager
def dockerd(doing: str) -> Iterator[None]:
    """Errors from dockerd (a refused request, a daemon that stopped answering) as one line."""
    from docker.errors import APIError, DockerException
    from requests import RequestException

    try:
        yield
    except APIError as e:
        raise WirelabError(f"{doing}: dockerd says {e.explanation or e}") from None
    except (DockerException, RequestException) as e:
        raise WirelabError(f"{doing}: dockerd did not answer ({e.__class__.__name__}); is it running?") from None


class DockerBackend(LocalBackend):
    name = "docker"

    def __init__(self) -> None:
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import docker
            from docker.errors import DockerException

            try:
                self._client = docker.from_env(timeout=120, max_pool_size=WORKERS + 2)
                self._client.ping()
            except DockerException:
                self._client = None
                raise WirelabError("no Docker daemon answers (is dockerd running? `docker info` tells); "
                                   "start it, or use --backend netns") from None
        return self._client

    def check(self, lab: Lab) -> None:
        super().check(lab)  # root, and netem when the lab asks for delay or loss
        from docker.errors import ImageNotFound

        try:
            image = self.client.images.get(IMAGE)
        except ImageNotFound:
            raise WirelabError(f"the wirelab node image {IMAGE} is not built; run `make images`") from None
        if image.labels.get("wirelab.code") not in (None, code_hash()):
            console.print(f"[yellow]wirelab: {IMAGE} holds older project code than {ROOT}; "
                          f"`make images` updates it[/]", soft_wrap=True)

    def plan(self, lab: Lab, state: LabState) -> None:
        state.objects = {
            "fabric": fabric.fabric_ns(lab.hash),
            "nodes": {n: node_ns(lab.hash, n) for n in lab.nodes},
            "containers": {n: container_name(lab.hash, n) for n in lab.nodes},
            "labels": {"wirelab.lab": lab.name, "wirelab.hash": lab.hash},
            "image": IMAGE,
            "pids": {},
        }

    def up(self, lab: Lab, state: LabState, progress: Progress) -> None:
        objs = state.objects
        nodes: dict[str, str] = objs["nodes"]
        fab = objs["fabric"]
        self._remove_orphans(lab, objs)
        with progress.step("containers", len(nodes)):
            files = lab_files(lab)
            pids: dict[str, int] = {}

            def start(node: str) -> None:
                pids[node] = self._run(state, node, files[node])

            parallel(start, list(nodes), workers=WORKERS)
            objs["pids"] = pids
            state.save()
        with progress.step("namespaces", len(nodes) + 1):
            run_batch("ip", [f"netns add {fab}"] + [f"netns attach {nodes[n]} {pids[n]}" for n in nodes])
            fabric.prepare(fab)
        fabric.wire(lab, nodes, fab, progress)

    def _remove_orphans(self, lab: Lab, objs: dict) -> None:
        """Containers and namespaces of this lab that no record names (the record went, e.g. when the host
        restarted: /run is a tmpfs, exited containers stay) are removed by their labels and names: `up`
        runs only when no record of the lab exists, so `down` could never reach them."""
        ns = existing_netns() & {objs["fabric"], *objs["nodes"].values()}
        found = self._containers(objs["labels"])
        if not (ns or found):
            return
        console.print(f"[yellow]wirelab: removing {len(found)} containers and {len(ns)} namespaces left by an "
                      f"earlier {lab.name} whose record is gone[/]", soft_wrap=True)
        self._remove_containers(objs["labels"])
        run_batch("ip", [f"netns del {n}" for n in sorted(ns)])

    def _run(self, state: LabState, node: str, files: dict[str, str]) -> int:
        """Create and start node's container; returns the host pid of its init."""
        etc = self.node_files(state, node, files)
        binds = {str(etc / fname): {"bind": ETC_FILES[fname], "mode": "rw"} for fname in files}
        # Data folders keep the host's path inside the node: a path a scenario hands a service means
        # the same file on both sides, as on netns.
        for folder in {self.placeholders(state, node)[k] for k in ("lab_dir", "data")} - {""}:
            binds[folder] = {"bind": folder, "mode": "rw"}
        api = self.client.api
        with dockerd(f"starting node {node}'s container"):
            host_config = api.create_host_config(network_mode="none", cap_add=CAPS, binds=binds)
            created = api.create_container(
                state.objects["image"], command=INIT, name=state.objects["containers"][node],
                hostname=node, labels=state.objects["labels"] | {"wirelab.node": node}, host_config=host_config,
                environment={"PATH": NODE_PATH, "WIRELAB_LAB": state.name, "WIRELAB_NODE": node})
            api.start(created["Id"])
            pid = api.inspect_container(created["Id"])["State"]["Pid"]
        if not pid:
            raise WirelabError(f"container of node {node} exited at start; see `docker logs {created['Id'][:12]}`")
        return pid

    def _containers(self, labels: dict[str, str]) -> list[dict]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        with dockerd("listing the lab's containers"):
            return self.client.api.containers(all=True, filters=filters)

    def down(self, state: LabState, progress: Progress) -> None:
        objs = state.objects
        if not objs:
            return
        error = None
        with progress.step("containers"):
            try:
                self._remove_containers(objs["labels"])
            except WirelabError as e:  # no daemon: remove the namespaces anyway, keep the record for a retry
                error = e
        self.remove_namespaces(state, progress)
        if error:
            raise WirelabError(f"{error}; lab {state.name}'s containers may remain: run `wirelab down {state.name}` "
                               f"again once dockerd runs")

    def _remove_containers(self, labels: dict[str, str]) -> None:
        """Remove every container with the lab's labels. A create that a killed `up` had in flight may
        land just after the first listing, so list again until one comes back empty."""
        from docker.errors import APIError

        def remove(c: dict) -> None:
            try:
                self.client.api.remove_container(c["Id"], force=True)
            except APIError as e:  # already gone, or its removal already under way
                if e.status_code not in (404, 409):
                    raise

        for _ in range(5):
            found = self._containers(labels)
            if not found:
                return
            with dockerd("removing the lab's containers"):
                parallel(remove, found, workers=WORKERS)

    def node_argv(self, state: LabState, node: str, argv: list[str], *, interactive: bool = False) -> list[str]:
        self.namespace(state, node)  # an unknown node is refused here
        name = state.objects["containers"][node]
        if interactive:
            tty = ["-it"] if sys.stdin.isatty() else ["-i"]
            return ["docker", "exec", *tty, "-e", "debian_chroot", name, *argv]
        pid = self._pid(state, node)
        return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
                "env", "-u", "PYTHONPATH", "-u", "PYTHONHOME", "-u", "VIRTUAL_ENV", f"PATH={NODE_PATH}",
                "HOME=/root", f"WIRELAB_LAB={state.name}", f"WIRELAB_NODE={node}", *argv]

    def _pid(self, state: LabState, node: str) -> int:
        """The pid of node's container init, checked to still hold the lab's namespace of that node."""
        pid = state.objects.get("pids", {}).get(node)
        try:
            ours = os.stat(f"/run/netns/{state.objects['nodes'][node]}")
            theirs = os.stat(f"/proc/{pid}/ns/net")
            if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino):
                return pid
        except (OSError, TypeError):
            pass
        raise WirelabError(f"node {node}'s container is gone or was restarted outside wirelab; "
                           f"run `wirelab down {state.name}` and bring the lab up again")

    def signal(self, state: LabState, handle: int, sig: int) -> None:
        """The handle is the host-side nsenter that forked the command into the container's pid
        namespace; it neither forwards signals nor survives most of them, so the signal goes to what it
        started (SIGKILL: to all of it)."""
        if sig == signal.SIGKILL:
            return super().signal(state, handle, sig)
        for pid in process_tree(handle) - {handle}:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def node_pids(self, state: LabState, node: str) -> list[int]:
        """The node's processes: those in its container's pid namespace (not the host-side nsenter), less
        the container's init and its `sleep`."""
        try:
            pid1 = self._pid(state, node)
            init = os.stat(f"/proc/{pid1}/ns/pid")
        except (OSError, WirelabError):
            return []
        out = []
        for pid in netns_pids([self.namespace(state, node)]):
            try:
                st = os.stat(f"/proc/{pid}/ns/pid")
                if (st.st_dev, st.st_ino) != (init.st_dev, init.st_ino) or pid == pid1 or _is_init_child(pid, pid1):
                    continue
            except (OSError, IndexError, ValueError):
                continue
            out.append(pid)
        return out

    def placeholders(self, state: LabState, node: str) -> dict[str, str]:
        return super().placeholders(state, node) | {"python": "python3"}


def _is_init_child(pid: int, pid1: int) -> bool:
    """Is pid the `sleep infinity` that the container's init keeps (plumbing, not a node's process)?"""
    return parent_pid(pid) == pid1 and Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\0infinity\0"
