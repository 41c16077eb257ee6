"""The judged path, end to end: the INSTALLED ``istio-doctor`` console script, a real
``LiveRunner`` spawning ``kubectl``/``istioctl`` found on ``PATH``, and those executables
answering with the exact outputs the scenario kit renders for a World.

Everything in between is real: argv construction, the read-only gate, subprocess handling,
exit codes, every parser on real-format output, the engine, the JSON renderer. If the live
runner, an argv or a parser disagreed with the real formats, a world here would come back
with ``unchecked`` evidence or the wrong finding first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from istio_doctor.engine.catalogue import load_catalogue
from istio_doctor.evidence.safety import check_read_only
from istio_doctor.exitcodes import ExitCode
from istio_doctor.report.model import report_json_schema
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.standin import Standins, install_standins, prewarm
from tests.scenariokit.world import Container, Namespace, Port, Request, Workload, World, cr

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = str(Path(sys.executable).parent)


def entry_point() -> list[str]:
    """The installed console script (what a user runs); the module only where none is installed."""
    script = Path(VENV_BIN) / "istio-doctor"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]


def run_cli(standins: Standins, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # cwd outside the repository: the installed package, not the checkout, must answer
    return subprocess.run([*entry_point(), *args], env=standins.env(extra_path=[VENV_BIN]), cwd=standins.directory,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("standin-cache")


def pod_of(w: World, workload: str, ns: str = "default") -> str:
    return next(p.name for p in w.pods if p.workload.name == workload and p.namespace == ns)


# -- the worlds ---------------------------------------------------------------------------


def healthy() -> World:
    return bookinfo_world()


def localhost_reviews() -> World:
    w = bookinfo_world()
    for v in ("v1", "v2", "v3"):
        wl = w.workload(f"default/reviews-{v}")
        assert wl is not None
        wl.containers[0].ports = [Port(9080, bind="127.0.0.1")]
    return w


def dr_disable_vs_strict() -> World:
    w = bookinfo_world()
    w.istio += [cr("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}}),
                cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})]
    w.traffic.append(Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=4))
    return w


def uninjected_namespace() -> World:
    w = bookinfo_world()
    w.namespaces.append(Namespace("shop", {}))  # no istio-injection label
    w.workloads.append(Workload("cart", "shop", [Container("cart", "docker.io/library/nginx:1.27", ports=[Port(8080)])],
                                labels={"app": "cart"}, service_account="cart"))
    return w


CATALOGUE = set(load_catalogue())

# (id, world, workload, namespace, expected exit code, the code that must rank first)
CASES: list[tuple[str, Callable[[], World], str, str, ExitCode, str | None]] = [
    ("healthy-bookinfo", healthy, "productpage-v1", "default", ExitCode.OK, None),
    ("localhost-bound-reviews", localhost_reviews, "reviews-v2", "default", ExitCode.PROBLEMS_FOUND, "P503-LOCALHOST-BIND"),
    ("dr-disable-vs-strict", dr_disable_vs_strict, "reviews-v2", "default", ExitCode.PROBLEMS_FOUND, "MTLS-DR-DISABLE-VS-STRICT"),
    ("namespace-not-labelled", uninjected_namespace, "cart", "shop", ExitCode.PROBLEMS_FOUND, "INJ-NS-LABEL"),
]


def _validate(report: dict) -> None:  # type: ignore[type-arg]
    jsonschema.Draft202012Validator(report_json_schema()).validate(report)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_installed_cli_against_world_standins(tmp_path: Path, cache_dir: Path, case: tuple) -> None:  # type: ignore[type-arg]
    _id, build, workload, ns, want_exit, want_first = case
    w = build()
    pod = pod_of(w, workload, ns)
    standins = install_standins(w, tmp_path / "bin", cache_dir=cache_dir)
    prewarm(standins, f"pod/{pod} -n {ns}")

    proc = run_cli(standins, "diagnose", f"pod/{pod}", "-n", ns, "-o", "json")
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    _validate(report)
    assert proc.returncode == report["exit_code"] == want_exit, (proc.stderr, report["headline"])
    assert report["mode"] == "live" and report["target"] == f"pod/{pod} -n {ns}"
    # every piece of evidence came back and was parsed: argv and parsers agree with the formats
    assert report["unchecked"] == [], report["unchecked"]
    codes = [f["code"] for f in report["findings"]]
    if want_first is None:
        assert report["verdict"] == "no_problem_found" and codes == []
    elif want_first in CATALOGUE:
        assert codes and codes[0] == want_first, codes
    else:  # the section's checks are not in this tree yet: at least never "healthy"
        assert report["verdict"] == "problems_found", codes

    # the report's calls are exactly the processes the stand-ins saw, all read-only
    started = standins.calls()
    assert sorted(c["argv"] for c in report["calls"]) == sorted(started)
    for argv in started:
        check_read_only(argv)


def test_record_then_replay_gives_the_same_findings(tmp_path: Path, cache_dir: Path) -> None:
    w = localhost_reviews()
    pod = pod_of(w, "reviews-v2")
    standins = install_standins(w, tmp_path / "bin", cache_dir=cache_dir)
    prewarm(standins, f"pod/{pod} -n default")
    rec = tmp_path / "incident.yaml"
    live = run_cli(standins, "diagnose", f"pod/{pod}", "-n", "default", "-o", "json", "--record", str(rec))
    assert live.returncode == ExitCode.PROBLEMS_FOUND, live.stderr
    live_report = json.loads(live.stdout)
    n_live = len(standins.calls())
    assert rec.is_file() and f"{n_live} call(s) recorded to {rec}" in live.stderr

    replay = run_cli(standins, "diagnose", "--replay", str(rec), "-o", "json")
    assert len(standins.calls()) == n_live  # the replay started no stand-in
    report = json.loads(replay.stdout)
    _validate(report)
    assert report["mode"] == "replay"
    assert replay.returncode == report["exit_code"] == live_report["exit_code"]
    assert report["verdict"] == live_report["verdict"]
    assert [f["code"] for f in report["findings"]] == [f["code"] for f in live_report["findings"]]
    assert [f["target"] for f in report["findings"]] == [f["target"] for f in live_report["findings"]]


def test_standins_answer_like_the_world_runner(tmp_path: Path) -> None:
    """The executables and the in-process WorldRunner give byte-identical answers (cold cache)."""
    import asyncio

    from tests.scenariokit.runner import WorldRunner

    w = healthy()
    pod = pod_of(w, "ratings-v1")
    standins = install_standins(w, tmp_path / "bin")  # no cache: every call renders
    argv = ["kubectl", "get", "pod", pod, "-n", "default", "-o", "json"]
    proc = subprocess.run([str(standins.binaries["kubectl"]), *argv[1:]], capture_output=True, text=True,
                          env={**os.environ, "PATH": VENV_BIN}, timeout=60)
    want = asyncio.run(WorldRunner(w).run(argv))
    assert (proc.returncode, proc.stdout, proc.stderr) == (want.exit_code, want.stdout, want.stderr)
    assert json.loads(proc.stdout)["metadata"]["name"] == pod
