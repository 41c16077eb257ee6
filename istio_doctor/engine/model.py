"""Engine data: check outcomes, evidence citations, fixes and findings.

These models are data we own (``extra="forbid"``); the report and every renderer are built
from them, and their JSON Schema is part of the exported report schema.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from istio_doctor.evidence.target import Target


def _target(v: Any) -> Any:
    if isinstance(v, str):
        return Target.from_label(v) if v else None
    return v


#: A finding's (or report's) subject as a ``Target`` in code and its label in JSON/YAML
#: (``pod/NAME -n NS``, ``mesh (control plane in NS)``): code compares values, never re-parses.
TargetRef = Annotated[
    Target | None,
    BeforeValidator(_target),
    PlainSerializer(lambda t: str(t) if t is not None else "", return_type=str),
    WithJsonSchema({"type": "string", "description": "pod/NAME -n NS, deploy/..., svc/..., ns/NS or mesh (control plane in NS)"}),
]


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"  # evidence missing or inconclusive: never read as healthy
    NOT_APPLICABLE = "not_applicable"
    SKIPPED = "skipped"  # node not reached by the walk (report/TUI only)


class Severity(StrEnum):
    CRITICAL = "critical"  # traffic is failing because of this
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def weight(self) -> float:
        return {"critical": 1.0, "error": 0.8, "warning": 0.5, "info": 0.2}[self.value]


class EvidenceRef(BaseModel):
    """A citation: which call produced the evidence and the exact excerpt that proves the point."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="the command line that produced the evidence ('' for derived facts)")
    key: str = Field(default="", description="evidence key, e.g. config_dump(default/productpage-v1-...)")
    excerpt: str = Field(description="verbatim lines or the relevant object, as printed by the command")
    note: str = Field(default="", description="what this excerpt shows, in one phrase")


class FixStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    command: str | None = Field(default=None, description="a command the user may run (istio-doctor never runs it)")
    yaml_patch: str | None = Field(default=None, description="YAML to apply or merge")


class Fix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: empty in a check's result: the walker fills it from the catalogue's fix template
    summary: str = ""
    steps: list[FixStep] = []
    #: True when the steps must be applied in the order given (e.g. DestinationRule before VirtualService).
    ordered: bool = False


class CheckResult(BaseModel):
    """What one check concluded.

    A failing catalogue check returns *arguments*, not prose: ``args`` fill the catalogue
    entry's ``message`` template (variant ``message``) and ``fix`` template, and
    ``corroboration`` names the entry's confidence level the evidence reached. The walker
    renders the finding's summary from them, so wording and numbers live in the catalogue
    (``engine/catalogue/*.yaml``) and tests assert codes and arguments. ``summary`` is the
    node's one-line outcome for pass/unknown/not-applicable results (and the legacy free text
    of checks not converted yet).
    """

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    summary: str = ""
    evidence: list[EvidenceRef] = []
    fix: Fix | None = None
    #: named arguments of the catalogue entry's message and fix templates
    args: dict[str, Any] = {}
    #: message variant of the catalogue entry (default: "default")
    message: str | None = None
    #: confidence level of the catalogue entry the evidence reached (default: "base")
    corroboration: str | None = None
    #: legacy: an inline confidence that overrides the catalogue's levels (being removed)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    #: runtime signals that corroborate this result (e.g. "503 UC upstream_reset_before_response_started{connection_termination}").
    observed: list[str] = []
    resources: list[str] = Field(default=[], description="Kind namespace/name of the resources involved")
    #: for unknown outcomes: what could not be checked and why.
    reason: str = ""

    @classmethod
    def passed(cls, summary: str, **kw: object) -> CheckResult:
        return cls(outcome=Outcome.PASS, summary=summary, **kw)  # type: ignore[arg-type]

    @classmethod
    def failed(cls, summary: str = "", **kw: object) -> CheckResult:
        return cls(outcome=Outcome.FAIL, summary=summary, **kw)  # type: ignore[arg-type]

    @classmethod
    def unknown(cls, summary: str, reason: str = "", **kw: object) -> CheckResult:
        return cls(outcome=Outcome.UNKNOWN, summary=summary, reason=reason or summary, **kw)  # type: ignore[arg-type]

    @classmethod
    def not_applicable(cls, summary: str, **kw: object) -> CheckResult:
        return cls(outcome=Outcome.NOT_APPLICABLE, summary=summary, **kw)  # type: ignore[arg-type]


class Finding(BaseModel):
    """A problem found, with proof and fix. ``code`` is the catalogue check ID and never changes meaning."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="catalogue check ID, e.g. MTLS-DR-DISABLE-VS-STRICT")
    title: str
    severity: Severity
    confidence: float = Field(ge=0.0, le=1.0)
    summary: str = Field(description="what is wrong, naming the resources and values that prove it")
    args: dict[str, Any] = Field(default={}, description="the named arguments the summary and fix were rendered from")
    explanation: str = Field(description="why this causes the symptom")
    evidence: list[EvidenceRef] = []
    fix: Fix
    doc_url: str
    istio_versions: str = Field(default="all", description="Istio versions the check applies to, e.g. '>=1.10'")
    resources: list[str] = []
    observed: list[str] = []
    playbook: str = ""
    node: str = ""
    target: TargetRef = Field(default=None, description="the pod or workload the finding is about")
    rank: int = Field(default=0, description="1 = most likely root cause")
    score: float = 0.0
    rank_reason: str = ""
    also_explains: list[str] = Field(default=[], description="codes of other findings this one causes")
