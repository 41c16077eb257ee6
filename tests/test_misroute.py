"""Unit tests of the MISROUTE checks' Envoy semantics (istio_doctor/engine/checks/routes/misroute.py).

Sources: envoy api/envoy/config/route/v3/route_components.proto (RouteMatch.prefix is a plain string
prefix; safe_regex must match the entire path); istio/istio#18849 and openmobilityfoundation/mds-core#224
(/policy catching /policy-author); istio/istio#14983 (a JavaScript literal as a uri regex).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from istio_doctor.engine.checks.routes.misroute import _js_intent, _mid_segment, _shadowing
from istio_doctor.evidence.envoy.configdump import parse_config_dump
from istio_doctor.evidence.envoy.model import VirtualHost


def _route(cluster: str, **match: str) -> dict[str, Any]:
    return {"name": cluster, "match": match, "route": {"cluster": cluster}}


def _vhost(*routes: dict[str, Any]) -> VirtualHost:
    """One virtual host parsed from a config dump as the checks read it (route matches are read raw)."""
    rc = {"name": "http.8080", "virtual_hosts": [{"name": "h", "domains": ["*"], "routes": list(routes)}]}
    dump = parse_config_dump(json.dumps({"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
                                                      "dynamic_route_configs": [{"route_config": rc}]}]}))
    return dump.routes[0].virtual_hosts[0]


@pytest.mark.parametrize(("prefix", "path", "mid"), [
    ("/policy", "/policy-author/", True),
    ("/policy", "/policy/1", False),
    ("/policy", "/policy", False),
    ("/policy/", "/policy/x", False),
    ("/notebook/name/test-root", "/notebook/name/test-root1/", True),
])
def test_a_prefix_ending_inside_a_path_segment(prefix: str, path: str, mid: bool) -> None:
    assert _mid_segment(prefix, path) is mid


def test_a_shorter_prefix_before_a_longer_one_to_another_service_is_shadowing() -> None:
    vh = _vhost(_route("details", prefix="/policy"), _route("ratings", prefix="/policy-author"))
    hit = _shadowing(vh, "/policy-author/", "")
    assert hit is not None and hit[0] == 0 and hit[2] == 1
    assert _shadowing(vh, "/policy/1", "") is None  # the /policy route is meant for it


def test_no_shadowing_when_the_later_route_goes_to_the_same_place_or_is_less_specific() -> None:
    same = _vhost(_route("details", prefix="/policy"), _route("details", prefix="/policy-author"))
    assert _shadowing(same, "/policy-author/", "") is None
    catch_all = _vhost(_route("details", prefix="/policy"), _route("ratings", prefix="/"))
    assert _shadowing(catch_all, "/policy-author/", "") is None


@pytest.mark.parametrize(("rx", "path", "meant"), [
    ("/\\/foo\\/bar/gi", "/API/Foo/Bar/x", True),   # istio/istio#14983's pattern, case-insensitive search
    ("/\\/ratings\\//gi", "/api/Ratings/0", True),
    ("/\\/ratings\\//", "/api/other", False),
])
def test_a_javascript_literal_is_read_as_its_author_meant(rx: str, path: str, meant: bool) -> None:
    intent = _js_intent(rx)
    assert intent is not None and bool(intent.search(path)) is meant


@pytest.mark.parametrize("rx", ["/api/.*", "(?i).*/ratings/.*", "/status/200(/.*)?$", "/v1/"])
def test_plain_re2_path_patterns_are_not_javascript_literals(rx: str) -> None:
    assert _js_intent(rx) is None
