"""The finding and fix pane: what is wrong, why, the proof, and the fix to copy."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from istio_doctor.engine.model import Finding, Severity
from istio_doctor.evidence.target import Connection
from istio_doctor.report.fixes import manifest_lines, steps_of
from istio_doctor.report.model import NodeReport
from istio_doctor.tui.present import OUTCOME_GLYPH, append_demo_hint

_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.ERROR: "bold red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
}


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def finding_renderable(finding: Finding) -> list[RenderableType]:
    head = Text()
    head.append(f"#{finding.rank} " if finding.rank else "", style="bold")
    head.append(finding.code, style="bold red")
    head.append("  ")
    head.append(f" {finding.severity.value} ", style=_SEVERITY_STYLE[finding.severity])
    head.append(f"  confidence {finding.confidence:.0%}", style="dim")
    parts: list[RenderableType] = [head, Text(finding.title, style="bold")]
    if finding.summary:
        parts.append(Text(finding.summary))
    if finding.rank_reason:
        parts.append(Text(f"ranked: {finding.rank_reason}", style="dim"))
    parts += [_section("Why"), Text(finding.explanation)]
    if finding.observed:
        parts.append(Text("observed: " + "; ".join(finding.observed), style="magenta"))
    if finding.evidence:
        parts.append(_section("Evidence"))
        for ref in finding.evidence:
            line = Text("• ")
            line.append(ref.note or ref.key or "evidence", style="bold")
            if ref.source:
                line.append(f"  $ {ref.source}", style="cyan")
            parts.append(line)
            parts.append(Text("  " + ref.excerpt.rstrip().replace("\n", "\n  "), style="dim"))
    return parts


def fix_renderable(finding: Finding, conn: Connection | None = None) -> list[RenderableType]:
    """The fix as it is pasted: each step's command (a manifest as its ``kubectl apply``
    heredoc) right under a one-line description, so at 80x24 the command is on screen."""
    fix = finding.fix
    parts: list[RenderableType] = [_section("Fix  (c copies it as a script)"), Text(fix.summary, style="green")]
    steps = steps_of(fix)
    for i, step in enumerate(steps, 1):
        num = f"{i}. " if len(steps) > 1 else ""
        parts.append(Text(f"{num}{step.description}" + ("  (in this order)" if fix.ordered and i == 1 else ""), style="dim"))
        if step.command:
            parts.append(Syntax(step.command, "bash", theme="monokai", word_wrap=True))
        elif step.manifest:
            parts.append(Syntax("\n".join(manifest_lines(step.manifest, conn)), "bash", theme="monokai", word_wrap=True))
        elif step.fragment:
            parts.append(Text("merge into the object named above:", style="dim"))
            parts.append(Syntax(step.fragment, "yaml", theme="monokai", word_wrap=True))
    if finding.doc_url:
        parts.append(Text(f"\ndocs: {finding.doc_url}", style="underline blue"))
    return parts


def node_renderable(node: NodeReport) -> list[RenderableType]:
    glyph, style = OUTCOME_GLYPH[node.outcome]
    head = Text()
    head.append(f"{glyph} {node.outcome.value}", style=style)
    head.append(f"  {node.check}", style="dim")
    parts: list[RenderableType] = [head, Text(node.title, style="bold")]
    if node.summary:
        parts.append(Text(node.summary))
    if node.reason and node.reason != node.summary:
        parts.append(Text(f"why unknown: {node.reason}" if node.outcome.value == "unknown" else node.reason, style="yellow"))
    if node.next:
        parts.append(Text(f"next: {node.next}", style="dim"))
    return parts


class FindingPane(VerticalScroll, can_focus=True):
    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.finding: Finding | None = None
        self.border_title = "Finding & fix"

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="finding-body")
        yield Static(id="finding-fix")

    def show(self, finding: Finding | None, node: NodeReport | None, conn: Connection | None = None) -> None:
        self.finding = finding
        body = self.query_one("#finding-body", Static)
        fix = self.query_one("#finding-fix", Static)
        if finding is not None:
            body.update(Group(*finding_renderable(finding)))
            fix.update(Group(*fix_renderable(finding, conn)))
        else:
            body.update(Group(*node_renderable(node)) if node is not None else Text("Select a node or a finding.", style="dim"))
            fix.update("")
        self.scroll_home(animate=False)

    def show_problem(self, title: str, sentence: str) -> None:
        """The whole sentence of a diagnosis that could not start (the preflight's), and what
        to try instead; the flash line alone would cut it."""
        self.finding = None
        text = Text()
        text.append(title + "\n", style="bold red")
        text.append(sentence + "\n\n")
        text.append("ctrl+r", style="bold")
        text.append(" tries again. To explore a recorded incident without a cluster, ")
        append_demo_hint(text)
        text.append(".")
        self.query_one("#finding-body", Static).update(text)
        self.query_one("#finding-fix", Static).update("")
        self.scroll_home(animate=False)

    # Reading the fix needs room: the pane grows while it has focus (CSS ``#right.-fix``).
    def on_focus(self) -> None:
        if self.parent is not None:
            self.parent.add_class("-fix")

    def on_blur(self) -> None:
        if self.parent is not None:
            self.parent.remove_class("-fix")

    def scroll_to_fix(self) -> None:
        """Put the Fix section at the top: what the SRE reads after the title at 3 a.m."""
        if self.finding is not None:
            self.call_after_refresh(self.scroll_to_widget, self.query_one("#finding-fix", Static), top=True, animate=False)
