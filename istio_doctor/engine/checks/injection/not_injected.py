"""The causes that keep the sidecar out by configuration: ``INJ-NS-LABEL``, ``INJ-POD-PREDATES``, ``INJ-LABEL-PRECEDENCE``,
``INJ-REV-MISSING``, ``INJ-POD-OPTOUT``, ``INJ-ANNOTATION-OPTIN``, ``INJ-ANNOTATION-MISPLACED``,
``INJ-INVALID-VALUE``, ``INJ-HOSTNETWORK``, ``INJ-SYSTEM-NS`` and ``INJ-POLICY-DISABLED``. Each
fires only when its own cause is what keeps the sidecar out (the counterfactual decision).
"""

from __future__ import annotations

from istio_doctor.engine.checks.injection._findings import (
    _explicit_pretty,
    _fmt_labels,
    _hooks_ref,
    _ns_ref,
    _pod_meta_ref,
    _restart_step,
    _subject_args,
    _subject_resource,
    _template_patch_step,
    situation_check,
)
from istio_doctor.engine.mesh.injection import (
    _NO_SUBJECT,
    _SUBJECT_NEEDS,
    _SUBJECT_OPTIONAL,
    AUTO_EXCLUDED_NAMESPACES,
    FALSE_VALUES,
    IGNORED_NAMESPACES,
    INJECTOR_SUFFIX,
    Situation,
    _is_true,
    is_control_plane,
    is_injected,
    situation,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.lifecycle.facts import V, vtext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.kube import DATAPLANE_MODE_LABEL, INJECT_KEY, INJECTION_NS_LABEL, REV_KEY, STATUS_ANNOTATION

#: from this version injectRequired() accepts only exactly "true"/"false" (istio/istio#56737)
V_127 = V("1.27")

# --------------------------------------------------------------------------------------
# why it is not injected
# --------------------------------------------------------------------------------------


@situation_check("INJ-NS-LABEL", optional=(*_SUBJECT_OPTIONAL, Need.ANALYZE))
def ns_label(ctx: CheckContext, s: Situation) -> CheckResult:
    """The namespace carries no label an injector webhook selects, so its pods run without sidecar."""
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
    steps: list[FixStep] = []
    if chosen is not None:
        remove = f" {REV_KEY}-" if chosen[0].startswith(INJECTION_NS_LABEL) and REV_KEY in nl else (f" {INJECTION_NS_LABEL}-" if INJECTION_NS_LABEL in nl and chosen[0].startswith(REV_KEY) else "")
        steps.append(FixStep(description="Label the namespace for injection (if it should be in the mesh)",
                             command=f"kubectl label namespace {ns} {chosen[0]} --overwrite{remove}"))
    else:
        steps.append(FixStep(description="Label the namespace for injection (if it should be in the mesh)",
                             command=f"kubectl label namespace {ns} {INJECTION_NS_LABEL}=enabled --overwrite"))
    steps.append(_restart_step(s))
    # istioctl analyze says the same of this namespace (IST0102 NamespaceNotInjected): quoted as printed
    agrees = [m for m in ctx.ev.get_or([], Need.ANALYZE, ns)
              if getattr(m, "code", "") == "IST0102" and m.origin_kind == "Namespace" and m.origin_name == ns]
    return CheckResult.failed(
        message=None if current is None else ("disabled" if current == "disabled" else "other_value"),
        args={"namespace": ns, "value": current, "pod": p.name if s.subject.live else None},
        evidence=[_ns_ref(ctx, ns, nl), _pod_meta_ref(ctx, s), _hooks_ref(ctx, s.hooks[:4], "the injector webhooks and the labels they select"),
                  *([ctx.ref(Need.ANALYZE, agrees[0].as_printed, "istioctl analyze agrees")] if agrees else [])],
        fix=Fix(steps=steps, ordered=True),
        resources=[f"Namespace {ns}"],
    )


@situation_check("INJ-POD-PREDATES", optional=(*_SUBJECT_OPTIONAL, Need.CONTROL_PLANE_PODS, Need.CONTROL_PLANE_ENDPOINTSLICES))
def pod_predates(ctx: CheckContext, s: Situation) -> CheckResult:
    """The injector would inject this pod today, but it has no sidecar: it was created before."""
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
    before = created is not None and hook_created is not None and created < hook_created
    return CheckResult.failed(
        args={**_subject_args(s), "pod": p.name, "webhook": hook.label, "decision": s.decision.detail,
              "created": created.isoformat() if before and created else None, "webhook_config": hook.config.name,
              "webhook_created": hook_created.isoformat() if before and hook_created else None},
        # the injector's own config unread: the webhook selects the pod, but injectRequired() is assumed
        corroboration="injector_unknown" if not s.decision.injector_known else ("created_before" if before else None),
        evidence=[_pod_meta_ref(ctx, s, f"pod {p.name}: no istio-proxy, no {STATUS_ANNOTATION}"),
                  _ns_ref(ctx, s.subject.namespace, s.ns_labels),
                  _hooks_ref(ctx, [hook], "the webhook that selects the pod today")],
        fix=Fix(steps=[_restart_step(s)]),
        resources=[f"Pod {s.subject.namespace}/{p.name}"] + ([s.subject.workload] if s.subject.workload else []),
    )


@situation_check("INJ-LABEL-PRECEDENCE", optional=(*_SUBJECT_OPTIONAL, Need.ANALYZE))
def label_precedence(ctx: CheckContext, s: Situation) -> CheckResult:
    """Both istio-injection and istio.io/rev are on the namespace; istio-injection wins."""
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
        message, args = "wrong_revision", {"injected_by": got}
    else:
        if not alt.inject:
            return CheckResult.passed(f"namespace {ns} has both labels, but removing {INJECTION_NS_LABEL} would not inject {s.subject.desc} either ({alt.detail})")
        message, args = (None, {}) if nl[INJECTION_NS_LABEL] != "enabled" else ("enabled", {"decision": s.decision.detail})
    analyze = [m for m in ctx.ev.get_or([], Need.ANALYZE, ns) if getattr(m, "code", "") == "IST0123"]
    observed = [f"istioctl analyze IST0123 on namespace {ns}"] if analyze else []
    return CheckResult.failed(
        message=message, args={"subject": s.subject.desc, "namespace": ns, "injection": nl[INJECTION_NS_LABEL], "revision": want, **args},
        evidence=[_ns_ref(ctx, ns, nl),
                  _hooks_ref(ctx, [h for h in s.hooks if want in h.selectable_revisions()][:2] or s.hooks[:2],
                             f"the {want} webhook's namespaceSelector excludes namespaces with {INJECTION_NS_LABEL}")],
        fix=Fix(steps=[FixStep(description=f"Remove {INJECTION_NS_LABEL} so {REV_KEY}={want} selects the revision",
                               command=f"kubectl label namespace {ns} {INJECTION_NS_LABEL}-"), _restart_step(s)], ordered=True),
        observed=observed,
        resources=[f"Namespace {ns}"],
    )


@situation_check("INJ-REV-MISSING")
def rev_missing(ctx: CheckContext, s: Situation) -> CheckResult:
    """The revision the namespace/pod asks for has no injector webhook (or no default injector exists)."""
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
    overridden = None
    if INJECTION_NS_LABEL in nl:
        if nl[INJECTION_NS_LABEL] != "enabled":
            return CheckResult.not_applicable(f"namespace {ns} is labelled {INJECTION_NS_LABEL}={nl[INJECTION_NS_LABEL]}")
        requested, on_namespace = f"{INJECTION_NS_LABEL}=enabled", True
        overridden = f"{REV_KEY}={nl[REV_KEY]}" if REV_KEY in nl else None
    elif REV_KEY in nl:
        requested, on_namespace = f"{REV_KEY}={nl[REV_KEY]}", True
    elif REV_KEY in p.labels:
        requested, on_namespace = f"{REV_KEY}={p.labels[REV_KEY]}", False
    else:
        return CheckResult.not_applicable(f"neither namespace {ns} nor {s.subject.desc} asks for a revision (see INJ-NS-LABEL)")
    args = {"subject": s.subject.desc, "namespace": ns, "on_namespace": on_namespace, "requested": requested, "overridden": overridden,
            "revisions": available, "tags": tags, "default_injector": have_default}
    if not s.hooks:
        steps = [FixStep(description="Look for the injector webhook configurations", command="kubectl get mutatingwebhookconfigurations -l app=sidecar-injector"),
                 FixStep(description="Reinstall or repair the control plane so its webhook exists", command="istioctl install --dry-run  # compare with your installation profile")]
    else:
        target_rev = next((r for r in available if r != "default"), available[0] if available else "<revision>")
        if requested.startswith(REV_KEY):
            steps = [FixStep(description="Point the label at an installed revision or tag",
                             command=(f"kubectl label namespace {ns} {REV_KEY}={target_rev} --overwrite" if on_namespace
                                      else f"kubectl patch {s.subject.workload or 'pod/' + p.name} -n {ns} --type merge -p "
                                           f"'{{\"spec\":{{\"template\":{{\"metadata\":{{\"labels\":{{\"istio.io/rev\":\"{target_rev}\"}}}}}}}}}}'")),
                     FixStep(description="Or create a tag with the requested name for an installed revision",
                             command=f"istioctl tag set {requested.split('=', 1)[1]} --revision {target_rev}")]
        else:
            steps = [FixStep(description="Make the revisioned control plane handle istio-injection=enabled",
                             command=f"istioctl tag set default --revision {target_rev}"),
                     FixStep(description="Or label the namespace for the installed revision instead",
                             command=f"kubectl label namespace {ns} {INJECTION_NS_LABEL}- {REV_KEY}={target_rev} --overwrite")]
    steps.append(_restart_step(s))
    return CheckResult.failed(
        message=None if s.hooks else "no_webhook", args=args,
        evidence=[_ns_ref(ctx, ns, nl), _pod_meta_ref(ctx, s), _hooks_ref(ctx, s.hooks[:6], "every Istio injector webhook installed")],
        fix=Fix(steps=steps, ordered=True),
        resources=[f"Namespace {ns}"],
    )


@situation_check("INJ-POD-OPTOUT")
def pod_optout(ctx: CheckContext, s: Situation) -> CheckResult:
    """The pod template says sidecar.istio.io/inject: "false" (label over annotation) where injection is on."""
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
    overridden = p.annotations.get(INJECT_KEY) if d.explicit_source == "label" else None
    return CheckResult.failed(
        args={**_subject_args(s), "value": _explicit_pretty(d), "annotation": overridden, "webhook": alt.hooks[0].label},
        evidence=[_pod_meta_ref(ctx, s, f"the opt-out {d.explicit_source}"), _ns_ref(ctx, s.subject.namespace, s.ns_labels)],
        fix=Fix(steps=[_template_patch_step(s, None if d.explicit_source == "label" else "true", "Remove the opt-out label" if d.explicit_source == "label" else "Set the inject label to true (the label overrides the annotation)"),
                       _restart_step(s)] if s.subject.workload else [_template_patch_step(s, "true", "Set the inject label to true")],
                ordered=True),
        resources=[_subject_resource(s)],
    )


@situation_check("INJ-ANNOTATION-OPTIN")
def annotation_optin(ctx: CheckContext, s: Situation) -> CheckResult:
    """Opt-in via the annotation in an unlabelled namespace: the object webhook selects only the label."""
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
        args={**_subject_args(s), "annotation": ann, "webhook": alt.hooks[0].label},
        evidence=[_pod_meta_ref(ctx, s, "annotation present, label absent"),
                  _hooks_ref(ctx, alt.hooks[:1], "the object webhook's objectSelector matches the label, not the annotation")],
        fix=Fix(steps=[_template_patch_step(s, "true", "Add the label to the pod template"), _restart_step(s)], ordered=True),
        resources=[_subject_resource(s)],
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
    md = {"metadata": {"name": dep.name, ("labels" if where == "label" else "annotations"): {INJECT_KEY: value}},
          "spec": {"template": {"metadata": {"labels": {k: v for k, v in sorted(tpl.labels.items())},
                                             **({"annotations": dict(sorted(tpl.annotations.items()))} if tpl.annotations else {})}}}}
    return CheckResult.failed(
        message="injected_anyway" if s.injected else None,
        args={"subject": s.subject.desc, "deployment": f"{s.subject.namespace}/{dep.name}", "value": value, "field": where},
        evidence=[ctx.ref(Need.DEPLOYMENTS, md, "Deployment metadata vs pod template metadata")],
        fix=Fix(steps=[FixStep(description="Set it on the pod template (this also triggers a rollout)",
                               command=(f"kubectl patch deployment/{dep.name} -n {s.subject.namespace} --type merge -p "
                                        f"'{{\"spec\":{{\"template\":{{\"metadata\":{{\"labels\":{{\"sidecar.istio.io/inject\":\"{value}\"}}}}}}}}}}'")),
                       FixStep(description="Remove the ignored one from the Deployment metadata",
                               command=f"kubectl {'label' if where == 'label' else 'annotate'} deployment/{dep.name} -n {s.subject.namespace} {INJECT_KEY}-")],
                ordered=True),
        resources=[f"Deployment {s.subject.namespace}/{dep.name}"],
    )


@situation_check("INJ-INVALID-VALUE")
def invalid_value(ctx: CheckContext, s: Situation) -> CheckResult:
    """sidecar.istio.io/inject has a value other than "true"/"false", and the version's reading of it
    (engine/mesh/injection.py inject_value) does what its author did not mean: before 1.27 any value
    but y/yes/true/on keeps the sidecar out; from 1.27 (istio/istio#56737) such a value is invalid and
    the default policy decides, which can inject a pod its author opted out ("False", "no") or leave
    out one that opted in ("yes" where the policy is disabled)."""
    d, p = s.decision, s.subject.pod
    raw = d.explicit
    version = ctx.istio_version
    new_rules = version is not None and version >= V_127
    if raw is None or raw in ("true", "false") or (not new_rules and raw.strip().lower() in FALSE_VALUES):
        return CheckResult.not_applicable(f"{s.subject.desc} has no unusual {INJECT_KEY} value")
    common = {"subject": s.subject.desc, "value": _explicit_pretty(d), "raw": raw, "version": vtext(version)}
    evidence = [_pod_meta_ref(ctx, s, f"the {d.explicit_source} value"), _ns_ref(ctx, s.subject.namespace, s.ns_labels)]
    resources = [_subject_resource(s)]
    meant_no = raw.strip().lower() in FALSE_VALUES
    if s.injected:
        if new_rules and meant_no and d.invalid:
            return CheckResult.failed(
                message="injected_anyway", args={**common, "policy": d.detail}, evidence=evidence, resources=resources,
                fix=Fix(steps=[_template_patch_step(s, "false", "Set the label to exactly \"false\""), _restart_step(s)], ordered=True))
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
    if meant_no:
        return CheckResult.not_applicable(f"{s.subject.desc} opts out with {_explicit_pretty(d)} and is not injected, as meant")
    if not d.hooks and _is_true(raw):
        message, why = "webhook", None
    elif d.invalid:
        message, why = "fallback", d.detail
    else:
        message, why = None, None
    return CheckResult.failed(
        message=message, args={**common, "hook": alt.hooks[0].label, **({"policy": why} if why else {})},
        evidence=evidence, resources=resources,
        fix=Fix(steps=[_template_patch_step(s, "true", "Set the label to \"true\""), _restart_step(s)], ordered=True),
    )


def _wants_injection(s: Situation) -> bool:
    """Someone asked for a sidecar: a webhook selects the pod, or namespace/pod opt in."""
    nl, p = s.ns_labels, s.subject.pod
    return bool(s.decision.hooks) or nl.get(INJECTION_NS_LABEL) == "enabled" or REV_KEY in nl or _is_true(
        p.labels.get(INJECT_KEY)) or _is_true(p.annotations.get(INJECT_KEY)) or REV_KEY in p.labels


@situation_check("INJ-HOSTNETWORK")
def host_network(ctx: CheckContext, s: Situation) -> CheckResult:
    """hostNetwork pods are never injected, even where injection is asked for."""
    p = s.subject.pod
    if not p.spec.host_network:
        return CheckResult.not_applicable(f"{s.subject.desc} does not use hostNetwork")
    if s.injected:
        return CheckResult.passed(f"{s.subject.desc} uses hostNetwork and carries istio-proxy (injected by hand)")
    if not _wants_injection(s):
        return CheckResult.not_applicable(f"{s.subject.desc} uses hostNetwork and nothing asks for its injection")
    return CheckResult.failed(
        args={**_subject_args(s), "webhook": s.decision.hooks[0].label if s.decision.hooks else None},
        evidence=[_pod_meta_ref(ctx, s, "spec.hostNetwork"), _ns_ref(ctx, s.subject.namespace, s.ns_labels)],
        fix=Fix(steps=[FixStep(description="Remove hostNetwork from the pod template",
                               command=(f"kubectl patch {s.subject.workload} -n {s.subject.namespace} --type json -p "
                                        "'[{\"op\":\"remove\",\"path\":\"/spec/template/spec/hostNetwork\"}]'") if s.subject.workload
                               else None), _restart_step(s)]),
        resources=[_subject_resource(s)],
    )


@situation_check("INJ-SYSTEM-NS")
def system_ns(ctx: CheckContext, s: Situation) -> CheckResult:
    """The pod lives in a namespace the injector always skips."""
    ns = s.subject.namespace
    if ns not in AUTO_EXCLUDED_NAMESPACES:
        return CheckResult.not_applicable(f"namespace {ns} is not one the injector skips")
    if s.injected:
        return CheckResult.passed(f"{s.subject.desc} carries istio-proxy")
    if not _wants_injection(s) or is_control_plane(s.subject.pod):
        return CheckResult.not_applicable(f"nothing asks for injection of {s.subject.desc} (system pods are deliberately outside the mesh)")
    pod = s.subject.pod
    return CheckResult.failed(
        # kube-system/kube-public: injectRequired() itself; the others: the webhooks' namespaceSelector
        message=None if ns in IGNORED_NAMESPACES else "webhook_excluded",
        args={**_subject_args(s), "pod_value": (pod.labels.get(INJECT_KEY) or pod.annotations.get(INJECT_KEY)) if s.decision.explicit else None},
        evidence=[_ns_ref(ctx, ns, s.ns_labels), _pod_meta_ref(ctx, s)],
        fix=Fix(steps=[FixStep(description="Create an application namespace labelled for injection and deploy the workload there",
                               command="kubectl create namespace <app-namespace> && kubectl label namespace <app-namespace> istio-injection=enabled")]),
        resources=[f"Namespace {ns}"],
    )


@situation_check("INJ-POLICY-DISABLED", needs=(*_SUBJECT_NEEDS, Need.CONTROL_PLANE_CONFIGMAPS), optional=(Need.DEPLOYMENTS, Need.SERVICES))
def policy_disabled(ctx: CheckContext, s: Situation) -> CheckResult:
    """The injector ConfigMap's policy (or neverInjectSelector) refuses pods without an explicit opt-in."""
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
        step = FixStep(description="Remove the selector from neverInjectSelector (mesh config values sidecarInjectorWebhook.neverInjectSelector), "
                                   "or opt the pod in explicitly: an explicit label overrides the selectors",
                       command=f"kubectl -n {ns} edit configmap {cm}")
    else:
        excerpt = {"policy": inj.policy}
        step = FixStep(description="Turn default injection back on (Helm/istioctl value global.proxy.autoInject=enabled)",
                       command="istioctl install --set values.global.proxy.autoInject=enabled"
                               + ("" if d.revision in (None, "default") else f" --set revision={d.revision}"))
    return CheckResult.failed(
        message="never_selector" if d.blocker == "never-selector" else None,
        args={"subject": s.subject.desc, "configmap": f"{ns}/{cm}", "webhook": d.hooks[0].label, "policy": inj.policy,
              "selector": d.selector if d.blocker == "never-selector" else None},
        evidence=[ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, excerpt, f"ConfigMap {cm} data.config"), _pod_meta_ref(ctx, s)],
        fix=Fix(steps=[step, _template_patch_step(s, "true", "Or opt this workload in explicitly"), _restart_step(s)]),
        resources=[f"ConfigMap {ns}/{cm}"],
    )
