"""Unit tests of the INJ-* checks: evidence rendered in the real kubectl/istioctl formats by the
scenario kit, parsed by the project's own parsers, then handed to each check directly.

Each check gets a world where its cause holds (fail), a healthy or look-alike world (pass or
not applicable), and a run with its required evidence missing (unknown, never healthy).
"""

from __future__ import annotations


import pytest

from istio_doctor.engine.catalogue import load_catalogue
from istio_doctor.engine.checks import injection as inj
from istio_doctor.engine.mesh.injection import _WEBHOOK_CALL
from istio_doctor.engine.checks.injection.webhook import _webhook_failure_kind
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Outcome
from istio_doctor.engine.registry import load_builtin_checks
from istio_doctor.engine.walker import run_check
from istio_doctor.evidence.bundle import Evidence, EvidenceFailure, FailureKind, Item, Need, Scope
from istio_doctor.evidence.commands import build_call
from istio_doctor.evidence.kinds import ParseEnv
from istio_doctor.evidence.kube import LabelSelector, MutatingWebhook, Pod, parse_kube_object
from istio_doctor.evidence.target import Connection, Target
from tests.scenarios import injection as sc
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.runner import WorldRunner
from tests.scenariokit.world import World

REG = load_builtin_checks()
CATALOGUE = load_catalogue()
CONN = Connection()
CLUSTER = (Need.NAMESPACES, Need.WEBHOOKS, Need.CONTROL_PLANE_CONFIGMAPS, Need.CONTROL_PLANE_PODS,
           Need.CONTROL_PLANE_ENDPOINTSLICES, Need.PROXY_STATUS, Need.SERVICES)
NAMESPACED = (Need.PODS, Need.DEPLOYMENTS, Need.REPLICASETS, Need.EVENTS)


def _item(runner: WorldRunner, need: Need, ns: str | None = None, name: str | None = None) -> Item:
    key = Evidence.key(need, ns, name)
    call = build_call(need, CONN, namespace=ns, name=name, istioctl_minor=22)
    res = runner.run_sync(call.argv)
    if res.exit_code != 0:
        return Item(key=key, failure=EvidenceFailure(kind=FailureKind.FAILED, reason=res.stderr.strip() or "failed"), sources=[call.argv])
    return Item(key=key, value=need.parse(res.stdout, ParseEnv(command=" ".join(call.argv))), sources=[call.argv])


def ctx_for(world: World, target: str, *, drop: tuple[Need, ...] = ()) -> CheckContext:
    """Evidence for a ``deploy/NAME -n NS`` target: its first pod, or no pod when none exists."""
    name, _, ns = target.partition(" -n ")
    tgt = Target.parse(name, ns)
    runner = WorldRunner(world)
    ev = Evidence()
    for need in CLUSTER:
        if need not in drop:
            ev.put(_item(runner, need))
    for need in NAMESPACED:
        if need not in drop:
            ev.put(_item(runner, need, tgt.namespace))
    wl = world.workload(f"{tgt.namespace}/{tgt.name}")
    pods = world.pods_of(wl) if wl else []
    pod = pods[0].name if pods else None
    if pod:
        for need in (Need.POD, Need.INIT_LOGS):
            if need not in drop:
                ev.put(_item(runner, need, tgt.namespace, pod))
    return CheckContext(ev=ev, target=tgt, conn=CONN, namespace=tgt.namespace, pod_name=pod)


def run(check_id: str, ctx: CheckContext) -> CheckResult:
    return run_check(REG, check_id, {}, ctx)[0]


def worded(check_id: str, res: CheckResult) -> tuple[str, str, float]:
    """The finding's summary, fix and confidence as the catalogue words them from the result's
    arguments (raises when a template names an argument the check did not return)."""
    entry = CATALOGUE[check_id]
    return (entry.render_message(res.message, res.args), entry.render_fix(res.message, res.args),
            entry.confidence_for(res.corroboration))


def _scenario(name: str) -> tuple[World, str]:
    s = next(x for x in sc.SCENARIOS if x.name == name)
    return s.world, s.target


# check -> (failing scenario, healthy/look-alike scenario, outcome expected there, a need whose absence makes it unknown)
CASES: dict[str, tuple[str, str, Outcome, Need | tuple[Need, ...]]] = {
    "INJ-NS-LABEL": ("ns-label-legacy", "lookalike-ambient-namespace", Outcome.NOT_APPLICABLE, Need.NAMESPACES),
    "INJ-POD-PREDATES": ("pod-predates-label", "healthy-classic-sidecar-1-20", Outcome.NOT_APPLICABLE, Need.WEBHOOKS),
    "INJ-LABEL-PRECEDENCE": ("label-precedence-disabled", "healthy-native-sidecar-1-24", Outcome.NOT_APPLICABLE, Need.NAMESPACES),
    "INJ-REV-MISSING": ("rev-missing-canary", "ns-label-legacy", Outcome.NOT_APPLICABLE, Need.WEBHOOKS),
    "INJ-POD-OPTOUT": ("pod-optout", "lookalike-istiod-itself", Outcome.NOT_APPLICABLE, Need.NAMESPACES),
    "INJ-ANNOTATION-OPTIN": ("annotation-optin", "ns-label-legacy", Outcome.NOT_APPLICABLE, Need.WEBHOOKS),
    "INJ-ANNOTATION-MISPLACED": ("annotation-misplaced", "ns-label-legacy", Outcome.NOT_APPLICABLE, Need.DEPLOYMENTS),
    "INJ-INVALID-VALUE": ("invalid-value-enabled", "lookalike-yes-in-injected-namespace", Outcome.PASS, Need.WEBHOOKS),
    "INJ-HOSTNETWORK": ("hostnetwork", "lookalike-hostnetwork-node-agent", Outcome.NOT_APPLICABLE, Need.NAMESPACES),
    "INJ-SYSTEM-NS": ("system-namespace", "lookalike-kube-system-pod", Outcome.NOT_APPLICABLE, Need.WEBHOOKS),
    "INJ-POLICY-DISABLED": ("policy-disabled", "invalid-value-enabled", Outcome.PASS, Need.CONTROL_PLANE_CONFIGMAPS),
    "INJ-WEBHOOK-DOWN": ("webhook-down-no-endpoints", "healthy-classic-sidecar-1-20", Outcome.PASS, Need.EVENTS),
    "INJ-WEBHOOK-FAILOPEN": ("webhook-failopen", "lookalike-failopen-latent", Outcome.PASS, Need.WEBHOOKS),
    "INJ-MULTI-WEBHOOK": ("multi-webhook", "healthy-native-sidecar-1-24", Outcome.PASS, Need.WEBHOOKS),
    "INJ-INIT-FAIL": ("init-fail-net-admin", "healthy-classic-sidecar-1-20", Outcome.PASS, (Need.POD, Need.PODS)),
    "INJ-PROXY-SKEW": ("proxy-skew-after-upgrade", "healthy-native-sidecar-1-24", Outcome.PASS, Need.CONTROL_PLANE_CONFIGMAPS),
    "INJ-GATEWAY-IMAGE-AUTO": ("gateway-image-auto", "healthy-ingress-gateway", Outcome.NOT_APPLICABLE, Need.NAMESPACES),
    "INJ-AMBIENT-CONFLICT": ("ambient-conflict", "lookalike-ambient-namespace", Outcome.PASS, Need.NAMESPACES),
}


def test_every_inj_check_has_cases() -> None:
    assert set(CASES) == {c for c in REG.checks if c.startswith("INJ-")} == set(sc.ALL_INJ)


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_fails_on_its_cause(check_id: str) -> None:
    world, target = _scenario(CASES[check_id][0])
    res = run(check_id, ctx_for(world, target))
    assert res.outcome is Outcome.FAIL, res.summary
    assert res.evidence and all(e.excerpt for e in res.evidence)
    assert res.fix is not None and res.fix.steps
    # prose and numbers are data: the check returns arguments, the catalogue words them
    assert not res.summary and not res.fix.summary and res.confidence is None
    summary, fix, _ = worded(check_id, res)
    assert summary and fix


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_quiet_on_look_alike(check_id: str) -> None:
    _f, name, outcome, _n = CASES[check_id]
    world, target = _scenario(name)
    res = run(check_id, ctx_for(world, target))
    assert res.outcome is outcome, res.summary


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_unknown_without_required_evidence(check_id: str) -> None:
    fail_name, _h, _o, need = CASES[check_id]
    world, target = _scenario(fail_name)
    res = run(check_id, ctx_for(world, target, drop=need if isinstance(need, tuple) else (need,)))
    assert res.outcome is Outcome.UNKNOWN, res.summary


# -- the decision itself ------------------------------------------------------------------------


def _hook(ns_sel: dict, obj_sel: dict) -> MutatingWebhook:
    return MutatingWebhook.model_validate({"name": "namespace.sidecar-injector.istio.io", "namespaceSelector": ns_sel, "objectSelector": obj_sel})


def test_notin_false_selects_pods_without_the_label_and_with_other_values() -> None:
    h = _hook({"matchLabels": {"istio-injection": "enabled"}},
              {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]})
    assert h.matches({"istio-injection": "enabled"}, {})
    assert h.matches({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "enabled"})
    assert not h.matches({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"})
    assert not h.matches({"istio-injection": "true"}, {})


@pytest.mark.parametrize(("label", "injected"), [("true", True), ("True", True), ("yes", True), ("on", True), ("y", True),
                                                 ("enabled", False), ("1", False), ("false", False), ("no", False)])
def test_inject_required_value_semantics(label: str, injected: bool) -> None:
    world = bookinfo_world()
    world.workload("default/details-v1").labels["sidecar.istio.io/inject"] = label  # type: ignore[union-attr]
    ctx = ctx_for(world, "deploy/details-v1 -n default")
    s = inj.situation(ctx)
    assert s is not None
    assert s.decision.inject is injected, s.decision.detail
    assert s.injected is injected


def test_label_overrides_annotation() -> None:
    world = bookinfo_world()
    wl = world.workload("default/details-v1")
    assert wl is not None
    wl.labels["sidecar.istio.io/inject"] = "false"
    wl.annotations["sidecar.istio.io/inject"] = "true"
    res = run("INJ-POD-OPTOUT", ctx_for(world, "deploy/details-v1 -n default"))
    assert res.outcome is Outcome.FAIL
    assert res.args["value"] == "label sidecar.istio.io/inject: 'false'" and res.args["annotation"] == "true"
    assert "(the label overrides the annotation sidecar.istio.io/inject: 'true')" in worded("INJ-POD-OPTOUT", res)[0]


def test_pod_less_deployment_is_decided_on_its_template() -> None:
    world, target = _scenario("webhook-down-no-endpoints")
    ctx = ctx_for(world, target)
    assert ctx.pod_name is None
    s = inj.situation(ctx)
    assert s is not None and not s.subject.live and s.subject.workload == "deployment/productpage-v1"
    res = run("INJ-WEBHOOK-DOWN", ctx)
    assert res.outcome is Outcome.FAIL
    assert res.args["webhook"] == "namespace.sidecar-injector.istio.io" and res.message == "no_endpoints"
    assert res.corroboration == "istiod_not_serving"  # istiod has no ready endpoint now
    assert res.observed


def test_webhook_down_reads_real_event_wording() -> None:
    """The legacy 'admission webhook' wording (Istio <= 1.4 injector service) is recognised too."""
    msg = ('Error creating: Internal error occurred: failed calling admission webhook "sidecar-injector.istio.io": '
           "Post https://istio-sidecar-injector.istio-system.svc:443/inject?timeout=30s: context deadline exceeded")
    m = _WEBHOOK_CALL.search(msg)
    assert m and m.group("hook") == "sidecar-injector.istio.io"
    assert _webhook_failure_kind(msg) == "timeout"
    assert _webhook_failure_kind("x509: certificate signed by unknown authority") == "x509"


def test_containers_named_like_the_proxy_are_not_a_sidecar() -> None:
    world, target = _scenario("lookalike-containers-named-proxy")
    ctx = ctx_for(world, target)
    assert run("gate.inj-injected", ctx).outcome is Outcome.FAIL
    assert run("INJ-PROXY-SKEW", ctx).outcome is Outcome.NOT_APPLICABLE
    assert run("INJ-NS-LABEL", ctx).outcome is Outcome.FAIL


def test_ns_label_fix_uses_a_label_that_works() -> None:
    world, target = _scenario("ns-label-legacy")
    res = run("INJ-NS-LABEL", ctx_for(world, target))
    cmds = [s.command for s in res.fix.steps if s.command]  # type: ignore[union-attr]
    assert cmds[0] == "kubectl label namespace legacy istio-injection=enabled --overwrite"
    assert cmds[1] == "kubectl rollout restart deployment/httpbin -n legacy"


def test_rev_missing_names_the_installed_revisions() -> None:
    world, target = _scenario("rev-missing-injection-enabled")
    res = run("INJ-REV-MISSING", ctx_for(world, target))
    assert res.outcome is Outcome.FAIL
    assert res.message is None and res.args["revisions"] == ["1-22"] and res.args["requested"] == "istio-injection=enabled"
    assert res.args["default_injector"] is False
    assert "selectable by istio.io/rev: 1-22; no webhook handles istio-injection=enabled" in worded("INJ-REV-MISSING", res)[0]
    assert any(s.command == "istioctl tag set default --revision 1-22" for s in res.fix.steps)  # type: ignore[union-attr]


def test_gateway_placeholder_is_not_counted_as_injected() -> None:
    pod = parse_kube_object('{"kind":"Pod","apiVersion":"v1","metadata":{"name":"gw","namespace":"edge"},'
                            '"spec":{"containers":[{"name":"istio-proxy","image":"auto"}]}}', Pod)
    assert pod.has_sidecar and not inj.is_injected(pod)


def test_never_inject_selector_ignored_when_pod_opts_in() -> None:
    """injectRequired(): an explicit value skips the selectors entirely."""
    world = bookinfo_world()
    world.control_plane.never_inject_selector = [{"matchLabels": {"app": "ratings"}}]
    world.workload("default/ratings-v1").labels["sidecar.istio.io/inject"] = "true"  # type: ignore[union-attr]
    s = inj.situation(ctx_for(world, "deploy/ratings-v1 -n default"))
    assert s is not None and s.decision.inject


def test_empty_never_selector_matches_nothing() -> None:
    assert LabelSelector().is_empty


def test_scopes_are_as_planned() -> None:
    # pod-scoped evidence other than POD would make namespace scans skip these checks
    for cid in CASES:
        spec = REG.get(cid)
        assert all(n.scope is not Scope.POD or n is Need.POD for n in spec.needs), cid


def test_init_fail_fix_follows_the_container_that_failed() -> None:
    """The remedy depends on which init container failed. istio-init programs iptables itself and
    needs NET_ADMIN and NET_RAW unless the Istio CNI plugin is used
    (https://istio.io/latest/docs/ops/deployment/application-requirements/), which Pod Security
    "baseline" forbids (https://istio.io/latest/docs/setup/additional-setup/pod-security-admission/).
    istio-validation exists only with the CNI plugin and blocks start-up while the node's istio-cni
    agent has not set up the pod's redirection
    (https://istio.io/latest/docs/ops/diagnostic-tools/cni/, "Diagnose pod start-up failure"):
    there capabilities are beside the point and the agent is what to fix."""
    from tests.scenarios import lifecycle

    world, target = _scenario("init-fail-net-admin")
    res = run("INJ-INIT-FAIL", ctx_for(world, target))
    assert res.outcome is Outcome.FAIL and res.args["container"] == "istio-init"
    assert res.message == "capabilities" and res.args["missing"] == ["NET_ADMIN", "NET_RAW"]
    summary, fix, _ = worded("INJ-INIT-FAIL", res)
    assert "it lacks NET_ADMIN/NET_RAW" in summary
    assert fix.startswith("Allow NET_ADMIN and NET_RAW for istio-init in namespace default") and "istio-validation" not in fix
    assert not any("istio-cni-node" in (s.command or "") for s in res.fix.steps)  # type: ignore[union-attr]

    cni = next(s for s in lifecycle.SCENARIOS if s.name == "cni-agent-not-ready-1-22")
    res = run("INJ-INIT-FAIL", ctx_for(cni.world, "deploy/productpage-v1 -n default"))
    assert res.outcome is Outcome.FAIL and res.args["container"] == "istio-validation" and res.message == "validation"
    _, fix, _ = worded("INJ-INIT-FAIL", res)
    assert f"the istio-cni node agent on node {res.args['node']} must be Ready" in fix and "NET_ADMIN" not in fix
    assert "Capabilities play no part" in fix
    commands = [s.command or "" for s in res.fix.steps]  # type: ignore[union-attr]
    assert not any("components.cni.enabled" in c for c in commands) and any("istio-cni-node" in c for c in commands)
