"""Access-log / istio-proxy log parser against real captures (tests/fixtures/logs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from istio_doctor.evidence.accesslog import (
    ProxyLog,
    join_by_request_id,
    parse_proxy_log,
    summarize_failures,
)

LOGS = Path(__file__).parent / "fixtures" / "logs"
FILES = sorted(p for p in LOGS.iterdir() if p.name not in ("SOURCES.md", "LICENSE-Apache-2.0.txt"))


def load(name: str) -> ProxyLog:
    return parse_proxy_log((LOGS / name).read_text())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_fixture_parses_and_counts_add_up(path: Path) -> None:
    log = parse_proxy_log(path.read_text())
    assert log.lines_total == len(path.read_text().splitlines())
    assert len(log.entries) + len(log.events) + log.component_lines + log.unparsed == log.records
    assert log.records + log.continuation_lines <= log.lines_total


def test_current_text_client_outbound() -> None:
    (e,) = load("access_log_client_outbound.txt").entries
    assert (e.response_code, e.response_flags, e.response_code_details) == (418, [], "via_upstream")
    assert e.direction == "outbound" and e.app_responded and not e.is_envoy_generated
    assert e.upstream_service is not None
    assert (e.upstream_service.fqdn, e.upstream_service.port, e.upstream_service.subset) == (
        "httpbin.foo.svc.cluster.local", 8000, None)
    assert e.request_id == "84961386-6d84-929d-98bd-c5aee93b5c88"
    assert e.authority == "httpbin:8000" and e.upstream_host == "10.44.1.27:80"
    assert e.duration_ms == 4 and e.upstream_service_time == 4 and e.route_name == "default"
    assert e.format == "text" and e.connection_termination_details is None


def test_current_text_server_inbound_and_join() -> None:
    client, server = load("access_log_client_outbound.txt"), load("access_log_server_inbound.txt")
    (s,) = server.entries
    assert s.direction == "inbound" and s.upstream_cluster == "inbound|8000||"
    assert s.requested_server_name == "outbound_.8000_._.httpbin.foo.svc.cluster.local"
    assert s.upstream_service is not None and s.upstream_service.fqdn is None
    # 418 is a failure: the join pairs it with the server line by x-request-id.
    pairs = join_by_request_id(client, server)
    assert len(pairs) == 1 and pairs[0][1] is s


def test_legacy_formats() -> None:
    (uh,) = load("istio-10515_503_UH_egress_2018.log").entries
    assert (uh.response_code, uh.response_flags, uh.format) == (503, ["UH"], "text_legacy")
    assert uh.method == "GET" and uh.protocol == "HTTP/1.1"
    assert uh.authority == "test.xxx.com" and uh.upstream_cluster is None
    assert uh.downstream_local_address == "123.125.115.110:80" and uh.direction == "unknown"
    nr, five = load("istio-5182_404_NR_legacy_0.7.log").entries
    assert (nr.response_code, nr.response_flags, nr.path) == (404, ["NR"], "/o/oauth2/token")
    assert nr.is_envoy_generated and five.response_code == 500 and five.x_forwarded_for == "10.36.57.25"
    (http,) = load("access_log_egress_http_legacy.txt").entries
    assert http.upstream_cluster == "outbound|80||httpbin.org" and http.bytes_sent == 599
    (tcp,) = load("access_log_egress_tcp_legacy.txt").entries
    assert tcp.is_tcp and tcp.response_code == 0 and tcp.requested_server_name == "www.google.com"


def test_kubectl_timestamps_and_mixer_format() -> None:
    log = load("istio-29109_inbound_500_and_passthrough_tcp.log")
    assert "kubectl_timestamps" in log.formats and log.unparsed == 0
    inbound, tcp1, _ = log.entries
    assert inbound.format == "text_mixer" and inbound.response_code == 500
    assert inbound.start_time == "2020-11-22T20:04:32.765Z"
    assert inbound.direction == "inbound" and inbound.upstream_service is not None
    assert inbound.upstream_service.subset == "http-8080"
    assert tcp1.is_tcp and tcp1.direction == "passthrough" and tcp1.upstream_host == "104.20.28.24:443"
    assert [g.code for g in summarize_failures(log)] == [500]


def test_json_one_per_line() -> None:
    passthrough, ufurx = load("istio-17139_json_inbound_passthrough_and_UF_URX_1.3.jsonl").entries
    assert passthrough.direction == "inbound" and passthrough.is_tcp and passthrough.response_code == 0
    assert ufurx.response_flags == ["UF", "URX"] and ufurx.direction == "outbound"
    assert ufurx.upstream_service is not None and ufurx.upstream_service.port == 7600
    (uaex,) = load("istio-19056_ingressgateway_json_503_UAEX.jsonl").entries
    assert uaex.response_flags == ["UAEX"] and uaex.response_code == 503
    assert uaex.istio_policy_status == "UNAVAILABLE:no healthy upstream"
    assert uaex.x_forwarded_for == "100.100.0.0" and uaex.request_id.startswith("639632b6")


def test_json_pretty_printed() -> None:
    log = load("ssup2-blog_json_URX_UF_connection_timeout_then_UH.txt")
    assert log.formats == {"json_multiline"} and log.unparsed == 0 and len(log.entries) == 3
    first = log.entries[0]
    assert first.response_flags == ["URX", "UF"]
    assert first.response_code_details == "upstream_reset_before_response_started{connection_timeout}"
    assert first.extra["upstream_request_attempt_count"] == "3" and first.line_no == 1
    groups = summarize_failures(log)
    assert [(g.flags, g.count) for g in groups] == [(["UH"], 2), (["URX", "UF"], 1)]
    assert groups[0].details == "no_healthy_upstream" and groups[0].direction == "outbound"
    (uc,) = load("ssup2-blog_json_UC_connection_termination_server_side.txt").entries
    assert uc.direction == "inbound" and uc.response_flags == ["UC"] and uc.is_envoy_generated
    (dc,) = load("ssup2-blog_json_DC_downstream_remote_disconnect.txt").entries
    assert dc.response_code == 0 and not dc.is_tcp and dc.response_code_details == "downstream_remote_disconnect"
    (ut,) = load("ssup2-blog_json_UT_response_timeout.txt").entries
    assert (ut.response_code, ut.response_flags, ut.duration_ms) == (504, ["UT"], 60022)


def test_component_events() -> None:
    log = load("istio-23410_proxy_log_not_ready_no_config.log")
    assert [e.kind for e in log.events] == ["xds_stream_closed", "not_ready_no_config"]
    assert log.unparsed == 1  # the truncated first line "ful, 0 rejected"
    stats = load("istio-13939_proxy_log_not_ready_stats_refused_1.1.log")
    assert [e.kind for e in stats.events] == ["envoy_not_ready_stats"] * 4
    tls = load("istio-26349_envoy_debug_tls_certificate_verify_failed.log")
    assert [e.kind for e in tls.events] == ["tls_error", "tls_error"]
    assert "CERTIFICATE_VERIFY_FAILED" in tls.events[0].detail and "ssl_socket.cc" not in tls.events[0].detail
    ingress = load("istio_ingress.log")
    # a real 1.6.3 start-up: the agent's milestones are events the timeline places
    assert {e.kind for e in ingress.events} == {"xds_stream_closed", "agent_start", "proxy_ready"} and ingress.unparsed == 0
    ready = next(e for e in ingress.events if e.kind == "proxy_ready")
    assert ready.timestamp == "2020-06-29T23:37:30.890178Z" and ready.detail == "Envoy proxy is ready"
    assert ingress.continuation_lines > 0  # mesh config YAML and PEM under their log lines
    (z,) = load("ztunnel-1273_ambient_rbac_rejection.log").events
    assert z.kind == "ztunnel_access" and "policy rejection" in z.detail


def test_client_bodies_are_recognised_as_tls_errors() -> None:
    for name in ("istio-34920_client_body_tls_certificate_verify_failed.txt",
                 "istio-47307_client_body_tls_clienthello_tlsext_1.18.txt"):
        assert [e.kind for e in load(name).events] == ["tls_error"]


def test_synthetic_event_kinds_and_current_details() -> None:
    text = "\n".join([
        "2024-05-01T10:00:00.000000Z\twarn\tEnvoy proxy is NOT ready: config not received from XDS server (is Istiod running?): cds updates: 0 successful, 0 rejected",
        "2024-05-01T10:00:01.000000Z\twarning\tenvoy config external/envoy/source/common/config/grpc_subscription_impl.cc:138\tgRPC config for type.googleapis.com/envoy.config.listener.v3.Listener rejected: Error adding/updating listener(s) 0.0.0.0_8080: duplicate\tthread=15",
        "2024-05-01T10:00:02.000000Z\twarning\tenvoy config external/envoy/source/extensions/config_subscription/grpc/grpc_stream.h:152\tStreamAggregatedResources gRPC config stream to xds-grpc closed since 40s ago: 14, connection error\tthread=14",
        "2024-05-01T10:00:03.000000Z\terror\tcache\tresource:default failed to fetch secret: cannot load certificate",
        "2024-05-01T10:00:04.000000Z\tinfo\tAgent draining Proxy",
        "2024-05-01T10:00:05.000000Z\tinfo\tGraceful termination period is 5s, starting...",
        "2024-05-01T10:00:06.000000Z\tinfo\tcds: add 3 cluster(s), remove 0 cluster(s); cluster warming",
        '2024-05-01T10:00:07.123456789Z [2024-05-01T10:00:07.000Z] "GET /api HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_failure,delayed_connect_error:_Connection_refused} - "TLS_error:_268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER" 0 145 2 - "-" "curl/8.0" "abc-1" "reviews:9080" "10.1.2.3:9080" outbound|9080|v1|reviews.default.svc.cluster.local - 10.96.0.5:9080 10.1.0.7:51234 - default',
        '[2024-05-01T10:00:08.000Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - 10.1.2.3:9080 10.1.0.7:40000 - -',
        '[2024-05-01T10:00:09.000Z] "GET /x HTTP/1.1" 502 - direct_response - "-" 0 0 0 - "-" "-" "-" "ext.com" "-" BlackHoleCluster - 1.2.3.4:80 10.1.0.7:1 - allow_any',
    ])
    log = parse_proxy_log(text)
    assert [e.kind for e in log.events] == [
        "not_ready_no_config", "xds_rejected", "xds_stream_closed", "sds_error", "drain", "drain", "warming"]
    uf, nr, bh = log.entries
    assert uf.response_flags == ["UF", "URX"] and uf.upstream_service is not None
    assert uf.upstream_service.subset == "v1"
    assert "WRONG_VERSION_NUMBER" in (uf.upstream_transport_failure_reason or "")
    assert nr.is_tcp and nr.response_code_details == "filter_chain_not_found" and nr.direction == "unknown"
    assert bh.direction == "blackhole" and bh.is_envoy_generated and not bh.app_responded
    assert [len(g.example.raw) > 0 for g in summarize_failures(log)] == [True] * 3


def test_join_unmatched_client_failure() -> None:
    client = parse_proxy_log(
        '[2024-05-01T10:00:07.000Z] "GET / HTTP/1.1" 503 UH no_healthy_upstream - "-" 0 19 0 - "-" "-" "r-1" "a" "-" outbound|80||a.ns.svc.cluster.local - 10.0.0.1:80 10.1.0.1:2 - default')
    pairs = join_by_request_id(client, parse_proxy_log(""))
    assert len(pairs) == 1 and pairs[0][1] is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
       | st.lists(st.sampled_from(['[2020-01-01T00:00:00Z] "', "{", "}", '"', "- - -", "\n", "UF,URX", " ", "0",
                                   "outbound|80||x", "2020-01-01T00:00:00Z\twarn\t", '{"response_code":'])).map("".join))
def test_parse_proxy_log_never_raises(text: str) -> None:
    log = parse_proxy_log(text)
    assert len(log.entries) + len(log.events) + log.component_lines + log.unparsed == log.records


@pytest.mark.parametrize("prefix", ["istio-proxy ", "reviews-v2-abc istio-proxy ", "[pod/reviews-v2-abc/istio-proxy] "])
def test_a_log_viewers_prefix_before_an_access_line_is_skipped(prefix: str) -> None:
    # envoyproxy/ratelimit#296 quotes its line with the container name in front (tests/fixtures/corpus/
    # captured/access-logs/ratelimit-296_...); stern prints POD CONTAINER, kubectl --prefix [pod/NAME/CONTAINER]
    line = ('[2021-09-28T14:55:12.134Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - '
            '172.17.0.8:8081 172.17.0.1:38748 - -')
    log = parse_proxy_log(prefix + line)
    assert log.unparsed == 0 and log.entries[0].response_flags == ["NR"]
    assert log.entries[0].response_code_details == "filter_chain_not_found"


def test_a_component_line_is_not_taken_for_a_prefixed_access_line() -> None:
    log = parse_proxy_log("2024-07-15T08:30:12.000000Z\tinfo\tEnvoy proxy is ready")
    assert not log.entries
