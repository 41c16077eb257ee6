"""Evidence for the pod's timeline: the application's own log, pilot-agent's milestones, the
istio-cni agent, and the kinds whose argv depends on other evidence.

Lines are the real ones (tests/fixtures/lifecycle/SOURCES.md for the threads; pilot-agent's
messages as istio/istio's pkg/envoy/agent.go and pilot/cmd/pilot-agent/status/server.go print them).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from istio_doctor.evidence.accesslog import parse_proxy_log
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.commands import build_call
from istio_doctor.evidence.gather import Gatherer
from istio_doctor.evidence.kinds import NothingToGather
from istio_doctor.evidence.kube import Pod
from istio_doctor.evidence.ambient.cni_log import parse_cni_log
from istio_doctor.evidence.podlogs import connection_error, parse_container_log, parse_pod_logs, parse_rfc3339
from istio_doctor.evidence.runner import CommandResult, Runner
from istio_doctor.evidence.target import Connection

FIX = Path(__file__).parent / "fixtures" / "lifecycle"
CONN = Connection()


def read(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


# -- what applications say when the network fails ---------------------------------------------


@pytest.mark.parametrize("name, kind, target, loopback", [
    ("cf-for-k8s-189_app_panic_before_envoy.log", "refused", "100.65.158.99:5432", False),
    ("istio-23802_vault_env_init_container_cni.log", "refused", "172.24.120.198:8200", False),
    ("istio-36453_init_curl_dns_capture.txt", "dns", "www.httpbin.org", False),
    ("istio-27382_init_kubectl_refused.txt", "refused", "10.14.0.1:443", False),
    ("net-istio-561_loopback_refused_timestamps.log", "refused", "127.0.0.1:8080", True),
    ("home-ops-4138_node_ehostunreach.txt", "unreachable", "10.105.4.10:5432", False),
    ("istio-25493_java_k8s_api_startup.log", "refused", "10.152.183.1:443", False),
])
def test_real_network_errors_are_classified(name: str, kind: str, target: str, loopback: bool) -> None:
    errors = [e for e in (connection_error(ln) for ln in read(name).splitlines()) if e is not None]
    assert errors, name
    assert (errors[0].kind, errors[0].target, errors[0].loopback) == (kind, target, loopback)


def test_lines_that_are_not_network_errors_are_not() -> None:
    for line in ('{"component_type":"application","level":"info","msg":"Setting up Service Manager storage..."}',
                 "cp: can't stat '/config/app.yaml': No such file or directory",
                 "3.14159265358979323846264338327950288419716939937510"):
        assert connection_error(line) is None, line


def test_a_java_message_word_is_not_taken_for_a_host() -> None:
    # "java.net.ConnectException: Connection refused" names no host; the exception's first word is not one
    err = connection_error("java.net.ConnectException: Connection refused (Connection refused)")
    assert err is not None and (err.kind, err.target) == ("refused", "")
    err = connection_error("java.net.UnknownHostException: mysql-test.default")
    assert err is not None and (err.kind, err.target) == ("dns", "mysql-test.default")


def test_kubectl_timestamps_are_the_nodes_nanosecond_clock() -> None:
    text = read("net-istio-561_loopback_refused_timestamps.log")
    log = parse_container_log(text, "queue-proxy")
    assert log.unparsed == 0 and len(log.errors()) == 3
    assert log.lines[0].at == datetime(2021, 3, 19, 6, 56, 23, 357557, tzinfo=UTC)
    assert parse_rfc3339("2020-04-29 14:43:53.534") == datetime(2020, 4, 29, 14, 43, 53, 534000, tzinfo=UTC)


def test_all_containers_prefixed_with_a_waiting_container() -> None:
    """``--all-containers --prefix --timestamps --ignore-errors``: kubectl tags each line with its
    container and prints "error: ..." for a container that has not started (kubectl's
    sequentialConsumeRequest with IgnoreLogErrors)."""
    text = (f"[pod/web-1/vault-env] 2024-07-15T08:35:44.200000123Z {read('istio-23802_vault_env_init_container_cni.log').splitlines()[0]}\n"
            'error: container "web" in pod "web-1" is waiting to start: PodInitializing\n'
            "[pod/web-1/istio-validation] 2024-07-15T08:30:09.100000456Z 2024-07-15T08:30:09.100000Z\tinfo\tValidation passed\n")
    log = parse_pod_logs(text)
    assert log.containers == ["vault-env", "istio-validation"] and log.unparsed == 1
    assert [ln.container for ln in log.errors()] == ["vault-env"]
    assert log.errors()[0].at == datetime(2024, 7, 15, 8, 35, 44, 200000, tzinfo=UTC)


def test_cni_agent_json_line() -> None:
    """The agent's JSON logging (istio/istio#57332) read by the one istio-cni log parser, asked
    with --timestamps: kubectl's time orders it, the record's fields name the pod."""
    log = parse_cni_log("2025-08-13T09:11:37.074500001Z " + read("istio-57332_cni_agent_repairing_pod.jsonl"),
                        command="kubectl logs istio-cni-node-x -n istio-system -c install-cni --timestamps=true")
    assert log.lines[0].at == datetime(2025, 8, 13, 9, 11, 37, 74500, tzinfo=UTC)
    assert "pass/processing-order-data-00684-deployment-6b67d8686f-4h5ft" in log.lines[0].raw
    assert log.lines[0].scope == "cni-agent" and log.lines[0].pod_ref.endswith("6b67d8686f-4h5ft")


# -- pilot-agent's milestones -------------------------------------------------------------------


def test_pilot_agent_shutdown_milestones() -> None:
    """pkg/envoy/agent.go terminate() (istio/istio@1.22.0 <= 1.23 wording, @1.24.0 "for termination")."""
    text = "\n".join([
        "2024-07-15T09:29:56.000000Z\tinfo\tAgent draining Proxy",
        "2024-07-15T09:29:56.001000Z\tinfo\tGraceful termination period is 5s, starting...",
        "2024-07-15T09:30:01.001000Z\tinfo\tGraceful termination period complete, terminating remaining proxies.",
        "2024-07-15T09:30:01.002000Z\twarn\tAborted proxy instance",
        "2024-07-15T10:00:00.000000Z\tinfo\tAgent draining Proxy for termination",
        "2024-07-15T10:00:00.100000Z\tinfo\tThere are no more active connections. terminating proxy...",
    ])
    log = parse_proxy_log(text)
    assert [(e.kind, e.milestone) for e in log.events] == [
        ("drain", "drain_start"), ("drain", "drain_period"), ("drain", "drain_complete"), ("proxy_exit", None),
        ("drain", "drain_start"), ("proxy_exit", None)]
    assert len(log.events) + log.component_lines + log.unparsed + len(log.entries) == log.records


def test_ready_and_not_ready_are_told_apart() -> None:
    log = parse_proxy_log("2020-06-29T23:37:30.890178Z\tinfo\tEnvoy proxy is ready\n"
                          "2020-04-29T14:43:54.323650Z\tinfo\tEnvoy proxy is NOT ready: config not received from Pilot "
                          "(is Pilot running?): cds updates: 0 successful, 0 rejected; lds updates: 0 successful, 0 rejected\n")
    assert [e.kind for e in log.events] == ["proxy_ready", "not_ready_no_config"]


# -- kinds whose argv depends on other evidence -------------------------------------------------


def _pod(**status: Any) -> Pod:
    spec = {"nodeName": "node-a", "containers": [{"name": "app"}, {"name": "istio-proxy"}],
            "initContainers": [{"name": "istio-validation"}, {"name": "migrate"}]}
    return Pod.model_validate({"metadata": {"name": "web-1", "namespace": "shop"}, "spec": spec, "status": status})


def test_previous_logs_name_the_container_that_restarted() -> None:
    crashed = _pod(containerStatuses=[{"name": "app", "restartCount": 2, "lastState": {"terminated": {"exitCode": 1}}},
                                      {"name": "istio-proxy", "restartCount": 0}])
    call = build_call(Need.APP_PREVIOUS_LOGS, CONN, namespace="shop", name="web-1", inputs={"pod": crashed})
    assert call.argv == ("kubectl", "logs", "web-1", "-n", "shop", "-c", "app", "--previous", "--timestamps=true", "--tail=200")
    init = _pod(initContainerStatuses=[{"name": "migrate", "restartCount": 5, "lastState": {"terminated": {"exitCode": 1}}}])
    assert build_call(Need.APP_PREVIOUS_LOGS, CONN, namespace="shop", name="web-1", inputs={"pod": init}).argv[6] == "migrate"
    with pytest.raises(NothingToGather, match="no container of pod shop/web-1 has restarted"):
        build_call(Need.APP_PREVIOUS_LOGS, CONN, namespace="shop", name="web-1", inputs={"pod": _pod()})


def test_cni_agent_log_is_one_kind_for_timeline_and_ambient() -> None:
    """One gather of the istio-cni agent's log (``Need.CNI_LOGS``): the gatherer resolves the agent
    on the pod's node (node_agent), the argv asks kubectl's --timestamps (the timeline orders by
    them); a sidecar set up by istio-init (no istio-validation) is never touched by the agent."""
    assert Need.CNI_LOGS.node_agent == "cni" and Need.POD in Need.CNI_LOGS.requires
    call = build_call(Need.CNI_LOGS, CONN, namespace="kube-system", name="istio-cni-node-a", inputs={"pod": _pod()}, tail=2000)
    assert call.argv[:8] == ("kubectl", "logs", "istio-cni-node-a", "-n", "kube-system", "-c", "install-cni", "--timestamps=true")
    init = Pod.model_validate({"metadata": {"name": "web-1", "namespace": "shop"}, "spec": {
        "nodeName": "node-a", "containers": [{"name": "app"}, {"name": "istio-proxy"}], "initContainers": [{"name": "istio-init"}]}})
    with pytest.raises(NothingToGather, match="redirected by istio-init"):
        build_call(Need.CNI_LOGS, CONN, namespace="kube-system", name="istio-cni-node-a", inputs={"pod": init})
    ambient = Pod.model_validate({"metadata": {"name": "web-1", "namespace": "shop"}, "spec": {
        "nodeName": "node-a", "containers": [{"name": "app"}]}})
    assert build_call(Need.CNI_LOGS, CONN, namespace="kube-system", name="istio-cni-node-a", inputs={"pod": ambient}).argv[2] == "istio-cni-node-a"


def test_istio_validation_log_is_asked_for_directly() -> None:
    """istio-cni pods have no istio-init: asking for it first ended the chain as "not valid" (not applicable)."""
    call = build_call(Need.INIT_LOGS, CONN, namespace="shop", name="web-1", inputs={"pod": _pod()})
    assert call.argv[5:7] == ("-c", "istio-validation") and not call.fallbacks


class _Runner(Runner):
    def __init__(self, pod: str) -> None:
        self.pod, self.calls = pod, []

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        self.calls.append(tuple(argv))
        return CommandResult(argv=tuple(argv), exit_code=0, stdout=self.pod, duration_s=0.0)


def test_gatherer_records_nothing_to_gather_as_not_applicable() -> None:
    import json

    from istio_doctor.evidence.bundle import EvidenceKey, FailureKind

    runner = _Runner(json.dumps(_pod().model_dump(by_alias=True)))
    g = Gatherer(runner, CONN)
    asyncio.run(g.gather([EvidenceKey(need=Need.APP_PREVIOUS_LOGS, namespace="shop", name="web-1")]))
    item = g.evidence.item(Need.APP_PREVIOUS_LOGS, "shop", "web-1")
    assert item is not None and item.failure is not None and item.failure.kind is FailureKind.NOT_APPLICABLE
    assert [c[1] for c in runner.calls] == ["get"], "only the pod was asked for: no doomed kubectl logs --previous"


def test_a_real_sigterm_sequence() -> None:
    """istio/istio#19567: the order pilot-agent logs a shutdown in, read as milestones."""
    log = parse_proxy_log(read("istio-19567_pilot_agent_sigterm_drain.log"))
    got = [(e.kind, e.milestone) for e in log.events]
    assert got == [("drain", "drain_start"), ("drain", "drain_period"), ("not_ready", None), ("drain", "drain_complete"),
                   ("proxy_exit", None)]
    assert log.unparsed == 0
