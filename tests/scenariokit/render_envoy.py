"""Envoy state of one proxy, derived from the world: config_dump, admin /stats and /clusters.

The dump is the raw snake_case admin ``/config_dump?include_eds`` that ``istioctl proxy-config
all -o json`` prints. Shapes follow the real dumps in the corpus (``describe/http_config.json``
for outbound clusters with ``transport_socket_matches``, ``proxy-config/secret/istio`` for
secrets, ``configdump/compare`` for listeners); the *content* follows Istio's config generation
rules closely enough that every playbook cause shows up where a real proxy shows it:

* DR ``tls.mode`` overrides auto-mTLS: ``DISABLE`` → no transport socket, ``ISTIO_MUTUAL`` →
  a plain Istio transport socket, ``SIMPLE`` → TLS without client cert; none → auto-mTLS
  ``transport_socket_matches`` (tlsMode-istio / tlsMode-disabled).
* STRICT PeerAuthentication → the 15006 inbound chains are TLS-only, which is *why* plaintext
  gets ``filter_chain_not_found``.
* Sidecar egress and ``exportTo`` remove clusters and virtual hosts.
* A VirtualService routing to an undefined subset still references ``outbound|P|v9|host``; the
  cluster simply does not exist (NC).

Certificates are real X.509 (ECDSA P-256, deterministic: keys derived from fixed seeds and
RFC 6979 signatures), so ``proxy-config secret`` parsing sees real serials and dates. Private
keys never leave this module: the dump carries Envoy's own ``[redacted]`` placeholder.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from tests.scenariokit.world import EPOCH, Pod, Service, ServicePort, Ver, World, labels_match, stable_hex

# --------------------------------------------------------------------------- certificates

_REDACTED = base64.b64encode(b"[redacted]").decode()  # what Envoy prints for private keys


@lru_cache(maxsize=None)
def _key(seed: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    n = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big") % (2**255) + 1
    return ec.derive_private_key(n, ec.SECP256R1())


@lru_cache(maxsize=None)
def root_cert_pem(which: str) -> str:
    """Self-signed mesh root CA (istiod's self-signed CA shape: O=cluster.local, 10 years)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _key(f"root-{which}")
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cluster.local")])
    nb = EPOCH - timedelta(days=200 if which == "primary" else 3)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(int(stable_hex("serial-root", which, n=32), 16))
        .not_valid_before(nb).not_valid_after(nb + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@lru_cache(maxsize=None)
def leaf_cert_pem(spiffe: str, root: str, expired: bool, clock: datetime = EPOCH) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    ca_key = _key(f"root-{root}")
    ca = x509.load_pem_x509_certificate(root_cert_pem(root).encode())
    nb = clock - timedelta(hours=50 if expired else 3)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([])).issuer_name(ca.subject).public_key(_key(f"leaf-{spiffe}").public_key())
        .serial_number(int(stable_hex("serial", spiffe, root, str(expired), n=32), 16))
        .not_valid_before(nb).not_valid_after(nb + timedelta(hours=24))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                              x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@lru_cache(maxsize=None)
def server_cert_pem(name: str, namespace: str, hosts: tuple[str, ...], clock: datetime = EPOCH) -> str:
    """tls.crt of a Gateway credential: a leaf for ``hosts`` (DNS SANs, CN = first host) and the
    self-signed issuing CA, as cert-manager or ``openssl`` + ``kubectl create secret tls`` give."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    ca_key = _key("gateway-ca")
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "example Inc."),
                         x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    ca_nb = clock - timedelta(days=90)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(int(stable_hex("serial-gateway-ca", n=32), 16))
        .not_valid_before(ca_nb).not_valid_after(ca_nb + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    nb = clock - timedelta(days=30)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "example organization"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else name)]))
        .issuer_name(ca_name).public_key(_key(f"gateway-{namespace}/{name}").public_key())
        .serial_number(int(stable_hex("serial-gateway", namespace, name, *hosts, n=32), 16))
        .not_valid_before(nb).not_valid_after(nb + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf, ca))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --------------------------------------------------------------------------- helpers

T_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
T_LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
T_ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
T_CLA = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
T_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
T_TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"

_MAXU32 = 4294967295


def updated(seq: int = 0) -> str:
    """Envoy's last_updated (millisecond precision)."""
    return (EPOCH - timedelta(minutes=20) + timedelta(milliseconds=37 * seq)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def version_info(world: World) -> str:
    return (EPOCH - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ") + f"/{len(world.istio) + 17}"


def _sds(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "sds_config": {
            "api_config_source": {
                "api_type": "GRPC",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}],
                "set_node_on_first_message_only": True,
                "transport_api_version": "V3",
            },
            "initial_fetch_timeout": "0s",
            "resource_api_version": "V3",
        },
    }


def _sds_credential(cred: str) -> dict[str, Any]:
    """SdsSecretConfig of a Gateway credentialName: istiod serves it over ADS, and (unlike the
    workload certificate) without ``initial_fetch_timeout: 0s``, so a missing Secret does not
    block the listener: it goes active with the secret still warming."""
    return {"name": f"kubernetes://{cred}", "sds_config": {"ads": {}, "resource_api_version": "V3"}}


def gateway_https_route_name(gw: dict[str, Any], server: dict[str, Any]) -> str:
    """RDS name of a TLS-terminating gateway server: https.<port>.<port name>.<gateway>.<namespace>."""
    m = gw["metadata"]
    return f"https.{server['port']['number']}.{server['port'].get('name', 'https')}.{m['name']}.{m['namespace']}"


def terminates_tls(server: dict[str, Any]) -> bool:
    """The gateway terminates TLS for this server (HTTPS/TLS, not PASSTHROUGH): a chain with a certificate."""
    proto = server["port"].get("protocol", "HTTP").upper()
    return proto in ("HTTPS", "TLS") and (server.get("tls") or {}).get("mode", "SIMPLE") not in ("PASSTHROUGH", "AUTO_PASSTHROUGH")


def gateway_credentials(world: World, pod: Pod) -> list[str]:
    """credentialName of every TLS-terminating server of the Gateways selecting this pod, in order."""
    out: list[str] = []
    for _g, s in gateway_servers(world, pod):
        cred = (s.get("tls") or {}).get("credentialName")
        if cred and terminates_tls(s) and cred not in out:
            out.append(cred)
    return out


def _istio_upstream_tls(sni: str, sans: list[str]) -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": {
                "tls_params": {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"},
                "alpn_protocols": ["istio-peer-exchange", "istio"],
                "tls_certificate_sds_secret_configs": [_sds("default")],
                "combined_validation_context": {
                    "default_validation_context": {"match_subject_alt_names": [{"exact": s} for s in sans]},
                    "validation_context_sds_secret_config": _sds("ROOTCA"),
                },
            },
            "sni": sni,
        },
    }


def _raw_buffer() -> dict[str, Any]:
    return {"name": "envoy.transport_sockets.raw_buffer",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}


def _downstream_tls(http: bool) -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {
                "tls_params": {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3",
                               "cipher_suites": ["ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
                                                 "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
                                                 "AES256-GCM-SHA384", "AES128-GCM-SHA256"]},
                "alpn_protocols": ["h2", "http/1.1"] if http else ["istio-peer-exchange", "istio"],
                "tls_certificate_sds_secret_configs": [_sds("default")],
                "combined_validation_context": {
                    "default_validation_context": {"match_typed_subject_alt_names": [
                        {"san_type": "URI", "matcher": {"prefix": "spiffe://cluster.local/"}}]},
                    "validation_context_sds_secret_config": _sds("ROOTCA"),
                },
            },
            "require_client_certificate": True,
        },
    }


def port_protocol(sp: ServicePort) -> str:
    """Istio's protocol selection, as istio/istio@1.22.0:pkg/config/kube/conversion.go
    ConvertProtocol does it: UDP ports are UDP; an appProtocol, when set, replaces the port
    name (kubernetes.io/h2c is HTTP2); a grpc-web prefix; the word before the first '-'
    (protocol.Parse, case-insensitive); an unknown word on 25/53/3306/27017 is TCP; anything
    else is sniffed (UNKNOWN). ``h2c`` and ``kubernetes.io/ws`` are no Istio words: sniffed."""
    if sp.protocol.upper() == "UDP":
        return "UDP"
    name = sp.app_protocol if sp.app_protocol is not None else (sp.name or "")
    if sp.app_protocol == "kubernetes.io/h2c":
        return "HTTP2"
    if name[:8].lower() == "grpc-web":
        return "GRPC-Web"
    table = {"http": "HTTP", "http2": "HTTP2", "grpc": "GRPC", "https": "HTTPS", "tcp": "TCP", "tls": "TLS",
             "mongo": "Mongo", "mysql": "MySQL", "redis": "Redis", "udp": "UDP", "http_proxy": "HTTP_PROXY"}
    proto = table.get(name.split("-")[0].lower(), "UNKNOWN")
    if proto == "UNKNOWN" and sp.port in (25, 53, 3306, 27017):
        return "TCP"
    return proto


def is_http(proto: str) -> bool:
    return proto in ("HTTP", "HTTP2", "GRPC", "GRPC-Web", "HTTP_PROXY", "UNKNOWN")


def outbound_name(port: int, subset: str, fqdn: str) -> str:
    return f"outbound|{port}|{subset}|{fqdn}"


def inbound_name(world: World, port: int, sp: ServicePort | None, svc: Service | None) -> str:
    # Istio 1.8 dropped the port name and host from inbound cluster names (access log goldens
    # from 1.8 already show `inbound|8000||`); older proxies name the service.
    if world.version >= Ver(1, 8):
        return f"inbound|{port}||"
    return f"inbound|{port}|{sp.name if sp else ''}|{svc.fqdn if svc else ''}"


def sni(port: int, subset: str, fqdn: str) -> str:
    return f"outbound_.{port}_.{subset}_.{fqdn}"


def spiffe(world: World, ns: str, sa: str) -> str:
    return f"spiffe://{world.control_plane.mesh.trust_domain}/ns/{ns}/sa/{sa}"


def node_id(pod: Pod) -> str:
    kind = "router" if pod.is_gateway else "sidecar"
    return f"{kind}~{pod.ip}~{pod.name}.{pod.namespace}~{pod.namespace}.svc.cluster.local"


# --------------------------------------------------------------------------- clusters


def _dr_path(dr: dict[str, Any]) -> str:
    m = dr["metadata"]
    return f"/apis/networking.istio.io/v1alpha3/namespaces/{m['namespace']}/destination-rule/{m['name']}"


def _duration(v: str | None) -> str | None:
    if not v:
        return None
    if v.endswith("ms"):
        return f"{int(v[:-2]) / 1000:g}s"
    if v.endswith("m") and not v.endswith("ms"):
        return f"{int(v[:-1]) * 60}s"
    return v


def outbound_cluster(world: World, pod: Pod, svc: Service, sp: ServicePort, subset: str) -> dict[str, Any]:
    fqdn = svc.fqdn
    name = outbound_name(sp.port, subset, fqdn)
    dr = world.destination_rule(fqdn, pod.namespace)
    tp = world.traffic_policy(dr, subset)
    cp = (tp.get("connectionPool") or {})
    thr = {
        "max_connections": (cp.get("tcp") or {}).get("maxConnections", _MAXU32),
        "max_pending_requests": (cp.get("http") or {}).get("http1MaxPendingRequests", _MAXU32),
        "max_requests": (cp.get("http") or {}).get("http2MaxRequests", _MAXU32),
        "max_retries": _MAXU32,
        "track_remaining": True,
    }
    istio_md: dict[str, Any] = {
        "default_original_port": sp.port,
        "services": [{"host": fqdn, "name": svc.name, "namespace": svc.namespace}],
    }
    if dr:
        istio_md["config"] = _dr_path(dr)
    if subset:
        istio_md["subset"] = subset
    c: dict[str, Any] = {"@type": T_CLUSTER, "name": name}
    if svc.headless:
        c["type"] = "ORIGINAL_DST"
        c["lb_policy"] = "CLUSTER_PROVIDED"
    else:
        c["type"] = "EDS"
        c["eds_cluster_config"] = {"eds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
                                   "service_name": name}
        lb = ((tp.get("loadBalancer") or {}).get("simple") or "LEAST_REQUEST").upper()
        c["lb_policy"] = {"ROUND_ROBIN": "ROUND_ROBIN", "RANDOM": "RANDOM"}.get(lb, "LEAST_REQUEST")
    c["connect_timeout"] = _duration((cp.get("tcp") or {}).get("connectTimeout")) or "10s"
    # key order as Envoy prints (http_config.json): name, type, eds, connect_timeout, lb_policy, ...
    order = ["@type", "name", "type", "eds_cluster_config", "connect_timeout", "lb_policy"]
    c = {k: c[k] for k in order if k in c}
    c["circuit_breakers"] = {"thresholds": [thr]}
    od = tp.get("outlierDetection")
    if od:
        c["outlier_detection"] = {
            "consecutive_5xx": od.get("consecutive5xxErrors", od.get("consecutiveErrors", 5)),
            "interval": _duration(od.get("interval")) or "10s",
            "base_ejection_time": _duration(od.get("baseEjectionTime")) or "30s",
            "max_ejection_percent": od.get("maxEjectionPercent", 10),
            "enforcing_consecutive_5xx": 100,
            "enforcing_success_rate": 0,
            "consecutive_gateway_failure": _MAXU32 if False else 0,
            "enforcing_consecutive_gateway_failure": 0,
        }
    c["metadata"] = {"filter_metadata": {"istio": istio_md}}
    mode = world.dr_tls_mode(dr, sp.port, subset)
    proto = port_protocol(sp)
    sans = sorted({spiffe(world, p.namespace, p.workload.service_account)
                   for p in world.pods if p.namespace == svc.namespace and svc.selector
                   and all(p.labels.get(k) == v for k, v in svc.selector.items())})
    if mode == "ISTIO_MUTUAL":
        c["filters"] = [_mx_filter()]
        c["transport_socket"] = _istio_upstream_tls(sni(sp.port, subset, fqdn), sans)
    elif mode == "SIMPLE" or mode == "MUTUAL":
        tls = (world.traffic_policy(dr, subset).get("tls") or {})
        c["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "common_tls_context": {"tls_params": {"tls_minimum_protocol_version": "TLSv1_2"}},
                "sni": tls.get("sni") or fqdn,
            },
        }
    elif mode == "DISABLE":
        pass  # plaintext, exactly what breaks a STRICT server
    elif world.control_plane.mesh.enable_auto_mtls:
        c["filters"] = [_mx_filter()]
        c["transport_socket_matches"] = [
            {"name": "tlsMode-istio", "match": {"tlsMode": "istio"},
             "transport_socket": _istio_upstream_tls(sni(sp.port, subset, fqdn), sans)},
            {"name": "tlsMode-disabled", "match": {}, "transport_socket": _raw_buffer()},
        ]
    if proto in ("HTTP2", "GRPC"):
        c["typed_extension_protocol_options"] = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {"max_concurrent_streams": 1073741824}}}}
    return c


def _mx_filter() -> dict[str, Any]:
    return {"name": "istio.metadata_exchange",
            "typed_config": {"@type": "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange",
                             "protocol": "istio-peer-exchange"}}


def _static(name: str, type_: str = "STATIC", **extra: Any) -> dict[str, Any]:
    return {"@type": T_CLUSTER, "name": name, "type": type_, **extra}


def outbound_clusters(world: World, pod: Pod) -> list[tuple[dict[str, Any], list[tuple[Pod, int]] | None]]:
    """(cluster, endpoints or None for non-EDS) for every service/subset this proxy sees."""
    out: list[tuple[dict[str, Any], list[tuple[Pod, int]] | None]] = []
    for svc in world.visible_services(pod):
        dr = world.destination_rule(svc.fqdn, pod.namespace)
        subsets = [s for s in (dr["spec"].get("subsets") or []) if s.get("name")] if dr else []
        for sp in svc.ports:
            eps = None if svc.headless else world.endpoints(svc, sp)
            out.append((outbound_cluster(world, pod, svc, sp, ""), eps))
            for s in subsets:
                eps = None if svc.headless else world.endpoints(svc, sp, s.get("labels") or {})
                out.append((outbound_cluster(world, pod, svc, sp, s["name"]), eps))
    for se in world.service_entries(pod):
        for host in se["spec"].get("hosts", []):
            for p in se["spec"].get("ports", []):
                res = se["spec"].get("resolution", "NONE")
                name = outbound_name(p["number"], "", host)
                c = _static(name, {"DNS": "STRICT_DNS", "NONE": "ORIGINAL_DST", "STATIC": "EDS"}.get(res, "EDS"),
                            connect_timeout="10s",
                            lb_policy="CLUSTER_PROVIDED" if res == "NONE" else "LEAST_REQUEST")
                c["circuit_breakers"] = {"thresholds": [{"max_connections": _MAXU32, "max_pending_requests": _MAXU32,
                                                          "max_requests": _MAXU32, "max_retries": _MAXU32,
                                                          "track_remaining": True}]}
                c["metadata"] = {"filter_metadata": {"istio": {"services": [
                    {"host": host, "name": host, "namespace": se["metadata"]["namespace"]}]}}}
                if res == "DNS":
                    c["load_assignment"] = {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": host, "port_value": p.get("targetPort", p["number"])}}}}]}]}
                out.append((c, None))
    return out


def inbound_clusters(world: World, pod: Pod) -> list[dict[str, Any]]:
    if pod.is_gateway:
        return []
    out = []
    seen: set[int] = set()
    loopback = world.version < Ver(1, 10)
    for svc in world.services_selecting(pod):
        for sp in svc.ports:
            tp = world.target_port_number(pod, sp)
            if tp is None or tp in seen:
                continue
            seen.add(tp)
            name = inbound_name(world, tp, sp, svc)
            c = _static(name, "STATIC" if loopback else "ORIGINAL_DST", connect_timeout="10s",
                        lb_policy="CLUSTER_PROVIDED" if not loopback else "ROUND_ROBIN")
            c["circuit_breakers"] = {"thresholds": [{"max_connections": _MAXU32, "max_pending_requests": _MAXU32,
                                                      "max_requests": _MAXU32, "max_retries": _MAXU32,
                                                      "track_remaining": True}]}
            c["cleanup_interval"] = "60s"
            if loopback:
                c["load_assignment"] = {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": tp}}}}]}]}
            else:
                c["upstream_bind_config"] = {"source_address": {"address": "127.0.0.6", "port_value": 0}}
            c["metadata"] = {"filter_metadata": {"istio": {"services": [
                {"host": svc.fqdn, "name": svc.name, "namespace": svc.namespace}]}}}
            out.append(c)
    return out


def _passthrough_inbound_name(world: World) -> str:
    return "InboundPassthroughCluster" if world.version >= Ver(1, 21) else "InboundPassthroughClusterIpv4"


# --------------------------------------------------------------------------- listeners


def _access_log(world: World) -> list[dict[str, Any]]:
    mesh = world.control_plane.mesh
    if not mesh.access_log_file:
        return []
    fmt: dict[str, Any]
    if mesh.access_log_encoding == "JSON":
        fmt = {"json_format": {"start_time": "%START_TIME%", "response_code": "%RESPONSE_CODE%"}}
    else:
        fmt = {"text_format_source": {"inline_string": "[%START_TIME%] \"%REQ(:METHOD)% ...\n"}}
    return [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": mesh.access_log_file, "log_format": fmt}}]


def _tcp_filter(cluster: str, stat: str | None = None, world: World | None = None) -> dict[str, Any]:
    tc: dict[str, Any] = {"@type": T_TCP, "stat_prefix": stat or cluster, "cluster": cluster}
    if world is not None and _access_log(world):
        tc["access_log"] = _access_log(world)
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": tc}


def _authz_policies(world: World, pod: Pod) -> list[dict[str, Any]]:
    """AuthorizationPolicies that apply to the pod: its namespace's and the root namespace's, by selector."""
    root = world.control_plane.mesh.root_namespace
    return [a for a in world.resources("AuthorizationPolicy")
            if a["metadata"]["namespace"] in (pod.namespace, root)
            and (not (a["spec"].get("selector") or {}).get("matchLabels")
                 or labels_match(a["spec"]["selector"]["matchLabels"], pod.labels))]


def _path_matcher(v: str) -> dict[str, Any]:
    # istio/istio@1.22.0 pilot/pkg/security/authz/matcher/string.go StringMatcherWithPrefix
    if v == "*":
        return {"safe_regex": {"regex": ".+"}}
    if v.endswith("*"):
        return {"prefix": v[:-1]}
    if v.startswith("*"):
        return {"suffix": v[1:]}
    return {"exact": v}


def _rbac_rule(rule: dict[str, Any], world: World) -> dict[str, Any]:
    """One AuthorizationPolicy rule as Envoy RBAC, the way Istio's authz builder writes it:
    permissions and_rules of or_rules per key, principals and_ids of or_ids per key
    (istio/istio@1.22.0 pilot/pkg/security/authz/model/model.go Generate; principals through
    filter_state io.istio.peer_principal from 1.19 (model/principal.go), before that
    authenticated.principal_name)."""
    perms: list[dict[str, Any]] = []
    for t in rule.get("to") or []:
        op = t.get("operation") or {}
        if op.get("methods"):
            perms.append({"or_rules": {"rules": [{"header": {"name": ":method", "exact_match": m}} for m in op["methods"]]}})
        if op.get("paths"):
            perms.append({"or_rules": {"rules": [{"url_path": {"path": _path_matcher(x)}} for x in op["paths"]]}})
        if op.get("ports"):
            perms.append({"or_rules": {"rules": [{"destination_port": int(x)} for x in op["ports"]]}})
    princ: list[dict[str, Any]] = []
    filter_state = world.version >= Ver(1, 19)

    def peer(m: dict[str, Any]) -> dict[str, Any]:
        if filter_state:
            return {"filter_state": {"key": "io.istio.peer_principal", "string_match": m}}
        return {"authenticated": {"principal_name": m}}

    for f in rule.get("from") or []:
        src = f.get("source") or {}
        if src.get("principals"):
            princ.append({"or_ids": {"ids": [peer({"exact": f"spiffe://{x}"}) for x in src["principals"]]}})
        if src.get("namespaces"):
            princ.append({"or_ids": {"ids": [peer({"safe_regex": {"regex": f".*/ns/{x}/.*"}}) for x in src["namespaces"]]}})
    return {"permissions": [{"and_rules": {"rules": perms or [{"any": True}]}}],
            "principals": [{"and_ids": {"ids": princ or [{"any": True}]}}]}


def _rbac_filters(world: World, pod: Pod) -> list[dict[str, Any]]:
    """One envoy.filters.http.rbac per action, CUSTOM, then DENY, then ALLOW (istio authz builder order).

    A CUSTOM policy whose provider is not among meshConfig.extensionProviders makes istiod write a
    deny-all RBAC filter instead of ext_authz: policy ``default-deny-all-due-to-bad-CUSTOM-action``,
    any permission, any principal (istio/istio@1.9.0 .. 1.26.0
    pilot/pkg/security/authz/builder/extauthz.go ``rbacDefaultDenyAll``, builder.go ``buildHTTP``;
    istio/istio#40944 quotes the 403 it gives). The kit's mesh config defines no extension providers,
    so every CUSTOM policy on a sidecar is a bad one; a kit world that needs a working ext_authz
    provider must model it first."""
    out = []
    aps = _authz_policies(world, pod)
    if any(a["spec"].get("action") == "CUSTOM" for a in aps):
        out.append({"name": "envoy.filters.http.rbac", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"action": "DENY", "policies": {"default-deny-all-due-to-bad-CUSTOM-action": {
                "permissions": [{"any": True}], "principals": [{"any": True}]}}}}})
    for action in ("DENY", "ALLOW"):
        mine = [a for a in aps if a["spec"].get("action", "ALLOW") == action]
        if not mine:
            continue
        policies: dict[str, Any] = {}
        for a in mine:
            m = a["metadata"]
            for i, r in enumerate(a["spec"].get("rules") or []):
                policies[f"ns[{m['namespace']}]-policy[{m['name']}]-rule[{i}]"] = _rbac_rule(r, world)
        rules: dict[str, Any] = {"policies": policies} if policies else {}
        if action == "DENY":
            rules["action"] = "DENY"
        out.append({"name": "envoy.filters.http.rbac", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", "rules": rules,
            "shadow_rules_stat_prefix": "istio_dry_run_allow_"}})
    return out


def _hcm(world: World, stat: str, *, rds: str | None = None, route_config: dict[str, Any] | None = None,
         inbound: bool = False, pod: Pod | None = None, sidecar_outbound: bool = False) -> dict[str, Any]:
    tc: dict[str, Any] = {"@type": T_HCM, "stat_prefix": stat}
    if rds is not None:
        tc["rds"] = {"config_source": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
                     "route_config_name": rds}
    if route_config is not None:
        tc["route_config"] = route_config
    filters = [{"name": "istio.metadata_exchange"}]
    if inbound and pod is not None:
        filters += _rbac_filters(world, pod)
    filters.append({"name": "envoy.filters.http.grpc_stats"})
    if sidecar_outbound:
        # istio.alpn tells the upstream sidecar the HTTP version inside mTLS (istio/istio@1.22.0
        # pilot/pkg/xds/filters/filters.go Alpn; a real 1.18 sidecar dump has it between
        # grpc_stats and fault: tests/fixtures/trace/istio-authz-sidecar-listeners.json)
        filters.append({"name": "istio.alpn", "typed_config": {
            "@type": "type.googleapis.com/istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig",
            "alpn_override": [{"alpn_override": ["istio-http/1.0", "istio"]},
                              {"upstream_protocol": "HTTP11", "alpn_override": ["istio-http/1.1", "istio"]},
                              {"upstream_protocol": "HTTP2", "alpn_override": ["istio-h2", "istio"]}]}})
    filters += [{"name": "envoy.filters.http.fault"},
                {"name": "envoy.filters.http.cors"}, {"name": "istio.stats"},
                {"name": "envoy.filters.http.router",
                 "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
    tc["http_filters"] = filters
    if _access_log(world):
        tc["access_log"] = _access_log(world)
    tc["use_remote_address"] = False
    tc["forward_client_cert_details"] = "APPEND_FORWARD" if inbound else "SANITIZE_SET"
    tc["normalize_path"] = True
    tc["path_with_escaped_slashes_action"] = "KEEP_UNCHANGED"
    tc["request_id_extension"] = {"typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig",
        "use_request_id_for_trace_sampling": True}}
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": tc}


def _dyn_listener(world: World, listener: dict[str, Any], seq: int) -> dict[str, Any]:
    return {"name": listener["name"], "active_state": {"version_info": version_info(world), "listener": listener,
                                                      "last_updated": updated(seq)}}


#: istio/istio@1.22.0 pilot/pkg/networking/core/listener.go (unchanged since 1.10)
MTLS_HTTP_ALPNS = ["istio-http/1.0", "istio-http/1.1", "istio-h2"]
ALL_ISTIO_MTLS_ALPNS = ["istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"]
MTLS_TCP_MXC_ALPNS = ["istio-peer-exchange", "istio"]
PLAINTEXT_HTTP_ALPNS = ["http/1.0", "http/1.1", "h2c"]


def _port_chains(world: World, tp: int, proto: str, mode: str, body: Any, cname: str) -> list[dict[str, Any]]:
    """The filter chains of one inbound port, as istiod builds them for its protocol and mTLS mode:
    istio/istio@1.22.0 pilot/pkg/networking/core/filterchain_options.go getFilterChainMatchOptions
    (the same option tables since 1.10). Declared HTTP: STRICT one {tls} chain (any ALPN, client
    certificate required), PERMISSIVE {tls, all Istio ALPNs} + {raw_buffer}; declared TCP: STRICT
    {tls}, PERMISSIVE {tls, all Istio ALPNs} + {tls} passed through untouched + {raw_buffer};
    a port Istio must sniff: HTTP and TCP variants told apart by ALPN."""
    name = f"0.0.0.0_{tp}"
    tcp_body = [_tcp_filter(cname, f"inbound|{tp}||", world)]

    def ch(match: dict[str, Any], http: bool, tls: bool) -> dict[str, Any]:
        c: dict[str, Any] = {"filter_chain_match": {"destination_port": tp, **match},
                             "filters": body() if http else tcp_body, "name": name}
        if tls:
            c["transport_socket"] = _downstream_tls(http)
        return c

    declared_http = proto in ("HTTP", "HTTP2", "GRPC")
    if declared_http:
        if mode == "STRICT":
            return [ch({"transport_protocol": "tls"}, True, True)]
        if mode == "PERMISSIVE":
            return [ch({"transport_protocol": "tls", "application_protocols": ALL_ISTIO_MTLS_ALPNS}, True, True),
                    ch({"transport_protocol": "raw_buffer"}, True, False)]
        return [ch({"transport_protocol": "raw_buffer"}, True, False)]
    if proto == "UNKNOWN":
        if mode == "STRICT":
            return [ch({"transport_protocol": "tls", "application_protocols": MTLS_HTTP_ALPNS}, True, True),
                    ch({"transport_protocol": "tls"}, False, True)]
        if mode == "PERMISSIVE":
            return [ch({"transport_protocol": "tls", "application_protocols": MTLS_HTTP_ALPNS}, True, True),
                    ch({"transport_protocol": "raw_buffer", "application_protocols": PLAINTEXT_HTTP_ALPNS}, True, False),
                    ch({"transport_protocol": "tls", "application_protocols": MTLS_TCP_MXC_ALPNS}, False, True),
                    ch({"transport_protocol": "raw_buffer"}, False, False),
                    ch({"transport_protocol": "tls"}, False, False)]
        return [ch({"transport_protocol": "raw_buffer", "application_protocols": PLAINTEXT_HTTP_ALPNS}, True, False),
                ch({"transport_protocol": "raw_buffer"}, False, False)]
    if mode == "STRICT":
        return [ch({"transport_protocol": "tls"}, False, True)]
    if mode == "PERMISSIVE":
        return [ch({"transport_protocol": "tls", "application_protocols": ALL_ISTIO_MTLS_ALPNS}, False, True),
                ch({"transport_protocol": "tls"}, False, False),
                ch({"transport_protocol": "raw_buffer"}, False, False)]
    return [ch({"transport_protocol": "raw_buffer"}, False, False)]


def inbound_listener(world: World, pod: Pod) -> dict[str, Any]:
    """virtualInbound (15006): per target port, TLS chains always; plaintext only if not STRICT."""
    passthrough = _passthrough_inbound_name(world)
    chains: list[dict[str, Any]] = [{
        "filter_chain_match": {"destination_port": 15006},
        "filters": [_tcp_filter("BlackHoleCluster")],
        "name": "virtualInbound-blackhole",
    }]
    seen: set[int] = set()
    for svc in world.services_selecting(pod):
        for sp in svc.ports:
            tp = world.target_port_number(pod, sp)
            if tp is None or tp in seen:
                continue
            seen.add(tp)
            proto = port_protocol(sp)
            cname = inbound_name(world, tp, sp, svc)
            mode = world.peer_auth_mode(pod, tp)
            action: dict[str, Any] = {"cluster": cname, "timeout": "0s", "max_grpc_timeout": "0s"}
            if (ir := inbound_retry(world)) is not None:
                action["retry_policy"] = ir
            rc = {"name": cname, "virtual_hosts": [{"name": f"inbound|http|{tp}", "domains": ["*"], "routes": [{
                "match": {"prefix": "/"}, "route": action,
                "decorator": {"operation": f"{svc.fqdn}:{sp.port}/*"}, "name": "default"}]}],
                "validate_clusters": False}
            http = is_http(proto)

            def body(w: World = world) -> list[dict[str, Any]]:
                if http:
                    return [_hcm(w, f"inbound_0.0.0.0_{tp}", route_config=rc, inbound=True, pod=pod)]
                return [_tcp_filter(cname, f"inbound|{tp}||", w)]

            chains += _port_chains(world, tp, proto, mode, body, cname)
    wmode = world.peer_auth_mode(pod, 0)
    if wmode != "DISABLE":
        chains.append({"filter_chain_match": {"transport_protocol": "tls"},
                       "filters": [_tcp_filter(passthrough, world=world)],
                       "transport_socket": _downstream_tls(False), "name": "virtualInbound"})
    if wmode != "STRICT":
        chains.append({"filter_chain_match": {"transport_protocol": "raw_buffer", "application_protocols": ["http/1.1", "h2c"]},
                       "filters": [_hcm(world, "inbound_0.0.0.0_0", route_config={"name": "InboundPassthroughCluster",
                                   "virtual_hosts": [{"name": "inbound|http|0", "domains": ["*"], "routes": [
                                       {"match": {"prefix": "/"}, "route": {"cluster": passthrough, "timeout": "0s"},
                                        "name": "default"}]}]}, inbound=True, pod=pod)],
                       "name": "virtualInbound-catchall-http"})
        chains.append({"filter_chain_match": {"transport_protocol": "raw_buffer"},
                       "filters": [_tcp_filter(passthrough, world=world)], "name": "virtualInbound"})
    return {
        "@type": T_LISTENER, "name": "virtualInbound",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15006}},
        "filter_chains": chains,
        "listener_filters": [{"name": "envoy.filters.listener.original_dst"},
                             {"name": "envoy.filters.listener.tls_inspector"},
                             {"name": "envoy.filters.listener.http_inspector"}],
        "listener_filters_timeout": "0s", "continue_on_listener_filters_timeout": True,
        "traffic_direction": "INBOUND",
    }


def outbound_listeners(world: World, pod: Pod) -> list[dict[str, Any]]:
    registry_only = world.control_plane.mesh.outbound_traffic_policy == "REGISTRY_ONLY"
    sc = world.sidecar_for(pod)
    if sc and (sc["spec"].get("outboundTrafficPolicy") or {}).get("mode"):
        registry_only = sc["spec"]["outboundTrafficPolicy"]["mode"] == "REGISTRY_ONLY"
    catchall = "BlackHoleCluster" if registry_only else "PassthroughCluster"
    out = [{
        "@type": T_LISTENER, "name": "virtualOutbound",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15001}},
        "filter_chains": [
            {"filter_chain_match": {"prefix_ranges": [{"address_prefix": pod.ip, "prefix_len": 32}]},
             "filters": [_tcp_filter("BlackHoleCluster")], "name": "virtualOutbound-blackhole"},
            {"filters": [_tcp_filter(catchall, world=world)], "name": "virtualOutbound-catchall-tcp"},
        ],
        "use_original_dst": True, "traffic_direction": "OUTBOUND",
    }]
    http_ports: set[int] = set()
    for svc in world.visible_services(pod):
        for sp in svc.ports:
            proto = port_protocol(sp)
            if is_http(proto):
                http_ports.add(sp.port)
            elif not svc.headless:
                ip = world.cluster_ip(svc)
                cname = outbound_name(sp.port, "", svc.fqdn)
                out.append({"@type": T_LISTENER, "name": f"{ip}_{sp.port}",
                            "address": {"socket_address": {"address": ip, "port_value": sp.port}},
                            "filter_chains": [{"filters": [_tcp_filter(cname, cname, world)]}],
                            "bind_to_port": False, "traffic_direction": "OUTBOUND"})
    for se in world.service_entries(pod):
        for p in se["spec"].get("ports", []):
            if is_http(p.get("protocol", "TCP").upper()) and p.get("protocol", "").upper().startswith("HTTP") \
                    and p.get("protocol", "").upper() != "HTTPS":
                http_ports.add(p["number"])
    for port in sorted(http_ports):
        out.append({
            "@type": T_LISTENER, "name": f"0.0.0.0_{port}",
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
            "filter_chains": [{"filter_chain_match": {"transport_protocol": "raw_buffer",
                                                      "application_protocols": ["http/1.1", "h2c"]},
                               "filters": [_hcm(world, f"outbound_0.0.0.0_{port}", rds=str(port), sidecar_outbound=True)],
                               "name": f"0.0.0.0_{port}"}],
            "default_filter_chain": {"filters": [_tcp_filter(catchall, world=world)], "name": "PassthroughFilterChain"},
            "listener_filters": [{"name": "envoy.filters.listener.tls_inspector"},
                                 {"name": "envoy.filters.listener.http_inspector"}],
            "bind_to_port": False, "traffic_direction": "OUTBOUND",
        })
    return out


def gateway_servers(world: World, pod: Pod) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(Gateway, server) pairs that select this gateway pod."""
    return [(g, s) for g in world.gateways_for(pod) for s in g["spec"].get("servers", [])]


def gateway_listeners(world: World, pod: Pod) -> list[dict[str, Any]]:
    out = []
    by_port: dict[int, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for g, s in gateway_servers(world, pod):
        by_port.setdefault(s["port"]["number"], []).append((g, s))
    for port, pairs in sorted(by_port.items()):
        chains = []
        for g, s in pairs:
            proto = s["port"].get("protocol", "HTTP").upper()
            if terminates_tls(s):
                cred = (s.get("tls") or {}).get("credentialName", "")
                # one chain per server: hosts (without namespace prefixes) become the SNI match
                names = [h.split("/")[-1] for h in s.get("hosts", []) if h.split("/")[-1] != "*"]
                chains.append({"filter_chain_match": {"server_names": names} if names else {},
                               "filters": [_hcm(world, f"outbound_0.0.0.0_{port}", rds=gateway_https_route_name(g, s))],
                               "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
                                   "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                                   "common_tls_context": {"tls_certificate_sds_secret_configs": [_sds_credential(cred)],
                                                          "alpn_protocols": ["h2", "http/1.1"]},
                                   "require_client_certificate": False}}})
            elif proto.startswith("HTTP") and proto != "HTTPS":
                if not any("rds" in (c["filters"][0]["typed_config"]) and c["filters"][0]["typed_config"]["rds"]["route_config_name"] == f"http.{port}" for c in chains):
                    chains.append({"filters": [_hcm(world, f"outbound_0.0.0.0_{port}", rds=f"http.{port}")]})
        lst: dict[str, Any] = {"@type": T_LISTENER, "name": f"0.0.0.0_{port}",
                               "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
                               "filter_chains": chains, "traffic_direction": "OUTBOUND"}
        if any("transport_socket" in c for c in chains):
            # SNI-matched chains need the ClientHello: the TLS inspector reads it
            lst["listener_filters"] = [{"name": "envoy.filters.listener.tls_inspector", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}]
        out.append(lst)
    return out


# --------------------------------------------------------------------------- routes


def _vs_path(vs: dict[str, Any]) -> str:
    m = vs["metadata"]
    return f"/apis/networking.istio.io/v1alpha3/namespaces/{m['namespace']}/virtual-service/{m['name']}"


def _default_retry(world: World) -> dict[str, Any]:
    """istiod's default outbound retry policy (pilot/pkg/networking/core/route/retry/retry.go ``DefaultPolicy``).
    503 is a retriable status code up to 1.23; from 1.24 ``EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY`` (default
    true, istio/istio#52111 for #50506, "exclude unsafe 503 from default RetryPolicy") drops it, so an
    application's 503 reaches the caller unretried (istio/istio@1.24.0 pilot/pkg/features/pilot.go)."""
    out: dict[str, Any] = {
        "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        "num_retries": 2, "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                                                     "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
        "host_selection_retry_max_attempts": "5"}
    if world.version < Ver(1, 24):
        out["retriable_status_codes"] = [503]
    return out


def _user_retry(world: World, rt: dict[str, Any]) -> dict[str, Any]:
    """A VirtualService ``retries`` on top of the default (retry.go ``ConvertPolicy``): ``retryOn`` replaces
    both the conditions and the status codes (``parseRetryOn``: integers are status codes, and
    ``retriable-status-codes`` is added when there are some)."""
    r = _default_retry(world)
    r["num_retries"] = rt["attempts"]
    if rt.get("retryOn"):
        parts = [x.strip() for x in rt["retryOn"].split(",") if x.strip()]
        codes = [int(x) for x in parts if x.isdigit()]
        on = ",".join(x for x in parts if not x.isdigit())
        if codes and "retriable-status-codes" not in on:
            on += ",retriable-status-codes"
        r["retry_on"] = on
        if codes:
            r["retriable_status_codes"] = codes
        else:
            r.pop("retriable_status_codes", None)
    if rt.get("perTryTimeout"):
        r["per_try_timeout"] = _duration(rt["perTryTimeout"])
    return r


def inbound_retry(world: World) -> dict[str, Any] | None:
    """From 1.24 the inbound default route retries a request reset before it reached the app
    (``ENABLE_INBOUND_RETRY_POLICY``, default true; istio/istio@1.24.0 pilot/pkg/networking/core/route/route.go
    ``BuildDefaultHTTPInboundRoute``: retry_on ``reset-before-request``, 2 retries)."""
    return {"retry_on": "reset-before-request", "num_retries": 2} if world.version >= Ver(1, 24) else None


def _match(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    uri = m.get("uri") or {}
    if "exact" in uri:
        out["path"] = uri["exact"]
    elif "prefix" in uri:
        out["prefix"] = uri["prefix"]
    elif "regex" in uri:
        out["safe_regex"] = {"regex": uri["regex"]}
    else:
        out["prefix"] = "/"
    out["case_sensitive"] = True
    hdrs = []
    for k, v in (m.get("headers") or {}).items():
        sm = {"exact": v["exact"]} if "exact" in v else {"prefix": v.get("prefix", "")}
        hdrs.append({"name": k, "string_match": sm})
    if hdrs:
        out["headers"] = hdrs
    return out


def _dest_cluster(world: World, d: dict[str, Any], vs_ns: str, default_port: int) -> str:
    host = d["destination"]["host"]
    port = (d["destination"].get("port") or {}).get("number", default_port)
    fqdn = host
    if "." not in host:
        fqdn = f"{host}.{vs_ns}.svc.cluster.local"
    elif host.count(".") == 1:
        fqdn = f"{host}.svc.cluster.local"
    return outbound_name(port, d["destination"].get("subset", ""), fqdn)


def vs_routes(world: World, vs: dict[str, Any], fqdn_port: int, decorator_host: str) -> list[dict[str, Any]]:
    ns = vs["metadata"]["namespace"]
    out = []
    for h in vs["spec"].get("http") or []:
        dests = h.get("route") or []
        action: dict[str, Any] = {}
        if h.get("directResponse"):
            action = {"direct_response": {"status": h["directResponse"]["status"]}}
        elif h.get("redirect"):
            action = {"redirect": {"path_redirect": h["redirect"].get("uri", "/")}}
        else:
            if len(dests) == 1:
                action["cluster"] = _dest_cluster(world, dests[0], ns, fqdn_port)
            else:
                action["weighted_clusters"] = {"clusters": [
                    {"name": _dest_cluster(world, d, ns, fqdn_port), "weight": d.get("weight", 0)} for d in dests]}
            action["timeout"] = _duration(h.get("timeout")) or "0s"
            rt = h.get("retries")
            if rt is not None:
                if rt.get("attempts", 0) == 0:
                    pass
                else:
                    action["retry_policy"] = _user_retry(world, rt)
            else:
                action["retry_policy"] = _default_retry(world)
            action["max_grpc_timeout"] = "0s"
            action = {"route": action}
        for m in h.get("match") or [{}]:
            r: dict[str, Any] = {"match": _match(m), **action,
                                 "metadata": {"filter_metadata": {"istio": {"config": _vs_path(vs)}}},
                                 "decorator": {"operation": f"{decorator_host}:{fqdn_port}/*"}}
            if h.get("name"):
                r["name"] = h["name"]
            fault = h.get("fault")
            if fault:
                f: dict[str, Any] = {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"}
                if fault.get("abort"):
                    f["abort"] = {"http_status": fault["abort"].get("httpStatus", 503),
                                  "percentage": {"numerator": int((fault["abort"].get("percentage") or {}).get("value", 100) * 10000),
                                                 "denominator": "MILLION"}}
                if fault.get("delay"):
                    f["delay"] = {"fixed_delay": _duration(fault["delay"].get("fixedDelay")),
                                  "percentage": {"numerator": int((fault["delay"].get("percentage") or {}).get("value", 100) * 10000),
                                                 "denominator": "MILLION"}}
                r["typed_per_filter_config"] = {"envoy.filters.http.fault": f}
            out.append(r)
    return out


def _domains(world: World, svc: Service, port: int, client_ns: str) -> list[str]:
    ip = world.cluster_ip(svc)
    doms = [svc.fqdn]
    if svc.namespace == client_ns:
        doms.append(svc.name)
    doms += [f"{svc.name}.{svc.namespace}.svc", f"{svc.name}.{svc.namespace}"]
    if ip:
        doms.append(ip)
    if not sidecar_ignores_port(world):
        # without ignore_port_in_host_matching, every domain also comes with its :port twin
        doms = [x for d in doms for x in (d, f"{d}:{port}")]
    return doms


def sidecar_ignores_port(world: World) -> bool:
    """Whether istiod sets ``ignore_port_in_host_matching`` on a sidecar's outbound route tables.
    Gateways do from 1.15 (``GatewayIgnorePort``); sidecars only behind ``SIDECAR_IGNORE_PORT_IN_HOST_MATCH``,
    which defaults to false in every 1.15.x and to true from 1.16 (istio/istio@1.15.0 and @1.15.7
    pilot/pkg/features/pilot.go, @1.16.0 the same; httproute.go ``SidecarIgnorePort``). A 1.15 sidecar
    therefore still lists ``host`` and ``host:port`` (the 1.15.2 config dump quoted in istio/istio#41715:
    ``"api-internal.mycompany.com", "api-internal.mycompany.com:80"``)."""
    return world.version >= Ver(1, 16)


def sidecar_routes(world: World, pod: Pod) -> list[dict[str, Any]]:
    registry_only = world.control_plane.mesh.outbound_traffic_policy == "REGISTRY_ONLY"
    by_port: dict[int, list[dict[str, Any]]] = {}
    for svc in world.visible_services(pod):
        for sp in svc.ports:
            if not is_http(port_protocol(sp)):
                continue
            vss = world.virtual_services(svc.fqdn, pod.namespace)
            if vss:
                routes = [r for vs in vss[:1] for r in vs_routes(world, vs, sp.port, svc.fqdn)]
            else:
                routes = [{"match": {"prefix": "/"}, "route": {
                    "cluster": outbound_name(sp.port, "", svc.fqdn), "timeout": "0s",
                    "retry_policy": _default_retry(world), "max_grpc_timeout": "0s"},
                    "decorator": {"operation": f"{svc.fqdn}:{sp.port}/*"}, "name": "default"}]
            by_port.setdefault(sp.port, []).append({
                "name": f"{svc.fqdn}:{sp.port}", "domains": _domains(world, svc, sp.port, pod.namespace),
                "routes": routes, "include_request_attempt_count": True})
    for se in world.service_entries(pod):
        for p in se["spec"].get("ports", []):
            if p.get("protocol", "").upper() in ("HTTP", "HTTP2", "GRPC"):
                for host in se["spec"].get("hosts", []):
                    by_port.setdefault(p["number"], []).append({
                        "name": f"{host}:{p['number']}", "domains": [host],
                        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": outbound_name(p["number"], "", host),
                                                                        "timeout": "0s", "retry_policy": _default_retry(world),
                                                                        "max_grpc_timeout": "0s"},
                                    "decorator": {"operation": f"{host}:{p['number']}/*"}, "name": "default"}],
                        "include_request_attempt_count": True})
    out = []
    for port, vhosts in sorted(by_port.items()):
        if registry_only:
            vhosts.append({"name": "block_all", "domains": ["*"], "routes": [
                {"match": {"prefix": "/"}, "direct_response": {"status": 502}, "name": "block_all"}],
                "include_request_attempt_count": True})
        else:
            vhosts.append({"name": "allow_any", "domains": ["*"], "routes": [
                {"match": {"prefix": "/"}, "route": {"cluster": "PassthroughCluster", "timeout": "0s",
                                                     "max_grpc_timeout": "0s"}, "name": "allow_any"}],
                "include_request_attempt_count": True})
        out.append({"@type": T_ROUTE, "name": str(port), "virtual_hosts": vhosts, "validate_clusters": False,
                    "max_direct_response_body_size_bytes": 1048576, "ignore_port_in_host_matching": True}
                   if sidecar_ignores_port(world) else
                   {"@type": T_ROUTE, "name": str(port), "virtual_hosts": vhosts, "validate_clusters": False})
    return out


def _gateway_vhosts(world: World, pairs: list[tuple[dict[str, Any], dict[str, Any]]], svc_port: int) -> list[dict[str, Any]]:
    vhosts = []
    for g, s in pairs:
        gref = f"{g['metadata']['namespace']}/{g['metadata']['name']}"
        pair_start = len(vhosts)
        for vs in world.resources("VirtualService"):
            gws = [world._gw_ref(x, vs["metadata"]["namespace"]) for x in vs["spec"].get("gateways") or []]
            if gref not in gws:
                continue
            for vs_host in vs["spec"].get("hosts", []):
                if any(h in ("*", vs_host) or h.endswith("/*") or h.split("/")[-1] == vs_host for h in s.get("hosts", [])):
                    hosts = [vs_host]
                else:
                    # a wildcard VS host narrowed to the server's specific hosts (the intersection)
                    hosts = [h.split("/")[-1] for h in s.get("hosts", [])
                             if vs_host == "*" or (vs_host.startswith("*.") and h.split("/")[-1].endswith(vs_host[1:]))]
                for host in hosts:
                    routes = vs_routes(world, vs, 9080, host)
                    # istiod merges the routes of every VirtualService bound to the gateway for one host
                    # into one virtual host, in the order it meets them (istio/istio@1.22.0
                    # pilot/pkg/networking/core/gateway.go, vHostDedupMap: ``vHost.Routes = append(vHost.Routes,
                    # routes...)``); Envoy would reject two virtual hosts with one domain. Only within one
                    # Gateway's server: a second Gateway with the same port and host is a conflict whose
                    # server istiod drops (IST0145), which the kit keeps rendering as the losing duplicate
                    same = next((v for v in vhosts[pair_start:] if v["name"] == f"{host}:{svc_port}"), None)
                    if same is not None:
                        same["routes"] += routes
                        continue
                    # gateway routes keep the destination's own port; recompute the decorator host
                    vhosts.append({"name": f"{host}:{svc_port}", "domains": _gateway_domains(world, host, s["port"]["number"]),
                                   "routes": routes, "include_request_attempt_count": True})
    if not vhosts:
        vhosts = [{"name": f"blackhole:{svc_port}", "domains": ["*"], "routes": []}]
    return vhosts


def _gateway_domains(world: World, host: str, port: int) -> list[str]:
    """A gateway virtual host's domains as istiod writes them (buildGatewayVirtualHostDomains in
    pilot/pkg/networking/core/v1alpha3/gateway.go): ``host`` and ``host:<server port>`` up to 1.5;
    ``host:*`` (any port, for a gateway behind a LB/NodePort) from 1.6, wildcard hosts keeping
    ``:<port>`` from 1.8; from 1.15 the bare host, the route table ignoring the Host's port."""
    if host == "*" or world.version >= Ver(1, 15):
        return [host]
    if world.version < Ver(1, 6) or (host.startswith("*") and world.version >= Ver(1, 8)):
        return [host, f"{host}:{port}"]
    return [host, f"{host}:*"]


def _gateway_route_table(world: World, name: str, vhosts: list[dict[str, Any]]) -> dict[str, Any]:
    rc: dict[str, Any] = {"@type": T_ROUTE, "name": name, "virtual_hosts": vhosts, "validate_clusters": False}
    if world.version >= Ver(1, 15):  # GatewayIgnorePort: proxies >= 1.15 (istio/istio@1.15.0 httproute.go)
        rc["ignore_port_in_host_matching"] = True
    return rc


def _gateway_svc_port(world: World, pod: Pod, port: int) -> int:
    """The gateway Service port whose targetPort is this listener port (80 for 8080, 443 for 8443)."""
    return next((sp.port for svc in world.services if svc.namespace == pod.namespace
                 and svc.selector and all(pod.labels.get(k) == v for k, v in svc.selector.items())
                 for sp in svc.ports if sp.target == port), port)


def gateway_routes(world: World, pod: Pod) -> list[dict[str, Any]]:
    """http.<port> per plain-HTTP port (servers merged); one https.<port>.<name>.<gw>.<ns> per
    TLS-terminating HTTPS server, the route table its own filter chain (chosen by SNI) uses."""
    out = []
    ports: dict[int, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    https: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for g, s in gateway_servers(world, pod):
        if s["port"].get("protocol", "HTTP").upper() in ("HTTP", "HTTP2"):
            ports.setdefault(s["port"]["number"], []).append((g, s))
        elif s["port"].get("protocol", "").upper() == "HTTPS" and terminates_tls(s):
            https.append((g, s))
    for port, pairs in sorted(ports.items()):
        vhosts = _gateway_vhosts(world, pairs, _gateway_svc_port(world, pod, port))
        out.append(_gateway_route_table(world, f"http.{port}", vhosts))
    for g, s in https:
        vhosts = _gateway_vhosts(world, [(g, s)], _gateway_svc_port(world, pod, s["port"]["number"]))
        out.append(_gateway_route_table(world, gateway_https_route_name(g, s), vhosts))
    return out


# --------------------------------------------------------------------------- secrets


def secrets(world: World, pod: Pod) -> dict[str, Any]:
    st = pod.workload.proxy
    sec: dict[str, Any] = {"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump"}
    ver = (EPOCH - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if st.cert == "warming":
        sec["dynamic_warming_secrets"] = [
            {"name": n, "version_info": "uninitialized", "last_updated": updated(1),
             "secret": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", "name": n}}
            for n in ("default", "ROOTCA")]
        return sec
    creds = gateway_credentials(world, pod) if pod.is_gateway else []
    leaf = leaf_cert_pem(spiffe(world, pod.namespace, pod.workload.service_account), st.root_ca, st.cert == "expired", world.cert_clock)
    root = root_cert_pem(st.root_ca)
    sec["dynamic_active_secrets"] = [
        {"name": "default", "version_info": ver, "last_updated": updated(2), "secret": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", "name": "default",
            "tls_certificate": {"certificate_chain": {"inline_bytes": _b64(leaf + root)},
                                "private_key": {"inline_bytes": _REDACTED}}}},
        {"name": "ROOTCA", "version_info": ver, "last_updated": updated(3), "secret": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", "name": "ROOTCA",
            "validation_context": {"trusted_ca": {"inline_bytes": _b64(root)}}}},
    ]
    for i, c in enumerate(creds):
        ts = world.tls_secret(c, pod.namespace)
        if ts is None:
            continue
        sec["dynamic_active_secrets"].append(
            {"name": f"kubernetes://{c}", "version_info": ver, "last_updated": updated(4 + i), "secret": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", "name": f"kubernetes://{c}",
                "tls_certificate": {"certificate_chain": {"inline_bytes": _b64(server_cert_pem(ts.name, ts.namespace, tuple(ts.hosts), world.cert_clock))},
                                    "private_key": {"inline_bytes": _REDACTED}}}})
    missing = [c for c in creds if world.tls_secret(c, pod.namespace) is None]
    if missing:
        # istiod finds no Secret to serve: Envoy asked for it and never got a version
        sec["dynamic_warming_secrets"] = [
            {"name": f"kubernetes://{c}", "version_info": "uninitialized", "last_updated": updated(4 + i),
             "secret": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                        "name": f"kubernetes://{c}"}} for i, c in enumerate(missing)]
    return sec


# --------------------------------------------------------------------------- the dump


def bootstrap(world: World, pod: Pod) -> dict[str, Any]:
    v = Ver.parse(world.proxy_version(pod.workload))
    envoy_minor = v.minor + 8  # Istio 1.22 ships Envoy 1.30, 1.8 shipped 1.16: the offset holds
    w = pod.workload
    app = w.labels.get("app", w.name)
    node = {
        "id": node_id(pod),
        "cluster": f"{app}.{pod.namespace}",
        "metadata": {
            "ANNOTATIONS": {"istio.io/rev": "default", "kubectl.kubernetes.io/default-container": app},
            "APP_CONTAINERS": ",".join(c.name for c in w.containers),
            "CLUSTER_ID": world.cluster_id,
            "ENVOY_PROMETHEUS_PORT": 15090,
            "ENVOY_STATUS_PORT": 15021,
            "INSTANCE_IPS": pod.ip,
            "INTERCEPTION_MODE": "REDIRECT",
            "ISTIO_PROXY_SHA": stable_hex("proxy-sha", str(v), n=40),
            "ISTIO_VERSION": str(v),
            "LABELS": {k: val for k, val in pod.labels.items() if k != "pod-template-hash"},
            "MESH_ID": world.control_plane.mesh.trust_domain,
            "NAME": pod.name,
            "NAMESPACE": pod.namespace,
            "NODE_NAME": pod.node,
            "OWNER": f"kubernetes://apis/apps/v1/namespaces/{pod.namespace}/deployments/{w.name}",
            "PILOT_SAN": [f"istiod.{world.control_plane.namespace}.svc"],
            "POD_PORTS": json.dumps([{"containerPort": p.port, **({"name": p.name} if p.name else {}), "protocol": p.protocol}
                                     for p in pod.ports]),
            "PROXY_CONFIG": {"binaryPath": "/usr/local/bin/envoy", "configPath": "./etc/istio/proxy",
                             "discoveryAddress": f"istiod.{world.control_plane.namespace}.svc:15012",
                             "proxyAdminPort": 15000, "serviceCluster": "istio-proxy", "statusPort": 15020},
            "SERVICE_ACCOUNT": w.service_account,
            "WORKLOAD_NAME": w.name,
        },
        "locality": {},
        "user_agent_name": "envoy",
        "user_agent_build_version": {"version": {"major_number": 1, "minor_number": envoy_minor, "patch": v.patch},
                                     "metadata": {"build.type": "RELEASE", "revision.sha": node_sha(v),
                                                  "revision.status": "Clean", "ssl.version": "BoringSSL"}},
    }
    return {
        "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
        "bootstrap": {
            "node": node,
            "static_resources": {
                "listeners": [
                    {"address": {"socket_address": {"address": "0.0.0.0", "port_value": 15090}},
                     "filter_chains": [{"filters": [_hcm(world, "stats")]}]},
                    {"address": {"socket_address": {"address": "0.0.0.0", "port_value": 15021}},
                     "filter_chains": [{"filters": [_hcm(world, "agent")]}]},
                ],
                "clusters": [
                    _static("prometheus_stats"), _static("agent"),
                    _static("sds-grpc"), _static("xds-grpc", "STATIC"),
                ],
            },
            "dynamic_resources": {"lds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
                                  "cds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
                                  "ads_config": {"api_type": "GRPC", "set_node_on_first_message_only": True,
                                                 "transport_api_version": "V3",
                                                 "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]}},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 15000}},
                      "profile_path": "/var/lib/istio/data/envoy.prof"},
        },
        "last_updated": updated(0),
    }


def node_sha(v: Ver) -> str:
    return stable_hex("envoy-sha", str(v), n=40)


def config_dump(world: World, pod: Pod) -> dict[str, Any]:
    """The whole raw dump of one proxy (what `istioctl proxy-config all -o json` prints)."""
    no_config = pod.workload.proxy.state == "no_config"
    vi = version_info(world)
    static_clusters = [{"cluster": c, "last_updated": updated(i)} for i, c in enumerate([
        _static("prometheus_stats", connect_timeout="0.250s"), _static("agent", connect_timeout="0.250s"),
        _static("sds-grpc", connect_timeout="1s"), _static("xds-grpc", connect_timeout="1s")])]
    dyn_clusters: list[dict[str, Any]] = []
    eds: list[dict[str, Any]] = []
    listeners: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    if not no_config:
        registry_only = world.control_plane.mesh.outbound_traffic_policy == "REGISTRY_ONLY"
        base = [_static("BlackHoleCluster", connect_timeout="10s")]
        if not registry_only or True:
            base.append(_static("PassthroughCluster", "ORIGINAL_DST", connect_timeout="10s", lb_policy="CLUSTER_PROVIDED"))
        if not pod.is_gateway:
            base.append(_static(_passthrough_inbound_name(world), "ORIGINAL_DST", connect_timeout="10s",
                                lb_policy="CLUSTER_PROVIDED",
                                upstream_bind_config={"source_address": {"address": "127.0.0.6", "port_value": 0}}))
        allc = [(c, None) for c in base] + outbound_clusters(world, pod) + [(c, None) for c in inbound_clusters(world, pod)]
        for i, (c, eps) in enumerate(allc):
            dyn_clusters.append({"version_info": vi, "cluster": c, "last_updated": updated(10 + i)})
            if eps is not None:
                cla: dict[str, Any] = {"@type": T_CLA, "cluster_name": c["name"]}
                if eps:
                    cla["endpoints"] = [{"locality": {}, "lb_endpoints": [{
                        "endpoint": {"address": {"socket_address": {"address": p.ip, "port_value": port}},
                                     "health_check_config": {}},
                        "health_status": "HEALTHY",
                        "metadata": {"filter_metadata": {
                            "envoy.transport_socket_match": {"tlsMode": "istio"} if world.pod_is_mesh(p) else {},
                            "istio": {"workload": f"{p.workload.name};{p.namespace};{p.workload.labels.get('app', p.workload.name)};{p.workload.labels.get('version', 'latest')};{world.cluster_id}"}}},
                        "load_balancing_weight": 1} for p, port in eps]}]
                cla["policy"] = {"overprovisioning_factor": 140}
                eds.append({"endpoint_config": cla})
        ls = [inbound_listener(world, pod)] + outbound_listeners(world, pod) if not pod.is_gateway else gateway_listeners(world, pod)
        listeners = [_dyn_listener(world, lst, 100 + i) for i, lst in enumerate(ls)]
        rcs = sidecar_routes(world, pod) if not pod.is_gateway else gateway_routes(world, pod)
        routes = [{"version_info": vi, "route_config": rc, "last_updated": updated(200 + i)} for i, rc in enumerate(rcs)]
    clusters_sec: dict[str, Any] = {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                                    "static_clusters": static_clusters}
    if not no_config:
        clusters_sec = {"@type": clusters_sec["@type"], "version_info": vi, "static_clusters": static_clusters,
                        "dynamic_active_clusters": dyn_clusters}
    lsec: dict[str, Any] = {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump"}
    if not no_config:
        lsec["version_info"] = vi
        lsec["dynamic_listeners"] = listeners
        if pod.workload.proxy.state == "nack" and pod.workload.proxy.nack_type.endswith("Listener"):
            # a rejected listener update keeps the old one active and records the error
            lsec["dynamic_listeners"].append({"name": "0.0.0.0_9080_rejected", "error_state": {
                "failed_configuration": {"@type": T_LISTENER, "name": "0.0.0.0_9080"},
                "last_update_attempt": updated(300), "details": pod.workload.proxy.nack_message}})
    rsec: dict[str, Any] = {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump"}
    if routes:
        rsec["dynamic_route_configs"] = routes
    return {"configs": [
        bootstrap(world, pod),
        clusters_sec,
        {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
         **({"dynamic_endpoint_configs": eds} if eds else {})},
        lsec,
        {"@type": "type.googleapis.com/envoy.admin.v3.ScopedRoutesConfigDump"},
        rsec,
        secrets(world, pod),
    ]}


def render_config_dump(world: World, pod: Pod) -> str:
    # istioctl prints the admin bytes as-is: Envoy indents with a space per level
    return json.dumps(config_dump(world, pod), indent=1) + "\n"


# --------------------------------------------------------------------------- admin /stats and /clusters


def render_stats(world: World, pod: Pod) -> str:
    """Admin /stats text (`name: value`, sorted like Envoy) with the counters traffic produced."""
    from tests.scenariokit.render_logs import simulate

    counters: dict[str, int] = {
        "cluster_manager.cds.update_success": 0 if pod.workload.proxy.state == "no_config" else 14,
        "cluster_manager.cds.update_rejected": 1 if pod.workload.proxy.state == "nack" and pod.workload.proxy.nack_type.endswith("Cluster") else 0,
        "listener_manager.lds.update_success": 0 if pod.workload.proxy.state == "no_config" else 9,
        "listener_manager.lds.update_rejected": 1 if pod.workload.proxy.state == "nack" and pod.workload.proxy.nack_type.endswith("Listener") else 0,
        "server.state": 0 if pod.proxy_ready else 2,
        "listener.0.0.0.0_15006.no_filter_chain_match": 0,
        "listener.0.0.0.0_15006.downstream_cx_total": 0,
        "listener.0.0.0.0_15001.downstream_cx_total": 0,
    }
    for svc in world.services_selecting(pod):
        for sp in svc.ports:
            tp = world.target_port_number(pod, sp)
            if tp:
                # inbound TLS is terminated on virtualInbound, so its SSL stats live under 15006
                counters.setdefault("listener.0.0.0.0_15006.ssl.connection_error", 0)
                counters.setdefault("listener.0.0.0.0_15006.ssl.fail_verify_error", 0)
    for ex in simulate(world):
        for name, val in ex.stats.get(pod.name, {}).items():
            # gauges hold the latest value; counters accumulate
            counters[name] = val if name.endswith("ejections_active") else counters.get(name, 0) + val
    for name, val in pod.workload.proxy.stats.items():
        counters[name] = counters.get(name, 0) + val
    return "".join(f"{k}: {v}\n" for k, v in sorted(counters.items()))


def render_admin_clusters(world: World, pod: Pod) -> str:
    """Admin /clusters text: per cluster its thresholds, then per host counters and health flags."""
    if pod.workload.proxy.state == "no_config":
        return ""
    from tests.scenariokit.render_logs import simulate

    ejected: set[str] = set()
    failed: dict[str, int] = {}
    for ex in simulate(world):
        for host in ex.ejected.get(pod.name, set()):
            ejected.add(host)
        for host, n in ex.connect_fail.get(pod.name, {}).items():
            failed[host] = failed.get(host, 0) + n
    lines: list[str] = []
    for c, eps in outbound_clusters(world, pod):
        name = c["name"]
        thr = c.get("circuit_breakers", {}).get("thresholds", [{}])[0]
        lines.append(f"{name}::observability_name::{name}")
        if "outlier_detection" in c:
            lines.append(f"{name}::outlier::success_rate_average::-1")
            lines.append(f"{name}::outlier::success_rate_ejection_threshold::-1")
        for prio, d in (("default_priority", thr), ("high_priority", {})):
            lines.append(f"{name}::{prio}::max_connections::{d.get('max_connections', 1024)}")
            lines.append(f"{name}::{prio}::max_pending_requests::{d.get('max_pending_requests', 1024)}")
            lines.append(f"{name}::{prio}::max_requests::{d.get('max_requests', 1024)}")
            lines.append(f"{name}::{prio}::max_retries::{d.get('max_retries', 3)}")
        lines.append(f"{name}::added_via_api::true")
        for p, port in eps or []:
            h = f"{p.ip}:{port}"
            fails = failed.get(f"{name}/{h}", 0)
            for k, v in (("cx_active", 0), ("cx_connect_fail", fails), ("cx_total", 3 + fails),
                         ("rq_active", 0), ("rq_error", fails), ("rq_success", 3), ("rq_timeout", 0), ("rq_total", 3 + fails)):
                lines.append(f"{name}::{h}::{k}::{v}")
            lines.append(f"{name}::{h}::hostname::")
            flags = "/failed_outlier_check" if f"{name}/{h}" in ejected else "healthy"
            lines.append(f"{name}::{h}::health_flags::{flags}")
            lines.append(f"{name}::{h}::weight::1")
            lines.append(f"{name}::{h}::region::")
            lines.append(f"{name}::{h}::zone::")
            lines.append(f"{name}::{h}::sub_zone::")
            lines.append(f"{name}::{h}::canary::false")
            lines.append(f"{name}::{h}::priority::0")
            lines.append(f"{name}::{h}::success_rate::-1")
            lines.append(f"{name}::{h}::local_origin_success_rate::-1")
    for static in ("BlackHoleCluster", "PassthroughCluster", "agent", "prometheus_stats", "sds-grpc", "xds-grpc"):
        lines.append(f"{static}::observability_name::{static}")
        lines.append(f"{static}::default_priority::max_connections::{_MAXU32 if static.endswith('Cluster') else 1024}")
        lines.append(f"{static}::added_via_api::{'true' if static.endswith('Cluster') else 'false'}")
    return "\n".join(lines) + "\n"
