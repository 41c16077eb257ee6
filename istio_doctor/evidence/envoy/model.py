"""The typed model of an Envoy config dump (:class:`ConfigDump` and its parts).

Built by :mod:`istio_doctor.evidence.envoy.build` from either dialect (admin snake_case or
protojson camelCase); read by the checks and by the ``proxy-config`` views. Instances are made
with :func:`_mk` (no validation: the builders already checked the shape) and every ``raw``
is a :class:`RawRef` into the dump, decoded only when something asks for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from istio_doctor.evidence.envoy.decode import RawRef, ref_get

HCM_NAMES = frozenset({"envoy.filters.network.http_connection_manager", "envoy.http_connection_manager"})
TCP_PROXY_NAMES = frozenset({"envoy.filters.network.tcp_proxy", "envoy.tcp_proxy"})
RBAC_NAMES = frozenset({"envoy.filters.http.rbac", "envoy.filters.network.rbac", "envoy.rbac"})
FAULT_NAMES = ("envoy.filters.http.fault", "envoy.fault")
#: Envoy's capture listeners: everything redirected by iptables lands here first.
VIRTUAL_PORTS = frozenset({15001, 15006})
_ISTIO_API_PREFIX = "/apis/networking.istio.io/"


M = TypeVar("M", bound=BaseModel)


def _mk(cls: type[M], fields: dict[str, Any]) -> M:
    """Build a pydantic instance without validation (hot path; see module docstring).

    ``fields`` must name every field of ``cls``; the callers below always do.
    """
    obj = _new(cls)  # BaseModel defines no __new__
    _set(obj, "__dict__", fields)
    # Every field is set, so every instance of a class can share one "fields set": pydantic
    # only ever adds field names to it, which it already holds. Tens of thousands of
    # per-object sets were a third of the objects the garbage collector had to walk.
    shared = _FIELDS_SET.get(cls)
    if shared is None:
        shared = _FIELDS_SET[cls] = set(cls.model_fields)
    _set_fields(obj, shared)
    _set_extra(obj, None)
    _set_private(obj, {} if cls.__private_attributes__ else None)
    return obj


# the slot descriptors themselves: a third faster than object.__setattr__'s lookup, per object
_new = object.__new__
_set = object.__setattr__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_FIELDS_SET: dict[type[BaseModel], set[str]] = {}


class _Model(BaseModel):
    # Our own data: unknown fields are bugs, not drift.
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class _WithRaw(_Model):
    """A model of one Envoy resource whose JSON stays reachable (``-o json``, rare checks)."""

    @property
    def raw(self) -> dict[str, Any]:
        """The resource as decoded JSON, decoded again from the dump on each call: treat it as
        read-only and keep it only as long as needed (it is not cached, to keep memory low)."""
        ref = self.__dict__.get("raw_ref")
        return ref_get(ref) if ref is not None else {}


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------


class NodeInfo(_Model):
    id: str = ""
    type: str = ""
    ip: str = ""
    pod_name: str = ""
    namespace: str = ""
    istio_version: str = ""
    cluster_id: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    mesh_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, repr=False)


class VersionSummary(_Model):
    """What ``istioctl proxy-config bootstrap`` prints; empty strings are omitted lines."""

    istio_version: str = ""
    istio_proxy_version: str = ""
    envoy_version: str = ""


class ClusterTLS(_Model):
    mode: Literal["istio_mutual", "simple", "mutual", "none"] = "none"
    #: True when istiod chose mTLS per endpoint (transport_socket_matches on ``tlsMode: istio``).
    auto: bool = False
    sni: str = ""
    sans: list[str] = Field(default_factory=list)


class CircuitBreakers(_Model):
    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_requests: int | None = None
    max_retries: int | None = None


class Cluster(_WithRaw):
    name: str
    direction: str = ""
    port: int | None = None
    subset: str = ""
    fqdn: str = ""
    type: str = "STATIC"
    #: the TYPE column of ``proxy-config cluster``: istioctl prints ``GetType()``, which is
    #: STATIC for a cluster whose discovery is a custom ``cluster_type`` (``type`` above names it).
    table_type: str = "STATIC"
    destination_rule: str | None = None
    #: ``metadata.filter_metadata.istio.config`` verbatim (the table renders it like istioctl).
    istio_config: str | None = None
    tls: ClusterTLS = Field(default_factory=ClusterTLS)
    circuit_breakers: CircuitBreakers = Field(default_factory=CircuitBreakers)
    outlier_detection: dict[str, Any] | None = None
    connect_timeout: str | None = None
    warming: bool = False
    #: True for bootstrap (static) clusters; istioctl lists dynamic ones first.
    static: bool = False
    #: where the resource's JSON is (see :class:`RawRef`); read it through ``raw``.
    raw_ref: RawRef | None = Field(default=None, repr=False, exclude=True)


class RouteMatch(_Model):
    prefix: str | None = None
    path: str | None = None
    safe_regex: str | None = None
    path_separated_prefix: str | None = None
    headers: list[dict[str, Any]] = Field(default_factory=list)


class Route(_WithRaw):
    name: str = ""
    match: RouteMatch = Field(default_factory=RouteMatch)
    cluster: str | None = None
    weighted_clusters: list[tuple[str, int]] = Field(default_factory=list)
    direct_response_status: int | None = None
    redirect: dict[str, Any] | None = None
    timeout: str | None = None
    retry_policy: dict[str, Any] | None = None
    fault: dict[str, Any] | None = None
    virtual_service: str | None = None
    istio_config: str | None = None
    #: where the resource's JSON is (see :class:`RawRef`); read it through ``raw``.
    raw_ref: RawRef | None = Field(default=None, repr=False, exclude=True)


class VirtualHost(_Model):
    name: str = ""
    domains: list[str] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)


class RouteConfig(_WithRaw):
    name: str = ""
    virtual_hosts: list[VirtualHost] = Field(default_factory=list)
    static: bool = False
    #: Envoy matches the Host without its port (route.v3.RouteConfiguration.ignore_port_in_host_matching);
    #: istiod sets it on gateway route tables of 1.15+ proxies (and on sidecars' later), before that a
    #: Host's port had to match a domain as written (``host:port`` / ``host:*`` twins)
    ignore_port_in_host_matching: bool = False
    #: where the resource's JSON is (see :class:`RawRef`); read it through ``raw``.
    raw_ref: RawRef | None = Field(default=None, repr=False, exclude=True)


class FilterChain(_WithRaw):
    name: str = ""
    match: dict[str, Any] = Field(default_factory=dict)
    transport_protocol: str = ""
    application_protocols: list[str] = Field(default_factory=list)
    server_names: list[str] = Field(default_factory=list)
    destination_port: int | None = None
    prefix_ranges: list[str] = Field(default_factory=list)
    has_tls: bool = False
    requires_client_cert: bool = False
    filters: list[str] = Field(default_factory=list)
    #: per network filter: (name, is a TCP proxy to the BlackHoleCluster, its ``cluster`` field);
    #: what ``proxy-config listener`` derives TYPE and DESTINATION from.
    network_filters: list[tuple[str, bool, str]] = Field(default_factory=list)
    http: bool = False
    route_config_name: str | None = None
    inline_routes: RouteConfig | None = None
    tcp_cluster: str | None = None
    rbac_policies: list[str] = Field(default_factory=list)
    #: the listener's ``default_filter_chain`` (istioctl lists it after the others).
    is_default: bool = False
    #: where the resource's JSON is (see :class:`RawRef`); read it through ``raw``.
    raw_ref: RawRef | None = Field(default=None, repr=False, exclude=True)


class Listener(_WithRaw):
    name: str = ""
    address: str = ""
    port: int = 0
    additional_addresses: list[str] = Field(default_factory=list)
    direction: str = ""
    virtual: bool = False
    filter_chains: list[FilterChain] = Field(default_factory=list)
    state: Literal["active", "warming", "draining", "error"] = "active"
    error_state: dict[str, Any] | None = None
    static: bool = False
    #: where the resource's JSON is (see :class:`RawRef`); read it through ``raw``.
    raw_ref: RawRef | None = Field(default=None, repr=False, exclude=True)


class Endpoint(_Model):
    #: IP (socket), path (pipe) or ``envoy://<listener>/<id>`` (internal address).
    address: str = ""
    port: int | None = None
    kind: Literal["socket", "pipe", "internal", "unknown"] = "socket"
    #: further addresses (``additional_addresses``); a shared empty tuple when none
    additional: list[str] | tuple[str, ...] = Field(default_factory=list)
    health_status: str = "UNKNOWN"
    locality: str = ""
    weight: int | None = None
    hostname: str = ""

    @property
    def display(self) -> str:
        """The NAME column istioctl prints (``ip:port[,ip:port]``)."""
        return ",".join([self._one(), *self.additional])

    def _one(self) -> str:
        if self.kind == "socket":
            return f"{self.address}:{self.port or 0}"
        return self.address


class ClusterEndpoints(_WithRaw):
    cluster_name: str
    endpoints: list[Endpoint] = Field(default_factory=list)
    static: bool = False
    #: where the resource's JSON is (see :class:`RawRef`); read it through ``raw``.
    raw_ref: RawRef | None = Field(default=None, repr=False, exclude=True)


class SecretInfo(_Model):
    name: str
    type: Literal["Cert Chain", "CA", ""] = ""
    status: str = "ACTIVE"
    valid: bool | None = None
    serial: str = ""
    not_after: datetime | None = None
    not_before: datetime | None = None
    #: the TRUST DOMAIN column: the SPIFFE trust domain a trust bundle was configured for, else
    #: the host of the certificate's spiffe:// URI SAN; empty when the certificate did not parse.
    trust_domain: str = ""
    #: set on the rows of a SPIFFE trust-bundle validation context (one per trust domain, also
    #: when its bundle does not parse): the trust domain the roots are trusted for.
    bundle_trust_domain: str = ""
    version_info: str = ""
    #: a bootstrap (static) secret; istioctl's table lists only dynamic ones.
    static: bool = False
    #: public certificates only; the private key is dropped while parsing and never stored.
    cert_chain_pem: str | None = Field(default=None, repr=False)

    def valid_at(self, now: datetime) -> bool:
        if self.not_before is None or self.not_after is None:
            return False
        return self.not_before < now < self.not_after


class EcdsFilter(_WithRaw):
    name: str
    type_url: str = ""
    #: where the resource's JSON is (see :class:`RawRef`); read it through ``raw``.
    raw_ref: RawRef | None = Field(default=None, repr=False, exclude=True)


class ConfigDump(_Model):
    node: NodeInfo = Field(default_factory=NodeInfo)
    version_summary: VersionSummary = Field(default_factory=VersionSummary)
    clusters: list[Cluster] = Field(default_factory=list)
    listeners: list[Listener] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    endpoints: list[ClusterEndpoints] = Field(default_factory=list)
    secrets: list[SecretInfo] = Field(default_factory=list)
    ecds: list[EcdsFilter] = Field(default_factory=list)
    #: which sections the input contained (``"clusters"``, ``"endpoints"``, ...): an absent
    #: section is "not fetched", an empty one is "Envoy has none" — checks must not confuse them.
    sections: list[str] = Field(default_factory=list)
    #: the SecretsConfigDump as received minus private keys (``proxy-config secret -o json``).
    secrets_raw: dict[str, Any] | None = Field(default=None, repr=False)
    bootstrap_raw: dict[str, Any] | None = Field(default=None, repr=False)

    # ---- helpers the checks use --------------------------------------------------------

    # name → cluster, built on first lookup (checks call cluster() per route target).
    _cidx: dict[str, Cluster] | None = PrivateAttr(default=None)

    def _cluster_index(self) -> dict[str, Cluster]:
        priv = self.__pydantic_private__
        idx = priv.get("_cidx") if priv is not None else None
        if idx is None:
            idx = {c.name: c for c in self.clusters}
            if priv is not None:
                priv["_cidx"] = idx
        return idx

    def cluster(self, name: str) -> Cluster | None:
        return self._cluster_index().get(name)

    def clusters_for(
        self, fqdn: str, port: int | None = None, subset: str | None = None, direction: str | None = "outbound"
    ) -> list[Cluster]:
        return [
            c
            for c in self.clusters
            if c.fqdn == fqdn
            and (port is None or c.port == port)
            and (subset is None or c.subset == subset)
            and (direction is None or c.direction == direction)
        ]

    def inbound_clusters(self) -> list[Cluster]:
        return [c for c in self.clusters if c.direction in ("inbound", "inbound-vip")]

    def endpoints_for(self, cluster_name: str) -> list[Endpoint]:
        for ce in self.endpoints:
            if ce.cluster_name == cluster_name:
                return ce.endpoints
        return []

    def listeners_on_port(self, port: int) -> list[Listener]:
        return [lst for lst in self.listeners if lst.port == port]

    def route_config(self, name: str) -> RouteConfig | None:
        for rc in self.routes:
            if rc.name == name:
                return rc
        return None


# --------------------------------------------------------------------------------------
# small derivations shared by the model and the views
# --------------------------------------------------------------------------------------


def split_cluster_name(name: str) -> tuple[str, int, str, str] | None:
    """``direction|port|subset|fqdn`` → parts, like istio's ``model.ParseSubsetKey``.

    ``None`` for names with fewer than four ``|`` parts (static clusters). A port that is not a
    number parses as 0, as in Go's ``strconv.Atoi`` error path.
    """
    if name.count("|") < 3:
        return None
    parts = name.split("|")
    try:
        port = int(parts[1])
    except ValueError:
        port = 0
    return parts[0], port, parts[2], parts[3]


def render_istio_config(config: str | None) -> str:
    """The DESTINATION RULE / VIRTUAL SERVICE cell: ``name.namespace``, ``<unknown>`` or blank."""
    if config is None:
        return ""
    # istiod writes /apis/networking.istio.io/<version>/namespaces/<ns>/<kind>/<name>; the
    # version was v1alpha3 for years and is v1 since Istio 1.22.
    if config.startswith(_ISTIO_API_PREFIX) and config[len(_ISTIO_API_PREFIX) :].split("/", 2)[1:2] == ["namespaces"]:
        pieces = config.split("/")
        if len(pieces) != 8:
            return ""
        return f"{pieces[7]}.{pieces[5]}"
    return "<unknown>"

