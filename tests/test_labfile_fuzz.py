"""Hostile lab files: whatever the bytes, the loader gives a lab or a `file:line:` error, never anything else.

What found the holes is fuzzed here: alias bombs, recursive anchors, control characters in names and
values, bytes that are not UTF-8, and random damage to the campus lab file.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topology.errors import LabFileError
from topology.loader import LABS_DIR, loads
from topology.model import Lab

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CAMPUS = (LABS_DIR / "campus.yaml").read_bytes()
CONTROL = [chr(c) for c in (*range(0x00, 0x20), 0x7F, 0x85, 0x2028)]


def loads_or_located_error(text: str | bytes) -> Lab | None:
    """The property: a Lab, or a LabFileError naming the file and a line, on one line."""
    try:
        return loads(text, "lab.yaml")
    except LabFileError as e:
        assert e.file == "lab.yaml" and e.line is not None and e.line >= 1, str(e)
        assert "\n" not in str(e) and str(e).startswith(f"lab.yaml:{e.line}: ")
        return None


def _mutate(base: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(base)
    for where, cut, put in edits:
        at = where % (len(data) + 1)
        data[at:at + cut] = put
    return bytes(data)


@FAST
@given(st.lists(st.tuples(st.integers(0, len(CAMPUS)), st.integers(0, 8),
                          st.binary(max_size=6) | st.sampled_from([b"\n", b":", b"-", b"&a ", b"*a", b"\xff",
                                                                   b"{", b"]", b'"', b"\\n", b"  ", b"0"])),
                min_size=1, max_size=6))
def test_damaged_campus_files(edits):
    loads_or_located_error(_mutate(CAMPUS, edits))


@FAST
@given(st.binary(max_size=300))
def test_random_bytes(raw):
    loads_or_located_error(raw)


NAMED = "segments:\n  {seg}: {{subnet: 10.0.0.0/24}}\nnodes:\n  {node}: {{interfaces: [{seg}]{extra}}}\n{top}"


def _quoted(s: str) -> str:
    return '"' + "".join(c if c.isalnum() or c in "-." else f"\\u{ord(c):04x}" for c in s) + '"'


@FAST
@given(st.sampled_from(["lan", "a", "x-1"]), st.sampled_from(["h1", "pc", "r-2"]),
       st.sampled_from(["seg", "node", "service", "arg", "domain", "rate", "loss"]),
       st.sampled_from(CONTROL), st.sampled_from(["start", "end", "middle"]))
def test_control_characters_anywhere_are_refused_at_their_line(seg, node, where, char, pos):
    def spoil(s: str) -> str:
        return {"start": char + s, "end": s + char, "middle": s[:1] + char + s[1:]}[pos]

    parts = {"seg": seg, "node": node, "extra": "", "top": ""}
    if where == "seg":
        text = NAMED.format(**{**parts, "seg": _quoted(spoil(seg))})
    elif where == "node":
        text = NAMED.format(**{**parts, "node": _quoted(spoil(node))})
    elif where == "service":
        text = NAMED.format(**{**parts, "extra": f", services: [{_quoted(spoil('echo-udp'))}]"})
    elif where == "arg":
        text = NAMED.format(**{**parts, "extra": f", services: [{{name: echo-udp, args: [{_quoted(spoil('7'))}]}}]"})
    elif where == "domain":
        text = NAMED.format(**{**parts, "top": f"domain: {_quoted(spoil('lab.test'))}\n"})
    else:
        value = {"rate": "10mbit", "loss": "1%"}[where]
        text = NAMED.format(**parts).replace("10.0.0.0/24}", f"10.0.0.0/24, {where}: {_quoted(spoil(value))}}}")
    with pytest.raises(LabFileError) as info:
        loads(text, "lab.yaml")
    assert info.value.line is not None and "\n" not in str(info.value)


@FAST
@given(st.integers(2, 12), st.integers(2, 9), st.booleans())
def test_alias_bombs_of_any_shape_are_refused_quickly(width, depth, in_nodes):
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    body = "\n".join(lines) + "\n"
    if in_nodes:  # the bomb where the loader looks, not in an unknown key
        body = "x-bomb:\n" + "".join("  " + line + "\n" for line in lines)
    text = body + "segments:\n  lan: {subnet: 10.0.0.0/24}\nnodes:\n  a: {interfaces: [lan]}\n"
    if width ** depth > 100_000:
        with pytest.raises(LabFileError, match="aliases here expand|nests more than"):
            loads(text, "lab.yaml")
    else:
        loads_or_located_error(text)


@FAST
@given(st.recursive(st.sampled_from(["*r", "1", "x"]),
                    lambda inner: st.lists(inner, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
                    max_leaves=6).filter(lambda s: "*r" in s and s.startswith("[")))
def test_recursive_anchors_are_refused(body):
    with pytest.raises(LabFileError, match="a recursive anchor") as info:
        loads(f"segments:\n  lan: {{subnet: 10.0.0.0/24}}\nnodes:\n  a: {{interfaces: [lan]}}\nx: &r {body}\n",
              "lab.yaml")
    assert info.value.line == 5


@FAST
@given(st.binary(min_size=1, max_size=4).filter(lambda b: b"\n" not in b and not _utf8(b)), st.integers(1, 4))
def test_bytes_that_are_not_utf8_are_located(junk, line):
    lines = CAMPUS.split(b"\n")
    lines[line - 1] = lines[line - 1] + junk
    with pytest.raises(LabFileError) as info:
        loads(b"\n".join(lines), "lab.yaml")
    assert info.value.line == line and "is not UTF-8" in info.value.message


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
