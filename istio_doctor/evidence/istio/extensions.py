"""Resources that patch or observe the proxy: ``EnvoyFilter`` (networking.istio.io, match and patch)
and ``Telemetry`` (telemetry.istio.io, access-log providers).
"""

from __future__ import annotations

from typing import Any, ClassVar

from istio_doctor.evidence.istio.resource import (
    NETWORKING,
    TELEMETRY,
    IstioResource,
    PolicyTargetReference,
    WorkloadSelector,
)
from istio_doctor.evidence.kube import KubeModel, LabelSelector, StrMap

# --------------------------------------------------------------------------------------
# EnvoyFilter, Telemetry
# --------------------------------------------------------------------------------------


class ProxyMatch(KubeModel):
    proxy_version: str | None = None
    metadata: StrMap = {}


class EnvoyConfigObjectMatch(KubeModel):
    context: str | None = None  # ANY | SIDECAR_INBOUND | SIDECAR_OUTBOUND | GATEWAY
    proxy: ProxyMatch | None = None
    listener: dict[str, Any] | None = None
    route_configuration: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None


class Patch(KubeModel):
    operation: str | None = None
    value: dict[str, Any] | None = None
    filter_class: str | None = None


class EnvoyConfigObjectPatch(KubeModel):
    apply_to: str | None = None
    match: EnvoyConfigObjectMatch | None = None
    patch: Patch | None = None


class EnvoyFilterSpec(KubeModel):
    workload_selector: WorkloadSelector | None = None
    target_refs: list[PolicyTargetReference] = []
    config_patches: list[EnvoyConfigObjectPatch] = []
    priority: int = 0


class EnvoyFilter(IstioResource):
    KIND: ClassVar[str | None] = "EnvoyFilter"
    API_GROUPS: ClassVar[tuple[str, ...]] = NETWORKING

    spec: EnvoyFilterSpec = EnvoyFilterSpec()


class ProviderRef(KubeModel):
    name: str


class AccessLogging(KubeModel):
    providers: list[ProviderRef] = []
    disabled: bool | None = None
    match: dict[str, Any] | None = None
    filter: dict[str, Any] | None = None


class TelemetrySpec(KubeModel):
    selector: LabelSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = []
    access_logging: list[AccessLogging] = []
    tracing: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []


class Telemetry(IstioResource):
    KIND: ClassVar[str | None] = "Telemetry"
    API_GROUPS: ClassVar[tuple[str, ...]] = TELEMETRY

    spec: TelemetrySpec = TelemetrySpec()
