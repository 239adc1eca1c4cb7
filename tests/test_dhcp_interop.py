"""Interop: standard clients (busybox udhcpc, ISC dhclient) get leases from wirelab's server, and
wirelab's client gets one from a standard server (dnsmasq)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from topology import lab as labs

pytestmark = pytest.mark.lab

LAB = textwrap.dedent("""
    name: {name}
    segments:
      lan: {{subnet: 10.65.0.0/24}}
    nodes:
      srv: {{interfaces: [{{segment: lan, address: 10.65.0.2}}]}}
      c1: {{interfaces: [{{segment: lan}}]}}
      c2: {{interfaces: [{{segment: lan}}]}}
""")
POOL = "10.65.0.100-10.65.0.120"


def ours(running: labs.RunningLab, tmp_path: Path) -> None:
    cfg = tmp_path / "server.yaml"
    cfg.write_text(f"lease_time: 120\npools:\n  - {{subnet: 10.65.0.0/24, range: {POOL}, router: 10.65.0.1, "
                   f"dns: [10.65.0.53], domain: interop.lab}}\n")
    running.wait_ready(running.start_service("srv", "dhcp-server", ["--config", str(cfg)]))


def bare(running: labs.RunningLab, node: str) -> None:
    """The node's interface as a DHCP client finds it: up, with no address."""
    running.run(node, ["ip", "addr", "flush", "dev", "eth0"], check=True)


def in_pool(ip: str) -> bool:
    return ip.startswith("10.65.0.1") and 100 <= int(ip.rsplit(".", 1)[1]) <= 120


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox not installed")
def test_busybox_udhcpc_gets_a_lease(lab_up, tmp_path):
    running = lab_up(LAB.format(name="dhcp-udhcpc"))
    ours(running, tmp_path)
    bare(running, "c1")
    script = tmp_path / "udhcpc.sh"
    out = tmp_path / "udhcpc.env"
    script.write_text(f"#!/bin/sh\n[ \"$1\" = bound ] && env > {out}\nexit 0\n")
    script.chmod(0o755)
    r = running.run("c1", ["busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "1",
                           "-s", str(script)], timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert in_pool(env["ip"]) and env["subnet"] == "255.255.255.0"
    assert env["router"].strip() == "10.65.0.1" and env["dns"].strip() == "10.65.0.53"
    assert env["domain"] == "interop.lab" and env["serverid"] == "10.65.0.2" and env["lease"] == "120"


@pytest.mark.skipif(shutil.which("dhclient") is None, reason="isc-dhcp-client not installed")
def test_isc_dhclient_gets_a_lease(lab_up, tmp_path):
    running = lab_up(LAB.format(name="dhcp-dhclient"))
    ours(running, tmp_path)
    bare(running, "c2")
    leases, script, seen = tmp_path / "dhclient.leases", tmp_path / "dhclient.sh", tmp_path / "dhclient.env"
    script.write_text(f"#!/bin/sh\n[ \"$reason\" = BOUND ] && env > {seen}\nexit 0\n")
    script.chmod(0o755)
    proc = running.popen("c2", ["dhclient", "-d", "-4", "-sf", str(script), "-lf", str(leases),
                                "-pf", str(tmp_path / "dhclient.pid"), "eth0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not seen.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert seen.exists(), "dhclient did not bind"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    env = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert in_pool(env["new_ip_address"]) and env["new_routers"] == "10.65.0.1"
    assert env["new_domain_name_servers"] == "10.65.0.53" and env["new_domain_name"] == "interop.lab"
    assert env["new_dhcp_server_identifier"] == "10.65.0.2" and env["new_dhcp_lease_time"] == "120"
    assert "fixed-address " + env["new_ip_address"] in leases.read_text()


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq not installed")
def test_our_client_gets_a_lease_from_dnsmasq(lab_up, tmp_path):
    running = lab_up(LAB.format(name="dhcp-dnsmasq"))
    leasefile = tmp_path / "dnsmasq.leases"
    dnsmasq = running.popen("srv", [
        "dnsmasq", "--no-daemon", "--port=0", "--interface=eth0", "--bind-interfaces", "--conf-file=/dev/null",
        "--dhcp-range=10.65.0.100,10.65.0.120,255.255.255.0,2m", f"--dhcp-leasefile={leasefile}",
        "--dhcp-option=3,10.65.0.1", "--dhcp-option=6,10.65.0.53", "--domain=interop.lab",
        f"--pid-file={tmp_path / 'dnsmasq.pid'}", "--user=root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        bare(running, "c1")
        rec = running.start_service("c1", "dhcp-client", [], iface="eth0")
        running.wait_ready(rec)
        inet = running.run("c1", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout.split()
        ip = inet[inet.index("inet") + 1]
        assert in_pool(ip.split("/")[0]) and ip.endswith("/24")
        assert "default via 10.65.0.1 dev eth0" in running.run("c1", ["ip", "route"]).stdout
        resolv = running.run("c1", ["cat", "/etc/resolv.conf"]).stdout
        assert "nameserver 10.65.0.53" in resolv and "search interop.lab" in resolv
        assert ip.split("/")[0] in leasefile.read_text()
        running.stop_service(rec)  # the client releases: dnsmasq drops the lease from its file
        deadline = time.monotonic() + 10
        while ip.split("/")[0] in leasefile.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ip.split("/")[0] not in leasefile.read_text()
    finally:
        os.killpg(dnsmasq.pid, signal.SIGTERM)
        dnsmasq.wait(timeout=10)
