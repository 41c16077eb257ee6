"""``u``: what could not be checked. One row per root failure (a missing binary, an RBAC
verb on a resource, an unreachable cluster), with the checks it left unknown, what to do, and
the calls that failed for that reason: the gaps of a diagnosis are as much its result as the
findings, and never read as healthy."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from istio_doctor.report.model import Gap, Report
from istio_doctor.tui.screens.base import Column, DoctorScreen, add_columns, table_over_detail


def gaps_of(report: Report) -> list[Gap]:
    """The report's root failures; a report written before they existed lists each gap."""
    if report.gaps:
        return list(report.gaps)
    return [Gap(kind=u.kind, cause=u.reason, evidence=[u.evidence], commands=[u.command] if u.command else [],
                blocked=list(u.affects)) for u in report.unchecked]


def gap_detail(gap: Gap) -> Text:
    out = Text()
    out.append(gap.cause + "\n", style="bold yellow")
    if gap.advice:
        out.append("\nWhat to do: ", style="bold")
        out.append(gap.advice.rstrip(".") + ".\n")
    if gap.blocked:
        out.append(f"\nChecks left unknown ({len(gap.blocked)}): ", style="bold")
        out.append(", ".join(gap.blocked) + "\n")
    if gap.evidence:
        out.append(f"\nEvidence not gathered ({len(gap.evidence)}): ", style="bold")
        out.append(", ".join(gap.evidence) + "\n")
    if gap.commands:
        out.append(f"\nCalls that failed this way ({len(gap.commands)}):\n", style="bold")
        for c in gap.commands:
            out.append(f"  $ {c}\n", style="cyan")
    return out


_COLUMNS: tuple[Column, ...] = (
    ("KIND", "kind", None),
    ("BLOCKED", "blocked", 7),
    ("CAUSE", "cause", None),
)


class UncheckedScreen(DoctorScreen):
    HELP = (
        "What could not be checked, one row per root failure: why, which checks it left unknown, what to do, "
        "and the calls that failed for that reason. Unknown is never healthy."
    )
    BINDINGS = [Binding("escape", "back", "Back", id="unchecked-back")]

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report
        self.gaps = gaps_of(report)

    def crumbs(self) -> list[str]:
        return ["Diagnosis", f"could not check ({len(self.gaps)})"]

    def compose_body(self) -> ComposeResult:
        yield from table_over_detail("gaps", "gap-detail")

    def on_mount(self) -> None:
        table: DataTable[Text | str] = self.query_one("#gaps", DataTable)
        add_columns(table, _COLUMNS)
        for i, g in enumerate(self.gaps):
            table.add_row(Text(g.kind, style="yellow"), str(len(g.blocked)), g.cause, key=str(i))
        self.query_one("#gap-detail").border_title = "details"
        if not self.gaps:
            self.query_one("#gap-detail-text", Static).update(Text("Every piece of evidence was gathered.", style="green"))
        table.focus()

    @on(DataTable.RowHighlighted, "#gaps")
    def _show(self, event: DataTable.RowHighlighted) -> None:
        self.query_one("#gap-detail-text", Static).update(gap_detail(self.gaps[int(str(event.row_key.value))]))

    def action_back(self) -> None:
        self.app.pop_screen()
