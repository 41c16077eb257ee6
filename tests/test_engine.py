"""The engine's own rules: playbook loading, the walk, missing evidence, ranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_doctor.engine.catalogue import CatalogueEntry, load_catalogue
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Finding, Fix, Outcome, Severity
from istio_doctor.engine.playbook import Playbook, PlaybookError, load_playbook_file, load_playbooks, playbook_json_schema
from istio_doctor.engine.rank import rank_findings
from istio_doctor.engine.registry import REGISTRY, NoParams, check, load_builtin_checks
from istio_doctor.engine.walker import walk
from istio_doctor.evidence.bundle import Evidence, EvidenceFailure, EvidenceKey, FailureKind, Item, Need
from istio_doctor.evidence.target import Connection, Target


# -- test-only checks (registered once under ids no playbook uses) --------------------------
@check("gate.test-needs-pod", needs=(Need.POD,))
def _needs_pod(ctx: CheckContext, _: NoParams) -> CheckResult:
    ctx.pod()
    return CheckResult.passed("pod read")


@check("gate.test-crashes", needs=())
def _crashes(ctx: CheckContext, _: NoParams) -> CheckResult:
    raise RuntimeError("boom")


@check("gate.test-fails", needs=())
def _fails(ctx: CheckContext, _: NoParams) -> CheckResult:
    return CheckResult.failed("it failed")


def _ctx(ev: Evidence | None = None) -> CheckContext:
    t = Target.parse("pod/productpage-v1-6b746f74dc-9stvs", "default")
    return CheckContext(ev=ev or Evidence(), target=t, conn=Connection(), namespace="default", pod_name=t.name)


def _pb(nodes: list[dict]) -> Playbook:
    return Playbook.model_validate({"id": "t", "title": "t", "symptoms": ["x"], "nodes": nodes})


def test_missing_evidence_makes_the_node_unknown_with_the_reason() -> None:
    ev = Evidence()
    key = EvidenceKey(need=Need.POD, namespace="default", name="productpage-v1-6b746f74dc-9stvs")
    ev.put(Item(key=key, failure=EvidenceFailure(kind=FailureKind.FORBIDDEN, reason="pods is forbidden: User cannot get pods")))
    run = walk(_pb([{"id": "a", "check": "gate.test-needs-pod", "title": "a"}]), _ctx(ev), REGISTRY, {})
    node = run.nodes[0]
    assert node.result.outcome is Outcome.UNKNOWN
    assert "forbidden" in node.result.reason
    assert node.missing == [str(key)]


def test_evidence_that_cannot_exist_makes_the_node_not_applicable_never_a_pass() -> None:
    # kubectl logs of a container that has never started: there is no log (the pod is initializing)
    ev = Evidence()
    key = EvidenceKey(need=Need.POD, namespace="default", name="productpage-v1-6b746f74dc-9stvs")
    ev.put(Item(key=key, failure=EvidenceFailure(kind=FailureKind.NOT_APPLICABLE, reason=(
        'container "istio-proxy" in pod "productpage-v1-6b746f74dc-9stvs" is waiting to start: PodInitializing'))))
    node = walk(_pb([{"id": "a", "check": "gate.test-needs-pod", "title": "a"}]), _ctx(ev), REGISTRY, {}).nodes[0]
    assert node.result.outcome is Outcome.NOT_APPLICABLE
    assert "waiting to start" in node.result.summary
    assert node.missing == []


def test_a_crashing_check_is_unknown_never_a_pass() -> None:
    run = walk(_pb([{"id": "a", "check": "gate.test-crashes", "title": "a"}]), _ctx(), REGISTRY, {})
    assert run.nodes[0].result.outcome is Outcome.UNKNOWN
    assert "boom" in run.nodes[0].result.reason


def test_edges_route_the_walk_and_end_stops_it() -> None:
    pb = _pb([
        {"id": "a", "check": "gate.test-fails", "title": "a", "on": {"fail": "c"}},
        {"id": "b", "check": "gate.test-fails", "title": "b"},
        {"id": "c", "check": "gate.test-fails", "title": "c", "on": {"fail": "end"}},
        {"id": "d", "check": "gate.test-fails", "title": "d"},
    ])
    run = walk(pb, _ctx(), REGISTRY, {})
    assert [n.node_id for n in run.nodes] == ["a", "c"]
    assert run.nodes[-1].next == "end"
    assert run.findings == []  # gates never become findings


def test_edge_to_unknown_node_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a node id"):
        _pb([{"id": "a", "check": "gate.test-fails", "title": "a", "on": {"fail": "nowhere"}}])


def test_playbook_errors_name_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("id: bad\ntitle: Bad\nsymptoms: [x]\nnodes:\n  - id: a\n    check: gate.test-fails\n    title: a\n    colour: red\n")
    with pytest.raises(PlaybookError) as e:
        load_playbook_file(p)
    assert f"{p}:8:" in str(e.value) and "colour" in str(e.value)
    p.write_text("id: bad\ntitle: Bad\nsymptoms: [x]\nnodes:\n  - id: a\n    check: NO-SUCH-CHECK\n    title: a\n")
    with pytest.raises(PlaybookError) as e:
        load_playbook_file(p, known_checks=set(REGISTRY.checks))
    assert f"{p}:6:" in str(e.value) and "NO-SUCH-CHECK" in str(e.value)
    p.write_text("id: bad\n  title: : :\n")
    with pytest.raises(PlaybookError, match=r"bad.yaml:\d+: not valid YAML"):
        load_playbook_file(p)


def test_builtin_playbooks_load_and_name_registered_checks() -> None:
    reg = load_builtin_checks()
    pbs = load_playbooks(known_checks=set(reg.checks))
    assert pbs, "no built-in playbooks"
    schema = playbook_json_schema()
    assert schema["title"] == "Playbook" and "nodes" in schema["properties"]


def test_catalogue_and_registry_agree() -> None:
    """A catalogue entry without a check (or a catalogue check without an entry) is a lie."""
    reg = load_builtin_checks()
    cat = load_catalogue()
    registered = {c for c in reg.checks if not c.startswith("gate.")}
    assert registered == set(cat), f"only registered: {registered - set(cat)}; only catalogued: {set(cat) - registered}"
    for entry in cat.values():
        # Istio's docs, or Envoy's for the TRACE checks (they follow Envoy's own algorithms)
        assert entry.doc_url.startswith(("https://istio.io/", "https://www.envoyproxy.io/")), entry.id
        for code in entry.explains:
            assert code in cat, f"{entry.id} explains unknown {code}"


def _finding(code: str, sev: Severity = Severity.ERROR, conf: float = 0.7, observed: list[str] | None = None) -> Finding:
    return Finding(code=code, title=code, severity=sev, confidence=conf, summary="s", explanation="e",
                   fix=Fix(summary="f"), doc_url="https://istio.io/", observed=observed or [], target="pod/x -n default")


def _entry(code: str, explains: list[str] | None = None, signals: list[str] | None = None) -> CatalogueEntry:
    return CatalogueEntry(id=code, title=code, section="t", playbooks=["t"], severity=Severity.ERROR, confidence=0.7,
                          explanation="e", fix="f", doc_url="https://istio.io/", signals=signals or [], explains=explains or [])


def test_runtime_corroboration_outranks_a_latent_config_problem() -> None:
    cat = {"A": _entry("A"), "B": _entry("B", signals=["UC"])}
    ranked = rank_findings([_finding("A", Severity.CRITICAL, 0.8), _finding("B", Severity.ERROR, 0.7)], cat, {"UC"})
    assert [f.code for f in ranked] == ["B", "A"]
    assert "UC" in ranked[0].rank_reason and ranked[0].rank == 1


def test_root_cause_ranks_above_what_it_explains() -> None:
    cat = {"ROOT": _entry("ROOT", explains=["EFFECT"]), "EFFECT": _entry("EFFECT")}
    ranked = rank_findings([_finding("EFFECT", Severity.CRITICAL, 0.95, ["503 UH"]), _finding("ROOT", Severity.WARNING, 0.6)], cat)
    assert [f.code for f in ranked] == ["ROOT", "EFFECT"]
    assert ranked[0].also_explains == ["EFFECT"]


def test_duplicate_findings_from_two_playbooks_are_merged() -> None:
    ranked = rank_findings([_finding("A"), _finding("A")], {"A": _entry("A")})
    assert len(ranked) == 1


def test_istio_version_falls_back_to_image_tags_when_istioctl_is_missing() -> None:
    import json

    from istio_doctor.engine.plan import control_plane_version
    from istio_doctor.evidence.kube import Pod, parse_kube_list
    from istio_doctor.evidence.versions import Version

    def pod(name: str, containers: list[dict], labels: dict) -> dict:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "istio-system", "labels": labels},
                "spec": {"containers": containers}}

    ev = Evidence()
    ev.put(Item(key=EvidenceKey(need=Need.ISTIOCTL_VERSION), failure=EvidenceFailure(kind=FailureKind.MISSING_BINARY, reason="no istioctl")))
    assert control_plane_version(ev) is None
    app = pod("reviews-v1-1", [{"name": "reviews", "image": "r:1"}, {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.9.5"}], {})
    ev.put(Item(key=EvidenceKey(need=Need.PODS, namespace="default"), value=parse_kube_list(json.dumps({"items": [app]}), Pod)))
    assert control_plane_version(ev) == Version.parse("1.9.5")
    istiod = pod("istiod-5d7f7b-x", [{"name": "discovery", "image": "docker.io/istio/pilot:1.22.3-distroless"}], {"app": "istiod"})
    ev.put(Item(key=EvidenceKey(need=Need.CONTROL_PLANE_PODS), value=parse_kube_list(json.dumps({"items": [istiod]}), Pod)))
    assert control_plane_version(ev) == Version.parse("1.22.3")


def test_namespace_scan_flags_pods_by_their_failing_traffic() -> None:
    """A Ready pod whose app binds localhost has no cheap pod-state signal; its proxy log does."""
    from istio_doctor.engine.plan import flag_pods
    from istio_doctor.evidence.accesslog import parse_prefixed_proxy_logs

    line = ('[2024-07-15T09:00:08.565Z] "GET /ratings/0 HTTP/1.1" 503 UF upstream_reset_before_response_started{connection_failure} '
            '- "-" 0 91 0 - "-" "curl/8.7.1" "a638" "ratings:9080" "10.244.3.6:9080" inbound|9080|| - 10.244.3.6:9080 '
            '10.244.2.7:52282 outbound_.9080_._.ratings.default.svc.cluster.local default')
    ok = ('[2024-07-15T09:00:09.000Z] "GET /details/0 HTTP/1.1" 200 - via_upstream - "-" 0 178 2 1 "-" "curl/8.7.1" "b1" '
          '"details:9080" "10.244.1.5:9080" inbound|9080|| 127.0.0.6:43211 10.244.1.5:9080 10.244.2.7:33210 '
          'outbound_.9080_._.details.default.svc.cluster.local default')
    logs = parse_prefixed_proxy_logs(f"[pod/ratings-v1-1/istio-proxy] {line}\n[pod/details-v1-1/istio-proxy] {ok}\n")
    ev = Evidence()
    ev.put(Item(key=EvidenceKey(need=Need.NAMESPACE_PROXY_LOGS, namespace="default"), value=logs))
    ev.put(Item(key=EvidenceKey(need=Need.PODS, namespace="default"), value=[]))
    flagged = flag_pods(ev, "default")
    assert set(flagged) == {"ratings-v1-1"} and "failing request" in flagged["ratings-v1-1"]


def test_a_target_that_does_not_exist_is_a_usage_error_with_suggestions() -> None:
    import asyncio

    from istio_doctor.exitcodes import ExitCode
    from istio_doctor.run import run_diagnosis
    from tests.scenariokit.bookinfo import bookinfo_world
    from tests.scenariokit.runner import WorldRunner

    w = bookinfo_world()
    pod = asyncio.run(run_diagnosis(Target.parse("pod/productpage-v1-typo", "default"), WorldRunner(w), Connection())).report
    assert pod.exit_code == ExitCode.USAGE and "was not found" in pod.headline and "did you mean: productpage-v1-" in pod.headline
    assert not any("istioctl proxy-config" in c.command for c in pod.calls)  # no doomed per-pod calls
    dep = asyncio.run(run_diagnosis(Target.parse("deploy/reviewz-v1", "default"), WorldRunner(w), Connection())).report
    assert dep.exit_code == ExitCode.USAGE and "deployment default/reviewz-v1 was not found" in dep.headline
