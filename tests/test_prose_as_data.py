"""Prose and numbers are data: a failing catalogue check returns arguments, a message variant and
a corroboration level; the catalogue (engine/catalogue/*.yaml) words the finding and holds the
confidence numbers (like istioctl analyze's messages.yaml).

Enforced on the source: in no check module does a FAIL result carry a free-text summary (a
positional or ``summary=`` argument of ``CheckResult.failed``), an inline ``confidence=``, or a
``Fix(summary=...)``. Every module is converted; a new one starts converted.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

CHECKS = Path(__file__).resolve().parent.parent / "istio_doctor" / "engine" / "checks"

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


def test_check_modules_carry_no_prose_or_inline_confidence() -> None:
    counts = _counts()
    assert not counts, (
        "check modules build finding text or confidence inline; word it in the catalogue entry's message/fix "
        f"templates and name a confidence level instead:\n{dict(sorted(counts.items()))}")


def test_the_detector_sees_prose() -> None:
    src = 'CheckResult.failed("free text", confidence=0.9, fix=Fix(summary="do x"))\nCheckResult.failed(args={"a": 1})\n'
    assert _offences(ast.parse(src)) == 3
