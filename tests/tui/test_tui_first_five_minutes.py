"""The TUI items of issue #12, driven with Textual's pilot: what a new user meets first.

Each test names the rough edge it closes: the start screen's full error (with the demo hint),
80x24 keeping esc/q/?, tree labels cut with an ellipsis, the evidence pane scrolling sideways,
the fix pane showing the command, `/` on the diagnosis, the could-not-check pane, deploy/svc/ns
targets opening their pods, and the copy message that says where the fix went.
"""

from __future__ import annotations

import json

from helpers import screen_name, screen_text, wait_for
from textual.widgets import OptionList, Static
from textual.widgets._footer import FooterKey

from conftest import NS, POD, FakeRunner, FakeSession, load_report
from istio_doctor.evidence.runner import CommandResult
from istio_doctor.evidence.target import TargetKind
from istio_doctor.tui.state import TuiOptions
from istio_doctor.tui.widgets.decision_tree import DecisionTree
from istio_doctor.tui.widgets.finding_pane import FindingPane

SMALL = (80, 24)

# kubectl v1.35 against a local socket that accepts and never answers, with --request-timeout=5s
# (captured for tests/test_first_five_minutes.py; evidence/preflight.py lists the real messages)
HANGING = ("Unable to connect to the server: net/http: request canceled while waiting for connection "
           "(Client.Timeout exceeded while awaiting headers)\n")


def _flat(text: str) -> str:
    """Screen text as one line of words, box borders removed (wrapped sentences read whole)."""
    return " ".join(text.replace("│", " ").split())


async def _diagnosis(pilot) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None)


def _unreachable_runner(session: FakeSession) -> None:
    """The session's runners answer the preflight's server question like a hanging API server."""

    def make(conn, replay):  # type: ignore[no-untyped-def]
        r = FakeRunner()

        async def run(argv, *, timeout_s=None):  # type: ignore[no-untyped-def]
            r.calls.append(list(argv))
            if argv[:2] == ["kubectl", "version"]:
                return CommandResult(argv=tuple(argv), exit_code=1, stdout=json.dumps({"clientVersion": {}}),
                                     stderr=HANGING, duration_s=5.1)
            return await FakeRunner.run(r, argv, timeout_s=timeout_s)

        r.run = run  # type: ignore[method-assign]
        session.runners.append(r)
        return r

    session.make_runner = make  # type: ignore[method-assign]


async def test_start_screen_shows_the_whole_error_and_suggests_the_demo(make_app, session: FakeSession) -> None:
    _unreachable_runner(session)
    app = make_app(TuiOptions())
    async with app.run_test(size=SMALL) as pilot:
        box = pilot.app.screen.query_one("#start-error", Static)
        await wait_for(pilot, lambda: not box.has_class("hidden"), what="the start error")
        flat = _flat(screen_text(pilot))
        # the preflight's whole sentence, wrapped, not a truncated flash line
        assert "cannot reach the Kubernetes API server https://127.0.0.1:6443 (context kind-bookinfo)" in flat
        assert "Client.Timeout exceeded while awaiting headers" in flat
        assert "istio-doctor demo --tui" in flat
        assert pilot.app.screen.namespaces == []


async def test_footer_keeps_esc_q_and_help_at_80x24(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SMALL) as pilot:
        await _diagnosis(pilot)
        await pilot.press("f")
        await pilot.pause()
        keys = list(pilot.app.screen.query(FooterKey))
        assert [k.key for k in keys[:3]] == ["escape", "q", "question_mark"]
        for k in keys[:3]:
            assert k.region.right <= SMALL[0], (k.key, k.region)
        assert "esc" in screen_text(pilot).splitlines()[-1]


async def test_tree_labels_cut_with_an_ellipsis_and_the_pane_has_the_whole_title(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SMALL) as pilot:
        await _diagnosis(pilot)
        await pilot.press("f")
        await pilot.pause()
        tree_lines = [ln.split("││")[0] for ln in screen_text(pilot).splitlines()[3:13]]
        assert any(ln.rstrip("│ ").endswith("…") for ln in tree_lines), tree_lines
        tree = pilot.app.screen.query_one(DecisionTree)
        assert tree.max_scroll_x == 0, "fitted labels need no sideways scrolling"
        # the cut title is whole in the finding pane
        assert "Does a DestinationRule" in screen_text(pilot)


async def test_evidence_pane_scrolls_sideways(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SMALL) as pilot:
        await _diagnosis(pilot)
        await pilot.press("f", "e")
        scroll = pilot.app.screen.query_one("#evidence-scroll")
        await pilot.pause()
        assert scroll.max_scroll_x > 0, "a line wider than the pane can be reached"
        await pilot.press("right", "right", "right")
        await pilot.pause()
        assert scroll.scroll_x > 0


async def test_fix_pane_shows_the_command_at_80x24(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SMALL) as pilot:
        await _diagnosis(pilot)
        await pilot.press("f", "enter")
        await pilot.pause(0.1)
        assert pilot.app.screen.query_one(FindingPane).has_focus
        assert "kubectl -n bookinfo patch destinationrule" in _flat(screen_text(pilot))


async def test_slash_filters_the_decision_tree(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _diagnosis(pilot)
        tree = pilot.app.screen.query_one(DecisionTree)
        before = len(tree._leaves)
        await pilot.press("slash", *"outlier")
        await pilot.pause()
        # one node matches: "Has outlier detection ejected every endpoint?" (node id stats)
        assert list(tree._leaves) == [("p503", "stats")] and before > 1
        await pilot.press("enter")  # keep the filter, back to the tree
        assert tree.has_focus and tree.border_subtitle == "filter: outlier"
        await pilot.press("escape")  # esc drops the filter before it leaves the screen
        await pilot.pause()
        assert screen_name(pilot) == "DiagnosisScreen" and len(tree._leaves) == before


async def test_u_lists_what_could_not_be_checked(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _diagnosis(pilot)
        assert "could not be checked: u lists them" in pilot.app.flash_message.text
        await pilot.press("u")
        await wait_for(pilot, lambda: screen_name(pilot) == "UncheckedScreen")
        text = screen_text(pilot)
        assert "forbidden" in text and "P503-OUTLIER-EJECTED" in text
        assert "kubectl exec productpage-v1-6b746f74dc-9stvs -n bookinfo -c istio-proxy" in text
        await pilot.press("escape")
        assert screen_name(pilot) == "DiagnosisScreen"


async def test_a_namespace_scan_lists_its_pods_and_opens_one(make_app, session: FakeSession) -> None:
    session.report = load_report("namespace-scan")
    app = make_app(TuiOptions(namespace=NS, target=f"ns/{NS}", symptom="auto"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _diagnosis(pilot)
        pods = pilot.app.screen.query_one("#pods-list", OptionList)
        ids = [pods.get_option_at_index(i).id for i in range(pods.option_count)]
        assert ids[0] == "ratings-v1-5f9699cfdf-4vbkw", "the flagged pod comes first"
        assert set(ids) >= {"details-v1-79f774bdb9-kx8mz", "reviews-v1-5b5d6494f4-fghij"}
        assert "INJ-NS-NOT-LABELED" in screen_text(pilot)
        pods.focus()
        pods.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(session.calls) == 2)
        assert session.calls[0]["target"].kind is TargetKind.NAMESPACE
        opened = session.calls[1]["target"]
        assert opened.kind is TargetKind.POD and opened.name == "ratings-v1-5f9699cfdf-4vbkw"
        await pilot.press("escape")
        assert screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.target.kind is TargetKind.NAMESPACE


async def test_picker_s_scans_the_highlighted_namespace(make_app, session: FakeSession) -> None:
    app = make_app(TuiOptions(namespace=NS))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(getattr(pilot.app.screen, "pods", [])) == 4)
        pilot.app.screen.query_one("#namespaces", OptionList).focus()
        await pilot.press("s")
        await wait_for(pilot, lambda: screen_name(pilot) == "SymptomPickerScreen")
        assert pilot.app.target.kind is TargetKind.NAMESPACE and pilot.app.target.namespace == NS


async def test_copy_says_where_the_fix_went_and_the_verdict_comes_back(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    app.flash_seconds = 0.3
    async with app.run_test(size=(120, 40)) as pilot:
        await _diagnosis(pilot)
        headline = load_report().headline
        await pilot.press("f", "c")
        flash = pilot.app.flash_message
        assert "sent to the terminal clipboard (OSC 52)" in flash.text and "tmux needs `set-clipboard on`" in flash.text
        assert pilot.app.clipboard.startswith("#!/bin/sh")
        line = pilot.app.screen.query_one("#flash", Static)
        await wait_for(pilot, lambda: headline[:40] in " ".join(str(line.render()).split()), what="the verdict back")


async def test_a_diagnosis_that_cannot_start_shows_the_whole_sentence(make_app, session: FakeSession) -> None:
    """Opened straight on a pod (k9s plugin): the preflight's sentence in full, not a cut flash."""
    from istio_doctor.evidence.preflight import PreflightCheck, PreflightStatus
    from istio_doctor.report.model import Verdict

    sentence = ("cannot reach the Kubernetes API server https://10.0.0.1:6443 (context prod): Unable to connect to "
                "the server: dial tcp 10.0.0.1:6443: i/o timeout. Check the VPN, proxy or firewall and that the cluster "
                "is up (`kubectl cluster-info`); to see a diagnosis without a cluster, try `istio-doctor demo`.")
    session.report = load_report().model_copy(update={
        "findings": [], "playbooks": [], "unchecked": [], "verdict": Verdict.INCONCLUSIVE, "exit_code": 3,
        "headline": f"Cannot diagnose: {sentence}",
        "preflight": [PreflightCheck(name="api-server", status=PreflightStatus.FAILED, detail=sentence)]})
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SMALL) as pilot:
        await _diagnosis(pilot)
        flat = _flat(screen_text(pilot))
        assert "Cannot diagnose" in flat and "dial tcp 10.0.0.1:6443: i/o timeout" in flat
        assert "istio-doctor demo --tui" in flat
