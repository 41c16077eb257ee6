"""``networking.istio.io`` models: ``VirtualService`` (HTTP/TLS/TCP routes, matches, retries,
faults, delegation), ``DestinationRule`` (traffic policy, TLS settings, subsets), ``Gateway``,
``ServiceEntry``, ``WorkloadEntry`` and ``Sidecar``. ``EnvoyFilter`` lives in ``extensions``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field

from istio_doctor.evidence.istio.resource import NETWORKING, IstioResource, PortSelector, WorkloadSelector
from istio_doctor.evidence.kube import KubeModel, StrMap

# --------------------------------------------------------------------------------------
# VirtualService
# --------------------------------------------------------------------------------------


class StringMatch(KubeModel):
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    def matches(self, value: str) -> bool:
        """Envoy semantics: regex is RE2 with full-string match; Python ``re`` is close enough
        for the patterns users write in routes (no backreferences in RE2 anyway)."""
        if self.exact is not None:
            return value == self.exact
        if self.prefix is not None:
            return value.startswith(self.prefix)
        if self.regex is not None:
            try:
                return re.fullmatch(self.regex, value) is not None
            except re.error:
                return False
        return True


class HTTPMatchRequest(KubeModel):
    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] = {}
    without_headers: dict[str, StringMatch] = {}
    query_params: dict[str, StringMatch] = {}
    port: int | None = None
    source_labels: StrMap = {}
    source_namespace: str | None = None
    gateways: list[str] = []
    ignore_uri_case: bool = False


class Destination(KubeModel):
    host: str
    subset: str | None = None
    port: PortSelector | None = None


class HTTPRouteDestination(KubeModel):
    destination: Destination
    weight: int | None = None
    headers: dict[str, Any] = {}


class Percent(KubeModel):
    value: float = 0.0


class HTTPRetry(KubeModel):
    attempts: int | None = None
    per_try_timeout: str | None = None
    retry_on: str | None = None


class FaultAbort(KubeModel):
    http_status: int | None = None
    grpc_status: str | None = None
    percentage: Percent | None = None


class FaultDelay(KubeModel):
    fixed_delay: str | None = None
    percentage: Percent | None = None
    percent: int | None = None  # deprecated integer form


class HTTPFaultInjection(KubeModel):
    abort: FaultAbort | None = None
    delay: FaultDelay | None = None


class Delegate(KubeModel):
    name: str
    namespace: str | None = None


class HTTPRoute(KubeModel):
    name: str | None = None
    match: list[HTTPMatchRequest] = []
    route: list[HTTPRouteDestination] = []
    redirect: dict[str, Any] | None = None
    direct_response: dict[str, Any] | None = None
    rewrite: dict[str, Any] | None = None
    delegate: Delegate | None = None
    timeout: str | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirror_percentage: Percent | None = None

    @property
    def is_catch_all(self) -> bool:
        """A rule without match conditions matches every request on its hosts."""
        return not self.match


class TLSMatchAttributes(KubeModel):
    sni_hosts: list[str] = []
    port: int | None = None
    destination_subnets: list[str] = []
    gateways: list[str] = []
    source_labels: StrMap = {}


class RouteDestination(KubeModel):
    destination: Destination
    weight: int | None = None


class TLSRoute(KubeModel):
    match: list[TLSMatchAttributes] = []
    route: list[RouteDestination] = []


class L4MatchAttributes(KubeModel):
    port: int | None = None
    destination_subnets: list[str] = []
    gateways: list[str] = []
    source_labels: StrMap = {}


class TCPRoute(KubeModel):
    match: list[L4MatchAttributes] = []
    route: list[RouteDestination] = []


class VirtualServiceSpec(KubeModel):
    hosts: list[str] = []
    gateways: list[str] = []
    export_to: list[str] = []
    http: list[HTTPRoute] = []
    tls: list[TLSRoute] = []
    tcp: list[TCPRoute] = []


class VirtualService(IstioResource):
    KIND: ClassVar[str | None] = "VirtualService"
    API_GROUPS: ClassVar[tuple[str, ...]] = NETWORKING

    spec: VirtualServiceSpec = VirtualServiceSpec()

    @property
    def destinations(self) -> list[Destination]:
        """Every destination the VS can send traffic to (routes and mirrors)."""
        out: list[Destination] = []
        for h in self.spec.http:
            out.extend(r.destination for r in h.route)
            if h.mirror is not None:
                out.append(h.mirror)
        for t in self.spec.tls:
            out.extend(r.destination for r in t.route)
        for c in self.spec.tcp:
            out.extend(r.destination for r in c.route)
        return out

    @property
    def applies_to_mesh(self) -> bool:
        """No ``gateways`` means sidecars only; otherwise the reserved name ``mesh`` must be listed."""
        return not self.spec.gateways or "mesh" in self.spec.gateways


# --------------------------------------------------------------------------------------
# DestinationRule
# --------------------------------------------------------------------------------------


class ClientTLSSettings(KubeModel):
    mode: str | None = None  # DISABLE | SIMPLE | MUTUAL | ISTIO_MUTUAL
    sni: str | None = None
    subject_alt_names: list[str] = []
    ca_certificates: str | None = None
    credential_name: str | None = None
    client_certificate: str | None = None
    insecure_skip_verify: bool | None = None


class TCPSettings(KubeModel):
    max_connections: int | None = None
    connect_timeout: str | None = None


class HTTPSettings(KubeModel):
    http1_max_pending_requests: int | None = Field(default=None, alias="http1MaxPendingRequests")
    http2_max_requests: int | None = Field(default=None, alias="http2MaxRequests")
    max_requests_per_connection: int | None = None
    max_retries: int | None = None
    idle_timeout: str | None = None
    h2_upgrade_policy: str | None = Field(default=None, alias="h2UpgradePolicy")


class ConnectionPoolSettings(KubeModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(KubeModel):
    consecutive_5xx_errors: int | None = Field(default=None, alias="consecutive5xxErrors")
    consecutive_gateway_errors: int | None = None
    consecutive_errors: int | None = None  # deprecated
    interval: str | None = None
    base_ejection_time: str | None = None
    max_ejection_percent: int | None = None
    min_health_percent: int | None = None


class LoadBalancerSettings(KubeModel):
    simple: str | None = None
    consistent_hash: dict[str, Any] | None = None
    locality_lb_setting: dict[str, Any] | None = None


class PortTrafficPolicy(KubeModel):
    port: PortSelector | None = None
    tls: ClientTLSSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    load_balancer: LoadBalancerSettings | None = None


class TrafficPolicy(KubeModel):
    tls: ClientTLSSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    load_balancer: LoadBalancerSettings | None = None
    port_level_settings: list[PortTrafficPolicy] = []

    def tls_for_port(self, port: int | None) -> ClientTLSSettings | None:
        """Port-level TLS wins over the policy-level one (Istio merges per port)."""
        if port is not None:
            for p in self.port_level_settings:
                if p.port is not None and p.port.number == port and p.tls is not None:
                    return p.tls
        return self.tls


class Subset(KubeModel):
    name: str
    labels: StrMap = {}
    traffic_policy: TrafficPolicy | None = None

    def selects(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(labels.get(k) == v for k, v in self.labels.items())


class DestinationRuleSpec(KubeModel):
    host: str = ""
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] = []
    export_to: list[str] = []
    workload_selector: WorkloadSelector | None = None


class DestinationRule(IstioResource):
    KIND: ClassVar[str | None] = "DestinationRule"
    API_GROUPS: ClassVar[tuple[str, ...]] = NETWORKING

    spec: DestinationRuleSpec = DestinationRuleSpec()

    def subset(self, name: str) -> Subset | None:
        for s in self.spec.subsets:
            if s.name == name:
                return s
        return None


# --------------------------------------------------------------------------------------
# Gateway, ServiceEntry, Sidecar, WorkloadEntry
# --------------------------------------------------------------------------------------


class GatewayPort(KubeModel):
    number: int
    name: str | None = None
    protocol: str = ""
    target_port: int | None = None


class ServerTLSSettings(KubeModel):
    mode: str | None = None  # PASSTHROUGH | SIMPLE | MUTUAL | AUTO_PASSTHROUGH | ISTIO_MUTUAL | OPTIONAL_MUTUAL
    credential_name: str | None = None
    https_redirect: bool = False
    server_certificate: str | None = None
    ca_certificates: str | None = None
    subject_alt_names: list[str] = []


class Server(KubeModel):
    port: GatewayPort
    hosts: list[str] = []
    tls: ServerTLSSettings | None = None
    bind: str | None = None
    name: str | None = None


class GatewaySpec(KubeModel):
    selector: StrMap = {}
    servers: list[Server] = []


class Gateway(IstioResource):
    """Istio ``networking.istio.io`` Gateway (for Gateway API see :class:`K8sGateway`)."""

    KIND: ClassVar[str | None] = "Gateway"
    API_GROUPS: ClassVar[tuple[str, ...]] = NETWORKING

    spec: GatewaySpec = GatewaySpec()


class WorkloadEntrySpec(KubeModel):
    address: str | None = None
    ports: dict[str, int] = {}
    labels: StrMap = {}
    network: str | None = None
    locality: str | None = None
    weight: int | None = None
    service_account: str | None = None


class ServiceEntryPort(KubeModel):
    number: int
    protocol: str | None = None
    name: str | None = None
    target_port: int | None = None


class ServiceEntrySpec(KubeModel):
    hosts: list[str] = []
    addresses: list[str] = []
    ports: list[ServiceEntryPort] = []
    location: str | None = None  # MESH_EXTERNAL | MESH_INTERNAL
    resolution: str | None = None  # NONE | STATIC | DNS | DNS_ROUND_ROBIN
    endpoints: list[WorkloadEntrySpec] = []
    export_to: list[str] = []
    workload_selector: WorkloadSelector | None = None
    subject_alt_names: list[str] = []


class ServiceEntry(IstioResource):
    KIND: ClassVar[str | None] = "ServiceEntry"
    API_GROUPS: ClassVar[tuple[str, ...]] = NETWORKING

    spec: ServiceEntrySpec = ServiceEntrySpec()


class WorkloadEntry(IstioResource):
    KIND: ClassVar[str | None] = "WorkloadEntry"
    API_GROUPS: ClassVar[tuple[str, ...]] = NETWORKING

    spec: WorkloadEntrySpec = WorkloadEntrySpec()


class SidecarPort(KubeModel):
    number: int | None = None
    protocol: str | None = None
    name: str | None = None
    target_port: int | None = None


class IstioEgressListener(KubeModel):
    hosts: list[str] = []
    port: SidecarPort | None = None
    bind: str | None = None
    capture_mode: str | None = None


class IstioIngressListener(KubeModel):
    port: SidecarPort | None = None
    bind: str | None = None
    default_endpoint: str | None = None
    capture_mode: str | None = None


class OutboundTrafficPolicy(KubeModel):
    mode: str | None = None  # ALLOW_ANY | REGISTRY_ONLY


class SidecarSpec(KubeModel):
    workload_selector: WorkloadSelector | None = None
    egress: list[IstioEgressListener] = []
    ingress: list[IstioIngressListener] = []
    outbound_traffic_policy: OutboundTrafficPolicy | None = None


class Sidecar(IstioResource):
    KIND: ClassVar[str | None] = "Sidecar"
    API_GROUPS: ClassVar[tuple[str, ...]] = NETWORKING

    spec: SidecarSpec = SidecarSpec()
