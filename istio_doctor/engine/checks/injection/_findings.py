"""What ``INJ-*`` findings cite and propose: references to the namespace, the pod's injection labels
and annotations and the webhooks, and the restart / pod-template patch fix steps.
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.mesh.injection import Decision, Hook, Situation
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import EvidenceRef, FixStep
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.kube import DATAPLANE_MODE_LABEL, INJECT_KEY, INJECTION_NS_LABEL, REV_KEY, STATUS_ANNOTATION

# --------------------------------------------------------------------------------------
# citations and fixes
# --------------------------------------------------------------------------------------


def _ns_ref(ctx: CheckContext, ns: str, labels: dict[str, str]) -> EvidenceRef:
    shown = {k: v for k, v in sorted(labels.items())}
    return ctx.ref(Need.NAMESPACES, {"metadata": {"name": ns, "labels": shown or {}}}, f"labels of namespace {ns}")


def _pod_meta_ref(ctx: CheckContext, s: Situation, note: str = "") -> EvidenceRef:
    p = s.subject.pod
    meta: dict[str, Any] = {}
    keep = lambda m: {k: v for k, v in sorted(m.items()) if "istio" in k}  # noqa: E731
    if keep(p.labels):
        meta["labels"] = keep(p.labels)
    if keep(p.annotations):
        meta["annotations"] = {k: (v if k != STATUS_ANNOTATION else v[:200]) for k, v in keep(p.annotations).items()}
    body: dict[str, Any] = {"metadata": meta or {"labels": {}}}
    spec: dict[str, Any] = {"containers": [c.name for c in p.spec.containers]}
    if p.spec.init_containers:
        spec["initContainers"] = [c.name for c in p.spec.init_containers]
    if p.spec.host_network:
        spec["hostNetwork"] = True
    body["spec"] = spec
    if s.subject.live:
        return ctx.ref(Need.POD, body, note or f"pod {p.name}: istio labels/annotations and containers")
    d = s.subject.deployment
    return ctx.ref(Need.DEPLOYMENTS, {"spec": {"template": body}}, note or f"Deployment {d.name if d else ''} pod template")


def _hooks_ref(ctx: CheckContext, hooks: list[Hook], note: str) -> EvidenceRef:
    if not hooks:
        return ctx.ref(Need.WEBHOOKS, "(no Istio sidecar-injector webhook)", note)
    return ctx.ref(Need.WEBHOOKS, [h.excerpt() for h in hooks[:6]], note)


def _restart_step(s: Situation) -> FixStep:
    ns = s.subject.namespace
    if s.subject.workload:
        return FixStep(description="Recreate the pods so the injector runs on them",
                       command=f"kubectl rollout restart {s.subject.workload} -n {ns}")
    return FixStep(description="The pod has no controller: delete it and create it again so the injector runs",
                   command=f"kubectl delete pod {s.subject.pod.name} -n {ns}")


def _template_patch_step(s: Situation, value: str | None, what: str) -> FixStep:
    """Set (or remove, value None) the inject label on the pod template."""
    ns = s.subject.namespace
    wl = s.subject.workload
    if wl:
        if value is None:
            return FixStep(description=what, command=(
                f"kubectl patch {wl} -n {ns} --type json -p "
                "'[{\"op\":\"remove\",\"path\":\"/spec/template/metadata/labels/sidecar.istio.io~1inject\"}]'"))
        return FixStep(description=what, command=(
            f"kubectl patch {wl} -n {ns} --type merge -p "
            f"'{{\"spec\":{{\"template\":{{\"metadata\":{{\"labels\":{{\"sidecar.istio.io/inject\":\"{value}\"}}}}}}}}}}'"))
    return FixStep(description=what + " (in the pod manifest, then recreate the pod)",
                   yaml_patch=f"metadata:\n  labels:\n    sidecar.istio.io/inject: \"{value}\"\n" if value else None)


def _explicit_pretty(d: Decision) -> str:
    return f"{d.explicit_source} {INJECT_KEY}: {d.explicit!r}"


def _fmt_labels(labels: dict[str, str], keys: tuple[str, ...] = (INJECTION_NS_LABEL, REV_KEY, DATAPLANE_MODE_LABEL)) -> str:
    shown = [f"{k}={labels[k]}" for k in keys if k in labels]
    return ", ".join(shown) if shown else "no injection label"
