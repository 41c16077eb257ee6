"""``Service``, ``Namespace``, ``EndpointSlice``/``Endpoints`` and ``Event``: what selects and
serves a workload's traffic, the namespace it lives in (its injection labels), and what the cluster
reported about it.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from istio_doctor.evidence.kube.meta import (
    DATAPLANE_MODE_LABEL,
    INJECTION_NS_LABEL,
    REV_KEY,
    K8sObject,
    KubeModel,
    StrMap,
    Timestamp,
)
from istio_doctor.evidence.kube.pod import Pod

# --------------------------------------------------------------------------------------
# Service, Namespace, endpoints, events
# --------------------------------------------------------------------------------------


class ServicePort(KubeModel):
    name: str | None = None
    port: int
    target_port: int | str | None = None
    protocol: str = "TCP"
    app_protocol: str | None = None
    node_port: int | None = None

    @property
    def effective_target_port(self) -> int | str:
        # Kubernetes defaults targetPort to port when unset.
        return self.target_port if self.target_port is not None else self.port


class ServiceSpec(KubeModel):
    ports: list[ServicePort] = []
    selector: StrMap = {}
    type: str = "ClusterIP"
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: list[str] = Field(default=[], alias="clusterIPs")
    external_name: str | None = None


class Service(K8sObject):
    KIND: ClassVar[str | None] = "Service"

    spec: ServiceSpec = ServiceSpec()

    @property
    def is_headless(self) -> bool:
        return self.spec.cluster_ip == "None"

    def selects(self, pod: Pod) -> bool:
        """Whether the Service's selector picks this pod. Selector-less services pick nothing
        (their endpoints are managed by hand), and services never cross namespaces."""
        if not self.spec.selector:
            return False
        if self.namespace and pod.namespace and self.namespace != pod.namespace:
            return False
        return all(pod.labels.get(k) == v for k, v in self.spec.selector.items())

    def fqdn(self, domain: str = "cluster.local") -> str:
        return f"{self.name}.{self.namespace or 'default'}.svc.{domain}"

    def port(self, number: int) -> ServicePort | None:
        for p in self.spec.ports:
            if p.port == number:
                return p
        return None


class Namespace(K8sObject):
    KIND: ClassVar[str | None] = "Namespace"

    @property
    def injection_label(self) -> str | None:
        return self.labels.get(INJECTION_NS_LABEL)

    @property
    def rev_label(self) -> str | None:
        return self.labels.get(REV_KEY)

    @property
    def dataplane_mode(self) -> str | None:
        return self.labels.get(DATAPLANE_MODE_LABEL)


class ObjectReference(KubeModel):
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    field_path: str | None = None


class EndpointConditions(KubeModel):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class SliceEndpoint(KubeModel):
    addresses: list[str] = []
    conditions: EndpointConditions = EndpointConditions()
    target_ref: ObjectReference | None = None
    node_name: str | None = None

    @property
    def is_ready(self) -> bool:
        # EndpointSlice API: "nil should be interpreted as true" for ready.
        return self.conditions.ready is not False


class EndpointPort(KubeModel):
    name: str | None = None
    port: int | None = None
    protocol: str | None = None
    app_protocol: str | None = None


SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class EndpointSlice(K8sObject):
    KIND: ClassVar[str | None] = "EndpointSlice"

    address_type: str | None = None
    endpoints: list[SliceEndpoint] = []
    ports: list[EndpointPort] = []

    @property
    def service_name(self) -> str | None:
        return self.labels.get(SERVICE_NAME_LABEL)

    @property
    def ready_addresses(self) -> list[str]:
        return [a for e in self.endpoints if e.is_ready for a in e.addresses]

    @property
    def not_ready_addresses(self) -> list[str]:
        return [a for e in self.endpoints if not e.is_ready for a in e.addresses]


class EndpointAddress(KubeModel):
    ip: str
    hostname: str | None = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


class EndpointSubset(KubeModel):
    addresses: list[EndpointAddress] = []
    not_ready_addresses: list[EndpointAddress] = []
    ports: list[EndpointPort] = []


class Endpoints(K8sObject):
    KIND: ClassVar[str | None] = "Endpoints"

    subsets: list[EndpointSubset] = []

    @property
    def ready_addresses(self) -> list[str]:
        return [a.ip for s in self.subsets for a in s.addresses]


class EventSource(KubeModel):
    component: str | None = None
    host: str | None = None


class Event(K8sObject):
    KIND: ClassVar[str | None] = "Event"

    type: str | None = None
    reason: str | None = None
    message: str | None = None
    involved_object: ObjectReference = ObjectReference()
    count: int | None = None
    first_timestamp: Timestamp = None
    last_timestamp: Timestamp = None
    event_time: Timestamp = None
    source: EventSource = EventSource()
    reporting_component: str | None = None

    @property
    def last_seen(self) -> datetime | None:
        """Newer clients set only ``eventTime``; older ones only the timestamps."""
        return self.last_timestamp or self.event_time or self.first_timestamp
