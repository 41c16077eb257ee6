"""Typed models of the Kubernetes objects istio-doctor reads, and the parsers that build them.

Only fields that checks read are typed; everything else a cluster returns is tolerated
(``extra="allow"``) because we do not own the Kubernetes schema and new fields appear every
release. Field names are snake_case in Python and camelCase on the wire (``populate_by_name``
so both work). ``null`` values are dropped before validation: the API server and the Istio
injector both write ``null`` for empty lists (``"containers":null``), and a check should see
an empty list, not ``None``.

Every parser raises :class:`~istio_doctor.evidence.errors.ParseError` naming the command and
the object on bad input, never a raw JSON/YAML/pydantic exception.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, NamedTuple, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from istio_doctor.evidence.errors import ParseError

# --------------------------------------------------------------------------------------
# shared building blocks
# --------------------------------------------------------------------------------------

SIDECAR_NAME = "istio-proxy"
#: UID the proxy runs as; iptables exempts its traffic, so an app with this UID bypasses the mesh.
PROXY_UID = 1337

INJECT_KEY = "sidecar.istio.io/inject"
STATUS_ANNOTATION = "sidecar.istio.io/status"
REV_KEY = "istio.io/rev"
INJECTION_NS_LABEL = "istio-injection"
DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode"


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value


def _stringify_map(value: Any) -> Any:
    # Hand-written manifests carry unquoted numbers/booleans as label values (`version: 1`);
    # the API server would store them as strings, so we do the same instead of rejecting them.
    if isinstance(value, dict):
        return {str(k): v if isinstance(v, str) else json.dumps(v) if isinstance(v, bool) else str(v) for k, v in value.items() if v is not None}
    return value


StrMap = Annotated[dict[str, str], BeforeValidator(_stringify_map)]


def _lenient_time(value: Any) -> Any:
    # Timestamps only order and age things; an unparseable one (test goldens write
    # `lastTransitionTime: fake`) is "unknown", not a reason to reject the whole object.
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value


Timestamp = Annotated[datetime | None, BeforeValidator(_lenient_time)]


class KubeModel(BaseModel):
    """Base for every model of data we do not own: typed where read, tolerant elsewhere."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        arbitrary_types_allowed=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return _drop_nones(data)


class OwnerReference(KubeModel):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool = False


class ObjectMeta(KubeModel):
    name: str = ""
    namespace: str | None = None
    labels: StrMap = {}
    annotations: StrMap = {}
    uid: str | None = None
    creation_timestamp: Timestamp = None
    deletion_timestamp: Timestamp = None
    owner_references: list[OwnerReference] = []
    generation: int | None = None
    resource_version: str | None = None
    generate_name: str | None = None


class K8sObject(KubeModel):
    """Any Kubernetes object. Subclasses set ``KIND`` (and ``API_GROUPS`` when the kind name is
    ambiguous, e.g. Istio's and Gateway API's ``Gateway``) so list parsing can skip other kinds."""

    KIND: ClassVar[str | None] = None
    API_GROUPS: ClassVar[tuple[str, ...]] = ()

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = ObjectMeta()

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.labels

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.annotations

    @property
    def api_group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def ref(self) -> str:
        """``Kind ns/name`` (cluster-scoped: ``Kind name``), the form used in findings."""
        kind = self.kind or self.KIND or "object"
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"

    @classmethod
    def accepts(cls, kind: str | None, api_version: str | None) -> bool:
        """Whether a raw object of this kind/apiVersion belongs to this model."""
        if cls.KIND is None or not kind:
            return True
        if kind != cls.KIND:
            return False
        if cls.API_GROUPS and api_version:
            group = api_version.rpartition("/")[0] if "/" in api_version else ""
            return group in cls.API_GROUPS
        return True


class LabelSelectorRequirement(KubeModel):
    key: str
    operator: str
    values: list[str] = []


class LabelSelector(KubeModel):
    """``metav1.LabelSelector`` with Kubernetes matching semantics."""

    match_labels: StrMap = {}
    match_expressions: list[LabelSelectorRequirement] = []

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: dict[str, str] | None) -> bool:
        """Kubernetes semantics: every matchLabels pair and every expression must hold; an
        empty selector matches everything. ``NotIn`` also matches objects *without* the key,
        which is exactly why ``sidecar.istio.io/inject NotIn [false]`` selects unlabeled pods."""
        labels = labels or {}
        for k, v in self.match_labels.items():
            if labels.get(k) != v:
                return False
        for req in self.match_expressions:
            present = req.key in labels
            op = req.operator
            if op == "In":
                if not present or labels[req.key] not in req.values:
                    return False
            elif op == "NotIn":
                if present and labels[req.key] in req.values:
                    return False
            elif op == "Exists":
                if not present:
                    return False
            elif op == "DoesNotExist":
                if present:
                    return False
            else:
                # The API server rejects unknown operators, so this only happens on corrupt
                # input; not matching is the conservative answer (no injection predicted).
                return False
        return True


class Condition(KubeModel):
    """The common condition shape (pods, deployments, Gateway API status...)."""

    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None
    last_transition_time: Timestamp = None
    observed_generation: int | None = None

    @property
    def is_true(self) -> bool:
        return self.status == "True"


# --------------------------------------------------------------------------------------
# Pod
# --------------------------------------------------------------------------------------


class ContainerPort(KubeModel):
    name: str | None = None
    container_port: int
    protocol: str = "TCP"
    host_port: int | None = None


class SecurityContext(KubeModel):
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    privileged: bool | None = None


class HTTPGetAction(KubeModel):
    path: str | None = None
    port: int | str
    scheme: str = "HTTP"
    host: str | None = None


class PortAction(KubeModel):
    port: int | str
    host: str | None = None


class Probe(KubeModel):
    http_get: HTTPGetAction | None = None
    tcp_socket: PortAction | None = None
    grpc: dict[str, Any] | None = None
    exec: dict[str, Any] | None = None
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None
    failure_threshold: int | None = None


class EnvVar(KubeModel):
    name: str
    value: str | None = None


class Container(KubeModel):
    name: str
    image: str | None = None
    ports: list[ContainerPort] = []
    args: list[str] = []
    command: list[str] = []
    env: list[EnvVar] = []
    security_context: SecurityContext | None = None
    restart_policy: str | None = None  # only on init containers: "Always" = native sidecar
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    startup_probe: Probe | None = None

    def env_value(self, name: str) -> str | None:
        for e in self.env:
            if e.name == name:
                return e.value
        return None


class PodSecurityContext(KubeModel):
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    fs_group: int | None = None


class PodSpec(KubeModel):
    containers: list[Container] = []
    init_containers: list[Container] = []
    host_network: bool = False
    security_context: PodSecurityContext | None = None
    service_account_name: str | None = None
    node_name: str | None = None
    restart_policy: str | None = None


class ContainerStateWaiting(KubeModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(KubeModel):
    started_at: Timestamp = None


class ContainerStateTerminated(KubeModel):
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    started_at: Timestamp = None
    finished_at: Timestamp = None


class ContainerState(KubeModel):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None

    @property
    def summary(self) -> str:
        """One word, as `kubectl get pods` STATUS would show for this container."""
        if self.waiting is not None:
            return self.waiting.reason or "Waiting"
        if self.terminated is not None:
            return self.terminated.reason or "Terminated"
        if self.running is not None:
            return "Running"
        return "Unknown"


class ContainerStatus(KubeModel):
    name: str
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    image: str | None = None
    image_id: str | None = Field(default=None, alias="imageID")
    state: ContainerState = ContainerState()
    last_state: ContainerState = ContainerState()


class PodIP(KubeModel):
    ip: str


class PodStatus(KubeModel):
    phase: str | None = None
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_ips: list[PodIP] = Field(default=[], alias="podIPs")
    host_ip: str | None = Field(default=None, alias="hostIP")
    conditions: list[Condition] = []
    container_statuses: list[ContainerStatus] = []
    init_container_statuses: list[ContainerStatus] = []
    reason: str | None = None
    message: str | None = None
    start_time: Timestamp = None


class InjectionStatus(KubeModel):
    """The ``sidecar.istio.io/status`` annotation the injector writes: what it added."""

    init_containers: list[str] = []
    containers: list[str] = []
    volumes: list[str] = []
    image_pull_secrets: list[str] = []
    revision: str | None = None
    version: str | None = None  # pre-1.6 injectors wrote a template hash here


class WorkloadRef(NamedTuple):
    kind: str
    name: str


class ProbeRef(NamedTuple):
    container: str
    kind: str  # readiness | liveness | startup
    probe: Probe


_POD_TEMPLATE_HASH = "pod-template-hash"


class Pod(K8sObject):
    KIND: ClassVar[str | None] = "Pod"

    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()

    # -- sidecar ------------------------------------------------------------------------
    @property
    def sidecar(self) -> Container | None:
        """The running ``istio-proxy`` container, classic or native.

        The exact name matters: app containers called ``proxy`` or ``istio-proxy-sidecar`` are
        not the mesh proxy. In ``initContainers`` only ``restartPolicy: Always`` makes it a
        native sidecar that keeps running; any other init container named ``istio-proxy``
        runs to completion before the app starts and proxies nothing.
        """
        for c in self.spec.containers:
            if c.name == SIDECAR_NAME:
                return c
        for c in self.spec.init_containers:
            if c.name == SIDECAR_NAME and c.restart_policy == "Always":
                return c
        return None

    @property
    def has_sidecar(self) -> bool:
        return self.sidecar is not None

    @property
    def is_native_sidecar(self) -> bool:
        return any(c.name == SIDECAR_NAME and c.restart_policy == "Always" for c in self.spec.init_containers) and not any(
            c.name == SIDECAR_NAME for c in self.spec.containers
        )

    @property
    def app_containers(self) -> list[Container]:
        return [c for c in self.spec.containers if c.name != SIDECAR_NAME]

    @property
    def proxy_image(self) -> str | None:
        sc = self.sidecar
        return sc.image if sc else None

    @property
    def injection_status(self) -> InjectionStatus | None:
        """Parsed ``sidecar.istio.io/status``; ``None`` when absent or not valid JSON (a pod
        edited by hand can carry garbage; that must read as "not injected", not crash)."""
        raw = self.annotations.get(STATUS_ANNOTATION)
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            return InjectionStatus.model_validate(data)
        except ValidationError:
            return None

    @property
    def revision(self) -> str | None:
        """Control-plane revision that injected (or should inject) this pod."""
        rev = self.labels.get(REV_KEY) or self.annotations.get(REV_KEY)
        if rev:
            return rev
        status = self.injection_status
        return status.revision if status and status.revision else None

    @property
    def inject_label(self) -> str | None:
        return self.labels.get(INJECT_KEY)

    @property
    def inject_annotation(self) -> str | None:
        return self.annotations.get(INJECT_KEY)

    @property
    def is_gateway(self) -> bool:
        """A gateway runs the proxy as its only container (``router`` mode)."""
        if self.labels.get("istio") in ("ingressgateway", "egressgateway") or "gateway.istio.io/managed" in self.labels:
            return True
        sc = self.sidecar
        if sc is None:
            return False
        return not self.app_containers or "router" in sc.args

    # -- status -------------------------------------------------------------------------
    @property
    def ip(self) -> str | None:
        if self.status.pod_ip:
            return self.status.pod_ip
        return self.status.pod_ips[0].ip if self.status.pod_ips else None

    @property
    def phase(self) -> str | None:
        return self.status.phase

    def condition(self, type_: str) -> Condition | None:
        for c in self.status.conditions:
            if c.type == type_:
                return c
        return None

    @property
    def ready(self) -> bool:
        c = self.condition("Ready")
        return c is not None and c.is_true

    def container_status(self, name: str) -> ContainerStatus | None:
        for s in (*self.status.container_statuses, *self.status.init_container_statuses):
            if s.name == name:
                return s
        return None

    @property
    def sidecar_status(self) -> ContainerStatus | None:
        return self.container_status(SIDECAR_NAME) if self.has_sidecar else None

    # -- identity -------------------------------------------------------------------------
    @property
    def controller(self) -> OwnerReference | None:
        refs = self.metadata.owner_references
        for r in refs:
            if r.controller:
                return r
        return refs[0] if refs else None

    @property
    def owner_workload(self) -> WorkloadRef | None:
        """The workload that owns the pod; a ReplicaSet named ``<deploy>-<pod-template-hash>``
        is reported as its Deployment, which is what users name and restart."""
        ref = self.controller
        if ref is None:
            return None
        if ref.kind == "ReplicaSet":
            h = self.labels.get(_POD_TEMPLATE_HASH)
            if h and ref.name.endswith("-" + h):
                return WorkloadRef("Deployment", ref.name[: -len(h) - 1])
        return WorkloadRef(ref.kind, ref.name)

    # -- security / probes ------------------------------------------------------------------
    def effective_run_as_user(self, container: Container) -> int | None:
        if container.security_context and container.security_context.run_as_user is not None:
            return container.security_context.run_as_user
        return self.spec.security_context.run_as_user if self.spec.security_context else None

    @property
    def uid_1337_containers(self) -> list[str]:
        """App containers running as the proxy's UID: their traffic escapes the iptables redirect."""
        return [c.name for c in self.app_containers if self.effective_run_as_user(c) == PROXY_UID]

    @property
    def probes(self) -> list[ProbeRef]:
        out: list[ProbeRef] = []
        for c in self.app_containers:
            for kind, p in (("readiness", c.readiness_probe), ("liveness", c.liveness_probe), ("startup", c.startup_probe)):
                if p is not None:
                    out.append(ProbeRef(c.name, kind, p))
        return out


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


# --------------------------------------------------------------------------------------
# Admission webhooks
# --------------------------------------------------------------------------------------


def _ca_bundle_length(value: Any) -> Any:
    # We never keep the certificate bytes: a check only needs to know whether one is set,
    # and this model ends up in reports and recordings.
    if isinstance(value, str):
        return len(value)
    return value


class ServiceReference(KubeModel):
    name: str
    namespace: str
    port: int = 443
    path: str | None = None


class WebhookClientConfig(KubeModel):
    service: ServiceReference | None = None
    url: str | None = None
    ca_bundle_length: Annotated[int, BeforeValidator(_ca_bundle_length)] = Field(default=0, alias="caBundle")

    @property
    def has_ca_bundle(self) -> bool:
        return self.ca_bundle_length > 0


class RuleWithOperations(KubeModel):
    api_groups: list[str] = []
    api_versions: list[str] = []
    operations: list[str] = []
    resources: list[str] = []
    scope: str | None = None


class MutatingWebhook(KubeModel):
    name: str
    client_config: WebhookClientConfig = WebhookClientConfig()
    namespace_selector: LabelSelector | None = None
    object_selector: LabelSelector | None = None
    failure_policy: str = "Fail"  # admissionregistration/v1 default
    rules: list[RuleWithOperations] = []
    reinvocation_policy: str | None = None
    side_effects: str | None = None
    match_policy: str | None = None
    timeout_seconds: int | None = None
    admission_review_versions: list[str] = []

    def matches(self, namespace_labels: dict[str, str] | None, object_labels: dict[str, str] | None) -> bool:
        """Whether the API server would call this webhook for a pod with ``object_labels`` in a
        namespace with ``namespace_labels`` (an absent selector selects everything)."""
        ns_ok = self.namespace_selector is None or self.namespace_selector.matches(namespace_labels)
        obj_ok = self.object_selector is None or self.object_selector.matches(object_labels)
        return ns_ok and obj_ok

    @property
    def intercepts_pod_create(self) -> bool:
        return any(
            ("pods" in r.resources or "*" in r.resources) and ("CREATE" in r.operations or "*" in r.operations) for r in self.rules
        )


class MutatingWebhookConfiguration(K8sObject):
    KIND: ClassVar[str | None] = "MutatingWebhookConfiguration"

    webhooks: list[MutatingWebhook] = []


# --------------------------------------------------------------------------------------
# Workloads, ConfigMaps, CRDs
# --------------------------------------------------------------------------------------


class PodTemplateSpec(KubeModel):
    metadata: ObjectMeta = ObjectMeta()
    spec: PodSpec = PodSpec()


class WorkloadSpec(KubeModel):
    replicas: int | None = None
    selector: LabelSelector = LabelSelector()
    template: PodTemplateSpec = PodTemplateSpec()


class WorkloadStatus(KubeModel):
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    unavailable_replicas: int = 0
    observed_generation: int | None = None
    conditions: list[Condition] = []


class _Workload(K8sObject):
    spec: WorkloadSpec = WorkloadSpec()
    status: WorkloadStatus = WorkloadStatus()

    @property
    def desired_replicas(self) -> int:
        # Kubernetes defaults spec.replicas to 1.
        return 1 if self.spec.replicas is None else self.spec.replicas

    def condition(self, type_: str) -> Condition | None:
        for c in self.status.conditions:
            if c.type == type_:
                return c
        return None

    @property
    def replica_failure(self) -> Condition | None:
        """``ReplicaFailure=True``: the controller cannot create pods (e.g. webhook denied)."""
        c = self.condition("ReplicaFailure")
        return c if c is not None and c.is_true else None

    def template_pod(self) -> Pod:
        """The pod this workload would create (name empty; namespace of the workload)."""
        meta = self.spec.template.metadata.model_copy(update={"namespace": self.namespace})
        return Pod(api_version="v1", kind="Pod", metadata=meta, spec=self.spec.template.spec)


class Deployment(_Workload):
    KIND: ClassVar[str | None] = "Deployment"


class ReplicaSet(_Workload):
    KIND: ClassVar[str | None] = "ReplicaSet"


class ConfigMap(K8sObject):
    KIND: ClassVar[str | None] = "ConfigMap"

    data: StrMap = {}


class CRDVersion(KubeModel):
    name: str
    served: bool = False
    storage: bool = False


class CRDNames(KubeModel):
    kind: str | None = None
    plural: str | None = None


class CRDSpec(KubeModel):
    group: str | None = None
    names: CRDNames = CRDNames()
    scope: str | None = None
    versions: list[CRDVersion] = []


GATEWAY_API_BUNDLE_LABEL = "gateway.networking.k8s.io/bundle-version"


class CustomResourceDefinition(K8sObject):
    KIND: ClassVar[str | None] = "CustomResourceDefinition"

    spec: CRDSpec = CRDSpec()

    @property
    def served_versions(self) -> list[str]:
        return [v.name for v in self.spec.versions if v.served]

    @property
    def storage_version(self) -> str | None:
        for v in self.spec.versions:
            if v.storage:
                return v.name
        return None

    @property
    def bundle_version(self) -> str | None:
        return self.labels.get(GATEWAY_API_BUNDLE_LABEL)


def pod_template_of(obj: K8sObject | dict[str, Any]) -> Pod | None:
    """The pod a manifest describes: a Pod itself, or the pod template of any workload
    (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob). ``None`` for other kinds."""
    raw = obj.model_dump(by_alias=True, exclude_none=True) if isinstance(obj, K8sObject) else obj
    kind = raw.get("kind")
    ns = (raw.get("metadata") or {}).get("namespace")
    if kind == "Pod":
        return Pod.model_validate(raw)
    spec = raw.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    if not isinstance(template, dict):
        return None
    meta = dict(template.get("metadata") or {})
    if ns and "namespace" not in meta:
        meta["namespace"] = ns
    return Pod.model_validate({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}})


# --------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------

T = TypeVar("T", bound=K8sObject)

# kubectl writes deprecation warnings and klog lines to stderr, but wrappers and `2>&1`
# recordings put them in front of the document; they never start a JSON/YAML document.
_NOISE_LINE = re.compile(r"^(Warning: |W\d{4} |I\d{4} |E\d{4} |No resources found)")


def _strip_noise(text: str) -> str:
    lines = text.splitlines()
    i = 0
    while i < len(lines) and (not lines[i].strip() or _NOISE_LINE.match(lines[i])):
        i += 1
    return "\n".join(lines[i:])


def load_documents(text: str, *, what: str = "Kubernetes output", command: str = "") -> list[Any]:
    """Decode kubectl output (JSON, YAML, multi-document YAML) into raw documents."""
    body = _strip_noise(text)
    if not body.strip():
        raise ParseError(what, "empty output", command=command)
    if body.lstrip()[:1] in ("{", "["):
        try:
            return [json.loads(body)]
        except json.JSONDecodeError as e:
            raise ParseError(what, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", command=command) from e
    try:
        docs = [d for d in yaml.safe_load_all(body) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ParseError(what, f"invalid YAML{where}: {problem}", command=command) from e
    if not docs:
        raise ParseError(what, "no document in output", command=command)
    return docs


def _flatten(docs: list[Any], what: str, command: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for doc in docs:
        if isinstance(doc, list):  # a bare JSON/YAML array of objects
            out.extend(_flatten(doc, what, command))
            continue
        if not isinstance(doc, dict):
            raise ParseError(what, f"expected an object, got {type(doc).__name__}: {str(doc)[:60]!r}", command=command)
        kind = doc.get("kind")
        if "items" in doc and (kind is None or (isinstance(kind, str) and kind.endswith("List"))):
            items = doc["items"]
            if items is None:
                continue
            if not isinstance(items, list):
                raise ParseError(what, "`items` is not a list", command=command)
            out.extend(_flatten(items, what, command))
            continue
        out.append(doc)
    return out


def describe_raw(doc: dict[str, Any], default_kind: str) -> str:
    """``Kind ns/name`` of a raw object, for error messages."""
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    kind = doc.get("kind") or default_kind
    name = meta.get("name") or "<unnamed>"
    ns = meta.get("namespace")
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


def format_validation_error(e: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in e.errors()[:limit]:
        loc = ".".join(str(x) for x in err["loc"])
        got = err.get("input")
        got_s = f" (got {type(got).__name__} {str(got)[:40]!r})" if not isinstance(got, (dict, list)) else f" (got {type(got).__name__})"
        parts.append(f"{loc}: {err['msg']}{got_s}")
    more = len(e.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def validate_raw(doc: dict[str, Any], model: type[T], *, command: str = "") -> T:
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        raise ParseError(describe_raw(doc, model.KIND or model.__name__), format_validation_error(e), command=command) from e


def parse_kube_list(text: str, model: type[T], *, command: str = "") -> list[T]:
    """Objects of ``model``'s kind from a ``List``/``<Kind>List`` (JSON or YAML), a single
    object, a bare array, or multi-document YAML. Objects of other kinds are skipped, so a
    whole install manifest can be searched for its ConfigMaps."""
    what = f"{model.KIND or model.__name__} list"
    docs = load_documents(text, what=what, command=command)
    objs = _flatten(docs, what, command)
    return [validate_raw(d, model, command=command) for d in objs if model.accepts(d.get("kind"), d.get("apiVersion"))]


def parse_kube_object(text: str, model: type[T], *, command: str = "") -> T:
    """Exactly one object of ``model``'s kind (``kubectl get KIND NAME -o json``)."""
    what = model.KIND or model.__name__
    objs = parse_kube_list(text, model, command=command)
    if not objs:
        raise ParseError(what, f"no {what} object in output", command=command)
    if len(objs) > 1:
        raise ParseError(what, f"expected one {what}, got {len(objs)}", command=command)
    return objs[0]
