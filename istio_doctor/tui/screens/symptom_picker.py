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


#: Not a playbook: the picker's own choice of letting the access logs pick the playbooks. It is all
#: the picker offers when the playbooks cannot be loaded (a broken --playbooks folder must not stop
#: the user from choosing auto), and the screen says why the others are missing.
AUTO = SymptomChoice("auto", "Auto", "Let the proxy access logs choose the playbooks (503 UC/UF/NR, filter chain not found...)")


def symptom_choices(playbook_dirs: list[Path]) -> tuple[list[SymptomChoice], str]:
    """Auto plus one entry per loaded playbook symptom, or auto alone with the reason there is no other."""
    try:
        from istio_doctor.engine.playbook import load_playbooks

        playbooks = load_playbooks(playbook_dirs)
    except Exception as exc:  # noqa: BLE001 - any playbook problem is shown; auto still works
        return [AUTO], f"playbooks not loaded: {exc}"
    if not playbooks:
        return [AUTO], "no playbook was found: only auto can be chosen"
    out = [AUTO]
    # ambient playbooks share the sidecar symptoms (they run instead for ambient pods): the
    # sidecar playbook names the symptom
    for pb in sorted(playbooks.values(), key=lambda pb: "sidecar" not in getattr(pb, "dataplane", ["sidecar"])):
        # triage-like playbooks list every symptom (they run alongside the others): only a
        # playbook's first symptom names it, and each symptom is offered once
        symptom = pb.symptoms[0] if pb.symptoms else ""
        if not symptom or any(c.symptom == symptom for c in out):
            continue
        out.append(SymptomChoice(symptom, pb.title, _first_sentence(pb.description)))
    # the playbook that lists every symptom (triage) gives their order; others come last
    order = max((list(pb.symptoms) for pb in playbooks.values()), key=len)
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
