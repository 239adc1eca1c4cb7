"""RFC 9111's rules (services/http/freshness.py) and RFC 9110's preconditions (conditional.py), one line
per rule, with fixed times: no sockets, no clock."""

from __future__ import annotations

from services.http.conditional import evaluate
from services.http.freshness import (
    Verdict,
    age,
    cache_control,
    freshen,
    lifetime,
    storable,
    validators,
    variant_key,
    verdict,
)
from services.http.messages import http_date

T = 1_700_000_000.0   # the response's Date and arrival time in these tests
DATE = http_date(T)


def h(**fields: str) -> dict[bytes, bytes]:
    """A header index from keyword arguments: cache_control="max-age=5" -> {b"cache-control": b"max-age=5"}."""
    return {k.replace("_", "-").encode(): v.encode() if isinstance(v, str) else v for k, v in fields.items()}


# --- section 3: what a shared cache may store ---
def test_a_plain_200_is_storable_heuristically():
    assert storable("GET", {}, 200, h(date=DATE))


def test_only_get_is_stored():
    assert not storable("POST", {}, 200, h(cache_control="max-age=60"))


def test_no_store_in_the_response_or_the_request_forbids_storing():
    assert not storable("GET", {}, 200, h(cache_control="no-store, max-age=60"))
    assert not storable("GET", h(cache_control="no-store"), 200, h(cache_control="max-age=60"))


def test_private_is_not_for_a_shared_cache_but_is_for_a_private_one():
    assert not storable("GET", {}, 200, h(cache_control="private, max-age=60"))
    assert storable("GET", {}, 200, h(cache_control="private, max-age=60"), shared=False)


def test_authorization_forbids_storing_unless_the_response_says_public_or_s_maxage():
    auth = h(authorization="Basic YTpi")
    assert not storable("GET", auth, 200, h(cache_control="max-age=60"))
    assert storable("GET", auth, 200, h(cache_control="public, max-age=60"))
    assert storable("GET", auth, 200, h(cache_control="s-maxage=60"))
    assert storable("GET", auth, 200, h(cache_control="must-revalidate, max-age=60"))


def test_vary_star_is_never_stored():
    assert not storable("GET", {}, 200, h(cache_control="max-age=60", vary="*"))


def test_a_302_needs_explicit_freshness_and_a_206_is_not_stored():
    assert not storable("GET", {}, 302, h(date=DATE))
    assert storable("GET", {}, 302, h(cache_control="max-age=60"))
    assert not storable("GET", {}, 206, h(cache_control="max-age=60"))


def test_a_404_is_heuristically_cacheable_a_500_is_not():
    assert storable("GET", {}, 404, h(date=DATE))
    assert not storable("GET", {}, 500, h(date=DATE))


# --- 4.2.1 and 4.2.2: freshness lifetime ---
def test_s_maxage_wins_over_max_age_for_a_shared_cache():
    assert lifetime(h(cache_control="max-age=10, s-maxage=30")) == 30
    assert lifetime(h(cache_control="max-age=10, s-maxage=30"), shared=False) == 10


def test_max_age_wins_over_expires():
    assert lifetime(h(cache_control="max-age=10", date=DATE, expires=http_date(T + 100))) == 10


def test_expires_minus_date():
    assert lifetime(h(date=DATE, expires=http_date(T + 100))) == 100


def test_an_invalid_expires_means_already_stale():
    assert lifetime(h(date=DATE, expires="0")) == 0


def test_an_invalid_max_age_means_stale():
    assert lifetime(h(cache_control="max-age=soon")) == 0


def test_heuristic_is_a_tenth_of_the_time_since_last_modified():
    assert lifetime(h(date=DATE, last_modified=http_date(T - 1000))) == 100


def test_heuristic_is_capped_at_a_day():
    assert lifetime(h(date=DATE, last_modified=http_date(T - 10_000_000))) == 86400


def test_no_heuristic_for_a_status_not_cacheable_by_default():
    assert lifetime(h(date=DATE, last_modified=http_date(T - 1000)), status=500) == 0


# --- 4.2.3: age ---
def test_age_is_resident_time_for_a_response_that_came_at_once():
    assert age(h(date=DATE), T, T, T + 7) == 7


def test_age_counts_the_age_field_and_the_response_delay():
    assert age(h(date=DATE, age="10"), T - 2, T, T + 1) == 10 + 2 + 1


def test_age_counts_a_date_in_the_past_as_apparent_age():
    assert age(h(date=http_date(T - 30)), T, T, T) == 30


# --- 4.2 and 5.2.1: fresh or stale, request directives ---
def test_fresh_within_max_age_stale_after():
    resp = h(date=DATE, cache_control="max-age=2")
    assert verdict({}, resp, T, T, T + 1.9) is Verdict.FRESH
    assert verdict({}, resp, T, T, T + 2.1) is Verdict.STALE


def test_no_cache_in_the_response_always_validates():
    assert verdict({}, h(date=DATE, cache_control="no-cache, max-age=60"), T, T, T) is Verdict.STALE


def test_no_cache_in_the_request_validates():
    assert verdict(h(cache_control="no-cache"), h(date=DATE, cache_control="max-age=60"), T, T, T) is Verdict.STALE


def test_pragma_no_cache_counts_when_there_is_no_cache_control():
    assert verdict(h(pragma="no-cache"), h(date=DATE, cache_control="max-age=60"), T, T, T) is Verdict.STALE


def test_request_max_age_limits_the_age_accepted():
    resp = h(date=DATE, cache_control="max-age=60")
    assert verdict(h(cache_control="max-age=5"), resp, T, T, T + 10) is Verdict.STALE
    assert verdict(h(cache_control="max-age=5"), resp, T, T, T + 3) is Verdict.FRESH


def test_min_fresh_wants_that_much_freshness_left():
    assert verdict(h(cache_control="min-fresh=30"), h(date=DATE, cache_control="max-age=60"), T, T, T + 40) \
        is Verdict.STALE


def test_max_stale_accepts_a_stale_response_unless_must_revalidate():
    assert verdict(h(cache_control="max-stale=10"), h(date=DATE, cache_control="max-age=2"), T, T, T + 5) \
        is Verdict.FRESH
    assert verdict(h(cache_control="max-stale=1"), h(date=DATE, cache_control="max-age=2"), T, T, T + 5) \
        is Verdict.STALE
    assert verdict(h(cache_control="max-stale"), h(date=DATE, cache_control="max-age=2, must-revalidate"),
                   T, T, T + 5) is Verdict.STALE


# --- 4.3: validation ---
def test_validators_are_the_etag_and_last_modified():
    assert validators(h(etag='"x"', last_modified=DATE.decode())) == [(b"If-None-Match", b'"x"'),
                                                                       (b"If-Modified-Since", DATE)]


def test_a_304_replaces_fields_but_not_content_length():
    stored = [(b"Date", b"old"), (b"Content-Length", b"5"), (b"ETag", b'"a"')]
    assert freshen(stored, [(b"Date", b"new"), (b"Content-Length", b"0"), (b"Connection", b"close")]) == \
        [(b"Content-Length", b"5"), (b"ETag", b'"a"'), (b"Date", b"new")]


def test_vary_makes_a_variant_key_of_the_request_fields():
    assert variant_key(b"Accept-Encoding", h(accept_encoding="gzip")) == (b"accept-encoding=gzip",)
    assert variant_key(b"Accept-Encoding", h(accept_encoding="gzip")) != variant_key(b"Accept-Encoding", {})


def test_cache_control_parses_quoted_arguments_and_case():
    assert cache_control(b'Max-Age=5, private="set-cookie", no-cache') == {"max-age": "5", "private": "set-cookie",
                                                                          "no-cache": None}


# --- RFC 9110 13: preconditions ---
def test_if_none_match_with_the_same_etag_gives_304():
    assert evaluate("GET", h(if_none_match='"a"'), h(etag='"a"')) == 304


def test_if_none_match_compares_weakly():
    assert evaluate("GET", h(if_none_match='W/"a"'), h(etag='"a"')) == 304


def test_if_none_match_wins_over_if_modified_since():
    assert evaluate("GET", h(if_none_match='"b"', if_modified_since=DATE.decode()),
                    h(etag='"a"', last_modified=DATE.decode())) is None


def test_if_modified_since_not_modified_gives_304_and_modified_goes_on():
    assert evaluate("GET", h(if_modified_since=DATE.decode()), h(last_modified=DATE.decode())) == 304
    assert evaluate("GET", h(if_modified_since=http_date(T - 1).decode()), h(last_modified=DATE.decode())) is None


def test_if_match_failing_gives_412():
    assert evaluate("PUT", h(if_match='"b"'), h(etag='"a"')) == 412


def test_if_none_match_on_an_unsafe_method_gives_412():
    assert evaluate("PUT", h(if_none_match="*"), h(etag='"a"')) == 412


def test_a_max_age_in_non_ascii_digits_means_stale_not_a_crash():
    assert lifetime(h(cache_control="max-age=\xb2".encode("latin-1"))) == 0  # (Latin-1 ², as a header may carry)
    assert verdict(h(cache_control="max-stale=\xb2".encode("latin-1")), h(date=DATE, cache_control="max-age=2"),
                   T, T, T + 5) is not Verdict.FRESH
