"""The gatherer: concurrency, one call per argv, fallbacks, failure classes, no doomed calls."""

from __future__ import annotations

import asyncio
import json

from istio_doctor.evidence.bundle import EvidenceKey, FailureKind, Need
from istio_doctor.evidence.commands import build_call
from istio_doctor.evidence.gather import Gatherer, classify_failure
from istio_doctor.evidence.runner import BinaryNotFound, CommandResult, Runner
from istio_doctor.evidence.target import Connection

CONN = Connection()


def _pod(name: str, sidecar: bool) -> dict:
    containers = [{"name": "app", "image": "docker.io/istio/examples-bookinfo-productpage-v1:1.20.2"}]
    if sidecar:
        containers.append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.3"})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": {"app": "productpage"}},
            "spec": {"containers": containers}, "status": {"phase": "Running", "podIP": "10.244.0.12"}}


class ScriptedRunner(Runner):
    """Answers from a dict keyed by argv; counts calls so tests can prove deduplication."""

    def __init__(self, answers: dict[tuple[str, ...], CommandResult | Exception]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        self.calls.append(tuple(argv))
        await asyncio.sleep(0)
        a = self.answers.get(tuple(argv))
        if a is None:
            return CommandResult(argv=tuple(argv), exit_code=1, stdout="", stderr="error: not scripted", duration_s=0.0)
        if isinstance(a, Exception):
            raise a
        return a


def ok(argv: tuple[str, ...], out: str) -> CommandResult:
    return CommandResult(argv=argv, exit_code=0, stdout=out, duration_s=0.01)


def err(argv: tuple[str, ...], stderr: str, code: int = 1) -> CommandResult:
    return CommandResult(argv=argv, exit_code=code, stdout="", stderr=stderr, duration_s=0.01)


def argv(need: Need, **kw: object) -> tuple[str, ...]:
    return build_call(need, CONN, **kw).argv  # type: ignore[arg-type]


def test_proxy_evidence_is_not_requested_for_a_pod_without_sidecar() -> None:
    pa = argv(Need.POD, namespace="default", name="legacy-1")
    r = ScriptedRunner({pa: ok(pa, json.dumps(_pod("legacy-1", sidecar=False)))})
    g = Gatherer(r, CONN)
    ev = asyncio.run(g.gather([EvidenceKey(need=Need.CONFIG_DUMP, namespace="default", name="legacy-1"),
                               EvidenceKey(need=Need.PROXY_LOGS, namespace="default", name="legacy-1")]))
    assert r.calls == [pa]  # only the pod: no doomed istioctl/kubectl logs calls
    item = ev.item(Need.CONFIG_DUMP, "default", "legacy-1")
    assert item is not None and item.failure is not None and item.failure.kind is FailureKind.NOT_APPLICABLE


def test_same_argv_runs_once_and_forbidden_all_namespaces_falls_back() -> None:
    all_ns = argv(Need.SERVICES, fallback_namespace="default")
    fb = build_call(Need.SERVICES, CONN, fallback_namespace="default").fallbacks[0]
    svc_list = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reviews", "namespace": "default"},
         "spec": {"selector": {"app": "reviews"}, "ports": [{"name": "http", "port": 9080}]}}]})
    r = ScriptedRunner({
        all_ns: err(all_ns, 'Error from server (Forbidden): services is forbidden: User "oncall" cannot list resource "services" in API group "" at the cluster scope'),
        fb: ok(fb, svc_list),
    })
    g = Gatherer(r, CONN)
    ev = asyncio.run(g.gather([EvidenceKey(need=Need.SERVICES), EvidenceKey(need=Need.SERVICES)], fallback_namespace="default"))
    assert r.calls == [all_ns, fb]
    assert [s.metadata.name for s in ev.get(Need.SERVICES)] == ["reviews"]


def test_missing_crd_is_an_empty_list_and_missing_binary_is_a_failure() -> None:
    routes = argv(Need.HTTP_ROUTES)
    dump = argv(Need.ANALYZE, namespace="default")
    r = ScriptedRunner({
        routes: err(routes, 'error: the server doesn\'t have a resource type "httproutes"'),
        dump: BinaryNotFound(list(dump), "istioctl", hint="Install it."),
    })
    ev = asyncio.run(Gatherer(r, CONN).gather([EvidenceKey(need=Need.HTTP_ROUTES), EvidenceKey(need=Need.ANALYZE, namespace="default")]))
    assert ev.get(Need.HTTP_ROUTES) == []
    item = ev.item(Need.ANALYZE, "default")
    assert item is not None and item.failure is not None and item.failure.kind is FailureKind.MISSING_BINARY
    assert "istioctl" in item.failure.reason


def test_unreadable_output_is_a_parse_failure_naming_the_command() -> None:
    pa = argv(Need.PODS, namespace="default")
    r = ScriptedRunner({pa: ok(pa, '{"apiVersion": "v1", "items": [')})
    ev = asyncio.run(Gatherer(r, CONN).gather([EvidenceKey(need=Need.PODS, namespace="default")]))
    item = ev.item(Need.PODS, "default")
    assert item is not None and item.failure is not None
    assert item.failure.kind is FailureKind.PARSE_ERROR and "kubectl get pods" in item.failure.reason


def test_proxy_status_flags_follow_the_istioctl_version() -> None:
    va = argv(Need.ISTIOCTL_VERSION)
    ps = build_call(Need.PROXY_STATUS, CONN, istioctl_minor=30).argv
    version = json.dumps({"clientVersion": {"version": "1.30.1"}})
    table = "NAME     CLUSTER     ISTIOD     VERSION     SUBSCRIBED TYPES\n"
    r = ScriptedRunner({va: ok(va, version), ps: ok(ps, table)})
    asyncio.run(Gatherer(r, CONN).gather([EvidenceKey(need=Need.PROXY_STATUS)]))
    assert ps in r.calls and r.calls.index(va) < r.calls.index(ps)


def test_classify_failure_reads_kubectl_and_istioctl_stderr() -> None:
    assert classify_failure('Error from server (Forbidden): pods "x" is forbidden', 1) is FailureKind.FORBIDDEN
    assert classify_failure("error: You must be logged in to the server (Unauthorized)", 1) is FailureKind.UNAUTHORIZED
    assert classify_failure("The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?", 1) is FailureKind.UNREACHABLE
    assert classify_failure("Error: unknown flag: --verbose", 1) is FailureKind.UNSUPPORTED
    assert classify_failure('Error from server (NotFound): pods "x" not found', 1) is FailureKind.NOT_FOUND
    assert classify_failure("error: container istio-proxy is not valid for pod legacy-1", 1) is FailureKind.NOT_APPLICABLE


# -- issue #12: kubeconfig errors, klog noise, root failures -----------------------------------------

# kubectl v1.35 with no kubeconfig at all: five klog lines from discovery, then its own sentence
NO_KUBECONFIG = (
    'E1203 13:58:00.277409   14364 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: '
    'Get \\"http://localhost:8080/api?timeout=32s\\": dial tcp 127.0.0.1:8080: connect: connection refused"\n' * 5
    + "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n"
)


def test_kubeconfig_errors_have_their_own_kind() -> None:
    # real kubectl v1.35 messages (tests/test_first_five_minutes.py captures them live)
    for stderr in ("Error in configuration: context was not found for specified context: nope",
                   "error: cannot locate context nope", 'error: context "nope" does not exist',
                   'error: error loading config file "/x": yaml: line 1: did not find expected node content',
                   "error: current-context must exist in order to minify"):
        assert classify_failure(stderr, 1) is FailureKind.CONFIG, stderr


def test_klog_headers_are_stripped_and_kubectls_own_sentence_kept() -> None:
    from istio_doctor.evidence.gather import clean_stderr, failure_from_result

    assert clean_stderr(NO_KUBECONFIG) == "The connection to the server localhost:8080 was refused - did you specify the right host or port?"
    only_klog = NO_KUBECONFIG.splitlines()[0]
    assert clean_stderr(only_klog) == ('couldn\'t get current server API group list: Get "http://localhost:8080/api?timeout=32s": '
                                       "dial tcp 127.0.0.1:8080: connect: connection refused")
    res = CommandResult(argv=("kubectl", "get", "pods"), exit_code=1, stdout="", stderr=NO_KUBECONFIG, duration_s=0.1)
    f = failure_from_result(res)
    assert f.kind is FailureKind.UNREACHABLE and "memcache.go" not in f.reason and "E1203" not in f.reason


def test_failures_with_one_root_are_one_root() -> None:
    from istio_doctor.evidence.gather import failure_from_error, failure_from_result, root_failure

    def forbidden(argv: tuple[str, ...], resource: str, ns: str) -> FailureKind:
        return failure_from_result(CommandResult(argv=argv, exit_code=1, stdout="", duration_s=0.0, stderr=(
            f'Error from server (Forbidden): {resource} is forbidden: User "dev" cannot list resource "{resource}" '
            f'in API group "" in the namespace "{ns}"\n')))

    a = root_failure(forbidden(("kubectl", "get", "events", "-n", "a"), "events", "a"))
    b = root_failure(forbidden(("kubectl", "get", "events", "-n", "a", "--context", "x"), "events", "a"))
    c = root_failure(forbidden(("kubectl", "get", "pods", "-n", "a"), "pods", "a"))
    assert a.key == b.key != c.key
    assert a.cause == 'RBAC: user "dev" may not list events in namespace a'
    miss = [root_failure(failure_from_error(BinaryNotFound([b, "x"], b, "Install it"))) for b in ("istioctl", "kubectl")]
    assert miss[0].key == "missing:istioctl" and miss[1].key == "missing:kubectl"
    unreachable = root_failure(failure_from_result(CommandResult(argv=("kubectl", "get", "pods"), exit_code=1, stdout="",
                                                                 stderr=NO_KUBECONFIG, duration_s=0.0)))
    # the most basic first: no kubectl, then the cluster, then istioctl, then RBAC
    order = sorted([a, miss[0], unreachable, miss[1]], key=lambda r: r.rank)
    assert [r.key for r in order] == ["missing:kubectl", "unreachable", "missing:istioctl", a.key]
