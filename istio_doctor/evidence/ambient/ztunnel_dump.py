"""The ztunnel admin ``/config_dump`` (also what ``istioctl ztunnel-config all -o json`` prints).

ztunnel serialises its state with serde; istioctl reads it into the Go structs of
``istioctl/pkg/writer/ztunnel/configdump/api.go`` (istio/istio@86c9f01). We read it the way
istioctl does, because the views in :mod:`ztunnel_views` must print what istioctl prints:

* ``workloads``, ``services``, ``policies`` and ``certificates`` are a JSON list in some ztunnel
  versions and a map keyed by ``network/ip`` (``/vip`` for services) in others
  (``unmarshalListOrMap``): the golden ``dump.json`` uses maps, a 1.24 live capture
  (kiali's ``ztunnel-config.json``) uses lists. Map values keep the file's order here.
* Go's ``encoding/json`` matches object keys to struct fields case-insensitively: the dump
  writes ``workloadState`` while istioctl's struct tag is ``workloadstate``, and it still
  reads. :func:`_fold_keys` does the same.
* ``null`` becomes the Go zero value (``"originalDst": null`` prints as ``""``), but a list or
  map that is absent stays ``None``, because Go marshals a nil slice as ``null`` and an empty
  one as ``[]`` (``-o json`` must show the difference).
* Fields istioctl has no struct field for (``nativeTunnel``, ``networkMode``, a workload's
  ``services``, ``waypoint.hboneMtlsPort``) are kept (``extra="allow"``: we do not own this
  schema) so checks may read them, but the ``-o json`` views drop them as istioctl does.

The models are typed for the fields checks and views read. ``parse_ztunnel_dump`` raises
``ParseError`` (never a raw JSON/pydantic error) naming the command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from istio_doctor.evidence.errors import ParseError

__all__ = [
    "Cert",
    "CertsDump",
    "GatewayAddress",
    "InboundConnection",
    "OutboundConnection",
    "PolicyMatch",
    "ZtunnelDump",
    "ZtunnelEndpoint",
    "ZtunnelPolicy",
    "ZtunnelService",
    "ZtunnelWorkload",
    "WorkloadState",
    "looks_like_ztunnel_dump",
    "parse_ztunnel_dump",
]


def _fold_keys(cls: type[BaseModel], data: Any) -> Any:
    """Rename keys to the model's aliases the way Go's decoder matches them (exact first, then
    case-insensitive); ``null`` values are dropped so the field keeps its zero value."""
    if not isinstance(data, dict):
        return data
    aliases = {(f.alias or name): name for name, f in cls.model_fields.items()}
    folded = {a.lower(): a for a in aliases}
    out: dict[str, Any] = {}
    for k, v in data.items():
        if not isinstance(k, str):
            continue
        key = k if k in aliases else folded.get(k.lower(), k)
        if v is None and key in aliases:
            continue
        if key in out and key != k:
            continue  # an exact match already filled this field
        out[key] = v
    return out


class ZModel(BaseModel):
    """Base for ztunnel's data (not ours: tolerant of fields we do not model)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _go_keys(cls, data: Any) -> Any:
        return _fold_keys(cls, data)


class GatewayAddress(ZModel):
    #: ``network/ip`` of a waypoint's VIP (``/10.96.65.117``) or ``namespace/hostname``
    destination: str = ""


class Locality(ZModel):
    region: str = ""
    zone: str = ""
    subzone: str = ""


class ApplicationTunnel(ZModel):
    protocol: str = ""
    port: int | None = None


class ZtunnelWorkload(ZModel):
    uid: str = ""
    workload_ips: list[str] = Field(default_factory=list, alias="workloadIps")
    waypoint: GatewayAddress | None = None
    network_gateway: GatewayAddress | None = Field(default=None, alias="networkGateway")
    #: ``HBONE`` when ztunnel captures the pod (ambient), ``TCP`` when it does not
    protocol: str = ""
    name: str = ""
    namespace: str = ""
    service_account: str = Field(default="", alias="serviceAccount")
    workload_name: str = Field(default="", alias="workloadName")
    workload_type: str = Field(default="", alias="workloadType")
    canonical_name: str = Field(default="", alias="canonicalName")
    canonical_revision: str = Field(default="", alias="canonicalRevision")
    cluster_id: str = Field(default="", alias="clusterId")
    trust_domain: str = Field(default="", alias="trustDomain")
    locality: Locality = Field(default_factory=Locality)
    node: str = ""
    network: str = ""
    #: ``Healthy`` / ``Unhealthy``
    status: str = ""
    hostname: str = ""
    capacity: int = 0
    application_tunnel: ApplicationTunnel = Field(default_factory=ApplicationTunnel, alias="applicationTunnel")
    authorization_policies: list[str] = Field(default_factory=list, alias="authorizationPolicies")

    @property
    def captured(self) -> bool:
        """ztunnel carries this pod's traffic over HBONE (it is enrolled in ambient)."""
        return self.protocol.upper() == "HBONE"

    @property
    def identity(self) -> str:
        td = self.trust_domain or "cluster.local"
        return f"spiffe://{td}/ns/{self.namespace}/sa/{self.service_account}"


class LoadBalancer(ZModel):
    mode: str = ""
    routing_preferences: list[str] | None = Field(default=None, alias="routingPreferences")
    health_policy: str = Field(default="", alias="healthPolicy")


class ZtunnelEndpoint(ZModel):
    workload_uid: str = Field(default="", alias="workloadUid")
    service: str = ""
    address: str = ""
    #: service port -> target port (``map[uint16]uint16`` in istioctl)
    port: dict[int, int] | None = None


class CIDRVIP(ZModel):
    cidr: str = ""
    network: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        # api.go CIDRVIP.UnmarshalJSON: an object, or a "network/cidr" string
        if isinstance(data, str):
            network, sep, cidr = data.partition("/")
            if not sep:
                raise ValueError(f"invalid cidrVip {data!r}")
            return {"cidr": cidr, "network": network}
        return data


class ZtunnelService(ZModel):
    name: str = ""
    namespace: str = ""
    hostname: str = ""
    #: ``network/ip`` strings (``/10.96.65.117``)
    vips: list[str] | None = None
    cidr_vips: list[CIDRVIP] = Field(default_factory=list, alias="cidrVips")
    ports: dict[str, int] | None = None
    load_balancer: LoadBalancer | None = Field(default=None, alias="loadBalancer")
    waypoint: GatewayAddress | None = None
    endpoints: dict[str, ZtunnelEndpoint] | None = None
    subject_alt_names: list[str] = Field(default_factory=list, alias="subjectAltNames")
    ip_families: str = Field(default="", alias="ipFamilies")
    canonical: bool = False
    visibility: str = ""

    @property
    def vip_ips(self) -> list[str]:
        return [a.partition("/")[2] if "/" in a else a for a in self.vips or []]


class StringMatch(ZModel):
    exact: str = Field(default="", alias="Exact")
    suffix: str = Field(default="", alias="Suffix")
    prefix: str = Field(default="", alias="Prefix")
    presence: Any = Field(default=None, alias="Presence")


class ServiceAccountMatch(ZModel):
    namespace: str = ""
    service_account: str = Field(default="", alias="serviceAccount")


class PolicyMatch(ZModel):
    namespaces: list[StringMatch] = Field(default_factory=list)
    not_namespaces: list[StringMatch] = Field(default_factory=list, alias="notNamespaces")
    principals: list[StringMatch] = Field(default_factory=list)
    not_principals: list[StringMatch] = Field(default_factory=list, alias="notPrincipals")
    source_ips: list[str] = Field(default_factory=list, alias="sourceIps")
    not_source_ips: list[str] = Field(default_factory=list, alias="notSourceIps")
    destination_ips: list[str] = Field(default_factory=list, alias="destinationIps")
    not_destination_ips: list[str] = Field(default_factory=list, alias="notDestinationIps")
    destination_ports: list[int] = Field(default_factory=list, alias="destinationPorts")
    not_destination_ports: list[int] = Field(default_factory=list, alias="notDestinationPorts")
    service_accounts: list[ServiceAccountMatch] = Field(default_factory=list, alias="serviceAccounts")
    not_service_accounts: list[ServiceAccountMatch] = Field(default_factory=list, alias="notServiceAccounts")


class ZtunnelPolicy(ZModel):
    name: str = ""
    namespace: str = ""
    #: ``Global`` / ``Namespace`` / ``WorkloadSelector``
    scope: str = ""
    #: ``Allow`` / ``Deny``
    action: str = ""
    #: OR of rules, each an AND of clauses, each an OR of matches (``[][][]*PolicyMatch``)
    rules: list[list[list[PolicyMatch | None]]] | None = None


class Cert(ZModel):
    pem: str = ""
    #: decimal, as ztunnel writes it (istioctl prints it in hex)
    serial_number: str = Field(default="", alias="serialNumber")
    valid_from: str = Field(default="", alias="validFrom")
    expiration_time: str = Field(default="", alias="expirationTime")


class CertsDump(ZModel):
    identity: str = ""
    #: ``Available``, ``Initializing``, or ``Unavailable: <why>``
    state: str = ""
    cert_chain: list[Cert] | None = Field(default=None, alias="certChain")
    root_certs: list[Cert] | None = Field(default=None, alias="rootCerts")

    @property
    def available(self) -> bool:
        return self.state == "Available"


class InboundConnection(ZModel):
    src: str = ""
    original_dst: str = Field(default="", alias="originalDst")
    actual_dst: str = Field(default="", alias="actualDst")
    protocol: str = ""


class OutboundConnection(InboundConnection):
    pass


class WorkloadConnections(ZModel):
    inbound: list[InboundConnection] | None = None
    outbound: list[OutboundConnection] | None = None


class WorkloadInfo(ZModel):
    name: str = ""
    namespace: str = ""
    trust_domain: str = Field(default="", alias="trustDomain")
    service_account: str = Field(default="", alias="serviceAccount")


class WorkloadState(ZModel):
    state: str = ""
    connections: WorkloadConnections = Field(default_factory=WorkloadConnections)
    info: WorkloadInfo = Field(default_factory=WorkloadInfo)


def _list_or_map(value: Any) -> Any:
    # unmarshalListOrMap: ztunnel versions write either form; map keys carry no extra data
    if isinstance(value, dict):
        return list(value.values())
    return value


class ZtunnelDump(ZModel):
    workloads: list[ZtunnelWorkload] = Field(default_factory=list)
    services: list[ZtunnelService] = Field(default_factory=list)
    policies: list[ZtunnelPolicy] = Field(default_factory=list)
    certificates: list[CertsDump] = Field(default_factory=list)
    #: workload UID -> live state and connections (``workloadstate`` in istioctl's struct tag)
    workload_state: dict[str, WorkloadState] = Field(default_factory=dict, alias="workloadstate")
    #: the exact bytes read, for ``all -o json`` (istioctl prints the dump itself)
    raw: str = Field(default="", exclude=True, repr=False)
    #: when the dump was taken (a replayed recording: when it was recorded), to judge certificates
    taken_at: datetime | None = Field(default=None, exclude=True, repr=False)

    _list_fields = field_validator("workloads", "services", "policies", "certificates", mode="before")(
        lambda v: _list_or_map(v)
    )

    @property
    def version(self) -> str:
        """ztunnel's own version (``version.gitTag``), when the dump carries it (1.22+)."""
        v = (self.model_extra or {}).get("version")
        if isinstance(v, dict):
            return str(v.get("gitTag") or v.get("istioVersion") or "")
        return ""

    def workload_by_ip(self, ip: str) -> ZtunnelWorkload | None:
        for w in self.workloads:
            if ip in w.workload_ips:
                return w
        return None

    def workload_by_name(self, namespace: str, name: str) -> ZtunnelWorkload | None:
        for w in self.workloads:
            if w.namespace == namespace and w.name == name:
                return w
        return None

    def service_by_vip(self, ip: str) -> ZtunnelService | None:
        for s in self.services:
            if ip in s.vip_ips:
                return s
        return None

    def resolve_waypoint(self, addr: GatewayAddress | None) -> ZtunnelService | None:
        """The service a ``waypoint.destination`` names (``waypointName`` in workload.go)."""
        if addr is None:
            return None
        for s in self.services:
            if f"{s.namespace}/{s.hostname}" == addr.destination or addr.destination in (s.vips or []):
                return s
        return None


#: keys only a ztunnel dump has at its top level (an Envoy dump has ``configs``)
_ZTUNNEL_KEYS = frozenset({"workloads", "services", "policies", "certificates", "workloadstate"})


def looks_like_ztunnel_dump(data: Any) -> bool:
    return isinstance(data, dict) and "configs" not in data and bool({str(k).lower() for k in data} & _ZTUNNEL_KEYS)


def parse_ztunnel_dump(text: str | bytes, *, command: str = "", now: datetime | None = None) -> ZtunnelDump:
    """Parse a ztunnel ``/config_dump`` (or ``istioctl ztunnel-config all -o json``)."""
    what = "ztunnel config dump"
    raw = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ParseError(what, f"not valid JSON ({exc})", command=command) from None
    if not isinstance(data, dict):
        raise ParseError(what, f"expected a JSON object, got {type(data).__name__}", command=command)
    if "configs" in data:
        raise ParseError(what, "this is an Envoy config dump (it has `configs`), not a ztunnel one: "
                         "use proxy-config for sidecars, gateways and waypoints", command=command)
    if not looks_like_ztunnel_dump(data):
        raise ParseError(what, "no workloads, services, policies or certificates: this is not a ztunnel config dump",
                         command=command)
    try:
        dump = ZtunnelDump.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ParseError(what, f"{loc}: {err['msg']}", command=command) from None
    dump.raw = raw
    dump.taken_at = now or datetime.now(UTC)
    return dump
