"""What ``INJ-*`` checks share: the registration of a check decided on the injection situation,
what findings cite (the namespace, the pod's injection labels and annotations, the webhooks) and
the arguments and fix steps they have in common (restart, pod-template patch).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.injection import _NO_SUBJECT, _SUBJECT_NEEDS, _SUBJECT_OPTIONAL, Decision, Hook, Situation, situation
from istio_doctor.engine.model import CheckResult, EvidenceRef, FixStep
from istio_doctor.engine.registry import CheckFn, NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.kube import DATAPLANE_MODE_LABEL, INJECT_KEY, INJECTION_NS_LABEL, REV_KEY, STATUS_ANNOTATION

# --------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------


def situation_check(check_id: str, *, needs: tuple[Need, ...] = _SUBJECT_NEEDS,
                    optional: tuple[Need, ...] = _SUBJECT_OPTIONAL) -> Callable[[Callable[[CheckContext, Situation], CheckResult]], CheckFn]:
    """Register ``fn(ctx, situation)`` as check ``check_id``: every such check decides on the
    injector's view of the subject (pod, or Deployment pod template), and none applies without one."""

    def deco(fn: Callable[[CheckContext, Situation], CheckResult]) -> CheckFn:
        @functools.wraps(fn)
        def run(ctx: CheckContext, _: NoParams) -> CheckResult:
            s = situation(ctx)
            return CheckResult.not_applicable(_NO_SUBJECT) if s is None else fn(ctx, s)

        return check(check_id, needs=needs, optional=optional)(run)

    return deco


# --------------------------------------------------------------------------------------
# arguments, citations and fixes
# --------------------------------------------------------------------------------------


def _subject_resource(s: Situation) -> str:
    """The resource a pod-level finding is about: the pod, or the Deployment when no pod exists."""
    return f"{'Pod' if s.subject.live else 'Deployment'} {s.subject.namespace}/{s.subject.name}"


def _subject_args(s: Situation) -> dict[str, Any]:
    """Arguments every pod-level INJ message may name: the subject, its namespace and the
    namespace's injection labels (``k=v`` values; none: the templates say so)."""
    return {"subject": s.subject.desc, "namespace": s.subject.namespace, "ns_labels": _label_values(s.ns_labels)}


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


def _label_values(labels: dict[str, str], keys: tuple[str, ...] = (INJECTION_NS_LABEL, REV_KEY, DATAPLANE_MODE_LABEL)) -> list[str]:
    """The injection labels present, as ``key=value``."""
    return [f"{k}={labels[k]}" for k in keys if k in labels]


def _fmt_labels(labels: dict[str, str]) -> str:
    """The injection labels for a pass / not-applicable line (findings pass ``_label_values``)."""
    return ", ".join(_label_values(labels)) or "no injection label"
