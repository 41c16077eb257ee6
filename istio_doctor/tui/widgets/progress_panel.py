"""Calls as they run while evidence is gathered: command, status, exit code, duration.

Fed by ``ProgressEvent``s; rows are keyed by the evidence key (or the command) so a call's
start and finish update one row. The status glyph is static: a spinner would make snapshots
non-deterministic, and the done/total count already shows that work is moving.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from istio_doctor.tui.services import ProgressLike


class ProgressPanel(Vertical):
    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._rows: set[str] = set()
        self.border_title = "Gathering evidence  (esc cancels)"

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="progress-status")
        table: DataTable[Text | str] = DataTable(id="progress-calls", cursor_type="row", zebra_stripes=True)
        table.add_column("status", key="status", width=8)
        table.add_column("exit", key="exit", width=4)
        table.add_column("time", key="time", width=7)
        table.add_column("command", key="command")
        yield table

    def reset(self, target: str) -> None:
        self._rows.clear()
        self.query_one(DataTable).clear()
        self.query_one("#progress-status", Static).update(Text(f"Planning evidence for {target}…", style="bold"))

    def feed(self, event: ProgressLike) -> None:
        status = self.query_one("#progress-status", Static)
        count = f"  [{event.done}/{event.total}]" if event.total else ""
        status.update(Text(f"{event.phase}: {event.message or event.command}{count}", style="bold"))
        if not event.command:
            return
        table: DataTable[Text | str] = self.query_one(DataTable)
        row_key = event.key or event.command
        finished = event.phase == "call_finished" or event.exit_code is not None
        if not finished:
            state = Text("⋯ run", style="yellow")
        elif event.exit_code == 0:
            state = Text("✔ ok", style="green")
        else:
            state = Text("✘ fail", style="red")
        exit_text = "" if event.exit_code is None else str(event.exit_code)
        duration = "" if event.duration_s is None else f"{event.duration_s:.2f}s"
        if row_key in self._rows:
            table.update_cell(row_key, "status", state)
            table.update_cell(row_key, "exit", exit_text)
            table.update_cell(row_key, "time", duration)
        else:
            self._rows.add(row_key)
            table.add_row(state, exit_text, duration, event.command, key=row_key)
            table.move_cursor(row=table.row_count - 1)
