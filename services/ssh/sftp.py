"""SFTP over paramiko's server interface, jailed to the user's home folder: the client sees the home as
"/", every path is resolved (symbolic links included) before use, and one that would lead outside is
refused with SFTP's permission-denied."""

from __future__ import annotations

import os
import posixpath

import paramiko
from paramiko.sftp import SFTP_OK, SFTP_PERMISSION_DENIED
from paramiko.sftp_attr import SFTPAttributes
from paramiko.sftp_server import SFTPServer


def set_attributes(path: str, attr: SFTPAttributes) -> None:
    """SFTPServer.set_file_attr, except for the size: paramiko's opens the file with "w+", which empties
    it before truncating, so a client that sets the final size after writing (OpenSSH's scp does) would
    be left with zeros."""
    if attr._flags & attr.FLAG_PERMISSIONS:
        os.chmod(path, attr.st_mode)
    if attr._flags & attr.FLAG_UIDGID:
        os.chown(path, attr.st_uid, attr.st_gid)
    if attr._flags & attr.FLAG_AMTIME:
        os.utime(path, (attr.st_atime, attr.st_mtime))
    if attr._flags & attr.FLAG_SIZE:
        os.truncate(path, attr.st_size)


class OutsideJail(Exception):
    pass


class Jail:
    """Virtual paths (as the client says them) to real paths under root, and back."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def virtual(self, path: str) -> str:
        return posixpath.normpath(posixpath.join("/", path)).replace("//", "/")

    def real(self, path: str) -> str:
        real = os.path.join(self.root, self.virtual(path).lstrip("/"))
        self.check(real)
        return real

    def check(self, real: str) -> None:
        resolved = os.path.realpath(real)
        if resolved != self.root and not resolved.startswith(self.root + os.sep):
            raise OutsideJail(real)

    def entry(self, path: str) -> str:
        """The real path of a directory entry itself (a symbolic link not followed): only the folder it
        is in must resolve inside the jail, so a link leading out can still be listed and removed."""
        virtual = self.virtual(path)
        if virtual == "/":
            return self.root
        return os.path.join(self.real(posixpath.dirname(virtual)), posixpath.basename(virtual))

    def back(self, real: str) -> str:
        rel = os.path.relpath(real, self.root)
        return "/" if rel == "." else "/" + rel


class _Handle(paramiko.SFTPHandle):
    def stat(self):
        try:
            return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)

    def chattr(self, attr):
        try:
            set_attributes(self.filename, attr)
            return SFTP_OK
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)


def _guarded(method):
    """Map the jail's refusal and OS errors to SFTP status codes."""
    def call(self, *args):
        try:
            return method(self, *args)
        except OutsideJail:
            return SFTP_PERMISSION_DENIED
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)
    call.__name__ = method.__name__
    return call


class SFTPSubsystem(SFTPServer):
    """paramiko's SFTP server, ending with an exit status as OpenSSH's sftp-server does: scp and sftp
    take a session closed without one for a failure."""

    def finish_subsystem(self) -> None:
        try:
            self.sock.send_exit_status(0)
        except (OSError, EOFError):
            pass
        super().finish_subsystem()


class JailedSFTP(paramiko.SFTPServerInterface):
    def __init__(self, server, *args, **kwargs) -> None:
        super().__init__(server, *args, **kwargs)
        self.jail = Jail(str(server.home))

    def canonicalize(self, path: str) -> str:
        return self.jail.virtual(path)

    @_guarded
    def list_folder(self, path):
        real = self.jail.real(path)
        out = []
        for name in os.listdir(real):
            attr = SFTPAttributes.from_stat(os.lstat(os.path.join(real, name)))
            attr.filename = name
            out.append(attr)
        return out

    @_guarded
    def stat(self, path):
        return SFTPAttributes.from_stat(os.stat(self.jail.real(path)))

    @_guarded
    def lstat(self, path):
        return SFTPAttributes.from_stat(os.lstat(self.jail.entry(path)))

    @_guarded
    def open(self, path, flags, attr):
        real = self.jail.real(path)
        mode = getattr(attr, "st_mode", None)
        fd = os.open(real, flags, mode if mode is not None else 0o644)
        if (flags & os.O_CREAT) and attr is not None:
            attr._flags &= ~attr.FLAG_PERMISSIONS
            set_attributes(real, attr)
        if flags & os.O_WRONLY:
            how = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            how = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            how = "rb"
        handle = _Handle(flags)
        handle.filename = real
        handle.readfile = handle.writefile = os.fdopen(fd, how)
        return handle

    @_guarded
    def remove(self, path):
        os.remove(self.jail.entry(path))
        return SFTP_OK

    @_guarded
    def rename(self, oldpath, newpath):
        old, new = self.jail.entry(oldpath), self.jail.entry(newpath)
        if os.path.exists(new):  # SFTP v3's rename does not overwrite; posix-rename@openssh.com does
            return paramiko.sftp.SFTP_FAILURE
        os.rename(old, new)
        return SFTP_OK

    @_guarded
    def posix_rename(self, oldpath, newpath):
        os.rename(self.jail.entry(oldpath), self.jail.entry(newpath))
        return SFTP_OK

    @_guarded
    def mkdir(self, path, attr):
        real = self.jail.real(path)
        os.mkdir(real)
        if attr is not None:
            set_attributes(real, attr)
        return SFTP_OK

    @_guarded
    def rmdir(self, path):
        os.rmdir(self.jail.real(path))
        return SFTP_OK

    @_guarded
    def chattr(self, path, attr):
        set_attributes(self.jail.real(path), attr)
        return SFTP_OK

    @_guarded
    def symlink(self, target_path, path):
        link = self.jail.entry(path)
        # the target as the client wrote it, made real; where it leads must stay inside the jail
        target = (os.path.join(self.jail.root, self.jail.virtual(target_path).lstrip("/"))
                  if target_path.startswith("/")
                  else os.path.join(os.path.dirname(link), target_path))
        self.jail.check(target)
        os.symlink(os.path.relpath(target, os.path.dirname(link)), link)
        return SFTP_OK

    @_guarded
    def readlink(self, path):
        link = self.jail.entry(path)
        target = os.readlink(link)
        real = os.path.normpath(os.path.join(os.path.dirname(link), target))
        self.jail.check(real)
        return self.jail.back(real)
