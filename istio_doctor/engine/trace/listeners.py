"""Which listener and which filter chain Envoy gives a connection.

Sources (behaviour encoded here, read at the versions cited):

* iptables capture: istio/istio@1.22.0 ``tools/istio-iptables/pkg/capture/run.go``: outbound
  TCP is redirected to 15001 except ``excludeOutboundPorts``, loopback destinations
  (``127.0.0.1/32``, ``::1``), ``excludeOutboundIPRanges`` and what ``includeOutboundIPRanges``
  leaves out; inbound TCP is redirected to 15006 (15001 before Istio 1.3, when no 15006
  listener exists) except ``excludeInboundPorts``.
* hand-off: a listener with ``use_original_dst`` passes the connection to the listener that
  owns the original destination: envoyproxy/envoy ``source/common/listener_manager/
  connection_handler_impl.cc`` ``getBalancedHandlerByAddress`` (exact ``ip:port``, then the
  any-address listener on the same port; else the receiving listener keeps it). Listeners
  with ``bind_to_port: false`` (Istio's per-service outbound listeners) are only reachable so.
* listener filters: ``tls_inspector`` sets transport ``tls``, SNI and ALPN from the
  ClientHello; ``http_inspector`` sets ALPN ``http/1.1``/``h2c`` on plaintext; without a
  TLS inspector the transport is ``raw_buffer`` (envoy ``active_tcp_socket.cc``);
  ``filter_disabled`` predicates switch a filter off per destination port.
* filter chains: envoy ``source/common/listener_manager/filter_chain_manager_impl.cc``
  ``findFilterChain``: destination port, destination IP (longest prefix), server name (exact,
  then ``*.suffix`` from the most specific), transport protocol, application protocols (the
  connection's ALPN in order), direct source IP, source type, source IP, source port. Each
  level picks the most specific branch and never backtracks: when a more specific branch
  fails deeper down, the result is the listener's ``default_filter_chain`` (or none:
  ``filter_chain_not_found``), not a less specific branch. Documented at
  https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/listener/v3/listener_components.proto#config-listener-v3-filterchainmatch
* ``filter_chain_matcher`` (the unified matcher tree; Istio emits it for waypoints since 1.18):
  ``findFilterChainUsingMatcher`` evaluates the tree; its action names the chain.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field as dc_field
from typing import Any

from istio_doctor.engine.trace.index import DumpIndex, field
from istio_doctor.evidence.envoy.model import FilterChain, Listener

TLS_INSPECTORS = frozenset({"envoy.filters.listener.tls_inspector", "envoy.listener.tls_inspector"})
HTTP_INSPECTORS = frozenset({"envoy.filters.listener.http_inspector", "envoy.listener.http_inspector"})
ORIGINAL_DST = frozenset({"envoy.filters.listener.original_dst", "envoy.listener.original_dst"})

OUTBOUND_CAPTURE_PORT = 15001
INBOUND_CAPTURE_PORT = 15006


def excerpt(obj: Any) -> str:
    """Verbatim JSON of a config fragment (the keys as the dump spells them)."""
    return json.dumps(obj, separators=(", ", ": "), default=str)


def listener_excerpt(lst: Listener) -> str:
    raw = lst.raw
    keep = {k: raw[k] for k in ("name", "address", "additional_addresses", "additionalAddresses", "use_original_dst",
                                 "useOriginalDst", "bind_to_port", "bindToPort", "deprecated_v1", "deprecatedV1",
                                 "traffic_direction", "trafficDirection") if k in raw}
    return excerpt(keep)


def unusable_certificates(fc: FilterChain, secrets: Iterable[Any]) -> list[tuple[str, str]]:
    """The chain's SDS server certificates no handshake can succeed with, and why: WARMING (never
    delivered by the SDS server) or not valid (expired or not yet valid: istioctl's VALID CERT).

    Envoy: "If Envoy fails to fetch the certificates due to connection failures, or bad response
    data, the listener will be marked as active, and the port will be open, but the connection to
    the port will be reset" (envoy docs, configuration/security/secret, "SDS Configuration"). A
    gateway whose credentialName Secret istiod cannot serve shows it in ``dynamic_warming_secrets``
    (istio/istio#50070: ``istioctl proxy-config secret`` says WARMING). An expired certificate is
    refused by the peer's validation (CERTIFICATE_VERIFY_FAILED, "certificate has expired").
    Only explicit evidence decides: a dump without the secrets section says nothing.
    """
    if not fc.has_tls:
        return []
    tls = field(fc.raw, "transport_socket") or {}
    ctx = field(field(tls, "typed_config") or {}, "common_tls_context") or {}
    names = [c.get("name", "") for c in field(ctx, "tls_certificate_sds_secret_configs") or () if isinstance(c, dict)]
    out: list[tuple[str, str]] = []
    for s in secrets:
        if s.name not in names or (s.name, "") in out:
            continue
        if getattr(s, "status", "") == "WARMING":
            out.append((s.name, "WARMING: the SDS server never delivered it"))
        elif getattr(s, "type", "") == "Cert Chain" and getattr(s, "valid", None) is False:
            out.append((s.name, f"not valid (NOT AFTER {s.not_after:%Y-%m-%dT%H:%M:%SZ})" if s.not_after else "not valid"))
    return out


def chain_excerpt(fc: FilterChain) -> str:
    raw = fc.raw
    keep: dict[str, Any] = {}
    if fc.name:
        keep["name"] = fc.name
    keep["filter_chain_match"] = field(raw, "filter_chain_match") or {}
    keep["filters"] = fc.filters
    if fc.has_tls:
        keep["transport_socket"] = "DownstreamTlsContext" + (" (require_client_certificate)" if fc.requires_client_cert else "")
    if fc.is_default:
        keep["default_filter_chain"] = True
    return excerpt(keep)


# --------------------------------------------------------------------------------------
# capture (iptables)
# --------------------------------------------------------------------------------------


def _csv(v: Any) -> list[str]:
    return [p.strip() for p in str(v or "").split(",") if p.strip()]


def _in_ranges(ip: str, ranges: Iterable[str]) -> bool:
    addr = ipaddress.ip_address(ip)
    for r in ranges:
        if r == "*":
            return True
        try:
            if addr in ipaddress.ip_network(r, strict=False):
                return True
        except ValueError:
            continue
    return False


def capture_exclusion(annotations: dict[str, Any], direction: str, ip: str, port: int) -> str | None:
    """Why iptables would NOT redirect this connection to Envoy, or None when it does."""
    pfx = "traffic.sidecar.istio.io/"
    if direction == "outbound":
        addr = ipaddress.ip_address(ip)
        if addr.is_loopback:
            return f"{ip} is a loopback address: istio-iptables returns loopback destinations before the redirect"
        if str(port) in _csv(annotations.get(pfx + "excludeOutboundPorts")):
            return f"port {port} is in {pfx}excludeOutboundPorts={annotations.get(pfx + 'excludeOutboundPorts')!r}"
        exc = _csv(annotations.get(pfx + "excludeOutboundIPRanges"))
        if exc and _in_ranges(ip, exc):
            return f"{ip} is in {pfx}excludeOutboundIPRanges={annotations.get(pfx + 'excludeOutboundIPRanges')!r}"
        inc = annotations.get(pfx + "includeOutboundIPRanges")
        if inc is not None and str(inc).strip() != "*" and not _in_ranges(ip, _csv(inc)):
            return f"{ip} is outside {pfx}includeOutboundIPRanges={inc!r}"
        return None
    if str(port) in _csv(annotations.get(pfx + "excludeInboundPorts")):
        return f"port {port} is in {pfx}excludeInboundPorts={annotations.get(pfx + 'excludeInboundPorts')!r}"
    inc = annotations.get(pfx + "includeInboundPorts")
    if inc is not None and str(inc).strip() != "*" and str(port) not in _csv(inc):
        return f"port {port} is not in {pfx}includeInboundPorts={inc!r}"
    return None


# --------------------------------------------------------------------------------------
# listener filters
# --------------------------------------------------------------------------------------


def _predicate(pred: dict[str, Any], port: int) -> bool:
    """``ListenerFilterChainMatchPredicate``: True when the filter is DISABLED for this port."""
    if field(pred, "any_match"):
        return True
    r = field(pred, "destination_port_range")
    if r is not None:
        start = int(r.get("start", 0) or 0)
        end = int(r.get("end", 0) or 0)
        return start <= port < end
    om = field(pred, "or_match")
    if om is not None:
        return any(_predicate(x, port) for x in om.get("rules") or ())
    am = field(pred, "and_match")
    if am is not None:
        return all(_predicate(x, port) for x in am.get("rules") or ())
    nm = field(pred, "not_match")
    if nm is not None:
        return not _predicate(nm, port)
    return False


@dataclass
class Detected:
    """What the listener filters learn about a connection."""

    transport: str = "raw_buffer"
    sni: str = ""
    alpn: list[str] = dc_field(default_factory=list)
    notes: list[str] = dc_field(default_factory=list)
    restores_destination: bool = False


def run_listener_filters(lst: Listener, port: int, *, tls: bool, sni: str | None, alpn: list[str], protocol: str) -> Detected:
    det = Detected()
    names: list[str] = []
    for lf in field(lst.raw, "listener_filters") or ():
        name = lf.get("name", "")
        disabled = field(lf, "filter_disabled")
        if disabled and _predicate(disabled, port):
            det.notes.append(f"{name} is disabled for port {port} (filter_disabled)")
            continue
        names.append(name)
    if any(n in ORIGINAL_DST for n in names) or uses_original_dst(lst):
        det.restores_destination = True
    if any(n in TLS_INSPECTORS for n in names):
        if tls:
            det.transport = "tls"
            det.sni = (sni or "").lower()
            det.alpn = list(alpn)
            det.notes.append(f"tls_inspector: transport tls, SNI {det.sni or '(none)'}, ALPN {det.alpn or '(none)'}")
        else:
            det.notes.append("tls_inspector: no ClientHello, transport raw_buffer")
    else:
        det.notes.append("no tls_inspector: transport protocol is raw_buffer, SNI and ALPN are not read")
    if det.transport == "raw_buffer" and any(n in HTTP_INSPECTORS for n in names):
        if protocol == "http1":
            det.alpn = ["http/1.1"]
        elif protocol == "http2":
            det.alpn = ["h2c"]
        det.notes.append(f"http_inspector: ALPN {det.alpn or '(not HTTP)'}")
    return det


# --------------------------------------------------------------------------------------
# filter chains: Envoy's tree, most specific branch first, no backtracking
# --------------------------------------------------------------------------------------


@dataclass
class Conn:
    dest_ip: str
    dest_port: int
    sni: str
    transport: str
    alpn: list[str]
    source_ip: str | None
    source_port: int | None


def _ranges(m: dict[str, Any], key: str) -> list[str]:
    out = []
    for p in field(m, key) or ():
        out.append(f"{field(p, 'address_prefix', '')}/{proto_int(field(p, 'prefix_len'))}")
    return out


def proto_int(v: Any) -> int:
    """A protobuf integer as JSON gives it: a number, a string, or a wrapper ``{"value": N}``."""
    if isinstance(v, dict):
        v = v.get("value")
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def _longest_prefix(chains: list[FilterChain], key: str, ip: str | None) -> tuple[list[FilterChain], str]:
    """Chains in the most specific CIDR containing ``ip`` (a chain without ranges is ``/0``)."""
    if ip is None:
        # Unknown address: only the catch-all branch can be assumed.
        return [c for c in chains if not field(c.match, key)], "address unknown: catch-all only"
    addr = ipaddress.ip_address(ip)
    best = -1
    group: list[FilterChain] = []
    for c in chains:
        ranges = _ranges(c.match, key) or [f"{'::' if addr.version == 6 else '0.0.0.0'}/0"]
        for r in ranges:
            try:
                net = ipaddress.ip_network(r, strict=False)
            except ValueError:
                continue
            if net.version != addr.version or addr not in net:
                continue
            if net.prefixlen > best:
                best, group = net.prefixlen, [c]
            elif net.prefixlen == best and c not in group:
                group.append(c)
    return group, (f"/{best}" if best >= 0 else "none")


def _ports(c: FilterChain) -> list[int]:
    out = []
    for p in field(c.match, "source_ports") or ():
        try:
            out.append(int(p))
        except (TypeError, ValueError):
            continue
    return out


def match_filter_chains(chains: list[FilterChain], conn: Conn) -> tuple[FilterChain | None, list[str]]:
    """Envoy's ``findFilterChain`` over ``filter_chains`` (not the default chain)."""
    steps: list[str] = []
    # 1. destination port: a specific port branch, else the port-less branch
    port_branch = [c for c in chains if c.destination_port == conn.dest_port]
    if port_branch:
        steps.append(f"destination_port {conn.dest_port}: {len(port_branch)} chain(s)")
        cands = port_branch
    else:
        cands = [c for c in chains if not c.destination_port]
        steps.append(f"no chain for destination_port {conn.dest_port}: {len(cands)} port-less chain(s)")
    if not cands:
        return None, steps
    # 2. destination IP, longest prefix
    cands, how = _longest_prefix(cands, "prefix_ranges", conn.dest_ip)
    steps.append(f"prefix_ranges for {conn.dest_ip}: {how} ({len(cands)})")
    if not cands:
        return None, steps
    # 3. server names
    sni = conn.sni.lower()
    exact = [c for c in cands if sni and sni in (s.lower() for s in c.server_names)]
    if exact:
        cands = exact
        steps.append(f"server_names exact {sni}")
    else:
        found: list[FilterChain] = []
        pos = sni.find(".", 1)
        while pos != -1 and pos < len(sni) - 1:
            wildcard = "*" + sni[pos:]
            found = [c for c in cands if wildcard in (s.lower() for s in c.server_names)]
            if found:
                steps.append(f"server_names {wildcard}")
                break
            pos = sni.find(".", pos + 1)
        if found:
            cands = found
        else:
            cands = [c for c in cands if not c.server_names]
            steps.append(f"server_names: none match {sni or '(no SNI)'}: {len(cands)} chain(s) without server_names")
    if not cands:
        return None, steps
    # 4. transport protocol
    tp = [c for c in cands if c.transport_protocol == conn.transport]
    if tp:
        cands = tp
        steps.append(f"transport_protocol {conn.transport}")
    else:
        cands = [c for c in cands if not c.transport_protocol]
        steps.append(f"no chain for transport_protocol {conn.transport}: {len(cands)} without one")
    if not cands:
        return None, steps
    # 5. application protocols, in the connection's order
    picked = None
    for a in conn.alpn:
        m = [c for c in cands if a in c.application_protocols]
        if m:
            picked = m
            steps.append(f"application_protocols {a}")
            break
    if picked is None:
        cands = [c for c in cands if not c.application_protocols]
        steps.append(f"no chain for ALPN {conn.alpn or '(none)'}: {len(cands)} without application_protocols")
    else:
        cands = picked
    if not cands:
        return None, steps
    # 6. direct source IP, 7. source type, 8. source IP, 9. source port
    if any(field(c.match, "direct_source_prefix_ranges") for c in cands):
        cands, how = _longest_prefix(cands, "direct_source_prefix_ranges", conn.source_ip)
        steps.append(f"direct_source_prefix_ranges: {how}")
    if any(field(c.match, "source_type") not in (None, "ANY") for c in cands):
        local = conn.source_ip is not None and (ipaddress.ip_address(conn.source_ip).is_loopback or conn.source_ip == conn.dest_ip)
        want = "SAME_IP_OR_LOOPBACK" if local else "EXTERNAL"
        typed = [c for c in cands if field(c.match, "source_type") == want]
        cands = typed or [c for c in cands if field(c.match, "source_type") in (None, "ANY")]
        steps.append(f"source_type {want if typed else 'ANY'}")
    if any(field(c.match, "source_prefix_ranges") for c in cands):
        cands, how = _longest_prefix(cands, "source_prefix_ranges", conn.source_ip)
        steps.append(f"source_prefix_ranges: {how}")
    if any(_ports(c) for c in cands):
        sp = [c for c in cands if conn.source_port is not None and conn.source_port in _ports(c)]
        cands = sp or [c for c in cands if not _ports(c)]
        steps.append("source_ports")
    if not cands:
        return None, steps
    if len(cands) > 1:
        # Envoy rejects overlapping matches when the listener is added; a dump that still has
        # them was edited, or this model misses a criterion. Say so instead of guessing silently.
        steps.append(f"{len(cands)} chains remain (Envoy would reject overlapping matches); taking the first")
    return cands[0], steps


# --------------------------------------------------------------------------------------
# filter_chain_matcher (xds matcher tree)
# --------------------------------------------------------------------------------------

_INPUTS = {
    "DestinationIPInput": "dest_ip",
    "DestinationPortInput": "dest_port",
    "SourceIPInput": "source_ip",
    "DirectSourceIPInput": "source_ip",
    "SourcePortInput": "source_port",
    "ServerNameInput": "sni",
    "TransportProtocolInput": "transport",
    "ApplicationProtocolInput": "alpn",
}


class MatcherUnsupported(Exception):
    pass


def _input_value(inp: dict[str, Any], conn: Conn) -> str | None:
    t = (field(inp, "typed_config") or {}).get("@type", "")
    kind = _INPUTS.get(t.rsplit(".", 1)[-1])
    if kind is None:
        raise MatcherUnsupported(f"matcher input {t or inp.get('name')!r}")
    if kind == "alpn":
        # envoy ApplicationProtocolInput: the list rendered as 'a','b'
        return ",".join(f"'{a}'" for a in conn.alpn) if conn.alpn else None
    v = getattr(conn, kind)
    return None if v is None or v == "" else str(v)


def _value_match(vm: dict[str, Any], value: str | None) -> bool:
    if value is None:
        return False
    if "exact" in vm:
        return value == vm["exact"]
    if "prefix" in vm:
        return value.startswith(vm["prefix"])
    if "suffix" in vm:
        return value.endswith(vm["suffix"])
    if "contains" in vm:
        return vm["contains"] in value
    raise MatcherUnsupported(f"value match {sorted(vm)}")


def _predicate_match(p: dict[str, Any], conn: Conn) -> bool:
    sp = field(p, "single_predicate")
    if sp is not None:
        return _value_match(field(sp, "value_match") or {}, _input_value(field(sp, "input") or {}, conn))
    om = field(p, "or_matcher")
    if om is not None:
        return any(_predicate_match(x, conn) for x in om.get("predicate") or ())
    am = field(p, "and_matcher")
    if am is not None:
        return all(_predicate_match(x, conn) for x in am.get("predicate") or ())
    nm = field(p, "not_matcher")
    if nm is not None:
        return not _predicate_match(nm, conn)
    raise MatcherUnsupported("predicate")


def _on_match(om: dict[str, Any] | None, conn: Conn, path: list[str]) -> str | None:
    if not om:
        return None
    act = om.get("action")
    if act is not None:
        tc = field(act, "typed_config") or {}
        return tc.get("value") or act.get("name")
    m = om.get("matcher")
    if m is not None:
        return eval_matcher(m, conn, path)
    return None


def eval_matcher(m: dict[str, Any], conn: Conn, path: list[str]) -> str | None:
    """The filter chain name the matcher tree picks, or None (then the default chain)."""
    tree = field(m, "matcher_tree")
    res: str | None = None
    if tree is not None:
        value = _input_value(field(tree, "input") or {}, conn)
        emm = field(tree, "exact_match_map")
        pmm = field(tree, "prefix_match_map")
        cm = field(tree, "custom_match")
        if emm is not None:
            hit = (emm.get("map") or {}).get(value) if value is not None else None
            path.append(f"exact {value!r}: {'hit' if hit else 'miss'}")
            res = _on_match(hit, conn, path)
        elif pmm is not None:
            best = None
            for k, v in (pmm.get("map") or {}).items():
                if value is not None and value.startswith(k) and (best is None or len(k) > len(best[0])):
                    best = (k, v)
            path.append(f"prefix {value!r}: {best[0] if best else 'miss'}")
            res = _on_match(best[1], conn, path) if best else None
        elif cm is not None:
            tc = field(cm, "typed_config") or {}
            if not tc.get("@type", "").endswith("IPMatcher"):
                raise MatcherUnsupported(f"custom matcher {tc.get('@type')!r}")
            matches = []
            if value is not None:
                addr = ipaddress.ip_address(value)
                for rm in field(tc, "range_matchers") or ():
                    for r in rm.get("ranges") or ():
                        net = ipaddress.ip_network(f"{field(r, 'address_prefix')}/{proto_int(field(r, 'prefix_len'))}", strict=False)
                        if net.version == addr.version and addr in net:
                            matches.append((net.prefixlen, rm))
            matches.sort(key=lambda x: -x[0])
            path.append(f"ip {value}: {len(matches)} range(s)")
            for _len, rm in matches:
                res = _on_match(field(rm, "on_match"), conn, path)
                if res is not None or field(rm, "exclusive"):
                    break
        else:
            raise MatcherUnsupported("matcher tree without a map")
    else:
        ml = field(m, "matcher_list")
        if ml is None:
            raise MatcherUnsupported("matcher")
        for fm in ml.get("matchers") or ():
            if _predicate_match(fm.get("predicate") or {}, conn):
                res = _on_match(field(fm, "on_match"), conn, path)
                break
    if res is None:
        nm = field(m, "on_no_match")
        if nm:
            path.append("on_no_match")
            res = _on_match(nm, conn, path)
    return res


# --------------------------------------------------------------------------------------
# entry listener
# --------------------------------------------------------------------------------------


def entry_listener(idx: DumpIndex, direction: str, dest_ip: str, dest_port: int) -> tuple[Listener | None, str]:
    """The listener that first receives the connection, and why."""
    if direction == "gateway":
        lst, how = idx.find_by_address(dest_ip, dest_port)
        if lst is None:
            return None, f"no listener is bound to port {dest_port}: the gateway pod refuses the connection"
        return lst, f"bound to {lst.address}:{lst.port} ({how} match for {dest_ip}:{dest_port}); a gateway has no iptables capture"
    if direction == "outbound":
        lst = idx.listener_on_port(OUTBOUND_CAPTURE_PORT)
        if lst is None:
            return None, "the dump has no listener on 15001 (outbound capture)"
        return lst, f"iptables redirects outbound TCP to {OUTBOUND_CAPTURE_PORT}"
    lst = idx.listener_on_port(INBOUND_CAPTURE_PORT)
    if lst is not None:
        return lst, f"iptables redirects inbound TCP to {INBOUND_CAPTURE_PORT}"
    lst = idx.listener_on_port(OUTBOUND_CAPTURE_PORT)
    if lst is not None:
        # Istio before 1.3 redirected inbound traffic to 15001 as well.
        return lst, f"no {INBOUND_CAPTURE_PORT} listener (Istio < 1.3): iptables redirects inbound TCP to {OUTBOUND_CAPTURE_PORT}"
    return None, "the dump has no inbound capture listener (15006 or 15001)"


def uses_original_dst(lst: Listener) -> bool:
    # Envoy 1.15-1.17 dumps render the deprecated v2 field as hidden_envoy_deprecated_use_original_dst.
    v = field(lst.raw, "use_original_dst")
    if v is None:
        v = field(lst.raw, "hidden_envoy_deprecated_use_original_dst")
    if isinstance(v, dict):
        v = v.get("value")
    return bool(v)
