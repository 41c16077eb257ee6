"""One failing request followed through Envoy: every hop, the one that breaks highlighted.

Opened with ``t`` from the evidence pane when it shows access-log lines of a failing request
that the diagnosis traced. Each row is a hop (stage, config element, decision); the detail
below says why and shows the configuration that decided it, verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from istio_doctor.engine.model import EvidenceRef
from istio_doctor.report.model import RequestTrace
from istio_doctor.report.trace_render import HOP_MARKS, carried_probe, headline
from istio_doctor.tui.screens.base import Column, DoctorScreen, add_columns, table_over_detail

_STYLE = {"ok": "green", "break": "bold red", "warn": "yellow", "unknown": "yellow", "info": "dim"}


def trace_for(ref: EvidenceRef | None, traces: Sequence[RequestTrace]) -> RequestTrace | None:
    """The traced request shape whose log lines the evidence quotes (None: not a traced request)."""
    if ref is None or not traces:
        return None
    quoted = {ln.strip() for ln in ref.excerpt.splitlines() if ln.strip()}
    for rt in traces:
        if quoted & {ln.strip() for ln in rt.log_lines}:
            return rt
        # a probe has no log line: its hop list is what the evidence quotes
        if rt.origin == "probe" and carried_probe(rt, [ref.excerpt]):
            return rt
    return None


def folded_trace_refs(evidence: Sequence[EvidenceRef], shown: Sequence[EvidenceRef],
                      traces: Sequence[RequestTrace]) -> list[EvidenceRef]:
    """Evidence a finding carries beyond its node's: the traced requests' log lines and hops."""
    have = {(e.source, e.excerpt) for e in shown}
    out = []
    for e in evidence:
        if (e.source, e.excerpt) in have:
            continue
        if trace_for(e, traces) is not None or e.note.startswith("request trace"):
            out.append(e)
    return out


_COLUMNS: tuple[Column, ...] = (
    ("", "mark", 2),
    ("#", "n", 3),
    ("STAGE", "stage", None),
    ("DECISION", "decision", 40),
    ("ELEMENT", "element", 34),
    ("PROXY", "proxy", None),
)


class TraceScreen(DoctorScreen):
    HELP = ("One failing request from the proxy log, followed through Envoy's configuration: listener, filter chain, "
            "routes, cluster, endpoints and, when the request reaches a pod, the server's side. The hop that breaks is "
            "red and selected; the detail shows why and the configuration that decided it.")
    BINDINGS = [Binding("escape", "back", "Back", id="trace-back")]
    # kept with the screen (not app.tcss): the trace view is self-contained
    DEFAULT_CSS = """
    #trace-headline { padding: 0 1; height: auto; }
    #trace-hops { height: 2fr; }
    #trace-detail { height: 1fr; border: round $primary 50%; }
    """

    def __init__(self, rt: RequestTrace) -> None:
        super().__init__()
        self.rt = rt

    def crumbs(self) -> list[str]:
        return ["Diagnosis", f"trace {self.rt.proxy}"]

    def compose_body(self) -> ComposeResult:
        yield Static(id="trace-headline")
        yield from table_over_detail("trace-hops", "trace-detail", zebra_stripes=False)

    def on_mount(self) -> None:
        t = self.rt.trace
        head = Text(headline(t), style="bold red" if t.broken else "bold")
        if self.rt.origin == "probe":
            # synthesised, never logged: say so where a logged request would show its log line
            head.append(f"\n{self.rt.probe}, traced on {self.rt.proxy}" + (f": {self.rt.about}" if self.rt.about else ""),
                        style="dim italic")
        else:
            head.append(f"\n{self.rt.requests}× {self.rt.logged} in the log of {self.rt.proxy} ({self.rt.relation})", style="dim")
        self.query_one("#trace-headline", Static).update(head)
        table: DataTable[Text | str] = self.query_one("#trace-hops", DataTable)
        add_columns(table, _COLUMNS)
        breaking = 0
        for i, h in enumerate(t.hops):
            style = _STYLE[h.status]
            table.add_row(Text(HOP_MARKS[h.status], style=style), str(i + 1), Text(h.stage.value, style=style),
                          Text(h.decision, style=style), Text(h.element, style=style), h.proxy.rsplit(".", 1)[0], key=str(i))
            if h.status == "break":
                breaking = i
        self.query_one("#trace-detail").border_title = "why"
        table.focus()
        table.move_cursor(row=breaking)
        self._detail(breaking)

    @on(DataTable.RowHighlighted, "#trace-hops")
    def _moved(self, event: DataTable.RowHighlighted) -> None:
        self._detail(int(str(event.row_key.value)))

    def _detail(self, index: int) -> None:
        hops = self.rt.trace.hops
        out = Text()
        if 0 <= index < len(hops):
            h = hops[index]
            out.append(f"{h.stage.value} · {h.element}\n", style="bold")
            out.append(h.why + "\n")
            if h.excerpt:
                out.append("\n" + h.excerpt + "\n", style="cyan")
        if self.rt.trace.unknowns:
            out.append("\ncould not see: " + "; ".join(self.rt.trace.unknowns), style="yellow")
        self.query_one("#trace-detail-text", Static).update(out)

    def action_back(self) -> None:
        self.app.pop_screen()
