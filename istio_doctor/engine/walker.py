"""Walk a playbook over gathered evidence. Pure: no process, no I/O.

Every node's outcome is recorded (the tree the user walks in the TUI and the text report).
A check that reads missing evidence is ``unknown`` with the reason; a check that raises an
unexpected exception is ``unknown`` too (the report names the bug) — a broken check must
never turn into a 'healthy' verdict, nor into a traceback at 3 a.m.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from istio_doctor.engine.catalogue import CatalogueEntry, TemplateError
from istio_doctor.engine.context import CheckContext, UndeclaredEvidence
from istio_doctor.engine.model import CheckResult, Finding, Fix, Outcome
from istio_doctor.engine.playbook import Playbook
from istio_doctor.engine.registry import Registry
from istio_doctor.evidence.bundle import MissingEvidence, Scope
from istio_doctor.evidence.target import Target
from istio_doctor.evidence.versions import Version

log = logging.getLogger(__name__)


@dataclass
class NodeRun:
    node_id: str
    check: str
    title: str
    result: CheckResult
    next: str | None = None
    finding: Finding | None = None
    missing: list[str] = field(default_factory=list)  # evidence keys whose absence made it unknown


@dataclass
class PlaybookRun:
    playbook: Playbook
    target: str
    nodes: list[NodeRun]

    @property
    def findings(self) -> list[Finding]:
        return [n.finding for n in self.nodes if n.finding is not None]


def _version_gate(spec_min: str | None, spec_max: str | None, version: Version | None) -> str | None:
    """A reason the check does not apply to this control-plane version, or None."""
    if version is None:
        return None
    if spec_min and version < Version.parse(spec_min):
        return f"applies to Istio >= {spec_min}; the control plane runs {version}"
    if spec_max and version >= Version.parse(spec_max):
        return f"applies to Istio < {spec_max}; the control plane runs {version}"
    return None


def run_check(registry: Registry, check_id: str, params: dict[str, object], ctx: CheckContext) -> tuple[CheckResult, list[str]]:
    spec = registry.get(check_id)
    gate = _version_gate(spec.min_istio, spec.max_istio, ctx.istio_version)
    if gate:
        return CheckResult.not_applicable(gate), []
    skip = ctx.skip_reason(spec)
    if skip:
        return CheckResult(outcome=Outcome.SKIPPED, summary=skip, reason=skip), []
    try:
        p = spec.params.model_validate(params)
        return spec.fn(ctx.for_check(spec), p), []
    except UndeclaredEvidence:
        raise  # raised only in strict mode (the test suite): a check that reads what it did not declare fails loudly
    except MissingEvidence as exc:
        reason = exc.failure.reason if exc.failure else f"{exc.key} was not gathered"
        return CheckResult.unknown(f"could not be checked: {reason}", reason=reason), [str(exc.key)]
    except Exception as exc:  # noqa: BLE001 - see module docstring
        log.exception("check %s crashed", check_id)
        msg = f"check {check_id} failed on this evidence ({type(exc).__name__}: {exc}); its outcome is unknown"
        return CheckResult.unknown(msg, reason=msg), []


def make_finding(entry: CatalogueEntry, result: CheckResult, *, playbook: str, node: str, target: Target | None) -> Finding:
    """The finding of a failed catalogue check: wording and confidence come from the catalogue
    entry, rendered with the arguments the check returned (``TemplateError`` when a template
    names an argument the check did not return: a check bug, reported by ``walk``)."""
    summary = result.summary or entry.render_message(result.message, result.args)
    fix = result.fix or Fix()
    if not fix.summary:
        fix = fix.model_copy(update={"summary": entry.render_fix(result.message, result.args)})
    confidence = result.confidence if result.confidence is not None else entry.confidence_for(result.corroboration)
    return Finding(
        code=entry.id,
        title=entry.title,
        severity=entry.severity,
        confidence=confidence,
        summary=summary,
        args=result.args,
        explanation=entry.explanation,
        evidence=result.evidence,
        fix=fix,
        doc_url=entry.doc_url,
        istio_versions=entry.istio_versions,
        resources=result.resources,
        observed=result.observed,
        playbook=playbook,
        node=node,
        target=target,
    )


def walk(playbook: Playbook, ctx: CheckContext, registry: Registry, catalogue: dict[str, CatalogueEntry]) -> PlaybookRun:
    runs: list[NodeRun] = []
    seen: set[str] = set()
    current: str = playbook.start or playbook.nodes[0].id
    while current != "end" and current not in seen:
        seen.add(current)
        node = playbook.node(current)
        result, missing = run_check(registry, node.check, node.params, ctx)
        outcome = result.outcome.value if result.outcome is not Outcome.SKIPPED else "not_applicable"
        nxt = node.on.target(outcome)
        if nxt == "next":
            nxt = playbook.following(node.id)
        finding = None
        if result.outcome is Outcome.FAIL and node.check in catalogue:
            spec = registry.get(node.check)
            # A check that reads only cluster-wide evidence is about the mesh, not this pod: one
            # finding, whichever pods a namespace scan walked.
            mesh_wide = all(n.scope is Scope.CLUSTER for n in spec.all_needs)
            subject = Target.mesh(ctx.conn.istio_namespace) if mesh_wide else ctx.subject
            try:
                finding = make_finding(catalogue[node.check], result, playbook=playbook.id, node=node.id, target=subject)
                if not result.summary:  # the tree node reads the rendered sentence too
                    result = result.model_copy(update={"summary": finding.summary})
            except TemplateError as exc:
                # Same rule as a crashed check: a bug is reported as unknown, never as healthy.
                log.error("check %s: %s", node.check, exc)
                msg = f"check {node.check} failed but its finding could not be written ({exc}); its outcome is unknown"
                result = CheckResult.unknown(msg, reason=msg)
                nxt = playbook.following(node.id) if node.on.target("unknown") == "next" else node.on.target("unknown")
        runs.append(NodeRun(node.id, node.check, node.title, result, nxt, finding, missing))
        current = nxt
    return PlaybookRun(playbook=playbook, target=ctx.label, nodes=runs)
