"""Bencoding: BEP 3's examples, the strict decoder's refusals, and fuzzing."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bittorrent.bencode import BencodeError, decode, decode_prefix, encode


@pytest.mark.parametrize("text, value", [
    (b"4:spam", b"spam"),
    (b"0:", b""),
    (b"i3e", 3),
    (b"i-3e", -3),
    (b"i0e", 0),
    (b"l4:spam4:eggse", [b"spam", b"eggs"]),
    (b"d3:cow3:moo4:spam4:eggse", {b"cow": b"moo", b"spam": b"eggs"}),
    (b"d4:spaml1:a1:bee", {b"spam": [b"a", b"b"]}),
    (b"le", []),
    (b"de", {}),
])
def test_bep3_examples_both_ways(text, value):
    assert decode(text) == value
    assert encode(value) == text


def test_encoder_sorts_keys_and_takes_str():
    assert encode({"b": 1, "a": "x"}) == b"d1:a1:x1:bi1ee"


@pytest.mark.parametrize("bad, why", [
    (b"i03e", "not canonical"),
    (b"i-0e", "not canonical"),
    (b"ie", "bad integer"),
    (b"i1.5e", "bad integer"),
    (b"03:abc", "leading zero"),
    (b"d1:b0:1:a0:e", "unsorted"),
    (b"d1:a0:1:a0:e", "duplicate"),
    (b"di1e0:e", "not a string"),
    (b"4:abc", "runs past the end"),
    (b"l4:spam", "not closed"),
    (b"i1ei2e", "trailing data"),
    (b"x", "unexpected byte"),
    (b"", "truncated"),
])
def test_strict_decoder_refuses(bad, why):
    with pytest.raises(BencodeError, match=why):
        decode(bad)


def test_depth_is_bounded():
    with pytest.raises(BencodeError, match="deeper"):
        decode(b"l" * 100 + b"e" * 100)
    assert decode(b"l" * 10 + b"e" * 10, max_depth=10) == [[[[[[[[[[]]]]]]]]]]


def test_huge_length_is_refused_without_allocating():
    with pytest.raises(BencodeError, match="runs past the end"):
        decode(b"4294967296:abc")


def test_prefix_gives_the_span():
    assert decode_prefix(b"xi42ey", 1) == (42, 5)


values = st.recursive(
    st.integers(-(2**63), 2**63) | st.binary(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.binary(max_size=8), kids, max_size=4),
    max_leaves=20)


@given(values)
def test_round_trip(v):
    assert decode(encode(v)) == v


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_fuzz_garbage_never_crashes(data):
    try:
        v = decode(data)
    except BencodeError:
        return
    assert encode(v) == data  # whatever is accepted is canonical


@given(values, st.integers(min_value=0, max_value=60), st.binary(min_size=1, max_size=3))
def test_fuzz_mutations(v, at, junk):
    data = encode(v)
    at = min(at, len(data))
    mutated = data[:at] + junk + data[at + 1:]
    try:
        decode(mutated)
    except BencodeError:
        pass


def test_integers_longer_than_32_digits_are_refused():
    with pytest.raises(BencodeError, match="too long"):
        decode(b"i" + b"9" * 40 + b"e")
