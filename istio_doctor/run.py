"""A diagnosis session: runner + gatherer + engine, shared by the CLI and the TUI.

This module wires the layers; it holds no diagnostic logic of its own. It has the one gather
loop: ``engine.plan.DiagnosisPlan`` (pure) says which evidence keys to fetch in each pass (a
namespace scan fetches per-pod evidence only for the pods the cheap signals flag; the pods on
the other side of the failing requests come last, for the checks with ``peer_needs``), the
``Gatherer`` fetches each pass concurrently, and the evidence goes back to the plan.

Before (and while) the first pass runs, the preflight (``evidence/preflight.py``) asks whether
kubectl, the kubeconfig, the API server and istioctl are usable; a failure stops the calls and
ends the run with one sentence (exit 2 or 3) instead of minutes of doomed calls.

Ctrl-C during gathering yields a partial report (exit code 130), never a traceback: the
gathering's calls are cancelled and reaped before the report is built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from istio_doctor.engine.ambient_plan import ambient_playbooks
from istio_doctor.engine.catalogue import load_catalogue
from istio_doctor.engine.plan import DiagnosisPlan, Examined, evaluate, missing_target, plan_needs, select_playbooks
from istio_doctor.engine.playbook import load_playbooks
from istio_doctor.engine.registry import load_builtin_checks
from istio_doctor.evidence.bundle import Evidence
from istio_doctor.evidence.gather import Gatherer, ProgressEvent
from istio_doctor.evidence.preflight import DEFAULT_TIMEOUT_S as PREFLIGHT_TIMEOUT_S
from istio_doctor.evidence.preflight import Preflight, run_preflight
from istio_doctor.evidence.runner import CommandResult, Runner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.report.build import build_report
from istio_doctor.report.model import Report

__all__ = [
    "DiagnosisResult",
    "ProgressEvent",
    "load_demo_recording_path",
    "demo_names",
    "DEFAULT_DEMO",
    "make_runner",
    "run_diagnosis",
]

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
        from istio_doctor.evidence.bugreport.archive import looks_like_bug_report

        if looks_like_bug_report(replay):
            # an `istioctl bug-report` archive answers the same calls a recording does
            from istio_doctor.evidence.bugreport.runner import open_bug_report

            return open_bug_report(replay)
        return ReplayRunner(load_recording(replay), strict=strict_replay, source_name=str(replay))
    live = LiveRunner(conn, timeout_s=timeout_s)
    if record is not None:
        from datetime import UTC, datetime

        meta = RecordingMetadata(tool_version=__version__, created=datetime.now(UTC), target="", context=conn.context,
                                 provenance="captured", source=f"istio-doctor --record against context {conn.context or '(current)'}")
        return RecordingRunner(live, metadata=meta)
    return live


def _provenance(runner: Runner) -> str:
    rec = getattr(runner, "recording", None)
    return getattr(getattr(rec, "metadata", None), "provenance", "") or ""


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
    preflight: bool = False,
    preflight_timeout_s: float = PREFLIGHT_TIMEOUT_S,
) -> DiagnosisResult:
    """One diagnosis. ``preflight`` asks first whether a cluster can be reached at all
    (``evidence/preflight.py``), concurrently with the first pass of evidence; the CLI and the
    TUI ask for it, the scenario kit does not (its recordings replay without it)."""
    registry = load_builtin_checks()
    catalogue = load_catalogue()
    playbooks = load_playbooks(playbook_dirs or [], known_checks=set(registry.checks))
    chosen = select_playbooks(playbooks, symptom)
    # Ambient-only playbooks gather their evidence in a pass of their own, for ambient pods only.
    ambient_pbs = ambient_playbooks(chosen)
    needs, peer_needs = plan_needs([pb for pb in chosen if pb not in ambient_pbs], registry)
    ambient_needs, ambient_peer_needs = plan_needs(ambient_pbs, registry) if ambient_pbs else (set(), set())
    g = Gatherer(runner, conn, since=since, timeout_s=timeout_s, on_progress=on_progress)
    plan = DiagnosisPlan(target, needs, peer_needs, playbooks=playbooks, symptom=symptom, registry=registry,
                         ambient_needs=ambient_needs, ambient_peer_needs=ambient_peer_needs)
    interrupted = False
    pf: Preflight | None = None

    def phase(msg: str) -> None:
        if on_progress is not None and msg:
            on_progress(ProgressEvent(phase="phase", message=msg))

    async def gather_all() -> None:
        # The one gather loop: the (pure) plan says what to fetch next from what has arrived.
        steps = plan.steps()
        step = next(steps, None)
        while step is not None:
            phase(step.phase)
            await g.gather(step.keys, fallback_namespace=step.fallback_namespace)
            try:
                step = steps.send(g.evidence)
            except StopIteration:
                step = None

    # The preflight's task is created first so its calls reach the runner (and its concurrency
    # limit) before the gathering's burst: queued behind thirty calls to a hanging server, the
    # question "does the server answer?" would wait for their timeouts.
    async def through_gatherer(argv: tuple[str, ...], timeout: float) -> Any:
        return await g.call(argv, label="preflight: " + " ".join(argv[:3]), timeout_s=timeout)

    checking = (asyncio.ensure_future(run_preflight(runner, conn, timeout_s=preflight_timeout_s, call=through_gatherer))
                if preflight else None)
    gathering = asyncio.ensure_future(gather_all())
    try:
        if checking is not None:
            phase("checking kubectl, the kubeconfig and the API server")
            pf = await checking
            if pf.failure is not None:
                # Nothing the gathering finds can outweigh "no cluster": stop its calls now.
                await _stop(gathering, g)
        if not gathering.cancelled():
            await gathering
    except asyncio.CancelledError:
        # Ctrl-C: diagnose with what arrived; unfinished evidence makes its checks unknown.
        interrupted = True
        if checking is not None and not checking.done():
            checking.cancel()
            await asyncio.gather(checking, return_exceptions=True)
        await _stop(gathering, g)
    examined, notes = plan.examined, plan.notes

    stopped = pf is not None and pf.failure is not None
    runs: list[Any] = []
    findings: list[Any] = []
    if not stopped:
        phase("walking the playbooks")
        runs, findings, _signals = evaluate(
            ev=g.evidence, target=target, conn=conn, examined=examined or [Examined(pod=None, related=[])],
            playbooks=chosen, registry=registry, catalogue=catalogue,
        )
    gone = None if stopped else missing_target(target, g.evidence, plan.resolved)
    report = build_report(
        ev=g.evidence, target=target, conn=conn, symptom=symptom, runs=runs, findings=findings,
        results=g.results, call_errors=g.errors, replaying=runner.replaying, recording=recording,
        provenance=_provenance(runner),
        examined=examined, notes=notes, interrupted=interrupted, missing_target=gone, evidence_time=g.now,
        preflight=pf,
    )
    phase("done")
    return DiagnosisResult(report=report, evidence=g.evidence, results=list(g.results))


async def _stop(task: asyncio.Future[None], g: Gatherer) -> None:
    """Stop a gathering and wait until its calls are killed and reaped (see ``cancel_pending``)."""
    task.cancel()
    await g.cancel_pending()
    while not task.done():
        try:
            await asyncio.gather(task, return_exceptions=True)
        except asyncio.CancelledError:
            pass
