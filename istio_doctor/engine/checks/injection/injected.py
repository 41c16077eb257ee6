"""Injected, but broken: ``INJ-INIT-FAIL`` (the istio-init / istio-validation init container fails),
``INJ-PROXY-SKEW`` (the running proxy image is not the one injected today),
``INJ-GATEWAY-IMAGE-AUTO`` (a gateway's ``image: auto`` placeholder is never replaced) and
``INJ-AMBIENT-CONFLICT`` (ambient mode and sidecar injection both asked for).
"""

from __future__ import annotations

import re

from istio_doctor.engine.checks.injection._findings import _ns_ref, _pod_meta_ref, _restart_step, _subject_args, _subject_resource, _template_patch_step, situation_check
from istio_doctor.engine.mesh.injection import Situation, _is_true, is_injected
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.lifecycle import readings
from istio_doctor.engine.lifecycle.cite import ids, moments_ref, timeline_of
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.kube import DATAPLANE_MODE_LABEL, INJECT_KEY, INJECTION_NS_LABEL, SIDECAR_NAME, Pod
from istio_doctor.evidence.versions import parse_version

# --------------------------------------------------------------------------------------
# injected, but broken
# --------------------------------------------------------------------------------------

_INIT_NAMES = ("istio-init", "istio-validation")
#: what istio-init needs to program iptables (istio.io ops/deployment/application-requirements)
_INIT_CAPS = ("NET_ADMIN", "NET_RAW")
_INIT_ERR = re.compile(r"(error|fail|denied|unable|not permitted|can't|cannot|exit status)", re.I)


@check("INJ-INIT-FAIL", needs=(Need.POD,), optional=(Need.INIT_LOGS, Need.EVENTS))
def init_fail(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The injected istio-init / istio-validation init container fails, so the pod never starts (read on
    the pod's timeline: the container's state now and its last exit)."""
    if not ctx.pod_name:
        return CheckResult.not_applicable("no pod exists")
    pod = ctx.pod()
    names = [c.name for c in pod.spec.init_containers if c.name in _INIT_NAMES]
    if not names:
        return CheckResult.not_applicable(f"pod {pod.name} has no istio-init / istio-validation init container")
    tl = timeline_of(ctx)
    found = readings.failing_init(tl, tuple(names))
    if found is None:
        return CheckResult.passed(f"{', '.join(names)} of pod {pod.name} completed")
    line, exited = found
    name = line.name
    state = f"{line.state} ({line.restarts} restarts" + (f", last exit code {line.exit_code})" if line.exit_code else ")")
    logs = ctx.ev.get_or(None, Need.INIT_LOGS, ctx.namespace, pod.name)
    log_lines = [ln for ln in (logs or "").splitlines() if _INIT_ERR.search(ln)][-6:]
    statuses = [st.model_dump(mode="json", by_alias=True, exclude_none=True, include={"name", "ready", "restart_count", "state", "last_state"})
                for st in pod.status.init_container_statuses if st.name in names]
    ev = [ctx.ref(Need.POD, {"status": {"initContainerStatuses": statuses}}, "init container status")]
    if exited is not None:
        ev.append(moments_ref(ctx, tl, [exited], f"{name}'s last exit on the pod's timeline"))
    if log_lines:
        ev.append(ctx.ref(Need.INIT_LOGS, "\n".join(log_lines), f"{name} log"))
    args: dict[str, object] = {"pod": pod.name, "container": name, "state": state, "namespace": ctx.namespace, "node": pod.spec.node_name}
    # The remedy depends on which container failed (istio.io, ops/diagnostic-tools/cni "Diagnose pod
    # start-up failure" and ops/deployment/application-requirements): istio-validation exists only
    # with the Istio CNI plugin and fails when the node's istio-cni agent has not set up the pod's
    # redirection, so capabilities are beside the point; istio-init programs iptables itself and needs
    # NET_ADMIN/NET_RAW, which Pod Security "baseline" forbids (setup/additional-setup/pod-security-admission).
    if name == "istio-validation":
        message = "validation"
        steps = [FixStep(description="Check the istio-cni node agent on the pod's node (LIFE-CNI-NOT-READY compares their start times)",
                         command=f"kubectl get pods -A -l k8s-app=istio-cni-node -o wide --field-selector spec.nodeName={pod.spec.node_name or 'NODE'}"),
                 FixStep(description="Read the validation error", command=f"kubectl logs {pod.name} -n {ctx.namespace} -c istio-validation"),
                 FixStep(description="Recreate the pod once the agent is Ready", command=f"kubectl delete pod {pod.name} -n {ctx.namespace}")]
    else:
        missing = _missing_capabilities(pod, name, " ".join(log_lines).lower())
        message = "capabilities" if missing else None
        args["missing"] = missing
        steps = [FixStep(description="Read the istio-init error", command=f"kubectl logs {pod.name} -n {ctx.namespace} -c istio-init")]
        if missing:
            steps.append(FixStep(description="See which Pod Security level the namespace enforces (baseline and restricted forbid NET_ADMIN/NET_RAW)",
                                 command=f"kubectl get namespace {ctx.namespace} --show-labels"))
        steps.append(FixStep(description="Allow NET_ADMIN and NET_RAW for istio-init in this namespace, or install the Istio CNI node agent "
                                         "so pods need no privileged init container",
                             command="istioctl install --set components.cni.enabled=true"))
        if pod.owner_workload is not None and pod.owner_workload.kind == "Deployment":
            steps.append(FixStep(description="Restart the workload",
                                 command=f"kubectl rollout restart deployment/{pod.owner_workload.name} -n {ctx.namespace}"))
    return CheckResult.failed(
        message=message, args=args,
        corroboration="logged" if log_lines else None, evidence=ev, fix=Fix(steps=steps),
        observed=[f"{name} {state}"], moments=ids(exited), resources=[f"Pod {ctx.namespace}/{pod.name}"],
    )


def _missing_capabilities(pod: Pod, name: str, log_text: str) -> list[str]:
    """The capabilities istio-init lacks to program iptables: those its securityContext does not
    add, or both when its log says it was refused (the container spec may add them while a policy
    engine strips them at admission); none when neither shows."""
    init = next(c for c in pod.spec.init_containers if c.name == name)
    caps = ((init.security_context.model_extra or {}).get("capabilities") or {}) if init.security_context is not None else {}
    added = set(caps.get("add") or [])
    missing = [c for c in _INIT_CAPS if c not in added]
    if missing or any(s in log_text for s in ("permission denied", "unable to initialize table", "capability")):
        return missing or list(_INIT_CAPS)
    return []


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
        message=None if older else "mismatch",
        args={"pod": pod.name, "running": have, "configmap": cm, "revision": rev, "injected": want},
        evidence=[ctx.ref(Need.POD, {"spec": {"containers": [{"name": SIDECAR_NAME, "image": have}]}}, "running proxy image"),
                  ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, {"global": {"hub": inj.values.hub, "tag": inj.values.tag, "proxy": {"image": inj.values.proxy_image}}},
                          f"ConfigMap {cm} data.values")] + ps_ev,
        fix=Fix(steps=[FixStep(description="Recreate the pods",
                               command=f"kubectl rollout restart {wl.kind.lower()}/{wl.name} -n {ctx.namespace}" if wl is not None and wl.kind in ("Deployment", "StatefulSet", "DaemonSet")
                               else f"kubectl delete pod {pod.name} -n {ctx.namespace}")]),
        resources=[f"Pod {ctx.namespace}/{pod.name}"],
    )


@situation_check("INJ-GATEWAY-IMAGE-AUTO")
def gateway_image_auto(ctx: CheckContext, s: Situation) -> CheckResult:
    """A gateway deployed with image: auto is not selected by injection, so the placeholder is never replaced."""
    p = s.subject.pod
    auto = next((c for c in p.spec.containers if c.name == SIDECAR_NAME and (c.image or "") == "auto"), None)
    if auto is None:
        return CheckResult.not_applicable(f"{s.subject.desc} has no istio-proxy container with image: auto")
    if not s.subject.live and s.decision.inject:
        return CheckResult.passed(f"injection ({s.decision.hooks[0].label}) will replace image: auto in the pods of {s.subject.desc}")
    st = p.container_status(SIDECAR_NAME) if s.subject.live else None
    ev = [_pod_meta_ref(ctx, s, "istio-proxy image: auto")]
    if st is not None:
        ev.append(ctx.ref(Need.POD, {"status": {"containerStatuses": [st.model_dump(mode="json", by_alias=True, exclude_none=True, include={"name", "image", "ready", "state"})]}},
                          "the placeholder image cannot run"))
    ev.append(_ns_ref(ctx, s.subject.namespace, s.ns_labels))
    return CheckResult.failed(
        message="no_webhook" if s.decision.blocker == "no-webhook" else None,
        args={**_subject_args(s), "decision": s.decision.detail, "pod_value": p.labels.get(INJECT_KEY),
              "state": st.state.summary if st is not None else None},
        # a running pod shows the placeholder failing; a pod template alone only predicts it
        corroboration="pod" if s.subject.live else None,
        evidence=ev,
        fix=Fix(steps=[_template_patch_step(s, "true", "Opt the gateway pods in to injection"),
                       *([FixStep(description="Remove the namespace opt-out", command=f"kubectl label namespace {s.subject.namespace} {INJECTION_NS_LABEL}-")]
                         if s.ns_labels.get(INJECTION_NS_LABEL) == "disabled" else []),
                       _restart_step(s)], ordered=True),
        observed=[f"istio-proxy {st.state.summary} with image auto"] if st is not None and not st.ready else [],
        resources=[_subject_resource(s)],
    )


@situation_check("INJ-AMBIENT-CONFLICT")
def ambient_conflict(ctx: CheckContext, s: Situation) -> CheckResult:
    """Ambient mode and sidecar injection are both asked for: the sidecar wins and ztunnel skips the pod."""
    nl, p, ns = s.ns_labels, s.subject.pod, s.subject.namespace
    ambient_ns = nl.get(DATAPLANE_MODE_LABEL) == "ambient"
    ambient_pod = p.labels.get(DATAPLANE_MODE_LABEL) == "ambient"
    if not (ambient_ns or ambient_pod) or p.labels.get(DATAPLANE_MODE_LABEL) == "none":
        return CheckResult.not_applicable(f"{s.subject.desc} is not in ambient mode")
    # what asks for a sidecar as well: a running istio-proxy, the namespace label, the pod's opt-in
    sidecar = p.name if s.subject.live and is_injected(p) else None
    ns_injection = nl.get(INJECTION_NS_LABEL) == "enabled"
    opt_in = p.labels[INJECT_KEY] if _is_true(p.labels.get(INJECT_KEY)) else None
    if not (sidecar or ns_injection or opt_in):
        return CheckResult.passed(f"{s.subject.desc} is in ambient mode without sidecar injection")
    return CheckResult.failed(
        args={"subject": s.subject.desc, "namespace": ns, "ambient_namespace": ambient_ns, "sidecar": sidecar,
              "ns_injection": ns_injection, "opt_in": opt_in},
        evidence=[_ns_ref(ctx, ns, nl), _pod_meta_ref(ctx, s)],
        fix=Fix(steps=[FixStep(description="Keep ambient: stop sidecar injection in the namespace", command=f"kubectl label namespace {ns} {INJECTION_NS_LABEL}-"),
                       FixStep(description="Or keep sidecars: leave ambient", command=f"kubectl label namespace {ns} {DATAPLANE_MODE_LABEL}-"),
                       _restart_step(s)]),
        resources=[f"Namespace {ns}"],
    )
