"""The mesh rules bound to a check's evidence: root namespace, cluster domain, and the lookups
of ``lookup`` / ``peerauth`` fed from the ``CheckContext``.

Every read here goes through the context, so it counts against the running check's declared
evidence: a check that asks for a DestinationRule declares ``DESTINATION_RULES`` (and, to know
the root namespace and the mesh-wide exportTo defaults, ``CONTROL_PLANE_CONFIGMAPS``, optional).
Missing optional evidence falls back to Istio's defaults (``MissingEvidence`` only, never a
bare ``Exception``).
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh import domain as _domain
from istio_doctor.engine.mesh.hosts import DEFAULT_DOMAIN, dns_fqdn, host_matches, resolve_short_name, service_fqdn, split_service_fqdn
from istio_doctor.engine.mesh.lookup import AppliedRule, MeshView, destination_rule, sidecar, virtual_services
from istio_doctor.engine.mesh.peerauth import EffectiveMtls
from istio_doctor.engine.mesh.peerauth import effective_mtls as _effective_mtls
from istio_doctor.engine.mesh.visibility import Kind, exported_to, mesh_default, service_export_to
from istio_doctor.evidence.bundle import MissingEvidence, Need


def mesh_config(ctx: CheckContext, revision: str | None = None) -> Any | None:
    """MeshConfig when gathered; None means Istio's defaults apply. A check that reaches this
    (root namespace, exportTo defaults) declares ``CONTROL_PLANE_CONFIGMAPS`` (optional is enough)."""
    try:
        return ctx.mesh_config(revision)
    except MissingEvidence:
        return None


def root_namespace(ctx: CheckContext) -> str:
    """MeshConfig ``rootNamespace``; without it, the control plane's namespace (Istio's default)."""
    mc = mesh_config(ctx)
    return (getattr(mc, "root_namespace", None) if mc is not None else None) or ctx.conn.istio_namespace


def cluster_domain(ctx: CheckContext, pod: Any | None = None) -> str:
    """The cluster's DNS domain from the evidence this check declared (``domain`` names the sources)."""
    return cluster_domain_and_source(ctx, pod)[0]


def cluster_domain_and_source(ctx: CheckContext, pod: Any | None = None) -> tuple[str, str]:
    # Asked for every host a check resolves: memoised per subject, pod object and the sources
    # this check may read (a check reads only the sources it declared).
    key = ("cluster-domain", ctx.namespace, ctx.pod_name, id(pod), ctx.declares(Need.POD),
           ctx.declares(Need.CONTROL_PLANE_CONFIGMAPS), ctx.declares(Need.CONFIG_DUMP))
    return ctx._memo(key, lambda: _cluster_domain_and_source(ctx, pod))  # noqa: SLF001 - the context's own per-walk memo


def _cluster_domain_and_source(ctx: CheckContext, pod: Any | None) -> tuple[str, str]:
    if pod is None and ctx.pod_name and ctx.declares(Need.POD):
        try:
            pod = ctx.pod()
        except MissingEvidence:
            pod = None
    values = None
    if ctx.declares(Need.CONTROL_PLANE_CONFIGMAPS):
        cp = ctx.ev.get_or(None, Need.CONTROL_PLANE_CONFIGMAPS)
        inj = cp.injector_for(getattr(pod, "revision", None)) or cp.injector_for(None) if cp is not None else None
        values = inj.values if inj is not None else None
    node_id = None
    if ctx.pod_name and ctx.declares(Need.CONFIG_DUMP):
        dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
        node_id = dump.node.id if dump is not None else None
    return _domain.cluster_domain(pod=pod, injector_values=values, node_id=node_id)


def view(ctx: CheckContext) -> MeshView:
    return MeshView(root_namespace=root_namespace(ctx), domain=cluster_domain(ctx), version=ctx.istio_version,
                    mesh_config=mesh_config(ctx))


def svc_fqdn(ctx: CheckContext, name: str, namespace: str) -> str:
    return service_fqdn(name, namespace, cluster_domain(ctx))


def service_host(ctx: CheckContext, svc: Any) -> str:
    """A Service's host name in this cluster's domain."""
    return service_fqdn(svc.metadata.name, svc.metadata.namespace or "default", cluster_domain(ctx))


def config_host(ctx: CheckContext, host: str, namespace: str) -> str:
    """A host of an Istio resource as Istio reads it (``resolve_short_name`` in this cluster's domain)."""
    return resolve_short_name(host, namespace, cluster_domain(ctx))


def client_host(ctx: CheckContext, host: str, namespace: str) -> str:
    """A name as a client's DNS search path resolves it (``dns_fqdn`` in this cluster's domain)."""
    return dns_fqdn(host, namespace, cluster_domain(ctx))


def service_visible(ctx: CheckContext, svc: Any, client_namespace: str) -> bool:
    """Whether a proxy in ``client_namespace`` sees the Kubernetes Service: its exportTo annotation,
    else MeshConfig's ``defaultServiceExportTo`` (read when the check declared the mesh config)."""
    return exported_to(service_export_to(svc, ctx.istio_version), svc.metadata.namespace or "default", client_namespace,
                       service_export_default(ctx))


def service_entry_visible(ctx: CheckContext, se: Any, client_namespace: str) -> bool:
    """The same for a ServiceEntry (its ``exportTo``; the default is the Services' one too)."""
    return exported_to(se.spec.export_to, se.metadata.namespace or "default", client_namespace, service_export_default(ctx))


def service_export_default(ctx: CheckContext) -> list[str]:
    """MeshConfig ``defaultServiceExportTo`` (empty: Istio's default, public)."""
    mc = mesh_config(ctx) if ctx.declares(Need.CONTROL_PLANE_CONFIGMAPS) else None
    return mesh_default(mc, Kind.SERVICE)


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


def destination_rule_for(ctx: CheckContext, host: str, client_namespace: str, client_labels: dict[str, str] | None = None) -> AppliedRule | None:
    """The (merged) DestinationRule Istio applies for ``host`` as seen from a client namespace."""
    return destination_rule(ctx.resources(Need.DESTINATION_RULES), host, client_namespace, view(ctx), client_labels)


def all_destination_rules_for(ctx: CheckContext, host: str) -> list[Any]:
    """Every DestinationRule whose (resolved) host covers ``host``, in any namespace (shadowing checks)."""
    domain = cluster_domain(ctx)
    return [dr for dr in ctx.resources(Need.DESTINATION_RULES)
            if dr.spec.host and host_matches(resolve_short_name(dr.spec.host, dr.metadata.namespace or "default", domain), host)]


def virtual_services_for_host(ctx: CheckContext, host: str, *, gateway: str = "mesh", client_namespace: str | None = None) -> list[Any]:
    """VirtualServices that apply to ``host`` for ``gateway`` (``mesh`` = sidecars; else ``ns/name``)."""
    return virtual_services(ctx.resources(Need.VIRTUAL_SERVICES), host, view(ctx), gateway=gateway, client_namespace=client_namespace)


def sidecar_for(ctx: CheckContext, pod: Any) -> Any | None:
    """The Sidecar resource scoping ``pod``'s proxy (None for gateways, or when none applies)."""
    return sidecar(ctx.resources(Need.SIDECARS), pod.metadata.namespace, dict(pod.labels), view(ctx),
                   is_gateway=bool(getattr(pod, "is_gateway", False)))


def effective_mtls(ctx: CheckContext, pod: Any, target_port: int | None = None) -> EffectiveMtls:
    return _effective_mtls(ctx.resources(Need.PEER_AUTHENTICATIONS), pod, root_namespace(ctx), target_port)


def container_port_for(svc: Any, port: Any, pod: Any) -> int | None:
    """The pod port a Service port targets (a named targetPort resolved through the pod's ports)."""
    tp = port.effective_target_port
    if isinstance(tp, int):
        return tp
    for c in pod.app_containers:
        for cp in c.ports:
            if cp.name == tp:
                return cp.container_port
    return None


__all__ = [
    "DEFAULT_DOMAIN", "AppliedRule", "EffectiveMtls", "all_destination_rules_for", "client_host", "cluster_domain",
    "cluster_domain_and_source", "config_host", "container_port_for", "destination_rule_for", "effective_mtls", "mesh_config",
    "pods_for_service", "root_namespace", "service_entry_visible", "service_export_default", "service_for_host", "service_host",
    "service_visible", "sidecar_for", "svc_fqdn", "view", "virtual_services_for_host",
]
