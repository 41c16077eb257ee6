"""Pure presentation logic for the TUI: glyphs, evidence lookup, excerpt location, fix text.

Nothing here imports Textual, so every rule the screens rely on (which line of a 9,000-line
config dump to highlight, what `c` puts on the clipboard) is unit-tested without an app.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text

from istio_doctor.engine.model import EvidenceRef, Finding, Outcome
from istio_doctor.evidence.target import Target, TargetKind
from istio_doctor.evidence.recording import normalise_argv
from istio_doctor.evidence.runner import CommandResult
from istio_doctor.report.model import NodeReport, PlaybookReport, Report

#: glyph and Rich style per outcome; the same mapping as the text report so users learn it once
OUTCOME_GLYPH: dict[Outcome, tuple[str, str]] = {
    Outcome.PASS: ("✔", "green"),
    Outcome.FAIL: ("✘", "bold red"),
    Outcome.UNKNOWN: ("‼", "yellow"),
    Outcome.NOT_APPLICABLE: ("-", "dim"),
    Outcome.SKIPPED: ("·", "dim"),
}

#: an informational triage result (which flags, which proxy): context, not a failure
INFO_GLYPH = "ℹ"

#: worst first: a branch label shows its worst leaf, so a collapsed branch still shows a failure
_SEVERITY_ORDER = [Outcome.FAIL, Outcome.UNKNOWN, Outcome.PASS, Outcome.NOT_APPLICABLE, Outcome.SKIPPED]


def worst_outcome(nodes: Iterable[NodeReport]) -> Outcome:
    # an informational result is not a failure, whatever its check returned
    outcomes = {n.outcome for n in nodes if not n.observation}
    for o in _SEVERITY_ORDER:
        if o in outcomes:
            return o
    return Outcome.SKIPPED


def branch_counts(pb: PlaybookReport) -> str:
    """``2✘ 1‼`` style summary shown on a branch label (k9s xray: visible when collapsed)."""
    parts = []
    for o in (Outcome.FAIL, Outcome.UNKNOWN):
        n = sum(1 for node in pb.nodes if node.outcome is o and not node.observation)
        if n:
            parts.append(f"{n}{OUTCOME_GLYPH[o][0]}")
    return " ".join(parts)


def walked_path(pb: PlaybookReport) -> list[NodeReport]:
    """Nodes the walk actually evaluated, in order (skipped ones are not on the path)."""
    return [n for n in pb.nodes if n.outcome is not Outcome.SKIPPED]


def finding_for(report: Report, node: NodeReport, playbook_id: str) -> Finding | None:
    if node.finding is None:
        return None
    for f in report.findings:
        if f.code == node.finding and (f.node in ("", node.id)) and (f.playbook in ("", playbook_id)):
            return f
    return next((f for f in report.findings if f.code == node.finding), None)


def locate_node(report: Report, finding: Finding) -> tuple[str, str] | None:
    """(playbook id, node id) of the node that produced ``finding``."""
    for pb in report.playbooks:
        if finding.playbook and pb.id != finding.playbook:
            continue
        for n in pb.nodes:
            if (finding.node and n.id == finding.node) or (not finding.node and n.finding == finding.code):
                return pb.id, n.id
    for pb in report.playbooks:
        for n in pb.nodes:
            if n.finding == finding.code:
                return pb.id, n.id
    return None


# -- evidence lookup -----------------------------------------------------------------------

def find_result(results: Sequence[CommandResult], source: str) -> CommandResult | None:
    """The call an EvidenceRef cites, by its command line. Connection flags are ignored by
    the same rule replay uses, so a citation matches however the call was run."""
    if not source:
        return None
    for r in results:
        if r.command_line == source:
            return r
    try:
        wanted = normalise_argv(shlex.split(source))
    except ValueError:
        return None
    matches = [r for r in results if normalise_argv(r.argv) == wanted]
    # the last call wins: a successful fallback comes after the call it replaced
    ok = [r for r in matches if r.ok]
    return (ok or matches or [None])[-1]


def guess_lexer(text: str, argv: Sequence[str] = ()) -> str:
    head = text.lstrip()[:1]
    if head in ("{", "["):
        return "json"
    args = list(argv)
    if ("-o" in args and args[args.index("-o") + 1 : args.index("-o") + 2] == ["yaml"]) or "-oyaml" in args:
        return "yaml"
    if re.match(r"^(apiVersion|kind|metadata):", text.lstrip(), re.M):
        return "yaml"
    return "text"


def _meaningful(line: str) -> bool:
    # Lines of only brackets/commas match everywhere in JSON; they cannot locate anything.
    return len(re.sub(r"[\s{}\[\],:\"']", "", line)) >= 2


def _norm(line: str) -> str:
    """One comparable form for a YAML or JSON line: checks quote objects as YAML while
    kubectl printed JSON, so ``"name": "ratings",`` and ``- name: ratings`` must compare equal."""
    s = line.strip()
    if s.startswith("- "):
        s = s[2:]
    s = s.replace('"', "").replace("'", "")
    return s.rstrip(",").rstrip("{[").strip()


#: how far apart two consecutive excerpt lines may be in the output (a JSON object puts
#: creationTimestamp, uid, labels... between ``metadata`` and ``name``)
_WINDOW = 40

_RESOURCE_RE = re.compile(r"\b((?:inbound|outbound)\|[0-9]*\|[^|\s]*\|[^\s,;:)\"']+)")


def locate_excerpt(text: str, excerpt: str) -> list[int]:
    """0-based line numbers of ``text`` that show ``excerpt``.

    Excerpts are verbatim but may be trimmed, re-indented or shown as YAML while the call
    printed JSON, so lines are compared in a normalised form, and the excerpt's lines are
    matched in order within a window; the tightest complete run wins (the object quoted, not
    a neighbour sharing its first lines). Without a complete run, the longest partial run;
    then lines containing a distinctive excerpt line; then the first line naming an Envoy
    cluster the excerpt names (config-dump facts are summaries, not quotes).
    """
    wanted = [_norm(ln) for ln in excerpt.splitlines() if ln.strip() and _meaningful(ln)]
    if not wanted or not text:
        return []
    lines = [_norm(ln) for ln in text.splitlines()]
    best: list[int] = []
    complete: list[list[int]] = []
    for start, line in enumerate(lines):
        if wanted[0] not in line:
            continue
        hit = [start]
        pos = start + 1
        for w in wanted[1:]:
            window_end = min(len(lines), pos + _WINDOW)
            nxt = next((i for i in range(pos, window_end) if w in lines[i]), None)
            if nxt is None:
                break
            hit.append(nxt)
            pos = nxt + 1
        if len(hit) == len(wanted):
            complete.append(hit)
        elif len(hit) > len(best):
            best = hit
    if complete:
        run = min(complete, key=lambda h: (h[-1] - h[0], h[0]))
        return list(range(run[0], run[-1] + 1))
    if len(best) > 1:
        return best
    distinctive = [w for w in wanted if len(w) >= 8]
    found = [i for i, line in enumerate(lines) if any(w in line for w in distinctive)][:50]
    if found:
        return found
    for name in _RESOURCE_RE.findall(excerpt):
        named = next((i for i, line in enumerate(lines) if line == f"name: {name}"), None)
        if named is None:
            named = next((i for i, line in enumerate(lines) if name in line), None)
        if named is not None:
            return [named]
    return []


@dataclass(frozen=True)
class EvidenceView:
    """What the evidence pane shows for one citation."""

    title: str
    source: str
    text: str
    lexer: str
    highlight: list[int]  # 0-based line numbers in ``text``
    start_line: int  # 1-based number of text's first line in the full output (windowed outputs)
    verbatim: bool  # False when the cited call's output was not found and the excerpt is shown
    exit_code: int | None = None


#: Outputs above this many lines are shown as a window around the highlight: rendering a
#: whole 40k-line config dump would freeze the pane for seconds at 3 a.m.
MAX_LINES = 1500


def evidence_view(ref: EvidenceRef, results: Sequence[CommandResult]) -> EvidenceView:
    title = ref.note or ref.key or "evidence"
    result = find_result(results, ref.source)
    if result is None or not result.stdout.strip():
        text = ref.excerpt
        return EvidenceView(title, ref.source or "(derived from other evidence)", text, guess_lexer(text),
                            list(range(len(text.splitlines()))) if ref.source else [], 1, False,
                            result.exit_code if result else None)
    text = result.stdout
    hl = locate_excerpt(text, ref.excerpt)
    lines = text.splitlines()
    start = 0
    if len(lines) > MAX_LINES:
        centre = hl[0] if hl else 0
        start = max(0, min(centre - MAX_LINES // 3, len(lines) - MAX_LINES))
        lines = lines[start : start + MAX_LINES]
        hl = [h - start for h in hl if start <= h < start + MAX_LINES]
        text = "\n".join(lines)
    return EvidenceView(title, result.command_line, text, guess_lexer(result.stdout, result.argv), hl, start + 1, True,
                        result.exit_code)


# -- fix text --------------------------------------------------------------------------------


def fix_text(finding: Finding, report: Report | None = None) -> str:
    """What ``c`` puts on the clipboard: the fix as the same script ``--fix-script`` writes
    (report/fixes.py): a comment line per step, manifests applied by ``kubectl apply -f -
    <<'EOF'``, the commands commented out until the engineer chooses them."""
    from istio_doctor.report.fixes import fix_script, report_connection

    conn = report_connection(report.context, report.kubeconfig) if report is not None else None
    return fix_script([finding], conn=conn, target=str(finding.target or ""),
                      tool_version=report.tool_version if report is not None else "")


def proxy_filter_for(finding: Finding) -> str | None:
    """The first Envoy resource (cluster/route name) a finding mentions, to pre-fill the
    proxy-config filter; None when the finding is not about proxy configuration."""
    texts = [finding.summary, *finding.resources, *(e.excerpt for e in finding.evidence)]
    for t in texts:
        m = _RESOURCE_RE.search(t)
        if m:
            return m.group(1)
    for e in finding.evidence:
        if e.key.startswith("config_dump(") or "proxy-config" in e.source:
            for r in finding.resources:
                # "VirtualService default/reviews" -> "reviews": route/cluster names contain the host
                name = r.split()[-1].split("/")[-1]
                if name:
                    return name
            return ""
    return None


def append_demo_hint(text: Text) -> None:
    """How to reach the bundled incident when no cluster answers (said where a diagnosis or
    the start screen cannot go on): keys and the command highlighted as everywhere else."""
    text.append("quit (")
    text.append("q", style="bold")
    text.append(") and run ")
    text.append("istio-doctor demo --tui", style="bold cyan")


def target_label(target: Target) -> str:
    """``pod/NAME``, ``deploy/NAME``, ``svc/NAME`` or ``ns/NAME``: what the crumbs show."""
    return str(target).split(" -n ")[0]


def pods_of(report: Report) -> list[tuple[str, Text]]:
    """The pods a deploy/, svc/ or ns/ diagnosis examined or listed, flagged ones first, each
    with a label: mark, name and why it was flagged (its findings, or the walk's worst outcome)."""
    out: dict[str, Text] = {}
    codes_by_pod: dict[str, list[str]] = {}
    for f in report.findings:
        if f.target is not None and f.target.kind is TargetKind.POD:
            codes_by_pod.setdefault(f.target.name, []).append(f.code)
    walked = [pb.target.partition(" -n ")[0][4:] for pb in report.playbooks if pb.target.startswith("pod/")]
    for name in dict.fromkeys(walked):
        codes = codes_by_pod.get(name, [])
        label = Text()
        label.append("✘ " if codes else "‼ ", style="bold red" if codes else "yellow")
        label.append(name, style="bold")
        label.append(f"  {', '.join(codes)}" if codes else "  examined", style="red" if codes else "dim")
        out[name] = label
    # the rest of a namespace scan's table: flagged workloads first, then the quiet ones
    for w in sorted(report.workloads, key=lambda w: not (w.flagged or w.findings)):
        for name in w.pods:
            if name in out:
                continue
            bad = w.flagged or bool(w.findings)
            label = Text()
            label.append("‼ " if bad else "✔ ", style="yellow" if bad else "green")
            label.append(name, style="bold" if bad else "")
            label.append(f"  {w.workload}" + (" (not in the mesh)" if w.in_mesh is False else ""), style="dim")
            if w.findings:
                label.append(f"  {', '.join(w.findings)}", style="red")
            out[name] = label
    return list(out.items())


def safe_filename_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "target"
