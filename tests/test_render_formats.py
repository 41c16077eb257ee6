"""Behaviour of the renderers beyond the goldens: schema validity, round trips, colour,
wrapping that never breaks copyable text, and hostile evidence that must not escape."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from istio_doctor.engine.model import EvidenceRef, Outcome
from istio_doctor.report.model import Report, report_json_schema
from istio_doctor.report.render import FORMATS, render
from istio_doctor.report.text import MARKS

from test_render_golden import FIXTURE_NAMES, load_fixture

ANSI = re.compile(r"\x1b\[")


def _with_excerpt(report: Report, excerpt: str, source: str = "kubectl logs x -c istio-proxy") -> Report:
    first = report.findings[0]
    ref = EvidenceRef(source=source, excerpt=excerpt)
    return report.model_copy(update={"findings": [first.model_copy(update={"evidence": [ref]}), *report.findings[1:]]})


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_json_validates_against_the_exported_schema_and_round_trips(name: str) -> None:
    report = load_fixture(name)
    data = json.loads(render(report, "json"))
    jsonschema.Draft202012Validator(report_json_schema()).validate(data)
    assert Report.model_validate(data) == report
    assert list(data)[:3] == ["format", "tool_version", "generated_at"]  # declaration order, not sorted


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_yaml_carries_the_same_data_as_json(name: str) -> None:
    report = load_fixture(name)
    assert yaml.safe_load(render(report, "yaml")) == json.loads(render(report, "json"))


def test_yaml_writes_multiline_strings_as_literal_blocks() -> None:
    out = render(load_fixture("two-findings"), "yaml")
    assert "excerpt: |" in out
    assert "yaml_patch: |" in out
    assert "{" not in out.split("\n")[0]  # block style, not flow


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_text_colour_only_when_asked(name: str) -> None:
    report = load_fixture(name)
    coloured = render(report, "text", color=True)
    plain = render(report, "text", color=False)
    assert ANSI.search(coloured)
    assert not ANSI.search(plain)
    # our own styling is never escaped into visible text, and colour changes nothing else
    assert "\\x1b" not in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_text_marks_every_outcome_with_its_fixed_symbol() -> None:
    out = render(load_fixture("two-findings"), "text", verbose=True)
    for outcome in Outcome:
        assert re.search(rf"^  {re.escape(MARKS[outcome])} ", out, re.M), outcome
    assert MARKS == {Outcome.PASS: "✔", Outcome.FAIL: "✘", Outcome.UNKNOWN: "‼", Outcome.NOT_APPLICABLE: "-", Outcome.SKIPPED: "·"}


def test_text_ranks_findings_and_shows_proof_fix_and_unchecked() -> None:
    out = render(load_fixture("two-findings"), "text")
    first = out.index("1. [MTLS-DR-DISABLE-VS-STRICT]")
    second = out.index("2. [P503-UC-RESET]")
    assert first < second
    assert "(critical, confidence 95%)" in out
    assert "Apply in this order:" in out[first:second]
    assert "Ranked first because: critical" in out
    assert "Could not check:" in out
    assert out.rstrip().splitlines()[-2].startswith("✘ Problem found")


def test_text_for_an_inconclusive_report_lists_every_missing_piece() -> None:
    report = load_fixture("inconclusive")
    out = render(report, "text")
    assert "Findings" not in out
    for u in report.unchecked:
        assert u.evidence in out
        assert f"$ {u.command}" in out
    assert "‼ Inconclusive" in out


@pytest.mark.parametrize("width", [40, 60, 100, 200])
def test_text_wraps_prose_but_never_breaks_commands_excerpts_or_urls(width: int) -> None:
    report = load_fixture("two-findings")
    out = render(report, "text", width=width)
    lines = [ln.strip() for ln in out.splitlines()]
    copyable: list[str] = []
    for f in report.findings:
        for ref in f.evidence:
            copyable.append(f"$ {ref.source}")
            copyable.extend(ln.strip() for ln in ref.excerpt.splitlines())
        for step in f.fix.steps:
            if step.command:
                copyable.append(f"$ {step.command}")
        copyable.append(f"Docs: {f.doc_url}")
    copyable.extend(f"$ {u.command}" for u in report.unchecked)
    for text in copyable:
        assert text in lines, f"{text!r} was broken across lines at width {width}"
    # prose lines respect the width (copyable ones may exceed it)
    for ln in out.splitlines():
        if len(ln) > width:
            assert ln.strip() in copyable or " " not in ln.strip(), ln


def test_namespace_scan_has_a_workload_table() -> None:
    out = render(load_fixture("namespace-scan"), "text")
    header = next(ln for ln in out.splitlines() if "WORKLOAD" in ln)
    assert header.split() == ["WORKLOAD", "PODS", "READY", "IN", "MESH", "FINDINGS", "WORST"]
    row = next(ln for ln in out.splitlines() if ln.strip().startswith("deploy/ratings-v1"))
    assert row.split() == ["deploy/ratings-v1", "1", "1/1", "no", "INJ-NS-NOT-LABELED", "error"]


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_escape_sequences_in_evidence_never_reach_the_terminal(fmt: str) -> None:
    hostile = 'GET /\x1b]0;pwned\x07 "\x1b[2J" 503 UC'
    out = render(_with_excerpt(load_fixture("two-findings"), hostile), fmt, color=False)
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07" in out


def test_markdown_fences_outgrow_backticks_in_evidence() -> None:
    out = render(_with_excerpt(load_fixture("two-findings"), "before\n```\nrm -rf /\n```\nafter"), "markdown")
    assert "````console" in out
    block = out[out.index("````console") :]
    assert block.index("rm -rf /") < block.index("\n````\n")


def test_markdown_tables_escape_pipes_so_rows_keep_their_columns() -> None:
    out = render(load_fixture("two-findings"), "markdown")
    for line in out.splitlines():
        if line.startswith("| `kubectl") or line.startswith("| envoy_stats"):
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            assert len(cells) in (4, 5), line


def test_markdown_has_ticket_sections() -> None:
    out = render(load_fixture("two-findings"), "markdown")
    for heading in ("# istio-doctor:", "## Findings", "## Could not check", "<details>", "</details>"):
        assert heading in out
    assert "| 1 | `MTLS-DR-DISABLE-VS-STRICT` | critical | 95% |" in out
    assert "```yaml\napiVersion: networking.istio.io/v1beta1" in out
    assert "```console\n$ kubectl logs productpage-v1" in out
    assert "<https://istio.io/latest/docs/ops/common-problems/network-issues/" in out


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown output format"):
        render(load_fixture("healthy"), "html")
    assert FORMATS == ("text", "json", "yaml", "markdown")


@pytest.mark.parametrize(
    "summary, reason, expected",
    [
        ("could not be checked: exec forbidden", "exec forbidden", "could not be checked: exec forbidden"),
        ("", "exec forbidden", "exec forbidden"),
        ("stats unreadable", "exec forbidden", "stats unreadable: exec forbidden"),
        ("forbidden", "listing is forbidden for dev", "listing is forbidden for dev"),
    ],
)
def test_unknown_node_says_its_reason_once(summary: str, reason: str, expected: str) -> None:
    from istio_doctor.report.model import NodeReport
    from istio_doctor.report.text import node_detail

    node = NodeReport(id="n", check="C", title="t", outcome=Outcome.UNKNOWN, summary=summary, reason=reason)
    assert node_detail(node) == expected
    assert node_detail(node.model_copy(update={"outcome": Outcome.PASS})) == summary
