"""A small traffic generator the scenarios run on nodes, for what the standard tools cannot ask for:
a UDP datagram of an exact size with the Don't Fragment bit set or clear, or sent to a broadcast address.

    python -m scenarios.framework.traffic DST PORT [--size N] [--df | --no-df] [--broadcast] [--fill TEXT]

The data is `fill` repeated to `size` bytes (see `data()`), so a scenario knows what must arrive.
Exits 0 once the datagram is sent, 1 when the kernel refuses it (e.g. larger than the MTU with DF set).
"""

from __future__ import annotations

import argparse
import socket
import sys

# from <linux/in.h>; the socket module does not export them everywhere
IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_DO = 10, 0, 2


def data(size: int, fill: str = "wirelab ") -> bytes:
    raw = fill.encode() or b"."
    return (raw * (size // len(raw) + 1))[:size]


def send(dst: str, port: int, payload: bytes, df: bool | None = None, broadcast: bool = False) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        if df is not None:  # Linux sets DF on UDP by default (path MTU discovery): say which we want
            s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if df else IP_PMTUDISC_DONT)
        if broadcast:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.sendto(payload, (dst, port))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dst")
    ap.add_argument("port", type=int)
    ap.add_argument("--size", type=int, default=32, help="bytes of UDP data")
    ap.add_argument("--fill", default="wirelab ")
    df = ap.add_mutually_exclusive_group()
    df.add_argument("--df", dest="df", action="store_true", default=None, help="set Don't Fragment")
    df.add_argument("--no-df", dest="df", action="store_false", help="clear Don't Fragment")
    ap.add_argument("--broadcast", action="store_true")
    a = ap.parse_args()
    try:
        send(a.dst, a.port, data(a.size, a.fill), a.df, a.broadcast)
    except OSError as e:
        print(f"not sent: {e}", file=sys.stderr)
        return 1
    print(f"sent {a.size} bytes of UDP data to {a.dst}:{a.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
