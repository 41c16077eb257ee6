"""The upstream side of a hop: cluster, TLS origination, endpoints and their health.

Sources:

* ``transport_socket_matches``: envoyproxy/envoy ``source/common/upstream/
  transport_socket_match_impl.cc`` ``TransportSocketMatcherImpl::resolve``: the first match
  whose labels are all present, with equal values, in the endpoint's
  ``metadata.filter_metadata["envoy.transport_socket_match"]`` wins; an empty match matches
  every endpoint; none matching means the cluster's ``transport_socket`` (plaintext when
  absent). Istio's auto mTLS is ``tlsMode-istio`` (``{tlsMode: istio}`` -> Istio certificates)
  then ``tlsMode-disabled`` (``{}`` -> raw buffer), and istiod labels an endpoint
  ``tlsMode: istio`` only when its pod has a sidecar (``security.istio.io/tlsMode`` label):
  https://istio.io/latest/docs/concepts/security/#auto-mutual-tls
* ALPN for Istio mTLS: the cluster's ``alpn_protocols`` (``istio-peer-exchange``, ``istio`` for
  TCP), overridden for HTTP by the ``istio.alpn`` filter of the client's HTTP connection
  manager (``istio-http/1.0|1.1``, ``istio-h2``): istio/istio@1.22.0
  ``pilot/pkg/xds/filters/filters.go`` ``Alpn``, ``pilot/pkg/networking/core/cluster_tls.go``.
* endpoints: hosts whose EDS ``health_status`` is ``HEALTHY`` or ``UNKNOWN`` take traffic;
  with fewer healthy hosts than ``common_lb_config.healthy_panic_threshold`` (default 50%)
  Envoy ignores health and balances over all hosts (panic mode); Istio sets the threshold to
  ``outlierDetection.minHealthPercent`` (0: panic disabled) when outlier detection is on.
  With no routable host a request fails ``503 UH no_healthy_upstream``:
  https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/panic_threshold
* inbound clusters: Istio < 1.10 sent inbound traffic to a STATIC ``127.0.0.1:<port>``
  endpoint; from 1.10 the inbound cluster is ``ORIGINAL_DST`` (the pod IP:port the client
  connected to, source-bound to 127.0.0.6): istio/istio@1.10.0 ``pilot/pkg/networking/core/
  v1alpha3/cluster_builder.go`` ``buildInboundClusterForPortOrUDS`` vs 1.9.0;
  https://istio.io/latest/blog/2021/upcoming-networking-changes/
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any

from istio_doctor.engine.trace.index import field
from istio_doctor.evidence.envoy.model import Cluster, ClusterEndpoints

TSM_KEY = "envoy.transport_socket_match"
ROUTABLE = frozenset({"HEALTHY", "UNKNOWN"})


@dataclass
class EndpointView:
    address: str
    port: int | None
    health: str
    labels: dict[str, Any]  # envoy.transport_socket_match metadata (None: not in the dump)
    has_metadata: bool


def endpoints_of(ce: ClusterEndpoints, raw: dict[str, Any] | None = None) -> list[EndpointView]:
    """Endpoints with their transport-socket-match labels, read from the raw assignment
    (``raw``: the assignment itself when ``ce`` was built from one, not read from the dump)."""
    out: list[EndpointView] = []
    if raw is None:
        raw = ce.raw  # decoded again from the dump on each read: read once here
    if field(raw, "host_statuses") is not None:
        # /clusters?format=json (old ``pc endpoint -o json``): no metadata there.
        for ep in ce.endpoints:
            out.append(EndpointView(ep.address, ep.port, ep.health_status, {}, False))
        return out
    i = 0
    for llb in raw.get("endpoints") or ():
        for lb in field(llb, "lb_endpoints") or ():
            ep = ce.endpoints[i] if i < len(ce.endpoints) else None
            i += 1
            if ep is None:
                continue
            fm = field(lb.get("metadata") or {}, "filter_metadata") or {}
            labels = fm.get(TSM_KEY)
            out.append(EndpointView(ep.address, ep.port, ep.health_status, dict(labels or {}), True))
    return out


def static_endpoints(c: Cluster) -> list[EndpointView]:
    """Endpoints carried inline in the cluster (STATIC, STRICT_DNS, LOGICAL_DNS)."""
    from istio_doctor.evidence.envoy.build import _build_cla  # the same builder EDS uses

    la = field(c.raw, "load_assignment")
    if not la:
        return []
    return endpoints_of(_build_cla(la, None, static=True), la)


@dataclass
class SocketChoice:
    name: str  # match name, "transport_socket" or "plaintext"
    tls: str  # istio_mutual | tls | plaintext
    sni: str | None
    alpn: list[str]
    config: dict[str, Any] | None


def _tls_of(ts: dict[str, Any] | None) -> tuple[str, str | None, list[str]]:
    if not ts:
        return "plaintext", None, []
    tc = field(ts, "typed_config") or ts.get("config") or {}
    t = tc.get("@type", "")
    if t.endswith("RawBuffer") or ts.get("name") in ("envoy.transport_sockets.raw_buffer", "raw_buffer"):
        return "plaintext", None, []
    inner = field(tc, "transport_socket")
    if not t.endswith("UpstreamTlsContext") and isinstance(inner, dict):
        return _tls_of(inner)
    if not (t.endswith("UpstreamTlsContext") or ts.get("name") in ("envoy.transport_sockets.tls", "tls")):
        return "plaintext", None, []
    ctc = field(tc, "common_tls_context") or {}
    sds = [s.get("name", "") for s in field(ctc, "tls_certificate_sds_secret_configs") or ()]
    files = field(ctc, "tls_certificates") or []
    istio = "default" in sds or any("/etc/certs/" in str(f) for f in files)
    return ("istio_mutual" if istio else "tls"), tc.get("sni"), list(field(ctc, "alpn_protocols") or [])


def choose_socket(c: Cluster, labels: dict[str, Any] | None) -> SocketChoice:
    """Envoy's transport socket for an endpoint with these match labels (None: unknown)."""
    for m in field(c.raw, "transport_socket_matches") or ():
        want = m.get("match") or {}
        if labels is None and want:
            continue
        if all((labels or {}).get(k) == v for k, v in want.items()):
            tls, sni, alpn = _tls_of(field(m, "transport_socket"))
            return SocketChoice(m.get("name", ""), tls, sni, alpn, m)
    ts = field(c.raw, "transport_socket")
    legacy = field(c.raw, "tls_context")
    if ts is None and isinstance(legacy, dict):
        ctc = field(legacy, "common_tls_context") or {}
        sds = [s.get("name", "") for s in field(ctc, "tls_certificate_sds_secret_configs") or ()]
        files = field(ctc, "tls_certificates") or []
        istio = "default" in sds or any("/etc/certs/" in str(f) for f in files)
        return SocketChoice("tls_context", "istio_mutual" if istio else "tls", legacy.get("sni"),
                            list(field(ctc, "alpn_protocols") or []), {"tls_context": "..."})
    tls, sni, alpn = _tls_of(ts)
    return SocketChoice("transport_socket" if ts else "plaintext", tls, sni, alpn, ts)


def panic_threshold(c: Cluster) -> float:
    clc = field(c.raw, "common_lb_config") or {}
    hpt = field(clc, "healthy_panic_threshold")
    if hpt is None:
        return 50.0
    v = hpt.get("value", 0) if isinstance(hpt, dict) else hpt
    try:
        return float(v or 0)
    except (TypeError, ValueError):
        return 50.0


def alpn_override(hcm: dict[str, Any] | None, protocol: str) -> list[str] | None:
    """The ``istio.alpn`` HTTP filter's ALPN for the upstream protocol (None: no such filter)."""
    if not hcm:
        return None
    want = {"http1": "HTTP11", "http2": "HTTP2"}.get(protocol, "HTTP11")
    for hf in field(hcm, "http_filters") or ():
        if hf.get("name") != "istio.alpn":
            continue
        tc = field(hf, "typed_config") or hf.get("config") or {}
        # protojson (FilterConfig) or a TypedStruct wrapping it
        body = tc.get("value") if isinstance(tc.get("value"), dict) else tc
        for o in field(body, "alpn_override") or ():
            up = field(o, "upstream_protocol") or "HTTP10"
            if up == want:
                return list(field(o, "alpn_override") or [])
    return None


@dataclass
class CircuitSummary:
    text: str
    tight: list[str] = dc_field(default_factory=list)


def circuit_summary(c: Cluster) -> CircuitSummary:
    cb = c.circuit_breakers
    vals = {"max_connections": cb.max_connections, "max_pending_requests": cb.max_pending_requests,
            "max_requests": cb.max_requests, "max_retries": cb.max_retries}
    shown = {k: v for k, v in vals.items() if v is not None}
    # Envoy's defaults are 1024 (3 for retries); Istio writes 4294967295 unless a DestinationRule
    # sets connectionPool. Limits this small overflow (503 UO) under the lightest concurrency.
    tight = [f"{k}={v}" for k, v in shown.items() if k != "max_retries" and v <= 10]
    text = ", ".join(f"{k}={v}" for k, v in shown.items()) or "Envoy defaults (1024 connections/pending/requests, 3 retries)"
    return CircuitSummary(text, tight)
