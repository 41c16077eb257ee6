"""What every screen shares: header, breadcrumbs, flash line, footer, help text, palette
commands derived from the screen's own bindings, and the one worker-error handler."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from istio_doctor.tui.widgets.flash import FlashLine
from istio_doctor.tui.widgets.footer import DoctorFooter
from istio_doctor.tui.widgets.header import Crumbs, HeaderBar

if TYPE_CHECKING:
    from istio_doctor.tui.app import IstioDoctorApp


def table_over_detail(table_id: str, detail_id: str, *, zebra_stripes: bool = True) -> ComposeResult:
    """The body of the list screens (calls, timeline, could-not-check, trace): a row table over a
    scrolling pane that shows the highlighted row; the pane's text is ``#<detail_id>-text``."""
    yield DataTable(id=table_id, cursor_type="row", zebra_stripes=zebra_stripes)
    with VerticalScroll(id=detail_id):
        yield Static(id=f"{detail_id}-text")


#: a DataTable column as a screen declares it: header label, key, and width (``None``: as wide as
#: its cells)
Column = tuple[str, str, int | None]


def add_columns(table: DataTable[Any], columns: Iterable[Column]) -> None:
    """Give ``table`` the columns a screen declares as data."""
    for label, key, width in columns:
        table.add_column(label, key=key, width=width)


class DoctorScreen(Screen[None]):
    CRUMBS: ClassVar[list[str]] = []
    #: one paragraph for the help screen: what this screen is for
    HELP: ClassVar[str] = ""

    @property
    def doctor(self) -> IstioDoctorApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield Crumbs(self.crumbs())
        yield from self.compose_body()
        yield FlashLine(id="flash")
        yield DoctorFooter()

    def crumbs(self) -> list[str]:
        return list(self.CRUMBS)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def palette_commands(self) -> Iterable[SystemCommand]:
        """The screen's key actions that are valid right now (the same check as the footer),
        so the palette never offers what would do nothing."""
        for b in self.BINDINGS:
            if not isinstance(b, Binding) or not b.description:
                continue
            action, _, _ = b.action.partition("(")
            if self.check_action(action, ()) is True:
                key = b.key_display or b.key.split(",")[0]
                yield SystemCommand(b.description, b.tooltip or f"key: {key}", partial(self.run_action, b.action))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures become visible: a flash, never a crash."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            what = event.worker.description or event.worker.name
            self.doctor.flash(f"{what}: {err}" if str(err) else f"{what} failed: {type(err).__name__}", "error")
