"""Follow a request through an ambient waypoint's Envoy: :func:`trace_waypoint`.

A waypoint is not met through iptables or a gateway port. Its configuration, read at
istio/istio@1.22.0..1.26.0 ``pilot/pkg/networking/core/listener_waypoint.go`` and
``cluster_waypoint.go`` (the names are constants in ``waypoint.go``, unchanged over those tags):

1. ``connect_terminate`` on ``0.0.0.0:15008`` (``buildConnectTerminateListener``): one filter
   chain ``default`` whose ``DownstreamTlsContext`` requires a client certificate (the source
   ztunnel's HBONE mTLS), an HTTP connection manager with an inline route configuration
   ``default`` whose only route has a ``connect_matcher`` and forwards the CONNECT stream to
   cluster ``main_internal`` (``buildWaypointInboundConnectTerminate``).
2. cluster ``main_internal``: STATIC, one ``envoy_internal_address`` endpoint naming the
   internal listener ``main_internal`` (``buildInternalUpstreamCluster``).
3. internal listener ``main_internal`` (``buildWaypointInternal``): its ``original_dst``
   listener filter restores the destination the CONNECT authority named (the
   ``connect_authority`` HTTP filter put it in filter state), and its ``filter_chain_matcher``
   picks a chain by destination IP (the service VIPs; pod IPs for direct access), then port,
   then (for sniffed ports) application protocol: ``inbound-vip|PORT|http|HOST`` /
   ``inbound-vip|PORT|tcp|HOST``, or ``direct-http`` / ``direct-tcp``. These chains are what the
   generic tracer already walks (matcher, HTTP connection manager, RBAC, routes).
4. cluster ``inbound-vip|PORT|http|HOST``: EDS whose endpoints are ``envoy_internal_address``
   ``connect_originate`` with ``endpoint_id`` ``POD_IP:TARGET_PORT`` and the filter metadata
   ``envoy.filters.listener.original_dst`` ``{local: POD_IP:PORT[, waypoint: ADDR]}``
   (``pilot/pkg/xds/endpoints/endpoint_builder.go``, ``util.BuildTunnelMetadataStruct``), behind
   the ``internal_upstream`` transport socket that passes that metadata through.
5. internal listener ``connect_originate`` (``buildConnectOriginateListener``): ``tcp_proxy``
   to cluster ``connect_originate`` with ``tunneling_config.hostname:
   %DOWNSTREAM_LOCAL_ADDRESS%`` (the CONNECT authority is ``POD_IP:PORT``); that cluster is
   ORIGINAL_DST with ``upstream_port_override: 15008`` and a ``metadata_key`` on the ``waypoint``
   path (``buildConnectOriginate``): the tunnel goes to the pod's ztunnel on 15008 over mTLS,
   or to the address under ``waypoint`` when the endpoint names one.

What the dump cannot show (whether the server's ztunnel accepts the tunnel, its L4 policy, the
application's sockets) is listed in ``unknowns``; the live trace adds the ztunnel hops.
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.trace import listeners as L
from istio_doctor.engine.trace import upstream as U
from istio_doctor.engine.trace.index import field
from istio_doctor.engine.trace.model import Stage, Trace, TraceRequest, Upstream
from istio_doctor.engine.trace.tracer import _Tracer
from istio_doctor.evidence.envoy.model import ConfigDump, Listener

__all__ = ["CONNECT_TERMINATE", "CONNECT_ORIGINATE", "HBONE_PORT", "MAIN_INTERNAL", "is_waypoint", "trace_waypoint"]

#: istio/istio@1.24.0 pilot/pkg/networking/core/waypoint.go (same at 1.22.0 and 1.26.0)
CONNECT_TERMINATE = "connect_terminate"
MAIN_INTERNAL = "main_internal"
CONNECT_ORIGINATE = "connect_originate"
#: model.HBoneInboundListenPort (pilot/pkg/model/service.go)
HBONE_PORT = 15008
#: util.OriginalDstMetadataKey (pilot/pkg/networking/util/util.go)
_TUNNEL_MD = "envoy.filters.listener.original_dst"
_WHERE = "istio/istio@1.24.0 pilot/pkg/networking/core/listener_waypoint.go"


def is_waypoint(dump: ConfigDump) -> bool:
    """Node id ``waypoint~...`` (a sidecar with HBONE inbound also has ``main_internal``)."""
    return dump.node.type == "waypoint"


def _internal_target(address: str) -> tuple[str, str] | None:
    """``envoy://LISTENER/ENDPOINT_ID`` (how the endpoint parser renders an internal address,
    as ``istioctl proxy-config endpoint`` prints it) -> (listener, endpoint id)."""
    if not address.startswith("envoy://"):
        return None
    name, _, eid = address[len("envoy://"):].partition("/")
    return name, eid


def _lb_endpoint_metadata(raw_cla: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
    """The ``envoy.filters.listener.original_dst`` filter metadata of the endpoint whose internal
    address carries ``endpoint_id``."""
    for llb in raw_cla.get("endpoints") or ():
        for lb in field(llb, "lb_endpoints") or ():
            addr = field(field(lb.get("endpoint") or {}, "address") or {}, "envoy_internal_address") or {}
            if str(field(addr, "endpoint_id") or "") == endpoint_id:
                fm = field(lb.get("metadata") or {}, "filter_metadata") or {}
                return dict(fm.get(_TUNNEL_MD) or {})
    return {}


class _WaypointTracer(_Tracer):
    """The generic tracer, entered through HBONE termination instead of a capture port."""

    def _direction(self) -> str:
        return "waypoint"

    def peer_mtls(self) -> bool:
        return True  # connect_terminate requires the peer ztunnel's certificate

    # -- HBONE in: connect_terminate -> main_internal -----------------------------------

    def capture(self) -> None:
        req = self.req
        term = next((x for x in self.dump.listeners if x.name == CONNECT_TERMINATE), None) or self.idx.listener_on_port(HBONE_PORT)
        if term is None:
            self.hop(Stage.TUNNEL, f"{CONNECT_TERMINATE} (:{HBONE_PORT})", "not in the dump",
                     f"the dump has no {CONNECT_TERMINATE} listener, so how the HBONE tunnel reaches {MAIN_INTERNAL} is not "
                     "shown; the trace starts at the internal listener", status="unknown")
            self.unknowns.append(f"the waypoint's HBONE termination ({CONNECT_TERMINATE} on port {HBONE_PORT}) is not in the dump")
            return
        tname = term.name or f"{term.address}:{term.port}"
        self.hop(Stage.LISTENER, tname, f"receives HBONE on {term.address}:{term.port}",
                 f"ztunnel sends a connection for {req.target} to the waypoint as an HTTP/2 CONNECT over mutual TLS to port "
                 f"{HBONE_PORT} ({_WHERE} buildConnectTerminateListener)", L.listener_excerpt(term))
        fc = next(iter(term.filter_chains), None)
        if fc is None:
            self.brk(Stage.FILTER_CHAIN, tname, "no filter chain", "the HBONE listener has no filter chain: Envoy closes the tunnel",
                     L.listener_excerpt(term), details="filter_chain_not_found", response="connection reset (HBONE refused)")
        assert fc is not None
        self.hop(Stage.DOWNSTREAM_TLS, fc.name or tname, "terminates mutual TLS" if fc.requires_client_cert else
                 ("terminates TLS" if fc.has_tls else "plaintext HBONE"),
                 "the source ztunnel presents its workload's certificate; the waypoint reads the peer identity from it"
                 if fc.requires_client_cert else "the HBONE chain does not require a client certificate",
                 status="info" if fc.has_tls else "warn")
        hcm = next((field(f, "typed_config") or {} for f in fc.raw.get("filters") or ()
                    if f.get("name") in ("envoy.filters.network.http_connection_manager", "envoy.http_connection_manager")), None)
        rc = fc.inline_routes
        route = None
        if rc is not None:
            route = next((r for vh in rc.virtual_hosts for r in vh.routes if field(r.raw.get("match") or {}, "connect_matcher") is not None), None)
        if hcm is None or route is None:
            self.brk(Stage.ROUTE, fc.name or tname, "no CONNECT route",
                     "the HBONE chain has no route with a connect_matcher: Envoy answers the CONNECT with 404 and the tunnel fails",
                     L.chain_excerpt(fc), details="route_not_found", response="HBONE CONNECT refused (404)")
        assert route is not None
        target = (route.raw.get("route") or {}).get("cluster") or ""
        self.hop(Stage.ROUTE, route.name or "connect_matcher", f"CONNECT {req.target} -> cluster {target}",
                 "the inline route 'default' matches CONNECT (connect_matcher) and upgrades it to a TCP stream; the "
                 "connect_authority filter keeps the authority as the stream's original destination "
                 f"({_WHERE} buildWaypointInboundConnectTerminate)", L.excerpt(_route_excerpt(route.raw)))
        self._into_internal(target, Stage.TUNNEL)

    def _into_internal(self, cluster_name: str, stage: Stage) -> Listener:
        """Follow an internal upstream cluster to the internal listener its endpoint names."""
        c = self.dump.cluster(cluster_name)
        if c is None:
            if not self.idx.has("clusters"):
                self.unknown(Stage.CLUSTER, cluster_name, "clusters not in the dump", f"cluster {cluster_name!r} is needed and the dump has no clusters section")
            self.brk(Stage.CLUSTER, cluster_name, "cluster not found", f"the CONNECT route names cluster {cluster_name!r}, which "
                     "the waypoint does not have", details="cluster_not_found", response="HBONE CONNECT fails (503 NC)")
        assert c is not None
        eps = U.static_endpoints(c)
        tgt = _internal_target(eps[0].address) if eps else None
        if tgt is None:
            self.unknown(Stage.CLUSTER, cluster_name, "not an internal upstream",
                         f"cluster {cluster_name!r} has no envoy_internal_address endpoint", L.excerpt(field(c.raw, "load_assignment") or {}))
        assert tgt is not None
        lname = tgt[0]
        lst = next((x for x in self.dump.listeners if x.name == lname), None)
        if lst is None:
            self.brk(stage, cluster_name, f"internal listener {lname} missing",
                     f"cluster {cluster_name!r} connects to internal listener {lname!r}, which the dump does not have: the "
                     "internal connection fails", L.excerpt(field(c.raw, "load_assignment") or {}),
                     details="upstream_reset_before_response_started{connection_failure}", response="503 UF")
        assert lst is not None
        self.hop(stage, cluster_name, f"internal upstream to {lname}",
                 f"STATIC cluster whose endpoint is envoy_internal_address {lname!r} ({_WHERE.replace('listener_', 'cluster_')} "
                 "buildInternalUpstreamCluster)", L.excerpt({"name": c.name, "type": c.type, "endpoint": eps[0].address}), "info")
        return lst

    def select_listener(self) -> Listener:
        req = self.req
        lst = next((x for x in self.dump.listeners if x.name == MAIN_INTERNAL), None)
        if lst is None:
            self.unknown(Stage.LISTENER, MAIN_INTERNAL, "no main_internal listener",
                         "the dump has no main_internal listener: it is not a waypoint's listener set (or the listeners were trimmed)")
        assert lst is not None
        self.hop(Stage.LISTENER, MAIN_INTERNAL, f"internal listener; destination {req.target}",
                 "its original_dst listener filter restores the destination the CONNECT named; the filter chain matcher "
                 f"dispatches on that IP (service VIPs, then pod IPs for direct access) and port ({_WHERE} buildWaypointInternal)",
                 L.excerpt({"name": lst.name, "internal_listener": {}, "listener_filters":
                            [f.get("name") for f in field(lst.raw, "listener_filters") or ()]}))
        return lst

    # -- HBONE out: inbound-vip endpoints -> connect_originate --------------------------

    def tls_for(self, c: Any, ep: Any, addr: str, http: bool) -> None:
        tgt = _internal_target(ep.address)
        if tgt is None:
            super().tls_for(c, ep, addr, http)
            return
        lname, eid = tgt
        svc = field(field(c.raw, "eds_cluster_config") or {}, "service_name") or c.name
        ce = self.idx.endpoints.get(svc)
        md = _lb_endpoint_metadata(ce.raw if ce is not None else (field(c.raw, "load_assignment") or {}), eid)
        local = str(md.get("local") or eid or self.req.target)
        via = md.get("waypoint")
        self.hop(Stage.UPSTREAM_TLS, c.name, f"internal upstream to {lname}, destination {local}",
                 "the endpoint is an envoy_internal_address: the internal_upstream transport socket passes its "
                 f"{_TUNNEL_MD} metadata (local {local}{', waypoint ' + str(via) if via else ''}) to listener {lname!r}",
                 L.excerpt({"endpoint": ep.address, "metadata": {_TUNNEL_MD: md}}), "info")
        orig = next((x for x in self.dump.listeners if x.name == lname), None)
        if orig is None:
            self.brk(Stage.TUNNEL, lname, "internal listener missing", f"the endpoints point at internal listener {lname!r}, "
                     "which the dump does not have", details="upstream_reset_before_response_started{connection_failure}",
                     response="503 UF" if http else "connection closed (UF)")
        assert orig is not None
        tp = next((field(f, "typed_config") or {} for fc in orig.filter_chains for f in fc.raw.get("filters") or ()
                   if f.get("name") in ("envoy.filters.network.tcp_proxy", "envoy.tcp_proxy")), {})
        out_cluster = str(tp.get("cluster") or "")
        hostname = field(field(tp, "tunneling_config") or {}, "hostname")
        oc = self.dump.cluster(out_cluster) if out_cluster else None
        if oc is None:
            why = (f"{lname}'s tcp_proxy names no cluster" if not out_cluster else
                   f"{lname}'s tcp_proxy forwards to cluster {out_cluster!r}, which the dump does not have")
            if not self.idx.has("clusters"):
                self.unknown(Stage.TUNNEL, lname, "tunnel cluster not in the dump", why)
            self.brk(Stage.TUNNEL, lname, "no tunnel cluster", why, L.excerpt(tp), details="cluster_not_found",
                     response="503 NC" if http else "connection closed (NC)")
        assert oc is not None
        lb = field(oc.raw, "original_dst_lb_config") or {}
        override = L.proto_int(field(lb, "upstream_port_override")) or None
        key_path = [s.get("key") for s in (field(field(lb, "metadata_key") or {}, "path") or ())]
        host = str(via) if via and "waypoint" in key_path else local.rpartition(":")[0]
        port = override or L.proto_int(local.rpartition(":")[2] or 0)
        sock = U.choose_socket(oc, {})
        dial = f"{host.strip('[]')}:{port}" if ":" not in host.strip("[]") else f"[{host.strip('[]')}]:{port}"
        connect = local if hostname == "%DOWNSTREAM_LOCAL_ADDRESS%" else (hostname or "?")
        self.hop(Stage.TUNNEL, f"{lname} -> {oc.name}", f"HBONE CONNECT {connect} via {dial} ({sock.tls})",
                 f"tcp_proxy tunneling_config hostname {hostname!r} names the CONNECT authority; cluster {oc.name!r} is "
                 f"{oc.type} with upstream_port_override {override}" + (" and follows the endpoint's 'waypoint' metadata"
                 if via and "waypoint" in key_path else "") + f" ({_WHERE} buildConnectOriginateListener, "
                 "cluster_waypoint.go buildConnectOriginate)",
                 L.excerpt({"tunneling_config": field(tp, "tunneling_config"), "cluster": oc.name, "type": oc.type,
                            "original_dst_lb_config": lb}), "ok" if sock.tls != "plaintext" else "warn")
        self.upstream = Upstream(cluster=c.name, address=local, tls="istio_mutual" if sock.tls == "istio_mutual" else sock.tls,  # type: ignore[arg-type]
                                 sni=sock.sni, alpn=sock.alpn)
        self.unknowns.append(f"whether the ztunnel at {dial} accepts the tunnel and its L4 policy allows it "
                             "(ztunnel's configuration, not this dump)")



def _route_excerpt(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: raw[k] for k in ("match", "route", "name") if k in raw}


def trace_waypoint(dump: ConfigDump, req: TraceRequest, *, proxy: str | None = None) -> Trace:
    """What a waypoint's Envoy does with ``req`` tunnelled to it by ztunnel over HBONE."""
    return _WaypointTracer(dump, req, proxy, None).run()
