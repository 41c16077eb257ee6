"""A diagnosis read from a bug-report archive equals the diagnosis of the same world (issue 14).

Each scenario world (``tests/scenarios``) is laid out as the archive ``istioctl bug-report``
would write for it (``tests/bugreportkit.world_tree``: the same facts its recording holds, in
the archive's files and formats: YAML Lists, the events table, syncz, Prometheus stats, the
``versions`` dump), then diagnosed through ``BugReportRunner``; the findings must be the ones
the replay of the committed recording gives. The worlds cover every cluster-file layout
(>= 1.30 split files and the older single file), the proxy files each playbook reads (config
dump, access log, netstat, stats, /clusters) and the control plane (syncz, mesh ConfigMap).
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import pytest

from istio_doctor.evidence.bugreport.runner import BugReportRunner
from istio_doctor.evidence.recording import load_recording
from istio_doctor.evidence.runner import ReplayRunner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.run import run_diagnosis
from tests.bugreportkit import world_tree, write_archive
from tests.scenariokit.world import EPOCH

ROOT = Path(__file__).resolve().parent.parent / "recordings"

#: (playbook module, scenario name, cluster-file layout of the archive)
CASES = [
    ("mtls", "dr-disable-vs-strict-client", "1.30"),
    ("mtls", "auto-mtls-off", "1.29"),
    ("p503", "localhost-bind-client", "1.30"),  # netstat: the only offline evidence for it
    ("p503", "circuit-breaker", "1.29"),  # Prometheus stats back to Envoy's names
    ("routes", "mesh-path-no-route", "1.30"),
    ("injection", "pod-predates-label", "1.29"),
]


def _scenario(module: str, name: str):  # type: ignore[no-untyped-def]
    mod = importlib.import_module(f"tests.scenarios.{module}")
    return next(s for s in mod.SCENARIOS if s.name == name)


@pytest.mark.parametrize(("module", "name", "layout"), CASES, ids=[f"{m}/{n}" for m, n, _ in CASES])
def test_archive_diagnosis_equals_the_replayed_one(tmp_path: Path, module: str, name: str, layout: str) -> None:
    sc = _scenario(module, name)
    t, _, ns = sc.target.partition(" -n ")
    target = Target.parse(t.strip(), ns.strip() or None)
    rec = ROOT / module / f"{name}.yaml"
    replayed = asyncio.run(run_diagnosis(target, ReplayRunner(load_recording(rec), strict=False), Connection(),
                                         symptom=sc.symptom))
    # taken at the world's clock, like the recording: the access-log window is the same
    archive = write_archive(world_tree(sc.world, layout=layout), tmp_path / "bug-report.tar.gz", mtime=EPOCH)
    runner = BugReportRunner(archive)
    offline = asyncio.run(run_diagnosis(target, runner, runner.connection(Connection()), symptom=sc.symptom))
    want = [f.code for f in replayed.report.findings]
    got = [f.code for f in offline.report.findings]
    assert want and got == want, f"unchecked offline: {[u.reason for u in offline.report.unchecked]}"
    assert offline.report.verdict == replayed.report.verdict
    assert offline.report.findings[0].summary == replayed.report.findings[0].summary


#: ambient worlds: the archive holds ztunnel as a proxy (config_dump, istio-proxy.log) and
#: istio-cni's cni/<pod>/cni.log (tests/bugreportkit._ambient_files). Without those files the
#: netpol and certificate cases come out inconclusive offline.
AMBIENT_CASES = [
    ("ztunnel", "netpol-hbone"),  # ztunnel's config dump and NetworkPolicies
    ("ztunnel", "cert-unavailable"),  # ztunnel's certificates
    ("capture", "redirection-pending"),  # istio-cni's log and the pod annotation
    ("capture", "excluded-ns"),  # istio-cni's log and its ConfigMap
    ("waypoint", "wp-not-used"),  # Gateways, Service conditions, ztunnel services
    ("authz", "waypoint-sa-denied"),  # ztunnel's log and the waypoint pod's Envoy dump
]


@pytest.mark.parametrize(("module", "name"), AMBIENT_CASES, ids=[f"{m}/{n}" for m, n in AMBIENT_CASES])
def test_ambient_archive_diagnosis_equals_the_replayed_one(tmp_path: Path, module: str, name: str) -> None:
    sc = _scenario(module, name)
    t, _, ns = sc.target.partition(" -n ")
    target = Target.parse(t.strip(), ns.strip() or None)
    replayed = asyncio.run(run_diagnosis(target, ReplayRunner(load_recording(ROOT / module / f"{name}.yaml"), strict=False),
                                         Connection(), symptom=sc.symptom))
    tree = world_tree(sc.world)
    assert any(k.startswith("proxies/") and k.endswith("/config_dump") for k in tree)  # a ztunnel's admin dump
    assert any(k.startswith("cni/") and k.endswith("/cni.log") for k in tree)
    archive = write_archive(tree, tmp_path / "bug-report.tar.gz", mtime=EPOCH)
    runner = BugReportRunner(archive)
    offline = asyncio.run(run_diagnosis(target, runner, runner.connection(Connection()), symptom=sc.symptom))
    want = [f.code for f in replayed.report.findings]
    assert want and [f.code for f in offline.report.findings] == want, [u.reason for u in offline.report.unchecked]
    assert offline.report.verdict == replayed.report.verdict
    assert offline.report.findings[0].summary == replayed.report.findings[0].summary
    # the ztunnel dump was read from the archive, not reported missing
    assert not [u for u in offline.report.unchecked if u.evidence.startswith("ztunnel_config") and u.kind == "not_recorded"]
