"""A login's shell on a pseudo-terminal, for the Telnet and the SSH server alike: spawned as the leader of
its own session with the pty as its controlling terminal (so ^C, job control and SIGHUP work as on a
console), and ended with its whole process group when the client goes away.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

SHELL = "/bin/bash"


def login_environment(user: str, home: Path, term: str, node: str) -> dict[str, str]:
    return {
        "HOME": str(home), "USER": user, "LOGNAME": user, "SHELL": SHELL, "TERM": term,
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PS1": f"{user}@{node}:\\w\\$ ", "LANG": os.environ.get("LANG", "C.UTF-8"),
    }


def set_window(fd: int, columns: int, rows: int) -> None:
    """Tell the pty its size; the kernel sends SIGWINCH to the foreground job."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def _controlling_terminal() -> None:  # runs in the child, after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def spawn(argv: list[str], env: dict[str, str], cwd: Path, window: tuple[int, int] | None
          ) -> tuple[subprocess.Popen, int]:
    """Start argv on a new pty; returns the process and the pty's master side (non-blocking)."""
    master, slave = os.openpty()
    try:
        if window:
            set_window(slave, *window)
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                start_new_session=True, preexec_fn=_controlling_terminal, close_fds=True)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return proc, master


def end(proc: subprocess.Popen, grace: float = 1.0) -> None:
    """The client is gone: hang up the shell's session as a closing terminal would (SIGHUP, then SIGKILL
    for what ignores it), and reap it, so no process of the login stays behind."""
    for sig in (signal.SIGHUP, signal.SIGCONT):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 5
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
