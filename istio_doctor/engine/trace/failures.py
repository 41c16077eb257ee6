"""Trace what the proxy logs say failed: one trace per distinct failing request shape.

A shape is what Envoy routed on, as the access log recorded it: the original destination
(``%DOWNSTREAM_LOCAL_ADDRESS%``), ``:authority``, path, method, protocol, whether the peer came
over Istio mTLS (``%REQUESTED_SERVER_NAME%`` is an ``outbound_...`` SNI), plus what Envoy
concluded (upstream cluster, flags, details). Each shape is traced through the dump of the proxy
that logged it; a client trace that reaches a related pod whose dump was gathered continues
there. The trace then either agrees with the log (it breaks where the log says it broke), or
explains it (the break the log only hints at), or cannot see far enough (what is missing is
listed). Pure: reads gathered evidence, memoised per evidence object.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from istio_doctor.engine.trace.model import DELIVERED, Trace, TraceRequest
from istio_doctor.engine.trace.probes import NOT_LOGGED, Probe, probes_for
from istio_doctor.engine.trace.tracer import continue_on_server, node_ips, trace_request
from istio_doctor.evidence.accesslog import AccessLogEntry, is_failure
from istio_doctor.evidence.bundle import Evidence, Need

#: at most this many shapes per proxy: the most frequent failures first
MAX_SHAPES = 6

#: Envoy's details for the outcomes a trace predicts, to compare with the log
_DETAIL_WORDS = ("route_not_found", "cluster_not_found", "no_healthy_upstream", "filter_chain_not_found",
                 "rbac_access_denied", "fault_filter_abort", "direct_response")


@dataclass
class Shape:
    request: TraceRequest
    entries: list[AccessLogEntry]
    namespace: str
    pod: str
    side: str  # "client" (outbound from this proxy) or "server" (inbound to it) or "gateway"
    #: a synthesised request (no log line behind it): what it stands for and why it was needed
    probe: Probe | None = None

    @property
    def example(self) -> AccessLogEntry | None:
        return self.entries[0] if self.entries else None

    @property
    def logged(self) -> str:
        e = self.example
        if e is None:
            return f"not logged ({self.probe.reason if self.probe else NOT_LOGGED})"
        flags = ",".join(e.response_flags) or "-"
        return f"{e.response_code} {flags} {e.response_code_details or '-'}"


@dataclass
class ShapeTrace:
    shape: Shape
    trace: Trace
    #: "agrees" (the trace breaks where the log says), "explains" (the trace breaks, the log only
    #: shows the symptom), "beyond" (the trace delivers: the failure is past the configuration),
    #: "disagrees" (the trace delivers where the log says Envoy itself refused), "probe" (a
    #: synthesised request: no log line to compare with)
    relation: str
    notes: list[str] = field(default_factory=list)
    server: str | None = None  # ns/pod the trace continued on


def _split(addr: str | None) -> tuple[str, int] | None:
    if not addr or addr == "-":
        return None
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        return host, int(port)
    except ValueError:
        return None


def _protocol(e: AccessLogEntry) -> str:
    p = (e.protocol or "").upper()
    if p.startswith("HTTP/2"):
        return "http2"
    if p.startswith("HTTP") or e.method:
        return "http1"
    return "tcp"


def request_from_entry(e: AccessLogEntry, dump: Any) -> TraceRequest | None:
    """The request as Envoy received it, from one access-log line (None: no destination logged)."""
    dst = _split(e.downstream_local_address)
    if dst is None:
        return None
    proto = _protocol(e)
    sni = e.requested_server_name or None
    inbound = dst[0] in node_ips(dump) and dump.node.type == "sidecar"
    tls = "none"
    alpn: list[str] = []
    if inbound and sni and sni.startswith("outbound_"):
        # An Istio client: auto mTLS with its ALPN (istio/istio pilot/pkg/xds/filters Alpn, cluster_tls.go)
        tls = "istio_mutual"
        alpn = {"http1": ["istio-http/1.1", "istio"], "http2": ["istio-h2", "istio"]}.get(proto, ["istio-peer-exchange", "istio"])
    elif sni and not inbound:
        tls = "tls"
    src = _split(e.downstream_remote_address)
    headers = {}
    if e.user_agent:
        headers["user-agent"] = e.user_agent
    try:
        return TraceRequest(dest_ip=dst[0], dest_port=dst[1], authority=e.authority if proto != "tcp" else None,
                            path=e.path or "/", method=e.method or "GET", protocol=proto, tls=tls, sni=sni, alpn=alpn,  # type: ignore[arg-type]
                            headers=headers, source_ip=src[0] if src else None, source_port=src[1] if src else None)
    except ValidationError:
        return None


def _key(e: AccessLogEntry) -> tuple[Any, ...]:
    return (e.downstream_local_address, (e.authority or "").lower(), (e.path or "/").split("?", 1)[0], e.method,
            _protocol(e), bool(e.requested_server_name), e.upstream_cluster, tuple(e.response_flags), e.response_code_details,
            e.response_code)


def failing_shapes(log: Any, dump: Any, namespace: str, pod: str) -> list[Shape]:
    groups: dict[tuple[Any, ...], list[AccessLogEntry]] = {}
    for e in log.entries:
        # "via_upstream" errors are followed too: in a mesh the upstream that answered is usually the
        # server's sidecar (503 UF, 403 RBAC there), and the trace continues on its dump.
        if not is_failure(e):
            continue
        groups.setdefault(_key(e), []).append(e)
    shapes: list[Shape] = []
    for entries in sorted(groups.values(), key=lambda es: -len(es)):
        req = request_from_entry(entries[0], dump)
        if req is None:
            continue
        side = "gateway" if dump.node.type == "router" else ("server" if req.dest_ip in node_ips(dump) else "client")
        shapes.append(Shape(req, entries, namespace, pod, side))
        if len(shapes) >= MAX_SHAPES:
            break
    return shapes


def _relation(shape: Shape, trace: Trace) -> str:
    e = shape.example
    if e is None:
        return "probe"
    logged = (e.response_code_details or "").split("{")[0]
    if trace.broken:
        if trace.details and (trace.details.split("[")[0] in logged or logged in trace.details):
            return "agrees"
        return "explains"
    envoy_refused = any(w in logged for w in _DETAIL_WORDS)
    if trace.verdict == DELIVERED and envoy_refused:
        return "disagrees"
    return "beyond"


def _server_for(ev: Evidence, related: list[Any], address: str | None) -> tuple[str, str, str] | None:
    """The related server pod behind ``address`` and the address its sidecar receives.

    A pod IP names the pod. A Service's ClusterIP (a passthrough connection) is translated by
    kube-proxy to one of the Service's pods on the target port: the first related server pod
    the Service selects stands for them.
    """
    ip = _split(address)
    if ip is None:
        return None
    servers = [r for r in related if r.role == "server"]
    for r in servers:
        pod = ev.get_or(None, Need.POD, r.namespace, r.name)
        if pod is not None and getattr(pod, "ip", None) == ip[0]:
            return r.namespace, r.name, f"{ip[0]}:{ip[1]}"
    svc = next((s for s in ev.get_or([], Need.SERVICES) if s.spec.cluster_ip == ip[0]), None)
    if svc is None:
        return None
    sp = svc.port(ip[1])
    target = sp.effective_target_port if sp is not None else ip[1]
    for r in servers:
        pod = ev.get_or(None, Need.POD, r.namespace, r.name)
        if pod is not None and svc.selects(pod) and getattr(pod, "ip", None):
            tport = target if isinstance(target, int) else _named_port(pod, str(target), ip[1])
            return r.namespace, r.name, f"{pod.ip}:{tport}"
    return None


def _named_port(pod: Any, name: str, default: int) -> int:
    for c in getattr(pod.spec, "containers", []) or []:
        for p in getattr(c, "ports", []) or []:
            if getattr(p, "name", None) == name:
                return int(p.container_port)
    return default


def trace_shapes(ev: Evidence, namespace: str, pod: str, related: list[Any]) -> list[ShapeTrace]:
    """Every failing shape of ``pod``'s proxy log, traced (empty without a log or a dump)."""
    log = ev.get_or(None, Need.PROXY_LOGS, namespace, pod)
    dump = ev.get_or(None, Need.CONFIG_DUMP, namespace, pod)
    if dump is None:
        return []
    sockets = ev.get_or(None, Need.SOCKETS, namespace, pod)
    out: list[ShapeTrace] = []
    shapes = failing_shapes(log, dump, namespace, pod) if log is not None else []
    if not shapes:
        # nothing logged to trace: the requests the diagnosis is about, synthesised (engine/trace/probes)
        shapes = [Shape(p.request, [], namespace, pod, p.side, probe=p)
                  for p in probes_for(ev, namespace, pod, dump, _probe_reason(log))]
    for shape in shapes:
        trace = trace_request(dump, shape.request, sockets=sockets if shape.side == "server" else None)
        notes: list[str] = []
        server = None
        if shape.side in ("client", "gateway") and trace.verdict == DELIVERED and trace.upstream is not None:
            logged_host = shape.example.upstream_host if shape.example is not None else None
            hit = _server_for(ev, related, logged_host or trace.upstream.address)
            if hit is not None:
                sns, spod, saddr = hit
                sdump = ev.get_or(None, Need.CONFIG_DUMP, sns, spod)
                if sdump is not None:
                    # follow the endpoint Envoy picked (the log's upstream host), or kube-proxy's pick
                    trace = trace.model_copy(update={"upstream": trace.upstream.model_copy(update={"address": saddr})})
                    trace = continue_on_server(trace, dump, sdump, sockets=ev.get_or(None, Need.SOCKETS, sns, spod))
                    server = f"{sns}/{spod}"
                else:
                    notes.append(f"the server pod {sns}/{spod}'s config dump was not gathered")
        out.append(ShapeTrace(shape, trace, _relation(shape, trace), notes, server))
    return out


def _probe_reason(log: Any) -> str:
    if log is None:
        return "the istio-proxy log could not be read"
    if not log.entries:
        return "the proxy logged no request: access logging off?"
    return NOT_LOGGED


def memo_traces(ev: Evidence, namespace: str, pod: str | None, related: list[Any]) -> list[ShapeTrace]:
    """:func:`trace_shapes`, once per evidence object and pod (every TRACE check reads them)."""
    if pod is None:
        return []
    # on the session's evidence, not a check's declared view of it: every TRACE check and the
    # report share one computation
    base = getattr(ev, "base", ev)
    memo: dict[tuple[Any, ...], Any] = base.__dict__.setdefault("_trace_memo", {})
    key = (namespace, pod, tuple((r.namespace, r.name) for r in related))
    if key not in memo:
        memo[key] = trace_shapes(ev, namespace, pod, related)
    return memo[key]
