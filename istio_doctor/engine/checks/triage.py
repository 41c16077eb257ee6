"""Playbook ``triage`` (checks ``GEN-*``): control plane health, versions, access logging, which proxy failed.

These run first in every diagnosis. They explain the evidence itself (is there any? from
which side? from which istioctl?) and the control plane every sidecar depends on.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import is_failure
from istio_doctor.evidence.bundle import FailureKind, Need
from istio_doctor.evidence.versions import Version, parse_version

# What each Envoy response flag / detail means for the diagnosis, and where it leads.
FLAG_MEANING: dict[str, tuple[str, str]] = {
    "UH": ("no healthy upstream host", "p503 (endpoints, subsets, outlier ejection)"),
    "UF": ("upstream connection failure", "p503 (app not listening on the pod IP, targetPort) or mtls (TLS handshake)"),
    "UO": ("upstream overflow (circuit breaking)", "p503 (DestinationRule connectionPool)"),
    "NR": ("no route configured / no matching filter chain", "routes (VirtualService, hosts) or mtls (plaintext to STRICT)"),
    "URX": ("upstream retry limit exceeded", "the first failure behind the retries"),
    "NC": ("upstream cluster not found", "routes (destination host, subset, Sidecar scope)"),
    "DC": ("downstream connection termination", "the client gave up; usually not the mesh"),
    "UT": ("upstream request timeout", "p503 (VirtualService timeout vs app latency)"),
    "LR": ("connection local reset", "p503"),
    "UR": ("upstream remote reset", "p503 or mtls (protocol/TLS mismatch)"),
    "UC": ("upstream connection termination", "mtls (server proxy closed a plaintext connection) or p503 (keep-alive race)"),
    "DI": ("fault injection delay", "p503 (VirtualService fault)"),
    "FI": ("fault injection abort", "p503 (VirtualService fault)"),
    "RL": ("rate limited locally", "local rate limit"),
    "UAEX": ("denied by external authorization", "mtls (AuthorizationPolicy CUSTOM)"),
    "DPE": ("downstream HTTP protocol error", "p503 (protocol selection)"),
    "UPE": ("upstream HTTP protocol error", "p503 (protocol selection)"),
    "SI": ("stream idle timeout", "timeouts"),
    "OM": ("overload manager", "proxy resource pressure"),
}


def _version_of_image(image: str | None) -> Version | None:
    if not image or ":" not in image.rsplit("/", 1)[-1]:
        return None
    return parse_version(image.rsplit(":", 1)[1].split("-distroless")[0])


@check(
    "GEN-ISTIOD-HEALTH",
    needs=(Need.CONTROL_PLANE_DEPLOYMENTS, Need.CONTROL_PLANE_PODS),
    optional=(Need.CONTROL_PLANE_ENDPOINTSLICES,),
)
def istiod_health(ctx: CheckContext, _: NoParams) -> CheckResult:
    """istiod (every revision) has ready replicas and ready endpoints: sidecars get config and certificates from it."""
    deps = [d for d in ctx.ev.get(Need.CONTROL_PLANE_DEPLOYMENTS) if d.name.startswith("istiod") or d.labels.get("app") == "istiod"]
    pods = [p for p in ctx.ev.get(Need.CONTROL_PLANE_PODS) if p.labels.get("app") == "istiod" or p.name.startswith("istiod")]
    ns = ctx.conn.istio_namespace
    if not deps:
        return CheckResult.failed(
            f"no istiod Deployment in namespace {ns}: sidecars cannot get configuration or certificates",
            evidence=[ctx.ref(Need.CONTROL_PLANE_DEPLOYMENTS, "\n".join(d.name for d in ctx.ev.get(Need.CONTROL_PLANE_DEPLOYMENTS)) or "(no deployments)", f"deployments in {ns}")],
            fix=Fix(summary="Install or restore the control plane; if it lives in another namespace, pass --istio-namespace.",
                    steps=[FixStep(description="Look for istiod in every namespace", command="kubectl get deploy -A -l app=istiod")]),
            resources=[f"Namespace {ns}"],
        )
    problems: list[str] = []
    excerpts: list[str] = []
    for d in deps:
        ready = d.status.ready_replicas or 0
        want = d.desired_replicas
        excerpts.append(f"deployment/{d.name}: ready {ready}/{want}")
        if ready == 0:
            problems.append(f"deployment {ns}/{d.name} has 0/{want} ready replicas")
    for p in pods:
        for cs in p.status.container_statuses:
            state = cs.state.summary
            excerpts.append(f"pod/{p.name}: {cs.name} ready={cs.ready} restarts={cs.restart_count} state={state}")
            if not cs.ready and state in ("CrashLoopBackOff", "Error", "OOMKilled", "ImagePullBackOff", "ErrImagePull"):
                problems.append(f"pod {ns}/{p.name} container {cs.name} is {state} (restarts {cs.restart_count})")
    slices = ctx.ev.get_or(None, Need.CONTROL_PLANE_ENDPOINTSLICES)
    if slices is not None:
        istiod_slices = [s for s in slices if (s.service_name or "").startswith("istiod")]
        ready_addrs = [a for s in istiod_slices for a in s.ready_addresses]
        excerpts.append(f"endpointslices of istiod: {len(ready_addrs)} ready address(es)")
        if istiod_slices and not ready_addrs:
            problems.append("the istiod Service has no ready endpoints (webhook calls and xDS connections fail)")
    ev = [ctx.ref(Need.CONTROL_PLANE_DEPLOYMENTS, "\n".join(excerpts), "istiod replicas and containers")]
    if problems:
        return CheckResult.failed(
            "; ".join(problems),
            evidence=ev,
            fix=Fix(summary="Bring istiod back before anything else: sidecars cannot get config, injection and certificates depend on it.",
                    steps=[FixStep(description="See why istiod is not ready", command=f"kubectl -n {ns} describe pods -l app=istiod"),
                           FixStep(description="Read its logs", command=f"kubectl -n {ns} logs deploy/{deps[0].name} --tail=200")]),
            confidence=0.9,
            resources=[f"Deployment {ns}/{d.name}" for d in deps],
        )
    return CheckResult.passed(f"istiod is ready ({', '.join(excerpts[: len(deps)])})", evidence=ev)


@check("GEN-VERSION-SKEW", needs=(Need.ISTIOCTL_VERSION,), optional=(Need.POD, Need.PROXY_STATUS))
def version_skew(ctx: CheckContext, _: NoParams) -> CheckResult:
    """istioctl, control plane and this pod's proxy are within Istio's supported version skew."""
    iv = ctx.ev.get(Need.ISTIOCTL_VERSION)
    cps = iv.control_plane_versions
    if not cps:
        return CheckResult.not_applicable("istioctl did not report a control-plane version (remote version unavailable)")
    cp = cps[-1]
    problems: list[str] = []
    lines = [f"istioctl client: {iv.client}", f"control plane: {', '.join(str(v) for v in cps)}"]
    if iv.client is not None and abs(iv.client.minor - cp.minor) > 1 and iv.client.major == cp.major:
        problems.append(f"istioctl {iv.client} is more than one minor version away from the control plane {cp}: "
                        "its output formats and checks may not match the cluster")
    proxy_v: Version | None = None
    pod = ctx.ev.get_or(None, Need.POD, ctx.namespace, ctx.pod_name) if ctx.pod_name else None
    if pod is not None and pod.has_sidecar:
        proxy_v = _version_of_image(pod.proxy_image)
        lines.append(f"pod {pod.name} istio-proxy image: {pod.proxy_image}")
    if proxy_v is not None and proxy_v.major == cp.major:
        if cp.minor - proxy_v.minor > 2:
            problems.append(f"pod {ctx.pod_name} runs proxy {proxy_v}, more than two minor versions behind the control plane {cp} (unsupported skew)")
        elif proxy_v.minor > cp.minor:
            problems.append(f"pod {ctx.pod_name} runs proxy {proxy_v}, newer than the control plane {cp} (unsupported)")
    ev = [ctx.ref(Need.ISTIOCTL_VERSION, "\n".join(lines), "versions")]
    if problems:
        return CheckResult.failed(
            "; ".join(problems), evidence=ev, confidence=0.8,
            fix=Fix(summary="Use the istioctl that matches the control plane, and restart workloads whose proxies are out of the supported skew.",
                    steps=[FixStep(description="Restart the workload so it is re-injected with the current proxy",
                                   command=f"kubectl rollout restart deployment -n {ctx.namespace} <workload>")]),
        )
    return CheckResult.passed("versions are within the supported skew (" + "; ".join(lines) + ")", evidence=ev)


@check("GEN-CMD-CAPABILITY", needs=(Need.ISTIOCTL_VERSION,))
def cmd_capability(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Every istioctl/kubectl call understood its flags (no 'unknown flag' from an older or newer binary)."""
    ctx.ev.get(Need.ISTIOCTL_VERSION)
    bad = [i for i in ctx.ev.failures() if i.failure is not None and i.failure.kind is FailureKind.UNSUPPORTED]
    if not bad:
        return CheckResult.passed("every call's flags were understood by the installed kubectl/istioctl")
    f = bad[0].failure
    assert f is not None
    return CheckResult.failed(
        f"{len(bad)} call(s) used a flag or command this istioctl/kubectl does not know, e.g. `{f.command_line}`: {f.reason}",
        evidence=[_failure_ref(ctx, i) for i in bad[:3]],
        confidence=0.95,
        fix=Fix(summary="Install the istioctl version that matches the control plane (istioctl x precheck / istioctl version).",
                steps=[FixStep(description="Compare the client and control-plane versions", command="istioctl version")]),
    )


def _failure_ref(ctx: CheckContext, item: Any) -> Any:
    from istio_doctor.engine.model import EvidenceRef

    f = item.failure
    return EvidenceRef(source=f.command_line, key=str(item.key), excerpt=f.reason, note=f.kind.value)


@check("GEN-ACCESSLOG-OFF", needs=(Need.POD, Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS), optional=(Need.TELEMETRIES,))
def accesslog_off(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Access logging is enabled for this proxy (without it none of the response-flag evidence exists)."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"pod {pod.name} has no istio-proxy, so no access log")
    log = ctx.proxy_log()
    if log.entries:
        return CheckResult.passed(f"access logging is on: {len(log.entries)} entries in the istio-proxy log")
    mesh = ctx.mesh_config(pod.revision)
    telemetries = ctx.ev.get_or([], Need.TELEMETRIES)
    enabling = [
        t for t in telemetries
        if any(al.providers and not al.disabled for al in t.spec.access_logging)
        and (t.namespace in (ctx.namespace, mesh.root_namespace))
        and (t.spec.selector is None or t.spec.selector.matches(pod.labels))
    ]
    disabling = [t for t in telemetries if any(al.disabled for al in t.spec.access_logging)
                 and t.namespace in (ctx.namespace, mesh.root_namespace)
                 and (t.spec.selector is None or t.spec.selector.matches(pod.labels))]
    on_by_config = (mesh.access_log_enabled_by_mesh or enabling) and not disabling
    excerpt = (f"meshConfig.accessLogFile: {mesh.access_log_file!r}\n"
               f"meshConfig.defaultProviders.accessLogging: {mesh.default_providers.access_logging}\n"
               f"Telemetry resources enabling access logs for this pod: {[f'{t.namespace}/{t.name}' for t in enabling]}\n"
               f"Telemetry resources disabling them: {[f'{t.namespace}/{t.name}' for t in disabling]}")
    ev = [ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, excerpt, "access-log configuration"),
          ctx.ref(Need.PROXY_LOGS, f"{log.lines_total} log lines, 0 access-log entries", "istio-proxy log")]
    if on_by_config:
        return CheckResult.passed("access logging is configured; the proxy logged no request in the window (no traffic?)", evidence=ev)
    return CheckResult.failed(
        f"access logging is off for pod {pod.name}: meshConfig.accessLogFile is empty and no Telemetry enables an access-log "
        f"provider, and the istio-proxy log has 0 request lines out of {log.lines_total}; response-flag evidence (UF, UH, NR...) is unavailable",
        evidence=ev,
        confidence=0.9,
        fix=Fix(summary="Enable Envoy access logs with the Telemetry API, reproduce the failure, then diagnose again.",
                steps=[FixStep(description="Enable access logging mesh-wide",
                               command=f"kubectl apply -f - <<'EOF'\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  name: mesh-default\n  namespace: {mesh.root_namespace}\nspec:\n  accessLogging:\n  - providers:\n    - name: envoy\nEOF")]),
        resources=[f"ConfigMap {ctx.conn.istio_namespace}/istio"],
    )


def _failing(ctx: CheckContext) -> list[Any]:
    return [e for e in ctx.proxy_log().entries if is_failure(e)]


@check("GEN-WHICH-PROXY", needs=(Need.POD, Need.PROXY_LOGS), peer_needs=(Need.PROXY_LOGS,))
def which_proxy(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Which side produced the failures: this pod's proxy as client, as server, or the application itself."""
    from istio_doctor.evidence.accesslog import join_by_request_id

    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"pod {pod.name} has no istio-proxy")
    bad = _failing(ctx)
    if not bad:
        return CheckResult.passed(f"no failing request in the istio-proxy log of {pod.name}")
    envoy = [e for e in bad if e.is_envoy_generated]
    app = [e for e in bad if e.app_responded and not e.response_flags]
    if not envoy:
        codes = Counter(e.response_code for e in app)
        return CheckResult.passed(
            f"the application answered the failing requests itself ({', '.join(f'{n}× {c}' for c, n in codes.most_common())}, "
            "response details via_upstream, no Envoy flag): the proxies forwarded them as configured",
            evidence=[ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in app[:3]), "app-generated responses")],
        )
    sides = Counter(e.direction for e in envoy)
    parts = [f"{n} as {d}" for d, n in sides.most_common()]
    joined = []
    for r in ctx.related:
        if r.role != "server":
            continue
        peer = ctx.ev.get_or(None, Need.PROXY_LOGS, r.namespace, r.name)
        if peer is None:
            continue
        from istio_doctor.evidence.accesslog import ProxyLog

        pairs = join_by_request_id(ProxyLog(entries=envoy), peer)
        reached = [(c, s) for c, s in pairs if s is not None]
        joined.append(f"{len(reached)}/{len(pairs)} of them reached the server proxy of {r.namespace}/{r.name}")
    first = envoy[0]
    summary = (f"the istio-proxy of {pod.name} generated {len(envoy)} failure(s) ({', '.join(parts)}); first: "
               f"{first.response_code} {','.join(first.response_flags) or '-'} {first.response_code_details or ''} "
               f"via {first.upstream_cluster or '-'}")
    if joined:
        summary += "; " + "; ".join(joined)
    return CheckResult.failed(
        summary,
        evidence=[ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in envoy[:5]), "Envoy-generated failures")],
        confidence=0.5,
        fix=Fix(summary="Follow the ranked findings for the flags shown; the side that logged the flag is where Envoy gave up."),
    )


@check("GEN-FLAG-CLASSIFY", needs=(Need.POD, Need.PROXY_LOGS))
def flag_classify(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Classify the Envoy response flags and details in the log and name the playbook that explains them."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"pod {pod.name} has no istio-proxy")
    bad = [e for e in _failing(ctx) if e.response_flags or (e.response_code_details and e.response_code_details != "via_upstream")]
    if not bad:
        return CheckResult.passed("no Envoy response flag on any request in the window")
    groups = Counter((tuple(e.response_flags), (e.response_code_details or "").split("{")[0], e.direction) for e in bad)
    lines = []
    for (flags, detail, direction), n in groups.most_common(5):
        meanings = "; ".join(f"{f} = {FLAG_MEANING[f][0]} -> {FLAG_MEANING[f][1]}" for f in flags if f in FLAG_MEANING)
        lines.append(f"{n}× {','.join(flags) or '-'} {detail or ''} ({direction}): {meanings or 'see response details'}")
    return CheckResult.failed(
        "; ".join(lines),
        evidence=[ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in bad[:5]), "flagged requests")],
        confidence=0.5,
        fix=Fix(summary="The flags say where Envoy gave up; the ranked findings name the cause."),
    )
