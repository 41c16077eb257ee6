"""The issue's acceptance path: the INSTALLED ``istio-doctor``, run like an SRE runs it (plain
``diagnose``, default ``--symptom auto``), against ``kubectl``/``istioctl`` on PATH answering with
the scenario kit's outputs, on a Job pod stuck at 1/2 (istio/istio#11045) and on a pod that
started before its node's istio-cni agent was ready.

It must name the cause first, give the fix that fits the running Istio and Kubernetes versions,
and show the timeline with the deciding moment marked, in text and JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from istio_doctor.evidence.safety import check_read_only
from istio_doctor.exitcodes import ExitCode
from istio_doctor.report.model import report_json_schema
from tests.scenarios.lifecycle import _cni_world, _job_world
from tests.scenariokit.standin import Standins, install_standins, prewarm

VENV_BIN = str(Path(sys.executable).parent)


def _cli(standins: Standins, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(VENV_BIN) / "istio-doctor"
    argv = [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]
    return subprocess.run([*argv, *args], env=standins.env(extra_path=[VENV_BIN]), cwd=standins.directory,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("standin-cache")


#: (Istio, Kubernetes) -> what the fix must say for that pair (engine/lifecycle/facts.py)
JOB_CASES = [
    ("1.18.2", "1.30.0", "curl -fsS -X POST http://localhost:15020/quitquitquit", "ENABLE_NATIVE_SIDECARS"),
    ("1.22.3", "1.30.0", "istioctl install --set values.pilot.env.ENABLE_NATIVE_SIDECARS=true", "nativeSidecar"),
    ("1.27.1", "1.30.0", "sidecar.istio.io/nativeSidecar: 'true'", "values.pilot.env.ENABLE_NATIVE_SIDECARS"),
]


@pytest.mark.parametrize("istio, kube, must, must_not", JOB_CASES, ids=[c[0] for c in JOB_CASES])
def test_job_pod_stuck_at_one_of_two(tmp_path: Path, cache_dir: Path, istio: str, kube: str, must: str, must_not: str) -> None:
    w = _job_world(istio, kube)
    pod = next(p.name for p in w.pods if p.workload.name == "pi")
    standins = install_standins(w, tmp_path / "bin", cache_dir=cache_dir)
    prewarm(standins, f"pod/{pod} -n default")

    proc = _cli(standins, "diagnose", f"pod/{pod}", "-n", "default", "-o", "json")
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(report_json_schema()).validate(report)
    assert proc.returncode == ExitCode.PROBLEMS_FOUND and report["unchecked"] == [], report["unchecked"]
    top = report["findings"][0]
    assert top["code"] == "LIFE-JOB-SIDECAR", [f["code"] for f in report["findings"]]
    assert "lifecycle" in report["playbooks_run"]  # picked by auto from the pod's timeline
    fix = "\n".join([top["fix"]["summary"]] + [s.get("command") or s.get("yaml_patch") or "" for s in top["fix"]["steps"]])
    assert must in fix and must_not not in fix, fix
    (tl,) = report["timelines"]
    decided = [m for m in tl["moments"] if "LIFE-JOB-SIDECAR" in m["deciding"]]
    assert decided and decided[0]["kind"] == "container_exited" and decided[0]["container"] == "pi"
    for argv in standins.calls():
        check_read_only(argv)

    text = _cli(standins, "diagnose", f"pod/{pod}", "-n", "default").stdout
    assert "Most likely root cause: [LIFE-JOB-SIDECAR]" in text
    assert "▶" in text and "← LIFE-JOB-SIDECAR" in text and f"Timeline of pod/{pod} -n default" in text


def test_pod_started_before_the_cni_agent(tmp_path: Path, cache_dir: Path) -> None:
    w = _cni_world("1.22.3", node_ready_s=25.0, cni_repair="off")
    pod = next(p.name for p in w.pods if p.workload.name == "productpage-v1")
    standins = install_standins(w, tmp_path / "bin", cache_dir=cache_dir)
    prewarm(standins, f"pod/{pod} -n default")
    proc = _cli(standins, "diagnose", f"pod/{pod}", "-n", "default", "-o", "json")
    report = json.loads(proc.stdout)
    codes = [f["code"] for f in report["findings"]]
    assert codes[0] == "LIFE-CNI-NOT-READY" and "INJ-INIT-FAIL" in codes, codes
    assert report["findings"][0]["args"]["lead"] == "25s"
    calls = [c["command"] for c in report["calls"]]
    assert any(" -l k8s-app=istio-cni-node " in f" {c} " for c in calls)  # the agents, then the node's agent log
    assert any("logs istio-cni-node-" in c and "-c install-cni" in c for c in calls), calls
