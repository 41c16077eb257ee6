"""Prose and numbers are data: a failing catalogue check returns arguments, a message variant and
a corroboration level; the catalogue (engine/catalogue/*.yaml) words the finding and holds the
confidence numbers (like istioctl analyze's messages.yaml).

Enforced on the source: in a converted check module no FAIL result carries a free-text summary
(a positional or ``summary=`` argument of ``CheckResult.failed``), an inline ``confidence=``, or a
``Fix(summary=...)``. Modules not converted yet are listed with their exact count of such places,
so the list can only shrink: converting a module means deleting its line here.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

CHECKS = Path(__file__).resolve().parent.parent / "istio_doctor" / "engine" / "checks"

#: module -> prose/number places left (the conversion backlog; triage.py is converted)
NOT_CONVERTED: dict[str, int] = {
    "injection/injected.py": 11, "injection/not_injected.py": 27,
    "p503/lifecycle.py": 12,
}
#: gate checks (``gate.*``) are branching questions, never findings: their outcome line is prose by design
GATES = "gates.py"


def _offences(tree: ast.AST) -> int:
    n = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        kws = {k.arg for k in node.keywords}
        if name == "failed" and (node.args or "summary" in kws):
            n += 1
        if "confidence" in kws:
            n += 1
        if name == "Fix" and "summary" in kws:
            n += 1
    return n


def _counts() -> Counter[str]:
    out: Counter[str] = Counter()
    for path in sorted(CHECKS.rglob("*.py")):
        if path.name == GATES:
            continue
        n = _offences(ast.parse(path.read_text(encoding="utf-8")))
        if n:
            out[str(path.relative_to(CHECKS))] = n
    return out


def test_converted_modules_carry_no_prose_or_inline_confidence() -> None:
    counts = _counts()
    assert counts == Counter(NOT_CONVERTED), (
        "prose/number places per check module differ from the backlog; converted modules must have none, "
        f"and the backlog only shrinks:\n{dict(sorted(counts.items()))}")


def test_the_detector_sees_prose() -> None:
    src = 'CheckResult.failed("free text", confidence=0.9, fix=Fix(summary="do x"))\nCheckResult.failed(args={"a": 1})\n'
    assert _offences(ast.parse(src)) == 3
