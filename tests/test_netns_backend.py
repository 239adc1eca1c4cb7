"""The netns backend in real namespaces: forwarding, per-node identity, isolation, clean-up."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from conftest import wirelab, wirelab_exe

from topology import lab as labs
from topology.backends.kernel import has_netem
from topology.errors import WirelabError
from topology.gen import star
from topology.loader import load, loads
from topology.state import LabState

pytestmark = pytest.mark.lab

TWO_LANS = textwrap.dedent("""
    name: {name}
    segments:
      lan1: {{subnet: 10.60.1.0/24, mtu: {mtu}}}
      lan2: {{subnet: 10.60.2.0/24, kind: hub{rate}}}
    nodes:
      r: {{kind: router, interfaces: [lan1, lan2]}}
      a: {{interfaces: [lan1]}}
      b: {{interfaces: [lan2]}}
""")


def two_lans(name: str, mtu: int = 1500, rate: str = "") -> str:
    return TWO_LANS.format(name=name, mtu=mtu, rate=f", rate: {rate}" if rate else "")


def test_ping_crosses_three_routers_with_ttl_decremented(lab_up):
    running = lab_up(load("chain"))
    out = running.run("h1", ["ping", "-c", "2", "-W", "2", "10.10.2.10"], check=True).stdout
    assert "2 received" in out
    assert re.search(r"ttl=61", out), out  # 64 minus one per router: r1, r2, r3
    trace = running.run("h1", ["traceroute", "-n", "-q", "1", "-w", "2", "10.10.2.10"], check=True).stdout
    hops = re.findall(r"^\s*\d+\s+(\S+)", trace, re.M)
    assert hops == ["10.10.1.1", "10.10.12.2", "10.10.23.2", "10.10.2.10"], trace


def test_nodes_have_their_own_hostname_and_files(lab_up):
    running = lab_up(load("chain"))
    assert running.run("h1", ["hostname"]).stdout.strip() == "h1"
    assert running.run("r2", ["cat", "/proc/sys/kernel/hostname"]).stdout.strip() == "r2"
    assert running.run("h1", ["cat", "/etc/hostname"]).stdout.strip() == "h1"
    # /etc/hosts names every node; ping by name works without DNS
    assert "10.10.2.10\th2" in running.run("h1", ["cat", "/etc/hosts"]).stdout
    assert "1 received" in running.run("h1", ["ping", "-c1", "-W2", "h2"]).stdout
    # a file written on one node is not seen from another, nor from the host
    running.run("h1", ["sh", "-c", "echo 10.9.9.9 only-on-h1 >> /etc/hosts"], check=True)
    assert "only-on-h1" in running.run("h1", ["cat", "/etc/hosts"]).stdout
    assert "only-on-h1" not in running.run("h2", ["cat", "/etc/hosts"]).stdout
    assert "only-on-h1" not in Path("/etc/hosts").read_text()
    assert os.uname().nodename not in ("h1", "h2")


def test_interfaces_routes_and_sealing(lab_up):
    running = lab_up(two_lans("wl-test-mtu", mtu=1400))
    link = running.run("a", ["ip", "-o", "link", "show", "eth0"]).stdout
    assert "mtu 1400" in link and running.interface("a", "lan1").mac in link
    # IPv6 stays off: no link-local addresses, so no router solicitations on the wire
    assert "inet6" not in running.run("a", ["ip", "addr"]).stdout
    # routers forward, hosts do not
    assert running.run("r", ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "1"
    assert running.run("a", ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "0"
    # sealed: the only way out of a host is its lab gateway; nothing reaches the host's own interfaces
    routes = running.run("a", ["ip", "route"]).stdout
    assert "default via 10.60.1.1 dev eth0" in routes
    for node in ("a", "b", "r"):
        links = running.run(node, ["ip", "-o", "link"]).stdout
        assert set(re.findall(r"^\d+: ([^:@]+)", links, re.M)) <= {"lo", "eth0", "eth1"}


def test_exec_passes_the_exit_status_through(lab_up):
    lab_up(two_lans("wl-test-exec"))
    assert wirelab("exec", "wl-test-exec", "a", "--", "sh", "-c", "exit 7").returncode == 7
    r = wirelab("exec", "wl-test-exec", "b", "--", "hostname")
    assert r.returncode == 0 and r.stdout.strip() == "b"
    r = wirelab("exec", "wl-test-exec", "nosuch", "--", "true")
    assert r.returncode == 2 and "no node 'nosuch'" in r.stderr and "Traceback" not in r.stderr


def test_two_labs_with_the_same_addresses_are_up_at_once(lab_up):
    one = lab_up(two_lans("wl-test-one"))
    two = lab_up(two_lans("wl-test-two"))
    # same subnets, different labs: each ping stays inside its own lab
    for running in (one, two):
        assert "1 received" in running.run("a", ["ping", "-c1", "-W2", "10.60.2.10"]).stdout
    # taking one down leaves the other working
    labs.down("wl-test-one")
    assert "1 received" in two.run("a", ["ping", "-c1", "-W2", "10.60.2.10"]).stdout


def test_rate_limits_a_segment(lab_up):
    running = lab_up(two_lans("wl-test-rate", rate="8mbit"))
    server = running.popen("b", ["python3", "-c", _SINK], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(running, "b", 5001)
        size = 2_000_000
        t0 = time.monotonic()
        running.run("a", ["python3", "-c", _SEND.format(host="10.60.2.10", size=size)], check=True)
        elapsed = time.monotonic() - t0
    finally:
        server.kill()
    mbit = size * 8 / elapsed / 1e6
    # The token bucket cannot be beaten (2 MB at 8 Mbit/s takes at least ~2 s, 10 ms of burst allowed),
    # and it gives what it promises: a rate far below the setting would be a broken shaper too.
    assert 8 * 0.75 < mbit < 8 * 1.15, f"{mbit:.1f} Mbit/s on an 8mbit segment"


_SINK = ("import socket\ns=socket.socket();s.setsockopt(1,2,1);s.bind(('',5001));s.listen()\n"
         "c,_=s.accept()\nwhile c.recv(65536): pass\n")
_SEND = ("import socket\ns=socket.create_connection(('{host}',5001))\ns.sendall(b'x'*{size})\n"
         "s.shutdown(socket.SHUT_WR)\ns.recv(1)\n")


def _wait_port(running, node: str, port: int) -> None:
    for _ in range(200):
        if f":{port} " in running.run(node, ["ss", "-Hltn"]).stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {node}:{port}")


def test_loss_drops_frames_at_random(lab_up):
    def received(loss: str, count: int) -> int:
        running = lab_up(two_lans(f"wl-test-loss{loss.rstrip('%')}").replace("kind: hub", f"kind: hub, loss: {loss}"))
        if loss != "100%":
            # ARP first: its request and reply cross the lossy LAN too, and should three tries in a row
            # fail (about 5% at 20% loss) the router would drop every ping queued behind them, which is
            # not the loss measured here
            for _ in range(30):
                if running.run("a", ["ping", "-n", "-q", "-c", "1", "-W", "1", "10.60.2.10"]).returncode == 0:
                    break
        out = running.run("a", ["ping", "-n", "-q", "-c", str(count), "-i", "0.002", "-W", "1", "10.60.2.10"]).stdout
        return int(re.search(r"(\d+) received", out).group(1))

    assert received("0%", 50) == 50
    assert received("100%", 20) == 0
    # 20% per crossing, request and reply each cross lan2: about 64% come back (300 tries: 3 sigma ~ 8%)
    assert 0.50 < received("20%", 300) / 300 < 0.78


def test_delay_is_refused_clearly_when_the_kernel_lacks_netem():
    if has_netem():
        pytest.skip("this kernel has sch_netem")
    lab = loads(textwrap.dedent("""
        name: wl-test-delay
        segments:
          lan: {subnet: 10.61.0.0/24, delay: 20ms}
        nodes:
          a: {interfaces: [lan]}
    """))
    before = _listing()
    with pytest.raises(WirelabError, match="no sch_netem.*delay 20ms|delay 20ms.*no sch_netem"):
        labs.up(lab)
    assert _listing() == before  # refused before anything was made


def test_lab_file_errors_through_the_cli(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("segments:\n  lan: {subnet: 10.0.0.0/24}\nnodes:\n  a:\n    interfaces: [lan]\n    colour: red\n")
    r = wirelab("up", str(bad))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"wirelab: {bad}:6: unknown key 'colour' in nodes.a; allowed keys are: gateway, host, interfaces, kind, routes, services"]


def _listing() -> dict[str, str]:
    """Everything a lab could leave behind on the host, as text to compare."""
    def sh(cmd: str) -> str:
        return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True).stdout

    return {
        "netns": sh("ip netns list | sort"),
        "links": sh("ip -o link show | sed 's/^[0-9]*: //' | cut -d: -f1 | sort"),
        # mounts where a lab could leave one (not the whole table: containers come and go on a busy host)
        "mounts": sh("cut -d' ' -f5 /proc/self/mountinfo | grep -E '^/run/(wirelab|netns)|^/etc' | sort"),
        "etc-netns": sh("ls -1 /etc/netns 2>/dev/null | sort"),
        "iptables": sh("iptables-save 2>/dev/null | grep -v '^#' | sed 's/\\[[0-9:]*\\]//'"),
    }


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def unrelated():
    """A bridge and a namespace that wirelab did not make: they must survive every down."""
    subprocess.run(["ip", "link", "add", "wlkeepme0", "type", "bridge"], check=True)
    subprocess.run(["ip", "netns", "add", "wlkeep-ns"], check=True)
    yield
    subprocess.run(["ip", "link", "del", "wlkeepme0"], check=True)
    subprocess.run(["ip", "netns", "del", "wlkeep-ns"], check=True)


def test_down_removes_exactly_what_up_made(unrelated, tmp_path):
    before = _listing()
    lab_file = tmp_path / "svc.yaml"
    lab_file.write_text(two_lans("wl-test-exact").replace("a: {interfaces: [lan1]}",
                                                         "a: {interfaces: [lan1], services: [echo-udp, echo-tcp]}"))
    r = wirelab("up", str(lab_file))
    assert r.returncode == 0, r.stderr
    during = _listing()
    assert during["netns"] != before["netns"] and during["etc-netns"] != before["etc-netns"]
    pids = [s.pid for s in LabState.load("wl-test-exact").services]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    r = wirelab("down", "wl-test-exact")
    assert r.returncode == 0, r.stderr
    assert _listing() == before
    assert not any(_alive(p) for p in pids), "a service outlived its lab"
    assert "wlkeep-ns" in _listing()["netns"] and "wlkeepme0" in _listing()["links"]


def test_down_after_kill_9_halfway_through_up(unrelated, tmp_path):
    before = _listing()
    lab_file = tmp_path / "big.yaml"
    lab_file.write_text(star(150, name="wl-test-crash").replace(
        "h1:\n    interfaces: [lan]", "h1:\n    interfaces: [lan]\n    services: [echo-udp]"))
    lab = loads(lab_file.read_text())
    proc = subprocess.Popen([wirelab_exe(), "up", str(lab_file)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    prefix = f"wl{lab.hash}-"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # kill it once some, but not all, of its namespaces exist
        made = [n for n in os.listdir("/run/netns") if n.startswith(prefix)] if os.path.isdir("/run/netns") else []
        if made:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert made, "wirelab up made nothing before it was killed"
    r = wirelab("down", "wl-test-crash")
    assert r.returncode == 0, r.stderr
    assert _listing() == before
    r = wirelab("down", "wl-test-crash")
    assert r.returncode == 2 and "not up" in r.stderr


def test_ps_json_reports_live_addresses_and_processes(lab_up, tmp_path):
    lab_up(two_lans("wl-test-ps").replace("b: {interfaces: [lan2]}", "b: {interfaces: [lan2], services: [echo-tcp]}"))
    import json

    r = wirelab("ps", "wl-test-ps", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["nodes"]["a"]["interfaces"][0]["addresses"] == ["10.60.1.10/24"]
    assert any("services.echo" in p["cmd"] for p in report["nodes"]["b"]["processes"])
    assert report["nodes"]["a"]["processes"] == []


def test_graph_draws_svg(tmp_path):
    out = tmp_path / "campus.svg"
    r = wirelab("graph", "campus", "-o", str(out))
    assert r.returncode == 0, r.stderr
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for name in ("r1", "server1", "lan2", "hub"):
        assert name in svg


def test_docker_coexistence(lab_up):
    """With dockerd running (br_netfilter on, FORWARD DROP), lab traffic flows and Docker's rules are untouched."""
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("no dockerd running on this host")
    policy = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    assert Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip() == "1"
    rules_before = _listing()["iptables"]
    running = lab_up(load("chain"))
    assert "-P FORWARD DROP" in policy or "DOCKER" in policy
    assert "2 received" in running.run("h1", ["ping", "-c2", "-W2", "10.10.2.10"]).stdout
    assert _listing()["iptables"] == rules_before


def test_shell_is_on_the_node(lab_up):
    lab_up(two_lans("wl-test-shell"))
    r = wirelab("shell", "wl-test-shell", "b", input="hostname; ip -4 -o addr show eth0; exit 3\n")
    assert r.returncode == 3
    assert r.stdout.splitlines()[0] == "b" and "10.60.2.10/24" in r.stdout


def test_failed_service_start_rolls_the_lab_back(unrelated):
    before = _listing()
    lab = loads(two_lans("wl-test-rollback").replace("a: {interfaces: [lan1]}",
                                                      "a: {interfaces: [lan1], services: [echo-udp, echo-udp]}"))
    try:
        with pytest.raises(WirelabError, match=r"echo-udp on a exited \(status 2\) at start"):
            labs.up(lab)
        assert _listing() == before and LabState.load("wl-test-rollback") is None
    finally:
        labs.down("wl-test-rollback")


def test_a_lab_cannot_come_up_twice(lab_up):
    lab_up(two_lans("wl-test-twice"))
    r = wirelab("up", "-q", "-", input=two_lans("wl-test-twice"))
    assert r.returncode == 2 and "already up" in r.stderr


def test_the_readme_example_lab_comes_up_and_routes(lab_up):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("## The lab file", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    running = lab_up(block.replace("name: mylab", "name: wl-test-readme"))
    out = running.run("pc1", ["ping", "-c1", "-W2", "pc2"]).stdout
    assert "1 received" in out
    assert "10.0.9.2" in running.run("pc1", ["traceroute", "-n", "-q1", "-w1", "10.0.9.2"]).stdout


def test_a_second_traceroute_shows_no_phantom_hops(lab_up):
    running = lab_up(load("chain"))
    for _ in range(3):  # ICMP errors are not rate limited: every probe of every run is answered
        trace = running.run("h1", ["traceroute", "-n", "-w", "2", "10.10.2.10"], check=True).stdout
        assert "*" not in trace, trace


def test_a_killed_service_is_restarted_and_ps_says_so(lab_up):
    running = lab_up(two_lans("wl-test-restart").replace(
        "a: {interfaces: [lan1]}", "a: {interfaces: [lan1], services: [echo-udp, {name: echo-tcp, restart: never}]}"))
    udp, tcp = running.service("a", "echo-udp"), running.service("a", "echo-tcp")
    servers = {p.handle: p.command for p in running.processes("a") if "-m services.echo" in p.command
               and "topology.supervisor" not in p.command}
    assert len(servers) == 2, servers
    for pid in servers:
        os.kill(pid, signal.SIGKILL)  # what a user does to a server process found with ps
    deadline = time.monotonic() + 10
    while running.service_status(udp).restarts < 1 or ("udp", 7) not in running.backend.listening(
            running.state, "a", udp.pid):
        assert time.monotonic() < deadline, running.service_log(udp)
        time.sleep(0.05)
    assert "killed by signal 9; restart 1" in running.service_log(udp)
    # echo-udp answers again; echo-tcp, whose policy is never, stays down and says how it ended
    assert running.run("b", ["sh", "-c", "echo hi | nc -u -w1 10.60.1.10 7"]).stdout == "hi\n"
    assert str(running.service_status(tcp)) == "exited (killed by SIGKILL)"
    report = json.loads(wirelab("ps", "wl-test-restart", "--json").stdout)
    states = {s["service"]: (s["state"], s["restarts"]) for s in report["nodes"]["a"]["services"]}
    assert states == {"echo-udp": ("running", 1), "echo-tcp": ("exited", 0)}


def test_a_service_with_a_bad_configuration_is_not_restarted(lab_up):
    running = lab_up(two_lans("wl-test-badconf"))
    rec = running.start_service("a", "dhcp-server", ["--config", "/nonexistent/pools.yaml"])
    with pytest.raises(WirelabError, match=r"dhcp-server on a exited \(status 2\) at start"):
        running.wait_ready(rec)
    assert running.service_status(rec).restarts == 0


def test_stop_restart_and_signal_a_service(lab_up):
    running = lab_up(two_lans("wl-test-svcctl").replace(
        "a: {interfaces: [lan1]}", "a: {interfaces: [lan1], services: [echo-tcp]}"))
    rec = running.service("a", "echo-tcp")
    new = running.restart_service(rec)
    assert new.pid != rec.pid and not running.backend.alive(running.state, rec.pid)
    assert ("tcp", 7) in running.backend.listening(running.state, "a", new.pid)
    running.signal_service(new, signal.SIGUSR2)  # echo's default action: it dies, and is restarted
    deadline = time.monotonic() + 10
    while running.service_status(new).restarts < 1:
        assert time.monotonic() < deadline, running.service_log(new)
        time.sleep(0.05)
    running.stop_service(new)
    assert running.services("a") == []
    assert not running.backend.alive(running.state, new.pid)
    assert ("tcp", 7) not in running.backend.listening(running.state, "a")


def test_two_ups_of_one_lab_at_once_one_wins_nothing_leaks(unrelated, tmp_path):
    before = _listing()
    lab_file = tmp_path / "race.yaml"
    lab_file.write_text(star(30, name="wl-test-race"))
    for _ in range(3):
        procs = [subprocess.Popen([wirelab_exe(), "up", "-q", str(lab_file)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results
        loser = next(err for code, err in results if code == 2)
        assert "wl-test-race is already" in loser and "Traceback" not in loser, loser
        r = wirelab("down", "wl-test-race")
        assert r.returncode == 0, r.stderr
        assert _listing() == before


def test_commands_take_a_lab_by_absolute_path(lab_up, tmp_path):
    lab_file = tmp_path / "abs.yaml"
    lab_file.write_text(two_lans("wl-test-abspath"))
    assert wirelab("up", "-q", str(lab_file)).returncode == 0
    try:
        for args in (["ps", str(lab_file)], ["graph", str(lab_file), "-o", str(tmp_path / "g.svg")]):
            r = wirelab(*args)
            assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
        assert "wl-test-abspath" in wirelab("ps", str(lab_file)).stdout
    finally:
        r = wirelab("down", str(lab_file))
    assert r.returncode == 0 and "wl-test-abspath is down" in r.stderr + r.stdout
