"""The read-only allowlist: everything we build passes, everything that could change a cluster does not."""

from __future__ import annotations

import shlex

import pytest

from istio_doctor.evidence.commands import EXEC_ALLOWLIST, every_argv
from istio_doctor.evidence.runner import CommandRefused
from istio_doctor.evidence.safety import check_read_only
from istio_doctor.evidence.target import Connection

POD = "productpage-v1-6b746f74dc-9stvs"
EXEC = ["kubectl", "exec", POD, "-n", "default", "-c", "istio-proxy", "--"]

ALLOWED = [
    "kubectl get pods -n default -o json",
    "kubectl --context prod get pods",
    "kubectl --context=prod --kubeconfig /tmp/k -n default get pods -o json",
    "kubectl --server=https://127.0.0.1:9 get pods",
    "kubectl logs p -n default -c istio-proxy --since=1h --tail=2000",
    "kubectl version -o json",
    "kubectl auth can-i get pods -n default",
    "kubectl config view",
    "kubectl config get-contexts",
    "kubectl config current-context",
    "kubectl --kubeconfig /k config view",
    "kubectl api-resources",
    "kubectl api-versions",
    "kubectl cluster-info",
    "kubectl cluster-info dump -n default",
    "kubectl describe pod p -n default",
    "kubectl top pod -n default",
    "istioctl version -o json",
    "istioctl analyze -n default -o json",
    "istioctl proxy-config all p -n default -o json",
    "istioctl pc c p -n default",
    "istioctl proxy-config listeners p -n default",
    "istioctl proxy-config r p",
    "istioctl proxy-config ep p",
    "istioctl proxy-config secret p -o json",
    "istioctl proxy-config bootstrap p",
    "istioctl proxy-config ecds p",
    "istioctl proxy-config log p",
    "istioctl proxy-config rootca-compare p q",
    "istioctl --context prod proxy-config cluster p",
    "istioctl -i istio-system -c /k proxy-status",
    "istioctl ps",
    "istioctl proxy-status --verbose",
    "istioctl x describe pod p -n default",
    "istioctl x describe service s -n default",
    "istioctl experimental describe pod p",
    "istioctl x check-inject -n default",
    "istioctl x precheck",
    "istioctl tag list",
    "istioctl x envoy-stats p",
    *(shlex.join(EXEC + list(cmd)) for cmd in EXEC_ALLOWLIST.values()),
    "kubectl exec p -n default --container=istio-proxy --context ctx -- netstat -tln",
]

REFUSED = [
    # mutating kubectl verbs, with and without --dry-run
    "kubectl apply -f x.yaml",
    "kubectl apply -f x.yaml --dry-run=client",
    "kubectl delete pod p",
    "kubectl delete pod p --dry-run=server",
    "kubectl patch deploy d -p {}",
    "kubectl edit deploy d",
    "kubectl label ns default istio-injection=enabled",
    "kubectl annotate pod p a=b",
    "kubectl create ns x",
    "kubectl create ns x --dry-run=client -o yaml",
    "kubectl replace -f x.yaml",
    "kubectl scale deploy d --replicas=0",
    "kubectl rollout restart deploy d",
    "kubectl rollout status deploy d",
    "kubectl cordon n",
    "kubectl uncordon n",
    "kubectl drain n",
    "kubectl taint nodes n k=v:NoSchedule",
    "kubectl port-forward p 15000",
    "kubectl cp p:/etc/passwd /tmp/x",
    "kubectl attach p",
    "kubectl run x --image=busybox",
    "kubectl debug p --image=busybox",
    "kubectl proxy",
    "kubectl set image deploy/d c=i",
    "kubectl autoscale deploy d --max=3",
    "kubectl expose deploy d",
    "kubectl certificate approve c",
    "kubectl auth reconcile -f x.yaml",
    "kubectl config set-context x",
    "kubectl config use-context x",
    "kubectl config delete-context x",
    "kubectl config view --flatten --output-directory /tmp",
    "kubectl cluster-info dump --output-directory=/tmp/dump",
    "kubectl get --raw /api/v1/namespaces/default/pods/p:15000/proxy/quitquitquit",
    "kubectl some-plugin",
    "kubectl",
    "kubectl --context",
    # an unknown flag before the verb could be swallowing the real verb
    "kubectl --frob delete get pods",
    "kubectl --context x --frob delete pods",
    # exec: only istio-proxy, only the allowlisted commands, only exactly
    "kubectl exec p -n default -- netstat -tln",
    "kubectl exec p -n default -c app -- netstat -tln",
    "kubectl exec p -c istio-proxy -c app -- netstat -tln",
    "kubectl exec p -n default -c istio-proxy -- sh -c netstat",
    "kubectl exec p -n default -c istio-proxy -- netstat -tlnp",
    "kubectl exec p -n default -c istio-proxy -- netstat",
    "kubectl exec p -n default -c istio-proxy -- pilot-agent request POST quitquitquit",
    "kubectl exec p -n default -c istio-proxy -- curl -XPOST localhost:15000/logging?level=debug",
    "kubectl exec p -n default -c istio-proxy -- rm -rf /",
    "kubectl exec -it p -n default -c istio-proxy -- netstat -tln",
    "kubectl exec -i p -c istio-proxy -- netstat -tln",
    "kubectl exec p q -c istio-proxy -- netstat -tln",
    "kubectl exec p -c istio-proxy netstat -tln",
    "kubectl exec p -c istio-proxy",
    "kubectl get pods -- delete",
    # istioctl
    "istioctl install -y",
    "istioctl uninstall --purge",
    "istioctl upgrade",
    "istioctl kube-inject -f d.yaml",
    "istioctl tag set default --revision 1-22",
    "istioctl tag remove default",
    "istioctl tag generate default",
    "istioctl dashboard envoy p",
    "istioctl x authz check p",
    "istioctl x waypoint apply",
    "istioctl x internal-debug syncz",
    "istioctl proxy-config log p --level debug",
    "istioctl proxy-config log p --level=debug",
    "istioctl proxy-config log p -l debug",
    "istioctl pc log p --reset",
    "istioctl pc log p -r",
    "istioctl proxy-config frobnicate p",
    "istioctl proxy-config",
    "istioctl x describe deployment d",
    "istioctl x describe",
    "istioctl bug-report",
    "istioctl operator init",
    "istioctl manifest apply",
    "istioctl x revision list -- x",
    "istioctl --frob proxy-config all p",
    # not our binaries
    "/usr/bin/kubectl get pods",
    "./kubectl get pods",
    "sh -c ls",
    "helm list",
    "kubectl.exe get pods",
]


@pytest.mark.parametrize("cmd", ALLOWED)
def test_allowlisted_read_calls_pass(cmd: str) -> None:
    check_read_only(shlex.split(cmd))


@pytest.mark.parametrize("cmd", REFUSED)
def test_everything_else_is_refused(cmd: str) -> None:
    argv = shlex.split(cmd)
    with pytest.raises(CommandRefused) as exc:
        check_read_only(argv)
    assert exc.value.argv == tuple(argv)
    assert "refused" in str(exc.value)


@pytest.mark.parametrize(
    "conn",
    [None, Connection(), Connection(context="prod-eu", kubeconfig="/home/me/.kube/config", istio_namespace="istio-cp")],
    ids=["sample", "default", "custom"],
)
def test_every_argv_the_tool_builds_is_read_only(conn: Connection | None) -> None:
    argvs = every_argv(conn)
    assert argvs, "every_argv() returned nothing: this test would prove nothing"
    for argv in argvs:
        check_read_only(list(argv))


@pytest.mark.parametrize("bad", ["pod\nname", "pod\0", "a\rb"])
def test_line_breaks_and_nul_are_refused(bad: str) -> None:
    with pytest.raises(CommandRefused, match="NUL or line break"):
        check_read_only(["kubectl", "get", "pods", bad])


@pytest.mark.parametrize("argv", ["kubectl get pods", [], ("kubectl", 3, "pods")], ids=["shell-string", "empty", "non-str"])
def test_malformed_argv_is_refused(argv: object) -> None:
    with pytest.raises(CommandRefused):
        check_read_only(argv)  # type: ignore[arg-type]
