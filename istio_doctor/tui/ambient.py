"""What the TUI says about an ambient pod: its data-plane mode, the ztunnel that serves it (on
its node) and the waypoint its traffic crosses. Pure functions over the evidence the diagnosis
gathered (the pod, the namespaces, the ztunnel pods and the ztunnel config dump of the node);
nothing here runs a call. The mode is decided from labels and the redirection annotation
(``evidence.ambient.dataplane``), never from the absence of a sidecar alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from istio_doctor.evidence.bundle import Need


@dataclass(frozen=True)
class AmbientFacts:
    #: ``ambient`` | ``ambient-pending`` | ``ambient-not-captured`` (DataplaneMode values)
    mode: str
    node: str = ""
    #: the ztunnel pod on the node ("" when none was listed)
    ztunnel: str = ""
    #: ``ns/name (for …)`` of the waypoint(s); "none"; "" when the ztunnel dump is unknown
    waypoint: str = ""


def _waypoints(dump: Any, namespace: str, name: str) -> str:
    w = dump.workload_by_name(namespace, name)
    if w is None:
        return ""
    found: list[str] = []
    own = dump.resolve_waypoint(w.waypoint) if w.waypoint is not None else None
    if own is not None:
        found.append(f"{own.namespace}/{own.name} (for the pod)")
    for s in dump.services:
        if s.waypoint is None or w.uid not in (s.endpoints or {}):
            continue
        wp = dump.resolve_waypoint(s.waypoint)
        label = f"{wp.namespace}/{wp.name}" if wp is not None else "unresolved"
        found.append(f"{label} (for service {s.name})")
    return ", ".join(dict.fromkeys(found)) or "none"


def ambient_facts(evidence: Any, namespace: str, name: str) -> AmbientFacts | None:
    """The facts for an ambient pod, or None when the pod is not ambient (or unknown)."""
    from istio_doctor.evidence.ambient.dataplane import pod_dataplane

    pod = evidence.get_or(None, Need.POD, namespace, name)
    if pod is None:
        return None
    ns = next((n for n in evidence.get_or([], Need.NAMESPACES) if n.metadata.name == namespace), None)
    mode = pod_dataplane(pod, ns)
    if not mode.is_ambient:
        return None
    node = getattr(pod.spec, "node_name", "") or ""
    agents = [p for p in evidence.get_or([], Need.ZTUNNEL_PODS) if node and p.spec.node_name == node]
    dump = evidence.get_or(None, Need.ZTUNNEL_CONFIG, namespace, name)
    return AmbientFacts(mode=str(mode.mode), node=node, ztunnel=agents[0].name if agents else "",
                        waypoint=_waypoints(dump, namespace, name) if dump is not None else "")


def ambient_summary(facts: AmbientFacts) -> str:
    """Three short lines for the diagnosis screen's data-plane box."""
    return (f"{facts.mode} · node {facts.node or 'unscheduled'}\n"
            f"ztunnel {facts.ztunnel or 'none found on the node'}\n"
            f"waypoint {facts.waypoint or 'unknown (no ztunnel config)'}")
