"""The maildrop: one Maildir per user under a root folder (ROOT/<user>/{tmp,new,cur}), and the accounts file.

The SMTP delivery agent writes here and the POP3 server reads here. Messages are kept in wire form (CRLF line
ends), so what a POP3 client retrieves is byte for byte what the SMTP server accepted. A delivery is written
to tmp/, fsynced, then renamed into new/ and the folder fsynced (the Maildir protocol): a reader never sees a
half-written message, and a crash never loses a delivered one. Its file name is derived from the queue id,
so delivering the same queued message twice (a restart between delivery and dequeue) leaves one copy.

The accounts file has one `user:password` line per mailbox (`#` starts a comment).
"""

from __future__ import annotations

import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path

_USER = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")


class AccountsError(ValueError):
    """The accounts file is unreadable or malformed (a configuration error: one line, exit 2)."""


def load_accounts(path: str | Path) -> dict[str, str]:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise AccountsError(f"cannot read the accounts file {path}: {e.strerror}") from None
    accounts: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        user, sep, password = line.partition(":")
        if not sep or not _USER.match(user.strip()):
            raise AccountsError(f"{path}:{n}: expected `user:password` (user of letters, digits, . _ + -)")
        accounts[user.strip().lower()] = password.strip()
    return accounts


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Maildrop:
    def __init__(self, root: str | Path, users: set[str] | dict[str, str]):
        self.root = Path(root)
        self.users = {u.lower() for u in users}

    def folder(self, user: str) -> Path:
        return self.root / user.lower()

    def ensure(self, user: str) -> Path:
        box = self.folder(user)
        for sub in ("tmp", "new", "cur"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        return box

    def deliver(self, user: str, data: bytes, unique: str) -> bool:
        """Store a message durably; False when a message of that unique name was already delivered."""
        box = self.ensure(user)
        name = f"{unique}.{os.uname().nodename.replace('/', '_')}"
        # a reader that moved it to cur/ adds ":2,<flags>"; ours never moves (POP3 has no flags), so
        # looking for the plain name and the flagless one is enough, without listing the folder
        if any(os.path.exists(box / sub / n) for sub in ("new", "cur") for n in (name, name + ":2,")):
            return False
        tmp = box / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fdatasync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, box / "new" / name)
        _fsync_dir(box / "new")
        return True

    def open_mailbox(self, user: str) -> Mailbox | None:
        """The user's mailbox, locked for this session; None when another session holds it."""
        box = self.ensure(user)
        lock = os.open(box / ".pop3.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            return None
        return Mailbox(box, lock)


@dataclass(frozen=True)
class StoredMessage:
    uid: str
    size: int
    path: Path


class Mailbox:
    """A snapshot of one Maildir taken at login (RFC 1939: the message list is fixed for the session),
    oldest first. Deletion happens only in commit(), i.e. in the UPDATE state."""

    def __init__(self, box: Path, lock_fd: int):
        self.box, self._lock = box, lock_fd
        found: list[tuple[float, str, Path]] = []
        for sub in ("new", "cur"):
            for entry in os.scandir(box / sub):
                if entry.is_file() and not entry.name.startswith("."):
                    st = entry.stat()
                    found.append((st.st_mtime, entry.name, Path(entry.path)))
        found.sort()
        self.messages = [StoredMessage(uid=_uid(name), size=path.stat().st_size, path=path)
                         for _, name, path in found]

    def read(self, index: int) -> bytes:
        return self.messages[index].path.read_bytes()

    def commit(self, deleted: set[int]) -> int:
        """Remove the messages marked deleted; returns how many could not be removed."""
        failed = 0
        for i in deleted:
            try:
                self.messages[i].path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                failed += 1
        for sub in ("new", "cur"):
            _fsync_dir(self.box / sub)
        return failed

    def close(self) -> None:
        if self._lock >= 0:
            os.close(self._lock)  # releases the flock
            self._lock = -1


def _uid(name: str) -> str:
    # a UIDL is 1-70 characters of 0x21-0x7E (RFC 1939 section 7); the Maildir name minus its flags is unique
    base = name.split(":", 1)[0]
    return re.sub(r"[^\x21-\x7e]", "_", base)[:70]
