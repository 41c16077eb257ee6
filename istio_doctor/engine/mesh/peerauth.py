"""The mTLS mode a server workload enforces: PeerAuthentication precedence.

https://istio.io/latest/docs/reference/config/security/peer_authentication/ and
``istio/istio@1.22.0:pilot/pkg/security/authn/policy_applier.go`` (``ComposePeerAuthentication``):
workload-selector policy in the pod's namespace > namespace-wide policy > root-namespace
(mesh-wide) policy > PERMISSIVE. ``UNSET`` inherits from the parent. Among several policies of
one level the oldest wins; a selector policy in the root namespace is ignored. ``portLevelMtls`` of a workload policy is keyed by the port the
*workload* listens on (the container/target port), not the Service port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EffectiveMtls:
    mode: str  # STRICT | PERMISSIVE | DISABLE
    source: str  # "PeerAuthentication ns/name (workload)" or "default (no PeerAuthentication)"
    policy: Any | None = None
    port_level: bool = False


def _mode(pa: Any) -> str | None:
    m = pa.mode
    return None if m in (None, "", "UNSET") else m


def _oldest(pas: list[Any]) -> list[Any]:
    return sorted(pas, key=lambda p: (str(p.metadata.creation_timestamp or ""), p.metadata.name))


def effective_mtls(pas: list[Any], pod: Any, root_namespace: str, target_port: int | None = None) -> EffectiveMtls:
    """The mode ``pod`` enforces on ``target_port`` (its whole-workload mode when None)."""
    ns = pod.metadata.namespace
    # a selector policy in the root namespace is no workload policy (``cfg.Namespace != rootNamespace``)
    workload = _oldest([p for p in pas if p.metadata.namespace == ns != root_namespace and p.is_workload_level
                        and p.spec.selector.matches(pod.labels)])
    namespace_wide = _oldest([p for p in pas if p.metadata.namespace == ns != root_namespace and not p.is_workload_level])
    mesh_wide = _oldest([p for p in pas if p.metadata.namespace == root_namespace and not p.is_workload_level])
    inherited = EffectiveMtls("PERMISSIVE", "default (no PeerAuthentication applies)")
    for p in mesh_wide[:1]:
        if m := _mode(p):
            inherited = EffectiveMtls(m, f"PeerAuthentication {root_namespace}/{p.metadata.name} (mesh-wide)", p)
    for p in namespace_wide[:1]:
        if m := _mode(p):
            inherited = EffectiveMtls(m, f"PeerAuthentication {ns}/{p.metadata.name} (namespace-wide)", p)
    for p in workload[:1]:
        if target_port is not None and target_port in p.spec.port_level_mtls:
            m = p.spec.port_level_mtls[target_port].mode
            if m and m != "UNSET":
                return EffectiveMtls(m, f"PeerAuthentication {ns}/{p.metadata.name} (port {target_port})", p, True)
        if m := _mode(p):
            return EffectiveMtls(m, f"PeerAuthentication {ns}/{p.metadata.name} (workload selector)", p)
    return inherited
