"""Rank findings: the most likely root cause first, and say why.

The score combines three things the evidence supports:

* **corroboration** — the access logs (or stats) show the very signals this cause produces
  (catalogue ``signals``, or the check's own ``observed`` list). A config problem that the
  failing requests actually exhibit outranks one that is merely latent;
* **confidence** — how directly the check's evidence proves the cause;
* **severity** — whether traffic fails because of it.

Then causality: when finding A's catalogue entry ``explains`` finding B (e.g. a readiness
failure explains "no endpoints"), A is placed above B whatever their scores.
"""

from __future__ import annotations

from collections.abc import Iterable

from istio_doctor.engine.catalogue import CatalogueEntry
from istio_doctor.engine.model import Finding
from istio_doctor.evidence.target import TargetKind


def _can_explain(cause: Finding, effect: Finding) -> bool:
    """A cause explains a consequence on the same target; a mesh-wide cause on any target; and a
    cause on one pod a consequence seen on another pod whose finding names that pod (a namespace
    scan: the server's finding names the sidecar-less client whose own finding says why)."""
    if cause.target == effect.target or (cause.target is not None and cause.target.kind is TargetKind.MESH):
        return True
    pod = cause.target.pod_resource if cause.target is not None else None
    return pod is not None and pod in effect.resources


def _corroboration(f: Finding, entry: CatalogueEntry | None, observed_signals: set[str]) -> tuple[float, str]:
    if f.observed:
        return 1.0, f"corroborated by {f.observed[0]}" + (f" (+{len(f.observed) - 1} more)" if len(f.observed) > 1 else "")
    if entry is not None:
        hits = [s for s in entry.signals if s in observed_signals]
        if hits:
            return 0.7, "the proxy logs show " + ", ".join(hits[:3])
    return 0.0, ""


def rank_findings(
    findings: Iterable[Finding],
    catalogue: dict[str, CatalogueEntry],
    observed_signals: set[str] | None = None,
) -> list[Finding]:
    observed_signals = observed_signals or set()
    # One finding per (code, target): several playbooks may reach the same check.
    merged: dict[tuple[str, str], Finding] = {}
    for f in findings:
        k = (f.code, f.target)
        if k not in merged:
            merged[k] = f
    items = list(merged.values())
    reasons: dict[int, list[str]] = {}
    for f in items:
        entry = catalogue.get(f.code)
        corr, why = _corroboration(f, entry, observed_signals)
        f.score = round(0.45 * corr + 0.35 * f.confidence + 0.20 * f.severity.weight, 4)
        parts = [f"{f.severity.value} severity", f"confidence {round(f.confidence * 100)}%"]
        if why:
            parts.insert(0, why)
        reasons[id(f)] = parts

    items.sort(key=lambda f: (-f.score, f.code, str(f.target or "")))
    # Causality: move each root cause above everything it explains (stable, bounded passes).
    codes = {f.code for f in items}
    for _ in range(len(items)):
        moved = False
        for i, f in enumerate(items):
            entry = catalogue.get(f.code)
            if not entry:
                continue
            explained = [g for g in items[:i] if g.code in entry.explains and _can_explain(f, g)]
            if explained:
                j = items.index(explained[0])
                items.insert(j, items.pop(i))
                moved = True
                break
        if not moved:
            break
    for f in items:
        entry = catalogue.get(f.code)
        if entry:
            f.also_explains = [c for c in entry.explains if c in codes]
            if f.also_explains:
                reasons[id(f)].append("it explains " + ", ".join(f.also_explains))
    for i, f in enumerate(items, start=1):
        f.rank = i
        f.rank_reason = "; ".join(reasons[id(f)])
    return items
