"""Scenario kit: realistic cluster+mesh worlds that answer kubectl/istioctl, for recorded scenarios.

A scenario module (``tests/scenarios/*.py``) exposes ``SCENARIOS: list[Scenario]``;
``tools/build_scenarios.py`` runs the real diagnosis against ``WorldRunner(world)`` and saves
the recording plus the expectations. See ``README.md`` for how to express each cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tests.scenariokit.captures import Capture
from tests.scenariokit.world import World

Verdict = Literal["problems_found", "no_problem_found", "inconclusive"]


@dataclass
class Expect:
    """What the diagnosis must conclude for a scenario (checked by the replay tests)."""

    #: the check ID that must rank first, or None when no finding is expected
    findings_first: str | None = None
    #: check IDs that must be among the findings
    findings: list[str] = field(default_factory=list)
    #: check IDs that must NOT be reported (the look-alikes this scenario rules out)
    absent: list[str] = field(default_factory=list)
    verdict: Verdict = "problems_found"
    #: optional walk of the playbook: (node id, outcome) pairs in order
    path: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "findings_first": self.findings_first,
            "findings": list(self.findings),
            "absent": list(self.absent),
            "verdict": self.verdict,
        }
        if self.path:
            out["path"] = [[n, o] for n, o in self.path]
        return out


@dataclass
class Scenario:
    playbook: str  # "p503", "mtls", "inj", "route", "gen" (or the playbook file stem)
    name: str  # file stem of the recording: lower-case, dashes
    description: str
    target: str  # "pod/NAME -n NS", "deploy/NAME -n NS", "svc/NAME -n NS", "ns/NAME"
    symptom: str
    world: World
    expect: Expect = field(default_factory=Expect)
    #: real outputs spliced into the world's answers (tests/scenariokit/captures.py): the recording
    #: says ``provenance: captured`` and names them as its source
    captures: list[Capture] = field(default_factory=list)


__all__ = ["Capture", "Expect", "Scenario", "Verdict", "World"]
