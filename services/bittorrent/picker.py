"""The piece picker: which blocks to ask a peer for next, with no sockets.

The policy is BEP 3's and libtorrent's: finish pieces already started (so whole pieces can be checked
and shared soon); the first piece is a random one (a rare piece would come slowly, and we need something
to trade with); after that, the rarest piece among the peer's, random among equals, so the swarm keeps
every piece alive; at the end, when every missing block is already asked for, ask other peers too
(end-game) and cancel the copies as blocks arrive.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from .wire import BLOCK

Block = tuple[int, int, int]  # piece index, offset, length


@dataclass
class _Partial:
    size: int
    received: set[int] = field(default_factory=set)  # block offsets
    requested: dict[int, set[Hashable]] = field(default_factory=dict)  # offset -> peers asked

    def offsets(self) -> range:
        return range(0, self.size, BLOCK)


class PiecePicker:
    def __init__(self, piece_sizes: list[int], have: Iterable[int] = (), rng: random.Random | None = None):
        self.sizes = piece_sizes
        self.have: set[int] = set(have)
        # neither had nor started: kept as a set so a pick is set arithmetic, not a walk over every piece
        self.missing: set[int] = set(range(len(piece_sizes))) - self.have
        self.availability = [0] * len(piece_sizes)
        self.partial: dict[int, _Partial] = {}
        self.rng = rng or random.Random()
        self.end_game = False

    @property
    def complete(self) -> bool:
        return len(self.have) == len(self.sizes)

    # what peers have: availability counts for rarest-first
    def peer_has(self, index: int) -> None:
        self.availability[index] += 1

    def peer_gone(self, peer: Hashable, pieces: Iterable[int]) -> None:
        for i in pieces:
            self.availability[i] -= 1
        self.abort(peer)

    def abort(self, peer: Hashable, blocks: Iterable[Block] | None = None) -> None:
        """Forget requests to `peer` (it choked us, left, or was banned): the blocks are free again."""
        for index, p in self.partial.items():
            for off, peers in p.requested.items():
                if blocks is None or (index, off, min(BLOCK, p.size - off)) in blocks:
                    peers.discard(peer)

    def pick(self, peer: Hashable, peer_pieces: set[int] | bytes, count: int) -> list[Block]:
        """Up to `count` blocks to request from `peer`, which has `peer_pieces`."""
        out: list[Block] = []
        # pieces already started come first
        for index in sorted(self.partial, key=lambda i: -len(self.partial[i].received)):
            if index in peer_pieces:
                self._take(index, peer, out, count, duplicate=False)
                if len(out) >= count:
                    return out
        while len(out) < count:
            index = self._new_piece(peer_pieces)
            if index is None:
                break
            self.partial[index] = _Partial(self.sizes[index])
            self.missing.discard(index)
            self._take(index, peer, out, count, duplicate=False)
        if not out and not self._unrequested_left():
            self.end_game = True
            for index in list(self.partial):
                if index in peer_pieces:
                    self._take(index, peer, out, count, duplicate=True)
                    if len(out) >= count:
                        break
        return out

    def _unrequested_left(self) -> bool:
        if self.missing:
            return True
        return any(off not in p.received and not p.requested.get(off)
                   for p in self.partial.values() for off in p.offsets())

    def _take(self, index: int, peer: Hashable, out: list[Block], count: int, duplicate: bool) -> None:
        p = self.partial[index]
        for off in p.offsets():
            if len(out) >= count:
                return
            if off in p.received:
                continue
            asked = p.requested.setdefault(off, set())
            # in end-game a block is asked of at most two peers: enough to beat one slow peer, without
            # a flood of copies that would eat everyone's last seconds of upload
            if peer in asked or (asked and not duplicate) or len(asked) >= 2:
                continue
            asked.add(peer)
            out.append((index, off, min(BLOCK, p.size - off)))

    def _new_piece(self, peer_pieces: set[int] | bytes) -> int | None:
        candidates = self.missing & peer_pieces if isinstance(peer_pieces, set) else \
            [i for i in self.missing if i in peer_pieces]
        if not candidates:
            return None
        if not self.have:
            return self.rng.choice(sorted(candidates))
        rarest = min(self.availability[i] for i in candidates)
        return self.rng.choice([i for i in candidates if self.availability[i] == rarest])

    def received(self, index: int, begin: int, peer: Hashable) -> tuple[bool, set[Hashable]]:
        """A block came from `peer`: (is it new, the other peers asked for it, to send cancels to)."""
        p = self.partial.get(index)
        if p is None or begin in p.received or begin % BLOCK or begin >= p.size:
            return False, set()
        p.received.add(begin)
        others = p.requested.pop(begin, set()) - {peer}
        return True, others

    def piece_done(self, index: int) -> bool:
        p = self.partial.get(index)
        return p is not None and len(p.received) == len(p.offsets())

    def verified(self, index: int) -> None:
        self.partial.pop(index, None)
        self.missing.discard(index)
        self.have.add(index)

    def failed(self, index: int) -> None:
        """The piece failed its hash check: every block of it is wanted again."""
        self.partial.pop(index, None)
        self.missing.add(index)

    def requested_from(self, peer: Hashable) -> list[Block]:
        return [(i, off, min(BLOCK, p.size - off)) for i, p in self.partial.items()
                for off, peers in p.requested.items() if peer in peers]
