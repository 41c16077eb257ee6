"""Markdown report, to paste into an incident ticket (GitHub, GitLab, Jira with Markdown).

Layout: title, verdict, a findings table, one section per finding (evidence in fenced code
blocks, quoted once and referred to by label afterwards; fix steps with manifests applied by
``kubectl apply -f - <<'EOF'``; docs link), the informational triage results, "Could not check"
(one row per root failure; ``verbose`` lists every piece of evidence), "What to do", the walked
decision trees (failing and unknown nodes, a count of the rest; ``verbose`` every node), and
every call made collapsed in ``<details>`` so the ticket stays short but complete.

Evidence is untrusted text (access logs are written by clients): fences are made longer than
any backtick run inside the block, table cells escape ``|`` and newlines, and control
characters are made visible, so an excerpt can never break out of its block.
"""

from __future__ import annotations

import re

from istio_doctor.engine.lifecycle.model import PodTimeline
from istio_doctor.engine.model import EvidenceRef, Finding, Outcome
from istio_doctor.evidence.target import Connection
from istio_doctor.report import timeline as timeline_rows
from istio_doctor.report.fixes import manifest_lines, report_connection, steps_of
from istio_doctor.report.model import PROVENANCE_WORDS, NodeReport, Report, Verdict
from istio_doctor.report.text import INFO_MARK, MARKS, QuotedEvidence, hidden_counts, node_detail, sanitize, shown_by_default

_VERDICT_TEXT = {
    Verdict.PROBLEMS_FOUND: "Problems found",
    Verdict.NO_PROBLEM_FOUND: "No problem found",
    Verdict.INCONCLUSIVE: "Inconclusive",
    Verdict.CAUSE_NOT_DETERMINED: "Cause not determined",
}
_OUTCOME_TEXT = {
    Outcome.PASS: "pass",
    Outcome.FAIL: "fail",
    Outcome.UNKNOWN: "unknown",
    Outcome.NOT_APPLICABLE: "not applicable",
    Outcome.SKIPPED: "skipped",
}
_YAML_KEY = re.compile(r"^(- )?[A-Za-z_][\w./-]*:( |$)")
_YAML_OUTPUT = re.compile(r"(^| )(-o ?yaml|--output[= ]yaml)( |$)")


def _text(text: str) -> str:
    """Prose: raw HTML in evidence-derived text must not render in the ticket."""
    return sanitize(text).replace("<", "&lt;")


def _cell(text: str) -> str:
    """A table cell: one line, pipes escaped."""
    return _text(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>") or " "


def _code(text: str) -> str:
    """Inline code that survives backticks inside ``text``."""
    text = sanitize(text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell_code(text: str) -> str:
    """Inline code inside a table cell: GFM splits cells on ``|`` even inside code spans."""
    return _code(text.replace("\n", " ")).replace("|", "\\|")


def _block(body: str, lang: str) -> list[str]:
    body = sanitize(body).rstrip("\n")
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", *body.split("\n"), fence]


def _is_yaml(ref: EvidenceRef) -> bool:
    first = next((ln for ln in ref.excerpt.splitlines() if ln.strip()), "")
    return bool(_YAML_OUTPUT.search(ref.source)) or bool(_YAML_KEY.match(first))


def _pct(confidence: float) -> str:
    return f"{round(confidence * 100)}%"


def _evidence(ref: EvidenceRef, quoted: QuotedEvidence, where: str) -> list[str]:
    lines: list[str] = []
    seen = quoted.find(ref) if ref.source else None
    if seen is not None:
        note = f"{_text(ref.note)}: " if ref.note else ""
        return [f"*{note}the lines quoted in [{seen}]*", ""]
    label = quoted.add(ref, where) if ref.source else ""
    if ref.note or label:
        lead = f"[{label}] " if label else ""
        lines += [f"*{lead}{_text(ref.note)}*".replace("**", ""), ""]
    if _is_yaml(ref):
        # the command stays visible above the object it printed
        if ref.source:
            lines += [_code(f"$ {ref.source}"), ""]
        lines += _block(ref.excerpt, "yaml")
    else:
        head = f"$ {ref.source}\n" if ref.source else ""
        lines += _block(head + ref.excerpt, "console")
    return lines + [""]


def _finding(f: Finding, position: int, quoted: QuotedEvidence, conn: Connection | None) -> list[str]:
    rank = f.rank or position
    out = [f"### {rank}. {_code(f.code)} {_text(f.title)}", ""]
    meta = f"**Severity:** {f.severity.value} · **Confidence:** {_pct(f.confidence)}"
    if f.target:
        meta += f" · **Target:** {_code(str(f.target))}"
    if f.istio_versions and f.istio_versions != "all":
        meta += f" · **Istio:** {_text(f.istio_versions)}"
    out += [meta, "", _text(f.summary), ""]
    if f.resources:
        out += ["**Resources:** " + ", ".join(_code(r) for r in f.resources), ""]
    out += [f"**Why:** {_text(f.explanation)}", ""]
    if f.observed:
        out += ["**Observed:** " + "; ".join(_code(o) for o in f.observed), ""]
    if f.evidence:
        out += ["**Evidence**", ""]
        for ref in f.evidence:
            out += _evidence(ref, quoted, f"finding {rank}")
    summary = _text(f.fix.summary)
    steps = steps_of(f.fix)
    if f.fix.ordered and steps:
        summary = f"{summary.rstrip().rstrip('.')}. Apply in this order:"
    out += [f"**Fix:** {summary}", ""]
    for n, step in enumerate(steps, 1):
        out.append(f"{n}. {_text(step.description)}")
        # list-item continuation: code blocks indented under the step
        if step.command:
            out += [""] + ["   " + ln for ln in _block(f"$ {step.command}", "console")]
        elif step.manifest:
            body = "\n".join(manifest_lines(step.manifest, conn))
            out += [""] + ["   " + ln if ln else "" for ln in _block(f"$ {body}", "console")]
        elif step.fragment:
            out += ["", "   merge into the object named above:", ""]
            out += ["   " + ln if ln else "" for ln in _block(step.fragment, "yaml")]
        out.append("")
    out += [f"**Docs:** <{sanitize(f.doc_url)}>", ""]
    if f.also_explains:
        out += ["**Also explains:** " + ", ".join(_code(c) for c in f.also_explains), ""]
    if f.rank_reason:
        label = "Ranked first because" if rank == 1 else f"Ranked #{rank} because"
        out += [f"*{label}:* {_text(f.rank_reason)}", ""]
    return out


def _traces(report: Report) -> list[str]:
    from istio_doctor.report.trace_render import HOP_MARKS, headline

    probes = any(rt.origin == "probe" for rt in report.traces)
    out = ["## Request traces", "", "Failing requests from the proxy logs" + (
               " (or, where none was logged, probes: requests synthesised from the configuration)" if probes else "")
           + ", followed through Envoy's configuration.", "",
           "| Proxy | Side | Requests | Logged | Trace | Relation |", "|---|---|---|---|---|---|"]
    for rt in report.traces:
        if rt.origin == "probe":
            out.append(f"| {_cell_code(rt.proxy)} | {rt.side} | probe | {_cell(rt.probe or '')} | {_cell(headline(rt.trace))} | {rt.relation} |")
        else:
            out.append(f"| {_cell_code(rt.proxy)} | {rt.side} | {rt.requests} | {_cell_code(rt.logged)} | {_cell(headline(rt.trace))} | {rt.relation} |")
    out.append("")
    if report.verdict is Verdict.CAUSE_NOT_DETERMINED:
        for rt in report.traces:
            out += [f"**{_text(rt.proxy)}**" + (f" ({_text(rt.probe or '')})" if rt.origin == "probe" else "")
                    + f": {_text(headline(rt.trace))}", ""]
            out += [f"{i}. {HOP_MARKS[h.status]} `{h.stage.value}` {_text(h.element)}: {_text(h.decision)} ({_text(h.why)})"
                    for i, h in enumerate(rt.trace.hops, 1)]
            out.append("")
            if rt.trace.unknowns:
                out += ["Could not see:", ""] + [f"- {_text(u)}" for u in rt.trace.unknowns] + [""]
    return out


def _timeline(tl: PodTimeline) -> list[str]:
    """A table; folded in ``<details>`` unless a finding decided on it (the ticket stays short)."""
    rows, left_out = timeline_rows.rows(tl)
    body = [f"*{_text(timeline_rows.heading(tl))}*", ""]
    if tl.containers:
        body += [f"Containers: {_text(timeline_rows.legend(tl))}", ""]
    body += ["| | Time | Offset | What happened | Decides |", "|---|---|---|---|---|"]
    for r in rows:
        body.append(f"| {'▶' if r.marked else ' '} | {r.time} | {r.offset or ' '} | {_cell(r.text)} | "
                    f"{', '.join(_cell_code(c) for c in r.deciding) or ' '} |")
    if left_out:
        body += ["", f"*{left_out} more moments in the JSON report.*"]
    notes = [*tl.skew.notes, *tl.gaps]
    if notes:
        body += [""] + [f"- {_text(n)}" for n in notes]
    title = f"## Timeline of {_code(tl.target)}"
    if timeline_rows.has_deciding(tl):
        return [title, "", *body, ""]
    return [title, "", "<details>", f"<summary>{len(tl.moments)} moments</summary>", "", *body, "", "</details>", ""]


def _node_line(node: NodeReport) -> str:
    detail = node_detail(node)
    if node.observation:
        mark, word = INFO_MARK, "triage"
    else:
        # a bare "-" right after the list marker would start a nested list
        mark = "\\-" if MARKS[node.outcome] == "-" else MARKS[node.outcome]
        word = _OUTCOME_TEXT[node.outcome]
    line = f"- {mark} **{word}** {_text(node.title)} ({_code(node.check)})"
    if detail and node.outcome is not Outcome.SKIPPED:
        line += f": {_text(detail)}".replace("\n", " ")
    return line


def _what_to_do(report: Report, conn: Connection | None) -> list[str]:
    undetermined = report.verdict is Verdict.CAUSE_NOT_DETERMINED
    if not report.findings and not report.gaps and not undetermined:
        return []
    out = ["## What to do", ""]
    if undetermined:
        # no cause to fix: where to look next, never a guess
        out.append("- **No cause determined:** " + (
            "the request traces above show where each failing request goes and what they could not see"
            if report.traces else "no failing request could be traced (no config dump of the proxy that logged it)"))
    if report.findings:
        top = report.findings[0]
        out += [f"- **Root cause:** {_code(top.code)} {_text(top.title)}", f"- **Fix:** {_text(top.fix.summary)}"]
        for n, step in enumerate(steps_of(top.fix), 1):
            if step.command:
                out.append(f"  {n}. {_code(step.command)}")
            elif step.manifest:
                out.append(f"  {n}. {_code(manifest_lines(step.manifest, conn)[0])} with the manifest of step {n} above")
        for f in report.findings[1:]:
            out.append(f"- **Also:** {_code(f.code)} {_text(f.title)}")
    if report.gaps:
        out.append(f"- **Could not check:** {_text(report.gaps[0].cause)}"
                   + (f" (+{len(report.gaps) - 1} more)" if len(report.gaps) > 1 else ""))
    return out + [""]


def render_markdown(report: Report, *, verbose: bool = False) -> str:
    quoted = QuotedEvidence()
    conn = report_connection(report.context, report.kubeconfig)
    out: list[str] = [f"# istio-doctor: {_text(report.target)}", ""]
    out += [f"**{_VERDICT_TEXT[report.verdict]}.** {_text(report.headline)}", ""]

    mode = report.mode
    if report.mode == "replay":
        mode = f"replay of recording {_cell_code(report.recording)}" if report.recording else "replay of a recording"
        if report.recording_provenance in PROVENANCE_WORDS:
            mode += f" ({PROVENANCE_WORDS[report.recording_provenance]})"
    v = report.versions
    versions = ", ".join(
        part
        for part in (
            f"kubectl {v.kubectl_client}" if v.kubectl_client else "",
            f"Kubernetes {v.kubernetes_server}" if v.kubernetes_server else "",
            f"istioctl {v.istioctl}" if v.istioctl else "",
            f"control plane {' '.join(v.control_plane)}" if v.control_plane else "",
            f"data plane {' '.join(v.data_plane)}" if v.data_plane else "",
        )
        if part
    )
    out += [
        "| | |",
        "|---|---|",
        f"| Target | {_cell_code(report.target)} |",
        f"| Context | {_cell(report.context or '(current)')} |",
        f"| Mode | {mode} |",
        f"| Symptom | {_cell(report.symptom)} |",
        f"| Playbooks | {_cell(', '.join(report.playbooks_run) or '-')} |",
        f"| Versions | {_cell(versions or 'unknown')} |",
        f"| Generated | {report.generated_at.isoformat()} by istio-doctor {_cell(report.tool_version)} |",
        f"| Exit code | {report.exit_code} |",
        "",
    ]

    if report.workloads:
        out += ["## Workloads", "", "| Workload | Pods | Ready | In mesh | Findings | Worst |", "|---|---|---|---|---|---|"]
        for w in report.workloads:
            mesh = {True: "yes", False: "no", None: "?"}[w.in_mesh]
            out.append(
                f"| {_cell(w.workload)} | {len(w.pods)} | {_cell(w.ready or '?')} | {mesh} | "
                f"{_cell(', '.join(w.findings) or '-')} | {_cell(w.worst or '-')} |"
            )
        out.append("")

    if report.findings:
        out += ["## Findings", "", "| # | Code | Severity | Confidence | Summary |", "|---|---|---|---|---|"]
        for i, f in enumerate(report.findings, 1):
            out.append(
                f"| {f.rank or i} | {_cell_code(f.code)} | {f.severity.value} | {_pct(f.confidence)} | {_cell(f.summary)} |"
            )
        out.append("")
        for i, f in enumerate(report.findings, 1):
            out += _finding(f, i, quoted, conn)

    for tl in report.timelines:
        out += _timeline(tl)

    if report.observations:
        out += ["## Triage", "", "What the proxy logs show: context for the findings, not findings themselves.", ""]
        for o in report.observations:
            out.append(f"- {INFO_MARK} {_code(o.code)} {_text(o.summary)}")
        out.append("")

    if report.traces:
        out += _traces(report)

    if report.gaps and not verbose:
        out += ["## Could not check", "", "| Root failure | Evidence | Checks blocked | What to do |", "|---|---|---|---|"]
        for g in report.gaps:
            out.append(f"| {_cell(g.cause)} | {_cell(', '.join(g.evidence))} | {_cell(', '.join(g.blocked) or '-')} | "
                       f"{_cell(g.advice or '-')} |")
        out.append("")
    elif report.unchecked:
        out += [
            "## Could not check",
            "",
            "| Evidence | Kind | Reason | Command | Outcome unknown for |",
            "|---|---|---|---|---|",
        ]
        for u in report.unchecked:
            out.append(
                f"| {_cell(u.evidence)} | {_cell(u.kind)} | {_cell(u.reason)} | "
                f"{_cell_code(u.command) if u.command else ' '} | {_cell(', '.join(u.affects))} |"
            )
        out.append("")

    out += _what_to_do(report, conn)

    if report.playbooks:
        out += ["## Checks walked", ""]
        for pb in report.playbooks:
            out += [f"**{_code(pb.id)}** {_text(pb.title)}", ""]
            for node in pb.nodes:
                if verbose or shown_by_default(node):
                    out.append(_node_line(node))
            counts = "" if verbose else hidden_counts(pb.nodes)
            if counts:
                out.append(f"- {_text(counts)} (`-v` lists them)".replace("- - ", "- \\- "))
            out.append("")

    if report.notes:
        out += ["## Notes", ""] + [f"- {_text(n)}" for n in report.notes] + [""]

    if report.calls:
        out += [
            "<details>",
            f"<summary>{len(report.calls)} calls to kubectl/istioctl</summary>",
            "",
            "| Command | Exit | Duration | Error |",
            "|---|---|---|---|",
        ]
        for c in report.calls:
            exit_code = "-" if c.exit_code is None else str(c.exit_code)
            replay = " (replayed)" if c.replayed else ""
            out.append(f"| {_cell_code(c.command)} | {exit_code} | {c.duration_s:.2f}s{replay} | {_cell(c.error)} |")
        out += ["", "</details>", ""]

    return "\n".join(out).rstrip("\n") + "\n"
