"""Every lab file `check` accepts comes up: the edges of what a lab file may say, brought up for real."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from topology.backends.fabric import port_name
from topology.loader import load

pytestmark = pytest.mark.lab

LONGEST = "n" * 31  # the longest node name the schema allows

EDGES = textwrap.dedent(f"""
    name: lf-edges
    segments:
      a-eth0: {{subnet: 10.63.1.0/24, mtu: 65535, rate: 1tbit}}   # named as node a's port would be
      small:  {{subnet: 10.63.2.0/24, mtu: 576, rate: 1kbit, loss: 0.0001%}}
      wide:   {{subnet: 10.64.0.0/10}}                            # 4 million addresses, two hosts
    nodes:
      a: {{interfaces: [a-eth0, small]}}
      {LONGEST}: {{interfaces: [a-eth0, wide]}}
      b: {{interfaces: [wide]}}
      ftp:
        interfaces: [small]
        services:
          # braces the registry does not know stay as written, not expanded by str.format
          - {{name: ftp-server, args: ["--config", "{{lab_dir}}/{{python.__class__}}.yaml", "--seed", "{{lab_dir}}/{{nope}}"]}}
""")


def test_a_lab_at_the_edges_of_the_schema_comes_up(lab_up, tmp_path: Path):
    (tmp_path / "lab.yaml").write_text(EDGES)
    (tmp_path / "{python.__class__}.yaml").write_text("anonymous: {home: pub}\n")
    (tmp_path / "{nope}" / "pub").mkdir(parents=True)
    lab = load(tmp_path / "lab.yaml")  # what `wirelab check` does
    running = lab_up(lab)

    a = lab.nodes["a"]
    assert port_name(lab, a, a.interfaces[0]) != "a-eth0"  # the bridge has that name
    assert running.run(LONGEST, ["ping", "-c1", "-W2", running.address("a", "a-eth0")]).returncode == 0
    assert running.run(LONGEST, ["ping", "-c1", "-W2", running.address("b", "wide")]).returncode == 0
    big = running.run("a", ["ping", "-c1", "-W2", "-M", "do", "-s", "65507", running.address(LONGEST, "a-eth0")])
    assert big.returncode == 0, big.stdout + big.stderr  # a 65535-byte MTU really carries 65535 bytes
    assert "mtu 576" in running.run("ftp", ["ip", "link", "show", "eth0"], check=True).stdout

    svc = running.service("ftp", "ftp-server")
    assert f"{tmp_path}/{{python.__class__}}.yaml" in svc.argv and f"{tmp_path}/{{nope}}" in svc.argv
    commands = [p.command for p in running.processes("ftp")]
    assert any(f"{tmp_path}/{{python.__class__}}.yaml" in c and f"{tmp_path}/{{nope}}" in c for c in commands), commands
