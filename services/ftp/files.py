"""The commands that look at or change a user's files (RFC 959 4.1.1, 4.1.3; RFC 3659 SIZE, MDTM, MLST,
MLSD): navigation, directories, deletion, renaming and listings, every path through the user's Jail.
A part of Session, kept apart so each reads in one sitting."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from .commands import CommandError, Reply
from .events import Event, Transfer
from .jail import Jail, facts, list_line


class FileCommands:
    """Mixed into Session, which provides the state these use and _need_data/_transfer."""

    jail: Jail
    cwd: str
    ascii: bool
    mlst_facts: tuple[str, ...]
    clock: Callable[[], float]
    _rnfr: Path | None

    # --- navigation and files -------------------------------------------------------------------------
    def _path_arg(self, arg: str) -> str:
        if "\0" in arg:
            raise CommandError("a file name cannot hold a NUL byte")
        return self.jail.virtual(self.cwd, arg)

    def _cmd_pwd(self, arg: str) -> list[Event]:
        return [Reply.of(257, '"' + self.cwd.replace('"', '""') + '" is the current directory.')]

    _cmd_xpwd = _cmd_pwd

    def _cmd_cwd(self, arg: str) -> list[Event]:
        vpath = self._path_arg(arg)
        if not self.jail.real(vpath).is_dir():
            return [Reply.of(550, "Failed to change directory.")]
        self.cwd = vpath
        return [Reply.of(250, "Directory successfully changed.")]

    def _cmd_cdup(self, arg: str) -> list[Event]:
        self.cwd = self.jail.virtual(self.cwd, "..")
        return [Reply.of(200, "Directory successfully changed.")]

    def _writable(self) -> list[Event] | None:
        return None if self.jail.writable else [Reply.of(550, "Permission denied.")]

    def _cmd_mkd(self, arg: str) -> list[Event]:
        if denied := self._writable():
            return denied
        vpath = self._path_arg(arg)
        os.mkdir(self.jail.real(vpath))
        return [Reply.of(257, '"' + vpath.replace('"', '""') + '" created.')]

    def _cmd_rmd(self, arg: str) -> list[Event]:
        if denied := self._writable():
            return denied
        vpath = self._path_arg(arg)
        if vpath == "/":
            return [Reply.of(550, "The home directory stays.")]
        os.rmdir(self.jail.real(vpath))
        return [Reply.of(250, "Directory removed.")]

    def _cmd_dele(self, arg: str) -> list[Event]:
        if denied := self._writable():
            return denied
        real = self.jail.real(self._path_arg(arg))
        if real.is_dir():
            return [Reply.of(550, "That is a directory; use RMD.")]
        os.remove(real)
        return [Reply.of(250, "File deleted.")]

    def _cmd_rnfr(self, arg: str) -> list[Event]:
        if denied := self._writable():
            return denied
        real = self.jail.real(self._path_arg(arg))
        if not os.path.lexists(real) or real == self.jail.home:
            return [Reply.of(550, "No such file or directory.")]
        self._rnfr = real
        return [Reply.of(350, "Ready for RNTO.")]

    def _cmd_rnto(self, arg: str) -> list[Event]:
        if self._rnfr is None:
            return [Reply.of(503, "RNFR required first.")]
        if denied := self._writable():
            return denied
        os.rename(self._rnfr, self.jail.real(self._path_arg(arg)))
        self._rnfr = None
        return [Reply.of(250, "Rename successful.")]

    def _file(self, arg: str) -> tuple[Path, os.stat_result] | None:
        real = self.jail.real(self._path_arg(arg))
        try:
            st = real.stat()
        except OSError:
            return None
        return (real, st) if stat.S_ISREG(st.st_mode) else None

    def _cmd_size(self, arg: str) -> list[Event]:
        found = self._file(arg)
        if found is None:
            return [Reply.of(550, "Could not get file size.")]
        size = found[1].st_size
        if self.ascii:  # the size as it would be sent (RFC 3659 4): every LF goes as CRLF
            with open(found[0], "rb") as f:
                size += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        return [Reply.of(213, str(size))]

    def _cmd_mdtm(self, arg: str) -> list[Event]:
        found = self._file(arg)
        if found is None:
            return [Reply.of(550, "Could not get file modification time.")]
        return [Reply.of(213, time.strftime("%Y%m%d%H%M%S", time.gmtime(found[1].st_mtime)))]

    # --- listings -------------------------------------------------------------------------------------
    def _entries(self, vpath: str) -> list[tuple[str, os.stat_result]] | None:
        real = self.jail.real(vpath)
        st = real.stat()
        if not stat.S_ISDIR(st.st_mode):
            return [(os.path.basename(vpath), st)]
        out = []
        for name in sorted(os.listdir(real)):
            try:
                out.append((name, (real / name).stat()))
            except OSError:
                continue  # a dangling link: not something the user can fetch
        return out

    def _list_lines(self, vpath: str) -> list[str]:
        now = self.clock()
        return [list_line(name, st, now) for name, st in self._entries(vpath)]

    @staticmethod
    def _strip_options(arg: str) -> str:
        # `LIST -la` and `LIST -a dir` as ls would take them (lftp and many GUIs send them)
        words = arg.split(" ")
        while words and words[0].startswith("-"):
            words.pop(0)
        return " ".join(words)

    def _listing(self, lines: list[str]) -> list[Event]:
        if (blocked := self._need_data()) is not None:
            return blocked
        body = "".join(ln + "\r\n" for ln in lines).encode("utf-8", "surrogateescape")
        return self._transfer(Transfer("list", Reply.of(150, "Here comes the directory listing."), listing=body))

    def _cmd_list(self, arg: str) -> list[Event]:
        return self._listing(self._list_lines(self._path_arg(self._strip_options(arg))))

    def _cmd_nlst(self, arg: str) -> list[Event]:
        vpath = self._path_arg(self._strip_options(arg))
        return self._listing([name for name, _ in self._entries(vpath)])

    def _cmd_mlsd(self, arg: str) -> list[Event]:
        vpath = self._path_arg(arg)
        if not self.jail.real(vpath).is_dir():
            return [Reply.of(501, "MLSD needs a directory.")]
        lines = [facts(n, st, None, self.mlst_facts, self.jail.writable) for n, st in self._entries(vpath)]
        return self._listing(lines)

    def _cmd_mlst(self, arg: str) -> list[Event]:
        vpath = self._path_arg(arg)
        st = self.jail.real(vpath).stat()
        line = facts(vpath, st, None, self.mlst_facts, self.jail.writable)
        return [Reply(250, (f"Listing {vpath}", line, "End."))]
