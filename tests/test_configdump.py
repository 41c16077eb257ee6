"""The ConfigDump model: both dialects, legacy dumps, TLS derivation, secrets, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from istio_doctor.evidence.envoy.configdump import config_dump_from_parts, parse_config_dump
from istio_doctor.evidence.envoy.model import ConfigDump
from istio_doctor.evidence.errors import ParseError

FIX = Path(__file__).parent / "fixtures" / "envoy"
DUMPS = sorted(p for p in FIX.glob("*.json") if not p.name.startswith("endpoint_emptyfilter"))


def load(name: str, **kw: object) -> ConfigDump:
    return parse_config_dump((FIX / name).read_bytes(), command=f"file {name}", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: p.name)
def test_every_fixture_parses_with_non_empty_sections(path: Path) -> None:
    dump = parse_config_dump(path.read_text(), command=f"file {path.name}")
    assert dump.sections, "no section recognised"
    counts = {
        "clusters": dump.clusters,
        "listeners": dump.listeners,
        "routes": dump.routes,
        "endpoints": dump.endpoints,
        "ecds": dump.ecds,
    }
    raw = json.loads(path.read_text())
    for section, items in counts.items():
        if section in dump.sections and _section_has_items(raw, section):
            assert items, f"{section} present in the file but parsed empty"


def _section_has_items(raw: object, section: str) -> bool:
    text = json.dumps(raw)
    markers = {
        "clusters": ('"cluster": {', '"connectTimeout"', '"type": "'),
        "listeners": ('"listener": {', '"filterChains"'),
        "routes": ('"route_config": {', '"virtualHosts"'),
        "endpoints": ('"endpoint_config"', '"hostStatuses"', '"lbEndpoints"'),
        "ecds": ('"ecds_filter"',),
    }[section]
    return any(m in text for m in markers)


def test_node_and_versions_from_bootstrap() -> None:
    d = load("pc_all_config_dump.json")
    assert d.node.type == "waypoint"
    assert d.node.ip == "192.168.252.229"
    assert d.node.pod_name.startswith("httpbin-istio-waypoint")
    assert d.node.namespace == "default"
    assert d.version_summary.istio_version == "1.21.0-1226"
    assert d.version_summary.envoy_version == "0.0.0"
    b = load("bootstrap_configdump.json")
    assert b.version_summary.envoy_version == "1.18.3/Clean/RELEASE/BoringSSL"  # camelCase inside snake dump


def test_cluster_fields_and_auto_mtls() -> None:
    d = load("describe_http_config.json")
    c = d.cluster("outbound|9080|v1|productpage.default.svc.cluster.local")
    assert c is not None
    assert (c.direction, c.port, c.subset, c.fqdn, c.type) == ("outbound", 9080, "v1", "productpage.default.svc.cluster.local", "EDS")
    assert c.destination_rule == "productpage.default"
    assert c.tls.mode == "istio_mutual" and c.tls.auto
    assert c.tls.sni == "outbound_.9080_.v1_.productpage.default.svc.cluster.local"
    assert "spiffe://cluster.local/ns/default/sa/bookinfo-productpage" in c.tls.sans
    assert c.circuit_breakers.max_connections == 4294967295
    assert d.clusters_for("productpage.default.svc.cluster.local", 9080, "v1") == [c]
    assert d.clusters_for("productpage.default.svc.cluster.local", direction="inbound") == []


def test_inbound_vip_and_static_clusters() -> None:
    d = load("pc_all_config_dump.json")
    vip = d.cluster("inbound-vip|8000|http|httpbin.default.svc.cluster.local")
    assert vip is not None and vip.direction == "inbound-vip" and vip.port == 8000
    assert d.inbound_clusters() == [vip]
    agent = d.cluster("agent")
    assert agent is not None and agent.static and agent.port is None and agent.tls.mode == "none"
    assert [e.display for e in d.endpoints_for("prometheus_stats")] == ["127.0.0.1:15000"]


def test_legacy_v2alpha_dumps() -> None:
    for name in ("v2alpha_productpage_config_dump.json", "v2alpha_details_config_dump.json"):
        d = load(name)
        assert len(d.clusters) > 50
        assert len(d.listeners) > 40
        assert any(lst.port == 15001 and lst.virtual for lst in d.listeners)
        assert d.node.istio_version.startswith("1.1")
        outbound = [c for c in d.clusters if c.direction == "outbound"]
        assert outbound and all(c.fqdn for c in outbound)
        # Istio 1.1 referenced DestinationRules as /apis/networking/v1alpha3/...
        assert any(c.destination_rule == "istio-policy.istio-system" for c in d.clusters)


def test_listener_filter_chains() -> None:
    d = load("pc_all_config_dump.json")
    (health,) = d.listeners_on_port(15021)
    fc = health.filter_chains[0]
    assert fc.http and fc.inline_routes is not None
    assert fc.inline_routes.virtual_hosts[0].routes[0].match.prefix == "/healthz/ready"
    lds = parse_config_dump((FIX / "parts_liucw2012_lds.json").read_text())
    rds_names = {fc.route_config_name for lst in lds.listeners for fc in lst.filter_chains if fc.route_config_name}
    assert {"9080", "80"} <= rds_names
    tcp = [fc.tcp_cluster for lst in lds.listeners for fc in lst.filter_chains if fc.tcp_cluster]
    assert "outbound|443||kubernetes.default.svc.cluster.local" in tcp


def test_routes_and_virtual_host_matching() -> None:
    d = load("routes_istio-gateway-http-route-prefix_configdump.json")
    rc = d.route_config("http.8080")
    assert rc is not None
    r = rc.virtual_hosts[0].routes[0]
    assert r.virtual_service == "httpbin.default" and r.match.prefix == "/get"
    assert rc.raw["ignore_port_in_host_matching"] is True  # the tracer reads it (tests/test_trace_corpus.py)
    parts = config_dump_from_parts(routes=(FIX / "parts_liucw2012_rds.json").read_text())
    rc9080 = parts.route_config("9080")
    assert rc9080 is not None and "reviews:9080" in next(v for v in rc9080.virtual_hosts if v.name.startswith("reviews")).domains


def test_camelcase_parts_equal_snake_case_dump() -> None:
    """The same Envoy objects in both dialects give the same model fields."""
    snake = load("describe_http_config.json")

    def camel(v: object) -> object:
        from istio_doctor.evidence.envoy.views import to_protojson

        return to_protojson(v)

    raw = json.loads((FIX / "describe_http_config.json").read_text())
    sections = {s["@type"].rsplit(".", 1)[-1]: s for s in raw["configs"]}
    clusters = [camel(e["cluster"]) for e in sections["ClustersConfigDump"]["dynamic_active_clusters"]]
    routes = [camel(e["route_config"]) for e in sections["RoutesConfigDump"].get("dynamic_route_configs", [])]
    parts = config_dump_from_parts(clusters=json.dumps(clusters), routes=json.dumps(routes))
    # raw sub-dicts (retry_policy, outlier_detection, ...) legitimately keep their dialect
    raw_dicts = {"raw", "static", "outlier_detection"}
    for a, b in zip(snake.clusters, parts.clusters, strict=True):
        assert a.model_dump(exclude=raw_dicts) == b.model_dump(exclude=raw_dicts)
    route_fields = {"name", "match", "cluster", "weighted_clusters", "direct_response_status", "timeout", "virtual_service"}
    snake_routes = [r for r in snake.routes if not r.static]
    assert snake_routes and len(snake_routes) == len(parts.routes)
    for rc_a, rc_b in zip(snake_routes, parts.routes, strict=True):
        assert rc_a.name == rc_b.name
        for va, vb in zip(rc_a.virtual_hosts, rc_b.virtual_hosts, strict=True):
            assert (va.name, va.domains) == (vb.name, vb.domains)
            for ra, rb in zip(va.routes, vb.routes, strict=True):
                assert ra.model_dump(include=route_fields) == rb.model_dump(include=route_fields)
                assert (ra.retry_policy is None) == (rb.retry_policy is None)


def test_camelcase_per_type_outputs_parse() -> None:
    cds = parse_config_dump((FIX / "parts_liucw2012_cds.json").read_text())
    assert len(cds.clusters) == 26
    inbound = cds.cluster("inbound|9080|http|productpage.default.svc.cluster.local")
    assert inbound is not None and inbound.direction == "inbound"
    bh = cds.cluster("BlackHoleCluster")
    assert bh is not None and bh.connect_timeout == "10s"
    pt = cds.cluster("InboundPassthroughClusterIpv4")
    assert pt is not None and pt.type == "ORIGINAL_DST" and pt.circuit_breakers.max_connections == 102400
    eds = config_dump_from_parts(endpoints=(FIX / "parts_liucw2012_eds.json").read_text())
    assert eds.endpoints_for("prometheus_stats")[0].display == "127.0.0.1:15000"
    docs = parse_config_dump((FIX / "parts_istioio_listeners_port15001.json").read_text())
    (lst,) = docs.listeners
    assert lst.port == 15001 and lst.virtual


def test_secrets_validity_with_injected_now() -> None:
    before = load("secret_config_dump.json", now=datetime(2023, 5, 15, 12, 0, tzinfo=UTC))
    after = load("secret_config_dump.json", now=datetime(2024, 1, 1, tzinfo=UTC))
    by = {s.name: s for s in after.secrets}
    assert by["default"].type == "Cert Chain" and by["ROOTCA"].type == "CA"
    assert by["default"].serial == "6fbee254c22900615cb1f74e3d2f1713"
    assert by["ROOTCA"].serial == "0193a543fe2b0d9cd4847675394dfc54"
    assert by["default"].not_after == datetime(2023, 5, 16, 1, 32, 52, tzinfo=UTC)
    assert by["default"].valid is False and by["ROOTCA"].valid is True
    assert {s.name: s.valid for s in before.secrets}["default"] is True
    assert by["configmap://some/thing"].status == "WARMING" and by["configmap://some/thing"].type == ""
    assert by["default"].cert_chain_pem and "PRIVATE KEY" not in by["default"].cert_chain_pem
    assert by["default"].valid_at(datetime(2023, 5, 15, 12, 0, tzinfo=UTC))


def test_private_key_is_never_kept() -> None:
    d = load("secret_config_dump.json")
    assert "private_key" not in json.dumps(d.secrets_raw)
    assert "W3JlZGFjdGVkXQ" not in d.model_dump_json()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.Clusters', "not valid JSON"),
        ("{}", "not an Envoy config dump"),
        ("", "empty"),
        ("[]", "empty JSON array"),
        ('{"configs": [{"@type": "type.googleapis.com/foo.Bar"}]}', "no Envoy admin config-dump sections"),
        ('"just a string"', "expected a JSON object"),
    ],
)
def test_parse_errors_name_the_command(text: str, fragment: str) -> None:
    with pytest.raises(ParseError) as ei:
        parse_config_dump(text, command="istioctl proxy-config all -o json")
    assert fragment in str(ei.value)
    assert ei.value.command == "istioctl proxy-config all -o json"


