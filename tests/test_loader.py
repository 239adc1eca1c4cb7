"""The lab file: schema errors located at the line, semantic checks, deterministic addressing, routing."""

from __future__ import annotations

import ipaddress
import json
import textwrap

import pytest
import yaml

from topology.errors import LabFileError
from topology.gen import star
from topology.loader import LABS_DIR, load, loads


def lab_text(body: str) -> str:
    return textwrap.dedent(body).lstrip()


def error_of(text: str) -> LabFileError:
    with pytest.raises(LabFileError) as info:
        loads(lab_text(text), "lab.yaml")
    return info.value


def test_unknown_key_names_its_line_and_the_allowed_keys():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          a:
            interfaces: [lan]
            gatewy: 10.0.0.1
    """)
    assert e.line == 6
    assert "'gatewy'" in e.message and "gateway" in e.message
    assert str(e).startswith("lab.yaml:6: ")


def test_bad_subnet_pattern_is_explained():
    e = error_of("""
        segments:
          lan:
            subnet: tenzero
        nodes:
          a: {interfaces: [lan]}
    """)
    assert e.line == 3 and "10.0.1.0/24" in e.message


def test_wrong_segment_kind_lists_choices():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24, kind: router}
        nodes:
          a: {interfaces: [lan]}
    """)
    assert e.line == 2 and "switch" in e.message and "hub" in e.message


def test_interface_on_unknown_segment():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          a:
            interfaces:
              - lan
              - wan
    """)
    assert e.line == 7 and "unknown segment 'wan'" in e.message


def test_address_outside_subnet_and_duplicates():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          a:
            interfaces:
              - {segment: lan, address: 10.0.1.5}
    """)
    assert e.line == 6 and "not in segment lan's subnet" in e.message
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          a: {interfaces: [{segment: lan, address: 10.0.0.5}]}
          b: {interfaces: [{segment: lan, address: 10.0.0.5}]}
    """)
    assert e.line == 5 and "already used by a" in e.message


def test_gateway_must_share_a_segment():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
          wan: {subnet: 10.0.9.0/24}
        nodes:
          r: {kind: router, interfaces: [wan]}
          a:
            interfaces: [lan]
            gateway: r
    """)
    assert e.line == 8 and "shares no segment" in e.message


def test_broken_yaml_points_at_the_line():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24
        nodes:
          a: {interfaces: [lan]}
    """)
    assert e.line is not None and e.line >= 3 and "not valid YAML" in e.message


def test_missing_nodes_is_reported():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
    """)
    assert "nodes" in e.message


def test_segment_name_too_long_for_a_bridge():
    e = error_of("""
        segments:
          averyveryverylongname: {subnet: 10.0.0.0/24}
        nodes:
          a: {interfaces: [averyveryverylongname]}
    """)
    assert "15 characters" in e.message or "does not match" in e.message


def test_addresses_are_deterministic_routers_first():
    text = lab_text("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          h1: {interfaces: [lan]}
          r1: {kind: router, interfaces: [lan]}
          h2: {interfaces: [lan]}
    """)
    a, b = loads(text), loads(text)
    assert a.to_dict() == b.to_dict()
    assert str(a.nodes["r1"].interfaces[0].address) == "10.0.0.1/24"
    assert str(a.nodes["h1"].interfaces[0].address) == "10.0.0.10/24"
    assert str(a.nodes["h2"].interfaces[0].address) == "10.0.0.11/24"
    assert str(a.nodes["h1"].gateway) == "10.0.0.1"
    macs = {i.mac for n in a.nodes.values() for i in n.interfaces}
    assert len(macs) == 3 and all(m.startswith("02:") for m in macs)


def test_chain_routers_route_every_subnet_along_the_path():
    lab = load("chain")
    r1 = {str(r.to): str(r.via) for r in lab.nodes["r1"].routes}
    r3 = {str(r.to): str(r.via) for r in lab.nodes["r3"].routes}
    assert r1 == {"10.10.23.0/30": "10.10.12.2", "10.10.2.0/24": "10.10.12.2"}
    assert r3 == {"10.10.12.0/30": "10.10.23.1", "10.10.1.0/24": "10.10.23.1"}
    assert str(lab.nodes["h2"].gateway) == "10.10.2.1"


def test_written_routes_win_over_computed_ones():
    lab = loads(lab_text("""
        segments:
          a: {subnet: 10.1.0.0/24}
          b: {subnet: 10.2.0.0/24}
          c: {subnet: 10.3.0.0/24}
        nodes:
          r1:
            kind: router
            interfaces: [a, b]
            routes: [{to: 10.3.0.0/24, via: 10.2.0.9}]
          r2: {kind: router, interfaces: [b, c]}
    """))
    routes = [(str(r.to), str(r.via), r.auto) for r in lab.nodes["r1"].routes]
    assert routes == [("10.3.0.0/24", "10.2.0.9", False)]


def test_every_shipped_lab_loads():
    for path in LABS_DIR.glob("*.yaml"):
        lab = load(path)
        assert lab.nodes and lab.segments, path


def test_star_generator_makes_a_valid_lab():
    text = star(300)
    lab = loads(text)
    assert len(lab.nodes) == 300 and yaml.safe_load(text)["name"] == "star300"
    addrs = {i.address.ip for n in lab.nodes.values() for i in n.interfaces}
    assert len(addrs) == 300 and all(a in ipaddress.IPv4Network("10.100.0.0/16") for a in addrs)
    with pytest.raises(ValueError):
        star(0)


def test_the_readme_example_lab_is_valid():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("## The lab file", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    lab = loads(block, "README.md")
    assert lab.name == "mylab" and lab.segments["lan2"].kind == "hub" and lab.segments["wan"].loss == 1.0
    assert str(lab.nodes["pc1"].gateway) == "10.0.1.1" and str(lab.nodes["pc2"].interfaces[0].address) == "10.0.2.10/24"


def test_a_node_defined_twice_is_an_error_not_a_silent_overwrite():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          pc1: {interfaces: [lan]}
          pc2: {interfaces: [lan]}
          pc1: {interfaces: [lan]}
    """)
    assert e.line == 6 and "node 'pc1' is defined twice (first at line 4)" in e.message


def test_overlapping_subnets_are_refused():
    e = error_of("""
        segments:
          lan1: {subnet: 10.0.1.0/24}
          lan2: {subnet: 10.0.0.0/16}
        nodes:
          a: {interfaces: [lan1]}
    """)
    assert e.line == 3 and "overlaps segment lan1's 10.0.1.0/24" in e.message


def test_unknown_service_is_caught_at_its_line_with_a_suggestion():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          a:
            interfaces: [lan]
            services: [echo-udp, uppercase-tpc]
    """)
    assert e.line == 6 and "unknown service 'uppercase-tpc'; did you mean 'uppercase-tcp'?" in e.message


def test_a_misspelt_key_is_named_rather_than_the_missing_one():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          a:
            interfacs: [lan]
    """)
    assert e.line == 5 and "did you mean 'interfaces'?" in e.message


def test_an_empty_node_points_at_the_indentation():
    e = error_of("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          a:
          interfaces: [lan]
    """)
    assert "nodes.a is empty; expected a mapping" in e.message and "indentation" in e.message


# Hostile and broken lab files: each a `file:line: what, how to fix` error, never a traceback -------------

ONE_NODE = "segments:\n  lan: {{subnet: 10.0.0.0/24{seg}}}\nnodes:\n  {node}: {{interfaces: [lan]{extra}}}\n"


def one_node(seg: str = "", node: str = "a", extra: str = "") -> str:
    return ONE_NODE.format(seg=seg, node=node, extra=extra)


BILLION_LAUGHS = "".join(
    f"{x}: &{x} [{', '.join([f'*{p}'] * 9 if p else ['lol'] * 9)}]\n"
    for p, x in zip(["", *"abcdefgh"], "abcdefghi", strict=True)) + "segments: {}\nnodes: {}\n"


@pytest.mark.parametrize("text, line, says", [
    (BILLION_LAUGHS, 6, "aliases here expand to over"),
    ("segments: &s\n  lan: {subnet: 10.0.0.0/24}\n  x: *s\nnodes: {}\n", 1, "a recursive anchor"),
    ("a: &a [1, *a]\n", 1, "a recursive anchor"),
    ("nodes: " + "[" * 40 + "]" * 40 + "\n", 1, "nests more than 32 levels"),
    (one_node(node='"h1\\n"'), 4, "'h1\\n' is not a valid name"),
    (one_node(node="42"), 4, "node name 42 is a whole number, not a name"),
    (one_node(node="~"), 4, "node name None is empty, not a name"),
    (one_node(node="yes"), 4, "node name True: YAML reads this word as true or false; put the name in quotes"),
    (one_node(seg=', loss: "5%\\n"'), 2, "segments.lan.loss is '5%\\n'; write it like 1%"),
    (one_node(seg=', rate: "10mbit\\n"'), 2, "segments.lan.rate is '10mbit\\n'; write it like 10mbit"),
    (one_node(seg=", rate: 0mbit"), 2, "rate '0mbit' is too slow for a link; use 1kbit or more"),
    (one_node(seg=", rate: 2tbit"), 2, "rate '2tbit' is too fast"),
    (one_node(seg=", loss: .nan"), 2, "loss nan is not a percentage between 0 and 100"),
    (one_node(seg=", delay: 2h"), 2, "segments.lan.delay is '2h'; write it like 20ms"),
    ("dns: [not-an-ip]\n" + one_node(), 1, "dns: 'not-an-ip' is not an IPv4 address"),
    ('domain: "lab.test\\nnameserver 6.6.6.6"\n' + one_node(), 1, "domain is 'lab.test\\nnameserver 6.6.6.6'"),
    (one_node(extra=', services: ["echo-udp\\n"]'), 4, "nodes.a.services.0 is 'echo-udp\\n'"),
    (one_node(extra=', services: [{name: echo-udp, args: ["7\\n"]}]'), 4, "an argument is one line"),
    (one_node(extra=', services: [{name: echo-udp, args: ["\\0"]}]'), 4, "an argument is one line"),
    ("segments:\n  lan: {subnet: 10.0.0.0/24}\nnodes:\n  a\x07: {interfaces: [lan]}\n", 4,
     "character U+0007 is not allowed"),
    ("? [a, b]\n: c\n", 1, "found unhashable key"),
    ("segments:\n  lo: {subnet: 10.0.0.0/24}\nnodes:\n  a: {interfaces: [lo]}\n", 2, "segment name 'lo' is one the kernel gives"),
    ("segments:\n  lan: {subnet: 10.0.0.0/24}\nnodes:\n  a: {interfaces: [{segment: lan, name: sit0}]}\n", 4,
     "interface name 'sit0' is one the kernel makes in every namespace"),
    (one_node(extra=", gateway: a"), 4, "a node cannot be its own gateway"),
    (one_node(extra=", gateway: 10.0.0.10"), 4, "gateway 10.0.0.10 is its own address"),
    (one_node(extra=", routes: [{to: 10.0.0.0/24, via: 10.0.0.1}]"), 4, "a route to 10.0.0.0/24 is already there"),
    ("segments:\n  lan: {subnet: 10.0.0.0/24}\nnodes:\n  a: {interfaces: [{segment: lan, mac: '01:00:5e:00:00:01'}]}\n",
     4, "MAC 01:00:5e:00:00:01 is a multicast or zero address"),
    ("segments:\n  lan: {subnet: 10.0.0.0/24}\nnodes:\n  a: {interfaces: [{segment: lan, mac: '02:00:00:00:00:01'}]}\n"
     "  b: {interfaces: [{segment: lan, mac: '02:00:00:00:00:01'}]}\n", 5, "MAC 02:00:00:00:00:01 is already a's"),
])
def test_hostile_lab_files_get_a_located_one_line_error(text: str, line: int, says: str):
    with pytest.raises(LabFileError) as info:
        loads(text, "lab.yaml")
    assert info.value.line == line and says in info.value.message
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_utf8_is_located_at_its_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("segments:\n  lan: {subnet: 10.0.0.0/24}\nnodes:\n  caf\u00e9: {interfaces: [lan]}\n".encode("latin-1"))
    with pytest.raises(LabFileError) as info:
        load(path)
    assert info.value.line == 4 and "byte 0xe9 is not UTF-8" in info.value.message


def test_a_file_too_large_is_refused_before_parsing(tmp_path):
    from topology.loader import MAX_BYTES

    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    with pytest.raises(LabFileError, match="larger than 4 MiB"):
        load(path)


def test_aliases_within_the_budget_still_load():
    lab = loads(lab_text("""
        segments:
          lan: {subnet: 10.0.0.0/24}
        nodes:
          a: &host {interfaces: [lan], services: [echo-udp]}
          b: *host
          c: {<<: *host, kind: host}
    """))
    assert [s.name for n in lab.nodes.values() for s in n.services] == ["echo-udp"] * 3


def test_a_description_ending_in_a_backslash_draws():
    from topology.graph import to_dot, to_svg

    lab = loads('description: "C:\\\\labs\\\\ \\"quoted\\"\\nsecond line \\\\"\n' + one_node(seg=", rate: 10mbit"))
    assert lab.description.endswith("line \\")
    svg = to_svg(to_dot(lab.to_dict()))
    assert "second line \\" in svg and "10mbit" in svg


# Link settings: typed values, parsed once ------------------------------------------------------------

def test_link_settings_are_values_that_round_trip_through_the_lab_record():
    from topology.linksettings import Delay, Rate
    from topology.model import Lab

    lab = loads(one_node(seg=", rate: 1.5mbit, delay: 0.5ms, loss: 2.5%, mtu: 9000"))
    seg = lab.segments["lan"]
    assert seg.rate == Rate(1_500_000) and seg.rate.mbit == 1.5 and str(seg.rate) == "1500kbit"
    assert seg.delay == Delay(500) and seg.delay.seconds == 0.0005 and str(seg.delay) == "500us"
    assert seg.loss == 2.5 and seg.mtu == 9000
    again = Lab.from_dict(json.loads(json.dumps(lab.to_dict())))
    assert again.segments["lan"] == seg


@pytest.mark.parametrize("word, bits, canonical", [
    ("10mbit", 10**7, "10mbit"), ("512kbit", 512_000, "512kbit"), ("1gbit", 10**9, "1gbit"),
    ("1kbit", 1000, "1kbit"), ("1tbit", 10**12, "1tbit"), ("1234567bit", 1234567, "1234567bit"),
    ("1mbps", 8 * 10**6, "8mbit"), ("125kbps", 10**6, "1mbit"), ("2.5gbit", 25 * 10**8, "2500mbit"),
])
def test_rates_read_as_tc_reads_them(word: str, bits: int, canonical: str):
    from topology.linksettings import Rate

    r = Rate.parse(word)
    assert r.bits_per_second == bits and str(r) == canonical and Rate.parse(str(r)) == r


@pytest.mark.parametrize("word", ["0mbit", "999bit", "1.1tbit", "10Mbit", "10 mbit", "mbit", "10mb", "-1mbit", "10mbit\n"])
def test_rates_out_of_range_or_misspelt_are_refused(word: str):
    from topology.linksettings import Rate

    with pytest.raises(ValueError):
        Rate.parse(word)


def test_fabric_builds_tc_and_nft_lines_from_the_numbers():
    from topology.backends import fabric

    lab = loads(one_node(seg=", rate: 1.5mbit, loss: 0.25"))
    seg = lab.segments["lan"]
    assert fabric.rate_line("a-eth0", seg) == "qdisc add dev a-eth0 root tbf rate 1500000bit burst 1875 latency 50ms"
    assert "numgen random mod 1000000 < 2500 counter drop" in fabric.loss_rules(lab)
    ip, tc = fabric.node_lines(lab, lab.nodes["a"])
    assert tc == ["qdisc add dev eth0 root tbf rate 1500000bit burst 1875 latency 50ms"]


def test_a_port_never_takes_a_segment_name():
    from topology.backends import fabric

    lab = loads(lab_text("""
        segments:
          a-eth0: {subnet: 10.0.0.0/24}
        nodes:
          a: {interfaces: [a-eth0]}
          b: {interfaces: [a-eth0]}
    """))
    assert fabric.port_name(lab, lab.nodes["a"], lab.nodes["a"].interfaces[0]) == "p0_0"
    assert fabric.port_name(lab, lab.nodes["b"], lab.nodes["b"].interfaces[0]) == "b-eth0"


def test_check_looks_at_the_lab_once_not_once_per_node(monkeypatch):
    # Work counted, not time (bench/bench_check.py times it): a scan of every node for every node's
    # segment made 10,000 hosts take 70 s. Lab.members is such a scan.
    from topology.model import Lab

    scans = []
    real = Lab.members
    monkeypatch.setattr(Lab, "members", lambda self, seg: scans.append(seg) or real(self, seg))
    loads(star(3000))
    assert len(scans) <= 1
