"""``--help`` is instant and documents the exit codes; the CLI stays headless at import."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from istio_doctor.exitcodes import ExitCode

ROOT = Path(__file__).resolve().parent.parent
HELP_BUDGET_S = 0.25


def _python(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    # cwd=ROOT puts the checkout first on sys.path, as an editable install would
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload]


def test_help_runs_within_budget_measured_in_a_fresh_interpreter() -> None:
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        proc = _python("-m", "istio_doctor", "--help")
        timings.append(time.perf_counter() - t0)
        assert proc.returncode == 0, proc.stderr
    assert min(timings) <= HELP_BUDGET_S, f"--help took {min(timings):.3f}s at best (budget {HELP_BUDGET_S}s)"


def _console_script(name: str) -> Path:
    return Path(sys.executable).parent / name


@pytest.mark.skipif(not _console_script("istio-doctor").is_file(), reason="package not installed in this interpreter")
def test_console_script_help_within_budget() -> None:
    # the console script's own import path (entry point shim) counts against the budget too
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        proc = subprocess.run([str(_console_script("istio-doctor")), "--help"], capture_output=True, text=True, timeout=60)
        timings.append(time.perf_counter() - t0)
        assert proc.returncode == 0, proc.stderr
    assert min(timings) <= HELP_BUDGET_S, f"istio-doctor --help took {min(timings):.3f}s at best"


@pytest.mark.skipif(not _console_script("kubectl-istio_doctor").is_file(), reason="package not installed in this interpreter")
def test_kubectl_plugin_console_script_names_itself_as_kubectl_subcommand() -> None:
    proc = subprocess.run([str(_console_script("kubectl-istio_doctor")), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: kubectl istio-doctor ")


def test_help_documents_every_exit_code() -> None:
    out = _python("-m", "istio_doctor", "--help").stdout
    assert "exit codes:" in out
    for code in ExitCode:
        line = next(ln for ln in out.splitlines() if ln.split()[:2] == [str(int(code)), code.name.lower()])
        assert code.doc[:40] in line
    for command in ("diagnose", "demo", "tui", "proxy-config", "playbooks", "schema", "completion"):
        assert f"    {command}" in out


def test_parsing_any_command_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from istio_doctor.cli import build_parser\n"
        "for argv in (['diagnose','pod/x'], ['demo'], ['tui'], ['schema','report'], ['completion','bash'],"
        " ['playbooks','list']):\n"
        "    build_parser(argv).parse_args(argv)\n"
        "heavy = sorted(m for m in ('pydantic', 'yaml', 'rich', 'textual', 'kubernetes') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_no_arguments_without_a_terminal_prints_help_and_exits_2() -> None:
    proc = _python("-m", "istio_doctor", stdin=subprocess.DEVNULL)
    assert proc.returncode == ExitCode.USAGE
    assert proc.stdout == ""
    assert proc.stderr.startswith("usage: istio-doctor")


def test_subcommand_help_lists_its_flags() -> None:
    out = _python("-m", "istio_doctor", "diagnose", "--help").stdout
    for flag in ("-n NAMESPACE", "--context", "--kubeconfig", "--istio-namespace", "--symptom", "--since", "--timeout",
                 "--verbose", "--output", "--no-color", "--record", "--replay", "--playbooks"):
        assert flag in out, flag
    assert "pod/NAME, deploy/NAME, svc/NAME, ns/NAME" in out
