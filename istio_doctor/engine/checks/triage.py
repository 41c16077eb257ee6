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
from istio_doctor.evidence.accesslog import ProxyLog, is_failure, join_by_request_id
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

# On an inbound line the upstream is the pod's own application (the inbound|port|| cluster), so a
# flag about the upstream points at the app, not at the mesh between the proxies: a server proxy
# never meets a client's plaintext there (that is NR filter_chain_not_found at its listener).
INBOUND_FLAG_MEANING: dict[str, tuple[str, str]] = {
    "UC": ("upstream connection termination", "p503 (the application closed or reset the connection before answering: "
                                              "its keep-alive timeout, or the app dropped the request)"),
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
            message="no_istiod", args={"namespace": ns},
            evidence=[ctx.ref(Need.CONTROL_PLANE_DEPLOYMENTS, "\n".join(d.name for d in ctx.ev.get(Need.CONTROL_PLANE_DEPLOYMENTS)) or "(no deployments)", f"deployments in {ns}")],
            fix=Fix(steps=[FixStep(description="Look for istiod in every namespace (if it lives elsewhere, pass --istio-namespace)",
                                   command="kubectl get deploy -A -l app=istiod")]),
            resources=[f"Namespace {ns}"],
        )
    not_ready: list[str] = []  # "ns/name 0/N"
    crashing: list[str] = []  # "ns/pod container (State, restarts N)"
    excerpts: list[str] = []
    for d in deps:
        ready = d.status.ready_replicas or 0
        want = d.desired_replicas
        excerpts.append(f"deployment/{d.name}: ready {ready}/{want}")
        if ready == 0:
            not_ready.append(f"{ns}/{d.name} (0/{want})")
    for p in pods:
        for cs in p.status.container_statuses:
            state = cs.state.summary
            excerpts.append(f"pod/{p.name}: {cs.name} ready={cs.ready} restarts={cs.restart_count} state={state}")
            if not cs.ready and state in ("CrashLoopBackOff", "Error", "OOMKilled", "ImagePullBackOff", "ErrImagePull"):
                crashing.append(f"{ns}/{p.name} {cs.name} ({state}, restarts {cs.restart_count})")
    no_endpoints = False
    slices = ctx.ev.get_or(None, Need.CONTROL_PLANE_ENDPOINTSLICES)
    if slices is not None:
        istiod_slices = [s for s in slices if (s.service_name or "").startswith("istiod")]
        ready_addrs = [a for s in istiod_slices for a in s.ready_addresses]
        excerpts.append(f"endpointslices of istiod: {len(ready_addrs)} ready address(es)")
        no_endpoints = bool(istiod_slices and not ready_addrs)
    ev = [ctx.ref(Need.CONTROL_PLANE_DEPLOYMENTS, "\n".join(excerpts), "istiod replicas and containers")]
    if not_ready or crashing or no_endpoints:
        return CheckResult.failed(
            message="not_ready",
            args={"not_ready": not_ready, "crashing": crashing,
                  "endpoints": "none ready (webhook calls and xDS connections fail)" if no_endpoints else "ready"},
            evidence=ev,
            fix=Fix(steps=[FixStep(description="See why istiod is not ready", command=f"kubectl -n {ns} describe pods -l app=istiod"),
                           FixStep(description="Read its logs", command=f"kubectl -n {ns} logs deploy/{deps[0].name} --tail=200")]),
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
    client_skew = "within one minor version"
    proxy_skew = "within the supported skew"
    lines = [f"istioctl client: {iv.client}", f"control plane: {', '.join(str(v) for v in cps)}"]
    if iv.client is not None and abs(iv.client.minor - cp.minor) > 1 and iv.client.major == cp.major:
        client_skew = "more than one minor version away (its output formats and checks may not match the cluster)"
    proxy_v: Version | None = None
    pod = ctx.ev.get_or(None, Need.POD, ctx.namespace, ctx.pod_name) if ctx.pod_name else None
    if pod is not None and pod.has_sidecar:
        proxy_v = _version_of_image(pod.proxy_image)
        lines.append(f"pod {pod.name} istio-proxy image: {pod.proxy_image}")
    if proxy_v is not None and proxy_v.major == cp.major:
        if cp.minor - proxy_v.minor > 2:
            proxy_skew = "more than two minor versions older (unsupported skew)"
        elif proxy_v.minor > cp.minor:
            proxy_skew = "newer than the control plane (unsupported)"
    ev = [ctx.ref(Need.ISTIOCTL_VERSION, "\n".join(lines), "versions")]
    client_off = not client_skew.startswith("within")
    proxy_off = not proxy_skew.startswith("within")
    if client_off or proxy_off:
        return CheckResult.failed(
            message="both" if client_off and proxy_off else ("client" if client_off else "proxy"),
            args={"client": str(iv.client), "control_plane": str(cp), "client_skew": client_skew,
                  "pod": ctx.pod_name or "-", "proxy": str(proxy_v) if proxy_v is not None else "unknown", "proxy_skew": proxy_skew},
            evidence=ev,
            fix=Fix(steps=[FixStep(description="Restart the workload so it is re-injected with the current proxy",
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
        args={"count": len(bad), "command": f.command_line, "reason": f.reason},
        evidence=[_failure_ref(ctx, i) for i in bad[:3]],
        fix=Fix(steps=[FixStep(description="Compare the client and control-plane versions", command="istioctl version")]),
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
        args={"pod": pod.name, "lines": log.lines_total},
        evidence=ev,
        fix=Fix(steps=[FixStep(description="Enable access logging mesh-wide",
                               command=f"kubectl apply -f - <<'EOF'\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  name: mesh-default\n  namespace: {mesh.root_namespace}\nspec:\n  accessLogging:\n  - providers:\n    - name: envoy\nEOF")]),
        resources=[f"ConfigMap {ctx.conn.istio_namespace}/istio"],
    )


def _failing(ctx: CheckContext) -> list[Any]:
    return [e for e in ctx.proxy_log().entries if is_failure(e)]


@check("GEN-WHICH-PROXY", needs=(Need.POD, Need.PROXY_LOGS), peer_needs=(Need.PROXY_LOGS,))
def which_proxy(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Which side produced the failures: this pod's proxy as client, as server, or the application itself."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"pod {pod.name} has no istio-proxy")
    bad = _failing(ctx)
    if not bad:
        return CheckResult.passed(f"no failing request in the istio-proxy log of {pod.name}")
    envoy = [e for e in bad if e.is_envoy_generated]
    app = [e for e in bad if e.app_responded and not e.response_flags]
    if not envoy:
        # "via_upstream" on a client line only says the next hop answered: the server's sidecar
        # answers 503 itself when its app resets the connection (it logs UC inbound with the same
        # x-request-id). Only a via_upstream server line means the application answered.
        by_server = _generated_by_server_proxy(ctx, app)
        if by_server:
            server, c, srv = by_server[0]
            return CheckResult.failed(
                message="server_proxy",
                args={"pod": pod.name, "count": len(by_server), "server": server,
                      "client_first": f"{c.response_code} {c.response_code_details or '-'}",
                      "first": f"{srv.response_code} {','.join(srv.response_flags) or '-'} {srv.response_code_details or ''}".rstrip(),
                      "cluster": srv.upstream_cluster or "-"},
                evidence=[ctx.ref(Need.PROXY_LOGS, "\n".join(c.raw for _, c, _ in by_server[:3]), "the client's lines: the next hop answered"),
                          ctx.ref(Need.PROXY_LOGS, "\n".join(s.raw for _, _, s in by_server[:3]), "the server proxy's lines for the same requests",
                                  namespace=server.split("/")[0], name=server.split("/")[1])],
            )
        codes = Counter(e.response_code for e in app)
        return CheckResult.passed(
            f"the application answered the failing requests itself ({', '.join(f'{n}× {c}' for c, n in codes.most_common())}, "
            "response details via_upstream, no Envoy flag): the proxies forwarded them as configured",
            evidence=[ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in app[:3]), "app-generated responses")],
        )
    sides = Counter(e.direction for e in envoy)
    parts = [f"{n} as {d}" for d, n in sides.most_common()]
    joined = []
    for r, peer in _server_logs(ctx):
        pairs = join_by_request_id(ProxyLog(entries=envoy), peer)
        reached = [(c, s) for c, s in pairs if s is not None]
        joined.append(f"{len(reached)}/{len(pairs)} of them reached the server proxy of {r.namespace}/{r.name}")
    first = envoy[0]
    return CheckResult.failed(
        message="joined" if joined else None,
        args={"pod": pod.name, "count": len(envoy), "sides": parts,
              "first": f"{first.response_code} {','.join(first.response_flags) or '-'} {first.response_code_details or ''}".rstrip(),
              "cluster": first.upstream_cluster or "-", "servers": joined},
        evidence=[ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in envoy[:5]), "Envoy-generated failures")],
    )


def _server_logs(ctx: CheckContext) -> list[tuple[Any, Any]]:
    """(related server pod, its istio-proxy log) for each server peer whose log was gathered."""
    out = []
    for r in ctx.related:
        peer = ctx.ev.get_or(None, Need.PROXY_LOGS, r.namespace, r.name) if r.role == "server" else None
        if peer is not None:
            out.append((r, peer))
    return out


def _generated_by_server_proxy(ctx: CheckContext, entries: list[Any]) -> list[tuple[str, Any, Any]]:
    """(server pod, client line, server line) for the client's via_upstream failures whose server
    proxy line (same x-request-id) says Envoy, not the application, produced the answer."""
    out = []
    for r, peer in _server_logs(ctx):
        for c, srv in join_by_request_id(ProxyLog(entries=entries), peer):
            if srv is not None and srv.is_envoy_generated:
                out.append((f"{r.namespace}/{r.name}", c, srv))
    return out


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
        table = {**FLAG_MEANING, **INBOUND_FLAG_MEANING} if direction == "inbound" else FLAG_MEANING
        meanings = "; ".join(f"{f} = {table[f][0]} -> {table[f][1]}" for f in flags if f in table)
        lines.append(f"{n}× {','.join(flags) or '-'} {detail or ''} ({direction}): {meanings or 'see response details'}")
    return CheckResult.failed(
        args={"groups": lines},
        evidence=[ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in bad[:5]), "flagged requests")],
    )
