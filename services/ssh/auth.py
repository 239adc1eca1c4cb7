"""Who may log in, and what a logged-in user may open: paramiko's ServerInterface, one per connection.

Passwords are checked against the lab's accounts (the file the Telnet server uses), public keys against
~/.ssh/authorized_keys in the account's home under the server's homes folder. A wrong password is
answered after a delay (and logged with the client's address); a key the account does not list is
refused at once, since OpenSSH's client offers every key it has before it asks for a password.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from services.telnet.accounts import Accounts, home_of

log = logging.getLogger("services.ssh")
ENV_PASSED = ("LANG", "LC_")  # what a client may set in the session's environment (as sshd's AcceptEnv)


@dataclass
class ChannelRequest:
    """What the client asked of one session channel, filled in by paramiko's transport thread."""
    term: str | None = None          # set by a pty-req
    window: tuple[int, int] | None = None
    kind: str | None = None          # "shell", "exec" or "subsystem"
    command: str = ""
    env: dict[str, str] = field(default_factory=dict)
    decided: threading.Event = field(default_factory=threading.Event)
    on_resize: Callable[[int, int], None] | None = None


def authorized(home: Path, key: paramiko.PKey) -> bool:
    try:
        lines = (home / ".ssh" / "authorized_keys").read_text().splitlines()
    except OSError:
        return False
    blob, kind = key.asbytes(), key.get_name()
    for line in lines:
        fields = line.split()  # [options] type base64 [comment]
        for i in range(len(fields) - 1):
            if fields[i] == kind:
                try:
                    if base64.b64decode(fields[i + 1], validate=True) == blob:
                        return True
                except ValueError:
                    pass
    return False


class SSHLogin(paramiko.ServerInterface):
    def __init__(self, accounts: Accounts, homes: Path, peer: str, fail_delay: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.accounts, self.homes, self.peer = accounts, homes, peer
        self.fail_delay, self.sleep = fail_delay, sleep
        self.user: str | None = None
        self.home: Path | None = None
        self.channels: dict[int, ChannelRequest] = {}

    # -- authentication

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def _granted(self, username: str, how: str) -> int:
        self.user, self.home = username, home_of(self.homes, username)
        log.info("%s logged in from %s (%s)", username, self.peer, how)
        return paramiko.AUTH_SUCCESSFUL

    def check_auth_password(self, username: str, password: str) -> int:
        if self.accounts.verify(username, password):
            return self._granted(username, "password")
        log.warning("login refused for %r from %s: wrong user name or password", username, self.peer)
        self.sleep(self.fail_delay)
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username in self.accounts and authorized(self.homes / username, key):
            return self._granted(username, f"key {key.get_name()} {key.fingerprint}")
        return paramiko.AUTH_FAILED

    # -- channels

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind != "session":
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        self.channels[chanid] = ChannelRequest()
        return paramiko.OPEN_SUCCEEDED

    def _request(self, channel: paramiko.Channel) -> ChannelRequest:
        return self.channels.setdefault(channel.get_id(), ChannelRequest())

    def check_channel_pty_request(self, channel, term, width, height, pixelwidth, pixelheight, modes) -> bool:
        req = self._request(channel)
        req.term = term.decode() if isinstance(term, bytes) else term
        req.window = (width, height) if width and height else None
        return True

    def check_channel_window_change_request(self, channel, width, height, pixelwidth, pixelheight) -> bool:
        req = self._request(channel)
        req.window = (width, height)
        if req.on_resize is not None:
            req.on_resize(width, height)
        return True

    def check_channel_env_request(self, channel, name, value) -> bool:
        name = name.decode() if isinstance(name, bytes) else name
        if not name.startswith(ENV_PASSED):
            return False
        self._request(channel).env[name] = value.decode() if isinstance(value, bytes) else value
        return True

    def _decide(self, channel: paramiko.Channel, kind: str, command: str = "") -> bool:
        req = self._request(channel)
        if req.kind is not None:
            return False  # one program per channel (RFC 4254 6.5)
        req.kind, req.command = kind, command
        req.decided.set()
        return True

    def check_channel_shell_request(self, channel) -> bool:
        return self._decide(channel, "shell")

    def check_channel_exec_request(self, channel, command) -> bool:
        return self._decide(channel, "exec", command.decode("utf-8", "replace"))

    def check_channel_subsystem_request(self, channel, name) -> bool:
        if name != "sftp" or not super().check_channel_subsystem_request(channel, name):
            return False
        return self._decide(channel, "subsystem", name)
