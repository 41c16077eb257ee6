"""Shared helpers of the ambient scenario modules (capture, ztunnel, waypoint, authz, probes, egress).

Every failing scenario changes one thing in the healthy ambient bookinfo world
(``tests/scenariokit/ambient_bookinfo.py``); every control ("look-alike") changes something that
resembles the cause but is harmless, and must come out with no problem. Expectations name the
code that must rank first and the ambient codes that must stay silent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.scenariokit import Expect, Scenario
from tests.scenariokit.ambient import Ambient
from tests.scenariokit.ambient_bookinfo import ambient_world
from tests.scenariokit.world import Pod, World

AMB_CODES = [
    "AMB-ISTIOD-AMBIENT-OFF", "AMB-NS-NOT-ENROLLED", "AMB-POD-OPTOUT", "AMB-EXCLUDED-NS", "AMB-REDIRECTION-PENDING",
    "AMB-POD-BEFORE-CNI", "AMB-CNI-NOT-RUNNING", "AMB-CNI-NO-ZTUNNEL", "AMB-CNI-PLATFORM-PATHS", "AMB-GKE-QUOTA",
    "AMB-NETPOL-HBONE", "AMB-XDS-WORKLOAD-TIMEOUT", "AMB-ZTUNNEL-UNHEALTHY", "AMB-ZTUNNEL-DNS-BIND", "AMB-SIDECAR-INTEROP",
    "AMB-UPGRADE-DRAIN", "AMB-ROLLOUT-503", "AMB-WP-NOT-PROGRAMMED", "AMB-WP-NOT-USED", "AMB-WP-TRAFFIC-TYPE",
    "AMB-WP-CROSS-NS", "AMB-WP-POD-IP-BYPASS", "AMB-WP-INGRESS-BYPASS", "AMB-WP-ROUTE-NOT-BOUND", "AMB-WP-AUTHZ-BYPASS",
    "AMB-AUTHZ-L7-ON-ZTUNNEL", "AMB-AUTHZ-DENY-L7-NOOP", "AMB-AUTHZ-CUSTOM-ON-ZTUNNEL", "AMB-AUTHZ-WAYPOINT-SA",
    "AMB-STRICT-NONMESH-CLIENT", "AMB-PROBE-NETPOL", "AMB-PROBE-EBPF-CNI", "AMB-PROBE-EKS-SGP", "AMB-SE-NEEDS-WAYPOINT",
    "AMB-EGRESS-DNS-CAPTURE", "AMB-CERT-UNAVAILABLE", "AMB-CERT-IMPERSONATION", "AMB-TRUST-CHAIN",
]  # fmt: skip


def world(mutate: Callable[[World], None] | None = None, *, version: str = "1.24.2", **ambient: Any) -> World:
    w = ambient_world(version, ambient=Ambient(**ambient))
    if mutate is not None:
        mutate(w)
    return w


def pod(w: World, prefix: str, namespace: str = "default") -> Pod:
    return next(p for p in w.pods if p.namespace == namespace and p.name.startswith(prefix))


def target(w: World, prefix: str, namespace: str = "default") -> str:
    return f"pod/{pod(w, prefix, namespace).name} -n {namespace}"


def fail(playbook: str, name: str, desc: str, w: World, tgt: str, first: str, *, also: tuple[str, ...] = (),
         absent: list[str] | None = None) -> Scenario:
    quiet = absent if absent is not None else [c for c in AMB_CODES if c not in (first, *also)]
    return Scenario(playbook, name, desc, tgt, "auto", w, Expect(findings_first=first, findings=[first, *also], absent=quiet))


#: "playbook/name" of each look-alike control -> the codes it resembles (tests/test_ambient_engine.py
#: asserts every implemented AMB check has at least one)
LOOKALIKES: dict[str, tuple[str, ...]] = {}


def control(playbook: str, name: str, desc: str, w: World, tgt: str, *, ruled_out: tuple[str, ...]) -> Scenario:
    """A look-alike: it resembles the causes ``ruled_out`` but the mesh is healthy."""
    LOOKALIKES[f"{playbook}/{name}"] = ruled_out
    return Scenario(playbook, name, desc, tgt, "auto", w,
                    Expect(findings_first=None, findings=[], absent=list(AMB_CODES), verdict="no_problem_found"))


def found(playbook: str, name: str, desc: str, w: World, tgt: str, codes: tuple[str, ...], *, first: str | None = None) -> Scenario:
    """A failing scenario whose root cause is reported together with the consequences it explains."""
    return Scenario(playbook, name, desc, tgt, "auto", w,
                    Expect(findings_first=first, findings=list(codes), absent=[c for c in AMB_CODES if c not in codes]))


def compose(*fns: Callable[[World], None]) -> Callable[[World], None]:
    """Apply several world changes in order."""
    def m(w: World) -> None:
        for f in fns:
            f(w)
    return m


def workload_label(key: str, k: str, v: str) -> Callable[[World], None]:
    """Set a pod-template label of workload ``ns/name``."""
    def m(w: World) -> None:
        wl = w.workload(key)
        assert wl is not None, key
        wl.labels[k] = v
    return m
