"""The pod's timeline: every moment the evidence dates, on its clock, the ones a finding decided
on highlighted; enter (or moving the cursor) shows the moment's verbatim line and its source."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from istio_doctor.engine.lifecycle.model import Clock, PodTimeline
from istio_doctor.report.model import Report
from istio_doctor.report.timeline import heading, legend
from istio_doctor.tui.screens.base import Column, DoctorScreen, add_columns, table_over_detail

_CLOCK = {Clock.NODE: "node", Clock.CONTROL_PLANE: "API", Clock.LOCAL: "local"}


def _offset(tl: PodTimeline, seconds: float) -> str:
    from istio_doctor.engine.lifecycle.cite import duration

    return ("+" if seconds >= 0 else "-") + duration(seconds)


_COLUMNS: tuple[Column, ...] = (
    (" ", "mark", 1),
    ("TIME", "time", 12),
    ("OFFSET", "offset", 8),
    ("CLOCK", "clock", 5),
    ("DECIDES", "decides", None),
    ("WHAT HAPPENED", "what", None),
)


class TimelineScreen(DoctorScreen):
    HELP = ("The examined pod's lifecycle: container starts and exits, events, pilot-agent's milestones, the "
            "application's network errors, the istio-cni agent; each on the clock that stamped it. Rows marked ▶ decided "
            "a finding. n / N jump between them; [ and ] switch pods when several were examined.")
    BINDINGS = [
        Binding("n", "next_deciding", "Next ▶", id="timeline-next-deciding", tooltip="Jump to the next moment a finding decided on"),
        Binding("N", "previous_deciding", "Previous ▶", id="timeline-previous-deciding"),
        Binding("right_square_bracket", "pod(1)", "Next pod", key_display="]", id="timeline-next-pod"),
        Binding("left_square_bracket", "pod(-1)", "Previous pod", key_display="[", id="timeline-previous-pod"),
        Binding("escape", "back", "Back", id="timeline-back"),
    ]

    def __init__(self, report: Report, pod: str | None = None) -> None:
        super().__init__()
        self.report = report
        self.index = next((i for i, tl in enumerate(report.timelines) if tl.pod == pod), 0)

    @property
    def timeline(self) -> PodTimeline:
        return self.report.timelines[self.index]

    DEFAULT_CSS = """
    TimelineScreen #timeline-heading { height: auto; max-height: 6; padding: 0 1; }
    TimelineScreen #timeline { height: 2fr; }
    TimelineScreen #moment { height: 1fr; border: round $primary; padding: 0 1; }
    """

    def crumbs(self) -> list[str]:
        return ["Diagnosis", "timeline"]

    def compose_body(self) -> ComposeResult:
        yield Static(id="timeline-heading")
        yield from table_over_detail("timeline", "moment")

    def on_mount(self) -> None:
        table: DataTable[Text | str] = self.query_one("#timeline", DataTable)
        add_columns(table, _COLUMNS)
        self.query_one("#moment").border_title = "moment"
        self._load()
        table.focus()

    def _load(self) -> None:
        tl = self.timeline
        head = Text(heading(tl), style="bold")
        if tl.containers:
            head.append("\ncontainers: " + legend(tl))
        for note in [*tl.skew.notes, *tl.gaps]:
            head.append("\nnote: " + note, style="yellow")
        self.query_one("#timeline-heading", Static).update(head)
        table: DataTable[Text | str] = self.query_one("#timeline", DataTable)
        table.clear()
        for m in tl.moments:
            style = "bold red" if m.deciding else ""
            off = _offset(tl, (m.at - tl.origin).total_seconds()) if tl.origin is not None else ""
            count = f" (x{m.count})" if m.count > 1 else ""
            table.add_row(Text("▶" if m.deciding else "", style="bold red"), m.at.strftime("%H:%M:%S.%f")[:12], off,
                          _CLOCK[m.clock], Text(", ".join(m.deciding), style=style), Text(m.summary + count, style=style),
                          key=m.id)
        first = next((i for i, m in enumerate(tl.moments) if m.deciding), 0)
        if tl.moments:
            table.move_cursor(row=first)

    @on(DataTable.RowHighlighted, "#timeline")
    def _show(self, event: DataTable.RowHighlighted) -> None:
        m = self.timeline.by_id(str(event.row_key.value))
        if m is None:
            return
        out = Text()
        out.append(f"{m.id}  {m.at.isoformat().replace('+00:00', 'Z')}  [{m.clock.value} clock]\n", style="bold")
        if m.deciding:
            out.append("decides: " + ", ".join(m.deciding) + "\n", style="bold red")
        if m.count > 1 and m.last_at is not None:
            out.append(f"{m.count} times, the last at {m.last_at.isoformat().replace('+00:00', 'Z')}\n")
        if m.source:
            out.append(f"$ {m.source}\n", style="dim")
        out.append(m.excerpt or m.summary)
        self.query_one("#moment-text", Static).update(out)

    def _deciding_rows(self) -> list[int]:
        return [i for i, m in enumerate(self.timeline.moments) if m.deciding]

    def _jump(self, step: int) -> None:
        rows = self._deciding_rows()
        table: DataTable[Text | str] = self.query_one("#timeline", DataTable)
        if not rows:
            self.doctor.flash("no finding decided on a moment of this timeline", "warning")
            return
        cur = table.cursor_row
        after = [r for r in rows if (r > cur if step > 0 else r < cur)]
        target = (after[0] if step > 0 else after[-1]) if after else (rows[0] if step > 0 else rows[-1])
        table.move_cursor(row=target)

    def action_next_deciding(self) -> None:
        self._jump(1)

    def action_previous_deciding(self) -> None:
        self._jump(-1)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pod":
            return len(self.report.timelines) > 1
        if action in ("next_deciding", "previous_deciding"):
            return bool(self._deciding_rows())
        return True

    def action_pod(self, step: int) -> None:
        self.index = (self.index + step) % len(self.report.timelines)
        self._load()

    def action_back(self) -> None:
        self.app.pop_screen()
