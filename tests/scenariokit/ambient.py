"""Ambient mode of a World: ztunnel and istio-cni per node, enrolment, waypoints, ztunnel traffic.

``World.ambient = Ambient(...)`` turns a world into an ambient mesh. The semantics follow Istio's
source (istio/istio@86c9f01, istio/ztunnel@62d8265) and the real outputs in
``tests/fixtures/corpus/ambient`` — the kit renders what those show, never the reverse:

* enrolment (cni/pkg/nodeagent, enablementSelectors of manifests/charts/istio-cni): a pod without
  sidecar whose own ``istio.io/dataplane-mode`` is ``ambient``, or whose namespace's is and its own
  is not ``none``, in a namespace istio-cni does not exclude, on a node with a Ready istio-cni, is
  annotated ``ambient.istio.io/redirection: enabled`` when the node's ztunnel is up, ``pending``
  when it is not (istio-cni >= 1.25; 1.24 wrote ``enabled`` for a partially added pod too);
* waypoints (pilot/pkg/serviceregistry/ambient/waypoints.go): ``istio.io/use-waypoint`` on the
  pod, service or namespace, looked up in the object's namespace unless
  ``istio.io/use-waypoint-namespace``; the Gateway's ``istio.io/waypoint-for`` (default
  ``service``) must accept the binding's traffic type;
* L4 authorization at the destination ztunnel (authorization.go): selector/namespace/root
  policies without targetRefs; HTTP fields are dropped (an ALLOW rule with them is omitted, a
  DENY keeps its L4 part); STRICT PeerAuthentication is the static policy
  ``istio-system/istio_converted_static_strict`` that denies plaintext sources.

Knobs that are faults, not configuration, are named in ``Ambient`` and documented in the
scenario kit README ("AMB" table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.scenariokit.world import Pod, Service, Ver, World, kube_suffix, labels_match

DATAPLANE = "istio.io/dataplane-mode"
REDIRECTION = "ambient.istio.io/redirection"
USE_WAYPOINT = "istio.io/use-waypoint"
USE_WAYPOINT_NS = "istio.io/use-waypoint-namespace"
WAYPOINT_FOR = "istio.io/waypoint-for"
INGRESS_USE_WAYPOINT = "istio.io/ingress-use-waypoint"

#: ztunnel fault knobs per node
ZTUNNEL_STATES = ("ok", "missing", "not_ready", "oomkilled")
CNI_STATES = ("ok", "missing", "not_ready")
#: per-workload faults ("ns/workload" -> fault)
POD_FAULTS = ("before_cni", "reconcile_failed", "dns_bind", "xds_timeout", "no_sandbox", "stale_pending")


@dataclass
class Ambient:
    """Ambient data plane of a World (istio-cni + ztunnel DaemonSets, istiod's ambient settings)."""

    #: where the ztunnel and istio-cni DaemonSets run (GKE/OpenShift layouts use kube-system)
    namespace: str = "istio-system"
    #: istiod's PILOT_ENABLE_AMBIENT value; None = unset (istiod installed without the ambient profile)
    istiod_ambient: str | None = "true"
    #: per-node ztunnel state (missing nodes: "ok")
    ztunnel: dict[str, str] = field(default_factory=dict)
    #: per-node istio-cni state (missing nodes: "ok")
    cni: dict[str, str] = field(default_factory=dict)
    #: seconds since istio-cni became Ready on a node (pods start 3600 s before now)
    cni_ready_ago_s: dict[str, int] = field(default_factory=dict)
    #: istio-cni EXCLUDE_NAMESPACES
    exclude_namespaces: list[str] = field(default_factory=list)
    dns_capture: bool = True
    #: ztunnel / istio-cni image tags; None = the control plane's version
    ztunnel_version: str | None = None
    cni_version: str | None = None
    #: "" | "gke" | "k3s" | "microk8s" | "openshift" | "eks": how the nodes present themselves
    platform: str = ""
    #: False: istio-cni installed without the platform profile (default CNI dirs)
    platform_profile: bool = True
    #: kube-system/cilium-config data when Cilium is the CNI (None: not Cilium)
    cilium: dict[str, str] | None = None
    #: a ResourceQuota admitting system-node-critical pods exists in ``namespace`` (GKE)
    resource_quota: bool = True
    #: istiod's CA_TRUSTED_NODE_ACCOUNTS; None = the chart default "<istiod ns>/ztunnel"
    trusted_node_accounts: str | None = None
    ztunnel_service_account: str = "ztunnel"
    #: Kubernetes NetworkPolicies (dicts in API shape: metadata + spec)
    network_policies: list[dict[str, Any]] = field(default_factory=list)
    #: "ns/workload" -> one of POD_FAULTS
    pod_faults: dict[str, str] = field(default_factory=dict)
    #: identities ("ns/sa") whose certificate ztunnel could not fetch (istiod CA unreachable)
    cert_unavailable: list[str] = field(default_factory=list)
    #: nodes whose ztunnel trusts another root CA (plugged-in CA served without its chain)
    other_root_nodes: list[str] = field(default_factory=list)
    #: nodes whose ztunnel restarted (upgrade): long connections closed by the drain
    draining_nodes: list[str] = field(default_factory=list)
    #: sidecars injected with ISTIO_META_ENABLE_HBONE (the ambient profile's proxyMetadata)
    sidecars_accept_hbone: bool = True
    #: kube-system/aws-node env when the CNI is the AWS VPC CNI (EKS)
    aws_node_env: dict[str, str] | None = None
    #: EKS SecurityGroupPolicies (dicts in API shape)
    security_group_policies: list[dict[str, Any]] = field(default_factory=list)
    #: Gateway status per waypoint "ns/name": "programmed" | "pending" (never reconciled) | "address_not_usable"
    waypoint_state: dict[str, str] = field(default_factory=dict)


def amb(world: World) -> Ambient | None:
    return getattr(world, "ambient", None)


# -- agents ------------------------------------------------------------------------------------


def quota_blocked(world: World) -> bool:
    """GKE admits system-node-critical pods only with a matching ResourceQuota (istio < 1.26 made none)."""
    a = amb(world)
    return bool(a and a.platform == "gke" and not a.resource_quota and a.namespace != "kube-system")


def ztunnel_state(world: World, node: str) -> str:
    a = amb(world)
    return "missing" if a is None or quota_blocked(world) else a.ztunnel.get(node, "ok")


def cni_state(world: World, node: str) -> str:
    a = amb(world)
    return "missing" if a is None or quota_blocked(world) else a.cni.get(node, "ok")


def ztunnel_up(world: World, node: str) -> bool:
    return ztunnel_state(world, node) == "ok"


def agent_pod_name(kind: str, node: str) -> str:
    base = "ztunnel" if kind == "ztunnel" else "istio-cni-node"
    return f"{base}-{kube_suffix(f'{base}/{node}', 5)}"


# -- enrolment ---------------------------------------------------------------------------------


def intent(world: World, pod: Pod) -> bool:
    """istio-cni's default enablementSelectors (manifests/charts/istio-cni/values.yaml)."""
    if pod.injected or pod.workload.host_network:
        return False
    own = pod.workload.labels.get(DATAPLANE)
    if own == "ambient":
        return True
    return world.ns_labels(pod.namespace).get(DATAPLANE) == "ambient" and own != "none"


def fault(world: World, pod: Pod) -> str:
    a = amb(world)
    return a.pod_faults.get(pod.workload.key, "") if a else ""


def cni_version(world: World) -> Ver:
    a = amb(world)
    return Ver.parse((a.cni_version if a else None) or world.istio_version)


def pending_supported(world: World) -> bool:
    """``pending`` exists from istio-cni 1.25 (constants.AmbientRedirectionPending); 1.24 annotated a
    partially added pod ``enabled`` (cni/pkg/nodeagent/server.go@1.24.2 AddPodToMesh)."""
    return cni_version(world) >= Ver(1, 25)


def redirection(world: World, pod: Pod) -> str | None:
    """The ``ambient.istio.io/redirection`` value istio-cni wrote (None: not enrolled)."""
    a = amb(world)
    if a is None or not intent(world, pod) or pod.namespace in a.exclude_namespaces:
        return None
    if cni_state(world, pod.node) != "ok" or not platform_paths_ok(world):
        return None
    if fault(world, pod) == "no_sandbox":
        return None  # the pod never got a sandbox
    if fault(world, pod) == "stale_pending":
        if not pending_supported(world):
            raise ValueError("stale_pending needs istio-cni >= 1.25 (no pending annotation before)")
        return "pending"  # ztunnel came back but nothing re-added the pod (istio-cni retries stopped)
    return "enabled" if ztunnel_up(world, pod.node) or not pending_supported(world) else "pending"


def partially_added(world: World, pod: Pod) -> bool:
    """istio-cni set the pod's rules but no ztunnel acknowledged it (ErrPartialAdd)."""
    return redirection(world, pod) is not None and (not ztunnel_up(world, pod.node) or fault(world, pod) == "stale_pending")


def platform_paths_ok(world: World) -> bool:
    """istio-cni's plugin is chained where the platform's CNI looks (and Cilium keeps it)."""
    a = amb(world)
    if a is None:
        return False
    if a.cilium and a.cilium.get("cni-exclusive") == "true":
        return False
    return a.platform_profile or a.platform in ("", "eks")


def captured(world: World, pod: Pod | None) -> bool:
    """ztunnel carries the pod's traffic (HBONE)."""
    if pod is None or redirection(world, pod) != "enabled" or not ztunnel_up(world, pod.node):
        return False
    return fault(world, pod) not in ("before_cni", "reconcile_failed", "dns_bind")


def in_ztunnel(world: World, pod: Pod) -> bool:
    """ztunnel knows the pod as a workload (every pod of the cluster; xDS lag hides one)."""
    return fault(world, pod) != "xds_timeout"


def identity(world: World, pod: Pod) -> str:
    return f"spiffe://{world.control_plane.mesh.trust_domain}/ns/{pod.namespace}/sa/{pod.workload.service_account}"


# -- waypoints ---------------------------------------------------------------------------------


def waypoints(world: World) -> list[dict[str, Any]]:
    return [g for g in world.resources("K8sGateway") if g["spec"].get("gatewayClassName") == "istio-waypoint"]


def waypoint_traffic(gw: dict[str, Any]) -> str:
    return (gw["metadata"].get("labels") or {}).get(WAYPOINT_FOR, "service")


def waypoint_programmed(world: World, gw: dict[str, Any]) -> bool:
    a = amb(world)
    key = f"{gw['metadata']['namespace']}/{gw['metadata']['name']}"
    return (a.waypoint_state.get(key, "programmed") if a else "pending") == "programmed"


def _binding(labels: dict[str, str], ns_labels: dict[str, str], obj_ns: str) -> tuple[str, str] | None:
    for holder in (labels, ns_labels):
        name = holder.get(USE_WAYPOINT)
        if name:
            if name == "none":
                return None
            return holder.get(USE_WAYPOINT_NS) or obj_ns, name
    return None


def find_waypoint(world: World, ns: str, name: str) -> dict[str, Any] | None:
    return next((g for g in waypoints(world) if g["metadata"]["namespace"] == ns and g["metadata"]["name"] == name), None)


def service_binding(world: World, svc: Service) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the waypoint a Service is bound to, its istio.io/WaypointBound condition) — status.go."""
    b = _binding(svc.labels, world.ns_labels(svc.namespace), svc.namespace)
    if b is None:
        return None, None
    ns, name = b
    gw = find_waypoint(world, ns, name)
    if gw is None or not waypoint_programmed(world, gw):
        # fetchWaypointForTarget: a missing or unready waypoint both read "is not ready"
        return None, {"type": "istio.io/WaypointBound", "status": "False", "reason": "WaypointIsNotReady",
                      "message": f'waypoint "{ns}/{name}" is not ready'}
    if waypoint_traffic(gw) not in ("service", "all"):
        return None, {"type": "istio.io/WaypointBound", "status": "False", "reason": "UnsupportedTrafficType",
                      "message": f'attempting to bind to traffic type "service" which the waypoint "{ns}/{name}" does not support'}
    msg = f"Successfully attached to waypoint {ns}/{name}"
    ingress = svc.labels.get(INGRESS_USE_WAYPOINT) or world.ns_labels(svc.namespace).get(INGRESS_USE_WAYPOINT)
    if ingress == "true":
        msg += ". Ingress traffic will traverse the waypoint"
    elif ingress is not None:
        msg += ". Ingress traffic is not using the waypoint, set the istio.io/ingress-use-waypoint label to true if desired."
    return gw, {"type": "istio.io/WaypointBound", "status": "True", "reason": "WaypointAccepted", "message": msg}


def pod_waypoint(world: World, pod: Pod) -> dict[str, Any] | None:
    """A pod's own waypoint: only a waypoint for ``workload`` or ``all`` traffic binds it."""
    b = _binding(pod.workload.labels, world.ns_labels(pod.namespace), pod.namespace)
    if b is None:
        return None
    gw = find_waypoint(world, *b)
    if gw is None or not waypoint_programmed(world, gw) or waypoint_traffic(gw) not in ("workload", "all"):
        return None
    return gw


def waypoint_pod(world: World, gw: dict[str, Any]) -> Pod | None:
    ns, name = gw["metadata"]["namespace"], gw["metadata"]["name"]
    return next((p for p in world.pods if p.namespace == ns and p.workload.labels.get("gateway.networking.k8s.io/gateway-name") == name
                 and p.ready), None)


# -- L4 authorization at the destination ztunnel --------------------------------------------------

_L7_OPERATION = ("methods", "notMethods", "paths", "notPaths", "hosts", "notHosts")
_L7_SOURCE = ("requestPrincipals", "notRequestPrincipals")


def ztunnel_policies(world: World, pod: Pod) -> list[dict[str, Any]]:
    """AuthorizationPolicies ztunnel enforces for ``pod``: no targetRefs, selector matches or
    namespace-wide, or in the root namespace; CUSTOM is not converted (authorization.go)."""
    root = world.control_plane.mesh.root_namespace
    out = []
    for ap in world.resources("AuthorizationPolicy"):
        spec = ap["spec"]
        if spec.get("targetRefs") or spec.get("targetRef") or spec.get("action", "ALLOW") not in ("ALLOW", "DENY"):
            continue
        ns = ap["metadata"]["namespace"]
        if ns not in (pod.namespace, root):
            continue
        sel = (spec.get("selector") or {}).get("matchLabels")
        if sel is not None and not labels_match(sel, pod.labels):
            continue
        out.append(ap)
    return out


def rule_has_l7(rule: dict[str, Any]) -> bool:
    ops = [t.get("operation") or {} for t in rule.get("to") or []]
    srcs = [f.get("source") or {} for f in rule.get("from") or []]
    return (any(k in op for op in ops for k in _L7_OPERATION) or any(k in s for s in srcs for k in _L7_SOURCE)
            or any(str(w.get("key", "")).startswith("request.") for w in rule.get("when") or []))


def _l4_matches(rule: dict[str, Any], src_identity: str | None, src_ns: str | None, port: int) -> bool:
    for f in rule.get("from") or [{}]:
        s = f.get("source") or {}
        if s.get("principals") and (src_identity is None or src_identity.removeprefix("spiffe://") not in s["principals"]):
            continue
        if s.get("namespaces") and (src_ns is None or src_identity is None or src_ns not in s["namespaces"]):
            continue
        break
    else:
        return False
    ports = [p for t in rule.get("to") or [] for p in (t.get("operation") or {}).get("ports") or []]
    return not ports or str(port) in ports


def authorize(world: World, pod: Pod, src_identity: str | None, src_ns: str | None, port: int) -> str | None:
    """The ztunnel rejection error for a connection to ``pod``, or None when it is allowed."""
    if src_identity is None and strict_for(world, pod):
        return "connection closed due to policy rejection: explicitly denied by: istio-system/istio_converted_static_strict"
    pols = ztunnel_policies(world, pod)
    for ap in pols:
        if ap["spec"].get("action") == "DENY":
            rules = [r for r in ap["spec"].get("rules") or [] if not _only_l7(r)]
            if any(_l4_matches(r, src_identity, src_ns, port) for r in rules):
                return f"connection closed due to policy rejection: explicitly denied by: {ap['metadata']['namespace']}/{ap['metadata']['name']}"
    allows = [ap for ap in pols if ap["spec"].get("action", "ALLOW") == "ALLOW"]
    if allows:
        kept = [r for ap in allows for r in ap["spec"].get("rules") or [] if not rule_has_l7(r)]
        if not any(_l4_matches(r, src_identity, src_ns, port) for r in kept):
            return "connection closed due to policy rejection: allow policies exist, but none allowed"
    return None


def _only_l7(rule: dict[str, Any]) -> bool:
    """A DENY rule whose every match is HTTP: nothing is left once HTTP fields are dropped."""
    if not rule_has_l7(rule):
        return False
    ops = [t.get("operation") or {} for t in rule.get("to") or []]
    srcs = [f.get("source") or {} for f in rule.get("from") or []]
    l4_ops = any(k in op for op in ops for k in ("ports", "notPorts"))
    l4_src = any(k in s for s in srcs for k in ("principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks"))
    return not (l4_ops or l4_src)


def strict_for(world: World, pod: Pod) -> bool:
    mode = None
    for pa in world.resources("PeerAuthentication"):
        ns = pa["metadata"]["namespace"]
        sel = (pa["spec"].get("selector") or {}).get("matchLabels")
        if ns == world.control_plane.mesh.root_namespace and sel is None:
            mode = mode or (pa["spec"].get("mtls") or {}).get("mode")
        elif ns == pod.namespace and (sel is None or labels_match(sel, pod.labels)):
            mode = (pa["spec"].get("mtls") or {}).get("mode") or mode
    return mode == "STRICT"


# -- NetworkPolicies ---------------------------------------------------------------------------


def _np_selects(np: dict[str, Any], pod: Pod) -> bool:
    if np["metadata"]["namespace"] != pod.namespace:
        return False
    sel = (np["spec"].get("podSelector") or {}).get("matchLabels") or {}
    return all(pod.labels.get(k) == v for k, v in sel.items())


def _np_ports_allow(rules: list[dict[str, Any]], port: int) -> bool:
    for r in rules:
        ports = r.get("ports") or []
        if not ports or any(p.get("port") in (port, None) for p in ports):
            return True
    return False


def netpol_blocks(world: World, pod: Pod, port: int, direction: str = "ingress") -> dict[str, Any] | None:
    """The NetworkPolicy that drops TCP ``port`` to (ingress) / from (egress) ``pod``, if any."""
    a = amb(world)
    selecting = [np for np in (a.network_policies if a else []) if _np_selects(np, pod)]
    key = "Ingress" if direction == "ingress" else "Egress"
    restricting = [np for np in selecting if key in (np["spec"].get("policyTypes") or (["Ingress"] if direction == "ingress" else []))]
    if not restricting:
        return None
    if any(_np_ports_allow(np["spec"].get(direction) or [], port) for np in restricting):
        return None
    return restricting[0]


def probe_blocked(world: World, pod: Pod) -> bool:
    """kubelet probes of captured pods come from 169.254.7.127 (istio-cni SNAT): a NetworkPolicy
    without that ipBlock, or Cilium's bpf masquerade, drops them (istio.io ambient networkpolicy)."""
    if not captured(world, pod):
        return False
    a = amb(world)
    if a and a.cilium and a.cilium.get("enable-bpf-masquerade") == "true":
        return True
    if a and a.aws_node_env and a.aws_node_env.get("ENABLE_POD_ENI") == "true" \
            and a.aws_node_env.get("POD_SECURITY_GROUP_ENFORCING_MODE", "strict") != "standard" and a.security_group_policies:
        return True
    for np in (a.network_policies if a else []):
        if not _np_selects(np, pod) or "Ingress" not in (np["spec"].get("policyTypes") or ["Ingress"]):
            continue
        cidrs = [p.get("ipBlock", {}).get("cidr") for r in np["spec"].get("ingress") or [] for p in r.get("from") or []]
        if "169.254.7.127/32" not in cidrs:
            return True
    return False
