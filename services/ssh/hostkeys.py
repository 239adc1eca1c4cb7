"""The node's SSH host keys: made the first time the server starts (Ed25519, ECDSA P-256 and RSA 3072,
in OpenSSH's file format, with .pub files beside them) and reused afterwards, so a client's known_hosts
stays valid across restarts of the node's server."""

from __future__ import annotations

import os
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..daemon import ConfigError

KINDS = {
    "ed25519": (lambda: ed25519.Ed25519PrivateKey.generate(), paramiko.Ed25519Key),
    "ecdsa": (lambda: ec.generate_private_key(ec.SECP256R1()), paramiko.ECDSAKey),
    "rsa": (lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072), paramiko.RSAKey),
}


class HostKeyError(ConfigError):
    pass


def _write(path: Path, data: bytes, mode: int) -> None:
    """Whole or not at all: two servers starting at once, or a kill mid-write, never leave half a key."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_or_make(folder: str | Path, node: str) -> list[paramiko.PKey]:
    folder = Path(folder)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys = []
        for kind, (generate, cls) in KINDS.items():
            path = folder / f"ssh_host_{kind}_key"
            if not path.exists():
                private = generate()
                _write(path, private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                   serialization.NoEncryption()), 0o600)
                public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                           serialization.PublicFormat.OpenSSH)
                _write(path.with_name(path.name + ".pub"), public + f" root@{node}\n".encode(), 0o644)
            keys.append(cls(filename=str(path)))
        return keys
    except (OSError, paramiko.SSHException, ValueError) as e:
        raise HostKeyError(f"host keys in {folder}: {e}") from None
