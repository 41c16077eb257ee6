"""INJ-INVALID-VALUE on both sides of Istio 1.27 (playbook injection).

injectRequired() changed how it reads sidecar.istio.io/inject in 1.27 (istio/istio#56737, "ensure
consistency in inject label validation", fixing istio/istio#51841):

* up to 1.26 (istio/istio@1.26.0:pkg/kube/inject/inject.go) the value is lower-cased; y/yes/true/on
  inject, "" uses the defaults and any other value ("enabled", "False", "no") keeps the sidecar out;
* from 1.27 (istio/istio@1.27.0:pkg/kube/inject/inject.go) only exactly "true"/"false" count; any
  other value is logged as "Invalid value for sidecar.istio.io/inject: ... Falling back to default
  injection policy." and the selectors and the policy decide. istio/istio@1.27.0:pkg/kube/inject/
  webhook_test.go pins it: "invalid-inject-value-on" with policy disabled is not injected,
  "invalid-inject-value-random" with policy enabled is.

So the same label means opposite things on each side: "yes" where the policy is disabled is an
opt-in up to 1.26 and ignored from 1.27; "False" in an injected namespace is an opt-out up to 1.26
and injected from 1.27. Each failing world has its control on the other side of the boundary.
The kit models both readings independently (tests/scenariokit/world.py World.injection).
"""

from __future__ import annotations

from tests.scenariokit import Expect, Scenario
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.world import World
from tests.scenarios.injection import ALL_INJ


def _world(version: str, label: tuple[str, str], *, policy: str = "enabled") -> World:
    w = bookinfo_world(version)
    w.control_plane.injector_policy = policy
    wl = w.workload(label[0])
    assert wl is not None, label[0]
    wl.labels["sidecar.istio.io/inject"] = label[1]
    return w


def _others(*keep: str) -> list[str]:
    return [c for c in ALL_INJ if c not in keep]


def _v(version: str) -> str:
    return version.rsplit(".", 1)[0].replace(".", "-")


def _finds(code: str, node: str | None = None, *, tolerate: tuple[str, ...] = ()) -> Expect:
    return Expect(findings_first=code, findings=[code], absent=_others(code, *tolerate),
                  path=[(node, "fail")] if node else [])


CLEAN = Expect(findings_first=None, findings=[], absent=list(ALL_INJ), verdict="no_problem_found")

#: (version, workload, value, injector policy, what happens, expectation)
CASES: list[tuple[str, str, str, str, str, Expect]] = [
    ("1.27.1", "details-v1", "yes", "disabled",
     "details opts in with sidecar.istio.io/inject=yes where the injector policy is disabled; from 1.27 \"yes\" is "
     "invalid, the disabled policy decides and the pod has no sidecar",
     # the disabled policy is a true second reason: INJ-POLICY-DISABLED may name it too
     _finds("INJ-INVALID-VALUE", "invalid-value", tolerate=("INJ-POLICY-DISABLED",))),
    ("1.26.3", "details-v1", "yes", "disabled",
     "control: the same opt-in \"yes\" under a disabled policy is read as true before 1.27: details is injected", CLEAN),
    ("1.27.1", "ratings-v1", "False", "enabled",
     "ratings opts out with sidecar.istio.io/inject=False in the injected namespace default; from 1.27 only exactly "
     "\"false\" opts out, so it is injected anyway", _finds("INJ-INVALID-VALUE", "invalid-value-injected")),
    ("1.26.3", "ratings-v1", "False", "enabled",
     "control: \"False\" is lower-cased to false before 1.27: ratings stays out of the mesh as its author meant",
     _finds("INJ-POD-OPTOUT")),
    ("1.27.1", "details-v1", "enabled", "enabled",
     "control: sidecar.istio.io/inject=enabled in the injected namespace default is invalid from 1.27 and the "
     "enabled policy injects details (before 1.27 it was read as false: invalid-value-enabled)", CLEAN),
]

_SLUG = {"yes": "yes-policy-disabled", "False": "false-capital", "enabled": "enabled"}

SCENARIOS: list[Scenario] = [
    Scenario("injection", f"invalid-value-{_SLUG[value]}-{_v(version)}", f"{version}: {what}",
             f"deploy/{name} -n default", "injection", _world(version, (f"default/{name}", value), policy=policy), expect)
    for version, name, value, policy, what, expect in CASES
]
