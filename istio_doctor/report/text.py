"""Plain-text report in the style of ``linkerd check``: a header, one tree per playbook, ranked
findings with proof and fix, what could not be checked, and the verdict.

Contract: ``render_text(report, color=..., width=...) -> str`` is a pure function of the report.

* Prose (summaries, explanations, reasons) wraps to ``width``. Commands, excerpts and YAML
  patches never wrap and are never shortened: users copy them into a shell or ``kubectl apply``.
* With ``color=False`` the output contains no escape sequence at all, including ones smuggled in
  through evidence (an access log line is attacker-controlled text): every control character
  except tab and newline is shown as ``\\xNN``.
* The marks are fixed: ``✔`` pass, ``✘`` fail, ``‼`` unknown (evidence missing), ``-`` not
  applicable, ``·`` skipped (not reached by the walk).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

from istio_doctor.engine.model import EvidenceRef, Finding, Fix, Outcome, Severity
from istio_doctor.report.model import NodeReport, PlaybookReport, Report, Unchecked, Verdict, WorkloadSummary

DEFAULT_WIDTH = 100

MARKS: dict[Outcome, str] = {
    Outcome.PASS: "✔",
    Outcome.FAIL: "✘",
    Outcome.UNKNOWN: "‼",
    Outcome.NOT_APPLICABLE: "-",
    Outcome.SKIPPED: "·",
}

_VERDICT_MARK = {
    Verdict.PROBLEMS_FOUND: MARKS[Outcome.FAIL],
    Verdict.NO_PROBLEM_FOUND: MARKS[Outcome.PASS],
    Verdict.INCONCLUSIVE: MARKS[Outcome.UNKNOWN],
}

# SGR codes; kept to the 8 basic colours so they read on light and dark terminals alike.
_SGR = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}
_OUTCOME_STYLE = {
    Outcome.PASS: "green",
    Outcome.FAIL: "red",
    Outcome.UNKNOWN: "yellow",
    Outcome.NOT_APPLICABLE: "dim",
    Outcome.SKIPPED: "dim",
}
_VERDICT_STYLE = {
    Verdict.PROBLEMS_FOUND: "red",
    Verdict.NO_PROBLEM_FOUND: "green",
    Verdict.INCONCLUSIVE: "yellow",
}
_SEVERITY_STYLE = {
    Severity.CRITICAL: "red",
    Severity.ERROR: "red",
    Severity.WARNING: "yellow",
    Severity.INFO: "blue",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """Make untrusted text safe for a terminal: control characters become visible ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _Out:
    """Collects lines; styles only when colour was asked for."""

    def __init__(self, color: bool, width: int) -> None:
        self.color = color
        self.width = max(width, 40)  # below this wrapping turns prose into a column of words
        self.lines: list[str] = []

    def style(self, text: str, *styles: str) -> str:
        if not self.color or not styles or not text:
            return text
        codes = ";".join(_SGR[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def line(self, text: str = "") -> None:
        self.lines.append(text)

    def prose(
        self, text: str, indent: int, *, first: str = "", hang: int | None = None, style: tuple[str, ...] = ()
    ) -> None:
        """Wrap prose to the width. ``first`` is a (possibly styled) lead-in on the first line;
        ``style`` applies to the text itself, after wrapping, so widths count visible characters."""
        text = sanitize(text)
        lead = " " * indent
        body_indent = " " * (indent + (hang or 0))
        plain_first = _strip_sgr(first)
        for i, para in enumerate(text.split("\n")):
            opening = lead + plain_first if i == 0 else body_indent
            wrapped = textwrap.wrap(
                (plain_first if i == 0 else "") + para,
                width=self.width,
                initial_indent=lead if i == 0 else body_indent,
                subsequent_indent=body_indent,
                break_long_words=False,
                break_on_hyphens=False,
            ) or [opening.rstrip()]
            for j, line in enumerate(wrapped):
                prefix = opening if j == 0 else body_indent
                if not line.startswith(prefix):
                    self.lines.append(line)  # only the lead-in, with nothing after it
                    continue
                head = lead + first if (i == 0 and j == 0) else prefix
                self.lines.append(head + self.style(line[len(prefix) :], *style))

    def verbatim(self, text: str, indent: int) -> None:
        """Copyable text: never wrapped, never shortened, only indented."""
        pad = " " * indent
        for raw in sanitize(text).rstrip("\n").split("\n"):
            self.lines.append((pad + raw).rstrip())


_SGR_RE = re.compile(r"\x1b\[[0-9;]*m")


def _strip_sgr(text: str) -> str:
    return _SGR_RE.sub("", text)


def _pct(confidence: float) -> str:
    return f"{round(confidence * 100)}%"


def _ordinal(n: int) -> str:
    if n == 1:
        return "first"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _versions_line(report: Report) -> str:
    v = report.versions
    parts: list[str] = []
    if v.kubectl_client:
        parts.append(f"kubectl {v.kubectl_client}")
    if v.kubernetes_server:
        parts.append(f"kubernetes {v.kubernetes_server}")
    if v.istioctl:
        parts.append(f"istioctl {v.istioctl}")
    if v.control_plane:
        parts.append(f"control plane {', '.join(v.control_plane)}")
    if v.data_plane:
        parts.append(f"data plane {', '.join(v.data_plane)}")
    return "; ".join(parts) or "unknown"


def _mode_line(report: Report) -> str:
    return report.replay_origin


def _header(out: _Out, report: Report) -> None:
    out.prose(report.target, 0, first=out.style(f"istio-doctor {report.tool_version}: ", "bold"), hang=2)
    rows = [
        ("context", report.context or "(current)"),
        ("mode", _mode_line(report)),
        ("versions", _versions_line(report)),
        ("symptom", report.symptom + (f" (playbooks: {', '.join(report.playbooks_run)})" if report.playbooks_run else "")),
        ("generated", report.generated_at.isoformat()),
    ]
    for label, value in rows:
        out.prose(value, 2, first=f"{label + ':':<11}", hang=11)
    out.line()


def node_detail(node: NodeReport) -> str:
    """What a node found; for unknown outcomes the reason too, without saying it twice."""
    summary, reason = node.summary.strip(), node.reason.strip()
    if node.outcome is not Outcome.UNKNOWN or not reason or reason in summary:
        return summary
    if not summary or summary in reason:
        return reason
    return f"{summary}: {reason}"


def _node(out: _Out, node: NodeReport) -> None:
    mark = out.style(MARKS[node.outcome], _OUTCOME_STYLE[node.outcome], "bold")
    emphasis = ("bold",) if node.outcome is Outcome.FAIL else ()
    out.prose(f"{node.title} [{node.check}]", 2, first=f"{mark} ", hang=2, style=emphasis)
    detail = node_detail(node)
    if detail and node.outcome is not Outcome.SKIPPED:
        out.prose(detail, 4)
    if node.finding:
        out.prose(f"finding {node.finding}", 4, first=out.style("→ ", "red"))


def _playbook(out: _Out, pb: PlaybookReport) -> None:
    out.prose(f"{pb.title}", 0, first=out.style(f"{pb.id}: ", "bold", "cyan"), hang=2)
    out.line(f"{'-' * min(out.width, max(len(pb.id) + 2 + len(pb.title), 10))}")
    for node in pb.nodes:
        _node(out, node)
    out.line()


def _evidence(out: _Out, refs: Iterable[EvidenceRef], indent: int) -> None:
    for ref in refs:
        if ref.note:
            out.prose(ref.note, indent + 2, first=out.style("# ", "dim"), hang=2)
        if ref.source:
            out.verbatim(f"$ {ref.source}", indent + 2)
        elif ref.key:
            out.verbatim(f"({ref.key})", indent + 2)
        out.verbatim(ref.excerpt, indent + 6)


def _fix(out: _Out, fix: Fix, indent: int) -> None:
    summary = fix.summary
    if fix.ordered and fix.steps:
        # Summaries are written as sentences without a final stop; keep the two sentences apart.
        summary = f"{summary.rstrip().rstrip('.')}. Apply in this order:"
    out.prose(summary, indent, first=out.style("Fix: ", "bold"), hang=5)
    for n, step in enumerate(fix.steps, 1):
        num = f"{n}. "
        out.prose(step.description, indent + 2, first=num, hang=len(num))
        if step.command:
            out.verbatim(f"$ {step.command}", indent + 2 + len(num))
        if step.yaml_patch:
            out.verbatim(step.yaml_patch, indent + 2 + len(num))


def _finding(out: _Out, f: Finding, position: int) -> None:
    rank = f.rank or position
    lead = f"{rank}. " + out.style(f"[{f.code}]", "bold", _SEVERITY_STYLE[f.severity]) + " "
    out.prose(f"{f.title} ({f.severity.value}, confidence {_pct(f.confidence)})", 2, first=lead, hang=len(f"{rank}. "))
    ind = 5
    if f.target:
        out.prose(str(f.target), ind, first="Target: ", hang=8)
    out.prose(f.summary, ind)
    if f.resources:
        out.prose(", ".join(f.resources), ind, first="Resources: ", hang=11)
    out.prose(f.explanation, ind, first=out.style("Why: ", "bold"), hang=5)
    if f.observed:
        out.prose("; ".join(f.observed), ind, first=out.style("Observed: ", "bold"), hang=10)
    if f.evidence:
        out.line(" " * ind + out.style("Evidence:", "bold"))
        _evidence(out, f.evidence, ind)
    _fix(out, f.fix, ind)
    # a URL is copied, so it stays on one line whatever the width
    out.line(" " * ind + out.style("Docs:", "bold") + " " + sanitize(f.doc_url))
    if f.istio_versions and f.istio_versions != "all":
        out.prose(f.istio_versions, ind, first="Istio versions: ")
    if f.also_explains:
        out.prose(", ".join(f.also_explains), ind, first="Also explains: ", hang=15)
    if f.rank_reason:
        out.prose(f.rank_reason, ind, first=f"Ranked {_ordinal(rank)} because: ")
    out.line()


def _unchecked(out: _Out, items: list[Unchecked]) -> None:
    out.line(out.style("Could not check:", "bold", "yellow"))
    mark = out.style(MARKS[Outcome.UNKNOWN], "yellow", "bold")
    for u in items:
        out.prose(f"{u.evidence} ({u.kind}): {u.reason}", 2, first=f"{mark} ", hang=2)
        if u.command:
            out.verbatim(f"$ {u.command}", 4)
        if u.affects:
            out.prose(", ".join(u.affects), 4, first="outcome unknown for: ", hang=21)
    out.line()


def _in_mesh(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "?"}[value]


def _workloads(out: _Out, rows: list[WorkloadSummary]) -> None:
    headers = ("WORKLOAD", "PODS", "READY", "IN MESH", "FINDINGS", "WORST")
    table = [
        (
            sanitize(w.workload),
            str(len(w.pods)),
            w.ready or "?",
            _in_mesh(w.in_mesh),
            ", ".join(w.findings) or "-",
            w.worst or "-",
        )
        for w in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    out.line(out.style("Workloads:", "bold"))
    out.line("  " + out.style(fmt(headers), "bold"))
    for w, cells in zip(rows, table, strict=True):
        text = fmt(cells)
        out.line("  " + (out.style(text, "red") if w.flagged or w.findings else text))
    out.line()


def render_text(report: Report, *, color: bool = False, width: int | None = None) -> str:
    out = _Out(color, width or DEFAULT_WIDTH)
    _header(out, report)
    if report.workloads:
        _workloads(out, report.workloads)
    for pb in report.playbooks:
        _playbook(out, pb)
    if report.findings:
        out.prose("most likely root cause first:", 0, first=out.style(f"Findings ({len(report.findings)}),", "bold") + " ")
        for i, f in enumerate(report.findings, 1):
            _finding(out, f, i)
    if report.unchecked:
        _unchecked(out, report.unchecked)
    if report.notes:
        out.line(out.style("Notes:", "bold"))
        for note in report.notes:
            out.prose(note, 2, first="- ", hang=2)
        out.line()
    mark = out.style(_VERDICT_MARK[report.verdict], _VERDICT_STYLE[report.verdict], "bold")
    out.prose(report.headline, 0, first=f"{mark} ", hang=2)
    return "\n".join(out.lines) + "\n"
