"""Gateway API models (``gateway.networking.k8s.io`` v1beta1/v1): ``K8sGateway`` (listeners, status)
and ``K8sHTTPRoute`` (parent refs, backend refs, status), with the conditions that say a resource
was not accepted (some Gateway API conditions are inverted: ``True`` is the problem).
"""

from __future__ import annotations

from typing import Any, ClassVar

from istio_doctor.evidence.istio.resource import GATEWAY_API
from istio_doctor.evidence.kube import Condition, K8sObject, KubeModel

# --------------------------------------------------------------------------------------
# Gateway API
# --------------------------------------------------------------------------------------


class ListenerTLS(KubeModel):
    mode: str | None = None  # Terminate | Passthrough
    certificate_refs: list[dict[str, Any]] = []


class Listener(KubeModel):
    name: str
    port: int
    protocol: str
    hostname: str | None = None
    tls: ListenerTLS | None = None
    allowed_routes: dict[str, Any] | None = None


class K8sGatewaySpec(KubeModel):
    gateway_class_name: str = ""
    listeners: list[Listener] = []
    addresses: list[dict[str, Any]] = []


class ListenerStatus(KubeModel):
    name: str
    attached_routes: int | None = None
    conditions: list[Condition] = []


class K8sGatewayStatus(KubeModel):
    conditions: list[Condition] = []
    listeners: list[ListenerStatus] = []
    addresses: list[dict[str, Any]] = []


# Gateway API conditions whose polarity is inverted: "True" is the problem.
_ABNORMAL_TRUE = {"Conflicted", "Detached", "Degraded"}


def _negative(conditions: list[Condition]) -> list[Condition]:
    # Most Gateway API conditions are positive-polarity (Accepted, Programmed, ResolvedRefs):
    # "False" is the failure, as in istioctl's ConditionAnalyzer (IST0171). A few
    # (Conflicted...) are the other way round, and `Conflicted=False` is healthy.
    return [c for c in conditions if (c.status == "True") == (c.type in _ABNORMAL_TRUE) and c.status in ("True", "False")]


class K8sGateway(K8sObject):
    KIND: ClassVar[str | None] = "Gateway"
    API_GROUPS: ClassVar[tuple[str, ...]] = GATEWAY_API

    spec: K8sGatewaySpec = K8sGatewaySpec()
    status: K8sGatewayStatus = K8sGatewayStatus()

    @property
    def failing_conditions(self) -> list[Condition]:
        return _negative(self.status.conditions) + [c for ls in self.status.listeners for c in _negative(ls.conditions)]


class ParentReference(KubeModel):
    group: str | None = None
    kind: str | None = None
    name: str
    namespace: str | None = None
    section_name: str | None = None
    port: int | None = None


class BackendRef(KubeModel):
    group: str | None = None
    kind: str | None = None
    name: str
    namespace: str | None = None
    port: int | None = None
    weight: int | None = None


class HTTPRouteRule(KubeModel):
    matches: list[dict[str, Any]] = []
    backend_refs: list[BackendRef] = []
    filters: list[dict[str, Any]] = []
    timeouts: dict[str, Any] | None = None


class HTTPRouteSpec(KubeModel):
    parent_refs: list[ParentReference] = []
    hostnames: list[str] = []
    rules: list[HTTPRouteRule] = []


class RouteParentStatus(KubeModel):
    parent_ref: ParentReference
    controller_name: str | None = None
    conditions: list[Condition] = []


class HTTPRouteStatus(KubeModel):
    parents: list[RouteParentStatus] = []


class K8sHTTPRoute(K8sObject):
    KIND: ClassVar[str | None] = "HTTPRoute"
    API_GROUPS: ClassVar[tuple[str, ...]] = GATEWAY_API

    spec: HTTPRouteSpec = HTTPRouteSpec()
    status: HTTPRouteStatus = HTTPRouteStatus()

    @property
    def failing_conditions(self) -> list[Condition]:
        return [c for p in self.status.parents for c in _negative(p.conditions)]
