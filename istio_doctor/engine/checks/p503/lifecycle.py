"""The pod's lifecycle: ``P503-STARTUP-RACE`` (the app ran before its sidecar was ready),
``P503-SHUTDOWN-RACE`` (Envoy drains before the app or the caller is done), ``P503-UID-1337`` (an
app running as the proxy's UID bypasses the sidecar) and ``P503-PROXY-NOT-READY`` (the proxy never
got its configuration from istiod).
"""

from __future__ import annotations

from typing import Any

import yaml

from istio_doctor.engine.checks.p503._reading import describe_group, dump, has_flag, log_ref, pod_logs, pod_ref, pods_in, server_pods, workload_name
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.lifecycle import facts, readings
from istio_doctor.engine.lifecycle.cite import ids, kube_minor, moments_ref, quote, timeline_of, when
from istio_doctor.engine.lifecycle.model import MomentKind
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need

# --------------------------------------------------------------------------------------
# lifecycle: start-up and shutdown races, proxy readiness
# --------------------------------------------------------------------------------------


def _startup_remedy(ctx: CheckContext, pod: Any) -> tuple[str, list[FixStep]]:
    """Where to hold the app for the running version (engine/lifecycle/facts.py), and native sidecars."""
    v = ctx.istio_version
    steps: list[FixStep] = []
    if v is not None and v < facts.V("1.7"):
        steps.append(FixStep(description="Istio < 1.7 has no setting: make the app wait for the proxy's readiness "
                                         "(istio/istio#11130)", command="until curl -fsS http://localhost:15020/healthz/ready; do sleep 1; done"))
        return "Upgrade to Istio >= 1.7, or make the app wait for http://localhost:15020/healthz/ready before it connects", steps
    if v is not None and v < facts.V("1.8"):
        steps.append(FixStep(description="Istio 1.7 reads the hold only from the Helm value",
                             command="istioctl install --set values.global.proxy.holdApplicationUntilProxyStarts=true"))
        text = "Set values.global.proxy.holdApplicationUntilProxyStarts=true (the only place Istio 1.7 reads), then restart"
    else:
        steps.append(FixStep(description=f"Hold the app until the proxy is ready (pod template of {workload_name(pod)})",
                             yaml_patch=yaml.safe_dump({"spec": {"template": {"metadata": {"annotations": {
                                 "proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"}}}}}, sort_keys=False)))
        text = "Set holdApplicationUntilProxyStarts: true in the pod template's proxy.istio.io/config annotation, then restart"
    native = facts.native_fix(v, kube_minor(ctx))
    if native is not None:
        steps.append(FixStep(description=f"Or run istio-proxy as a native sidecar, which Kubernetes starts before the app: {native[0]}"))
        text += "; or use native sidecars"
    return text, steps


@check("P503-STARTUP-RACE", needs=(Need.POD,),
       optional=(Need.CONTROL_PLANE_CONFIGMAPS, Need.PROXY_LOGS, Need.APP_LOGS, Need.APP_PREVIOUS_LOGS, Need.KUBECTL_VERSION))
def startup_race(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The app failed to connect while its classic sidecar was not ready yet: its first run crashed before
    pilot-agent logged "Envoy proxy is ready", or it logged network errors stamped before that line (the
    pod's timeline; both times are the node's clock)."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"{pod_ref(pod)} has no sidecar")
    if pod.is_native_sidecar:
        return CheckResult.not_applicable("native sidecar: Kubernetes starts istio-proxy (and waits for its startup probe) before the app")
    if facts.hold_shape(pod).holds:
        return CheckResult.passed("istio-proxy is the first container with the postStart `pilot-agent wait` hook: "
                                  "the app starts only once Envoy is ready")
    tl = timeline_of(ctx)
    race = readings.startup_race(tl)
    if race is None:
        return CheckResult.passed("no app container failed to connect before the proxy was ready")
    first_error = race.errors[0] if race.errors else None
    crash = race.crash
    remedy, steps = _startup_remedy(ctx, pod)
    status = pod.container_status(race.container)
    args = {"pod": pod_ref(pod), "container": race.container,
            "ready": f"at {when(race.ready.at)}" if race.ready is not None else "(no \"Envoy proxy is ready\" line in the log read)",
            "error": quote(first_error.excerpt) if first_error is not None else "-", "remedy": remedy}
    if crash is not None:
        args.update({"exit_code": crash.detail, "at": when(crash.at), "restarts": status.restart_count if status else "?"})
    return CheckResult.failed(
        message="logged" if crash is None else ("crashed" if first_error is None else None), args=args,
        corroboration="logged" if crash is not None and first_error is not None else None,
        evidence=[moments_ref(ctx, tl, race.moments, "the app failed before pilot-agent reported Envoy ready (node clock)")],
        observed=[m.summary for m in race.moments if m is not race.ready], moments=ids(*race.moments),
        resources=[pod_ref(pod)], fix=Fix(steps=steps),
    )


def shutdown_remedy(ctx: CheckContext, pod: Any) -> tuple[str, list[FixStep]]:
    """Keep the proxy until in-flight and late requests are done, for the running version
    (engine/lifecycle/facts.py: terminationDrainDuration in ProxyConfig from 1.7,
    EXIT_ON_ZERO_ACTIVE_CONNECTIONS from 1.12, native sidecars from 1.19 on Kubernetes >= 1.29)."""
    v = ctx.istio_version
    steps: list[FixStep] = []
    parts: list[str] = []
    native = facts.native_fix(v, kube_minor(ctx))
    if native is not None:
        parts.append(f"native sidecars, which Kubernetes stops only after the app ({native[0]})")
        steps.append(FixStep(description=f"Run istio-proxy as a native sidecar: {native[0]}"))
    if v is None or v >= facts.V("1.12"):
        parts.append("EXIT_ON_ZERO_ACTIVE_CONNECTIONS, so the proxy exits when the last connection closes")
        config = "proxyMetadata:\n  EXIT_ON_ZERO_ACTIVE_CONNECTIONS: \"true\"\nterminationDrainDuration: 30s\n"
    elif v >= facts.V("1.7"):
        parts.append("a longer terminationDrainDuration")
        config = "terminationDrainDuration: 30s\n"
    else:
        parts.append("a longer TERMINATION_DRAIN_DURATION_SECONDS (Istio < 1.7)")
        config = "proxyMetadata:\n  TERMINATION_DRAIN_DURATION_SECONDS: \"30\"\n"
    # the annotation's value is a YAML document itself: written as a literal block, as one types it
    steps.append(FixStep(description=f"Keep the proxy until connections are done (pod template of {workload_name(pod)})",
                         yaml_patch="spec:\n  template:\n    metadata:\n      annotations:\n        proxy.istio.io/config: |\n"
                                    + "".join(f"          {ln}\n" for ln in config.splitlines())))
    steps.append(FixStep(description="Give the app a preStop sleep so endpoints are removed before it stops, and retry "
                                     "connect-failure/reset on callers"))
    return "Let in-flight and late requests finish before the proxy exits: " + "; or ".join(parts), steps


@check("P503-SHUTDOWN-RACE", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.PODS, Need.ENDPOINTSLICES, Need.KUBECTL_VERSION),
       peer_needs=(Need.PROXY_LOGS,))
def shutdown_race(ctx: CheckContext, _: NoParams) -> CheckResult:
    """503 UC/UF to endpoints of pods that are terminating: Envoy drains before the app (or the caller) is done.
    The terminating pod's timeline gives the moment its proxy began draining (pilot-agent's SIGTERM line).
    The outbound side (the terminating app's own calls) is LIFE-SHUTDOWN-OUTBOUND, which reads the app's log."""
    pls = pod_logs(ctx)
    terminating: dict[str, Any] = {}
    for ns in {pl.namespace for pl in pls} | {r.namespace for r in ctx.related}:
        for p in pods_in(ctx, ns) or []:
            if p.metadata.deletion_timestamp is not None and p.ip:
                terminating[p.ip] = p
        for s in ctx.ev.get_or([], Need.ENDPOINTSLICES, ns):
            for ep in s.endpoints:
                if ep.conditions.terminating:
                    for a in ep.addresses:
                        terminating.setdefault(a, ep.target_ref.name if ep.target_ref and ep.target_ref.name else a)
    me = ctx.pod()
    for pl in pls:
        bad = []
        for e in pl.log.entries:
            if not (has_flag(e, "UC", "UF") or "connection_termination" in (e.response_code_details or "")):
                continue
            ip = (e.upstream_host or "").rsplit(":", 1)[0]
            if ip in terminating:
                bad.append(e)
        tl = timeline_of(ctx, pl.namespace, pl.pod)
        drain = readings.drain_started(tl)
        if not bad and pl.role == "target" and me.metadata.deletion_timestamp is not None and drain is not None:
            bad = [e for e in pl.log.entries if e.direction == "inbound" and has_flag(e, "UC", "UF", "DC", "UH")]
        if not bad:
            continue
        who = [terminating.get((e.upstream_host or "").rsplit(":", 1)[0]) for e in bad]
        names = sorted({w.metadata.name if hasattr(w, "metadata") else str(w) for w in who if w is not None}) or [pod_ref(me)]
        evidence = [log_ref(ctx, pl, bad, "failures to endpoints of terminating pods")]
        moments = []
        if drain is not None:
            moments = [drain, *tl.of(MomentKind.DELETION_REQUESTED)[:1]]
            evidence.append(moments_ref(ctx, tl, moments, "the proxy began draining (pilot-agent's SIGTERM line)"))
        # the remedy belongs to the workload whose pods terminate, not to the caller we examine
        remedy, steps = shutdown_remedy(ctx, next((w for w in who if hasattr(w, "metadata")), me))
        return CheckResult.failed(
            args={"failures": describe_group(bad), "pods": names, "remedy": remedy},
            evidence=evidence, observed=[describe_group(bad)], resources=[],
            moments=ids(*moments) if pl.pod == ctx.pod_name else [],
            fix=Fix(steps=steps),
        )
    return CheckResult.passed("no failing request went to a terminating pod")


@check("P503-UID-1337", needs=(Need.POD,), optional=(Need.ANALYZE,), peer_needs=())
def uid_1337(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An app container runs as UID 1337, the proxy's UID, so iptables lets its traffic bypass the sidecar."""
    for pod, _role in server_pods(ctx):
        if not pod.has_sidecar:
            continue
        bad = pod.uid_1337_containers
        if not bad:
            continue
        ev = [ctx.ref(Need.POD, {"containers": [{"name": c.name, "securityContext": dump(c.security_context) if c.security_context else None}
                                                for c in pod.app_containers if c.name in bad],
                                 "podSecurityContext": dump(pod.spec.security_context) if pod.spec.security_context else None},
                      "runAsUser 1337", namespace=pod.metadata.namespace, name=pod.metadata.name)]
        msgs = [m for m in ctx.ev.get_or([], Need.ANALYZE, pod.metadata.namespace) if m.code == "IST0144"]
        if msgs:
            ev.append(ctx.ref(Need.ANALYZE, "\n".join(m.as_printed for m in msgs[:3]), "istioctl analyze agrees",
                              namespace=pod.metadata.namespace))
        return CheckResult.failed(
            args={"pod": pod_ref(pod), "containers": bad, "workload": workload_name(pod)},
            evidence=ev, resources=[pod_ref(pod)],
            fix=Fix(steps=[
                FixStep(description="Change runAsUser in the pod template", command=f"kubectl edit {workload_name(pod)} -n {pod.metadata.namespace}")]),
        )
    return CheckResult.passed("no app container of the examined pods runs as UID 1337")


@check("P503-PROXY-NOT-READY", needs=(Need.POD,), optional=(Need.PROXY_LOGS, Need.PROXY_STATUS, Need.EVENTS), peer_needs=(Need.PROXY_LOGS,))
def proxy_not_ready(ctx: CheckContext, _: NoParams) -> CheckResult:
    """istio-proxy is not Ready because it never got its configuration from istiod (read on each pod's
    timeline: a proxy that has not started, behind an init container, says nothing about istiod)."""
    status = ctx.ev.get_or(None, Need.PROXY_STATUS)
    looked = 0
    blocked: list[str] = []
    for pod, _role in server_pods(ctx):
        if not pod.has_sidecar:
            continue
        ns, nm = pod.metadata.namespace, pod.metadata.name
        tl = timeline_of(ctx, ns, nm)
        proxy = next((c for c in tl.containers if c.name == "istio-proxy"), None)
        if proxy is None:
            continue
        looked += 1
        waiting_on = readings.proxy_never_started(tl)
        if waiting_on is not None:
            blocked.append(f"{pod_ref(pod)} (waiting for {waiting_on})")
            continue
        if proxy.ready:
            continue
        no_cfg = [m for m in tl.of(MomentKind.PROXY_NOT_READY) if m.detail == "not_ready_no_config"]
        in_status = None if status is None else any(r.pod == nm and (r.namespace in (None, ns)) for r in status)
        if not no_cfg and in_status is not False:
            continue
        observed = [no_cfg[-1].summary.removeprefix("istio-proxy: ")] if no_cfg else []
        st = pod.sidecar_status
        evidence = [ctx.ref(Need.POD, {"name": st.name, "ready": st.ready, "restartCount": st.restart_count, "state": dump(st.state)}
                            if st is not None else "istio-proxy has no status", "istio-proxy container status", namespace=ns, name=nm)]
        if no_cfg:
            evidence.append(moments_ref(ctx, tl, no_cfg[-2:], "pilot-agent's readiness, on the pod's timeline"))
        # the kubelet's side: pilot-agent answers 503 on /healthz/ready until Envoy has its first
        # config, so the readiness probe fails (istio/istio#23410: "x298 over 11m"); a probe of
        # another container is excluded when the event names it (involvedObject.fieldPath)
        probes = [e for e in ctx.ev.get_or([], Need.EVENTS, ns)
                  if e.involved_object.name == nm and e.reason == "Unhealthy" and (e.message or "").startswith("Readiness probe failed")
                  and (e.involved_object.field_path is None or "istio-proxy" in e.involved_object.field_path)]
        if probes:
            evidence.append(ctx.ref(Need.EVENTS, "\n".join(f"{e.type} {e.reason} pod/{nm}: {e.message} (x{e.count or 1})" for e in probes[:3]),
                                    "the kubelet's readiness probe", namespace=ns))
        if in_status is False:
            evidence.append(ctx.ref(Need.PROXY_STATUS, f"{nm}.{ns} is not listed ({len(status or [])} proxies connected)", "istioctl proxy-status"))
            observed.append(f"{nm}.{ns} missing from istioctl proxy-status")
        return CheckResult.failed(
            args={"pod": pod_ref(pod), "observed": "; ".join(observed), "namespace": ns, "istio_namespace": ctx.conn.istio_namespace},
            evidence=evidence, observed=observed, moments=ids(*no_cfg[-2:]) if nm == ctx.pod_name else [],
            resources=[pod_ref(pod)],
            fix=Fix(steps=[
                FixStep(description="Check istiod is running and reachable", command=f"kubectl get pods -n {ctx.conn.istio_namespace} -l app=istiod"),
                FixStep(description="Look for NetworkPolicies blocking egress to istiod:15012", command=f"kubectl get networkpolicy -n {ns}"),
                FixStep(description="Read the proxy's connection errors", command=f"kubectl logs {nm} -n {ns} -c istio-proxy | grep -i xds"),
            ]),
        )
    if blocked and len(blocked) == looked:
        return CheckResult.not_applicable(f"istio-proxy has not started on {', '.join(blocked)}: an init container has not "
                                          "completed, which says nothing about istiod")
    if not looked:
        return CheckResult.not_applicable("no istio-proxy container status on the examined pods")
    return CheckResult.passed("istio-proxy is Ready (or has its configuration) on the examined pods")
