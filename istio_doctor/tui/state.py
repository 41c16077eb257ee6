"""Plain state the app shares with its screens (no Textual here, so it is easy to assert on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from istio_doctor.report.model import Report


@dataclass(frozen=True)
class HeaderState:
    """What the header shows. Versions come from the last report: they are what the
    diagnosis actually observed, not what the kubeconfig claims."""

    context: str = ""
    cluster: str = ""
    namespace: str = ""
    target: str = ""
    istio: str = ""
    istioctl: str = ""
    replay: str = ""  # the recording's name when replaying; empty when live

    @classmethod
    def with_report(cls, base: HeaderState, report: Report) -> HeaderState:
        v = report.versions
        cp = ", ".join(sorted(set(v.control_plane)))
        return HeaderState(
            context=base.context or (report.context or ""),
            cluster=base.cluster,
            namespace=base.namespace,
            target=report.target,
            istio=cp,
            istioctl=v.istioctl or "",
            replay=base.replay,
        )


@dataclass(frozen=True)
class Flash:
    text: str = ""
    level: str = "info"  # info | warning | error
    serial: int = 0  # distinguishes two identical flashes, so the second still shows
    #: a status (the diagnosis verdict) stays; any other flash gives the line back to the
    #: status after a few seconds
    sticky: bool = False


@dataclass(frozen=True)
class TuiOptions:
    """How the TUI starts. Mirrors the CLI flags; helper code never reads argv itself."""

    context: str | None = None
    kubeconfig: str | None = None
    namespace: str | None = None
    pod: str | None = None
    #: a deploy/, svc/ or ns/ target (``tui TARGET``); ``pod`` opens one pod (k9s plugin)
    target: str | None = None
    #: a recording to answer every call from (``--replay FILE`` or the demo recording)
    replay: Path | None = None
    istio_namespace: str = "istio-system"
    #: a symptom from the CLI; with ``pod`` set the TUI goes straight to the diagnosis
    symptom: str | None = None
    since: str = "1h"
    playbook_dirs: list[Path] = field(default_factory=list)
    #: seconds the API server may take to answer the preflight (``--preflight-timeout``)
    preflight_timeout_s: float = 5.0
