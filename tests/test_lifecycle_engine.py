"""The pod's timeline (clock skew included), the version facts behind the lifecycle checks, and
the auto-mode signature. Facts are tested against the Istio source they cite; timelines against
the lifecycle scenario recordings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from istio_doctor.engine.lifecycle import Clock, MomentKind, build_timeline, with_local_clock
from istio_doctor.engine.lifecycle import facts
from istio_doctor.engine.lifecycle.signature import lifecycle_signature
from istio_doctor.engine.mesh.injection import inject_value
from istio_doctor.evidence.bundle import Evidence, EvidenceKey, Item, Need
from istio_doctor.evidence.recording import load_recording
from istio_doctor.evidence.runner import ReplayRunner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.evidence.versions import Version
from istio_doctor.run import DiagnosisResult, run_diagnosis

REC = Path(__file__).resolve().parent.parent / "recordings" / "lifecycle"
V = Version.parse


@cache
def replay(name: str, symptom: str = "startup") -> DiagnosisResult:
    import yaml

    exp = yaml.safe_load((REC / f"{name}.expect.yaml").read_text())
    pod, _, ns = exp["target"].partition(" -n ")
    rec = load_recording(REC / f"{name}.yaml")
    return asyncio.run(run_diagnosis(Target.parse(pod.strip(), ns.strip()), ReplayRunner(rec, strict=True), Connection(),
                                     symptom=symptom))


def _pod_of(result: DiagnosisResult) -> tuple[str, str]:
    t = result.report.target
    pod, _, ns = t.partition(" -n ")
    return ns.strip(), pod.strip().removeprefix("pod/")


# -- facts, each against the source it cites -------------------------------------------------------


@pytest.mark.parametrize("version, annotation, mesh, values", [
    ("1.6.8", False, False, False),   # no such setting before 1.7 (istio/istio@1.6.0 has none)
    ("1.7.8", False, False, True),    # 1.7: values only (gen-istio.yaml, inject.go)
    ("1.8.6", True, True, True),      # 1.8: .ProxyConfig (annotation over meshConfig) or values
    ("1.9.0", True, False, True),     # 1.9.0: reorderPod ignores meshConfig without the annotation (#30814)
    ("1.9.1", True, True, True),      # fixed by #30846
    ("1.22.3", True, True, True),
])
def test_where_hold_is_honoured(version: str, annotation: bool, mesh: bool, values: bool) -> None:
    got = [facts.hold_verdict(V(version), p).honoured for p in ("annotation", "meshConfig", "values")]
    assert got == [annotation, mesh, values]


def test_a_proxy_lifecycle_value_replaces_the_hold_hook_in_every_version() -> None:
    v = facts.hold_verdict(V("1.22.3"), "meshConfig", lifecycle_set=True)
    assert not v.honoured and "values.global.proxy.lifecycle" in v.why and "injection-template.yaml" in v.source


@pytest.mark.parametrize("value, policy_enabled, before, after", [
    # istio/istio@1.27.0:pkg/kube/inject/webhook_test.go TestInjectRequired, the cases #56737 added
    ("yes", True, "inject", "invalid"),     # invalid-inject-value-yes: injected (policy enabled) from 1.27
    ("on", False, "inject", "invalid"),     # invalid-inject-value-on: not injected (policy disabled) from 1.27
    ("random", True, "skip", "invalid"),    # invalid-inject-value-random: injected (policy enabled) from 1.27
    ("True", True, "inject", "invalid"),
    ("False", True, "skip", "invalid"),
    ("true", True, "inject", "inject"),
    ("false", True, "skip", "skip"),
    ("", True, "default", "default"),
])
def test_inject_value_before_and_from_1_27(value: str, policy_enabled: bool, before: str, after: str) -> None:
    assert inject_value(value, V("1.26.3")) == before
    assert inject_value(value, V("1.27.0")) == after


def test_native_sidecar_fix_by_istio_and_kubernetes_version() -> None:
    assert facts.native_fix(V("1.18.2"), 30) is None                  # no ENABLE_NATIVE_SIDECARS before 1.19
    assert facts.native_fix(V("1.22.3"), 28) is None                  # SidecarContainers beta (on) from Kubernetes 1.29
    assert "ENABLE_NATIVE_SIDECARS=true" in facts.native_fix(V("1.22.3"), 30)[0]
    text, source = facts.native_fix(V("1.27.1"), 30)
    assert "sidecar.istio.io/nativeSidecar" in text and ">= 1.33" in text and "DetectNativeSidecar" in source


# -- the timeline -----------------------------------------------------------------------------------


def test_job_timeline_orders_the_containers_and_pilot_agent_on_the_node_clock() -> None:
    r = replay("job-sidecar-keeps-pod-running-1-22-3")
    ns, pod = _pod_of(r)
    tl = build_timeline(r.evidence, ns, pod)
    assert tl is not None and tl.node and tl.origin is not None
    kinds = [m.kind for m in tl.moments]
    assert kinds.index(MomentKind.POD_CREATED) < kinds.index(MomentKind.PROXY_AGENT_START) < kinds.index(MomentKind.PROXY_READY)
    ready, exited = tl.first(MomentKind.PROXY_READY), tl.first(MomentKind.CONTAINER_EXITED, container="pi")
    assert ready is not None and exited is not None and ready.at < exited.at and ready.clock is exited.clock is Clock.NODE
    ids = [m.id for m in tl.moments]
    assert len(set(ids)) == len(ids)
    # ids follow the content, not the position: a timeline built from fewer sources (what a check
    # declares) gives the moments it shares with the full one the same ids
    small = build_timeline(r.evidence, ns, pod, frozenset())
    assert small is not None and {m.id for m in small.moments} < set(ids)
    assert tl.skew.node_behind_s is None and not tl.skew.notes
    assert {c.name: c.state for c in tl.containers} == {"istio-init": "Completed", "istio-proxy": "Running", "pi": "Completed"}


def test_the_report_marks_the_moments_a_finding_decided_on() -> None:
    r = replay("job-sidecar-keeps-pod-running-1-22-3")
    (tl,) = r.report.timelines
    finding = r.report.findings[0]
    assert finding.code == "LIFE-JOB-SIDECAR" and finding.moments
    assert {m.id for m in tl.moments if m.deciding == ["LIFE-JOB-SIDECAR"]} == set(finding.moments)


def _shifted(ev: Evidence, ns: str, pod: str, seconds: float) -> Evidence:
    """The same evidence with the pod's creationTimestamp moved by ``seconds`` (the API server's clock)."""
    out = Evidence()
    for it in ev.items():
        out.put(it)
    obj = ev.get(Need.POD, ns, pod)
    md = obj.metadata.model_copy(update={"creation_timestamp": obj.metadata.creation_timestamp + timedelta(seconds=seconds)})
    out.put(Item(key=EvidenceKey(need=Need.POD, namespace=ns, name=pod), value=obj.model_copy(update={"metadata": md}),
                 sources=ev.item(Need.POD, ns, pod).sources))
    return out


def test_a_node_clock_behind_the_api_server_is_detected_and_corrected() -> None:
    """The kubelet cannot start a pod before the API server created it: a node time 40 s before the
    creationTimestamp means the node's clock is at least 39 s behind (one second of API precision)."""
    r = replay("job-sidecar-keeps-pod-running-1-22-3")
    ns, pod = _pod_of(r)
    tl = build_timeline(_shifted(r.evidence, ns, pod, 40), ns, pod)
    assert tl is not None and tl.skew.node_behind_s == 39.0 and "behind the API server" in tl.skew.notes[0]
    # ordering follows corrected times: the API's creation comes before every node moment again
    kinds = [(m.kind, m.clock) for m in tl.moments]
    first_node = next(i for i, (_k, c) in enumerate(kinds) if c is Clock.NODE)
    assert kinds.index((MomentKind.POD_CREATED, Clock.CONTROL_PLANE)) < first_node
    # within one second nothing is claimed
    assert build_timeline(_shifted(r.evidence, ns, pod, 1.5), ns, pod).skew.node_behind_s is None


def test_a_local_clock_behind_the_cluster_is_detected() -> None:
    r = replay("job-sidecar-keeps-pod-running-1-22-3")
    ns, pod = _pod_of(r)
    tl = build_timeline(r.evidence, ns, pod)
    assert tl is not None and tl.reference_time is not None
    early = with_local_clock(tl, tl.reference_time - timedelta(minutes=5))
    assert early.skew.local_behind_s == 300.0 and early.gathered_at is not None
    assert with_local_clock(tl, tl.reference_time + timedelta(hours=1)).skew.local_behind_s is None


def test_cni_race_timeline_puts_both_clocks_of_the_node_side_by_side() -> None:
    r = replay("cni-race-label-mode-1-20")
    ns, pod = _pod_of(r)
    tl = build_timeline(r.evidence, ns, pod)
    started, agent = tl.first(MomentKind.POD_STARTED), tl.first(MomentKind.CNI_AGENT_READY)
    assert started is not None and agent is not None and started.at < agent.at
    assert any("adding label" in m.summary for m in tl.of(MomentKind.CNI))


# -- auto mode's signature ------------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("job-sidecar-keeps-pod-running-1-22-3", "the Job's containers finished while istio-proxy keeps running"),
    ("cni-race-label-mode-1-20", "init container istio-validation is CrashLoopBackOff"),
    ("hold-meshconfig-ignored-1-9-0", "container productpage exited with code 2 within 120s of the pod's start"),
    ("job-native-sidecar-completes", None),
    ("hold-meshconfig-honoured-1-9-1", "holdApplicationUntilProxyStarts"),
])
def test_signature(name: str, expected: str | None) -> None:
    r = replay(name)
    ns, pod = _pod_of(r)
    got = lifecycle_signature(r.evidence, ns, pod)
    if expected is None or expected == "holdApplicationUntilProxyStarts":
        assert got is None, got  # a hold that is in effect is no signature
    else:
        assert got == expected


def test_auto_walks_the_lifecycle_playbook_only_for_a_signature() -> None:
    assert "lifecycle" in replay("job-sidecar-keeps-pod-running-1-22-3", "auto").report.playbooks_run
    healthy = Path(__file__).resolve().parent.parent / "recordings" / "p503"
    import yaml

    exp = next(p for p in sorted(healthy.glob("*.expect.yaml")) if yaml.safe_load(p.read_text())["verdict"] == "no_problem_found")
    data = yaml.safe_load(exp.read_text())
    pod, _, ns = data["target"].partition(" -n ")
    rec = load_recording(exp.with_name(exp.name.replace(".expect.yaml", ".yaml")))
    res = asyncio.run(run_diagnosis(Target.parse(pod.strip(), ns.strip()), ReplayRunner(rec, strict=True), Connection(),
                                    symptom="auto"))
    assert "lifecycle" not in res.report.playbooks_run
    # The lifecycle playbook's own evidence (the istio-cni agents and their log) is not gathered.
    # The app's current log is: P503-STARTUP-RACE (a p503 check) reads the app's network errors
    # stamped before "Envoy proxy is ready" from it (scenarios lifecycle/startup-race-logged-*).
    assert not any("istio-cni-node" in c.command for c in res.report.calls)
    assert not any("--previous" in c.command for c in res.report.calls)  # no container restarted


def test_generated_reports_never_read_the_local_clock_for_ages() -> None:
    """A replay's timeline is judged at the recording's time, not today's."""
    (tl,) = replay("job-sidecar-keeps-pod-running-1-22-3").report.timelines
    assert tl.gathered_at == datetime(2024, 7, 15, 9, 30, tzinfo=UTC) and tl.skew.local_behind_s is None


def test_startup_race_reading_compares_the_crash_with_the_proxy_ready_line() -> None:
    from istio_doctor.engine.lifecycle.readings import startup_race

    r = replay("hold-meshconfig-ignored-1-9-0")
    ns, pod = _pod_of(r)
    race = startup_race(build_timeline(r.evidence, ns, pod))
    assert race is not None and race.container == "productpage" and race.crash is not None and race.ready is not None
    assert race.crash.at < race.ready.at and race.crash.run == "previous"
    assert any("100.65.158.99:5432" in m.excerpt for m in race.errors)  # cf-for-k8s#189's line, from --previous
    healthy = replay("hold-meshconfig-honoured-1-9-1")
    assert startup_race(build_timeline(healthy.evidence, *_pod_of(healthy))) is None
