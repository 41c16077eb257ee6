"""``503 UH`` no (healthy) endpoint: ``P503-NO-ENDPOINTS`` (readiness failing, selector matching
nothing, pods never created), ``P503-PROBE-REWRITE`` (HTTP probes not rewritten to the agent hit a
STRICT port) and ``P503-SUBSET-NO-PODS`` (a subset a route uses selects no pod).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from istio_doctor.engine.checks.p503._reading import (
    _uh,
    describe_group,
    dump,
    entry_service,
    has_flag,
    log_ref,
    outbound_failures,
    pod_logs,
    pod_ref,
    pods_in,
    server_pods,
    services_of,
    svc_ref,
    workload_name,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import client_host, service_host
from istio_doctor.engine.mesh import destination_rule_for, effective_mtls, virtual_services_for_host
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry, is_failure
from istio_doctor.evidence.bundle import Need

# --------------------------------------------------------------------------------------
# UH: no (healthy) endpoint
# --------------------------------------------------------------------------------------


@dataclass
class Backing:
    svc: Any
    selected: list[Any]
    ready: list[Any]
    slice_ready: int | None
    slices: list[Any]


def _backing(ctx: CheckContext, svc: Any, subset_labels: dict[str, str] | None = None) -> Backing | None:
    ns = svc.metadata.namespace
    pods = pods_in(ctx, ns)
    slices = [s for s in ctx.ev.get_or([], Need.ENDPOINTSLICES, ns) if s.service_name == svc.metadata.name]
    if pods is None and not slices:
        return None
    selected = [p for p in (pods or []) if svc.selects(p) and p.phase not in ("Succeeded", "Failed")]
    if subset_labels:
        selected = [p for p in selected if all(p.labels.get(k) == v for k, v in subset_labels.items())]
    ready = [p for p in selected if p.ready]
    slice_ready = sum(len(s.ready_addresses) for s in slices) if slices and not subset_labels else None
    return Backing(svc, selected, ready, slice_ready, slices)


def _subset_labels(ctx: CheckContext, fqdn: str, subset: str | None, client_ns: str) -> tuple[Any | None, dict[str, str] | None]:
    if not subset:
        return None, None
    applied = destination_rule_for(ctx, fqdn, client_ns)
    if applied is None:
        return None, None
    sub = applied.rule.subset(subset)
    return applied.rule, (dict(sub.labels) if sub is not None else None)


def _failed_creates(ctx: CheckContext, svc: Any) -> list[Any]:
    """FailedCreate warnings of the ReplicaSets that would create the Service's pods.

    A Service that selects no pod is usually not a selector typo when its pods cannot be created
    (an admission webhook that times out, a quota, Pod Security): the selector is fine and the fix
    is whatever rejects the pods. Without the ReplicaSet objects, its name (Deployment name +
    template hash) ties it to the Service: the Deployment is named after the Service or its ``app``.
    """
    ns = svc.metadata.namespace
    names = {svc.metadata.name, *(v for k, v in svc.spec.selector.items() if k in ("app", "app.kubernetes.io/name"))}
    out = []
    for e in ctx.ev.get_or([], Need.EVENTS, ns):
        obj = e.involved_object
        if e.reason != "FailedCreate" or (obj.kind or "") != "ReplicaSet" or not obj.name:
            continue
        deploy = obj.name.rsplit("-", 1)[0]
        if any(deploy == n or deploy.startswith(n + "-") for n in names):
            out.append(e)
    return out


@check("P503-NO-ENDPOINTS", needs=(Need.POD, Need.SERVICES, Need.PROXY_LOGS),
       optional=(Need.PODS, Need.ENDPOINTSLICES, Need.DESTINATION_RULES, Need.CONFIG_DUMP, Need.EVENTS, Need.CONTROL_PLANE_CONFIGMAPS),
       peer_needs=(Need.PROXY_LOGS,))
def no_endpoints(ctx: CheckContext, _: NoParams) -> CheckResult:
    """503 UH no_healthy_upstream because the Service has no ready endpoint (readiness failing, selector matching nothing)."""
    pls = pod_logs(ctx)
    hits = outbound_failures(pls, lambda e: e.direction == "outbound" and _uh(e))
    for pl, entries in hits:
        by_cluster: dict[str, list[AccessLogEntry]] = {}
        for e in entries:
            by_cluster.setdefault(e.upstream_cluster or "", []).append(e)
        for cluster, es in by_cluster.items():
            svc, port, subset = entry_service(ctx, es[0])
            if svc is None:
                continue
            dr, labels = _subset_labels(ctx, service_host(ctx, svc), subset, pl.namespace)
            if subset and labels is not None:
                b_all = _backing(ctx, svc)
                if b_all is not None and not [p for p in b_all.selected if all(p.labels.get(k) == v for k, v in labels.items())]:
                    continue  # the subset selects no pod at all: P503-SUBSET-NO-PODS
            b = _backing(ctx, svc, labels)
            if b is None:
                continue
            no_ready = (b.slice_ready == 0) if b.slice_ready is not None else (not b.ready)
            if b.slice_ready is None and b.selected and b.ready:
                no_ready = False
            if not no_ready:
                continue
            evidence = [log_ref(ctx, pl, es, "the client's proxy found no healthy endpoint")]
            if b.slices:
                evidence.append(ctx.ref(Need.ENDPOINTSLICES, [{"name": s.metadata.name, "endpoints": [dump(ep) for ep in s.endpoints]} for s in b.slices],
                                        f"EndpointSlices of {svc_ref(svc)}", namespace=svc.metadata.namespace))
            sel = ",".join(f"{k}={v}" for k, v in svc.spec.selector.items())
            failed_creates = _failed_creates(ctx, svc) if not b.selected else []
            args = {"requests": describe_group(es), "service": svc_ref(svc), "subset": subset, "selector": sel}
            if failed_creates:
                fc = failed_creates[0]
                why = "failed_create"  # the selector is fine: the pods cannot be created
                args |= {"replicaset": f"{svc.metadata.namespace}/{fc.involved_object.name}", "count": fc.count or 1, "event": fc.message}
                evidence.append(ctx.ref(Need.EVENTS, "\n".join(f"{e.type} {e.reason} {(e.involved_object.kind or '').lower()}/{e.involved_object.name} "
                                                               f"x{e.count or 1}: {e.message}" for e in failed_creates[:3]),
                                        "pod creation failures", namespace=svc.metadata.namespace))
                fix = Fix(steps=[
                    FixStep(description="Read the ReplicaSet's events",
                            command=f"kubectl describe replicaset {fc.involved_object.name} -n {svc.metadata.namespace}")])
            elif not b.selected:
                why = "selector"
                fix = Fix(steps=[
                    FixStep(description="Compare the selector with the pod labels",
                            command=f"kubectl get pods -n {svc.metadata.namespace} --show-labels; kubectl get svc {svc.metadata.name} -n {svc.metadata.namespace} -o jsonpath='{{.spec.selector}}'")])
            else:
                why = "not_ready"
                args |= {"count": len(b.selected), "pods": [p.metadata.name for p in b.selected[:4]]}
                evidence.append(ctx.ref(Need.PODS, [{"name": p.metadata.name, "conditions": [dump(c) for c in p.status.conditions if c.type == "Ready"],
                                                     "containerStatuses": [{"name": s.name, "ready": s.ready, "restartCount": s.restart_count}
                                                                           for s in p.status.container_statuses]} for p in b.selected[:4]],
                                        "pods behind the Service", namespace=svc.metadata.namespace))
                fix = Fix(steps=[
                    FixStep(description="Read the readiness failures", command=f"kubectl describe pod {b.selected[0].metadata.name} -n {svc.metadata.namespace}")])
            return CheckResult.failed(
                message=why, args=args, corroboration="client_logs",
                evidence=evidence, observed=[describe_group(es)], resources=[svc_ref(svc)], fix=fix)
    # the target as a server: its Services have no ready endpoint at all
    pod = ctx.pod()
    for svc in services_of(ctx, pod):
        b = _backing(ctx, svc)
        if b is not None and b.slice_ready == 0 and b.slices:
            return CheckResult.failed(
                message="server", args={"service": svc_ref(svc), "pod": pod_ref(pod)},
                evidence=[ctx.ref(Need.ENDPOINTSLICES, [{"name": s.metadata.name, "endpoints": [dump(ep) for ep in s.endpoints]} for s in b.slices],
                                  f"EndpointSlices of {svc_ref(svc)}", namespace=svc.metadata.namespace)],
                resources=[svc_ref(svc), pod_ref(pod)],
                fix=Fix(steps=[
                    FixStep(description="Read the readiness failures", command=f"kubectl describe pod {pod.metadata.name} -n {pod.metadata.namespace}")]))
    if not hits:
        return CheckResult.passed("no 503 UH no_healthy_upstream in the proxy logs and the pod's Services have ready endpoints")
    return CheckResult.passed("the UH responses are not explained by a Service without ready endpoints (pods are Ready)")


def _rewrite_disabled(pod: Any) -> bool:
    return pod.annotations.get("sidecar.istio.io/rewriteAppHTTPProbers", "").lower() == "false"


@check("P503-PROBE-REWRITE", needs=(Need.POD, Need.PEER_AUTHENTICATIONS), optional=(Need.EVENTS, Need.PODS, Need.PROXY_LOGS,
       Need.SERVICES, Need.CONTROL_PLANE_CONFIGMAPS), peer_needs=(Need.PROXY_LOGS,))
def probe_rewrite(ctx: CheckContext, _: NoParams) -> CheckResult:
    """HTTP probes not rewritten to the agent (rewriteAppHTTPProbers: false) hit a STRICT mTLS port: kubelet fails readiness."""
    ctx.resources(Need.PEER_AUTHENTICATIONS)  # required: without it no probe can be judged
    cands: dict[tuple[str, str], Any] = {}
    for pod, _role in server_pods(ctx):
        cands[(pod.metadata.namespace, pod.metadata.name)] = pod
    # pods behind the Services the target's UH requests went to
    for pl in pod_logs(ctx, required=False):
        for e in pl.log.entries:
            if _uh(e) and ctx.ev.has(Need.SERVICES):
                svc, _, _ = entry_service(ctx, e)
                for p in [p for p in (pods_in(ctx, svc.metadata.namespace) or []) if svc.selects(p)] if svc is not None else []:
                    cands.setdefault((p.metadata.namespace, p.metadata.name), p)
    looked = 0
    for pod in cands.values():
        if not pod.has_sidecar:
            continue
        for pr in pod.probes:
            hg = pr.probe.http_get
            if hg is None:
                continue
            looked += 1
            if hg.port == 15020 or str(hg.port) == "15020" or (hg.path or "").startswith("/app-health/"):
                continue  # rewritten: the agent probes the app from inside the pod
            port = hg.port if isinstance(hg.port, int) else next(
                (p.container_port for c in pod.app_containers for p in c.ports if p.name == hg.port), None)
            mtls = effective_mtls(ctx, pod, port)
            if mtls.mode != "STRICT":
                continue
            events = [e for e in ctx.ev.get_or([], Need.EVENTS, pod.metadata.namespace)
                      if e.involved_object.name == pod.metadata.name and (e.reason == "Unhealthy" or "probe failed" in (e.message or ""))]
            if pod.ready and not events:
                continue  # the probe passes: not this pod's problem now
            ann = pod.annotations.get("sidecar.istio.io/rewriteAppHTTPProbers")
            evidence = [ctx.ref(Need.POD, {"annotations": {k: v for k, v in pod.annotations.items() if k.startswith("sidecar.istio.io/rewrite")},
                                           f"{pr.kind}Probe": dump(pr.probe), "ready": pod.ready},
                                f"{pr.kind} probe of container {pr.container} is not rewritten to :15020/app-health",
                                namespace=pod.metadata.namespace, name=pod.metadata.name)]
            if mtls.policy is not None:
                evidence.append(ctx.ref(Need.PEER_AUTHENTICATIONS, dump(mtls.policy), mtls.source))
            observed = []
            if events:
                evidence.append(ctx.ref(Need.EVENTS, "\n".join(f"{e.type} {e.reason} pod/{pod.metadata.name}: {e.message} (x{e.count or 1})" for e in events[:3]),
                                        "kubelet's probe is rejected", namespace=pod.metadata.namespace))
                observed.append(f"{events[0].reason}: {events[0].message}")
            wl = workload_name(pod)
            return CheckResult.failed(
                args={"pod": pod_ref(pod), "probe": pr.kind, "port": hg.port, "path": hg.path or "/", "mode": mtls.mode,
                      "source": mtls.source, "annotation": ann, "ready": pod.ready},
                corroboration="probe_failing" if (not pod.ready or events) else None,
                evidence=evidence, observed=observed,
                resources=[pod_ref(pod)] + ([f"PeerAuthentication {mtls.policy.metadata.namespace}/{mtls.policy.metadata.name}"] if mtls.policy is not None else []),
                fix=Fix(steps=[
                    FixStep(description=f"Remove the opt-out annotation from the pod template of {wl}",
                            command=f"kubectl patch {wl} -n {pod.metadata.namespace} --type=json -p "
                                    "'[{\"op\":\"remove\",\"path\":\"/spec/template/metadata/annotations/sidecar.istio.io~1rewriteAppHTTPProbers\"}]'"),
                    FixStep(description="Or use exec/tcp probes, or PERMISSIVE mTLS on the probe port"),
                ]),
            )
    if not looked:
        return CheckResult.not_applicable("no HTTP probe on the examined in-mesh pods")
    return CheckResult.passed(f"{looked} HTTP probe(s): rewritten, not under STRICT mTLS, or passing")


@check("P503-SUBSET-NO-PODS", needs=(Need.POD, Need.SERVICES, Need.DESTINATION_RULES, Need.PROXY_LOGS),
       optional=(Need.PODS, Need.VIRTUAL_SERVICES, Need.ANALYZE, Need.DESCRIBE, Need.CONTROL_PLANE_CONFIGMAPS), peer_needs=(Need.PROXY_LOGS,))
def subset_no_pods(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule subset whose labels select no pod of its host, used by a route (503 UH)."""
    pls = pod_logs(ctx)
    # 1. runtime: UH to a subset cluster
    for pl in pls:
        for e in pl.log.entries:
            if not (e.direction == "outbound" and (_uh(e) or has_flag(e, "NR"))):
                continue
            svc, _, subset = entry_service(ctx, e)
            if svc is None or not subset:
                continue
            res = _subset_empty(ctx, svc, subset, pl.namespace)
            if res is None:
                continue
            dr, labels, pods = res
            es = [x for x in pl.log.entries if x.upstream_cluster == e.upstream_cluster and is_failure(x)]
            return _subset_fail(ctx, svc, dr, subset, labels, pods, [log_ref(ctx, pl, es, "503 UH on the subset's cluster")], [describe_group(es)], "logs")
    # 2. config: a subset routed to by a mesh VirtualService for a host the target serves or calls
    hosts: dict[str, Any] = {}
    pod = ctx.pod()
    for s in services_of(ctx, pod):
        hosts[service_host(ctx, s)] = s
    for pl in pls:
        for e in pl.log.entries:
            svc, _, _ = entry_service(ctx, e)
            if svc is not None:
                hosts.setdefault(service_host(ctx, svc), svc)
    for host, svc in hosts.items():
        for vs in virtual_services_for_host(ctx, host, client_namespace=ctx.namespace):
            for d in vs.destinations:
                if not d.subset or client_host(ctx, d.host, vs.metadata.namespace or "default") != host:
                    continue
                res = _subset_empty(ctx, svc, d.subset, ctx.namespace)
                if res is None:
                    continue
                dr, labels, pods = res
                ev = [ctx.ref(Need.VIRTUAL_SERVICES, dump(vs.spec), f"VirtualService {vs.metadata.namespace}/{vs.metadata.name} routes to subset {d.subset}")]
                analyze = [m for m in ctx.ev.get_or([], Need.ANALYZE, ctx.namespace) if m.code == "IST0173"]
                if analyze:
                    ev.append(ctx.ref(Need.ANALYZE, "\n".join(m.as_printed for m in analyze[:3]), "istioctl analyze agrees"))
                return _subset_fail(ctx, svc, dr, d.subset, labels, pods, ev, [], None)
    return CheckResult.passed("every DestinationRule subset in use selects at least one pod")


def _subset_empty(ctx: CheckContext, svc: Any, subset: str, client_ns: str) -> tuple[Any, dict[str, str], list[Any]] | None:
    dr, labels = _subset_labels(ctx, service_host(ctx, svc), subset, client_ns)
    if dr is None or labels is None:
        return None
    pods = pods_in(ctx, svc.metadata.namespace)
    if pods is None:
        return None
    behind = [p for p in pods if svc.selects(p)]
    if not behind:
        return None  # the Service itself selects nothing: P503-NO-ENDPOINTS
    if any(all(p.labels.get(k) == v for k, v in labels.items()) for p in behind):
        return None
    return dr, labels, behind


def _subset_fail(ctx: CheckContext, svc: Any, dr: Any, subset: str, labels: dict[str, str], pods: list[Any],
                 evidence: list[EvidenceRef], observed: list[str], level: str | None) -> CheckResult:
    versions = sorted({",".join(f"{k}={p.labels.get(k, '<none>')}" for k in labels) for p in pods})
    sub = dr.subset(subset)
    evidence = [ctx.ref(Need.DESTINATION_RULES, {"host": dr.spec.host, "subsets": [dump(sub)]},
                        f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name} subset {subset}"),
                ctx.ref(Need.PODS, "\n".join(f"{p.metadata.name} {','.join(f'{k}={v}' for k, v in sorted(p.labels.items()) if k != 'pod-template-hash')}" for p in pods[:6]),
                        f"pods of {svc_ref(svc)} and their labels", namespace=svc.metadata.namespace)] + evidence
    want = ",".join(f"{k}={v}" for k, v in labels.items())
    if (dref := ctx.describe_ref(("DOES NOT MATCH ANY SUBSETS", "non-matching subset"), "istioctl x describe agrees")) is not None:
        evidence.append(dref)
    return CheckResult.failed(
        args={"dr": f"{dr.metadata.namespace}/{dr.metadata.name}", "subset": subset, "want": want, "count": len(pods),
              "service": svc_ref(svc), "labels": versions, "host": service_host(ctx, svc)},
        corroboration=level,
        evidence=evidence, observed=observed,
        resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}", svc_ref(svc)],
        fix=Fix(steps=[
            FixStep(description="Compare the subset labels with the pods", command=f"kubectl get pods -n {svc.metadata.namespace} -l {want}"),
            FixStep(description="Then correct the subset", command=f"kubectl edit destinationrule {dr.metadata.name} -n {dr.metadata.namespace}"),
        ]),
    )
