"""What an FTP session asks of its shell (the network and the clock are the shell's), and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .commands import Reply


@dataclass(frozen=True)
class Pause:
    """Wait this long before going on (a failed login is answered slowly, to slow password guessing)."""
    seconds: float


@dataclass(frozen=True)
class Close:
    """Close the control connection (after sending what came before)."""


@dataclass(frozen=True)
class OpenPassive:
    """Listen on a port of the passive range; answer with passive_listening(port) or passive_failed()."""
    extended: bool


@dataclass(frozen=True)
class ClosePassive:
    """Drop the passive listener, if any."""


@dataclass(frozen=True)
class Transfer:
    """Open the data connection (connect to `active`, else accept on the passive listener from the session's
    peer only), send `opening`, move the bytes, close it; then call transfer_done or transfer_failed."""
    kind: str  # "retr", "stor", "appe", "stou" (a file) or "list" (the bytes in `listing`)
    opening: Reply  # 150, sent once the data connection is up
    path: Path | None = None
    listing: bytes = b""
    offset: int = 0
    ascii: bool = False
    active: tuple[str, int] | None = None

    @property
    def already_open(self) -> Reply:
        """125 instead of 150 when the client had connected to the passive port before the command came."""
        text = self.opening.lines[0]
        return Reply.of(125, text if text.startswith("FILE: ") else "Data connection already open; transfer starting.")


@dataclass(frozen=True)
class Abort:
    """Stop the running transfer and close its data connection; then call transfer_aborted()."""


Event = Reply | Pause | Close | OpenPassive | ClosePassive | Transfer | Abort


@dataclass(frozen=True)
class Limits:
    login_failures: int = 3  # the connection is closed (421) at this many failed logins
    failure_delay: float = 1.0  # seconds before answering a failed PASS
    banner: str = "wirelab FTP server ready."
