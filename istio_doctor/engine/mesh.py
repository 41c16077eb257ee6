"""Istio's resolution rules, shared by every check section (one implementation, tested once).

* which DestinationRule applies to a host for a client (namespace precedence, exportTo,
  workloadSelector);
* the effective PeerAuthentication mode of a workload and port (workload > namespace >
  root namespace; port-level keyed by the *target* (container) port);
* which Services and pods stand behind a host (and a subset);
* which VirtualServices apply to a host for a gateway (``mesh`` for sidecars).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.istio import exported_to, fqdn, host_matches

DEFAULT_DOMAIN = "svc.cluster.local"


def svc_fqdn(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.{DEFAULT_DOMAIN}"


def split_service_fqdn(host: str) -> tuple[str, str] | None:
    """``reviews.default.svc.cluster.local`` -> (reviews, default); None for external hosts."""
    parts = host.split(".")
    if len(parts) >= 3 and parts[2] == "svc":
        return parts[0], parts[1]
    return None


def root_namespace(ctx: CheckContext) -> str:
    try:
        mc = ctx.mesh_config()
        return getattr(mc, "root_namespace", None) or ctx.conn.istio_namespace
    except Exception:  # noqa: BLE001 - mesh config missing: Istio's default root namespace
        return ctx.conn.istio_namespace


def service_for_host(ctx: CheckContext, host: str) -> Any | None:
    sn = split_service_fqdn(host)
    if sn is None:
        return None
    for s in ctx.services():
        if s.metadata.name == sn[0] and s.metadata.namespace == sn[1]:
            return s
    return None


def pods_for_service(ctx: CheckContext, svc: Any, subset_labels: dict[str, str] | None = None) -> list[Any]:
    """Pods the Service selects (and the subset's labels, when given). Needs PODS of its namespace."""
    pods = ctx.pods(svc.metadata.namespace)
    out = [p for p in pods if svc.selects(p)]
    if subset_labels:
        out = [p for p in out if all(p.labels.get(k) == v for k, v in subset_labels.items())]
    return out


@dataclass(frozen=True)
class AppliedRule:
    rule: Any  # DestinationRule
    why: str  # human-readable reason this one applies


def destination_rule_for(ctx: CheckContext, host: str, client_namespace: str, client_labels: dict[str, str] | None = None) -> AppliedRule | None:
    """The DestinationRule Istio applies for ``host`` as seen from a client namespace.

    Istio looks in the client's namespace first, then the host's (service) namespace, then
    the root namespace; within one namespace an exact host beats a wildcard, a
    workloadSelector must match the client, and exportTo must let the client see the rule.
    """
    rules = ctx.resources(Need.DESTINATION_RULES)
    svc_ns = split_service_fqdn(host)
    order = [client_namespace]
    if svc_ns and svc_ns[1] not in order:
        order.append(svc_ns[1])
    root = root_namespace(ctx)
    if root not in order:
        order.append(root)
    for ns in order:
        cands = []
        for dr in rules:
            if dr.metadata.namespace != ns or not dr.spec.host:
                continue
            if not exported_to(dr.spec.export_to, ns, client_namespace):
                continue
            ws = dr.spec.workload_selector
            if ws is not None and ws.labels and not ws.matches(client_labels or {}):
                continue
            h = fqdn(dr.spec.host, ns)
            if host_matches(h, host):
                cands.append((0 if h == host else 1, len(h) * -1, dr))
        if cands:
            cands.sort(key=lambda c: (c[0], c[1], c[2].metadata.name))
            dr = cands[0][2]
            where = "the client's namespace" if ns == client_namespace else ("the root namespace" if ns == root else "the service's namespace")
            return AppliedRule(dr, f"DestinationRule {ns}/{dr.metadata.name} (host {dr.spec.host}) in {where}")
    return None


def all_destination_rules_for(ctx: CheckContext, host: str) -> list[Any]:
    """Every DR whose host matches (for shadowing checks), in any namespace."""
    out = []
    for dr in ctx.resources(Need.DESTINATION_RULES):
        if dr.spec.host and host_matches(fqdn(dr.spec.host, dr.metadata.namespace or "default"), host):
            out.append(dr)
    return out


@dataclass(frozen=True)
class EffectiveMtls:
    mode: str  # STRICT | PERMISSIVE | DISABLE
    source: str  # "PeerAuthentication ns/name (workload)" or "default (no PeerAuthentication)"
    policy: Any | None = None
    port_level: bool = False


def _mode(pa: Any) -> str | None:
    m = pa.mode
    return None if m in (None, "", "UNSET") else m


def effective_mtls(ctx: CheckContext, pod: Any, target_port: int | None = None) -> EffectiveMtls:
    """The mTLS mode a server workload enforces on a port (Istio's PeerAuthentication precedence).

    workload-selector PA in the pod's namespace > namespace-wide PA > root-namespace (mesh)
    PA > PERMISSIVE. ``UNSET`` inherits from the parent. ``portLevelMtls`` of a workload PA is
    keyed by the port the *workload* listens on (the container/target port).
    """
    pas = ctx.resources(Need.PEER_AUTHENTICATIONS)
    ns = pod.metadata.namespace
    root = root_namespace(ctx)
    workload = sorted(
        (p for p in pas if p.metadata.namespace == ns and p.is_workload_level and p.spec.selector.matches(pod.labels)),
        key=lambda p: (str(p.metadata.creation_timestamp or ""), p.metadata.name),
    )
    namespace_wide = [p for p in pas if p.metadata.namespace == ns and not p.is_workload_level]
    mesh_wide = [p for p in pas if p.metadata.namespace == root and not p.is_workload_level]
    inherited: EffectiveMtls = EffectiveMtls("PERMISSIVE", "default (no PeerAuthentication applies)")
    for p in mesh_wide[:1]:
        if _mode(p):
            inherited = EffectiveMtls(_mode(p), f"PeerAuthentication {root}/{p.metadata.name} (mesh-wide)", p)
    for p in namespace_wide[:1]:
        if _mode(p):
            inherited = EffectiveMtls(_mode(p), f"PeerAuthentication {ns}/{p.metadata.name} (namespace-wide)", p)
    for p in workload[:1]:
        if target_port is not None and target_port in p.spec.port_level_mtls:
            m = p.spec.port_level_mtls[target_port].mode
            if m and m != "UNSET":
                return EffectiveMtls(m, f"PeerAuthentication {ns}/{p.metadata.name} (port {target_port})", p, True)
        if _mode(p):
            return EffectiveMtls(_mode(p), f"PeerAuthentication {ns}/{p.metadata.name} (workload selector)", p)
    return inherited


def virtual_services_for_host(ctx: CheckContext, host: str, *, gateway: str = "mesh", client_namespace: str | None = None) -> list[Any]:
    """VirtualServices that apply to ``host`` for ``gateway`` (``mesh`` = sidecars; else ``ns/name``)."""
    out = []
    for vs in ctx.resources(Need.VIRTUAL_SERVICES):
        vns = vs.metadata.namespace or "default"
        if client_namespace and not exported_to(vs.spec.export_to, vns, client_namespace):
            continue
        gws = [g if (g == "mesh" or "/" in g) else f"{vns}/{g}" for g in vs.spec.gateways] or ["mesh"]
        if gateway not in gws:
            continue
        if any(host_matches(fqdn(h, vns), host) or host_matches(host, fqdn(h, vns)) for h in vs.spec.hosts):
            out.append(vs)
    return out


def container_port_for(svc: Any, port: Any, pod: Any) -> int | None:
    """The pod port a Service port targets (named targetPort resolved through the pod's ports)."""
    tp = port.effective_target_port
    if isinstance(tp, int):
        return tp
    for c in pod.app_containers:
        for cp in c.ports:
            if cp.name == tp:
                return cp.container_port
    return None
