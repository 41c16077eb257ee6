"""A live (or replayed) request trace: gather what ``trace pod/CLIENT --to ...`` needs, trace it.

Everything learned about the cluster goes through the gatherer and its runner (live, recording
or replay), like a diagnosis: the client pod, its config dump, the Services and pods that name
the destination, and, when the request reaches a pod with a sidecar, that pod's config dump and
listening sockets, so the trace continues on the server's side.

An ambient client (no sidecar, enrolled in ambient) has no Envoy of its own: its path is the
client node's ztunnel (its config dump), the destination's waypoint when it has one (the
waypoint pod's Envoy dump, traced from its HBONE listener), then the server node's ztunnel.
Each piece that cannot be read is a hop of status unknown, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from istio_doctor.engine.mesh.domain import cluster_domain
from istio_doctor.engine.mesh.hosts import dns_fqdn, split_service_fqdn
from istio_doctor.engine.trace import DELIVERED, UNKNOWN, Trace, TraceRequest, continue_on_server, trace_request
from istio_doctor.engine.trace.hbone import client_leg, server_leg
from istio_doctor.engine.trace.resolve import Destination, DestinationError, pod_by_ip, resolve_destination
from istio_doctor.evidence.ambient.dataplane import pod_dataplane
from istio_doctor.evidence.bundle import EvidenceKey, Need
from istio_doctor.evidence.gather import Gatherer
from istio_doctor.evidence.runner import Runner
from istio_doctor.evidence.target import Connection, Target


@dataclass
class TraceOutcome:
    trace: Trace | None
    destination: Destination | None = None
    server: str | None = None  # ns/pod the trace continued on
    notes: list[str] = field(default_factory=list)
    failure: str | None = None  # one sentence: why no trace could be made
    usage: bool = False  # the failure is the user's input (exit 2)
    gatherer: Gatherer | None = None


@dataclass
class RequestShape:
    to: str
    host: str | None = None
    path: str = "/"
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    protocol: str = "http1"


def _why_missing(g: Gatherer, need: Need, ns: str | None, name: str | None) -> str:
    item = g.evidence.item(need, ns, name)
    if item is not None and item.failure is not None:
        return item.failure.reason
    return "it was not gathered"


async def trace_live(target: Target, runner: Runner, conn: Connection, shape: RequestShape) -> TraceOutcome:
    g = Gatherer(runner, conn)
    ns, pod = target.namespace, target.name
    await g.gather([EvidenceKey(need=Need.POD, namespace=ns, name=pod), EvidenceKey(need=Need.CONFIG_DUMP, namespace=ns, name=pod),
                    EvidenceKey(need=Need.SERVICES), EvidenceKey(need=Need.PODS, namespace=ns)], fallback_namespace=ns)
    ev = g.evidence
    client = ev.get_or(None, Need.POD, ns, pod)
    if client is not None and not client.has_sidecar and pod_dataplane(client).is_ambient:
        return await _trace_ambient(g, ns, pod, client, shape)
    dump = ev.get_or(None, Need.CONFIG_DUMP, ns, pod)
    if dump is None:
        return TraceOutcome(None, failure=f"the config dump of pod {ns}/{pod} could not be read: "
                            f"{_why_missing(g, Need.CONFIG_DUMP, ns, pod)}", gatherer=g)
    resolved = await _request(g, ns, shape, ev.get_or(None, Need.POD, ns, pod), dump.node.id, dump.node.ip or None)
    if isinstance(resolved, TraceOutcome):
        return resolved
    dest, dest_ns, pods, req = resolved
    trace = trace_request(dump, req)
    out = TraceOutcome(trace, destination=dest, gatherer=g, notes=[dest.note] if dest.note else [])
    up = trace.upstream
    if trace.verdict != "delivered" or up is None or not up.address:
        return out
    server_ip = up.address.rpartition(":")[0].strip("[]")
    server_ns = dest_ns
    server = pod_by_ip(pods, server_ip)
    if server is None:
        all_pods = [p for p in ev.get_or([], Need.PODS, ns)]
        server = pod_by_ip(all_pods, server_ip)
        server_ns = ns
    if server is None:
        out.notes.append(f"{up.address} is not a pod of namespace {dest_ns}: the trace ends at the client")
        return out
    if not server.has_sidecar:
        out.notes.append(f"server pod {server_ns}/{server.metadata.name} has no istio-proxy: the request reaches the app directly "
                         f"({'plaintext' if up.tls == 'plaintext' else up.tls})")
        return out
    sname = server.metadata.name
    await g.gather([EvidenceKey(need=Need.POD, namespace=server_ns, name=sname),
                    EvidenceKey(need=Need.CONFIG_DUMP, namespace=server_ns, name=sname),
                    EvidenceKey(need=Need.SOCKETS, namespace=server_ns, name=sname)])
    sdump = ev.get_or(None, Need.CONFIG_DUMP, server_ns, sname)
    if sdump is None:
        out.notes.append(f"the server's config dump ({server_ns}/{sname}) could not be read: "
                         f"{_why_missing(g, Need.CONFIG_DUMP, server_ns, sname)}; the trace ends at the client")
        trace.unknowns.append(f"what server pod {server_ns}/{sname} does with the request (its config dump is missing)")
        return out
    sockets = ev.get_or(None, Need.SOCKETS, server_ns, sname)
    out.trace = continue_on_server(trace, dump, sdump, sockets=sockets)
    out.server = f"{server_ns}/{sname}"
    return out


async def _request(g: Gatherer, ns: str, shape: RequestShape, client: Any, node_id: str | None,
                   source_ip: str | None) -> tuple[Destination, str, list[Any], TraceRequest] | TraceOutcome:
    """Resolve ``--to`` (gathering the destination namespace's pods) into the request the client sends."""
    ev = g.evidence
    services = ev.get_or([], Need.SERVICES)
    domain, _where = cluster_domain(pod=client, node_id=node_id)
    dest_ns = _destination_namespace(shape.to, ns, domain)
    if dest_ns != ns:
        await g.gather([EvidenceKey(need=Need.PODS, namespace=dest_ns)])
    pods = ev.get_or([], Need.PODS, dest_ns)
    try:
        dest = resolve_destination(shape.to, client_namespace=ns, services=services, pods=pods, domain=domain)
    except DestinationError as e:
        return TraceOutcome(None, failure=str(e), usage=True, gatherer=g)
    authority = shape.host if shape.host is not None else dest.authority
    protocol = "tcp" if shape.protocol == "tcp" else shape.protocol
    req = TraceRequest(dest_ip=dest.ip, dest_port=dest.port, authority=authority if protocol != "tcp" else None,
                       path=shape.path, method=shape.method, headers=shape.headers, protocol=protocol,  # type: ignore[arg-type]
                       source_ip=source_ip)
    return dest, dest_ns, pods, req


def _destination_namespace(to: str, client_ns: str, domain: str) -> str:
    text = to[4:] if to.startswith("svc/") else to
    host = text.split(":", 1)[0] if not text.startswith("[") else ""
    if to.startswith("svc/"):
        name, _, ns = host.partition(".")
        return ns or client_ns
    sn = split_service_fqdn(dns_fqdn(host.lower(), client_ns, domain)) if host else None
    return sn[1] if sn else client_ns


async def _trace_ambient(g: Gatherer, ns: str, pod: str, client: Any, shape: RequestShape) -> TraceOutcome:
    """client ztunnel -> (waypoint Envoy) -> server ztunnel, as far as the evidence goes."""
    from istio_doctor.engine.trace.waypoint import trace_waypoint

    ev = g.evidence
    await g.gather([EvidenceKey(need=Need.ZTUNNEL_CONFIG, namespace=ns, name=pod)])
    resolved = await _request(g, ns, shape, client, None, client.ip)
    if isinstance(resolved, TraceOutcome):
        return resolved
    dest, dest_ns, pods, req = resolved
    out = TraceOutcome(None, destination=dest, gatherer=g, notes=[dest.note] if dest.note else [])
    zt = ev.get_or(None, Need.ZTUNNEL_CONFIG, ns, pod)
    node = getattr(client.spec, "node_name", None) or "?"
    leg = client_leg(zt, ns, pod, dest.ip, dest.port, proxy=f"ztunnel@{node}",
                     why_missing=_why_missing(g, Need.ZTUNNEL_CONFIG, ns, pod) if zt is None else "")
    hops, unknowns = list(leg.hops), list(leg.unknowns)
    cluster = None
    upstream = None
    server_ip = server_addr = None
    verdict, details, response = leg.verdict, None, leg.response
    if verdict is None and leg.waypoint is not None:
        wp = leg.waypoint
        await g.gather([EvidenceKey(need=Need.PODS, namespace=wp.namespace)])
        wpod = next((p for p in ev.get_or([], Need.PODS, wp.namespace)
                     if p.metadata.labels.get("gateway.networking.k8s.io/gateway-name") == wp.name and p.ip), None)
        wdump = None
        if wpod is not None:
            await g.gather([EvidenceKey(need=Need.CONFIG_DUMP, namespace=wp.namespace, name=wpod.metadata.name)])
            wdump = ev.get_or(None, Need.CONFIG_DUMP, wp.namespace, wpod.metadata.name)
        if wdump is None:
            why = (f"what waypoint {wp.namespace}/{wp.name} does with the request: "
                   + (f"its config dump could not be read ({_why_missing(g, Need.CONFIG_DUMP, wp.namespace, wpod.metadata.name)})"
                      if wpod is not None else "no running pod of it was found"))
            unknowns.append(why)
            verdict = UNKNOWN
        else:
            wt = trace_waypoint(wdump, req.model_copy(update={"direction": "waypoint", "source_principal": leg.source_identity}),
                                proxy=f"{wpod.metadata.name}.{wp.namespace}")  # type: ignore[union-attr]
            hops += wt.hops
            unknowns += [u for u in wt.unknowns if not u.startswith("whether the ztunnel at ")]
            cluster, upstream = wt.cluster, wt.upstream
            if wt.verdict != DELIVERED or upstream is None or not upstream.address:
                verdict, details, response = wt.verdict, wt.details, wt.response
            else:
                server_addr = upstream.address
    elif verdict is None and leg.server_address:
        server_addr = leg.server_address
    if verdict is None and server_addr:
        server_ip = server_addr.rpartition(":")[0].strip("[]")
        spod = next((p for p in [*pods, *ev.get_or([], Need.PODS, ns)] if p.ip == server_ip), None)
        szt = None
        why = "no pod with that IP was found"
        if spod is not None:
            sns, sname = spod.metadata.namespace or dest_ns, spod.metadata.name
            await g.gather([EvidenceKey(need=Need.ZTUNNEL_CONFIG, namespace=sns, name=sname)])
            szt = ev.get_or(None, Need.ZTUNNEL_CONFIG, sns, sname)
            why = _why_missing(g, Need.ZTUNNEL_CONFIG, sns, sname) if szt is None else ""
            out.server = f"{sns}/{sname}"
        snode = getattr(spod.spec, "node_name", None) if spod is not None else None
        shops, sunk = server_leg(szt, server_ip, server_addr, proxy=f"ztunnel@{snode or '?'}", source=leg.source_identity,
                                 why_missing=why)
        hops += shops
        unknowns += sunk
        brk = next((h for h in shops if h.status == "break"), None)
        verdict = brk.stage.value if brk is not None else DELIVERED
        if brk is not None:
            response = "connection reset by the destination ztunnel"
    out.trace = Trace(request=req, verdict=verdict or DELIVERED, cluster=cluster, details=details, response=response,
                      hops=hops, upstream=upstream, unknowns=unknowns)
    out.notes.append(f"ambient client {ns}/{pod}: traced through ztunnel"
                     + (f" and waypoint {leg.waypoint.namespace}/{leg.waypoint.name}" if leg.waypoint is not None else ""))
    return out
