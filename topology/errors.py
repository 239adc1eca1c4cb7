"""Errors a user can cause, each printed as one line without a traceback."""

from __future__ import annotations


class WirelabError(Exception):
    """A mistake the user can fix: the CLI prints it as one line and exits 2."""


class LabFileError(WirelabError):
    """A broken lab file, located at a line: `file:line: what is wrong, how to fix it`."""

    def __init__(self, file: str, line: int | None, message: str):
        self.file, self.line, self.message = file, line, message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")
