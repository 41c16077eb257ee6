"""Gathered evidence: what checks read. Pure data, no processes.

Every piece of evidence is addressed by an ``EvidenceKey`` (what kind, and for which
namespace / pod). Each key maps to an ``Item``: either a parsed value, or an
``EvidenceFailure`` that says why it is missing (forbidden, timeout, parse error...).
Checks read values through ``Evidence.get``; a missing value raises ``MissingEvidence``,
which the playbook walker turns into an ``unknown`` outcome carrying the reason. That is how
"missing evidence is never healthy" holds without every check handling errors itself.
"""

from __future__ import annotations

import shlex
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from istio_doctor.evidence.kinds import Need, Scope

__all__ = ["Evidence", "EvidenceFailure", "EvidenceKey", "FailureKind", "Item", "MissingEvidence", "Need", "Scope"]

T = TypeVar("T")
D = TypeVar("D")


class EvidenceKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    need: Need
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.need.scope is Scope.POD:
            return f"{self.need.value}({self.namespace}/{self.name})"
        if self.need.scope is Scope.NAMESPACE:
            return f"{self.need.value}({self.namespace})"
        return self.need.value


class FailureKind(StrEnum):
    FORBIDDEN = "forbidden"  # RBAC
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    UNREACHABLE = "unreachable"  # cluster / API server / pod admin port not reachable
    CONFIG = "kubeconfig"  # kubeconfig unreadable, or the context (or its cluster/user) missing
    TIMEOUT = "timeout"
    MISSING_BINARY = "missing_binary"
    UNSUPPORTED = "unsupported"  # flag/command unknown to this version
    PARSE_ERROR = "parse_error"  # output in a format we do not understand
    NOT_RECORDED = "not_recorded"
    REFUSED = "refused"
    FAILED = "failed"  # any other non-zero exit
    NOT_APPLICABLE = "not_applicable"  # e.g. no sidecar, so no config dump exists


class EvidenceFailure(BaseModel):
    """Why a piece of evidence is missing, in one sentence a user can act on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FailureKind
    reason: str
    argv: tuple[str, ...] = ()

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv) if self.argv else ""


class MissingEvidence(Exception):
    """Raised by ``Evidence.get`` when a check reads evidence that could not be gathered."""

    def __init__(self, key: EvidenceKey, failure: EvidenceFailure | None) -> None:
        self.key = key
        self.failure = failure
        reason = failure.reason if failure else "it was not gathered"
        super().__init__(f"{key}: {reason}")


class Item(BaseModel, Generic[T]):
    """One gathered piece of evidence: a parsed value or a failure, and the calls behind it."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    key: EvidenceKey
    value: Any = None
    failure: EvidenceFailure | None = None
    #: argv of every call that produced this item (fallbacks included), for citations.
    sources: list[tuple[str, ...]] = []

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def source(self) -> str:
        """The command line that produced the value (the last successful source)."""
        return shlex.join(self.sources[-1]) if self.sources else ""


class Evidence:
    """All evidence of one diagnosis session, addressed by key. Read-only for checks."""

    def __init__(self, items: dict[EvidenceKey, Item[Any]] | None = None) -> None:
        self._items: dict[EvidenceKey, Item[Any]] = dict(items or {})

    # -- construction (gatherer side) -------------------------------------------------
    def put(self, item: Item[Any]) -> None:
        self._items[item.key] = item

    def merge(self, other: Evidence) -> None:
        self._items.update(other._items)

    # -- reading (check side) ----------------------------------------------------------
    @staticmethod
    def key(need: Need, namespace: str | None = None, name: str | None = None) -> EvidenceKey:
        scope = need.scope
        if scope is Scope.CLUSTER:
            return EvidenceKey(need=need)
        if scope is Scope.NAMESPACE:
            return EvidenceKey(need=need, namespace=namespace)
        return EvidenceKey(need=need, namespace=namespace, name=name)

    def item(self, need: Need, namespace: str | None = None, name: str | None = None) -> Item[Any] | None:
        return self._items.get(self.key(need, namespace, name))

    def has(self, need: Need, namespace: str | None = None, name: str | None = None) -> bool:
        it = self.item(need, namespace, name)
        return it is not None and it.ok

    def get(self, need: Need[T], namespace: str | None = None, name: str | None = None) -> T:
        """The parsed value, or raise ``MissingEvidence`` (the walker makes the node unknown)."""
        k = self.key(need, namespace, name)
        it = self._items.get(k)
        if it is None or not it.ok:
            raise MissingEvidence(k, it.failure if it else None)
        return it.value

    def get_or(self, default: D, need: Need[T], namespace: str | None = None, name: str | None = None) -> T | D:
        """The parsed value, or ``default`` when missing (for optional corroboration only)."""
        it = self.item(need, namespace, name)
        return it.value if it is not None and it.ok else default

    def source(self, need: Need, namespace: str | None = None, name: str | None = None) -> str:
        it = self.item(need, namespace, name)
        return it.source if it else ""

    def items(self) -> list[Item[Any]]:
        return list(self._items.values())

    def failures(self) -> list[Item[Any]]:
        return [i for i in self._items.values() if not i.ok]
