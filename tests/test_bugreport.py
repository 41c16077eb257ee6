"""``istioctl bug-report`` archives as an evidence source (issue 14).

The archives are laid out by ``tests/bugreportkit.py`` from real corpus outputs, exactly as
istio/istio ``tools/bug-report/pkg`` writes them: with and without the ``bug-report/`` prefix,
the >= 1.30 split cluster files and the older single file, a ztunnel dump, a pod whose dump is
missing, a pod in a namespace bug-report never visits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from istio_doctor.evidence.bugreport import archive as archive_mod
from istio_doctor.evidence.bugreport.archive import ArchiveError, BugReportArchive, looks_like_bug_report
from istio_doctor.evidence.bugreport.convert import events_from_table
from istio_doctor.evidence.bugreport.layout import ABSENT, ANSWERS
from istio_doctor.evidence.bugreport.runner import BugReportRunner, archive_summary
from istio_doctor.evidence.errors import NotInArchive
from istio_doctor.evidence.kinds import BuildArgs, Need, ParseEnv, Scope
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.run import run_diagnosis
from tests.bugreportkit import FIX, HELLO, HELLO_NO_DUMP, SPIRE_POD, TAKEN_AT, ZTUNNEL, corpus_tree, write_archive

DUMP_MEMBER = f"proxies/default/{HELLO}/config_dump?include_eds"


@pytest.fixture(scope="module")
def tree() -> dict[str, bytes]:
    return corpus_tree()


@pytest.fixture(scope="module")
def tgz(tmp_path_factory: pytest.TempPathFactory, tree: dict[str, bytes]) -> Path:
    return write_archive(tree, tmp_path_factory.mktemp("br") / "bug-report.tar.gz")


@pytest.fixture(scope="module")
def runner(tgz: Path) -> BugReportRunner:
    return BugReportRunner(tgz)


def ask(runner: BugReportRunner, need: Need[Any], namespace: str | None = None, name: str | None = None,
        variant: int = 0) -> Any:
    """Run the argv the gatherer builds for ``need`` and parse the answer with the kind's parser."""
    call = need.build(runner.connection(Connection()), BuildArgs(namespace=namespace, name=name))
    argv = (call.argv, *call.fallbacks)[variant]
    res = asyncio.run(runner.run(list(argv)))
    assert res.exit_code == 0, res.stderr
    return need.parse(res.stdout, ParseEnv(command=res.command_line, now=runner.evidence_time))


# -- reading the archive ---------------------------------------------------------------------------


@pytest.mark.parametrize(("form", "prefix"), [("tgz", True), ("tgz", False), ("tar", True), ("dir", True), ("dir", False)])
def test_every_form_and_prefix_reads_the_same_members(tmp_path: Path, tree: dict[str, bytes], form: str, prefix: bool) -> None:
    dest = tmp_path / ("br" if form == "dir" else f"br.{form}")
    path = write_archive(tree, dest, form=form, prefix=prefix)
    assert looks_like_bug_report(path)
    a = BugReportArchive(path)
    assert a.names() == sorted(tree)  # the bug-report/ prefix is gone either way
    assert a.read(DUMP_MEMBER) == tree[DUMP_MEMBER]  # a file name with "?" in it
    assert a.listdir("proxies/default") == sorted([HELLO, HELLO_NO_DUMP])


def test_gzip_members_are_read_from_checkpoints_in_any_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_mod, "CHECKPOINT_BYTES", 64 * 1024)
    rnd = random.Random(14)
    tree = {f"proxies/ns{i % 3}/pod-{i}/istio-proxy.log": bytes(rnd.getrandbits(8) for _ in range(rnd.randint(10, 90_000)))
            for i in range(40)}
    path = write_archive(tree, tmp_path / "br.tar.gz")
    a = BugReportArchive(path)
    assert len(a._checkpoints) > 10  # one pass left checkpoints behind
    names = list(tree)
    rnd.shuffle(names)
    for n in names:
        assert a.read(n) == tree[n]


def test_a_truncated_archive_keeps_its_complete_members(tmp_path: Path, tree: dict[str, bytes]) -> None:
    # istioctl's --timeout leaves partial archives; what was written in full is still evidence
    path = write_archive(tree, tmp_path / "br.tar")
    data = path.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) * 2 // 3])
    a = BugReportArchive(cut)
    assert 0 < len(a.names()) < len(tree)
    first = a.names()[0]
    assert a.read(first) == tree[first]


@pytest.mark.parametrize("content", [None, b"", b"just text\n", b"configs: []\n"])
def test_not_an_archive_is_one_sentence(tmp_path: Path, content: bytes | None) -> None:
    p = tmp_path / "x"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ArchiveError) as ei:
        BugReportArchive(p)
    assert "\n" not in str(ei.value) and str(p) in str(ei.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ArchiveError, match="holds no files"):
        BugReportArchive(empty)


# -- every evidence kind maps to a file (or says why not) -------------------------------------------


def test_every_evidence_kind_has_an_archive_answer_or_a_reason() -> None:
    missing = [n.value for n in Need if n not in ANSWERS and n not in ABSENT]
    assert not missing, f"evidence kinds with no bug-report mapping (add them to bugreport/layout.py): {missing}"


def test_every_argv_the_gatherer_builds_is_identified(runner: BugReportRunner) -> None:
    conn = runner.connection(Connection(context="ctx", kubeconfig="/tmp/kc"))
    for need in Need:
        for minor in (None, 27, 30) if need.version_dependent else (None,):
            call = need.build(conn, BuildArgs(namespace="shop", name="web-5d8f7c9b6-q2w3e", istioctl_minor=minor,
                                              fallback_namespace="shop"))
            for argv in (call.argv, *call.fallbacks):
                got = runner.identify(argv)
                assert got is not None, argv
                # (the variant may differ: `istioctl proxy-status` is the primary call for an old
                # istioctl and a fallback for new ones; the answer is the same)
                assert got.need == need, argv
                if need.scope is Scope.POD:
                    assert (got.namespace, got.name) == ("shop", "web-5d8f7c9b6-q2w3e")


def test_kinds_an_archive_never_holds_are_unknowns_with_the_reason(runner: BugReportRunner) -> None:
    for need, why in ABSENT.items():
        call = need.build(Connection(), BuildArgs(namespace="default", name=HELLO))
        with pytest.raises(NotInArchive) as ei:
            asyncio.run(runner.run(list(call.argv)))
        assert why in str(ei.value)


# -- cluster files ----------------------------------------------------------------------------------


def test_old_and_new_cluster_layouts_answer_alike(tmp_path: Path) -> None:
    new = BugReportRunner(write_archive(corpus_tree(layout="1.30"), tmp_path / "new.tar.gz"))
    old = BugReportRunner(write_archive(corpus_tree(layout="1.29"), tmp_path / "old.tar.gz", prefix=False))
    assert old.report.new_cluster_layout is False and new.report.new_cluster_layout is True
    for need, ns in ((Need.NAMESPACES, None), (Need.WEBHOOKS, None), (Need.SERVICES, None), (Need.PODS, "default"),
                     (Need.REPLICASETS, "default"), (Need.ENDPOINTSLICES, "default")):
        a, b = ask(new, need, ns), ask(old, need, ns)
        assert a and [o.model_dump() for o in a] == [o.model_dump() for o in b], need
    # events: objects in the old single file, a `kubectl get events -A -o wide` table since 1.30
    ev_old, ev_new = ask(old, Need.EVENTS, "default"), ask(new, Need.EVENTS, "default")
    key = lambda e: (e.reason, e.message, e.involved_object.kind, e.involved_object.name, e.count)  # noqa: E731
    assert sorted(map(key, ev_old)) == sorted(map(key, ev_new)) and ev_new


def test_events_table_columns_and_ages() -> None:
    # a real wide table of an older kubectl (KIND column, NAME = <object>.<hash>): istio/istio#13840
    text = (FIX / "corpus" / "captured" / "events" / "istio-13840_get_events_legacy_injector_timeouts.txt").read_text()
    evs = events_from_table(text, now=TAKEN_AT)
    assert evs[0]["reason"] == "FailedCreate" and evs[0]["involvedObject"] == {"kind": "ReplicaSet", "name": "my-service-8c567f849"}
    assert evs[0]["message"].startswith('Error creating: Internal error occurred: failed calling admission webhook "sidecar-injector.istio.io"')
    assert evs[0]["lastTimestamp"] == "2025-12-31T23:47:00Z" and evs[1]["count"] == 3


def test_control_plane_pods_and_configmaps(runner: BugReportRunner) -> None:
    cms = ask(runner, Need.CONTROL_PLANE_CONFIGMAPS)
    assert cms is not None
    assert runner.connection(Connection()).istio_namespace == "istio-system"


def test_versions_are_read_from_the_reports_own_files(runner: BugReportRunner) -> None:
    iv = ask(runner, Need.ISTIOCTL_VERSION)
    assert str(iv.client) == "1.30.0" and [str(v) for v in iv.control_plane_versions] == ["1.30.0"]
    assert [str(v) for v in iv.data_plane_versions] == ["1.30.0"]
    kv = ask(runner, Need.KUBECTL_VERSION)
    assert (kv.client.git_version, kv.server.git_version) == ("v1.30.2", "v1.29.4")


def test_kubectl_version_before_1_28_prints_go_structs() -> None:
    from istio_doctor.evidence.bugreport.convert import kubectl_version_json
    from istio_doctor.evidence.versions import parse_kubectl_version

    text = ('Client Version: version.Info{Major:"1", Minor:"27", GitVersion:"v1.27.3", GitCommit:"25b4e43", Platform:"linux/amd64"}\n'
            'Kustomize Version: v5.0.1\nServer Version: version.Info{Major:"1", Minor:"26+", GitVersion:"v1.26.6-eks-a5565ad"}\n')
    kv = parse_kubectl_version(kubectl_version_json(text) or "")
    assert kv.server is not None and kv.server.minor == "26+" and kv.server.git_version == "v1.26.6-eks-a5565ad"


def test_proxy_status_from_istiod_syncz(runner: BugReportRunner) -> None:
    rows = ask(runner, Need.PROXY_STATUS, variant=0)
    (row,) = rows
    assert (row.pod, row.namespace, row.cds, row.rds, row.istiod) == (HELLO, "default", "SYNCED", "STALE", "istiod-6d9f8b7c5-xyz12")


def test_analyze_lines_of_one_namespace(runner: BugReportRunner) -> None:
    msgs = ask(runner, Need.ANALYZE, "elastic-heartbeat", variant=1)
    assert [m.code for m in msgs] == ["IST0101"]
    assert ask(runner, Need.ANALYZE, "default", variant=1) == []


# -- proxies ----------------------------------------------------------------------------------------


def test_proxy_files(runner: BugReportRunner) -> None:
    socks = ask(runner, Need.SOCKETS, "default", HELLO)
    assert socks and all(s.state == "LISTEN" for s in socks)  # netstat -natpw lists established ones too
    stats = ask(runner, Need.ENVOY_STATS, "default", HELLO)
    assert stats == {"listener.0.0.0.0_15006.no_filter_chain_match": 7,
                     "cluster.outbound|9080||reviews.default.svc.cluster.local.ssl.fail_verify_san": 3}
    assert ask(runner, Need.ENVOY_CLUSTERS, "default", HELLO)
    log = ask(runner, Need.PROXY_LOGS, "default", HELLO)
    assert log.entries
    dump = ask(runner, Need.CONFIG_DUMP, "default", HELLO)
    assert dump.clusters and dump.listeners


def test_missing_proxy_files_name_the_file(runner: BugReportRunner) -> None:
    def error(need: Need[Any], ns: str, pod: str) -> str:
        call = need.build(Connection(), BuildArgs(namespace=ns, name=pod))
        with pytest.raises(NotInArchive) as ei:
            asyncio.run(runner.run(list(call.argv)))
        return str(ei.value)

    assert f"proxies/default/{HELLO_NO_DUMP}/config_dump?include_eds" in error(Need.CONFIG_DUMP, "default", HELLO_NO_DUMP)
    assert "timed out" in error(Need.CONFIG_DUMP, "default", HELLO_NO_DUMP)
    msg = error(Need.SOCKETS, "spire", SPIRE_POD)
    assert f"proxies/spire/{SPIRE_POD}/netstat" in msg and "distroless" in msg
    assert "never collects proxies in kube-system" in error(Need.CONFIG_DUMP, "kube-system", "coredns-5d78c9869d-x2x4l")
    assert "ztunnel" in error(Need.CONFIG_DUMP, "istio-system", ZTUNNEL)


def test_a_pod_with_no_dump_is_never_healthy(runner: BugReportRunner) -> None:
    result = asyncio.run(run_diagnosis(Target.parse(f"pod/{HELLO_NO_DUMP}", "default"), runner,
                                       runner.connection(Connection()), symptom="503"))
    report = result.report
    assert report.verdict.value != "no_problem_found"
    reasons = " ".join(u.reason for u in report.unchecked)
    assert f"proxies/default/{HELLO_NO_DUMP}/config_dump?include_eds" in reasons


def test_namespace_scan_on_an_archive(runner: BugReportRunner) -> None:
    logs = ask(runner, Need.NAMESPACE_PROXY_LOGS, "default")
    assert set(logs) <= {HELLO, HELLO_NO_DUMP} and logs
    result = asyncio.run(run_diagnosis(Target.parse("ns/default"), runner, runner.connection(Connection())))
    assert result.report.verdict.value in ("problems_found", "inconclusive")
    assert any("kubectl logs -n default -l security.istio.io/tlsMode=istio" in c.command for c in result.report.calls)


def test_certificates_are_judged_when_the_report_was_taken(runner: BugReportRunner) -> None:
    assert runner.evidence_time == TAKEN_AT
    dump = ask(runner, Need.CONFIG_DUMP, "spire", SPIRE_POD)
    by_td = {s.bundle_trust_domain: s.valid for s in dump.secrets if s.name == "ROOTCA"}
    assert by_td == {"east.local": True, "west.local": True}


def test_archive_summary_for_the_tui_header(tgz: Path) -> None:
    assert archive_summary(tgz) == {"context": "kind-bugreport", "istio": "1.30.0", "istioctl": "1.30.0", "target": ""}


# -- the CLI ----------------------------------------------------------------------------------------


def _pc(argv: list[str]) -> int:
    from istio_doctor.cli import proxyconfig

    p = argparse.ArgumentParser(prog="istio-doctor")
    sub = p.add_subparsers(dest="command")
    proxyconfig.add_parser(sub)
    return proxyconfig.run(p.parse_args(argv))


@pytest.mark.parametrize("view", [["cluster"], ["listener"], ["route"], ["endpoint"], ["secret"], ["all"],
                                  ["cluster", "-o", "json"], ["route", "-o", "yaml"], ["all", "-o", "json"]])
def test_proxy_config_from_an_archive_equals_the_same_dump_from_a_file(
        tgz: Path, tree: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str], view: list[str]) -> None:
    f = tmp_path / "dump.json"
    f.write_bytes(tree[DUMP_MEMBER])
    assert _pc(["pc", *view, "--file", str(f)]) == 0
    from_file = capsys.readouterr().out
    assert _pc(["pc", *view, f"{HELLO}.default", "--bug-report", str(tgz)]) == 0
    assert capsys.readouterr().out == from_file


def test_proxy_config_spiffe_secret_from_an_archive(tgz: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _pc(["pc", "secret", SPIRE_POD, "-n", "spire", "--bug-report", str(tgz)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("TRUST DOMAIN")
    assert [ln.split()[-1] for ln in out.splitlines()[1:]] == ["east.local", "east.local", "west.local"]


def test_proxy_config_archive_errors(tgz: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _pc(["pc", "cluster", "--bug-report", str(tgz)]) == 2
    assert "needs the POD" in capsys.readouterr().err
    assert _pc(["pc", "cluster", HELLO_NO_DUMP, "--bug-report", str(tgz)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config_dump?include_eds" in err


def test_diagnose_with_bug_report(tgz: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from istio_doctor.cli import main

    code = main(["diagnose", f"pod/{HELLO}", "-n", "default", "--bug-report", str(tgz), "-o", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == out["exit_code"] and out["mode"] == "replay" and out["recording"] == "bug-report.tar.gz"
    assert main(["diagnose", f"pod/{HELLO}", "--bug-report", str(tmp_path / "nope.tar.gz")]) == 2
    assert "nope.tar.gz" in capsys.readouterr().err
    assert main(["diagnose", f"pod/{HELLO}", "--bug-report", str(tgz), "--replay", str(tgz)]) == 2


# -- memory -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_big_archive_is_read_without_its_size_in_memory(tmp_path: Path) -> None:
    """~300 MB of members (120 sidecars, 2.5 MB dumps): opening it and reading 12 pods' evidence
    in random order must cost about one dump, not the archive (issue 14: a 1 GB archive with
    hundreds of dumps must not need its size in memory; bench/run.py measures 1 GB)."""
    from tests.bugreportkit import big_archive, probe_memory

    info = big_archive(tmp_path / "big.tar.gz", pods=120, dump_mb=2.5)
    assert info["uncompressed_bytes"] > 280e6
    got = probe_memory(tmp_path / "big.tar.gz", info["names"][::10])
    over_mb = got["peak_mb"] - got["baseline_mb"]
    assert got["checkpoints"] > 10
    # one dump's text and model, the member index and the checkpoints; never the archive
    assert over_mb < 8 * info["dump_bytes"] / 2**20 + 64, got
    assert over_mb < info["uncompressed_bytes"] / 2**20 / 4, got


def test_the_tui_opens_an_archive_through_the_replay_seam(tgz: Path) -> None:
    # `tui --bug-report PATH` hands the path on as its replay source; the runner factory and the
    # header's context both recognise an archive (a recording is YAML, possibly gzipped: not a tar)
    from istio_doctor.run import make_runner
    from istio_doctor.tui.listing import replay_context

    assert isinstance(make_runner(conn=Connection(), replay=tgz), BugReportRunner)
    contexts, versions = replay_context(tgz)
    assert [c.name for c in contexts.contexts] == ["kind-bugreport"] and versions["istio"] == "1.30.0"
    demo = Path(__file__).resolve().parent.parent / "recordings" / "demo" / "bookinfo-reviews-503.yaml"
    assert not looks_like_bug_report(demo)


def test_a_namespace_left_out_of_the_report_is_unknown_and_a_missing_one_is_empty(runner: BugReportRunner) -> None:
    # `canary-apps` is a Namespace of the cluster but the report holds none of its objects
    # (--include): unknown. `nowhere` is not a namespace at all: its pod list is truly empty.
    call = Need.PODS.build(Connection(), BuildArgs(namespace="canary-apps"))
    with pytest.raises(NotInArchive, match="--include"):
        asyncio.run(runner.run(list(call.argv)))
    assert ask(runner, Need.PODS, "nowhere") == []


# -- lifecycle (issue 11): the istio-cni agents and their log ------------------------------------------


def test_cni_agent_log_is_read_from_cni_dir_with_its_own_times(runner: BugReportRunner) -> None:
    """bug-report writes each istio-cni-node pod's log to cni/<pod>/cni.log (istio/istio@1.19.0
    tools/bug-report/pkg/bugreport/bugreport.go getCniLogs, PR #45712); without kubectl's
    --timestamps, each line's own time is put in front so the timeline can place it."""
    argv = ["kubectl", "logs", "istio-cni-node-x7k2p", "-n", "istio-system", "-c", "install-cni", "--timestamps=true",
            "--since=1h", "--tail=2000"]
    assert runner.identify(argv).need is Need.CNI_LOGS  # type: ignore[union-attr]
    res = asyncio.run(runner.run(argv))
    assert res.exit_code == 0, res.stderr
    logs = Need.CNI_LOGS.parse(res.stdout, ParseEnv(command=res.command_line, now=runner.evidence_time))
    first = logs.lines[0]
    assert first.stamp.startswith("2024-08-08T16:07:44.562724") and "Namespace example is disabled" in first.message
    assert first.at is not None
    # only the continuation lines (the iptables input the agent logs) carry no time of their own:
    # they stay with the record above them
    raw = (FIX / "bugreport" / "cni_istio-52208_ns_enabled_add_pod.log").read_text().splitlines()
    assert sum(len(ln.body) for ln in logs.lines) + logs.other == sum(1 for ln in raw if ln.strip() and not ln[:4].isdigit())
    # an agent the archive holds no log of is an unknown naming the file, never an empty log
    with pytest.raises(NotInArchive, match="cni/istio-cni-node-zzzzz/cni.log"):
        asyncio.run(runner.run([*argv[:2], "istio-cni-node-zzzzz", *argv[3:]]))


def test_timestamped_like_kubectl_reads_text_and_json_lines() -> None:
    from istio_doctor.evidence.bugreport.convert import timestamped_like_kubectl

    text = ('2025-01-02T03:04:05.123456Z\tinfo\tcni-agent\tRepairing pod...\tpod=default/x\n'
            '  continuation line\n'
            '{"level":"info","time":"2025-01-02T03:04:06.000000Z","scope":"cni-agent","msg":"ok"}\n')
    assert timestamped_like_kubectl(text).splitlines() == [
        "2025-01-02T03:04:05.123456Z 2025-01-02T03:04:05.123456Z\tinfo\tcni-agent\tRepairing pod...\tpod=default/x",
        "  continuation line",
        '2025-01-02T03:04:06.000000Z {"level":"info","time":"2025-01-02T03:04:06.000000Z","scope":"cni-agent","msg":"ok"}',
    ]


def test_cni_agent_pods_come_from_the_pod_objects(tmp_path: Path, tree: dict[str, bytes]) -> None:
    agent = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "istio-cni-node-x7k2p", "namespace": "istio-system",
                                                             "labels": {"k8s-app": "istio-cni-node"}},
             "spec": {"nodeName": "kind-worker", "containers": [{"name": "install-cni", "image": "istio/install-cni"}]},
             "status": {"phase": "Running"}}
    t = dict(tree)
    t["cluster/pods"] = json.dumps({"apiVersion": "v1", "kind": "List", "items": [agent]}).encode()
    r = BugReportRunner(write_archive(t, tmp_path / "br.tar.gz"))
    pods = ask(r, Need.CNI_PODS)
    assert [(p.metadata.namespace, p.metadata.name, p.spec.node_name) for p in pods] == [
        ("istio-system", "istio-cni-node-x7k2p", "kind-worker")]
