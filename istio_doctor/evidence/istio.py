"""Typed models of Istio and Gateway API resources, across the apiVersions clusters serve.

The spec shapes of ``networking.istio.io`` v1alpha3, v1beta1 and v1 are the same, so one
model per kind accepts all three (likewise ``security.istio.io`` v1beta1/v1, Gateway API
v1beta1/v1). Fields checks read are typed; unknown fields are tolerated because newer Istio
releases add them. A wrong *type* in a field we read (``weight: heavy``) fails the parse with
a ``ParseError`` naming ``Kind ns/name``, so the user learns which resource is broken instead
of a check crashing later.

Also here: host matching helpers with Istio's semantics, which several checks share.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from istio_doctor.evidence.kube import Condition, K8sObject, KubeModel, LabelSelector, StrMap, parse_kube_list

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


# --------------------------------------------------------------------------------------
# security.istio.io
# --------------------------------------------------------------------------------------


class MutualTLS(KubeModel):
    mode: str | None = None  # UNSET | DISABLE | PERMISSIVE | STRICT


class PeerAuthenticationSpec(KubeModel):
    selector: LabelSelector | None = None
    mtls: MutualTLS | None = None
    port_level_mtls: dict[int, MutualTLS] = {}


class PeerAuthentication(IstioResource):
    KIND: ClassVar[str | None] = "PeerAuthentication"
    API_GROUPS: ClassVar[tuple[str, ...]] = SECURITY

    spec: PeerAuthenticationSpec = PeerAuthenticationSpec()

    @property
    def mode(self) -> str | None:
        return self.spec.mtls.mode if self.spec.mtls else None

    @property
    def is_workload_level(self) -> bool:
        return self.spec.selector is not None and not self.spec.selector.is_empty


class Source(KubeModel):
    principals: list[str] = []
    not_principals: list[str] = []
    request_principals: list[str] = []
    not_request_principals: list[str] = []
    namespaces: list[str] = []
    not_namespaces: list[str] = []
    ip_blocks: list[str] = []
    not_ip_blocks: list[str] = []
    remote_ip_blocks: list[str] = []
    not_remote_ip_blocks: list[str] = []


class Operation(KubeModel):
    hosts: list[str] = []
    not_hosts: list[str] = []
    ports: list[str] = []
    not_ports: list[str] = []
    methods: list[str] = []
    not_methods: list[str] = []
    paths: list[str] = []
    not_paths: list[str] = []


class RuleFrom(KubeModel):
    source: Source = Source()


class RuleTo(KubeModel):
    operation: Operation = Operation()


class Condition_(KubeModel):
    key: str
    values: list[str] = []
    not_values: list[str] = []


class AuthzRule(KubeModel):
    from_: list[RuleFrom] = Field(default=[], alias="from")
    to: list[RuleTo] = []
    when: list[Condition_] = []

    @property
    def needs_mtls(self) -> bool:
        """principals/namespaces are only known from a peer certificate (mTLS)."""
        return any(f.source.principals or f.source.not_principals or f.source.namespaces or f.source.not_namespaces for f in self.from_)


class AuthorizationPolicySpec(KubeModel):
    selector: LabelSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = []
    action: str = "ALLOW"
    provider: dict[str, Any] | None = None
    rules: list[AuthzRule] = []


class AuthorizationPolicy(IstioResource):
    KIND: ClassVar[str | None] = "AuthorizationPolicy"
    API_GROUPS: ClassVar[tuple[str, ...]] = SECURITY

    spec: AuthorizationPolicySpec = AuthorizationPolicySpec()

    @property
    def denies_all(self) -> bool:
        """``ALLOW`` with no rules allows nothing: the classic deny-all policy."""
        return self.spec.action == "ALLOW" and not self.spec.rules


class JWTRule(KubeModel):
    issuer: str | None = None
    jwks_uri: str | None = None
    jwks: str | None = None
    audiences: list[str] = []
    forward_original_token: bool = False


class RequestAuthenticationSpec(KubeModel):
    selector: LabelSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = []
    jwt_rules: list[JWTRule] = []


class RequestAuthentication(IstioResource):
    KIND: ClassVar[str | None] = "RequestAuthentication"
    API_GROUPS: ClassVar[tuple[str, ...]] = SECURITY

    spec: RequestAuthenticationSpec = RequestAuthenticationSpec()


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


# --------------------------------------------------------------------------------------
# parsing and host helpers
# --------------------------------------------------------------------------------------

R = TypeVar("R", bound=K8sObject)


def parse_istio_list(text: str, model: type[R], *, command: str = "") -> list[R]:
    """Resources of ``model``'s kind and API group from kubectl output (any form
    :func:`~istio_doctor.evidence.kube.parse_kube_list` accepts)."""
    return parse_kube_list(text, model, command=command)


def host_matches(pattern: str, host: str) -> bool:
    """Istio host matching: ``*`` matches everything, ``*.example.com`` matches any name
    ending in ``.example.com`` (any depth, as Istio's ``host.Name.Matches``), and a wildcard
    ``host`` is matched only by an equal or wider wildcard pattern. Case-insensitive."""
    p, h = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if p == "*":
        return True
    if p.startswith("*"):
        suffix = p[1:]
        if h.startswith("*"):
            return h[1:].endswith(suffix)
        return h.endswith(suffix)
    if h.startswith("*"):
        return False
    return p == h


def hosts_intersect(a: str, b: str) -> bool:
    """Whether two host patterns can match a common name (e.g. VS host vs Gateway host)."""
    return host_matches(a, b) or host_matches(b, a)


def istio_resolve_host(host: str, namespace: str, domain: str = "cluster.local") -> str:
    """What Istio itself makes of a host in VS/DR config: only a *dotless* short name is
    expanded with the resource's namespace; ``reviews.default`` stays literally
    ``reviews.default`` (and then matches no service: a classic misconfiguration)."""
    if host.startswith("*") or "." in host:
        return host
    return f"{host}.{namespace}.svc.{domain}"


def fqdn(host: str, namespace: str, domain: str = "cluster.local") -> str:
    """The Kubernetes service FQDN a user means by ``host`` (DNS search-path semantics):
    ``reviews`` in ``default`` and ``reviews.default`` both give
    ``reviews.default.svc.cluster.local``; ``reviews.default.svc`` gets the domain appended;
    anything else (external names, FQDNs, wildcards) is returned unchanged."""
    if host.startswith("*"):
        return host
    parts = host.rstrip(".").split(".")
    if len(parts) == 1:
        return f"{host}.{namespace}.svc.{domain}"
    if len(parts) == 2:
        return f"{host}.svc.{domain}"
    if len(parts) == 3 and parts[2] == "svc":
        return f"{host}.{domain}"
    return host.rstrip(".")


def exported_to(export_to: list[str], owner_namespace: str, client_namespace: str) -> bool:
    """``exportTo`` semantics: empty or ``*`` = everywhere, ``.`` = own namespace, ``~`` = nowhere.
    (An empty list really means the mesh default ``defaultXxxExportTo``, which is ``*`` unless
    changed in MeshConfig; callers that know the mesh default pass it in ``export_to``.)"""
    if not export_to or "*" in export_to:
        return True
    if "~" in export_to:
        return False
    if "." in export_to and owner_namespace == client_namespace:
        return True
    return client_namespace in export_to


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


#: Every Istio/Gateway API model by kind, for generic loaders (fixtures, recordings).
ISTIO_MODELS: tuple[type[K8sObject], ...] = (
    VirtualService,
    DestinationRule,
    Gateway,
    ServiceEntry,
    Sidecar,
    PeerAuthentication,
    AuthorizationPolicy,
    RequestAuthentication,
    EnvoyFilter,
    Telemetry,
    WorkloadEntry,
    K8sGateway,
    K8sHTTPRoute,
)
