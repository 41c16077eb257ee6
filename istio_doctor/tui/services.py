"""The TUI's seams to the rest of istio-doctor, injectable so tests drive the real screens
with fake runners and a fake diagnosis (deterministic, no cluster, no recording needed).

Defaults import ``istio_doctor.run`` lazily: the first screen must paint before the
engine, the playbooks and the kubernetes client are imported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from istio_doctor.evidence.runner import CommandResult, Runner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.report.model import Report
from istio_doctor.tui.listing import ContextList, list_kube_contexts


class DiagnosisLike(Protocol):
    """What the TUI reads from ``istio_doctor.run.DiagnosisResult``."""

    @property
    def report(self) -> Report: ...

    @property
    def evidence(self) -> Any: ...

    @property
    def results(self) -> Sequence[CommandResult]: ...


class ProgressLike(Protocol):
    """What the TUI reads from ``istio_doctor.run.ProgressEvent``."""

    phase: str
    key: str
    command: str
    exit_code: int | None
    duration_s: float | None
    message: str
    done: int
    total: int


DiagnoseFn = Callable[..., Awaitable[DiagnosisLike]]
RunnerFactory = Callable[[Connection, Path | None], Runner]


def _default_runner(conn: Connection, replay: Path | None) -> Runner:
    from istio_doctor.run import make_runner

    return make_runner(conn=conn, replay=replay)


async def _default_diagnose(target: Target, runner: Runner, conn: Connection, **kw: Any) -> DiagnosisLike:
    from istio_doctor.run import run_diagnosis

    return await run_diagnosis(target, runner, conn, **kw)


def _default_markdown() -> Callable[[Report], str] | None:
    try:
        from istio_doctor.report.markdown import render_markdown
    except ImportError:
        return None
    return render_markdown  # type: ignore[no-any-return]


def _default_config_views() -> Any:
    try:
        from istio_doctor.evidence.envoy import views
    except ImportError:
        return None
    return views


def _default_ztunnel_views() -> Any:
    try:
        from istio_doctor.evidence.ambient import ztunnel_views
    except ImportError:
        return None
    return ztunnel_views


@dataclass
class Services:
    make_runner: RunnerFactory = _default_runner
    run_diagnosis: DiagnoseFn = _default_diagnose
    list_contexts: Callable[[str | None], ContextList] = list_kube_contexts
    #: resolved when first needed; returns None when the module is not available
    markdown: Callable[[], Callable[[Report], str] | None] = _default_markdown
    config_views: Callable[[], Any] = _default_config_views
    ztunnel_views: Callable[[], Any] = _default_ztunnel_views
