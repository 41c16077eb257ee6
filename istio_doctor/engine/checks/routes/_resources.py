"""Istio resources behind a routing failure, shared by the ``ROUTE-*`` checks: the VirtualServices,
Gateways, Services and ServiceEntries relevant to the examined pod (or the gateway pods a Gateway
selects), host matching against the registry, citations and ``istioctl analyze`` messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from istio_doctor.engine.checks.routes._proxy import (
    _authority_host,
    _entries,
    _find_vhost,
    _is_nr,
    _log,
    _route_config_name,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import client_host, config_host, service_host
from istio_doctor.engine.mesh import split_service_fqdn
from istio_doctor.engine.model import EvidenceRef
from istio_doctor.evidence.bundle import MissingEvidence, Need
from istio_doctor.engine.mesh.hosts import host_matches

# --------------------------------------------------------------------------------------
# Istio resource helpers
# --------------------------------------------------------------------------------------


def _vs_ns(vs: Any) -> str:
    return vs.metadata.namespace or "default"


def _gw_refs(vs: Any) -> list[str]:
    """``ns/name`` of every gateway a VS binds to (``mesh`` excluded): short names resolve in the VS namespace."""
    return [g if "/" in g else f"{_vs_ns(vs)}/{g}" for g in vs.spec.gateways if g != "mesh"]


def _gw_key(gw: Any) -> str:
    return f"{gw.metadata.namespace}/{gw.metadata.name}"


def _dump(obj: Any) -> Any:
    return obj.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def _vs_excerpt(vs: Any) -> dict[str, Any]:
    return {"apiVersion": vs.api_version, "kind": "VirtualService",
            "metadata": {"name": vs.metadata.name, "namespace": _vs_ns(vs)}, "spec": _dump(vs.spec)}


def _obj_excerpt(obj: Any, kind: str) -> dict[str, Any]:
    return {"apiVersion": obj.api_version, "kind": kind,
            "metadata": {"name": obj.metadata.name, "namespace": obj.metadata.namespace}, "spec": _dump(obj.spec)}


def _server_hosts_for(gw: Any, server: Any, vs_ns: str) -> list[str]:
    out = []
    for h in server.hosts:
        ns, sep, host = h.partition("/")
        if not sep:
            out.append(h)
            continue
        if ns == "*" or ns == vs_ns or (ns == "." and gw.metadata.namespace == vs_ns):
            out.append(host)
    return out


def _gateways_selecting(ctx: CheckContext, pod: Any) -> list[Any]:
    return [g for g in ctx.resources(Need.GATEWAYS) if g.spec.selector and all(pod.labels.get(k) == v for k, v in g.spec.selector.items())]


def _pod_services(ctx: CheckContext, pod: Any) -> list[Any]:
    try:
        return ctx.services_selecting(pod)
    except MissingEvidence:  # services missing: no server-side relevance
        return []


def _service_by_fqdn(ctx: CheckContext, host: str) -> Any | None:
    sn = split_service_fqdn(host)
    if sn is None:
        return None
    for s in ctx.ev.get_or([], Need.SERVICES):
        if s.metadata.name == sn[0] and s.metadata.namespace == sn[1]:
            return s
    return None


def _service_for_authority(ctx: CheckContext, host: str, client_ns: str) -> Any | None:
    """The Service a client means by a Host header (DNS search path, or the ClusterIP)."""
    parts = host.split(".")
    svcs = ctx.ev.get_or([], Need.SERVICES)
    for s in svcs:
        ip = s.spec.cluster_ip
        if ip and ip == host:
            return s
    if len(parts) == 1:
        return next((s for s in svcs if s.metadata.name == host and s.metadata.namespace == client_ns), None)
    return _service_by_fqdn(ctx, client_host(ctx, host, client_ns))


def _service_entries_for(ctx: CheckContext, host: str) -> list[Any]:
    return [se for se in ctx.ev.get_or([], Need.SERVICE_ENTRIES) if any(host_matches(h, host) for h in se.spec.hosts)]


def _in_registry(ctx: CheckContext, host: str) -> bool:
    """Istio's service registry: Kubernetes Services plus ServiceEntry hosts."""
    if _service_by_fqdn(ctx, host) is not None:
        return True
    return bool(_service_entries_for(ctx, host))


def _vs_matches_host(ctx: CheckContext, vs: Any, host: str, svc_fqdn: str | None) -> bool:
    for h in vs.spec.hosts:
        r = config_host(ctx, h, _vs_ns(vs))
        if host_matches(r, host) or (svc_fqdn and host_matches(r, svc_fqdn)):
            return True
    return False


def _analyze(ctx: CheckContext, codes: Iterable[str], *, kind: str | None = None, name: str | None = None,
             namespace: str | None = None, contains: str | None = None) -> list[Any]:
    msgs: list[Any] = []
    seen_ns = {ctx.namespace} | ({namespace} if namespace else set())
    for ns in seen_ns:
        msgs.extend(ctx.ev.get_or([], Need.ANALYZE, ns))
    out = []
    for m in msgs:
        if not any(m.is_(c) for c in codes):
            continue
        if kind and m.origin_kind and m.origin_kind != kind:
            continue
        if name and m.origin_name and m.origin_name != name:
            continue
        if namespace and m.origin_namespace and m.origin_namespace != namespace:
            continue
        if contains and contains not in m.message:
            continue
        out.append(m)
    return list({(m.code, m.origin, m.message): m for m in out}.values())


def _analyze_ref(ctx: CheckContext, msgs: list[Any]) -> list[EvidenceRef]:
    if not msgs:
        return []
    text = "\n".join(m.as_printed for m in msgs[:4])
    return [ctx.ref(Need.ANALYZE, text, "istioctl analyze agrees")]


def _pod_pool(ctx: CheckContext, namespaces: Iterable[str]) -> tuple[list[Any], set[str]]:
    """Pods we can see, and the namespaces whose pods we know (for selector questions)."""
    pods: list[Any] = []
    known: set[str] = set()
    cp = ctx.ev.get_or(None, Need.CONTROL_PLANE_PODS)
    if cp is not None:
        pods.extend(cp)
        known.add(ctx.conn.istio_namespace)
    for ns in set(namespaces) | {ctx.namespace}:
        got = ctx.ev.get_or(None, Need.PODS, ns)
        if got is not None:
            pods.extend(got)
            known.add(ns)
    uniq = {(p.metadata.namespace, p.metadata.name): p for p in pods}
    return list(uniq.values()), known


def _selected_pods(pool: list[Any], selector: dict[str, str]) -> list[Any]:
    return [p for p in pool if selector and all(p.labels.get(k) == v for k, v in selector.items())]


def _relevant_vs_for_pod(ctx: CheckContext, pod: Any) -> list[Any]:
    """VirtualServices that route to the examined pod's Services (it is their server)."""
    fqdns = {service_host(ctx, s) for s in _pod_services(ctx, pod)}
    out = []
    for vs in ctx.ev.get_or([], Need.VIRTUAL_SERVICES):
        if any(config_host(ctx, d.host, _vs_ns(vs)) in fqdns or client_host(ctx, d.host, _vs_ns(vs)) in fqdns for d in vs.destinations):
            out.append(vs)
    return out


def _relevant_gateways(ctx: CheckContext, pod: Any) -> list[Any]:
    """Gateways the examined pod's traffic goes through: the ones selecting it (a gateway pod),
    or the ones bound by VirtualServices that route to its Services (ingress to an app)."""
    gws = ctx.resources(Need.GATEWAYS)
    if pod.is_gateway:
        return _gateways_selecting(ctx, pod)
    refs = {r for vs in _relevant_vs_for_pod(ctx, pod) for r in _gw_refs(vs)}
    return [g for g in gws if _gw_key(g) in refs]


def _vs_bound_to(ctx: CheckContext, gw: Any) -> list[Any]:
    key = _gw_key(gw)
    return [vs for vs in ctx.resources(Need.VIRTUAL_SERVICES) if key in _gw_refs(vs)]


def _nr_without_vhost(ctx: CheckContext, dump: Any, log: Any, pod: Any) -> dict[str, list[Any]]:
    """NR entries whose authority matches no virtual host with routes, by authority host."""
    out: dict[str, list[Any]] = {}
    for e in _entries(log):
        if not _is_nr(e) or not e.authority:
            continue
        rc_name = _route_config_name(dump, e, pod.is_gateway)
        vh = _find_vhost(dump, rc_name, e.authority)
        if vh is None or not vh.routes:
            out.setdefault(_authority_host(e.authority), []).append(e)
    return out


def _gw_lists_host(gw: Any, host: str) -> bool:
    """The Gateway names the host itself (not only through ``*``)."""
    return any(h != "*" and host_matches(h, host) for s in gw.spec.servers for h in (x.partition("/")[2] or x for x in s.hosts))


def _gw_serves_host(gw: Any, host: str, vs_ns: str | None = None) -> bool:
    for s in gw.spec.servers:
        hosts = _server_hosts_for(gw, s, vs_ns) if vs_ns else [h.partition("/")[2] or h for h in s.hosts]
        if any(host_matches(h, host) for h in hosts):
            return True
    return False


def _relevant_hosts(ctx: CheckContext, pod: Any) -> set[str]:
    hosts = {service_host(ctx, s) for s in _pod_services(ctx, pod)}
    for e in _entries(_log(ctx)):
        if e.is_envoy_generated and e.authority:
            svc = _service_for_authority(ctx, _authority_host(e.authority), ctx.namespace)
            if svc is not None:
                hosts.add(service_host(ctx, svc))
    return hosts
