"""Scenarios of the ``egress`` playbook (ambient A6): ServiceEntries and egress waypoints."""

from __future__ import annotations

from typing import Any

from tests.scenarios._ambient import control, fail, target, world
from tests.scenariokit.ambient_bookinfo import waypoint
from tests.scenariokit.world import Request, World, cr


def _se(host: str, *, bound: bool = False) -> Any:
    def m(w: World) -> None:
        w.istio.append(cr("ServiceEntry", host.replace("*.", "wildcard-").replace(".", "-"), "default", {
            "hosts": [host], "ports": [{"name": "http", "number": 80, "protocol": "HTTP"}],
            "resolution": "DNS" if not host.startswith("*") else "NONE", "location": "MESH_EXTERNAL"},
            labels={"istio.io/use-waypoint": "waypoint"} if bound else None))
        if bound:
            waypoint(w)
            w.traffic.append(Request("default/productpage-v1", f"{host}:80", "/get", count=2))
    return m


def _scenarios() -> list:  # type: ignore[type-arg]
    out = []
    w = world(_se("*.example.com"))
    out.append(fail("egress", "se-wildcard-needs-waypoint", "a wildcard ServiceEntry without a waypoint", w,
                    target(w, "productpage"), "AMB-SE-NEEDS-WAYPOINT"))
    w = world(_se("api.example.com"))
    out.append(control("egress", "lookalike-se-plain-host", "a ServiceEntry for one host (no waypoint needed)", w,
                       target(w, "productpage"), ruled_out=("AMB-SE-NEEDS-WAYPOINT",)))
    w = world(_se("httpbin.org", bound=True), dns_capture=False)
    out.append(fail("egress", "egress-dns-not-captured", "a ServiceEntry bound to a waypoint while DNS capture is off: "
                    "productpage dials httpbin.org's real address", w, target(w, "productpage"), "AMB-EGRESS-DNS-CAPTURE"))
    w = world(_se("httpbin.org", bound=True))
    out.append(control("egress", "lookalike-egress-through-waypoint", "the same ServiceEntry with DNS capture on", w,
                       target(w, "productpage"), ruled_out=("AMB-EGRESS-DNS-CAPTURE",)))
    return out


SCENARIOS = _scenarios()
