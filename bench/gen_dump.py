"""Generate a large, realistic sidecar config dump for the proxy-config benchmark.

The shapes are those of a real Istio 1.2x sidecar (``tests/fixtures/corpus/istio/proxy-config/
all/config_dump.json`` and ``describe/http_config.json``): outbound EDS clusters with istio
metadata and ``transport_socket_matches`` (auto-mTLS), DestinationRule subsets, per-port
outbound listeners and route configurations holding one virtual host per service, EDS
endpoints, and the two SDS secrets. Only the size is synthetic.
"""

from __future__ import annotations

import argparse
import json
import random
from typing import Any

_SDS = {"api_config_source": {"api_type": "GRPC", "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}],
        "set_node_on_first_message_only": True, "transport_api_version": "V3"},
        "initial_fetch_timeout": "0s", "resource_api_version": "V3"}


def _cluster(name: str, host: str, ns: str, svc: str, port: int, subset: str, dr: bool) -> dict[str, Any]:
    istio: dict[str, Any] = {"default_original_port": port,
                             "services": [{"host": host, "name": svc, "namespace": ns}]}
    if dr:
        istio["config"] = f"/apis/networking.istio.io/v1alpha3/namespaces/{ns}/destination-rule/{svc}"
    if subset:
        istio["subset"] = subset
    return {
        "version_info": "2024-01-01T00:00:00Z/42",
        "cluster": {
            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            "name": name, "type": "EDS",
            "eds_cluster_config": {"eds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
                                   "service_name": name},
            "connect_timeout": "10s", "lb_policy": "LEAST_REQUEST",
            "circuit_breakers": {"thresholds": [{"max_connections": 4294967295, "max_pending_requests": 4294967295,
                                                 "max_requests": 4294967295, "max_retries": 4294967295,
                                                 "track_remaining": True}]},
            "common_lb_config": {"locality_weighted_lb_config": {}},
            "metadata": {"filter_metadata": {"istio": istio}},
            "filters": [{"name": "istio.metadata_exchange", "typed_config": {
                "@type": "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange",
                "protocol": "istio-peer-exchange"}}],
            "transport_socket_matches": [
                {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": {
                    "name": "envoy.transport_sockets.tls", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                        "common_tls_context": {
                            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"},
                            "alpn_protocols": ["istio-peer-exchange", "istio"],
                            "tls_certificate_sds_secret_configs": [{"name": "default", "sds_config": _SDS}],
                            "combined_validation_context": {
                                "default_validation_context": {"match_subject_alt_names": [
                                    {"exact": f"spiffe://cluster.local/ns/{ns}/sa/{svc}"}]},
                                "validation_context_sds_secret_config": {"name": "ROOTCA", "sds_config": _SDS}}},
                        "sni": name.replace("|", "_.", 1).replace("|", "_.")}}},
                {"name": "tlsMode-disabled", "match": {}, "transport_socket": {"name": "envoy.transport_sockets.raw_buffer",
                 "typed_config": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}},
            ],
        },
        "last_updated": "2024-01-01T00:00:01.000Z",
    }


def _cla(name: str, ns: str, svc: str, port: int, rnd: random.Random, n: int) -> dict[str, Any]:
    eps = []
    for _ in range(n):
        ip = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        eps.append({"endpoint": {"address": {"socket_address": {"address": ip, "port_value": port}},
                                 "health_check_config": {}},
                    "health_status": "HEALTHY",
                    "metadata": {"filter_metadata": {"envoy.transport_socket_match": {"tlsMode": "istio"},
                                                     "istio": {"workload": f"{svc}-v1;{ns};{svc};v1;Kubernetes"}}},
                    "load_balancing_weight": 1})
    return {"endpoint_config": {"@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                                "cluster_name": name,
                                "endpoints": [{"locality": {"region": "eu-west-1", "zone": "eu-west-1a"},
                                               "lb_endpoints": eps, "load_balancing_weight": n}],
                                "policy": {"overprovisioning_factor": 140}}}


def _vhost(host: str, svc: str, ns: str, port: int, cluster: str, vs: bool) -> dict[str, Any]:
    domains = [host, f"{host}:{port}", svc, f"{svc}:{port}", f"{svc}.{ns}.svc", f"{svc}.{ns}.svc:{port}",
               f"{svc}.{ns}", f"{svc}.{ns}:{port}"]
    route: dict[str, Any] = {"match": {"prefix": "/"}, "route": {
        "cluster": cluster, "timeout": "0s",
        "retry_policy": {"retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
                         "num_retries": 2, "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts"}],
                         "host_selection_retry_max_attempts": "5", "retriable_status_codes": [503]},
        "max_grpc_timeout": "0s"}, "decorator": {"operation": f"{host}:{port}/*"}, "name": "default"}
    if vs:
        route["metadata"] = {"filter_metadata": {"istio": {
            "config": f"/apis/networking.istio.io/v1alpha3/namespaces/{ns}/virtual-service/{svc}"}}}
    return {"name": f"{host}:{port}", "domains": domains, "routes": [route], "include_request_attempt_count": True}


def _hcm_listener(port: int) -> dict[str, Any]:
    return {"name": f"0.0.0.0_{port}", "active_state": {"version_info": "2024-01-01T00:00:00Z/42", "listener": {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener", "name": f"0.0.0.0_{port}",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "filter_chains": [{"filter_chain_match": {"transport_protocol": "raw_buffer",
                                                  "application_protocols": ["http/1.1", "h2c"]},
                           "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                               "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                               "stat_prefix": f"outbound_0.0.0.0_{port}",
                               "rds": {"config_source": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
                                       "route_config_name": str(port)},
                               "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                                   "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}],
        "default_filter_chain": {"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "PassthroughCluster", "cluster": "PassthroughCluster"}}], "name": "PassthroughFilterChain"},
        "listener_filters": [{"name": "envoy.filters.listener.tls_inspector", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}],
        "traffic_direction": "OUTBOUND", "bind_to_port": False}, "last_updated": "2024-01-01T00:00:01.000Z"}}


def _tcp_listener(vip: str, port: int, cluster: str) -> dict[str, Any]:
    name = f"{vip}_{port}"
    return {"name": name, "active_state": {"version_info": "2024-01-01T00:00:00Z/42", "listener": {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener", "name": name,
        "address": {"socket_address": {"address": vip, "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": cluster, "cluster": cluster}}]}],
        "traffic_direction": "OUTBOUND", "bind_to_port": False}, "last_updated": "2024-01-01T00:00:01.000Z"}}


def _virtual_outbound() -> dict[str, Any]:
    # Every sidecar has it: iptables sends outbound TCP to 15001, which hands it to the listener
    # owning the original destination (the request tracer starts here).
    return {"name": "virtualOutbound", "active_state": {"version_info": "2024-01-01T00:00:00Z/42", "listener": {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener", "name": "virtualOutbound",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15001}},
        "filter_chains": [
            {"filter_chain_match": {"destination_port": 15001}, "name": "virtualOutbound-blackhole", "filters": [
                {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    "stat_prefix": "BlackHoleCluster", "cluster": "BlackHoleCluster"}}]},
            {"name": "virtualOutbound-catchall-tcp", "filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": "PassthroughCluster", "cluster": "PassthroughCluster"}}]}],
        "use_original_dst": True, "traffic_direction": "OUTBOUND"}, "last_updated": "2024-01-01T00:00:01.000Z"}}


def generate(services: int, seed: int = 7) -> dict[str, Any]:
    rnd = random.Random(seed)
    http_ports = [80, 8080, 9080, 3000, 8000, 5000, 9090, 8443]
    clusters, claes, vhosts_by_port, tcp_listeners = [], [], {p: [] for p in http_ports}, []
    for i in range(services):
        ns = f"ns{i % 97}"
        svc = f"svc-{i}"
        host = f"{svc}.{ns}.svc.cluster.local"
        tcp = i % 10 == 0
        port = 5432 + (i % 50) if tcp else http_ports[i % len(http_ports)]
        has_dr = i % 3 == 0
        name = f"outbound|{port}||{host}"
        clusters.append(_cluster(name, host, ns, svc, port, "", has_dr))
        claes.append(_cla(name, ns, svc, port, rnd, 1 + i % 3))
        if has_dr:
            for sub in ("v1", "v2"):
                sn = f"outbound|{port}|{sub}|{host}"
                clusters.append(_cluster(sn, host, ns, svc, port, sub, True))
                claes.append(_cla(sn, ns, svc, port, rnd, 1))
        if tcp:
            tcp_listeners.append(_tcp_listener(f"172.20.{i // 250}.{i % 250 + 1}", port, name))
        else:
            vhosts_by_port[port].append(_vhost(host, svc, ns, port, name, i % 4 == 0))
    listeners = [_hcm_listener(p) for p in http_ports] + tcp_listeners + [_virtual_outbound()]
    routes = [{"version_info": "2024-01-01T00:00:00Z/42", "route_config": {
        "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "name": str(p),
        "virtual_hosts": vhosts_by_port[p] + [{"name": "allow_any", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"cluster": "PassthroughCluster", "timeout": "0s"}, "name": "allow_any"}]}],
        "validate_clusters": False}, "last_updated": "2024-01-01T00:00:01.000Z"} for p in http_ports]
    static = [{"cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": n, "type": t,
                           "connect_timeout": "10s"}, "last_updated": "2024-01-01T00:00:00.000Z"}
              for n, t in (("BlackHoleCluster", "STATIC"), ("PassthroughCluster", "ORIGINAL_DST"),
                           ("InboundPassthroughCluster", "ORIGINAL_DST"), ("agent", "STATIC"),
                           ("prometheus_stats", "STATIC"), ("sds-grpc", "STATIC"), ("xds-grpc", "STATIC"))]
    node = {"id": "sidecar~10.1.2.3~bench-5d8f7c9b-abcde.bench~bench.svc.cluster.local", "cluster": "bench.bench",
            "metadata": {"ISTIO_VERSION": "1.22.0", "CLUSTER_ID": "Kubernetes", "NAMESPACE": "bench",
                         "NAME": "bench-5d8f7c9b-abcde", "LABELS": {"app": "bench"},
                         "ISTIO_PROXY_SHA": "istio-proxy:0123456789abcdef0123456789abcdef01234567", "MESH_ID": "cluster.local"},
            "user_agent_name": "envoy",
            "user_agent_build_version": {"version": {"major_number": 1, "minor_number": 30, "patch": 1},
                                         "metadata": {"revision.status": "Clean", "build.type": "RELEASE",
                                                      "ssl.version": "BoringSSL"}}}
    return {"configs": [
        {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", "bootstrap": {"node": node},
         "last_updated": "2024-01-01T00:00:00.000Z"},
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "version_info": "2024-01-01T00:00:00Z/42",
         "static_clusters": static, "dynamic_active_clusters": clusters},
        {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", "dynamic_endpoint_configs": claes},
        {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "version_info": "2024-01-01T00:00:00Z/42",
         "dynamic_listeners": listeners},
        {"@type": "type.googleapis.com/envoy.admin.v3.ScopedRoutesConfigDump"},
        {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump", "dynamic_route_configs": routes},
        {"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump", "dynamic_active_secrets": []},
    ]}


def generate_text(size_mb: float) -> str:
    """A dump of roughly ``size_mb`` megabytes (indented like Envoy's admin output)."""
    probe = len(json.dumps(generate(200), indent=1))
    services = max(50, int(size_mb * 1_000_000 / probe * 200))
    return json.dumps(generate(services), indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=float, default=60.0)
    ap.add_argument("--out", default="bench_dump.json")
    a = ap.parse_args()
    text = generate_text(a.size_mb)
    with open(a.out, "w") as fh:
        fh.write(text)
    print(f"wrote {a.out}: {len(text) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
