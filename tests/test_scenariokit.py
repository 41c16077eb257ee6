"""The scenario kit renders what the real tools print, and every cause shows up where it should.

Three kinds of test: (1) every output parses with the project's own parsers; (2) structural
comparisons with real data in the shared corpus (cluster key sets, access-log field count,
proxy-status headers per version); (3) per cause, the evidence a check reads says the cause
(a UH line for a subset without pods, no plaintext chain under STRICT, ...).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from istio_doctor.evidence.accesslog import parse_proxy_log
from istio_doctor.evidence.analyze import parse_analyze
from istio_doctor.evidence.bundle import Need, Scope
from istio_doctor.evidence.commands import build_call, config_dump_per_type_calls
from istio_doctor.evidence.kinds import NothingToGather, ParseEnv
from istio_doctor.evidence.describe import parse_describe_pod
from istio_doctor.evidence.envoy.configdump import parse_config_dump
from istio_doctor.evidence.envoystats import parse_envoy_clusters, parse_envoy_stats
from istio_doctor.evidence.istio import DestinationRule, VirtualService, parse_istio_list
from istio_doctor.evidence.kube import (
    ConfigMap,
    Deployment,
    EndpointSlice,
    Event,
    MutatingWebhookConfiguration,
    Namespace,
    Pod,
    ReplicaSet,
    Service,
    parse_kube_list,
    parse_kube_object,
)
from istio_doctor.evidence.meshconfig import parse_injector_config, parse_mesh_config
from istio_doctor.evidence.proxystatus import parse_proxy_status
from istio_doctor.evidence.runner import BinaryNotFound, CommandTimeout
from istio_doctor.evidence.sockets import parse_listening_sockets
from istio_doctor.evidence.target import Connection
from istio_doctor.evidence.versions import parse_istioctl_version, parse_kubectl_version
from tests.scenariokit import Expect, Scenario
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.render_logs import simulate
from tests.scenariokit.runner import WorldRunner
from tests.scenariokit.world import Container, Port, Request, ServicePort, TlsSecret, World, cr, gateway_api_versions

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"  # vendored copy of the real-output corpus
CONN = Connection()


def pod_of(w: World, prefix: str, ns: str = "default") -> Any:
    return next(p for p in w.pods if p.name.startswith(prefix) and p.namespace == ns)


def run(w: World, *argv: str) -> Any:
    return WorldRunner(w).run_sync(list(argv))


def out(w: World, *argv: str) -> str:
    res = run(w, *argv)
    assert res.exit_code == 0, res.stderr
    return res.stdout


def proxy_log(w: World, pod: Any) -> Any:
    return parse_proxy_log(out(w, "kubectl", "logs", pod.name, "-n", pod.namespace, "-c", "istio-proxy", "--tail=2000"))


def dump(w: World, pod: Any) -> Any:
    return parse_config_dump(out(w, "istioctl", "proxy-config", "all", pod.name, "-n", pod.namespace, "-o", "json"))


def corpus(path: str) -> Path:
    p = CORPUS / path
    # the corpus is vendored in tests/fixtures/corpus: a missing file is a broken checkout, not a skip
    assert p.is_file(), f"corpus file {p} is missing from tests/fixtures/corpus"
    return p


# --------------------------------------------------------------------------- every Need


def _minor(w: World) -> int:
    return w.istioctl.minor


def _value(r: WorldRunner, need: Need, pod: Any) -> Any:
    """The parsed evidence a kind's argv depends on, as the gatherer passes it (``requires``)."""
    call = build_call(need, CONN, namespace=pod.namespace, name=pod.name)
    res = r.run_sync(call.argv)
    return need.parse(res.stdout, ParseEnv(command=" ".join(call.argv)))


@pytest.mark.parametrize("version", ["1.22.3", "1.28.1", "1.30.0"])
def test_every_need_is_answerable(version: str) -> None:
    w = bookinfo_world(version)
    r = WorldRunner(w)
    meshed = pod_of(w, "productpage-v1")
    bare = pod_of(w, "sleep", "legacy")
    for need in Need:
        if need.node_agent or need is Need.SECURITY_GROUP_POLICIES:
            continue  # ambient kinds: answered by an ambient (EKS) world, tests/test_scenariokit_ambient.py
        for pod in (meshed, bare):
            if need.requires and need is not Need.INIT_LOGS:
                # kinds whose argv depends on other evidence: a healthy bookinfo pod has no restarted
                # container and no istio-cni agent, so there is nothing to ask (tested on the
                # lifecycle worlds in tests/test_lifecycle_kit.py)
                inputs = {req.value: _value(r, req, pod) for req in need.requires}
                with pytest.raises(NothingToGather):
                    build_call(need, CONN, namespace=pod.namespace, name=pod.name, inputs=inputs)
                continue
            call = build_call(need, CONN, namespace=pod.namespace, name=pod.name, istioctl_minor=_minor(w))
            res = r.run_sync(call.argv)
            if need is Need.APP_LOGS:
                # every container's log, prefixed: sleep and productpage write nothing in the kit
                assert res.exit_code == 0, res.stderr
                assert all(ln.startswith(f"[pod/{pod.name}/") for ln in res.stdout.splitlines()), res.stdout[:300]
                continue
            if pod is bare and need in (Need.CONFIG_DUMP, Need.PROXY_LOGS, Need.INIT_LOGS, Need.DESCRIBE,
                                        Need.SOCKETS, Need.ENVOY_STATS, Need.ENVOY_CLUSTERS):
                # documented: proxy evidence of a pod without sidecar fails like the real tools
                assert res.exit_code != 0, (need, res.stdout[:200])
                assert "istio-proxy" in res.stderr or "istio-init" in res.stderr, res.stderr
                continue
            assert res.exit_code == 0, (need, call.argv, res.stderr)
            assert res.stdout.strip(), (need, call.argv)
            if need.scope is not Scope.POD:
                break
    for argv in config_dump_per_type_calls(CONN, "default", meshed.name).values():
        res = r.run_sync(argv)
        assert res.exit_code == 0 and json.loads(res.stdout) is not None, argv


def test_unknown_argv_fails_loudly() -> None:
    w = bookinfo_world()
    for argv in (["kubectl", "delete", "pod", "x"], ["istioctl", "dashboard", "kiali"], ["kubectl", "get", "widgets", "-o", "json"]):
        res = run(w, *argv)
        assert res.exit_code == 1 and res.stderr and not res.stdout


def test_durations_are_deterministic_and_realistic() -> None:
    w = bookinfo_world()
    pp = pod_of(w, "productpage-v1")
    a = run(w, "istioctl", "proxy-config", "all", pp.name, "-n", "default", "-o", "json")
    b = run(w, "istioctl", "proxy-config", "all", pp.name, "-n", "default", "-o", "json")
    assert a.duration_s == b.duration_s and 0.6 <= a.duration_s <= 1.1
    assert a.stdout == b.stdout
    assert 0.05 <= run(w, "kubectl", "get", "pods", "-n", "default", "-o", "json").duration_s <= 0.4


# --------------------------------------------------------------------------- kube objects


@pytest.mark.parametrize("native", [True, False])
def test_pods_parse_with_sidecar_shape(native: bool) -> None:
    w = bookinfo_world(native_sidecars=native)
    pods = parse_kube_list(out(w, "kubectl", "get", "pods", "-n", "default", "-o", "json"), Pod)
    assert len(pods) == 6
    for p in pods:
        assert p.has_sidecar and p.is_native_sidecar is native and p.ready
        assert p.injection_status is not None and p.proxy_image
        assert re.fullmatch(r"[a-z]+-v\d-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}", p.name)
    legacy = parse_kube_list(out(w, "kubectl", "get", "pods", "-n", "legacy", "-o", "json"), Pod)
    assert legacy and not any(p.has_sidecar for p in legacy)
    one = parse_kube_object(out(w, "kubectl", "get", "pod", pods[0].name, "-n", "default", "-o", "json"), Pod)
    assert one.name == pods[0].name and one.ip and one.ip.startswith("10.244.")


def test_native_sidecar_follows_version_env_and_kubelet() -> None:
    """What the injector decides (istio/istio@1.19.0:pilot/pkg/features/pilot.go ENABLE_NATIVE_SIDECARS
    default false; @1.24.0 injection-template.yaml sidecar.istio.io/nativeSidecar; @1.27.0
    pkg/kube/inject/webhook.go DetectNativeSidecar: "auto" = native when the kubelet is >= 1.33)."""
    assert not bookinfo_world("1.22.3").native_default
    assert not bookinfo_world("1.28.0").native_default  # auto, but the kit's kubelets run 1.30
    w = bookinfo_world("1.28.0")
    w.server_version = "1.33.1"
    assert w.native_default
    w = bookinfo_world("1.22.3")
    w.control_plane.native_sidecars_env = "true"
    assert w.native_default
    w = bookinfo_world("1.18.2")
    w.control_plane.native_sidecars_env = "true"
    assert not w.native_default  # the setting does not exist before 1.19
    w = bookinfo_world("1.24.1")
    wl = next(x for x in w.workloads if x.name == "productpage-v1")
    wl.annotations["sidecar.istio.io/nativeSidecar"] = "true"
    assert next(p for p in w.pods if p.workload is wl).native and not w.native_default


def test_cluster_objects_parse() -> None:
    w = bookinfo_world()
    svcs = parse_kube_list(out(w, "kubectl", "get", "services", "--all-namespaces", "-o", "json"), Service)
    assert {s.name for s in svcs} >= {"productpage", "reviews", "istio-ingressgateway", "kubernetes"}
    slices = parse_kube_list(out(w, "kubectl", "get", "endpointslices", "-n", "default", "-o", "json"), EndpointSlice)
    reviews = next(s for s in slices if s.service_name == "reviews")
    assert len(reviews.ready_addresses) == 3
    nss = parse_kube_list(out(w, "kubectl", "get", "namespaces", "-o", "json"), Namespace)
    assert next(n for n in nss if n.name == "default").injection_label == "enabled"
    hooks = parse_kube_list(out(w, "kubectl", "get", "mutatingwebhookconfigurations", "-o", "json"), MutatingWebhookConfiguration)
    assert {h.name for h in hooks[0].webhooks} >= {"namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io"}
    assert parse_kube_list(out(w, "kubectl", "get", "deployments", "-n", "default", "-o", "json"), Deployment)
    assert parse_kube_list(out(w, "kubectl", "get", "replicasets", "-n", "default", "-o", "json"), ReplicaSet)
    cms = parse_kube_list(out(w, "kubectl", "get", "configmaps", "-n", "istio-system", "-o", "json"), ConfigMap)
    mesh = parse_mesh_config(next(c for c in cms if c.name == "istio").data["mesh"])
    assert mesh.access_log_file == "/dev/stdout" and mesh.enable_auto_mtls
    inj = next(c for c in cms if c.name == "istio-sidecar-injector")
    assert parse_injector_config(inj.data["config"], inj.data["values"]).policy == "enabled"


def test_istio_resources_parse() -> None:
    w = bookinfo_world()
    w.istio.append(cr("DestinationRule", "reviews", "default", {"host": "reviews", "subsets": [
        {"name": "v1", "labels": {"version": "v1"}}]}))
    vss = parse_istio_list(out(w, "kubectl", "get", "virtualservices.networking.istio.io", "--all-namespaces", "-o", "json"), VirtualService)
    assert [v.name for v in vss] == ["bookinfo"]
    drs = parse_istio_list(out(w, "kubectl", "get", "destinationrules.networking.istio.io", "--all-namespaces", "-o", "json"), DestinationRule)
    assert drs[0].name == "reviews"


# --------------------------------------------------------------------------- versions, analyze, describe, proxy-status


def test_versions_parse() -> None:
    w = bookinfo_world("1.22.3", istioctl_version="1.21.0")
    iv = parse_istioctl_version(out(w, "istioctl", "version", "-o", "json"))
    assert iv.client and iv.client.minor == 21
    assert iv.control_plane and iv.control_plane[0].version and iv.control_plane[0].version.minor == 22
    assert len(iv.data_plane) == 9
    kv = parse_kubectl_version(out(w, "kubectl", "version", "-o", "json"))
    assert kv.server and kv.server.minor == "30"


def test_analyze_json_and_log() -> None:
    w = bookinfo_world()
    assert out(w, "istioctl", "analyze", "-n", "default", "-o", "json") == "[]\n"
    msgs = parse_analyze(out(w, "istioctl", "analyze", "-n", "legacy", "-o", "json"))
    assert [m.code for m in msgs] == ["IST0102"] and msgs[0].name == "NamespaceNotInjected"
    assert '\n\t{\n\t\t"code"' in out(w, "istioctl", "analyze", "-n", "legacy", "-o", "json")  # Go MarshalIndent tabs
    w.istio.append(cr("DestinationRule", "reviews", "default", {"host": "reviews", "subsets": [
        {"name": "v9", "labels": {"version": "v9"}}]}))
    res = run(w, "istioctl", "analyze", "-n", "default")
    assert res.exit_code == 79 and "Error: Analyzers found issues" in res.stderr
    logmsgs = parse_analyze(res.stdout)
    assert [m.code for m in logmsgs] == ["IST0173"]
    assert "does not select any pods" in logmsgs[0].message


def test_describe_parses() -> None:
    w = bookinfo_world()
    w.istio.append(cr("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}}))
    w.istio.append(cr("DestinationRule", "reviews", "default", {"host": "reviews", "trafficPolicy": {"tls": {"mode": "DISABLE"}},
                                                                "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}))
    d = parse_describe_pod(out(w, "istioctl", "x", "describe", "pod", pod_of(w, "reviews-v1").name, "-n", "default"))
    assert d.in_mesh and d.services[0].name == "reviews" and d.services[0].ports[0].target_port == 9080
    assert d.destination_rules[0].tls_mode == "DISABLE" and d.destination_rules[0].matching_subsets == ["v1"]
    assert d.peer_authentication is not None
    res = run(w, "istioctl", "x", "describe", "pod", pod_of(w, "sleep", "legacy").name, "-n", "legacy")
    assert res.exit_code == 1 and "is not part of mesh" in res.stdout and "not valid for pod" in res.stderr
    assert not parse_describe_pod(res.stdout).in_mesh


def _header(text: str) -> list[str]:
    return re.split(r"\s{2,}", text.splitlines()[0].strip())


@pytest.mark.parametrize(("version", "golden", "flags"), [
    ("1.27.2", "istio/proxy-status/multiXdsStatusSinglePilot.txt", []),
    ("1.17.2", "captured/proxy-status/kiali-6250_cluster_ecds_1.17.txt", []),
    ("1.6.0", "captured/proxy-status/istio-25313_pilot_column_1.6.txt", []),
])
def test_proxy_status_header_matches_real_output(version: str, golden: str, flags: list[str]) -> None:
    w = bookinfo_world(version)
    text = out(w, "istioctl", "proxy-status", *flags)
    assert _header(text) == _header(corpus(golden).read_text())
    rows = parse_proxy_status(text)
    assert len(rows) == 9 and all(r.namespace for r in rows)


def test_proxy_status_verbose_and_json_by_version() -> None:
    w = bookinfo_world("1.28.0")
    assert _header(out(w, "istioctl", "proxy-status", "--verbose"))[2:7] == ["CDS", "ECDS", "EDS", "LDS", "RDS"]
    assert run(w, "istioctl", "proxy-status", "-o", "json").exit_code == 1  # -o json only from 1.30
    w30 = bookinfo_world("1.30.0")
    text = out(w30, "istioctl", "proxy-status", "-o", "json")
    golden = json.loads(corpus("istio/proxy-status/multiXdsStatusSinglePilot.json").read_text())
    mine = json.loads(text)
    assert set(mine) == set(golden) and set(mine["resources"][0]) == set(golden["resources"][0])
    assert {r.cds for r in parse_proxy_status(text)} == {"SYNCED"}
    assert run(bookinfo_world("1.22.3"), "istioctl", "proxy-status", "--verbose").stderr == "Error: unknown flag: --verbose\n"


def test_proxy_status_stale_and_missing() -> None:
    w = bookinfo_world("1.22.3")
    w.workload("default/reviews-v1").proxy.xds = {"RDS": "STALE"}
    w.workload("default/ratings-v1").proxy.connected = False
    rows = {r.pod.split("-")[0] + r.pod.split("-")[1]: r for r in parse_proxy_status(out(w, "istioctl", "proxy-status"))}
    assert rows["reviewsv1"].rds == "STALE" and "ratingsv1" not in rows


# --------------------------------------------------------------------------- Envoy config dump vs corpus


def test_outbound_cluster_has_real_key_set() -> None:
    real = json.loads(corpus("istio/describe/http_config.json").read_text())
    real_cluster = next(s for s in real["configs"] if "Clusters" in s["@type"])["dynamic_active_clusters"][0]["cluster"]
    w = bookinfo_world()
    raw = json.loads(out(w, "istioctl", "proxy-config", "all", pod_of(w, "productpage-v1").name, "-n", "default", "-o", "json"))
    clusters = next(s for s in raw["configs"] if "Clusters" in s["@type"])["dynamic_active_clusters"]
    mine = next(c["cluster"] for c in clusters if c["cluster"]["name"] == "outbound|9080||reviews.default.svc.cluster.local")
    assert set(mine) == set(real_cluster)
    assert [m["name"] for m in mine["transport_socket_matches"]] == ["tlsMode-istio", "tlsMode-disabled"]
    assert [s["@type"] for s in raw["configs"]] == [s["@type"] for s in json.loads(corpus("istio/proxy-config/all/config_dump.json").read_text())["configs"]]


def test_config_dump_parses_and_reflects_config() -> None:
    w = bookinfo_world()
    w.istio += [
        cr("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}}),
        cr("DestinationRule", "reviews", "default", {"host": "reviews", "trafficPolicy": {"tls": {"mode": "DISABLE"}},
                                                     "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}),
        cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {
            "connectionPool": {"http": {"http1MaxPendingRequests": 1}, "tcp": {"maxConnections": 1}},
            "outlierDetection": {"consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "3m"}}}),
    ]
    d = dump(w, pod_of(w, "productpage-v1"))
    assert d.node.pod_name.startswith("productpage-v1") and d.node.istio_version == "1.22.3"
    rv = d.cluster("outbound|9080||reviews.default.svc.cluster.local")
    assert rv is not None and rv.tls.mode == "none" and rv.destination_rule
    assert d.cluster("outbound|9080|v1|reviews.default.svc.cluster.local") is not None
    det = d.cluster("outbound|9080||details.default.svc.cluster.local")
    assert det is not None and det.tls.auto
    ra = d.cluster("outbound|9080||ratings.default.svc.cluster.local")
    assert ra is not None and ra.circuit_breakers.max_pending_requests == 1 and ra.outlier_detection
    # server side: STRICT → TLS-only chains for 9080
    sd = dump(w, pod_of(w, "reviews-v1"))
    vi = next(ln for ln in sd.listeners if ln.port == 15006)
    chains_9080 = [c for c in vi.filter_chains if c.destination_port == 9080]
    assert chains_9080 and all(c.transport_protocol == "tls" and c.has_tls for c in chains_9080)
    # secrets: real certificates, ACTIVE, valid at the world's "now"
    secrets = {s.name: s for s in sd.secrets}
    assert secrets["default"].status == "ACTIVE" and secrets["default"].serial and secrets["ROOTCA"].type == "CA"
    assert "PRIVATE KEY" not in json.dumps(sd.secrets_raw)


def test_permissive_keeps_plaintext_chain_and_routes_default() -> None:
    w = bookinfo_world()
    sd = dump(w, pod_of(w, "reviews-v1"))
    vi = next(ln for ln in sd.listeners if ln.port == 15006)
    assert any(c.destination_port == 9080 and c.transport_protocol == "raw_buffer" for c in vi.filter_chains)
    pd = dump(w, pod_of(w, "productpage-v1"))
    rc = next(r for r in pd.routes if r.name == "9080")
    vh = next(v for v in rc.virtual_hosts if v.name == "reviews.default.svc.cluster.local:9080")
    assert "reviews" in vh.domains and vh.routes[0].cluster == "outbound|9080||reviews.default.svc.cluster.local"
    assert any(v.name == "allow_any" for v in rc.virtual_hosts)


def test_sidecar_scope_and_export_to_remove_config() -> None:
    w = bookinfo_world()
    w.istio.append(cr("Sidecar", "default", "default", {"egress": [{"hosts": ["./details.default.svc.cluster.local", "istio-system/*"]}]}))
    w.services[w.services.index(w.service("httpbin", "foo"))].annotations["networking.istio.io/exportTo"] = "."
    d = dump(w, pod_of(w, "productpage-v1"))
    assert d.cluster("outbound|9080||details.default.svc.cluster.local") is not None
    assert d.cluster("outbound|9080||reviews.default.svc.cluster.local") is None
    sleep = dump(w, pod_of(w, "sleep", "legacy")) if False else None
    del sleep
    foo_sleep = dump(w, pod_of(w, "sleep", "foo"))
    assert foo_sleep.cluster("outbound|8000||httpbin.foo.svc.cluster.local") is not None
    gw = dump(w, pod_of(w, "istio-ingressgateway", "istio-system"))
    assert gw.cluster("outbound|8000||httpbin.foo.svc.cluster.local") is None


def test_gateway_routes_and_blackhole_vhost() -> None:
    w = bookinfo_world()
    gwp = pod_of(w, "istio-ingressgateway", "istio-system")
    d = dump(w, gwp)
    assert d.node.type == "router"
    rc = next(r for r in d.routes if r.name == "http.8080")
    assert rc.virtual_hosts[0].routes[0].cluster == "outbound|9080||productpage.default.svc.cluster.local"
    w2 = bookinfo_world()
    w2.istio = [o for o in w2.istio if o["kind"] != "VirtualService"]
    rc2 = next(r for r in dump(w2, pod_of(w2, "istio-ingressgateway", "istio-system")).routes if r.name == "http.8080")
    assert rc2.virtual_hosts[0].routes == []


def test_old_version_inbound_names_and_loopback() -> None:
    w = bookinfo_world("1.7.8")
    d = dump(w, pod_of(w, "reviews-v1"))
    assert d.cluster("inbound|9080|http|reviews.default.svc.cluster.local") is not None
    log = proxy_log(w, pod_of(w, "reviews-v1"))
    inbound = [e for e in log.entries if e.upstream_cluster and e.upstream_cluster.startswith("inbound|")]
    assert inbound and all(e.upstream_host and e.upstream_host.startswith("127.0.0.1:") for e in inbound)
    w2 = bookinfo_world("1.22.3")
    log2 = proxy_log(w2, pod_of(w2, "reviews-v1"))
    assert all(e.upstream_cluster == "inbound|9080||" for e in log2.entries)


def test_warming_and_expired_secrets() -> None:
    w = bookinfo_world()
    w.workload("default/reviews-v1").proxy.cert = "warming"
    w.workload("default/ratings-v1").proxy.cert = "expired"
    warm = {s.name: s for s in dump(w, pod_of(w, "reviews-v1")).secrets}
    assert warm["default"].status == "WARMING"
    exp = {s.name: s for s in dump(w, pod_of(w, "ratings-v1")).secrets}
    assert exp["default"].not_after is not None and exp["default"].valid is False


# --------------------------------------------------------------------------- gateway TLS


GW_REF = "istio-system/istio-ingressgateway"


def _https_world(hosts: list[str] | None = None, secret: str | None = "bookinfo-cert", cred: str = "bookinfo-cert") -> World:
    w = bookinfo_world()
    w.istio.append(cr("Gateway", "bookinfo-https", "default", {"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": 8443, "name": "https", "protocol": "HTTPS"}, "hosts": hosts or ["bookinfo.example.com"],
         "tls": {"mode": "SIMPLE", "credentialName": cred}}]}))
    next(o for o in w.istio if o["kind"] == "VirtualService")["spec"]["gateways"] = ["bookinfo-gateway", "bookinfo-https"]
    if secret:
        w.tls_secrets.append(TlsSecret(secret, "istio-system", ["bookinfo.example.com"]))
    return w


def test_gateway_credential_secret_active_or_warming() -> None:
    from cryptography import x509

    w = _https_world()
    gwp = pod_of(w, "istio-ingressgateway", "istio-system")
    d = dump(w, gwp)
    sec = {s.name: s for s in d.secrets}
    assert sec["kubernetes://bookinfo-cert"].status == "ACTIVE" and sec["default"].status == "ACTIVE"
    pem = sec["kubernetes://bookinfo-cert"].cert_chain_pem
    assert pem is not None
    leaf = x509.load_pem_x509_certificate(pem.encode())
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["bookinfo.example.com"]
    lst = d.listeners_on_port(8443)[0]
    assert [fc.server_names for fc in lst.filter_chains] == [["bookinfo.example.com"]] and lst.filter_chains[0].has_tls
    raw = json.loads(out(w, "istioctl", "proxy-config", "all", gwp.name, "-n", "istio-system", "-o", "json"))
    lraw = next(x["active_state"]["listener"] for c in raw["configs"] if "dynamic_listeners" in c
                for x in c["dynamic_listeners"] if x["name"] == "0.0.0.0_8443")
    tls = lraw["filter_chains"][0]["transport_socket"]["typed_config"]
    assert tls["@type"].endswith("DownstreamTlsContext")
    assert tls["common_tls_context"]["tls_certificate_sds_secret_configs"] == [
        {"name": "kubernetes://bookinfo-cert", "sds_config": {"ads": {}, "resource_api_version": "V3"}}]
    assert lraw["filter_chains"][0]["filters"][0]["typed_config"]["rds"]["route_config_name"] == "https.8443.https.bookinfo-https.default"
    assert {r.name for r in d.routes} >= {"http.8080", "https.8443.https.bookinfo-https.default"}
    # the secret where the Gateway lives, not where the gateway pods run: istiod cannot serve it
    w2 = _https_world(secret=None)
    w2.tls_secrets.append(TlsSecret("bookinfo-cert", "default"))
    w2.traffic.append(Request(GW_REF, "bookinfo.example.com", "/productpage", count=2, tls=True))
    gwp2 = pod_of(w2, "istio-ingressgateway", "istio-system")
    raw2 = json.loads(out(w2, "istioctl", "proxy-config", "all", gwp2.name, "-n", "istio-system", "-o", "json"))
    secs = next(c for c in raw2["configs"] if c["@type"].endswith("SecretsConfigDump"))
    assert [s["name"] for s in secs["dynamic_active_secrets"]] == ["default", "ROOTCA"]
    assert secs["dynamic_warming_secrets"] == [{"name": "kubernetes://bookinfo-cert", "version_info": "uninitialized",
                                                "last_updated": secs["dynamic_warming_secrets"][0]["last_updated"],
                                                "secret": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                                                           "name": "kubernetes://bookinfo-cert"}}]
    # handshakes fail before any request: nothing in the access log, the socket factory counts them
    assert not [e for e in proxy_log(w2, gwp2).entries if "8443" in (e.downstream_local_address or "")]
    stats = parse_envoy_stats(out(w2, "kubectl", "exec", gwp2.name, "-n", "istio-system", "-c", "istio-proxy", "--",
                                  "pilot-agent", "request", "GET", "stats"))
    assert stats["listener.0.0.0.0_8443.server_ssl_socket_factory.downstream_context_secrets_not_ready"] == 2


def test_https_through_the_gateway_uses_sni_and_its_chain() -> None:
    w = _https_world()
    w.traffic.append(Request(GW_REF, "bookinfo.example.com", "/productpage", count=2, tls=True))
    w.traffic.append(Request(GW_REF, "172.18.255.200", "/productpage", count=3, tls=True))  # by IP: no SNI
    gwp = pod_of(w, "istio-ingressgateway", "istio-system")
    log = proxy_log(w, gwp).entries
    ok = [e for e in log if e.response_code == 200]
    assert len(ok) == 2 and all(e.requested_server_name == "bookinfo.example.com" and e.authority == "bookinfo.example.com"
                                and e.downstream_local_address.endswith(":8443") for e in ok)
    nr = [e for e in log if e.response_code_details == "filter_chain_not_found"]
    assert len(nr) == 3 and all(not e.requested_server_name and e.response_flags == ["NR"] for e in nr), nr
    assert '"- - -" 0 NR filter_chain_not_found' in nr[0].raw
    stats = parse_envoy_stats(out(w, "kubectl", "exec", gwp.name, "-n", "istio-system", "-c", "istio-proxy", "--",
                                  "pilot-agent", "request", "GET", "stats"))
    assert stats["listener.0.0.0.0_8443.no_filter_chain_match"] == 3
    # a server for hosts '*' has a chain without server_names: no SNI needed
    w2 = _https_world(hosts=["*"])
    w2.traffic.append(Request(GW_REF, "172.18.255.200", "/productpage", count=2, tls=True))
    entries = proxy_log(w2, pod_of(w2, "istio-ingressgateway", "istio-system")).entries
    assert [e.response_code for e in entries] == [200, 200]


def test_shared_certificate_http2_reuse_is_404_and_ist0138() -> None:
    w = bookinfo_world()
    for name, host, dest in (("shop-gateway", "shop.example.com", "productpage"), ("blog-gateway", "blog.example.com", "details")):
        w.istio += [cr("Gateway", name, "istio-system", {"selector": {"istio": "ingressgateway"}, "servers": [
            {"port": {"number": 8443, "name": "https", "protocol": "HTTPS"}, "hosts": [host],
             "tls": {"mode": "SIMPLE", "credentialName": "wildcard-cert"}}]}),
            cr("VirtualService", name, "default", {"hosts": [host], "gateways": [f"istio-system/{name}"],
                                                   "http": [{"route": [{"destination": {"host": dest, "port": {"number": 9080}}}]}]})]
    w.tls_secrets.append(TlsSecret("wildcard-cert", "istio-system", ["*.example.com"]))
    w.traffic += [Request(GW_REF, "shop.example.com", "/productpage", tls=True, protocol="HTTP/2"),
                  Request(GW_REF, "blog.example.com", "/details/0", count=2, tls=True, protocol="HTTP/2", sni="shop.example.com"),
                  Request(GW_REF, "blog.example.com", "/details/0", tls=True)]
    gwp = pod_of(w, "istio-ingressgateway", "istio-system")
    log = proxy_log(w, gwp).entries
    assert [(e.response_code, e.protocol, e.authority, e.requested_server_name) for e in log] == [
        (200, "HTTP/2", "shop.example.com", "shop.example.com"),
        (404, "HTTP/2", "blog.example.com", "shop.example.com"), (404, "HTTP/2", "blog.example.com", "shop.example.com"),
        (200, "HTTP/1.1", "blog.example.com", "blog.example.com")]
    assert log[1].response_code_details == "route_not_found" and log[1].response_flags == ["NR"]
    # one multiplexed connection: the reused requests share the client address of the first
    assert log[0].downstream_remote_address == log[1].downstream_remote_address == log[2].downstream_remote_address
    # the upstream hop keeps the cluster's protocol
    server = [e for e in proxy_log(w, pod_of(w, "productpage-v1")).entries if e.response_code == 200]
    assert server and all(e.protocol == "HTTP/1.1" for e in server)
    msgs = parse_analyze(out(w, "istioctl", "analyze", "-n", "istio-system", "-o", "json"))
    dup = [m for m in msgs if m.code == "IST0138"]
    assert [m.message for m in dup] == [
        "Duplicate certificate in multiple gateways [istio-system/shop-gateway istio-system/blog-gateway] may cause 404s if clients re-use HTTP2 connections.",
        "Duplicate certificate in multiple gateways [istio-system/blog-gateway istio-system/shop-gateway] may cause 404s if clients re-use HTTP2 connections."]
    assert all(m.level == "Warning" for m in dup)
    # the corpus template the message follows
    tmpl = corpus("istio/analyze/messages.yaml").read_text()
    assert 'template: "Duplicate certificate in multiple gateways %v may cause 404s if clients re-use HTTP2 connections."' in tmpl


@pytest.mark.parametrize(("bundle", "served", "api"), [
    ("v1.1.0", ["v1", "v1beta1"], "v1"), ("v1.0.0", ["v1", "v1beta1"], "v1"),
    ("v0.8.0", ["v1alpha2", "v1beta1"], "v1beta1"), ("v0.4.3", ["v1alpha2"], "v1alpha2")])
def test_gateway_api_crds_follow_the_bundle_version(bundle: str, served: list[str], api: str) -> None:
    from istio_doctor.evidence.kube import CustomResourceDefinition

    w = bookinfo_world()
    w.gateway_api_version = bundle
    w.istio.append(cr("HTTPRoute", "pp", "default", {"parentRefs": [{"name": "gw"}], "rules": []}))
    crds = parse_kube_list(out(w, "kubectl", "get", "customresourcedefinitions", "-l", "gateway.networking.k8s.io/bundle-version",
                               "-o", "json"), CustomResourceDefinition)
    by = {c.metadata.name: c for c in crds}
    for plural in ("gateways", "httproutes", "gatewayclasses"):
        c = by[f"{plural}.gateway.networking.k8s.io"]
        assert c.served_versions == served and c.labels["gateway.networking.k8s.io/bundle-version"] == bundle
        assert c.storage_version == gateway_api_versions(bundle, "HTTPRoute")[1]
    routes = json.loads(out(w, "kubectl", "get", "httproutes.gateway.networking.k8s.io", "-A", "-o", "json"))
    assert [r["apiVersion"] for r in routes["items"]] == [f"gateway.networking.k8s.io/{api}"]


# --------------------------------------------------------------------------- access logs


def _fields(line: str) -> list[str]:
    return re.findall(r'\[[^\]]*\]|"[^"]*"|\S+', line)


def test_access_log_line_has_real_field_layout() -> None:
    real = corpus("istio/docs/istio.io/access-log/access_log_client_outbound.txt").read_text().strip()
    w = bookinfo_world()
    lines = [ln for ln in out(w, "kubectl", "logs", pod_of(w, "productpage-v1").name, "-n", "default", "-c", "istio-proxy").splitlines()
             if ln.startswith("[")]
    assert lines and len(_fields(lines[0])) == len(_fields(real)) == 22


def test_both_sides_share_request_id() -> None:
    w = bookinfo_world()
    client = proxy_log(w, pod_of(w, "productpage-v1"))
    server = proxy_log(w, pod_of(w, "details-v1"))
    ids = {e.request_id for e in client.entries if e.authority == "details:9080"}
    srv = [e for e in server.entries if e.request_id in ids]
    assert srv and all(e.upstream_cluster == "inbound|9080||" for e in srv)
    cl = next(e for e in client.entries if e.request_id == srv[0].request_id)
    assert cl.upstream_host == srv[0].downstream_local_address
    assert cl.upstream_cluster == "outbound|9080||details.default.svc.cluster.local"
    assert srv[0].requested_server_name == "outbound_.9080_._.details.default.svc.cluster.local"


def _client_entries(w: World, prefix: str = "productpage-v1", ns: str = "default", authority: str | None = None) -> list[Any]:
    log = proxy_log(w, pod_of(w, prefix, ns))
    return [e for e in log.entries if authority is None or e.authority == authority]


def test_cause_subset_without_pods_is_uh() -> None:
    w = bookinfo_world()
    w.istio += [cr("DestinationRule", "reviews", "default", {"host": "reviews", "subsets": [{"name": "v4", "labels": {"version": "v4"}}]}),
                cr("VirtualService", "reviews", "default", {"hosts": ["reviews"], "http": [{"route": [
                    {"destination": {"host": "reviews", "subset": "v4"}}]}]})]
    es = _client_entries(w, authority="reviews:9080")
    assert es and all(e.response_code == 503 and e.response_flags == ["UH"] and e.response_code_details == "no_healthy_upstream"
                      and e.upstream_host is None for e in es)


def test_cause_undefined_subset_is_nc_and_path_miss_is_nr() -> None:
    w = bookinfo_world()
    w.istio.append(cr("VirtualService", "reviews", "default", {"hosts": ["reviews"], "http": [
        {"match": [{"uri": {"prefix": "/reviews"}}], "route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}))
    w.traffic.append(Request("default/productpage-v1", "reviews:9080", "/health"))
    es = _client_entries(w, authority="reviews:9080")
    assert {(e.response_code, tuple(e.response_flags), e.response_code_details) for e in es} == {
        (503, ("NC",), "cluster_not_found"), (404, ("NR",), "route_not_found")}


def test_cause_localhost_bind_is_server_side_uf() -> None:
    w = bookinfo_world()
    w.workload("default/details-v1").containers[0].ports[0].bind = "127.0.0.1"
    srv = proxy_log(w, pod_of(w, "details-v1")).entries
    assert srv and all(e.response_flags == ["UF"] and e.upstream_cluster == "inbound|9080||"
                       and e.response_code_details == "upstream_reset_before_response_started{connection_failure}" for e in srv)
    cl = _client_entries(w, authority="details:9080")
    assert all(e.response_code == 503 and e.response_flags == ["URX"] and e.response_code_details == "via_upstream" for e in cl)
    assert len(srv) == 3 * len(cl)  # default retry policy: 2 retries on 503
    sockets = parse_listening_sockets(out(w, "kubectl", "exec", pod_of(w, "details-v1").name, "-n", "default", "-c", "istio-proxy",
                                          "--", "netstat", "-tln"))
    assert any(s.port == 9080 and s.local_address == "127.0.0.1" for s in sockets)


def test_cause_dr_disable_vs_strict() -> None:
    w = bookinfo_world()
    w.istio += [cr("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}}),
                cr("DestinationRule", "details", "default", {"host": "details", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})]
    cl = _client_entries(w, authority="details:9080")
    assert all(e.response_flags == ["UC"] and "connection_termination" in (e.response_code_details or "") for e in cl)
    dp = pod_of(w, "details-v1")
    srv = proxy_log(w, dp).entries
    assert srv and all(e.response_flags == ["NR"] and e.response_code_details == "filter_chain_not_found" and e.is_tcp for e in srv)
    stats = parse_envoy_stats(out(w, "kubectl", "exec", dp.name, "-n", "default", "-c", "istio-proxy", "--",
                                  "pilot-agent", "request", "GET", "stats"))
    assert stats["listener.0.0.0.0_15006.no_filter_chain_match"] == len(srv)


def test_cause_nonmesh_client_into_strict() -> None:
    w = bookinfo_world()
    w.istio.append(cr("PeerAuthentication", "default", "foo", {"mtls": {"mode": "STRICT"}}))
    w.traffic.append(Request("legacy/sleep", "httpbin.foo:8000", "/ip"))
    srv = proxy_log(w, pod_of(w, "httpbin", "foo")).entries
    nr = [e for e in srv if e.response_code_details == "filter_chain_not_found"]
    assert len(nr) == 1 and nr[0].downstream_remote_address.startswith(pod_of(w, "sleep", "legacy").ip)


def test_cause_root_ca_mismatch_and_non_mesh_server() -> None:
    w = bookinfo_world()
    w.workload("default/details-v1").proxy.root_ca = "other"
    cl = _client_entries(w, authority="details:9080")
    assert cl and all(e.response_flags == ["UF", "URX"] and "CERTIFICATE_VERIFY_FAILED" in (e.upstream_transport_failure_reason or "")
                      for e in cl)
    assert cl[0].upstream_transport_failure_reason.startswith("TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED")
    w2 = bookinfo_world()
    w2.istio.append(cr("DestinationRule", "httpbin", "legacy", {"host": "httpbin.legacy.svc.cluster.local",
                                                                "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}))
    w2.traffic.append(Request("foo/sleep", "httpbin.legacy:8000", "/ip"))
    es = _client_entries(w2, "sleep", "foo", "httpbin.legacy:8000")
    assert es and "WRONG_VERSION_NUMBER" in (es[0].upstream_transport_failure_reason or "")


def test_cause_rbac_fault_timeout_overflow() -> None:
    w = bookinfo_world()
    w.istio += [
        cr("AuthorizationPolicy", "deny-all", "foo", {"action": "DENY", "rules": [{}]}),
        cr("VirtualService", "ratings", "default", {"hosts": ["ratings"], "http": [
            {"fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100}}}, "route": [{"destination": {"host": "ratings"}}]}]}),
    ]
    w.traffic += [Request("default/productpage-v1", "details:9080", "/details/1", outcome="timeout"),
                  Request("default/productpage-v1", "reviews:9080", "/reviews/1", outcome="overflow")]
    srv = proxy_log(w, pod_of(w, "httpbin", "foo")).entries
    assert srv[0].response_code == 403 and srv[0].response_code_details == "rbac_access_denied_matched_policy[ns[foo]-policy[deny-all]-rule[0]]"
    cl = _client_entries(w, "reviews-v2", authority="ratings:9080")
    assert all(e.response_flags == ["FI"] and e.response_code == 500 for e in cl)
    pp = _client_entries(w)
    assert any(e.response_flags == ["UT"] and e.response_code == 504 for e in pp)
    assert any(e.response_flags == ["UO"] for e in pp)


def test_cause_registry_only_and_passthrough() -> None:
    w = bookinfo_world(registry_only=True)
    w.traffic += [Request("foo/sleep", "www.google.com", "/"), Request("foo/sleep", "www.google.com:443", "/", tls=True)]
    es = _client_entries(w, "sleep", "foo")
    assert any(e.response_code == 502 and e.route_name == "block_all" for e in es)
    assert any(e.upstream_cluster == "BlackHoleCluster" for e in es)
    vo = next(ln for ln in dump(w, pod_of(w, "sleep", "foo")).listeners if ln.port == 15001)
    assert any(c.tcp_cluster == "BlackHoleCluster" and not c.prefix_ranges for c in vo.filter_chains)
    w2 = bookinfo_world()
    w2.traffic.append(Request("foo/sleep", "www.google.com:443", "/", tls=True))
    assert any(e.upstream_cluster == "PassthroughCluster" for e in _client_entries(w2, "sleep", "foo"))


def test_cause_outlier_ejection_and_no_endpoints() -> None:
    w = bookinfo_world()
    w.istio.append(cr("DestinationRule", "details", "default", {"host": "details", "trafficPolicy": {
        "outlierDetection": {"consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "3m", "maxEjectionPercent": 100}}}))
    w.workload("default/details-v1").containers[0].ports[0].bind = "127.0.0.1"
    pp = pod_of(w, "productpage-v1")
    hosts = parse_envoy_clusters(out(w, "kubectl", "exec", pp.name, "-n", "default", "-c", "istio-proxy", "--",
                                     "pilot-agent", "request", "GET", "clusters"))
    det = [h for h in hosts if h.cluster == "outbound|9080||details.default.svc.cluster.local"]
    assert det and all(h.outlier_failed for h in det)
    w2 = bookinfo_world()
    w2.workload("default/details-v1").containers[0].ready = False
    w2.workload("default/details-v1").containers[0].readiness = Probe_()
    assert all(e.response_flags == ["UH"] for e in _client_entries(w2, authority="details:9080"))
    evs = parse_kube_list(out(w2, "kubectl", "get", "events", "-n", "default", "-o", "json"), Event)
    assert any(e.reason == "Unhealthy" and "Readiness probe failed" in (e.message or "") for e in evs)


def Probe_() -> Any:  # noqa: N802 - tiny helper keeping the test above readable
    from tests.scenariokit.world import Probe

    return Probe("/health", 9080)


def test_access_log_off_and_json_encoding() -> None:
    w = bookinfo_world(access_log=False)
    log = proxy_log(w, pod_of(w, "productpage-v1"))
    assert not log.entries and log.component_lines > 0
    wj = bookinfo_world(access_log_encoding="JSON")
    lj = proxy_log(wj, pod_of(wj, "productpage-v1"))
    assert lj.entries and all(e.format.startswith("json") for e in lj.entries)


def test_proxy_component_events() -> None:
    w = bookinfo_world()
    w.workload("default/reviews-v1").proxy.state = "no_config"
    w.workload("default/ratings-v1").proxy.state = "nack"
    ev = {e.kind for e in proxy_log(w, pod_of(w, "reviews-v1")).events}
    assert "not_ready_no_config" in ev
    assert "xds_rejected" in {e.kind for e in proxy_log(w, pod_of(w, "ratings-v1")).events}
    pods = parse_kube_list(out(w, "kubectl", "get", "pods", "-n", "default", "-o", "json"), Pod)
    rv1 = next(p for p in pods if p.name.startswith("reviews-v1"))
    assert not rv1.ready and rv1.sidecar_status is not None and not rv1.sidecar_status.ready


# --------------------------------------------------------------------------- injection causes


def test_injection_causes() -> None:
    w = bookinfo_world()
    w.namespaces.append(type(w.namespaces[0])("shop", {}))
    wl = type(w.workloads[0])
    port = [Container("app", "nginx:1.27", ports=[Port(80)])]
    w.workloads += [
        wl("nolabel", "shop", port, labels={"app": "nolabel"}),
        wl("annot", "shop", port, labels={"app": "annot"}, annotations={"sidecar.istio.io/inject": "true"}),
        wl("optin", "shop", port, labels={"app": "optin", "sidecar.istio.io/inject": "true"}),
        wl("hostnet", "default", port, labels={"app": "hostnet"}, host_network=True),
        wl("optout", "default", port, labels={"app": "optout", "sidecar.istio.io/inject": "false"}),
        wl("old", "default", port, labels={"app": "old"}, predates_injection=True),
    ]
    inj = {p.workload.name: p.injected for p in w.pods}
    assert inj["nolabel"] is False and inj["annot"] is False and inj["optin"] is True
    assert inj["hostnet"] is False and inj["optout"] is False and inj["old"] is False and inj["productpage-v1"] is True


def test_webhook_down_fail_and_ignore() -> None:
    w = bookinfo_world()
    w.control_plane.webhook_error = "deadline"
    w.workload("default/ratings-v1").new_pods = True
    assert not [p for p in w.pods if p.workload.name == "ratings-v1"]
    evs = parse_kube_list(out(w, "kubectl", "get", "events", "-n", "default", "-o", "json"), Event)
    fc = [e for e in evs if e.reason == "FailedCreate"]
    assert fc and 'failed calling webhook "namespace.sidecar-injector.istio.io"' in (fc[0].message or "")
    rss = parse_kube_list(out(w, "kubectl", "get", "replicasets", "-n", "default", "-o", "json"), ReplicaSet)
    assert any(r.replica_failure is not None for r in rss)
    w2 = bookinfo_world()
    w2.control_plane.webhook_error = "no_endpoints"
    w2.control_plane.failure_policy = "Ignore"
    w2.workload("default/ratings-v1").new_pods = True
    assert [p.injected for p in w2.pods if p.workload.name == "ratings-v1"] == [False]
    hooks = parse_kube_list(out(w2, "kubectl", "get", "mutatingwebhookconfigurations", "-o", "json"), MutatingWebhookConfiguration)
    assert {h.failure_policy for h in hooks[0].webhooks} == {"Ignore"}


def test_init_failure_and_policy() -> None:
    w = bookinfo_world()
    w.workload("default/details-v1").init_failure = "NET_ADMIN"
    dp = pod_of(w, "details-v1")
    pod = parse_kube_object(out(w, "kubectl", "get", "pod", dp.name, "-n", "default", "-o", "json"), Pod)
    assert not pod.ready and pod.phase == "Pending"
    assert "iptables" in out(w, "kubectl", "logs", dp.name, "-n", "default", "-c", "istio-init", "--tail=200")
    assert run(w, "istioctl", "proxy-config", "all", dp.name, "-n", "default", "-o", "json").exit_code == 1
    w2 = bookinfo_world()
    w2.control_plane.never_inject_selector = [{"matchLabels": {"app": "ratings"}}]
    assert not pod_of(w2, "ratings-v1").injected


# --------------------------------------------------------------------------- evidence faults


def test_evidence_faults() -> None:
    w = bookinfo_world()
    w.faults.calls = {"pods:istio-system": "forbidden", "events": "notfound", "services": "unreachable",
                      "proxy-status": "timeout", "analyze": "missing_istioctl", "deployments": "refused"}
    r = WorldRunner(w)
    f = r.run_sync(["kubectl", "get", "pods", "-n", "istio-system", "-o", "json"])
    assert f.exit_code == 1 and f.stderr.startswith('Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:sre:oncall"')
    assert r.run_sync(["kubectl", "get", "pods", "-n", "default", "-o", "json"]).exit_code == 0
    assert r.run_sync(["kubectl", "get", "services", "--all-namespaces", "-o", "json"]).stderr.startswith("Unable to connect to the server")
    assert "was refused" in r.run_sync(["kubectl", "get", "deployments", "-n", "default", "-o", "json"]).stderr
    with pytest.raises(CommandTimeout):
        r.run_sync(["istioctl", "proxy-status"])
    with pytest.raises(BinaryNotFound):
        r.run_sync(["istioctl", "analyze", "-n", "default", "-o", "json"])
    nf = r.run_sync(["kubectl", "logs", "nope", "-n", "default", "-c", "istio-proxy"])
    assert nf.stderr == 'Error from server (NotFound): pods "nope" not found\n'
    legacy = pod_of(w, "sleep", "legacy")
    nl = r.run_sync(["kubectl", "logs", legacy.name, "-n", "legacy", "-c", "istio-proxy"])
    assert nl.stderr == f"error: container istio-proxy is not valid for pod {legacy.name}\n"


# --------------------------------------------------------------------------- the build tool


def test_build_tool_round_trip(tmp_path: Path) -> None:
    scen = tmp_path / "scen"
    scen.mkdir()
    (scen / "demo.py").write_text(
        "from tests.scenariokit import Scenario, Expect\n"
        "from tests.scenariokit.bookinfo import bookinfo_world\n"
        "w = bookinfo_world()\n"
        "p = next(p for p in w.pods if p.name.startswith('reviews-v1'))\n"
        "SCENARIOS = [Scenario('gen', 'healthy', 'a healthy mesh', f'pod/{p.name} -n default', 'auto', w,\n"
        "                      Expect(None, [], [], 'no_problem_found'))]\n")
    outdir = tmp_path / "rec"
    tool = [sys.executable, str(ROOT / "tools" / "build_scenarios.py"), "--scenarios", str(scen), "--out", str(outdir)]
    assert subprocess.run(tool, cwd=ROOT, capture_output=True, text=True).returncode == 0
    rec = outdir / "gen" / "healthy.yaml"
    assert rec.exists() and (outdir / "gen" / "healthy.expect.yaml").exists()
    from istio_doctor.evidence.recording import load_recording

    loaded = load_recording(rec)
    assert loaded.calls and all(c.started_at is None for c in loaded.calls)
    chk = subprocess.run(tool + ["--check"], cwd=ROOT, capture_output=True, text=True)
    assert chk.returncode == 0, chk.stderr
    rec.write_text(rec.read_text().replace("reviews", "reviewz", 1))
    assert subprocess.run(tool + ["--check"], cwd=ROOT, capture_output=True, text=True).returncode == 1


def test_scenario_dataclass_defaults() -> None:
    sc = Scenario("p503", "x", "d", "pod/a -n default", "503", bookinfo_world(traffic=False))
    assert sc.expect.as_dict()["verdict"] == "problems_found" and not simulate(sc.world)
    assert Expect(path=[("n1", "fail")]).as_dict()["path"] == [["n1", "fail"]]
    assert isinstance(ServicePort(80).target, int) and shutil.which("true") is not None and asyncio is not None


def test_ingress_traffic_through_the_gateway() -> None:
    w = bookinfo_world()
    w.traffic += [Request("istio-system/istio-ingressgateway", "bookinfo.example.com", "/productpage"),
                  Request("istio-system/istio-ingressgateway", "bookinfo.example.com", "/nope")]
    es = _client_entries(w, "istio-ingressgateway", "istio-system")
    assert {(e.response_code, e.upstream_cluster) for e in es} == {
        (200, "outbound|9080||productpage.default.svc.cluster.local"), (404, None)}
    assert any(e.response_flags == ["NR"] and e.response_code_details == "route_not_found" for e in es)
    w2 = bookinfo_world()
    w2.istio = [o for o in w2.istio if o["kind"] != "VirtualService"]
    w2.traffic.append(Request("istio-system/istio-ingressgateway", "bookinfo.example.com", "/productpage"))
    es2 = _client_entries(w2, "istio-ingressgateway", "istio-system")
    assert [(e.response_code, e.response_flags) for e in es2] == [(404, ["NR"])]


# --------------------------------------------------------------------------- lifecycle knobs


def _admin_clusters(w: World, pod: Any) -> Any:
    return parse_envoy_clusters(out(w, "kubectl", "exec", pod.name, "-n", pod.namespace, "-c", "istio-proxy", "--",
                                    "pilot-agent", "request", "GET", "clusters"))


def test_outlier_every_host_ejected_stays_ejected_on_uh() -> None:
    """All hosts out: the later requests are UH, and each of them still reports the ejection."""
    w = bookinfo_world()
    w.istio.append(cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"outlierDetection": {
        "consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "3m", "maxEjectionPercent": 100}}}))
    w.traffic.append(Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=4, status=503))
    rv = pod_of(w, "reviews-v2")
    cl = "outbound|9080||ratings.default.svc.cluster.local"
    uh = [ex for ex in simulate(w) if ex.client is rv and ex.client_saw[1] == "no healthy upstream"]
    assert len(uh) == 3 and all(any(h.startswith(cl + "/") for h in ex.ejected.get(rv.name, ())) for ex in uh)
    hosts = [h for h in _admin_clusters(w, rv) if h.cluster == cl]
    assert hosts and all(h.outlier_failed for h in hosts)
    stats = parse_envoy_stats(out(w, "kubectl", "exec", rv.name, "-n", "default", "-c", "istio-proxy", "--",
                                  "pilot-agent", "request", "GET", "stats"))
    assert stats.get(f"cluster.{cl}.outlier_detection.ejections_active") == 1
    assert stats.get(f"cluster.{cl}.upstream_cx_none_healthy") == 3


def _shutdown_world(deleted_ago: float, replicas: int, after: float = 0.3) -> tuple[World, Any, Any]:
    from tests.scenariokit.world import LOG_WINDOW_S

    w = bookinfo_world()
    r = w.workload("default/ratings-v1")
    assert r is not None
    r.replicas, r.terminating, r.deleted_at_s = replicas, 1, LOG_WINDOW_S - deleted_ago
    w.traffic.append(Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=2,
                             at_s=w.at_s_for_next(r.deleted_at_s + after)))
    gone = next(p for p in w.pods if p.terminating)
    return w, gone, pod_of(w, "reviews-v2")


def test_terminating_pod_draining_gets_uc() -> None:
    w, gone, rv = _shutdown_world(4, replicas=2)
    pod = parse_kube_object(out(w, "kubectl", "get", "pod", gone.name, "-n", "default", "-o", "json"), Pod)
    assert pod.metadata.deletion_timestamp is not None and pod.ready  # still Ready while draining
    slices = parse_kube_list(out(w, "kubectl", "get", "endpointslices", "-n", "default", "-o", "json"), EndpointSlice)
    eps = {a: ep.conditions for s in slices for ep in s.endpoints for a in ep.addresses}
    c = eps[gone.ip]
    assert (c.ready, c.serving, c.terminating) == (False, True, True)
    assert not any(eps[p.ip].terminating for p in w.pods if p.workload.name == "ratings-v1" and p is not gone)
    evs = parse_kube_list(out(w, "kubectl", "get", "events", "-n", "default", "-o", "json"), Event)
    assert {e.message for e in evs if e.reason == "Killing" and e.involved_object.name == gone.name} == {
        "Stopping container ratings", "Stopping container istio-proxy"}
    # the caller's requests after the deletion: those that picked the terminating pod are reset
    late = [e for e in _client_entries(w, "reviews-v2", authority="ratings:9080")][-2:]
    to_gone = [e for e in late if (e.upstream_host or "").startswith(gone.ip + ":")]
    assert to_gone and all(e.response_code == 503 and e.response_flags == ["UC"]
                           and e.response_code_details == "upstream_reset_before_response_started{connection_termination}"
                           for e in to_gone)
    # the dump (now) no longer lists it; the terminating pod's own log shows the drain
    assert gone.ip not in {h.host.split(":")[0] for h in _admin_clusters(w, rv)}
    assert any(ev.kind == "drain" for ev in proxy_log(w, gone).events)


def test_terminating_pod_after_drain_is_refused() -> None:
    w, gone, rv = _shutdown_world(20, replicas=1, after=8)  # the only pod; its sidecar exited 15 s ago
    late = _client_entries(w, "reviews-v2", authority="ratings:9080")[-2:]
    assert all(e.response_code == 503 and e.response_flags == ["UF", "URX"]
               and e.upstream_host == f"{gone.ip}:9080" for e in late)
    pod = parse_kube_object(out(w, "kubectl", "get", "pod", gone.name, "-n", "default", "-o", "json"), Pod)
    proxy = pod.container_status("istio-proxy")
    assert proxy is not None and proxy.state.terminated is not None and not pod.ready
    slices = parse_kube_list(out(w, "kubectl", "get", "endpointslices", "-n", "default", "-o", "json"), EndpointSlice)
    c = next(ep.conditions for s in slices for ep in s.endpoints if gone.ip in ep.addresses)
    assert (c.ready, c.serving, c.terminating) == (False, False, True)


def test_terminating_pod_retry_goes_to_the_other_host() -> None:
    w, gone, rv = _shutdown_world(20, replicas=2, after=8)
    late = _client_entries(w, "reviews-v2", authority="ratings:9080")[-2:]
    assert all(e.response_code == 200 and not (e.upstream_host or "").startswith(gone.ip + ":") for e in late)


def test_container_last_terminated() -> None:
    from tests.scenariokit.world import Terminated

    w = bookinfo_world()
    w.workload("default/ratings-v1").containers[0].last_terminated = Terminated(exit_code=1, started_s=2, finished_s=4)
    rt = pod_of(w, "ratings-v1")
    pod = parse_kube_object(out(w, "kubectl", "get", "pod", rt.name, "-n", "default", "-o", "json"), Pod)
    st = pod.container_status("ratings")
    assert st is not None and st.restart_count == 1 and st.state.running is not None
    term = st.last_state.terminated
    assert term is not None and (term.exit_code, term.reason) == (1, "Error")
    assert (term.started_at - pod.status.start_time).total_seconds() == 2
    assert (term.finished_at - term.started_at).total_seconds() == 2
    assert st.state.running.started_at > term.finished_at
    assert not pod.is_native_sidecar  # 1.22: classic sidecar, the race this models
    # untouched containers keep an empty lastState
    other = pod_of(w, "reviews-v2")
    st2 = parse_kube_object(out(w, "kubectl", "get", "pod", other.name, "-n", "default", "-o", "json"), Pod).container_status("reviews")
    assert st2 is not None and st2.restart_count == 0 and st2.last_state.terminated is None
