"""`wirelab gen swarm`: the P2P lab for any N, with the textbook's rates on the right links."""

from click.testing import CliRunner

from topology.cli import main
from topology.loader import load, loads


def test_gen_swarm_makes_a_lab_with_n_access_links():
    out = CliRunner().invoke(main, ["gen", "swarm", "--peers", "5", "--name", "sw5", "--peer-rate", "8mbit"])
    assert out.exit_code == 0, out.output
    lab = loads(out.output, "sw5.yaml")
    assert sorted(n for n in lab.nodes if n.startswith("p")) == ["p1", "p2", "p3", "p4", "p5"]
    assert str(lab.segments["core"].rate) == "20mbit"
    assert {str(lab.segments[f"acc{i}"].rate) for i in range(1, 6)} == {"8mbit"}
    assert [s.name for s in lab.nodes["tracker"].services] == ["bt-tracker"]


def test_gen_swarm_refuses_zero_peers_in_one_line():
    out = CliRunner().invoke(main, ["gen", "swarm", "--peers", "0"])
    assert out.exit_code != 0
    assert "a swarm lab holds 1 to 250 peers" in out.output


def test_the_shipped_swarm_lab_is_the_generated_one():
    lab = load("swarm")
    assert len([n for n in lab.nodes if n.startswith("p")]) == 16
    assert lab.segments["core"].mtu == 9000
