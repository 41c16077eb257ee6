"""The real session (engine, playbooks, replay runner) behind the TUI, on the demo recording:
the keys a user presses in `istio-doctor demo --tui` reach the recorded root cause's fix."""

from __future__ import annotations

from pathlib import Path

import yaml
from helpers import screen_name, wait_for

from istio_doctor.tui.app import IstioDoctorApp
from istio_doctor.tui.state import TuiOptions
from istio_doctor.tui.widgets.evidence_pane import EvidencePane
from istio_doctor.tui.widgets.finding_pane import FindingPane

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "recordings" / "demo" / "bookinfo-reviews-503.yaml"


def _expected() -> dict[str, object]:
    return yaml.safe_load(DEMO.with_name(DEMO.name.replace(".yaml", ".expect.yaml")).read_text(encoding="utf-8"))


async def test_demo_keys_reach_the_root_cause_fix() -> None:
    expect = _expected()
    kind_name, _, ns = str(expect["target"]).partition(" -n ")
    app = IstioDoctorApp(TuiOptions(replay=DEMO, namespace=ns, pod=kind_name.split("/")[1]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen_name(pilot) == "SymptomPickerScreen")
        assert pilot.app.header.replay == DEMO.name
        await pilot.press("enter")  # auto is highlighted
        await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None, timeout=30)
        await pilot.press("f", "enter")
        pane = pilot.app.screen.query_one(FindingPane)
        assert pane.has_focus and pane.finding is not None
        assert pane.finding.code == expect["findings_first"]
        evidence = pilot.app.screen.query_one(EvidencePane).current
        assert evidence is not None and evidence.verbatim and evidence.highlight, "the proof is highlighted in the recorded output"
        await pilot.press("c")
        assert pilot.app.clipboard.startswith("#!/bin/sh\n")
        assert f"# ==== [{expect['findings_first']}] " in pilot.app.clipboard
        # the fix names the recorded context, like the evidence commands (report/fixes.py)
        assert "# kubectl --context kind-scenarios patch destinationrule" in pilot.app.clipboard
        assert "# kubectl --context kind-scenarios apply -f - <<'EOF'" in pilot.app.clipboard
        assert "1.22" in pilot.app.header.istioctl


async def test_the_pickers_list_the_recording_and_a_missing_call_is_a_flash() -> None:
    # the recording lists kube-public's name but not its pods: non-strict replay answers exit 1
    app = IstioDoctorApp(TuiOptions(replay=DEMO, namespace="kube-public"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: pilot.app.flash_message.level == "error", timeout=10)
        assert "kubectl get pods -n kube-public -o json" in pilot.app.flash_message.text
        assert "kube-public" in pilot.app.screen.namespaces
        assert screen_name(pilot) == "TargetPickerScreen"
