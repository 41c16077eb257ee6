"""The CLI as an API, driven in-process through ``main(argv)`` against a fake session.

The fake stands in for ``istio_doctor.run`` so these tests pin the CLI's own contract
(validation before any runner, stdout only the report, exit codes, stderr messages) whatever
the engine finds.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from istio_doctor.cli import main
from istio_doctor.cli.diagnose_cmd import since_value, want_color
from istio_doctor.exitcodes import ExitCode
from istio_doctor.report.model import Report

FIXTURES = Path(__file__).parent / "fixtures" / "reports"
ANSI = re.compile(r"\x1b\[")


def fixture_report(name: str) -> Report:
    return Report.model_validate_json((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


class FakeRunner:
    replaying = False

    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class FakeSession(types.ModuleType):
    """Records what the CLI asked for and answers with a fixture report."""

    def __init__(self, report: Report | None = None, *, raise_in_run: BaseException | None = None) -> None:
        super().__init__("istio_doctor.run")
        self.report = report or fixture_report("two-findings")
        self.raise_in_run = raise_in_run
        self.runner_kwargs: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self.runner = FakeRunner()

    def make_runner(self, **kwargs: Any) -> FakeRunner:
        self.runner_kwargs.append(kwargs)
        return self.runner

    async def run_diagnosis(self, target: Any, runner: Any, conn: Any, **kwargs: Any) -> Any:
        self.runs.append({"target": target, "conn": conn, **kwargs})
        progress = kwargs.get("on_progress")
        if progress is not None:
            for call in self.report.calls:
                progress(types.SimpleNamespace(phase="call_started", command=call.command, exit_code=None,
                                               duration_s=None, message="", done=0, total=len(self.report.calls)))
                progress(types.SimpleNamespace(phase="call_finished", command=call.command, exit_code=call.exit_code,
                                               duration_s=call.duration_s, message=call.error, done=1,
                                               total=len(self.report.calls)))
        if self.raise_in_run is not None:
            raise self.raise_in_run
        return types.SimpleNamespace(report=self.report, evidence=None, results=[])


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> FakeSession:
    fake = FakeSession()
    monkeypatch.setitem(sys.modules, "istio_doctor.run", fake)
    monkeypatch.delenv("ISTIO_DOCTOR_DEBUG", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- names are rejected before any runner exists -----------------------------------------


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["diagnose", "pod/-rf"], "'-rf' is not a valid Kubernetes resource name"),
        (["diagnose", "pod/a;b"], "'a;b' is not a valid Kubernetes resource name"),
        (["diagnose", "ns/Foo"], "'Foo' is not a valid namespace name"),
        (["diagnose", "deploy/x", "-n", "Bad_NS"], "'Bad_NS' is not a valid namespace name"),
        (["diagnose", "pod/$(reboot)"], "is not a valid Kubernetes resource name"),
        (["diagnose", "widget/x"], "unknown target kind 'widget'"),
        (["diagnose", "pod/x", "--istio-namespace", "Istio"], "'Istio' is not a valid namespace name"),
        (["diagnose", "pod/x", "--since", "1d"], "invalid duration '1d'"),
        (["diagnose", "pod/x", "--since", "0m"], "invalid duration '0m'"),
        (["diagnose", "pod/x", "--timeout", "-1"], "invalid timeout '-1'"),
        (["diagnose", "pod/x", "--symptom", "slow"], "unknown symptom 'slow'"),
        (["diagnose", "pod/x", "-o", "html"], "invalid choice: 'html'"),
        (["diagnose", "pod/x", "--replay", "/nonexistent/rec.yaml"], "cannot read recording /nonexistent/rec.yaml"),
        (["diagnose", "pod/x", "--playbooks", "/nonexistent/dir"], "playbook folder /nonexistent/dir does not exist"),
        (["diagnose", "pod/x", "--record", "/nonexistent/dir/rec.yaml"], "cannot record to"),
        (["diagnose", "pod/x", "--record", "a.yaml", "--replay", "b.yaml"], "not allowed with argument"),
        (["diagnose"], "TARGET is required"),
        (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
        (["tui", "--pod", "Bad/Name"], "'Bad/Name' is not a valid Kubernetes resource name"),
        (["tui", "--context", "--x"], "expected one argument"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_no_runner(
    session: FakeSession, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == ExitCode.USAGE
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("istio-doctor: error: "), err
    assert fragment in err
    assert session.runner_kwargs == [] and session.runs == []


def test_since_accepts_kubectl_durations() -> None:
    for ok in ("90s", "30m", "2h", "1h30m", "1h0m5s"):
        assert since_value(ok) == ok
    for bad in ("", "h", "1", "-1h", "1h;id", "1.5h", "1d"):
        with pytest.raises(Exception):
            since_value(bad)


# -- a diagnosis: stdout carries only the report, the exit code is the report's ---------------


@pytest.mark.parametrize(
    "fixture, expected",
    [("two-findings", ExitCode.PROBLEMS_FOUND), ("healthy", ExitCode.OK), ("inconclusive", ExitCode.EVIDENCE_INCOMPLETE)],
)
def test_exit_code_is_the_reports(
    session: FakeSession, capsys: pytest.CaptureFixture[str], fixture: str, expected: ExitCode
) -> None:
    session.report = fixture_report(fixture)
    code, out, err = run(capsys, "diagnose", "pod/productpage-v1", "-n", "bookinfo")
    assert code == expected
    assert out.startswith("istio-doctor 0.1.0: ")
    assert err == ""  # no TTY: no progress display, and nothing else belongs on stderr


def test_json_output_is_only_the_report(session: FakeSession, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diagnose", "svc/reviews", "-n", "bookinfo", "-o", "json")
    assert code == ExitCode.PROBLEMS_FOUND
    assert Report.model_validate(json.loads(out)) == session.report
    assert err == ""


def test_arguments_reach_the_session(session: FakeSession, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "extra").mkdir()
    code, _, _ = run(
        capsys, "diagnose", "deploy/reviews-v2", "-n", "bookinfo", "--context", "kind-mesh", "--istio-namespace",
        "istio-control", "--symptom", "mtls", "--since", "30m", "--timeout", "5", "--playbooks", str(tmp_path / "extra"),
    )
    assert code == ExitCode.PROBLEMS_FOUND
    (kw,) = session.runner_kwargs
    assert kw["timeout_s"] == 5.0 and kw["replay"] is None and kw["record"] is None
    assert kw["conn"].context == "kind-mesh" and kw["conn"].istio_namespace == "istio-control"
    (call,) = session.runs
    assert str(call["target"]) == "deploy/reviews-v2 -n bookinfo"
    assert call["symptom"] == "mtls" and call["since"] == "30m"
    assert call["playbook_dirs"] == [tmp_path / "extra"]
    assert session.runner.closed


def test_target_forms(session: FakeSession, capsys: pytest.CaptureFixture[str]) -> None:
    for text, expected in [
        ("productpage-v1-abc.bookinfo", "pod/productpage-v1-abc -n bookinfo"),
        ("productpage-v1-abc", "pod/productpage-v1-abc -n default"),
        ("ns/bookinfo", "ns/bookinfo"),
        ("deployment/reviews", "deploy/reviews -n default"),
    ]:
        session.runs.clear()
        run(capsys, "diagnose", text)
        assert str(session.runs[0]["target"]) == expected


def test_namespace_defaults_to_the_kubeconfig_context(
    session: FakeSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        """
apiVersion: v1
kind: Config
current-context: dev
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts:
- {name: dev, context: {cluster: c, user: u, namespace: bookinfo}}
- {name: prod, context: {cluster: c, user: u, namespace: payments}}
"""
    )
    run(capsys, "diagnose", "pod/x", "--kubeconfig", str(kubeconfig))
    assert session.runs[-1]["target"].namespace == "bookinfo"
    run(capsys, "diagnose", "pod/x", "--kubeconfig", str(kubeconfig), "--context", "prod")
    assert session.runs[-1]["target"].namespace == "payments"
    run(capsys, "diagnose", "pod/x", "--kubeconfig", str(kubeconfig), "-n", "other")
    assert session.runs[-1]["target"].namespace == "other"
    run(capsys, "diagnose", "pod/x", "--kubeconfig", str(tmp_path / "missing"))
    assert session.runs[-1]["target"].namespace == "default"


def test_verbose_lists_every_call_on_stderr(session: FakeSession, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diagnose", "pod/x", "-v", "-o", "json")
    json.loads(out)
    lines = err.splitlines()
    assert len(lines) == len(session.report.calls)
    assert lines[0].split() == ["exit", "0", "0.21s", "kubectl", "version", "-o", "json"]
    assert "exit   1" in lines[-1] and "(Error from server (Forbidden)" in lines[-1]


def test_ctrl_c_without_a_report_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeSession(raise_in_run=KeyboardInterrupt())
    monkeypatch.setitem(sys.modules, "istio_doctor.run", fake)
    code, out, err = run(capsys, "diagnose", "pod/x")
    assert code == ExitCode.INTERRUPTED
    assert out == ""
    assert "interrupted after 7 finished call(s)" in err
    assert err.rstrip().endswith("interrupted")


def test_partial_report_after_ctrl_c_is_printed_with_130(
    session: FakeSession, capsys: pytest.CaptureFixture[str]
) -> None:
    session.report = fixture_report("inconclusive").model_copy(update={"exit_code": 130})
    code, out, err = run(capsys, "diagnose", "pod/x")
    assert code == ExitCode.INTERRUPTED
    assert "interrupted: the report below is partial" in err
    assert out.startswith("istio-doctor")


def test_unexpected_errors_are_one_sentence_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeSession(raise_in_run=RuntimeError("kaboom\nsecond line"))
    monkeypatch.setitem(sys.modules, "istio_doctor.run", fake)
    monkeypatch.delenv("ISTIO_DOCTOR_DEBUG", raising=False)
    code, out, err = run(capsys, "diagnose", "pod/x")
    assert code == ExitCode.EVIDENCE_INCOMPLETE
    assert out == ""
    assert err == "istio-doctor: error: kaboom (RuntimeError; set ISTIO_DOCTOR_DEBUG=1 for a traceback)\n"
    monkeypatch.setenv("ISTIO_DOCTOR_DEBUG", "1")
    with pytest.raises(RuntimeError, match="kaboom"):
        main(["diagnose", "pod/x"])


def test_colour_rules() -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    class Pipe:
        def isatty(self) -> bool:
            return False

    assert want_color(False, Tty(), {}) is True
    assert want_color(False, Tty(), {"NO_COLOR": "1"}) is False
    assert want_color(True, Tty(), {}) is False
    assert want_color(False, Pipe(), {}) is False


def test_piped_text_report_has_no_escape_codes(session: FakeSession, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "diagnose", "pod/x")
    assert out and not ANSI.search(out)


def test_kubectl_plugin_program_name(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/kubectl-istio_doctor"])
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert out.startswith("usage: kubectl istio-doctor ")
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/istio-doctor"])
    _, out, _ = run(capsys, "--version")
    assert out.strip() == "istio-doctor 0.1.0"


def test_tui_refuses_without_a_terminal(session: FakeSession, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tui", "--pod", "productpage-v1", "-n", "bookinfo")
    assert code == ExitCode.USAGE
    assert "the TUI needs a terminal" in err and out == ""


def test_tui_options_from_flags(
    session: FakeSession, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import istio_doctor.tui as tui

    seen: list[Any] = []
    monkeypatch.setattr(tui, "run_tui", lambda options: seen.append(options) or 0)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    code = main(["tui", "--context", "kind-mesh", "-n", "bookinfo", "--pod", "productpage-v1", "--symptom", "503"])
    assert code == 0
    (opts,) = seen
    assert (opts.context, opts.namespace, opts.pod, opts.symptom) == ("kind-mesh", "bookinfo", "productpage-v1", "503")
