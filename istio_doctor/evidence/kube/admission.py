"""``MutatingWebhookConfiguration`` and ``MutatingWebhook``: the injector's webhooks and the
selector semantics the API server applies before it calls one.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field

from istio_doctor.evidence.kube.meta import K8sObject, KubeModel, LabelSelector

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
