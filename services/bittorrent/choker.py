"""The choker: which interested peers we upload to, decided every `interval` seconds, with no sockets.

Tit-for-tat (BEP 3): while downloading, unchoke the peers that sent us the most lately; they reciprocate
best. Every third round one more peer, chosen at random among the choked and interested, is unchoked
optimistically, so newcomers with nothing to trade get a start and better partners are found. A seed has
nothing to receive, so it unchokes round-robin by the bytes it has already sent (the least served first):
every leecher gets data to trade, as libtorrent's seeding choker does.

How many regular slots: `slots` at least, and more while the upload has room for them (the rule of
libtorrent's rate-based choker: a slot opens while the peers served would each still get at least a
threshold that starts at 1 KiB/s and rises 2 KiB/s with every slot). Here the rule is applied to our upload
rate of late (the peers' rate meters, a 5-second average) shared among one more peer, so the slots a link
has room for open in one round, not one a round. A 10 Mbit/s uplink has room for about 24 slots, a 1 Mbit/s one for about 8. A peer that
is choked by all but a few others falls behind and has ever less to trade; where the uplinks have room
to serve it too, it is served.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass

RATE_THRESHOLD, RATE_STEP = 1024.0, 2048.0  # bytes/s: libtorrent's rate_choker_initial_threshold, and its rise


@dataclass(frozen=True)
class PeerView:
    key: Hashable
    interested: bool
    download_rate: float  # bytes/s it has been sending us
    uploaded: int  # bytes we have sent it in all
    upload_rate: float = 0.0  # bytes/s we have been sending it


class Choker:
    def __init__(self, slots: int = 4, optimistic_every: int = 3, rng: random.Random | None = None,
                 rate_based: bool = False):
        self.slots = slots
        self.optimistic_every = optimistic_every
        self.rng = rng or random.Random()
        self.rate_based = rate_based
        self.rounds = 0
        self.optimistic: Hashable | None = None
        self.current = slots  # the regular slots of the last round

    def slot_count(self, peers: list[PeerView]) -> int:
        """Regular slots for this round: `slots`, or more where the upload rate has room (rate_based)."""
        k = self.slots
        if self.rate_based:
            total = sum(p.upload_rate for p in peers)
            while k < len(peers) and total / (k + 1) >= RATE_THRESHOLD + RATE_STEP * k:
                k += 1
        return k

    def rechoke(self, peers: list[PeerView], seeding: bool) -> set[Hashable]:
        """The peers to have unchoked from now on (all others choked)."""
        interested = [p for p in peers if p.interested]
        if seeding:
            ranked = sorted(interested, key=lambda p: (p.uploaded, self.rng.random()))
        else:
            ranked = sorted(interested, key=lambda p: (-p.download_rate, self.rng.random()))
        self.current = self.slot_count(peers)
        unchoked = {p.key for p in ranked[: self.current]}
        if self.rounds % self.optimistic_every == 0 or self.optimistic not in {p.key for p in interested}:
            rest = [p.key for p in interested if p.key not in unchoked]
            self.optimistic = self.rng.choice(rest) if rest else None
        self.rounds += 1
        if self.optimistic is not None:
            unchoked.add(self.optimistic)
        return unchoked
