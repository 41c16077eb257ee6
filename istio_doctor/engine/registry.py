"""Check registry: playbooks name checks by ID; checks are small pure functions of evidence.

A check is registered with ``@check(ID, needs=..., optional=..., params=Model)``:

* ``needs``: evidence the check cannot decide without. The gatherer fetches it; if it could
  not be gathered, reading it raises ``MissingEvidence`` and the walker records ``unknown``.
* ``optional``: evidence that only corroborates (access logs, stats). Read it with
  ``ctx.ev.get_or(...)`` so its absence lowers confidence but never makes the node unknown.
* ``peer_needs``: pod-scoped evidence wanted for the *related* pods (the servers a failing
  client calls, or the clients of a failing server), fetched in the second gathering pass.
* ``if_gathered``: evidence read only when another check of the session had it gathered; it is
  never gathered for this check (the request probes read the VirtualServices and Gateways the
  routes playbook gathers, without making every mTLS diagnosis fetch them). Absent, it is simply
  not used: a check must not decide anything from its absence.
* ``params``: a pydantic model of typed parameters that the playbook YAML may set.

IDs of catalogue checks are the codes of ``engine/catalogue/*.yaml`` (e.g.
``MTLS-DR-DISABLE-VS-STRICT``); a failing catalogue check becomes a finding. IDs starting
with ``gate.`` are branching questions (e.g. "is the pod in the mesh?") and never findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from istio_doctor.engine.model import CheckResult
from istio_doctor.evidence.bundle import Need


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


CheckFn = Callable[[Any, Any], CheckResult]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    fn: CheckFn
    needs: tuple[Need, ...]
    optional: tuple[Need, ...] = ()
    peer_needs: tuple[Need, ...] = ()
    if_gathered: tuple[Need, ...] = ()
    params: type[BaseModel] = NoParams
    doc: str = ""
    min_istio: str | None = None  # e.g. "1.10": the check is not applicable on older control planes
    max_istio: str | None = None

    @property
    def is_gate(self) -> bool:
        return self.id.startswith("gate.")

    @property
    def all_needs(self) -> tuple[Need, ...]:
        return tuple(dict.fromkeys(self.needs + self.optional))


@dataclass
class Registry:
    checks: dict[str, CheckSpec] = field(default_factory=dict)

    def register(self, spec: CheckSpec) -> None:
        if spec.id in self.checks:
            raise ValueError(f"check {spec.id!r} registered twice")
        self.checks[spec.id] = spec

    def get(self, check_id: str) -> CheckSpec:
        try:
            return self.checks[check_id]
        except KeyError:
            raise KeyError(f"unknown check {check_id!r}") from None

    def __contains__(self, check_id: object) -> bool:
        return check_id in self.checks


REGISTRY = Registry()


def check(
    check_id: str,
    *,
    needs: tuple[Need, ...] | list[Need] = (),
    optional: tuple[Need, ...] | list[Need] = (),
    peer_needs: tuple[Need, ...] | list[Need] = (),
    if_gathered: tuple[Need, ...] | list[Need] = (),
    params: type[BaseModel] = NoParams,
    min_istio: str | None = None,
    max_istio: str | None = None,
) -> Callable[[CheckFn], CheckFn]:
    """Register a check function ``fn(ctx, params) -> CheckResult`` under ``check_id``."""

    def deco(fn: CheckFn) -> CheckFn:
        REGISTRY.register(
            CheckSpec(
                id=check_id,
                fn=fn,
                needs=tuple(needs),
                optional=tuple(optional),
                peer_needs=tuple(peer_needs),
                if_gathered=tuple(if_gathered),
                params=params,
                doc=(fn.__doc__ or "").strip(),
                min_istio=min_istio,
                max_istio=max_istio,
            )
        )
        return fn

    return deco


def load_builtin_checks() -> Registry:
    """Import every built-in check module (registration happens at import).

    A playbook's checks may be one module or a package of modules (``checks/routes/``), so the
    walk descends into subpackages; it imports each name as it is yielded, so a module that
    fails to import raises here instead of being skipped."""
    import importlib
    import pkgutil

    import istio_doctor.engine.checks as pkg

    for mod in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}."):
        importlib.import_module(mod.name)
    return REGISTRY
