"""Ambient evidence from an ``istioctl bug-report`` archive, and ``ztunnel-config --bug-report``.

Where bug-report keeps ambient evidence (istio/istio@86c9f01 ``tools/bug-report/pkg``):
ztunnel pods are proxies with only their admin ``config_dump`` and ``istio-proxy.log``
(``common.go`` ztunnelDebugURLs, PR #43878); istio-cni logs are ``cni/<pod>/cni.log``
(``bugreport.go`` getCniLogs, PR #45712); Pods, DaemonSets, NetworkPolicies and ConfigMaps are in
``cluster/k8s-resources`` (``content.go`` GetK8sResources: ``all,jobs,ingresses,endpointslices,
configmaps,networkpolicies``), so ResourceQuotas are not. The ztunnel dump is a real capture
(``tests/fixtures/corpus/captured/configdump/kiali/ztunnel-config.json``); the ztunnel and
istio-cni Pod objects are constructed here from the Helm charts' labels and container names
(manifests/charts/{ztunnel,istio-cni}/templates/daemonset.yaml), since no real archive is public.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from istio_doctor.cli import main
from istio_doctor.evidence.bugreport.runner import BugReportRunner
from istio_doctor.evidence.errors import NotInArchive
from istio_doctor.evidence.kinds import BuildArgs, Need, ParseEnv
from istio_doctor.evidence.target import Connection
from tests.bugreportkit import FIX, ZTUNNEL, corpus_tree, write_archive

DUMP = FIX / "corpus" / "captured" / "configdump" / "kiali" / "ztunnel-config.json"
CNI_POD = "istio-cni-node-x7k2p"  # the corpus tree's cni/<pod>/cni.log
NODE = "ci-worker"  # the node of the captured dump's workloads


def _agent_pod(name: str, app: tuple[str, str], container: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "istio-system", "labels": {app[0]: app[1]}},
            "spec": {"nodeName": node, "containers": [{"name": container, "image": "docker.io/istio/x:1.24.0-distroless"}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": container, "ready": True, "restartCount": 0,
                                              "image": "x", "imageID": "", "state": {"running": {}}}]}}


def _ambient_tree() -> dict[str, bytes]:
    t = corpus_tree()
    doc = yaml.safe_load(t["cluster/k8s-resources"])
    doc["items"] += [
        _agent_pod(ZTUNNEL, ("app", "ztunnel"), "istio-proxy", NODE),
        _agent_pod("ztunnel-9zz8k", ("app", "ztunnel"), "istio-proxy", "ci-control-plane"),
        _agent_pod(CNI_POD, ("k8s-app", "istio-cni-node"), "install-cni", NODE),
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ztunnel", "namespace": "istio-system"},
         "spec": {"selector": {"matchLabels": {"app": "ztunnel"}}, "template": {"spec": {"containers": []}}},
         "status": {"desiredNumberScheduled": 2, "numberReady": 2}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny-all", "namespace": "default"},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio-cni-config", "namespace": "istio-system"},
         "data": {"AMBIENT_ENABLED": "true", "EXCLUDE_NAMESPACES": "kube-system"}},
    ]
    t["cluster/k8s-resources"] = yaml.safe_dump(doc, sort_keys=False).encode()
    return t


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_archive(_ambient_tree(), tmp_path_factory.mktemp("amb") / "bug-report.tar.gz")


@pytest.fixture(scope="module")
def runner(archive: Path) -> BugReportRunner:
    return BugReportRunner(archive)


def ask(runner: BugReportRunner, need: Need[Any], namespace: str | None = None, name: str | None = None) -> Any:
    call = need.build(Connection(), BuildArgs(namespace=namespace, name=name))
    res = asyncio.run(runner.run(list(call.argv)))
    assert res.exit_code == 0, res.stderr
    return need.parse(res.stdout, ParseEnv(command=" ".join(call.argv)))


def test_agent_logs_and_lists_from_the_archive(runner: BugReportRunner) -> None:
    zpods = ask(runner, Need.ZTUNNEL_PODS)
    assert sorted(p.name for p in zpods) == ["ztunnel-4tq2m", "ztunnel-9zz8k"]
    assert [p.name for p in ask(runner, Need.CNI_PODS)] == [CNI_POD]
    assert [d.name for d in ask(runner, Need.DAEMONSETS)] == ["ztunnel"]
    assert [n.name for n in ask(runner, Need.NETWORK_POLICIES)] == ["deny-all"]
    assert [c.name for c in ask(runner, Need.CNI_CONFIG)] == ["istio-cni-config"]
    assert ask(runner, Need.SECURITY_GROUP_POLICIES) == []  # cluster/crs holds none: a fact, not a gap
    dump = ask(runner, Need.ZTUNNEL_CONFIG, "istio-system", ZTUNNEL)
    assert dump.workloads and {w.node for w in dump.workloads} >= {NODE}
    zlog = ask(runner, Need.ZTUNNEL_LOGS, "istio-system", ZTUNNEL)
    assert zlog.lines and not zlog.unparsed
    cni = ask(runner, Need.CNI_LOGS, "istio-system", CNI_POD)
    assert cni.lines


def test_the_two_agent_logs_are_told_apart_by_their_argv(runner: BugReportRunner) -> None:
    """ztunnel's log is asked with kubectl's default container, istio-cni's with -c install-cni,
    a sidecar's with -c istio-proxy: the archive answers each from its own file."""
    for need in (Need.ZTUNNEL_LOGS, Need.CNI_LOGS, Need.PROXY_LOGS):
        call = need.build(Connection(), BuildArgs(namespace="istio-system", name="x"))
        assert runner.identify(call.argv).need is need


def test_missing_ambient_files_are_unknowns_naming_the_file(runner: BugReportRunner) -> None:
    def error(need: Need[Any], ns: str | None = None, pod: str | None = None) -> str:
        call = need.build(Connection(), BuildArgs(namespace=ns, name=pod))
        with pytest.raises(NotInArchive) as ei:
            asyncio.run(runner.run(list(call.argv)))
        return str(ei.value)

    assert "proxies/istio-system/ztunnel-9zz8k/config_dump" in error(Need.ZTUNNEL_CONFIG, "istio-system", "ztunnel-9zz8k")
    assert "cni/istio-cni-node-gone/cni.log" in error(Need.CNI_LOGS, "istio-system", "istio-cni-node-gone")
    assert "not ResourceQuotas" in error(Need.RESOURCE_QUOTAS)
    # ztunnel in kube-system (GKE before 1.26): bug-report never visits that namespace
    assert "never collects proxies in kube-system" in error(Need.ZTUNNEL_CONFIG, "kube-system", "ztunnel-abcde")


# -- istio-doctor ztunnel-config --bug-report -----------------------------------------------------


def _out(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> str:
    assert main(argv) == code
    return capsys.readouterr().out


@pytest.mark.parametrize("view", [["workloads"], ["services"], ["policies"], ["all", "--with-headers"],
                                  ["workloads", "--workload-namespace", "bookinfo", "-o", "json"]])
def test_zc_from_an_archive_equals_the_same_dump_read_with_file(view: list[str], archive: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    want = _out(capsys, ["zc", *view, "--file", str(DUMP)])
    assert _out(capsys, ["zc", *view, ZTUNNEL, "--bug-report", str(archive)]) == want
    # no pod named: a ready ztunnel of the control plane namespace, as live
    assert _out(capsys, ["zc", *view, "--bug-report", str(archive)]) == want


def test_zc_node_from_an_archive_finds_that_nodes_ztunnel(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    want = _out(capsys, ["zc", "certificates", "--file", str(DUMP)])
    assert _out(capsys, ["zc", "certificates", "--node", NODE, "--bug-report", str(archive)]) == want
    # the other node's ztunnel is listed, but its dump is not in the archive: one sentence, exit 3
    assert main(["zc", "certificates", "--node", "ci-control-plane", "--bug-report", str(archive)]) == 3
    err = capsys.readouterr().err
    assert "proxies/istio-system/ztunnel-9zz8k/config_dump" in err and len(err.strip().splitlines()) == 1
    assert main(["zc", "certificates", "--node", "nowhere", "--bug-report", str(archive)]) == 3
    assert "no ztunnel pod (label app=ztunnel) on node nowhere" in capsys.readouterr().err


def test_zc_bug_report_is_one_source(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zc", "workloads", "--file", str(DUMP), "--bug-report", str(archive)]) == 2
    assert "cannot be combined with --bug-report" in capsys.readouterr().err
    assert main(["zc", "workloads", "--bug-report", str(tmp_path / "nope.tar.gz")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
