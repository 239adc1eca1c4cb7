"""The lab file: schema errors located at the line, semantic checks, deterministic addressing, routing."""

from __future__ import annotations

import ipaddress
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
