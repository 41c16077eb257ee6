"""Shared reading for the ambient checks (capture, ztunnel, waypoint, authz, probes, egress).

Everything here reads evidence through ``ctx`` (so a gap raises ``MissingEvidence`` and the
node is unknown) and returns typed facts the checks quote. Sources are cited where a rule of
Istio is encoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, EvidenceRef
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.ambient.dataplane import (
    DATAPLANE_MODE_LABEL,
    REDIRECTION_ANNOTATION,
    USE_WAYPOINT_LABEL,
    USE_WAYPOINT_NS_LABEL,
    WAYPOINT_CLASS,
    WAYPOINT_FOR_LABEL,
    DataplaneMode,
    PodDataplane,
    pod_dataplane,
)
from istio_doctor.evidence.ambient.ztunnel_log import ZtunnelLog, ZtunnelLogLine
from istio_doctor.evidence.bundle import MissingEvidence, Need

__all__ = [
    "DATAPLANE_MODE_LABEL",
    "REDIRECTION_ANNOTATION",
    "Subject",
    "Binding",
    "agent_on_node",
    "binding_of",
    "excerpt",
    "is_waypoint",
    "log_lines_about",
    "subject",
    "waypoint_for",
    "waypoints",
]

SUBJECT_NEEDS = (Need.POD, Need.NAMESPACES)
#: subject() also reads ztunnel's PROTOCOL for the pod when the node's ztunnel dump was gathered
SUBJECT_OPTIONAL = (Need.ZTUNNEL_CONFIG,)


@dataclass
class Subject:
    pod: Any
    namespace: Any | None
    mode: PodDataplane

    @property
    def name(self) -> str:
        return str(self.pod.name)

    @property
    def ns(self) -> str:
        return str(self.pod.namespace)

    @property
    def ref(self) -> str:
        return f"{self.ns}/{self.name}"

    @property
    def node(self) -> str:
        return str(self.pod.spec.node_name or "")

    @property
    def ns_labels(self) -> dict[str, str]:
        return dict(self.namespace.labels) if self.namespace is not None else {}

    @property
    def identity(self) -> str:
        sa = self.pod.spec.model_extra.get("serviceAccountName") if self.pod.spec.model_extra else None
        return f"spiffe://cluster.local/ns/{self.ns}/sa/{sa or 'default'}"

    @property
    def ips(self) -> set[str]:
        ips = {self.pod.ip} if self.pod.ip else set()
        return ips | {p.ip for p in self.pod.status.pod_ips if getattr(p, "ip", None)}


def subject(ctx: CheckContext) -> Subject:
    pod = ctx.pod()
    ns = ctx.namespace_obj(pod.namespace)
    proto = ""
    dump = ctx.ev.get_or(None, Need.ZTUNNEL_CONFIG, ctx.namespace, ctx.pod_name)
    if dump is not None and (w := dump.workload_by_name(pod.namespace, pod.name)) is not None:
        proto = w.protocol
    return Subject(pod=pod, namespace=ns, mode=pod_dataplane(pod, ns, ztunnel_protocol=proto))


def wants_ambient(s: Subject) -> bool:
    """Ambient intent or ambient facts (the data-plane mode is one of the ambient ones)."""
    return s.mode.is_ambient


@check("gate.ambient-subject", needs=SUBJECT_NEEDS, optional=SUBJECT_OPTIONAL)
def gate_ambient_subject(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Is there a pod, and which data plane carries it (never decided from a missing sidecar alone)?"""
    s = subject(ctx)
    facts = ", ".join(s.mode.because)
    if s.mode.mode is DataplaneMode.SIDECAR:
        return CheckResult.not_applicable(f"pod {s.ref} runs an istio-proxy sidecar: the sidecar playbooks apply ({facts})")
    return CheckResult.passed(f"pod {s.ref}: data plane {s.mode.mode.value} ({facts}), node {s.node or 'not scheduled'}")


# -- node agents ------------------------------------------------------------------------------


def agent_on_node(ctx: CheckContext, need: Need, node: str) -> list[Any]:
    """The ztunnel / istio-cni pods (``need``: ZTUNNEL_PODS or CNI_PODS) on ``node``."""
    return [p for p in ctx.ev.get(need) if p.spec.node_name == node]


def pod_line(p: Any) -> str:
    """``NAME READY STATUS RESTARTS NODE`` as ``kubectl get pods -o wide`` shows a pod."""
    statuses = p.status.container_statuses
    ready = sum(1 for c in statuses if getattr(c, "ready", False))
    restarts = sum(int(getattr(c, "restart_count", 0) or 0) for c in statuses)
    reason = p.status.phase or "Unknown"
    for c in statuses:
        st = getattr(c, "state", None)
        waiting = getattr(st, "waiting", None) if st is not None else None
        if waiting is not None and getattr(waiting, "reason", None):
            reason = waiting.reason
    return f"{p.namespace}/{p.name}  {ready}/{len(statuses) or 1}  {reason}  restarts={restarts}  node={p.spec.node_name}"


# -- logs -------------------------------------------------------------------------------------


def log_lines_about(log: ZtunnelLog, s: Subject) -> list[ZtunnelLogLine]:
    """Access lines whose source or destination is the subject pod (by name or address)."""
    out = []
    for ln in log.access:
        addrs = {ln.field("src.addr").rpartition(":")[0], ln.field("dst.addr").rpartition(":")[0],
                 ln.field("dst.hbone_addr").rpartition(":")[0]}
        if s.name in (ln.field("src.workload"), ln.field("dst.workload")) or addrs & s.ips:
            out.append(ln)
    return out


def excerpt(lines: list[Any], limit: int = 4) -> str:
    """Verbatim log lines (the first ``limit``), with a count of the rest."""
    body = "\n".join(ln.raw.rstrip() for ln in lines[:limit])
    return body + (f"\n… ({len(lines) - limit} more)" if len(lines) > limit else "")


def log_ref(ctx: CheckContext, need: Need, lines: list[Any], note: str, namespace: str | None = None,
            name: str | None = None) -> EvidenceRef:
    return ctx.ref(need, excerpt(lines), note, namespace=namespace, name=name)


def optional(ctx: CheckContext, need: Need, namespace: str | None = None, name: str | None = None) -> Any | None:
    """Evidence that only corroborates: its absence never makes the node unknown."""
    return ctx.ev.get_or(None, need, namespace or ctx.namespace, name or ctx.pod_name)


# -- waypoints --------------------------------------------------------------------------------


def waypoints(ctx: CheckContext) -> list[Any]:
    """Gateways of class ``istio-waypoint``."""
    return [g for g in ctx.ev.get(Need.K8S_GATEWAYS) if is_waypoint(g)]


def is_waypoint(gw: Any) -> bool:
    spec = getattr(gw, "spec", None)
    cls = getattr(spec, "gateway_class_name", None) or (spec.get("gatewayClassName") if isinstance(spec, dict) else None)
    if cls is None and spec is not None and getattr(spec, "model_extra", None):
        cls = spec.model_extra.get("gatewayClassName")
    return cls == WAYPOINT_CLASS


def waypoint_for(gw: Any) -> str:
    """What traffic the waypoint accepts: its ``istio.io/waypoint-for`` label, ``service`` when
    absent (pilot/pkg/serviceregistry/ambient/waypoints.go ``gatewayToWaypointTransform``)."""
    return gw.labels.get(WAYPOINT_FOR_LABEL) or "service"


@dataclass
class Binding:
    """Which waypoint an object asks for, and where that request comes from."""

    waypoint: str  # name
    namespace: str  # where istiod looks it up
    source: str  # "Pod ns/name label", "Service ns/name label", "Namespace ns label"
    #: the object carrying the label, as kubectl names it ("namespace default", "service reviews -n default")
    holder: str = ""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.waypoint}"


def binding_of(obj: Any, namespace_obj: Any | None) -> Binding | None:
    """``istio.io/use-waypoint`` on the object, else on its namespace; ``none`` opts out.

    The waypoint is looked up in the object's own namespace unless
    ``istio.io/use-waypoint-namespace`` is set (waypoints.go ``GetUseWaypoint``)."""
    kind = getattr(obj, "kind", "") or type(obj).__name__
    for holder, what, kubectl in ((obj, f"{kind} {obj.namespace}/{obj.name}", f"{kind.lower()} {obj.name} -n {obj.namespace}"),
                                  (namespace_obj, f"Namespace {getattr(namespace_obj, 'name', '')}",
                                   f"namespace {getattr(namespace_obj, 'name', '')}")):
        if holder is None:
            continue
        name = holder.labels.get(USE_WAYPOINT_LABEL)
        if name:
            if name == "none":
                return None
            ns = holder.labels.get(USE_WAYPOINT_NS_LABEL) or obj.namespace
            return Binding(name, ns, f"{what} label {USE_WAYPOINT_LABEL}={name}", kubectl)
    return None


def find_waypoint(ctx: CheckContext, b: Binding) -> Any | None:
    return next((g for g in waypoints(ctx) if g.name == b.waypoint and g.namespace == b.namespace), None)


def services_of(ctx: CheckContext, s: Subject) -> list[Any]:
    return ctx.services_selecting(s.pod)

