"""Playbook ``waypoint`` (ambient A3): the waypoint is not used, or L7 configuration is ignored.

A waypoint is an Envoy that ztunnel sends a service's (or workload's) traffic to when the
object is bound to it with ``istio.io/use-waypoint``; only then do HTTPRoutes and L7
AuthorizationPolicies attached to the service take effect. istiod records the binding in the
Service's ``istio.io/WaypointBound`` condition, and ``istioctl analyze`` reports only its False
cases (IST0171). Sources: istio/istio@86c9f01 pilot/pkg/serviceregistry/ambient/{waypoints.go,
status.go}, pilot/pkg/model/service.go, pilot/pkg/xds/endpoints/endpoint_builder.go.
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks._ambient import (
    SUBJECT_NEEDS,
    SUBJECT_OPTIONAL,
    Binding,
    binding_of,
    excerpt,
    find_waypoint,
    is_waypoint,
    log_lines_about,
    optional,
    services_of,
    subject,
    waypoint_for,
    waypoints,
    wants_ambient,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.ambient import conditions as cond
from istio_doctor.evidence.ambient.dataplane import INGRESS_USE_WAYPOINT_LABEL, USE_WAYPOINT_LABEL, USE_WAYPOINT_NS_LABEL
from istio_doctor.evidence.bundle import Need

WP_NEEDS = (*SUBJECT_NEEDS, Need.SERVICES, Need.K8S_GATEWAYS)


def _bindings(ctx: CheckContext, s: Any) -> list[tuple[str, Binding]]:
    """(object ref, binding) for the pod and each Service selecting it."""
    out = []
    b = binding_of(s.pod, s.namespace)
    if b is not None:
        out.append((f"Pod {s.ref}", b))
    for svc in services_of(ctx, s):
        sb = binding_of(svc, s.namespace)
        if sb is not None:
            out.append((f"Service {svc.namespace}/{svc.name}", sb))
    return out


def _gw_status(gw: Any) -> dict[str, Any]:
    return {"gateway": gw.ref, "conditions": [c.line() for c in cond.conditions_of(gw)],
            "listeners": {n: [c.line() for c in cs] for n, cs in cond.listener_conditions(gw).items()}}


@check("AMB-WP-NOT-PROGRAMMED", needs=WP_NEEDS, optional=SUBJECT_OPTIONAL)
def wp_not_programmed(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The waypoint the pod or its services use is not Programmed: never reconciled (``Unknown
    Pending "Waiting for controller"``, istio/istio#53637), or ``Programmed False`` (e.g.
    AddressNotUsable; a listener that is not 15008/HBONE: UnsupportedProtocol)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    used = {b.ref: (obj, b) for obj, b in _bindings(ctx, s)}
    cands = [(g, *used[f"{g.namespace}/{g.name}"]) for g in waypoints(ctx) if f"{g.namespace}/{g.name}" in used]
    if not cands:
        return CheckResult.not_applicable(f"neither pod {s.ref} nor its services use a waypoint that exists")
    for gw, obj, _b in cands:
        prog = cond.condition(gw, cond.PROGRAMMED)
        if prog is not None and prog.is_true:
            continue
        listeners = cond.listener_conditions(gw)
        bad_listener = next((c for cs in listeners.values() for c in cs if c.type == "Accepted" and c.is_false), None)
        status = prog.status if prog else "absent"
        reason = prog.reason if prog and prog.reason else ("no status: no controller wrote any" if prog is None else "")
        ar = cond.analyze_reports(prog) if prog else cond.AnalyzeWouldReport(reported=False, why="no condition at all")
        return CheckResult.failed(
            message="pending" if status in ("Unknown", "absent") else "rejected",
            args={"waypoint": gw.ref, "status": status, "reason": reason or "none", "message": (prog.message if prog else ""),
                  "user": obj, "listener": bad_listener.message if bad_listener else "", "analyze": ar.why},
            evidence=[ctx.ref(Need.K8S_GATEWAYS, _gw_status(gw), "the waypoint's status")], resources=[gw.ref, obj],
            fix=Fix(steps=[FixStep(description="See why istiod does not program the waypoint (Gateway API CRDs installed, istiod "
                                               "revision, class istio-waypoint, listener 15008/HBONE)",
                                   command=f"istioctl waypoint status -n {gw.namespace} --waypoint-name {gw.name}")]))
    return CheckResult.passed(f"waypoint(s) {', '.join(g.ref for g, *_ in cands)} are Programmed")


@check("AMB-WP-CROSS-NS", needs=WP_NEEDS, optional=SUBJECT_OPTIONAL)
def wp_cross_ns(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A binding names a waypoint that lives in another namespace without
    ``istio.io/use-waypoint-namespace`` (istiod looks it up in the object's own namespace and then
    reports ``WaypointIsNotReady``, a misleading message), or the waypoint refuses the attachment
    (``AttachmentDenied``, listener allowedRoutes)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    wps = waypoints(ctx)
    for obj, b in _bindings(ctx, s):
        if find_waypoint(ctx, b) is not None:
            continue
        elsewhere = [g for g in wps if g.name == b.waypoint and g.namespace != b.namespace]
        if elsewhere:
            g = elsewhere[0]
            return CheckResult.failed(
                message="namespace", args={"object": obj, "waypoint": b.waypoint, "looked_in": b.namespace, "found_in": g.namespace,
                                           "source": b.source},
                evidence=[ctx.ref(Need.K8S_GATEWAYS, {"waypoint": g.ref, "class": "istio-waypoint"}, "the waypoint is here"),
                          ctx.ref(Need.SERVICES if obj.startswith("Service") else Need.POD, {"object": obj, "binding": b.source,
                                                                                            USE_WAYPOINT_NS_LABEL: "(unset)"},
                                  "the binding")],
                resources=[obj, g.ref],
                fix=Fix(steps=[FixStep(description=f"Point the binding at namespace {g.namespace}",
                                       command=f"kubectl label {b.holder} {USE_WAYPOINT_NS_LABEL}={g.namespace}")]))
    for svc in services_of(ctx, s):
        c = cond.condition(svc, cond.WAYPOINT_BOUND)
        if c is not None and c.reason == cond.WB_ATTACHMENT_DENIED:
            return CheckResult.failed(
                message="denied", args={"object": f"Service {svc.namespace}/{svc.name}", "condition": c.line(), "waypoint": "",
                                        "looked_in": "", "found_in": "", "source": ""},
                evidence=[ctx.ref(Need.SERVICES, {"service": f"{svc.namespace}/{svc.name}", "status": c.line()}, "istiod's verdict")],
                resources=[f"Service {svc.namespace}/{svc.name}"],
                fix=Fix(steps=[FixStep(description="Allow routes from the Service's namespace on the waypoint's listener "
                                                   "(allowedRoutes.namespaces.from: All or Selector)")]))
    return CheckResult.passed("every waypoint binding of the pod and its services finds its waypoint")


@check("AMB-WP-TRAFFIC-TYPE", needs=WP_NEEDS, optional=SUBJECT_OPTIONAL)
def wp_traffic_type(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The binding's traffic type is one the waypoint does not accept: a pod labelled
    ``istio.io/use-waypoint`` while the waypoint serves ``service`` traffic (the default), or a
    Service bound to a ``workload`` waypoint (status.go ReportWaypointUnsupportedTrafficType)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    own = binding_of(s.pod, None)
    if own is not None:
        gw = find_waypoint(ctx, own)
        if gw is not None and waypoint_for(gw) not in ("workload", "all"):
            dump = optional(ctx, Need.ZTUNNEL_CONFIG)
            w = dump.workload_by_name(s.ns, s.name) if dump is not None else None
            observed = [f"ztunnel-config workloads: {s.ref} WAYPOINT None"] if w is not None and w.waypoint is None else []
            return CheckResult.failed(
                message="pod", args={"object": f"Pod {s.ref}", "waypoint": gw.ref, "accepts": waypoint_for(gw), "wants": "workload"},
                evidence=[ctx.ref(Need.POD, {"pod": s.ref, USE_WAYPOINT_LABEL: own.waypoint}, "a pod-level binding"),
                          ctx.ref(Need.K8S_GATEWAYS, {"waypoint": gw.ref, "istio.io/waypoint-for": gw.labels.get("istio.io/waypoint-for",
                                                                                                                   "(unset: service)")},
                                  "what the waypoint accepts")],
                observed=observed, resources=[f"Pod {s.ref}", gw.ref],
                fix=Fix(steps=[FixStep(description="Let the waypoint take workload traffic",
                                       command=f"kubectl label gateway {gw.name} -n {gw.namespace} istio.io/waypoint-for=all --overwrite")]))
    for svc in services_of(ctx, s):
        c = cond.condition(svc, cond.WAYPOINT_BOUND)
        if c is not None and c.reason == cond.WB_UNSUPPORTED_TRAFFIC_TYPE:
            return CheckResult.failed(
                message="service", args={"object": f"Service {svc.namespace}/{svc.name}", "waypoint": c.message, "accepts": "workload",
                                         "wants": "service"},
                evidence=[ctx.ref(Need.SERVICES, {"service": f"{svc.namespace}/{svc.name}", "status": c.line()}, "istiod's verdict")],
                resources=[f"Service {svc.namespace}/{svc.name}"],
                fix=Fix(steps=[FixStep(description="Label the waypoint istio.io/waypoint-for=service (or all)")]))
    return CheckResult.passed("every waypoint binding matches the traffic type its waypoint accepts")


def _waypoint_users(ctx: CheckContext, s: Any, local: list[Any]) -> list[str]:
    """Objects bound to one of ``local``'s waypoints: namespaces, Services, ServiceEntries, pods."""
    want = {(g.namespace, g.name) for g in local}
    nss = {n.name: n for n in ctx.ev.get(Need.NAMESPACES)}
    out = []
    for obj in [*ctx.ev.get(Need.SERVICES), *ctx.ev.get(Need.SERVICE_ENTRIES), *ctx.ev.get_or([], Need.PODS, s.ns)]:
        b = binding_of(obj, nss.get(obj.namespace))
        if b is not None and (b.namespace, b.waypoint) in want:
            out.append(b.source.split(" label ")[0])
    return sorted(set(out))


@check("AMB-WP-NOT-USED", needs=(*WP_NEEDS, Need.HTTP_ROUTES, Need.AUTHORIZATION_POLICIES, Need.SERVICE_ENTRIES),
       optional=(*SUBJECT_OPTIONAL, Need.PODS))
def wp_not_used(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Programmed waypoint exists in the pod's namespace but nothing uses it ("not used by any
    resources until … explicitly configured", istio.io waypoint page): L7 routes and policies on
    the pod's services have no effect."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    local = [g for g in waypoints(ctx) if g.namespace == s.ns and (c := cond.condition(g, cond.PROGRAMMED)) is not None and c.is_true]
    if not local:
        return CheckResult.not_applicable(f"no Programmed waypoint in namespace {s.ns}")
    if _bindings(ctx, s):
        return CheckResult.passed(f"pod {s.ref} or its services use a waypoint")
    users = _waypoint_users(ctx, s, local)
    if users:
        return CheckResult.passed(f"waypoint {local[0].ref} is used by {', '.join(users[:3])}")
    svcs = services_of(ctx, s)
    names = {sv.name for sv in svcs}
    routes = [r for r in ctx.ev.get(Need.HTTP_ROUTES) if r.namespace == s.ns
              and any((p.kind or "") == "Service" and p.name in names for p in r.spec.parent_refs)]
    aps = [a for a in ctx.ev.get(Need.AUTHORIZATION_POLICIES) if a.namespace == s.ns
           and any(t.kind in ("Service", "Gateway") for t in a.spec.target_refs)]
    ignored = [r.ref for r in routes] + [a.ref for a in aps]
    ev = [ctx.ref(Need.K8S_GATEWAYS, [g.ref for g in local], "Programmed waypoints in the namespace"),
          ctx.ref(Need.NAMESPACES, {"namespace": s.ns, USE_WAYPOINT_LABEL: s.ns_labels.get(USE_WAYPOINT_LABEL, "(unset)")},
                  "no namespace binding")]
    dump = optional(ctx, Need.ZTUNNEL_CONFIG)
    observed = []
    if dump is not None:
        rows = [f"{sv.namespace}/{sv.name} WAYPOINT None" for sv in dump.services if sv.namespace == s.ns and sv.name in names
                and sv.waypoint is None]
        if rows:
            ev.append(ctx.ref(Need.ZTUNNEL_CONFIG, "\n".join(rows), "istioctl ztunnel-config services"))
            observed.append(rows[0])
    return CheckResult.failed(
        message="l7" if ignored else "default",
        args={"waypoint": local[0].ref, "namespace": s.ns, "pod": s.ref, "services": sorted(names) or ["none"], "ignored": ignored or ["none"]},
        evidence=ev, observed=observed, resources=[local[0].ref, *ignored],
        corroboration="l7" if ignored else None,
        fix=Fix(steps=[FixStep(description=f"Bind the namespace to waypoint {local[0].name}",
                               command=f"kubectl label namespace {s.ns} {USE_WAYPOINT_LABEL}={local[0].name}")]))


@check("AMB-WP-ROUTE-NOT-BOUND", needs=(*WP_NEEDS, Need.HTTP_ROUTES, Need.AUTHORIZATION_POLICIES), optional=SUBJECT_OPTIONAL)
def wp_route_not_bound(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An HTTPRoute or AuthorizationPolicy attached to the pod's Service is rejected because the
    Service has no waypoint: ``Accepted False WaypointNotBound "Service is not bound to a
    waypoint"``; AuthorizationPolicy ``WaypointAccepted`` AncestorNotBound / TargetNotFound /
    PartiallyInvalid (pilot/pkg/model/service.go)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    names = {sv.name for sv in services_of(ctx, s)}
    for r in ctx.ev.get(Need.HTTP_ROUTES):
        for p in cond.parent_conditions(r):
            if p.parent_kind == "Service" and p.parent_name in names and (p.parent_namespace or r.namespace) == s.ns:
                bad = next((c for c in p.conditions if c.reason == cond.ROUTE_WAYPOINT_NOT_BOUND), None)
                if bad is not None:
                    return CheckResult.failed(
                        args={"object": r.ref, "service": f"{s.ns}/{p.parent_name}", "condition": bad.line()},
                        evidence=[ctx.ref(Need.HTTP_ROUTES, {"httproute": r.ref, "parent": f"Service {p.parent_name}",
                                                             "condition": bad.line()}, "route status")],
                        resources=[r.ref, f"Service {s.ns}/{p.parent_name}"],
                        fix=Fix(steps=[FixStep(description=f"Bind Service {p.parent_name} to a waypoint",
                                               command=f"kubectl label service {p.parent_name} -n {s.ns} {USE_WAYPOINT_LABEL}=waypoint")]))
    for a in ctx.ev.get(Need.AUTHORIZATION_POLICIES):
        c = cond.condition(a, cond.WAYPOINT_ACCEPTED)
        if c is None or c.reason in (cond.ACCEPTED, "") or a.namespace != s.ns:
            continue
        if not any(t.name in names or t.kind == "Gateway" for t in a.spec.target_refs):
            continue
        return CheckResult.failed(
            args={"object": a.ref, "service": ", ".join(sorted(names)), "condition": c.line()},
            evidence=[ctx.ref(Need.AUTHORIZATION_POLICIES, {"policy": a.ref, "targetRefs": [t.name for t in a.spec.target_refs],
                                                            "condition": c.line()}, "policy status")],
            resources=[a.ref],
            fix=Fix(steps=[FixStep(description="Bind the target to a waypoint or fix the targetRefs")]))
    return CheckResult.passed("no HTTPRoute or AuthorizationPolicy on the pod's services is rejected for want of a waypoint")


def _ingress_pods(ctx: CheckContext) -> list[Any]:
    out = []
    for p in ctx.ev.get_or([], Need.CONTROL_PLANE_PODS):
        if p.labels.get("istio") == "ingressgateway" or "gateway.networking.k8s.io/gateway-name" in p.labels and p.has_sidecar \
                and p.labels.get("istio.io/dataplane-mode") != "none":
            out.append(p)
    return out


@check("AMB-WP-INGRESS-BYPASS", needs=(*WP_NEEDS, Need.ZTUNNEL_LOGS), optional=(*SUBJECT_OPTIONAL, Need.CONTROL_PLANE_PODS))
def wp_ingress_bypass(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An Istio ingress gateway sends to the Service's endpoints directly, skipping its waypoint,
    unless the Service or namespace says ``istio.io/ingress-use-waypoint=true``
    (endpoint_builder.go findServiceWaypoint: "Ingress behaves differently, must explicitly opt in")."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    bound = [(sv, c) for sv in services_of(ctx, s) if (c := cond.condition(sv, cond.WAYPOINT_BOUND)) is not None and c.is_true]
    if not bound:
        return CheckResult.not_applicable(f"no Service of pod {s.ref} is bound to a waypoint")
    log = ctx.ev.get(Need.ZTUNNEL_LOGS, ctx.namespace, ctx.pod_name)
    gw_names = {p.name for p in _ingress_pods(ctx)}
    direct = [ln for ln in log_lines_about(log, s) if ln.direction == "inbound" and ln.field("src.workload") in gw_names]
    for sv, c in bound:
        opt = sv.labels.get(INGRESS_USE_WAYPOINT_LABEL) or s.ns_labels.get(INGRESS_USE_WAYPOINT_LABEL)
        if opt == "true":
            continue
        if not direct:
            return CheckResult.passed(f"no ingress gateway connection reached pod {s.ref} directly in ztunnel's log")
        return CheckResult.failed(
            args={"service": f"{sv.namespace}/{sv.name}", "gateway": direct[0].field("src.workload"), "count": len(direct),
                  "label": opt or "unset"},
            evidence=[ctx.ref(Need.SERVICES, {"service": f"{sv.namespace}/{sv.name}", "status": c.line(),
                                              INGRESS_USE_WAYPOINT_LABEL: opt or "(unset)"}, "bound, without the ingress opt-in"),
                      ctx.ref(Need.ZTUNNEL_LOGS, excerpt(direct, 2), "the gateway reaches the pod directly")],
            observed=[direct[0].raw[:160]], resources=[f"Service {sv.namespace}/{sv.name}"],
            fix=Fix(steps=[FixStep(description="Send ingress traffic through the waypoint",
                                   command=f"kubectl label service {sv.name} -n {sv.namespace} {INGRESS_USE_WAYPOINT_LABEL}=true")]))
    return CheckResult.passed("the bound services opt ingress traffic into their waypoint")


def _waypoint_identities(ctx: CheckContext) -> set[str]:
    return {f"spiffe://cluster.local/ns/{g.namespace}/sa/{g.name}" for g in waypoints(ctx)}


@check("AMB-WP-POD-IP-BYPASS", needs=(*WP_NEEDS, Need.ZTUNNEL_LOGS), optional=SUBJECT_OPTIONAL)
def wp_pod_ip_bypass(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Clients address the pod directly (pod IP: headless, StatefulSet, SDK discovery) while its
    waypoint handles only ``service`` traffic: those connections skip the waypoint and its L7
    policy (istio.io troubleshoot-waypoint; istio/istio.io PR #17520)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    bound = [(sv, b) for sv in services_of(ctx, s) if (b := binding_of(sv, s.namespace)) is not None
             and (g := find_waypoint(ctx, b)) is not None and waypoint_for(g) == "service"]
    if not bound:
        return CheckResult.not_applicable(f"no Service of pod {s.ref} is bound to a service-only waypoint")
    log = ctx.ev.get(Need.ZTUNNEL_LOGS, ctx.namespace, ctx.pod_name)
    wids = _waypoint_identities(ctx)
    direct = [ln for ln in log_lines_about(log, s) if ln.direction == "inbound" and not ln.field("dst.service")
              and ln.field("src.identity") and ln.field("src.identity") not in wids]
    if not direct:
        return CheckResult.passed(f"every connection to pod {s.ref} came through its waypoint or its Service")
    sv, b = bound[0]
    return CheckResult.failed(
        args={"pod": s.ref, "service": f"{sv.namespace}/{sv.name}", "waypoint": b.ref, "count": len(direct),
              "client": direct[0].field("src.workload") or direct[0].field("src.addr")},
        evidence=[ctx.ref(Need.ZTUNNEL_LOGS, excerpt(direct, 3), "inbound to the pod IP, not through the waypoint")],
        observed=[direct[0].raw[:160]], resources=[f"Pod {s.ref}", f"Service {sv.namespace}/{sv.name}"],
        fix=Fix(steps=[FixStep(description=f"Make waypoint {b.ref} take workload traffic too and bind the pods "
                                           "(istio.io/waypoint-for=all), or require the waypoint's identity with an L4 policy")]))


@check("AMB-WP-AUTHZ-BYPASS", needs=(*WP_NEEDS, Need.ZTUNNEL_LOGS, Need.AUTHORIZATION_POLICIES), optional=SUBJECT_OPTIONAL)
def wp_authz_bypass(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An L7 policy lives on the Service's waypoint, but ztunnel admits service connections that
    did not come through the waypoint (their source identity is the client's, not the
    waypoint's) and no ztunnel-side policy requires the waypoint (istio.io policy page: with a
    waypoint in the path ztunnel sees the waypoint's identity; istio/istio.io PR #17520)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    names = {sv.name for sv in services_of(ctx, s)}
    l7 = [a for a in ctx.ev.get(Need.AUTHORIZATION_POLICIES) if a.namespace == s.ns
          and any((t.kind == "Service" and t.name in names) or (t.kind == "Gateway" and is_waypoint_name(ctx, s.ns, t.name))
                  for t in a.spec.target_refs)]
    if not l7:
        return CheckResult.not_applicable(f"no waypoint AuthorizationPolicy targets the services of pod {s.ref}")
    log = ctx.ev.get(Need.ZTUNNEL_LOGS, ctx.namespace, ctx.pod_name)
    wids = _waypoint_identities(ctx)
    skipped = [ln for ln in log_lines_about(log, s) if ln.direction == "inbound" and ln.field("dst.service")
               and not ln.failed and ln.field("src.identity") and ln.field("src.identity") not in wids]
    if not skipped:
        return CheckResult.passed(f"connections to pod {s.ref} arrive from its waypoint")
    return CheckResult.failed(
        args={"policy": l7[0].ref, "pod": s.ref, "count": len(skipped), "client": skipped[0].field("src.identity")},
        evidence=[ctx.ref(Need.AUTHORIZATION_POLICIES, {"policy": l7[0].ref, "targetRefs": [f"{t.kind}/{t.name}" for t in l7[0].spec.target_refs]},
                          "enforced by the waypoint only"),
                  ctx.ref(Need.ZTUNNEL_LOGS, excerpt(skipped, 3), "admitted without the waypoint")],
        observed=[skipped[0].raw[:160]], resources=[l7[0].ref, f"Pod {s.ref}"],
        fix=Fix(steps=[FixStep(description="Require traffic to traverse the waypoint: a selector AuthorizationPolicy on the "
                                           "destination that ALLOWs only the waypoint's principal")]))


def is_waypoint_name(ctx: CheckContext, ns: str, name: str) -> bool:
    return any(g.namespace == ns and g.name == name and is_waypoint(g) for g in ctx.ev.get(Need.K8S_GATEWAYS))
