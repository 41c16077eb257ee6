"""Playbook ``authz`` (ambient A4): authorization denies, or fails to deny, unexpectedly.

ztunnel enforces AuthorizationPolicies that select pods (no ``targetRefs``) at L4 only; istiod
converts them (pilot/pkg/serviceregistry/ambient/authorization.go, istio/istio@86c9f01) and
writes the verdict into the policy's ``ZtunnelAccepted`` condition — status True with reason
``UnsupportedValue`` when HTTP fields were dropped, which ``istioctl analyze`` never reports
(it reports False only). Rejections show in the destination node's ztunnel log as
``connection closed due to policy rejection: …`` (ztunnel src/proxy.rs AuthorizationRejectionError).
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks._ambient import SUBJECT_NEEDS, SUBJECT_OPTIONAL, excerpt, log_lines_about, subject, wants_ambient, waypoints
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.ambient import conditions as cond
from istio_doctor.evidence.ambient.ztunnel_log import ErrorKind
from istio_doctor.evidence.bundle import Need

AP_NEEDS = (*SUBJECT_NEEDS, Need.AUTHORIZATION_POLICIES)
ROOT_NS = "istio-system"

_L7_OPERATION = ("hosts", "not_hosts", "methods", "not_methods", "paths", "not_paths")
_L7_SOURCE = ("request_principals", "not_request_principals", "remote_ip_blocks", "not_remote_ip_blocks")


def ztunnel_policies(ctx: CheckContext, s: Any) -> list[Any]:
    """Policies ztunnel enforces for the pod: no targetRefs; selector matching the pod, or none
    in its namespace or the root namespace (authorization.go convertAuthorizationPolicy)."""
    out = []
    for a in ctx.ev.get(Need.AUTHORIZATION_POLICIES):
        if a.spec.target_refs or a.spec.target_ref is not None:
            continue
        if a.namespace not in (s.ns, ROOT_NS):
            continue
        if a.spec.selector is not None and not a.spec.selector.matches(s.pod.labels):
            continue
        out.append(a)
    return out


def rule_l7(rule: Any) -> list[str]:
    found = [k for t in rule.to for k in _L7_OPERATION if getattr(t.operation, k)]
    found += [k for f in rule.from_ for k in _L7_SOURCE if getattr(f.source, k)]
    found += [c.key for c in rule.when if c.key.startswith("request.")]
    return found


def rule_only_l7(rule: Any) -> bool:
    if not rule_l7(rule):
        return False
    l4 = any(t.operation.ports or t.operation.not_ports for t in rule.to) or any(
        f.source.principals or f.source.not_principals or f.source.namespaces or f.source.not_namespaces or f.source.ip_blocks
        for f in rule.from_)
    return not l4


def _policy_ref(ctx: CheckContext, a: Any, c: cond.StatusCondition | None, note: str) -> Any:
    body: dict[str, Any] = {"policy": a.ref, "action": a.spec.action, "selector": a.spec.selector.match_labels if a.spec.selector else "(none)"}
    if c is not None:
        body["status"] = c.line()
    return ctx.ref(Need.AUTHORIZATION_POLICIES, body, note)


@check("AMB-AUTHZ-CUSTOM-ON-ZTUNNEL", needs=AP_NEEDS, optional=SUBJECT_OPTIONAL)
def custom_on_ztunnel(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A CUSTOM (ext-authz) policy selects the pod: ztunnel does not support it, so it is not
    applied ("ztunnel does not support the CUSTOM action", authorization.go)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    for a in ztunnel_policies(ctx, s):
        c = cond.condition(a, cond.ZTUNNEL_ACCEPTED)
        if a.spec.action == "CUSTOM" or (c is not None and c.reason == cond.UNSUPPORTED_VALUE and c.message.startswith(cond.CUSTOM_ON_ZTUNNEL_PREFIX)):
            return CheckResult.failed(
                args={"policy": a.ref, "pod": s.ref, "analyze": cond.analyze_reports(c).why if c else "no status written"},
                evidence=[_policy_ref(ctx, a, c, "a CUSTOM policy selects the pod")], resources=[a.ref],
                fix=Fix(steps=[FixStep(description="Attach the policy to the Service's waypoint with targetRefs instead of a selector")]))
    return CheckResult.passed(f"no CUSTOM policy selects pod {s.ref}")


def _l7_finding(ctx: CheckContext, s: Any, want_action: str) -> tuple[Any, cond.StatusCondition | None, list[str]] | None:
    for a in ztunnel_policies(ctx, s):
        if a.spec.action != want_action:
            continue
        c = cond.condition(a, cond.ZTUNNEL_ACCEPTED)
        found = sorted({k for r in a.spec.rules for k in rule_l7(r)})
        if (c is not None and c.reason == cond.UNSUPPORTED_VALUE and "HTTP" in c.message) or found:
            return a, c, found
    return None


@check("AMB-AUTHZ-L7-ON-ZTUNNEL", needs=AP_NEEDS, optional=(*SUBJECT_OPTIONAL, Need.ZTUNNEL_LOGS))
def l7_on_ztunnel(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An ALLOW policy with HTTP fields (methods, paths, headers, requestPrincipals) selects the
    pod: ztunnel drops the rules that use them, so the policy allows less than written — often
    nothing ("Within an ALLOW policy, rules matching HTTP attributes are omitted", istio/istio#54275,
    #58316)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    hit = _l7_finding(ctx, s, "ALLOW")
    if hit is None:
        return CheckResult.passed(f"no ALLOW policy with HTTP attributes selects pod {s.ref}")
    a, c, found = hit
    log = ctx.ev.get_or(None, Need.ZTUNNEL_LOGS, ctx.namespace, ctx.pod_name)
    denied = [ln for ln in log_lines_about(log, s) if ln.error_kind == ErrorKind.NOT_ALLOWED] if log is not None else []
    ev = [_policy_ref(ctx, a, c, "ztunnel's verdict on the policy")]
    if denied:
        ev.append(ctx.ref(Need.ZTUNNEL_LOGS, excerpt(denied, 2), "the pod's connections rejected"))
    return CheckResult.failed(
        args={"policy": a.ref, "pod": s.ref, "found": found or ["HTTP attributes"], "denied": len(denied),
              "analyze": cond.analyze_reports(c).why if c else "no status written (before 1.24)"},
        evidence=ev, observed=[denied[0].error] if denied else [], resources=[a.ref],
        corroboration="corroborated" if denied else None,
        fix=Fix(steps=[FixStep(description="Enforce the HTTP rules on a waypoint: bind the Service to one and use targetRefs "
                                           "(kind Service or Gateway); keep an L4 policy on ztunnel",
                               yaml_patch="spec:\n  targetRefs:\n  - kind: Service\n    group: \"\"\n    name: <service>\n")]))


@check("AMB-AUTHZ-DENY-L7-NOOP", needs=AP_NEEDS, optional=SUBJECT_OPTIONAL)
def deny_l7_noop(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DENY policy whose every rule is HTTP-only selects the pod: nothing enforceable is left
    at ztunnel, so it denies nothing — while releases up to 1.30 say it is "enforced without the
    HTTP rules … more restrictive than requested" (istio/istio#61126, fixed by #61166)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    for a in ztunnel_policies(ctx, s):
        if a.spec.action != "DENY" or not a.spec.rules or not all(rule_only_l7(r) for r in a.spec.rules):
            continue
        c = cond.condition(a, cond.ZTUNNEL_ACCEPTED)
        misleading = c is not None and cond.DENY_MIXED_TEXT in c.message
        return CheckResult.failed(
            message="misleading" if misleading else "default",
            args={"policy": a.ref, "pod": s.ref, "found": sorted({k for r in a.spec.rules for k in rule_l7(r)})},
            evidence=[_policy_ref(ctx, a, c, "a DENY with only HTTP rules")], resources=[a.ref],
            fix=Fix(steps=[FixStep(description="Attach the DENY policy to the Service's waypoint with targetRefs")]))
    return CheckResult.passed(f"no HTTP-only DENY policy selects pod {s.ref}")


def _rejections(ctx: CheckContext, s: Any) -> list[Any]:
    log = ctx.ev.get(Need.ZTUNNEL_LOGS, ctx.namespace, ctx.pod_name)
    return [ln for ln in log_lines_about(log, s) if ln.direction == "inbound"
            and ln.error_kind in (ErrorKind.NOT_ALLOWED.value, ErrorKind.STATIC_STRICT.value, ErrorKind.DENIED.value)]


@check("AMB-AUTHZ-WAYPOINT-SA", needs=(*AP_NEEDS, Need.ZTUNNEL_LOGS, Need.K8S_GATEWAYS), optional=SUBJECT_OPTIONAL)
def waypoint_sa(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod's ztunnel rejects its waypoint: with a waypoint in the path ztunnel sees the
    waypoint's identity, so an L4 ALLOW policy listing only the clients denies everything
    (istio.io getting-started, istio/istio.io PR #16091: "also allow connections from the waypoint")."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    wids = {f"spiffe://cluster.local/ns/{g.namespace}/sa/{g.name}": g for g in waypoints(ctx)}
    hits = [ln for ln in _rejections(ctx, s) if ln.field("src.identity") in wids]
    if not hits:
        return CheckResult.passed(f"ztunnel rejects no connection from a waypoint to pod {s.ref}")
    allows = [a for a in ztunnel_policies(ctx, s) if a.spec.action == "ALLOW"]
    wid = hits[0].field("src.identity")
    return CheckResult.failed(
        args={"pod": s.ref, "waypoint": wids[wid].ref, "identity": wid, "policy": allows[0].ref if allows else "the ALLOW policies",
              "count": len(hits)},
        evidence=[ctx.ref(Need.ZTUNNEL_LOGS, excerpt(hits, 2), "the pod's ztunnel rejects the waypoint")]
        + [_policy_ref(ctx, a, None, "no rule admits the waypoint") for a in allows[:1]],
        observed=[hits[0].error], resources=[wids[wid].ref] + [a.ref for a in allows[:1]], corroboration="corroborated",
        fix=Fix(steps=[FixStep(description="Add the waypoint's principal to the ztunnel-enforced ALLOW policy",
                               yaml_patch=f"spec:\n  rules:\n  - from:\n    - source:\n        principals:\n        - {wid.removeprefix('spiffe://')}\n")]))


@check("AMB-STRICT-NONMESH-CLIENT", needs=(*AP_NEEDS, Need.ZTUNNEL_LOGS), optional=(*SUBJECT_OPTIONAL, Need.PEER_AUTHENTICATIONS))
def strict_nonmesh(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Plaintext (non-mesh) clients are rejected: STRICT PeerAuthentication becomes ztunnel's
    static DENY ``istio-system/istio_converted_static_strict`` for connections without a peer
    identity, and ALLOW-by-principal policies reject them too (authorization.go
    staticStrictPolicyName; istio/istio#52874, #51482). The inbound line has no ``src.identity``."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    hits = [ln for ln in _rejections(ctx, s) if not ln.field("src.identity")
            and ln.error_kind in (ErrorKind.STATIC_STRICT.value, ErrorKind.NOT_ALLOWED.value)]
    if not hits:
        return CheckResult.passed(f"ztunnel rejects no plaintext client of pod {s.ref}")
    strict = hits[0].error_kind == ErrorKind.STATIC_STRICT.value
    pas = [p for p in ctx.ev.get_or([], Need.PEER_AUTHENTICATIONS) if (p.spec.mtls.mode if p.spec.mtls else None) == "STRICT"]
    ev = [ctx.ref(Need.ZTUNNEL_LOGS, excerpt(hits, 2), "inbound without src.identity, rejected")]
    if pas:
        ev.append(ctx.ref(Need.PEER_AUTHENTICATIONS, [p.ref for p in pas], "STRICT"))
    client = hits[0].field("src.workload") or hits[0].field("src.addr")
    return CheckResult.failed(
        message="strict" if strict else "allow",
        args={"pod": s.ref, "client": client, "client_ns": hits[0].field("src.namespace") or "unknown", "count": len(hits),
              "pa": pas[0].ref if pas else "a STRICT PeerAuthentication"},
        evidence=ev, observed=[hits[0].error], resources=[f"Pod {s.ref}"] + [p.ref for p in pas[:1]], corroboration="corroborated",
        fix=Fix(steps=[FixStep(description=f"Enrol the client's namespace in ambient, or make the server's port PERMISSIVE "
                                           f"for it (PeerAuthentication with a selector and portLevelMtls)",
                               command=f"kubectl label namespace {hits[0].field('src.namespace') or '<client-ns>'} istio.io/dataplane-mode=ambient")]))
