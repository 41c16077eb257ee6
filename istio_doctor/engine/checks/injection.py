"""Playbook ``injection``: the sidecar is not injected (checks ``INJ-*``).

Every check here re-runs the injector's own decision instead of guessing from labels:

1. the API server calls a mutating webhook only when its ``namespaceSelector`` and
   ``objectSelector`` match the namespace's and the pod's labels (the four Istio webhooks
   ``rev.namespace.`` / ``rev.object.`` / ``namespace.`` / ``object.sidecar-injector.istio.io``
   of every revision and tag are plain Kubernetes selectors, evaluated by
   ``MutatingWebhook.matches``);
2. istiod then runs ``injectRequired()`` (``pkg/kube/inject/inject.go``): never for
   ``hostNetwork`` pods, never in ``kube-system``/``kube-public``; the pod *label*
   ``sidecar.istio.io/inject`` overrides the annotation; ``y``/``yes``/``true``/``on`` (any case)
   inject, an empty value uses the defaults, and **any other value disables injection** (it does
   not fall back to the policy); with no explicit value ``neverInjectSelector`` then
   ``alwaysInjectSelector`` decide, and last the ConfigMap ``policy`` (anything but ``enabled``
   disables default injection).

The subject is the pod under examination, or — when a Deployment has no pod at all, the case
where the webhook rejected every creation — the Deployment's pod template, so a workload that
never got a pod is still diagnosable. Counterfactuals (the same decision with one label changed)
tell which setting is *the* blocker, so each check fires only when its own cause is what keeps
the sidecar out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import MissingEvidence, Need
from istio_doctor.evidence.kube import (
    DATAPLANE_MODE_LABEL,
    INJECT_KEY,
    INJECTION_NS_LABEL,
    REV_KEY,
    SIDECAR_NAME,
    STATUS_ANNOTATION,
    Deployment,
    MutatingWebhook,
    MutatingWebhookConfiguration,
    Pod,
)
from istio_doctor.evidence.meshconfig import InjectorConfig
from istio_doctor.evidence.target import TargetKind
from istio_doctor.evidence.versions import parse_version

# --------------------------------------------------------------------------------------
# the injector's rules
# --------------------------------------------------------------------------------------

#: every Istio injector webhook name ends with this (legacy ``sidecar-injector.istio.io`` too)
INJECTOR_SUFFIX = "sidecar-injector.istio.io"
#: namespaces ``injectRequired`` skips whatever the labels say (``metav1.NamespaceSystem/Public``)
IGNORED_NAMESPACES = ("kube-system", "kube-public")
#: the ``auto.`` webhook (enableNamespacesByDefault) also leaves these out by namespaceSelector
AUTO_EXCLUDED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")
#: values ``injectRequired`` reads as "inject" (http://yaml.org/type/bool.html, lower-cased)
TRUE_VALUES = frozenset({"y", "yes", "true", "on"})
#: values whose author clearly meant "do not inject" (the injector reads them as false too)
FALSE_VALUES = frozenset({"n", "no", "false", "off", "0", "disabled", "disable", "never"})
#: Istio's own components never carry a sidecar
CONTROL_PLANE_APPS = frozenset({"istiod", "istio-cni-node", "ztunnel", "istio-operator", "istiod-remote", "istio-cni"})
CONTROL_PLANE_IMAGES = ("/pilot:", "/install-cni:", "/ztunnel:", "/operator:")

DOC_INJECTION = "https://istio.io/latest/docs/ops/common-problems/injection/"
DOC_SIDECAR_INJECTION = "https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/"

_WEBHOOK_CALL = re.compile(r'failed calling (?:admission )?webhook "(?P<hook>[^"]+)"')


def _is_true(v: str | None) -> bool:
    return v is not None and v.strip().lower() in TRUE_VALUES


@dataclass(frozen=True)
class Hook:
    """One Istio injector webhook and the configuration that holds it."""

    config: MutatingWebhookConfiguration
    hook: MutatingWebhook

    @property
    def revision(self) -> str:
        rev = self.config.labels.get(REV_KEY)
        if rev:
            return rev
        svc = self.hook.client_config.service
        if svc is not None and svc.name.startswith("istiod-"):
            return svc.name.removeprefix("istiod-")
        return "default"

    @property
    def tag(self) -> str | None:
        return self.config.labels.get("istio.io/tag")

    @property
    def label(self) -> str:
        return f"{self.config.name}/{self.hook.name}"

    @property
    def service(self) -> str:
        svc = self.hook.client_config.service
        return f"{svc.namespace}/{svc.name}" if svc is not None else (self.hook.client_config.url or "?")

    def excerpt(self) -> dict[str, Any]:
        """The webhook as `kubectl get mutatingwebhookconfiguration -o yaml` shows its selectors."""
        h = self.hook
        out: dict[str, Any] = {"name": h.name, "failurePolicy": h.failure_policy}
        if h.namespace_selector is not None:
            out["namespaceSelector"] = h.namespace_selector.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        if h.object_selector is not None:
            out["objectSelector"] = h.object_selector.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        svc = h.client_config.service
        if svc is not None:
            out["clientConfig"] = {"service": {"name": svc.name, "namespace": svc.namespace, "path": svc.path}}
        return {"mutatingwebhookconfiguration": self.config.name, "webhook": out}

    def selectable_revisions(self) -> set[str]:
        """``istio.io/rev`` values this webhook's selectors accept (``In``/matchLabels)."""
        out: set[str] = set()
        for sel in (self.hook.namespace_selector, self.hook.object_selector):
            if sel is None:
                continue
            if REV_KEY in sel.match_labels:
                out.add(sel.match_labels[REV_KEY])
            for e in sel.match_expressions:
                if e.key == REV_KEY and e.operator == "In":
                    out.update(e.values)
        return out


def injector_hooks(ctx: CheckContext) -> list[Hook]:
    """Every Istio sidecar-injector webhook that intercepts pod creation."""
    out: list[Hook] = []
    for cfg in ctx.ev.get(Need.WEBHOOKS):
        for h in cfg.webhooks:
            if h.name.endswith(INJECTOR_SUFFIX) and (h.intercepts_pod_create or not h.rules):
                out.append(Hook(cfg, h))
    return out


@dataclass(frozen=True)
class Subject:
    """What the injector decides about: a live pod, or a workload's pod template (no pod exists)."""

    pod: Pod
    live: bool
    desc: str
    #: ``deployment/NAME`` (what `kubectl rollout restart` takes), None for a bare pod
    workload: str | None
    deployment: Deployment | None = None

    @property
    def namespace(self) -> str:
        return self.pod.namespace or ""

    @property
    def name(self) -> str:
        return self.pod.name or (self.deployment.name if self.deployment else "")


def _deployments(ctx: CheckContext) -> list[Deployment]:
    return list(ctx.ev.get_or([], Need.DEPLOYMENTS, ctx.namespace))


def subject_of(ctx: CheckContext) -> Subject | None:
    """The pod under examination; or, with no pod, the target Deployment's pod template."""
    ns = ctx.namespace
    if ctx.pod_name:
        pod = ctx.pod()
        ow = pod.owner_workload
        wl = f"{ow.kind.lower()}/{ow.name}" if ow is not None and ow.kind in ("Deployment", "StatefulSet", "DaemonSet") else None
        dep = None
        if ow is not None and ow.kind == "Deployment":
            dep = next((d for d in _deployments(ctx) if d.name == ow.name), None)
        return Subject(pod, True, f"pod {ns}/{pod.name}", wl, dep)
    tgt = ctx.target
    cands: list[Deployment] = []
    if tgt.kind is TargetKind.DEPLOYMENT:
        cands = [d for d in ctx.ev.get(Need.DEPLOYMENTS, ns) if d.name == tgt.name]
    elif tgt.kind is TargetKind.SERVICE:
        svc = next((s for s in ctx.ev.get_or([], Need.SERVICES) if s.name == tgt.name and s.namespace == ns), None)
        if svc is not None:
            cands = [d for d in ctx.ev.get(Need.DEPLOYMENTS, ns) if svc.selects(d.template_pod())]
    if not cands:
        return None
    d = cands[0]
    return Subject(d.template_pod(), False, f"Deployment {ns}/{d.name} (pod template: no pod exists)", f"deployment/{d.name}", d)


def is_injected(pod: Pod) -> bool:
    """A real istio-proxy is present. ``image: auto`` is the gateway placeholder the injector
    replaces: still carrying it means injection did not happen."""
    sc = pod.sidecar
    return sc is not None and (sc.image or "") != "auto"


def is_control_plane(pod: Pod) -> bool:
    if pod.labels.get("app") in CONTROL_PLANE_APPS or pod.labels.get("k8s-app") in CONTROL_PLANE_APPS:
        return True
    return any(any(m in (c.image or "") for m in CONTROL_PLANE_IMAGES) for c in pod.spec.containers)


def namespace_labels(ctx: CheckContext, ns: str) -> dict[str, str]:
    obj = ctx.namespace_obj(ns)
    if obj is None:
        raise MissingEvidence(ctx.ev.key(Need.NAMESPACES), None)
    return dict(obj.labels)


@dataclass
class Decision:
    """The injector's decision for one set of labels/annotations."""

    hooks: list[Hook]
    inject: bool
    #: "" (injected) | no-webhook | hostnetwork | system-ns | explicit | never-selector | policy
    blocker: str
    explicit: str | None = None
    explicit_source: str | None = None  # "label" | "annotation"
    injector: InjectorConfig | None = None
    injector_known: bool = True
    revision: str | None = None
    detail: str = ""
    selector: dict[str, Any] = field(default_factory=dict)

    @property
    def revisions(self) -> list[str]:
        return sorted({h.revision for h in self.hooks})


def _injector_for(ctx: CheckContext, revision: str) -> tuple[InjectorConfig | None, bool]:
    cp = ctx.ev.get_or(None, Need.CONTROL_PLANE_CONFIGMAPS)
    if cp is None:
        return None, False
    inj = cp.injector_for(revision) or cp.injector_for(None)
    return inj, inj is not None


def decide(ctx: CheckContext, pod: Pod, ns_labels: dict[str, str], hooks: list[Hook], *,
           labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Decision:
    """Would the API server call an Istio webhook for this pod, and would istiod inject it?"""
    lbl = dict(pod.labels if labels is None else labels)
    ann = dict(pod.annotations if annotations is None else annotations)
    matching = [h for h in hooks if h.hook.matches(ns_labels, lbl)]
    explicit, source = (lbl[INJECT_KEY], "label") if INJECT_KEY in lbl else ((ann[INJECT_KEY], "annotation") if INJECT_KEY in ann else (None, None))
    if not matching:
        return Decision(matching, False, "no-webhook", explicit, source, detail="no sidecar-injector webhook selects it")
    rev = matching[0].revision
    inj, known = _injector_for(ctx, rev)
    d = Decision(matching, False, "", explicit, source, inj, known, rev)
    if pod.spec.host_network:
        d.blocker, d.detail = "hostnetwork", "injectRequired() never injects hostNetwork pods"
        return d
    if (pod.namespace or ctx.namespace) in IGNORED_NAMESPACES:
        d.blocker, d.detail = "system-ns", f"injectRequired() skips namespace {pod.namespace or ctx.namespace}"
        return d
    value = (explicit or "").lower()
    if value in TRUE_VALUES:
        d.inject, d.detail = True, f"{source} {INJECT_KEY}={explicit!r}"
        return d
    if value:
        d.blocker, d.detail = "explicit", f"{source} {INJECT_KEY}={explicit!r} is read as false"
        return d
    cfg = inj or InjectorConfig()
    for sel in cfg.never_inject_selector:
        if not sel.is_empty and sel.matches(lbl):
            d.blocker, d.detail = "never-selector", "the pod labels match neverInjectSelector"
            d.selector = sel.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            return d
    for sel in cfg.always_inject_selector:
        if not sel.is_empty and sel.matches(lbl):
            d.inject, d.detail = True, "the pod labels match alwaysInjectSelector"
            return d
    if cfg.enabled:
        d.inject, d.detail = True, "injector policy: enabled"
        return d
    d.blocker, d.detail = "policy", f"injector policy: {cfg.policy}"
    return d


@dataclass
class Situation:
    """Everything most checks read, computed once per check."""

    subject: Subject
    ns_labels: dict[str, str]
    hooks: list[Hook]
    decision: Decision

    @property
    def injected(self) -> bool:
        """Live pod: does it run a real istio-proxy? Template: would its pods be injected?"""
        return is_injected(self.subject.pod) if self.subject.live else self.decision.inject

    def counterfactual(self, ctx: CheckContext, *, ns_labels: dict[str, str] | None = None,
                       labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Decision:
        return decide(ctx, self.subject.pod, self.ns_labels if ns_labels is None else ns_labels, self.hooks,
                      labels=labels, annotations=annotations)


def situation(ctx: CheckContext) -> Situation | None:
    subj = subject_of(ctx)
    if subj is None:
        return None
    ns_labels = namespace_labels(ctx, subj.namespace or ctx.namespace)
    hooks = injector_hooks(ctx)
    return Situation(subj, ns_labels, hooks, decide(ctx, subj.pod, ns_labels, hooks))


_NO_SUBJECT = "no pod and no Deployment pod template to examine"


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


# --------------------------------------------------------------------------------------
# gates
# --------------------------------------------------------------------------------------

_SUBJECT_NEEDS = (Need.POD, Need.NAMESPACES, Need.WEBHOOKS)
_SUBJECT_OPTIONAL = (Need.DEPLOYMENTS, Need.CONTROL_PLANE_CONFIGMAPS, Need.SERVICES)


@check("gate.inj-subject", needs=(Need.POD,), optional=(Need.DEPLOYMENTS, Need.SERVICES))
def inj_subject(ctx: CheckContext, _: NoParams) -> CheckResult:
    """There is a pod, or a Deployment pod template, whose injection can be decided."""
    subj = subject_of(ctx)
    if subj is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    return CheckResult.passed(f"examining {subj.desc}")


@check("gate.inj-injected", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def inj_injected(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod runs a real istio-proxy (or, with no pod, its template would be injected)."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    ev = [_pod_meta_ref(ctx, s)]
    if s.injected:
        kind = "native sidecar" if s.subject.pod.is_native_sidecar else "sidecar container"
        what = f"runs istio-proxy as a {kind}" if s.subject.live else "would be injected by " + ", ".join(h.label for h in s.decision.hooks)
        return CheckResult.passed(f"{s.subject.desc} {what}", evidence=ev)
    return CheckResult.failed(f"{s.subject.desc} has no istio-proxy ({s.decision.detail})", evidence=ev)


# --------------------------------------------------------------------------------------
# why it is not injected
# --------------------------------------------------------------------------------------


@check("INJ-NS-LABEL", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def ns_label(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The namespace carries no label an injector webhook selects, so its pods run without sidecar."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    p, ns, nl = s.subject.pod, s.subject.namespace, s.ns_labels
    if s.injected:
        return CheckResult.not_applicable(f"{s.subject.desc} is injected")
    if nl.get(DATAPLANE_MODE_LABEL) == "ambient" or p.labels.get(DATAPLANE_MODE_LABEL) == "ambient":
        return CheckResult.not_applicable(f"namespace {ns} uses the ambient data plane: its pods are in the mesh without a sidecar")
    if is_control_plane(p):
        return CheckResult.not_applicable(f"{s.subject.desc} is an Istio control-plane component, which never carries a sidecar")
    if p.spec.host_network or ns in AUTO_EXCLUDED_NAMESPACES:
        return CheckResult.not_applicable(f"{s.subject.desc} is hostNetwork or in a system namespace (see INJ-HOSTNETWORK / INJ-SYSTEM-NS)")
    if not s.hooks:
        return CheckResult.not_applicable("no Istio sidecar-injector webhook is installed (see INJ-REV-MISSING)")
    if REV_KEY in nl or nl.get(INJECTION_NS_LABEL) == "enabled":
        return CheckResult.not_applicable(f"namespace {ns} carries {_fmt_labels(nl)}: the label is there, another check explains the missing sidecar")
    if INJECT_KEY in p.labels or INJECT_KEY in p.annotations or REV_KEY in p.labels:
        return CheckResult.not_applicable(f"{s.subject.desc} chooses injection itself ({INJECT_KEY} / {REV_KEY} on the pod); the pod-level checks decide")
    if s.decision.hooks:
        return CheckResult.passed(f"webhook {s.decision.hooks[0].label} selects {s.subject.desc} without a namespace label")
    # Which label would make a webhook select it: the default injector first, else a revision.
    options: list[tuple[str, dict[str, str]]] = [(f"{INJECTION_NS_LABEL}=enabled", {**{k: v for k, v in nl.items() if k != REV_KEY}, INJECTION_NS_LABEL: "enabled"})]
    for rev in sorted({r for h in s.hooks for r in h.selectable_revisions()}):
        options.append((f"{REV_KEY}={rev}", {**{k: v for k, v in nl.items() if k != INJECTION_NS_LABEL}, REV_KEY: rev}))
    chosen = next(((lbl, new) for lbl, new in options if s.counterfactual(ctx, ns_labels=new).inject), None)
    current = nl.get(INJECTION_NS_LABEL)
    if current == "disabled":
        why = f"namespace {ns} is labelled {INJECTION_NS_LABEL}=disabled"
    elif current is not None:
        why = f"namespace {ns} is labelled {INJECTION_NS_LABEL}={current}, a value no webhook matches (the namespace webhook needs exactly 'enabled')"
    else:
        why = f"namespace {ns} has neither {INJECTION_NS_LABEL}=enabled nor {REV_KEY}=<revision>"
    who = "its pods are" if not s.subject.live else f"pod {p.name} is"
    summary = f"{why}, so no sidecar-injector webhook is called and {who} created without istio-proxy (outside the mesh)"
    steps: list[FixStep] = []
    if chosen is not None:
        remove = f" {REV_KEY}-" if chosen[0].startswith(INJECTION_NS_LABEL) and REV_KEY in nl else (f" {INJECTION_NS_LABEL}-" if INJECTION_NS_LABEL in nl and chosen[0].startswith(REV_KEY) else "")
        steps.append(FixStep(description="Label the namespace for injection (if it should be in the mesh)",
                             command=f"kubectl label namespace {ns} {chosen[0]} --overwrite{remove}"))
    else:
        steps.append(FixStep(description="Label the namespace for injection (if it should be in the mesh)",
                             command=f"kubectl label namespace {ns} {INJECTION_NS_LABEL}=enabled --overwrite"))
    steps.append(_restart_step(s))
    return CheckResult.failed(
        summary,
        evidence=[_ns_ref(ctx, ns, nl), _pod_meta_ref(ctx, s), _hooks_ref(ctx, s.hooks[:4], "the injector webhooks and the labels they select")],
        fix=Fix(summary="If this workload belongs in the mesh, label its namespace for injection and restart it; "
                        "if it is deliberately outside, nothing is wrong.", steps=steps, ordered=True),
        resources=[f"Namespace {ns}"],
    )


@check("INJ-POD-PREDATES", needs=_SUBJECT_NEEDS, optional=(*_SUBJECT_OPTIONAL, Need.CONTROL_PLANE_PODS, Need.CONTROL_PLANE_ENDPOINTSLICES))
def pod_predates(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The injector would inject this pod today, but it has no sidecar: it was created before."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    if not s.subject.live:
        return CheckResult.not_applicable("no pod exists; new pods are what the injector decides on")
    p = s.subject.pod
    if is_injected(p):
        return CheckResult.not_applicable(f"pod {p.name} runs istio-proxy")
    if p.sidecar is not None:  # image: auto, never replaced
        return CheckResult.not_applicable(f"pod {p.name} still has the image: auto placeholder (see INJ-GATEWAY-IMAGE-AUTO)")
    if STATUS_ANNOTATION in p.annotations:
        return CheckResult.not_applicable(f"pod {p.name} carries {STATUS_ANNOTATION} but no istio-proxy: it was edited after injection")
    if not s.decision.inject:
        return CheckResult.passed(f"the injector would not inject pod {p.name} today either ({s.decision.detail})")
    hook = s.decision.hooks[0]
    created = p.metadata.creation_timestamp
    hook_created = hook.config.metadata.creation_timestamp
    when = ""
    conf = 0.85
    if created is not None and hook_created is not None and created < hook_created:
        when = f"; it was created at {created.isoformat()}, before {hook.config.name} ({hook_created.isoformat()})"
        conf = 0.92
    if not s.decision.injector_known:
        conf = min(conf, 0.7)
    return CheckResult.failed(
        f"pod {p.name} has no istio-proxy and no {STATUS_ANNOTATION} annotation, yet webhook {hook.label} selects it now "
        f"({_fmt_labels(s.ns_labels)} on namespace {s.subject.namespace}; {s.decision.detail}): "
        f"the pod was created before injection was enabled for it{when}",
        evidence=[_pod_meta_ref(ctx, s, f"pod {p.name}: no istio-proxy, no {STATUS_ANNOTATION}"),
                  _ns_ref(ctx, s.subject.namespace, s.ns_labels),
                  _hooks_ref(ctx, [hook], "the webhook that selects the pod today")],
        fix=Fix(summary="Restart the workload: injection happens only when a pod is created.", steps=[_restart_step(s)]),
        confidence=conf,
        resources=[f"Pod {s.subject.namespace}/{p.name}"] + ([s.subject.workload] if s.subject.workload else []),
    )


@check("INJ-LABEL-PRECEDENCE", needs=_SUBJECT_NEEDS, optional=(*_SUBJECT_OPTIONAL, Need.ANALYZE))
def label_precedence(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Both istio-injection and istio.io/rev are on the namespace; istio-injection wins."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    nl, ns = s.ns_labels, s.subject.namespace
    if not (INJECTION_NS_LABEL in nl and REV_KEY in nl):
        return CheckResult.not_applicable(f"namespace {ns} does not carry both {INJECTION_NS_LABEL} and {REV_KEY}")
    want = nl[REV_KEY]
    without = {k: v for k, v in nl.items() if k != INJECTION_NS_LABEL}
    alt = s.counterfactual(ctx, ns_labels=without)
    pod = s.subject.pod
    if s.injected:
        got = pod.revision if s.subject.live else s.decision.revision
        if got in (want, None) or not alt.inject:
            return CheckResult.passed(f"namespace {ns} has both labels but {s.subject.desc} is injected by revision {got or want}")
        outcome = f"{s.subject.desc} was injected by revision {got} instead of {want}"
    else:
        if not alt.inject:
            return CheckResult.passed(f"namespace {ns} has both labels, but removing {INJECTION_NS_LABEL} would not inject {s.subject.desc} either ({alt.detail})")
        outcome = (f"{INJECTION_NS_LABEL}={nl[INJECTION_NS_LABEL]} blocks every revision, so {s.subject.desc} has no istio-proxy"
                   if nl[INJECTION_NS_LABEL] != "enabled" else f"{s.subject.desc} has no istio-proxy ({s.decision.detail})")
    analyze = [m for m in ctx.ev.get_or([], Need.ANALYZE, ns) if getattr(m, "code", "") == "IST0123"]
    observed = [f"istioctl analyze IST0123 on namespace {ns}"] if analyze else []
    return CheckResult.failed(
        f"namespace {ns} carries both {INJECTION_NS_LABEL}={nl[INJECTION_NS_LABEL]} and {REV_KEY}={want}; the revision webhooks "
        f"require {INJECTION_NS_LABEL} DoesNotExist, so {INJECTION_NS_LABEL} wins: {outcome}",
        evidence=[_ns_ref(ctx, ns, nl),
                  _hooks_ref(ctx, [h for h in s.hooks if want in h.selectable_revisions()][:2] or s.hooks[:2],
                             f"the {want} webhook's namespaceSelector excludes namespaces with {INJECTION_NS_LABEL}")],
        fix=Fix(summary=f"Keep exactly one injection label: remove {INJECTION_NS_LABEL} to use revision {want}, then restart.",
                steps=[FixStep(description=f"Remove {INJECTION_NS_LABEL} so {REV_KEY}={want} selects the revision",
                               command=f"kubectl label namespace {ns} {INJECTION_NS_LABEL}-"), _restart_step(s)], ordered=True),
        observed=observed,
        resources=[f"Namespace {ns}"],
    )


@check("INJ-REV-MISSING", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def rev_missing(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The revision the namespace/pod asks for has no injector webhook (or no default injector exists)."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    if s.injected:
        return CheckResult.not_applicable(f"{s.subject.desc} is injected")
    nl, ns, p = s.ns_labels, s.subject.namespace, s.subject.pod
    if s.decision.hooks:
        return CheckResult.passed(f"webhook {s.decision.hooks[0].label} (revision {s.decision.hooks[0].revision}) selects {s.subject.desc}")
    if p.labels.get(INJECT_KEY, "").lower() in FALSE_VALUES and INJECT_KEY in p.labels:
        return CheckResult.not_applicable(f"{s.subject.desc} opts out with label {INJECT_KEY}={p.labels[INJECT_KEY]}")
    available = sorted({r for h in s.hooks for r in h.selectable_revisions()})
    tags = sorted({f"{h.tag}->{h.revision}" for h in s.hooks if h.tag})
    have_default = any(h.hook.name in (f"namespace.{INJECTOR_SUFFIX}", INJECTOR_SUFFIX) for h in s.hooks)
    inventory = (f"installed revisions/tags selectable by {REV_KEY}: {', '.join(available) or 'none'}"
                 + (f" (tags {', '.join(tags)})" if tags else "")
                 + ("" if have_default else f"; no webhook handles {INJECTION_NS_LABEL}=enabled"))
    if INJECTION_NS_LABEL in nl:
        if nl[INJECTION_NS_LABEL] != "enabled":
            return CheckResult.not_applicable(f"namespace {ns} is labelled {INJECTION_NS_LABEL}={nl[INJECTION_NS_LABEL]}")
        if REV_KEY in nl:
            requested = f"{INJECTION_NS_LABEL}=enabled (which overrides {REV_KEY}={nl[REV_KEY]})"
        else:
            requested = f"{INJECTION_NS_LABEL}=enabled"
        where = f"namespace {ns}"
    elif REV_KEY in nl:
        requested, where = f"{REV_KEY}={nl[REV_KEY]}", f"namespace {ns}"
    elif REV_KEY in p.labels:
        requested, where = f"{REV_KEY}={p.labels[REV_KEY]}", s.subject.desc
    else:
        return CheckResult.not_applicable(f"neither namespace {ns} nor {s.subject.desc} asks for a revision (see INJ-NS-LABEL)")
    if not s.hooks:
        summary = f"{where} asks for injection with {requested}, but no Istio sidecar-injector webhook is installed at all"
        steps = [FixStep(description="Look for the injector webhook configurations", command="kubectl get mutatingwebhookconfigurations -l app=sidecar-injector"),
                 FixStep(description="Reinstall or repair the control plane so its webhook exists", command="istioctl install --dry-run  # compare with your installation profile")]
    else:
        summary = f"{where} asks for injection with {requested}, but no sidecar-injector webhook selects it ({inventory})"
        target_rev = next((r for r in available if r != "default"), available[0] if available else "<revision>")
        if REV_KEY in requested.split(" ")[0]:
            steps = [FixStep(description="Point the label at an installed revision or tag",
                             command=(f"kubectl label namespace {ns} {REV_KEY}={target_rev} --overwrite" if where.startswith("namespace")
                                      else f"kubectl patch {s.subject.workload or 'pod/' + p.name} -n {ns} --type merge -p "
                                           f"'{{\"spec\":{{\"template\":{{\"metadata\":{{\"labels\":{{\"istio.io/rev\":\"{target_rev}\"}}}}}}}}}}'")),
                     FixStep(description="Or create a tag with the requested name for an installed revision",
                             command=f"istioctl tag set {requested.split('=')[1].split(' ')[0]} --revision {target_rev}")]
        else:
            steps = [FixStep(description="Make the revisioned control plane handle istio-injection=enabled",
                             command=f"istioctl tag set default --revision {target_rev}"),
                     FixStep(description="Or label the namespace for the installed revision instead",
                             command=f"kubectl label namespace {ns} {INJECTION_NS_LABEL}- {REV_KEY}={target_rev} --overwrite")]
    steps.append(_restart_step(s))
    return CheckResult.failed(
        summary,
        evidence=[_ns_ref(ctx, ns, nl), _pod_meta_ref(ctx, s), _hooks_ref(ctx, s.hooks[:6], "every Istio injector webhook installed")],
        fix=Fix(summary="Label for a revision that exists (or create the tag), then restart the workload.", steps=steps, ordered=True),
        resources=[f"Namespace {ns}"],
    )


@check("INJ-POD-OPTOUT", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def pod_optout(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod template says sidecar.istio.io/inject: "false" (label over annotation) where injection is on."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    d = s.decision
    if d.explicit is None or d.explicit.strip().lower() not in FALSE_VALUES:
        return CheckResult.not_applicable(f"{s.subject.desc} does not opt out of injection")
    if is_control_plane(s.subject.pod):
        return CheckResult.not_applicable(f"{s.subject.desc} is an Istio control-plane component: its opt-out is by design")
    if s.injected:
        return CheckResult.passed(f"{s.subject.desc} is injected despite {_explicit_pretty(d)}")
    p = s.subject.pod
    without_l = {k: v for k, v in p.labels.items() if k != INJECT_KEY}
    without_a = {k: v for k, v in p.annotations.items() if k != INJECT_KEY}
    alt = s.counterfactual(ctx, labels=without_l, annotations=without_a)
    if not alt.inject:
        return CheckResult.passed(f"{s.subject.desc} opts out with {_explicit_pretty(d)}, but it would not be injected without it either ({alt.detail})")
    other = ""
    if d.explicit_source == "label" and INJECT_KEY in p.annotations:
        other = f" (the label overrides the annotation {INJECT_KEY}: {p.annotations[INJECT_KEY]!r})"
    return CheckResult.failed(
        f"{s.subject.desc} carries {_explicit_pretty(d)}{other}: webhook {alt.hooks[0].label} would inject it otherwise "
        f"({_fmt_labels(s.ns_labels)} on namespace {s.subject.namespace}), so it runs without istio-proxy",
        evidence=[_pod_meta_ref(ctx, s, f"the opt-out {d.explicit_source}"), _ns_ref(ctx, s.subject.namespace, s.ns_labels)],
        fix=Fix(summary="If the workload belongs in the mesh, remove the opt-out from the pod template (or set it to \"true\") and restart.",
                steps=[_template_patch_step(s, None if d.explicit_source == "label" else "true", "Remove the opt-out label" if d.explicit_source == "label" else "Set the inject label to true (the label overrides the annotation)"),
                       _restart_step(s)] if s.subject.workload else [_template_patch_step(s, "true", "Set the inject label to true")],
                ordered=True),
        resources=[f"{'Pod' if s.subject.live else 'Deployment'} {s.subject.namespace}/{s.subject.name}"],
    )


@check("INJ-ANNOTATION-OPTIN", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def annotation_optin(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Opt-in via the annotation in an unlabelled namespace: the object webhook selects only the label."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    p = s.subject.pod
    ann = p.annotations.get(INJECT_KEY)
    if not _is_true(ann) or INJECT_KEY in p.labels:
        return CheckResult.not_applicable(f"{s.subject.desc} does not opt in through the {INJECT_KEY} annotation alone")
    if s.injected or s.decision.hooks:
        return CheckResult.passed(f"a webhook selects {s.subject.desc}; the annotation is read by the injector")
    alt = s.counterfactual(ctx, labels={**p.labels, INJECT_KEY: "true"})
    if not alt.inject:
        return CheckResult.passed(f"even the label would not get {s.subject.desc} injected ({alt.detail})")
    return CheckResult.failed(
        f"{s.subject.desc} opts in with the annotation {INJECT_KEY}: {ann!r}, but namespace {s.subject.namespace} has {_fmt_labels(s.ns_labels)} "
        f"and webhook {alt.hooks[0].label} selects only the pod *label* {INJECT_KEY}=true, so the injector is never called",
        evidence=[_pod_meta_ref(ctx, s, "annotation present, label absent"),
                  _hooks_ref(ctx, alt.hooks[:1], "the object webhook's objectSelector matches the label, not the annotation")],
        fix=Fix(summary=f"Use the label {INJECT_KEY}: \"true\" on the pod template (the annotation is deprecated for opt-in) and restart.",
                steps=[_template_patch_step(s, "true", "Add the label to the pod template"), _restart_step(s)], ordered=True),
        resources=[f"{'Pod' if s.subject.live else 'Deployment'} {s.subject.namespace}/{s.subject.name}"],
    )


@check("INJ-ANNOTATION-MISPLACED", needs=(*_SUBJECT_NEEDS, Need.DEPLOYMENTS), optional=(Need.CONTROL_PLANE_CONFIGMAPS, Need.SERVICES))
def annotation_misplaced(ctx: CheckContext, _: NoParams) -> CheckResult:
    """sidecar.istio.io/inject set on the Deployment's own metadata, which the injector never sees."""
    ctx.ev.get(Need.DEPLOYMENTS, ctx.namespace)  # without it "no owning Deployment" would be a guess
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    dep = s.subject.deployment
    if dep is None:
        return CheckResult.not_applicable(f"{s.subject.desc} is not owned by a Deployment")
    where, value = ("label", dep.labels[INJECT_KEY]) if INJECT_KEY in dep.labels else (
        ("annotation", dep.annotations[INJECT_KEY]) if INJECT_KEY in dep.annotations else (None, None))
    if value is None:
        return CheckResult.not_applicable(f"Deployment {dep.name} has no {INJECT_KEY} on its own metadata")
    tpl = dep.template_pod()
    if INJECT_KEY in tpl.labels or INJECT_KEY in tpl.annotations:
        return CheckResult.passed(f"the pod template of Deployment {dep.name} sets {INJECT_KEY} itself")
    p = s.subject.pod
    alt = s.counterfactual(ctx, labels={**p.labels, INJECT_KEY: value})
    if alt.inject == s.injected:
        return CheckResult.passed(f"moving {INJECT_KEY}={value!r} to the pod template would not change injection of {s.subject.desc}")
    effect = "has no istio-proxy" if not s.injected else "is injected anyway"
    md = {"metadata": {"name": dep.name, ("labels" if where == "label" else "annotations"): {INJECT_KEY: value}},
          "spec": {"template": {"metadata": {"labels": {k: v for k, v in sorted(tpl.labels.items())},
                                             **({"annotations": dict(sorted(tpl.annotations.items()))} if tpl.annotations else {})}}}}
    return CheckResult.failed(
        f"Deployment {s.subject.namespace}/{dep.name} sets {INJECT_KEY}: {value!r} as a {where} on its own .metadata, not on "
        f".spec.template.metadata; the injector only reads the pod, so {s.subject.desc} {effect}",
        evidence=[ctx.ref(Need.DEPLOYMENTS, md, "Deployment metadata vs pod template metadata")],
        fix=Fix(summary="Move the setting to .spec.template.metadata.labels (and drop it from the Deployment metadata), then let the rollout recreate the pods.",
                steps=[FixStep(description="Set it on the pod template (this also triggers a rollout)",
                               command=(f"kubectl patch deployment/{dep.name} -n {s.subject.namespace} --type merge -p "
                                        f"'{{\"spec\":{{\"template\":{{\"metadata\":{{\"labels\":{{\"sidecar.istio.io/inject\":\"{value}\"}}}}}}}}}}'")),
                       FixStep(description="Remove the ignored one from the Deployment metadata",
                               command=f"kubectl {'label' if where == 'label' else 'annotate'} deployment/{dep.name} -n {s.subject.namespace} {INJECT_KEY}-")],
                ordered=True),
        resources=[f"Deployment {s.subject.namespace}/{dep.name}"],
    )


@check("INJ-INVALID-VALUE", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def invalid_value(ctx: CheckContext, _: NoParams) -> CheckResult:
    """sidecar.istio.io/inject has a value other than "true"/"false" that keeps the sidecar out."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    d, p = s.decision, s.subject.pod
    raw = d.explicit
    if raw is None or raw in ("true", "false") or raw.strip().lower() in FALSE_VALUES:
        return CheckResult.not_applicable(f"{s.subject.desc} has no unusual {INJECT_KEY} value")
    if s.injected:
        return CheckResult.passed(f"{s.subject.desc} is injected with {_explicit_pretty(d)}")
    labels = dict(p.labels)
    ann = dict(p.annotations)
    if d.explicit_source == "label":
        labels[INJECT_KEY] = "true"
    else:
        ann[INJECT_KEY] = "true"
    alt = s.counterfactual(ctx, labels=labels, annotations=ann)
    if not alt.inject and d.explicit_source == "annotation":
        alt = s.counterfactual(ctx, labels={**p.labels, INJECT_KEY: "true"}, annotations=ann)
    if not alt.inject:
        return CheckResult.passed(f"\"true\" would not get {s.subject.desc} injected either ({alt.detail})")
    if _is_true(raw):
        why = (f"the object webhook's objectSelector needs exactly {INJECT_KEY}=true, and {raw!r} is a different string, "
               "so the injector is never called")
    else:
        why = f"injectRequired() reads any value other than y/yes/true/on as false, so {raw!r} disables injection"
    return CheckResult.failed(
        f"{s.subject.desc} carries {_explicit_pretty(d)}: {why}; with \"true\" it would be injected by {alt.hooks[0].label}",
        evidence=[_pod_meta_ref(ctx, s, f"the {d.explicit_source} value"), _ns_ref(ctx, s.subject.namespace, s.ns_labels)],
        fix=Fix(summary=f"Use exactly \"true\" or \"false\" for {INJECT_KEY} (as a pod-template label), then restart.",
                steps=[_template_patch_step(s, "true", "Set the label to \"true\""), _restart_step(s)], ordered=True),
        confidence=0.9,
        resources=[f"{'Pod' if s.subject.live else 'Deployment'} {s.subject.namespace}/{s.subject.name}"],
    )


def _wants_injection(s: Situation) -> bool:
    """Someone asked for a sidecar: a webhook selects the pod, or namespace/pod opt in."""
    nl, p = s.ns_labels, s.subject.pod
    return bool(s.decision.hooks) or nl.get(INJECTION_NS_LABEL) == "enabled" or REV_KEY in nl or _is_true(
        p.labels.get(INJECT_KEY)) or _is_true(p.annotations.get(INJECT_KEY)) or REV_KEY in p.labels


@check("INJ-HOSTNETWORK", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def host_network(ctx: CheckContext, _: NoParams) -> CheckResult:
    """hostNetwork pods are never injected, even where injection is asked for."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    p = s.subject.pod
    if not p.spec.host_network:
        return CheckResult.not_applicable(f"{s.subject.desc} does not use hostNetwork")
    if s.injected:
        return CheckResult.passed(f"{s.subject.desc} uses hostNetwork and carries istio-proxy (injected by hand)")
    if not _wants_injection(s):
        return CheckResult.not_applicable(f"{s.subject.desc} uses hostNetwork and nothing asks for its injection")
    return CheckResult.failed(
        f"{s.subject.desc} sets hostNetwork: true; injectRequired() never injects hostNetwork pods (iptables would rewrite the node's "
        f"routing), so it has no istio-proxy although {_fmt_labels(s.ns_labels)} on namespace {s.subject.namespace}"
        + (f" and webhook {s.decision.hooks[0].label} selects it" if s.decision.hooks else ""),
        evidence=[_pod_meta_ref(ctx, s, "spec.hostNetwork"), _ns_ref(ctx, s.subject.namespace, s.ns_labels)],
        fix=Fix(summary="Drop hostNetwork if the workload must be in the mesh; otherwise accept it is outside "
                        "(and let mesh servers accept plaintext from it, e.g. PERMISSIVE).",
                steps=[FixStep(description="Remove hostNetwork from the pod template",
                               command=(f"kubectl patch {s.subject.workload} -n {s.subject.namespace} --type json -p "
                                        "'[{\"op\":\"remove\",\"path\":\"/spec/template/spec/hostNetwork\"}]'") if s.subject.workload
                               else None), _restart_step(s)]),
        confidence=0.9,
        resources=[f"{'Pod' if s.subject.live else 'Deployment'} {s.subject.namespace}/{s.subject.name}"],
    )


@check("INJ-SYSTEM-NS", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def system_ns(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod lives in a namespace the injector always skips."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    ns = s.subject.namespace
    if ns not in AUTO_EXCLUDED_NAMESPACES:
        return CheckResult.not_applicable(f"namespace {ns} is not one the injector skips")
    if s.injected:
        return CheckResult.passed(f"{s.subject.desc} carries istio-proxy")
    if not _wants_injection(s) or is_control_plane(s.subject.pod):
        return CheckResult.not_applicable(f"nothing asks for injection of {s.subject.desc} (system pods are deliberately outside the mesh)")
    if ns in IGNORED_NAMESPACES:
        why = f"injectRequired() skips {ns} whatever the labels say"
    else:
        why = f"the injector webhooks' namespaceSelector excludes {ns} (kubernetes.io/metadata.name NotIn)"
    return CheckResult.failed(
        f"{s.subject.desc} asks for a sidecar ({_fmt_labels(s.ns_labels)} on the namespace"
        + (f", {INJECT_KEY}={s.subject.pod.labels.get(INJECT_KEY) or s.subject.pod.annotations.get(INJECT_KEY)} on the pod" if s.decision.explicit else "")
        + f"), but {why}",
        evidence=[_ns_ref(ctx, ns, s.ns_labels), _pod_meta_ref(ctx, s)],
        fix=Fix(summary=f"Run the workload in an application namespace; {ns} is never injected.",
                steps=[FixStep(description="Create an application namespace labelled for injection and deploy the workload there",
                               command="kubectl create namespace <app-namespace> && kubectl label namespace <app-namespace> istio-injection=enabled")]),
        confidence=0.9,
        resources=[f"Namespace {ns}"],
    )


@check("INJ-POLICY-DISABLED", needs=(*_SUBJECT_NEEDS, Need.CONTROL_PLANE_CONFIGMAPS), optional=(Need.DEPLOYMENTS, Need.SERVICES))
def policy_disabled(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The injector ConfigMap's policy (or neverInjectSelector) refuses pods without an explicit opt-in."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    d = s.decision
    if s.injected:
        return CheckResult.not_applicable(f"{s.subject.desc} is injected")
    if not d.hooks:
        return CheckResult.not_applicable("no webhook selects the pod, so the injector policy is never consulted")
    cp = ctx.ev.get(Need.CONTROL_PLANE_CONFIGMAPS)
    inj = cp.injector_for(d.revision) or cp.injector_for(None)
    if inj is None:
        return CheckResult.unknown(f"no istio-sidecar-injector ConfigMap for revision {d.revision} in {ctx.conn.istio_namespace}",
                                   reason=f"the injector ConfigMap of revision {d.revision} was not found")
    if d.blocker not in ("never-selector", "policy"):
        return CheckResult.passed(f"injector policy {inj.policy} does not block {s.subject.desc} ({d.detail or 'injected'})")
    cm = "istio-sidecar-injector" + ("" if d.revision in (None, "default") else f"-{d.revision}")
    ns = ctx.conn.istio_namespace
    if d.blocker == "never-selector":
        excerpt = {"neverInjectSelector": [d.selector]}
        summary = (f"{s.subject.desc} matches neverInjectSelector {d.selector} in ConfigMap {ns}/{cm}, "
                   f"so the injector refuses it although webhook {d.hooks[0].label} calls it")
        step = FixStep(description="Remove the selector from neverInjectSelector (mesh config values sidecarInjectorWebhook.neverInjectSelector), "
                                   "or opt the pod in explicitly: an explicit label overrides the selectors",
                       command=f"kubectl -n {ns} edit configmap {cm}")
    else:
        excerpt = {"policy": inj.policy}
        summary = (f"ConfigMap {ns}/{cm} sets policy: {inj.policy}: the injector only injects pods that opt in with "
                   f"{INJECT_KEY}=true, and {s.subject.desc} does not, so it has no istio-proxy "
                   f"even though webhook {d.hooks[0].label} calls the injector")
        step = FixStep(description="Turn default injection back on (Helm/istioctl value global.proxy.autoInject=enabled)",
                       command="istioctl install --set values.global.proxy.autoInject=enabled"
                               + ("" if d.revision in (None, "default") else f" --set revision={d.revision}"))
    return CheckResult.failed(
        summary,
        evidence=[ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, excerpt, f"ConfigMap {cm} data.config"), _pod_meta_ref(ctx, s)],
        fix=Fix(summary="Enable default injection in the injector config, or opt this workload in with the label, then restart.",
                steps=[step, _template_patch_step(s, "true", "Or opt this workload in explicitly"), _restart_step(s)]),
        resources=[f"ConfigMap {ns}/{cm}"],
    )


# --------------------------------------------------------------------------------------
# the webhook itself
# --------------------------------------------------------------------------------------


def _istiod_state(ctx: CheckContext, hooks: list[Hook]) -> tuple[bool | None, str]:
    """Is the injector service behind the webhooks serving? (None when not gathered)."""
    names = {h.hook.client_config.service.name for h in hooks if h.hook.client_config.service is not None} or {"istiod"}
    slices = ctx.ev.get_or(None, Need.CONTROL_PLANE_ENDPOINTSLICES)
    if slices is not None:
        mine = [sl for sl in slices if sl.service_name in names]
        if mine:
            ready = [a for sl in mine for a in sl.ready_addresses]
            return bool(ready), f"service {'/'.join(sorted(names))}: {len(ready)} ready endpoint(s)"
    pods = ctx.ev.get_or(None, Need.CONTROL_PLANE_PODS)
    if pods is not None:
        ist = [p for p in pods if p.labels.get("app") == "istiod"]
        if ist:
            ready = [p for p in ist if p.ready]
            return bool(ready), f"istiod pods ready: {len(ready)}/{len(ist)}"
    return None, ""


def _webhook_failure_kind(msg: str) -> tuple[str, str]:
    m = msg.lower()
    if "no endpoints available" in m:
        return "no-endpoints", "istiod has no ready endpoint to serve the webhook"
    if "x509" in m or "certificate" in m:
        return "x509", "the API server does not trust istiod's webhook certificate (caBundle out of date or wrong service name)"
    if "deadline exceeded" in m or "timeout" in m or "i/o timeout" in m:
        return "timeout", "the API server cannot reach istiod on port 15017 in time (firewall / private cluster control plane, or istiod overloaded)"
    if "connection refused" in m:
        return "refused", "istiod refuses the connection (not listening yet, or wrong targetPort)"
    return "error", "istiod answered the injection request with an error (look at its log)"


def _upstream_workloads(ctx: CheckContext, rss: list[Any]) -> dict[str, str]:
    """ReplicaSets behind the Services the examined pod's failing requests went to.

    A client sees the outage as "503 UH no healthy upstream": the pods it calls cannot be
    (re)created. Returns ReplicaSet name -> the Service it backs."""
    from istio_doctor.evidence.accesslog import is_failure

    pl = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name) if ctx.pod_name else None
    if pl is None:
        return {}
    out: dict[str, str] = {}
    services = ctx.ev.get_or([], Need.SERVICES)
    for e in pl.entries:
        us = e.upstream_service
        if e.direction != "outbound" or us is None or not us.fqdn or not is_failure(e):
            continue
        parts = us.fqdn.split(".")
        if len(parts) < 2 or parts[1] != ctx.namespace:
            continue  # events are gathered for the examined namespace only
        svc = next((x for x in services if x.name == parts[0] and x.namespace == parts[1]), None)
        if svc is None or not svc.spec.selector:
            continue
        for rs in rss:
            labels = rs.spec.template.metadata.labels
            if all(labels.get(k) == v for k, v in svc.spec.selector.items()):
                out.setdefault(rs.name, f"Service {svc.namespace}/{svc.name}")
    return out


@check("INJ-WEBHOOK-DOWN", needs=(Need.EVENTS,),
       optional=(Need.POD, Need.REPLICASETS, Need.DEPLOYMENTS, Need.WEBHOOKS, Need.CONTROL_PLANE_PODS, Need.CONTROL_PLANE_ENDPOINTSLICES,
                 Need.PROXY_LOGS, Need.SERVICES))
def webhook_down(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Pod creation fails because the API server cannot call the sidecar-injector webhook."""
    ns = ctx.namespace
    events = list(ctx.ev.get(Need.EVENTS, ns))
    rss = list(ctx.ev.get_or([], Need.REPLICASETS, ns))
    # Which controllers belong to the subject: the pod's ReplicaSet, or the target Deployment's.
    owners: set[str] = set()
    deploy: str | None = None
    pod = ctx.ev.get_or(None, Need.POD, ns, ctx.pod_name) if ctx.pod_name else None
    if pod is None and ctx.pod_name:
        pod = next((p for p in ctx.ev.get_or([], Need.PODS, ns) if p.name == ctx.pod_name), None)
    if pod is not None:
        ref = pod.controller
        if ref is not None:
            owners.add(ref.name)
        ow = pod.owner_workload
        deploy = ow.name if ow is not None and ow.kind == "Deployment" else None
    elif ctx.target.kind is TargetKind.DEPLOYMENT:
        deploy = ctx.target.name
    if deploy:
        owners |= {rs.name for rs in rss if any(o.kind == "Deployment" and o.name == deploy for o in rs.metadata.owner_references)}
    scope_all = not owners and not deploy
    # The pods this pod calls may be the ones that cannot be created (it sees 503 UH).
    upstream = _upstream_workloads(ctx, rss)
    owners |= set(upstream)

    def ours(kind: str | None, name: str | None) -> bool:
        if scope_all:
            return True
        return bool(name) and (name in owners or (deploy is not None and kind in ("ReplicaSet", "Deployment") and (name == deploy or name.startswith(deploy + "-"))))

    hits: list[tuple[str, str, int, str]] = []  # (object, webhook, count, message)
    for e in events:
        msg = e.message or ""
        m = _WEBHOOK_CALL.search(msg)
        if m is None or not m.group("hook").endswith(INJECTOR_SUFFIX):
            continue
        obj = e.involved_object
        if not ours(obj.kind, obj.name):
            continue
        hits.append((f"{(obj.kind or '').lower()}/{obj.name}", m.group("hook"), e.count or 1, msg))
    for rs in rss:
        c = rs.replica_failure
        if c is None or not c.message or not ours("ReplicaSet", rs.name):
            continue
        m = _WEBHOOK_CALL.search(c.message)
        if m and m.group("hook").endswith(INJECTOR_SUFFIX) and not any(h[0] == f"replicaset/{rs.name}" for h in hits):
            hits.append((f"replicaset/{rs.name}", m.group("hook"), 1, c.message))
    if not hits:
        return CheckResult.passed(f"no FailedCreate event or ReplicaFailure in {ns} names a sidecar-injector webhook")
    hooks = [h for h in (injector_hooks(ctx) if ctx.ev.has(Need.WEBHOOKS) else []) if h.hook.name == hits[0][1]]
    serving, state = _istiod_state(ctx, hooks)
    kind, why = _webhook_failure_kind(hits[0][3])
    total = sum(h[2] for h in hits)
    behind = upstream.get(hits[0][0].split("/", 1)[-1])
    summary = (f"{total} pod creation(s) of {hits[0][0]}" + (f" (behind {behind}, which this pod's failing requests go to)" if behind else "")
               + f" failed: the API server could not call webhook \"{hits[0][1]}\" ({why})" + (f"; {state}" if state else ""))
    conf = 0.9
    if serving is False and kind in ("no-endpoints", "timeout", "refused"):
        conf = 0.97
    elif serving is True and kind == "no-endpoints":
        conf = 0.75  # istiod is back: the events describe an outage that may be over
        summary += " (istiod has ready endpoints now: the failures may be from an earlier outage; a new rollout will tell)"
    cp_ns = ctx.conn.istio_namespace
    steps = [FixStep(description="See the failing creations", command=f"kubectl get events -n {ns} --field-selector reason=FailedCreate")]
    if kind in ("no-endpoints", "refused", "error"):
        steps += [FixStep(description="Bring istiod back: why are its pods not ready?", command=f"kubectl -n {cp_ns} get pods -l app=istiod -o wide"),
                  FixStep(description="Read its log", command=f"kubectl -n {cp_ns} logs deploy/istiod --tail=200")]
    elif kind == "timeout":
        steps += [FixStep(description="Check istiod is ready and has endpoints", command=f"kubectl -n {cp_ns} get endpointslices -l kubernetes.io/service-name=istiod"),
                  FixStep(description="On private clusters (GKE, EKS) allow the control plane to reach nodes on TCP 15017 (firewall rule / security group)")]
    else:
        steps += [FixStep(description="Compare the webhook caBundle with istiod's CA; restarting istiod re-patches it",
                          command=f"kubectl -n {cp_ns} rollout restart deploy/istiod")]
    steps.append(FixStep(description="Once the webhook answers, the ReplicaSet controller retries by itself; restart to be sure",
                         command=f"kubectl rollout restart deployment/{deploy} -n {ns}" if deploy else None))
    ev = [ctx.ref(Need.EVENTS, "\n".join(f"Warning  FailedCreate  {o}  (x{c})  {msg}" for o, _h, c, msg in hits[:4]),
                  "FailedCreate events naming the injector webhook")]
    if hooks:
        ev.append(_hooks_ref(ctx, hooks[:1], "the webhook the API server could not call"))
    if state:
        need = Need.CONTROL_PLANE_ENDPOINTSLICES if state.startswith("service") else Need.CONTROL_PLANE_PODS
        ev.append(ctx.ref(need, state, "the injector service now"))
    return CheckResult.failed(
        summary, evidence=ev,
        fix=Fix(summary="Make the injector webhook reachable again (istiod ready, port 15017 open, valid caBundle); the pods are then created.",
                steps=steps, ordered=True),
        confidence=conf,
        observed=[f"{c}× FailedCreate on {o}: failed calling webhook \"{h}\"" for o, h, c, _m in hits[:3]],
        resources=[o for o, *_ in hits[:3]],
    )


@check("INJ-WEBHOOK-FAILOPEN", needs=_SUBJECT_NEEDS,
       optional=(*_SUBJECT_OPTIONAL, Need.CONTROL_PLANE_PODS, Need.CONTROL_PLANE_ENDPOINTSLICES))
def webhook_failopen(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The injector webhook's failurePolicy is Ignore: pods are created without sidecar when it fails."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    relevant = s.decision.hooks or s.hooks
    ignore = [h for h in relevant if h.hook.failure_policy == "Ignore"]
    if not relevant:
        return CheckResult.not_applicable("no Istio sidecar-injector webhook")
    if not ignore:
        return CheckResult.passed(f"webhook failurePolicy is {relevant[0].hook.failure_policy} ({relevant[0].label})")
    if s.injected or not s.subject.live or not s.decision.inject or not any(h in ignore for h in s.decision.hooks):
        return CheckResult.passed(f"failurePolicy Ignore on {ignore[0].label} (latent: pods created while the webhook fails would silently "
                                  f"skip injection), but {s.subject.desc} is not such a pod")
    p = s.subject.pod
    if STATUS_ANNOTATION in p.annotations:
        return CheckResult.not_applicable(f"pod {p.name} was injected once ({STATUS_ANNOTATION} present)")
    serving, state = _istiod_state(ctx, ignore)
    conf = 0.9 if serving is False else 0.65
    now = f"; {state}" if state else ""
    return CheckResult.failed(
        f"webhook {ignore[0].label} has failurePolicy: Ignore and selects pod {p.name}, which has no istio-proxy: when the injector "
        f"could not be called the API server created the pod without a sidecar instead of failing{now}",
        evidence=[_hooks_ref(ctx, ignore[:2], "failurePolicy Ignore (the Istio charts set Fail)"),
                  _pod_meta_ref(ctx, s, f"pod {p.name}: no istio-proxy, no {STATUS_ANNOTATION}")]
        + ([ctx.ref(Need.CONTROL_PLANE_ENDPOINTSLICES if state.startswith("service") else Need.CONTROL_PLANE_PODS, state, "the injector service now")] if state else []),
        fix=Fix(summary="Restore failurePolicy: Fail (re-apply the Istio installation), make istiod healthy, then restart the workload.",
                steps=[FixStep(description="Set failurePolicy back to Fail on every Istio injector webhook",
                               command=(f"kubectl patch mutatingwebhookconfiguration {ignore[0].config.name} --type json -p "
                                        + "'[" + ",".join(f'{{"op":"replace","path":"/webhooks/{i}/failurePolicy","value":"Fail"}}'
                                                          for i, _h in enumerate(ignore[0].config.webhooks)) + "]'")),
                       _restart_step(s)], ordered=True),
        confidence=conf,
        # istiod failing now is the runtime side of "the webhook could not be called"
        observed=[f"injector webhook service not serving: {state}"] if serving is False else [],
        resources=[f"MutatingWebhookConfiguration {ignore[0].config.name}", f"Pod {s.subject.namespace}/{p.name}"],
    )


@check("INJ-MULTI-WEBHOOK", needs=_SUBJECT_NEEDS, optional=_SUBJECT_OPTIONAL)
def multi_webhook(ctx: CheckContext, _: NoParams) -> CheckResult:
    """More than one injector webhook configuration selects the pod (two revisions inject it)."""
    s = situation(ctx)
    if s is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    hooks = s.decision.hooks
    configs = list(dict.fromkeys(h.config.name for h in hooks))
    if len(configs) < 2:
        if not hooks:
            return CheckResult.not_applicable(f"no injector webhook selects {s.subject.desc}")
        return CheckResult.passed(f"exactly one injector webhook selects {s.subject.desc}: {hooks[0].label}")
    revs = sorted({h.revision for h in hooks})
    return CheckResult.failed(
        f"{len(configs)} injector webhook configurations select {s.subject.desc}: "
        + ", ".join(f"{h.label} (revision {h.revision}{', tag ' + h.tag if h.tag else ''})" for h in hooks)
        + f"; the API server calls each, so revisions {', '.join(revs)} both try to inject it",
        evidence=[_hooks_ref(ctx, hooks, "every webhook whose selectors match the pod"), _ns_ref(ctx, s.subject.namespace, s.ns_labels)],
        fix=Fix(summary="Make exactly one injector select the namespace: remove the stale webhook configuration or tag, or relabel the namespace.",
                steps=[FixStep(description="See which revisions and tags exist", command="istioctl tag list"),
                       FixStep(description="Remove the configuration that should no longer inject (check it first)",
                               command=f"kubectl delete mutatingwebhookconfiguration {configs[-1]}"),
                       _restart_step(s)], ordered=True),
        confidence=0.8,
        resources=[f"MutatingWebhookConfiguration {c}" for c in configs],
    )


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
