"""Who may log in, where their home is, and whether they may write: the server's YAML configuration.

    anonymous: {home: pub}          # `anonymous` and `ftp` log in with any password (an e-mail address,
                                    # by custom), read-only; leave the key out to refuse them
    users:
      alice: {password: "alice-pw", home: alice}            # homes are relative to --root
      bob:   {password: "bob-pw", home: bob, write: false}

Passwords are kept as written: this is a teaching lab, where FTP's clear-text passwords are the lesson.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..daemon import ConfigError, read_config

ANONYMOUS_NAMES = ("anonymous", "ftp")


@dataclass(frozen=True)
class Account:
    name: str
    home: Path
    writable: bool
    password: str | None  # None: anonymous, any password


class Accounts:
    def __init__(self, users: dict[str, Account], anonymous: Account | None) -> None:
        self.users = users
        self.anonymous = anonymous

    def check(self, name: str, password: str) -> Account | None:
        """The account when name and password match, else None (a missing user and a wrong password look
        the same from outside, and take the same time)."""
        if name.lower() in ANONYMOUS_NAMES:
            return self.anonymous
        account = self.users.get(name)
        expected = account.password if account and account.password is not None else "\0never"
        ok = hmac.compare_digest(password.encode("utf-8", "surrogateescape"), expected.encode())
        return account if ok and account is not None else None


def load_accounts(path: str | Path, root: str | Path) -> Accounts:
    """The accounts of the YAML file at `path`, homes made under `root`; ConfigError in one line."""
    root = Path(root)
    try:
        data = yaml.safe_load(read_config(path, "FTP configuration")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or set(data) - {"users", "anonymous"}:
        raise ConfigError(f"{path}: expected the keys 'users' and 'anonymous' only")
    users: dict[str, Account] = {}
    for name, spec in (data.get("users") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("password"), str) or "home" not in spec:
            raise ConfigError(f"{path}: user '{name}' needs password: TEXT and home: DIR")
        users[str(name)] = Account(str(name), _home(root, spec["home"], path), bool(spec.get("write", True)),
                                   spec["password"])
    anon = data.get("anonymous")
    anonymous = None
    if anon is not None:
        if not isinstance(anon, dict) or "home" not in anon:
            raise ConfigError(f"{path}: anonymous needs home: DIR")
        anonymous = Account("anonymous", _home(root, anon["home"], path), bool(anon.get("write", False)), None)
    return Accounts(users, anonymous)


def _home(root: Path, home: str, path: str | Path) -> Path:
    p = root / str(home)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{path}: cannot make home {p}: {e.strerror}") from None
    return Path(os.path.realpath(p))  # resolved once here, so the jail compares real paths
