"""Ambient in the engine: which playbooks a pod walks, node agents resolved by the gatherer, a
missing ztunnel or istio-cni agent reported as unknown with its reason (never healthy), and a
healthy ambient pod diagnosed with no problem (through the installed CLI as well).

Worlds come from the scenario kit (``tests/scenariokit/ambient*.py``), whose outputs follow the
corpus (``tests/test_scenariokit_ambient.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from istio_doctor import __version__
from istio_doctor.engine import ambient_plan as ap
from istio_doctor.engine.playbook import load_playbooks
from istio_doctor.evidence.bundle import EvidenceKey, FailureKind, Need
from istio_doctor.evidence.gather import Gatherer
from istio_doctor.evidence.recording import RecordingMetadata
from istio_doctor.evidence.runner import RecordingRunner, ReplayRunner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.run import run_diagnosis
from tests.scenariokit.ambient import Ambient
from tests.test_cli_e2e import entry_point
from tests.scenariokit.ambient_bookinfo import ambient_world
from tests.scenariokit.runner import WorldRunner
from tests.scenariokit.world import EPOCH, World

ROOT = Path(__file__).resolve().parent.parent
CONN = Connection(context="kind-scenarios")


def _pod(w: World, prefix: str, ns: str = "default"):  # type: ignore[no-untyped-def]
    return next(p for p in w.pods if p.namespace == ns and p.name.startswith(prefix))


def _gather(w: World, keys: list[EvidenceKey]):  # type: ignore[no-untyped-def]
    return asyncio.run(Gatherer(WorldRunner(w), CONN).gather(keys))


# -- dataplane -> playbooks ------------------------------------------------------------------------


def test_dataplane_walk_reads_labels_and_the_redirection_annotation() -> None:
    w = ambient_world()
    reviews, sleep_legacy = _pod(w, "reviews-v1"), _pod(w, "sleep", "legacy")
    gw = _pod(w, "istio-ingressgateway", "istio-system")
    ev = _gather(w, [EvidenceKey(need=Need.NAMESPACES), EvidenceKey(need=Need.POD, namespace="default", name=reviews.name),
                     EvidenceKey(need=Need.POD, namespace="legacy", name=sleep_legacy.name),
                     EvidenceKey(need=Need.POD, namespace="istio-system", name=gw.name)])
    mode = ap.dataplane_of(ev, "default", reviews.name)
    assert mode is not None and mode.is_ambient
    assert ap.dataplane_walk(ev, "default", reviews.name) == ap.AMBIENT
    assert ap.dataplane_walk(ev, "default", None) == ap.ANY  # a namespace walk where ambient is in use
    # legacy is out of the mesh in a cluster that uses ambient
    assert ap.dataplane_walk(ev, "legacy", sleep_legacy.name) == ap.NONE_IN_AMBIENT_MESH
    # an injected gateway is a sidecar-style proxy, never ambient
    assert ap.dataplane_walk(ev, "istio-system", gw.name) == ap.SIDECAR


def test_absence_of_a_sidecar_alone_is_not_ambient() -> None:
    """An un-injected pod with no ambient label and no redirection annotation, in a cluster that
    does not use ambient, walks the sidecar playbooks (the out-of-mesh causes), not the ambient ones."""
    from tests.scenariokit.bookinfo import bookinfo_world

    w = bookinfo_world()
    sleep_legacy = _pod(w, "sleep", "legacy")
    ev = _gather(w, [EvidenceKey(need=Need.NAMESPACES), EvidenceKey(need=Need.POD, namespace="legacy", name=sleep_legacy.name)])
    mode = ap.dataplane_of(ev, "legacy", sleep_legacy.name)
    assert mode is not None and mode.mode == "none" and not mode.is_ambient and not mode.has_sidecar
    assert ap.dataplane_walk(ev, "legacy", sleep_legacy.name) == ap.SIDECAR


def test_playbooks_for_each_walk() -> None:
    pbs = list(load_playbooks().values())
    ids = lambda walk: {p.id for p in ap.playbooks_for(pbs, walk)}  # noqa: E731
    amb = {"capture", "ztunnel", "waypoint", "authz", "probes", "egress"}
    assert amb <= ids(ap.AMBIENT) and not ({"injection", "p503", "mtls", "routes"} & ids(ap.AMBIENT))
    assert not (amb & ids(ap.SIDECAR)) and {"injection", "p503"} <= ids(ap.SIDECAR)
    assert "triage" in ids(ap.AMBIENT) and "triage" in ids(ap.SIDECAR)
    assert ids(ap.ANY) == {p.id for p in pbs}


# -- node agents -----------------------------------------------------------------------------------


def test_node_agent_is_resolved_on_the_pods_node() -> None:
    w = ambient_world()
    reviews = _pod(w, "reviews-v1")
    ev = _gather(w, [EvidenceKey(need=Need.ZTUNNEL_CONFIG, namespace="default", name=reviews.name),
                     EvidenceKey(need=Need.CNI_LOGS, namespace="default", name=reviews.name)])
    dump = ev.get(Need.ZTUNNEL_CONFIG, "default", reviews.name)
    assert any(wl.name == reviews.name for wl in dump.workloads)
    item = ev.item(Need.ZTUNNEL_CONFIG, "default", reviews.name)
    assert item is not None and any(f"--node" not in a and "ztunnel-" in " ".join(a) for a in item.sources)
    assert ev.get(Need.CNI_LOGS, "default", reviews.name).install_config["K8sNodeName"] == reviews.node


@pytest.mark.parametrize("agent,need", [("ztunnel", Need.ZTUNNEL_CONFIG), ("ztunnel", Need.ZTUNNEL_LOGS), ("cni", Need.CNI_LOGS)])
def test_missing_node_agent_is_unknown_with_its_reason(agent: str, need: Need) -> None:
    w = ambient_world()
    reviews = _pod(w, "reviews-v1")
    setattr(w, "ambient", Ambient(**{agent: {reviews.node: "missing"}}))
    ev = _gather(w, [EvidenceKey(need=need, namespace="default", name=reviews.name)])
    item = ev.item(need, "default", reviews.name)
    assert item is not None and not item.ok and item.failure is not None
    assert item.failure.kind == FailureKind.NOT_FOUND
    assert reviews.node in item.failure.reason and ("ztunnel" if agent == "ztunnel" else "istio-cni") in item.failure.reason


def _diagnose(w: World, target: str, ns: str):  # type: ignore[no-untyped-def]
    """Record the world, then replay it: the replay's clock is the recording's (the kit's EPOCH),
    as for the committed scenario recordings, so certificates are judged at the world's time."""
    meta = RecordingMetadata(tool_version=__version__, created=EPOCH, target=target, context=CONN.context)
    rr = RecordingRunner(WorldRunner(w), metadata=meta)
    asyncio.run(run_diagnosis(Target.parse(target, ns), rr, CONN, symptom="auto"))
    replay = ReplayRunner(rr.recording(), strict=True, source_name="world")
    return asyncio.run(run_diagnosis(Target.parse(target, ns), replay, CONN, symptom="auto")).report


def test_a_missing_ztunnel_never_reads_healthy() -> None:
    w = ambient_world()
    reviews = _pod(w, "reviews-v1")
    w.ambient = Ambient(ztunnel={reviews.node: "missing"})
    report = _diagnose(w, f"pod/{reviews.name}", "default")
    assert report.verdict != "no_problem_found"
    gaps = [u for u in report.unchecked if u.evidence.startswith("ztunnel")]
    assert gaps and all(reviews.node in u.reason for u in gaps), report.unchecked
    assert report.findings and report.findings[0].code.startswith("AMB-"), [f.code for f in report.findings]


def test_healthy_ambient_pod_reports_no_problem() -> None:
    w = ambient_world()
    report = _diagnose(w, f"pod/{_pod(w, 'reviews-v1').name}", "default")
    assert report.verdict == "no_problem_found", [f.code for f in report.findings]
    assert not [f for f in report.findings if f.code.startswith("AMB-")]


def test_cli_healthy_ambient_recording_exits_zero() -> None:
    """``istio-doctor diagnose --replay recordings/ambient/healthy-ambient-pod.yaml`` (the CLI e2e
    path: installed console script, replayed kit recording) reports no problem."""
    rec = ROOT / "recordings/ambient/healthy-ambient-pod.yaml"
    env = {**os.environ, "NO_COLOR": "1"}
    # never skipped: the installed console script when there is one (CI's fresh install), else the module
    cmd = entry_point()
    p = subprocess.run([*cmd, "diagnose", "--replay", str(rec), "-o", "json"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads(p.stdout)
    assert report["verdict"] == "no_problem_found" and report["findings"] == []
    assert {"capture", "ztunnel", "waypoint", "authz"} <= set(report["playbooks_run"])
    assert not {"injection", "p503", "mtls", "routes"} & set(report["playbooks_run"])
    text = subprocess.run([*cmd, "diagnose", "--replay", str(rec)], capture_output=True, text=True, env=env, timeout=120)
    assert text.returncode == 0
    assert "it is in ambient mode (ambient.istio.io/redirection=enabled), ztunnel carries its traffic" in " ".join(text.stdout.split())


def test_every_ambient_check_has_a_failing_recording_and_a_lookalike_control() -> None:
    """Each implemented AMB check is proved by a recording where it ranks (first or among the
    findings) and ruled out by a look-alike control that resembles it and comes out clean."""
    import yaml

    from istio_doctor.engine.catalogue import load_catalogue
    from tests.scenarios import _ambient

    for mod in ("capture", "ztunnel", "waypoint", "authz", "probes", "egress", "ambient"):
        __import__(f"tests.scenarios.{mod}")
    codes = {c for c in load_catalogue() if c.startswith("AMB-")}
    assert len(codes) >= 30
    failing: set[str] = set()
    clean: set[str] = set()
    for exp in (ROOT / "recordings").glob("*/*.expect.yaml"):
        e = yaml.safe_load(exp.read_text(encoding="utf-8"))
        failing |= set(e.get("findings") or [])
        if e["verdict"] == "no_problem_found" and e["findings"] == []:
            key = f"{exp.parent.name}/{exp.name.removesuffix('.expect.yaml')}"
            resembles = set(_ambient.LOOKALIKES.get(key, ()))
            if resembles != set(_ambient.AMB_CODES):  # a healthy mesh resembles nothing in particular
                clean |= resembles
    assert codes - failing == set(), "AMB checks without a failing recording"
    assert codes - clean == set(), "AMB checks without a look-alike control"
