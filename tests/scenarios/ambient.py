"""Ambient worlds that are healthy, or scanned as a namespace: the ambient playbooks must stay
silent on a healthy ambient mesh, and a namespace scan must find an ambient pod's problem (from
the ztunnel logs of the namespace's nodes) next to healthy sidecar pods in the same namespace.
"""

from __future__ import annotations

from tests.scenarios._ambient import AMB_CODES, control, target, world
from tests.scenariokit import Expect, Scenario
from tests.scenariokit.world import Request, World


def _netpol(w: World) -> None:
    from tests.scenarios.ztunnel import _netpol as np

    assert w.ambient is not None
    w.ambient.network_policies.append(np([9080]))


def _mixed(w: World) -> None:
    """productpage keeps a sidecar inside the ambient namespace (dataplane-mode none + inject true)."""
    wl = w.workload("default/productpage-v1")
    assert wl is not None
    wl.labels.update({"istio.io/dataplane-mode": "none", "sidecar.istio.io/inject": "true"})
    w.traffic.append(Request("default/reviews-v1", "details:9080", "/details/1", count=2))


def _scenarios() -> list[Scenario]:
    out = []
    w = world()
    out.append(control("ambient", "healthy-ambient-pod", "healthy ambient bookinfo (Istio 1.24): a captured pod", w,
                       target(w, "productpage"), ruled_out=tuple(AMB_CODES)))
    w = world(version="1.26.1")
    out.append(control("ambient", "healthy-ambient-pod-1-26", "healthy ambient bookinfo on Istio 1.26", w,
                       target(w, "reviews-v2"), ruled_out=tuple(AMB_CODES)))
    w = world()
    out.append(control("ambient", "healthy-ambient-namespace", "namespace scan of a healthy ambient namespace", w,
                       "ns/default", ruled_out=tuple(AMB_CODES)))
    w = world(_netpol)
    out.append(Scenario("ambient", "namespace-scan-netpol", "namespace scan: a NetworkPolicy blocks HBONE to details; "
                        "the ztunnel logs flag the pods involved", "ns/default", "auto", w,
                        Expect(findings_first="AMB-NETPOL-HBONE", findings=["AMB-NETPOL-HBONE"],
                               absent=[c for c in AMB_CODES if c != "AMB-NETPOL-HBONE"])))
    w = world(_mixed, pod_faults={"default/details-v1": "stale_pending"}, version="1.26.1")
    out.append(Scenario("ambient", "mixed-namespace-scan", "namespace scan of an ambient namespace where productpage keeps a "
                        "sidecar: the ambient pod's problem is found, the sidecar pod walks the sidecar playbooks",
                        "ns/default", "auto", w,
                        Expect(findings_first="AMB-REDIRECTION-PENDING", findings=["AMB-REDIRECTION-PENDING"],
                               absent=[c for c in AMB_CODES if c != "AMB-REDIRECTION-PENDING"])))
    return out


def demo() -> Scenario:
    """The ambient demo incident (``istio-doctor demo ambient-l7-policy-on-ztunnel``): a policy
    written for sidecars, applied in an ambient namespace without a waypoint."""
    from tests.scenarios.authz import DETAILS, PRODUCTPAGE, _ap

    policy = {**DETAILS, "action": "ALLOW", "rules": [{"from": [{"source": {"principals": [PRODUCTPAGE]}}],
                                                     "to": [{"operation": {"methods": ["GET"]}}]}]}
    w = world(_ap("details-get-only", policy), version="1.26.1")
    return Scenario("demo", "ambient-l7-policy-on-ztunnel",
                    "Simulated by the scenario kit (not a live capture): ambient bookinfo on Istio 1.26 without a waypoint; "
                    "an AuthorizationPolicy that allows productpage to GET details was written for sidecars, ztunnel drops "
                    "its HTTP rule and rejects every connection to details",
                    target(w, "details"), "auto", w,
                    Expect(findings_first="AMB-AUTHZ-L7-ON-ZTUNNEL", findings=["AMB-AUTHZ-L7-ON-ZTUNNEL"],
                           absent=[c for c in AMB_CODES if c != "AMB-AUTHZ-L7-ON-ZTUNNEL"]))


SCENARIOS = [*_scenarios(), demo()]
