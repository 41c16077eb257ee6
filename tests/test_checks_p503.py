"""Unit tests of the P503-* checks.

Evidence comes from the scenario kit: a world's kubectl/istioctl/Envoy outputs rendered in
their real formats and parsed by the project's own parsers (the gatherer), so each check reads
exactly what it reads in production. Causes the kit cannot express yet (terminating pods, a
crashed first run, all hosts ejected) use small inline outputs in the real formats.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from istio_doctor.engine.catalogue import load_catalogue
from istio_doctor.engine.context import CheckContext, RelatedPod
from istio_doctor.engine.plan import control_plane_version, related_pods
from istio_doctor.engine.model import Outcome
from istio_doctor.engine.registry import REGISTRY, load_builtin_checks
from istio_doctor.engine.walker import make_finding, run_check
from istio_doctor.evidence.accesslog import parse_proxy_log
from istio_doctor.evidence.bundle import Evidence, EvidenceFailure, EvidenceKey, FailureKind, Item, Need, Scope
from istio_doctor.evidence.envoystats import parse_envoy_clusters
from istio_doctor.evidence.kube import Pod, parse_kube_list, parse_kube_object
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.run import run_diagnosis
from tests.scenariokit.runner import WorldRunner
from tests.scenarios import p503 as sc

load_builtin_checks()
P503 = sorted(c for c in REGISTRY.checks if c.startswith("P503-"))
_CACHE: dict[str, tuple[Evidence, CheckContext]] = {}


def gathered(name: str) -> tuple[Evidence, CheckContext]:
    """Evidence of a p503 scenario world, and the context the walker gives the target pod."""
    if name not in _CACHE:
        s = next(x for x in sc.SCENARIOS if x.name == name)
        tname, _, ns = s.target.partition(" -n ")
        target = Target.parse(tname, ns)
        res = asyncio.run(run_diagnosis(target, WorldRunner(s.world), Connection(), symptom="503"))
        ev = res.evidence
        pod = next(p.metadata.name for p in ev.get(Need.PODS, ns) if p.owner_workload and p.owner_workload.name == target.name)
        rel, _ = related_pods(ev, ns, pod)
        ctx = CheckContext(ev=ev, target=target, conn=Connection(), namespace=ns, pod_name=pod, related=rel,
                           istio_version=control_plane_version(ev))
        _CACHE[name] = (ev, ctx)
    return _CACHE[name]


def outcome(check_id: str, ctx: CheckContext) -> Any:
    result, _ = run_check(REGISTRY, check_id, {}, ctx)
    return result


FAILING = [
    ("localhost-bind-server", "P503-LOCALHOST-BIND"), ("localhost-bind-client", "P503-LOCALHOST-BIND"),
    ("localhost-bind-client", "P503-RETRIES-EXHAUSTED"), ("targetport-wrong", "P503-TARGETPORT"),
    ("protocol-mismatch", "P503-PROTOCOL-MISMATCH"), ("server-first-sniffed", "P503-SERVER-FIRST"),
    ("multi-service-protocol", "P503-MULTI-SVC-PROTOCOL"), ("no-service", "P503-NO-SERVICE"),
    ("no-endpoints-not-ready", "P503-NO-ENDPOINTS"), ("no-endpoints-selector-typo", "P503-NO-ENDPOINTS"),
    ("probe-rewrite-strict", "P503-PROBE-REWRITE"), ("subset-no-pods", "P503-SUBSET-NO-PODS"),
    ("circuit-breaker", "P503-CIRCUIT-BREAKER"), ("keepalive-uc", "P503-KEEPALIVE-UC"), ("route-timeout", "P503-TIMEOUT"),
    ("fault-injection", "P503-FAULT-CONFIG"), ("uid-1337", "P503-UID-1337"), ("registry-only", "P503-REGISTRY-ONLY"),
    ("headless-pod-ip", "P503-HEADLESS-PODIP"), ("proxy-not-ready", "P503-PROXY-NOT-READY"),
]


@pytest.mark.parametrize(("scenario", "check_id"), FAILING)
def test_check_fails_on_its_cause_with_verbatim_evidence_and_a_fix(scenario: str, check_id: str) -> None:
    _, ctx = gathered(scenario)
    r = outcome(check_id, ctx)
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.evidence and all(e.excerpt and e.source for e in r.evidence), r.evidence
    assert r.fix is not None
    # the catalogue words it from the check's arguments (a template the arguments cannot fill raises)
    f = make_finding(load_catalogue()[check_id], r, playbook="p503", node=check_id, target=None)
    assert f.summary and f.fix.summary


@pytest.mark.parametrize("scenario", ["healthy-client", "healthy-server", "app-answers-503", "mysql-3306-auto-tcp"])
@pytest.mark.parametrize("check_id", P503)
def test_healthy_and_look_alike_worlds_never_fail(scenario: str, check_id: str) -> None:
    _, ctx = gathered(scenario)
    r = outcome(check_id, ctx)
    assert r.outcome in (Outcome.PASS, Outcome.NOT_APPLICABLE), f"{check_id}: {r.summary}"


def test_look_alike_checks_pass_with_the_reason() -> None:
    _, ctx = gathered("app-answers-503")
    r = outcome("P503-RETRIES-EXHAUSTED", ctx)
    assert r.outcome is Outcome.PASS and "application answered" in r.summary
    _, ctx = gathered("headless-pod-ip")
    assert outcome("P503-REGISTRY-ONLY", ctx).outcome is Outcome.PASS
    _, ctx = gathered("fault-injection")
    for other in ("P503-NO-ENDPOINTS", "P503-RETRIES-EXHAUSTED", "P503-TIMEOUT", "P503-KEEPALIVE-UC"):
        assert outcome(other, ctx).outcome is not Outcome.FAIL, other


def test_localhost_bind_is_not_applicable_before_istio_1_10() -> None:
    _, ctx = gathered("localhost-bind-istio-1-9")
    r = outcome("P503-LOCALHOST-BIND", ctx)
    assert r.outcome is Outcome.NOT_APPLICABLE and "1.10" in r.summary


def test_not_applicable_premises() -> None:
    _, ctx = gathered("healthy-client")
    assert outcome("P503-REGISTRY-ONLY", ctx).outcome is Outcome.NOT_APPLICABLE  # ALLOW_ANY
    assert outcome("P503-HEADLESS-PODIP", ctx).outcome is Outcome.NOT_APPLICABLE  # no headless Service
    _, ctx = gathered("fake-sidecar-names")
    for cid in ("P503-NO-SERVICE", "P503-STARTUP-RACE"):
        assert outcome(cid, ctx).outcome is Outcome.NOT_APPLICABLE, cid


def _without(ev: Evidence, need: Need, ctx: CheckContext) -> Evidence:
    out = Evidence()
    for it in ev.items():
        out.put(it)
    key = Evidence.key(need, ctx.namespace if need.scope is not Scope.CLUSTER else None,
                       ctx.pod_name if need.scope is Scope.POD else None)
    out.put(Item(key=key, failure=EvidenceFailure(kind=FailureKind.FORBIDDEN, reason=f"{need.value} is forbidden")))
    if need is Need.POD:  # the namespace pod list holds the same object: withhold it too
        out.put(Item(key=Evidence.key(Need.PODS, ctx.namespace), failure=EvidenceFailure(kind=FailureKind.FORBIDDEN, reason="pods is forbidden")))
    return out


@pytest.mark.parametrize("check_id", P503)
def test_missing_required_evidence_is_unknown_never_healthy(check_id: str) -> None:
    ev, ctx = gathered("localhost-bind-client")
    spec = REGISTRY.get(check_id)
    need = next(n for n in spec.needs if n is not Need.POD) if len(spec.needs) > 1 else spec.needs[0]
    ctx2 = CheckContext(ev=_without(ev, need, ctx), target=ctx.target, conn=ctx.conn, namespace=ctx.namespace,
                        pod_name=ctx.pod_name, related=ctx.related, istio_version=ctx.istio_version)
    r = outcome(check_id, ctx2)
    assert r.outcome is Outcome.UNKNOWN, f"{check_id} without {need}: {r.outcome} {r.summary}"
    assert "forbidden" in r.reason


# -- causes the kit cannot render yet: inline outputs in the real formats ------------------------

_LOG_TS = "2024-07-15T09:29:{:02d}.{:03d}Z"


def _line(i: int, code: int, flags: str, details: str, cluster: str, upstream: str, authority: str = "reviews:9080") -> str:
    return (f'[{_LOG_TS.format(i, i * 7)}] "GET /reviews/0 HTTP/1.1" {code} {flags} {details} - "-" 0 95 2 - "-" "curl/8.7.1" '
            f'"5c1f3b7e-{i:04d}-4c1e-9a6e-2f7d1c9e0b3a" "{authority}" "{upstream}" {cluster} 10.244.2.5:4{i:04d} '
            f'10.96.3.4:9080 10.244.2.5:5{i:04d} - default')


def _pod(name: str, ip: str, *, labels: dict[str, str], deleting: bool = False, statuses: list[dict[str, Any]] | None = None,
         start: str = "2024-07-15T09:00:00Z", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": labels, "annotations": annotations or {}}
    if deleting:
        meta["deletionTimestamp"] = "2024-07-15T09:29:00Z"
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": [{"name": labels["app"], "image": f"docker.io/istio/examples-bookinfo-{labels['app']}-v1:1.20.2",
                                 "ports": [{"containerPort": 9080, "protocol": "TCP"}]},
                                {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.3", "args": ["proxy", "sidecar"]}]},
        "status": {"phase": "Running", "podIP": ip, "startTime": start,
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": statuses or []},
    }


def _ctx_from(items: dict[EvidenceKey, Any], pod: str, related: list[RelatedPod] | None = None) -> CheckContext:
    ev = Evidence()
    for k, v in items.items():
        ev.put(Item(key=k, value=v, sources=[("kubectl", "get", k.need.value)]))
    return CheckContext(ev=ev, target=Target.parse(f"pod/{pod}", "default"), conn=Connection(), namespace="default",
                        pod_name=pod, related=related or [])


def _k(need: Need, name: str | None = None) -> EvidenceKey:
    return Evidence.key(need, None if need.scope is Scope.CLUSTER else "default", name)


def test_shutdown_race_fails_on_errors_to_a_terminating_pod_and_passes_otherwise() -> None:
    client = _pod("productpage-v1-6b746f74dc-9stvs", "10.244.2.5", labels={"app": "productpage"})
    old = _pod("reviews-v1-545db77b95-6kqdm", "10.244.1.7", labels={"app": "reviews"}, deleting=True)
    new = _pod("reviews-v1-545db77b95-zx8vq", "10.244.1.9", labels={"app": "reviews"})
    cl = "outbound|9080||reviews.default.svc.cluster.local"
    log = "\n".join([_line(1, 200, "-", "via_upstream", cl, "10.244.1.9:9080"),
                     _line(2, 503, "UC", "upstream_reset_before_response_started{connection_termination}", cl, "10.244.1.7:9080"),
                     _line(3, 503, "UC", "upstream_reset_before_response_started{connection_termination}", cl, "10.244.1.7:9080")])
    pods = parse_kube_list(json.dumps({"kind": "List", "items": [client, old, new]}), Pod)
    ctx = _ctx_from({_k(Need.POD, client["metadata"]["name"]): pods[0], _k(Need.PODS): pods,
                     _k(Need.PROXY_LOGS, client["metadata"]["name"]): parse_proxy_log(log)}, client["metadata"]["name"])
    r = outcome("P503-SHUTDOWN-RACE", ctx)
    assert r.outcome is Outcome.FAIL and "reviews-v1-545db77b95-6kqdm" in r.summary
    pods[1].metadata.deletion_timestamp = None
    assert outcome("P503-SHUTDOWN-RACE", ctx).outcome is Outcome.PASS


def _statuses(app_started: str, app_finished: str, restarts: int) -> list[dict[str, Any]]:
    return [
        {"name": "reviews", "ready": True, "restartCount": restarts, "image": "x", "state": {"running": {"startedAt": "2024-07-15T09:00:20Z"}},
         "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": app_started, "finishedAt": app_finished}}},
        {"name": "istio-proxy", "ready": True, "restartCount": 0, "image": "y", "state": {"running": {"startedAt": "2024-07-15T09:00:01Z"}},
         "lastState": {}},
    ]


def test_startup_race_fails_on_a_first_run_that_died_during_proxy_start() -> None:
    raw = _pod("reviews-v1-545db77b95-6kqdm", "10.244.1.7", labels={"app": "reviews"},
               statuses=_statuses("2024-07-15T09:00:01Z", "2024-07-15T09:00:03Z", 1))
    pod = parse_kube_object(json.dumps(raw), Pod)
    ctx = _ctx_from({_k(Need.POD, pod.metadata.name): pod}, pod.metadata.name)
    r = outcome("P503-STARTUP-RACE", ctx)
    assert r.outcome is Outcome.FAIL and "exit" in r.summary and r.fix is not None
    # holdApplicationUntilProxyStarts set: the app started after the proxy, so not this cause
    raw["metadata"]["annotations"]["proxy.istio.io/config"] = "holdApplicationUntilProxyStarts: true\n"
    pod2 = parse_kube_object(json.dumps(raw), Pod)
    ctx2 = _ctx_from({_k(Need.POD, pod.metadata.name): pod2}, pod.metadata.name)
    assert outcome("P503-STARTUP-RACE", ctx2).outcome is Outcome.PASS
    # a crash an hour after start is not a start-up race
    late = _pod("reviews-v1-545db77b95-6kqdm", "10.244.1.7", labels={"app": "reviews"},
                statuses=_statuses("2024-07-15T09:00:01Z", "2024-07-15T10:00:03Z", 1))
    ctx3 = _ctx_from({_k(Need.POD, pod.metadata.name): parse_kube_object(json.dumps(late), Pod)}, pod.metadata.name)
    assert outcome("P503-STARTUP-RACE", ctx3).outcome is Outcome.PASS


def test_outlier_ejected_reads_envoy_health_flags() -> None:
    client = parse_kube_object(json.dumps(_pod("productpage-v1-6b746f74dc-9stvs", "10.244.2.5", labels={"app": "productpage"})), Pod)
    cl = "outbound|9080||reviews.default.svc.cluster.local"
    all_out = "\n".join(f"{cl}::{h}::health_flags::/failed_outlier_check" for h in ("10.1.2.3:9080", "10.1.2.4:9080"))
    log = parse_proxy_log(_line(1, 503, "UH", "no_healthy_upstream", cl, "-"))
    ctx = _ctx_from({_k(Need.POD, client.metadata.name): client, _k(Need.ENVOY_CLUSTERS, client.metadata.name): parse_envoy_clusters(all_out),
                     _k(Need.PROXY_LOGS, client.metadata.name): log}, client.metadata.name)
    r = outcome("P503-OUTLIER-EJECTED", ctx)
    assert r.outcome is Outcome.FAIL and (r.args["ejected"], r.args["total"], r.args["all_out"]) == (2, 2, True) and r.observed
    # one host ejected, the other serving, no UH: the ejection is a consequence, not the cause
    partly = f"{cl}::10.1.2.3:9080::health_flags::/failed_outlier_check\n{cl}::10.1.2.4:9080::health_flags::healthy"
    ctx2 = _ctx_from({_k(Need.POD, client.metadata.name): client, _k(Need.ENVOY_CLUSTERS, client.metadata.name): parse_envoy_clusters(partly),
                      _k(Need.PROXY_LOGS, client.metadata.name): parse_proxy_log(_line(1, 200, "-", "via_upstream", cl, "10.1.2.4:9080"))},
                     client.metadata.name)
    assert outcome("P503-OUTLIER-EJECTED", ctx2).outcome is Outcome.PASS


def test_p503_checks_read_protocols_from_the_mesh_package() -> None:
    """One protocol selection (engine/mesh/protocol.py, tested against Istio's source in
    tests/test_mesh_protocol.py): the P503 reading is that rule at the control plane's version."""
    from istio_doctor.engine.checks.p503 import port_protocol
    from istio_doctor.engine.mesh.protocol import Protocol
    from istio_doctor.evidence.kube import ServicePort
    from istio_doctor.evidence.versions import Version

    _, ctx = gathered("localhost-bind-client")
    assert port_protocol(ctx, ServicePort(port=9080, name="http-web")) is Protocol.HTTP
    assert port_protocol(ctx, ServicePort(port=3306, name="db")) is Protocol.TCP  # well-known port
    assert port_protocol(ctx, ServicePort(port=80, name="web", appProtocol="kubernetes.io/h2c")) is Protocol.HTTP2
    old = CheckContext(ev=ctx.ev, target=ctx.target, conn=ctx.conn, namespace=ctx.namespace, istio_version=Version.parse("1.18.0"))
    assert port_protocol(old, ServicePort(port=80, name="web", appProtocol="kubernetes.io/h2c")) is Protocol.UNSUPPORTED
