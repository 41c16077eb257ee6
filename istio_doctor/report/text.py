"""Plain-text report in the style of ``linkerd check``, read top-down in a minute: a header, the
decision trees' failing and could-not-check nodes (one count line for the rest), the ranked
findings with proof and fix, the informational triage results, what could not be checked (one
line per root failure), a closing block saying what to do, and the verdict as the last line.

Contract: ``render_text(report, color=..., width=..., verbose=...) -> str`` is a pure function
of the report. ``verbose`` (``-v``) shows every node of every tree, every piece of evidence that
could not be gathered, and the triage results' evidence.

* Evidence quoted by several findings is printed once, labelled ``[E1]``; later findings refer
  to the label instead of repeating the lines.
* Fix commands are shown as the report carries them: with the session's ``--context`` (and
  ``--kubeconfig`` when given), so they act on the diagnosed cluster when pasted.

* Prose (summaries, explanations, reasons) wraps to ``width``. Commands, excerpts and YAML
  patches never wrap and are never shortened: users copy them into a shell or ``kubectl apply``.
* With ``color=False`` the output contains no escape sequence at all, including ones smuggled in
  through evidence (an access log line is attacker-controlled text): every control character
  except tab and newline is shown as ``\\xNN``.
* The marks are fixed: ``✔`` pass, ``✘`` fail, ``‼`` unknown (evidence missing), ``-`` not
  applicable, ``·`` skipped (not reached by the walk), ``ℹ`` an informational triage result.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

from istio_doctor.engine.lifecycle.model import PodTimeline
from istio_doctor.engine.model import EvidenceRef, Finding, Fix, Outcome, Severity
from istio_doctor.engine.trace.model import TRACE_REF_NOTE, passing_hops_hidden
from istio_doctor.evidence.target import Connection
from istio_doctor.report import timeline as timeline_rows
from istio_doctor.report.fixes import manifest_lines, report_connection, steps_of
from istio_doctor.report.model import (
    Gap,
    NodeReport,
    PlaybookReport,
    Report,
    RequestTrace,
    Unchecked,
    Verdict,
    WorkloadSummary,
)

DEFAULT_WIDTH = 100

MARKS: dict[Outcome, str] = {
    Outcome.PASS: "✔",
    Outcome.FAIL: "✘",
    Outcome.UNKNOWN: "‼",
    Outcome.NOT_APPLICABLE: "-",
    Outcome.SKIPPED: "·",
}

#: an informational triage result (which flags, which proxy): context for the findings, not one
INFO_MARK = "ℹ"

#: the verdict line is marked and coloured as the node outcome it amounts to
_VERDICT_AS = {
    Verdict.PROBLEMS_FOUND: Outcome.FAIL,
    Verdict.NO_PROBLEM_FOUND: Outcome.PASS,
    Verdict.INCONCLUSIVE: Outcome.UNKNOWN,
    Verdict.CAUSE_NOT_DETERMINED: Outcome.UNKNOWN,
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
        ("context", (report.context or "(current)") + (f" -> {report.server}" if report.server else "")),
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


def gap_labels(report: Report) -> dict[str, str]:
    """check id -> the label (``G1``...) of the first root failure that left it unknown."""
    labels: dict[str, str] = {}
    for i, g in enumerate(report.gaps, 1):
        for check in g.blocked:
            labels.setdefault(check, f"G{i}")
    return labels


def _node(out: _Out, node: NodeReport, verbose: bool = True) -> None:
    if node.observation:
        mark = out.style(INFO_MARK, "blue", "bold")
        emphasis: tuple[str, ...] = ()
    else:
        mark = out.style(MARKS[node.outcome], _OUTCOME_STYLE[node.outcome], "bold")
        emphasis = ("bold",) if node.outcome is Outcome.FAIL else ()
    out.prose(f"{node.title} [{node.check}]", 2, first=f"{mark} ", hang=2, style=emphasis)
    detail = node_detail(node)
    # by default a node that produced a finding points at it: the finding says the same, once
    if detail and node.outcome is not Outcome.SKIPPED and (verbose or not node.finding):
        out.prose(detail, 4)
    if node.finding:
        out.prose(f"finding {node.finding}" + ("" if verbose else " (below)"), 4, first=out.style("→ ", "red"))


def shown_by_default(node: NodeReport) -> bool:
    return node.outcome in (Outcome.FAIL, Outcome.UNKNOWN) or node.observation is not None


_COUNT_WORDS = ((Outcome.PASS, "passed"), (Outcome.NOT_APPLICABLE, "not applicable"), (Outcome.SKIPPED, "not reached"))


def hidden_counts(nodes: list[NodeReport]) -> str:
    parts = []
    for outcome, word in _COUNT_WORDS:
        n = sum(1 for x in nodes if x.outcome is outcome and not shown_by_default(x))
        if n:
            parts.append(f"{MARKS[outcome]} {n} {word}")
    return ", ".join(parts)


def _playbook(out: _Out, pb: PlaybookReport, verbose: bool, labels: dict[str, str]) -> None:
    out.prose(f"{pb.title}", 0, first=out.style(f"{pb.id}: ", "bold", "cyan"), hang=2)
    out.line(f"{'-' * min(out.width, max(len(pb.id) + 2 + len(pb.title), 10))}")
    # By default the checks a root failure left unknown are one line that points at it: the
    # failure itself is said once, under "Could not check".
    grouped: dict[str, list[NodeReport]] = {}
    for node in pb.nodes:
        if not verbose and node.outcome is Outcome.UNKNOWN and node.check in labels:
            grouped.setdefault(labels[node.check], []).append(node)
        elif verbose or shown_by_default(node):
            _node(out, node, verbose)
    mark = out.style(MARKS[Outcome.UNKNOWN], _OUTCOME_STYLE[Outcome.UNKNOWN], "bold")
    for label, nodes in grouped.items():
        checks = ", ".join(dict.fromkeys(n.check for n in nodes))
        out.prose(checks, 2, first=f"{mark} could not check ({len(nodes)}, see [{label}] below): ", hang=4)
    if not verbose:
        counts = hidden_counts(pb.nodes)
        if counts:
            out.prose(counts + " (-v lists them)", 2, style=("dim",))
    out.line()


class QuotedEvidence:
    """Evidence already printed in this report, so a later finding refers to it by label."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, set[str], str]] = []  # (source, lines, label)

    def find(self, ref: EvidenceRef) -> str | None:
        lines = {ln.strip() for ln in ref.excerpt.splitlines() if ln.strip()}
        if not lines:
            return None
        for source, shown, label in self.blocks:
            if source == ref.source and lines <= shown:
                return label
        return None

    def add(self, ref: EvidenceRef, where: str) -> str:
        label = f"E{len(self.blocks) + 1}"
        self.blocks.append((ref.source, {ln.strip() for ln in ref.excerpt.splitlines() if ln.strip()}, f"{label} ({where})"))
        return label


_TRACE_NOTE_HEAD = TRACE_REF_NOTE.split("{", 1)[0]


def _evidence(out: _Out, refs: Iterable[EvidenceRef], indent: int, quoted: QuotedEvidence | None = None, where: str = "",
              *, verbose: bool = True) -> None:
    for ref in refs:
        seen = quoted.find(ref) if quoted is not None and ref.source else None
        if seen is not None:
            note = f"{ref.note}: " if ref.note else ""
            out.prose(f"{note}the lines quoted in [{seen}]", indent + 2, first=out.style("# ", "dim"), hang=2)
            continue
        label = quoted.add(ref, where) if quoted is not None and ref.source else ""
        if ref.note or label:
            lead = f"[{label}] " if label else ""
            out.prose(lead + ref.note, indent + 2, first=out.style("# ", "dim"), hang=2)
        if ref.source:
            out.verbatim(f"$ {ref.source}", indent + 2)
        elif ref.key:
            out.verbatim(f"({ref.key})", indent + 2)
        excerpt = ref.excerpt
        if not verbose and ref.note.startswith(_TRACE_NOTE_HEAD):
            # a request trace: by default the hops that did not pass (the break, with its config)
            excerpt, hidden = passing_hops_hidden(excerpt)
            if hidden:
                excerpt = (excerpt + "\n" if excerpt else "") + f"({hidden} hop(s) passed: -v lists them)"
        out.verbatim(excerpt, indent + 6)


def _fix(out: _Out, fix: Fix, indent: int, conn: Connection | None = None) -> None:
    steps = steps_of(fix)
    summary = fix.summary
    if fix.ordered and steps:
        # Summaries are written as sentences without a final stop; keep the two sentences apart.
        summary = f"{summary.rstrip().rstrip('.')}. Apply in this order:"
    out.prose(summary, indent, first=out.style("Fix: ", "bold"), hang=5)
    # Commands and manifests are separate steps: a manifest is applied by its own command.
    for n, step in enumerate(steps, 1):
        num = f"{n}. "
        out.prose(step.description, indent + 2, first=num, hang=len(num))
        if step.command:
            out.verbatim(f"$ {step.command}", indent + 2 + len(num))
        elif step.manifest:
            lines = manifest_lines(step.manifest, conn)
            out.verbatim("\n".join(["$ " + lines[0], *lines[1:]]), indent + 2 + len(num))
        elif step.fragment:
            out.prose("merge into the object named above:", indent + 2 + len(num), style=("dim",))
            out.verbatim(step.fragment, indent + 2 + len(num))


def _finding(out: _Out, f: Finding, position: int, quoted: QuotedEvidence, conn: Connection | None,
             verbose: bool = True) -> None:
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
        _evidence(out, f.evidence, ind, quoted, f"finding {rank}", verbose=verbose)
    _fix(out, f.fix, ind, conn)
    # a URL is copied, so it stays on one line whatever the width
    out.line(" " * ind + out.style("Docs:", "bold") + " " + sanitize(f.doc_url))
    if f.istio_versions and f.istio_versions != "all":
        out.prose(f.istio_versions, ind, first="Istio versions: ")
    if f.also_explains:
        out.prose(", ".join(f.also_explains), ind, first="Also explains: ", hang=15)
    if f.rank_reason:
        out.prose(f.rank_reason, ind, first=f"Ranked {_ordinal(rank)} because: ")
    out.line()


def _uncarried(report: Report) -> list[RequestTrace]:
    """Traces no finding carries as evidence (a finding a trace was folded into quotes its log lines,
    or, for a probe, its hop list). A probe that delivers is not shown: it found nothing."""
    from istio_doctor.report.trace_render import carried_probe

    quoted = [e.excerpt for f in report.findings for e in f.evidence]
    out = []
    for rt in report.traces:
        if rt.origin == "probe":
            if rt.trace.broken and not carried_probe(rt, quoted):
                out.append(rt)
        elif not (rt.log_lines and any(rt.log_lines[0] in q for q in quoted)):
            out.append(rt)
    return out


def _traces(out: _Out, report: Report, verbose: bool) -> None:
    from istio_doctor.report.trace_render import HOP_MARKS, headline

    full = report.verdict is Verdict.CAUSE_NOT_DETERMINED
    # by default only what the findings do not already show
    traces = report.traces if verbose or full else _uncarried(report)
    if not traces:
        return
    probes = any(rt.origin == "probe" for rt in traces)
    out.line(out.style("Request traces", "bold") + " (failing requests from the proxy logs"
             + (", or probes where none was logged" if probes else "") + ", followed through Envoy's configuration):")
    for rt in traces:
        if rt.origin == "probe":
            out.prose(f"{rt.proxy} ({rt.side}) {rt.probe}: {headline(rt.trace)}", 2, first="- ", hang=4)
            if rt.about:
                out.prose(rt.about, 4, first="stands for: ", hang=6)
        else:
            out.prose(f"{rt.proxy} ({rt.side}, {rt.requests}× {rt.logged}): {headline(rt.trace)} [{rt.relation}]", 2, first="- ", hang=4)
        for note in rt.notes:
            out.prose(note, 4, first="note: ", hang=6)
        if not full:
            continue
        for i, h in enumerate(rt.trace.hops, 1):
            mark = HOP_MARKS[h.status]
            out.prose(f"{h.stage.value} {h.element}: {h.decision} ({h.why})", 6, first=f"{mark} {i:>2}. ", hang=5)
        for u in rt.trace.unknowns:
            out.prose(u, 6, first="could not see: ", hang=15)
    out.line()


def _observations(out: _Out, items: list[Finding], verbose: bool, quoted: QuotedEvidence) -> None:
    out.prose("what the proxy logs show, context for the findings (not findings themselves):", 0,
              first=out.style("Triage:", "bold") + " ")
    mark = out.style(INFO_MARK, "blue", "bold")
    for f in items:
        out.prose(f"{f.summary}", 2, first=f"{mark} [{f.code}] ", hang=2)
        if verbose and f.evidence:
            _evidence(out, f.evidence, 2, quoted, f"triage {f.code}")
    out.line()


def _unchecked(out: _Out, items: list[Unchecked]) -> None:
    mark = out.style(MARKS[Outcome.UNKNOWN], "yellow", "bold")
    for u in items:
        out.prose(f"{u.evidence} ({u.kind}): {u.reason}", 2, first=f"{mark} ", hang=2)
        if u.command:
            out.verbatim(f"$ {u.command}", 4)
        if u.affects:
            out.prose(", ".join(u.affects), 4, first="outcome unknown for: ", hang=21)


#: commands listed under a root failure before "(+N more, -v lists them)"
_GAP_COMMANDS = 2


def _gaps(out: _Out, gaps: list[Gap]) -> None:
    mark = out.style(MARKS[Outcome.UNKNOWN], "yellow", "bold")
    for i, g in enumerate(gaps, 1):
        counts = []
        if len(g.evidence) > 1:
            counts.append(f"{len(g.evidence)} pieces of evidence")
        if g.blocked:
            counts.append(f"{len(g.blocked)} check(s) blocked")
        tail = f" ({', '.join(counts)})" if counts else ""
        out.prose(f"{g.cause}{tail}", 2, first=f"{mark} [G{i}] ", hang=2)
        if g.advice:
            out.prose(g.advice.rstrip(".") + ".", 4)
        for cmd in g.commands[:_GAP_COMMANDS]:
            out.verbatim(f"$ {cmd}", 4)
        if len(g.commands) > _GAP_COMMANDS:
            out.prose(f"(+{len(g.commands) - _GAP_COMMANDS} more call(s) that failed the same way; -v lists them)", 4,
                      style=("dim",))


def _could_not_check(out: _Out, report: Report, verbose: bool) -> None:
    out.line(out.style("Could not check:", "bold", "yellow"))
    if report.gaps and not verbose:
        _gaps(out, report.gaps)
    else:
        _unchecked(out, report.unchecked)
    out.line()


def _preflight(out: _Out, report: Report) -> None:
    failed = [c for c in report.preflight if c.status.value == "failed"]
    if not failed:
        return
    out.line(out.style("Preflight:", "bold"))
    marks = {"ok": MARKS[Outcome.PASS], "failed": MARKS[Outcome.FAIL], "degraded": MARKS[Outcome.UNKNOWN],
             "skipped": MARKS[Outcome.SKIPPED]}
    for c in report.preflight:
        if c.status.value == "failed":
            # the sentence is the verdict, the last line: here only which question failed, and how
            out.prose(f"{c.name}: failed (the last line says why)", 2, first=f"{marks['failed']} ", hang=2)
            if c.command:
                out.verbatim(f"$ {c.command}", 4)
            break  # what comes after a failure was not decided by it
        out.prose(f"{c.name}: {c.detail}", 2, first=f"{marks.get(c.status.value, '?')} ", hang=2)
    out.line()


def _what_to_do(out: _Out, report: Report, conn: Connection | None) -> None:
    """The closing block: the root cause, its fix, the other findings in one line each."""
    undetermined = report.verdict is Verdict.CAUSE_NOT_DETERMINED
    if not report.findings and not report.gaps and not undetermined:
        return
    out.line(out.style("What to do:", "bold"))
    if undetermined:
        # no cause to fix: where to look next, never a guess
        where = ("the request traces above show where each failing request goes and what they could not see"
                 if report.traces else "no failing request could be traced (no config dump of the proxy that logged it)")
        out.prose(f"not determined: {where}", 2, first="no cause:   ", hang=12)
    if report.findings:
        top = report.findings[0]
        out.prose(f"[{top.code}] {top.title}", 2, first="root cause: ", hang=12)
        out.prose(top.fix.summary, 2, first="fix:        ", hang=12)
        steps = steps_of(top.fix)
        for n, step in enumerate(steps, 1):
            if step.command:
                out.verbatim(f"$ {step.command}", 14)
            elif step.manifest:
                out.prose(f"and the manifest of step {n} above ({manifest_lines(step.manifest, conn)[0]})", 14)
        for f in report.findings[1:]:
            out.prose(f"[{f.code}] {f.title}", 2, first="also:       ", hang=12)
    if report.gaps:
        n = len(report.gaps)
        out.prose(f"{n} root failure(s) left checks unknown: [G1]{'-[G%d]' % n if n > 1 else ''} under Could not check",
                  2, first="unchecked:  ", hang=12)
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


def show_timeline_in_full(report: Report, tl: PodTimeline) -> bool:
    """In full when a finding decided on it or the lifecycle playbook ran; otherwise one line
    (JSON, YAML, Markdown and the TUI always carry all of it)."""
    return timeline_rows.has_deciding(tl) or "lifecycle" in report.playbooks_run


def _timeline(out: _Out, tl: PodTimeline, *, full: bool) -> None:
    if not full:
        out.prose(f"{tl.target}: {len(tl.moments)} moments (-o json / -o markdown / the TUI's timeline show them)", 0,
                  first=out.style("Timeline: ", "bold"), hang=2)
        out.line()
        return
    out.prose(timeline_rows.heading(tl), 0, style=("bold",))
    if tl.containers:
        out.prose(timeline_rows.legend(tl), 2, first="containers: ", hang=12)
    rows, left_out = timeline_rows.rows(tl)
    for r in rows:
        mark = out.style("▶", "red", "bold") if r.marked else " "
        lead = f"{mark} {r.time:<12} {r.offset:>8}  "
        tail = f"  ← {', '.join(r.deciding)}" if r.deciding else ""
        out.prose(sanitize(r.text) + tail, 2, first=lead, hang=len(_strip_sgr(lead)),
                  style=("bold",) if r.marked else ())
    if left_out:
        out.prose(f"({left_out} more moments in -o json)", 4, style=("dim",))
    for note in [*tl.skew.notes, *tl.gaps]:
        out.prose(note, 2, first="note: ", hang=6)
    out.line()


def render_text(report: Report, *, color: bool = False, width: int | None = None, verbose: bool = False) -> str:
    out = _Out(color, width or DEFAULT_WIDTH)
    quoted = QuotedEvidence()
    conn = report_connection(report.context, report.kubeconfig)
    _header(out, report)
    _preflight(out, report)
    if report.workloads:
        _workloads(out, report.workloads)
    labels = gap_labels(report) if report.gaps else {}
    for pb in report.playbooks:
        _playbook(out, pb, verbose, labels)
    if report.findings:
        out.prose("most likely root cause first:", 0, first=out.style(f"Findings ({len(report.findings)}),", "bold") + " ")
        for i, f in enumerate(report.findings, 1):
            _finding(out, f, i, quoted, conn, verbose)
    for tl in report.timelines:
        _timeline(out, tl, full=show_timeline_in_full(report, tl))
    if report.observations:
        _observations(out, report.observations, verbose, quoted)
    if report.traces:
        _traces(out, report, verbose)
    if report.unchecked and not report.preflight_failed:
        _could_not_check(out, report, verbose)
    if report.notes:
        out.line(out.style("Notes:", "bold"))
        for note in report.notes:
            out.prose(note, 2, first="- ", hang=2)
        out.line()
    if not report.preflight_failed:
        _what_to_do(out, report, conn)
    as_outcome = _VERDICT_AS[report.verdict]
    mark = out.style(MARKS[as_outcome], _OUTCOME_STYLE[as_outcome], "bold")
    out.prose(report.headline, 0, first=f"{mark} ", hang=2)
    return "\n".join(out.lines) + "\n"
