"""Waiting for a DNS server to answer: readiness observed with a real query, never slept for."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from dnslib import DNSRecord


class NotAnswering(RuntimeError):
    pass


def wait_until_answering(addr: str, qname: str = "ready.invalid", *, alive: Callable[[], bool] = lambda: True,
                         need_answer: bool = False, timeout: float = 15.0, port: int = 53) -> None:
    """Ask addr for qname/A until a reply comes (with records, when need_answer). Raises NotAnswering
    when alive() turns false (the server exited) or nothing came within timeout."""
    query = bytes(DNSRecord.question(qname, "A").pack())
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            if not alive():
                raise NotAnswering(f"the DNS server on {addr} exited")
            s.sendto(query, (addr, port))
            try:
                reply = DNSRecord.parse(s.recv(4096))
            except OSError:
                continue
            except Exception:  # a reply that does not parse still shows the server is up
                if not need_answer:
                    return
                continue
            if reply.rr or not need_answer:
                return
            time.sleep(0.05)  # answered, but not yet with records: let the server finish resolving
    raise NotAnswering(f"the DNS server on {addr} gave no {'answer' if need_answer else 'reply'} "
                       f"for {qname} within {timeout:.0f} s")
