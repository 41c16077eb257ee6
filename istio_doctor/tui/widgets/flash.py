"""The flash line: one line of info or error at the bottom (k9s). Errors never crash."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from istio_doctor.tui.state import Flash

_STYLE = {"info": "green", "warning": "yellow", "error": "bold red"}
_ICON = {"info": "ℹ", "warning": "‼", "error": "✘"}


class FlashLine(Static):
    """Follows ``app.flash_message``, so a flash posted while screens change (e.g. "cancelled"
    while leaving the diagnosis) shows on whichever screen is now on top."""

    def on_mount(self) -> None:
        self.watch(self.app, "flash_message", self._show, init=True)

    def _show(self, flash: Flash) -> None:
        if not flash.text:
            self.update("")
            return
        self.update(Text(f"{_ICON.get(flash.level, '')} {flash.text}", style=_STYLE.get(flash.level, "")))
        self.set_class(flash.level == "error", "-error")
