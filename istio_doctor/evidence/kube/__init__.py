"""Typed models of the Kubernetes objects istio-doctor reads, and the parsers that build them.

Only fields that checks read are typed; everything else a cluster returns is tolerated
(``extra="allow"``) because we do not own the Kubernetes schema and new fields appear every
release. Field names are snake_case in Python and camelCase on the wire (``populate_by_name``
so both work). ``null`` values are dropped before validation: the API server and the Istio
injector both write ``null`` for empty lists (``"containers":null``), and a check should see
an empty list, not ``None``.

Every parser raises :class:`~istio_doctor.evidence.errors.ParseError` naming the command and
the object on bad input, never a raw JSON/YAML/pydantic exception.

Layout (each submodule's docstring states its contract; import from this package):

* ``meta``: Istio label/annotation keys, ``KubeModel``, ``ObjectMeta``, ``K8sObject``, ``LabelSelector``, ``Condition``
* ``pod``: ``Pod`` and its parts
* ``services``: ``Service``, ``Namespace``, ``EndpointSlice``, ``Endpoints``, ``Event``
* ``admission``: ``MutatingWebhookConfiguration``, ``MutatingWebhook``
* ``workloads``: ``Deployment``, ``ReplicaSet``, ``pod_template_of``
* ``config``: ``ConfigMap``, ``CustomResourceDefinition``
* ``parse``: ``load_documents``, ``parse_kube_list``, ``parse_kube_object``, ``validate_raw``, ``format_validation_error``
"""

from __future__ import annotations

from istio_doctor.evidence.kube.admission import (
    MutatingWebhook,
    MutatingWebhookConfiguration,
    RuleWithOperations,
    ServiceReference,
    WebhookClientConfig,
)
from istio_doctor.evidence.kube.config import (
    GATEWAY_API_BUNDLE_LABEL,
    ConfigMap,
    CRDNames,
    CRDSpec,
    CRDVersion,
    CustomResourceDefinition,
)
from istio_doctor.evidence.kube.meta import (
    DATAPLANE_MODE_LABEL,
    INJECT_KEY,
    INJECTION_NS_LABEL,
    PROXY_UID,
    REV_KEY,
    SIDECAR_NAME,
    STATUS_ANNOTATION,
    Condition,
    K8sObject,
    KubeModel,
    LabelSelector,
    LabelSelectorRequirement,
    ObjectMeta,
    OwnerReference,
    StrMap,
    Timestamp,
)
from istio_doctor.evidence.kube.parse import (
    describe_raw,
    format_validation_error,
    load_documents,
    parse_kube_list,
    parse_kube_object,
    validate_raw,
)
from istio_doctor.evidence.kube.pod import (
    Container,
    ContainerPort,
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    EnvVar,
    HTTPGetAction,
    InjectionStatus,
    Pod,
    PodIP,
    PodSecurityContext,
    PodSpec,
    PodStatus,
    PortAction,
    Probe,
    ProbeRef,
    SecurityContext,
    WorkloadRef,
)
from istio_doctor.evidence.kube.services import (
    SERVICE_NAME_LABEL,
    EndpointAddress,
    EndpointConditions,
    EndpointPort,
    Endpoints,
    EndpointSlice,
    EndpointSubset,
    Event,
    EventSource,
    Namespace,
    ObjectReference,
    Service,
    ServicePort,
    ServiceSpec,
    SliceEndpoint,
)
from istio_doctor.evidence.kube.workloads import (
    Deployment,
    PodTemplateSpec,
    ReplicaSet,
    WorkloadSpec,
    WorkloadStatus,
    pod_template_of,
)

__all__ = [
    "Condition",
    "ConfigMap",
    "Container",
    "ContainerPort",
    "ContainerState",
    "ContainerStateRunning",
    "ContainerStateTerminated",
    "ContainerStateWaiting",
    "ContainerStatus",
    "CRDNames",
    "CRDSpec",
    "CRDVersion",
    "CustomResourceDefinition",
    "DATAPLANE_MODE_LABEL",
    "Deployment",
    "describe_raw",
    "EndpointAddress",
    "EndpointConditions",
    "EndpointPort",
    "Endpoints",
    "EndpointSlice",
    "EndpointSubset",
    "EnvVar",
    "Event",
    "EventSource",
    "format_validation_error",
    "GATEWAY_API_BUNDLE_LABEL",
    "HTTPGetAction",
    "INJECT_KEY",
    "INJECTION_NS_LABEL",
    "InjectionStatus",
    "K8sObject",
    "KubeModel",
    "LabelSelector",
    "LabelSelectorRequirement",
    "load_documents",
    "MutatingWebhook",
    "MutatingWebhookConfiguration",
    "Namespace",
    "ObjectMeta",
    "ObjectReference",
    "OwnerReference",
    "parse_kube_list",
    "parse_kube_object",
    "Pod",
    "pod_template_of",
    "PodIP",
    "PodSecurityContext",
    "PodSpec",
    "PodStatus",
    "PodTemplateSpec",
    "PortAction",
    "Probe",
    "ProbeRef",
    "PROXY_UID",
    "ReplicaSet",
    "REV_KEY",
    "RuleWithOperations",
    "SecurityContext",
    "Service",
    "SERVICE_NAME_LABEL",
    "ServicePort",
    "ServiceReference",
    "ServiceSpec",
    "SIDECAR_NAME",
    "SliceEndpoint",
    "STATUS_ANNOTATION",
    "StrMap",
    "Timestamp",
    "validate_raw",
    "WebhookClientConfig",
    "WorkloadRef",
    "WorkloadSpec",
    "WorkloadStatus",
]
