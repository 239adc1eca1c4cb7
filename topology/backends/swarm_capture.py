"""A capture of a segment that spans several swarm hosts, as one pcap on stdout (or, when the command
writes no pcap, its lines from every host, each starting with the host's name):

    python -m topology.backends.swarm_capture '{"h1": [PREFIX...], "h2": [...]}' -- tcpdump ... -w -

Runs the tcpdump command on every host's part of the segment (each PREFIX enters that host's overlay
namespace), says "listening on" once every part listens, and on SIGINT (or SIGTERM) stops them all and
writes the parts merged by time. A frame that crossed between hosts was seen on both: it is written
once, with its first time (the same bytes seen on another host within DUPLICATE_WINDOW). Times come
from each host's clock: the order is right when the hosts' clocks agree to better than the gaps
between frames (NTP or PTP on real hosts; one clock for the local swarm).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DUPLICATE_WINDOW = 0.05  # seconds
SETTLE = 0.15


def merge(parts: dict[str, list[tuple[float, bytes]]]) -> list[tuple[float, bytes]]:
    """Frames from every host in time order; a frame another host saw within the window is kept once."""
    frames = sorted((t, data, host) for host, pkts in parts.items() for t, data in pkts)
    out: list[tuple[float, bytes]] = []
    recent: dict[bytes, tuple[float, str]] = {}
    for t, data, host in frames:
        seen = recent.get(data)
        if seen is not None and seen[1] != host and t - seen[0] <= DUPLICATE_WINDOW:
            continue
        recent[data] = (t, host)
        out.append((t, data))
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m topology.backends.swarm_capture PARTS_JSON -- COMMAND...", file=sys.stderr)
        return 2
    prefixes: dict[str, list[str]] = json.loads(argv[0])
    command = argv[2:]
    folder = Path(tempfile.mkdtemp(prefix="wlswarm-cap-"))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    procs, ready, said = {}, {}, {}
    text = "-w" not in command  # `wirelab capture` without -w: a line a packet, each host's as it comes
    lock = threading.Lock()
    for host, prefix in prefixes.items():
        out = subprocess.PIPE if text else open(folder / f"{host}.pcap", "wb")
        procs[host] = subprocess.Popen(prefix + command, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        ready[host], said[host] = threading.Event(), []
        if text:
            def relay(host: str = host) -> None:
                for raw in procs[host].stdout:
                    with lock:
                        sys.stdout.write(f"{host} {raw.decode(errors='replace')}")
                        sys.stdout.flush()

            threading.Thread(target=relay, daemon=True).start()

        def read(host: str = host) -> None:
            for raw in procs[host].stderr:
                line = raw.decode(errors="replace").rstrip()
                said[host].append(line)
                if "listening on" in line:
                    ready[host].set()

        threading.Thread(target=read, daemon=True).start()
    while not all(e.is_set() for e in ready.values()):
        dead = [h for h, p in procs.items() if p.poll() is not None]
        if dead or stop.is_set():
            for p in procs.values():
                p.kill()
            for h in dead:
                print(f"host {h}: {' '.join(said[h]) or 'tcpdump exited'}", file=sys.stderr)
            return 1
        time.sleep(0.02)
    import scapy.utils  # noqa: F401  (loaded now: the merge after SIGINT must be quick)

    print(f"listening on the segment's bridge on {len(procs)} hosts ({', '.join(procs)})", file=sys.stderr, flush=True)
    while not stop.wait(0.1):
        if all(p.poll() is not None for p in procs.values()):
            break
    if text:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(folder, ignore_errors=True)
        return 0
    # The caller gives this process a few seconds (capture.py: 5) from its SIGINT to the end of the pcap:
    # every step after it is bounded to fit.
    _settle(folder, list(procs), 1.0)
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    # Each part is complete once its tcpdump has said what it captured (with -U every packet is written
    # before) and the file has stopped growing; its host side (a helper container being removed) may take
    # longer to exit, and the caller's patience for this whole process is short: write first.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and not all(
            p.poll() is not None or any(line.endswith("packets captured") for line in said[h])
            for h, p in procs.items()):
        time.sleep(0.02)
    _settle(folder, list(procs), 0.5)
    _write(folder, list(procs))
    dropped = sum(int(line.split()[0]) for lines in said.values() for line in lines
                  if line.endswith("packets dropped by kernel"))
    print(f"{dropped} packets dropped by kernel", file=sys.stderr, flush=True)
    for p in procs.values():
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
    return 0


def _settle(folder: Path, hosts: list[str], at_most: float) -> None:
    """Until no part has grown for SETTLE: every frame already on the wire is in some part."""
    last, since, deadline = None, time.monotonic(), time.monotonic() + at_most
    while time.monotonic() < deadline:
        sizes = [(folder / f"{h}.pcap").stat().st_size for h in hosts]
        if sizes != last:
            last, since = sizes, time.monotonic()
        elif time.monotonic() - since >= SETTLE:
            return
        time.sleep(0.02)


def _write(folder: Path, hosts: list[str]) -> None:
    from scapy.utils import PcapWriter, RawPcapReader

    parts, linktype = {}, 1
    for h in hosts:
        path = folder / f"{h}.pcap"
        pkts = []
        if path.stat().st_size:
            with RawPcapReader(str(path)) as r:  # bytes and times only: no dissection, it must be quick
                linktype = r.linktype
                for data, meta in r:
                    pkts.append((meta.sec + meta.usec / 1e6, data))
        parts[h] = pkts
        path.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    w = PcapWriter(sys.stdout.buffer, linktype=linktype, sync=True)
    w.write_header(None)
    for t, data in merge(parts):
        w.write_packet(data, sec=int(t), usec=int(round((t - int(t)) * 1e6)))
    w.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
