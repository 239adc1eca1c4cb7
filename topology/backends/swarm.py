"""The swarm backend: a lab's nodes as containers spread over the hosts of a Docker Swarm, its segments as
attachable, internal overlay networks (one broadcast domain across hosts: see swarm_net).

Placement: a node's `host:` in the lab file pins it; the others are spread over the hosts in turn. Every
interface keeps the name, MAC, MTU and address the lab file gives it (Docker attaches with the address,
the node renames and re-addresses what Docker made); routes and sysctls as on every backend. Networks
are internal and have no gateway out: the lab stays sealed.

Everything on a node goes through the Docker API of its host (unix://, tcp:// or ssh:// through
paramiko), so a node on another machine is no special case: a service is started with `exec` (its log
inside the node, at the path lab.py names, read back with read_file), and a handle is the node's index
and the service's pid inside its container. Commands from the CLI and the scenarios run through
swarm_exec (docker exec, with signals passed on); captures through swarm_capture (tcpdump on every
host's part of the segment, merged into one pcap).

Everything is labelled `wirelab.lab`/`wirelab.hash`; `down` removes by label on every host it reaches.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict
from pathlib import Path

from ..backend import Backend
from ..errors import WirelabError
from ..model import Lab, Node
from ..nodefiles import lab_files
from ..progress import Progress, console
from ..state import LabState
from .docker import IMAGE, INIT, NODE_PATH, code_hash, container_name, dockerd
from .fabric import node_sysctls, rate_line
from .kernel import parallel
from .swarm_hosts import Swarm, SwarmHost, load_swarm
from .swarm_net import VXLAN_OVERHEAD, Member, check_docker_subnet, host_argv, overlay_ns, plumb, plumb_script
from .swarm_procs import NodeProcesses

CAPS = ["NET_ADMIN", "NET_RAW"]
WORKERS = 4  # containers made at once: more only queues attachments at the manager
ATTACH_TRIES = 3


def network_name(lab_hash: str, segment: str) -> str:
    return f"wl{lab_hash}_{segment}"


def place(lab: Lab, swarm: Swarm) -> dict[str, str]:
    """node -> host: pinned nodes where their `host:` says, the others spread over the hosts in turn."""
    names = [h.name for h in swarm.hosts]
    out, turn = {}, 0
    for node in lab.nodes.values():
        if node.host is not None:
            out[node.name] = swarm.host(node.host).name
        else:
            out[node.name] = names[turn % len(names)]
            turn += 1
    return out


class SwarmBackend(NodeProcesses, Backend):
    name = "swarm"

    def __init__(self) -> None:
        self._clients: dict[str, object] = {}

    # hosts ----------------------------------------------------------------------------------------

    def hosts(self, state: LabState) -> dict[str, SwarmHost]:
        return {h["name"]: SwarmHost(**h) for h in state.objects["hosts"]}

    def client(self, host: SwarmHost):
        if host.name not in self._clients:
            import docker

            with dockerd(f"reaching swarm host {host.name} ({host.url})"):
                self._clients[host.name] = docker.DockerClient(base_url=host.url, timeout=60, max_pool_size=WORKERS + 2)
        return self._clients[host.name]

    def _host_of(self, state: LabState, node: str) -> SwarmHost:
        where = state.objects.get("placement", {}).get(node)
        if where is None:
            raise WirelabError(f"lab {state.name} has no node {node!r}; nodes: {', '.join(state.objects['placement'])}")
        return self.hosts(state)[where]

    def _container(self, state: LabState, node: str):
        from docker.errors import DockerException, NotFound
        from requests import RequestException

        host = self._host_of(state, node)
        try:
            return self.client(host).containers.get(state.objects["containers"][node])
        except NotFound:
            raise WirelabError(f"node {node}'s container is gone from host {host.name}") from None
        except (DockerException, RequestException, WirelabError):
            raise WirelabError(f"node {node}'s host {host.name} does not answer ({host.url})") from None

    def _exec(self, state: LabState, node: str, argv: list[str], env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
        c = self._container(state, node)
        with dockerd(f"running a command on node {node}"):
            res = c.exec_run(argv, environment=env, demux=True)
        out, err = res.output or (None, None)
        return res.exit_code, out or b"", err or b""

    # the lab --------------------------------------------------------------------------------------

    def check(self, lab: Lab) -> None:
        from docker.errors import ImageNotFound

        swarm = load_swarm()
        used = set(place(lab, swarm).values())  # an unknown `host:` is refused here
        for host in (h for h in swarm.hosts if h.name in used):
            with dockerd(f"asking swarm host {host.name} for the node image"):
                try:
                    image = self.client(host).images.get(IMAGE)
                except ImageNotFound:
                    raise WirelabError(f"swarm host {host.name} does not have the node image {IMAGE}; load it there "
                                       f"(docker save {IMAGE} | ssh HOST docker load)") from None
            if image.labels.get("wirelab.code") not in (None, code_hash()):
                console.print(f"[yellow]wirelab: {IMAGE} on swarm host {host.name} holds older project code than "
                              f"this checkout; `make images`, then load it there again[/]", soft_wrap=True)
        for seg in lab.segments.values():
            if seg.delay or seg.loss:
                raise WirelabError(f"segment {seg.name}: the swarm backend emulates no delay or loss yet")

    def plan(self, lab: Lab, state: LabState) -> None:
        swarm = load_swarm()
        state.objects = {
            "hosts": [asdict(h) for h in swarm.hosts],
            "manager": swarm.manager,
            "placement": place(lab, swarm),
            "containers": {n: container_name(lab.hash, n) for n in lab.nodes},
            "networks": {s: network_name(lab.hash, s) for s in lab.segments},
            "labels": {"wirelab.lab": lab.name, "wirelab.hash": lab.hash},
            "image": IMAGE,
        }

    def up(self, lab: Lab, state: LabState, progress: Progress) -> None:
        objs = state.objects
        hosts = self.hosts(state)
        used = sorted(set(objs["placement"].values()))
        with progress.step("overlay networks", len(lab.segments)):
            manager = self.client(hosts[objs["manager"]])
            ids = {}
            for seg in lab.segments.values():
                with dockerd(f"making segment {seg.name}'s overlay"):
                    net = manager.networks.create(
                        objs["networks"][seg.name], driver="overlay", attachable=True, internal=True,
                        labels=objs["labels"], options={"com.docker.network.driver.mtu": str(seg.mtu + VXLAN_OVERHEAD)})
                ids[seg.name] = net.id
                state.save()
                check_docker_subnet(lab, seg, net.attrs)
            objs["network_ids"] = ids
            state.save()
        with progress.step(f"containers on {len(used)} hosts", len(lab.nodes)):
            files = lab_files(lab)
            docker_macs: dict[str, dict[str, str]] = {}

            def make(node: Node) -> None:
                docker_macs[node.name] = self._run(lab, state, node)
                self._configure(lab, state, node, files[node.name], docker_macs[node.name])

            parallel(make, list(lab.nodes.values()), workers=WORKERS)
        with progress.step("segments across hosts", len(lab.segments)):
            self._plumb(lab, state)
        self._check_mtu(lab, state)

    def _run(self, lab: Lab, state: LabState, node: Node) -> dict[str, str]:
        """Create and start node's container on its host, attached to its segments in order; returns
        segment -> the MAC Docker gave that interface (the node then sets the lab's)."""
        objs = state.objects
        host = self._host_of(state, node.name)
        api = self.client(host).api
        sysctls = node_sysctls(lab, node)
        nets = [(i, objs["networks"][i.segment]) for i in node.interfaces]
        with dockerd(f"starting node {node.name}'s container on host {host.name}"):
            hc = api.create_host_config(cap_add=CAPS, sysctls=sysctls,
                                        network_mode=nets[0][1] if nets else "none")
            created = api.create_container(
                objs["image"], command=INIT, name=objs["containers"][node.name], hostname=node.name,
                labels=objs["labels"] | {"wirelab.node": node.name}, host_config=hc,
                environment={"PATH": NODE_PATH, "WIRELAB_LAB": state.name, "WIRELAB_NODE": node.name})
            for _, name in nets[1:]:
                api.connect_container_to_network(created["Id"], name)
            self._start(api, created["Id"])
            info = api.inspect_container(created["Id"])
        got = info["NetworkSettings"]["Networks"]
        return {i.segment: got[name]["MacAddress"] for i, name in nets}

    @staticmethod
    def _start(api, container: str) -> None:
        """Start a container; again when its attachment timed out. A worker's dockerd asks the manager to
        allocate each attachment and gives up after 20 s, which a busy manager sometimes needs."""
        from docker.errors import APIError

        for attempt in range(ATTACH_TRIES):
            try:
                return api.start(container)
            except APIError as e:
                if "attaching to network failed" not in str(e) or attempt == ATTACH_TRIES - 1:
                    raise

    def _configure(self, lab: Lab, state: LabState, node: Node, files: dict[str, str], macs: dict[str, str]) -> None:
        """Inside the node: its /etc files and folders, then each interface found by the MAC Docker
        gave it and given the lab's name, MAC, MTU and address (Docker's address goes); routes."""
        c = self._container(state, node.name)
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w", dereference=True) as t:  # a lab folder may link its files
            for fname, text in files.items():
                data = text.encode()
                ti = tarfile.TarInfo(f"run/wirelab-etc/{fname}")
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            if state.source:
                folder = Path(state.source).parent
                t.add(folder, arcname=str(folder).lstrip("/"),
                      filter=lambda ti: None if ti.name.endswith(".pcap") else ti)
        with dockerd(f"copying node {node.name}'s files"):
            c.put_archive("/", tar.getvalue())
        places = self.placeholders(state, node.name)
        sh = [f"cat /run/wirelab-etc/{f} > /etc/{f}" for f in files]
        sh.append(f"mkdir -p {shlex.quote(places['data'])}/services {shlex.quote(str(state.dir / 'logs'))}")
        for i, iface in enumerate(node.interfaces):
            sh += [f"d=$(ip -o link | grep -i 'link/ether {macs[iface.segment]}' | cut -d: -f2 | cut -d@ -f1 | tr -d ' ')",
                   "ip link set dev $d down", f"ip link set dev $d name wltmp{i}"]
        for i, iface in enumerate(node.interfaces):
            seg = lab.segments[iface.segment]
            sh.append(f"ip link set dev wltmp{i} name {iface.name} address {iface.mac} mtu {seg.mtu}")
            sh.append(f"ip addr flush dev {iface.name}")  # Docker's address, not the lab's
            if iface.address and not iface.dhcp:
                sh.append(f"ip addr add {iface.address} brd + dev {iface.name}")
            sh.append(f"ip link set dev {iface.name} up")
            if seg.rate:
                sh.append("tc " + rate_line(iface.name, seg))
        sh += [f"ip route add {r.to} via {r.via}" for r in node.routes]
        if node.gateway:
            sh.append(f"ip route add default via {node.gateway}")
        code, out, err = self._exec(state, node.name, ["sh", "-ec", "\n".join(sh)])
        if code != 0:
            raise WirelabError(f"configuring node {node.name} failed: {(err or out).decode(errors='replace').strip()[-300:]}")

    def _members(self, lab: Lab, state: LabState, vteps: dict[str, str]) -> dict[str, list[tuple[str, Member]]]:
        return {seg: [(state.objects["placement"][n.name], Member(vteps[state.objects["placement"][n.name]], i.mac))
                      for n, i in lab.members(seg)] for seg in lab.segments}

    def _vteps(self, state: LabState) -> dict[str, str]:
        out = {}
        for name, host in self.hosts(state).items():
            with dockerd(f"asking host {name} for its swarm address"):
                out[name] = self.client(host).info()["Swarm"]["NodeAddr"]
        return out

    def _plumb(self, lab: Lab, state: LabState) -> None:
        hosts, objs = self.hosts(state), state.objects
        vteps = self._vteps(state)
        objs["vteps"] = vteps
        manager = self.client(hosts[objs["manager"]])
        jobs = []
        for seg_name, members in self._members(lab, state, vteps).items():
            seg = lab.segments[seg_name]
            on = sorted({h for h, _ in members})
            with dockerd(f"reading segment {seg_name}'s overlay"):
                net = manager.api.inspect_network(objs["network_ids"][seg_name])
            vni = int(net["Options"]["com.docker.network.driver.overlay.vxlanid_list"].split(",")[0])
            for h in on:
                host = hosts[h]
                ns = f"{host.exec_root}/netns/{overlay_ns(net['Id'])}" if host.local else f"/wlnetns/{overlay_ns(net['Id'])}"
                peers = [vteps[o] for o in on if o != h]
                remote = [m for where, m in members if where != h]
                jobs.append((host, plumb_script(seg, vni, ns, peers, remote)))
        parallel(lambda job: plumb(job[0], job[1], objs["image"]), jobs, workers=WORKERS)

    def _check_mtu(self, lab: Lab, state: LabState) -> None:
        """A don't-fragment ping of the segment's full MTU between nodes on two hosts, per segment."""
        place_ = state.objects["placement"]
        for seg in lab.segments.values():
            statics = [(n, i) for n, i in lab.members(seg.name) if i.address and not i.dhcp]
            pair = next(((a, b) for a in statics for b in statics if place_[a[0].name] != place_[b[0].name]), None)
            if pair is None:
                continue
            (a, _), (b, bi) = pair
            code, out, err = self._exec(state, a.name, ["ping", "-c1", "-W2", "-M", "do", "-s", str(seg.mtu - 28),
                                                         str(bi.address.ip)])
            if code != 0:
                raise WirelabError(
                    f"segment {seg.name} asks for MTU {seg.mtu}, but a don't-fragment ping of that size from "
                    f"{a.name} (host {place_[a.name]}) to {b.name} (host {place_[b.name]}) did not cross: the "
                    f"underlay between the hosts needs an MTU of at least {seg.mtu + VXLAN_OVERHEAD} (VXLAN's "
                    f"{VXLAN_OVERHEAD} bytes); raise it, or lower the segment's mtu")

    def down(self, state: LabState, progress: Progress) -> None:
        objs = state.objects
        if not objs:
            return
        from docker.errors import APIError

        unreached: list[str] = []
        hosts = self.hosts(state)

        def clear(host: SwarmHost) -> None:
            filters = {"label": [f"{k}={v}" for k, v in objs["labels"].items()]}
            try:
                api = self.client(host).api
                for _ in range(5):  # a create in flight when `up` was killed lands after the first listing
                    found = api.containers(all=True, filters=filters)
                    if not found:
                        return
                    for c in found:
                        try:
                            api.remove_container(c["Id"], force=True)
                        except APIError as e:
                            if e.status_code not in (404, 409):
                                raise
            except Exception:  # noqa: BLE001 - a host that does not answer is named, the others are cleared
                unreached.append(host.name)

        with progress.step(f"containers on {len(hosts)} hosts"):
            parallel(clear, list(hosts.values()), workers=len(hosts))
        with progress.step("overlay networks"):
            kept = self._remove_networks(state, patient=not unreached)
        if kept:
            unreached.append(f"the swarm keeps networks {', '.join(kept)} while a host holding their "
                             f"endpoints is down (or `docker node rm --force` it on the manager)")
        if unreached:
            raise WirelabError(f"lab {state.name} is removed from every host that answers; not from: "
                               f"{'; '.join(unreached)}. Run `wirelab down {state.name}` again once they answer")

    def _remove_networks(self, state: LabState, patient: bool) -> list[str]:
        """Remove the lab's overlays on the manager; returns those it keeps. Endpoints leave a network a
        moment after their containers: patient, retry for a while."""
        from docker.errors import APIError, NotFound

        objs = state.objects
        deadline = time.monotonic() + (30 if patient else 0)
        try:
            api = self.client(self.hosts(state)[objs["manager"]]).api
            while True:
                busy = []
                for n in api.networks(filters={"label": [f"{k}={v}" for k, v in objs["labels"].items()]}):
                    try:
                        api.remove_network(n["Id"])
                    except NotFound:
                        pass
                    except APIError:
                        busy.append(n["Name"])
                if not busy or time.monotonic() > deadline:
                    return busy
                time.sleep(0.5)
        except Exception:  # noqa: BLE001 - the manager does not answer
            return [f"(all: manager {objs['manager']} does not answer)"]

    # running commands -----------------------------------------------------------------------------

    def node_argv(self, state: LabState, node: str, argv: list[str], *, interactive: bool = False) -> list[str]:
        host = self._host_of(state, node)
        name = state.objects["containers"][node]
        if interactive:
            tty = ["-it"] if sys.stdin.isatty() else ["-i"]
            return ["docker", "-H", host.url, "exec", *tty, "-e", "debian_chroot", name, *argv]
        return [sys.executable, "-m", "topology.backends.swarm_exec", host.url, name, "--", *argv]

    def segment_argv(self, state: LabState, segment: str, argv: list[str]) -> list[str]:
        lab = state.lab
        if segment not in lab.segments:
            raise WirelabError(f"lab {state.name} has no segment {segment!r}; segments: {', '.join(lab.segments)}")
        hosts = self.hosts(state)
        on = sorted({state.objects["placement"][n.name] for n, _ in lab.members(segment)})
        ov = overlay_ns(state.objects["network_ids"][segment])
        parts = {h: host_argv(hosts[h], [], ov, state.objects["image"]) for h in on}
        return [sys.executable, "-m", "topology.backends.swarm_capture", json.dumps(parts), "--", *argv]

    def interrupt(self, state: LabState, proc: subprocess.Popen, sig: int) -> None:
        """The command's host side (swarm_exec, swarm_capture) passes the signal on into the node or to
        every host's part of a capture, so only it is signalled: its children are sessions of their own."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def bridge(self, state: LabState, segment: str) -> str:
        return "br0"  # the overlay's bridge, in each host's overlay namespace

    def placeholders(self, state: LabState, node: str) -> dict[str, str]:
        return super().placeholders(state, node) | {"python": "python3"}
