"""Every command the diagnosis ran (or replayed): exit code, duration, error. Enter shows
the call's output, so a failed call's stderr is one key away."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from istio_doctor.evidence.runner import CommandResult
from istio_doctor.report.model import Report
from istio_doctor.tui.present import find_result
from istio_doctor.tui.screens.base import Column, DoctorScreen, add_columns, table_over_detail

_COLUMNS: tuple[Column, ...] = (
    ("#", "n", 3),
    ("EXIT", "exit", 4),
    ("TIME", "time", 7),
    ("COMMAND", "command", None),
    ("ERROR", "error", None),
)


class CallsLogScreen(DoctorScreen):
    HELP = "Every kubectl/istioctl call of the diagnosis, in order. enter shows the call's stderr and the start of its output."
    BINDINGS = [Binding("escape", "back", "Back", id="calls-back")]

    def __init__(self, report: Report, results: Sequence[CommandResult]) -> None:
        super().__init__()
        self.report = report
        self.results = results

    def crumbs(self) -> list[str]:
        return ["Diagnosis", f"calls ({len(self.report.calls)})"]

    def compose_body(self) -> ComposeResult:
        yield from table_over_detail("calls", "call-output")

    def on_mount(self) -> None:
        table: DataTable[Text | str] = self.query_one("#calls", DataTable)
        add_columns(table, _COLUMNS)
        for i, c in enumerate(self.report.calls, 1):
            exit_text = Text("-" if c.exit_code is None else str(c.exit_code), style="green" if c.exit_code == 0 else "red")
            table.add_row(str(i), exit_text, f"{c.duration_s:.2f}s", c.command, c.error, key=str(i - 1))
        table.focus()
        self.query_one("#call-output").border_title = "output"

    @on(DataTable.RowHighlighted, "#calls")
    def _show_call(self, event: DataTable.RowHighlighted) -> None:
        call = self.report.calls[int(str(event.row_key.value))]
        result = find_result(self.results, call.command)
        out = Text()
        if result is None:
            out.append("no output kept for this call", style="dim")
        else:
            if result.stderr.strip():
                out.append(result.stderr.rstrip() + "\n", style="red")
            lines = result.stdout.splitlines()
            if not lines and not result.stderr.strip():
                out.append("(no output)", style="dim")
            out.append("\n".join(lines[:200]))
            if len(lines) > 200:
                out.append(f"\n… {len(lines) - 200} more lines", style="dim")
        self.query_one("#call-output-text", Static).update(out)

    def action_back(self) -> None:
        self.app.pop_screen()
