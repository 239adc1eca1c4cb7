"""OpenSSH's clients against our SSH server on loopback: ssh with sshpass and with a key (the host key
checked against the .pub files the server made), scp in both its modes, sftp in batch mode."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_ssh_server import ssh_server  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(not (shutil.which("ssh") and shutil.which("sshpass")),
                                reason="needs ssh, scp, sftp (openssh-client) and sshpass")


@pytest.fixture(scope="module")
def openssh(ssh_server, tmp_path_factory) -> dict:  # noqa: F811
    port, d = ssh_server
    tmp = tmp_path_factory.mktemp("openssh")
    known = tmp / "known_hosts"
    known.write_text("".join(f"[127.0.0.1]:{port} {' '.join(p.read_text().split()[:2])}\n"
                             for p in sorted((d / "keys").glob("*.pub"))))
    opts = ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR",
            "-o", "GlobalKnownHostsFile=/dev/null", "-F", "/dev/null"]
    return {"port": port, "dir": d, "tmp": tmp, "opts": opts}


def run(argv: list[str], password: str | None = "wonderland", **kw) -> subprocess.CompletedProcess:
    if password is not None:
        argv = ["sshpass", "-p", password, *argv]
    return subprocess.run(argv, capture_output=True, timeout=60, **kw)


def test_ssh_with_sshpass_runs_a_command(openssh):
    out = run(["ssh", *openssh["opts"], "-p", str(openssh["port"]), "alice@127.0.0.1", "echo $USER; exit 3"])
    assert (out.stdout, out.returncode) == (b"alice\n", 3), out.stderr


def test_ssh_with_a_wrong_password_is_refused(openssh):
    out = run(["ssh", *openssh["opts"], "-o", "NumberOfPasswordPrompts=1", "-p", str(openssh["port"]),
               "alice@127.0.0.1", "true"], password="not-her-password")
    assert out.returncode == 255 and b"Permission denied" in out.stderr


def test_ssh_with_a_key(openssh):
    key = openssh["tmp"] / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    ssh_dir = openssh["dir"] / "home" / "bob" / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
    out = run(["ssh", *openssh["opts"], "-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
               "-i", str(key), "-p", str(openssh["port"]), "bob@127.0.0.1", "echo key-$USER"], password=None)
    assert out.stdout == b"key-bob\n", out.stderr


def test_ssh_on_a_pty(openssh):
    out = run(["ssh", *openssh["opts"], "-tt", "-p", str(openssh["port"]), "alice@127.0.0.1", "tty; echo T=$TERM"],
              env={"TERM": "vt100", "PATH": "/usr/bin:/bin"})
    assert out.stdout.startswith(b"/dev/pts/") and b"T=vt100\r\n" in out.stdout, out.stderr


@pytest.mark.parametrize("mode", [[], ["-O"]], ids=["sftp-protocol", "legacy-scp"])
def test_scp_both_ways(openssh, mode):
    src = openssh["tmp"] / "data.bin"
    src.write_bytes(bytes(range(256)) * 4000)
    port, home = str(openssh["port"]), openssh["dir"] / "home" / "alice"
    up = run(["scp", *mode, *openssh["opts"], "-P", port, str(src), "alice@127.0.0.1:copy.bin"])
    assert up.returncode == 0, up.stderr
    assert (home / "copy.bin").read_bytes() == src.read_bytes()
    back = openssh["tmp"] / "back.bin"
    down = run(["scp", *mode, *openssh["opts"], "-P", port, "alice@127.0.0.1:copy.bin", str(back)])
    assert down.returncode == 0 and back.read_bytes() == src.read_bytes(), down.stderr


def test_sftp_batch(openssh):
    home = openssh["dir"] / "home" / "alice"
    (openssh["tmp"] / "up.txt").write_text("via sftp\n")
    batch = openssh["tmp"] / "batch"
    batch.write_text(f"pwd\nmkdir box\nput {openssh['tmp'] / 'up.txt'} box/up.txt\nls box\n"
                     "rename box/up.txt box/moved.txt\n-get ../../../etc/passwd\n")
    out = run(["sftp", *openssh["opts"], "-o", "BatchMode=no", "-b", str(batch), "-P", str(openssh["port"]),
               "alice@127.0.0.1"], cwd=openssh["tmp"])
    assert out.returncode == 0, out.stderr
    assert b"Remote working directory: /\n" in out.stdout
    assert (home / "box" / "moved.txt").read_text() == "via sftp\n"
    assert out.stderr == b'File "/../../../etc/passwd" not found.\r\n'  # in the jail's /etc, which does not exist
    assert not (openssh["tmp"] / "passwd").exists()
