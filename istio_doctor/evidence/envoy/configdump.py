"""One typed model of an Envoy config dump, whichever way it was obtained.

Two dialects reach us:

* the raw admin ``/config_dump`` (also ``istioctl proxy-config all -o json``): snake_case,
  ``{"configs": [{"@type": ...ConfigDump, ...}]}``, including legacy ``envoy.admin.v2alpha``
  dumps whose listeners sit in ``dynamic_active_listeners``;
* the per-type ``istioctl proxy-config <type> -o json`` outputs: protojson camelCase arrays.

Both become the same :class:`ConfigDump`. Field access goes through :func:`_g`, which tries the
snake_case key and then its camelCase twin, because protojson accepts both spellings and real
files mix them (istioctl's own bootstrap testdata has ``userAgentBuildVersion`` inside a
snake_case dump). Keys that are *data* (filter-metadata namespaces, ``tlsMode`` match labels,
node metadata) are never converted.

Performance matters: a sidecar in a big mesh dumps 50+ MB. The text is decoded with one
``json.loads``; the typed objects are then built with :func:`_mk`, which fills a pydantic
instance's ``__dict__`` directly instead of validating (the shape was already checked while
walking the dicts, and validation would cost more than the JSON decoding). ``raw`` fields are
references into the decoded document, never copies. Only the top-level structure is
validated, and every failure is a :class:`ParseError` naming the command.
"""

from __future__ import annotations

import base64
import functools
import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from istio_doctor.evidence.errors import ParseError

__all__ = [
    "CircuitBreakers",
    "Cluster",
    "ClusterEndpoints",
    "ClusterTLS",
    "ConfigDump",
    "EcdsFilter",
    "Endpoint",
    "FilterChain",
    "Listener",
    "NodeInfo",
    "Route",
    "RouteConfig",
    "RouteMatch",
    "SecretInfo",
    "VersionSummary",
    "VirtualHost",
    "config_dump_from_parts",
    "parse_config_dump",
    "render_istio_config",
    "split_cluster_name",
]

_WHAT = "Envoy config dump"

HCM_NAMES = frozenset({"envoy.filters.network.http_connection_manager", "envoy.http_connection_manager"})
TCP_PROXY_NAMES = frozenset({"envoy.filters.network.tcp_proxy", "envoy.tcp_proxy"})
RBAC_NAMES = frozenset({"envoy.filters.http.rbac", "envoy.filters.network.rbac", "envoy.rbac"})
FAULT_NAMES = ("envoy.filters.http.fault", "envoy.fault")
#: Envoy's capture listeners: everything redirected by iptables lands here first.
VIRTUAL_PORTS = frozenset({15001, 15006})
_ISTIO_API_PREFIX = "/apis/networking.istio.io/"


# --------------------------------------------------------------------------------------
# key access across both dialects
# --------------------------------------------------------------------------------------


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_CAMEL: dict[str, str] = {}


def _g(d: dict[str, Any], key: str, default: Any = None) -> Any:
    """``d[key]`` or ``d[camelCase(key)]``; the fallback is cached so the hot path is two dict hits."""
    v = d.get(key)
    if v is not None:
        return v
    c = _CAMEL.get(key)
    if c is None:
        c = _CAMEL[key] = _camel(key)
    v = d.get(c)
    return default if v is None else v


def _as_int(v: Any) -> int | None:
    # protojson renders 64-bit integers as strings; both forms occur in real dumps.
    if v is None:
        return None
    if isinstance(v, int):
        return v
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _wrapped_int(v: Any) -> int | None:
    # UInt32Value is `{"value": 8}` in the admin dump but a bare `8` in some protojson outputs.
    if isinstance(v, dict):
        return _as_int(v.get("value"))
    return _as_int(v)


M = TypeVar("M", bound=BaseModel)


def _mk(cls: type[M], fields: dict[str, Any]) -> M:
    """Build a pydantic instance without validation (hot path; see module docstring).

    ``fields`` must name every field of ``cls``; the callers below always do.
    """
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)
    object.__setattr__(obj, "__pydantic_fields_set__", set(fields))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", {} if cls.__private_attributes__ else None)
    return obj


class _Model(BaseModel):
    # Our own data: unknown fields are bugs, not drift.
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


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


class Cluster(_Model):
    name: str
    direction: str = ""
    port: int | None = None
    subset: str = ""
    fqdn: str = ""
    type: str = "STATIC"
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
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class RouteMatch(_Model):
    prefix: str | None = None
    path: str | None = None
    safe_regex: str | None = None
    path_separated_prefix: str | None = None
    headers: list[dict[str, Any]] = Field(default_factory=list)


class Route(_Model):
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
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class VirtualHost(_Model):
    name: str = ""
    domains: list[str] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)


class RouteConfig(_Model):
    name: str = ""
    virtual_hosts: list[VirtualHost] = Field(default_factory=list)
    static: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class FilterChain(_Model):
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
    http: bool = False
    route_config_name: str | None = None
    inline_routes: RouteConfig | None = None
    tcp_cluster: str | None = None
    rbac_policies: list[str] = Field(default_factory=list)
    #: the listener's ``default_filter_chain`` (istioctl lists it after the others).
    is_default: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class Listener(_Model):
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
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class Endpoint(_Model):
    #: IP (socket), path (pipe) or ``envoy://<listener>/<id>`` (internal address).
    address: str = ""
    port: int | None = None
    kind: Literal["socket", "pipe", "internal", "unknown"] = "socket"
    additional: list[str] = Field(default_factory=list)
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


class ClusterEndpoints(_Model):
    cluster_name: str
    endpoints: list[Endpoint] = Field(default_factory=list)
    static: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class SecretInfo(_Model):
    name: str
    type: Literal["Cert Chain", "CA", ""] = ""
    status: str = "ACTIVE"
    valid: bool | None = None
    serial: str = ""
    not_after: datetime | None = None
    not_before: datetime | None = None
    trust_domain: str = ""
    version_info: str = ""
    #: public certificates only; the private key is dropped while parsing and never stored.
    cert_chain_pem: str | None = Field(default=None, repr=False)

    def valid_at(self, now: datetime) -> bool:
        if self.not_before is None or self.not_after is None:
            return False
        return self.not_before < now < self.not_after


class EcdsFilter(_Model):
    name: str
    type_url: str = ""
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


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


def _istio_ref(config: str | None) -> str | None:
    """``name.namespace`` of the Istio object behind a cluster/route, for checks.

    Unlike the table cell this also understands Istio ≤1.1's ``/apis/networking/v1alpha3/...``.
    """
    if not config:
        return None
    pieces = config.split("/")
    if len(pieces) == 8 and pieces[1] == "apis" and pieces[4] == "namespaces":
        return f"{pieces[7]}.{pieces[5]}"
    return None


def _istio_md(obj: dict[str, Any]) -> dict[str, Any] | None:
    md = obj.get("metadata")
    if not md:
        return None
    fm = _g(md, "filter_metadata")
    if not fm:
        return None
    istio = fm.get("istio")
    return istio if isinstance(istio, dict) else None


def _socket(addr: dict[str, Any] | None) -> tuple[str, int | None, str]:
    """(address, port, kind) of an ``envoy.config.core.v3.Address``."""
    if not addr:
        return "", None, "unknown"
    sa = _g(addr, "socket_address")
    if sa is not None:
        return sa.get("address", ""), _as_int(_g(sa, "port_value")), "socket"
    pipe = addr.get("pipe")
    if pipe is not None:
        return pipe.get("path", ""), None, "pipe"
    internal = _g(addr, "envoy_internal_address")
    if internal is not None:
        sln = _g(internal, "server_listener_name")
        if sln is not None:
            return f"envoy://{sln}/{_g(internal, 'endpoint_id', '')}", None, "internal"
    return "unknown", None, "unknown"


def _typed(filter_obj: dict[str, Any]) -> dict[str, Any]:
    # v3 uses typed_config; legacy v2 dumps carry a Struct under "config".
    tc = _g(filter_obj, "typed_config")
    if tc is None:
        tc = filter_obj.get("config")
    return tc if isinstance(tc, dict) else {}


# --------------------------------------------------------------------------------------
# builders (dict → model)
# --------------------------------------------------------------------------------------


def _tls_context_mode(ctx: dict[str, Any]) -> tuple[str, bool, str, list[str]]:
    """(mode, is_istio_certs, sni, sans) of an UpstreamTlsContext."""
    ctc = _g(ctx, "common_tls_context") or {}
    sni = ctx.get("sni", "")
    sds = _g(ctc, "tls_certificate_sds_secret_configs") or []
    files = _g(ctc, "tls_certificates") or []
    cvc = _g(ctc, "combined_validation_context") or {}
    vsds = _g(cvc, "validation_context_sds_secret_config") or _g(ctc, "validation_context_sds_secret_config") or {}
    dvc = _g(cvc, "default_validation_context") or _g(ctc, "validation_context") or {}
    sans: list[str] = []
    for m in _g(dvc, "match_subject_alt_names") or _g(dvc, "match_typed_subject_alt_names") or []:
        inner = m.get("matcher", m) if isinstance(m, dict) else {}
        for k in ("exact", "prefix", "suffix", "contains"):
            if k in inner:
                sans.append(inner[k])
                break
    for s in _g(dvc, "verify_subject_alt_name") or []:
        sans.append(s)
    sds_names = [s.get("name", "") for s in sds]
    istio_sds = "default" in sds_names and vsds.get("name") == "ROOTCA"
    # Istio <1.5 mounted the workload cert as files under /etc/certs.
    istio_files = any(
        "/etc/certs/" in str(_g(_g(f, "certificate_chain") or {}, "filename", "")) for f in files
    )
    if istio_sds or istio_files:
        return "istio_mutual", True, sni, sans
    if sds or files:
        return "mutual", False, sni, sans
    return "simple", False, sni, sans


def _is_upstream_tls(ts: dict[str, Any]) -> dict[str, Any] | None:
    tc = _typed(ts)
    t = tc.get("@type", "")
    if t.endswith("UpstreamTlsContext"):
        return tc
    # internal_upstream and similar wrappers carry the real socket inside.
    inner = _g(tc, "transport_socket")
    if isinstance(inner, dict):
        return _is_upstream_tls(inner)
    if ts.get("name") in ("envoy.transport_sockets.tls", "tls") and _g(tc, "common_tls_context") is not None:
        return tc
    return None


def _cluster_tls(c: dict[str, Any]) -> ClusterTLS:
    tsm = _g(c, "transport_socket_matches")
    if tsm:
        for m in tsm:
            match = m.get("match") or {}
            if m.get("name") == "tlsMode-istio" or match.get("tlsMode") == "istio":
                ctx = _is_upstream_tls(_g(m, "transport_socket") or {})
                if ctx is not None:
                    mode, istio, sni, sans = _tls_context_mode(ctx)
                    # auto-mTLS: mTLS only towards endpoints labelled tlsMode=istio.
                    return _mk(ClusterTLS, {"mode": mode, "auto": istio, "sni": sni, "sans": sans})
    ts = _g(c, "transport_socket")
    ctx = _is_upstream_tls(ts) if ts else None
    if ctx is None:
        legacy = _g(c, "tls_context")
        ctx = legacy if isinstance(legacy, dict) else None
    if ctx is not None:
        mode, _istio, sni, sans = _tls_context_mode(ctx)
        return _mk(ClusterTLS, {"mode": mode, "auto": False, "sni": sni, "sans": sans})
    return _mk(ClusterTLS, {"mode": "none", "auto": False, "sni": "", "sans": []})


def _circuit_breakers(c: dict[str, Any]) -> CircuitBreakers:
    cb = _g(c, "circuit_breakers")
    th: dict[str, Any] = {}
    if cb:
        for t in cb.get("thresholds") or ():
            # The DEFAULT priority is the one that limits ordinary traffic.
            if t.get("priority", "DEFAULT") == "DEFAULT":
                th = t
                break
    return _mk(
        CircuitBreakers,
        {
            "max_connections": _wrapped_int(_g(th, "max_connections")),
            "max_pending_requests": _wrapped_int(_g(th, "max_pending_requests")),
            "max_requests": _wrapped_int(_g(th, "max_requests")),
            "max_retries": _wrapped_int(_g(th, "max_retries")),
        },
    )


def _build_cluster(c: dict[str, Any], *, warming: bool, static: bool) -> Cluster:
    name = c.get("name", "")
    parts = split_cluster_name(name)
    if parts is None:
        direction, port, subset, fqdn = "", None, "", ""
    else:
        direction, port, subset, fqdn = parts
    istio = _istio_md(c)
    cfg = istio.get("config") if istio else None
    ctype = c.get("type")
    if ctype is None:
        custom = _g(c, "cluster_type")
        ctype = custom.get("name", "STATIC") if isinstance(custom, dict) else "STATIC"
    return _mk(
        Cluster,
        {
            "name": name,
            "direction": direction,
            "port": port,
            "subset": subset,
            "fqdn": fqdn,
            "type": ctype,
            "destination_rule": _istio_ref(cfg),
            "istio_config": cfg,
            "tls": _cluster_tls(c),
            "circuit_breakers": _circuit_breakers(c),
            "outlier_detection": _g(c, "outlier_detection"),
            "connect_timeout": _g(c, "connect_timeout"),
            "warming": warming,
            "static": static,
            "raw": c,
        },
    )


def _build_route(r: dict[str, Any]) -> Route:
    m = r.get("match") or {}
    sr = _g(m, "safe_regex")
    action = r.get("route")
    cluster = None
    weighted: list[tuple[str, int]] = []
    timeout = None
    retry = None
    if action is not None:
        cluster = action.get("cluster")
        wc = _g(action, "weighted_clusters")
        if wc:
            weighted = [(w.get("name", ""), _wrapped_int(w.get("weight")) or 0) for w in wc.get("clusters") or ()]
        timeout = action.get("timeout")
        retry = _g(action, "retry_policy")
    dr = _g(r, "direct_response")
    fault = None
    tpfc = _g(r, "typed_per_filter_config")
    if tpfc:
        for fname in FAULT_NAMES:
            if fname in tpfc:
                fault = tpfc[fname]
                break
    istio = _istio_md(r)
    cfg = istio.get("config") if istio else None
    return _mk(
        Route,
        {
            "name": r.get("name", ""),
            "match": _mk(
                RouteMatch,
                {
                    "prefix": m.get("prefix"),
                    "path": m.get("path"),
                    "safe_regex": sr.get("regex") if isinstance(sr, dict) else None,
                    "path_separated_prefix": _g(m, "path_separated_prefix"),
                    "headers": m.get("headers") or [],
                },
            ),
            "cluster": cluster,
            "weighted_clusters": weighted,
            "direct_response_status": _as_int(dr.get("status")) if dr else None,
            "redirect": r.get("redirect"),
            "timeout": timeout,
            "retry_policy": retry,
            "fault": fault,
            "virtual_service": _istio_ref(cfg),
            "istio_config": cfg,
            "raw": r,
        },
    )


def _build_route_config(rc: dict[str, Any], *, static: bool) -> RouteConfig:
    vhosts = []
    for vh in _g(rc, "virtual_hosts") or ():
        vhosts.append(
            _mk(
                VirtualHost,
                {
                    "name": vh.get("name", ""),
                    "domains": vh.get("domains") or [],
                    "routes": [_build_route(r) for r in vh.get("routes") or ()],
                },
            )
        )
    return _mk(RouteConfig, {"name": rc.get("name", ""), "virtual_hosts": vhosts, "static": static, "raw": rc})


def _build_filter_chain(fc: dict[str, Any], *, is_default: bool) -> FilterChain:
    m = _g(fc, "filter_chain_match") or {}
    filters = fc.get("filters") or []
    names: list[str] = []
    http = False
    rds = None
    inline = None
    tcp_cluster = None
    rbac: list[str] = []
    for f in filters:
        fname = f.get("name", "")
        names.append(fname)
        if fname in HCM_NAMES:
            http = True
            hcm = _typed(f)
            rds_cfg = hcm.get("rds")
            if rds_cfg:
                rds = _g(rds_cfg, "route_config_name")
            rc = _g(hcm, "route_config")
            if rc is not None:
                inline = _build_route_config(rc, static=True)
            hfs = _g(hcm, "http_filters")
            for hf in hfs if isinstance(hfs, list) else ():
                if isinstance(hf, dict) and hf.get("name") in RBAC_NAMES:
                    rules = (_typed(hf).get("rules") or {}).get("policies") or {}
                    rbac.extend(rules)
        elif fname in TCP_PROXY_NAMES:
            tp = _typed(f)
            if tcp_cluster is None:
                tcp_cluster = tp.get("cluster")
                if tcp_cluster is None:
                    wc = _g(tp, "weighted_clusters")
                    if wc:
                        tcp_cluster = ",".join(w.get("name", "") for w in wc.get("clusters") or ())
        elif fname in RBAC_NAMES:
            rules = (_typed(f).get("rules") or {}).get("policies") or {}
            rbac.extend(rules)
    ts = _g(fc, "transport_socket")
    has_tls = False
    req_cert = False
    if ts:
        tc = _typed(ts)
        if tc.get("@type", "").endswith("DownstreamTlsContext") or ts.get("name") in ("envoy.transport_sockets.tls", "tls"):
            has_tls = True
            rcc = _g(tc, "require_client_certificate")
            req_cert = bool(rcc.get("value") if isinstance(rcc, dict) else rcc)
    elif _g(fc, "tls_context"):
        # legacy v2 filter chains carried the DownstreamTlsContext inline
        has_tls = True
        rcc = _g(_g(fc, "tls_context"), "require_client_certificate")
        req_cert = bool(rcc.get("value") if isinstance(rcc, dict) else rcc)
    pr = []
    for p in _g(m, "prefix_ranges") or ():
        pr.append(f"{_g(p, 'address_prefix', '')}/{_wrapped_int(_g(p, 'prefix_len')) or 0}")
    return _mk(
        FilterChain,
        {
            "name": fc.get("name", ""),
            "match": m,
            "transport_protocol": _g(m, "transport_protocol", ""),
            "application_protocols": _g(m, "application_protocols") or [],
            "server_names": _g(m, "server_names") or [],
            "destination_port": _wrapped_int(_g(m, "destination_port")),
            "prefix_ranges": pr,
            "has_tls": has_tls,
            "requires_client_cert": req_cert,
            "filters": names,
            "http": http,
            "route_config_name": rds,
            "inline_routes": inline,
            "tcp_cluster": tcp_cluster,
            "rbac_policies": rbac,
            "is_default": is_default,
            "raw": fc,
        },
    )


def _build_listener(
    lst: dict[str, Any], *, state: str, static: bool, error_state: dict[str, Any] | None = None
) -> Listener:
    addr, port, _kind = _socket(lst.get("address"))
    chains = [_build_filter_chain(fc, is_default=False) for fc in _g(lst, "filter_chains") or ()]
    dfc = _g(lst, "default_filter_chain")
    if dfc:
        chains.append(_build_filter_chain(dfc, is_default=True))
    extra = []
    for a in _g(lst, "additional_addresses") or ():
        extra.append(_socket(a.get("address"))[0])
    bind = _g(lst, "bind_to_port")
    if isinstance(bind, dict):
        bind = bind.get("value")
    # deprecated_v1.bind_to_port is how v2-era Istio marked the non-capturing listeners
    dv1 = _g(lst, "deprecated_v1")
    if bind is None and isinstance(dv1, dict):
        b = _g(dv1, "bind_to_port")
        bind = b.get("value") if isinstance(b, dict) else b
    return _mk(
        Listener,
        {
            "name": lst.get("name", ""),
            "address": addr,
            "port": port or 0,
            "additional_addresses": extra,
            "direction": _g(lst, "traffic_direction", ""),
            "virtual": (port in VIRTUAL_PORTS) or bind is False,
            "filter_chains": chains,
            "state": state,
            "error_state": error_state,
            "static": static,
            "raw": lst,
        },
    )


def _locality(loc: dict[str, Any] | None) -> str:
    # istio's util.LocalityToString: region[/zone[/subzone]]
    if not loc:
        return ""
    out = loc.get("region", "")
    zone = loc.get("zone", "")
    if not zone:
        return out
    out += "/" + zone
    sub = _g(loc, "sub_zone", "")
    if not sub:
        return out
    return out + "/" + sub


def _build_cla(cla: dict[str, Any], *, static: bool) -> ClusterEndpoints:
    eps: list[Endpoint] = []
    for llb in cla.get("endpoints") or ():
        loc = _locality(llb.get("locality"))
        for lb in _g(llb, "lb_endpoints") or ():
            ep = lb.get("endpoint") or {}
            address, port, kind = _socket(ep.get("address"))
            add = []
            for a in _g(ep, "additional_addresses") or ():
                a_addr, a_port, a_kind = _socket(a.get("address"))
                add.append(f"{a_addr}:{a_port or 0}" if a_kind == "socket" else a_addr)
            eps.append(
                _mk(
                    Endpoint,
                    {
                        "address": address,
                        "port": port,
                        "kind": kind,
                        "additional": add,
                        "health_status": _g(lb, "health_status", "UNKNOWN"),
                        "locality": loc,
                        "weight": _wrapped_int(_g(lb, "load_balancing_weight")),
                        "hostname": ep.get("hostname", ""),
                    },
                )
            )
    return _mk(
        ClusterEndpoints,
        {"cluster_name": _g(cla, "cluster_name", ""), "endpoints": eps, "static": static, "raw": cla},
    )


def _build_cluster_status(cs: dict[str, Any]) -> ClusterEndpoints:
    """An entry of Envoy ``/clusters?format=json`` (old ``pc endpoint -o json``) as endpoints."""
    eps = []
    for hs in _g(cs, "host_statuses") or ():
        address, port, kind = _socket(hs.get("address"))
        health = _g(hs, "health_status") or {}
        status = _g(health, "eds_health_status", "UNKNOWN")
        for flag in ("failed_active_health_check", "failed_outlier_check"):
            if _g(health, flag):
                status = "UNHEALTHY"
        eps.append(
            _mk(
                Endpoint,
                {
                    "address": address,
                    "port": port,
                    "kind": kind,
                    "additional": [],
                    "health_status": status,
                    "locality": _locality(hs.get("locality")),
                    "weight": _as_int(hs.get("weight")),
                    "hostname": hs.get("hostname", ""),
                },
            )
        )
    return _mk(ClusterEndpoints, {"cluster_name": cs.get("name", ""), "endpoints": eps, "static": False, "raw": cs})


def _node_info(node: dict[str, Any]) -> NodeInfo:
    nid = node.get("id", "")
    parts = nid.split("~")
    ntype = ip = pod = ns = ""
    if len(parts) == 4:
        ntype, ip = parts[0], parts[1]
        pod, _, ns = parts[2].partition(".")
        if not ns:
            ns = parts[3].split(".", 1)[0]
    md = node.get("metadata") or {}
    labels = md.get("LABELS") or {}
    return _mk(
        NodeInfo,
        {
            "id": nid,
            "type": ntype,
            "ip": ip,
            "pod_name": md.get("NAME") or pod,
            "namespace": md.get("NAMESPACE") or ns,
            "istio_version": md.get("ISTIO_VERSION", ""),
            "cluster_id": md.get("CLUSTER_ID", ""),
            "labels": {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
            "mesh_id": md.get("MESH_ID"),
            "metadata": md,
        },
    )


def _version_summary(node: dict[str, Any]) -> VersionSummary:
    # Same derivation as istioctl's PrintBootstrapSummary.
    md = node.get("metadata") or {}
    sha = md.get("ISTIO_PROXY_SHA", "") or ""
    if ":" in sha:
        sha = sha.split(":")[1]
    ua = _g(node, "user_agent_build_version") or {}
    v = ua.get("version") or {}
    envoy = f"{_as_int(_g(v, 'major_number')) or 0}.{_as_int(_g(v, 'minor_number')) or 0}.{_as_int(v.get('patch')) or 0}"
    umd = ua.get("metadata") or {}
    if "build.label" in umd:
        envoy += "-" + str(umd["build.label"])
    for key in ("revision.status", "build.type", "ssl.version"):
        if key in umd:
            envoy += "/" + str(umd[key])
    return _mk(
        VersionSummary,
        {"istio_version": md.get("ISTIO_VERSION", "") or "", "istio_proxy_version": sha, "envoy_version": envoy},
    )


def _build_secret(entry: dict[str, Any], status: str, now: datetime | None) -> SecretInfo:
    from istio_doctor.evidence.envoy.certs import cert_facts

    secret = entry.get("secret") or {}
    tc = _g(secret, "tls_certificate")
    chain = None
    if isinstance(tc, dict):
        # Never keep key material: drop it from the decoded document itself, so neither this
        # model nor any raw view (``-o json``) can ever hold it.
        tc.pop("private_key", None)
        tc.pop("privateKey", None)
        chain = _inline(_g(tc, "certificate_chain"))
    vc = _g(secret, "validation_context")
    ca = _inline(_g(vc, "trusted_ca")) if isinstance(vc, dict) else None
    data = chain if chain else ca
    version = _g(entry, "version_info", "")
    if status == "ACTIVE" and version == "uninitialized":
        status = "UNINITIALIZED"
    fields: dict[str, Any] = {
        "name": entry.get("name", ""),
        "type": "",
        "status": status,
        "valid": False,
        "serial": "",
        "not_after": None,
        "not_before": None,
        "trust_domain": "",
        "version_info": version,
        "cert_chain_pem": None,
    }
    if data:
        facts = cert_facts(data, now=now)
        if facts is not None:
            fields.update(
                type=facts.type,
                valid=facts.valid,
                serial=facts.serial,
                not_after=facts.not_after,
                not_before=facts.not_before,
                trust_domain=facts.trust_domain,
                cert_chain_pem=facts.pem,
            )
    return _mk(SecretInfo, fields)


def _inline(ds: Any) -> bytes | None:
    """Bytes of an ``envoy.config.core.v3.DataSource`` (inline_bytes are base64 in JSON)."""
    if not isinstance(ds, dict):
        return None
    b = _g(ds, "inline_bytes")
    if b:
        try:
            return base64.b64decode(b)
        except ValueError:
            return None
    s = _g(ds, "inline_string")
    if s:
        return s.encode()
    return None


# --------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, now: datetime | None) -> None:
        self.now = now
        self.node = _mk(NodeInfo, NodeInfo().__dict__.copy())
        self.versions = _mk(VersionSummary, VersionSummary().__dict__.copy())
        self.clusters: list[Cluster] = []
        self.listeners: list[Listener] = []
        self.routes: list[RouteConfig] = []
        self.endpoints: list[ClusterEndpoints] = []
        self.secrets: list[SecretInfo] = []
        self.ecds: list[EcdsFilter] = []
        self.sections: list[str] = []
        self.secrets_raw: dict[str, Any] | None = None
        self.bootstrap_raw: dict[str, Any] | None = None

    def mark(self, section: str) -> None:
        if section not in self.sections:
            self.sections.append(section)

    def bootstrap(self, b: dict[str, Any]) -> None:
        self.mark("bootstrap")
        self.bootstrap_raw = b
        node = b.get("node") or {}
        self.node = _node_info(node)
        self.versions = _version_summary(node)

    def clusters_section(self, s: dict[str, Any]) -> None:
        self.mark("clusters")
        out = self.clusters
        for key, warming in (("dynamic_active_clusters", False), ("dynamic_warming_clusters", True)):
            for e in _g(s, key) or ():
                c = e.get("cluster")
                if c:
                    out.append(_build_cluster(c, warming=warming, static=False))
        for e in _g(s, "static_clusters") or ():
            c = e.get("cluster")
            if c:
                out.append(_build_cluster(c, warming=False, static=True))

    def listeners_section(self, s: dict[str, Any]) -> None:
        self.mark("listeners")
        out = self.listeners
        for e in _g(s, "dynamic_listeners") or ():
            err = _g(e, "error_state")
            for key, state in (("active_state", "active"), ("warming_state", "warming"), ("draining_state", "draining")):
                st = _g(e, key)
                if st and st.get("listener"):
                    out.append(_build_listener(st["listener"], state=state, static=False, error_state=err))
            if err and not any(_g(e, k) for k in ("active_state", "warming_state", "draining_state")):
                out.append(
                    _mk(
                        Listener,
                        {**Listener().__dict__, "name": e.get("name", ""), "state": "error", "error_state": err, "raw": e},
                    )
                )
        # legacy envoy.admin.v2alpha layout: one list per state, listener inline
        for key, state in (
            ("dynamic_active_listeners", "active"),
            ("dynamic_warming_listeners", "warming"),
            ("dynamic_draining_listeners", "draining"),
        ):
            for e in _g(s, key) or ():
                if e.get("listener"):
                    out.append(_build_listener(e["listener"], state=state, static=False))
        for e in _g(s, "static_listeners") or ():
            if e.get("listener"):
                out.append(_build_listener(e["listener"], state="active", static=True))

    def routes_section(self, s: dict[str, Any]) -> None:
        self.mark("routes")
        for e in _g(s, "dynamic_route_configs") or ():
            rc = _g(e, "route_config")
            if rc:
                self.routes.append(_build_route_config(rc, static=False))
        for e in _g(s, "static_route_configs") or ():
            rc = _g(e, "route_config")
            if rc:
                self.routes.append(_build_route_config(rc, static=True))

    def endpoints_section(self, s: dict[str, Any]) -> None:
        self.mark("endpoints")
        for e in _g(s, "dynamic_endpoint_configs") or ():
            cla = _g(e, "endpoint_config")
            if cla:
                self.endpoints.append(_build_cla(cla, static=False))
        for e in _g(s, "static_endpoint_configs") or ():
            cla = _g(e, "endpoint_config")
            if cla:
                self.endpoints.append(_build_cla(cla, static=True))

    def secrets_section(self, s: dict[str, Any]) -> None:
        self.mark("secrets")
        self.secrets_raw = s
        # istioctl lists warming secrets first, then active ones.
        for e in _g(s, "dynamic_warming_secrets") or ():
            self.secrets.append(_build_secret(e, "WARMING", self.now))
        for e in _g(s, "dynamic_active_secrets") or ():
            self.secrets.append(_build_secret(e, "ACTIVE", self.now))
        for e in _g(s, "static_secrets") or ():
            self.secrets.append(_build_secret(e, "ACTIVE", self.now))

    def ecds_section(self, s: dict[str, Any]) -> None:
        self.mark("ecds")
        for e in _g(s, "ecds_filters") or ():
            f = _g(e, "ecds_filter") or {}
            tc = _g(f, "typed_config") or {}
            self.ecds.append(_mk(EcdsFilter, {"name": f.get("name", ""), "type_url": tc.get("@type", ""), "raw": e}))

    def build(self) -> ConfigDump:
        return _mk(
            ConfigDump,
            {
                "node": self.node,
                "version_summary": self.versions,
                "clusters": self.clusters,
                "listeners": self.listeners,
                "routes": self.routes,
                "endpoints": self.endpoints,
                "secrets": self.secrets,
                "ecds": self.ecds,
                "sections": self.sections,
                "secrets_raw": self.secrets_raw,
                "bootstrap_raw": self.bootstrap_raw,
            },
        )


_SECTION_HANDLERS = {
    "BootstrapConfigDump": "bootstrap",
    "ClustersConfigDump": "clusters_section",
    "ListenersConfigDump": "listeners_section",
    "RoutesConfigDump": "routes_section",
    "ScopedRoutesConfigDump": None,
    "EndpointsConfigDump": "endpoints_section",
    "SecretsConfigDump": "secrets_section",
    "EcdsConfigDump": "ecds_section",
}


def _decode(text: str | bytes, command: str) -> Any:
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ParseError(_WHAT, f"output is not UTF-8 text ({e})", command=command) from None
    if not text.strip():
        raise ParseError(_WHAT, "output is empty", command=command)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(_WHAT, f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno}; truncated?)", command=command) from None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a dump is decoded and modelled.

    A 50 MB dump decodes to millions of dicts and lists; every few thousand new objects the
    collector walks that whole graph again, which made building the model 3x slower than the
    JSON decoding itself. Nothing built here forms reference cycles (plain dicts, lists and
    models pointing into them), so reference counting frees it all the same.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _without_gc(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _gc_paused():
            return fn(*args, **kwargs)

    return wrapper


@_without_gc
def parse_config_dump(text: str | bytes, *, command: str = "", now: datetime | None = None) -> ConfigDump:
    """Parse a raw admin ``/config_dump`` or ``istioctl proxy-config all -o json``.

    ``now`` fixes the instant secret validity is judged at (default: the current time).
    Also accepts a single per-type output (a JSON array, or ``{"bootstrap": ...}``), sniffed by
    content because dumps are routinely saved with the wrong extension.
    """
    doc = _decode(text, command)
    if isinstance(doc, list):
        return _from_array(doc, command=command, now=now)
    if not isinstance(doc, dict):
        raise ParseError(_WHAT, f"expected a JSON object with 'configs', got {type(doc).__name__}", command=command)
    configs = doc.get("configs")
    if configs is None:
        if "bootstrap" in doc or "node" in doc:
            # `proxy-config bootstrap -o json`, or a saved bootstrap/node excerpt
            return config_dump_from_parts(bootstrap=doc, now=now)
        if _g(doc, "ecds_filters") is not None:
            b = _Builder(now)
            b.ecds_section(doc)
            return b.build()
        if any(_g(doc, k) is not None for k in ("dynamic_active_secrets", "dynamic_warming_secrets")):
            b = _Builder(now)
            b.secrets_section(doc)
            return b.build()
        raise ParseError(_WHAT, "no 'configs' list: this is not an Envoy config dump", command=command)
    if not isinstance(configs, list):
        raise ParseError(_WHAT, "'configs' is not a list", command=command)
    b = _Builder(now)
    known = 0
    for i, sec in enumerate(configs):
        if not isinstance(sec, dict):
            raise ParseError(_WHAT, f"configs[{i}] is not an object", command=command)
        t = sec.get("@type", "")
        if not isinstance(t, str):
            raise ParseError(_WHAT, f"configs[{i}] has an @type that is not a string", command=command)
        kind = t.rsplit(".", 1)[-1]
        if kind not in _SECTION_HANDLERS:
            continue
        known += 1
        handler = _SECTION_HANDLERS[kind]
        if handler is None:
            continue
        try:
            if handler == "bootstrap":
                b.bootstrap(sec.get("bootstrap") or {})
            else:
                getattr(b, handler)(sec)
        except (AttributeError, TypeError, KeyError) as e:
            # A section with the right @type but the wrong shape: say where, not a traceback.
            raise ParseError(_WHAT, f"configs[{i}] ({kind}) has an unexpected shape: {e}", command=command) from None
    if known == 0:
        raise ParseError(_WHAT, "'configs' contains no Envoy admin config-dump sections", command=command)
    return b.build()


def _sniff_array(items: list[Any]) -> str:
    for it in items:
        if not isinstance(it, dict):
            return ""
        t = it.get("@type", "")
        if t and isinstance(t, str):
            return t.rsplit(".", 1)[-1]
        if _g(it, "cluster_name") is not None and "endpoints" in it or _g(it, "lb_endpoints") is not None:
            return "ClusterLoadAssignment"
        if _g(it, "host_statuses") is not None:
            return "ClusterStatus"
        if _g(it, "virtual_hosts") is not None:
            return "RouteConfiguration"
        if _g(it, "filter_chains") is not None or _g(it, "default_filter_chain") is not None or "address" in it and "listener_filters" in it:
            return "Listener"
        if "type" in it or _g(it, "connect_timeout") is not None or _g(it, "eds_cluster_config") is not None or _g(it, "load_assignment") is not None:
            return "Cluster"
    return ""


def _from_array(items: list[Any], *, command: str, now: datetime | None) -> ConfigDump:
    kind = _sniff_array(items)
    if kind == "Cluster":
        return config_dump_from_parts(clusters=items, now=now)
    if kind == "Listener":
        return config_dump_from_parts(listeners=items, now=now)
    if kind == "RouteConfiguration":
        return config_dump_from_parts(routes=items, now=now)
    if kind in ("ClusterLoadAssignment", "ClusterStatus"):
        return config_dump_from_parts(endpoints=items, now=now)
    if not items:
        raise ParseError(_WHAT, "empty JSON array: nothing to parse", command=command)
    raise ParseError(_WHAT, "JSON array of unknown objects (not clusters, listeners, routes or endpoints)", command=command)


def _parse_part(value: Any, what: str) -> Any:
    if isinstance(value, str | bytes | bytearray):
        return _decode(value, f"istioctl proxy-config {what} -o json")
    return value


@_without_gc
def config_dump_from_parts(
    *,
    bootstrap: Any = None,
    clusters: Any = None,
    listeners: Any = None,
    routes: Any = None,
    endpoints: Any = None,
    secrets: Any = None,
    now: datetime | None = None,
) -> ConfigDump:
    """Assemble one :class:`ConfigDump` from per-type ``istioctl proxy-config <type> -o json`` outputs.

    Each argument is the output text (or already-decoded JSON): protojson arrays of Cluster,
    Listener, RouteConfiguration, ClusterLoadAssignment (or ``/clusters?format=json``
    ClusterStatus) objects; ``bootstrap`` is ``{"bootstrap": {...}}``; ``secrets`` a
    SecretsConfigDump object.
    """
    b = _Builder(now)
    if bootstrap is not None:
        doc = _parse_part(bootstrap, "bootstrap")
        if not isinstance(doc, dict):
            raise ParseError("bootstrap dump", "expected a JSON object", command="istioctl proxy-config bootstrap -o json")
        b.bootstrap(doc.get("bootstrap", doc))
    for value, what, handler in (
        (clusters, "cluster", _add_clusters),
        (listeners, "listener", _add_listeners),
        (routes, "route", _add_routes),
        (endpoints, "endpoint", _add_endpoints),
    ):
        if value is None:
            continue
        doc = _parse_part(value, what)
        if not isinstance(doc, list):
            raise ParseError(f"{what} list", "expected a JSON array", command=f"istioctl proxy-config {what} -o json")
        try:
            handler(b, doc)
        except (AttributeError, TypeError, KeyError) as e:
            raise ParseError(f"{what} list", f"unexpected shape: {e}", command=f"istioctl proxy-config {what} -o json") from None
    if secrets is not None:
        doc = _parse_part(secrets, "secret")
        if not isinstance(doc, dict):
            raise ParseError("secret dump", "expected a JSON object", command="istioctl proxy-config secret -o json")
        b.secrets_section(doc)
    return b.build()


def _add_clusters(b: _Builder, items: list[dict[str, Any]]) -> None:
    b.mark("clusters")
    b.clusters.extend(_build_cluster(c, warming=False, static=False) for c in items)


def _add_listeners(b: _Builder, items: list[dict[str, Any]]) -> None:
    b.mark("listeners")
    b.listeners.extend(_build_listener(lst, state="active", static=False) for lst in items)


def _add_routes(b: _Builder, items: list[dict[str, Any]]) -> None:
    b.mark("routes")
    b.routes.extend(_build_route_config(rc, static=False) for rc in items)


def _add_endpoints(b: _Builder, items: list[dict[str, Any]]) -> None:
    b.mark("endpoints")
    for e in items:
        if _g(e, "host_statuses") is not None:
            b.endpoints.append(_build_cluster_status(e))
        else:
            b.endpoints.append(_build_cla(e, static=False))
