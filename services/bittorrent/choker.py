"""The choker: which interested peers we upload to, decided every `interval` seconds, with no sockets.

Tit-for-tat (BEP 3): while downloading, unchoke the `slots` peers that sent us the most lately; they
reciprocate best. Every third round one more peer, chosen at random among the choked and interested,
is unchoked optimistically, so newcomers with nothing to trade get a start and better partners are
found. A seed has nothing to receive, so it unchokes round-robin by the bytes it has already sent (the
least served first): every leecher gets data to trade, as libtorrent's seeding choker does.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class PeerView:
    key: Hashable
    interested: bool
    download_rate: float  # bytes/s it has been sending us
    uploaded: int  # bytes we have sent it in all


class Choker:
    def __init__(self, slots: int = 4, optimistic_every: int = 3, rng: random.Random | None = None):
        self.slots = slots
        self.optimistic_every = optimistic_every
        self.rng = rng or random.Random()
        self.rounds = 0
        self.optimistic: Hashable | None = None

    def rechoke(self, peers: list[PeerView], seeding: bool) -> set[Hashable]:
        """The peers to have unchoked from now on (all others choked)."""
        interested = [p for p in peers if p.interested]
        if seeding:
            ranked = sorted(interested, key=lambda p: (p.uploaded, self.rng.random()))
        else:
            ranked = sorted(interested, key=lambda p: (-p.download_rate, self.rng.random()))
        unchoked = {p.key for p in ranked[: self.slots]}
        if self.rounds % self.optimistic_every == 0 or self.optimistic not in {p.key for p in interested}:
            rest = [p.key for p in interested if p.key not in unchoked]
            self.optimistic = self.rng.choice(rest) if rest else None
        self.rounds += 1
        if self.optimistic is not None:
            unchoked.add(self.optimistic)
        return unchoked
