"""The Textual app: session state, screen flow and global keys. Screens do the work."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from istio_doctor.evidence.target import Connection, Target, TargetKind
from istio_doctor.report.model import Report
from istio_doctor.tui.listing import ContextRow
from istio_doctor.tui.services import Services
from istio_doctor.tui.state import Flash, HeaderState, TuiOptions


class IstioDoctorApp(App[int]):
    # absolute: Textual resolves a relative CSS_PATH against the module of the *subclass*
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "istio-doctor"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("colon", "command_palette", "Commands", key_display=":", id="command-palette", show=False),
    ]

    header: reactive[HeaderState] = reactive(HeaderState, always_update=True)
    flash_message: reactive[Flash] = reactive(Flash, always_update=True)

    def __init__(self, options: TuiOptions, *, services: Services | None = None, clock: type[datetime] = datetime) -> None:
        super().__init__()
        self.options = options
        self.services = services or Services()
        self._clock = clock
        self.status = Flash(sticky=True)
        self.current_context: str | None = options.context
        self.target: Target | None = None
        self.last_report: Report | None = None
        replay = options.replay.name if options.replay is not None else ""
        self.set_reactive(
            IstioDoctorApp.header,
            HeaderState(context=options.context or ("recording" if replay else ""), namespace=options.namespace or "", replay=replay),
        )

    # -- state ------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._clock.now()

    def connection(self, context: str | None) -> Connection:
        return Connection(context=context, kubeconfig=self.options.kubeconfig, istio_namespace=self.options.istio_namespace)

    #: seconds a transient flash stays before the status line returns
    flash_seconds: float = 5.0

    def flash(self, text: str, level: str = "info") -> None:
        """A transient message; the status (``set_status``) comes back after ``flash_seconds``."""
        self.flash_message = Flash(text, level, self.flash_message.serial + 1)

    def set_status(self, text: str, level: str = "info") -> None:
        """What the flash line shows when no transient message is up (the diagnosis verdict)."""
        self.status = Flash(text, level, 0, sticky=True)
        self.flash_message = Flash(text, level, self.flash_message.serial + 1, sticky=True)

    def set_context(self, ctx: ContextRow | None) -> None:
        # In replay the recording's context is a label, not a kubeconfig entry to pass on.
        if self.options.replay is None:
            self.current_context = ctx.name if ctx is not None else None
        h = self.header
        namespace = h.namespace or (ctx.namespace if ctx is not None else "") or "default"
        self.header = HeaderState(
            context=ctx.name if ctx is not None else "(kubectl default)",
            cluster=ctx.cluster if ctx is not None else "",
            namespace=namespace,
            istio=h.istio,
            istioctl=h.istioctl,
            replay=h.replay,
        )

    def set_namespace(self, namespace: str) -> None:
        h = self.header
        self.header = HeaderState(h.context, h.cluster, namespace, "", h.istio, h.istioctl, h.replay)

    def show_recording_versions(self, istio: str, istioctl: str) -> None:
        h = self.header
        self.header = HeaderState(h.context, h.cluster, h.namespace, h.target, h.istio or istio, h.istioctl or istioctl, h.replay)

    def show_report_header(self, report: Report) -> None:
        self.last_report = report
        self.header = HeaderState.with_report(self.header, report)

    # -- flow -------------------------------------------------------------------------------
    def on_mount(self) -> None:
        from istio_doctor.tui.screens.target_picker import TargetPickerScreen

        target: Target | None = None
        if self.options.target:
            target = Target.parse(self.options.target, self.options.namespace or None)
        elif self.options.pod:
            target = Target(kind=TargetKind.POD, namespace=self.options.namespace or "default", name=self.options.pod)
        if target is not None:
            self.set_namespace(target.namespace)
            self.target = target
            if self.options.symptom:
                # pod and symptom given (k9s plugin, `demo --tui`): straight to the diagnosis
                self._push_symptom(target)
                self.start_diagnosis(self.options.symptom)
            else:
                self._push_symptom(target)
        else:
            self.push_screen(TargetPickerScreen())

    def _push_symptom(self, target: Target) -> None:
        from istio_doctor.tui.screens.symptom_picker import SymptomPickerScreen

        self.push_screen(SymptomPickerScreen(str(target)))

    def choose_target(self, target: Target) -> None:
        self.target = target
        self._push_symptom(target)

    def start_diagnosis(self, symptom: str) -> None:
        from istio_doctor.tui.screens.diagnosis import DiagnosisScreen

        assert self.target is not None, "a target is chosen before a symptom"
        self.push_screen(DiagnosisScreen(self.target, symptom))

    def open_pod(self, target: Target, symptom: str) -> None:
        """From a deploy/, svc/ or ns/ diagnosis: one of its pods, same symptom; esc comes back."""
        from istio_doctor.tui.screens.diagnosis import DiagnosisScreen

        self.target = target
        self.push_screen(DiagnosisScreen(target, symptom))

    def back_to_targets(self) -> None:
        from istio_doctor.tui.screens.target_picker import TargetPickerScreen

        # Started on a pod (skipping the pickers): there is no picker underneath to go back
        # to, so the symptom screen becomes the picker instead of leaving an empty screen.
        if len(self.screen_stack) <= 2:
            self.switch_screen(TargetPickerScreen())
        else:
            self.pop_screen()

    # -- global keys ------------------------------------------------------------------------
    def action_help(self) -> None:
        from istio_doctor.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        palette = getattr(screen, "palette_commands", None)
        if palette is not None:
            yield from palette()
        yield SystemCommand("Help", "Keys of this screen", self.action_help)
        yield SystemCommand("Quit", "Leave istio-doctor", self.action_quit)
