"""Ambient pods in the TUI: the picker's MESH column says ambient (from istio-cni's annotation,
not from the missing sidecar), the diagnosis names the data-plane mode, the ztunnel of the node
and the waypoint, and ``p`` browses the ztunnel's configuration (istioctl ztunnel-config views).

The diagnosis is the real one, replayed from a scenario-kit recording (a namespace bound to a
Programmed waypoint, recordings/waypoint/healthy-waypoint.yaml).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import screen_name, screen_text, wait_for

from istio_doctor.evidence.recording import load_recording
from istio_doctor.evidence.runner import CommandResult, ReplayRunner
from istio_doctor.tui.ambient import AmbientFacts, ambient_summary
from istio_doctor.tui.listing import parse_pods
from istio_doctor.tui.services import Services
from istio_doctor.tui.state import TuiOptions

from conftest import FixedClock

ROOT = Path(__file__).resolve().parents[2]
REC = ROOT / "recordings/waypoint/healthy-waypoint.yaml"
POD = "reviews-v1-lwzdrlmvsz-hmbmj"
SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


def _services() -> Services:
    from istio_doctor.tui.listing import ContextList, ContextRow
    from istio_doctor.tui.services import _default_diagnose

    rec = load_recording(REC)
    return Services(make_runner=lambda _conn, _replay: ReplayRunner(rec, source_name=REC.name), run_diagnosis=_default_diagnose,
                    list_contexts=lambda _kc: ContextList([ContextRow("kind-scenarios", current=True)]))


def _app() -> Any:
    from istio_doctor.tui.app import IstioDoctorApp

    return IstioDoctorApp(TuiOptions(namespace="default", pod=POD, symptom="auto"), services=_services(), clock=FixedClock)


async def _diagnosis(pilot) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None,
                   timeout=30, what="diagnosis")


def test_picker_mesh_column_reads_the_redirection_annotation() -> None:
    def pod(name: str, annotations: dict[str, str], containers: list[str]) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": "default", "annotations": annotations},
                "spec": {"containers": [{"name": c} for c in containers], "nodeName": "kind-worker"},
                "status": {"phase": "Running", "containerStatuses": [{"name": c, "ready": True} for c in containers]}}

    items = [pod("a-amb", {"ambient.istio.io/redirection": "enabled"}, ["app"]),
             pod("b-pending", {"ambient.istio.io/redirection": "pending"}, ["app"]),
             pod("c-plain", {}, ["app"]), pod("d-sidecar", {}, ["app", "istio-proxy"])]
    rows = parse_pods(CommandResult(argv=("kubectl",), exit_code=0, stdout=json.dumps({"items": items}), duration_s=0))
    assert [r.mesh_cell for r in rows] == ["ambient", "ambient pending", "✘", "✔"]
    assert rows[0].node == "kind-worker"


def test_summary_names_mode_node_ztunnel_and_waypoint() -> None:
    facts = AmbientFacts(mode="ambient", node="kind-worker", ztunnel="ztunnel-abcde", waypoint="default/waypoint (for service reviews)")
    assert ambient_summary(facts).splitlines() == ["ambient · node kind-worker", "ztunnel ztunnel-abcde",
                                                   "waypoint default/waypoint (for service reviews)"]
    assert ambient_summary(AmbientFacts(mode="ambient-pending")).splitlines() == [
        "ambient-pending · node unscheduled", "ztunnel none found on the node", "waypoint unknown (no ztunnel config)"]


async def test_ambient_diagnosis_shows_dataplane_and_browses_ztunnel_config() -> None:
    from textual.widgets import DataTable

    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _diagnosis(pilot)
        screen = pilot.app.screen
        assert screen.report.verdict == "no_problem_found"
        from textual.widgets import Static

        box = screen.query_one("#dataplane", Static)
        assert box.display and str(box.border_title) == "Data plane"
        text = screen_text(pilot)
        assert "ambient · node kind-worker" in text and "waypoint default/waypoint (for service" in text
        assert "ztunnel ztunnel-" in text
        await pilot.press("p")
        await wait_for(pilot, lambda: screen_name(pilot) == "ZtunnelConfigScreen")
        zc = pilot.app.screen
        workloads = zc.query_one("#table-workloads", DataTable)
        assert workloads.row_count > 10
        assert zc.tables["workloads"][0] == ["NAMESPACE", "POD", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL"]
        services = dict(((r[0], r[1]), r[3]) for r in zc.tables["services"][1])
        assert services[("default", "reviews")] == "waypoint"
        await pilot.press("slash", *"reviews-v1", "enter")
        assert workloads.row_count == 1
        await pilot.press("escape", "4")  # clear the filter, then the certificates tab
        assert zc.query_one("#table-certificates", DataTable).row_count > 0
        assert all(r[3] == "true" for r in zc.tables["certificates"][1])  # valid at the recording's time
        await pilot.press("escape")
        assert screen_name(pilot) == "DiagnosisScreen"
        assert "ambient · node kind-worker" in screen_text(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_ztunnel_config_snapshot(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _diagnosis(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: screen_name(pilot) == "ZtunnelConfigScreen")

    assert snap_compare(_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_ambient_diagnosis_snapshot(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _diagnosis(pilot)

    assert snap_compare(_app(), terminal_size=size, run_before=run_before)
