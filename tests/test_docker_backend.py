"""The docker backend for real: one container per node, lab traffic through the fabric's bridges, exact clean-up.

Needs root, a running dockerd and the node image (`make images`); skipped, saying which is missing, otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from conftest import wirelab, wirelab_exe
from dockerd import unavailable

from topology.gen import star
from topology.loader import load, loads
from topology.state import LabState

docker = pytest.importorskip("docker")


_reason = unavailable("docker lab tests")
pytestmark = [pytest.mark.docker, pytest.mark.lab, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

TWO_LANS = textwrap.dedent("""
    name: {name}
    segments:
      lan1: {{subnet: 10.61.1.0/24}}
      lan2: {{subnet: 10.61.2.0/24, kind: hub}}
    nodes:
      r: {{kind: router, interfaces: [lan1, lan2]}}
      a: {{interfaces: [lan1]{a_extra}}}
      b: {{interfaces: [lan2]}}
""")


def two_lans(name: str, a_extra: str = "") -> str:
    return TWO_LANS.format(name=name, a_extra=a_extra)


def chain(name: str):
    lab = load("chain")
    return loads(Path(lab.source).read_text().replace("name: chain", f"name: {name}"))


def _iptables() -> str:
    out = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return "\n".join(re.sub(r"\[\d+:\d+\]", "", ln) for ln in out.splitlines() if not ln.startswith("#"))


def _containers(lab_name: str | None = None) -> set[str]:
    filters = {"label": f"wirelab.lab={lab_name}"} if lab_name else {}
    # the low-level list: one call, no inspect per container (that races a container being removed)
    return {c["Names"][0].lstrip("/") for c in docker.from_env().api.containers(all=True, filters=filters)}


def _netns(prefix: str) -> set[str]:
    return {n for n in os.listdir("/run/netns") if n.startswith(prefix)} if os.path.isdir("/run/netns") else set()


def test_ping_crosses_three_routers_through_dockers_firewall(lab_up):
    """dockerd's br_netfilter and FORWARD DROP stay as they are; lab traffic flows regardless."""
    assert Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip() == "1"
    assert "-P FORWARD DROP" in subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    rules = _iptables()
    running = lab_up(chain("dk-chain"), backend="docker")
    out = running.run("h1", ["ping", "-c", "2", "-W", "2", "10.10.2.10"], check=True).stdout
    assert "2 received" in out and "ttl=61" in out, out
    trace = running.run("h1", ["traceroute", "-n", "-q", "1", "-w", "2", "10.10.2.10"], check=True).stdout
    assert re.findall(r"^\s*\d+\s+(\S+)", trace, re.M) == ["10.10.1.1", "10.10.12.2", "10.10.23.2", "10.10.2.10"]
    assert _iptables() == rules


def test_each_node_is_a_sealed_container_named_for_it(lab_up):
    running = lab_up(two_lans("dk-ident"), backend="docker")
    client = docker.from_env()
    for node in ("r", "a", "b"):
        c = client.containers.get(running.state.objects["containers"][node])
        assert c.labels["wirelab.lab"] == "dk-ident" and c.labels["wirelab.hash"] == running.state.hash
        assert c.attrs["HostConfig"]["NetworkMode"] == "none"
        assert running.run(node, ["hostname"]).stdout.strip() == node
        # the node's own interfaces only: no Docker eth0 on a bridge, no route out of the lab
        links = running.run(node, ["ip", "-o", "link"]).stdout
        assert sorted(re.findall(r"^\d+: (\w+)", links, re.M)) == sorted(
            ["lo"] + [i.name for i in running.nodes[node].interfaces])
        assert running.processes(node) == []  # the container's init and its sleep are not the node's
    assert running.run("a", ["ip", "route"]).stdout.splitlines()[0].strip() == "default via 10.61.1.1 dev eth0"
    assert running.run("r", ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "1"
    assert running.run("a", ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "0"
    assert "10.61.2.10\tb" in running.run("a", ["cat", "/etc/hosts"]).stdout
    assert "1 received" in running.run("a", ["ping", "-c1", "-W2", "b"]).stdout
    # the node's data folder is the host's, at the same path
    data = running.backend.placeholders(running.state, "a")["data"]
    running.run("a", ["sh", "-c", f"echo from-a > {data}/note"], check=True)
    assert (running.state.node_dir("a") / "note").read_text() == "from-a\n"


def test_exec_and_shell_pass_exit_status_through(lab_up):
    lab_up(two_lans("dk-exec"), backend="docker")
    assert wirelab("exec", "dk-exec", "b", "--", "sh", "-c", "exit 7").returncode == 7
    r = wirelab("exec", "dk-exec", "a", "--", "ping", "-c1", "-W2", "10.61.2.10")
    assert r.returncode == 0 and "1 received" in r.stdout
    assert wirelab("exec", "dk-exec", "a", "--", "ping", "-c1", "-W1", "10.61.9.9").returncode != 0
    r = wirelab("shell", "dk-exec", "b", input="hostname; ip -4 -o addr show eth0; exit 3\n")
    assert r.returncode == 3 and r.stdout.splitlines()[0] == "b" and "10.61.2.10/24" in r.stdout


def test_services_run_in_the_container_and_stop(lab_up):
    running = lab_up(two_lans("dk-svc", a_extra=", services: [echo-udp]"), backend="docker")
    probe = ("import socket; s = socket.socket(2, 2); s.settimeout(2); "
             "s.sendto(b'hello', ('10.61.1.10', 7)); print(s.recv(64).decode())")
    assert running.run("b", ["python3", "-c", probe]).stdout.strip() == "hello"
    rec = running.state.services[0]
    assert any("services.echo" in cmd for cmd in (p.command for p in running.processes("a")))
    # stop waits until the service is gone: nothing of it is left on the node, its port is closed
    running.stop_service(rec)
    assert not any("services.echo" in p.command for p in running.processes("a")), "the service outlived its stop"
    assert running.backend.listening(running.state, "a") == set()


def test_a_killed_service_in_a_container_is_restarted_and_signals_reach_it(lab_up):
    running = lab_up(two_lans("dk-restart", a_extra=", services: [echo-tcp]"), backend="docker")
    rec = running.service("a", "echo-tcp")
    server = [p for p in running.processes("a") if "-m services.echo" in p.command and "supervisor" not in p.command]
    assert len(server) == 1 and server[0].group == rec.pid, server
    os.kill(server[0].handle, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while running.service_status(rec).restarts < 1 or ("tcp", 7) not in running.backend.listening(
            running.state, "a", rec.pid):
        assert time.monotonic() < deadline, running.service_log(rec)
        time.sleep(0.05)
    assert str(running.service_status(rec)) == "running, restarted 1x"
    # a signal meant for the service reaches it (SIGUSR2 ends echo: restarted again), not the plumbing
    running.signal_service(rec, signal.SIGUSR2)
    while running.service_status(rec).restarts < 2:
        assert time.monotonic() < deadline + 10, running.service_log(rec)
        time.sleep(0.05)
    assert running.backend.alive(running.state, rec.pid)


@pytest.fixture
def unrelated():
    """A container (labelled as another lab's) and a namespace that this lab did not make: both survive."""
    client = docker.from_env()
    from topology.backends.docker import IMAGE

    other = client.containers.run(IMAGE, ["sleep", "infinity"], name=f"dk-keep-{os.getpid()}", detach=True,
                                  network_mode="none", labels={"wirelab.lab": "dk-other-lab"})
    subprocess.run(["ip", "netns", "add", "dkkeep-ns"], check=True)
    yield other.name
    other.remove(force=True)
    subprocess.run(["ip", "netns", "del", "dkkeep-ns"], check=True)


def test_down_removes_exactly_the_labs_containers_and_namespaces(unrelated, tmp_path):
    rules = _iptables()
    lab_file = tmp_path / "exact.yaml"
    lab_file.write_text(two_lans("dk-exact", a_extra=", services: [echo-tcp]"))
    r = wirelab("up", str(lab_file), "--backend", "docker")
    assert r.returncode == 0, r.stderr
    state = LabState.load("dk-exact")
    prefix = f"wl{state.hash}"
    assert _containers("dk-exact") == set(state.objects["containers"].values())
    assert _netns(prefix) == {state.objects["fabric"], *state.objects["nodes"].values()}
    r = wirelab("down", "dk-exact")
    assert r.returncode == 0, r.stderr
    assert _containers("dk-exact") == set() and _netns(prefix) == set()
    assert unrelated in _containers() and "dkkeep-ns" in _netns("dkkeep")
    assert _iptables() == rules
    assert LabState.load("dk-exact") is None


def test_down_after_kill_9_halfway_through_up(unrelated, tmp_path):
    lab_file = tmp_path / "crash.yaml"
    lab_file.write_text(star(24, name="dk-crash"))
    proc = subprocess.Popen([wirelab_exe(), "up", str(lab_file), "--backend", "docker"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    made: set[str] = set()
    while time.monotonic() < deadline and proc.poll() is None:  # kill it once some containers exist
        made = _containers("dk-crash")
        if made:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert made, "wirelab up made no container before it was killed"
    r = wirelab("down", "dk-crash")
    assert r.returncode == 0, r.stderr
    hash_ = loads(lab_file.read_text()).hash
    assert _containers("dk-crash") == set() and _netns(f"wl{hash_}") == set()
    assert unrelated in _containers()
    r = wirelab("down", "dk-crash")
    assert r.returncode == 2 and "not up" in r.stderr


def test_a_missing_image_is_one_clear_line(tmp_path):
    r = subprocess.run([wirelab_exe(), "up", "-", "--backend", "docker"], input=two_lans("dk-noimage"),
                       capture_output=True, text=True, env=os.environ | {"WIRELAB_IMAGE": "wirelab/absent:none"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == \
        "wirelab: the wirelab node image wirelab/absent:none is not built; run `make images`"
    assert "Traceback" not in r.stderr
    assert _containers("dk-noimage") == set() and LabState.load("dk-noimage") is None


def test_up_removes_what_a_lost_record_left(tmp_path):
    """After a host restart /run (the record, the namespace names) is gone but the exited containers stay:
    `up` removes them by their labels rather than refusing."""
    lab_file = tmp_path / "lost.yaml"
    lab_file.write_text(two_lans("dk-lost"))
    assert wirelab("up", str(lab_file), "--backend", "docker", "--no-services").returncode == 0
    state = LabState.load("dk-lost")
    old = _containers("dk-lost")
    for ns in _netns(f"wl{state.hash}"):
        subprocess.run(["ip", "netns", "del", ns], check=True)
    for name in old:
        docker.from_env().containers.get(name).stop(timeout=0)
    shutil.rmtree(state.dir)
    try:
        r = wirelab("up", str(lab_file), "--backend", "docker", "--no-services")
        assert r.returncode == 0, r.stderr
        assert "removing 3 containers and 0 namespaces left by an earlier dk-lost" in r.stderr
        assert _containers("dk-lost") == old and all(
            c.status == "running" for c in docker.from_env().containers.list(filters={"label": "wirelab.lab=dk-lost"}))
    finally:
        wirelab("down", "dk-lost")
    assert _containers("dk-lost") == set() and _netns(f"wl{state.hash}") == set()


@pytest.fixture
def empty_image():
    """An image with nothing in it: no init to start."""
    ref = "wirelab/test-empty:latest"
    tar = subprocess.run(["tar", "cf", "-", "-T", "/dev/null"], capture_output=True, check=True).stdout
    docker.from_env().api.import_image_from_data(tar, repository=ref.split(":")[0], tag="latest")
    yield ref
    docker.from_env().images.remove(ref, force=True)


def test_a_container_that_cannot_start_is_one_clear_line(empty_image):
    r = subprocess.run([wirelab_exe(), "up", "-", "--backend", "docker"], input=two_lans("dk-nostart"),
                       capture_output=True, text=True, env=os.environ | {"WIRELAB_IMAGE": empty_image})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("wirelab: starting node ") and "dockerd says" in last and "tini" in last, r.stderr
    assert _containers("dk-nostart") == set() and LabState.load("dk-nostart") is None
