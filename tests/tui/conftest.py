"""Builders for TUI tests: a fake runner that lists namespaces and pods, a fake diagnosis
over a hand-built report (the golden ``two-findings`` report), and an app factory.

Everything time-dependent is frozen: animations off, a fixed clock, static progress glyphs,
so SVG snapshots are byte-for-byte repeatable.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

os.environ["TEXTUAL_ANIMATIONS"] = "none"  # read by textual.constants at import: set before it

from istio_doctor.evidence.bundle import Evidence, EvidenceKey, Item, Need  # noqa: E402
from istio_doctor.evidence.runner import CommandResult, Runner  # noqa: E402
from istio_doctor.evidence.target import Connection, Target  # noqa: E402
from istio_doctor.report.model import Report  # noqa: E402
from istio_doctor.tui.listing import ContextList, ContextRow  # noqa: E402
from istio_doctor.tui.services import Services  # noqa: E402
from istio_doctor.tui.state import TuiOptions  # noqa: E402

REPORTS = Path(__file__).parent.parent / "fixtures" / "reports"
POD = "productpage-v1-6b746f74dc-9stvs"
NS = "bookinfo"


def load_report(name: str = "two-findings") -> Report:
    return Report.model_validate_json((REPORTS / f"{name}.json").read_text(encoding="utf-8"))


def _pod(name: str, *, mesh: bool, ready: bool = True, restarts: int = 0, rev: str = "", native: bool = False) -> dict[str, Any]:
    containers = [{"name": name.split("-")[0]}]
    statuses = [{"name": name.split("-")[0], "ready": ready, "restartCount": restarts}]
    init: list[dict[str, Any]] = []
    init_statuses: list[dict[str, Any]] = []
    if mesh and native:
        init.append({"name": "istio-proxy", "restartPolicy": "Always"})
        init_statuses.append({"name": "istio-proxy", "ready": True, "restartCount": 0})
    elif mesh:
        containers.append({"name": "istio-proxy"})
        statuses.append({"name": "istio-proxy", "ready": True, "restartCount": 0})
    meta: dict[str, Any] = {"name": name, "namespace": NS, "labels": {}, "annotations": {}}
    if rev:
        meta["annotations"]["sidecar.istio.io/status"] = json.dumps({"revision": rev, "containers": ["istio-proxy"]})
    return {
        "metadata": meta,
        "spec": {"containers": containers, "initContainers": init},
        "status": {"phase": "Running", "containerStatuses": statuses, "initContainerStatuses": init_statuses},
    }


PODS = [
    _pod("details-v1-79f774bdb9-6jl84", mesh=True, rev="default"),
    _pod(POD, mesh=True, rev="default"),
    _pod("ratings-v1-5f9699cfdf-4x2fq", mesh=True, rev="1-22-0", native=True),
    _pod("reviews-v1-5b5d6494f4-wsrwp", mesh=False, ready=False, restarts=3),
]
NAMESPACES = ["bookinfo", "default", "istio-system", "kube-system"]


def _list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


#: a healthy cluster's answers to the preflight (evidence/preflight.py), by the argv's first words
PREFLIGHT_ANSWERS = {
    ("kubectl", "config", "view"): "kind-bookinfo\nhttps://127.0.0.1:6443",
    ("kubectl", "version", "-o"): json.dumps({"clientVersion": {"gitVersion": "v1.30.2"}, "serverVersion": {"gitVersion": "v1.30.0"}}),
    ("istioctl", "version", "--remote=false"): json.dumps({"clientVersion": {"version": "1.22.0"}}),
}


class FakeRunner(Runner):
    """Answers the picker's listing calls; any other call exits 1 like a non-strict replay."""

    def __init__(self, answers: dict[tuple[str, ...], CommandResult] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answers = answers or {}

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        self.calls.append(list(argv))
        key = tuple(argv)
        if key in self.answers:
            return self.answers[key]
        preflight = PREFLIGHT_ANSWERS.get(tuple(argv[:3]))
        if preflight is not None:
            return CommandResult(argv=key, exit_code=0, stdout=preflight, duration_s=0.01)
        if argv[:3] == ["kubectl", "get", "namespaces"]:
            return CommandResult(argv=key, exit_code=0, stdout=_list([{"metadata": {"name": n}} for n in NAMESPACES]), duration_s=0.01)
        if argv[:3] == ["kubectl", "get", "pods"] and "bookinfo" in argv:
            return CommandResult(argv=key, exit_code=0, stdout=_list(PODS), duration_s=0.01)
        return CommandResult(argv=key, exit_code=1, stdout="", stderr=f"no recorded call matches {' '.join(argv)}", duration_s=0.0)


DR_YAML = """apiVersion: v1
items:
- apiVersion: networking.istio.io/v1beta1
  kind: DestinationRule
  metadata:
    name: details
    namespace: bookinfo
  spec:
    host: details.bookinfo.svc.cluster.local
- apiVersion: networking.istio.io/v1beta1
  kind: DestinationRule
  metadata:
    name: reviews
    namespace: bookinfo
  spec:
    host: reviews.bookinfo.svc.cluster.local
    trafficPolicy:
      tls:
        mode: DISABLE
kind: List
"""

PA_YAML = """apiVersion: v1
items:
- apiVersion: security.istio.io/v1beta1
  kind: PeerAuthentication
  metadata:
    name: default
    namespace: bookinfo
  spec:
    mtls:
      mode: STRICT
kind: List
"""

CONFIG_DUMP = {
    "configs": [
        {
            "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
            "dynamic_active_clusters": [
                {"cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": n, "type": t}}
                for n, t in [
                    ("outbound|9080||reviews.bookinfo.svc.cluster.local", "EDS"),
                    ("outbound|9080||ratings.bookinfo.svc.cluster.local", "EDS"),
                    ("outbound|9080||details.bookinfo.svc.cluster.local", "EDS"),
                    ("inbound|9080||", "ORIGINAL_DST"),
                ]
            ],
        },
        {
            "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
            "dynamic_route_configs": [
                {
                    "route_config": {
                        "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
                        "name": "9080",
                        "virtual_hosts": [
                            {
                                "name": "reviews.bookinfo.svc.cluster.local:9080",
                                "domains": ["reviews.bookinfo.svc.cluster.local", "reviews"],
                                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "outbound|9080||reviews.bookinfo.svc.cluster.local"}}],
                            }
                        ],
                    }
                }
            ],
        },
    ]
}


def _result(command: str, stdout: str, exit_code: int = 0, duration: float = 0.2) -> CommandResult:
    import shlex

    return CommandResult(argv=tuple(shlex.split(command)), exit_code=exit_code, stdout=stdout, duration_s=duration)


def diagnosis_results(report: Report) -> list[CommandResult]:
    """Outputs for the calls the report cites, so the evidence pane has verbatim output."""
    out = [
        _result("kubectl get destinationrules.networking.istio.io -A -o yaml", DR_YAML),
        _result("kubectl get peerauthentications.security.istio.io -A -o yaml", PA_YAML),
    ]
    cited = {r.command_line for r in out}
    for call in report.calls:
        if call.command not in cited:
            out.append(CommandResult(argv=tuple(call.argv), exit_code=call.exit_code if call.exit_code is not None else 1,
                                     stdout="", stderr=call.error, duration_s=call.duration_s))
    return out


@dataclass
class FakeDiagnosis:
    report: Report
    evidence: Evidence
    results: list[CommandResult]


def fake_evidence(with_dump: bool = True) -> Evidence:
    ev = Evidence()
    if with_dump:
        from istio_doctor.evidence.envoy.configdump import parse_config_dump

        ev.put(Item(key=EvidenceKey(need=Need.CONFIG_DUMP, namespace=NS, name=POD), value=parse_config_dump(json.dumps(CONFIG_DUMP))))
    return ev


@dataclass
class FakeSession:
    """A stand-in for ``istio_doctor.run``: records what it was asked and answers with
    ``report``. With ``gate`` set, the diagnosis waits until the gate opens (cancel tests)."""

    report: Report = field(default_factory=load_report)
    gate: threading.Event | None = None
    with_dump: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)
    runners: list[FakeRunner] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def make_runner(self, conn: Connection, replay: Path | None) -> Runner:
        r = FakeRunner()
        self.runners.append(r)
        return r

    async def run_diagnosis(self, target: Target, runner: Runner, conn: Connection, **kw: Any) -> FakeDiagnosis:
        from istio_doctor.evidence.gather import ProgressEvent

        self.calls.append({"target": target, "conn": conn, **kw})
        progress: Callable[[ProgressEvent], None] | None = kw.get("on_progress")
        commands = [c.command for c in self.report.calls]
        if progress:
            progress(ProgressEvent(phase="phase", message=f"gathering evidence for {target}"))
            for i, c in enumerate(commands):
                progress(ProgressEvent(phase="call_started", key=c, command=c, done=i, total=len(commands)))
        self.started.set()
        if self.gate is not None:
            try:
                while not self.gate.is_set():
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if progress:
            for i, call in enumerate(self.report.calls):
                progress(ProgressEvent(phase="call_finished", key=call.command, command=call.command,
                                       exit_code=call.exit_code, duration_s=call.duration_s, done=i + 1, total=len(commands)))
        return FakeDiagnosis(self.report, fake_evidence(self.with_dump), diagnosis_results(self.report))


class FixedClock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> FixedClock:  # type: ignore[override]
        return cls(2024, 5, 14, 9, 30, 0)


def fake_services(session: FakeSession, *, markdown: bool = True) -> Services:
    def render(report: Report) -> str:
        from istio_doctor.report.markdown import render_markdown

        return render_markdown(report)

    return Services(
        make_runner=session.make_runner,
        run_diagnosis=session.run_diagnosis,
        list_contexts=lambda _kc: ContextList(
            [ContextRow("kind-bookinfo", cluster="kind-bookinfo", namespace="", current=True), ContextRow("prod-eu", cluster="gke-prod-eu")]
        ),
        markdown=(lambda: render) if markdown else (lambda: None),
    )


@pytest.fixture
def session() -> FakeSession:
    return FakeSession()


@pytest.fixture
def make_app(session: FakeSession) -> Callable[..., Any]:
    from istio_doctor.tui.app import IstioDoctorApp

    def factory(options: TuiOptions | None = None, **kw: Any) -> IstioDoctorApp:
        return IstioDoctorApp(options or TuiOptions(), services=fake_services(session, **kw), clock=FixedClock)

    return factory
