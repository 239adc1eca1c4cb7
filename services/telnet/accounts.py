"""The lab's login accounts, shared by the Telnet and the SSH server: one line per user,

    alice:$pbkdf2-sha256$100000$<salt, base64>$<hash, base64>

(`#` starts a comment). These are lab accounts, not Unix users: a login runs its shell as the server's
own Unix user, with HOME, USER and LOGNAME set to the account's. `python -m services.telnet passwd USER`
prints a line for a new password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..daemon import ConfigError, read_config

SCHEME = "pbkdf2-sha256"
ITERATIONS = 100_000
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")


class AccountsError(ConfigError):
    """A bad accounts file: file:line and what is wrong."""


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode().rstrip("=")  # noqa: E731
    return f"${SCHEME}${iterations}${b64(salt)}${b64(digest)}"


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@dataclass(frozen=True)
class Account:
    user: str
    iterations: int
    salt: bytes
    digest: bytes

    def check(self, password: str) -> bool:
        got = hashlib.pbkdf2_hmac("sha256", password.encode(errors="surrogateescape"), self.salt, self.iterations)
        return hmac.compare_digest(got, self.digest)


class Accounts:
    def __init__(self, accounts: dict[str, Account]) -> None:
        self.accounts = accounts
        # an unknown user costs the same time as a wrong password, so a timing does not reveal who exists
        self._decoy = Account("", ITERATIONS, b"\0" * 16, b"\0" * 32)

    @classmethod
    def load(cls, path: str | Path) -> Accounts:
        return cls.parse(read_config(path, "accounts file"), str(path))

    @classmethod
    def parse(cls, text: str, origin: str = "<accounts>") -> Accounts:
        out: dict[str, Account] = {}
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            user, _, hashed = line.partition(":")
            if not _USER.fullmatch(user):
                raise AccountsError(f"{origin}:{n}: {user!r} is not a user name (lower-case letters, digits, _.-)")
            parts = hashed.split("$")
            if len(parts) != 5 or parts[0] or parts[1] != SCHEME:
                raise AccountsError(f"{origin}:{n}: the password of {user} is not a ${SCHEME}$ hash; make one with "
                                    f"`python -m services.telnet passwd {user}`")
            try:
                out[user] = Account(user, int(parts[2]), _unb64(parts[3]), _unb64(parts[4]))
            except ValueError:
                raise AccountsError(f"{origin}:{n}: the hash of {user} is damaged (iterations or base64)") from None
            if out[user].iterations < 1:
                raise AccountsError(f"{origin}:{n}: the hash of {user} has no iterations")
        return cls(out)

    def verify(self, user: str, password: str) -> bool:
        account = self.accounts.get(user)
        if account is None:
            self._decoy.check(password)
            return False
        return account.check(password)

    def __contains__(self, user: str) -> bool:
        return user in self.accounts


def home_of(homes: str | Path, user: str) -> Path:
    """The account's home under the homes folder, made on first use (private to the account)."""
    home = Path(homes).resolve() / user
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home
