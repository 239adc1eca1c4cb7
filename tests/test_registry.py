"""The service and backend registries: what protocol packages declare, and placeholder substitution."""

from __future__ import annotations

import pytest

from topology.backend import backends, get_backend
from topology.errors import WirelabError
from topology.registry import lookup, registry, serving, substitute

VALUES = {"python": "/py", "node": "a", "lab_dir": "/l", "data": "/d", "iface": "eth1"}


def test_only_documented_placeholders_are_substituted():
    assert substitute("{python.__class__.__mro__}", VALUES) == "{python.__class__.__mro__}"
    assert substitute("{nope}-{node}", VALUES) == "{nope}-a"
    assert substitute("{{data}}", VALUES) == "{/d}"
    assert lookup("dhcp-server").command(VALUES, ["--config", "{lab_dir}/x.yaml"]) == [
        "/py", "-m", "services.dhcp", "server", "--leases", "/d/dhcp-leases.jsonl", "--config", "/l/x.yaml"]


def test_each_protocol_package_declares_its_services():
    reg = registry()
    for name, package in [("dns-auth", "services.dns"), ("dhcp-relay", "services.dhcp"),
                          ("echo-udp", "services.echo"), ("uppercase-tcp", "services.sockets.server")]:
        assert reg[name].argv[1] == "-m" and reg[name].argv[2].startswith(package), reg[name]
    assert reg["dns-auth"].ports == (("udp", 53), ("tcp", 53))


def test_the_interfaces_of_an_address_kind_are_served_by_the_service_that_says_so():
    sdef = serving("dhcp")
    assert sdef is not None and sdef.name == "dhcp-client" and "{iface}" in sdef.argv
    assert serving("static") is None


def test_unknown_service_and_backend_are_one_clear_line():
    with pytest.raises(WirelabError, match="unknown service 'nope'; known services: .*dhcp-client"):
        lookup("nope")
    with pytest.raises(WirelabError, match="unknown backend 'nope'; choose one of: docker, mininet, netns, swarm"):
        get_backend("nope")
    assert set(backends()) == {"netns", "docker", "mininet", "swarm"}
