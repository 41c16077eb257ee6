"""The report: one model feeds every renderer (text, JSON, YAML, Markdown) and the TUI.

Its JSON Schema (``istio-doctor schema report``) is an API: fields are only ever added.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from istio_doctor.engine.lifecycle.model import PodTimeline
from istio_doctor.engine.model import EvidenceRef, Finding, Outcome
from istio_doctor.engine.trace.model import Trace
from istio_doctor.evidence.preflight import PreflightCheck

REPORT_FORMAT = "istio-doctor/report/v1"


class Verdict(StrEnum):
    PROBLEMS_FOUND = "problems_found"
    NO_PROBLEM_FOUND = "no_problem_found"
    INCONCLUSIVE = "inconclusive"  # nothing found, but evidence was missing: never "healthy"
    #: requests fail and no finding explains them (only context findings): the report shows
    #: the traces of the failing requests and what they could not see
    CAUSE_NOT_DETERMINED = "cause_not_determined"


class CallRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str
    argv: list[str]
    exit_code: int | None = Field(description="None when no process result exists (timeout, missing binary)")
    duration_s: float = 0.0
    error: str = ""
    replayed: bool = False


class NodeReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    check: str
    title: str
    outcome: Outcome
    summary: str = ""
    reason: str = ""
    evidence: list[EvidenceRef] = []
    finding: str | None = Field(default=None, description="finding code when this node produced one")
    observation: str | None = Field(
        default=None, description="code of the informational triage result this node produced (not a finding)"
    )
    next: str | None = Field(default=None, description="the node the walk went to from here ('end' to stop)")


class PlaybookReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    target: str
    nodes: list[NodeReport]


class Unchecked(BaseModel):
    """Evidence that could not be gathered, and what it means for the diagnosis."""

    model_config = ConfigDict(extra="forbid")

    evidence: str
    kind: str
    reason: str
    command: str = ""
    affects: list[str] = Field(default=[], description="check ids whose outcome is unknown because of it")


class Gap(BaseModel):
    """One root failure: every piece of evidence it kept from being gathered, said once."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    cause: str = Field(description="what went wrong, in one sentence (e.g. RBAC: user \"dev\" may not list events)")
    advice: str = ""
    evidence: list[str] = Field(default=[], description="evidence keys it left missing")
    commands: list[str] = Field(default=[], description="the calls that failed for this reason")
    blocked: list[str] = Field(default=[], description="check ids whose outcome is unknown because of it")


class Versions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kubectl_client: str | None = None
    kubernetes_server: str | None = None
    istioctl: str | None = None
    control_plane: list[str] = []
    data_plane: list[str] = []


class WorkloadSummary(BaseModel):
    """One row of a namespace scan: a workload, its pods and what was found."""

    model_config = ConfigDict(extra="forbid")

    workload: str
    pods: list[str]
    in_mesh: bool | None = None
    ready: str = ""
    flagged: bool = False
    findings: list[str] = []
    worst: str = ""


#: how a replay's origin is said in the header (the demo is simulated: say so)
PROVENANCE_WORDS = {"synthetic": "simulated by the scenario kit, not captured from a cluster",
                    "captured": "captured from a real cluster"}


class RequestTrace(BaseModel):
    """One failing request shape from a proxy log, traced through Envoy's configuration; or, when
    that proxy logged no failing request, a probe: a request synthesised from the configuration."""

    model_config = ConfigDict(extra="forbid")

    proxy: str = Field(description="namespace/pod whose access log shows the failures (a probe: the proxy it was traced on)")
    side: str = Field(description="client (outbound), server (inbound) or gateway")
    origin: Literal["logged", "probe"] = Field(
        default="logged", description="logged: a failing request shape of the access log; probe: synthesised (nothing was logged)")
    probe: str | None = Field(default=None, description="a probe's request and why it was synthesised, "
                                                        "e.g. 'probe: GET http://reviews:9080/ (no failing request was logged)'")
    about: str | None = Field(default=None, description="what a probe stands for (which Service, Gateway or client)")
    requests: int = Field(description="failing log lines of this shape (0 for a probe)")
    logged: str = Field(description="what the log says: code, flags, response details")
    relation: str = Field(description="agrees (breaks where the log says) | explains (breaks; the log shows the symptom) | "
                                      "beyond (the configuration delivers it: the failure is past it) | disagrees")
    notes: list[str] = []
    log_lines: list[str] = Field(default=[], description="the first access-log lines of this shape, verbatim")
    trace: Trace


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = REPORT_FORMAT
    tool_version: str
    generated_at: datetime
    mode: str = Field(description="live | replay")
    recording: str | None = None
    recording_provenance: str = Field(default="", description="replays: 'synthetic' (simulated by the scenario kit), 'captured' (a real cluster) or '' (not said)")
    target: str
    context: str | None = None
    kubeconfig: str | None = Field(default=None, description="the --kubeconfig given, if any (fix commands carry it)")
    symptom: str
    playbooks_run: list[str] = []
    versions: Versions = Versions()
    verdict: Verdict
    headline: str = Field(description="one sentence: the verdict and the top finding")
    exit_code: int
    findings: list[Finding] = Field(default=[], description="ranked: findings[0] is the most likely root cause")
    playbooks: list[PlaybookReport] = []
    unchecked: list[Unchecked] = []
    gaps: list[Gap] = Field(default=[], description="root failures behind 'unchecked', most basic first")
    observations: list[Finding] = Field(
        default=[], description="informational triage results (which flags, which proxy): context, not findings"
    )
    preflight: list[PreflightCheck] = Field(default=[], description="kubectl, kubeconfig, API server and istioctl, checked first")
    server: str | None = Field(default=None, description="the API server the context points at (from the preflight)")
    workloads: list[WorkloadSummary] = []
    traces: list[RequestTrace] = Field(default=[], description="the failing requests of the examined pods, traced through Envoy")
    calls: list[CallRecord] = []
    notes: list[str] = []
    timelines: list[PodTimeline] = Field(
        default=[], description="each examined pod's lifecycle timeline; moments a finding decided on list its code in `deciding`")

    @property
    def replay_origin(self) -> str:
        """``replay of recording X (simulated by the scenario kit, ...)``: the header's mode."""
        if self.mode != "replay":
            return self.mode
        line = f"replay of recording {self.recording}" if self.recording else "replay of a recording"
        words = PROVENANCE_WORDS.get(self.recording_provenance)
        return f"{line} ({words})" if words else line

    @property
    def top(self) -> Finding | None:
        """The most likely root cause: the first ranked finding (never a context/info one)."""
        return self.findings[0] if self.findings and self.findings[0].rank >= 1 else None

    @property
    def preflight_failed(self) -> bool:
        """The preflight stopped the run (kubectl, kubeconfig or API server unusable)."""
        return any(c.status.value == "failed" for c in self.preflight)


def report_json_schema() -> dict[str, Any]:
    return Report.model_json_schema()
