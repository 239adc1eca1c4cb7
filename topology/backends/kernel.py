"""Thin access to the kernel pieces the backends need: `ip`/`tc` batches, sysctls and UTS namespaces.

Namespaces are entered per thread with setns(2), so many nodes are configured from one process without
forking a helper per node.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TypeVar

from ..errors import WirelabError

CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class KernelError(WirelabError):
    pass


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def require_root() -> None:
    if os.geteuid() != 0:
        raise WirelabError("wirelab needs root to make namespaces, links and bridges; run it with sudo")
    missing = [t for t in ("ip", "tc", "nsenter") if shutil.which(t) is None]
    if missing:
        raise WirelabError(f"missing {', '.join(missing)}; install iproute2 and util-linux (make setup does)")


def run_batch(tool: str, lines: Iterable[str], netns: str | None = None) -> None:
    """Run `ip -batch -` or `tc -batch -`, optionally inside a named namespace. One process, many commands."""
    text = "\n".join(lines)
    if not text:
        return
    argv = [tool] + (["-n", netns] if netns else []) + ["-batch", "-"]
    proc = subprocess.run(argv, input=text + "\n", capture_output=True, text=True)
    if proc.returncode != 0:
        raise KernelError(f"{tool}{' in ' + netns if netns else ''} failed: {proc.stderr.strip()}")


def in_netns(ns_path: str, fn: Callable[[], T]) -> T:
    """Call fn in a short-lived thread that has entered the network namespace at ns_path."""
    out: dict[str, object] = {}

    def body() -> None:
        fd = os.open(ns_path, os.O_RDONLY)
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), f"setns {ns_path}")
        finally:
            os.close(fd)
        try:
            out["value"] = fn()
        except BaseException as e:  # handed back to the caller's thread
            out["error"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]  # type: ignore[return-value]


def write_sysctls(values: dict[str, str]) -> None:
    """Write sysctls of the calling thread's network namespace (use inside in_netns)."""
    for key, value in values.items():
        path = Path("/proc/sys") / key.replace(".", "/")
        try:
            path.write_text(value)
        except FileNotFoundError:
            if "bridge" in key or "ipv6" in key:  # module not present: nothing to switch off
                continue
            raise


SIOCETHTOOL = 0x8946
ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO = 0x1F, 0x24, 0x2C  # set TCP segmentation, generic segmentation, GRO


def segmentation_offloads_off(ifnames: Iterable[str]) -> None:
    """TSO, GSO and GRO off on these interfaces of the calling thread's namespace (use inside in_netns).

    A veth passes TCP segments of up to 64 KiB unsplit when they are on, so captures would show frames
    far larger than the link's MTU and one "segment" where the wire of a real LAN carries dozens. Off, TCP
    cuts its segments to the MSS before they leave the node, as a NIC would on the wire: captures show
    the MTU-sized frames (and the ACK every other segment) the course teaches. A veth then carries about
    6 Gbit/s rather than 15.
    """
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # made here: it belongs to this namespace
        for name in ifnames:
            for cmd in (ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO):
                value = ctypes.create_string_buffer(struct.pack("II", cmd, 0))  # struct ethtool_value
                ifreq = struct.pack("16sP16x", name.encode(), ctypes.addressof(value))
                try:
                    fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
                except OSError as e:
                    if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a device that cannot: nothing to do
                        raise KernelError(f"{name}: cannot switch segmentation offloads off: {e.strerror}") from None


def make_uts(path: Path, hostname: str) -> None:
    """A persistent UTS namespace holding `hostname`, pinned by a bind mount at `path`."""

    def body() -> None:
        _check(_libc.unshare(CLONE_NEWUTS), "unshare(CLONE_NEWUTS)")
        name = hostname.encode()
        _check(_libc.sethostname(name, len(name)), "sethostname")
        path.touch()
        src = b"/proc/thread-self/ns/uts"
        _check(_libc.mount(src, str(path).encode(), None, MS_BIND, None), f"bind {path}")

    err: list[BaseException] = []

    def guarded() -> None:
        try:
            body()
        except BaseException as e:
            err.append(e)

    t = threading.Thread(target=guarded)
    t.start()
    t.join()
    if err:
        raise err[0]


def unmount(path: Path) -> None:
    if _libc.umount2(str(path).encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        if e not in (errno.EINVAL, errno.ENOENT):
            raise OSError(e, f"umount {path}: {os.strerror(e)}")


def parallel(fn: Callable[[T], object], items: list[T], workers: int = 8) -> None:
    """Run fn over items concurrently. On the first error (or Ctrl-C) the work not yet started is
    cancelled, what is running finishes, and the error is raised: a failed bring-up stops early."""
    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)))
    try:
        for fut in as_completed([pool.submit(fn, it) for it in items]):
            fut.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


_netem: bool | None = None


def has_netem() -> bool:
    """Does this kernel have sch_netem? Probed once, in a throwaway namespace."""
    global _netem
    if _netem is None:
        ns = f"wlprobe{os.getpid()}"
        try:
            run_batch("ip", [f"netns add {ns}"])
            r = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c",
                                "ip link add d0 type dummy && tc qdisc add dev d0 root netem delay 1ms"],
                               capture_output=True)
            _netem = r.returncode == 0
        finally:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    return _netem


def existing_netns() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()
