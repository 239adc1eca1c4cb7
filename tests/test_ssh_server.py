"""The SSH server (`python -m services.ssh server`) on loopback, driven by paramiko's client: host keys
kept across restarts, password and key logins against the lab's accounts, exec and shell sessions on a
pty, SFTP jailed to the home folder, and no process left behind when a client vanishes."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from test_telnet_server import alive, free_port, gone, make_accounts, running

NODE = "node1"


def ssh_argv(d: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "services.ssh", "server", "--accounts", str(d / "accounts"), "--homes",
            str(d / "home"), "--host-keys", str(d / "keys"), "--listen", "127.0.0.1", "--port", str(port),
            "--fail-delay", "0.5", "--node", NODE]


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    d = tmp_path_factory.mktemp("ssh")
    make_accounts(d)
    port = free_port()
    with running(ssh_argv(d, port), "127.0.0.1", port, d / "server.log"):
        yield port, d


def client(port: int, user: str = "alice", **auth) -> paramiko.SSHClient:
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    if not auth:
        auth = {"password": {"alice": "wonderland", "bob": "builder"}[user]}
    c.connect("127.0.0.1", port, username=user, allow_agent=False, look_for_keys=False, timeout=10, **auth)
    return c


def read_until(chan: paramiko.Channel, needle: bytes, timeout: float = 10.0) -> bytes:
    got, deadline = b"", time.monotonic() + timeout
    chan.settimeout(timeout)
    while needle not in got:
        assert time.monotonic() < deadline, f"no {needle!r} in {got[-500:]!r}"
        data = chan.recv(65536)
        if not data:
            raise EOFError(got)
        got += data
    return got


def test_host_keys_are_made_once_and_kept_across_restarts(tmp_path):
    make_accounts(tmp_path)
    seen = []
    for _ in range(2):
        port = free_port()
        with running(ssh_argv(tmp_path, port), "127.0.0.1", port, tmp_path / "log"):
            with contextlib.closing(client(port)) as c:
                seen.append(c.get_transport().get_remote_server_key().get_fingerprint())
    assert seen[0] == seen[1]
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        f"ssh_host_{k}_key{s}" for k in ("ecdsa", "ed25519", "rsa") for s in ("", ".pub")]
    assert (tmp_path / "keys" / "ssh_host_ed25519_key").stat().st_mode & 0o777 == 0o600


def test_exec_keeps_stdout_stderr_and_the_exit_status_apart(ssh_server):
    with contextlib.closing(client(ssh_server[0])) as c:
        _, out, err = c.exec_command("echo $USER $HOME; echo oops >&2; exit 7")
        assert out.read() == f"alice {ssh_server[1] / 'home' / 'alice'}\n".encode()
        assert err.read() == b"oops\n"
        assert out.channel.recv_exit_status() == 7


def test_exec_reads_the_clients_stdin_to_its_end(ssh_server):
    with contextlib.closing(client(ssh_server[0])) as c:
        stdin, out, _ = c.exec_command("wc -c")
        stdin.write(b"x" * 100_000)
        stdin.channel.shutdown_write()
        assert out.read().strip() == b"100000"


def test_a_wrong_password_is_refused_after_a_delay_and_logged(ssh_server):
    started = time.monotonic()
    with pytest.raises(paramiko.AuthenticationException):
        client(ssh_server[0], password="not-her-password")
    assert time.monotonic() - started >= 0.5
    assert "login refused for 'alice' from 127.0.0.1: wrong user name or password" in \
        (ssh_server[1] / "server.log").read_text()


def test_an_unknown_user_is_refused(ssh_server):
    with pytest.raises(paramiko.AuthenticationException):
        client(ssh_server[0], user="alice", password="builder")  # bob's password is not alice's


def test_public_key_login_against_the_homes_authorized_keys(ssh_server):
    port, d = ssh_server
    key, stranger = paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
    ssh_dir = d / "home" / "bob" / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(f"# bob's keys\n{key.get_name()} {key.get_base64()} bob@laptop\n")
    with contextlib.closing(client(port, user="bob", pkey=key)) as c:
        _, out, _ = c.exec_command("echo $USER")
        assert out.read() == b"bob\n"
    with pytest.raises(paramiko.AuthenticationException):
        client(port, user="bob", pkey=stranger)
    with pytest.raises(paramiko.AuthenticationException):
        client(port, user="alice", pkey=key)  # bob's key is not alice's


def test_a_shell_on_a_pty_with_the_requested_terminal_and_window_changes(ssh_server):
    with contextlib.closing(client(ssh_server[0])) as c:
        chan = c.invoke_shell(term="vt220", width=100, height=30)
        read_until(chan, f"alice@{NODE}:".encode())
        chan.send(b"echo T=$TERM; stty size\r")
        assert b"T=vt220\r\n30 100\r\n" in read_until(chan, b"30 100\r\n")
        chan.resize_pty(width=120, height=40)
        chan.send(b"stty size\r")
        read_until(chan, b"40 120\r\n")
        chan.send(b"exit\r")
        assert chan.recv_exit_status() == 0


def test_exec_on_a_pty_when_asked(ssh_server):
    with contextlib.closing(client(ssh_server[0])) as c:
        chan = c.get_transport().open_session()
        chan.get_pty(term="xterm", width=80, height=24)
        chan.exec_command("tty; echo $TERM")
        out = read_until(chan, b"xterm")
        assert out.startswith(b"/dev/pts/")
        assert chan.recv_exit_status() == 0


def test_a_client_that_vanishes_leaves_no_process_behind(ssh_server):
    c = client(ssh_server[0])
    chan = c.invoke_shell()
    read_until(chan, f"alice@{NODE}:".encode())
    # The terminal echoes what is typed: the numbers are read from the output only, never the echo.
    chan.send(b"echo pid=$$; sleep 300 & echo job=$!\r")
    got, deadline = b"", time.monotonic() + 10
    while not (m := re.search(rb"pid=(\d+).*job=(\d+)\r?\n", got, re.S)):
        assert time.monotonic() < deadline, f"no pid and job in {got[-500:]!r}"
        got += chan.recv(65536)
    shell, job = int(m.group(1)), int(m.group(2))
    assert alive(shell) and alive(job)
    c.get_transport().sock.close()  # gone without a goodbye
    c.close()
    assert gone([shell, job]), "the shell or its job outlived the connection"


# -- SFTP, jailed

@pytest.fixture
def sftp(ssh_server) -> Iterator[paramiko.SFTPClient]:
    with contextlib.closing(client(ssh_server[0])) as c:
        s = c.open_sftp()
        yield s
        s.close()


def test_sftp_sees_the_home_as_root_and_moves_files(sftp, ssh_server):
    home = ssh_server[1] / "home" / "alice"
    assert sftp.normalize(".") == "/"
    sftp.putfo(io.BytesIO(b"hello\n" * 1000), "/notes.txt")
    assert (home / "notes.txt").read_bytes() == b"hello\n" * 1000
    sftp.mkdir("docs")
    sftp.rename("notes.txt", "docs/notes.txt")
    assert "notes.txt" in sftp.listdir("/docs")
    buf = io.BytesIO()
    sftp.getfo("/docs/notes.txt", buf)
    assert buf.getvalue() == b"hello\n" * 1000
    sftp.remove("docs/notes.txt")
    sftp.rmdir("docs")
    assert not (home / "docs").exists()


def test_sftp_setting_the_size_keeps_what_was_written(sftp, ssh_server):
    """paramiko's own set_file_attr empties a file before truncating it; scp sets the size after writing."""
    with sftp.open("sized.bin", "wb") as f:
        f.write(bytes(range(256)) * 4)
        f.truncate(300)
    sftp.truncate("sized.bin", 200)
    assert (ssh_server[1] / "home" / "alice" / "sized.bin").read_bytes() == (bytes(range(256)) * 4)[:200]


def test_sftp_cannot_climb_out_of_the_home(sftp, ssh_server):
    assert sftp.normalize("../../../etc") == "/etc"  # a path inside the jail, not the node's /etc
    with pytest.raises(FileNotFoundError):
        sftp.stat("../../../etc/passwd")
    with pytest.raises(FileNotFoundError):
        sftp.open("/../../etc/passwd")


def test_sftp_refuses_symbolic_links_leading_out(sftp, ssh_server):
    home = ssh_server[1] / "home" / "alice"
    os.symlink("/etc", home / "escape")
    try:
        with pytest.raises(PermissionError):
            sftp.listdir("escape")
        with pytest.raises(PermissionError):
            sftp.open("escape/passwd")
        assert sftp.lstat("escape")  # the link itself may be seen
        with pytest.raises(PermissionError):
            sftp.symlink("../../../../../../etc/shadow", "shadow")  # nor made
        sftp.symlink("/../../etc/hosts", "hosts")  # an absolute target is a path inside the jail
        assert os.readlink(home / "hosts") == "etc/hosts"
        os.unlink(home / "hosts")
    finally:
        os.unlink(home / "escape")
