"""Playbook ``egress`` (ambient A6): ServiceEntries and egress through waypoints.

ztunnel only sees L4: a ServiceEntry is matched by its address, and wildcard hosts or
non-default DNS connect strategies work only through a waypoint (pilot/pkg/model/service.go
``istio.io/WaypointMissing``). Without DNS capture (istio-cni ``AMBIENT_DNS_CAPTURE``, default on
from 1.25 and only for pods created after) the client resolves the real address and ztunnel
passes the connection through, skipping the egress waypoint (releasenotes ambient-dns-on;
istio/istio#54896, #54981).
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks._ambient import SUBJECT_NEEDS, SUBJECT_OPTIONAL, excerpt, subject, wants_ambient
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.ambient import conditions as cond
from istio_doctor.evidence.bundle import Need


def _visible(s: Any, se: Any) -> bool:
    export = getattr(se.spec, "export_to", None) or ["*"]
    return se.namespace == s.ns or "*" in export


@check("AMB-SE-NEEDS-WAYPOINT", needs=(*SUBJECT_NEEDS, Need.SERVICE_ENTRIES), optional=SUBJECT_OPTIONAL)
def se_needs_waypoint(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A ServiceEntry the pod can use will not apply until it is bound to a waypoint:
    ``istio.io/WaypointMissing True NoWaypointForWildcardService`` (or a racing DNS connect
    strategy) — status True, so ``istioctl analyze`` is silent."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    for se in ctx.ev.get(Need.SERVICE_ENTRIES):
        c = cond.condition(se, cond.WAYPOINT_MISSING)
        if c is None or not c.is_true or not _visible(s, se):
            continue
        return CheckResult.failed(
            args={"serviceentry": se.ref, "hosts": list(se.spec.hosts), "reason": c.reason, "message": c.message,
                  "analyze": cond.analyze_reports(c).why},
            evidence=[ctx.ref(Need.SERVICE_ENTRIES, {"serviceentry": se.ref, "hosts": list(se.spec.hosts), "status": c.line()},
                              "istiod's verdict")],
            resources=[se.ref],
            fix=Fix(steps=[FixStep(description="Bind the ServiceEntry to an (egress) waypoint",
                                   command=f"kubectl label serviceentry {se.name} -n {se.namespace} istio.io/use-waypoint=waypoint")]))
    return CheckResult.passed("no ServiceEntry visible to the pod waits for a waypoint")


@check("AMB-EGRESS-DNS-CAPTURE", needs=(*SUBJECT_NEEDS, Need.SERVICE_ENTRIES, Need.ZTUNNEL_LOGS), optional=(*SUBJECT_OPTIONAL, Need.CNI_CONFIG))
def egress_dns_capture(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A ServiceEntry is bound to a waypoint, yet the pod's connections to its port leave through
    ztunnel straight to an outside address (no ``dst.service``, no waypoint): the client resolved
    the host itself because DNS capture is off for it."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    bound = [se for se in ctx.ev.get(Need.SERVICE_ENTRIES) if _visible(s, se)
             and (c := cond.condition(se, cond.WAYPOINT_BOUND)) is not None and c.is_true]
    if not bound:
        return CheckResult.not_applicable("no ServiceEntry visible to the pod is bound to a waypoint")
    log = ctx.ev.get(Need.ZTUNNEL_LOGS, ctx.namespace, ctx.pod_name)
    ports = {p.number for se in bound for p in se.spec.ports}
    direct = [ln for ln in log.access if ln.direction == "outbound" and ln.field("src.workload") == s.name
              and not ln.field("dst.service") and not ln.field("dst.workload") and not ln.field("dst.hbone_addr")
              and ln.field("dst.addr").rpartition(":")[2].isdigit() and int(ln.field("dst.addr").rpartition(":")[2]) in ports]
    if not direct:
        return CheckResult.passed(f"pod {s.ref}'s connections to the ServiceEntry ports go through ztunnel's service view")
    cms = ctx.ev.get_or([], Need.CNI_CONFIG)
    capture = cms[0].data.get("AMBIENT_DNS_CAPTURE", "unset") if cms else "unknown"
    se = bound[0]
    ev = [ctx.ref(Need.SERVICE_ENTRIES, {"serviceentry": se.ref, "hosts": list(se.spec.hosts),
                                         "status": cond.condition(se, cond.WAYPOINT_BOUND).line()}, "bound to a waypoint"),  # type: ignore[union-attr]
          ctx.ref(Need.ZTUNNEL_LOGS, excerpt(direct, 2), "the client dials the outside address itself")]
    if cms:
        ev.append(ctx.ref(Need.CNI_CONFIG, {"AMBIENT_DNS_CAPTURE": capture}, "istio-cni settings"))
    return CheckResult.failed(
        args={"pod": s.ref, "serviceentry": se.ref, "address": direct[0].field("dst.addr"), "capture": capture},
        evidence=ev, observed=[direct[0].raw[:160]], resources=[se.ref, f"Pod {s.ref}"],
        corroboration="corroborated" if capture == "false" else None,
        fix=Fix(steps=[FixStep(description="Turn on DNS capture (istio-cni values cni.ambient.dnsCapture=true) and restart "
                                           "the client pods, or give the ServiceEntry addresses")]))
