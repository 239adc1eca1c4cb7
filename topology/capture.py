"""A packet capture on a segment (as its bridge sees every port) or on one node's interface.

    with running.capture("lan1", "lan1.pcap", filter="arp or icmp") as cap:
        running.run("client1", ["ping", "-c1", "10.0.1.12"])
    for pkt in cap.packets(): ...

tcpdump does the capturing. It writes pcap to its stdout, which goes straight into the file: that
works the same whichever backend runs it (a local namespace or `docker exec`), and no privilege drop
of tcpdump's can stop it writing the file. Readiness is tcpdump's own "listening on" line, never a
sleep; stopping waits for the file to stop growing, then sends SIGINT so the pcap ends cleanly.
The file is made here, so it belongs to whoever asked (under sudo: the user who ran sudo).
`live` is `wirelab capture`: the same tcpdump, until Ctrl-C, with every packet before it kept.
Nothing here knows any protocol: decoding is scapy's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import WirelabError

if TYPE_CHECKING:
    from scapy.plist import PacketList

    from .lab import RunningLab

READY_TIMEOUT = 10.0
SETTLE = 0.15  # the file has not grown for this long: every packet already sent has been written
SETTLE_MAX = 3.0

# The kernel ring each tcpdump reads from, in KiB. In immediate mode libpcap cuts it into slots of the
# snapshot length whenever the interface has segmentation offloads on (a segment's bridge has), and that
# length is the full 256 KiB: the default 2 MiB ring held 8 packets, and a busy moment with tcpdump off the
# CPU lost frames (a BitTorrent swarm's announces, seen on the core and missing on an access link). 16 MiB
# holds 64 slots; measured on a veth with offloads on at 15 Gbit/s, 63 of 98,000 frames were lost (17,000
# of 139,000 with the default).
RING_KIB = "16384"


class Capture:
    """tcpdump on a segment's bridge (node=None) or on node's interface to that segment."""

    def __init__(self, running: RunningLab, segment: str, path: Path | str, filter: str = "",
                 node: str | None = None):
        self.running, self.segment, self.path, self.filter = running, segment, Path(path), filter
        self.node = node
        self.proc: subprocess.Popen | None = None
        self.stderr: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self.ended_early = False  # tcpdump exited before stop(): the pcap misses whatever came after
        self._stopped = False

    @property
    def where(self) -> str:
        """Where the capture listens, for people: `lan1` or `client2 eth0 (lan1)`."""
        if self.node is None:
            return self.segment
        return f"{self.node} {self._iface()} ({self.segment})"

    def _iface(self) -> str:
        return self.running.interface(self.node, self.segment).name if self.node else self.segment

    def _argv(self) -> list[str]:
        iface = self._iface() if self.node else self.running.bridge(self.segment)
        argv = ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-s", "0", "-B", RING_KIB, "-w", "-"]
        return argv + ([self.filter] if self.filter else [])

    def start(self) -> Capture:
        if self.node is not None:
            self.running.interface(self.node, self.segment)  # refuses a node with no interface there
        self.path.parent.mkdir(parents=True, exist_ok=True)
        argv = self._argv()
        with open(self.path, "wb") as out:
            _give_to_caller(self.path)
            kw = dict(stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
            if self.node is None:
                self.proc = self.running.segment_popen(self.segment, argv, **kw)
            else:
                self.proc = self.running.popen(self.node, argv, **kw)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._ready.wait(0.02):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._reader.join(1)
                self._kill()
                said = " ".join(self.stderr).strip() or f"exit status {self.proc.returncode}"
                raise WirelabError(f"capture on {self.where} did not start: {said}")
        return self

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.stderr.append(line)
            if "listening on" in line:
                self._ready.set()

    def stop(self) -> None:
        """Let the packets already sent reach the file, then end tcpdump with SIGINT (a complete pcap)."""
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            if not self._stopped:
                self.ended_early, self._stopped = True, True
                if self._reader:
                    self._reader.join(2)
            return
        self._stopped = True
        last, since, deadline = -1, time.monotonic(), time.monotonic() + SETTLE_MAX
        while time.monotonic() < deadline:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size != last:
                last, since = size, time.monotonic()
            elif time.monotonic() - since >= SETTLE:
                break
            time.sleep(0.02)
        self._signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self._kill()
        if self._reader:
            self._reader.join(2)

    def _signal(self, sig: int) -> None:
        assert self.proc
        self.running.interrupt(self.proc, sig)

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait(5)

    @property
    def dropped(self) -> int:
        """Packets the kernel dropped before tcpdump read them (from tcpdump's closing report)."""
        for line in self.stderr:
            if line.endswith("packets dropped by kernel"):
                return int(line.split()[0])
        return 0

    def packets(self) -> PacketList:
        """The captured packets, decoded by scapy (stops the capture first if it is running)."""
        self.stop()
        import scapy.layers.all  # noqa: F401  (registers every link and protocol layer with the reader)
        from scapy.utils import rdpcap

        if not self.path.exists() or self.path.stat().st_size == 0:
            from scapy.plist import PacketList

            return PacketList([], name=str(self.path))
        return rdpcap(str(self.path))

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def live(running: RunningLab, segment: str, write: str | None = None, filter: str = "",
         count: int | None = None) -> int:
    """`wirelab capture`: tcpdump on a segment until Ctrl-C (or `count` packets); its exit status.

    write None prints one line a packet; "-" streams pcap to standard output (`| wireshark -k -i -`);
    a path gets the pcap, in a file this process makes and gives to the user who ran `sudo` (tcpdump
    only ever writes its standard output, so its own privilege drop cannot leave the file to it).
    Every packet tcpdump has seen is in the output at the end: --immediate-mode hands each packet to
    tcpdump as it arrives (without it, they wait up to a second in the kernel's ring and are lost at
    Ctrl-C), -U writes each one out at once, and Ctrl-C here reaches tcpdump as SIGINT, which ends it
    cleanly (pcap complete, counts on stderr) before this returns.
    """
    argv = ["tcpdump", "-i", running.bridge(segment), "--immediate-mode", "-U", "-B", RING_KIB]
    argv += ["-c", str(count)] if count else []
    argv += ["-l", "-n", "-e"] if write is None else ["-s", "0", "-w", "-"]
    argv += [filter] if filter else []
    out = None
    if write not in (None, "-"):
        path = Path(write)
        try:
            out = open(path, "wb")
        except OSError as e:
            raise WirelabError(f"cannot write {write}: {e.strerror}") from None
        _give_to_caller(path)
    # Its own session: the terminal's Ctrl-C reaches only this process, which passes it on and then
    # waits for tcpdump to finish writing, rather than leaving it behind mid-packet.
    proc = running.segment_popen(segment, argv, stdout=out, stdin=subprocess.DEVNULL, start_new_session=True)
    if out is not None:
        out.close()

    def forward(signum: int, frame: object) -> None:
        running.interrupt(proc, signal.SIGINT)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        status = proc.wait()
        return status if status >= 0 else 128 - status  # killed by a signal: the shell's way of saying so
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _give_to_caller(path: Path) -> None:
    """Under sudo, the file belongs to the user who asked for it, not to root."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and uid.isdigit():
        os.chown(path, int(uid), int(gid) if gid and gid.isdigit() else -1)
