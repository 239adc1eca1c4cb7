"""The piece picker alone: random first piece, rarest first, finishing started pieces, end-game."""

import random

from services.bittorrent.picker import PiecePicker
from services.bittorrent.wire import BLOCK


def picker(n=8, size=2 * BLOCK, seed=1, have=()):
    return PiecePicker([size] * n, have=have, rng=random.Random(seed))


def test_first_piece_is_random_not_rarest():
    firsts = set()
    for seed in range(20):
        p = picker(seed=seed)
        for i in range(8):
            p.peer_has(i)
        p.peer_has(0)  # 0 is the most common, no piece is rarer than another except it
        firsts.add(p.pick("a", set(range(8)), 1)[0][0])
    assert len(firsts) > 3


def test_rarest_first_once_we_have_a_piece():
    p = picker(have={0})
    for i in range(1, 8):
        p.peer_has(i)
        p.peer_has(i)
    p.availability[5] = 1  # piece 5 is held by one peer only
    assert p.pick("a", set(range(8)), 1) == [(5, 0, BLOCK)]


def test_started_pieces_are_finished_first_and_blocks_not_asked_twice():
    p = picker(have={0})
    for i in range(8):
        p.peer_has(i)
    first = p.pick("a", set(range(8)), 1)
    second = p.pick("b", set(range(8)), 1)
    assert first[0][0] == second[0][0] and first[0][1] != second[0][1]


def test_only_pieces_the_peer_has():
    p = picker()
    assert p.pick("a", {3}, 10) == [(3, 0, BLOCK), (3, BLOCK, BLOCK)]


def test_last_piece_is_short():
    p = PiecePicker([2 * BLOCK, 100])
    assert p.pick("a", {1}, 5) == [(1, 0, 100)]


def test_end_game_asks_others_and_reports_whom_to_cancel():
    p = picker(n=1)
    assert len(p.pick("a", {0}, 10)) == 2
    assert not p.end_game
    dup = p.pick("b", {0}, 10)
    assert p.end_game and len(dup) == 2
    new, others = p.received(0, 0, "b")
    assert new and others == {"a"}
    assert p.received(0, 0, "a") == (False, set())  # the late copy is wasted, not stored twice


def test_choked_peer_blocks_go_back_to_the_pool():
    p = picker(n=1)
    p.pick("a", {0}, 10)
    p.abort("a")
    assert p.pick("b", {0}, 10) == [(0, 0, BLOCK), (0, BLOCK, BLOCK)]
    assert not p.end_game


def test_failed_piece_is_wanted_again():
    p = picker(n=1)
    p.pick("a", {0}, 10)
    p.received(0, 0, "a")
    p.received(0, BLOCK, "a")
    assert p.piece_done(0)
    p.failed(0)
    assert p.pick("b", {0}, 10) == [(0, 0, BLOCK), (0, BLOCK, BLOCK)]


def test_peer_gone_lowers_availability():
    p = picker()
    p.peer_has(2)
    p.peer_gone("a", [2])
    assert p.availability[2] == 0


def test_end_game_asks_a_block_of_two_peers_at_most():
    p = picker(n=1)
    p.pick("a", {0}, 10)
    assert len(p.pick("b", {0}, 10)) == 2
    assert p.pick("c", {0}, 10) == []
