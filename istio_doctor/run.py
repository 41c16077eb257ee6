"""A diagnosis session: runner + gatherer + engine, shared by the CLI and the TUI.

This module wires the layers; it holds no diagnostic logic of its own. Gathering happens in
passes, each fully concurrent:

1. cluster-wide and namespace-wide evidence, plus every examined pod's own evidence;
   (namespace scans: namespace-wide evidence first, then per-pod evidence only for the pods
   the cheap signals flag — a 500-pod namespace does not cost 500 x the per-pod calls);
2. the pods on the other side of the examined pods' failing requests (their namespaces'
   pod lists first when needed), for the checks that declare ``peer_needs``.

Ctrl-C during gathering yields a partial report (exit code 130), never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from istio_doctor.engine import ambient_plan
from istio_doctor.engine.ambient_plan import AMBIENT, ambient_playbooks
from istio_doctor.engine.catalogue import load_catalogue
from istio_doctor.engine.plan import (
    Examined,
    evaluate,
    flag_pods,
    keys_for,
    missing_target,
    plan_needs,
    related_pods,
    select_playbooks,
    target_pods,
)
from istio_doctor.engine.playbook import load_playbooks
from istio_doctor.engine.registry import load_builtin_checks
from istio_doctor.evidence.bundle import Evidence, EvidenceKey, Need, Scope
from istio_doctor.evidence.gather import Gatherer, ProgressEvent
from istio_doctor.evidence.runner import CommandResult, Runner
from istio_doctor.evidence.target import Connection, Target, TargetKind
from istio_doctor.report.build import build_report
from istio_doctor.report.model import Report

__all__ = [
    "DiagnosisResult",
    "ProgressEvent",
    "load_demo_recording_path",
    "demo_names",
    "make_runner",
    "run_diagnosis",
]

#: a namespace scan examines at most this many flagged pods in depth (the rest are listed)
MAX_FLAGGED_PODS = 25


@dataclass(repr=False)
class DiagnosisResult:
    report: Report
    evidence: Evidence
    results: list[CommandResult] = field(default_factory=list)

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run's signal-handler restore (signal._int_to_enum) formats
        # the finished main task, result included; the default repr rendered every piece of
        # evidence, which cost >1 s for a 60 MB config dump (tests/test_faults.py).
        return f"DiagnosisResult({self.report.target!r}, verdict={self.report.verdict.value!r}, {len(self.results)} calls)"


def _data_dir(name: str) -> Path:
    pkg = Path(__file__).resolve().parent
    installed = pkg / "_data" / name
    return installed if installed.is_dir() else pkg.parent / name


def recordings_dir() -> Path:
    return _data_dir("recordings")


#: the demo `istio-doctor demo` runs without a name
DEFAULT_DEMO = "bookinfo-reviews-503"


def demo_names() -> list[str]:
    """The bundled demo incidents: every recording in recordings/demo (the default first)."""
    d = recordings_dir() / "demo"
    names = sorted(p.name.removesuffix(".yaml") for p in d.glob("*.yaml") if not p.name.endswith(".expect.yaml")) if d.is_dir() else []
    return sorted(names, key=lambda n: n != DEFAULT_DEMO)


def load_demo_recording_path(name: str | None = None) -> Path:
    """A bundled demo incident (shipped in the wheel); the default one without a name."""
    return recordings_dir() / "demo" / f"{name or DEFAULT_DEMO}.yaml"


def make_runner(
    *,
    conn: Connection,
    replay: Path | None = None,
    record: Path | None = None,
    timeout_s: float = 30.0,
    strict_replay: bool = False,
) -> Runner:
    """Live runner, a replay of a recording, or a live runner whose calls are recorded."""
    from istio_doctor import __version__
    from istio_doctor.evidence.recording import RecordingMetadata, load_recording
    from istio_doctor.evidence.runner import LiveRunner, RecordingRunner, ReplayRunner

    if replay is not None:
        return ReplayRunner(load_recording(replay), strict=strict_replay, source_name=str(replay))
    live = LiveRunner(conn, timeout_s=timeout_s)
    if record is not None:
        from datetime import UTC, datetime

        meta = RecordingMetadata(tool_version=__version__, created=datetime.now(UTC), target="", context=conn.context)
        return RecordingRunner(live, metadata=meta)
    return live


async def run_diagnosis(
    target: Target,
    runner: Runner,
    conn: Connection,
    *,
    symptom: str = "auto",
    playbook_dirs: list[Path] | None = None,
    since: str = "1h",
    on_progress: Callable[[ProgressEvent], None] | None = None,
    recording: str | None = None,
    timeout_s: float | None = None,
) -> DiagnosisResult:
    registry = load_builtin_checks()
    catalogue = load_catalogue()
    playbooks = load_playbooks(playbook_dirs or [], known_checks=set(registry.checks))
    chosen = select_playbooks(playbooks, symptom)
    # Ambient-only playbooks gather their evidence in their own pass, for ambient pods only.
    ambient_pbs = ambient_playbooks(chosen)
    needs, peer_needs = plan_needs([pb for pb in chosen if pb not in ambient_pbs], registry)
    g = Gatherer(runner, conn, since=since, timeout_s=timeout_s, on_progress=on_progress)
    ns = target.namespace
    notes: list[str] = []
    examined: list[Examined] = []
    interrupted = False

    def phase(msg: str) -> None:
        if on_progress is not None:
            on_progress(ProgressEvent(phase="phase", message=msg))

    try:
        base = keys_for(needs, namespace=ns, scopes=(Scope.CLUSTER, Scope.NAMESPACE))
        pod_needs = {n for n in needs if n.scope is Scope.POD}
        if target.kind is TargetKind.POD:
            pods = [target.name]
            phase(f"gathering evidence for {target}")
            await g.gather(base + keys_for(pod_needs, namespace=ns, pods=pods), fallback_namespace=ns)
            examined = [Examined(pod=p, related=[]) for p in pods]
        else:
            extra = [EvidenceKey(need=Need.PODS, namespace=ns)]
            if target.kind is TargetKind.SERVICE:
                extra.append(EvidenceKey(need=Need.SERVICES))
            if target.kind is TargetKind.NAMESPACE:
                extra.append(EvidenceKey(need=Need.NAMESPACE_PROXY_LOGS, namespace=ns))
            phase(f"gathering namespace-wide evidence for {target}")
            await g.gather(base + extra, fallback_namespace=ns)
            pods, note = target_pods(target, g.evidence)
            if note:
                notes.append(note)
            if target.kind is TargetKind.NAMESPACE:
                flagged = flag_pods(g.evidence, ns)
                deep = list(flagged)[:MAX_FLAGGED_PODS]
                if len(flagged) > MAX_FLAGGED_PODS:
                    notes.append(f"{len(flagged)} pods flagged; the first {MAX_FLAGGED_PODS} were examined in depth")
                phase(f"{len(pods)} pods, {len(flagged)} flagged: gathering their proxy evidence")
                await g.gather(keys_for(pod_needs, namespace=ns, pods=deep))
                # Only flagged pods are walked in depth; the rest are listed in the workload table.
                # With none flagged, one namespace-level walk runs the checks that need no pod.
                examined = [Examined(pod=p, related=[], flagged_reason=flagged[p]) for p in deep] or [
                    Examined(pod=None, related=[], pod_evidence_gathered=False)
                ]
            else:
                await g.gather(keys_for(pod_needs, namespace=ns, pods=pods))
                examined = [Examined(pod=p, related=[]) for p in pods]

        if ambient_pbs:
            examined = await _ambient_pass(g, registry, ambient_pbs, target, examined, phase)

        # Second pass: the other side of the failing traffic.
        if peer_needs:
            for ex in examined:
                if not ex.pod or not ex.pod_evidence_gathered or ex.dataplane == AMBIENT:
                    continue
                rel, missing_ns = related_pods(g.evidence, ns, ex.pod)
                if missing_ns:
                    await g.gather([EvidenceKey(need=Need.PODS, namespace=m) for m in sorted(missing_ns)])
                    rel, _ = related_pods(g.evidence, ns, ex.pod)
                ex.related = rel
            peer_keys = [
                EvidenceKey(need=n, namespace=r.namespace, name=r.name)
                for ex in examined for r in ex.related for n in sorted(peer_needs | {Need.POD}, key=lambda n: n.value)
            ]
            if peer_keys:
                phase(f"gathering evidence from {len({(k.namespace, k.name) for k in peer_keys})} related pod(s)")
                await g.gather(peer_keys)
    except asyncio.CancelledError:
        # Ctrl-C: diagnose with what arrived; unfinished evidence makes its checks unknown.
        interrupted = True
        for fut in list(g._items.values()):
            fut.cancel()
        if not examined and target.kind is TargetKind.POD:
            examined = [Examined(pod=target.name, related=[])]

    phase("walking the playbooks")
    runs, findings, _signals = evaluate(
        ev=g.evidence, target=target, conn=conn, examined=examined or [Examined(pod=None, related=[])],
        playbooks=chosen, registry=registry, catalogue=catalogue,
    )
    gone = missing_target(target, g.evidence, notes[0] if notes else "")
    report = build_report(
        ev=g.evidence, target=target, conn=conn, symptom=symptom, runs=runs, findings=findings,
        results=g.results, call_errors=g.errors, replaying=runner.replaying, recording=recording,
        examined=examined, notes=notes, interrupted=interrupted, missing_target=gone,
    )
    phase("done")
    return DiagnosisResult(report=report, evidence=g.evidence, results=list(g.results))


async def _ambient_pass(
    g: Gatherer,
    registry: Any,
    ambient_pbs: list[Any],
    target: Target,
    examined: list[Examined],
    phase: Callable[[str], None],
) -> list[Examined]:
    """Ambient mode: decide each examined pod's data plane; for ambient pods (and out-of-mesh
    pods where the cluster uses ambient) gather the ambient evidence — ztunnel's config and log
    and istio-cni's log on their node, waypoints, NetworkPolicies... — then the ztunnel logs of
    the pods on the other side of their failing connections. A sidecar mesh makes no call here."""
    ns = target.namespace
    ev = g.evidence
    if target.kind is TargetKind.NAMESPACE and ambient_plan.ambient_in_use(ev, ns):
        # ambient pods have no proxy log: their failures are in the ztunnel log of each node
        scouts = ambient_plan.log_scouts(ev, ns)
        if scouts:
            phase(f"reading the ztunnel logs of {len(scouts)} node(s)")
            await g.gather([EvidenceKey(need=Need.ZTUNNEL_LOGS, namespace=ns, name=p) for p in scouts])
        flagged = {p: r for p, r in ambient_plan.ambient_flags(ev, ns).items() if p not in {e.pod for e in examined}}
        extra = [Examined(pod=p, related=[], flagged_reason=r) for p, r in list(flagged.items())[:MAX_FLAGGED_PODS]]
        if extra:
            examined = [e for e in examined if e.pod is not None] + extra
    for ex in examined:
        ex.dataplane = ambient_plan.dataplane_walk(ev, ns, ex.pod)
    walking = [ex for ex in examined if ex.dataplane != ambient_plan.SIDECAR]
    if not walking:
        return examined
    needs, peer_needs = plan_needs(ambient_pbs, registry)
    pods = [ex.pod for ex in walking if ex.pod and ex.pod_evidence_gathered]
    phase(f"ambient mode: gathering ztunnel and istio-cni evidence for {len(pods) or 'the namespace'} pod(s)")
    await g.gather(keys_for(needs, namespace=ns, scopes=(Scope.CLUSTER, Scope.NAMESPACE))
                   + keys_for({n for n in needs if n.scope is Scope.POD}, namespace=ns, pods=pods), fallback_namespace=ns)
    peers = []
    for ex in walking:
        if ex.pod and ex.dataplane == AMBIENT:
            ex.related = ambient_plan.related_pods(ev, ns, ex.pod)
            peers += [(r.namespace, r.name) for r in ex.related]
    peer_kinds = sorted(set(peer_needs) | {Need.POD, Need.ZTUNNEL_LOGS}, key=lambda n: n.value)
    if peers:
        phase(f"gathering the ztunnel logs of {len(set(peers))} related pod(s)")
        await g.gather([EvidenceKey(need=n, namespace=pns, name=pname) for pns, pname in dict.fromkeys(peers) for n in peer_kinds])
    return examined

