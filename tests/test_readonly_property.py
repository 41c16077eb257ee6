"""Read-only as a property: every argv the tool can build passes ``safety.check_read_only``.

The enumeration starts from what the checks declare (the registry's ``needs``/``optional``/
``peer_needs``, plus every ``Need`` so a Need no check uses yet is covered too) and builds each
one the way the gatherer does: every istioctl version branch, with and without the RBAC
fallback namespace, with every connection flag, and the per-type config dump fallback. A new
Need or a new fallback that builds a mutating argv makes this file fail (the negative test
below proves the enumeration really reaches ``build_call``).
"""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from istio_doctor.engine.registry import load_builtin_checks
from istio_doctor.evidence import commands
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.runner import CommandRefused, CommandResult, Runner
from istio_doctor.evidence.safety import check_read_only
from istio_doctor.evidence.target import Connection

MINORS = (None, 5, 10, 20, 26, 27, 29, 30, 31, 40)
CONNS = (
    Connection(),
    Connection(context="prod-eu", kubeconfig="/home/sre/.kube/config", istio_namespace="istio-system"),
    # a context named like a verb must stay the value of --context, never become the verb
    Connection(context="delete", kubeconfig="/tmp/k", istio_namespace="mesh-cp"),
)


def declared_needs() -> set[Need]:
    reg = load_builtin_checks()
    out: set[Need] = set()
    for spec in reg.checks.values():
        out.update(spec.needs, spec.optional, spec.peer_needs)
    return out


def enumerate_argvs(conn: Connection, namespace: str = "bookinfo", name: str = "reviews-v2-5b667bcbf8-x7k2p") -> list[tuple[str, ...]]:
    """Every argv (primary and fallbacks) the gatherer could build for these names."""
    out: list[tuple[str, ...]] = []
    for need in sorted(declared_needs() | set(Need), key=lambda n: n.value):
        for minor in MINORS:
            for fallback_ns in (None, namespace):
                for since, tail in (("1h", 2000), ("90s", 1)):
                    call = commands.build_call(need, conn, namespace=namespace, name=name, since=since, tail=tail,
                                               istioctl_minor=minor, fallback_namespace=fallback_ns)
                    out.append(call.argv)
                    out.extend(call.fallbacks)
    out.extend(commands.config_dump_per_type_calls(conn, namespace, name).values())
    return list(dict.fromkeys(out))


def assert_all_read_only(argvs: list[tuple[str, ...]]) -> None:
    for argv in argvs:
        check_read_only(list(argv))


def test_the_registry_declares_evidence() -> None:
    needs = declared_needs()
    # the enumeration is only as good as what it starts from: the checks must be loaded
    assert len(load_builtin_checks().checks) > 20 and len(needs) > 10


@pytest.mark.parametrize("conn", CONNS, ids=["no-flags", "context+kubeconfig", "verb-like-context+istio-ns"])
def test_every_buildable_argv_is_read_only(conn: Connection) -> None:
    argvs = enumerate_argvs(conn)
    assert len(argvs) > 40
    assert_all_read_only(argvs)
    assert {a[0] for a in argvs} == {"kubectl", "istioctl"}


def test_every_argv_listed_by_commands_is_read_only() -> None:
    listed = commands.every_argv()
    assert_all_read_only(listed)
    # every_argv must not lag behind what build_call can produce for the same names
    built = set(enumerate_argvs(Connection(context="ctx", kubeconfig="/tmp/kubeconfig"), "default",
                                "productpage-v1-6b746f74dc-9stvs"))
    missing = {a for a in built if "--since=90s" not in a and "--tail=1" not in a} - set(listed)
    # every_argv samples minors None/27/30 only; the other minors build the same argv
    assert not missing, sorted(shlex.join(a) for a in missing)[:5]


_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
_name = st.builds(lambda parts: ".".join(parts), st.lists(_label, min_size=1, max_size=3))
_context = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\n\r"), min_size=1, max_size=30).filter(
    lambda s: not s.startswith("-"))


@settings(max_examples=60, deadline=None)
@given(namespace=_label, name=_name, context=_context, istio_ns=_label)
def test_any_valid_names_and_any_context_stay_read_only(namespace: str, name: str, context: str, istio_ns: str) -> None:
    conn = Connection(context=context, kubeconfig="/tmp/k", istio_namespace=istio_ns)
    for need in Need:
        call = commands.build_call(need, conn, namespace=namespace, name=name, istioctl_minor=30, fallback_namespace=namespace)
        for argv in (call.argv, *call.fallbacks):
            check_read_only(list(argv))
            # the user's strings are whole argv elements, never split or merged
            assert context in argv


def test_a_mutating_need_would_be_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = commands.build_call

    def sneaky(need: Need, conn: Connection, **kw: object) -> commands.Call:
        call = real(need, conn, **kw)  # type: ignore[arg-type]
        if need is Need.PODS:
            return commands.Call(call.argv, (("kubectl", "delete", "pods", "--all", "-n", "bookinfo"),))
        return call

    monkeypatch.setattr(commands, "build_call", sneaky)
    with pytest.raises(CommandRefused, match="delete"):
        assert_all_read_only(enumerate_argvs(Connection()))


async def test_the_argvs_a_real_session_issues_are_read_only() -> None:
    """The gatherer may build argv in ways the enumeration does not foresee (peers, fallbacks
    chosen at run time): check what a whole diagnosis actually asked for."""
    from istio_doctor.evidence.target import Target
    from istio_doctor.run import run_diagnosis
    from tests.scenariokit.bookinfo import bookinfo_world
    from tests.scenariokit.runner import WorldRunner

    issued: list[list[str]] = []

    class Checked(Runner):
        def __init__(self, inner: Runner) -> None:
            self.inner = inner

        async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
            issued.append(list(argv))
            return await self.inner.run(argv, timeout_s=timeout_s)

    w = bookinfo_world("1.28.1")  # proxy-status --verbose and its fallback
    pod = next(p.name for p in w.pods if p.workload.name == "reviews-v2")
    conn = Connection(context="prod", kubeconfig="/tmp/k")
    await run_diagnosis(Target.parse(f"pod/{pod}", "default"), Checked(WorldRunner(w)), conn)
    assert len(issued) > 20
    assert_all_read_only([tuple(a) for a in issued])


MUTATING = [
    "kubectl delete pod p -n default",
    "kubectl apply -f x.yaml",
    "kubectl create namespace x",
    "kubectl patch deploy d -p {}",
    "kubectl edit deploy d",
    "kubectl label ns default istio-injection=enabled",
    "kubectl annotate pod p a=b",
    "kubectl scale deploy d --replicas=0",
    "kubectl rollout restart deploy/d",
    "kubectl set image deploy/d c=i",
    "kubectl replace -f x.yaml",
    "kubectl drain node1",
    "kubectl cordon node1",
    "kubectl taint nodes n k=v:NoSchedule",
    "kubectl cp p:/etc/passwd /tmp/x",
    "kubectl port-forward p 8080",
    "kubectl proxy",
    "kubectl debug p -it --image=busybox",
    "kubectl run x --image=busybox",
    "kubectl expose deploy d",
    "kubectl autoscale deploy d --max=3",
    "kubectl config use-context other",
    "kubectl config set-context x",
    "kubectl auth reconcile -f x.yaml",
    "kubectl get --raw /api/v1/namespaces/default/pods/p:15000/proxy/quitquitquit",
    "kubectl --foo get delete pod p",
    "kubectl -- delete pod p",
    "kubectl get pods -- delete",
    "kubectl exec p -n default -- rm -rf /",
    "kubectl exec p -n default -c app -- netstat -tln",
    "kubectl exec -it p -n default -c istio-proxy -- netstat -tln",
    "kubectl exec p -n default -c istio-proxy -- pilot-agent request POST quitquitquit",
    "kubectl exec p -n default -c istio-proxy -- curl -X POST localhost:15000/logging?level=debug",
    "istioctl install -y",
    "istioctl uninstall --purge -y",
    "istioctl upgrade",
    "istioctl tag set default --revision canary",
    "istioctl tag remove default",
    "istioctl kube-inject -f x.yaml",
    "istioctl proxy-config log p --level debug",
    "istioctl pc log p -r",
    "istioctl dashboard envoy p",
    "istioctl admin log --level debug",
    "istioctl x waypoint apply -n default",
    "istioctl x authz check p",
    "istioctl bug-report",
    "istioctl analyze --output-directory /tmp",
    "/usr/local/bin/kubectl get pods",
    "sh -c kubectl\\ get\\ pods",
    "helm uninstall istiod",
]


@pytest.mark.parametrize("command", MUTATING)
def test_mutating_or_unreviewed_calls_are_refused(command: str) -> None:
    with pytest.raises(CommandRefused):
        check_read_only(shlex.split(command))


@pytest.mark.parametrize("argv", [
    "kubectl get pods",  # a shell string, not a list
    ["kubectl", "get", "pods\n", "-o", "json"],
    ["kubectl", "get", "pods\0delete"],
    [],
    ["kubectl", "get", 3],
])
def test_malformed_argv_is_refused(argv: object) -> None:
    with pytest.raises(CommandRefused):
        check_read_only(argv)  # type: ignore[arg-type]
