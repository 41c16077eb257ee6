"""Declared reads are enforced: a check sees only the evidence it declares.

Every recording replays under this rule (``tests/test_scenarios.py`` asserts the strict mode
that ``tests/conftest.py`` sets); these tests show the rule itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from istio_doctor.engine.context import CheckContext, DeclaredEvidence, UndeclaredEvidence, strict_reads
from istio_doctor.engine.model import CheckResult, Outcome
from istio_doctor.engine.playbook import Playbook
from istio_doctor.engine.registry import CheckSpec, Registry
from istio_doctor.engine.walker import walk
from istio_doctor.evidence.bundle import Evidence, EvidenceKey, Item, Need
from istio_doctor.evidence.target import Connection, Target

PKG = Path(__file__).resolve().parent.parent / "istio_doctor"


def _ev() -> Evidence:
    ev = Evidence()
    ev.put(Item(key=EvidenceKey(need=Need.NAMESPACES), value=["ns"], sources=[("kubectl", "get", "namespaces")]))
    ev.put(Item(key=EvidenceKey(need=Need.SERVICES), value=["svc"], sources=[("kubectl", "get", "services", "-A")]))
    return ev


def _walk(fn, needs=(), optional=()) -> object:  # type: ignore[no-untyped-def]
    reg = Registry()
    reg.register(CheckSpec(id="gate.t", fn=fn, needs=tuple(needs), optional=tuple(optional)))
    pb = Playbook.model_validate({"id": "t", "title": "t", "symptoms": ["x"], "nodes": [{"id": "a", "check": "gate.t", "title": "a"}]})
    ctx = CheckContext(ev=_ev(), target=Target.parse("pod/p", "default"), conn=Connection(), namespace="default", pod_name="p")
    return walk(pb, ctx, reg, {}).nodes[0]


def test_the_suite_runs_strict() -> None:
    assert strict_reads()


def test_a_declared_read_works() -> None:
    node = _walk(lambda ctx, _: CheckResult.passed(f"{ctx.ev.get(Need.NAMESPACES)} {ctx.ev.get_or(None, Need.SERVICES)}"),
                 needs=(Need.NAMESPACES,), optional=(Need.SERVICES,))
    assert node.result.outcome is Outcome.PASS and node.result.summary == "['ns'] ['svc']"  # type: ignore[attr-defined]


@pytest.mark.parametrize("read", [
    lambda ctx: ctx.ev.get(Need.SERVICES),
    lambda ctx: ctx.ev.get_or([], Need.SERVICES),
    lambda ctx: ctx.ev.has(Need.SERVICES),
    lambda ctx: ctx.services(),
    lambda ctx: ctx.mesh_config(),
])
def test_an_undeclared_read_raises(read) -> None:  # type: ignore[no-untyped-def]
    def fn(ctx, _):  # type: ignore[no-untyped-def]
        read(ctx)
        return CheckResult.passed("read")

    with pytest.raises(UndeclaredEvidence, match="gate.t read"):
        _walk(fn, needs=(Need.NAMESPACES,))


def test_items_lists_only_declared_kinds_and_failures_stay_visible() -> None:
    view = DeclaredEvidence(_ev(), [Need.NAMESPACES], "x", strict=True)
    assert [i.key.need for i in view.items()] == [Need.NAMESPACES]
    assert view.failures() == []


def test_outside_strict_mode_an_undeclared_read_is_only_logged() -> None:
    view = DeclaredEvidence(_ev(), [Need.NAMESPACES], "x", strict=False)
    assert view.get(Need.SERVICES) == ["svc"]


def _excepts(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler):
            if node.type is None:
                out.append((node.lineno, "bare except"))
            elif isinstance(node.type, ast.Name) and node.type.id in ("Exception", "BaseException"):
                out.append((node.lineno, node.type.id))
    return out


def test_checks_and_mesh_helpers_catch_missing_evidence_never_a_bare_exception() -> None:
    """A broad ``except`` in a check hides MissingEvidence (unknown) as healthy; only the walker
    may catch everything (it reports the crash as unknown)."""
    roots = [PKG / "engine" / "checks", PKG / "engine" / "mesh"]
    bad = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for line, what in _excepts(ast.parse(path.read_text())):
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: {what}")
    assert not bad, "\n".join(bad)
