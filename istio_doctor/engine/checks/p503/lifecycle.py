"""The pod's lifecycle: ``P503-STARTUP-RACE`` (the app ran before its sidecar was ready),
``P503-SHUTDOWN-RACE`` (Envoy drains before the app or the caller is done), ``P503-UID-1337`` (an
app running as the proxy's UID bypasses the sidecar) and ``P503-PROXY-NOT-READY`` (the proxy never
got its configuration from istiod).
"""

from __future__ import annotations

from typing import Any

import yaml

from istio_doctor.engine.checks.p503._reading import (
    describe_group,
    dump,
    has_flag,
    log_ref,
    pod_logs,
    pod_ref,
    pods_in,
    server_pods,
    workload_name,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import MissingEvidence, Need

# --------------------------------------------------------------------------------------
# lifecycle: start-up and shutdown races, proxy readiness
# --------------------------------------------------------------------------------------


def _hold_app(pod: Any, ctx: CheckContext) -> tuple[bool, str]:
    raw = pod.annotations.get("proxy.istio.io/config")
    if raw:
        try:
            cfg = yaml.safe_load(raw) or {}
        except yaml.YAMLError:
            cfg = {}
        if isinstance(cfg, dict) and cfg.get("holdApplicationUntilProxyStarts") is True:
            return True, "pod annotation proxy.istio.io/config"
    try:
        mc = ctx.mesh_config(pod.revision)
    except MissingEvidence:  # mesh config is corroboration here
        mc = None
    if mc is not None and mc.default_config.hold_application_until_proxy_starts:
        return True, "meshConfig.defaultConfig"
    return False, ""


@check("P503-STARTUP-RACE", needs=(Need.POD,), optional=(Need.CONTROL_PLANE_CONFIGMAPS, Need.PROXY_LOGS))
def startup_race(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The app crashed in its first seconds, while its classic sidecar was still starting (no holdApplicationUntilProxyStarts)."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"{pod_ref(pod)} has no sidecar")
    if pod.is_native_sidecar:
        return CheckResult.not_applicable("native sidecar: Kubernetes starts istio-proxy (and waits for its startup probe) before the app")
    held, where = _hold_app(pod, ctx)
    if held:
        return CheckResult.passed(f"holdApplicationUntilProxyStarts is set ({where}): the app starts after the proxy")
    proxy = pod.sidecar_status
    proxy_start = proxy.state.running.started_at if proxy and proxy.state.running else None
    for c in pod.app_containers:
        st = pod.container_status(c.name)
        if st is None or st.restart_count == 0:
            continue
        term = st.last_state.terminated
        if term is None or term.exit_code in (None, 0) or term.started_at is None or term.finished_at is None:
            continue
        pod_start = pod.status.start_time or proxy_start
        if pod_start is None:
            continue
        # the failed run is the app's first one (it started with the pod) and died within seconds
        early = (term.started_at - pod_start).total_seconds() <= 15 and (term.finished_at - term.started_at).total_seconds() <= 30
        if not early:
            continue
        return CheckResult.failed(
            f"{pod_ref(pod)}: container {c.name} exited with code {term.exit_code} ({term.reason or 'Error'}) "
            f"{int((term.finished_at - term.started_at).total_seconds())}s after starting together with the pod, while istio-proxy was "
            f"still starting; holdApplicationUntilProxyStarts is not set, so its first outbound calls had no proxy to go through",
            evidence=[ctx.ref(Need.POD, {"startTime": str(pod.status.start_time), "containerStatuses": [
                {"name": s.name, "ready": s.ready, "restartCount": s.restart_count, "lastState": dump(s.last_state), "state": dump(s.state)}
                for s in pod.status.container_statuses]}, "the app's first run died during proxy start-up")],
            observed=[f"container {c.name} restartCount {st.restart_count}, lastState terminated exit {term.exit_code}"],
            confidence=0.7, resources=[pod_ref(pod)],
            fix=Fix(summary="Start the app only after the proxy is ready", steps=[
                FixStep(description=f"Add holdApplicationUntilProxyStarts to the pod template of {workload_name(pod)}",
                        yaml_patch=yaml.safe_dump({"spec": {"template": {"metadata": {"annotations": {
                            "proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"}}}}}, sort_keys=False)),
                FixStep(description="Or enable native sidecars (Kubernetes >= 1.29, Istio >= 1.19: ENABLE_NATIVE_SIDECARS=true)"),
            ]),
        )
    return CheckResult.passed("no app container failed during the proxy's start-up")


@check("P503-SHUTDOWN-RACE", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.PODS, Need.ENDPOINTSLICES), peer_needs=(Need.PROXY_LOGS,))
def shutdown_race(ctx: CheckContext, _: NoParams) -> CheckResult:
    """503 UC/UF to endpoints of pods that are terminating: Envoy drains before the app (or the caller) is done."""
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
        draining = [ev for ev in pl.log.events if ev.kind == "drain"]
        if not bad and pl.role == "target" and me.metadata.deletion_timestamp is not None and draining:
            bad = [e for e in pl.log.entries if e.direction == "inbound" and has_flag(e, "UC", "UF", "DC", "UH")]
        if not bad:
            continue
        who = [terminating.get((e.upstream_host or "").rsplit(":", 1)[0]) for e in bad]
        names = ", ".join(sorted({w.metadata.name if hasattr(w, "metadata") else str(w) for w in who if w is not None})) or pod_ref(me)
        evidence = [log_ref(ctx, pl, bad, "failures to endpoints of terminating pods")]
        if draining:
            evidence.append(ctx.ref(Need.PROXY_LOGS, "\n".join(ev.raw for ev in draining[:3]), "the proxy is draining",
                                    namespace=pl.namespace, name=pl.pod))
        return CheckResult.failed(
            f"{describe_group(bad)} went to pods that are terminating ({names}): the proxy stopped accepting or closed "
            "connections while requests were still routed to it",
            evidence=evidence, observed=[describe_group(bad)], confidence=0.8, resources=[],
            fix=Fix(summary="Let in-flight and late requests finish before the proxy exits", steps=[
                FixStep(description="Drain until connections are gone (pod template annotation)",
                        yaml_patch=yaml.safe_dump({"spec": {"template": {"metadata": {"annotations": {
                            "proxy.istio.io/config": "proxyMetadata:\n  EXIT_ON_ZERO_ACTIVE_CONNECTIONS: \"true\"\nterminationDrainDuration: 30s\n"}}}}},
                            sort_keys=False)),
                FixStep(description="Give the app a preStop sleep so endpoints are removed before it stops, and retry connect-failure/reset on callers"),
            ]),
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
            f"{pod_ref(pod)}: container(s) {', '.join(bad)} run as UID 1337, which Istio reserves for the proxy; iptables exempts "
            "that UID, so the app's outbound traffic skips the sidecar (no mTLS, no routing)",
            evidence=ev, confidence=0.88, resources=[pod_ref(pod)],
            fix=Fix(summary=f"Run the app of {workload_name(pod)} as another UID", steps=[
                FixStep(description="Change runAsUser in the pod template", command=f"kubectl edit {workload_name(pod)} -n {pod.metadata.namespace}")]),
        )
    return CheckResult.passed("no app container of the examined pods runs as UID 1337")


@check("P503-PROXY-NOT-READY", needs=(Need.POD,), optional=(Need.PROXY_LOGS, Need.PROXY_STATUS, Need.EVENTS), peer_needs=(Need.PROXY_LOGS,))
def proxy_not_ready(ctx: CheckContext, _: NoParams) -> CheckResult:
    """istio-proxy is not Ready because it never got its configuration from istiod."""
    status = ctx.ev.get_or(None, Need.PROXY_STATUS)
    looked = 0
    for pod, _role in server_pods(ctx):
        if not pod.has_sidecar:
            continue
        st = pod.sidecar_status
        if st is None:
            continue
        looked += 1
        if st.ready:
            continue
        ns, nm = pod.metadata.namespace, pod.metadata.name
        log = ctx.ev.get_or(None, Need.PROXY_LOGS, ns, nm)
        no_cfg = [ev for ev in (log.events if log else []) if ev.kind == "not_ready_no_config"]
        in_status = None if status is None else any(r.pod == nm and (r.namespace in (None, ns)) for r in status)
        if not no_cfg and in_status is not False:
            continue
        evidence = [ctx.ref(Need.POD, {"name": st.name, "ready": st.ready, "restartCount": st.restart_count, "state": dump(st.state)},
                            "istio-proxy container status", namespace=ns, name=nm)]
        observed = []
        if no_cfg:
            evidence.append(ctx.ref(Need.PROXY_LOGS, "\n".join(ev.raw for ev in no_cfg[-3:]), "pilot-agent readiness", namespace=ns, name=nm))
            observed.append(no_cfg[-1].detail)
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
            f"{pod_ref(pod)}: istio-proxy is not Ready and has no configuration from istiod "
            f"({'; '.join(observed)}); the pod is no endpoint and its own calls cannot be routed",
            evidence=evidence, observed=observed, confidence=0.93, resources=[pod_ref(pod)],
            fix=Fix(summary="Restore the proxy's connection to istiod (port 15012)", steps=[
                FixStep(description="Check istiod is running and reachable", command=f"kubectl get pods -n {ctx.conn.istio_namespace} -l app=istiod"),
                FixStep(description="Look for NetworkPolicies blocking egress to istiod:15012", command=f"kubectl get networkpolicy -n {ns}"),
                FixStep(description="Read the proxy's connection errors", command=f"kubectl logs {nm} -n {ns} -c istio-proxy | grep -i xds"),
            ]),
        )
    if not looked:
        return CheckResult.not_applicable("no istio-proxy container status on the examined pods")
    return CheckResult.passed("istio-proxy is Ready (or has its configuration) on the examined pods")
