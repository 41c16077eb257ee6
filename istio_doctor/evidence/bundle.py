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

T = TypeVar("T")


class Scope(StrEnum):
    CLUSTER = "cluster"
    NAMESPACE = "namespace"
    POD = "pod"


class Need(StrEnum):
    """Kinds of evidence a check can declare. The gatherer knows how to fetch and parse each."""

    # cluster scope
    KUBECTL_VERSION = "kubectl_version"
    ISTIOCTL_VERSION = "istioctl_version"
    NAMESPACES = "namespaces"
    SERVICES = "services"  # all namespaces (falls back to the target namespace)
    WEBHOOKS = "webhooks"  # MutatingWebhookConfigurations
    CONTROL_PLANE_CONFIGMAPS = "control_plane_configmaps"  # istio, istio-sidecar-injector[-rev]
    CONTROL_PLANE_PODS = "control_plane_pods"
    CONTROL_PLANE_DEPLOYMENTS = "control_plane_deployments"
    CONTROL_PLANE_ENDPOINTSLICES = "control_plane_endpointslices"
    PROXY_STATUS = "proxy_status"
    CRDS = "crds"  # Gateway API CRD versions
    VIRTUAL_SERVICES = "virtual_services"
    DESTINATION_RULES = "destination_rules"
    GATEWAYS = "gateways"
    SERVICE_ENTRIES = "service_entries"
    SIDECARS = "sidecars"
    PEER_AUTHENTICATIONS = "peer_authentications"
    AUTHORIZATION_POLICIES = "authorization_policies"
    REQUEST_AUTHENTICATIONS = "request_authentications"
    ENVOY_FILTERS = "envoy_filters"
    TELEMETRIES = "telemetries"
    K8S_GATEWAYS = "k8s_gateways"  # gateway.networking.k8s.io Gateway
    HTTP_ROUTES = "http_routes"
    # namespace scope
    PODS = "pods"
    ENDPOINTSLICES = "endpointslices"
    EVENTS = "events"
    DEPLOYMENTS = "deployments"
    REPLICASETS = "replicasets"
    ANALYZE = "analyze"
    #: every in-mesh pod's recent istio-proxy log in one call (namespace scans flag pods by it)
    NAMESPACE_PROXY_LOGS = "namespace_proxy_logs"
    # pod scope
    POD = "pod"
    CONFIG_DUMP = "config_dump"
    PROXY_LOGS = "proxy_logs"
    INIT_LOGS = "init_logs"
    DESCRIBE = "describe"
    SOCKETS = "sockets"  # listening sockets seen from the istio-proxy container (allowlisted exec)
    ENVOY_STATS = "envoy_stats"  # allowlisted exec: pilot-agent request GET stats
    ENVOY_CLUSTERS = "envoy_clusters"  # allowlisted exec: pilot-agent request GET clusters

    @property
    def scope(self) -> Scope:
        return _SCOPES.get(self, Scope.CLUSTER)


_SCOPES: dict[Need, Scope] = {
    **{
        n: Scope.NAMESPACE
        for n in (
            Need.PODS, Need.ENDPOINTSLICES, Need.EVENTS, Need.DEPLOYMENTS, Need.REPLICASETS, Need.ANALYZE,
            Need.NAMESPACE_PROXY_LOGS,
        )
    },
    **{
        n: Scope.POD
        for n in (
            Need.POD,
            Need.CONFIG_DUMP,
            Need.PROXY_LOGS,
            Need.INIT_LOGS,
            Need.DESCRIBE,
            Need.SOCKETS,
            Need.ENVOY_STATS,
            Need.ENVOY_CLUSTERS,
        )
    },
}


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

    def get(self, need: Need, namespace: str | None = None, name: str | None = None) -> Any:
        """The parsed value, or raise ``MissingEvidence`` (the walker makes the node unknown)."""
        k = self.key(need, namespace, name)
        it = self._items.get(k)
        if it is None or not it.ok:
            raise MissingEvidence(k, it.failure if it else None)
        return it.value

    def get_or(self, default: Any, need: Need, namespace: str | None = None, name: str | None = None) -> Any:
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
