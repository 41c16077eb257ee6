"""A live (or replayed) request trace: gather what ``trace pod/CLIENT --to ...`` needs, trace it.

Everything learned about the cluster goes through the gatherer and its runner (live, recording
or replay), like a diagnosis: the client pod, its config dump, the Services and pods that name
the destination, and, when the request reaches a pod with a sidecar, that pod's config dump and
listening sockets, so the trace continues on the server's side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from istio_doctor.engine.mesh.domain import cluster_domain
from istio_doctor.engine.mesh.hosts import dns_fqdn, split_service_fqdn
from istio_doctor.engine.trace import Trace, TraceRequest, continue_on_server, trace_request
from istio_doctor.engine.trace.resolve import Destination, DestinationError, pod_by_ip, resolve_destination
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
    dump = ev.get_or(None, Need.CONFIG_DUMP, ns, pod)
    if dump is None:
        return TraceOutcome(None, failure=f"the config dump of pod {ns}/{pod} could not be read: "
                            f"{_why_missing(g, Need.CONFIG_DUMP, ns, pod)}", gatherer=g)
    services = ev.get_or([], Need.SERVICES)
    domain, _where = cluster_domain(pod=ev.get_or(None, Need.POD, ns, pod), node_id=dump.node.id)
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
                       source_ip=dump.node.ip or None)
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


def _destination_namespace(to: str, client_ns: str, domain: str) -> str:
    text = to[4:] if to.startswith("svc/") else to
    host = text.split(":", 1)[0] if not text.startswith("[") else ""
    if to.startswith("svc/"):
        name, _, ns = host.partition(".")
        return ns or client_ns
    sn = split_service_fqdn(dns_fqdn(host.lower(), client_ns, domain)) if host else None
    return sn[1] if sn else client_ns
