"""A user's home directory as the root of everything they can name: virtual paths ("/pub/a.txt") map to
real ones under the home, and no `..`, absolute path or symbolic link leads out of it. Also the formats
a directory is shown in: `ls -l` lines (LIST), bare names (NLST) and RFC 3659 facts (MLSD/MLST)."""

from __future__ import annotations

import os
import posixpath
import stat
import time
from pathlib import Path

SIX_MONTHS = 182 * 24 * 3600
ALL_FACTS = ("type", "size", "modify", "perm", "unix.mode")


class OutsideJail(PermissionError):
    """The name leads out of the home (through `..` on a link, or a link pointing outside)."""


class Jail:
    def __init__(self, home: Path, writable: bool) -> None:
        self.home = home  # its real path (links resolved), as accounts.py keeps it: a login costs no lstat
        self.writable = writable

    def virtual(self, cwd: str, name: str) -> str:
        """The normalised virtual path of `name` seen from `cwd`: `..` above / stays at /."""
        joined = posixpath.join(cwd, name) if name else cwd
        return posixpath.normpath("/" + joined.lstrip("/"))

    def real(self, vpath: str) -> Path:
        """The real path for a virtual one; symbolic links are followed and must stay in the home. A name
        that does not exist yet (STOR, MKD) is checked through its parent."""
        candidate = self.home / vpath.lstrip("/")
        resolved = os.path.realpath(candidate)
        if not _inside(resolved, self.home):
            raise OutsideJail(vpath)
        return Path(resolved)

    def to_virtual(self, real: Path) -> str:
        rel = os.path.relpath(os.path.realpath(real), self.home)
        return "/" if rel == "." else "/" + rel


def _inside(path: str, root: Path) -> bool:
    r = str(root)
    return path == r or path.startswith(r.rstrip("/") + "/")


def list_line(name: str, st: os.stat_result, now: float) -> str:
    """One `ls -l` line, as clients (curl, lftp, browsers) parse them: mode, links, owner, group, size,
    date (time of day within six months, the year otherwise), name."""
    when = time.gmtime(st.st_mtime)
    recent = abs(now - st.st_mtime) < SIX_MONTHS
    date = time.strftime("%b %d %H:%M" if recent else "%b %d  %Y", when)
    return f"{stat.filemode(st.st_mode)} {st.st_nlink:>3} ftp      ftp      {st.st_size:>12} {date} {name}"


def facts(name: str, st: os.stat_result, kind: str | None, wanted: tuple[str, ...], writable: bool) -> str:
    """An RFC 3659 7.2 entry: `fact=value;...; name` with the facts the client chose (OPTS MLST)."""
    is_dir = stat.S_ISDIR(st.st_mode)
    values = {
        "type": kind or ("dir" if is_dir else "file" if stat.S_ISREG(st.st_mode) else "OS.unix=other"),
        "size": str(st.st_size),
        "modify": time.strftime("%Y%m%d%H%M%S", time.gmtime(st.st_mtime)),
        "perm": _perm(is_dir, writable),
        "unix.mode": f"0{st.st_mode & 0o7777:o}",
    }
    return "".join(f"{f}={values[f]};" for f in wanted if f in values) + " " + name


def _perm(is_dir: bool, writable: bool) -> str:
    # RFC 3659 7.5.5: what the user may do here; a read-only user may only list or read
    if is_dir:
        return "elcmfpd" if writable else "el"
    return "radfw" if writable else "r"
