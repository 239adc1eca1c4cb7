"""The SSH listener and its sessions. paramiko runs each connection's transport in a thread of its own, so
this shell is threaded too: one thread accepts, one per connection accepts its channels, one per session
channel runs the program (a login shell, or an exec'd command) and copies bytes both ways.

A session with a pty-req runs on a pty (terminal.spawn, shared with the Telnet server: TERM and the
window from the request, window-change followed); one without gets pipes, so `ssh host cmd`, scp and
rsync see clean bytes and stdout and stderr stay apart. When the client goes away the program's process
group is hung up and reaped, as with Telnet.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import subprocess
import threading
from pathlib import Path

import paramiko

from services.telnet import terminal
from services.telnet.accounts import Accounts

from .auth import ChannelRequest, SSHLogin
from .sftp import JailedSFTP, SFTPSubsystem

log = logging.getLogger("services.ssh")
AUTH_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
MAX_CLIENTS = 64


class SSHServer:
    def __init__(self, accounts: Accounts, homes: Path, host_keys: list[paramiko.PKey], node: str,
                 fail_delay: float = 2.0) -> None:
        self.accounts, self.homes, self.host_keys = accounts, homes, host_keys
        self.node, self.fail_delay = node, fail_delay
        self.clients = threading.BoundedSemaphore(MAX_CLIENTS)

    def serve(self, listener: socket.socket) -> None:
        """Accept until the listener is closed (or a signal handler raises)."""
        while True:
            try:
                sock, addr = listener.accept()
            except OSError:
                return
            if not self.clients.acquire(blocking=False):
                sock.close()
                continue
            threading.Thread(target=self._connection, args=(sock, addr[0]), daemon=True).start()

    def _connection(self, sock: socket.socket, peer: str) -> None:
        transport = paramiko.Transport(sock)
        try:
            for key in self.host_keys:
                transport.add_server_key(key)
            transport.set_subsystem_handler("sftp", SFTPSubsystem, JailedSFTP)
            transport.auth_timeout = AUTH_TIMEOUT
            login = SSHLogin(self.accounts, self.homes, peer, self.fail_delay)
            try:
                transport.start_server(server=login)
            except (paramiko.SSHException, EOFError, OSError) as e:
                log.info("%s: no SSH session: %s", peer, e or type(e).__name__)
                return
            while transport.is_active():
                chan = transport.accept(timeout=1.0)
                if chan is None:
                    continue
                req = login.channels.setdefault(chan.get_id(), ChannelRequest())
                threading.Thread(target=_Session(self, login, chan, req).run, daemon=True).start()
        finally:
            transport.close()
            self.clients.release()


class _Session:
    def __init__(self, server: SSHServer, login: SSHLogin, chan: paramiko.Channel, req: ChannelRequest):
        self.server, self.login, self.chan, self.req = server, login, chan, req

    def run(self) -> None:
        if not self.req.decided.wait(REQUEST_TIMEOUT):
            self.chan.close()  # a session channel nobody asked anything of
            return
        if self.req.kind == "subsystem":
            return  # paramiko's SFTP server thread has the channel
        assert self.login.user is not None and self.login.home is not None
        env = terminal.login_environment(self.login.user, self.login.home, self.req.term or "dumb", self.server.node)
        env.update(self.req.env)
        if self.req.kind == "shell":
            argv = [terminal.SHELL, "--noprofile", "--norc", "-i"]
        else:
            argv = [terminal.SHELL, "-c", self.req.command]
        if self.req.term is None:
            del env["TERM"]
            if self.req.kind == "shell":
                argv = [terminal.SHELL, "--noprofile", "--norc"]
        try:
            status = self._on_pty(argv, env) if self.req.term is not None else self._on_pipes(argv, env)
        except OSError as e:
            log.warning("%s: cannot start %s for %s: %s", self.login.peer, argv[0], self.login.user, e)
            status = 127
        if status is not None:
            try:
                self.chan.send_exit_status(status)
                self.chan.shutdown_write()
            except (OSError, EOFError):
                pass
        self.chan.close()

    def _on_pty(self, argv: list[str], env: dict[str, str]) -> int | None:
        proc, master = terminal.spawn(argv, env, self.login.home, self.req.window)
        self.req.on_resize = lambda cols, rows: terminal.set_window(master, cols, rows)
        log.info("%s: %s %d for %s on a pty (TERM=%s)", self.login.peer, self.req.kind, proc.pid, self.login.user,
                 env.get("TERM"))
        watch: list = [master, self.chan]
        try:
            while True:
                # after the client's EOF only the pty is watched; the timeout notices a client gone
                ready, _, _ = select.select(watch, [], [], None if self.chan in watch else 0.5)
                if self.chan.closed:
                    return None
                if master in ready:
                    try:
                        data = os.read(master, 32768)
                    except BlockingIOError:
                        data = None
                    except OSError:  # EIO: the program and all it started have closed the pty
                        data = b""
                    if data == b"":
                        return proc.wait()
                    if data:
                        self.chan.sendall(data)
                if self.chan in ready:
                    data = self.chan.recv(32768)
                    if data:
                        os.write(master, data)
                    else:
                        os.write(master, b"\x04")  # the client's end of input: the terminal's EOF
                        watch = [master]
        except (OSError, EOFError):
            return None
        finally:
            self.req.on_resize = None
            terminal.end(proc)
            os.close(master)

    def _on_pipes(self, argv: list[str], env: dict[str, str]) -> int | None:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, cwd=self.login.home, start_new_session=True)
        log.info("%s: %s %d for %s: %s", self.login.peer, self.req.kind, proc.pid, self.login.user,
                 self.req.command or "shell")

        wake_r, wake_w = os.pipe()  # each copier says on it that its stream has ended

        def copy(src, send) -> None:
            try:
                while data := src.read1(32768):
                    send(data)
            except (OSError, EOFError, ValueError):
                pass
            finally:
                os.write(wake_w, b"x")

        copiers = [threading.Thread(target=copy, args=(proc.stdout, self.chan.sendall), daemon=True),
                   threading.Thread(target=copy, args=(proc.stderr, self.chan.sendall_stderr), daemon=True)]
        for t in copiers:
            t.start()
        ended = 0
        try:
            while ended < 2:
                watch = [wake_r] if proc.stdin.closed else [wake_r, self.chan]
                # after the client's EOF the timeout notices a client gone
                ready, _, _ = select.select(watch, [], [], 0.5 if proc.stdin.closed else None)
                if self.chan.closed:
                    return None
                if wake_r in ready:
                    ended += len(os.read(wake_r, 2))
                if self.chan in ready:
                    data = self.chan.recv(32768)
                    if data:
                        proc.stdin.write(data)
                        proc.stdin.flush()
                    else:
                        proc.stdin.close()  # the client's end of input
            return proc.wait()
        except (OSError, EOFError, ValueError):
            return None
        finally:
            if proc.poll() is None:
                terminal.end(proc)
            for t in copiers:
                t.join(5)
            try:
                proc.stdin.close()
            except OSError:
                pass
            if not any(t.is_alive() for t in copiers):  # else a stray child still holds a pipe: keep the fds
                proc.stdout.close()
                proc.stderr.close()
                os.close(wake_r)
                os.close(wake_w)
