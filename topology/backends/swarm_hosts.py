"""The hosts of a Docker Swarm that the swarm backend places labs on, and a swarm of local "hosts" to
try it and test it on one machine.

A swarm is described by a small JSON file (`$WIRELAB_SWARM`, else /etc/wirelab/swarm.json, else the
local swarm's /run/wirelab-swarm/swarm.json):

    {"hosts": [{"name": "h1", "url": "ssh://root@lab-a", "exec_root": "/var/run/docker"},
               {"name": "h2", "url": "ssh://root@lab-b"}],
     "manager": "h1"}

`url` is anything the docker SDK takes (unix://, tcp://, ssh:// through paramiko); `exec_root` is where
that dockerd keeps its network namespaces (captures enter the overlay's namespace there; default
/var/run/docker). The first host, or `manager`, is a swarm manager: networks are made there.

`wirelab swarm local up --hosts 3` makes such a swarm here: each host a dockerd in its own network
namespace (entered with nsenter, not `ip netns exec`, which remounts /sys and hides the cgroups dockerd
needs) with its own --data-root and --exec-root, joined over veths on a bridge in an underlay namespace
whose MTU (9000) leaves room for VXLAN's 50 bytes, and the node image loaded into each. `wirelab swarm
local down` removes all of it, and only it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import WirelabError
from ..progress import Progress
from .kernel import existing_netns, parallel, run_batch
from .local import process_tree

LOCAL_DIR = Path("/run/wirelab-swarm")
LOCAL_DATA = Path("/var/lib/wirelab-swarm")
LOCAL_FILE = LOCAL_DIR / "swarm.json"
UNDERLAY = "wlswarm_underlay"
UNDERLAY_NET = "172.31.250"  # the local hosts' addresses on their private underlay: .1, .2, ...
# Docker's IPAM hands out the overlays' subnets from here (the swarm's default address pool, set at
# `swarm init`): RFC 2544's benchmarking range, which no lab uses. The lab's own addresses are given
# in the node, never to Docker: in a swarm, overlays with the same subnet share one address pool (two
# class instances could not both have 10.0.1.1), and the ingress network holds 10.0.0.1.
DOCKER_POOL = "198.18.0.0/15"
DOCKER_POOL_MASK = 24
UNDERLAY_MTU = 9216  # room for a 9000-byte segment plus VXLAN's 50


@dataclass(frozen=True)
class SwarmHost:
    name: str
    url: str
    exec_root: str = "/var/run/docker"
    netns: str | None = None  # a local host's own network namespace (the local swarm's), by name
    helper: bool = False  # reach its namespaces through a helper container, as on a remote host

    @property
    def local(self) -> bool:
        """Is this host's exec-root on this machine (its namespaces reachable with nsenter)?"""
        return not self.helper and self.url.startswith("unix://") and Path(self.exec_root, "netns").is_dir()


@dataclass(frozen=True)
class Swarm:
    hosts: tuple[SwarmHost, ...]
    manager: str
    source: str

    def host(self, name: str) -> SwarmHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise WirelabError(f"the swarm ({self.source}) has no host {name!r}; hosts: "
                           f"{', '.join(h.name for h in self.hosts)}")


def swarm_file() -> Path:
    env = os.environ.get("WIRELAB_SWARM", "").strip()
    if env:
        return Path(env)
    etc = Path("/etc/wirelab/swarm.json")
    return etc if etc.is_file() else LOCAL_FILE


def load_swarm(path: Path | None = None) -> Swarm:
    path = path or swarm_file()
    try:
        data = json.loads(path.read_text())
        hosts = tuple(SwarmHost(h["name"], h["url"], h.get("exec_root", "/var/run/docker"), h.get("netns"),
                                bool(h.get("helper", False))) for h in data["hosts"])
        manager = data.get("manager", hosts[0].name)
    except FileNotFoundError:
        raise WirelabError(f"no swarm is described in {path}; make one here with `wirelab swarm local up "
                           f"--hosts 3`, or describe yours (README: Beyond one machine)") from None
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise WirelabError(f"{path}: not a swarm description ({e.__class__.__name__}: {e})") from None
    return Swarm(hosts, manager, str(path))


# a swarm of local hosts ---------------------------------------------------------------------------


def local_up(count: int, image: str, progress: Progress) -> Swarm:
    """Make `count` local hosts, join them in a swarm, load `image` into each; returns the swarm."""
    if LOCAL_FILE.exists():
        raise WirelabError(f"a local swarm is already up ({LOCAL_FILE}); `wirelab swarm local down` first")
    if not 1 <= count <= 8:
        raise WirelabError("a local swarm has 1 to 8 hosts")
    if shutil.which("dockerd") is None:
        raise WirelabError("a local swarm needs dockerd (apt-get install docker.io, or make docker-setup)")
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    names = [f"h{i}" for i in range(1, count + 1)]
    # Recorded before anything exists: `local down` removes what this names, even after a crash.
    record = {"hosts": [{"name": n, "url": f"unix://{LOCAL_DIR / n / 'docker.sock'}",
                         "exec_root": str(LOCAL_DIR / n / "exec"), "netns": f"wlswarm-{n}",
                         "address": f"{UNDERLAY_NET}.{i}"} for i, n in enumerate(names, 1)],
              "manager": "h1", "underlay": UNDERLAY}
    LOCAL_FILE.write_text(json.dumps(record, indent=1))
    try:
        with progress.step("hosts: a dockerd in a namespace of its own each", count):
            run_batch("ip", [f"netns add {UNDERLAY}"] + [f"netns add {h['netns']}" for h in record["hosts"]])
            lines = [f"link add br0 mtu {UNDERLAY_MTU} type bridge", "link set br0 up"]
            for i, h in enumerate(record["hosts"], 1):
                lines += [f"link add p{i} mtu {UNDERLAY_MTU} type veth peer name eth0 netns {h['netns']} mtu {UNDERLAY_MTU}",
                          f"link set p{i} master br0", f"link set p{i} up"]
            run_batch("ip", lines, netns=UNDERLAY)
            for h in record["hosts"]:
                run_batch("ip", ["link set lo up", f"addr add {h['address']}/24 dev eth0", "link set eth0 up"],
                          netns=h["netns"])
                _start_dockerd(h)
            for h in record["hosts"]:
                _wait_dockerd(h)
        with progress.step("swarm: init on h1, join the others"):
            first = record["hosts"][0]
            _docker(first, "swarm", "init", "--advertise-addr", first["address"], "--default-addr-pool", DOCKER_POOL,
                    "--default-addr-pool-mask-length", str(DOCKER_POOL_MASK))
            token = _docker(first, "swarm", "join-token", "-q", "worker").strip()
            for h in record["hosts"][1:]:
                _docker(h, "swarm", "join", "--advertise-addr", h["address"], "--token", token,
                        f"{first['address']}:2377")
        with progress.step(f"image {image} into every host", count):
            tar = LOCAL_DATA / "image.tar"
            LOCAL_DATA.mkdir(parents=True, exist_ok=True)
            subprocess.run(["docker", "save", "-o", str(tar), image], check=True, capture_output=True)
            parallel(lambda h: _docker(h, "load", "-q", "-i", str(tar)), record["hosts"], workers=count)
            tar.unlink()
    except BaseException:
        local_down(Progress(quiet=True))
        raise
    return load_swarm(LOCAL_FILE)


def local_down(progress: Progress) -> bool:
    """Remove the local swarm: its dockerds, their data, mounts and namespaces. False: there was none."""
    try:
        record = json.loads(LOCAL_FILE.read_text())
    except FileNotFoundError:
        return False
    hosts = record["hosts"]
    with progress.step("dockerds", len(hosts)):
        for h in hosts:
            pid = _pid(h)
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        for h in hosts:
            pid = _pid(h)
            while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        # what outlives a dockerd (its containerd, containers' shims and processes): killed by host
        for h in hosts:
            local_kill(h["name"])
    with progress.step("mounts, namespaces and data"):
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
                  if line.split()[1].startswith((str(LOCAL_DIR) + "/", str(LOCAL_DATA) + "/"))]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        present = existing_netns() & {record["underlay"], *(h["netns"] for h in hosts)}
        run_batch("ip", [f"netns del {n}" for n in sorted(present)])
        shutil.rmtree(LOCAL_DATA, ignore_errors=True)
        shutil.rmtree(LOCAL_DIR, ignore_errors=True)
    return True


def local_kill(name: str) -> int:
    """Kill everything of one local host at once, as if it lost power: its dockerd, containerd, the
    containers' shims and all they run. Returns how many processes were killed."""
    mark = f"{LOCAL_DIR / name}/".encode()
    roots = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if mark in Path(f"/proc/{entry.name}/cmdline").read_bytes():
                    roots.append(int(entry.name))
            except OSError:
                continue
    doomed = set().union(*(process_tree(r) for r in roots)) if roots else set()
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(doomed)


def _start_dockerd(h: dict) -> None:
    root = LOCAL_DIR / h["name"]
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "dockerd.log", "ab")
    subprocess.Popen(["nsenter", f"--net=/run/netns/{h['netns']}", "dockerd",
                      "--data-root", str(LOCAL_DATA / h["name"]), "--exec-root", h["exec_root"],
                      "-H", h["url"], "--pidfile", str(root / "dockerd.pid"), "--bridge=none"],
                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)


def _wait_dockerd(h: dict, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run(["docker", "-H", h["url"], "info"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise WirelabError(f"dockerd of local host {h['name']} did not answer; see "
                               f"{LOCAL_DIR / h['name'] / 'dockerd.log'}")
        time.sleep(0.2)


def _docker(h: dict, *args: str) -> str:
    proc = subprocess.run(["docker", "-H", h["url"], *args], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise WirelabError(f"docker {args[0]} on local host {h['name']}: {proc.stderr.strip()[-300:]}")
    return proc.stdout


def _pid(h: dict) -> int | None:
    try:
        return int((LOCAL_DIR / h["name"] / "dockerd.pid").read_text())
    except (OSError, ValueError):
        return None
