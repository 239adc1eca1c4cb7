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


def upload(rates_up, rates_down=None):
    down = rates_down or [0] * len(rates_up)
    return [PeerView(f"p{i}", True, down[i], 0, u) for i, u in enumerate(rates_up)]


def test_rate_based_slots_open_while_the_upload_has_room():
    # 1.25 MB/s (a 10 Mbit/s uplink) spread over 8 peers: room for 24, so for all 16 interested here
    c = Choker(slots=8, optimistic_every=1000, rng=random.Random(2), rate_based=True)
    got = c.rechoke(upload([1.25e6 / 8] * 8 + [0] * 8), seeding=False)
    assert c.current == 16 and len(got) == 16
    # 125 kB/s (1 Mbit/s): not even room for more than the minimum
    c = Choker(slots=8, optimistic_every=1000, rng=random.Random(2), rate_based=True)
    c.rechoke(upload([125e3 / 8] * 8 + [0] * 8), seeding=False)
    assert c.current == 8


def test_rate_based_slots_still_go_by_tit_for_tat():
    # 140 kB/s has room for 8 regular slots (140 kB/s / 9 < 1 KiB + 8 x 2 KiB); the 8 best senders get them
    c = Choker(slots=2, optimistic_every=1000, rng=random.Random(4), rate_based=True)
    got = c.rechoke(upload([140e3 / 20] * 20, rates_down=list(range(20))), seeding=False)
    assert c.current == 8
    assert {f"p{i}" for i in range(12, 20)} <= got and len(got) == 9


def test_fixed_slots_stay_fixed_however_fast_the_upload():
    c = Choker(slots=3, optimistic_every=1000, rng=random.Random(2))
    assert len(c.rechoke(upload([1e9] * 10), seeding=False)) == 4
