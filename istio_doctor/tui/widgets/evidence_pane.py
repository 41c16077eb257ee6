"""The evidence pane: the verbatim output of the call a citation names, highlighted.

The lines that contain the excerpt are highlighted and scrolled into view, so the user sees
the proof in its context (the whole object, the whole table), not only the quote.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.widgets import Static

from istio_doctor.engine.model import EvidenceRef
from istio_doctor.evidence.runner import CommandResult
from istio_doctor.tui.present import EvidenceView, evidence_view

SYNTAX_THEME = "monokai"


class EvidencePane(Vertical):
    """A fixed head (what the citation shows, the command) over the scrolling output: the
    command stays visible however far the proof is into the output."""

    BINDINGS = [
        Binding("right_square_bracket", "cycle(1)", "Next evidence", id="evidence-next"),
        Binding("left_square_bracket", "cycle(-1)", "Prev evidence", id="evidence-prev"),
    ]

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._refs: list[EvidenceRef] = []
        self._results: Sequence[CommandResult] = ()
        self.index = 0
        self.current: EvidenceView | None = None
        self.border_title = "Evidence"

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="evidence-head")
        # both ways: a config dump's lines are far wider than the pane, and cutting them would
        # hide the very value the highlight points at (left/right or shift+wheel scroll)
        with ScrollableContainer(id="evidence-scroll"):
            yield Static(id="evidence-body")

    def focus_output(self) -> None:
        self.query_one("#evidence-scroll", ScrollableContainer).focus()

    def show(self, refs: Sequence[EvidenceRef], results: Sequence[CommandResult], index: int = 0) -> None:
        self._refs, self._results = list(refs), results
        self.index = index if 0 <= index < len(self._refs) else 0
        self._render_current()

    def action_cycle(self, step: int) -> None:
        if len(self._refs) > 1:
            self.index = (self.index + step) % len(self._refs)
            self._render_current()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cycle":
            return len(self._refs) > 1
        return True

    def _render_current(self) -> None:
        head = self.query_one("#evidence-head", Static)
        body = self.query_one("#evidence-body", Static)
        if not self._refs:
            self.current = None
            self.border_subtitle = ""
            head.update(Text("No evidence cited by this node.", style="dim"))
            body.update("")
            return
        view = evidence_view(self._refs[self.index], self._results)
        self.current = view
        self.border_subtitle = f"{self.index + 1}/{len(self._refs)}  [ ] cycle"
        # the command first: it is what the user re-runs to check; the note may wrap
        title = Text("$ ", style="dim")
        title.append(view.source, style="cyan")
        if view.exit_code not in (None, 0):
            title.append(f"  (exit {view.exit_code})", style="red")
        title.append("\n")
        title.append(view.title, style="bold")
        if not view.verbatim:
            note = "cited call's output not in this session; showing the excerpt" if view.source else "derived fact"
            title.append(f"  ({note})", style="yellow")
        head.update(title)
        syntax = Syntax(
            view.text,
            view.lexer,
            theme=SYNTAX_THEME,
            line_numbers=True,
            start_line=view.start_line,
            highlight_lines={h + view.start_line for h in view.highlight},
            word_wrap=False,
            indent_guides=False,
        )
        body.update(Group(syntax))
        # Rich measures a renderable no wider than its container, so the body is told its real
        # width: the longest line plus the line-number gutter (min-width keeps it >= the pane).
        from rich.cells import cell_len

        longest = max((cell_len(ln) for ln in view.text.splitlines()), default=0)
        gutter = len(str(view.start_line + view.text.count("\n"))) + 4
        body.styles.width = longest + gutter + 1
        self.query_one("#evidence-scroll", ScrollableContainer).scroll_home(animate=False)
        if view.highlight:
            target = view.highlight[0]
            # after the refresh the body has its height; scroll so the proof sits near the top
            self.call_after_refresh(self._scroll_to_line, target)

    def _scroll_to_line(self, line: int) -> None:
        self.query_one("#evidence-scroll", ScrollableContainer).scroll_to(y=max(0, line - 2), animate=False)
