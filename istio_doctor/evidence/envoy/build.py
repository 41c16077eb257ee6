"""Builders: one decoded Envoy resource (a dict, either dialect) -> its model.

Field access goes through :func:`_g`, which tries the snake_case key and then its camelCase
twin, because protojson accepts both spellings and real files mix them (istioctl's own
bootstrap testdata has ``userAgentBuildVersion`` inside a snake_case dump). Keys that are
*data* (filter-metadata namespaces, ``tlsMode`` match labels, node metadata) are never
converted.
"""

from __future__ import annotations

import base64
import sys
from datetime import datetime
from typing import Any

import msgspec

from istio_doctor.evidence.envoy.model import (
    FAULT_NAMES,
    HCM_NAMES,
    RBAC_NAMES,
    TCP_PROXY_NAMES,
    VIRTUAL_PORTS,
    CircuitBreakers,
    Cluster,
    ClusterEndpoints,
    ClusterTLS,
    Endpoint,
    FilterChain,
    Listener,
    NodeInfo,
    Route,
    RouteConfig,
    RouteMatch,
    SecretInfo,
    VersionSummary,
    VirtualHost,
    _mk,
    split_cluster_name,
)
from istio_doctor.evidence.envoy.decode import RawRef, ref_child

_ENCODE = msgspec.json.Encoder(order="sorted").encode

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


# -- memory: a big dump repeats the same small values tens of thousands of times ------------

_NONE: tuple[str, ...] = ()


def _intern(v: Any) -> Any:
    """One string object per distinct short value (``HEALTHY``, ``EDS``, ``10s``, ...)."""
    return sys.intern(v) if type(v) is str and len(v) <= 64 else v


_SHARED: dict[bytes, Any] = {}


def _shared(v: Any) -> Any:
    """Identical small sub-documents (istiod gives most routes one retry policy) become one
    object. They are read-only data of the model; the cache holds at most a few hundred."""
    if not isinstance(v, dict):
        return v
    key = _ENCODE(v)
    got = _SHARED.get(key)
    if got is None:
        if len(_SHARED) > 512:
            _SHARED.clear()
        got = _SHARED[key] = v
    return got


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


def _tcp_is_blackhole(tc: dict[str, Any]) -> bool:
    # istioctl greps the serialized TcpProxy for "BlackHoleCluster"; the name can only be in
    # the cluster, a weighted cluster or the stat prefix.
    if "BlackHoleCluster" in str(tc.get("cluster", "")) or "BlackHoleCluster" in str(_g(tc, "stat_prefix", "")):
        return True
    wc = _g(tc, "weighted_clusters") or {}
    return any("BlackHoleCluster" in str(w.get("name", "")) for w in wc.get("clusters") or ())


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
    limits = (
        _wrapped_int(_g(th, "max_connections")),
        _wrapped_int(_g(th, "max_pending_requests")),
        _wrapped_int(_g(th, "max_requests")),
        _wrapped_int(_g(th, "max_retries")),
    )
    # Nearly every cluster has the same limits (istiod's defaults): one shared, read-only instance.
    got = _BREAKERS.get(limits)
    if got is None:
        if len(_BREAKERS) > 512:
            _BREAKERS.clear()
        got = _BREAKERS[limits] = _mk(CircuitBreakers, dict(zip(("max_connections", "max_pending_requests", "max_requests",
                                                                 "max_retries"), limits, strict=True)))
    return got


_BREAKERS: dict[tuple[int | None, ...], CircuitBreakers] = {}


def _build_cluster(c: dict[str, Any], ref: RawRef, *, warming: bool, static: bool) -> Cluster:
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
            "direction": _intern(direction),
            "port": port,
            "subset": subset,
            "fqdn": fqdn,
            "type": _intern(ctype),
            "table_type": _intern(c.get("type") or "STATIC"),
            "destination_rule": _istio_ref(cfg),
            "istio_config": cfg,
            "tls": _cluster_tls(c),
            "circuit_breakers": _circuit_breakers(c),
            "outlier_detection": _g(c, "outlier_detection"),
            "connect_timeout": _intern(_g(c, "connect_timeout")),
            "warming": warming,
            "static": static,
            "raw_ref": ref,
        },
    )


def _build_route(r: dict[str, Any], ref: RawRef) -> Route:
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
            "retry_policy": _shared(retry),
            "fault": fault,
            "virtual_service": _istio_ref(cfg),
            "istio_config": cfg,
            "raw_ref": ref,
        },
    )


def _build_route_config(rc: dict[str, Any], ref: RawRef, *, static: bool) -> RouteConfig:
    vhosts = []
    for i, vh in enumerate(_g(rc, "virtual_hosts") or ()):
        vhosts.append(
            _mk(
                VirtualHost,
                {
                    "name": vh.get("name", ""),
                    "domains": vh.get("domains") or [],
                    "routes": [_build_route(r, ref_child(ref, "virtual_hosts", i, "routes", j)) for j, r in enumerate(vh.get("routes") or ())],
                },
            )
        )
    return _mk(RouteConfig, {"name": rc.get("name", ""), "virtual_hosts": vhosts, "static": static, "raw_ref": ref,
                             "ignore_port_in_host_matching": bool(_g(rc, "ignore_port_in_host_matching", False))})


def _build_filter_chain(fc: dict[str, Any], ref: RawRef, *, is_default: bool) -> FilterChain:
    m = _g(fc, "filter_chain_match") or {}
    filters = fc.get("filters") or []
    names: list[str] = []
    http = False
    rds = None
    inline = None
    tcp_cluster = None
    rbac: list[str] = []
    network: list[tuple[str, bool, str]] = []
    for k, f in enumerate(filters):
        fname = f.get("name", "")
        names.append(fname)
        if fname in TCP_PROXY_NAMES:
            tp = _typed(f)
            network.append((fname, _tcp_is_blackhole(tp), str(tp.get("cluster", ""))))
        else:
            network.append((fname, False, ""))
        if fname in HCM_NAMES:
            http = True
            hcm = _typed(f)
            rds_cfg = hcm.get("rds")
            if rds_cfg:
                rds = _g(rds_cfg, "route_config_name")
            rc = _g(hcm, "route_config")
            if rc is not None:
                where = "typed_config" if _g(f, "typed_config") is not None else "config"
                inline = _build_route_config(rc, ref_child(ref, "filters", k, where, "route_config"), static=True)
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
            "network_filters": network,
            "http": http,
            "route_config_name": rds,
            "inline_routes": inline,
            "tcp_cluster": tcp_cluster,
            "rbac_policies": rbac,
            "is_default": is_default,
            "raw_ref": ref,
        },
    )


def _build_listener(
    lst: dict[str, Any], ref: RawRef, *, state: str, static: bool, error_state: dict[str, Any] | None = None
) -> Listener:
    addr, port, _kind = _socket(lst.get("address"))
    chains = [_build_filter_chain(fc, ref_child(ref, "filter_chains", i), is_default=False)
              for i, fc in enumerate(_g(lst, "filter_chains") or ())]
    dfc = _g(lst, "default_filter_chain")
    if dfc:
        chains.append(_build_filter_chain(dfc, ref_child(ref, "default_filter_chain"), is_default=True))
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
            "raw_ref": ref,
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


def _endpoint(
    addr: dict[str, Any] | None,
    *,
    additional: list[str] | tuple[str, ...],
    health_status: str,
    locality: str,
    weight: int | None,
    hostname: str,
) -> Endpoint:
    """An :class:`Endpoint` at an Envoy ``Address`` message: the construction shared by the EDS
    view of the config dump and the admin ``/clusters`` view, which differ only in where health,
    locality and weight are read from."""
    address, port, kind = _socket(addr)
    return _mk(
        Endpoint,
        {
            "address": address,
            "port": port,
            "kind": kind,
            "additional": additional,
            "health_status": health_status,
            "locality": locality,
            "weight": weight,
            "hostname": hostname,
        },
    )


def _build_cla(cla: dict[str, Any], ref: RawRef | None, *, static: bool) -> ClusterEndpoints:
    eps: list[Endpoint] = []
    for llb in cla.get("endpoints") or ():
        loc = _locality(llb.get("locality"))
        for lb in _g(llb, "lb_endpoints") or ():
            ep = lb.get("endpoint") or {}
            add = []
            for a in _g(ep, "additional_addresses") or ():
                a_addr, a_port, a_kind = _socket(a.get("address"))
                add.append(f"{a_addr}:{a_port or 0}" if a_kind == "socket" else a_addr)
            eps.append(
                _endpoint(
                    ep.get("address"),
                    additional=add or _NONE,
                    health_status=_intern(_g(lb, "health_status", "UNKNOWN")),
                    locality=_intern(loc),
                    weight=_wrapped_int(_g(lb, "load_balancing_weight")),
                    hostname=ep.get("hostname", ""),
                )
            )
    return _mk(
        ClusterEndpoints,
        {"cluster_name": _g(cla, "cluster_name", ""), "endpoints": eps, "static": static, "raw_ref": ref},
    )


def _build_cluster_status(cs: dict[str, Any], ref: RawRef) -> ClusterEndpoints:
    """An entry of Envoy ``/clusters?format=json`` (old ``pc endpoint -o json``) as endpoints."""
    eps = []
    for hs in _g(cs, "host_statuses") or ():
        health = _g(hs, "health_status") or {}
        status = _g(health, "eds_health_status", "UNKNOWN")
        for flag in ("failed_active_health_check", "failed_outlier_check"):
            if _g(health, flag):
                status = "UNHEALTHY"
        eps.append(
            _endpoint(
                hs.get("address"),
                additional=[],
                health_status=status,
                locality=_locality(hs.get("locality")),
                weight=_as_int(hs.get("weight")),
                hostname=hs.get("hostname", ""),
            )
        )
    return _mk(ClusterEndpoints, {"cluster_name": cs.get("name", ""), "endpoints": eps, "static": False, "raw_ref": ref})


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


_SPIFFE_VALIDATOR = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig"


def _build_secret(entry: dict[str, Any], status: str, now: datetime | None, *, static: bool = False) -> list[SecretInfo]:
    """The rows of one SDS secret, as istioctl's ``sdscompare.parseDynamicSecret`` derives them.

    A certificate chain, else a ``trusted_ca``, gives one row. A validation context that trusts
    SPIFFE trust bundles instead (``custom_validator_config`` with a SPIFFECertValidatorConfig:
    SPIRE, federated and multi-cluster meshes) gives one row per trust domain, named by the
    ``Secret``'s own name, with that trust domain (istio/istio#53650, istioctl >= 1.25,
    istioctl/pkg/writer/compare/sds/util.go ``parseTrustBundles``). A SPIFFE validator with no
    trust domain gives no row at all, as in istioctl.
    """
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
    version = _g(entry, "version_info", "")
    if status == "ACTIVE" and version == "uninitialized":
        status = "UNINITIALIZED"
    base: dict[str, Any] = {
        "name": entry.get("name", ""),
        "type": "",
        "status": status,
        "valid": False,
        "serial": "",
        "not_after": None,
        "not_before": None,
        "trust_domain": "",
        "bundle_trust_domain": "",
        "version_info": version,
        "static": static,
        "cert_chain_pem": None,
    }

    def row(fields: dict[str, Any], data: bytes | None, trust_domain: str = "") -> SecretInfo:
        if data:
            facts = cert_facts(data, now=now, trust_domain=trust_domain)
            if facts is not None:
                fields.update(type=facts.type, valid=facts.valid, serial=facts.serial, not_after=facts.not_after,
                              not_before=facts.not_before, trust_domain=facts.trust_domain, cert_chain_pem=facts.pem)
        return _mk(SecretInfo, fields)

    data = chain if chain else ca
    if not data and isinstance(vc, dict):
        cvc = _g(vc, "custom_validator_config")
        spiffe = _g(cvc, "typed_config") if isinstance(cvc, dict) else None
        if isinstance(spiffe, dict) and spiffe.get("@type") == _SPIFFE_VALIDATOR:
            rows = []
            for td in _g(spiffe, "trust_domains") or ():
                name = str(td.get("name", ""))
                fields = {**base, "name": secret.get("name", ""), "bundle_trust_domain": name}
                rows.append(row(fields, _inline(_g(td, "trust_bundle")), name))
            return rows
    return [row(base, data)]


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
