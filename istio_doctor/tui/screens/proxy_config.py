"""The pod's Envoy configuration, as istioctl proxy-config shows it: one tab per view
(cluster, listener, route, endpoint, secret), rows derived from the one config dump the
diagnosis already gathered (no new call), with a ``/`` filter across every column."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from istio_doctor.tui.screens.base import DoctorScreen

#: tab id -> (title, name of the row builder in istio_doctor.evidence.envoy.views)
VIEWS: dict[str, tuple[str, str]] = {
    "cluster": ("Clusters", "cluster_rows"),
    "listener": ("Listeners", "listener_rows"),
    "route": ("Routes", "route_rows"),
    "endpoint": ("Endpoints", "endpoint_rows"),
    "secret": ("Secrets", "secret_rows"),
}


def view_rows(views: Any, dump: Any, spec: dict[str, tuple[str, str]] | None = None) -> dict[str, tuple[list[str], list[tuple[str, ...]]]]:
    """Columns and string rows per tab. A view that fails is reported in its own tab rather
    than hiding the four that work (a dump from a newer Envoy may have a surprise in one)."""
    out: dict[str, tuple[list[str], list[tuple[str, ...]]]] = {}
    for tab, (_title, fn_name) in (spec or VIEWS).items():
        fn: Callable[[Any], Sequence[Any]] | None = getattr(views, fn_name, None)
        if fn is None:
            out[tab] = (["problem"], [(f"views.{fn_name} is not available",)])
            continue
        try:
            rows = list(fn(dump))
        except Exception as exc:  # noqa: BLE001 - shown in the tab; the browser stays usable
            out[tab] = (["problem"], [(f"{fn_name} failed: {exc}",)])
            continue
        fields = list(getattr(rows[0], "_fields", ())) if rows else []
        cols = [f.replace("_", " ").upper() for f in fields] or ["(none)"]
        out[tab] = (cols, [tuple("" if v is None else str(v) for v in r) for r in rows])
    return out


class ProxyConfigScreen(DoctorScreen):
    HELP = (
        "The Envoy configuration of the pod, from the config dump gathered by the diagnosis. "
        "Tabs: clusters, listeners, routes, endpoints, secrets. / filters every tab; esc clears, then goes back."
    )
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="proxy-filter"),
        Binding("escape", "back", "Back", id="proxy-back"),
        Binding("1", "tab('cluster')", "Clusters", id="proxy-tab-cluster", show=False),
        Binding("2", "tab('listener')", "Listeners", id="proxy-tab-listener", show=False),
        Binding("3", "tab('route')", "Routes", id="proxy-tab-route", show=False),
        Binding("4", "tab('endpoint')", "Endpoints", id="proxy-tab-endpoint", show=False),
        Binding("5", "tab('secret')", "Secrets", id="proxy-tab-secret", show=False),
    ]

    #: the tabs (subclasses browse other dumps: ztunnel_config.py)
    VIEW_SPEC: dict[str, tuple[str, str]] = VIEWS

    def __init__(self, pod_label: str, dump: Any, initial_filter: str = "") -> None:
        super().__init__()
        self.pod_label = pod_label
        self.dump = dump
        self.filter_text = initial_filter
        self.tables: dict[str, tuple[list[str], list[tuple[str, ...]]]] = {}

    def crumbs(self) -> list[str]:
        return ["Diagnosis", f"proxy-config {self.pod_label}"]

    def compose_body(self) -> ComposeResult:
        yield Input(value=self.filter_text, placeholder="filter rows (enter keeps, esc clears)", id="proxy-filter-box",
                    classes="" if self.filter_text else "hidden")
        yield Static(id="proxy-message")
        with TabbedContent(id="proxy-tabs"):
            for tab, (title, _fn) in self.VIEW_SPEC.items():
                with TabPane(title, id=f"tab-{tab}"):
                    yield DataTable(id=f"table-{tab}", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        message = self.query_one("#proxy-message", Static)
        if self.dump is None:
            message.update(Text(self.no_dump_message(), style="yellow"))
            return
        views = self.views_module()
        if views is None:
            message.update(Text("Proxy-config views are not available in this build.", style="yellow"))
            return
        message.display = False
        self.tables = view_rows(views, self.dump, self.VIEW_SPEC)
        self._fill_tables()
        if self.filter_text:
            # open on the first tab that has a match for the pre-filled resource name
            for tab in self.VIEW_SPEC:
                if self._filtered(tab):
                    self.query_one(TabbedContent).active = f"tab-{tab}"
                    break
        self.query_one(f"#table-{self._active_tab()}", DataTable).focus()

    def no_dump_message(self) -> str:
        return (f"No config dump for {self.pod_label}: the pod has no sidecar, or "
                "`istioctl proxy-config all` failed (see the calls log, l on the diagnosis).")

    def views_module(self) -> Any:
        return self.doctor.services.config_views()

    def _active_tab(self) -> str:
        return (self.query_one(TabbedContent).active or f"tab-{next(iter(self.VIEW_SPEC))}").removeprefix("tab-")

    def _filtered(self, tab: str) -> list[tuple[str, ...]]:
        _cols, rows = self.tables.get(tab, ([], []))
        needle = self.filter_text.lower()
        return [r for r in rows if not needle or any(needle in c.lower() for c in r)]

    def _fill_tables(self) -> None:
        for tab, (title, _fn) in self.VIEW_SPEC.items():
            cols, rows = self.tables.get(tab, ([], []))
            table: DataTable[str] = self.query_one(f"#table-{tab}", DataTable)
            table.clear(columns=True)
            table.add_columns(*cols)
            shown = self._filtered(tab)
            table.add_rows(shown)
            pane = self.query_one(TabbedContent).get_tab(f"tab-{tab}")
            pane.label = f"{title} {len(shown)}" if not self.filter_text else f"{title} {len(shown)}/{len(rows)}"

    def action_filter(self) -> None:
        box = self.query_one("#proxy-filter-box", Input)
        box.remove_class("hidden")
        box.focus()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{tab}"

    @on(Input.Changed, "#proxy-filter-box")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        if self.tables:
            self._fill_tables()

    @on(Input.Submitted, "#proxy-filter-box")
    def _filter_done(self) -> None:
        self.query_one(f"#table-{self._active_tab()}", DataTable).focus()

    def action_back(self) -> None:
        box = self.query_one("#proxy-filter-box", Input)
        if self.filter_text or not box.has_class("hidden"):
            box.value = ""
            self.filter_text = ""
            box.add_class("hidden")
            if self.tables:
                self._fill_tables()
            return
        self.app.pop_screen()
