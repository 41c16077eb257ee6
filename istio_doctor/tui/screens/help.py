"""``?``: the keys of the screen underneath (read from its live bindings, so the help can
never drift from what the keys do) and a paragraph on what the screen is for."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def key_rows(screen: Screen[object]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        b = active.binding
        # Only istio-doctor's own keys (they all carry an id=): the cursor keys of every
        # Textual widget would bury the dozen keys that matter.
        if not b.description or b.id is None or b.description in seen or b.system:
            continue
        seen.add(b.description)
        rows.append((b.key_display or screen.app.get_key_display(b), b.description))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help-close"),
        Binding("question_mark", "dismiss", "Close", id="help-close-2", show=False),
        Binding("q", "dismiss", "Close", id="help-close-3", show=False),
    ]

    def __init__(self, of: Screen[object]) -> None:
        super().__init__()
        self.rows = key_rows(of)
        self.about = getattr(of, "HELP", "")
        self.title_text = " › ".join(getattr(of, "crumbs", lambda: [])()) or "istio-doctor"

    def compose(self) -> ComposeResult:
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("action")
        for k, d in self.rows:
            table.add_row(k, d)
        with VerticalScroll(id="help"):
            yield Static(Text(f"Help: {self.title_text}", style="bold"))
            if self.about:
                yield Static(Text(self.about), classes="help-about")
            yield Static(table)
            yield Static(Text("esc / ? closes.  : or ctrl+p opens the command palette.", style="dim"))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
