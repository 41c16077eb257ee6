"""Ambient evidence parsers and the ztunnel-config views, beyond the corpus routing test.

Behaviour is grounded in istio/istio@86c9f01 (istioctl/pkg/writer/ztunnel/configdump/*.go, whose
goldens are in tests/fixtures/corpus/ambient/ztunnel-config and are compared byte for byte by
tests/test_corpus_generic.py) and istio/ztunnel@62d8265 (src/telemetry.rs, src/proxy.rs).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from istio_doctor.evidence import kube as km
from istio_doctor.evidence.ambient import conditions as cond
from istio_doctor.evidence.ambient import ztunnel_views as zv
from istio_doctor.evidence.ambient.cni_log import CniEventKind, CniLogKind, classify_event, parse_cni_log
from istio_doctor.evidence.ambient.dataplane import DataplaneMode, pod_dataplane
from istio_doctor.evidence.ambient.ztunnel_dump import parse_ztunnel_dump
from istio_doctor.evidence.ambient.ztunnel_log import ErrorKind, classify_error, parse_ztunnel_log
from istio_doctor.evidence.ambient.ztunnel_tables import parse_ztunnel_table
from istio_doctor.evidence.envoy.views import marshal_json
from istio_doctor.evidence.errors import ParseError

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
DUMP = CORPUS / "ambient/ztunnel-config/dump.json"
KIALI = CORPUS / "captured/configdump/kiali/ztunnel-config.json"
NOW = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def dump() -> zv.ZtunnelDump:
    return parse_ztunnel_dump(DUMP.read_text())


# -- the dump ------------------------------------------------------------------------------


def test_list_and_map_forms_give_the_same_views(dump: zv.ZtunnelDump) -> None:
    # unmarshalListOrMap (configdump.go): ztunnel versions write lists or maps; same result
    raw = json.loads(DUMP.read_text())
    as_lists = {k: list(v.values()) if isinstance(v, dict) and k != "workloadState" else v for k, v in raw.items()}
    other = parse_ztunnel_dump(json.dumps(as_lists))
    assert zv.all_summary(other, now=NOW) == zv.all_summary(dump, now=NOW)


def test_workloadstate_key_is_matched_case_insensitively(dump: zv.ZtunnelDump) -> None:
    # the dump says "workloadState", istioctl's struct tag says "workloadstate": Go's decoder
    # folds case, so the connections golden is not empty
    assert "workloadState" in DUMP.read_text() and len(dump.workload_state) == 6


def test_live_1_24_capture_parses() -> None:
    d = parse_ztunnel_dump(KIALI.read_text(), command="file ztunnel-config.json")
    assert (len(d.workloads), len(d.services), d.version) == (48, 39, "1.24.0-2-g4c7cdf1")
    # fields istioctl does not model are kept for checks but never printed by -o json
    w = d.workloads[0]
    assert w.model_extra and "networkMode" in w.model_extra
    assert "networkMode" not in zv.workload_json(d)[0]
    # services point at their waypoint by namespace/hostname in this version
    bound = [s for s in d.services if s.waypoint is not None]
    assert bound and all(zv.waypoint_name(d, s) != "NA" for s in bound)


@pytest.mark.parametrize(("text", "says"), [
    ("{not json", "not valid JSON"),
    ('{"configs": []}', "this is an Envoy config dump"),
    ('{"foo": 1}', "not a ztunnel config dump"),
    ("[]", "expected a JSON object"),
])
def test_bad_dumps_are_one_sentence(text: str, says: str) -> None:
    with pytest.raises(ParseError) as e:
        parse_ztunnel_dump(text, command="file x.json")
    assert says in str(e.value) and "x.json" in str(e.value)


# -- views: istioctl quirks -------------------------------------------------------------------


def test_service_dump_preserves_fields_like_istioctl() -> None:
    # istioctl's own TestConfigWriter_PrintServiceDumpPreservesServiceFields (configdump_test.go)
    d = parse_ztunnel_dump(json.dumps({
        "services": {"/10.0.0.1": {
            "name": "svc", "namespace": "ns", "hostname": "svc.ns.svc.cluster.local", "vips": ["/10.0.0.1"],
            "cidrVips": [{"cidr": "240.240.0.0/16"}, {"cidr": "2001:db8::/64", "network": "network1"}],
            "ports": {"80": 8080}, "endpoints": {}, "subjectAltNames": [], "canonical": True}},
        "workloads": {}, "policies": {}, "certificates": {}}))
    got = zv.service_json(d)
    assert got[0]["cidrVips"] == ["/240.240.0.0/16", "network1/2001:db8::/64"]
    assert got[0]["canonical"] is True and got[0]["endpoints"] == {}
    assert "subjectAltNames" not in got[0]  # omitempty drops the empty slice


def test_nil_slices_and_maps_marshal_as_null() -> None:
    # api.go: `vips`, `ports`, `endpoints` have no omitempty: an absent one is a nil -> null
    d = parse_ztunnel_dump(json.dumps({"services": [{"name": "s", "namespace": "n", "vips": []}]}))
    s = zv.service_json(d)[0]
    assert s["vips"] == [] and s["ports"] is None and s["endpoints"] is None
    assert list(s) == ["name", "namespace", "hostname", "vips", "ports", "endpoints", "ipFamilies"]


def test_workload_json_is_the_go_struct(dump: zv.ZtunnelDump) -> None:
    w = next(x for x in zv.workload_json(dump) if x["name"] == "ratings-v1-6484c4d9bb-mdxm5")
    assert "nativeTunnel" not in w  # not in ZtunnelWorkload
    assert w["waypoint"] == {"destination": "/10.96.65.117"}  # GatewayAddress has no port field
    assert w["locality"] == {} and w["applicationTunnel"] == {"protocol": ""}  # omitempty never drops structs
    assert w["capacity"] == 0 and w["hostname"] == ""
    assert "authorizationPolicies" not in w


def test_map_keys_are_sorted_as_strings() -> None:
    d = parse_ztunnel_dump(json.dumps({"services": [{"name": "s", "endpoints": {"b": {"port": {"80": 80, "15021": 15021}},
                                                                                    "a": {}}}]}))
    eps = zv.service_json(d)[0]["endpoints"]
    assert list(eps) == ["a", "b"] and list(eps["b"]["port"]) == ["15021", "80"]


def test_certificate_serial_and_legacy_chain() -> None:
    d = parse_ztunnel_dump(json.dumps({"certificates": [{
        "identity": "spiffe://cluster.local/ns/a/sa/b", "state": "Available",
        "certChain": [{"serialNumber": "255", "validFrom": "2023-01-01T00:00:00Z", "expirationTime": "2025-01-01T00:00:00Z"},
                      {"serialNumber": "not-a-number", "validFrom": "x", "expirationTime": "y"}]}]}))
    rows = zv.certificate_rows(d, now=NOW)
    # no rootCerts: the last element of the chain is the root (the legacy format)
    assert [(r.type, r.serial, r.valid) for r in rows] == [("Leaf", "ff", "true"), ("Root", "<nil>", "false")]


def test_unavailable_state_is_shortened() -> None:
    d = parse_ztunnel_dump(json.dumps({"certificates": [{"identity": "i", "state": "Unavailable: signing gRPC error "
                                                         "(Unknown error): client error (Connect)", "certChain": []}]}))
    assert zv.certificate_rows(d)[0][:4] == ("i", "NA", "Unavailable", "false")


def test_filters_are_case_insensitive_like_equalfold(dump: zv.ZtunnelDump) -> None:
    assert zv.workload_table(dump, zv.WorkloadFilter(namespace="DEFAULT")) == zv.workload_table(
        dump, zv.WorkloadFilter(namespace="default"))
    golden = (CORPUS / "ambient/ztunnel-config/workloadsummary.txt").read_text().splitlines()
    on_worker = [ln for ln in golden if " ambient-worker " in ln]
    assert len(zv.workload_rows(dump, zv.WorkloadFilter(node="Ambient-Worker"))) == len(on_worker) == 11
    assert [r.pod for r in zv.workload_rows(dump, zv.WorkloadFilter(address="10.244.1.40"))] == ["httpbin-7447985f87-t8hv7"]
    assert {r.namespace for r in zv.service_rows(dump, "bookinfo")} == {"bookinfo"}
    assert zv.policy_table(dump, "other").splitlines() == ["NAMESPACE POLICY NAME ACTION SCOPE"]


def test_connection_filters(dump: zv.ZtunnelDump) -> None:
    by_name = zv.connections_table(dump, zv.ConnectionsFilter(workload="productpage-v1-796f87b58-97bjk", namespace="bookinfo"))
    assert by_name == (CORPUS / "ambient/ztunnel-config/connectionsummary_workload.txt").read_text()
    outbound = zv.connection_rows(dump, zv.ConnectionsFilter(direction="outbound"))
    assert outbound and {r.direction for r in outbound} == {"Outbound"}
    raw = zv.connection_rows(dump, zv.ConnectionsFilter(raw=True))
    assert all(not r.remote.endswith(".svc.cluster.local") for r in raw)


def test_all_json_prints_the_dump_itself(dump: zv.ZtunnelDump) -> None:
    assert zv.render(dump, "all", zv.ViewOptions(output="json")) == DUMP.read_text() + "\n"
    assert zv.render(dump, "policies", zv.ViewOptions(output="yaml")).startswith("- action: Allow\n")


def test_connections_json_golden(dump: zv.ZtunnelDump) -> None:
    assert marshal_json(zv.connections_json(dump)) == (CORPUS / "ambient/ztunnel-config/connectionsdump.json").read_text()


# -- tables as text ---------------------------------------------------------------------------


def test_older_tables_are_read() -> None:
    t = parse_ztunnel_table((CORPUS / "ambient/docs-outputs/istioio_troubleshoot-ztunnel_workloads.txt").read_text())
    assert t.columns[2] == "IP" and t.workloads[1].address == "10.244.1.5"
    s = parse_ztunnel_table((CORPUS / "ambient/docs-outputs/istioio_troubleshoot-waypoint_ztunnel-config-service.txt").read_text())
    assert "ENDPOINTS" not in s.columns and s.services[-1].waypoint == "reviews-svc-waypoint"


def test_hand_trimmed_table_is_realigned() -> None:
    t = parse_ztunnel_table((CORPUS / "ambient/status/istio-53637_zc_workload_waypoint_none.txt").read_text())
    assert [(r.pod, r.waypoint, r.protocol) for r in t.workloads] == [
        ("sleep-7cd479bb55-c749f", "None", "HBONE"), ("sleep-waypoint-8c8c6c49d-nmpq4", "None", "TCP")]


# -- ztunnel logs -----------------------------------------------------------------------------


def test_log_variants_and_prefixes() -> None:
    text = "\n".join([
        '[pod/ztunnel-abc/istio-proxy] 2025-01-01T00:00:00.000001Z\terror\taccess\tconnection complete\tsrc.addr=10.0.0.1:1 '
        'dst.addr=10.0.0.2:15008 direction="outbound" error="connection timed out, maybe a NetworkPolicy is blocking HBONE '
        'port 15008: deadline has elapsed"',
        "2025-01-01T00:00:00Z 2025-01-01T00:00:00.000002Z\tinfo\taccess\tconnection complete\tdirection=\"inbound\"",
        '{"level":"warn","time":"t","scope":"access","message":"connection failed","dst.addr":"1.2.3.4:80",'
        '"direction":"inbound","error":"failed to fetch information about local workload: x"}',
        "2023-09-14T18:06:09.455666Z  INFO outbound{id=1}: ztunnel::proxy::outbound: complete dur=2.1ms",
    ])
    log = parse_ztunnel_log(text)
    assert log.unparsed == [] and log.formats == ["istio", "json", "legacy"]
    first, second, third, fourth = log.lines
    assert first.pod == "ztunnel-abc" and first.error_kind == ErrorKind.NETPOL_HBONE  # beats "deadline"
    assert second.time == "2025-01-01T00:00:00.000002Z" and second.direction == "inbound"  # --timestamps prefix
    assert third.format == "json" and third.error_kind == ErrorKind.LOCAL_WORKLOAD_UNKNOWN
    assert fourth.is_access and fourth.direction == "outbound" and not fourth.failed and fourth.duration_ms == 2.1


@pytest.mark.parametrize(("text", "kind"), [
    # src/proxy.rs `#[error(...)]` and AuthorizationRejectionError (istio/ztunnel@62d8265)
    ("connection closed due to policy rejection: explicitly denied by: istio-system/istio_converted_static_strict",
     ErrorKind.STATIC_STRICT),
    ("connection closed due to policy rejection: explicitly denied by: ns/deny-all", ErrorKind.DENIED),
    ("connection closed due to policy rejection: allow policies exist, but none allowed", ErrorKind.NOT_ALLOWED),
    ("unknown waypoint: ns/waypoint", ErrorKind.UNKNOWN_WAYPOINT),
    ("no healthy upstream: 10.0.0.1:15008", ErrorKind.NO_HEALTHY_UPSTREAM),
    ("http2 handshake failed: connection error", ErrorKind.HBONE_HANDSHAKE),
    ("connection closed due to connection drain", ErrorKind.DRAIN),
    ("pool draining", ErrorKind.DRAIN),
    ("tls error: invalid peer certificate: UnknownIssuer", ErrorKind.TLS_TRUST),
    ("unknown destination: 10.0.0.9", ErrorKind.UNKNOWN_DESTINATION),  # 1.22/1.23 src/proxy.rs
    ("io error: Connection reset by peer (os error 104)", ErrorKind.RESET),
])
def test_error_classes(text: str, kind: ErrorKind) -> None:
    assert classify_error(text) is kind


def test_denied_by_names_the_policy() -> None:
    line = parse_ztunnel_log('error\taccess\tconnection complete\tdirection="inbound" error="connection closed due to '
                             'policy rejection: explicitly denied by: istio-system/istio_converted_static_strict"').lines[0]
    assert line.denied_by == ("istio-system", "istio_converted_static_strict") and "src.identity" not in line.fields


# -- istio-cni --------------------------------------------------------------------------------


def test_cni_messages_from_source() -> None:
    # strings of cni/pkg/nodeagent/{informers.go,meshdataplane_linux.go,ztunnelserver.go} at istio/istio@86c9f01
    text = "\n".join([
        "2025-01-01T00:00:00.000000Z\twarn\tcni-agent\tNamespace payments is labeled for ambient mesh but is excluded by "
        "excludeNamespaces configuration; pods will not be enrolled",
        "2025-01-01T00:00:01.000000Z\terror\tcni-agent\tfailed to add pod to ztunnel: pod partially added, annotating with "
        "pending status\tns=payments name=api-1",
        "2025-01-01T00:00:02.000000Z\tinfo\tcni-agent\tztunnel disconnected, total connected 0",
    ])
    log = parse_cni_log(text)
    assert [ln.kind for ln in log.lines] == [CniLogKind.NS_EXCLUDED, CniLogKind.POD_PENDING, CniLogKind.ZTUNNEL_DISCONNECTED]
    assert log.lines[0].namespace == "payments" and log.lines[1].pod_ref == "payments/api-1"


def test_install_config_excluded_namespaces() -> None:
    text = ("2024-08-02T05:07:02.643908Z\tinfo\tcni-agent\tCNI install configuration:\nCNINetDir: /etc/cni/net.d\n"
            "ExcludeNamespaces: kube-system,payments\nChainedCNIPlugin: true\n")
    assert parse_cni_log(text).excluded_namespaces == ["kube-system", "payments"]


def test_event_classes() -> None:
    msg = ('Failed to create pod sandbox: rpc error: ... plugin type="istio-cni" name="istio-cni" failed (add): istio-cni '
           "cmdAdd failed to contact node Istio CNI agent: unable to push CNI event (status code 500): no ztunnel connection")
    assert classify_event("FailedCreatePodSandBox", msg) is CniEventKind.NO_ZTUNNEL
    assert classify_event("Unhealthy", "Readiness probe failed: Get \"http://10.0.0.1:8080/\": context deadline exceeded") \
        is CniEventKind.PROBE_TIMEOUT
    assert classify_event("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 500") is CniEventKind.PROBE_FAILED
    assert classify_event("Pulled", "Successfully pulled image") is None


# -- data-plane mode --------------------------------------------------------------------------


def _pod(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None, sidecar: bool = False) -> km.Pod:
    containers = [{"name": "app", "image": "app"}] + ([{"name": "istio-proxy", "image": "proxyv2"}] if sidecar else [])
    return km.Pod.model_validate({"metadata": {"name": "p", "namespace": "n", "labels": labels or {},
                                               "annotations": annotations or {}}, "spec": {"containers": containers}})


def _ns(labels: dict[str, str]) -> km.Namespace:
    return km.Namespace.model_validate({"metadata": {"name": "n", "labels": labels}})


AMBIENT_NS = _ns({"istio.io/dataplane-mode": "ambient"})
RED = "ambient.istio.io/redirection"


@pytest.mark.parametrize(("pod", "ns", "mode"), [
    (_pod(annotations={RED: "enabled"}), AMBIENT_NS, DataplaneMode.AMBIENT),
    (_pod(annotations={RED: "pending"}), AMBIENT_NS, DataplaneMode.AMBIENT_PENDING),
    (_pod(), AMBIENT_NS, DataplaneMode.AMBIENT_NOT_CAPTURED),
    (_pod(labels={"istio.io/dataplane-mode": "none"}), AMBIENT_NS, DataplaneMode.OPTED_OUT),
    (_pod(labels={"istio.io/dataplane-mode": "ambient"}, annotations={RED: "enabled"}), _ns({}), DataplaneMode.AMBIENT),
    (_pod(sidecar=True), AMBIENT_NS, DataplaneMode.SIDECAR),
    # no sidecar and nothing ambient: out of the mesh, never "ambient" by elimination
    (_pod(), _ns({}), DataplaneMode.NONE),
])
def test_dataplane_mode(pod: km.Pod, ns: km.Namespace, mode: DataplaneMode) -> None:
    got = pod_dataplane(pod, ns)
    assert got.mode is mode and got.because


def test_ztunnel_hbone_counts_as_captured() -> None:
    assert pod_dataplane(_pod(), _ns({}), ztunnel_protocol="HBONE").mode is DataplaneMode.AMBIENT


# -- conditions -------------------------------------------------------------------------------


def test_analyze_misses_true_and_unknown_conditions() -> None:
    l7 = cond.StatusCondition(type="ZtunnelAccepted", status="True", reason="UnsupportedValue",
                              message=(CORPUS / "ambient/status/istio-58316_authz_status_ztunnel_http_attributes.txt").read_text())
    pending = cond.StatusCondition(type="Programmed", status="Unknown", reason="Pending", message="Waiting for controller")
    missing = cond.StatusCondition(type="istio.io/WaypointMissing", status="True", reason="NoWaypointForWildcardService")
    bound_false = cond.StatusCondition(type="istio.io/WaypointBound", status="False", reason="WaypointIsNotReady")
    assert [cond.analyze_reports(c).reported for c in (l7, pending, missing, bound_false)] == [False, False, False, True]


def test_route_parent_conditions() -> None:
    import yaml

    docs = list(yaml.safe_load_all((CORPUS / "ambient/status/condition-analyzer.yaml").read_text()))
    route = next(d for d in docs if d["kind"] == "HTTPRoute")
    (parent,) = cond.parent_conditions(route)
    assert (parent.parent_name, parent.conditions[0].reason) == ("negative-condition-svc", "WaypointNotBound")
