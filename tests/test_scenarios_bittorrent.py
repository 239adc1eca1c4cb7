"""The P2P scenarios pass in the swarm lab, and fail when the behaviour they show is broken on purpose:
peers that never upload to each other (a firewall in every peer drops peer-to-peer traffic, so only the
seed serves)."""

from __future__ import annotations

import pytest
from scenario_runs import copy_of, failed, run_scenario

from topology import lab as labs

pytestmark = pytest.mark.lab


def no_peer_to_peer(running: labs.RunningLab) -> None:
    """Every peer drops what it would send to another peer; the seed and the tracker (10.60.0.0/24) are
    still reached."""
    for node in running.nodes:
        if node.startswith("p") and node[1:].isdigit():
            for rule in (["add", "table", "inet", "nopeers"],
                         ["add", "chain", "inet", "nopeers", "out", "{ type filter hook output priority 0 ; }"],
                         ["add", "rule", "inet", "nopeers", "out", "ip", "daddr", "10.60.0.0/16",
                          "ip", "daddr", "!=", "10.60.0.0/24", "drop"]):
                running.run(node, ["nft", *rule], check=True)


def test_bittorrent_passes(tmp_path):
    result = run_scenario("bittorrent", tmp_path, lab=copy_of("swarm", "sc-bt"))
    assert failed(result) == {}


def test_bittorrent_fails_when_peers_never_upload_to_each_other(tmp_path):
    why = failed(run_scenario("bittorrent", tmp_path, lab=copy_of("swarm", "sc-bt-broken"),
                              prepare=no_peer_to_peer))
    assert set(why) == {"pieces flow from leecher to leecher, not only from the seed"}, why
    assert why["pieces flow from leecher to leecher, not only from the seed"].startswith(
        "0 bytes of pieces went leecher to leecher")


def test_p2p_vs_client_server_fails_when_peers_never_upload_to_each_other(tmp_path):
    why = failed(run_scenario("p2p-vs-client-server", tmp_path, lab=copy_of("swarm", "sc-p2p-broken"),
                              prepare=no_peer_to_peer))
    text = "at N >= 8 most of the bytes are uploaded by leechers, not by the seed"
    assert text in why, why
    assert "N=16: 0% of" in why[text]
    assert "every peer gets the whole file from the server, and at least as many bytes from the swarm" not in why
