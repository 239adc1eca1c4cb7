"""Standard clients against the project's server (curl: EPSV, PASV, EPRT/PORT, upload; lftp passive on and
off; wget), and the project's client against standard servers (pyftpdlib and vsftpd), on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_ftp_server import Server, start_server, stop_server

HOST, PYFTPD, VSFTPD = "127.0.21.20", "127.0.21.21", "127.0.21.22"
CLIENT = "127.0.21.120"
PAYLOAD = os.urandom(1 << 20) + b"\nend\n"


def needs(tool: str):
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"needs {tool} (make setup installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("ftp-interop"), HOST, 2121, "--passive-ports", "44000-44999")
    (s.root / "alice" / "data.bin").write_bytes(PAYLOAD)
    (s.root / "alice" / "lines.txt").write_bytes(b"one\ntwo\n")
    (s.root / "pub" / "readme.txt").write_text("welcome to ftp.poly.edu\n")
    yield s
    stop_server(s)


def curl(server: Server, *args: str, url: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--interface", CLIENT, "--max-time", "20", "--user", "alice:secret",
                           *args, f"ftp://{server.host}:{server.port}/{url}"], capture_output=True, timeout=30)


@needs("curl")
@pytest.mark.parametrize("mode", [[], ["--disable-epsv"], ["-P", "-"], ["-P", "-", "--disable-eprt"]],
                         ids=["epsv", "pasv", "eprt", "port"])
def test_curl_downloads_in_every_mode(server, mode):
    out = curl(server, *mode, url="data.bin")
    assert out.returncode == 0, out.stderr
    assert out.stdout == PAYLOAD


@needs("curl")
@pytest.mark.parametrize("mode", [[], ["-P", "-"]], ids=["passive", "active"])
def test_curl_uploads(server, mode, tmp_path):
    src = tmp_path / "up.bin"
    src.write_bytes(PAYLOAD[::-1])
    out = curl(server, *mode, "-T", str(src), url=f"curl-{len(mode)}.bin")
    assert out.returncode == 0, out.stderr
    assert (server.root / "alice" / f"curl-{len(mode)}.bin").read_bytes() == PAYLOAD[::-1]


@needs("curl")
def test_curl_lists_and_resumes(server):
    listing = curl(server, url="")
    assert listing.returncode == 0 and b" data.bin\n" in listing.stdout  # ASCII: curl drops the CRs
    tail = curl(server, "-C", str(len(PAYLOAD) - 4), url="data.bin")
    assert tail.stdout == b"end\n"


@needs("curl")
def test_curl_ascii_transfer(server):
    out = curl(server, "--use-ascii", url="lines.txt")  # TYPE A: CRLF on the wire, LF again at curl's end
    assert out.returncode == 0 and out.stdout == b"one\ntwo\n"


@needs("curl")
def test_curl_wrong_password_is_refused(server):
    out = subprocess.run(["curl", "-sS", "--interface", CLIENT, "--user", "alice:nope",
                          f"ftp://{server.host}:{server.port}/"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 67 and "530" in out.stderr  # curl: "Access denied: 530"


def lftp(server: Server, passive: bool, script: str, cwd: Path) -> subprocess.CompletedProcess:
    cmds = f"set ftp:passive-mode {'on' if passive else 'off'}; set net:max-retries 1; " \
           f"set net:timeout 10; {script}; quit"
    return subprocess.run(["lftp", "-u", "alice,secret", "-p", str(server.port), "-e", cmds, server.host],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


@needs("lftp")
@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_lftp_get_put_and_list(server, passive, tmp_path):
    (tmp_path / "mine.txt").write_text("from lftp\n")
    name = f"lftp-{passive}.txt"
    out = lftp(server, passive, f"put mine.txt -o {name}; get data.bin -o got.bin; cls -l", tmp_path)
    assert out.returncode == 0, out.stderr
    assert (server.root / "alice" / name).read_text() == "from lftp\n"
    assert (tmp_path / "got.bin").read_bytes() == PAYLOAD
    assert name in out.stdout  # cls -l: from MLSD


@needs("wget")
def test_wget_anonymous_download(server, tmp_path):
    out = subprocess.run(["wget", "-q", "--bind-address", CLIENT, "-O", str(tmp_path / "r.txt"),
                          f"ftp://{server.host}:{server.port}/readme.txt"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r.txt").read_text() == "welcome to ftp.poly.edu\n"


@needs("wget")
def test_wget_active_mode(server, tmp_path):
    out = subprocess.run(["wget", "-q", "--no-passive-ftp", "--bind-address", CLIENT, "-O", str(tmp_path / "d"),
                          f"ftp://alice:secret@{server.host}:{server.port}/data.bin"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d").read_bytes() == PAYLOAD


# --- the project's client against standard servers ----------------------------------------------------------
def ready(host: str, port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                if s.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{proc.args[0]} did not start: {log.read_text()[-500:]}")


def pyftpdlib_server(root: Path, host: str, port: int, log: Path) -> subprocess.Popen:
    """pyftpdlib's own command line: anonymous with write permission on `root`."""
    proc = subprocess.Popen([sys.executable, "-m", "pyftpdlib", "-i", host, "-p", str(port), "-d", str(root), "-w",
                             "-r", "45000-45999"], stdout=log.open("w"), stderr=subprocess.STDOUT)
    ready(host, port, proc, log)
    return proc


def vsftpd_server(root: Path, host: str, port: int, log: Path, passive: str = "46000-46999") -> subprocess.Popen:
    """vsftpd standalone, anonymous, uploads into `root`/up (it refuses a writable chroot root otherwise)."""
    lo, hi = passive.split("-")
    (root / "up").mkdir(parents=True, exist_ok=True)
    shutil.chown(root / "up", "ftp")
    conf = root.parent / f"vsftpd-{port}.conf"
    # its own empty chroot folder: the package's /var/run/vsftpd/empty exists only where systemd-tmpfiles ran
    empty = root.parent / f"vsftpd-{port}-empty"
    empty.mkdir(exist_ok=True)
    conf.write_text(f"listen=YES\nlisten_ipv6=NO\nlisten_address={host}\nlisten_port={port}\nbackground=NO\n"
                    f"secure_chroot_dir={empty}\n"
                    f"anonymous_enable=YES\nno_anon_password=YES\nlocal_enable=NO\nwrite_enable=YES\n"
                    f"anon_upload_enable=YES\nanon_other_write_enable=YES\nanon_umask=022\nanon_root={root}\n"
                    f"allow_writeable_chroot=YES\nseccomp_sandbox=NO\nxferlog_enable=NO\n"
                    f"pasv_min_port={lo}\npasv_max_port={hi}\nconnect_from_port_20=YES\n")
    proc = subprocess.Popen(["vsftpd", str(conf)], stdout=log.open("w"), stderr=subprocess.STDOUT)
    ready(host, port, proc, log)
    return proc


def client(host: str, port: int, *action: str, active: bool = False, cwd: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "services.ftp", "client", host, "--port", str(port), *action]
    return subprocess.run(argv + (["--active"] if active else []), capture_output=True, timeout=60, cwd=cwd)


@pytest.fixture(scope="module", params=["pyftpdlib", "vsftpd"])
def standard(request, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    if request.param == "vsftpd" and shutil.which("vsftpd") is None:
        pytest.skip("needs vsftpd (make setup installs it)")
    root = tmp_path_factory.mktemp(request.param) / "root"
    root.mkdir()
    (root / "hello.txt").write_bytes(PAYLOAD)
    start = pyftpdlib_server if request.param == "pyftpdlib" else vsftpd_server
    host = PYFTPD if request.param == "pyftpdlib" else VSFTPD
    proc = start(root, host, 2121, root.parent / "log")
    yield host, root
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.parametrize("active", [False, True], ids=["passive", "active"])
def test_project_client_against_standard_servers(standard, active, tmp_path):
    host, root = standard
    out = client(host, 2121, "get", "hello.txt", "got.bin", active=active, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "got.bin").read_bytes() == PAYLOAD
    listing = client(host, 2121, "ls", active=active, cwd=tmp_path)
    assert b"hello.txt" in listing.stdout
    (tmp_path / "mine.bin").write_bytes(PAYLOAD[:1000])
    dest = "up/" if (root / "up").is_dir() else ""
    put = client(host, 2121, "put", "mine.bin", f"{dest}mine-{active}.bin", active=active, cwd=tmp_path)
    assert put.returncode == 0, put.stderr
    assert (root / f"{dest}mine-{active}.bin").read_bytes() == PAYLOAD[:1000]
    dialogue = out.stderr.decode()
    assert ("> PORT " in dialogue) == active and ("> PASV" in dialogue) == (not active)


def test_project_client_reports_a_refusal_in_one_line(server, tmp_path):
    out = client(server.host, server.port, "get", "nope.txt", active=False, cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.decode().splitlines()[-1] == "ftp client: 550 Failed to open file."
