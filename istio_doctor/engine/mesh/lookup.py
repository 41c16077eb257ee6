"""Which configuration applies: Istio's lookup order for DestinationRules, VirtualServices and Sidecars.

**DestinationRule** (``PushContext.destinationRule``, ``istio/istio@1.22.0:pilot/pkg/model/push_context.go``;
the order is the same back to ``istio/istio@1.4.0``):

1. the client's namespace: every rule there that is visible in its own namespace (``exportTo``
   empty, ``*``, ``.`` or naming it) — a client in the root namespace reads only the root
   namespace's *private* rules at this step;
2. the Service's namespace: rules exported to the client (not private-only);
3. the root namespace (MeshConfig ``rootNamespace``): rules exported to the client.

At each step the most specific host wins (exact, then the longest wildcard:
``MostSpecificHostMatch``) and the first step with a match decides — even when nothing there
applies to this client in the end (a workloadSelector rule for other workloads shadows the
service namespace's rule). Export of steps 2–3 is judged on the winning host only.
Short hosts are expanded with ``ResolveShortnameToFQDN`` (dotless names only).

Rules of one namespace for the same host are **merged** (``mergeDestinationRule``,
``pilot/pkg/model/destination_rule.go``): the oldest rule first, subsets of later rules are
appended unless the name is taken, and the first top-level ``trafficPolicy`` wins. Versions:

* < 1.6: no merging, the oldest rule alone applies (``istio/istio@1.5.0``: no ``mergeDestinationRule``);
* 1.6–1.13: merging, ``workloadSelector`` does not exist;
* 1.14–1.21: rules with a ``workloadSelector`` apply only to matching clients in their own
  namespace (and are never exported); rules are merged in creation order;
* ≥ 1.22: rules with a selector are ordered first before merging (``#49057``).

For a client, a selector rule of its own namespace whose labels it carries beats the
catch-all rule (``SidecarScope.DestinationRule``, ``pilot/pkg/model/sidecar.go``).

**VirtualService** (``VirtualServicesForGateway``): rules private to the client's namespace,
then those exported to it, then public ones, each in creation order; ``gateways`` entries are
resolved with ``resolveGatewayName`` and an empty list means ``mesh``.

**Sidecar** (``getSidecarScope``): gateways use none; for a sidecar, the oldest Sidecar of its
namespace whose workloadSelector it matches, else the namespace's Sidecar without selector,
else the root namespace's Sidecar without selector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from istio_doctor.engine.mesh.hosts import (
    DEFAULT_DOMAIN,
    hosts_intersect,
    most_specific,
    resolve_gateway_name,
    resolve_short_name,
    split_service_fqdn,
)
from istio_doctor.engine.mesh.visibility import PRIVATE, PUBLIC, Kind, exported_to, mesh_default
from istio_doctor.evidence.versions import Version


def _at_least(version: Version | None, major: int, minor: int) -> bool:
    return version is None or version.at_least(major, minor)


def _created(obj: Any) -> tuple[str, str, str]:
    """``sortByCreationComparator``: creation time, then name, then namespace."""
    m = obj.metadata
    return (str(m.creation_timestamp or ""), m.name or "", m.namespace or "")


# --------------------------------------------------------------------------------------
# DestinationRule
# --------------------------------------------------------------------------------------


@dataclass
class AppliedRule:
    """The DestinationRule a client applies to a host: the oldest rule of the merged set, and
    the merged subsets and traffic policy Istio builds from every rule of that set."""

    rule: Any  # DestinationRule (the first of ``merged``)
    why: str  # human-readable reason this one applies
    merged: list[Any] = field(default_factory=list)  # every rule merged in, ``rule`` first
    subsets: list[Any] = field(default_factory=list)
    traffic_policy: Any | None = None
    #: which step decided: "client" | "service" | "root"
    step: str = "client"

    @property
    def names(self) -> list[str]:
        return [f"{r.metadata.namespace}/{r.metadata.name}" for r in self.merged or [self.rule]]

    def subset(self, name: str) -> Any | None:
        return next((s for s in self.subsets if s.name == name), None)


def selector_labels(ws: Any | None) -> dict[str, str]:
    """Labels of a ``workloadSelector``: ``matchLabels`` for DestinationRules
    (``istio.type.v1beta1.WorkloadSelector``), ``labels`` for Sidecars and ServiceEntries."""
    if ws is None:
        return {}
    extra = getattr(ws, "model_extra", None) or {}
    return dict(getattr(ws, "match_labels", None) or extra.get("matchLabels") or extra.get("match_labels") or ws.labels or {})


def _selector(dr: Any, version: Version | None) -> dict[str, str] | None:
    ws = dr.spec.workload_selector
    if ws is None or not _at_least(version, 1, 14):
        return None
    return selector_labels(ws)


def _export_set(dr: Any, version: Version | None) -> list[str]:
    # "destination rules with workloadSelector should not be exported to other namespaces"
    return [PRIVATE] if _selector(dr, version) is not None else list(dr.spec.export_to)


def _visible_locally(dr: Any, version: Version | None) -> bool:
    ex = _export_set(dr, version)
    ns = dr.metadata.namespace
    return not ex or PUBLIC in ex or PRIVATE in ex or ns in ex


def _private_only(dr: Any, version: Version | None, default: list[str]) -> bool:
    ex = _export_set(dr, version)
    if not ex:
        return PRIVATE in default
    return len(ex) == 1 and (PRIVATE in ex or dr.metadata.namespace in ex)


def _exported_to_client(ex: list[str], client_namespace: str) -> bool:
    # getExportedDestinationRuleFromNamespace: empty, public, or naming the client's namespace
    return not ex or PUBLIC in ex or client_namespace in ex


def merge(rules: list[Any], version: Version | None) -> list[AppliedRule]:
    """``mergeDestinationRule`` over the rules of one namespace for one host."""
    if not _at_least(version, 1, 22):
        ordered = sorted(rules, key=_created)
    else:
        ordered = sorted(rules, key=lambda r: (_selector(r, version) is None, _created(r)))
    if not _at_least(version, 1, 6):
        first = ordered[0]
        return [AppliedRule(first, "", [first], list(first.spec.subsets), first.spec.traffic_policy)]
    out: list[AppliedRule] = []
    for dr in ordered:
        sel = _selector(dr, version)
        add = True
        for e in out:
            esel = _selector(e.rule, version)
            both_with = sel is not None and esel is not None
            if both_with and sel != esel:
                continue
            if (sel is None and esel is None) or (sel is not None and sel == (esel or {})):
                add = False
            e.merged.append(dr)
            taken = {s.name for s in e.subsets}
            e.subsets.extend(s for s in dr.spec.subsets if s.name not in taken)
            if e.traffic_policy is None and dr.spec.traffic_policy is not None:
                e.traffic_policy = dr.spec.traffic_policy
        if add:
            out.append(AppliedRule(dr, "", [dr], list(dr.spec.subsets), dr.spec.traffic_policy))
    return out


def _pick(entries: list[AppliedRule], client_namespace: str, client_labels: dict[str, str] | None,
          version: Version | None) -> AppliedRule | None:
    """``SidecarScope.DestinationRule``: a matching selector rule of the client's namespace, else the catch-all."""
    catch_all = None
    labels = client_labels or {}
    for e in entries:
        sel = _selector(e.rule, version)
        if sel is None:
            catch_all = e
        elif e.rule.metadata.namespace == client_namespace and all(labels.get(k) == v for k, v in sel.items()):
            return e
    return catch_all


@dataclass(frozen=True)
class MeshView:
    """What the lookups need from the cluster (so they stay pure and testable)."""

    root_namespace: str = "istio-system"
    domain: str = DEFAULT_DOMAIN
    version: Version | None = None
    mesh_config: Any | None = None


def destination_rule(rules: list[Any], host: str, client_namespace: str, view: MeshView,
                     client_labels: dict[str, str] | None = None, service_namespace: str | None = None) -> AppliedRule | None:
    """The DestinationRule (merged) a client in ``client_namespace`` applies to ``host``."""
    version, root = view.version, view.root_namespace
    default = mesh_default(view.mesh_config, Kind.DESTINATION_RULE)
    resolved = [(dr, resolve_short_name(dr.spec.host, dr.metadata.namespace, view.domain)) for dr in rules if dr.spec.host]

    def at(ns: str, pool: list[tuple[Any, str]], step: str, exported: bool) -> tuple[bool, AppliedRule | None]:
        best = most_specific(host, [h for _, h in pool])
        if best is None:
            return False, None
        group = [dr for dr, h in pool if h == best]
        entries = merge(group, version)
        if exported:
            # the export set of the winning host: the first rule's, or a later one's when it sets none
            ex = next((_export_set(d, version) for e in entries for d in e.merged if _export_set(d, version)), [])
            if not _exported_to_client(ex, client_namespace):
                return False, None
        chosen = _pick(entries, client_namespace, client_labels, version)
        if chosen is None:
            return True, None
        where = {"client": "the client's namespace", "service": "the service's namespace", "root": "the root namespace"}[step]
        names = ", ".join(chosen.names)
        chosen.why = f"DestinationRule {names} (host {chosen.rule.spec.host}) in {where}"
        chosen.step = step
        return True, chosen

    # 1. the client's namespace (the root namespace's private rules for a client in the root namespace)
    if client_namespace != root:
        pool = [(dr, h) for dr, h in resolved if dr.metadata.namespace == client_namespace and _visible_locally(dr, version)]
    else:
        pool = [(dr, h) for dr, h in resolved if dr.metadata.namespace == root and _private_only(dr, version, default)]
    decided, out = at(client_namespace, pool, "client", exported=False)
    if decided:
        return out
    # 2. the service's namespace, 3. the root namespace: exported rules only
    svc_ns = service_namespace or (split_service_fqdn(host) or (None, None))[1]
    for ns, step in ((svc_ns, "service"), (root, "root")):
        if not ns:
            continue
        pool = [(dr, h) for dr, h in resolved if dr.metadata.namespace == ns and not _private_only(dr, version, default)]
        decided, out = at(ns, pool, step, exported=True)
        if decided:
            return out
    return None


# --------------------------------------------------------------------------------------
# VirtualService
# --------------------------------------------------------------------------------------


def vs_gateways(vs: Any) -> list[str]:
    """A VirtualService's gateways as ``ns/name`` (or ``mesh``); none listed means ``mesh``."""
    ns = vs.metadata.namespace or "default"
    return [resolve_gateway_name(g, ns) for g in vs.spec.gateways] or ["mesh"]


def vs_hosts(vs: Any, domain: str = DEFAULT_DOMAIN) -> list[str]:
    """``resolveVirtualServiceShortnames``: the VirtualService's hosts as Istio stores them."""
    ns = vs.metadata.namespace or "default"
    return [resolve_short_name(h, ns, domain) for h in vs.spec.hosts]


def virtual_services(vses: list[Any], host: str, view: MeshView, *, gateway: str = "mesh",
                     client_namespace: str | None = None) -> list[Any]:
    """VirtualServices that apply to ``host`` for ``gateway`` (``mesh`` = sidecars, else ``ns/name``),
    in the order Istio considers them for a proxy in ``client_namespace`` (when given, exportTo applies)."""
    default = mesh_default(view.mesh_config, Kind.VIRTUAL_SERVICE)
    private: list[Any] = []
    exported: list[Any] = []
    public: list[Any] = []
    for vs in sorted(vses, key=_created):
        vns = vs.metadata.namespace or "default"
        if gateway not in vs_gateways(vs):
            continue
        if not any(hosts_intersect(h, host) for h in vs_hosts(vs, view.domain)):
            continue
        if client_namespace is None:
            public.append(vs)
            continue
        if not exported_to(vs.spec.export_to, vns, client_namespace, default):
            continue
        ex = vs.spec.export_to or default
        if not ex or PUBLIC in ex:
            public.append(vs)
        elif vns == client_namespace:
            private.append(vs)
        else:
            exported.append(vs)
    return private + exported + public


# --------------------------------------------------------------------------------------
# Sidecar
# --------------------------------------------------------------------------------------


def sidecar(sidecars: list[Any], namespace: str, labels: dict[str, str], view: MeshView, *, is_gateway: bool = False) -> Any | None:
    """The Sidecar resource scoping a proxy (None: the default scope, everything visible)."""
    if is_gateway:
        return None
    own = sorted((s for s in sidecars if s.metadata.namespace == namespace), key=_created)
    for s in own:
        ws = s.spec.workload_selector
        if ws is not None and ws.labels and ws.matches(labels):
            return s
    for s in own:
        if s.spec.workload_selector is None or not s.spec.workload_selector.labels:
            return s
    for s in sorted((s for s in sidecars if s.metadata.namespace == view.root_namespace), key=_created):
        if s.spec.workload_selector is None or not s.spec.workload_selector.labels:
            return s
    return None
