"""Branching questions shared by every playbook. Gates route the walk; they are never findings."""

from __future__ import annotations

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need


@check("gate.pod-exists", needs=(Need.POD,))
def pod_exists(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod under examination exists (a NotFound makes every later check meaningless)."""
    pod = ctx.pod()
    return CheckResult.passed(
        f"pod {pod.namespace}/{pod.name} exists (phase {pod.phase or 'unknown'})",
        evidence=[ctx.ref(Need.POD, f"phase: {pod.phase}\npodIP: {pod.ip}", "pod status")],
    )


@check("gate.pod-has-sidecar", needs=(Need.POD,))
def pod_has_sidecar(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod runs an istio-proxy sidecar (classic container or native sidecar)."""
    pod = ctx.pod()
    names = [c.name for c in pod.spec.containers]
    inits = [f"{c.name} (restartPolicy: {c.restart_policy or 'unset'})" for c in pod.spec.init_containers]
    excerpt = f"containers: {names}\ninitContainers: {inits}"
    if pod.has_sidecar:
        kind = "native sidecar (initContainers, restartPolicy: Always)" if pod.is_native_sidecar else "sidecar container"
        return CheckResult.passed(f"pod {pod.name} runs istio-proxy as a {kind}", evidence=[ctx.ref(Need.POD, excerpt, "containers")])
    redirection = pod.annotations.get("ambient.istio.io/redirection")
    if redirection:
        # ambient pods have no sidecar by design: say so, the ambient playbooks examine them
        excerpt += f"\nannotations: ambient.istio.io/redirection: {redirection}"
        return CheckResult.failed(f"pod {pod.name} has no istio-proxy container: it is in ambient mode "
                                  f"(ambient.istio.io/redirection={redirection}), ztunnel carries its traffic",
                                  evidence=[ctx.ref(Need.POD, excerpt, "containers")])
    return CheckResult.failed(f"pod {pod.name} has no istio-proxy container", evidence=[ctx.ref(Need.POD, excerpt, "containers")])


@check("gate.has-access-logs", needs=(Need.PROXY_LOGS,))
def has_access_logs(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod's proxy log holds access-log entries (the flag-based branches need them)."""
    log = ctx.proxy_log()
    n = len(log.entries)
    if n:
        return CheckResult.passed(f"{n} access-log entries in the istio-proxy log")
    return CheckResult.failed(f"no access-log entries among {log.lines_total} istio-proxy log lines")


@check("gate.has-failing-requests", needs=(Need.PROXY_LOGS,))
def has_failing_requests(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Requests failed in the pod's proxy log (Envoy-generated errors or 5xx/4xx answers)."""
    from istio_doctor.evidence.accesslog import is_failure

    log = ctx.proxy_log()
    bad = [e for e in log.entries if is_failure(e)]
    if bad:
        return CheckResult.passed(
            f"{len(bad)} failing request(s) in the istio-proxy log",
            evidence=[ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in bad[:3]), "first failing requests")],
        )
    return CheckResult.failed(f"no failing request among {len(log.entries)} access-log entries")
