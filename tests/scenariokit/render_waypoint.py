"""The Envoy config dump of an ambient waypoint pod, derived from the world.

Built from Istio's generator, not from belief (read at istio/istio@1.24.0; the names are the
constants of ``pilot/pkg/networking/core/waypoint.go``, the same at 1.22.0 and 1.26.0):

* ``listener_waypoint.go`` ``buildWaypointInbound``: three listeners. ``connect_terminate`` on
  0.0.0.0:15008 (``buildConnectTerminateListener``: chain ``default``, DownstreamTlsContext with
  ``require_client_certificate``, HCM with inline route ``default`` whose one route has a
  ``connect_matcher`` and ``upgrade_configs CONNECT`` to cluster ``main_internal``);
  ``main_internal`` (``buildWaypointInternal``: internal listener, ``original_dst`` +
  ``http_inspector`` listener filters, a ``filter_chain_matcher`` DestinationIP (IPMatcher over
  the service VIPs) -> DestinationPort exact -> chain ``inbound-vip|PORT|http|HOST`` or
  ``...|tcp|...`` (sniffed ports: ApplicationProtocol -> http chain, else tcp), plus
  ``direct-tcp``/``direct-http`` for pods bound to the waypoint); ``connect_originate``
  (``buildConnectOriginateListener``: internal listener, ``tcp_proxy`` to cluster
  ``connect_originate`` with ``tunneling_config.hostname %DOWNSTREAM_LOCAL_ADDRESS%``).
* ``buildWaypointInboundHTTPRouteConfig``: without a VirtualService bound to the service, the
  route configuration is the sidecar-inbound one (``buildSidecarInboundHTTPRouteConfig``): one
  virtual host ``inbound|http|PORT`` with domains ``*`` and route ``default`` to the chain's
  cluster. The kit renders only that case (no waypoint VirtualService routes, no waypoint
  AuthorizationPolicy RBAC filters).
* ``cluster_waypoint.go``: ``main_internal`` and ``encap`` are STATIC internal-upstream
  clusters (``buildInternalUpstreamCluster``); ``connect_originate`` is ORIGINAL_DST with
  ``upstream_port_override 15008``, a ``metadata_key`` on ``envoy.filters.listener.original_dst``
  / ``waypoint`` and the Istio client TLS context (``buildConnectOriginate``);
  ``inbound-vip|PORT|PROTO|HOST`` are EDS clusters behind the ``internal_upstream`` transport
  socket (``buildWaypointInboundVIPCluster``).
* ``pilot/pkg/xds/endpoints/endpoint_builder.go`` + ``util.BuildTunnelMetadataStruct``: each
  endpoint is ``envoy_internal_address {server_listener_name: connect_originate, endpoint_id:
  POD_IP:TARGET_PORT}`` with filter metadata ``envoy.filters.listener.original_dst {local:
  POD_IP:TARGET_PORT}`` (the shape of istioctl's own waypoint testdata,
  tests/fixtures/corpus/istio/proxy-config/all/config_dump.json).
* the node id is ``waypoint~IP~POD.NS~NS.svc.cluster.local`` (that testdata's bootstrap).
"""

from __future__ import annotations

from typing import Any

from tests.scenariokit import ambient, render_envoy as E
from tests.scenariokit.world import Pod, Service, ServicePort, World

T_STRING = "type.googleapis.com/google.protobuf.StringValue"
_IN = "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3."
_ORIG_DST = {"name": "envoy.filters.listener.original_dst",
             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}}
_INTERNAL_UPSTREAM = {"name": "internal_upstream", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport",
    "passthrough_metadata": [{"kind": {"host": {}}, "name": "envoy.filters.listener.original_dst"}],
    "transport_socket": {"name": "raw_buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}}}


def is_waypoint_pod(world: World, pod: Pod) -> bool:
    name = pod.workload.labels.get("gateway.networking.k8s.io/gateway-name")
    return name is not None and ambient.find_waypoint(world, pod.namespace, name) is not None


def bound_services(world: World, pod: Pod) -> list[Service]:
    """The Services whose traffic this waypoint carries (``istio.io/use-waypoint`` binding,
    the waypoint programmed and accepting service traffic)."""
    name = pod.workload.labels["gateway.networking.k8s.io/gateway-name"]
    out = []
    for svc in world.services:
        gw, cond = ambient.service_binding(world, svc)
        if gw is not None and cond is not None and cond.get("status") == "True" \
                and (gw["metadata"]["namespace"], gw["metadata"]["name"]) == (pod.namespace, name):
            out.append(svc)
    return out


def bound_pods(world: World, pod: Pod) -> list[Pod]:
    name = pod.workload.labels["gateway.networking.k8s.io/gateway-name"]
    return [p for p in world.pods if (gw := ambient.pod_waypoint(world, p)) is not None
            and (gw["metadata"]["namespace"], gw["metadata"]["name"]) == (pod.namespace, name)]


def vip_name(proto: str, fqdn: str, port: int) -> str:
    # model.BuildSubsetKey(TrafficDirectionInboundVIP, proto, host, port)
    return f"inbound-vip|{port}|{proto}|{fqdn}"


def _action(name: str) -> dict[str, Any]:
    return {"action": {"name": name, "typed_config": {"@type": T_STRING, "value": name}}}


def _tree(input_name: str, input_type: str, mapping: dict[str, Any], on_no_match: dict[str, Any] | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"matcher_tree": {"input": {"name": input_name, "typed_config": {"@type": _IN + input_type}},
                                          "exact_match_map": {"map": mapping}}}
    if on_no_match is not None:
        m["on_no_match"] = on_no_match
    return m


def _app_protocol(http: str, tcp: str) -> dict[str, Any]:
    # match.NewAppProtocol: 'http/1.1' and 'h2c' (the http_inspector's ALPN) -> HTTP, else TCP
    return _tree("application-protocol", "ApplicationProtocolInput", {"'h2c'": _action(http), "'http/1.1'": _action(http)},
                 _action(tcp))


def _connect_terminate(world: World) -> dict[str, Any]:
    route = {"match": {"connect_matcher": {}}, "route": {"cluster": "main_internal", "upgrade_configs": [
        {"upgrade_type": "CONNECT", "connect_config": {}}]}}
    hcm = {"@type": E.T_HCM, "stat_prefix": "connect_terminate",
           "route_config": {"name": "default", "virtual_hosts": [{"name": "default", "domains": ["*"], "routes": [route]}]},
           "http_filters": [{"name": "waypoint_downstream_peer_metadata"}, {"name": "connect_authority"},
                            {"name": "envoy.filters.http.router",
                             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
           "stream_idle_timeout": "0s", "upgrade_configs": [{"upgrade_type": "CONNECT"}],
           "http2_protocol_options": {"max_concurrent_streams": 100, "allow_connect": True},
           "use_remote_address": False}
    tls = E._downstream_tls(True)
    tls["typed_config"]["common_tls_context"].pop("alpn_protocols", None)  # buildCommonConnectTLSContext sets none
    return {"@type": E.T_LISTENER, "name": "connect_terminate",
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15008}},
            "filter_chains": [{"name": "default", "transport_socket": tls,
                               "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
            "connection_balance_config": {"exact_balance": {}}}


def _inbound_route(name: str, port: int) -> dict[str, Any]:
    return {"name": name, "virtual_hosts": [{"name": f"inbound|http|{port}", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": name, "timeout": "0s", "max_stream_duration": {
            "max_stream_duration": "0s", "grpc_timeout_header_max": "0s"}}, "decorator": {"operation": f":{port}/*"},
         "name": "default"}]}], "validate_clusters": False}


def _main_internal(world: World, pod: Pod, svcs: list[Service]) -> dict[str, Any]:
    chains: list[dict[str, Any]] = []
    ranges: list[dict[str, Any]] = []
    for svc in svcs:
        vip = world.cluster_ip(svc)
        port_map: dict[str, Any] = {}
        for sp in svc.ports:
            proto = E.port_protocol(sp)
            if proto == "UDP":
                continue
            tcp, http = vip_name("tcp", svc.fqdn, sp.port), vip_name("http", svc.fqdn, sp.port)
            tcp_chain = {"name": tcp, "filters": [E._tcp_filter(tcp, f"inbound_0.0.0.0_{sp.port}", world)]}
            http_chain = {"name": http, "filters": [E._hcm(world, f"inbound_0.0.0.0_{sp.port}", route_config=_inbound_route(http, sp.port),
                                                           inbound=True)]}
            if proto == "UNKNOWN":
                chains += [tcp_chain, http_chain]
                port_map[str(sp.port)] = {"matcher": _app_protocol(http, tcp)}
            elif E.is_http(proto):
                chains.append(http_chain)
                port_map[str(sp.port)] = _action(http)
            else:
                chains.append(tcp_chain)
                port_map[str(sp.port)] = _action(tcp)
        if port_map and vip:
            ranges.append({"ranges": [{"address_prefix": vip, "prefix_len": 32}],
                           "on_match": {"matcher": _tree("port", "DestinationPortInput", port_map)}})
    connect_authority = {"name": "connect_authority", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config",
        "on_new_connection": [{"object_key": "envoy.filters.listener.original_dst.local_ip", "format_string": {
            "text_format_source": {"inline_string": "%FILTER_STATE(envoy.filters.listener.original_dst.local_ip:PLAIN)%"}},
            "shared_with_upstream": "ONCE"}]}}
    chains.append({"name": "direct-tcp", "filters": [connect_authority, E._tcp_filter("encap", "encap", world)]})
    chains.append({"name": "direct-http", "filters": [connect_authority, E._hcm(world, "inbound_0.0.0.0_0", route_config=_inbound_route(
        "encap", 0) | {"name": "inbound|0||"}, inbound=True)]})
    wl_ips = [p.ip for p in bound_pods(world, pod) if p.ip]
    if wl_ips:
        ranges.append({"ranges": [{"address_prefix": ip, "prefix_len": 32} for ip in wl_ips],
                       "on_match": {"matcher": _app_protocol("direct-http", "direct-tcp")}})
    return {"@type": E.T_LISTENER, "name": "main_internal", "filter_chains": chains,
            "listener_filters": [_ORIG_DST, {"name": "envoy.filters.listener.http_inspector", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"}}],
            "traffic_direction": "INBOUND", "internal_listener": {},
            "filter_chain_matcher": {"matcher_tree": {
                "input": {"name": "ip", "typed_config": {"@type": _IN + "DestinationIPInput"}},
                "custom_match": {"name": "ip", "typed_config": {"@type": "type.googleapis.com/xds.type.matcher.v3.IPMatcher",
                                                                "range_matchers": ranges}}}}}


def _connect_originate_listener() -> dict[str, Any]:
    tp = {"@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
          "stat_prefix": "connect_originate", "cluster": "connect_originate",
          "tunneling_config": {"hostname": "%DOWNSTREAM_LOCAL_ADDRESS%"}}
    return {"@type": E.T_LISTENER, "name": "connect_originate", "use_original_dst": False, "internal_listener": {},
            "listener_filters": [_ORIG_DST], "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": tp}]}]}


def _internal_cluster(name: str, listener: str) -> dict[str, Any]:
    return E._static(name, load_assignment={"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
        "address": {"envoy_internal_address": {"server_listener_name": listener}}}}]}]}, transport_socket=_INTERNAL_UPSTREAM)


def _connect_originate_cluster(world: World, pod: Pod) -> dict[str, Any]:
    tls = E._istio_upstream_tls("", [])
    ctc = tls["typed_config"]["common_tls_context"]
    ctc.pop("alpn_protocols", None)
    tls["typed_config"].pop("sni", None)
    ctc["combined_validation_context"]["default_validation_context"] = {"match_typed_subject_alt_names": [
        {"san_type": "URI", "matcher": {"prefix": f"spiffe://{world.control_plane.mesh.trust_domain}/ns/{pod.namespace}/sa/"}}]}
    return E._static("connect_originate", "ORIGINAL_DST", connect_timeout="10s", lb_policy="CLUSTER_PROVIDED",
                     cleanup_interval="60s", original_dst_lb_config={
                         "upstream_port_override": 15008,
                         "metadata_key": {"key": "envoy.filters.listener.original_dst", "path": [{"key": "waypoint"}]}},
                     transport_socket=tls)


def _vip_cluster(name: str, svc: Service) -> dict[str, Any]:
    return {"@type": E.T_CLUSTER, "name": name, "type": "EDS", "eds_cluster_config": {
        "eds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}, "service_name": name},
        "connect_timeout": "10s", "transport_socket": _INTERNAL_UPSTREAM,
        "metadata": {"filter_metadata": {"istio": {"services": [{"name": svc.name, "namespace": svc.namespace, "host": svc.fqdn}]}}},
        "common_lb_config": {}}


def _vip_endpoints(world: World, name: str, eps: list[tuple[Pod, int]]) -> dict[str, Any]:
    cla: dict[str, Any] = {"@type": E.T_CLA, "cluster_name": name}
    if eps:
        cla["endpoints"] = [{"locality": {}, "lb_endpoints": [{
            "endpoint": {"address": {"envoy_internal_address": {"server_listener_name": "connect_originate",
                                                                "endpoint_id": f"{p.ip}:{port}"}}, "health_check_config": {}},
            "health_status": "HEALTHY",
            "metadata": {"filter_metadata": {
                "envoy.filters.listener.original_dst": {"local": f"{p.ip}:{port}"},
                "istio": {"workload": f"{p.workload.name};{p.namespace};{p.workload.labels.get('app', p.workload.name)};"
                                     f"{p.workload.labels.get('version', 'latest')};{world.cluster_id}"}}},
            "load_balancing_weight": 1} for p, port in eps], "load_balancing_weight": 1}]
    cla["policy"] = {"overprovisioning_factor": 140}
    return {"endpoint_config": cla}


def config_dump(world: World, pod: Pod) -> dict[str, Any]:
    """The raw ``/config_dump?include_eds`` of a waypoint pod (``istioctl proxy-config all -o json``)."""
    vi = E.version_info(world)
    svcs = bound_services(world, pod)
    static_clusters = [{"cluster": c, "last_updated": E.updated(i)} for i, c in enumerate([
        E._static("prometheus_stats", connect_timeout="0.250s"), E._static("agent", connect_timeout="0.250s"),
        E._static("sds-grpc", connect_timeout="1s"), E._static("xds-grpc", connect_timeout="1s")])]
    clusters = [_internal_cluster("main_internal", "main_internal"), _internal_cluster("encap", "connect_originate"),
                _connect_originate_cluster(world, pod)]
    eds = []
    for svc in svcs:
        for sp in svc.ports:
            proto = E.port_protocol(sp)
            if proto == "UDP":
                continue
            kinds = ["tcp", "http"] if proto == "UNKNOWN" else (["http"] if E.is_http(proto) else ["tcp"])
            for k in kinds:
                name = vip_name(k, svc.fqdn, sp.port)
                clusters.append(_vip_cluster(name, svc))
                eds.append(_vip_endpoints(world, name, world.endpoints(svc, sp)))
    dyn = [{"version_info": vi, "cluster": c, "last_updated": E.updated(10 + i)} for i, c in enumerate(clusters)]
    listeners = [_connect_terminate(world), _main_internal(world, pod, svcs), _connect_originate_listener()]
    boot = E.bootstrap(world, pod)
    node = boot["bootstrap"]["node"]
    node["id"] = "waypoint~" + node["id"].split("~", 1)[1]
    return {"configs": [
        boot,
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "version_info": vi,
         "static_clusters": static_clusters, "dynamic_active_clusters": dyn},
        {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", **({"dynamic_endpoint_configs": eds} if eds else {})},
        {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "version_info": vi,
         "dynamic_listeners": [E._dyn_listener(world, lst, 100 + i) for i, lst in enumerate(listeners)]},
        {"@type": "type.googleapis.com/envoy.admin.v3.ScopedRoutesConfigDump"},
        {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump"},
        E.secrets(world, pod),
    ]}


__all__ = ["ServicePort", "bound_pods", "bound_services", "config_dump", "is_waypoint_pod", "vip_name"]
