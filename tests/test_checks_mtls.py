"""Unit tests of the mtls playbook's checks, on evidence parsed from real-format text by the production parsers.

Each check gets: a failing case (the cause, with the runtime signal it produces), a passing or
look-alike case, a not-applicable case, and an unknown case (required evidence missing). The
fixtures are kubectl/istioctl outputs in their real shapes (``kubectl get -o json`` lists, the
Istio default TEXT access log, the Envoy admin config dump), parsed by the same functions the
gatherer uses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from istio_doctor.engine.context import CheckContext, RelatedPod
from istio_doctor.engine.model import Outcome
from istio_doctor.engine.registry import load_builtin_checks
from istio_doctor.engine.walker import run_check
from istio_doctor.evidence.bundle import Evidence, EvidenceFailure, FailureKind, Item, Need
from istio_doctor.evidence.kinds import ParseEnv
from istio_doctor.evidence.target import Connection, Target

REG = load_builtin_checks()

# ----------------------------------------------------------------------------- fixtures


def _pod(name: str, ns: str, app: str, ip: str, *, sidecar: bool = True, sa: str | None = None, port: int = 9080,
         version: str = "v1", ready: bool = True, owner: str | None = None) -> dict[str, Any]:
    labels = {"app": app, "version": version, "pod-template-hash": "6b746f74dc"}
    containers = [{"name": app, "image": f"docker.io/istio/examples-bookinfo-{app}-v1:1.20.2",
                   "ports": [{"containerPort": port, "protocol": "TCP"}]}]
    if sidecar:
        labels["security.istio.io/tlsMode"] = "istio"
        containers.append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.3", "args": ["proxy", "sidecar"]})
    owner = owner or f"{app}-{version}-6b746f74dc"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True, "uid": "x"}]},
        "spec": {"containers": containers, "serviceAccountName": sa or f"bookinfo-{app}"},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _svc(name: str, ns: str, port: int = 9080, target: int | str | None = None, port_name: str = "http",
         app_protocol: str | None = None, cluster_ip: str = "10.96.12.7") -> dict[str, Any]:
    p: dict[str, Any] = {"name": port_name, "port": port, "protocol": "TCP", "targetPort": target if target is not None else port}
    if app_protocol:
        p["appProtocol"] = app_protocol
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"selector": {"app": name}, "ports": [p], "clusterIP": cluster_ip, "type": "ClusterIP"}}


def _list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def _cr(kind: str, name: str, ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    group = {"DestinationRule": "networking.istio.io/v1", "ServiceEntry": "networking.istio.io/v1",
             "PeerAuthentication": "security.istio.io/v1", "AuthorizationPolicy": "security.istio.io/v1"}[kind]
    return {"apiVersion": group, "kind": kind, "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2024-07-01T10:00:00Z"}, "spec": spec}


STRICT_MESH = _cr("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}})
STRICT_NS = _cr("PeerAuthentication", "default", "default", {"mtls": {"mode": "STRICT"}})
PERMISSIVE_NS = _cr("PeerAuthentication", "default", "default", {"mtls": {"mode": "PERMISSIVE"}})
DR_DISABLE = _cr("DestinationRule", "reviews", "default", {"host": "reviews", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})
DR_MUTUAL = _cr("DestinationRule", "reviews", "default", {"host": "reviews", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}})

CLIENT = "productpage-v1-6b746f74dc-9stvs"
SERVER = "reviews-v1-545db77b95-6kqdm"
CLIENT_IP, SERVER_IP = "10.244.1.6", "10.244.2.7"

# Istio default TEXT access-log lines (1.9+ format).
UC_LINE = (f'[2024-07-15T09:30:01.123Z] "GET /reviews/0 HTTP/1.1" 503 UC upstream_reset_before_response_started{{connection_termination}} - "-" '
           f'0 95 1 - "-" "python-requests/2.31.0" "4c5f6c4a-1111-2222-3333-444455556666" "reviews:9080" "{SERVER_IP}:9080" '
           f'outbound|9080||reviews.default.svc.cluster.local {CLIENT_IP}:45678 10.96.12.7:9080 {CLIENT_IP}:45676 - default')
OK_LINE = (f'[2024-07-15T09:30:02.001Z] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 358 12 11 "-" "python-requests/2.31.0" '
           f'"5d6f7a8b-1111-2222-3333-444455556666" "reviews:9080" "{SERVER_IP}:9080" outbound|9080||reviews.default.svc.cluster.local '
           f'{CLIENT_IP}:45680 10.96.12.7:9080 {CLIENT_IP}:45679 outbound_.9080_._.reviews.default.svc.cluster.local default')
APP_503_LINE = (f'[2024-07-15T09:30:03.001Z] "GET /reviews/0 HTTP/1.1" 503 - via_upstream - "-" 0 19 3 2 "-" "python-requests/2.31.0" '
                f'"6e7f8a9b-1111-2222-3333-444455556666" "reviews:9080" "{SERVER_IP}:9080" outbound|9080||reviews.default.svc.cluster.local '
                f'{CLIENT_IP}:45690 10.96.12.7:9080 {CLIENT_IP}:45689 outbound_.9080_._.reviews.default.svc.cluster.local default')


def nr_line(remote_ip: str, port: int = 9080, local_ip: str = SERVER_IP) -> str:
    return (f'[2024-07-15T09:30:01.124Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - '
            f'{local_ip}:{port} {remote_ip}:45678 - -')


def tls_fail_line(reason: str) -> str:
    return (f'[2024-07-15T09:30:01.123Z] "GET /reviews/0 HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{{connection_failure,{reason}}} - '
            f'"{reason}" 0 190 3 - "-" "curl/8.7.1" "7a8b9c0d-1111-2222-3333-444455556666" "reviews:9080" "{SERVER_IP}:9080" '
            f'outbound|9080||reviews.default.svc.cluster.local - 10.96.12.7:9080 {CLIENT_IP}:45676 - default')


RBAC_LINE = (f'[2024-07-15T09:30:01.123Z] "GET /reviews/0 HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" '
             f'"python-requests/2.31.0" "8b9c0d1e-1111-2222-3333-444455556666" "reviews:9080" "-" inbound|9080|| - {SERVER_IP}:9080 '
             f'{CLIENT_IP}:50110 outbound_.9080_._.reviews.default.svc.cluster.local -')
RBAC_CLIENT_LINE = (f'[2024-07-15T09:30:01.123Z] "GET /reviews/0 HTTP/1.1" 403 - via_upstream - "-" 0 19 1 1 "-" "python-requests/2.31.0" '
                    f'"8b9c0d1e-1111-2222-3333-444455556666" "reviews:9080" "{SERVER_IP}:9080" outbound|9080||reviews.default.svc.cluster.local '
                    f'{CLIENT_IP}:50110 10.96.12.7:9080 {CLIENT_IP}:50109 outbound_.9080_._.reviews.default.svc.cluster.local default')


def _istio_cluster(host: str, port: int, *, tls: str) -> dict[str, Any]:
    """An outbound cluster as istiod builds it: auto mTLS via transport_socket_matches, explicit, or none."""
    name = f"outbound|{port}||{host}"
    mtls_socket = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": {
                "tls_certificate_sds_secret_configs": [{"name": "default", "sds_config": {"api_config_source": {"api_type": "GRPC"}}}],
                "combined_validation_context": {
                    "default_validation_context": {"match_subject_alt_names": [{"exact": "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"}]},
                    "validation_context_sds_secret_config": {"name": "ROOTCA", "sds_config": {"api_config_source": {"api_type": "GRPC"}}},
                },
                "alpn_protocols": ["istio-peer-exchange", "istio"],
            },
            "sni": f"outbound_.{port}_._.{host}",
        },
    }
    c: dict[str, Any] = {"name": name, "type": "EDS", "connect_timeout": "10s",
                         "metadata": {"filter_metadata": {"istio": {"services": [{"host": host, "name": host.split(".")[0], "namespace": host.split(".")[1]}]}}}}
    if tls == "auto":
        c["transport_socket_matches"] = [
            {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": mtls_socket},
            {"name": "tlsMode-disabled", "match": {}, "transport_socket": {"name": "envoy.transport_sockets.raw_buffer",
                                                                          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}},
        ]
    elif tls == "mutual":
        c["transport_socket"] = mtls_socket
    return c


def _cert(cn: str, *, ca: bool, days: int = 3650, serial: int = 1, start: datetime | None = None, key: Any = None) -> tuple[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    k = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, cn)])
    nb = start or datetime.now(UTC) - timedelta(days=1)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key()).serial_number(serial)
         .not_valid_before(nb).not_valid_after(nb + timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/bookinfo-reviews")]), critical=False)
    cert = b.sign(k, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), k


def _b64(s: str) -> str:
    import base64

    return base64.b64encode(s.encode()).decode()


def _secrets_section(*, root: str, leaf: str | None, warming: bool = False) -> dict[str, Any]:
    default = {"name": "default", "version_info": "2024-07-15T09:00:00Z",
               "secret": {"name": "default", "tls_certificate": {"certificate_chain": {"inline_bytes": _b64(leaf or "")}}}}
    rootca = {"name": "ROOTCA", "version_info": "2024-07-15T09:00:00Z",
              "secret": {"name": "ROOTCA", "validation_context": {"trusted_ca": {"inline_bytes": _b64(root)}}}}
    sec: dict[str, Any] = {"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump", "dynamic_active_secrets": [rootca]}
    if warming:
        sec["dynamic_warming_secrets"] = [{"name": "default", "version_info": "uninitialized", "secret": {"name": "default"}}]
    elif leaf is not None:
        sec["dynamic_active_secrets"].insert(0, default)
    return sec


ROOT_A, _KEY_A = _cert("cluster.local", ca=True, serial=0x1A2B)
ROOT_B, _KEY_B = _cert("cluster.local", ca=True, serial=0x3C4D)
LEAF, _ = _cert("cluster.local", ca=False, days=3650, serial=0x77)
EXPIRED, _ = _cert("cluster.local", ca=False, days=1, serial=0x78, start=datetime.now(UTC) - timedelta(days=3))


def _dump(clusters: list[dict[str, Any]] | None = None, secrets: dict[str, Any] | None = None) -> str:
    configs: list[dict[str, Any]] = []
    if clusters is not None:
        configs.append({"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                        "dynamic_active_clusters": [{"version_info": "2024-07-15T09:00:00Z/12", "cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", **c}} for c in clusters]})
    configs.append(secrets or _secrets_section(root=ROOT_A, leaf=LEAF))
    return json.dumps({"configs": configs})


def _mesh(auto: bool = True, trust_domain: str = "cluster.local") -> str:
    mesh = {"accessLogFile": "/dev/stdout", "enableAutoMtls": auto, "rootNamespace": "istio-system", "trustDomain": trust_domain}
    return _list([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
                   "data": {"mesh": yaml.safe_dump(mesh)}}])


class World:
    """Evidence for one examined pod, built from real-format outputs."""

    def __init__(self, pod: str = CLIENT, ns: str = "default") -> None:
        self.pod, self.ns = pod, ns
        self.ev = Evidence()
        self.related: list[RelatedPod] = []

    def put(self, need: Need, text: str, ns: str | None = None, name: str | None = None) -> World:
        key = Evidence.key(need, ns, name)
        self.ev.put(Item(key=key, value=need.parse(text, ParseEnv()), sources=[("kubectl", "get", need.value)]))
        return self

    def fail(self, need: Need, ns: str | None = None, name: str | None = None) -> World:
        key = Evidence.key(need, ns, name)
        self.ev.put(Item(key=key, failure=EvidenceFailure(kind=FailureKind.FORBIDDEN, reason=f"{need.value} is forbidden")))
        return self

    def base(self, pods: list[dict[str, Any]], svcs: list[dict[str, Any]], istio: list[dict[str, Any]], *, auto: bool = True) -> World:
        by_ns: dict[str, list[dict[str, Any]]] = {}
        for p in pods:
            by_ns.setdefault(p["metadata"]["namespace"], []).append(p)
        for ns, ps in by_ns.items():
            self.put(Need.PODS, _list(ps), ns)
        for p in pods:
            if p["metadata"]["name"] == self.pod:
                self.put(Need.POD, json.dumps(p), self.ns, self.pod)
        self.put(Need.SERVICES, _list(svcs))
        kinds = {Need.DESTINATION_RULES: "DestinationRule", Need.PEER_AUTHENTICATIONS: "PeerAuthentication",
                 Need.AUTHORIZATION_POLICIES: "AuthorizationPolicy", Need.SERVICE_ENTRIES: "ServiceEntry"}
        for need, kind in kinds.items():
            self.put(need, _list([o for o in istio if o["kind"] == kind]))
        self.put(Need.CONTROL_PLANE_CONFIGMAPS, _mesh(auto))
        return self

    def log(self, lines: list[str], name: str | None = None, ns: str | None = None) -> World:
        return self.put(Need.PROXY_LOGS, "\n".join(lines) + "\n", ns or self.ns, name or self.pod)

    def dump(self, text: str, name: str | None = None, ns: str | None = None) -> World:
        return self.put(Need.CONFIG_DUMP, text, ns or self.ns, name or self.pod)

    def rel(self, name: str, role: str, ns: str = "default", service: str = "") -> World:
        self.related.append(RelatedPod(ns, name, role, "1 failing request", service))
        return self

    def run(self, check_id: str) -> Any:
        ctx = CheckContext(ev=self.ev, target=Target.parse(f"pod/{self.pod}", self.ns), conn=Connection(), namespace=self.ns,
                           pod_name=self.pod, related=self.related)
        res, _missing = run_check(REG, check_id, {}, ctx)
        return res


def bookinfo(*, client_sidecar: bool = True, server_sidecar: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pods = [_pod(CLIENT, "default", "productpage", CLIENT_IP, sidecar=client_sidecar),
            _pod(SERVER, "default", "reviews", SERVER_IP, sidecar=server_sidecar)]
    svcs = [_svc("reviews", "default"), _svc("productpage", "default", cluster_ip="10.96.12.8")]
    return pods, svcs


# ----------------------------------------------------------------------------- DR-DISABLE-VS-STRICT


def test_dr_disable_vs_strict_client_side_fails_with_runtime_corroboration() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [STRICT_MESH, DR_DISABLE]).log([UC_LINE, UC_LINE])
    w.dump(_dump([_istio_cluster("reviews.default.svc.cluster.local", 9080, tls="none")]))
    w.rel(SERVER, "server", service="reviews.default.svc.cluster.local").log([nr_line(CLIENT_IP)], name=SERVER)
    r = w.run("MTLS-DR-DISABLE-VS-STRICT")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.args["dr"] == "default/reviews" and r.args["mode"] == "DISABLE" and r.args["plaintext"]
    assert r.args["server"] == f"default/{SERVER}" and "istio-system/default" in r.args["peer_authentication"]
    assert r.corroboration == "server_logs"  # the server's NR line, beyond the client's resets and dump
    assert any("503 UC" in o for o in r.observed) and any("filter_chain_not_found" in o for o in r.observed)
    assert any(UC_LINE in e.excerpt for e in r.evidence)
    assert any("no TLS transport socket" in e.excerpt for e in r.evidence)
    assert r.fix and any("ISTIO_MUTUAL" in (s.command or "") for s in r.fix.steps)


def test_dr_disable_vs_strict_server_side_from_its_own_log() -> None:
    pods, svcs = bookinfo()
    w = World(pod=SERVER).base(pods, svcs, [STRICT_MESH, DR_DISABLE]).log([nr_line(CLIENT_IP)])
    r = w.run("MTLS-DR-DISABLE-VS-STRICT")
    assert r.outcome is Outcome.FAIL
    assert r.message == "server" and r.args["target_port"] == 9080 and r.corroboration == "server_rejects"


def _in_domain(pods: list[dict[str, Any]], domain: str) -> list[dict[str, Any]]:
    """The pods as the injector starts their proxies in a cluster whose DNS domain is ``domain``:
    ``--domain $(POD_NAMESPACE).svc.<clusterDomain>`` (istio/istio@1.22.0:manifests/charts/istio-control/
    istio-discovery/files/injection-template.yaml; tests/fixtures/corpus/istio/inject)."""
    for p in pods:
        for c in p["spec"]["containers"]:
            if c["name"] == "istio-proxy":
                c["args"] = ["proxy", "sidecar", "--domain", f"$(POD_NAMESPACE).svc.{domain}"]
    return pods


def test_dr_disable_follows_the_cluster_domain() -> None:
    """A cluster installed with clusterDomain corp.internal names its Services
    ``reviews.default.svc.corp.internal``: a DestinationRule written with that FQDN disables TLS
    towards this STRICT pod, and the check must see it. Assuming ``cluster.local`` it would look for
    ``reviews.default.svc.cluster.local`` and call the mesh healthy."""
    dr = _cr("DestinationRule", "reviews", "default", {"host": "reviews.default.svc.corp.internal",
                                                       "trafficPolicy": {"tls": {"mode": "DISABLE"}}})
    pods, svcs = bookinfo()
    r = World(pod=SERVER).base(_in_domain(pods, "corp.internal"), svcs, [STRICT_MESH, dr]).log([nr_line(CLIENT_IP)]).run("MTLS-DR-DISABLE-VS-STRICT")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.message == "server" and r.args["host"] == "reviews.default.svc.corp.internal"
    # the same rule in a cluster.local cluster names no Service of this mesh
    pods, svcs = bookinfo()
    assert World(pod=SERVER).base(pods, svcs, [STRICT_MESH, dr]).log([nr_line(CLIENT_IP)]).run("MTLS-DR-DISABLE-VS-STRICT").outcome is not Outcome.FAIL


def test_dr_disable_towards_permissive_server_passes() -> None:
    pods, svcs = bookinfo()
    r = World().base(pods, svcs, [PERMISSIVE_NS, DR_DISABLE]).log([OK_LINE]).run("MTLS-DR-DISABLE-VS-STRICT")
    assert r.outcome is Outcome.PASS, r.summary


def test_dr_disable_not_in_effect_when_envoy_still_uses_mtls() -> None:
    """Stale config: the DR says DISABLE but the client's dump shows auto mTLS — not this cause."""
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [STRICT_MESH, DR_DISABLE]).log([UC_LINE])
    w.dump(_dump([_istio_cluster("reviews.default.svc.cluster.local", 9080, tls="auto")]))
    r = w.run("MTLS-DR-DISABLE-VS-STRICT")
    assert r.outcome is Outcome.PASS
    assert "still uses mTLS" in r.summary


def test_dr_disable_not_applicable_without_rules() -> None:
    pods, svcs = bookinfo()
    r = World().base(pods, svcs, [STRICT_MESH]).log([OK_LINE]).run("MTLS-DR-DISABLE-VS-STRICT")
    assert r.outcome is Outcome.NOT_APPLICABLE


def test_dr_disable_unknown_when_destination_rules_missing() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [STRICT_MESH]).fail(Need.DESTINATION_RULES)
    assert w.run("MTLS-DR-DISABLE-VS-STRICT").outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------- NONMESH-CLIENT


def test_nonmesh_client_seen_by_strict_server() -> None:
    pods, svcs = bookinfo()
    legacy = _pod("sleep-7f8d9c6b5-x2x4z", "legacy", "sleep", "10.244.3.9", sidecar=False, owner="sleep-7f8d9c6b5")
    w = World(pod=SERVER).base(pods + [legacy], svcs, [STRICT_MESH]).log([nr_line("10.244.3.9"), nr_line("10.244.3.9")])
    r = w.run("MTLS-NONMESH-CLIENT")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.message == "server" and r.args["client"] == "legacy/sleep-7f8d9c6b5-x2x4z" and r.args["count"] == 2
    assert r.corroboration == "server_logs_client_pod"
    assert any("kubectl label namespace legacy istio-injection=enabled" in (s.command or "") for s in r.fix.steps)


def test_nonmesh_client_ignores_mesh_clients_sending_plaintext() -> None:
    """Plaintext from a pod *with* a sidecar is a DestinationRule/bypass problem, not a non-mesh client."""
    pods, svcs = bookinfo()
    r = World(pod=SERVER).base(pods, svcs, [STRICT_MESH]).log([nr_line(CLIENT_IP)]).run("MTLS-NONMESH-CLIENT")
    assert r.outcome is Outcome.PASS


def test_nonmesh_client_permissive_server_not_applicable() -> None:
    pods, svcs = bookinfo()
    r = World(pod=SERVER).base(pods, svcs, [PERMISSIVE_NS]).log([OK_LINE]).run("MTLS-NONMESH-CLIENT")
    assert r.outcome is Outcome.NOT_APPLICABLE


def test_nonmesh_pod_examined_under_mesh_wide_strict() -> None:
    legacy = _pod("sleep-7f8d9c6b5-x2x4z", "legacy", "sleep", "10.244.3.9", sidecar=False, owner="sleep-7f8d9c6b5")
    pods, svcs = bookinfo()
    w = World(pod="sleep-7f8d9c6b5-x2x4z", ns="legacy").base(pods + [legacy], svcs, [STRICT_MESH])
    r = w.run("MTLS-NONMESH-CLIENT")
    assert r.outcome is Outcome.FAIL and r.message == "client" and r.args["peer_authentications"] == ["istio-system/default"]
    assert r.args["namespaces"] is None  # mesh-wide: every sidecar workload resets its calls
    w2 = World(pod="sleep-7f8d9c6b5-x2x4z", ns="legacy").base(pods + [legacy], svcs, [PERMISSIVE_NS])
    assert w2.run("MTLS-NONMESH-CLIENT").outcome is Outcome.PASS


def test_nonmesh_client_unknown_without_peer_authentications() -> None:
    pods, svcs = bookinfo()
    w = World(pod=SERVER).base(pods, svcs, []).fail(Need.PEER_AUTHENTICATIONS)
    assert w.run("MTLS-NONMESH-CLIENT").outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------- TO-NONMESH-SERVER


def test_to_nonmesh_server_client_side() -> None:
    pods, svcs = bookinfo(server_sidecar=False)
    w = World().base(pods, svcs, [DR_MUTUAL]).log([tls_fail_line("TLS_error:_268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER")])
    w.dump(_dump([_istio_cluster("reviews.default.svc.cluster.local", 9080, tls="mutual")]))
    r = w.run("MTLS-TO-NONMESH-SERVER")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.message == "client" and r.args["servers"] == [SERVER] and r.args["where"] == "trafficPolicy.tls"
    assert r.corroboration == "client_tls_error"


def test_to_nonmesh_server_seen_from_the_server() -> None:
    pods, svcs = bookinfo(server_sidecar=False)
    r = World(pod=SERVER).base(pods, svcs, [DR_MUTUAL]).run("MTLS-TO-NONMESH-SERVER")
    assert r.outcome is Outcome.FAIL


def test_to_nonmesh_server_passes_with_sidecar_server() -> None:
    pods, svcs = bookinfo()
    r = World().base(pods, svcs, [DR_MUTUAL]).log([OK_LINE]).run("MTLS-TO-NONMESH-SERVER")
    assert r.outcome is Outcome.PASS


def test_to_nonmesh_server_not_applicable_without_dr() -> None:
    pods, svcs = bookinfo(server_sidecar=False)
    assert World().base(pods, svcs, []).log([OK_LINE]).run("MTLS-TO-NONMESH-SERVER").outcome is Outcome.NOT_APPLICABLE


def test_to_nonmesh_server_unknown_without_pods() -> None:
    pods, svcs = bookinfo(server_sidecar=False)
    w = World().base(pods, svcs, [DR_MUTUAL]).fail(Need.PODS, "default")
    w.put(Need.POD, json.dumps(pods[0]), "default", CLIENT)
    assert w.run("MTLS-TO-NONMESH-SERVER").outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------- AUTO-OFF / SHADOWING


def test_auto_off_plaintext_to_strict() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [STRICT_MESH], auto=False).log([UC_LINE])
    w.dump(_dump([_istio_cluster("reviews.default.svc.cluster.local", 9080, tls="none")]))
    r = w.run("MTLS-AUTO-OFF")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.args["dr"] is None and r.args["host"] == "reviews.default.svc.cluster.local" and r.corroboration == "client_logs"


def test_auto_off_with_istio_mutual_rule_passes() -> None:
    pods, svcs = bookinfo()
    r = World().base(pods, svcs, [STRICT_MESH, MESH_MUTUAL], auto=False).log([OK_LINE]).run("MTLS-AUTO-OFF")
    assert r.outcome is Outcome.PASS, r.summary
    # without a rule for its own Service, this pod's callers send plaintext to it: a real finding
    r2 = World().base(pods, svcs, [STRICT_MESH, DR_MUTUAL], auto=False).log([OK_LINE]).run("MTLS-AUTO-OFF")
    assert r2.outcome is Outcome.FAIL and r2.message == "server" and r2.args["host"] == "productpage.default.svc.cluster.local"


def test_auto_on_not_applicable() -> None:
    pods, svcs = bookinfo()
    assert World().base(pods, svcs, [STRICT_MESH]).log([UC_LINE]).run("MTLS-AUTO-OFF").outcome is Outcome.NOT_APPLICABLE


def test_auto_off_unknown_without_mesh_config() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [STRICT_MESH]).fail(Need.CONTROL_PLANE_CONFIGMAPS)
    assert w.run("MTLS-AUTO-OFF").outcome is Outcome.UNKNOWN


SHADOW = _cr("DestinationRule", "reviews-lb", "default", {"host": "reviews", "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}})
MESH_MUTUAL = _cr("DestinationRule", "default", "istio-system", {"host": "*.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}})


def test_dr_shadowing_fails_and_auto_off_defers() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [STRICT_MESH, SHADOW, MESH_MUTUAL], auto=False).log([UC_LINE])
    r = w.run("MTLS-DR-SHADOWING")
    assert r.outcome is Outcome.FAIL, r.summary
    assert (r.args["winner"], r.args["shadowed"]) == ("default/reviews-lb", "istio-system/default")
    assert w.run("MTLS-AUTO-OFF").outcome is not Outcome.FAIL


def test_dr_shadowing_harmless_with_auto_mtls() -> None:
    pods, svcs = bookinfo()
    r = World().base(pods, svcs, [STRICT_MESH, SHADOW, MESH_MUTUAL]).log([OK_LINE]).run("MTLS-DR-SHADOWING")
    assert r.outcome is Outcome.PASS


def test_dr_shadowing_not_applicable_single_rule() -> None:
    pods, svcs = bookinfo()
    assert World().base(pods, svcs, [STRICT_MESH, SHADOW]).log([OK_LINE]).run("MTLS-DR-SHADOWING").outcome is Outcome.NOT_APPLICABLE


def test_dr_shadowing_unknown_without_rules() -> None:
    pods, svcs = bookinfo()
    assert World().base(pods, svcs, []).fail(Need.DESTINATION_RULES).run("MTLS-DR-SHADOWING").outcome in (Outcome.UNKNOWN, Outcome.NOT_APPLICABLE)


# ----------------------------------------------------------------------------- certificates


def test_rootca_mismatch_between_client_and_server() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [STRICT_MESH]).log([tls_fail_line("TLS_error:_268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED")])
    w.dump(_dump([], _secrets_section(root=ROOT_A, leaf=LEAF)))
    w.rel(SERVER, "server").dump(_dump([], _secrets_section(root=ROOT_B, leaf=LEAF)), name=SERVER)
    r = w.run("MTLS-ROOTCA-MISMATCH")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.args["serial"].endswith("1a2b") and r.args["peer_serial"].endswith("3c4d") and r.corroboration == "logs"


def test_rootca_same_root_passes() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, []).dump(_dump([], _secrets_section(root=ROOT_A, leaf=LEAF)))
    w.rel(SERVER, "server").dump(_dump([], _secrets_section(root=ROOT_A + ROOT_B, leaf=LEAF)), name=SERVER)
    assert w.run("MTLS-ROOTCA-MISMATCH").outcome is Outcome.PASS


def test_rootca_without_peer_is_not_applicable_or_unknown() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, []).dump(_dump([], _secrets_section(root=ROOT_A, leaf=LEAF)))
    assert w.run("MTLS-ROOTCA-MISMATCH").outcome is Outcome.NOT_APPLICABLE
    w.log([tls_fail_line("TLS_error:_268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED")])
    assert w.run("MTLS-ROOTCA-MISMATCH").outcome is Outcome.UNKNOWN


def test_rootca_unknown_without_dump() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, []).fail(Need.CONFIG_DUMP, "default", CLIENT)
    assert w.run("MTLS-ROOTCA-MISMATCH").outcome is Outcome.UNKNOWN


def test_cert_not_ready_warming_and_expired() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, []).dump(_dump([], _secrets_section(root=ROOT_A, leaf=None, warming=True)))
    r = w.run("MTLS-CERT-NOT-READY")
    assert r.outcome is Outcome.FAIL and r.args["not_received"] and "WARMING" in r.args["not_received"][0]
    w2 = World().base(pods, svcs, []).dump(_dump([], _secrets_section(root=ROOT_A, leaf=EXPIRED)))
    r2 = w2.run("MTLS-CERT-NOT-READY")
    assert r2.outcome is Outcome.FAIL and r2.args["invalid"]  # no valid certificate


def test_cert_ready_passes_and_unknown_without_dump() -> None:
    pods, svcs = bookinfo()
    assert World().base(pods, svcs, []).dump(_dump([])).run("MTLS-CERT-NOT-READY").outcome is Outcome.PASS
    assert World().base(pods, svcs, []).fail(Need.CONFIG_DUMP, "default", CLIENT).run("MTLS-CERT-NOT-READY").outcome is Outcome.UNKNOWN


def test_cert_not_ready_on_peer() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, []).dump(_dump([])).rel(SERVER, "server")
    w.dump(_dump([], _secrets_section(root=ROOT_A, leaf=EXPIRED)), name=SERVER)
    r = w.run("MTLS-CERT-NOT-READY")
    assert r.outcome is Outcome.FAIL and r.args["peer"] == f"default/{SERVER}"


DR_SAN = _cr("DestinationRule", "reviews", "default", {"host": "reviews", "trafficPolicy": {"tls": {
    "mode": "ISTIO_MUTUAL", "subjectAltNames": ["spiffe://cluster.local/ns/default/sa/reviews"]}}})


def test_san_mismatch_from_destination_rule() -> None:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [DR_SAN]).log([tls_fail_line("TLS_error:_268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED")])
    r = w.run("MTLS-SAN-MISMATCH")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.args["identities"] == ["spiffe://cluster.local/ns/default/sa/bookinfo-reviews"] and r.corroboration == "logs"


def test_san_match_passes_and_no_sans_not_applicable() -> None:
    pods, svcs = bookinfo()
    ok = _cr("DestinationRule", "reviews", "default", {"host": "reviews", "trafficPolicy": {"tls": {
        "mode": "ISTIO_MUTUAL", "subjectAltNames": ["spiffe://cluster.local/ns/default/sa/bookinfo-reviews"]}}})
    assert World().base(pods, svcs, [ok]).log([OK_LINE]).run("MTLS-SAN-MISMATCH").outcome is Outcome.PASS
    assert World().base(pods, svcs, [DR_MUTUAL]).log([OK_LINE]).run("MTLS-SAN-MISMATCH").outcome is Outcome.NOT_APPLICABLE


def test_san_unknown_without_services() -> None:
    pods, svcs = bookinfo()
    assert World().base(pods, svcs, [DR_SAN]).fail(Need.SERVICES).run("MTLS-SAN-MISMATCH").outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------- PEER-NO-CERT

STATS = """listener.0.0.0.0_15006.downstream_cx_total: 41
listener.0.0.0.0_15006.ssl.connection_error: 7
listener.0.0.0.0_15006.ssl.fail_verify_no_cert: {n}
listener.0.0.0.0_15006.ssl.handshake: 34
"""


def test_peer_no_cert() -> None:
    pods, svcs = bookinfo()
    w = World(pod=SERVER).base(pods, svcs, [STRICT_MESH]).put(Need.ENVOY_STATS, STATS.format(n=7), "default", SERVER)
    r = w.run("MTLS-PEER-NO-CERT")
    assert r.outcome is Outcome.FAIL and "ssl.fail_verify_no_cert = 7" in r.observed
    w0 = World(pod=SERVER).base(pods, svcs, [STRICT_MESH]).put(Need.ENVOY_STATS, STATS.format(n=0), "default", SERVER)
    assert w0.run("MTLS-PEER-NO-CERT").outcome is Outcome.PASS
    wn = World(pod=SERVER).base(pods, svcs, []).put(Need.ENVOY_STATS, "cluster_manager.cds.update_success: 3\n", "default", SERVER)
    assert wn.run("MTLS-PEER-NO-CERT").outcome is Outcome.NOT_APPLICABLE
    wu = World(pod=SERVER).base(pods, svcs, []).fail(Need.ENVOY_STATS, "default", SERVER)
    assert wu.run("MTLS-PEER-NO-CERT").outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------- PORT-LEVEL-PA


def test_port_level_pa_keyed_by_service_port() -> None:
    pods = [_pod(CLIENT, "default", "productpage", CLIENT_IP), _pod(SERVER, "default", "reviews", SERVER_IP, port=8080)]
    svcs = [_svc("reviews", "default", port=80, target=8080)]
    pa = _cr("PeerAuthentication", "reviews", "default", {"selector": {"matchLabels": {"app": "reviews"}}, "mtls": {"mode": "STRICT"},
                                                          "portLevelMtls": {"80": {"mode": "PERMISSIVE"}}})
    r = World(pod=SERVER).base(pods, svcs, [pa]).log([nr_line("10.244.3.9", port=8080)]).run("MTLS-PORT-LEVEL-PA")
    assert r.outcome is Outcome.FAIL, r.summary
    assert (r.args["key"], r.args["mode"], r.args["target_port"], r.args["effective_mode"]) == (80, "PERMISSIVE", 8080, "STRICT")
    good = _cr("PeerAuthentication", "reviews", "default", {"selector": {"matchLabels": {"app": "reviews"}}, "mtls": {"mode": "STRICT"},
                                                            "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}})
    assert World(pod=SERVER).base(pods, svcs, [good]).run("MTLS-PORT-LEVEL-PA").outcome is Outcome.PASS
    assert World(pod=SERVER).base(pods, svcs, [STRICT_NS]).run("MTLS-PORT-LEVEL-PA").outcome is Outcome.NOT_APPLICABLE
    assert World(pod=SERVER).base(pods, svcs, [pa]).fail(Need.SERVICES).run("MTLS-PORT-LEVEL-PA").outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------- DOUBLE-TLS / HTTPS-ON-HTTP

SE_HTTPS = _cr("ServiceEntry", "api", "default", {"hosts": ["api.example.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
                                                  "ports": [{"number": 443, "name": "https", "protocol": "HTTPS"}]})
DR_SIMPLE = _cr("DestinationRule", "api", "default", {"host": "api.example.com", "trafficPolicy": {"tls": {"mode": "SIMPLE"}}})


def test_double_tls() -> None:
    pods, svcs = bookinfo()
    r = World().base(pods, svcs, [SE_HTTPS, DR_SIMPLE]).run("MTLS-DOUBLE-TLS")
    assert r.outcome is Outcome.FAIL and (r.args["host"], r.args["port"], r.args["mode"]) == ("api.example.com", 443, "SIMPLE")
    origination = _cr("ServiceEntry", "api", "default", {"hosts": ["api.example.com"], "resolution": "DNS",
                                                         "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 443}]})
    dr80 = _cr("DestinationRule", "api", "default", {"host": "api.example.com", "trafficPolicy": {"portLevelSettings": [
        {"port": {"number": 80}, "tls": {"mode": "SIMPLE"}}]}})
    assert World().base(pods, svcs, [origination, dr80]).run("MTLS-DOUBLE-TLS").outcome is Outcome.PASS
    assert World().base(pods, svcs, [SE_HTTPS]).run("MTLS-DOUBLE-TLS").outcome is Outcome.NOT_APPLICABLE
    assert World().base(pods, svcs, [SE_HTTPS]).fail(Need.SERVICE_ENTRIES).run("MTLS-DOUBLE-TLS").outcome is Outcome.UNKNOWN


def test_https_on_http_port_from_dpe() -> None:
    pods, svcs = bookinfo()
    se = _cr("ServiceEntry", "api", "default", {"hosts": ["api.example.com"], "resolution": "DNS",
                                                "ports": [{"number": 8443, "name": "http", "protocol": "HTTP"}]})
    dpe = ('[2024-07-15T09:30:01.123Z] "- - HTTP/1.1" 400 DPE http1.codec_error - "-" 0 11 0 - "-" "-" "-" "-" "-" - - '
           f'93.184.216.34:8443 {CLIENT_IP}:40112 - -')
    r = World().base(pods, svcs, [se]).log([dpe]).run("MTLS-HTTPS-ON-HTTP-PORT")
    assert r.outcome is Outcome.FAIL, r.summary
    assert (r.args["port"], r.args["kind"], r.args["protocol"], r.args["count"]) == (8443, "ServiceEntry", "HTTP", 1) and r.observed
    assert r.corroboration == "tls_port"
    assert World().base(pods, svcs, [se]).log([OK_LINE]).run("MTLS-HTTPS-ON-HTTP-PORT").outcome is Outcome.PASS
    assert World().base(pods, svcs, [se]).fail(Need.SERVICE_ENTRIES).run("MTLS-HTTPS-ON-HTTP-PORT").outcome is Outcome.UNKNOWN


def test_https_on_http_port_config_only_443() -> None:
    pods, svcs = bookinfo()
    se = _cr("ServiceEntry", "api", "default", {"hosts": ["api.example.com"], "resolution": "DNS",
                                                "ports": [{"number": 443, "name": "http", "protocol": "HTTP"}]})
    r = World().base(pods, svcs, [se]).run("MTLS-HTTPS-ON-HTTP-PORT")
    assert r.outcome is Outcome.FAIL and r.message == "config" and r.corroboration == "config_only"


# ----------------------------------------------------------------------------- SERVER-FIRST


def test_server_first_permissive_mysql() -> None:
    mysql = _pod("mysql-0", "default", "mysql", "10.244.2.9", port=3306)
    svcs = [_svc("mysql", "default", port=3306, port_name="db", cluster_ip="10.96.12.9")]
    r = World(pod="mysql-0").base([mysql], svcs, []).run("MTLS-SERVER-FIRST-PERMISSIVE")
    # 3306 is TCP by Istio's own rule (istio/istio@1.22.0:pkg/config/kube/conversion.go wellKnownPorts):
    # no sniffing to blame, but the PERMISSIVE chain still waits for the client's first bytes
    assert r.outcome is Outcome.FAIL and r.args["protocol"] == "MySQL" and r.message == "permissive"  # not "undeclared"
    svcs_ok = [_svc("mysql", "default", port=3306, port_name="tcp-mysql", cluster_ip="10.96.12.9")]
    assert World(pod="mysql-0").base([mysql], svcs_ok, [STRICT_NS]).run("MTLS-SERVER-FIRST-PERMISSIVE").outcome is Outcome.PASS
    pods, svcs2 = bookinfo()
    assert World(pod=SERVER).base(pods, svcs2, []).run("MTLS-SERVER-FIRST-PERMISSIVE").outcome is Outcome.NOT_APPLICABLE
    assert World(pod="mysql-0").base([mysql], svcs, []).fail(Need.SERVICES).run("MTLS-SERVER-FIRST-PERMISSIVE").outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------- AUTHZ-CONFUSION

DENY_ALL = _cr("AuthorizationPolicy", "allow-nothing", "default", {"selector": {"matchLabels": {"app": "reviews"}}, "action": "ALLOW"})


def test_authz_confusion_server_log() -> None:
    pods, svcs = bookinfo()
    r = World(pod=SERVER).base(pods, svcs, [STRICT_MESH, DENY_ALL]).log([RBAC_LINE]).run("MTLS-AUTHZ-CONFUSION")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.message == "server" and r.args["policies"] == ["default/allow-nothing (ALLOW)"]
    assert r.corroboration == "server_logs" and r.observed


def test_authz_confusion_client_sees_403() -> None:
    pods, svcs = bookinfo()
    r = World().base(pods, svcs, [DENY_ALL]).log([RBAC_CLIENT_LINE]).run("MTLS-AUTHZ-CONFUSION")
    assert r.outcome is Outcome.FAIL and r.message == "client" and r.args["host"] == "reviews.default.svc.cluster.local"


def test_authz_confusion_app_503_and_no_policy_pass() -> None:
    pods, svcs = bookinfo()
    assert World().base(pods, svcs, []).log([APP_503_LINE, RBAC_CLIENT_LINE]).run("MTLS-AUTHZ-CONFUSION").outcome is Outcome.PASS
    assert World().base(pods, svcs, []).run("MTLS-AUTHZ-CONFUSION").outcome is Outcome.NOT_APPLICABLE
    assert World().base(pods, svcs, []).fail(Need.AUTHORIZATION_POLICIES).run("MTLS-AUTHZ-CONFUSION").outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------- look-alikes across checks

MTLS_CHECKS = [c for c in REG.checks if c.startswith("MTLS-")]


@pytest.mark.parametrize("check_id", MTLS_CHECKS)
def test_app_503_in_healthy_strict_mesh_is_no_mtls_finding(check_id: str) -> None:
    """The app answering 503 itself (via_upstream, no flags) in a STRICT, auto-mTLS mesh: nothing fails."""
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [STRICT_MESH]).log([APP_503_LINE, OK_LINE])
    w.dump(_dump([_istio_cluster("reviews.default.svc.cluster.local", 9080, tls="auto")]))
    w.put(Need.ENVOY_STATS, STATS.format(n=0), "default", CLIENT)
    w.rel(SERVER, "server").log([], name=SERVER).dump(_dump([]), name=SERVER)
    r = w.run(check_id)
    assert r.outcome is not Outcome.FAIL, f"{check_id}: {r.summary}"
    assert r.outcome is not Outcome.UNKNOWN or "check" not in r.summary.split(" ")[0], r.summary


def test_every_mtls_check_has_a_catalogue_entry() -> None:
    from istio_doctor.engine.catalogue import load_catalogue

    cat = load_catalogue()
    assert sorted(c for c in cat if c.startswith("MTLS-")) == sorted(MTLS_CHECKS)
    assert len(MTLS_CHECKS) == 14
