"""What every Istio and Gateway API model shares: the API group tuples, ``IstioResource`` (metadata,
typed ``spec``, raw ``status`` with istiod's validation messages), the selectors
(``WorkloadSelector``, ``PolicyTargetReference``, ``PortSelector``), ``parse_istio_list`` and
``parse_duration`` (protobuf/Go duration strings in specs).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from istio_doctor.evidence.kube import K8sObject, KubeModel, StrMap, parse_kube_list

NETWORKING = ("networking.istio.io",)
SECURITY = ("security.istio.io",)
TELEMETRY = ("telemetry.istio.io",)
GATEWAY_API = ("gateway.networking.k8s.io",)


class IstioResource(K8sObject):
    """Base of every Istio / Gateway API resource: metadata, a typed ``spec``, raw ``status``."""

    status: dict[str, Any] = {}

    @property
    def validation_messages(self) -> list[dict[str, Any]]:
        """In-cluster analysis results istiod writes into status (when enabled)."""
        msgs = self.status.get("validationMessages")
        return msgs if isinstance(msgs, list) else []


class WorkloadSelector(KubeModel):
    """``workloadSelector: {labels: ...}`` (Sidecar, DestinationRule, ServiceEntry, EnvoyFilter)."""

    labels: StrMap = {}

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(labels.get(k) == v for k, v in self.labels.items())


class PolicyTargetReference(KubeModel):
    group: str | None = None
    kind: str | None = None
    name: str = ""
    namespace: str | None = None


class PortSelector(KubeModel):
    number: int | None = None


R = TypeVar("R", bound=K8sObject)


def parse_istio_list(text: str, model: type[R], *, command: str = "") -> list[R]:
    """Resources of ``model``'s kind and API group from kubectl output (any form
    :func:`~istio_doctor.evidence.kube.parse_kube_list` accepts)."""
    return parse_kube_list(text, model, command=command)


def parse_duration(value: str | None) -> float | None:
    """Seconds in a protobuf/Go duration string (``1.5s``, ``180.000s``, ``100ms``, ``1m30s``);
    ``None`` when absent or malformed."""
    if not value:
        return None
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)", value.strip())
    if not parts or "".join(n + u for n, u in parts) != value.strip():
        return None
    return sum(float(n) * units[u] for n, u in parts)
