"""The k9s-style header (context, cluster, namespace, versions, REPLAY) and breadcrumbs."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from istio_doctor.evidence.target import Target, TargetKind
from istio_doctor.tui.state import HeaderState


def header_text(state: HeaderState) -> Text:
    t = Text()
    t.append(" istio-doctor ", style="bold reverse")
    fields = [
        ("ctx", state.context or "-"),
        ("cluster", state.cluster or "-"),
        ("ns", state.namespace or "-"),
    ]
    fields += [("istio", state.istio or "?"), ("istioctl", state.istioctl or "?")]
    for label, value in fields:
        t.append(f" {label}:", style="dim")
        t.append(value, style="bold")
    if state.replay:
        t.append(" ")
        t.append(f" REPLAY {state.replay} ", style="bold black on yellow")
    if state.target:
        # last: the longest field, and the crumbs repeat it when the line is cut
        t.append(" target:", style="dim")
        t.append(_short(state.target), style="bold")
    return t


class HeaderBar(Static):
    """Follows ``app.header`` so every screen shows the same, current session facts."""

    def on_mount(self) -> None:
        self.watch(self.app, "header", self._show, init=True)

    def _show(self, state: HeaderState) -> None:
        self.update(header_text(state))


class Crumbs(Static):
    """Where the user is: the path of screens, like k9s breadcrumbs."""

    def __init__(self, crumbs: list[str]) -> None:
        text = Text()
        for i, c in enumerate(crumbs):
            if i:
                text.append(" › ", style="dim")
            text.append(f" {c} ", style="reverse" if i == len(crumbs) - 1 else "")
        super().__init__(text)


def _short(label: str) -> str:
    """``pod/NAME`` of a ``pod/NAME -n NS`` label (the namespace has its own field)."""
    try:
        t = Target.from_label(label)
    except ValueError:
        return label
    return str(t) if t.kind in (TargetKind.NAMESPACE, TargetKind.MESH) else f"{t.kind.value}/{t.name}"
