"""The flash line: one line of info or error at the bottom (k9s). Errors never crash.

A transient message (a copy, an export, a warning) stays ``app.flash_seconds`` and then the
line shows the status again (the diagnosis verdict), so the verdict is never lost to the last
key pressed. A long message wraps onto a second line rather than being cut.
"""

from __future__ import annotations

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from istio_doctor.tui.state import Flash

_STYLE = {"info": "green", "warning": "yellow", "error": "bold red"}
_ICON = {"info": "ℹ", "warning": "‼", "error": "✘"}


class FlashLine(Static):
    """Follows ``app.flash_message``, so a flash posted while screens change (e.g. "cancelled"
    while leaving the diagnosis) shows on whichever screen is now on top."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        self.watch(self.app, "flash_message", self._show, init=True)

    def _show(self, flash: Flash) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._paint(flash)
        if flash.text and not flash.sticky:
            self._timer = self.set_timer(getattr(self.app, "flash_seconds", 5.0), self._restore)

    def _restore(self) -> None:
        self._timer = None
        self._paint(getattr(self.app, "status", Flash()))

    def _paint(self, flash: Flash) -> None:
        if not flash.text:
            self.update("")
            self.set_class(False, "-error")
            return
        self.update(Text(f"{_ICON.get(flash.level, '')} {flash.text}", style=_STYLE.get(flash.level, "")))
        self.set_class(flash.level == "error", "-error")
