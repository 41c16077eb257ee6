"""Listening sockets, Envoy /stats and /clusters parsers (tests/fixtures/exec)."""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_doctor.evidence.envoystats import parse_envoy_clusters, parse_envoy_stats, stat_sum
from istio_doctor.evidence.errors import ParseError
from istio_doctor.evidence.sockets import binds_only_localhost, parse_listening_sockets

D = Path(__file__).parent / "fixtures" / "exec"
SOCKET_FILES = sorted(p for p in D.iterdir() if p.name.startswith(("ss-", "netstat-", "proc-net-tcp")))
CLUSTER_FILES = sorted(p for p in D.iterdir() if "clusters" in p.name or "endpoint" in p.name)


@pytest.mark.parametrize("path", SOCKET_FILES, ids=lambda p: p.name)
def test_socket_fixtures(path: Path) -> None:
    socks = parse_listening_sockets(path.read_text())
    assert socks and all(s.state == "LISTEN" for s in socks)
    if "real_this_host" in path.name:
        # Captured while a process listened on 127.0.0.1:8080, [::1]:8081, [::]:9090, 0.0.0.0:9080.
        assert binds_only_localhost(socks, 8080) is True
        assert binds_only_localhost(socks, 8081) is True
        assert binds_only_localhost(socks, 9090) is False
        assert binds_only_localhost(socks, 9080) is False
        assert binds_only_localhost(socks, 1) is None


def test_constructed_istio_pod_sockets() -> None:
    ss = parse_listening_sockets((D / "ss-ltn_constructed_istio_pod_localhost_app.txt").read_text())
    assert binds_only_localhost(ss, 8080) is True and binds_only_localhost(ss, 15006) is False
    proc = parse_listening_sockets((D / "proc-net-tcp_constructed_istio_pod_localhost_app.txt").read_text())
    assert [(s.local_address, s.port) for s in proc if s.port == 8080] == [("127.0.0.1", 8080)]  # ESTABLISHED row dropped
    assert any(s.proto == "tcp6" and s.local_address == "::" and s.port == 15020 for s in proc)
    bb = parse_listening_sockets((D / "netstat-tln_constructed_busybox_istio_pod.txt").read_text())
    assert binds_only_localhost(bb, 9080) is False and binds_only_localhost(bb, 15000) is True


def test_process_columns() -> None:
    nat = parse_listening_sockets((D / "netstat-natpw_real_this_host.txt").read_text())
    assert {s.process for s in nat if s.port == 2024} == {None}
    assert any(s.process and "python" in s.process for s in nat)
    ssp = parse_listening_sockets((D / "ss-ltnp_real_this_host.txt").read_text())
    assert any(s.process and s.process.startswith("users:") for s in ssp)


def test_envoy_stats_sums() -> None:
    stats = parse_envoy_stats((D / "envoy-stats_constructed_mtls_and_outlier.txt").read_text())
    assert "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_cx_length_ms" not in stats
    assert stat_sum(stats, "no_filter_chain_match", prefix="listener.") == 12
    assert stat_sum(stats, "ssl.fail_verify_no_cert", prefix="listener.") == 4
    assert stat_sum(stats, "ssl.fail_verify_san") == 0
    assert stat_sum(stats, "ssl.fail_verify_error", prefix="cluster.") == 2
    assert stat_sum(stats, "ssl.connection_error") == 7
    assert stat_sum(stats, "upstream_cx_connect_fail") == 8
    assert stat_sum(stats, "upstream_rq_pending_overflow") == 3
    assert stat_sum(stats, "outlier_detection.ejections_active") == 1
    assert stat_sum(stats, "upstream_cx_connect_fail", prefix="cluster.outbound|8000|") == 1


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_cluster_fixtures_parse(path: Path) -> None:
    assert parse_envoy_clusters(path.read_text())


def test_clusters_text_health_flags() -> None:
    hosts = parse_envoy_clusters((D / "envoy-admin-clusters_constructed_outlier_ejected.txt").read_text())
    by = {h.host: h for h in hosts}
    assert by["10.1.2.3:9080"].health_flags == ["failed_outlier_check"] and by["10.1.2.3:9080"].outlier_failed
    assert by["10.1.2.3:9080"].cx_connect_fail == 5 and by["10.1.2.3:9080"].rq_error == 5
    assert by["10.1.2.4:9080"].healthy and by["10.1.2.4:9080"].cx_active == 2
    assert by["10.1.2.5:9080"].health_flags == ["failed_eds_health"] and not by["10.1.2.5:9080"].healthy


def test_clusters_real_timestamped_text() -> None:
    (h,) = parse_envoy_clusters((D / "envoy-admin-clusters_istio-37122_unhealthy_eds_1.14.txt").read_text())
    assert (h.cluster, h.host, h.cx_active, h.cx_connect_fail) == (
        "outbound|80||echo.default.svc.cluster.local", "10.244.0.16:80", 0, 1)


def test_clusters_json_forms() -> None:
    admin = parse_envoy_clusters((D / "envoy-admin-clusters-json_constructed_outlier_ejected.json").read_text())
    assert [h.health_flags for h in admin] == [["failed_outlier_check"], ["failed_eds_health"]]
    assert admin[0].cx_active == 0 and admin[0].cx_connect_fail == 5 and admin[1].cx_active == 1
    real = parse_envoy_clusters((D / "liucw2012_istioctl_pc_endpoint_eds.json").read_text())
    assert len(real) == 22 and all(h.healthy for h in real)
    assert any(h.cluster == "outbound|9080||reviews.default.svc.cluster.local" and h.host == "10.0.15.30:9080"
               for h in real)


def test_endpoint_table() -> None:
    rows = parse_envoy_clusters((D / "envoy-8736_endpoint_outlier_check_1.3.txt").read_text())
    assert len(rows) == 10 and all(r.healthy for r in rows)
    assert rows[0].cluster == "outbound|53||coredns.kube-system.svc.cluster.local"
    bad = parse_envoy_clusters(
        "ENDPOINT         STATUS        OUTLIER CHECK     CLUSTER\n"
        "10.1.2.3:9080    HEALTHY       FAILED            outbound|9080||reviews.default.svc.cluster.local\n"
        "10.1.2.4:9080    UNHEALTHY     OK                outbound|9080||reviews.default.svc.cluster.local\n")
    assert [b.health_flags for b in bad] == [["failed_outlier_check"], ["failed_eds_health"]]
    with pytest.raises(ParseError):
        parse_envoy_clusters("garbage")
