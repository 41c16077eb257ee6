"""Fault matrix: what the user sees when the evidence itself fails.

Every fault goes through the real ``LiveRunner`` spawning the World stand-ins
(``tests/scenariokit/standin.py``), in-process through ``run_diagnosis`` where the report is
what matters, and through the installed CLI where the exit code, stderr or signals matter.
For each fault the rules are the same:

* one sentence in the report (or on stderr) names what failed and what to do;
* the documented exit code (3 when nothing was found, 1 when something was, 130 on SIGINT);
* never a traceback, and never ``no_problem_found`` while evidence is missing.

docs/hardening.md has the table this file proves.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from istio_doctor.evidence.runner import CommandTimeout, LiveRunner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.exitcodes import ExitCode
from istio_doctor.report.model import Report
from istio_doctor.run import run_diagnosis
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.runner import WorldRunner
from tests.scenariokit.standin import Rule, Standins, install_standins, live_world, prewarm, world_digest
from tests.scenariokit.world import Port, World

VENV_BIN = str(Path(sys.executable).parent)
KUBECTL_INSTALL = "https://kubernetes.io/docs/tasks/tools/"
ISTIOCTL_INSTALL = "https://istio.io/latest/docs/setup/getting-started/#download"


def entry_point() -> list[str]:
    script = Path(VENV_BIN) / "istio-doctor"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]


# -- worlds (built once; their stand-in replies are cached for the module) --------------------


def _healthy() -> World:
    return bookinfo_world()


def _localhost() -> World:
    w = bookinfo_world()
    for v in ("v1", "v2", "v3"):
        wl = w.workload(f"default/reviews-{v}")
        assert wl is not None
        wl.containers[0].ports = [Port(9080, bind="127.0.0.1")]
    return w


class Lab:
    """Stand-ins for one test, sharing a warm reply cache across the module."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root, self.cache = root, cache
        self._warm: set[tuple[str, str]] = set()
        self._n = 0

    def install(self, world: World, workload: str, *, rules: list[Rule] | None = None,
                missing: tuple[str, ...] = ()) -> tuple[Standins, str]:
        import pickle

        self._n += 1
        pod = next(p.name for p in world.pods if p.workload.name == workload and p.namespace == "default")
        s = install_standins(world, self.root / f"s{self._n}", rules=rules, cache_dir=self.cache, missing=missing)
        key = (world_digest(pickle.dumps(world, protocol=pickle.HIGHEST_PROTOCOL)), pod)
        if key not in self._warm:
            prewarm(s, f"pod/{pod} -n default")
            self._warm.add(key)
        return s, pod


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("faults"), tmp_path_factory.mktemp("faults-cache"))


@pytest.fixture(scope="module")
def healthy() -> World:
    return _healthy()


@pytest.fixture(scope="module")
def localhost() -> World:
    return _localhost()


def diagnose(s: Standins, pod: str, *, timeout: float = 20.0) -> Report:
    conn = Connection()
    runner = LiveRunner(conn, timeout_s=timeout, env=s.env(extra_path=[VENV_BIN]))
    return asyncio.run(run_diagnosis(Target.parse(f"pod/{pod}", "default"), runner, conn)).report


def cli(s: Standins, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*entry_point(), *args], env=s.env(extra_path=[VENV_BIN]), cwd=s.directory,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_honest(report: Report) -> None:
    """Missing evidence is never healthy, and every gap says what failed and why."""
    assert report.unchecked, "a fault must show up under 'Could not check'"
    assert report.verdict != "no_problem_found"
    for u in report.unchecked:
        assert u.reason.strip() and "Traceback" not in u.reason, u.reason
    if not report.findings:
        assert report.exit_code == ExitCode.EVIDENCE_INCOMPLETE and report.verdict == "inconclusive"
        # the most basic root failure (not the first call that failed) is in the one-line headline
        assert report.gaps and report.gaps[0].cause[1:].rstrip(".") in report.headline, (report.gaps, report.headline)
    else:
        assert report.exit_code == ExitCode.PROBLEMS_FOUND


def alive_standins(s: Standins) -> list[int]:
    """Pids of processes still running for these stand-ins (LiveRunner must have killed them)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(s.manifest) in cmd and state not in ("Z", "X"):
            out.append(int(d.name))
    return out


def _wait_for_call(s: Standins, word: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(word in c for c in s.calls()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {word!r} call started within {within}s: {s.calls()}")


# -- missing binaries ------------------------------------------------------------------------


def test_kubectl_missing(lab: Lab, healthy: World) -> None:
    """The preflight stops the run: one sentence naming kubectl and how to install it."""
    s, pod = lab.install(healthy, "productpage-v1", missing=("kubectl",))
    proc = cli(s, "diagnose", f"pod/{pod}", "-n", "default", "-o", "json")
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert proc.returncode == report["exit_code"] == ExitCode.EVIDENCE_INCOMPLETE
    assert report["verdict"] == "inconclusive" and report["findings"] == [] and report["playbooks"] == []
    [gap] = report["unchecked"]
    assert gap["kind"] == "missing_kubectl" and gap["command"].startswith("kubectl ")
    assert report["headline"].startswith("Cannot diagnose: kubectl was not found on PATH")
    assert KUBECTL_INSTALL in report["headline"] and "istio-doctor demo" in report["headline"]
    assert not any(c[0] == "kubectl" for c in s.calls())


def test_istioctl_missing_still_diagnoses_from_kubectl_evidence(lab: Lab, localhost: World) -> None:
    s, pod = lab.install(localhost, "reviews-v2", missing=("istioctl",))
    report = diagnose(s, pod)
    assert_honest(report)
    # sockets (kubectl exec) and both proxies' logs (kubectl logs) are enough for this cause
    assert report.findings[0].code == "P503-LOCALHOST-BIND"
    gaps = {u.evidence.split("(")[0]: u for u in report.unchecked}
    assert {"istioctl_version", "proxy_status", "analyze"} <= set(gaps)
    assert all(u.kind == "missing_binary" and ISTIOCTL_INSTALL in u.reason for u in report.unchecked)
    assert any(u.affects for u in report.unchecked), "the checks that could not run are named"


def test_istioctl_missing_text_report_says_what_and_how(lab: Lab, healthy: World) -> None:
    s, pod = lab.install(healthy, "productpage-v1", missing=("istioctl",))
    proc = cli(s, "diagnose", f"pod/{pod}", "-n", "default", "--no-color")
    assert proc.returncode == ExitCode.EVIDENCE_INCOMPLETE, proc.stderr
    assert "Traceback" not in proc.stderr
    section = proc.stdout.split("Could not check:", 1)[1]
    assert "`istioctl` was not found on PATH" in " ".join(section.split())
    assert ISTIOCTL_INSTALL in section
    assert "Inconclusive" in proc.stdout and "No problem found for" not in proc.stdout


# -- version drift ----------------------------------------------------------------------------


def test_istioctl_without_a_flag_we_use_falls_back(lab: Lab) -> None:
    # an istioctl that reports 1.28 (so we ask for --verbose) but does not know the flag
    w = bookinfo_world("1.28.1")
    rules = [Rule(["proxy-status", "--verbose"], binary="istioctl", stderr="Error: unknown flag: --verbose\n", exit=1)]
    s, pod = lab.install(w, "productpage-v1", rules=rules)
    report = diagnose(s, pod)
    ps = [c.command for c in report.calls if "proxy-status" in c.command]
    assert ps == ["istioctl proxy-status --verbose", "istioctl proxy-status"]
    assert not [u for u in report.unchecked if u.evidence == "proxy_status"], "the fallback's answer was used"
    assert report.exit_code == ExitCode.OK and report.verdict == "no_problem_found"


# -- RBAC and credentials ---------------------------------------------------------------------

FORBIDDEN_LOGS = 'Error from server (Forbidden): pods "p" is forbidden: User "oncall" cannot get resource "pods/log" in API group "" in the namespace "default"\n'
FORBIDDEN_EVENTS = 'Error from server (Forbidden): events is forbidden: User "oncall" cannot list resource "events" in API group "" in the namespace "default"\n'


def test_forbidden_with_nothing_found_exits_3(lab: Lab, healthy: World) -> None:
    s, pod = lab.install(healthy, "productpage-v1", rules=[Rule(["logs"], binary="kubectl", stderr=FORBIDDEN_LOGS, exit=1)])
    proc = cli(s, "diagnose", f"pod/{pod}", "-n", "default", "-o", "json")
    assert "Traceback" not in proc.stderr
    report = Report.model_validate_json(proc.stdout)
    assert proc.returncode == ExitCode.EVIDENCE_INCOMPLETE
    assert_honest(report)
    logs = [u for u in report.unchecked if u.evidence.startswith("proxy_logs")]
    assert logs and logs[0].kind == "forbidden"
    assert "refused by RBAC" in logs[0].reason and "kubectl auth can-i" in logs[0].reason
    assert logs[0].affects  # which checks are unknown because of it


def test_forbidden_with_something_found_exits_1(lab: Lab, localhost: World) -> None:
    s, pod = lab.install(localhost, "reviews-v2", rules=[Rule(["events"], binary="kubectl", stderr=FORBIDDEN_EVENTS, exit=1)])
    report = diagnose(s, pod)
    assert_honest(report)
    assert report.exit_code == ExitCode.PROBLEMS_FOUND and report.findings[0].code == "P503-LOCALHOST-BIND"
    assert [u.kind for u in report.unchecked] == ["forbidden"]


def test_unauthorized(lab: Lab, healthy: World) -> None:
    rule = Rule([], binary="kubectl", stderr="error: You must be logged in to the server (Unauthorized)\n", exit=1)
    s, pod = lab.install(healthy, "productpage-v1", rules=[rule])
    report = diagnose(s, pod)
    assert_honest(report)
    kubectl = [u for u in report.unchecked if u.command.startswith("kubectl")]
    assert kubectl and all(u.kind == "unauthorized" and "Log in again" in u.reason for u in kubectl)


def test_cluster_unreachable(lab: Lab, healthy: World) -> None:
    rule = Rule([], stderr="Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout\n", exit=1)
    s, pod = lab.install(healthy, "productpage-v1", rules=[rule])
    proc = cli(s, "diagnose", f"pod/{pod}", "-n", "default", "-o", "json")
    assert "Traceback" not in proc.stderr
    report = Report.model_validate_json(proc.stdout)
    assert proc.returncode == ExitCode.EVIDENCE_INCOMPLETE
    assert_honest(report)
    assert {u.kind for u in report.unchecked} == {"unreachable"}
    # the preflight's sentence: the server (from the kubeconfig), kubectl's words, the next step
    assert report.headline.startswith("Cannot diagnose: cannot reach the Kubernetes API server https://127.0.0.1:6443 "
                                      "(context kind-scenarios): Unable to connect to the server: dial tcp 10.0.0.1:6443: "
                                      "i/o timeout."), report.headline
    assert report.playbooks == [] and len([c for c in s.calls() if c[:2] != ["kubectl", "config"]]) < 40


# -- hangs, garbage, truncation, size -------------------------------------------------------


async def test_a_hung_call_is_killed_at_its_timeout(lab: Lab, healthy: World) -> None:
    s, _pod = lab.install(healthy, "productpage-v1", rules=[Rule(["logs"], mode="hang")])
    runner = LiveRunner(timeout_s=1.0, env=s.env(extra_path=[VENV_BIN]))
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout) as exc:
        await runner.run(["kubectl", "logs", "p", "-n", "default", "-c", "istio-proxy"])
    elapsed = time.monotonic() - t0
    assert 1.0 <= elapsed < 1.0 + 1.5, elapsed  # SIGTERM is enough: no 2 s grace spent
    assert "kubectl logs p" in str(exc.value) and "within 1s" in str(exc.value)
    assert alive_standins(s) == []


def test_cli_timeout_names_the_call(lab: Lab, healthy: World) -> None:
    s, pod = lab.install(healthy, "productpage-v1", rules=[Rule(["logs", "istio-proxy"], mode="hang")])
    t0 = time.monotonic()
    proc = cli(s, "diagnose", f"pod/{pod}", "-n", "default", "-o", "json", "--timeout", "1")
    elapsed = time.monotonic() - t0
    assert "Traceback" not in proc.stderr
    report = Report.model_validate_json(proc.stdout)
    assert proc.returncode == ExitCode.EVIDENCE_INCOMPLETE
    assert_honest(report)
    [gap] = [u for u in report.unchecked if u.kind == "timeout"]
    assert gap.command.startswith(f"kubectl logs {pod} -n default -c istio-proxy")
    assert "did not finish within 1s and was killed" in gap.reason and "--timeout" in gap.reason
    assert elapsed < 30, elapsed  # every other call finished; the hung one cost ~1 s, not 600
    assert alive_standins(s) == []


@pytest.mark.parametrize(
    ("rule", "evidence", "kind", "words"),
    [
        (Rule(["pods"], binary="kubectl", stdout="\x00\x01{{garbage", stderr="panic: runtime error: invalid memory address\n", exit=2),
         "pods(default)", "failed", ["panic: runtime error", "Run the command yourself"]),
        (Rule(["proxy-config"], mode="truncate", fraction=0.5), "config_dump", "parse_error", ["cannot read", "not valid JS"]),
        (Rule(["pod", "-o"], binary="kubectl", mode="truncate", fraction=0.3), "pod(", "parse_error", ["cannot read"]),
        (Rule(["services"], binary="kubectl", stdout="", exit=0), "services", "parse_error", ["empty output"]),
        (Rule(["version"], binary="istioctl", stdout="not json at all\n\xff", exit=0), "istioctl_version", "parse_error", ["cannot read"]),
    ],
    ids=["garbage-nonzero", "truncated-config-dump", "truncated-pod", "empty-services", "garbage-version"],
)
def test_unreadable_output(lab: Lab, healthy: World, rule: Rule, evidence: str, kind: str, words: list[str]) -> None:
    s, pod = lab.install(healthy, "productpage-v1", rules=[rule])
    report = diagnose(s, pod)
    assert_honest(report)
    gaps = [u for u in report.unchecked if u.evidence.startswith(evidence)]
    assert gaps, [u.evidence for u in report.unchecked]
    assert gaps[0].kind == kind
    for w in words:
        assert w in gaps[0].reason, gaps[0].reason


def test_a_60_mb_config_dump_through_the_runner(lab: Lab, healthy: World, tmp_path: Path) -> None:
    """Wasm modules inlined in ECDS make real dumps this big; the pipe, decode, parse and
    diagnosis must cope, and the verdict must be the same as with a small dump."""
    pod = next(p.name for p in healthy.pods if p.workload.name == "productpage-v1")
    small = WorldRunner(live_world(healthy)).run_sync(["istioctl", "proxy-config", "all", pod, "-n", "default", "-o", "json"])
    dump = json.loads(small.stdout)
    blob = "AGFzbQEAAAAB" * (20_000_000 // 12)  # base64 of a Wasm module header, repeated
    dump["configs"].append({"@type": "type.googleapis.com/envoy.admin.v3.EcdsConfigDump", "ecds_filters": [
        {"version_info": "1", "ecds_filter": {"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
                                              "name": f"wasm-{i}", "typed_config": {"vm_config": {"code": {"local": {"inline_bytes": blob}}}}}}
        for i in range(3)]})
    big = tmp_path / "dump.json"
    big.write_text(json.dumps(dump))
    assert big.stat().st_size >= 60_000_000
    s, pod = lab.install(healthy, "productpage-v1", rules=[Rule(["proxy-config", "all"], mode="file", path=str(big))])
    t0 = time.monotonic()
    report = diagnose(s, pod, timeout=60)
    elapsed = time.monotonic() - t0
    assert report.exit_code == ExitCode.OK and report.unchecked == [], report.unchecked
    assert elapsed < 30, elapsed


# -- Ctrl-C -----------------------------------------------------------------------------------


def test_sigint_while_gathering_prints_a_partial_report(lab: Lab, healthy: World) -> None:
    s, pod = lab.install(healthy, "productpage-v1", rules=[Rule(["logs"], mode="hang")])
    proc = subprocess.Popen([*entry_point(), "diagnose", f"pod/{pod}", "-n", "default", "-o", "json"],
                            env=s.env(extra_path=[VENV_BIN]), cwd=s.directory, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        _wait_for_call(s, "logs")
        time.sleep(0.3)  # let the call settle into its sleep
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err and "interrupted" in err
    report = Report.model_validate_json(out)  # the partial report, on stdout, still valid
    assert report.exit_code == ExitCode.INTERRUPTED and report.verdict != "no_problem_found"
    assert report.headline.startswith("Interrupted")
    assert alive_standins(s) == [], "the stand-ins of unfinished calls were killed"


def test_env_is_isolated_from_a_real_kubectl(lab: Lab, healthy: World) -> None:
    """Guard for every test above: PATH holds only the stand-ins and the venv."""
    s, _ = lab.install(healthy, "productpage-v1", missing=("kubectl", "istioctl"))
    path = s.env(extra_path=[VENV_BIN])["PATH"].split(os.pathsep)
    assert path == [str(s.directory), VENV_BIN]
    assert not (Path(VENV_BIN) / "kubectl").exists() and not (Path(VENV_BIN) / "istioctl").exists()
