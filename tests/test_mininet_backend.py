"""The mininet backend and `wirelab export mininet`, for real: Mininet builds the lab, wirelab runs it.

Needs root and Debian's mininet and bridge-utils (make setup installs them); skipped, saying so, without.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
from conftest import wirelab, wirelab_exe
from test_netns_backend import _SEND, _SINK, _listing, _wait_port, two_lans, unrelated  # noqa: F401

from topology.gen import star
from topology.loader import load, loads

MININET = os.path.exists("/usr/lib/python3/dist-packages/mininet/net.py") and os.path.exists("/usr/sbin/brctl")
pytestmark = [pytest.mark.lab, pytest.mark.skipif(not MININET, reason="Mininet is not installed (make setup)")]


def test_routers_forward_and_nodes_have_their_own_names(lab_up):
    running = lab_up(load("chain"), backend="mininet")
    out = running.run("h1", ["ping", "-c", "2", "-W", "2", "10.10.2.10"], check=True).stdout
    assert "2 received" in out and "ttl=61" in out, out
    trace = running.run("h1", ["traceroute", "-n", "-q", "1", "-w", "2", "10.10.2.10"], check=True).stdout
    assert re.findall(r"^\s*\d+\s+(\S+)", trace, re.M) == ["10.10.1.1", "10.10.12.2", "10.10.23.2", "10.10.2.10"]
    assert running.run("r2", ["hostname"]).stdout.strip() == "r2"
    assert "10.10.2.10\th2" in running.run("h1", ["cat", "/etc/hosts"]).stdout
    link = running.run("h1", ["ip", "-o", "link", "show", "eth0"]).stdout
    assert running.interface("h1", "lan-a").mac in link


def test_a_hub_floods_and_a_switch_does_not(lab_up):
    lab = two_lans("mn-hub").replace("a: {interfaces: [lan1]}", "a: {interfaces: [lan1]}\n  c: {interfaces: [lan2]}\n"
                                     "  d: {interfaces: [lan1]}")
    running = lab_up(lab, backend="mininet")

    def overheard(listener: str, target: str) -> bool:
        spy = running.popen(listener, ["timeout", "4", "tcpdump", "-c", "1", "-n", "-i", "eth0",
                                       f"icmp and dst host {target}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(1)  # tcpdump has no readiness signal on stdout; the ping repeats for 2 s anyway
        running.run("r", ["ping", "-c", "4", "-i", "0.5", "-W", "1", target])
        return "ICMP echo request" in spy.communicate(timeout=10)[0]

    b, a = running.address("b"), running.address("a")
    running.run("r", ["ping", "-c1", "-W2", b]), running.run("r", ["ping", "-c1", "-W2", a])  # addresses learnt
    assert overheard("c", b), "c on the hub lan2 did not see r's pings to b"
    assert not overheard("d", a), "d on the switch lan1 saw r's unicast pings to a"


def test_rate_comes_from_mininets_tclink(lab_up):
    running = lab_up(two_lans("mn-rate", rate="8mbit"), backend="mininet")
    assert "htb" in running.run("b", ["tc", "qdisc", "show", "dev", "eth0"]).stdout
    server = running.popen("b", ["python3", "-c", _SINK], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(running, "b", 5001)
        t0 = time.monotonic()
        running.run("a", ["python3", "-c", _SEND.format(host="10.60.2.10", size=2_000_000)], check=True)
        mbit = 2_000_000 * 8 / (time.monotonic() - t0) / 1e6
    finally:
        server.kill()
    assert 8 * 0.7 < mbit < 8 * 1.15, f"{mbit:.1f} Mbit/s on an 8mbit segment"


def test_services_captures_and_ps_work_as_on_netns(lab_up, tmp_path):
    running = lab_up(two_lans("mn-svc").replace("b: {interfaces: [lan2]}", "b: {interfaces: [lan2], services: [echo-udp]}"),
                     backend="mininet")
    with running.capture("lan2", tmp_path / "lan2.pcap", filter="udp port 7") as cap:
        assert running.run("a", ["sh", "-c", "echo hello | nc -u -w1 10.60.2.10 7"]).stdout == "hello\n"
    payloads = [bytes(p["Raw"].load) for p in cap.packets() if p.haslayer("Raw")]
    assert payloads == [b"hello\n", b"hello\n"]
    rec = running.service("b", "echo-udp")
    server = next(p for p in running.processes("b") if p.group == rec.pid and "supervisor" not in p.command)
    os.kill(server.handle, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while str(running.service_status(rec)) != "running, restarted 1x":
        assert time.monotonic() < deadline, running.service_log(rec)
        time.sleep(0.05)
    r = wirelab("ps", "mn-svc")
    assert r.returncode == 0 and "echo-udp: running, restarted 1x" in r.stdout, r.stdout + r.stderr


def test_down_removes_exactly_what_up_made_also_after_kill_9(unrelated, tmp_path):  # noqa: F811
    before = _listing()
    lab_file = tmp_path / "mn.yaml"
    lab_file.write_text(star(60, name="mn-crash"))
    lab = loads(lab_file.read_text())
    proc = subprocess.Popen([wirelab_exe(), "up", "-b", "mininet", str(lab_file)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    made = []
    while time.monotonic() < deadline and not made:  # kill it once Mininet has pinned some namespaces
        made = [n for n in os.listdir("/run/netns") if n.startswith(f"wl{lab.hash}")] if os.path.isdir("/run/netns") else []
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert made, "wirelab up made nothing before it was killed"
    time.sleep(0.5)  # Mininet's shells end when their terminal closes with the killed process
    assert wirelab("down", "mn-crash").returncode == 0
    assert _listing() == before
    assert wirelab("up", "-q", "-b", "mininet", str(lab_file)).returncode == 0
    assert wirelab("down", "mn-crash").returncode == 0
    assert _listing() == before


def test_export_runs_under_plain_mininet_and_pings_across(tmp_path, unrelated):  # noqa: F811
    before = _listing()
    script = tmp_path / "chain.py"
    r = wirelab("export", "mininet", "chain", "-o", str(script))
    assert r.returncode == 0, r.stderr
    commands = tmp_path / "commands"
    commands.write_text("h1 ping -c1 -W2 10.10.2.10\nh2 ping -c1 -W2 10.10.1.10\n")
    run = subprocess.run(["/usr/bin/python3", str(script), str(commands)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    said = run.stdout + run.stderr  # Mininet's CLI writes its commands' output through its log (stderr)
    assert said.count("1 received") == 2 and "ttl=61" in said, said
    assert _listing() == before, "the Mininet script left something behind"


def test_every_scenario_passes_on_mininet(tmp_path):
    r = wirelab("scenario", "run", "--all", "--backend", "mininet", "--out", str(tmp_path / "results"), timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    report = json.loads((tmp_path / "results" / "report.json").read_text())
    assert report["scenarios"] and all(s["passed"] for s in report["scenarios"]), r.stdout[-3000:]
