"""The injector's own decision, re-run on the evidence (no checks here): the injector webhooks
(``Hook``, ``injector_hooks``), the subject under examination (``Subject``: the pod, or a
Deployment's pod template), ``decide`` (webhook selectors, then istiod's ``injectRequired()`` rules)
and ``situation``, which the checks and gates share.

``decide`` follows ``injectRequired`` (``istio/istio@1.22.0:pkg/kube/inject/inject.go``):
hostNetwork pods and ``kube-system``/``kube-public`` are never injected; the pod's
``sidecar.istio.io/inject`` label beats the annotation (read from 1.12 only:
``istio/istio@1.11.8`` reads the annotation alone, ``#35729``); y/yes/true/on inject, any other
value does not; then ``neverInjectSelector``, then ``alwaysInjectSelector``; then the policy:
``enabled`` injects by default, ``disabled`` only on opt-in, and any other value never injects
(``default: // InjectionPolicyOff``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.evidence.bundle import MissingEvidence, Need
from istio_doctor.evidence.kube import (
    INJECT_KEY,
    REV_KEY,
    Deployment,
    MutatingWebhook,
    MutatingWebhookConfiguration,
    Pod,
)
from istio_doctor.evidence.meshconfig import InjectorConfig
from istio_doctor.evidence.target import TargetKind

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
    # istiod reads the label from 1.12 (the webhook's objectSelector already saw it before)
    label_read = ctx.istio_version is None or ctx.istio_version.at_least(1, 12)
    explicit, source = ((lbl[INJECT_KEY], "label") if label_read and INJECT_KEY in lbl
                        else ((ann[INJECT_KEY], "annotation") if INJECT_KEY in ann else (None, None)))
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
    cfg = inj or InjectorConfig()
    if cfg.policy not in ("enabled", "disabled"):
        d.blocker, d.detail = "policy", f"injector policy {cfg.policy!r} is neither enabled nor disabled: istiod injects nothing"
        return d
    value = (explicit or "").lower()
    if value in TRUE_VALUES:
        d.inject, d.detail = True, f"{source} {INJECT_KEY}={explicit!r}"
        return d
    if value:
        d.blocker, d.detail = "explicit", f"{source} {INJECT_KEY}={explicit!r} is read as false"
        return d
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

#: the evidence ``subject_of`` and ``situation`` read, declared by every check that starts from the subject
_SUBJECT_NEEDS = (Need.POD, Need.NAMESPACES, Need.WEBHOOKS)
_SUBJECT_OPTIONAL = (Need.DEPLOYMENTS, Need.CONTROL_PLANE_CONFIGMAPS, Need.SERVICES)
