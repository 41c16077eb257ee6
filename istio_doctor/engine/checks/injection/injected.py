"""Injected, but broken: ``INJ-INIT-FAIL`` (the istio-init / istio-validation init container fails),
``INJ-PROXY-SKEW`` (the running proxy image is not the one injected today),
``INJ-GATEWAY-IMAGE-AUTO`` (a gateway's ``image: auto`` placeholder is never replaced) and
``INJ-AMBIENT-CONFLICT`` (ambient mode and sidecar injection both asked for).
"""

from __future__ import annotations

import re

from istio_doctor.engine.checks.injection._findings import (
    _fmt_labels,
    _ns_ref,
    _pod_meta_ref,
    _restart_step,
    _template_patch_step,
)
from istio_doctor.engine.mesh.injection import (
    _NO_SUBJECT,
    _SUBJECT_NEEDS,
    _SUBJECT_OPTIONAL,
    _is_true,
    is_injected,
    situation,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.kube import DATAPLANE_MODE_LABEL, INJECT_KEY, INJECTION_NS_LABEL, SIDECAR_NAME
from istio_doctor.evidence.versions import parse_version

# --------------------------------------------------------------------------------------
# injected, but broken
# --------------------------------------------------------------------------------------

_INIT_NAMES = ("istio-init", "istio-validation")
_BAD_WAITING = frozenset({"CrashLoopBackOff", "Error", "RunContainerError", "CreateContainerError", "CreateContainerConfigError",
                          "ImagePullBackOff", "ErrImagePull", "InvalidImageName"})
_INIT_ERR = re.compile(r"(error|fail|denied|unable|not permitted|can't|cannot|exit status)", re.I)


@check("INJ-INIT-FAIL", needs=(Need.POD,), optional=(Need.INIT_LOGS, Need.EVENTS))
def init_fail(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The injected istio-init / istio-validation init container fails, so the pod never starts."""
    if not ctx.pod_name:
        return CheckResult.not_applicable("no pod exists")
    pod = ctx.pod()
    names = [c.name for c in pod.spec.init_containers if c.name in _INIT_NAMES]
    if not names:
        return CheckResult.not_applicable(f"pod {pod.name} has no istio-init / istio-validation init container")
    bad: list[tuple[str, str]] = []
    for st in pod.status.init_container_statuses:
        if st.name not in names:
            continue
        w, t, lt = st.state.waiting, st.state.terminated, st.last_state.terminated
        if w is not None and w.reason in _BAD_WAITING:
            bad.append((st.name, f"{w.reason} (restarts {st.restart_count})" + (f", last exit code {lt.exit_code}" if lt and lt.exit_code else "")))
        elif t is not None and t.exit_code not in (None, 0):
            bad.append((st.name, f"terminated with exit code {t.exit_code} ({t.reason or 'Error'})"))
        elif w is None and t is None and lt is not None and lt.exit_code not in (None, 0) and st.restart_count and st.state.running is None:
            bad.append((st.name, f"restarting, last exit code {lt.exit_code}"))
    if not bad:
        return CheckResult.passed(f"{', '.join(names)} of pod {pod.name} completed")
    name, state = bad[0]
    logs = ctx.ev.get_or(None, Need.INIT_LOGS, ctx.namespace, pod.name)
    log_lines = [ln for ln in (logs or "").splitlines() if _INIT_ERR.search(ln)][-6:]
    statuses = [st.model_dump(mode="json", by_alias=True, exclude_none=True, include={"name", "ready", "restart_count", "state", "last_state"})
                for st in pod.status.init_container_statuses if st.name in names]
    ev = [ctx.ref(Need.POD, {"status": {"initContainerStatuses": statuses}}, "init container status")]
    if log_lines:
        ev.append(ctx.ref(Need.INIT_LOGS, "\n".join(log_lines), f"{name} log"))
    text = " ".join(log_lines).lower()
    init = next(c for c in pod.spec.init_containers if c.name == name)
    caps = ((init.security_context.model_extra or {}).get("capabilities") or {}) if init.security_context is not None else {}
    added = set(caps.get("add") or [])
    if name == "istio-validation":
        why = "the istio-cni node agent has not set up this pod's traffic redirection (CNI not ready on the node or not installed)"
        steps = [FixStep(description="Check the istio-cni node agent on the pod's node",
                         command=f"kubectl -n {ctx.conn.istio_namespace} get pods -l k8s-app=istio-cni-node -o wide"),
                 FixStep(description="Read the validation error", command=f"kubectl logs {pod.name} -n {ctx.namespace} -c istio-validation")]
    else:
        missing = [c for c in ("NET_ADMIN", "NET_RAW") if c not in added]
        if missing or "permission denied" in text or "unable to initialize table" in text or "capability" in text:
            why = (f"istio-init cannot program iptables: it lacks {'/'.join(missing) if missing else 'NET_ADMIN/NET_RAW'} "
                   "(a Pod Security admission / PSP / policy engine strips capabilities)")
        else:
            why = "istio-init failed to program iptables (see its log)"
        steps = [FixStep(description="Read the istio-init error", command=f"kubectl logs {pod.name} -n {ctx.namespace} -c istio-init"),
                 FixStep(description="Allow NET_ADMIN and NET_RAW for istio-init in this namespace, or install the Istio CNI node agent "
                                     "so pods need no privileged init container",
                         command="istioctl install --set components.cni.enabled=true")]
    return CheckResult.failed(
        f"pod {pod.name}: init container {name} is {state}: {why}; the application and istio-proxy never start",
        evidence=ev,
        fix=Fix(summary="Give the init container what it needs (NET_ADMIN/NET_RAW) or switch to istio-cni, then restart the pod.",
                steps=steps + ([FixStep(description="Restart the workload", command=f"kubectl rollout restart deployment/{pod.owner_workload.name} -n {ctx.namespace}")]
                               if pod.owner_workload is not None and pod.owner_workload.kind == "Deployment" else [])),
        confidence=0.92 if log_lines else 0.85,
        observed=[f"{name} {state}"],
        resources=[f"Pod {ctx.namespace}/{pod.name}"],
    )


def _tag_of(image: str | None) -> str | None:
    if not image or "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    tag = last.rsplit(":", 1)[1]
    for suffix in ("-distroless", "-debug"):
        tag = tag.removesuffix(suffix)
    return tag


@check("INJ-PROXY-SKEW", needs=(Need.POD, Need.CONTROL_PLANE_CONFIGMAPS), optional=(Need.PROXY_STATUS,))
def proxy_skew(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The running istio-proxy image is not the one the injector injects today (injected before an upgrade)."""
    if not ctx.pod_name:
        return CheckResult.not_applicable("no pod exists")
    pod = ctx.pod()
    if not is_injected(pod):
        return CheckResult.not_applicable(f"pod {pod.name} runs no istio-proxy")
    if "sidecar.istio.io/proxyImage" in pod.annotations:
        return CheckResult.not_applicable(f"pod {pod.name} pins its proxy image with sidecar.istio.io/proxyImage")
    rev = pod.revision or "default"
    cp = ctx.ev.get(Need.CONTROL_PLANE_CONFIGMAPS)
    inj = cp.injector_for(rev)
    if inj is None:
        return CheckResult.not_applicable(f"no injector ConfigMap for revision {rev} (the revision may have been removed)")
    want = inj.values.resolved_proxy_image
    have = pod.proxy_image
    want_tag, have_tag = _tag_of(want), _tag_of(have)
    if not want_tag or not have_tag:
        return CheckResult.not_applicable(f"cannot compare proxy images (running {have}, injector {want})")
    wv, hv = parse_version(want_tag), parse_version(have_tag)
    same = (wv == hv) if (wv is not None and hv is not None) else (want_tag == have_tag)
    if same:
        return CheckResult.passed(f"pod {pod.name} runs {have}, the image the injector (revision {rev}) injects today")
    # proxy-status restates the same fact (the proxy's version), so it is cited, not counted as a
    # separate runtime signal: GEN-VERSION-SKEW reports the unsupported-skew side of it.
    ps_ev: list[EvidenceRef] = []
    for row in ctx.ev.get_or([], Need.PROXY_STATUS):
        if row.pod == pod.name and (row.namespace in (None, ctx.namespace)) and row.version:
            ps_ev.append(ctx.ref(Need.PROXY_STATUS, f"{row.name}  VERSION {row.version}", "what istiod sees"))
    cm = "istio-sidecar-injector" + ("" if rev == "default" else f"-{rev}")
    older = hv is not None and wv is not None and hv < wv
    wl = pod.owner_workload
    return CheckResult.failed(
        f"pod {pod.name} runs istio-proxy {have} but the injector (ConfigMap {cm}, revision {rev}) now injects {want}: "
        + ("the pod was injected before the control-plane upgrade and keeps the old proxy until it is recreated" if older
           else "the running proxy does not match the injector's image"),
        evidence=[ctx.ref(Need.POD, {"spec": {"containers": [{"name": SIDECAR_NAME, "image": have}]}}, "running proxy image"),
                  ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, {"global": {"hub": inj.values.hub, "tag": inj.values.tag, "proxy": {"image": inj.values.proxy_image}}},
                          f"ConfigMap {cm} data.values")] + ps_ev,
        fix=Fix(summary="Restart the workload so it is re-injected with the current proxy.",
                steps=[FixStep(description="Recreate the pods",
                               command=f"kubectl rollout restart {wl.kind.lower()}/{wl.name} -n {ctx.namespace}" if wl is not None and wl.kind in ("Deployment", "StatefulSet", "DaemonSet")
                               else f"kubectl delete pod {pod.name} -n {ctx.namespace}")]),
        resources=[f"Pod {ctx.namespace}/{pod.name}"],
    )


@check("INJ-GATEWAY-IMAGE-AUTO", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def gateway_image_auto(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A gateway deployed with image: auto is not selected by injection, so the placeholder is never replaced."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    p = s.subject.pod
    auto = next((c for c in p.spec.containers if c.name == SIDECAR_NAME and (c.image or "") == "auto"), None)
    if auto is None:
        return CheckResult.not_applicable(f"{s.subject.desc} has no istio-proxy container with image: auto")
    if not s.subject.live and s.decision.inject:
        return CheckResult.passed(f"injection ({s.decision.hooks[0].label}) will replace image: auto in the pods of {s.subject.desc}")
    st = p.container_status(SIDECAR_NAME) if s.subject.live else None
    state = f" (container state: {st.state.summary})" if st is not None else ""
    why = s.decision.detail
    if s.decision.blocker == "no-webhook":
        why = f"no injector webhook selects it ({_fmt_labels(s.ns_labels)} on namespace {s.subject.namespace}"
        why += f", pod {INJECT_KEY}={p.labels[INJECT_KEY]!r})" if INJECT_KEY in p.labels else ")"
    ev = [_pod_meta_ref(ctx, s, "istio-proxy image: auto")]
    if st is not None:
        ev.append(ctx.ref(Need.POD, {"status": {"containerStatuses": [st.model_dump(mode="json", by_alias=True, exclude_none=True, include={"name", "image", "ready", "state"})]}},
                          "the placeholder image cannot run"))
    ev.append(_ns_ref(ctx, s.subject.namespace, s.ns_labels))
    return CheckResult.failed(
        f"{s.subject.desc} declares istio-proxy with image: auto, which only the injector's gateway template replaces, but it is not "
        f"injected: {why}{state}",
        evidence=ev,
        fix=Fix(summary="Let injection select the gateway: label its pod template sidecar.istio.io/inject: \"true\" (plus istio.io/rev for a "
                        "revisioned control plane) and do not set istio-injection=disabled on its namespace; then restart.",
                steps=[_template_patch_step(s, "true", "Opt the gateway pods in to injection"),
                       *([FixStep(description="Remove the namespace opt-out", command=f"kubectl label namespace {s.subject.namespace} {INJECTION_NS_LABEL}-")]
                         if s.ns_labels.get(INJECTION_NS_LABEL) == "disabled" else []),
                       _restart_step(s)], ordered=True),
        confidence=0.92 if s.subject.live else 0.85,
        observed=[f"istio-proxy {st.state.summary} with image auto"] if st is not None and not st.ready else [],
        resources=[f"{'Pod' if s.subject.live else 'Deployment'} {s.subject.namespace}/{s.subject.name}"],
    )


@check("INJ-AMBIENT-CONFLICT", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def ambient_conflict(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Ambient mode and sidecar injection are both asked for: the sidecar wins and ztunnel skips the pod."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    nl, p, ns = s.ns_labels, s.subject.pod, s.subject.namespace
    ambient_ns = nl.get(DATAPLANE_MODE_LABEL) == "ambient"
    ambient_pod = p.labels.get(DATAPLANE_MODE_LABEL) == "ambient"
    if not (ambient_ns or ambient_pod) or p.labels.get(DATAPLANE_MODE_LABEL) == "none":
        return CheckResult.not_applicable(f"{s.subject.desc} is not in ambient mode")
    conflicts: list[str] = []
    if s.subject.live and is_injected(p):
        conflicts.append(f"pod {p.name} runs an istio-proxy sidecar")
    if nl.get(INJECTION_NS_LABEL) == "enabled":
        conflicts.append(f"namespace {ns} also has {INJECTION_NS_LABEL}=enabled")
    if _is_true(p.labels.get(INJECT_KEY)):
        conflicts.append(f"the pod opts in with {INJECT_KEY}={p.labels[INJECT_KEY]}")
    if not conflicts:
        return CheckResult.passed(f"{s.subject.desc} is in ambient mode without sidecar injection")
    where = f"namespace {ns}" if ambient_ns else s.subject.desc
    return CheckResult.failed(
        f"{where} is labelled {DATAPLANE_MODE_LABEL}=ambient but " + " and ".join(conflicts)
        + ": a pod with a sidecar is not captured by ztunnel, so it runs in sidecar mode, not the ambient mode the label asks for",
        evidence=[_ns_ref(ctx, ns, nl), _pod_meta_ref(ctx, s)],
        fix=Fix(summary="Choose one data-plane mode per namespace: remove the sidecar injection label (ambient) or the dataplane-mode label (sidecar), then restart.",
                steps=[FixStep(description="Keep ambient: stop sidecar injection in the namespace", command=f"kubectl label namespace {ns} {INJECTION_NS_LABEL}-"),
                       FixStep(description="Or keep sidecars: leave ambient", command=f"kubectl label namespace {ns} {DATAPLANE_MODE_LABEL}-"),
                       _restart_step(s)]),
        confidence=0.8,
        resources=[f"Namespace {ns}"],
    )
