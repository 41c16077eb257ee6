"""Issue #12's report: it reads top-down in a minute and ends with what to do; fixes are safe to
paste. On real reports (the demo recording and a scenario), and on hand-built pieces where a
property needs an exact case (evidence quoted twice, a pipeline in a fix).
"""

from __future__ import annotations

import asyncio
import shlex
from functools import cache
from pathlib import Path

import pytest
import yaml

from istio_doctor.engine.model import EvidenceRef, Fix, FixStep
from istio_doctor.evidence.recording import load_recording
from istio_doctor.evidence.runner import ReplayRunner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.evidence.versions import parse_version
from istio_doctor.report.fixes import fix_script, served_api_version, steps_of, with_served_api_versions, with_session
from istio_doctor.report.model import Report
from istio_doctor.report.render import render
from istio_doctor.run import load_demo_recording_path, run_diagnosis

DEMO_POD = "pod/reviews-v2-xfvhbgf8r4-vw88b"


@cache
def demo_report(context: str | None = "kind-scenarios", kubeconfig: str | None = None) -> Report:
    runner = ReplayRunner(load_recording(load_demo_recording_path()), strict=True)
    conn = Connection(context=context, kubeconfig=kubeconfig)
    return asyncio.run(run_diagnosis(Target.parse(DEMO_POD, "default"), runner, conn)).report


# -- fixes ------------------------------------------------------------------------------------------


def test_every_fix_command_carries_the_sessions_context_and_kubeconfig() -> None:
    report = demo_report("prod-eu", "/home/sre/.kube/prod")
    commands = [s.command for f in report.findings for s in f.fix.steps if s.command]
    assert commands
    for c in commands:
        words = shlex.split(c)
        assert words[1:5] == ["--context", "prod-eu", "--kubeconfig", "/home/sre/.kube/prod"], c
    text = render(report, "text")
    assert "$ kubectl --context prod-eu --kubeconfig /home/sre/.kube/prod apply -f - <<'EOF'" in text


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("kubectl patch dr r -n a -p '{}'", "kubectl --context c patch dr r -n a -p '{}'"),
        ("kubectl get vs -A -o yaml | grep host", "kubectl --context c get vs -A -o yaml | grep host"),
        ("kubectl get cm istio -n istio-system -o yaml | kubectl apply -f -",
         "kubectl --context c get cm istio -n istio-system -o yaml | kubectl --context c apply -f -"),
        ("kubectl rollout restart deploy/a && istioctl proxy-status",
         "kubectl --context c rollout restart deploy/a && istioctl --context c proxy-status"),
        ("kubectl --context other get pods", "kubectl --context other get pods"),  # its author chose
        ("echo kubectl is great", "echo kubectl is great"),  # only commands, not words
    ],
)
def test_connection_flags_follow_each_binary(command: str, expected: str) -> None:
    assert with_session(command, Connection(context="c")) == expected



# Served versions from the CRDs Istio ships: istio/istio@1.21.0 and @1.22.0
# manifests/charts/base/crds/crd-all.gen.yaml (networking v1 and PeerAuthentication v1 appear in
# 1.22; v1beta1 is served from 1.5 to 1.30), @1.4.0 install/kubernetes/helm/istio-init/files
# (networking v1alpha3 only), telemetry v1alpha1 before 1.22.
@pytest.mark.parametrize(
    ("group", "version", "expected"),
    [
        ("networking", "1.22.0", "networking.istio.io/v1"),
        ("networking", "1.21.6", "networking.istio.io/v1beta1"),
        ("networking", "1.4.6", "networking.istio.io/v1alpha3"),
        ("security", "1.30.1", "security.istio.io/v1"),
        ("security", "1.21.0", "security.istio.io/v1beta1"),
        ("telemetry", "1.21.0", "telemetry.istio.io/v1alpha1"),
        ("telemetry", "1.24.2", "telemetry.istio.io/v1"),
        ("networking", None, "networking.istio.io/v1beta1"),  # unknown: the most widely served
        ("security", None, "security.istio.io/v1beta1"),
    ],
)
def test_manifests_use_the_api_version_the_control_plane_serves(group: str, version: str | None, expected: str) -> None:
    v = parse_version(version)
    assert served_api_version(group, v) == expected
    fix = Fix(summary="s", steps=[FixStep(
        description="d", command=f"kubectl apply -f - <<'EOF'\napiVersion: {group}.istio.io/v1\nkind: X\nEOF",
        yaml_patch=f'apiVersion: "{group}.istio.io/v1"\nkind: X\nmetadata:\n  name: x\n')])
    out = with_served_api_versions(fix, v).steps[0]
    assert f"apiVersion: {expected}\n" in (out.command or "")
    assert f'apiVersion: "{expected}"\n' in (out.yaml_patch or "")


def test_a_1_10_world_gets_a_peerauthentication_it_can_apply() -> None:
    """A real capture from Istio 1.10 (PeerAuthentication served only as v1beta1 there)."""
    rec = Path(__file__).resolve().parent.parent / "recordings/mtls/captured-nonmesh-client-nr-mesh-strict-1-10.yaml"
    runner = ReplayRunner(load_recording(rec), strict=True)
    expect = yaml.safe_load(rec.with_name(rec.name.replace(".yaml", ".expect.yaml")).read_text())
    name, _, ns = expect["target"].partition(" -n ")
    report = asyncio.run(run_diagnosis(Target.parse(name.strip(), ns.strip() or None), runner, Connection())).report
    manifests = [s.yaml_patch or "" for f in report.findings for s in f.fix.steps]
    assert any("security.istio.io/v1beta1" in m for m in manifests), manifests
    assert not any("istio.io/v1\n" in m for m in manifests)


def test_commands_and_manifests_are_separate_steps() -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: a\ndata: {}\n"
    fix = Fix(summary="s", steps=[FixStep(description="patch it", command="kubectl patch cm x -n a -p '{}'", yaml_patch=manifest),
                                  FixStep(description="merge this", yaml_patch="spec:\n  a: 1\n")])
    steps = steps_of(fix)
    assert [(bool(s.command), bool(s.manifest), bool(s.fragment)) for s in steps] == [
        (True, False, False), (False, True, False), (False, False, True)]


def test_the_fix_script_is_safe_to_run_as_is_and_applies_manifests_by_heredoc(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    report = demo_report()
    script = fix_script(report.findings, conn=Connection(context="kind-scenarios"), target=report.target)
    assert "# kubectl --context kind-scenarios apply -f - <<'EOF'" in script and "\n# EOF\n" in script
    assert "# -- 1. " in script and "# -- 2. " in script  # a comment line per step
    path = tmp_path / "fix.sh"
    path.write_text(script)
    # valid shell that does nothing until a step is uncommented (no kubectl on this PATH either)
    proc = subprocess.run(["sh", str(path)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    # uncommenting a whole step gives a runnable heredoc
    lines = script.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("# kubectl --context kind-scenarios apply"))
    end = next(i for i in range(start, len(lines)) if lines[i] == "# EOF")
    step = "\n".join(ln[2:] for ln in lines[start:end + 1])
    syntax = subprocess.run(["sh", "-n"], input=step, capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


# -- the text report ------------------------------------------------------------------------------------


def test_default_text_is_short_and_verbose_has_every_node() -> None:
    report = demo_report()
    short, full = render(report, "text"), render(report, "text", verbose=True)
    assert len(short.splitlines()) < len(full.splitlines()) * 0.6, (len(short.splitlines()), len(full.splitlines()))
    nodes = sum(len(pb.nodes) for pb in report.playbooks)
    marked = [ln for ln in full.splitlines() if ln[:4] in ("  ✔ ", "  ✘ ", "  ‼ ", "  - ", "  · ", "  ℹ ")]
    assert len(marked) >= nodes
    # by default: no passing node, one count line per playbook instead
    assert "✔ Is istiod ready" not in short and "✔ 19 passed, - 4 not applicable (-v lists them)" in short


def test_informational_triage_results_are_not_findings() -> None:
    report = demo_report()
    assert [f.code for f in report.findings] == ["MTLS-DR-DISABLE-VS-STRICT"]
    assert {o.code for o in report.observations} == {"GEN-FLAG-CLASSIFY", "GEN-WHICH-PROXY"}
    text = render(report, "text")
    assert "Findings (1), most likely root cause first:" in text
    assert "✘ Which Envoy response flags" not in text and "ℹ Which Envoy response flags do the failures carry?" in text
    assert "Triage: what the proxy logs show" in text


def test_it_ends_with_what_to_do_then_the_verdict() -> None:
    report = demo_report()
    text = render(report, "text")
    tail = text.split("What to do:\n", 1)[1]
    assert tail.startswith("  root cause: [MTLS-DR-DISABLE-VS-STRICT] ")
    assert "$ kubectl --context kind-scenarios patch destinationrule ratings -n default" in tail
    last = tail.strip().split("\n\n")[-1]
    assert " ".join(last.split()) == "✘ " + report.headline


def test_evidence_quoted_by_several_findings_is_shown_once() -> None:
    report = demo_report().model_copy(deep=True)
    first = report.findings[0]
    second = first.model_copy(update={"code": "P503-KEEPALIVE-UC", "rank": 2,
                                      "evidence": [first.evidence[3], EvidenceRef(source=first.evidence[3].source,
                                                                                  excerpt=first.evidence[3].excerpt.splitlines()[0],
                                                                                  note="one of them")]})
    report.findings.append(second)
    text = render(report, "text")
    line = first.evidence[3].excerpt.splitlines()[0].strip()
    assert sum(1 for ln in text.splitlines() if ln.strip() == line) == 1
    assert "# the client's failing requests: the lines quoted in [E4 (finding 1)]" in text
    assert "# one of them: the lines quoted in [E4 (finding 1)]" in text


def test_commands_carry_no_kubeconfig_the_user_did_not_type(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """$KUBECONFIG is kubectl's to read: it is not turned into --kubeconfig on every command."""
    from istio_doctor.cli import build_parser

    monkeypatch.setenv("KUBECONFIG", "/tmp/pytest-kubeconfig")
    args = build_parser(["diagnose"]).parse_args(["diagnose", "pod/x"])
    assert args.kubeconfig is None


def test_the_verdict_names_the_most_basic_failure_not_the_first_call() -> None:
    """RBAC refuses events at once, istioctl is missing, every other call prints nothing (a parse
    failure each): nothing is found, and the verdict names istioctl, the most basic of the three
    roots; 'Could not check' has one line per root."""
    from istio_doctor.evidence.errors import BinaryNotFound
    from istio_doctor.evidence.runner import INSTALL_HINTS, CommandResult, Runner

    class Cluster(Runner):
        async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
            if argv[0] == "istioctl":
                raise BinaryNotFound(argv, "istioctl", INSTALL_HINTS["istioctl"])
            if argv[:3] == ["kubectl", "get", "events"]:
                return CommandResult(argv=tuple(argv), exit_code=1, stdout="", duration_s=0.0, stderr=(
                    'Error from server (Forbidden): events is forbidden: User "dev" cannot list resource "events" '
                    'in API group "" in the namespace "default"\n'))
            return CommandResult(argv=tuple(argv), exit_code=0, stdout="", duration_s=0.0)  # unreadable

    report = asyncio.run(run_diagnosis(Target.parse("pod/p", "default"), Cluster(), Connection())).report
    kinds = [g.kind for g in report.gaps]
    assert kinds.index("missing_binary") < kinds.index("forbidden"), kinds
    assert report.gaps[0].cause == "`istioctl` was not found on PATH"
    assert report.verdict == "inconclusive"
    assert "`istioctl` was not found on PATH" in report.headline and "RBAC" not in report.headline
    text = render(report, "text")
    section = text.split("Could not check:\n", 1)[1].split("\n\n", 1)[0]
    assert sum(1 for ln in section.splitlines() if ln.startswith("  ‼ ")) == len(report.gaps)
    assert '  ‼ [G2] RBAC: user "dev" may not list events in namespace default' in section
