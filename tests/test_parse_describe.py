"""`istioctl x describe pod` parser against istio.io doc outputs and captured issue outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_doctor.evidence.describe import parse_describe_pod

D = Path(__file__).parent / "fixtures" / "describe"
FILES = sorted(p for p in D.iterdir() if p.name not in ("SOURCES.md", "LICENSE-Apache-2.0.txt"))


def load(name: str):
    return parse_describe_pod((D / name).read_text())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_fixture_parses_without_unknown_lines(path: Path) -> None:
    assert parse_describe_pod(path.read_text()).unrecognized == []


def test_not_in_mesh() -> None:
    d = load("describe_pod_not_in_mesh_v1.3.txt")
    assert not d.in_mesh and (d.pod, d.namespace) == ("kubernetes-dashboard-7996b848f4-nbns2", "kube-system")
    assert d.error is not None and d.error.startswith("failed to execute command on sidecar")
    assert len(d.warnings) == 1


def test_basic_and_v13_ports() -> None:
    d = load("describe_pod_ratings_basic.txt")
    assert d.in_mesh and d.pod == "ratings-v1-7dc98c7588-8jsbw" and d.namespace is None
    assert [(p.port, p.container) for p in d.ports] == [(9080, "ratings"), (15090, "istio-proxy")]
    (port,) = d.services[0].ports
    assert (port.name, port.port, port.protocol, port.target_port) == ("http", 9080, "HTTP", 9080)
    v13 = load("describe_pod_ratings_v1.3.txt")  # unindented "Pod Ports:", no target port
    assert len(v13.ports) == 2 and v13.services[0].ports[0].target_port is None
    assert (v13.mtls_reports[0].pod_enforces, v13.mtls_reports[0].clients_speak) == ("HTTP/mTLS", "HTTP")
    early = load("istio-15827_describe_pod_early_1.3.txt")
    assert early.ports[0].protocol == "TCP" and early.namespace == "default"
    dr = early.destination_rules[0]
    assert dr.matching_subsets == ["v1"] and dr.non_matching_count == 1 and dr.no_traffic_policy


def test_destination_rule_subsets_and_tls() -> None:
    d = load("describe_pod_ratings_destinationrule_mtls.txt")
    (dr,) = d.destination_rules
    assert (dr.name, dr.host, dr.service) == ("ratings", "ratings", "ratings")
    assert dr.matching_subsets == ["v1"] and dr.non_matching_subsets == ["v2", "v2-mysql", "v2-mysql-vm"]
    assert dr.tls_mode == "ISTIO_MUTUAL" and not dr.no_subset_match
    assert load("describe_pod_ratings_strict_mtls.txt").mtls_reports[0].pod_enforces == "mTLS"
    pilot = load("istio-17903_describe_pod_pilot_reports_1.3.txt")
    assert pilot.destination_rules[0].host == "*.local" and pilot.destination_rules[0].tls_mode == "DISABLE"
    assert pilot.mtls_reports[0].pod_enforces == "HTTP"
    mesh = load("istio-31874_describe_pod_mesh_wide_dr_1.9.txt")
    assert mesh.suggestions and mesh.services[0].ports[0].protocol == "TCP"


def test_port_prefixed_dr_lines_and_user_annotation() -> None:
    d = load("istio-49802_describe_pod_port_prefixed_dr.txt")
    assert (d.pod, d.namespace, d.revision) == ("myapp", "ns", "default")
    assert [s.name for s in d.services] == ["myapp.myns", "d-headless.myns"]
    assert [dr.port for dr in d.destination_rules] == [6001, 7001, 9080, 9100, None]
    assert d.destination_rules[-1].service == "d-headless.myns"
    assert all(dr.tls_mode == "ISTIO_MUTUAL" for dr in d.destination_rules)


def test_virtual_service_variants() -> None:
    (vs,) = load("describe_pod_reviews_v1_header_routes.txt").virtual_services
    assert vs.no_destinations_match and vs.checked_routes == 2
    assert [(r.subset, r.condition) for r in vs.non_matching_routes] == [
        ("v2", "when headers are end-user=jason"), ("v3", "everything")]
    assert load("describe_pod_reviews_v1_vs_routes.txt").virtual_services[0].routes == ["1 HTTP route(s)"]
    assert load("describe_pod_reviews_v1_weight.txt").virtual_services[0].routes == ["Weight 90%"]
    unknown = load("describe_pod_reviews_v2_unknown_subset_blog.txt").virtual_services[0]
    assert unknown.unknown_subsets == ["v1"] and unknown.no_destinations_match
    nm = load("istioio-7862_describe_pod_ratings_nonmatching_subsets_1.7.txt")
    assert nm.virtual_services[0].name == "ratings" and nm.destination_rules[0].non_matching_subsets


def test_current_format_blocks_from_source_strings() -> None:
    # No real current-version output exists (no capture of it is known); strings below are
    # the printf formats of istioctl/pkg/describe/describe.go, filled in.
    text = """Pod: productpage-v1-abc.default
   Pod Revision: 1-22
   Pod Ports: 9080 (productpage), 15090 (istio-proxy)
WARNING: User ID (UID) 1337 is reserved for the sidecar proxy.
WARNING: Pod productpage-v1-abc Container istio-proxy NOT READY
--------------------
Service: productpage.default
   Port: http 9080/HTTP targets pod port 9080
DestinationRule: productpage.default for "productpage"
   WARNING POD DOES NOT MATCH ANY SUBSETS.  (Non matching subsets v2,v3)
   Traffic Policy TLS Mode: DISABLE
   Policies: load balancer/connection pool
VirtualService: productpage.default
   Warning: Route to subset v1 but NO DESTINATION RULE defining subsets!
   Fault injection: abort 50% 503
WARNING: Proxy is stale; it references to non-existent destination rule foo.default
--------------------
Effective PeerAuthentication:
   Workload mTLS mode: STRICT
   Port Level mTLS mode:
      9080: DISABLE
Applied PeerAuthentication:
   default.istio-system, productpage.default
RBAC policies: ns[default]-policy[deny-all]-rule[0]
Exposed on Ingress Gateway http://1.2.3.4
VirtualService: bookinfo.default
   1 HTTP route(s)
WARNING Pilot predicts TLS Conflict on productpage-v1-abc port 9080 (pod enforces mTLS, clients speak HTTP)
"""
    d = parse_describe_pod(text)
    assert d.revision == "1-22" and d.uid_1337 and d.not_ready_containers == ["istio-proxy"]
    dr = d.destination_rules[0]
    assert dr.no_subset_match and dr.non_matching_subsets == ["v2", "v3"] and dr.tls_mode == "DISABLE"
    assert dr.policies == ["load balancer", "connection pool"]
    vs, ingress_vs = d.virtual_services
    assert vs.subsets_without_dr == ["v1"] and vs.faults and not vs.via_ingress and ingress_vs.via_ingress
    assert d.stale_warnings and d.ingress_urls == ["http://1.2.3.4"]
    assert d.peer_authentication is not None
    assert d.peer_authentication.workload_mode == "STRICT" and d.peer_authentication.port_level == {9080: "DISABLE"}
    assert d.peer_authentication.applied == ["default.istio-system", "productpage.default"]
    assert d.rbac_policies == ["ns[default]-policy[deny-all]-rule[0]"]
    assert d.tls_conflicts == [(9080, "pod enforces mTLS, clients speak HTTP")]
    assert len(d.warnings) == 6 and d.unrecognized == []
    assert parse_describe_pod("Pod: x\nWarning: No Kubernetes Services select pod x\n").no_services
