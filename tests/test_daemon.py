"""The daemons' shared shell (services.daemon) through real processes: every daemon stops cleanly on
SIGTERM and SIGINT, takes --quiet and --log-level, reloads on SIGHUP where that means something (and
otherwise lives on), and says a missing or broken configuration file in one line with exit status 2."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dnslib import DNSRecord

from services import daemon

ZONES = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.d" / "dns"
ADDR = "127.0.57."


def start(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def ask(addr: str, name: str, port: int = 53, timeout: float = 10.0) -> DNSRecord:
    """The server's reply, asked until it answers (readiness observed, not slept for)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            s.sendto(DNSRecord.question(name, "A").pack(), (addr, port))
            try:
                return DNSRecord.parse(s.recv(4096))
            except OSError:
                continue
    raise AssertionError(f"no reply from {addr}")


def udp_echo(addr: str, port: int, data: bytes, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            s.sendto(data, (addr, port))
            try:
                return s.recv(4096)
            except OSError:
                continue
    raise AssertionError(f"no reply from {addr}:{port}")


def stops_cleanly(proc: subprocess.Popen, sig: signal.Signals) -> str:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err + out
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_dns_auth_stops_cleanly(sig):
    proc = start("services.dns", "auth", "--listen", ADDR + "1", "--zone", str(ZONES / "root.zone"))
    assert ask(ADDR + "1", "edu").header.rcode == 0
    out = stops_cleanly(proc, sig)
    assert f"{sig.name}: stopping" in out


@pytest.mark.parametrize("argv", [["services.echo", "--udp", "--host", ADDR + "2", "--port", "7007"],
                                  ["services.sockets.server", "--udp", "--port", "12077"]])
def test_echo_and_uppercase_servers_stop_cleanly(argv):
    proc = start(*argv)
    port = int(argv[-1])
    addr = ADDR + "2" if "services.echo" in argv else "127.0.0.1"
    got = udp_echo(addr, port, b"hello")
    assert got == (b"hello" if "services.echo" in argv else b"HELLO")
    stops_cleanly(proc, signal.SIGTERM)


def test_quiet_logs_nothing_below_errors_and_log_level_debug_logs_more():
    quiet = start("services.dns", "auth", "--quiet", "--listen", ADDR + "3", "--zone", str(ZONES / "root.zone"))
    ask(ADDR + "3", "edu")
    assert stops_cleanly(quiet, signal.SIGTERM) == ""
    loud = start("services.dns", "--log-level", "info", "auth", "--listen", ADDR + "3", "--zone",
                 str(ZONES / "root.zone"))
    ask(ADDR + "3", "edu")
    assert "authoritative for ." in stops_cleanly(loud, signal.SIGTERM)


def test_sighup_reloads_the_zones_and_a_broken_file_keeps_the_old_ones(tmp_path):
    zone = tmp_path / "lab.zone"
    base = "$ORIGIN lab.test.\n@ 60 IN SOA ns admin 1 60 60 60 60\n@ 60 IN NS ns\nns 60 IN A 10.0.0.1\n"
    zone.write_text(base)
    proc = start("services.dns", "auth", "--listen", ADDR + "4", "--zone", str(zone))
    try:
        assert ask(ADDR + "4", "new.lab.test").header.rcode == 3  # NXDOMAIN
        zone.write_text(base + "new 60 IN A 10.0.0.2\n")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while ask(ADDR + "4", "new.lab.test").header.rcode != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert str(ask(ADDR + "4", "new.lab.test").a.rdata) == "10.0.0.2"
        zone.write_text("garbage\n")
        proc.send_signal(signal.SIGHUP)
        said = ""
        while "reload failed, going on as before" not in said and time.monotonic() < deadline + 10:
            said = proc.stdout.readline()  # the failed reload is logged: then nothing may have changed
        assert str(ask(ADDR + "4", "new.lab.test").a.rdata) == "10.0.0.2"
    finally:
        stops_cleanly(proc, signal.SIGTERM)
    assert "reload failed, going on as before" in said and "cannot parse zone file" in said


def test_sighup_without_a_reload_is_not_fatal():
    proc = start("services.echo", "--udp", "--host", ADDR + "5", "--port", "7007")
    assert udp_echo(ADDR + "5", 7007, b"x") == b"x"
    proc.send_signal(signal.SIGHUP)
    assert udp_echo(ADDR + "5", 7007, b"y") == b"y"
    assert "nothing to reload" in stops_cleanly(proc, signal.SIGTERM)


@pytest.mark.parametrize("make,expect", [
    (lambda p: None, "No such file"),
    (lambda p: p.write_bytes(b"@ IN SOA \xff\xfe\n"), "not UTF-8"),
    (lambda p: p.write_text("www IN A 1.2.3.4\n"), "exactly one SOA"),
])
def test_a_missing_or_broken_zone_file_is_one_line_and_exit_2(tmp_path, make, expect):
    bad = tmp_path / "bad.zone"
    make(bad)
    out = subprocess.run([sys.executable, "-m", "services.dns", "auth", "--zone", str(bad), "--listen",
                          ADDR + "6"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("dns: ") and expect in out.stderr


@pytest.mark.parametrize("make,expect", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b"pools:\n  - subnet: \xff\n"), "not UTF-8"),
    (lambda p: p.write_text("pools: [\n"), "not valid YAML"),
])
def test_a_missing_or_broken_dhcp_config_is_one_line_and_exit_2(tmp_path, make, expect):
    bad = tmp_path / "dhcp.yaml"
    make(bad)
    out = subprocess.run([sys.executable, "-m", "services.dhcp", "server", "--config", str(bad), "--leases",
                          str(tmp_path / "leases.jsonl")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("dhcp: ") and expect in out.stderr


def test_a_port_already_taken_is_one_line_and_exit_2():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ADDR + "7", 7007))
        out = subprocess.run([sys.executable, "-m", "services.echo", "--udp", "--host", ADDR + "7", "--port",
                              "7007"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "cannot listen" in out.stderr


def test_read_config_names_the_line_of_a_bad_byte(tmp_path):
    p = tmp_path / "x.conf"
    p.write_bytes(b"ok\nok\nbad \xc3\x28\n")
    with pytest.raises(daemon.ConfigError, match=r"x.conf:3: .* not UTF-8"):
        daemon.read_config(p)


def test_the_dhcp_server_reloads_its_pools_on_sighup(tmp_path):
    config = tmp_path / "dhcp.yaml"
    config.write_text("pools:\n  - subnet: 10.0.1.0/24\n    range: 10.0.1.100-10.0.1.199\n")
    proc = start("services.dhcp", "server", "--config", str(config), "--leases", str(tmp_path / "l.jsonl"),
                 "--port", "6798")
    out = ""
    deadline = time.monotonic() + 20
    while "serving pools" not in out and proc.poll() is None and time.monotonic() < deadline:
        out += proc.stdout.readline()
    config.write_text("pools:\n  - subnet: 10.0.9.0/24\n    range: 10.0.9.10-10.0.9.20\n")
    proc.send_signal(signal.SIGHUP)
    while "configuration reloaded" not in out and proc.poll() is None and time.monotonic() < deadline:
        out += proc.stdout.readline()
    config.write_text("pools: [\n")
    proc.send_signal(signal.SIGHUP)
    while "reload failed" not in out and proc.poll() is None and time.monotonic() < deadline:
        out += proc.stdout.readline()
    out += stops_cleanly(proc, signal.SIGTERM)
    assert "configuration reloaded: pools 10.0.9.0/24" in out
    assert "reload failed, going on as before" in out and "not valid YAML" in out
