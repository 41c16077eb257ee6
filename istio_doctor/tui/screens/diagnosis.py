"""The diagnosis: gather (progress of every call), then the decision tree, the evidence
and the finding with its fix. ``f`` then ``enter`` reaches the root cause's fix."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, Input, OptionList, Static, Tree
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from istio_doctor.engine.model import Finding
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.target import Target, TargetKind
from istio_doctor.report.fixes import report_connection, steps_of
from istio_doctor.report.model import NodeReport, Report
from istio_doctor.tui.ambient import ambient_facts, ambient_summary
from istio_doctor.tui.messages import DiagnosisReady, GatherProgress
from istio_doctor.tui.present import (
    finding_for,
    fix_text,
    locate_node,
    pods_of,
    proxy_filter_for,
    safe_filename_part,
    target_label,
)
from istio_doctor.tui.screens.base import DoctorScreen
from istio_doctor.tui.screens.trace_view import folded_trace_refs
from istio_doctor.tui.services import DiagnosisLike
from istio_doctor.tui.widgets.decision_tree import DecisionTree, NodeRef
from istio_doctor.tui.widgets.evidence_pane import EvidencePane
from istio_doctor.tui.widgets.finding_pane import FindingPane
from istio_doctor.tui.widgets.progress_panel import ProgressPanel
from istio_doctor.tui.workers import CancelHandle, run_with_runner


class DiagnosisScreen(DoctorScreen):
    HELP = (
        "Left: the decision tree (✔ pass, ✘ fail, ‼ unknown, - n/a, · not reached) and the ranked findings. "
        "Right: the evidence for the selected node (the cited call's output, the proof highlighted) and the "
        "finding with its fix. f jumps to the most likely root cause; enter on it shows the fix; c copies it."
    )
    BINDINGS = [
        Binding("f", "top_finding", "Top finding", id="top-finding", tooltip="Jump to the most likely root cause"),
        Binding("c", "copy_fix", "Copy fix", id="copy-fix", tooltip="Copy the fix as a script to the clipboard (OSC 52)"),
        Binding("slash", "filter", "Filter", key_display="/", id="diagnosis-filter",
                tooltip="Show only the nodes whose title, check or summary contain a text"),
        Binding("u", "unchecked", "Could not check", id="unchecked",
                tooltip="What could not be checked: one row per root failure, with what to do"),
        Binding("e", "focus_evidence", "Evidence", id="focus-evidence"),
        Binding("p", "proxy_config", "Proxy config", id="proxy-config", tooltip="Browse the pod's Envoy configuration (ztunnel's, for an ambient pod)"),
        Binding("l", "calls_log", "Calls", id="calls-log", tooltip="Every command run, exit code and duration"),
        Binding("w", "timeline", "Timeline", id="timeline", tooltip="The pod's lifecycle timeline, deciding moments highlighted"),
        Binding("m", "export_markdown", "Export md", id="export-markdown", tooltip="Write the report as Markdown in the current folder"),
        Binding("ctrl+z", "faults_only", "Faults only", id="faults-only", tooltip="Show only failing and unknown nodes"),
        Binding("ctrl+r", "regather", "Gather again", id="regather"),
        Binding("escape", "back", "Back / cancel", id="diagnosis-back"),
    ]

    def __init__(self, target: Target, symptom: str) -> None:
        super().__init__()
        self.target = target
        self.symptom = symptom
        self.result: DiagnosisLike | None = None
        self.generation = 0
        self._cancel: CancelHandle | None = None
        self.selected: NodeRef | None = None

    @property
    def report(self) -> Report | None:
        return self.result.report if self.result is not None else None

    @property
    def gathering(self) -> bool:
        return self._cancel is not None

    @property
    def target_label(self) -> str:
        return target_label(self.target)

    def crumbs(self) -> list[str]:
        return ["Targets", self.target_label, self.symptom, "Diagnosis"]

    def compose_body(self) -> ComposeResult:
        with ContentSwitcher(initial="progress", id="diagnosis-body"):
            yield ProgressPanel(id="progress")
            with Horizontal(id="results"):
                with Vertical(id="left"):
                    yield Static(id="dataplane", classes="pane hidden")  # ambient pods: mode, ztunnel, waypoint
                    if self.target.kind is not TargetKind.POD:
                        # deploy/, svc/ and ns/: the pods examined (flagged first); enter opens one
                        yield OptionList(id="pods-list")
                    yield DecisionTree(id="tree")
                    yield OptionList(id="findings")
                with Vertical(id="right"):
                    yield EvidencePane(id="evidence")
                    yield FindingPane(id="finding")
        yield Input(placeholder="filter the tree (enter keeps, esc clears)", id="tree-filter", classes="hidden")

    def on_mount(self) -> None:
        self.query_one("#tree", DecisionTree).border_title = "Decision tree"
        self.query_one("#findings", OptionList).border_title = "Findings (ranked)"
        if self.target.kind is not TargetKind.POD:
            self.query_one("#pods-list", OptionList).border_title = "Pods (enter opens)"
        self.gather()

    def on_unmount(self) -> None:
        # Quitting mid-gathering: Textual waits for worker threads on exit, and a thread
        # blocked on a slow cluster call would hold the terminal until the call times out.
        if self._cancel is not None:
            self._cancel.cancel()

    # -- gathering --------------------------------------------------------------------------
    def gather(self) -> None:
        self.generation += 1
        self.result = None
        self.query_one("#diagnosis-body", ContentSwitcher).current = "progress"
        self.query_one(ProgressPanel).reset(str(self.target))
        self._cancel = CancelHandle()
        self.refresh_bindings()
        self._gather(self.generation, self._cancel)

    @work(thread=True, exclusive=True, group="diagnosis", exit_on_error=False, description="diagnosis")
    def _gather(self, generation: int, handle: CancelHandle) -> None:
        app = self.doctor
        conn = app.connection(app.current_context)
        options = app.options

        def progress(event: object) -> None:
            # called on the worker's loop; post_message is the thread-safe way back
            self.post_message(GatherProgress(event))  # type: ignore[arg-type]

        async def diagnose(runner):  # type: ignore[no-untyped-def]
            session = conn
            recording = getattr(runner, "recording", None)
            if runner.replaying and recording is not None and not session.context and recording.metadata.context:
                # A replay answers whatever the context, but the report, and the fixes pasted
                # from it, must name the cluster the recording was made on (as the CLI does).
                session = session.model_copy(update={"context": recording.metadata.context})
            return await app.services.run_diagnosis(
                self.target,
                runner,
                session,
                symptom=self.symptom,
                playbook_dirs=list(options.playbook_dirs),
                since=options.since,
                on_progress=progress,
                recording=str(options.replay) if options.replay else None,
                preflight=True,
                preflight_timeout_s=options.preflight_timeout_s,
            )

        try:
            result = run_with_runner(app.services.make_runner, conn, options.replay, diagnose, handle)
        except asyncio.CancelledError:
            return
        self.post_message(DiagnosisReady(generation, result))

    def on_gather_progress(self, msg: GatherProgress) -> None:
        if self.gathering:
            self.query_one(ProgressPanel).feed(msg.event)

    def on_diagnosis_ready(self, msg: DiagnosisReady) -> None:
        if msg.generation != self.generation or self._cancel is None or self._cancel.cancelled:
            return  # a cancelled or superseded run finished late
        self._cancel = None
        self.result = msg.result
        report = msg.result.report
        self.doctor.show_report_header(report)
        self.query_one("#diagnosis-body", ContentSwitcher).current = "results"
        self._load_report(report)
        level = "error" if report.findings else ("info" if report.verdict.value == "no_problem_found" else "warning")
        self.doctor.set_status(report.headline, level)
        if report.gaps or report.unchecked:
            n = len(report.gaps) or len(report.unchecked)
            self.doctor.flash(f"{n} thing(s) could not be checked: u lists them, with what to do", "warning")
        self.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        # a failed diagnosis leaves the progress panel up (the flash says why); ctrl+r retries
        if event.worker.group == "diagnosis" and event.state is WorkerState.ERROR:
            self._cancel = None
            self.refresh_bindings()

    # -- results ----------------------------------------------------------------------------
    def _load_report(self, report: Report) -> None:
        tree = self.query_one("#tree", DecisionTree)
        tree.load(report)
        facts = ambient_facts(self.result.evidence, self.target.namespace, self.target.name) if self.result and self.target.name else None
        box = self.query_one("#dataplane", Static)
        box.border_title = "Data plane"
        box.update(Text(ambient_summary(facts)) if facts is not None else "")
        box.set_class(facts is None, "hidden")
        if self.target.kind is not TargetKind.POD:
            self._load_pods(report)
        findings = self.query_one("#findings", OptionList)
        findings.clear_options()
        for i, f in enumerate(report.findings):
            label = Text()
            label.append(f"{f.rank or i + 1}. ", style="bold")
            label.append("✘ ", style="red")
            label.append(f.code, style="bold red" if i == 0 else "red")
            label.append(f"  {f.title}")
            findings.add_option(Option(label, id=str(i)))
        if not report.findings:
            findings.add_option(Option(Text(f"no findings: {report.verdict.value}", style="dim"), id="none", disabled=True))
        target = locate_node(report, report.findings[0]) if report.findings else tree.first_fault()
        landed = target is not None and tree.focus_node(*target)
        if not landed and tree.last_line >= 0:
            tree.move_cursor_to_line(0)
        tree.focus()
        self._show_selected()
        # a diagnosis the preflight stopped has no tree to walk: the whole area says why
        self.query_one("#results").set_class(report.preflight_failed, "-stopped")
        if report.preflight_failed:
            self.query_one(FindingPane).show_problem("Cannot diagnose", report.headline.removeprefix("Cannot diagnose: "))

    def _load_pods(self, report: Report) -> None:
        pods = self.query_one("#pods-list", OptionList)
        pods.clear_options()
        for pod, label in pods_of(report):
            pods.add_option(Option(label, id=pod))
        if not pods.option_count:
            pods.add_option(Option(Text("no pod examined", style="dim"), id="none", disabled=True))

    @on(OptionList.OptionSelected, "#pods-list")
    def _pod_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id in (None, "none"):
            return
        self.doctor.open_pod(Target(kind=TargetKind.POD, namespace=self.target.namespace, name=str(event.option.id)),
                             self.symptom)

    def _node(self, ref: NodeRef | None) -> NodeReport | None:
        report = self.report
        if report is None or ref is None or ref.node is None:
            return None
        for pb in report.playbooks:
            if pb.id == ref.playbook:
                return next((n for n in pb.nodes if n.id == ref.node), None)
        return None

    def _show_selected(self) -> None:
        tree = self.query_one("#tree", DecisionTree)
        node = tree.cursor_node
        self.selected = node.data if node is not None else None
        self._show(self.selected)

    def _show(self, ref: NodeRef | None) -> None:
        report, result = self.report, self.result
        if report is None or result is None:
            return
        node = self._node(ref)
        finding = finding_for(report, node, ref.playbook) if node is not None and ref is not None else None
        refs = node.evidence if node is not None else []
        if finding is not None and not refs:
            refs = finding.evidence
        elif finding is not None:
            # ranking folds the request trace (its log lines, its hops) into the finding: show it too
            refs = refs + folded_trace_refs(finding.evidence, refs, report.traces)
        self.query_one(EvidencePane).show(refs, result.results, traces=report.traces)
        self.query_one(FindingPane).show(finding, node, report_connection(report.context, report.kubeconfig))
        self.refresh_bindings()

    @on(Tree.NodeHighlighted, "#tree")
    def _tree_moved(self, event: Tree.NodeHighlighted[NodeRef]) -> None:
        self.selected = event.node.data
        self._show(self.selected)

    @on(Tree.NodeSelected, "#tree")
    def _tree_enter(self, event: Tree.NodeSelected[NodeRef]) -> None:
        data = event.node.data
        if data is not None and data.node is not None:
            pane = self.query_one(FindingPane)
            pane.focus()
            pane.scroll_to_fix()

    @on(OptionList.OptionHighlighted, "#findings")
    def _finding_moved(self, event: OptionList.OptionHighlighted) -> None:
        report = self.report
        if report is None or event.option.id in (None, "none") or not event.option_list.has_focus:
            return
        self._goto_finding(report.findings[int(event.option.id)], focus_tree=False)

    @on(OptionList.OptionSelected, "#findings")
    def _finding_chosen(self, event: OptionList.OptionSelected) -> None:
        report = self.report
        if report is None or event.option.id in (None, "none"):
            return
        self._goto_finding(report.findings[int(event.option.id)], focus_tree=False)
        pane = self.query_one(FindingPane)
        pane.focus()
        pane.scroll_to_fix()

    def _goto_finding(self, finding: Finding, *, focus_tree: bool) -> None:
        report = self.report
        assert report is not None
        tree = self.query_one("#tree", DecisionTree)
        where = locate_node(report, finding)
        if where is not None and not tree.focus_node(*where) and tree.faults_only:
            tree.load(report, faults_only=False)
            tree.focus_node(*where)
        if where is not None:
            self._show(NodeRef(*where))
        if focus_tree:
            tree.focus()

    # -- actions ----------------------------------------------------------------------------
    def current_finding(self) -> Finding | None:
        return self.query_one(FindingPane).finding if self.report is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        ready = self.report is not None
        if action in ("top_finding",):
            return ready and bool(self.report and self.report.findings)
        if action == "copy_fix":
            return self.current_finding() is not None
        walked = ready and self.report is not None and not self.report.preflight_failed
        if action in ("calls_log", "export_markdown", "unchecked"):
            return ready
        if action == "timeline":
            return bool(self.report and self.report.timelines)
        if action in ("focus_evidence", "faults_only", "filter"):
            return walked  # a diagnosis the preflight stopped has no tree and no evidence
        if action == "proxy_config":
            return walked and self.target.kind is TargetKind.POD
        if action == "regather":
            return not self.gathering
        return True

    def action_top_finding(self) -> None:
        report = self.report
        if report is not None and report.findings:
            self._goto_finding(report.findings[0], focus_tree=True)
            findings = self.query_one("#findings", OptionList)
            with findings.prevent(OptionList.OptionHighlighted):
                findings.highlighted = 0

    def action_copy_fix(self) -> None:
        finding = self.current_finding()
        if finding is None:
            self.doctor.flash("no finding selected: nothing to copy", "warning")
            return
        self.app.copy_to_clipboard(fix_text(finding, self.report))
        # Where it went: OSC 52 asks the terminal to set its clipboard; terminals that refuse
        # it, and tmux without set-clipboard, drop it silently, so say so.
        self.doctor.flash(f"fix copied ({finding.code}, {len(steps_of(finding.fix))} step(s), commands commented out): "
                          "sent to the terminal clipboard (OSC 52); tmux needs `set-clipboard on`")

    def action_focus_evidence(self) -> None:
        self.query_one(EvidencePane).focus_output()

    def action_faults_only(self) -> None:
        report = self.report
        if report is None:
            return
        tree = self.query_one("#tree", DecisionTree)
        keep = self.selected
        tree.load(report, faults_only=not tree.faults_only)
        kept = keep is not None and keep.node is not None and tree.focus_node(keep.playbook, keep.node)
        if not kept and (first := tree.first_fault()) is not None:
            tree.focus_node(*first)
        tree.border_subtitle = "faults only" if tree.faults_only else ""
        self._show_selected()
        self.doctor.flash("faults only: passing, n/a and unreached nodes hidden" if tree.faults_only else "all nodes shown")

    # -- / filter ------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#tree-filter", Input)
        box.remove_class("hidden")
        box.value = self.query_one("#tree", DecisionTree).needle
        box.focus()

    @on(Input.Changed, "#tree-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        report = self.report
        if report is None:
            return
        tree = self.query_one("#tree", DecisionTree)
        tree.load(report, needle=event.value)
        tree.border_subtitle = f"filter: {event.value.strip()}" if event.value.strip() else ""

    @on(Input.Submitted, "#tree-filter")
    def _filter_done(self) -> None:
        self.query_one("#tree-filter", Input).add_class("hidden")
        tree = self.query_one("#tree", DecisionTree)
        tree.focus()
        if tree.last_line >= 0:
            tree.move_cursor_to_line(0)
        self._show_selected()

    def _clear_filter(self) -> bool:
        """esc while filtering: drop the filter first (True when there was one)."""
        box = self.query_one("#tree-filter", Input)
        tree = self.query_one("#tree", DecisionTree)
        if box.has_class("hidden") and not tree.needle:
            return False
        with box.prevent(Input.Changed):
            box.value = ""
        box.add_class("hidden")
        if self.report is not None:
            tree.load(self.report, needle="")
        tree.border_subtitle = "faults only" if tree.faults_only else ""
        tree.focus()
        return True

    def action_unchecked(self) -> None:
        if self.report is not None:
            from istio_doctor.tui.screens.unchecked import UncheckedScreen

            self.app.push_screen(UncheckedScreen(self.report))

    def action_calls_log(self) -> None:
        if self.report is not None:
            from istio_doctor.tui.screens.calls_log import CallsLogScreen

            self.app.push_screen(CallsLogScreen(self.report, self.result.results if self.result else []))

    def action_timeline(self) -> None:
        if self.report is not None and self.report.timelines:
            from istio_doctor.tui.screens.timeline import TimelineScreen

            self.app.push_screen(TimelineScreen(self.report, self.target.name))

    def action_proxy_config(self) -> None:
        if self.result is None:
            return
        from istio_doctor.tui.screens.proxy_config import ProxyConfigScreen

        dump = self.result.evidence.get_or(None, Need.CONFIG_DUMP, self.target.namespace, self.target.name)
        finding = self.current_finding()
        pre = proxy_filter_for(finding) if finding is not None else None
        label = f"{self.target.name}.{self.target.namespace}"
        if dump is None and ambient_facts(self.result.evidence, self.target.namespace, self.target.name or "") is not None:
            # an ambient pod has no Envoy: browse the ztunnel of its node instead
            from istio_doctor.tui.screens.ztunnel_config import ZtunnelConfigScreen

            zdump = self.result.evidence.get_or(None, Need.ZTUNNEL_CONFIG, self.target.namespace, self.target.name)
            self.app.push_screen(ZtunnelConfigScreen(label, zdump, pre or ""))
            return
        self.app.push_screen(ProxyConfigScreen(label, dump, pre or ""))

    def action_export_markdown(self) -> None:
        report = self.report
        if report is None:
            return
        render = self.doctor.services.markdown()
        if render is None:
            self.doctor.flash("Markdown export unavailable: istio_doctor.report.markdown is not installed", "warning")
            return
        stamp = self.doctor.now().strftime("%Y%m%d-%H%M%S")
        path = Path.cwd() / f"istio-doctor-report-{safe_filename_part(self.target.name)}-{stamp}.md"
        try:
            path.write_text(render(report), encoding="utf-8")
        except OSError as exc:
            self.doctor.flash(f"could not write {path}: {exc.strerror or exc}", "error")
            return
        self.doctor.flash(f"report written to {path}")

    def action_regather(self) -> None:
        if not self.gathering:
            self.gather()

    def action_back(self) -> None:
        if self._cancel is None and self._clear_filter():
            return
        if self._cancel is not None:
            self._cancel.cancel()
            self._cancel = None
            self.workers.cancel_group(self, "diagnosis")
            self.doctor.flash("cancelled: evidence gathering stopped", "warning")
        self.app.pop_screen()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield from super().palette_commands()
        report = self.report
        if report is None:
            return
        # one command per finding, so ":" + a code jumps straight to it
        for f in report.findings:
            yield SystemCommand(f"Finding {f.code}", f"#{f.rank} {f.title}", lambda f=f: self._goto_finding(f, focus_tree=True))

