"""Pick the symptom: one of the playbooks, or auto (the access logs choose)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from istio_doctor.tui.screens.base import DoctorScreen


@dataclass(frozen=True)
class SymptomChoice:
    symptom: str
    title: str
    description: str


#: Shown when the playbooks cannot be loaded (a broken --playbooks folder must not stop
#: the user from choosing auto); the loaded playbooks replace it otherwise.
DEFAULT_SYMPTOMS = [
    SymptomChoice("auto", "Auto", "Let the proxy access logs choose the playbooks (503 UC/UF/NR, filter chain not found...)"),
    SymptomChoice("503", "503 after sidecar injection", "Requests fail with 503 since the pod got its sidecar"),
    SymptomChoice("mtls", "mTLS: upstream connect error", "'upstream connect error or disconnect/reset before headers'"),
    SymptomChoice("injection", "Sidecar not injecting", "The pod starts without istio-proxy"),
    SymptomChoice("routes", "Missing routes", "404 / NR: the proxy has no route or cluster for the destination"),
]


def symptom_choices(playbook_dirs: list[Path]) -> tuple[list[SymptomChoice], str]:
    """Auto plus one entry per loaded playbook; falls back to the defaults with a reason."""
    try:
        from istio_doctor.engine.playbook import load_playbooks

        playbooks = load_playbooks(playbook_dirs)
    except Exception as exc:  # noqa: BLE001 - any playbook problem is shown; auto still works
        return DEFAULT_SYMPTOMS, f"playbooks not loaded: {exc}"
    if not playbooks:
        return DEFAULT_SYMPTOMS, ""
    out = [DEFAULT_SYMPTOMS[0]]
    # ambient playbooks share the sidecar symptoms (they run instead for ambient pods): the
    # sidecar playbook names the symptom
    for pb in sorted(playbooks.values(), key=lambda pb: "sidecar" not in getattr(pb, "dataplane", ["sidecar"])):
        # triage-like playbooks list every symptom (they run alongside the others): only a
        # playbook's first symptom names it, and each symptom is offered once
        symptom = pb.symptoms[0] if pb.symptoms else ""
        if not symptom or any(c.symptom == symptom for c in out):
            continue
        out.append(SymptomChoice(symptom, pb.title, _first_sentence(pb.description)))
    order = [c.symptom for c in DEFAULT_SYMPTOMS]
    out.sort(key=lambda c: order.index(c.symptom) if c.symptom in order else len(order))
    return out, ""


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    end = flat.find(". ")
    return flat[: end + 1] if 0 <= end < 160 else flat[:160]


class SymptomPickerScreen(DoctorScreen):
    HELP = "Choose what the user sees failing. Auto reads the proxy's access logs and runs the matching playbooks."
    BINDINGS = [
        Binding("enter", "select", "Diagnose", id="symptom-select"),
        Binding("escape", "back", "Back", id="symptom-back"),
    ]

    def __init__(self, target_label: str) -> None:
        super().__init__()
        self.target_label = target_label
        self.choices: list[SymptomChoice] = []

    def crumbs(self) -> list[str]:
        return ["Targets", self.target_label, "Symptom"]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="symptoms-pane", classes="pane"):
            yield Label(f"What is failing for {self.target_label}?", classes="pane-title")
            yield OptionList(id="symptoms")

    def on_mount(self) -> None:
        self.choices, problem = symptom_choices(self.doctor.options.playbook_dirs)
        if problem:
            self.doctor.flash(problem, "warning")
        ol = self.query_one("#symptoms", OptionList)
        for c in self.choices:
            # Text, not markup: playbook descriptions are data and may contain brackets
            prompt = Text(c.title, style="bold")
            if c.description:
                prompt.append(f"\n  {c.description}", style="dim")
            ol.add_option(Option(prompt, id=c.symptom))
        wanted = self.doctor.options.symptom or "auto"
        ids = [c.symptom for c in self.choices]
        ol.highlighted = ids.index(wanted) if wanted in ids else 0
        ol.focus()

    @on(OptionList.OptionSelected, "#symptoms")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.doctor.start_diagnosis(str(event.option.id))

    def action_select(self) -> None:
        self.query_one("#symptoms", OptionList).action_select()

    def action_back(self) -> None:
        self.doctor.back_to_targets()
