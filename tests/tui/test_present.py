"""The pure rules behind the screens: which lines prove a point, what `c` copies, what the
picker lists. Tested without an app so a failure names the rule, not a screen."""

from __future__ import annotations

import json

from conftest import PODS, load_report

from istio_doctor.engine.model import EvidenceRef, Outcome
from istio_doctor.evidence.runner import CommandResult
from istio_doctor.tui.listing import ListingError, parse_namespaces, parse_pods, pod_row
from istio_doctor.tui.present import (
    MAX_LINES,
    evidence_view,
    find_result,
    fix_text,
    guess_lexer,
    locate_excerpt,
    proxy_filter_for,
    worst_outcome,
)


def _res(argv: list[str], stdout: str, code: int = 0) -> CommandResult:
    return CommandResult(argv=tuple(argv), exit_code=code, stdout=stdout, duration_s=0.1)


def test_locate_excerpt_prefers_the_tightest_complete_run() -> None:
    text = "kind: DR\n  name: details\n  host: d\n---\nkind: DR\n  name: reviews\n  host: r\n"
    assert locate_excerpt(text, "kind: DR\n  name: reviews\n  host: r") == [4, 5, 6]


def test_locate_excerpt_tolerates_reindentation_and_ignores_bracket_lines() -> None:
    text = json.dumps({"x": {"name": "reviews", "port": 9080}}, indent=4)
    hl = locate_excerpt(text, '{\n  "name": "reviews",\n  "port": 9080\n}')
    assert [text.splitlines()[i].strip() for i in hl] == ['"name": "reviews",', '"port": 9080']


def test_locate_excerpt_falls_back_to_distinctive_lines() -> None:
    text = "one\nupstream connect error\nthree\n"
    assert locate_excerpt(text, "upstream connect error\nnot in the output at all") == [1]
    assert locate_excerpt(text, "") == []


def test_find_result_ignores_connection_flags_and_prefers_success() -> None:
    failed = _res(["kubectl", "get", "pods", "-n", "a", "-o", "json", "--context", "c"], "", 1)
    ok = _res(["kubectl", "get", "pods", "-n", "a", "-o", "json", "--context", "c"], "{}")
    assert find_result([failed, ok], "kubectl get pods -n a -o json") is ok
    assert find_result([failed], "kubectl get pods -n b -o json") is None
    assert find_result([ok], "") is None


def test_evidence_view_windows_huge_outputs_around_the_proof() -> None:
    lines = [f"line {i}" for i in range(MAX_LINES * 3)]
    lines[MAX_LINES * 2] = "THE PROOF IS HERE"
    result = _res(["istioctl", "proxy-config", "all", "p", "-n", "n", "-o", "json"], "\n".join(lines))
    view = evidence_view(EvidenceRef(source=result.command_line, excerpt="THE PROOF IS HERE"), [result])
    assert view.verbatim and len(view.text.splitlines()) == MAX_LINES
    assert view.text.splitlines()[view.highlight[0]] == "THE PROOF IS HERE"
    assert view.start_line + view.highlight[0] == MAX_LINES * 2 + 1


def test_evidence_view_falls_back_to_the_excerpt() -> None:
    view = evidence_view(EvidenceRef(source="kubectl get x -o yaml", excerpt="kind: X\nspec: {}"), [])
    assert not view.verbatim and view.text == "kind: X\nspec: {}" and view.highlight == [0, 1]
    derived = evidence_view(EvidenceRef(source="", excerpt="a fact"), [])
    assert derived.highlight == []


def test_guess_lexer() -> None:
    assert guess_lexer('  {"a": 1}') == "json"
    assert guess_lexer("x: 1", ["kubectl", "get", "dr", "-o", "yaml"]) == "yaml"
    assert guess_lexer("apiVersion: v1\nkind: Pod") == "yaml"
    assert guess_lexer("NAME READY\nfoo 1/1") == "text"


def test_fix_text_is_the_fix_script() -> None:
    """What c copies is a shell script: a comment per step, commands commented out, the YAML
    apart from the command (report/fixes.py, the same script as --fix-script)."""
    report = load_report()
    finding = report.findings[0]
    text = fix_text(finding, report)
    assert text.startswith("#!/bin/sh\n") and "\nset -eu\n" in text
    assert "# ==== [MTLS-DR-DISABLE-VS-STRICT] " in text
    assert "\n# kubectl -n bookinfo patch destinationrule reviews" in text
    assert "\n# -- 1. Change the DestinationRule's TLS mode to ISTIO_MUTUAL.\n" in text
    assert "(or the same change, as YAML to merge)" in text and "#            mode: ISTIO_MUTUAL" in text
    assert text.endswith(finding.doc_url + "\n")
    # nothing in it runs when the file is executed as is
    runnable = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert runnable == ["set -eu"]


def test_proxy_filter_names_the_cluster_a_finding_mentions() -> None:
    report = load_report()
    assert proxy_filter_for(report.findings[1]) == "outbound|9080||reviews.bookinfo.svc.cluster.local"


def test_worst_outcome_orders_fail_before_unknown() -> None:
    pb = load_report().playbooks[1]
    assert worst_outcome(pb.nodes) is Outcome.FAIL
    assert worst_outcome([n for n in pb.nodes if n.outcome is not Outcome.FAIL]) is Outcome.UNKNOWN


def test_pod_rows_mesh_ready_restarts_revision() -> None:
    rows = [pod_row(p) for p in PODS]
    assert [(r.ready, r.restarts, r.in_mesh, r.revision) for r in rows] == [
        ("2/2", 0, True, "default"),
        ("2/2", 0, True, "default"),
        ("2/2", 0, True, "1-22-0"),  # native sidecar: an init container with restartPolicy Always
        ("0/1", 3, False, ""),
    ]
    labelled = pod_row({"metadata": {"name": "x", "labels": {"istio.io/rev": "canary"}}, "spec": {}, "status": {}})
    assert labelled.revision == "canary" and labelled.ready == "0/0"


def test_listing_errors_name_the_call() -> None:
    import pytest

    argv = ["kubectl", "get", "pods", "-n", "x", "-o", "json"]
    with pytest.raises(ListingError, match=r"`kubectl get pods -n x -o json` exited 1: Error from server \(Forbidden\)"):
        parse_pods(CommandResult(argv=tuple(argv), exit_code=1, stdout="", stderr="Error from server (Forbidden)\n", duration_s=0))
    with pytest.raises(ListingError, match="did not print JSON"):
        parse_namespaces(_res(argv, "not json"))
    assert parse_namespaces(_res(argv, json.dumps({"items": [{"metadata": {"name": "b"}}, {"metadata": {"name": "a"}}]}))) == ["a", "b"]


def test_a_yaml_excerpt_is_found_in_json_output() -> None:
    objs = {"items": [
        {"kind": "DestinationRule", "metadata": {"name": "details", "uid": "1"}, "spec": {"host": "details"}},
        {"kind": "DestinationRule", "metadata": {"name": "ratings", "uid": "2"}, "spec": {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}},
    ]}
    text = json.dumps(objs, indent=4)
    hl = locate_excerpt(text, "kind: DestinationRule\nmetadata:\n  name: ratings\nspec:\n  host: ratings\n  trafficPolicy:\n    tls:\n      mode: DISABLE")
    lines = text.splitlines()
    assert lines[hl[0]].strip() == '"kind": "DestinationRule",' and lines[hl[-1]].strip() == '"mode": "DISABLE"'
    assert not any('"details"' in lines[i] for i in hl)


def test_a_config_dump_summary_highlights_the_cluster_it_names() -> None:
    text = json.dumps({"clusters": [{"name": "outbound|9080||a.svc"}, {"name": "outbound|9080||ratings.default.svc.cluster.local"}]}, indent=2)
    hl = locate_excerpt(text, "cluster outbound|9080||ratings.default.svc.cluster.local: no TLS transport socket")
    assert len(hl) == 1 and "ratings.default" in text.splitlines()[hl[0]]


def test_symptom_choices_come_from_the_playbooks_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The picker offers auto plus the loaded playbooks' symptoms, in the order the triage playbook
    lists them; when the playbooks cannot be loaded it offers auto alone and says why (no second
    copy of the symptoms in the TUI)."""
    from istio_doctor.tui.screens.symptom_picker import symptom_choices

    choices, problem = symptom_choices([])
    assert [c.symptom for c in choices] == ["auto", "503", "mtls", "injection", "routes"] and problem == ""
    assert choices[1].title == "503 after sidecar injection"  # the playbook's own title
    (tmp_path / "broken.yaml").write_text("id: broken\nnodes: [", encoding="utf-8")
    choices, problem = symptom_choices([tmp_path])
    assert [c.symptom for c in choices] == ["auto"] and problem.startswith("playbooks not loaded:") and "broken.yaml" in problem
