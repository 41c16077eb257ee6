"""Istio / Gateway API resource parsing: every fixture parses; targeted checks on real config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from istio_doctor.evidence.errors import ParseError
from istio_doctor.evidence.istio import (
    ISTIO_MODELS,
    DestinationRule,
    EnvoyFilter,
    Gateway,
    K8sGateway,
    K8sHTTPRoute,
    PeerAuthentication,
    ServiceEntry,
    Sidecar,
    VirtualService,
    parse_duration,
    parse_istio_list,
)
from istio_doctor.engine.mesh.hosts import dns_fqdn, host_matches, hosts_intersect, resolve_short_name
from istio_doctor.engine.mesh.visibility import exported_to
from istio_doctor.evidence.kube import K8sObject, parse_kube_list

FIX = Path(__file__).parent / "fixtures" / "istio"
VALID = sorted(p for p in FIX.rglob("*") if p.is_file() and p.name != "SOURCES.md" and "invalid" not in p.parts)
INVALID = sorted((FIX / "invalid").iterdir())
KINDS = {m.KIND for m in ISTIO_MODELS}


@pytest.mark.parametrize("path", VALID, ids=lambda p: str(p.relative_to(FIX)))
def test_every_istio_fixture_parses(path: Path) -> None:
    text = path.read_text()
    raw = parse_kube_list(text, K8sObject)
    assert raw
    typed = [o for m in ISTIO_MODELS for o in parse_istio_list(text, m, command=f"cat {path.name}")]
    # every object of a kind we model is picked up by exactly one model (Istio vs Gateway API
    # Gateway are told apart by API group)
    expected = [o for o in raw if o.kind in KINDS and (o.api_group.endswith("istio.io") or o.api_group == "gateway.networking.k8s.io")]
    assert len(typed) == len(expected)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixtures_raise_parse_error(path: Path) -> None:
    with pytest.raises(ParseError, match="line"):
        parse_istio_list(path.read_text(), DestinationRule, command="kubectl get dr -o yaml")


def test_fixture_walk_is_not_empty() -> None:
    assert len(VALID) >= 35


def test_virtual_service_all_fields() -> None:
    (vs,) = parse_istio_list((FIX / "config/virtual-service-all.yaml").read_text(), VirtualService)
    assert vs.api_version == "networking.istio.io/v1" and vs.ref == "VirtualService testns/all"
    assert vs.spec.gateways == ["my-gateway", "mesh"] and vs.applies_to_mesh
    first, second = vs.spec.http[0], vs.spec.http[1]
    assert first.match[0].headers["cookie"].regex is not None
    assert first.route[0].destination.port is not None and first.route[0].destination.port.number == 81
    assert second.match[0].uri is not None and second.match[0].uri.prefix == "/reviews/"
    assert [(r.destination.subset, r.weight) for r in second.route] == [("v1", 80), ("v2", 20)]
    assert {d.host for d in vs.destinations} >= {"service3.default.svc.cluster.local"}


def test_bookinfo_virtual_services_and_fault() -> None:
    vss = parse_istio_list((FIX / "bookinfo/virtual-service-ratings-test-abort.yaml").read_text(), VirtualService)
    abort = vss[0].spec.http[0].fault
    assert abort is not None and abort.abort is not None and abort.abort.http_status == 500
    (gw_vs,) = parse_istio_list((FIX / "bookinfo/bookinfo-gateway.yaml").read_text(), VirtualService)
    (gw,) = parse_istio_list((FIX / "bookinfo/bookinfo-gateway.yaml").read_text(), Gateway)
    assert gw_vs.spec.gateways == ["bookinfo-gateway"] and not gw_vs.applies_to_mesh
    assert gw.spec.selector == {"istio": "ingressgateway"} and gw.spec.servers[0].port.number in (80, 8080)
    assert any(hosts_intersect(h, vh) for h in gw.spec.servers[0].hosts for vh in gw_vs.spec.hosts)


def test_destination_rule_traffic_policy() -> None:
    drs = {d.name: d for d in parse_istio_list((FIX / "config/destination-rule-all.yaml").read_text(), DestinationRule)}
    dr = drs["destall"]
    tp = dr.spec.traffic_policy
    assert tp is not None and tp.tls is not None and tp.tls.mode == "DISABLE"
    assert tp.connection_pool is not None and tp.connection_pool.http is not None
    assert tp.connection_pool.http.http1_max_pending_requests == 14 and tp.connection_pool.http.http2_max_requests == 33
    assert tp.connection_pool.tcp is not None and tp.connection_pool.tcp.max_connections == 99
    assert tp.outlier_detection is not None and parse_duration(tp.outlier_detection.interval) == pytest.approx(0.008)
    assert dr.subset("v1") is not None and dr.subset("v9") is None
    mtls = parse_istio_list((FIX / "bookinfo/destination-rule-all-mtls.yaml").read_text(), DestinationRule)
    assert all(d.spec.traffic_policy and d.spec.traffic_policy.tls and d.spec.traffic_policy.tls.mode == "ISTIO_MUTUAL" for d in mtls)


def test_gateway_servers_tls() -> None:
    gws = {g.name: g for g in parse_istio_list((FIX / "config/gateway-all.yaml").read_text(), Gateway)}
    servers = gws["my-gateway"].spec.servers
    assert [(s.port.number, s.port.protocol) for s in servers][:2] == [(80, "HTTP"), (443, "HTTPS")]
    assert servers[1].tls is not None and servers[1].tls.mode == "SIMPLE"


def test_peer_authentication_modes() -> None:
    (strict,) = parse_istio_list((FIX / "config/peer-authn-strict.yaml").read_text(), PeerAuthentication)
    (permissive,) = parse_istio_list((FIX / "config/authn.yaml").read_text(), PeerAuthentication)
    assert strict.mode == "STRICT" and permissive.mode == "PERMISSIVE"
    pa = PeerAuthentication.model_validate(
        {"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication", "metadata": {"name": "p"},
         "spec": {"selector": {"matchLabels": {"app": "x"}}, "mtls": {"mode": "STRICT"}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}}}
    )
    assert pa.is_workload_level and pa.spec.port_level_mtls[8080].mode == "DISABLE"


def test_service_entries_and_sidecars() -> None:
    ses = parse_istio_list((FIX / "config/external_services.yaml").read_text(), ServiceEntry)
    assert ses and all(se.spec.hosts for se in ses)
    assert any(p.protocol for se in ses for p in se.spec.ports)
    scs = parse_istio_list((FIX / "config/none.yaml").read_text(), Sidecar)
    for sc in scs:
        assert isinstance(sc.spec.egress, list)


def test_envoy_filter_patches() -> None:
    efs = [e for p in VALID for e in parse_istio_list(p.read_text(), EnvoyFilter)]
    assert efs
    patch = efs[0].spec.config_patches[0]
    assert patch.apply_to and patch.patch is not None and patch.patch.operation


def test_gateway_api_status_conditions() -> None:
    text = (FIX / "gateway-api/invalid.status.yaml.golden").read_text()
    routes = {r.name: r for r in parse_istio_list(text, K8sHTTPRoute)}
    bad = routes["invalid-backendRef-notfound"].failing_conditions
    assert [(c.type, c.reason) for c in bad] == [("ResolvedRefs", "BackendNotFound")]
    gws = {g.name: g for g in parse_istio_list(text, K8sGateway)}
    assert gws["gateway"].failing_conditions == []
    reasons = {c.reason for c in gws["invalid-cert-kind"].failing_conditions}
    assert "InvalidCertificateRef" in reasons
    # Conflicted=False is healthy and must not be reported
    assert all(c.type != "Conflicted" for g in gws.values() for c in g.failing_conditions)
    # Istio's Gateway model never swallows a Gateway API Gateway
    assert parse_istio_list(text, Gateway) == []


def test_http_route_spec() -> None:
    routes = parse_istio_list((FIX / "gateway-api/http.yaml").read_text(), K8sHTTPRoute)
    assert routes and all(r.spec.parent_refs for r in routes)
    assert any(b.name for r in routes for rule in r.spec.rules for b in rule.backend_refs)


@pytest.mark.parametrize("api_version", ["networking.istio.io/v1alpha3", "networking.istio.io/v1beta1", "networking.istio.io/v1"])
def test_all_networking_api_versions_accepted(api_version: str) -> None:
    doc = {"apiVersion": api_version, "kind": "VirtualService", "metadata": {"name": "r", "namespace": "d"}, "spec": {"hosts": ["r"], "futureField": {"x": 1}}}
    (vs,) = parse_istio_list(json.dumps({"kind": "List", "items": [doc]}), VirtualService)
    assert vs.spec.hosts == ["r"]


def test_wrong_type_in_read_field_names_the_resource() -> None:
    doc = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "reviews", "namespace": "shop"},
        "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}, "weight": "heavy"}]}]},
    }
    with pytest.raises(ParseError, match=r"VirtualService shop/reviews.*weight") as ei:
        parse_istio_list(json.dumps(doc), VirtualService, command="kubectl get vs -A -o json")
    assert ei.value.command == "kubectl get vs -A -o json"


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("*", "anything.example.com", True),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.com", "*.example.com", True),
        ("*.example.com", "*.com", False),
        ("a.example.com", "*.example.com", False),
        ("Reviews.Default.svc.cluster.local", "reviews.default.svc.cluster.local", True),
        ("reviews", "ratings", False),
    ],
)
def test_host_matches(pattern: str, host: str, expected: bool) -> None:
    assert host_matches(pattern, host) is expected


def test_short_name_expansion() -> None:
    # the host rules moved to istio_doctor.engine.mesh (tests/test_mesh_rules.py has the full set)
    assert dns_fqdn("reviews", "default") == "reviews.default.svc.cluster.local"
    assert dns_fqdn("reviews.default", "bookinfo") == "reviews.default.svc.cluster.local"
    assert dns_fqdn("reviews.default.svc", "x") == "reviews.default.svc.cluster.local"
    assert dns_fqdn("www.httpbin.org", "x") == "www.httpbin.org"
    assert dns_fqdn("*.example.com", "x") == "*.example.com"
    # what Istio itself does: only dotless names are expanded
    assert resolve_short_name("reviews", "default") == "reviews.default.svc.cluster.local"
    assert resolve_short_name("reviews.default", "default") == "reviews.default"


def test_export_to_and_durations() -> None:
    assert exported_to([], "a", "b") and exported_to(["*"], "a", "b")
    assert exported_to(["."], "a", "a") and not exported_to(["."], "a", "b")
    assert exported_to([".", "b"], "a", "b") and not exported_to(["~"], "a", "a")
    assert parse_duration("180.000s") == pytest.approx(180.0)
    assert parse_duration("1m30s") == pytest.approx(90.0)
    assert parse_duration("100ms") == pytest.approx(0.1)
    assert parse_duration("soon") is None and parse_duration(None) is None
