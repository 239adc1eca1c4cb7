"""The choker alone: tit-for-tat while leeching, an optimistic unchoke, round-robin when seeding."""

import random

from services.bittorrent.choker import Choker, PeerView


def views(rates, interested=True, uploaded=None):
    return [PeerView(f"p{i}", interested, r, (uploaded or [0] * len(rates))[i]) for i, r in enumerate(rates)]


def test_tit_for_tat_unchokes_the_best_uploaders_plus_one():
    c = Choker(slots=2, rng=random.Random(3))
    got = c.rechoke(views([10, 500, 30, 400, 20]), seeding=False)
    assert {"p1", "p3"} <= got and len(got) == 3
    assert c.optimistic in {"p0", "p2", "p4"}


def test_optimistic_unchoke_rotates_every_third_round():
    c = Choker(slots=1, optimistic_every=3, rng=random.Random(5))
    chosen = []
    for _ in range(30):
        c.rechoke(views([100, 1, 1, 1, 1, 1]), seeding=False)
        chosen.append(c.optimistic)
    assert all(chosen[i] == chosen[i - i % 3] for i in range(30))
    assert len(set(chosen)) > 2


def test_uninterested_peers_stay_choked():
    c = Choker(slots=4)
    assert c.rechoke(views([100, 100], interested=False), seeding=False) == set()


def test_seed_serves_the_least_served_first():
    c = Choker(slots=2, optimistic_every=1000, rng=random.Random(1))
    got = c.rechoke(views([0] * 4, uploaded=[900, 10, 500, 20]), seeding=True)
    assert {"p1", "p3"} <= got
