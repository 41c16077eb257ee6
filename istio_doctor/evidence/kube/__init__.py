"""Typed models of the Kubernetes objects istio-doctor reads, and the parsers that build them.

Only fields that checks read are typed; everything else a cluster returns is tolerated
(``extra="allow"``) because we do not own the Kubernetes schema and new fields appear every
release. Field names are snake_case in Python and camelCase on the wire (``populate_by_name``
so both work). ``null`` values are dropped before validation: the API server and the Istio
injector both write ``null`` for empty lists (``"containers":null``), and a check should see
an empty list, not ``None``.

Every parser raises :class:`~istio_doctor.evidence.errors.ParseError` naming the command and
the object on bad input, never a raw JSON/YAML/pydantic exception.

Layout (each submodule's docstring states its contract). The package exports what the other
layers read: the top-level objects, the keys checks compare and the parsers. The parts of an
object (``Container``, ``ServiceSpec``…) are reached through its fields, or imported from their
submodule by the code that builds them:

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
)
from istio_doctor.evidence.kube.config import (
    ConfigMap,
    CustomResourceDefinition,
)
from istio_doctor.evidence.kube.meta import (
    DATAPLANE_MODE_LABEL,
    INJECT_KEY,
    INJECTION_NS_LABEL,
    REV_KEY,
    SIDECAR_NAME,
    STATUS_ANNOTATION,
    Condition,
    K8sObject,
    KubeModel,
    LabelSelector,
    StrMap,
)
from istio_doctor.evidence.kube.parse import (
    format_validation_error,
    load_documents,
    parse_kube_list,
    parse_kube_object,
    validate_raw,
)
from istio_doctor.evidence.kube.pod import (
    Pod,
    WorkloadRef,
)
from istio_doctor.evidence.kube.services import (
    Endpoints,
    EndpointSlice,
    Event,
    Namespace,
    Service,
    ServicePort,
)
from istio_doctor.evidence.kube.workloads import (
    Deployment,
    PodTemplateSpec,
    ReplicaSet,
    pod_template_of,
)

__all__ = [
    "Condition",
    "ConfigMap",
    "CustomResourceDefinition",
    "DATAPLANE_MODE_LABEL",
    "Deployment",
    "Endpoints",
    "EndpointSlice",
    "Event",
    "format_validation_error",
    "INJECT_KEY",
    "INJECTION_NS_LABEL",
    "K8sObject",
    "KubeModel",
    "LabelSelector",
    "load_documents",
    "MutatingWebhook",
    "MutatingWebhookConfiguration",
    "Namespace",
    "parse_kube_list",
    "parse_kube_object",
    "Pod",
    "pod_template_of",
    "PodTemplateSpec",
    "ReplicaSet",
    "REV_KEY",
    "Service",
    "ServicePort",
    "SIDECAR_NAME",
    "STATUS_ANNOTATION",
    "StrMap",
    "validate_raw",
    "WorkloadRef",
]
