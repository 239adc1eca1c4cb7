"""A segment's link settings as values: a rate in bits per second, a delay, a loss in percent, an MTU.

The loader parses the lab file's words (`10mbit`, `20ms`, `1%`) once; every backend builds its own
commands from the numbers (tc lines for the fabric, `bw=` in Mbit/s for Mininet's TCLink) and never
parses a tc string again. Each value's `str` is the lab file's word, and parsing it gives the value
back, so the lab record (JSON) holds them as the strings a person would write.

A bad word raises ValueError with the reason and the fix; the loader adds the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# tc's own units (tc(8), "RATES"): decimal multiples of bits, or of bytes per second.
RATE_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12,
              "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9, "tbps": 8 * 10**12}
# tbf cannot shape below about 1 kbit/s (its burst, in kernel ticks, overflows) nor take the burst
# of a 10 ms bucket above about 1 tbit/s (tc refuses a burst of 2^32 bytes or more).
MIN_RATE, MAX_RATE = 10**3, 10**12
DELAY_UNITS = {"us": 1, "ms": 10**3, "s": 10**6}
MAX_DELAY_US = 60 * 10**6  # a minute: more is a typo, and netem's queue would hold every frame meanwhile
MIN_MTU, MAX_MTU = 576, 65535  # IPv4's minimum datagram; a veth's and a bridge's largest MTU

_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_RATE = re.compile(_NUMBER + r"([a-z]+)", re.ASCII)
_DELAY = re.compile(_NUMBER + r"(us|ms|s)", re.ASCII)
_LOSS = re.compile(_NUMBER + r"%", re.ASCII)


@dataclass(frozen=True, order=True)
class Rate:
    """A link's rate in each direction, in bits per second (Ethernet frame bytes, as tc counts them)."""

    bits_per_second: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        m = _RATE.fullmatch(text) if isinstance(text, str) else None
        if m is None or m[2] not in RATE_UNITS:
            raise ValueError(f"{text!r} is not a rate; write a number and a unit, like 10mbit, 512kbit or 1gbit "
                             f"(units: {', '.join(RATE_UNITS)})")
        bits = round(float(m[1]) * RATE_UNITS[m[2]])
        if bits < MIN_RATE:
            raise ValueError(f"{text!r} is too slow for a link; use 1kbit or more (a rate of 0 would carry nothing)")
        if bits > MAX_RATE:
            raise ValueError(f"{text!r} is too fast for a token bucket; use 1tbit or less, or leave `rate:` out "
                             f"for an unlimited link")
        return cls(bits)

    @property
    def mbit(self) -> float:
        """Megabits per second, as Mininet's TCLink takes `bw`."""
        return self.bits_per_second / 10**6

    @property
    def bytes_per_second(self) -> float:
        return self.bits_per_second / 8

    def __str__(self) -> str:
        for unit in ("tbit", "gbit", "mbit", "kbit"):
            if self.bits_per_second % RATE_UNITS[unit] == 0:
                return f"{self.bits_per_second // RATE_UNITS[unit]}{unit}"
        return f"{self.bits_per_second}bit"


@dataclass(frozen=True, order=True)
class Delay:
    """A one-way delay, in whole microseconds (netem's resolution)."""

    microseconds: int

    @classmethod
    def parse(cls, text: str) -> Delay:
        m = _DELAY.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            raise ValueError(f"{text!r} is not a delay; write a number and a unit, like 20ms, 500us or 1.5s")
        us = round(float(m[1]) * DELAY_UNITS[m[2]])
        if us > MAX_DELAY_US:
            raise ValueError(f"{text!r} is longer than a link should delay a frame; use 60s or less")
        return cls(us)

    @property
    def seconds(self) -> float:
        return self.microseconds / 10**6

    def __str__(self) -> str:
        for unit in ("s", "ms"):
            if self.microseconds % DELAY_UNITS[unit] == 0:
                return f"{self.microseconds // DELAY_UNITS[unit]}{unit}"
        return f"{self.microseconds}us"


def parse_loss(value: object) -> float:
    """A loss in percent, from a number (1.5) or a string with a percent sign ("1.5%")."""
    if isinstance(value, bool):  # YAML's `yes`/`true` is a bool, which Python would count as 1
        raise ValueError(f"{value!r} is not a loss; write a percentage, like 1% or 0.5")
    if isinstance(value, (int, float)):
        percent = float(value)
    else:
        m = _LOSS.fullmatch(value) if isinstance(value, str) else None
        if m is None:
            raise ValueError(f"{value!r} is not a loss; write a percentage, like 1% or 0.5")
        percent = float(m[1])
    if not 0 <= percent <= 100:  # also refuses NaN
        raise ValueError(f"{value!r} is not a percentage between 0 and 100")
    return percent


def parse_mtu(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an MTU; write a whole number of bytes, like 1500")
    if not MIN_MTU <= value <= MAX_MTU:
        raise ValueError(f"MTU {value} is out of range; use {MIN_MTU} to {MAX_MTU} bytes")
    return value
