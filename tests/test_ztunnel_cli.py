"""``istio-doctor ztunnel-config``: istioctl's views, offline (--file) and live (through the runner).

The offline cases are every case of istioctl's ``TestConfigWriter_PrintSummary``
(istio/istio@86c9f01 istioctl/pkg/writer/ztunnel/configdump/configdump_test.go), run through the
CLI and compared byte for byte with istioctl's goldens. The live cases replay recordings, so the
calls are exactly those a live session makes, and the read-only gate is the one every runner uses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from istio_doctor.cli import main
from istio_doctor.evidence.ambient import calls
from istio_doctor.evidence.ambient import ztunnel_views as zv
from istio_doctor.evidence.errors import CommandRefused
from istio_doctor.evidence.recording import RecordedCall, Recording, RecordingMetadata, save_recording
from istio_doctor.evidence.safety import check_read_only
from istio_doctor.evidence.target import Connection

Z = Path(__file__).parent / "fixtures" / "corpus" / "ambient" / "ztunnel-config"
DUMP = str(Z / "dump.json")


class _Fixed(datetime):
    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        return datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch: pytest.MonkeyPatch) -> None:
    # VALID CERT compares with the current time (certNotExpired): judge at the goldens' era
    monkeypatch.setattr(zv, "datetime", _Fixed)


# (argv after `ztunnel-config`, golden) — one row per TestConfigWriter_PrintSummary case
ISTIOCTL_CASES = [
    (["certificates"], "secretsummary.txt"),
    (["workloads"], "workloadsummary.txt"),
    (["workloads", "--workload-namespace", "default"], "workloadsummary_default.txt"),
    (["policies"], "policies.txt"),
    (["connections"], "connectionsummary.txt"),
    (["all"], "allsummary.txt"),
    (["all", "--with-headers"], "allsummary_withheaders.txt"),
    (["connections", "-o", "json"], "connectionsdump.json"),
]


@pytest.mark.parametrize(("argv", "golden"), ISTIOCTL_CASES, ids=[g for _, g in ISTIOCTL_CASES])
def test_offline_view_equals_istioctl_golden(argv: list[str], golden: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ztunnel-config", *argv, "--file", DUMP]) == 0
    assert capsys.readouterr().out == (Z / golden).read_text()


@pytest.mark.parametrize("alias", ["zc", "ztunnel-config"])
@pytest.mark.parametrize("view", ["w", "workload", "s", "svc", "p", "pol", "certs", "cert", "cons"])
def test_istioctl_aliases(alias: str, view: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([alias, view, "-f", DUMP]) == 0
    assert capsys.readouterr().out.split()[0] in ("NAMESPACE", "CERTIFICATE", "WORKLOAD")


def test_json_and_yaml_agree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zc", "services", "-f", DUMP, "-o", "json", "--service-namespace", "bookinfo"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert main(["zc", "services", "-f", DUMP, "-o", "yaml", "--service-namespace", "bookinfo"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == as_json
    assert {s["namespace"] for s in as_json} == {"bookinfo"} and len(as_json) == 6


def test_unreadable_and_wrong_files_are_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zc", "workloads", "-f", str(tmp_path / "missing.json")]) == 3
    assert "cannot read ztunnel config dump" in capsys.readouterr().err
    envoy = tmp_path / "envoy.json"
    envoy.write_text('{"configs": []}')
    assert main(["zc", "workloads", "-f", str(envoy)]) == 3
    err = capsys.readouterr().err
    assert "Envoy config dump" in err and "Traceback" not in err and err.count("\n") == 1


# -- live, through recordings -------------------------------------------------------------------

CONN = Connection()


def _recording(tmp_path: Path, answers: dict[tuple[str, ...], tuple[int, str, str]]) -> Path:
    rec = Recording(metadata=RecordingMetadata(created=datetime(2024, 1, 1, tzinfo=UTC), target="zc"),
                    calls=[RecordedCall(argv=list(a), exit_code=rc, stdout=out, stderr=err) for a, (rc, out, err) in answers.items()])
    path = tmp_path / "rec.yaml"
    save_recording(rec, path)
    return path


def _pod_json(name: str, ns: str, labels: dict[str, str], node: str = "ambient-worker2") -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
                       "spec": {"nodeName": node, "containers": [{"name": "app", "image": "x"}]},
                       "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})


def test_live_workload_pod_resolves_to_its_node_ztunnel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # istioctl (ztunnelconfig.go runConfigDump): a workload pod is resolved to the ztunnel on its
    # node and the workloads view is filtered to that pod -> the golden of "filtered workload by name"
    pod = ("kubectl", "get", "pod", "productpage-v1-675fc69cf-jscn2", "-n", "bookinfo", "-o", "json")
    (zc, _) = calls.ztunnel_config_all(CONN, node="ambient-worker2")
    rec = _recording(tmp_path, {
        pod: (0, _pod_json("productpage-v1-675fc69cf-jscn2", "bookinfo", {"app": "productpage"}), ""),
        zc: (0, (Z / "dump.json").read_text(), ""),
    })
    assert main(["zc", "workloads", "productpage-v1-675fc69cf-jscn2.bookinfo", "--replay", str(rec)]) == 0
    assert capsys.readouterr().out == (Z / "workloadsummary_workload.txt").read_text()
    assert zc == ("istioctl", "ztunnel-config", "all", "--node", "ambient-worker2", "-o", "json")


def test_live_ztunnel_pod_and_122_fallback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pod = ("kubectl", "get", "pod", "ztunnel-qk2pp", "-n", "istio-system", "-o", "json")
    top, experimental = calls.ztunnel_config_all(CONN, pod="ztunnel-qk2pp", namespace="istio-system")
    rec = _recording(tmp_path, {
        pod: (0, _pod_json("ztunnel-qk2pp", "istio-system", {"app": "ztunnel"}), ""),
        # istioctl 1.22 has ztunnel-config only under `x` (istioctl/cmd/root.go@1.22.0)
        top: (1, "", 'Error: unknown command "ztunnel-config" for "istioctl"'),
        experimental: (0, (Z / "dump.json").read_text(), ""),
    })
    assert main(["zc", "policies", "ztunnel-qk2pp", "--replay", str(rec)]) == 0
    assert capsys.readouterr().out == (Z / "policies.txt").read_text()


def test_live_per_node_view_needs_a_pod_or_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zc", "certificates"]) == 2
    assert "ztunnel pod name or --node must be set" in capsys.readouterr().err


def test_live_failure_is_one_sentence_and_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    top, experimental = calls.ztunnel_config_all(CONN, node="n1")
    rec = _recording(tmp_path, {
        top: (1, "", 'Error: pods is forbidden: User "sre" cannot list resource "pods"'),
        experimental: (1, "", 'Error: unknown command "ztunnel-config" for "istioctl x"'),
    })
    assert main(["zc", "certificates", "--node", "n1", "--replay", str(rec)]) == 3
    err = capsys.readouterr().err
    assert "refused by RBAC" in err and err.count("\n") == 1


def test_invalid_names_never_reach_an_argv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zc", "workloads", "--node", "bad node;rm"]) == 2
    assert "not a valid Kubernetes resource name" in capsys.readouterr().err


# -- read-only gate -----------------------------------------------------------------------------


def test_every_ambient_argv_is_read_only() -> None:
    conn = Connection(context="ctx", kubeconfig="/tmp/kc", istio_namespace="istio-system")
    argvs = [*calls.ztunnel_config_all(conn, node="n1"), *calls.ztunnel_config_all(conn, pod="ztunnel-x", namespace="kube-system"),
             calls.ztunnel_pods(conn), calls.ztunnel_pods(conn, "istio-system"), calls.component_logs(conn, "ztunnel-x", "istio-system")]
    for argv in argvs:
        check_read_only(argv)


@pytest.mark.parametrize("argv", [
    ["istioctl", "ztunnel-config", "workloads", "--node", "n1"],
    ["istioctl", "zc", "certs", "ztunnel-x", "-n", "istio-system", "-o", "json"],
    ["istioctl", "x", "ztunnel-config", "all", "-o", "json"],
    ["istioctl", "waypoint", "list", "-A"],
    ["istioctl", "waypoint", "status", "-n", "default"],
    ["istioctl", "x", "waypoint", "list", "-A"],
])
def test_ambient_reads_are_allowed(argv: list[str]) -> None:
    check_read_only(argv)


@pytest.mark.parametrize("argv", [
    # ztunnel-config log POSTs /logging?level=... even without --level (ztunnelconfig.go logCmd)
    ["istioctl", "ztunnel-config", "log", "ztunnel-x"],
    ["istioctl", "zc", "log", "--level", "debug"],
    ["istioctl", "x", "ztunnel-config", "log"],
    ["istioctl", "waypoint", "apply", "--enroll-namespace"],
    ["istioctl", "waypoint", "delete", "waypoint"],
    ["istioctl", "x", "waypoint", "apply"],
    ["istioctl", "waypoint", "generate"],
    ["istioctl", "ztunnel-config"],
    ["istioctl", "ztunnel-config", "--node", "n1", "all"],  # a flag before the view hides it
])
def test_ambient_writes_are_refused(argv: list[str]) -> None:
    with pytest.raises(CommandRefused):
        check_read_only(argv)
