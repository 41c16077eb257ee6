"""Probe traces: the requests a diagnosis is about, synthesised when no failing request was logged.

Access logging is off in Istio's ``default`` profile (``meshConfig.accessLogFile`` empty), logs
can be forbidden, and some failures never reach a log line (a TLS handshake that fails, a
server whose clients give up first). Then :mod:`failures` has nothing to trace. A probe is the
request a mesh client would really send, built from the configuration that was gathered, and
traced through the same dumps the same way:

* **server** (a sidecar whose pod a Service selects): a request to each Service port, as the
  client's sidecar delivers it to the pod: the target port on the pod IP, Istio mTLS with the
  SNI ``outbound_.PORT_._.HOST`` and the ALPN the client's HTTP/TCP filters set, unless the
  DestinationRule the client applies says ``DISABLE`` (plaintext) or ``SIMPLE``/``MUTUAL`` (the
  client originates its own TLS, no Istio certificate).
* **client** (a sidecar): a plaintext request from the app to each Service host a VirtualService
  or DestinationRule visible to the pod's namespace customises (the routing the diagnosis is
  about) and its Sidecar resource imports, at its ClusterIP and port, with ``Host: host[:port]``.
* **gateway** (a router node): each Gateway server selecting the pod, for the hosts it serves
  (or the hosts of the VirtualServices bound to it when it serves ``*``), on the pod port the
  gateway Service forwards that port to.

At most :data:`MAX_PROBES` per proxy: a large mesh must not turn the diagnosis into a scan.
Pure: reads gathered evidence; the tracer's dump index is memoised per dump.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from istio_doctor.engine.mesh import protocol as P
from istio_doctor.engine.mesh.domain import cluster_domain
from istio_doctor.engine.mesh.hosts import DEFAULT_DOMAIN, host_matches, resolve_short_name
from istio_doctor.engine.mesh.lookup import MeshView, destination_rule, sidecar, vs_gateways
from istio_doctor.engine.trace.model import TraceRequest
from istio_doctor.evidence.bundle import Evidence, Need

#: probes per proxy: each costs a trace (well under a millisecond on a 50 MB dump, bench/bench_trace.py),
#: but a client in a namespace with hundreds of VirtualServices must stay interactive
MAX_PROBES = 8

#: the ALPN a client sidecar's upstream TLS offers on Istio mTLS, by the request's protocol.
#: HTTP: the istio.alpn filter's overrides, istio/istio@1.22.0:pilot/pkg/xds/filters/filters.go
#: (``mtlsHTTP11ALPN = {"istio-http/1.1", "istio", "http/1.1"}``, ``mtlsHTTP2ALPN = {"istio-h2", "istio", "h2"}``);
#: TCP: the cluster's own list, istio/istio@1.22.0:pilot/pkg/networking/util/util.go ``ALPNInMeshWithMxc``
#: (set in pilot/pkg/networking/core/cluster_tls.go when metadata exchange is on, the default)
ISTIO_ALPN = {"http1": ["istio-http/1.1", "istio", "http/1.1"], "http2": ["istio-h2", "istio", "h2"],
              "tcp": ["istio-peer-exchange", "istio"]}

#: what an HTTPS client (curl, a browser) offers: RFC 7301 ALPN, h2 then http/1.1
HTTPS_ALPN = ["h2", "http/1.1"]

#: the reason every probe states, so nobody mistakes it for a logged request
NOT_LOGGED = "no failing request was logged"


@dataclass
class Probe:
    request: TraceRequest
    side: str  # "client" | "server" | "gateway"
    #: what the probe stands for, e.g. "a mesh client of Service default/reviews port 9080"
    about: str
    #: why a probe was needed: no failing request logged, access logs unreadable, ...
    reason: str = NOT_LOGGED


def istio_sni(host: str, port: int, subset: str = "") -> str:
    """The SNI a client sidecar sets for Istio mTLS: ``outbound_.PORT_.SUBSET_.HOST``.

    istio/istio@1.22.0:pilot/pkg/model/service.go ``BuildDNSSrvSubsetKey`` ("The DNS Srv format of
    the cluster is also used as the default SNI string for Istio mTLS connections"), used by
    pilot/pkg/networking/core/cluster_builder.go for ``istioMtlsSni``.
    """
    return f"outbound_.{port}_.{subset}_.{host}"


def authority(host: str, port: int, scheme: str = "http") -> str:
    """The Host header a client sends for ``scheme://host:port/``: the port is left out only when it
    is the scheme's default (RFC 9110 §7.2; curl and browsers omit ``:80`` / ``:443``)."""
    default = 443 if scheme == "https" else 80
    return host if port == default else f"{host}:{port}"


def _proto(sel: P.Selection) -> str:
    if sel.protocol.is_http2:
        return "http2"
    if sel.protocol.is_http:
        return "http1"
    return "tcp"


def _target_port(pod: Any, target: int | str) -> int | None:
    if isinstance(target, int):
        return target
    for c in getattr(pod.spec, "containers", []) or []:
        for p in getattr(c, "ports", []) or []:
            if getattr(p, "name", None) == target:
                return int(p.container_port)
    return None


def _images(pod: Any) -> list[str]:
    return [c.image for c in getattr(pod.spec, "containers", []) or [] if getattr(c, "image", None) and c.name != "istio-proxy"]


def _client_tls(ev: Evidence, host: str, port: int, namespace: str, domain: str) -> tuple[str, str]:
    """What a mesh client in ``namespace`` sends to ``host:port``: the TLS its DestinationRule sets,
    else Istio mTLS (auto mTLS: the destination runs a sidecar, its endpoints carry
    ``tlsMode: istio``). Returns (tls, why)."""
    rules = ev.get_or([], Need.DESTINATION_RULES)
    applied = destination_rule(rules, host, namespace, MeshView(domain=domain)) if rules else None
    tp = applied.rule.spec.traffic_policy if applied is not None else None
    settings = tp.tls_for_port(port) if tp is not None else None
    mode = (settings.mode or "").upper() if settings is not None else ""
    if mode == "DISABLE":
        return "none", f"{applied.why} sets tls.mode DISABLE: the client's sidecar sends plaintext"  # type: ignore[union-attr]
    if mode in ("SIMPLE", "MUTUAL"):
        return "tls", f"{applied.why} sets tls.mode {mode}: the client's sidecar originates TLS without an Istio certificate"  # type: ignore[union-attr]
    return "istio_mutual", ("auto mTLS: the server runs a sidecar, so a mesh client's sidecar sends Istio mTLS"
                            + (f" ({applied.why} sets ISTIO_MUTUAL)" if mode == "ISTIO_MUTUAL" else ""))


def server_probes(ev: Evidence, namespace: str, pod: Any, domain: str) -> list[Probe]:
    """An inbound request to each port of each Service selecting ``pod``, as a mesh client sends it."""
    if not getattr(pod, "ip", None):
        return []
    out: list[Probe] = []
    for svc in ev.get_or([], Need.SERVICES):
        if svc.namespace != namespace or not svc.selects(pod):
            continue
        host = svc.fqdn(domain)
        for sp in svc.spec.ports:
            if (sp.protocol or "TCP").upper() != "TCP":
                continue
            tport = _target_port(pod, sp.effective_target_port)
            if tport is None:
                continue  # a named targetPort no container declares: no endpoint, nothing reaches the pod
            sel = P.of_service_port(sp)
            proto = _proto(sel)
            if sel.protocol.is_sniffed:
                # undeclared: the sidecar sniffs; a server-first protocol sends nothing first (TCP),
                # anything else is taken for the HTTP/1.1 most apps speak
                first = P.server_first(sp.port, _images(pod), name=sp.name, target_port=tport)
                proto = "tcp" if first else "http1"
            tls, why = _client_tls(ev, host, sp.port, namespace, domain)
            alpn = ISTIO_ALPN[proto] if tls == "istio_mutual" else ([] if tls == "none" else (HTTPS_ALPN if proto != "tcp" else []))
            sni = istio_sni(host, sp.port) if tls == "istio_mutual" else (host if tls == "tls" else None)
            try:
                req = TraceRequest(dest_ip=pod.ip, dest_port=tport, authority=authority(host, sp.port) if proto != "tcp" else None,
                                   protocol=proto, tls=tls, sni=sni, alpn=alpn, direction="inbound")  # type: ignore[arg-type]
            except ValidationError:
                continue
            out.append(Probe(req, "server", f"a mesh client of Service {svc.namespace}/{svc.name} port {sp.port} "
                                            f"({sel.protocol.value} by {sel.source}); {why}"))
    return out


def _vs_hosts(ev: Evidence, namespace: str, domain: str, gateway: str | None) -> Iterator[str]:
    """Hosts of the VirtualServices bound to ``gateway`` (``ns/name``), or to the mesh when None,
    lazily: a caller that has enough stops the scan."""
    for vs in ev.get_or([], Need.VIRTUAL_SERVICES):
        gws = vs_gateways(vs)
        vns = vs.metadata.namespace or "default"
        if gateway is None:
            if "mesh" not in gws or (vns != namespace and vs.spec.export_to and "*" not in vs.spec.export_to):
                continue
        elif gateway not in gws:
            continue
        for h in vs.spec.hosts:
            yield resolve_short_name(h, vns, domain)


def _customised_hosts(ev: Evidence, namespace: str, domain: str) -> Iterator[str]:
    """Service hosts a VirtualService (mesh) or DestinationRule visible to ``namespace`` customises."""
    yield from _vs_hosts(ev, namespace, domain, None)
    for dr in ev.get_or([], Need.DESTINATION_RULES):
        if dr.spec.host and (dr.metadata.namespace == namespace or not dr.spec.export_to or "*" in dr.spec.export_to):
            yield resolve_short_name(dr.spec.host, dr.metadata.namespace or namespace, domain)


def _imported(sc: Any | None, svc: Any, namespace: str, domain: str) -> bool:
    """Whether the Sidecar resource scoping the client imports the Service (``ns/host`` egress hosts,
    ``.`` for the Sidecar's namespace, ``*`` for any): a host it does not import is one the pod was
    scoped not to call, so probing it would report the scoping as a fault."""
    if sc is None or not sc.spec.egress:
        return True
    fqdn = svc.fqdn(domain)
    for eg in sc.spec.egress:
        for h in eg.hosts:
            ns, _, pattern = h.partition("/")
            ns = namespace if ns == "." else ns
            if ns in ("*", svc.namespace) and (pattern == "*" or host_matches(resolve_short_name(pattern, svc.namespace, domain), fqdn)):
                return True
    return False


def client_probes(ev: Evidence, namespace: str, pod: Any, domain: str, limit: int = MAX_PROBES) -> list[Probe]:
    """The app's plaintext request to each Service host whose routing the namespace customises (the
    first ``limit``: each costs a scan of the VirtualServices for its path, so a namespace with
    thousands of them stops early)."""
    sc = sidecar(ev.get_or([], Need.SIDECARS), namespace, dict(pod.labels), MeshView(domain=domain))
    services = {s.fqdn(domain): s for s in ev.get_or([], Need.SERVICES)}
    out: list[Probe] = []
    seen: set[str] = set()
    for host in _customised_hosts(ev, namespace, domain):
        if len(out) >= limit:
            break
        host = host.lower()
        if host in seen or "*" in host:
            continue
        seen.add(host)
        svc = services.get(host)  # an IP literal or an external name is no Service: skipped here
        if svc is None or svc.is_headless or not svc.spec.cluster_ip:
            continue  # a host without a ClusterIP: where the app connects needs DNS this tool does not have
        if not _imported(sc, svc, namespace, domain):
            continue
        for sp in svc.spec.ports:
            sel = P.of_service_port(sp)
            if (sp.protocol or "TCP").upper() != "TCP" or not sel.protocol.is_http:
                continue  # the app's bytes on a TCP/TLS/undeclared port are not knowable from configuration
            shown = svc.name if svc.namespace == namespace else f"{svc.name}.{svc.namespace}"
            try:
                req = TraceRequest(dest_ip=svc.spec.cluster_ip, dest_port=sp.port, authority=authority(shown, sp.port),
                                   path=_served_path(ev, host, None, namespace, domain), protocol=_proto(sel), direction="outbound")
            except ValidationError:
                continue
            out.append(Probe(req, "client", f"the app calling Service {svc.namespace}/{svc.name} port {sp.port} "
                                            f"(its routing is customised by a VirtualService or DestinationRule)"))
    return out


def _served_path(ev: Evidence, host: str, gateway: str | None, namespace: str, domain: str) -> str:
    """A path the VirtualService for ``host`` routes (its first ``uri`` exact or prefix match), else ``/``.

    A probe asks whether the request the configuration is written for gets through; a path no
    route serves would fail by design (404 NR for ``/`` on a VirtualService that only serves
    ``/productpage``), which is not a fault of the mesh."""
    for vs in ev.get_or([], Need.VIRTUAL_SERVICES):
        gws = vs_gateways(vs)
        if (gateway or "mesh") not in gws:
            continue
        vns = vs.metadata.namespace or namespace
        if not any(h == "*" or resolve_short_name(h, vns, domain) == host or
                   (h.startswith("*.") and host.endswith(h[1:])) for h in vs.spec.hosts):
            continue
        for route in vs.spec.http:
            matches = route.match or [None]
            for m in matches:
                uri = getattr(m, "uri", None) if m is not None else None
                if m is None or uri is None:
                    return "/"
                value = getattr(uri, "exact", None) or getattr(uri, "prefix", None)
                if value:
                    return value
        return "/"
    return "/"


def gateway_probes(ev: Evidence, pod: Any, domain: str) -> list[Probe]:
    """A request to each host of each Gateway server selecting the gateway ``pod``, sent to the
    gateway Service's port (what a client outside dials) and received on the port istiod binds."""
    if not getattr(pod, "ip", None):
        return []
    svcs = [s for s in ev.get_or([], Need.SERVICES) if s.selects(pod)]
    out: list[Probe] = []
    for gw in ev.get_or([], Need.GATEWAYS):
        sel = gw.spec.selector
        if not sel or any(pod.labels.get(k) != v for k, v in sel.items()):
            continue
        gns = gw.metadata.namespace or "default"
        gref = f"{gns}/{gw.metadata.name}"
        bound = list(_vs_hosts(ev, gns, domain, gref))
        for server in gw.spec.servers:
            number = server.port.number
            # istiod's resolvePorts (istio/istio@1.22.0:pilot/pkg/model/gateway.go): a server port
            # that is a Service port listens on its targetPort; any other port is bound as-is
            sp = next((p for s in svcs for p in s.spec.ports if p.port == number), None)
            listen = _target_port(pod, sp.effective_target_port) if sp is not None else number
            # the port a client dials: that Service port, or the one forwarding to the bound port
            dialed = sp or next((p for s in svcs for p in s.spec.ports if _target_port(pod, p.effective_target_port) == number), None)
            sel_p = P.parse(server.port.protocol)
            mode = ((server.tls.mode if server.tls else None) or "").upper()
            if listen is None or dialed is None:
                continue  # no Service port reaches it: ROUTE-GW-PORT-NOT-ON-SVC's business, not a request's
            if mode in ("MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL", "AUTO_PASSTHROUGH"):
                continue  # the client's certificate is not knowable: a probe without one would fail falsely
            if server.tls is not None and server.tls.https_redirect:
                continue  # answered with a redirect by design
            names = [h.split("/", 1)[-1] for h in server.hosts]
            hosts = [h for h in names if "*" not in h] or [h for h in bound if "*" not in h and any(
                n == "*" or (n.startswith("*.") and h.endswith(n[1:])) for n in names)]
            tls = sel_p in (P.Protocol.HTTPS, P.Protocol.TLS)
            http = sel_p.is_http or (sel_p is P.Protocol.HTTPS and mode == "SIMPLE")
            for host in hosts[:2]:
                try:
                    req = TraceRequest(dest_ip=pod.ip, dest_port=listen, protocol="http1" if http else "tcp",
                                       authority=authority(host, dialed.port, "https" if tls else "http") if http else None,
                                       path=_served_path(ev, host, gref, gns, domain) if http else "/",
                                       tls="tls" if tls else "none", sni=host if tls else None,
                                       alpn=HTTPS_ALPN if tls and http else [], direction="gateway")
                except ValidationError:
                    continue
                out.append(Probe(req, "gateway", f"a client of Gateway {gref} port {number} ({server.port.protocol}) "
                                                 f"for host {host}, through Service port {dialed.port}"))
    return out


def probes_for(ev: Evidence, namespace: str, pod_name: str, dump: Any, reason: str = NOT_LOGGED) -> list[Probe]:
    """The probes of one examined proxy, at most :data:`MAX_PROBES`."""
    pod = ev.get_or(None, Need.POD, namespace, pod_name)
    if pod is None:
        return []
    domain = cluster_domain(pod=pod, node_id=getattr(dump.node, "id", None))[0] or DEFAULT_DOMAIN
    if dump.node.type == "router":
        probes = gateway_probes(ev, pod, domain)
    else:
        probes = server_probes(ev, namespace, pod, domain)[:MAX_PROBES]
        probes += client_probes(ev, namespace, pod, domain, MAX_PROBES - len(probes))
    for p in probes:
        p.reason = reason
    return probes[:MAX_PROBES]
