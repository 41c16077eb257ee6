"""Prose and numbers are data: a failing catalogue check returns arguments, the catalogue words them.

Modelled on ``istioctl analyze``'s ``messages.yaml``: a finding's summary and fix are
``str.format`` templates with named arguments in ``engine/catalogue/*.yaml``, its confidence
is a level named by the check (``base`` unless runtime evidence corroborates it). Tests assert
codes and arguments; the golden renderings cover the wording.
"""

from __future__ import annotations

import pytest

from istio_doctor.engine.catalogue import CatalogueEntry, TemplateError, load_catalogue, render, template_fields
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep, Outcome, Severity
from istio_doctor.engine.playbook import Playbook
from istio_doctor.engine.registry import CheckSpec, NoParams, Registry
from istio_doctor.engine.walker import walk
from istio_doctor.evidence.bundle import Evidence
from istio_doctor.evidence.target import Connection, Target

ENTRY = CatalogueEntry.model_validate({
    "id": "TEST-DR-OFF", "title": "t", "section": "mtls", "playbooks": ["mtls"], "severity": "critical",
    "confidence": {"base": 0.7, "client_logs": 0.93, "server_logs": 0.96},
    "message": {"default": "DestinationRule {dr} sets tls.mode {mode} for {host}",
                "server": "DestinationRule {dr} sets tls.mode {mode} while ports {ports} of {pod} are STRICT"},
    "explanation": "e", "fix": "Make DestinationRule {dr} use ISTIO_MUTUAL", "doc_url": "https://istio.io/",
})


def _walk(result: CheckResult) -> tuple[Outcome, object]:
    return _walk_with(ENTRY, result)


def _walk_with(entry: CatalogueEntry, result: CheckResult) -> tuple[Outcome, object]:
    reg = Registry()
    reg.register(CheckSpec(id="TEST-DR-OFF", fn=lambda ctx, p: result, needs=()))
    pb = Playbook.model_validate({"id": "t", "title": "t", "symptoms": ["x"],
                                  "nodes": [{"id": "a", "check": "TEST-DR-OFF", "title": "a"}]})
    t = Target.parse("pod/p-1", "default")
    ctx = CheckContext(ev=Evidence(), target=t, conn=Connection(), namespace="default", pod_name="p-1")
    node = walk(pb, ctx, reg, {"TEST-DR-OFF": entry}).nodes[0]
    return node.result.outcome, node


def test_summary_fix_and_confidence_come_from_the_catalogue() -> None:
    args = {"dr": "default/ratings", "mode": "DISABLE", "host": "ratings.default.svc.cluster.local:9080"}
    step = FixStep(description="apply", yaml_patch="spec: {}")
    outcome, node = _walk(CheckResult.failed(args=args, corroboration="client_logs", fix=Fix(steps=[step])))
    f = node.finding  # type: ignore[attr-defined]
    assert outcome is Outcome.FAIL and f is not None
    assert f.summary == "DestinationRule default/ratings sets tls.mode DISABLE for ratings.default.svc.cluster.local:9080"
    assert f.fix.summary == "Make DestinationRule default/ratings use ISTIO_MUTUAL" and f.fix.steps == [step]
    assert f.confidence == 0.93 and f.args == args
    assert node.result.summary == f.summary  # the tree node reads the same sentence  # type: ignore[attr-defined]


def test_variants_and_lists_read_as_prose() -> None:
    _, node = _walk(CheckResult.failed(message="server", args={"dr": "a/b", "mode": "SIMPLE", "ports": [9080, 9443, 15000],
                                                               "pod": "default/ratings-v1"}))
    assert node.finding.summary.endswith("while ports 9080, 9443 and 15000 of default/ratings-v1 are STRICT")  # type: ignore[attr-defined]
    assert node.finding.confidence == 0.7  # no level named: base  # type: ignore[attr-defined]


@pytest.mark.parametrize("result, what", [
    (CheckResult.failed(args={"dr": "a/b"}), "needs argument(s) host, mode"),
    (CheckResult.failed(args={"dr": "a/b", "mode": "x", "host": "h"}, message="nope"), "no message variant 'nope'"),
    (CheckResult.failed(args={"dr": "a/b", "mode": "x", "host": "h"}, corroboration="nope"), "no confidence level 'nope'"),
])
def test_a_template_the_check_cannot_fill_is_unknown_never_healthy(result: CheckResult, what: str) -> None:
    outcome, node = _walk(result)
    assert outcome is Outcome.UNKNOWN and node.finding is None  # type: ignore[attr-defined]
    assert what in node.result.reason  # type: ignore[attr-defined]


def test_templates_are_named_and_well_formed() -> None:
    assert template_fields("a {b} {c.d} {{literal}}") == {"b", "c"}
    with pytest.raises(TemplateError):
        template_fields("positional {}")
    with pytest.raises(ValueError):
        CatalogueEntry.model_validate({**ENTRY.model_dump(), "message": "broken {"})
    with pytest.raises(ValueError, match="base"):
        CatalogueEntry.model_validate({**ENTRY.model_dump(), "confidence": {"corroborated": 0.9}})
    assert render("{x}", {"x": []}) == "none"


def test_a_fix_by_variant_follows_the_message_variant() -> None:
    e = CatalogueEntry.model_validate({**ENTRY.model_dump(), "fix": {"default": "Fix {dr}", "server": "Relax port {ports} of {pod}"}})
    _, node = _walk_with(e, CheckResult.failed(message="server", args={"dr": "a/b", "mode": "SIMPLE", "ports": [9080], "pod": "p"}))
    assert node.finding.fix.summary == "Relax port 9080 of p"  # type: ignore[attr-defined]
    _, node = _walk_with(e, CheckResult.failed(args={"dr": "a/b", "mode": "SIMPLE", "host": "h"}))
    assert node.finding.fix.summary == "Fix a/b"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="name no message variant"):
        CatalogueEntry.model_validate({**ENTRY.model_dump(), "fix": {"default": "x", "nope": "y"}})
    with pytest.raises(ValueError, match="need a 'default'"):
        CatalogueEntry.model_validate({**ENTRY.model_dump(), "fix": {"server": "y"}})
    # every variant with its own fix needs no default
    both = CatalogueEntry.model_validate({**ENTRY.model_dump(), "fix": {"default": "x", "server": "y"}})
    assert both.render_fix("server", {}) == "y" and both.render_fix(None, {}) == "x"


def test_optional_clauses_and_joined_lists() -> None:
    """``{x:?TEXT}`` renders TEXT (which may name arguments) only when x is present; a list is
    prose, or joined by the spec given."""
    t = "{n} failure(s){behind:? (behind {behind})}{state:?; {state}}: {lines:; } [{ports}]"
    assert template_fields(t) == {"n", "behind", "state", "lines", "ports"}
    assert render(t, {"n": 0, "behind": "Service a/b", "state": None, "lines": ["x", "y"], "ports": [1, 2, 3]}) == \
        "0 failure(s) (behind Service a/b): x; y [1, 2 and 3]"
    assert render(t, {"n": 2, "behind": "", "state": "0 ready", "lines": [], "ports": []}) == "2 failure(s); 0 ready:  [none]"
    assert render("{v:?[{v}]}", {"v": 0}) == "[0]" and render("{v:?yes}", {"v": False}) == ""  # 0 is a value
    either = "{ns:?clients in namespace {ns}}{ns:!every mesh client}"
    assert render(either, {"ns": "foo"}) == "clients in namespace foo" and render(either, {"ns": None}) == "every mesh client"
    with pytest.raises(TemplateError, match="needs argument"):
        render(t, {"n": 1})
    # a value is never parsed as a template
    assert render("{a:?<{a}>}", {"a": "{connection_termination}"}) == "<{connection_termination}>"


def test_a_bare_confidence_is_the_base_level() -> None:
    e = CatalogueEntry.model_validate({**ENTRY.model_dump(), "confidence": 0.6, "message": "m {x}"})
    assert e.confidence == {"base": 0.6} and e.message == {"default": "m {x}"} and e.severity is Severity.CRITICAL
    assert e.fix == {"default": "Make DestinationRule {dr} use ISTIO_MUTUAL"}  # a bare fix is the default one


def test_every_catalogue_entry_parses() -> None:
    for entry in load_catalogue().values():
        for t in [*entry.message.values(), *entry.fix.values()]:
            template_fields(t)
        assert "base" in entry.confidence
