"""HTTP routing in Envoy's HTTP connection manager: virtual host, route, route action.

Sources:

* virtual host selection: envoyproxy/envoy ``source/common/router/config_impl.cc``
  ``RouteMatcher::findVirtualHost``: the Host header (port removed first when the route
  configuration sets ``ignore_port_in_host_matching``, via ``HeaderUtility::getPortStart``,
  which leaves a bracketed IPv6 literal alone), lower-cased; then an exact domain, then the
  longest ``*suffix`` wildcard, then the longest ``prefix*`` wildcard, then ``*``. A wildcard
  must cover at least one character (``*.foo.com`` does not match ``.foo.com``). Domains are
  lower-cased when the configuration is loaded. Without ``ignore_port_in_host_matching`` the
  port is part of the host to match: ``reviews:9080`` only matches a ``reviews:9080`` domain
  (or a wildcard covering it). Istio sets the flag on gateways from 1.15 and on sidecars from
  1.15 behind ``SIDECAR_IGNORE_PORT_IN_HOST_MATCH`` (default on from 1.16); before that it
  generated both ``host`` and ``host:port`` domains (istio/istio@1.15.0
  ``pilot/pkg/networking/core/v1alpha3/httproute.go`` ``SidecarIgnorePort``/``GatewayIgnorePort``,
  commit 2e7d1d0322f "Ignore port number in domain matching entirely").
* HCM ``strip_any_host_port`` / ``strip_matching_host_port``: envoy
  ``HeaderUtility::stripPortFromHost`` (the latter only when the port equals the listener's).
* route matching: first route whose match holds, in order (envoy ``VirtualHostImpl::
  getRouteFromEntries``). Path matchers see the path without query and fragment; ``prefix``
  and ``path`` honour ``case_sensitive`` (default true); ``safe_regex`` is a full match;
  ``path_separated_prefix`` matches the prefix exactly or followed by ``/``. Headers: every
  ``HeaderMatcher`` must hold (envoy ``source/common/http/header_utility.cc`` ``matchHeaders``:
  a missing header never matches unless the matcher is ``present_match: false``, or inverted
  ``present_match: true``; ``invert_match`` flips the result). Query parameters likewise.
* path normalisation before routing when the HCM sets ``normalize_path`` (RFC 3986 dot
  segments) and ``merge_slashes``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from istio_doctor.engine.trace.index import field
from istio_doctor.evidence.envoy.model import Route, RouteConfig, VirtualHost


def port_start(host: str) -> int:
    """``HeaderUtility::getPortStart``: index of the ``:`` before a port, or -1 (IPv6 literals)."""
    i = host.rfind(":")
    if i == -1:
        return -1
    v6_end = host.rfind("]")
    if v6_end == -1 or v6_end < i:
        return i
    return -1


def host_for_matching(authority: str, rc: RouteConfig) -> tuple[str, bool]:
    """The host Envoy matches domains against, and whether a port was removed."""
    ignore = bool(field(rc.raw, "ignore_port_in_host_matching"))
    host = authority
    stripped = False
    if ignore:
        i = port_start(host)
        if i != -1:
            host, stripped = host[:i], True
    return host.lower(), stripped


@dataclass
class VhostChoice:
    vhost: VirtualHost | None
    how: str  # exact / suffix / prefix / default / none
    domain: str | None
    host: str
    port_ignored: bool


def find_virtual_host(rc: RouteConfig, authority: str) -> VhostChoice:
    host, stripped = host_for_matching(authority, rc)
    default: VirtualHost | None = None
    exact: tuple[VirtualHost, str] | None = None
    suffix: tuple[int, VirtualHost, str] | None = None
    prefix: tuple[int, VirtualHost, str] | None = None
    for vh in rc.virtual_hosts:
        for d in vh.domains:
            dl = d.lower()
            if dl == "*":
                default = default or vh
            elif dl.startswith("*"):
                n = len(dl) - 1
                if n < len(host) and host.endswith(dl[1:]) and (suffix is None or n > suffix[0]):
                    suffix = (n, vh, d)
            elif dl.endswith("*"):
                n = len(dl) - 1
                if n < len(host) and host.startswith(dl[:-1]) and (prefix is None or n > prefix[0]):
                    prefix = (n, vh, d)
            elif dl == host and exact is None:
                exact = (vh, d)
    if exact is not None:
        return VhostChoice(exact[0], "exact", exact[1], host, stripped)
    if suffix is not None:
        return VhostChoice(suffix[1], "suffix wildcard", suffix[2], host, stripped)
    if prefix is not None:
        return VhostChoice(prefix[1], "prefix wildcard", prefix[2], host, stripped)
    if default is not None:
        return VhostChoice(default, "catch-all", "*", host, stripped)
    return VhostChoice(None, "none", None, host, stripped)


# --------------------------------------------------------------------------------------
# path normalisation
# --------------------------------------------------------------------------------------


def split_path(path: str) -> tuple[str, str]:
    """(path, query) without the fragment."""
    p = path.split("#", 1)[0]
    base, _, query = p.partition("?")
    return base or "/", query


def normalize(path: str, hcm: dict[str, Any]) -> str:
    out = path
    if _bool(field(hcm, "normalize_path")):
        trailing = out.endswith("/")
        out = posixpath.normpath(out) if out else "/"
        if out.startswith("//"):
            out = "/" + out.lstrip("/")
        if trailing and out != "/":
            out += "/"
    if _bool(field(hcm, "merge_slashes")):
        out = re.sub(r"/{2,}", "/", out)
    return out


def _bool(v: Any) -> bool:
    if isinstance(v, dict):
        v = v.get("value")
    return bool(v)


# --------------------------------------------------------------------------------------
# route matching
# --------------------------------------------------------------------------------------


def _string_match(sm: dict[str, Any], value: str) -> bool | None:
    """``envoy.type.matcher.v3.StringMatcher``; None when its kind is unknown."""
    ic = bool(field(sm, "ignore_case"))
    v = value.lower() if ic else value

    def c(x: str) -> str:
        return x.lower() if ic else x

    if "exact" in sm:
        return v == c(sm["exact"])
    if "prefix" in sm:
        return v.startswith(c(sm["prefix"]))
    if "suffix" in sm:
        return v.endswith(c(sm["suffix"]))
    if "contains" in sm:
        return c(sm["contains"]) in v
    sr = field(sm, "safe_regex")
    if sr is not None:
        return _full_regex(sr.get("regex", ""), value)
    return None


def _full_regex(rx: str, value: str) -> bool:
    try:
        return re.fullmatch(rx, value) is not None
    except re.error:
        return False


def header_matches(hm: dict[str, Any], headers: dict[str, str]) -> bool | None:
    """One ``HeaderMatcher`` against the request headers (names lower-case); None = unknown kind."""
    name = hm.get("name", "").lower()
    invert = bool(field(hm, "invert_match"))
    value = headers.get(name)
    if value is None and field(hm, "treat_missing_header_as_empty"):
        value = ""
    present = field(hm, "present_match")
    if value is None:
        if invert:
            return present is True
        return present is False
    match: bool | None
    if "exact_match" in hm or "exactMatch" in hm:
        ev = field(hm, "exact_match")
        match = ev == "" or value == ev
    elif field(hm, "safe_regex_match") is not None:
        match = _full_regex(field(hm, "safe_regex_match").get("regex", ""), value)
    elif field(hm, "prefix_match") is not None:
        match = value.startswith(field(hm, "prefix_match"))
    elif field(hm, "suffix_match") is not None:
        match = value.endswith(field(hm, "suffix_match"))
    elif field(hm, "contains_match") is not None:
        match = field(hm, "contains_match") in value
    elif field(hm, "string_match") is not None:
        match = _string_match(field(hm, "string_match"), value)
    elif field(hm, "range_match") is not None:
        r = field(hm, "range_match")
        try:
            iv = int(value)
            match = int(r.get("start", 0)) <= iv < int(r.get("end", 0))
        except ValueError:
            match = False
    elif present is not None:
        match = bool(present)
    else:
        match = True  # no specifier: presence
    if match is None:
        return None
    return match != invert


def query_matches(qm: dict[str, Any], params: dict[str, str]) -> bool | None:
    name = qm.get("name", "")
    value = params.get(name)
    if field(qm, "present_match"):
        return value is not None
    if value is None:
        return False
    sm = field(qm, "string_match")
    if sm is not None:
        return _string_match(sm, value)
    return True


@dataclass
class RouteChoice:
    route: Route | None
    index: int
    why: str
    unsure: list[str]


def _path_ok(m: dict[str, Any], path: str) -> tuple[bool, str]:
    cs = field(m, "case_sensitive")
    if isinstance(cs, dict):
        cs = cs.get("value")
    ci = cs is False
    p = path.lower() if ci else path

    def c(x: str) -> str:
        return x.lower() if ci else x

    if "prefix" in m:
        return p.startswith(c(m["prefix"])), f"prefix {m['prefix']!r}" + (" (case-insensitive)" if ci else "")
    if "path" in m:
        return p == c(m["path"]), f"path {m['path']!r}" + (" (case-insensitive)" if ci else "")
    psp = field(m, "path_separated_prefix")
    if psp is not None:
        pre = c(psp)
        return p == pre or p.startswith(pre + "/"), f"path_separated_prefix {psp!r}"
    sr = field(m, "safe_regex")
    if sr is not None:
        return _full_regex(sr.get("regex", ""), path), f"safe_regex {sr.get('regex', '')!r}"
    if "regex" in m:
        return _full_regex(m["regex"], path), f"regex {m['regex']!r}"
    if field(m, "connect_matcher") is not None:
        return False, "connect_matcher (CONNECT only)"
    if field(m, "path_match_policy") is not None:
        return False, "path_match_policy (uri template: not evaluated)"
    return False, "no path specifier"


def match_route(vh: VirtualHost, path_no_query: str, query: str, headers: dict[str, str]) -> RouteChoice:
    params = dict(parse_qsl(query, keep_blank_values=True))
    unsure: list[str] = []
    for i, r in enumerate(vh.routes):
        m = r.raw.get("match") or {}
        ok, what = _path_ok(m, path_no_query)
        if not ok:
            continue
        failed = False
        for hm in m.get("headers") or ():
            res = header_matches(hm, headers)
            if res is None:
                unsure.append(f"route {r.name or i}: header matcher {hm} not evaluated")
                failed = True
                break
            if not res:
                failed = True
                break
        if failed:
            continue
        for qm in field(m, "query_parameters") or ():
            res = query_matches(qm, params)
            if not res:
                failed = True
                break
        if failed:
            continue
        if field(m, "grpc") is not None and not headers.get("content-type", "").startswith("application/grpc"):
            continue
        if field(m, "runtime_fraction") is not None:
            unsure.append(f"route {r.name or i}: runtime_fraction decides per request")
        extra = f" + {len(m.get('headers') or ())} header matcher(s)" if m.get("headers") else ""
        return RouteChoice(r, i, f"first route whose match holds: {what}{extra}", unsure)
    return RouteChoice(None, -1, f"none of the {len(vh.routes)} route(s) matches", unsure)


def route_excerpt(r: Route) -> dict[str, Any]:
    raw = r.raw
    out: dict[str, Any] = {}
    for k in ("name", "match", "route", "redirect", "direct_response", "directResponse"):
        if k in raw:
            out[k] = raw[k]
    act = out.get("route")
    if isinstance(act, dict):
        # keep the deciding part of the action; retry predicates and hash policies are long
        out["route"] = {k: v for k, v in act.items() if k in ("cluster", "weighted_clusters", "weightedClusters", "cluster_header",
                                                             "timeout", "retry_policy", "retryPolicy", "prefix_rewrite",
                                                             "host_rewrite_literal", "max_stream_duration")}
        rp = out["route"].get("retry_policy") or out["route"].get("retryPolicy")
        if isinstance(rp, dict):
            out["route"]["retry_policy"] = {k: v for k, v in rp.items() if k in ("retry_on", "retryOn", "num_retries", "numRetries",
                                                                               "per_try_timeout", "perTryTimeout")}
            out["route"].pop("retryPolicy", None)
    return out
