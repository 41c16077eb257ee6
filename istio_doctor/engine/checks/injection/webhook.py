"""The webhook itself: ``INJ-WEBHOOK-DOWN`` (the API server cannot call the injector, so pod
creation fails), ``INJ-WEBHOOK-FAILOPEN`` (``failurePolicy: Ignore`` creates pods without sidecar
when it fails) and ``INJ-MULTI-WEBHOOK`` (two revisions' webhooks select the pod).
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks.injection._findings import _hooks_ref, _ns_ref, _pod_meta_ref, _restart_step, situation_check
from istio_doctor.engine.mesh.injection import (
    _SUBJECT_OPTIONAL,
    _WEBHOOK_CALL,
    INJECTOR_SUFFIX,
    Hook,
    Situation,
    injector_hooks,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.kube import STATUS_ANNOTATION
from istio_doctor.evidence.target import TargetKind

# --------------------------------------------------------------------------------------
# the webhook itself
# --------------------------------------------------------------------------------------


def _istiod_state(ctx: CheckContext, hooks: list[Hook]) -> tuple[bool | None, str]:
    """Is the injector service behind the webhooks serving? (None when not gathered)."""
    names = {h.hook.client_config.service.name for h in hooks if h.hook.client_config.service is not None} or {"istiod"}
    slices = ctx.ev.get_or(None, Need.CONTROL_PLANE_ENDPOINTSLICES)
    if slices is not None:
        mine = [sl for sl in slices if sl.service_name in names]
        if mine:
            ready = [a for sl in mine for a in sl.ready_addresses]
            return bool(ready), f"service {'/'.join(sorted(names))}: {len(ready)} ready endpoint(s)"
    pods = ctx.ev.get_or(None, Need.CONTROL_PLANE_PODS)
    if pods is not None:
        ist = [p for p in pods if p.labels.get("app") == "istiod"]
        if ist:
            ready = [p for p in ist if p.ready]
            return bool(ready), f"istiod pods ready: {len(ready)}/{len(ist)}"
    return None, ""


def _webhook_failure_kind(msg: str) -> str:
    """Why the API server could not call the webhook, from its error: the finding's message variant."""
    m = msg.lower()
    if "no endpoints available" in m:
        return "no_endpoints"
    if "x509" in m or "certificate" in m:
        return "x509"
    if "deadline exceeded" in m or "timeout" in m or "i/o timeout" in m:
        return "timeout"
    if "connection refused" in m:
        return "refused"
    return "error"


def _upstream_workloads(ctx: CheckContext, rss: list[Any]) -> dict[str, str]:
    """ReplicaSets behind the Services the examined pod's failing requests went to.

    A client sees the outage as "503 UH no healthy upstream": the pods it calls cannot be
    (re)created. Returns ReplicaSet name -> the Service it backs."""
    from istio_doctor.evidence.accesslog import is_failure

    pl = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name) if ctx.pod_name else None
    if pl is None:
        return {}
    out: dict[str, str] = {}
    services = ctx.ev.get_or([], Need.SERVICES)
    for e in pl.entries:
        us = e.upstream_service
        if e.direction != "outbound" or us is None or not us.fqdn or not is_failure(e):
            continue
        parts = us.fqdn.split(".")
        if len(parts) < 2 or parts[1] != ctx.namespace:
            continue  # events are gathered for the examined namespace only
        svc = next((x for x in services if x.name == parts[0] and x.namespace == parts[1]), None)
        if svc is None or not svc.spec.selector:
            continue
        for rs in rss:
            labels = rs.spec.template.metadata.labels
            if all(labels.get(k) == v for k, v in svc.spec.selector.items()):
                out.setdefault(rs.name, f"Service {svc.namespace}/{svc.name}")
    return out


@check("INJ-WEBHOOK-DOWN", needs=(Need.EVENTS,),
       optional=(Need.POD, Need.REPLICASETS, Need.DEPLOYMENTS, Need.WEBHOOKS, Need.CONTROL_PLANE_PODS, Need.CONTROL_PLANE_ENDPOINTSLICES,
                 Need.PROXY_LOGS, Need.SERVICES, Need.PODS))
def webhook_down(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Pod creation fails because the API server cannot call the sidecar-injector webhook."""
    ns = ctx.namespace
    events = list(ctx.ev.get(Need.EVENTS, ns))
    rss = list(ctx.ev.get_or([], Need.REPLICASETS, ns))
    # Which controllers belong to the subject: the pod's ReplicaSet, or the target Deployment's.
    owners: set[str] = set()
    deploy: str | None = None
    pod = ctx.ev.get_or(None, Need.POD, ns, ctx.pod_name) if ctx.pod_name else None
    if pod is None and ctx.pod_name:
        pod = next((p for p in ctx.ev.get_or([], Need.PODS, ns) if p.name == ctx.pod_name), None)
    if pod is not None:
        ref = pod.controller
        if ref is not None:
            owners.add(ref.name)
        ow = pod.owner_workload
        deploy = ow.name if ow is not None and ow.kind == "Deployment" else None
    elif ctx.target.kind is TargetKind.DEPLOYMENT:
        deploy = ctx.target.name
    if deploy:
        owners |= {rs.name for rs in rss if any(o.kind == "Deployment" and o.name == deploy for o in rs.metadata.owner_references)}
    scope_all = not owners and not deploy
    # The pods this pod calls may be the ones that cannot be created (it sees 503 UH).
    upstream = _upstream_workloads(ctx, rss)
    owners |= set(upstream)

    def ours(kind: str | None, name: str | None) -> bool:
        if scope_all:
            return True
        return bool(name) and (name in owners or (deploy is not None and kind in ("ReplicaSet", "Deployment") and (name == deploy or name.startswith(deploy + "-"))))

    hits: list[tuple[str, str, int, str]] = []  # (object, webhook, count, message)
    for e in events:
        msg = e.message or ""
        m = _WEBHOOK_CALL.search(msg)
        if m is None or not m.group("hook").endswith(INJECTOR_SUFFIX):
            continue
        obj = e.involved_object
        if not ours(obj.kind, obj.name):
            continue
        hits.append((f"{(obj.kind or '').lower()}/{obj.name}", m.group("hook"), e.count or 1, msg))
    for rs in rss:
        c = rs.replica_failure
        if c is None or not c.message or not ours("ReplicaSet", rs.name):
            continue
        m = _WEBHOOK_CALL.search(c.message)
        if m and m.group("hook").endswith(INJECTOR_SUFFIX) and not any(h[0] == f"replicaset/{rs.name}" for h in hits):
            hits.append((f"replicaset/{rs.name}", m.group("hook"), 1, c.message))
    if not hits:
        return CheckResult.passed(f"no FailedCreate event or ReplicaFailure in {ns} names a sidecar-injector webhook")
    hooks = [h for h in (injector_hooks(ctx) if ctx.ev.has(Need.WEBHOOKS) else []) if h.hook.name == hits[0][1]]
    serving, state = _istiod_state(ctx, hooks)
    kind = _webhook_failure_kind(hits[0][3])
    total = sum(h[2] for h in hits)
    behind = upstream.get(hits[0][0].split("/", 1)[-1])
    level = None
    if serving is False and kind in ("no_endpoints", "timeout", "refused"):
        level = "istiod_not_serving"
    elif serving is True and kind == "no_endpoints":
        level = "istiod_serving_now"  # istiod is back: the events describe an outage that may be over
    cp_ns = ctx.conn.istio_namespace
    steps = [FixStep(description="See the failing creations", command=f"kubectl get events -n {ns} --field-selector reason=FailedCreate")]
    if kind in ("no_endpoints", "refused", "error"):
        steps += [FixStep(description="Bring istiod back: why are its pods not ready?", command=f"kubectl -n {cp_ns} get pods -l app=istiod -o wide"),
                  FixStep(description="Read its log", command=f"kubectl -n {cp_ns} logs deploy/istiod --tail=200")]
    elif kind == "timeout":
        steps += [FixStep(description="Check istiod is ready and has endpoints", command=f"kubectl -n {cp_ns} get endpointslices -l kubernetes.io/service-name=istiod"),
                  FixStep(description="On private clusters (GKE, EKS) allow the control plane to reach nodes on TCP 15017 (firewall rule / security group)")]
    else:
        steps += [FixStep(description="Compare the webhook caBundle with istiod's CA; restarting istiod re-patches it",
                          command=f"kubectl -n {cp_ns} rollout restart deploy/istiod")]
    steps.append(FixStep(description="Once the webhook answers, the ReplicaSet controller retries by itself; restart to be sure",
                         command=f"kubectl rollout restart deployment/{deploy} -n {ns}" if deploy else None))
    ev = [ctx.ref(Need.EVENTS, "\n".join(f"Warning  FailedCreate  {o}  (x{c})  {msg}" for o, _h, c, msg in hits[:4]),
                  "FailedCreate events naming the injector webhook")]
    if hooks:
        ev.append(_hooks_ref(ctx, hooks[:1], "the webhook the API server could not call"))
    if state:
        need = Need.CONTROL_PLANE_ENDPOINTSLICES if state.startswith("service") else Need.CONTROL_PLANE_PODS
        ev.append(ctx.ref(need, state, "the injector service now"))
    return CheckResult.failed(
        message=kind,
        args={"count": total, "object": hits[0][0], "behind": behind, "webhook": hits[0][1], "injector": state or None,
              "recovered": level == "istiod_serving_now"},
        corroboration=level,
        evidence=ev,
        fix=Fix(steps=steps, ordered=True),
        observed=[f"{c}× FailedCreate on {o}: failed calling webhook \"{h}\"" for o, h, c, _m in hits[:3]],
        resources=[o for o, *_ in hits[:3]],
    )


@situation_check("INJ-WEBHOOK-FAILOPEN", optional=(*_SUBJECT_OPTIONAL, Need.CONTROL_PLANE_PODS, Need.CONTROL_PLANE_ENDPOINTSLICES))
def webhook_failopen(ctx: CheckContext, s: Situation) -> CheckResult:
    """The injector webhook's failurePolicy is Ignore: pods are created without sidecar when it fails."""
    relevant = s.decision.hooks or s.hooks
    ignore = [h for h in relevant if h.hook.failure_policy == "Ignore"]
    if not relevant:
        return CheckResult.not_applicable("no Istio sidecar-injector webhook")
    if not ignore:
        return CheckResult.passed(f"webhook failurePolicy is {relevant[0].hook.failure_policy} ({relevant[0].label})")
    if s.injected or not s.subject.live or not s.decision.inject or not any(h in ignore for h in s.decision.hooks):
        return CheckResult.passed(f"failurePolicy Ignore on {ignore[0].label} (latent: pods created while the webhook fails would silently "
                                  f"skip injection), but {s.subject.desc} is not such a pod")
    p = s.subject.pod
    if STATUS_ANNOTATION in p.annotations:
        return CheckResult.not_applicable(f"pod {p.name} was injected once ({STATUS_ANNOTATION} present)")
    serving, state = _istiod_state(ctx, ignore)
    return CheckResult.failed(
        args={"webhook": ignore[0].label, "pod": p.name, "injector": state or None},
        corroboration="istiod_not_serving" if serving is False else None,
        evidence=[_hooks_ref(ctx, ignore[:2], "failurePolicy Ignore (the Istio charts set Fail)"),
                  _pod_meta_ref(ctx, s, f"pod {p.name}: no istio-proxy, no {STATUS_ANNOTATION}")]
        + ([ctx.ref(Need.CONTROL_PLANE_ENDPOINTSLICES if state.startswith("service") else Need.CONTROL_PLANE_PODS, state, "the injector service now")] if state else []),
        fix=Fix(steps=[FixStep(description="Set failurePolicy back to Fail on every Istio injector webhook",
                               command=(f"kubectl patch mutatingwebhookconfiguration {ignore[0].config.name} --type json -p "
                                        + "'[" + ",".join(f'{{"op":"replace","path":"/webhooks/{i}/failurePolicy","value":"Fail"}}'
                                                          for i, _h in enumerate(ignore[0].config.webhooks)) + "]'")),
                       _restart_step(s)], ordered=True),
        # istiod failing now is the runtime side of "the webhook could not be called"
        observed=[f"injector webhook service not serving: {state}"] if serving is False else [],
        resources=[f"MutatingWebhookConfiguration {ignore[0].config.name}", f"Pod {s.subject.namespace}/{p.name}"],
    )


@situation_check("INJ-MULTI-WEBHOOK")
def multi_webhook(ctx: CheckContext, s: Situation) -> CheckResult:
    """More than one injector webhook configuration selects the pod (two revisions inject it)."""
    hooks = s.decision.hooks
    configs = list(dict.fromkeys(h.config.name for h in hooks))
    if len(configs) < 2:
        if not hooks:
            return CheckResult.not_applicable(f"no injector webhook selects {s.subject.desc}")
        return CheckResult.passed(f"exactly one injector webhook selects {s.subject.desc}: {hooks[0].label}")
    revs = sorted({h.revision for h in hooks})
    return CheckResult.failed(
        args={"count": len(configs), "subject": s.subject.desc, "revisions": revs,
              "hooks": [f"{h.label} (revision {h.revision}{', tag ' + h.tag if h.tag else ''})" for h in hooks]},
        evidence=[_hooks_ref(ctx, hooks, "every webhook whose selectors match the pod"), _ns_ref(ctx, s.subject.namespace, s.ns_labels)],
        fix=Fix(steps=[FixStep(description="See which revisions and tags exist", command="istioctl tag list"),
                       FixStep(description="Remove the configuration that should no longer inject (check it first)",
                               command=f"kubectl delete mutatingwebhookconfiguration {configs[-1]}"),
                       _restart_step(s)], ordered=True),
        resources=[f"MutatingWebhookConfiguration {c}" for c in configs],
    )
