"""Playbook ``lifecycle``: start-up, shutdown and CNI (checks ``LIFE-*``).

Each check decides on the pod's timeline (``engine/lifecycle``): when containers started and
exited, what pilot-agent logged and when, the network errors the application itself logged,
when the node's istio-cni agent became ready. Deciding comparisons are made on one clock (the
node's): the app's error and the proxy's readiness, the pod's start and the CNI agent's. What
each Istio version does with a setting is in ``engine/lifecycle/facts.py``, with its source.
"""

from __future__ import annotations

from typing import Any

import yaml

from istio_doctor.engine.checks.p503.lifecycle import shutdown_remedy
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.lifecycle import facts, readings
from istio_doctor.engine.lifecycle.cite import (
    duration,
    ids,
    injector_of,
    kube_minor,
    mesh_of,
    moments_ref,
    quote,
    timeline_of,
    when,
)
from istio_doctor.engine.lifecycle.model import MomentKind
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.kube import SIDECAR_NAME

ISTIO_INITS = ("istio-init", "istio-validation", "enable-core-dump")
#: waiting reasons of a container that keeps failing
FAILING_WAITS = frozenset({"CrashLoopBackOff", "Error", "RunContainerError"})


def _pod_label(pod: Any) -> str:
    return f"{pod.namespace}/{pod.name}"


def _template_patch(pod: Any, patch: dict[str, Any]) -> str:
    return yaml.safe_dump({"spec": {"template": patch}}, sort_keys=False)


def _owner(pod: Any) -> str:
    ow = pod.owner_workload
    return f"{ow.kind.lower()}/{ow.name}" if ow is not None else f"pod/{pod.name}"


def _status(pod: Any, name: str) -> Any | None:
    return next((s for s in (*pod.status.init_container_statuses, *pod.status.container_statuses) if s.name == name), None)


def _failing(cs: Any) -> str | None:
    """How a container is failing now, in kubectl's words, or None."""
    if cs is None:
        return None
    w, t = cs.state.waiting, cs.state.terminated
    last = cs.last_state.terminated
    code = f", last exit code {last.exit_code}" if last is not None and last.exit_code else ""
    if w is not None and w.reason in FAILING_WAITS:
        return f"in {w.reason} ({cs.restart_count} restarts{code})"
    if t is not None and t.exit_code not in (None, 0):
        return f"terminated with exit code {t.exit_code} ({t.reason or 'Error'})"
    if cs.restart_count and last is not None and last.exit_code not in (None, 0):
        return f"restarting ({cs.restart_count} restarts{code})"
    return None


def _log_message(line: str) -> str:
    """The message of an Istio log line (``TIME<TAB>level<TAB>message``), or the line itself."""
    parts = line.split("\t")
    return parts[-1].strip() if len(parts) >= 3 and parts[1] in ("info", "warn", "error", "debug") else line.strip()


# --------------------------------------------------------------------------------------------
# LIFE-INIT-NEEDS-NETWORK
# --------------------------------------------------------------------------------------------


def _redirected_inits(pod: Any) -> tuple[list[str], str]:
    """App init containers whose traffic is redirected before istio-proxy runs, and by what."""
    names = [c.name for c in pod.spec.init_containers]
    apps = [n for n in names if n not in ISTIO_INITS and n != SIDECAR_NAME]
    if pod.is_native_sidecar:
        # the injector moves istio-proxy first (after istio-init/istio-validation): later init
        # containers run with the proxy up (istio/istio@1.22.0:pkg/kube/inject/webhook.go reorderPod)
        proxy_at = names.index(SIDECAR_NAME)
        return [n for n in apps if names.index(n) < proxy_at], "istio-init"
    if "istio-validation" in names:
        return apps, "istio-cni"
    if "istio-init" in names:
        at = names.index("istio-init")  # the injector puts it last; anything after it is redirected
        return [n for n in apps if names.index(n) > at], "istio-init (which runs before it)"
    return [], ""


def _remedy_init(ctx: CheckContext, pod: Any, container: str, target: str, dns: bool) -> tuple[str, list[FixStep]]:
    parts: list[str] = []
    steps: list[FixStep] = []
    native = facts.native_fix(ctx.istio_version, kube_minor(ctx))
    if native is not None:
        parts.append(f"native sidecars start istio-proxy before the application's init containers ({native[0]})")
        if ctx.istio_version is not None and ctx.istio_version >= facts.V("1.24"):
            steps.append(FixStep(description="Run istio-proxy as a native sidecar for this workload (Istio >= 1.24)",
                                 yaml_patch=_template_patch(pod, {"metadata": {"annotations": {"sidecar.istio.io/nativeSidecar": "true"}}})))
        else:
            steps.append(FixStep(description="Enable native sidecars on istiod (Istio 1.19-1.23, every injected pod)",
                                 command="istioctl install --set values.pilot.env.ENABLE_NATIVE_SIDECARS=true"))
    parts.append(f"or run {container} as UID 1337, whose traffic iptables lets through"
                 + (" (the only way when DNS capture is on and it resolves names)" if dns else ""))
    steps.append(FixStep(description=f"Run init container {container} as the proxy's UID so its traffic bypasses the redirection",
                         yaml_patch=yaml.safe_dump({"spec": {"template": {"spec": {"initContainers": [
                             {"name": container, "securityContext": {"runAsUser": 1337}}]}}}}, sort_keys=False)))
    host, _, port = target.rpartition(":") if ":" in target else (target, "", "")
    if not dns and port.isdigit():
        parts.append(f"or exclude its destination port {port} from the redirection (it then bypasses the sidecar for every container)")
        steps.append(FixStep(description=f"Exclude port {port} from outbound capture (applies to the app containers too)",
                             yaml_patch=_template_patch(pod, {"metadata": {"annotations": {
                                 "traffic.sidecar.istio.io/excludeOutboundPorts": port}}})))
    return "; ".join(parts), steps


@check("LIFE-INIT-NEEDS-NETWORK", needs=(Need.POD,),
       optional=(Need.APP_LOGS, Need.APP_PREVIOUS_LOGS, Need.EVENTS, Need.KUBECTL_VERSION))
def init_needs_network(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An application init container fails to reach the network because its traffic is redirected to a
    proxy that only starts after the init containers (istio-cni, or an init container after istio-init)."""
    if not ctx.pod_name:
        return CheckResult.not_applicable("no pod to examine")
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"pod {pod.name} has no istio-proxy")
    redirected, by = _redirected_inits(pod)
    apps = [c.name for c in pod.spec.init_containers if c.name not in ISTIO_INITS and c.name != SIDECAR_NAME]
    if not apps:
        return CheckResult.not_applicable(f"pod {pod.name} has no application init container")
    if not redirected:
        why = ("istio-proxy is a native sidecar and starts before them" if pod.is_native_sidecar
               else "they run before istio-init sets up the redirection")
        return CheckResult.passed(f"init containers {', '.join(apps)} are not redirected before the proxy runs: {why}")
    tl = timeline_of(ctx)
    logs = ctx.ev.get_or(None, Need.APP_LOGS, ctx.namespace, pod.name)
    prev = ctx.ev.get_or(None, Need.APP_PREVIOUS_LOGS, ctx.namespace, pod.name)
    for name in redirected:
        cs = _status(pod, name)
        state = _failing(cs) or ("still running" if cs is not None and cs.state.running is not None else None)
        if state is None:
            continue
        errors = [m for m in tl.of(MomentKind.APP_ERROR, container=name) if not m.detail.startswith("loopback:")]
        if not errors:
            if logs is None and prev is None:
                return CheckResult.unknown(
                    f"init container {name} is {state} under {by}; its log, which would show a network error, was not read",
                    reason="the application's log (kubectl logs --all-containers) could not be gathered")
            continue  # failing for a reason of its own (a look-alike: no network error logged)
        first = errors[0]
        line = next((ln for src in (logs, prev) if src is not None for ln in src.errors(name) if ln.text == first.excerpt), None)
        target = line.error.target if line is not None and line.error is not None else ""
        dns = first.detail == "dns"
        exited = tl.first(MomentKind.CONTAINER_EXITED, container=name)
        remedy, steps = _remedy_init(ctx, pod, name, target, dns)
        redirect = "istio-cni" if by == "istio-cni" else "istio-init, which runs before it,"
        count = sum(m.count for m in errors)
        return CheckResult.failed(
            message="dns" if dns else None, corroboration="logged",
            args={"container": name, "pod": _pod_label(pod), "state": state, "error": quote(first.excerpt),
                  "count": count, "at": when(first.at), "target": target or "its destination", "redirect": redirect,
                  "remedy": remedy},
            evidence=[moments_ref(ctx, tl, [*errors[:2], exited], f"what {name} logged and when it exited"),
                      ctx.ref(Need.POD, {"initContainers": [c.name for c in pod.spec.init_containers],
                                         "status": cs.model_dump(mode="json", by_alias=True, exclude_none=True) if cs else None},
                              f"init container order and {name}'s status")],
            observed=[f"{name}: {first.excerpt.strip()[:160]}"], moments=ids(*errors[:2], exited),
            resources=[f"Pod {_pod_label(pod)}"],
            fix=Fix(steps=steps),
        )
    return CheckResult.passed(f"redirected init containers {', '.join(redirected)} report no network error")


# --------------------------------------------------------------------------------------------
# LIFE-HOLD-IGNORED
# --------------------------------------------------------------------------------------------


def _shape_text(shape: facts.HoldShape) -> str:
    if shape.proxy_first and not shape.post_start_wait:
        return "istio-proxy is the first container but has no postStart `pilot-agent wait` hook"
    if shape.post_start_wait and not shape.proxy_first:
        return "istio-proxy has the postStart `pilot-agent wait` hook but is not the first container, so the app starts beside it"
    return "istio-proxy is not the first container and has no postStart `pilot-agent wait` hook"


def _hold_remedy(version: Any, pod: Any, verdicts: dict[str, facts.HoldVerdict], lifecycle_set: bool) -> tuple[str, list[FixStep]]:
    steps: list[FixStep] = []
    if lifecycle_set:
        steps.append(FixStep(description="Add the hook to values.global.proxy.lifecycle (which replaces it), or remove that value",
                             yaml_patch=yaml.safe_dump({"values": {"global": {"proxy": {"lifecycle": {"postStart": {"exec": {
                                 "command": ["pilot-agent", "wait"]}}}}}}}, sort_keys=False)))
        return "Merge the postStart `pilot-agent wait` hook into values.global.proxy.lifecycle, then restart the workload", steps
    if version is not None and version < facts.V("1.7"):
        steps.append(FixStep(description="Make the app wait for the proxy itself (Istio < 1.7 has no setting): poll the agent's readiness",
                             command="until curl -fsS http://localhost:15020/healthz/ready; do sleep 1; done"))
        return "Upgrade to Istio >= 1.7, or make the application wait for http://localhost:15020/healthz/ready before it connects", steps
    if version is not None and version < facts.V("1.8"):
        steps.append(FixStep(description="Set the Helm value Istio 1.7 reads, then restart the workload",
                             command="istioctl install --set values.global.proxy.holdApplicationUntilProxyStarts=true"))
        return "Set values.global.proxy.holdApplicationUntilProxyStarts=true (the only place Istio 1.7 reads), then restart", steps
    if "meshConfig" in verdicts and not verdicts["meshConfig"].honoured:
        steps.append(FixStep(description="Set it on the pod template instead (or upgrade to 1.9.1+)",
                             yaml_patch=_template_patch(pod, {"metadata": {"annotations": {
                                 "proxy.istio.io/config": "holdApplicationUntilProxyStarts: true\n"}}})))
        return "Upgrade to Istio >= 1.9.1, or set the pod-template annotation, then restart the workload", steps
    steps.append(FixStep(description="Recreate the pods so the injector applies the setting",
                         command=f"kubectl rollout restart {_owner(pod)} -n {pod.namespace}"))
    return "Recreate the pods (kubectl rollout restart) so the injector writes the hold into them", steps


@check("LIFE-HOLD-IGNORED", needs=(Need.POD, Need.CONTROL_PLANE_CONFIGMAPS),
       optional=(Need.PROXY_LOGS, Need.APP_LOGS, Need.APP_PREVIOUS_LOGS, Need.EVENTS))
def hold_ignored(ctx: CheckContext, _: NoParams) -> CheckResult:
    """holdApplicationUntilProxyStarts is set, but the running pod was not given its effect (the version ignores
    that place, values.global.proxy.lifecycle replaces the hook, or the pod predates the setting)."""
    if not ctx.pod_name:
        return CheckResult.not_applicable("no pod to examine")
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"pod {pod.name} has no istio-proxy")
    if pod.is_native_sidecar:
        return CheckResult.not_applicable("native sidecar: Kubernetes starts istio-proxy, and waits for its startup probe, before the app")
    injector = injector_of(ctx, pod)
    settings = [s for s in facts.hold_settings(pod, mesh_of(ctx, pod), injector) if s.value]
    if not settings:
        return CheckResult.not_applicable("holdApplicationUntilProxyStarts is not set (pod annotation, meshConfig, values)")
    shape = facts.hold_shape(pod)
    places = ", ".join(s.where for s in settings)
    if shape.holds:
        return CheckResult.passed(f"holdApplicationUntilProxyStarts ({places}) is in effect: istio-proxy is first and waits")
    version = ctx.istio_version
    lifecycle_set = facts.lifecycle_override(injector)
    verdicts = {s.place: facts.hold_verdict(version, s.place, lifecycle_set=lifecycle_set) for s in settings}
    honoured = [p for p, v in verdicts.items() if v.honoured]
    tl = timeline_of(ctx)
    race = readings.startup_race(tl)
    symptoms = [m for m in race.moments if m is not race.ready] if race is not None else []
    proxy = next(c for c in pod.spec.containers if c.name == SIDECAR_NAME)
    evidence = [ctx.ref(Need.POD, {"containers": [c.name for c in pod.spec.containers],
                                   "istio-proxy lifecycle": (proxy.model_extra or {}).get("lifecycle") or "(none)",
                                   "annotations": {k: v for k, v in pod.annotations.items() if k == "proxy.istio.io/config"}},
                        "what the injector wrote into the pod")]
    if symptoms:
        evidence.append(moments_ref(ctx, tl, race.moments if race else [], "the app failed to connect before the proxy was ready"))
    remedy, steps = _hold_remedy(version, pod, verdicts, lifecycle_set)
    args = {"places": places, "pod": _pod_label(pod), "shape": _shape_text(shape), "version": facts.vtext(version),
            "remedy": remedy}
    if honoured and not lifecycle_set:
        message = "stale"
    else:
        message = None
        ignored = [v for v in verdicts.values() if not v.honoured]
        args["why"] = "; ".join(dict.fromkeys(v.why for v in ignored))
        evidence.append(EvidenceRef(source="", key="istio source", excerpt="\n".join(dict.fromkeys(v.source for v in ignored)),
                                    note=f"what the injector of Istio {facts.vtext(version)} does with the setting"))
    return CheckResult.failed(
        message=message, args=args, corroboration="corroborated" if symptoms else None, evidence=evidence,
        observed=[m.summary for m in symptoms], moments=ids(*symptoms), resources=[f"Pod {_pod_label(pod)}"],
        fix=Fix(steps=steps, ordered=len(steps) > 1),
    )


# --------------------------------------------------------------------------------------------
# LIFE-JOB-SIDECAR
# --------------------------------------------------------------------------------------------


def _job_remedy(ctx: CheckContext, pod: Any, container: str) -> tuple[str, list[FixStep]]:
    native = facts.native_fix(ctx.istio_version, kube_minor(ctx))
    steps: list[FixStep] = []
    parts: list[str] = []
    if native is not None:
        parts.append(native[0])
        if ctx.istio_version is not None and ctx.istio_version >= facts.V("1.24"):
            steps.append(FixStep(description="Run istio-proxy as a native sidecar in the Job's pods: Kubernetes stops it when "
                                             f"{container} is done (Istio >= 1.24, Kubernetes >= 1.29)",
                                 yaml_patch=_template_patch(pod, {"metadata": {"annotations": {"sidecar.istio.io/nativeSidecar": "true"}}})))
        else:
            steps.append(FixStep(description="Enable native sidecars on istiod (Istio 1.19-1.23, mesh-wide)",
                                 command="istioctl install --set values.pilot.env.ENABLE_NATIVE_SIDECARS=true"))
    if ctx.istio_version is None or ctx.istio_version >= facts.V("1.3"):
        parts.append(f"{'or ' if parts else ''}end the job's command by stopping the proxy: "
                     "curl -fsS -X POST http://localhost:15020/quitquitquit")
        steps.append(FixStep(description=f"Stop the proxy when {container} is done (pilot-agent's /quitquitquit, Istio >= 1.3)",
                             command="curl -fsS -X POST http://localhost:15020/quitquitquit"))
    else:
        parts.append("exclude the Job from injection (sidecar.istio.io/inject: \"false\"): Istio < 1.3 cannot stop its proxy")
    steps.append(FixStep(description="Or keep the Job out of the mesh (it then has no mTLS identity)",
                         yaml_patch=_template_patch(pod, {"metadata": {"labels": {"sidecar.istio.io/inject": "false"}}})))
    return "; ".join(parts), steps


@check("LIFE-JOB-SIDECAR", needs=(Need.POD,), optional=(Need.PROXY_LOGS, Need.EVENTS, Need.KUBECTL_VERSION))
def job_sidecar(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Job's containers finished but its classic istio-proxy keeps the pod Running, so the Job never completes."""
    if not ctx.pod_name:
        return CheckResult.not_applicable("no pod to examine")
    pod = ctx.pod()
    owner = pod.controller
    if owner is None or owner.kind != "Job":
        return CheckResult.not_applicable(f"pod {pod.name} is not run by a Job")
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"pod {pod.name} has no istio-proxy")
    if pod.is_native_sidecar:
        return CheckResult.passed("istio-proxy is a native sidecar: Kubernetes stops it when the Job's containers finish")
    if pod.phase in ("Succeeded", "Failed"):
        return CheckResult.passed(f"pod {pod.name} is {pod.phase}: the Job's pod completed")
    proxy = _status(pod, SIDECAR_NAME)
    apps = [_status(pod, c.name) for c in pod.app_containers]
    if proxy is None or proxy.state.running is None or not apps or any(a is None or a.state.terminated is None for a in apps):
        running = [a.name for a in apps if a is not None and a.state.terminated is None]
        return CheckResult.passed(f"the Job's container(s) {', '.join(running) or '?'} are still running")
    tl = timeline_of(ctx)
    done = max(apps, key=lambda a: a.state.terminated.finished_at or a.state.terminated.started_at)
    term = done.state.terminated
    exited = tl.first(MomentKind.CONTAINER_EXITED, container=done.name)
    proxy_started = tl.first(MomentKind.CONTAINER_STARTED, container=SIDECAR_NAME)
    later = [m for m in tl.moments if m.container == SIDECAR_NAME and exited is not None and m.at > exited.at]
    remedy, steps = _job_remedy(ctx, pod, done.name)
    ready = f"{sum(1 for s in pod.status.container_statuses if s.ready)}/{len(pod.status.container_statuses)}"
    return CheckResult.failed(
        args={"pod": _pod_label(pod), "job": f"{pod.namespace}/{owner.name}", "container": done.name,
              "exit_code": term.exit_code, "finished": when(term.finished_at), "ready": ready, "remedy": remedy},
        evidence=[moments_ref(ctx, tl, [proxy_started, exited, *later[-1:]],
                              f"{done.name} finished; istio-proxy kept running"),
                  ctx.ref(Need.POD, {"phase": pod.phase, "ownerReferences": [{"kind": owner.kind, "name": owner.name}],
                                     "containerStatuses": [{"name": s.name, "ready": s.ready, "state": s.state.summary}
                                                           for s in pod.status.container_statuses]}, "pod status")],
        observed=[f"{done.name} terminated (exit {term.exit_code}); istio-proxy Running"], moments=ids(exited, *later[-1:]),
        resources=[f"Pod {_pod_label(pod)}", f"Job {pod.namespace}/{owner.name}"],
        fix=Fix(steps=steps),
    )


# --------------------------------------------------------------------------------------------
# LIFE-CNI-NOT-READY
# --------------------------------------------------------------------------------------------


def _cni_remedy(ctx: CheckContext, pod: Any) -> tuple[str, list[FixStep]]:
    v = ctx.istio_version
    steps = [FixStep(description="Recreate the pod now that the agent is ready (its sandbox gets the redirection)",
                     command=f"kubectl delete pod {pod.name} -n {pod.namespace}")]
    parts = ["Recreate the pod once the node's istio-cni agent is Ready"]
    never = pod.spec.restart_policy == "Never"
    if never:
        parts.append("its restartPolicy Never means the repair controller, which acts on restarts, never sees it (istio/istio#49210)")
    if v is not None and v < facts.V("1.21"):
        parts.append(f"Istio {facts.vtext(v)}'s repair controller deletes such pods when repair.deletePods is on (the default up to 1.20)")
        steps.append(FixStep(description="Keep the repair controller's pod deletion on",
                             command="istioctl install --set values.cni.repair.enabled=true --set values.cni.repair.deletePods=true"))
    else:
        regress = v is not None and (facts.vtext(v) in ("1.26.1", "1.27.0"))
        parts.append("from 1.21 the agent repairs such pods in place (repairPods)"
                     + (f"; that repair does not work in {facts.vtext(v)} (istio/istio#56587, #57332): use deletePods" if regress else ""))
        steps.append(FixStep(description="Let the repair controller delete broken pods instead of repairing them in place",
                             command="istioctl install --set values.cni.repair.repairPods=false --set values.cni.repair.deletePods=true"))
    if v is None or v >= facts.V("1.22"):
        parts.append("to prevent it, taint new nodes cni.istio.io/not-ready:NoSchedule and let istiod remove the taint when the "
                     "agent is ready (pilot.taint.enabled, Istio >= 1.22)")
        steps.append(FixStep(description="Have istiod untaint nodes once their istio-cni agent is ready (new nodes must be "
                                         "registered with the taint cni.istio.io/not-ready=true:NoSchedule)",
                             command="istioctl install --set values.pilot.taint.enabled=true"))
    return "; ".join(parts), steps


@check("LIFE-CNI-NOT-READY", needs=(Need.POD,), optional=(Need.INIT_LOGS, Need.EVENTS, Need.CNI_PODS, Need.CNI_LOGS))
def cni_not_ready(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod's network was created before the node's istio-cni agent was ready (or the agent is down), so the
    CNI plugin set up no redirection and istio-validation fails."""
    if not ctx.pod_name:
        return CheckResult.not_applicable("no pod to examine")
    pod = ctx.pod()
    if not any(c.name == "istio-validation" for c in pod.spec.init_containers):
        return CheckResult.not_applicable(f"pod {pod.name} is not redirected by istio-cni (no istio-validation init container)")
    cs = _status(pod, "istio-validation")
    state = _failing(cs)
    if state is None:
        return CheckResult.passed("istio-validation completed: the CNI plugin had set up the redirection")
    agents_item = ctx.ev.item(Need.CNI_PODS)
    if agents_item is None or not agents_item.ok:
        why = agents_item.failure.reason if agents_item is not None and agents_item.failure else "the istio-cni agent pods were not listed"
        return CheckResult.unknown(f"istio-validation is {state}, but when the node's istio-cni agent became ready is unknown", reason=why)
    node = pod.spec.node_name or "?"
    agent = next((a for a in agents_item.value if a.spec.node_name == pod.spec.node_name), None)
    tl = timeline_of(ctx)
    logs = ctx.ev.get_or("", Need.INIT_LOGS, ctx.namespace, pod.name)
    lines = [_log_message(ln) for ln in logs.splitlines()]
    validation = next((ln for ln in lines if "workload is not ready for Istio" in ln), None) or next(
        (ln for ln in lines if "Error connecting to 127.0.0.6" in ln),
        f"exit code {cs.last_state.terminated.exit_code if cs.last_state.terminated else '?'}")
    started = tl.first(MomentKind.POD_STARTED)
    repairs = tl.of(MomentKind.CNI)
    repair_events = [m for m in tl.of(MomentKind.EVENT) if m.detail in ("DeleteBrokenPod", "LabelBrokenPod")]
    remedy, steps = _cni_remedy(ctx, pod)
    common = {"pod": _pod_label(pod), "node": node, "state": state, "validation": quote(validation), "remedy": remedy}
    corroborated = bool(repairs or repair_events)
    if agent is None or not (ready := agent.condition("Ready")) or not ready.is_true:
        agent_state = "no istio-cni-node pod on the node" if agent is None else (
            f"Ready {ready.status}" if ready is not None else f"phase {agent.phase}")
        return CheckResult.failed(
            message="agent_down", args={**common, "agent": agent.name if agent else "(none)", "agent_state": agent_state},
            corroboration="corroborated" if corroborated else None,
            evidence=[ctx.ref(Need.CNI_PODS, [{"name": a.name, "node": a.spec.node_name, "phase": a.phase} for a in agents_item.value]
                              or "no istio-cni-node pods", "the istio-cni agents"),
                      moments_ref(ctx, tl, [started, *repairs[:2]], "the pod's start and the agent's lines about it")],
            observed=[f"istio-validation {state}"], moments=ids(started, *repairs[:2]), resources=[f"Pod {_pod_label(pod)}"],
            fix=Fix(steps=steps))
    agent_ready = tl.first(MomentKind.CNI_AGENT_READY)
    if started is None or agent_ready is None or agent_ready.at <= started.at:
        return CheckResult.passed(
            f"istio-validation is {state}, but the node's istio-cni agent {agent.name} was Ready before the pod started: not the "
            "start-up race (see INJ-INIT-FAIL for the validation failure)")
    lead = duration((agent_ready.at - started.at).total_seconds())
    return CheckResult.failed(
        message="race", corroboration="corroborated" if corroborated else None,
        args={**common, "pod_start": when(started.at), "lead": lead, "agent": f"{agent.namespace}/{agent.name}",
              "agent_ready": when(agent_ready.at)},
        evidence=[moments_ref(ctx, tl, [started, agent_ready, *repairs[:2], *repair_events[:1]],
                              "the pod started before the node's istio-cni agent was Ready (both on the node's clock)"),
                  ctx.ref(Need.INIT_LOGS, "\n".join(ln for ln in logs.splitlines()[-6:]) or "(empty)", "istio-validation log")],
        observed=[f"istio-validation {state}", *[m.summary for m in repairs[:1]]],
        moments=ids(started, agent_ready, *repairs[:2], *repair_events[:1]), resources=[f"Pod {_pod_label(pod)}"],
        fix=Fix(steps=steps))


# --------------------------------------------------------------------------------------
# LIFE-SHUTDOWN-OUTBOUND: the terminating app calls out after its sidecar drained
# --------------------------------------------------------------------------------------


@check("LIFE-SHUTDOWN-OUTBOUND", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.APP_LOGS, Need.KUBECTL_VERSION))
def shutdown_outbound(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod is shutting down and its app logged network errors after pilot-agent began draining
    (istio/istio#7136): a classic sidecar gets SIGTERM with the app, and iptables keeps sending the
    app's late calls to a proxy that is draining or gone. Both times are the node's clock."""
    pod = ctx.pod()
    if pod.metadata.deletion_timestamp is None:
        return CheckResult.not_applicable(f"pod {_pod_label(pod)} is not shutting down")
    if pod.is_native_sidecar:
        return CheckResult.not_applicable("native sidecar: Kubernetes stops istio-proxy only after the app has exited")
    tl = timeline_of(ctx)
    drain = readings.drain_started(tl)
    if drain is None:
        return CheckResult.passed("pilot-agent has not logged the start of its drain")
    late = readings.errors_after_drain(tl)
    if not late:
        return CheckResult.passed("the app logged no network error after its proxy began draining")
    remedy, steps = shutdown_remedy(ctx, pod)
    moments = [drain, *late[:3]]
    return CheckResult.failed(
        args={"pod": _pod_label(pod), "container": late[0].container, "drain": when(drain.at),
              "error": quote(late[0].excerpt), "remedy": remedy},
        evidence=[moments_ref(ctx, tl, moments, "the app's calls failed after its proxy began draining (node clock)")],
        observed=[m.summary for m in late[:3]], moments=ids(*moments), resources=[f"Pod {_pod_label(pod)}"],
        fix=Fix(steps=steps),
    )
