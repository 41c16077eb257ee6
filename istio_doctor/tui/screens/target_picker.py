"""Pick a pod: kubeconfig contexts, then namespaces, then pods (name, ready, restarts,
in mesh, revision). Every list loads in a worker thread; the screen paints immediately."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from istio_doctor.evidence.runner import Runner
from istio_doctor.evidence.target import Target, TargetKind
from istio_doctor.tui.listing import ContextRow, ListingError, PodRow, fetch_namespaces, fetch_pods, replay_context
from istio_doctor.tui.messages import ContextsLoaded, NamespacesLoaded, PodsLoaded, StartProblem
from istio_doctor.tui.present import append_demo_hint
from istio_doctor.tui.screens.base import Column, DoctorScreen, add_columns
from istio_doctor.tui.workers import run_with_runner

_PANES = ("contexts", "namespaces", "pods")
_POD_COLUMNS: tuple[Column, ...] = (
    ("NAME", "name", None),
    ("READY", "ready", None),
    ("RESTARTS", "restarts", None),
    ("MESH", "mesh", None),
    ("REVISION", "revision", None),
)


class TargetPickerScreen(DoctorScreen):
    CRUMBS = ["Targets"]
    HELP = (
        "Choose what to diagnose: a kubeconfig context, a namespace, then a pod. "
        "enter selects and moves right; tab moves between the lists; / filters the focused list."
    )
    BINDINGS = [
        Binding("enter", "select", "Select", id="picker-select", show=True, priority=False),
        Binding("s", "scan_namespace", "Scan namespace", id="picker-scan-namespace",
                tooltip="Diagnose the whole highlighted namespace: its flagged pods, each openable"),
        Binding("slash", "filter", "Filter", key_display="/", id="picker-filter"),
        Binding("escape", "clear_filter", "Clear filter", id="picker-clear-filter"),
        Binding("ctrl+r", "reload", "Reload", id="picker-reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[ContextRow] = []
        self.namespaces: list[str] = []
        self.pods: list[PodRow] = []
        self.filters: dict[str, str] = {p: "" for p in _PANES}
        self.filter_pane = "pods"

    def compose_body(self) -> ComposeResult:
        # the whole error, wrapped: a dropped VPN or a missing kubeconfig must be readable in full
        yield Static(id="start-error", classes="hidden")
        with Horizontal(id="picker"):
            with Vertical(id="contexts-pane", classes="pane"):
                yield Label("Contexts", classes="pane-title")
                yield OptionList(id="contexts")
            with Vertical(id="namespaces-pane", classes="pane"):
                yield Label("Namespaces", classes="pane-title")
                yield OptionList(id="namespaces")
            with Vertical(id="pods-pane", classes="pane"):
                yield Label("Pods", classes="pane-title")
                table: DataTable[str] = DataTable(id="pods", cursor_type="row", zebra_stripes=True)
                add_columns(table, _POD_COLUMNS)
                yield table
        yield Input(placeholder="filter (esc clears)", id="filter", classes="hidden")

    def on_mount(self) -> None:
        self.load_contexts()

    # -- loading ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="contexts", exit_on_error=False, description="listing contexts")
    def load_contexts(self) -> None:
        app = self.doctor
        if app.options.replay is not None:
            # A recording knows one context; kubeconfig is irrelevant (and may not exist).
            listing, versions = replay_context(app.options.replay)
            app.call_from_thread(app.show_recording_versions, versions.get("istio", ""), versions.get("istioctl", ""))
        else:
            listing = app.services.list_contexts(app.options.kubeconfig)
        self.post_message(ContextsLoaded(listing))

    @work(thread=True, exclusive=True, group="namespaces", exit_on_error=False, description="listing namespaces")
    def load_namespaces(self, context: str | None) -> None:
        """The preflight and the namespace list, concurrently on one runner: a healthy cluster
        pays nothing for the preflight, a broken one gets its one sentence within seconds."""
        app = self.doctor
        conn = app.connection(context)

        async def work(runner: Runner) -> tuple[list[str] | None, str]:
            from istio_doctor.evidence.preflight import run_preflight

            checking = asyncio.ensure_future(run_preflight(runner, conn, timeout_s=app.options.preflight_timeout_s))
            listing = asyncio.ensure_future(fetch_namespaces(runner, conn))
            pf = await checking
            if pf.failure is not None:
                listing.cancel()
                await asyncio.gather(listing, return_exceptions=True)
                return None, pf.failure.sentence
            try:
                return await listing, ""
            except ListingError as exc:
                return None, str(exc)

        names, problem = run_with_runner(app.services.make_runner, conn, app.options.replay, work)
        if names is None:
            self.post_message(StartProblem(context, problem))
        else:
            self.post_message(NamespacesLoaded(context, names))

    def on_start_problem(self, msg: StartProblem) -> None:
        if msg.context != self.doctor.current_context:
            return
        box = self.query_one("#start-error", Static)
        text = Text()
        text.append("Cannot list namespaces", style="bold red")
        text.append(f" (context {msg.context or '(current)'}):\n", style="bold")
        text.append(msg.text + "\n\n")
        text.append("ctrl+r", style="bold")
        text.append(" tries again; pick another context on the left; or ")
        append_demo_hint(text)
        text.append(" to explore a recorded incident without a cluster.")
        box.update(text)
        box.remove_class("hidden")
        self.doctor.flash("cannot list namespaces: the message above says why", "error")
        self.query_one("#contexts", OptionList).focus()

    @work(thread=True, exclusive=True, group="pods", exit_on_error=False, description="listing pods")
    def load_pods(self, context: str | None, namespace: str) -> None:
        app = self.doctor
        conn = app.connection(context)
        pods = run_with_runner(app.services.make_runner, conn, app.options.replay, lambda r: fetch_pods(r, conn, namespace))
        self.post_message(PodsLoaded(context, namespace, pods))

    def on_contexts_loaded(self, msg: ContextsLoaded) -> None:
        self.contexts = msg.listing.contexts
        if msg.listing.problem:
            self.doctor.flash(msg.listing.problem, "warning")
        wanted = self.doctor.options.context
        chosen = next((c for c in self.contexts if c.name == wanted), None) or next(
            (c for c in self.contexts if c.current), None
        )
        self._render_contexts(highlight=chosen.name if chosen else None)
        if chosen is not None or not self.contexts:
            # no kubeconfig at all still lets kubectl try its in-cluster defaults
            self._choose_context(chosen)

    def on_namespaces_loaded(self, msg: NamespacesLoaded) -> None:
        if msg.context != self.doctor.current_context:
            return  # a slower answer for a context the user already left
        self.query_one("#start-error", Static).add_class("hidden")
        self.namespaces = msg.names
        wanted = self.doctor.header.namespace
        self._render_namespaces(highlight=wanted if wanted in self.namespaces else None)
        if wanted in self.namespaces:
            self.load_pods(msg.context, wanted)
            self.query_one("#namespaces", OptionList).focus()
        else:
            self.query_one("#namespaces", OptionList).focus()

    def on_pods_loaded(self, msg: PodsLoaded) -> None:
        if msg.context != self.doctor.current_context or msg.pod_namespace != self.doctor.header.namespace:
            return
        self.pods = msg.pods
        self._render_pods()
        table = self.query_one("#pods", DataTable)
        table.focus()
        if not self.pods:
            self.doctor.flash(f"no pods in namespace {msg.pod_namespace}", "warning")

    # -- rendering --------------------------------------------------------------------------
    def _render_contexts(self, highlight: str | None = None) -> None:
        ol = self.query_one("#contexts", OptionList)
        ol.clear_options()
        shown = [c for c in self.contexts if self.filters["contexts"] in c.name]
        ol.add_options(Option(("* " if c.current else "  ") + c.name, id=c.name) for c in shown)
        if highlight is not None and any(c.name == highlight for c in shown):
            ol.highlighted = [c.name for c in shown].index(highlight)

    def _render_namespaces(self, highlight: str | None = None) -> None:
        ol = self.query_one("#namespaces", OptionList)
        ol.clear_options()
        shown = [n for n in self.namespaces if self.filters["namespaces"] in n]
        ol.add_options(Option(n, id=n) for n in shown)
        if highlight is not None and highlight in shown:
            ol.highlighted = shown.index(highlight)

    def _render_pods(self) -> None:
        table: DataTable[str] = self.query_one("#pods", DataTable)
        table.clear()
        needle = self.filters["pods"]
        for p in self.pods:
            if needle and needle not in p.name:
                continue
            table.add_row(p.name, p.ready, str(p.restarts), p.mesh_cell, p.revision or "-", key=p.name)

    # -- selection --------------------------------------------------------------------------
    def _choose_context(self, ctx: ContextRow | None) -> None:
        self.doctor.set_context(ctx)
        self.namespaces, self.pods = [], []
        self._render_namespaces()
        self._render_pods()
        self.load_namespaces(self.doctor.current_context)

    @on(OptionList.OptionSelected, "#contexts")
    def _context_selected(self, event: OptionList.OptionSelected) -> None:
        ctx = next((c for c in self.contexts if c.name == event.option.id), None)
        self._choose_context(ctx)

    @on(OptionList.OptionSelected, "#namespaces")
    def _namespace_selected(self, event: OptionList.OptionSelected) -> None:
        ns = str(event.option.id)
        self.doctor.set_namespace(ns)
        self.pods = []
        self._render_pods()
        self.load_pods(self.doctor.current_context, ns)

    @on(DataTable.RowSelected, "#pods")
    def _pod_selected(self, event: DataTable.RowSelected) -> None:
        name = str(event.row_key.value)
        self.doctor.choose_target(Target(kind=TargetKind.POD, namespace=self.doctor.header.namespace, name=name))

    def action_scan_namespace(self) -> None:
        ns = self._highlighted_namespace() or self.doctor.header.namespace
        if not ns:
            self.doctor.flash("no namespace highlighted: pick one in the middle list", "warning")
            return
        self.doctor.set_namespace(ns)
        self.doctor.choose_target(Target(kind=TargetKind.NAMESPACE, namespace=ns))

    def _highlighted_namespace(self) -> str | None:
        ol = self.query_one("#namespaces", OptionList)
        if ol.highlighted is None or not ol.option_count:
            return None
        return str(ol.get_option_at_index(ol.highlighted).id)

    def action_select(self) -> None:
        focused = self.focused
        if isinstance(focused, OptionList):
            focused.action_select()
        elif isinstance(focused, DataTable):
            focused.action_select_cursor()

    # -- filter -----------------------------------------------------------------------------
    def _focused_pane(self) -> str:
        focused = self.focused
        if focused is not None and focused.id in _PANES:
            return str(focused.id)
        return self.filter_pane

    def action_filter(self) -> None:
        self.filter_pane = self._focused_pane()
        box = self.query_one("#filter", Input)
        box.remove_class("hidden")
        box.placeholder = f"filter {self.filter_pane} (enter keeps, esc clears)"
        box.value = self.filters[self.filter_pane]
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filters[self.filter_pane] = event.value.strip()
        self._render_pane(self.filter_pane)

    def _render_pane(self, pane: str) -> None:
        {"contexts": self._render_contexts, "namespaces": self._render_namespaces, "pods": self._render_pods}[pane]()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#filter", Input).add_class("hidden")
        self.query_one(f"#{self.filter_pane}").focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("hidden") and not self.filters[self._focused_pane()]:
            return
        pane = self.filter_pane if not box.has_class("hidden") else self._focused_pane()
        self.filter_pane = pane
        with box.prevent(Input.Changed):
            box.value = ""
        self.filters[pane] = ""
        self._render_pane(pane)
        box.add_class("hidden")
        self.query_one(f"#{pane}").focus()

    def action_reload(self) -> None:
        app = self.doctor
        if not self.query_one("#start-error", Static).has_class("hidden"):
            self.load_namespaces(app.current_context)  # the start failed: ask again from the top
        elif app.header.namespace and self.namespaces:
            self.load_pods(app.current_context, app.header.namespace)
        else:
            self.load_namespaces(app.current_context)
        app.flash("reloading…")
