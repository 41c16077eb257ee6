"""The timeline signatures that make ``--symptom auto`` walk the lifecycle playbook for a pod.

Cheap: read from the pod object, its events, its proxy log and the control plane's ConfigMaps,
all gathered by every diagnosis. The application's and the istio-cni agent's logs, which the
lifecycle checks also read, are gathered only for the pods a signature picks.
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.lifecycle import facts
from istio_doctor.engine.lifecycle.build import build_timeline
from istio_doctor.engine.lifecycle.model import MomentKind
from istio_doctor.evidence.bundle import Evidence, Need
from istio_doctor.evidence.kube import SIDECAR_NAME

#: an app container that crashed this soon after the pod started is a start-up failure
EARLY_S = 120.0
_SANDBOX_EVENTS = ("FailedCreatePodSandBox", "FailedPostStartHook", "DeleteBrokenPod", "LabelBrokenPod")


def lifecycle_signature(ev: Evidence, namespace: str, pod_name: str) -> str | None:
    """Why this pod's timeline calls for the lifecycle playbook, or None."""
    tl = build_timeline(ev, namespace, pod_name)
    pod = ev.get_or(None, Need.POD, namespace, pod_name) or next(
        (p for p in ev.get_or([], Need.PODS, namespace) if p.metadata.name == pod_name), None)
    if tl is None or pod is None or not pod.has_sidecar:
        return None
    by_name = {c.name: c for c in tl.containers}
    for c in tl.containers:
        if c.role in ("istio-init", "istio-validation", "init") and c.state in ("CrashLoopBackOff", "Error", "RunContainerError"):
            return f"init container {c.name} is {c.state}"
    owner = pod.controller
    proxy = by_name.get(SIDECAR_NAME)
    apps = [by_name.get(c.name) for c in pod.app_containers]
    if owner is not None and owner.kind == "Job" and proxy is not None and proxy.state == "Running" and apps and all(
            a is not None and a.state in ("Completed", "Error") for a in apps):
        return f"the Job's containers finished while istio-proxy keeps running"
    if tl.origin is not None:
        for m in tl.of(MomentKind.CONTAINER_EXITED):
            if by_name.get(m.container) is not None and by_name[m.container].role == "app" and m.detail != "0" \
                    and (m.at - tl.origin).total_seconds() <= EARLY_S:
                return f"container {m.container} exited with code {m.detail} within {EARLY_S:g}s of the pod's start"
    if tl.of(MomentKind.DELETION_REQUESTED) or any(m.detail == "drain_start" for m in tl.of(MomentKind.PROXY_DRAIN)):
        return "the pod is shutting down"
    for m in tl.of(MomentKind.EVENT):
        if m.detail in _SANDBOX_EVENTS:
            return f"event {m.detail}"
    if not pod.is_native_sidecar:
        cp = ev.get_or(None, Need.CONTROL_PLANE_CONFIGMAPS)
        if cp is not None and _hold_set(pod, cp) and not facts.hold_shape(pod).holds:
            return "holdApplicationUntilProxyStarts is set but the pod does not hold the app"
    return None


def _hold_set(pod: Any, cp: Any) -> bool:
    injector = cp.injector_for(pod.revision) or cp.injector_for(None)
    mesh = cp.mesh_for(pod.revision) or cp.mesh_for(None)
    return any(s.value for s in facts.hold_settings(pod, mesh, injector))
