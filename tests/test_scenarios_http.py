"""The Web's scenarios fail when the behaviour they show is broken on purpose: a proxy that stores
nothing, an origin that closes every connection after one reply, an origin without its cookie page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from scenario_runs import copy_of, failed, run_scenario

from topology.loader import LABS_DIR

pytestmark = pytest.mark.lab
ORIGIN_YAML = LABS_DIR / "campus.d" / "http" / "origin.yaml"


def with_args(node: str, service: str, extra: list[str] | None = None, replace: dict | None = None):
    """An edit of the campus file: more (or replaced) arguments for one service of one node."""
    def edit(data: dict) -> None:
        for svc in data["nodes"][node]["services"]:
            if svc["name"] == service:
                svc["args"] = [(replace or {}).get(a, a) for a in svc["args"]] + (extra or [])
                return
        raise AssertionError(f"{node} runs no {service}")
    return edit


def test_web_cache_fails_when_the_proxy_stores_nothing(tmp_path):
    lab = copy_of("campus", "sc-http-cache", with_args("proxy", "http-proxy", ["--cache-mb", "0"]))
    why = failed(run_scenario("web-cache", tmp_path, lab=lab))
    assert set(why) == {
        "the second GET is answered by the proxy, from its cache (Age)",
        "a hit: not one packet between the proxy and gaia",
        "after it expired, the proxy sends a conditional GET (If-Modified-Since); gaia answers 304 Not "
        "Modified, with no body",
        "client1 gets the object from the cache",
    }, why
    assert why["a hit: not one packet between the proxy and gaia"].startswith("expected no unicast between proxy")


def test_http_persistence_fails_when_the_origin_closes_after_each_reply(tmp_path):
    lab = copy_of("campus", "sc-http-persist", with_args("gaia", "http-origin", ["--max-requests", "1"]))
    why = failed(run_scenario("http-persistence", tmp_path, lab=lab))
    assert set(why) == {
        "HTTP/1.1 persistent: one TCP connection for the page and all its objects",
        "persistent: each request goes out when the previous response is in (1 RTT per object)",
        "on that one connection: the base page, then the ten objects it references, in the page's order",
    }, why
    assert "saw 11" in why["HTTP/1.1 persistent: one TCP connection for the page and all its objects"]


def test_http_cookies_fails_when_the_origin_keeps_no_state(tmp_path: Path):
    """/visits becomes a plain file: the same page for everyone, no cookie set, nothing counted."""
    root = tmp_path / "gaia"
    shutil.copytree(ORIGIN_YAML.parent / "gaia.cs.umass.edu", root)
    (root / "visits").write_text("<p>Welcome, new visitor: this is your first visit.</p>\n")
    config = tmp_path / "origin-without-state.yaml"
    config.write_text(ORIGIN_YAML.read_text().replace("root: gaia.cs.umass.edu", f"root: {root}")
                      .replace("cookie_page: /visits", "cookie_page: /no-such-page"))
    lab = copy_of("campus", "sc-http-cookie",
                  with_args("gaia", "http-origin", replace={"{lab_dir}/campus.d/http/origin.yaml": str(config)}))
    why = failed(run_scenario("http-cookies", tmp_path, lab=lab))
    assert set(why) == {
        "the first request carries no cookie; the response sets one (Set-Cookie)",
        "every later request carries the cookie back (Cookie)",
        "the server's answer depends on the cookie: the second visit",
        "and the third",
    }, why
    assert why["every later request carries the cookie back (Cookie)"] == "no response set a cookie (no Set-Cookie field)"
