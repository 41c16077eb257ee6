"""Every kubectl argv we build is accepted by a real kubectl.

Unit tests of argv builders only prove we build what we *think* kubectl accepts. Here a real
kubectl parses each argv against an API server address where nothing listens
(127.0.0.1:9): if the flags and verbs are valid, kubectl gets as far as dialing and fails
with a connection error; a typo in a flag fails earlier with "unknown flag". kubectl
logs/exec also dial the server, so they are covered the same way.

The binary comes from ``$ISTIO_DOCTOR_REAL_KUBECTL`` or ``.cache/bin/kubectl`` (installed by
``python tools/install_kubectl.py``). Missing binary: skipped locally, a failure in CI.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from istio_doctor.evidence.commands import every_argv
from istio_doctor.evidence.runner import LiveRunner
from istio_doctor.evidence.target import Connection

REPO = Path(__file__).resolve().parent.parent
SERVER = "https://127.0.0.1:9"
CONNECTION_ERRORS = ("connection refused", "unable to connect", "dial tcp", "was refused")
PARSE_ERRORS = ("unknown flag", "unknown command", "unknown shorthand", "error: unknown", "invalid argument",
                "flags cannot be placed", "required flag", "accepts ")

KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: {SERVER}
contexts:
- name: ctx
  context:
    cluster: nowhere
    user: nobody
users:
- name: nobody
  user:
    # any credential: without one kubectl asks for a username on the terminal instead of dialing
    token: not-a-real-token
current-context: ctx
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _real_kubectl() -> str:
    configured = os.environ.get("ISTIO_DOCTOR_REAL_KUBECTL")
    candidate = Path(configured) if configured else REPO / ".cache" / "bin" / "kubectl"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    msg = (f"no real kubectl at {candidate} (set ISTIO_DOCTOR_REAL_KUBECTL or run "
           "`python tools/install_kubectl.py`, which installs .cache/bin/kubectl)")
    if _in_ci():
        pytest.fail(f"CI must check our argv against a real kubectl: {msg}", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def kubectl() -> str:
    return _real_kubectl()


@pytest.fixture
def runner(kubectl: str, tmp_path: Path) -> tuple[LiveRunner, Path]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    home = tmp_path / "home"
    home.mkdir()
    # A throwaway HOME: kubectl must neither read the developer's ~/.kube nor write its cache there.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
    return LiveRunner(binaries={"kubectl": kubectl}, env=env, timeout_s=60), kubeconfig


# The sample connection of every_argv(): our flags reference context `ctx` and a kubeconfig path.
SAMPLE = Connection(context="ctx", kubeconfig="/tmp/kubeconfig")
KUBECTL_ARGVS = [a for a in every_argv(SAMPLE) if a[0] == "kubectl"]


def _pointed_at_nowhere(argv: tuple[str, ...], kubeconfig: Path) -> list[str]:
    out = ["kubectl", f"--server={SERVER}"]
    words = list(argv[1:])
    for i, w in enumerate(words):
        if w == "--kubeconfig" and i + 1 < len(words):
            words[i + 1] = str(kubeconfig)
    return out + words


def _verdict(stderr: str) -> tuple[bool, bool]:
    low = stderr.lower()
    return any(e in low for e in CONNECTION_ERRORS), any(e in low for e in PARSE_ERRORS)


def test_there_are_kubectl_argvs_to_check() -> None:
    assert len(KUBECTL_ARGVS) >= 20
    assert any(a[1] == "exec" for a in KUBECTL_ARGVS) and any(a[1] == "logs" for a in KUBECTL_ARGVS)


# `kubectl config ...` only reads the kubeconfig (the preflight's local questions): it never
# dials, so it must succeed against this kubeconfig and print what the preflight parses.
LOCAL_ARGVS = [a for a in KUBECTL_ARGVS if a[1] == "config"]
REMOTE_ARGVS = [a for a in KUBECTL_ARGVS if a[1] != "config"]


def test_the_preflight_local_calls_are_among_them() -> None:
    assert {a[2] for a in LOCAL_ARGVS} == {"view", "get-contexts"}


@pytest.mark.parametrize("argv", LOCAL_ARGVS, ids=[shlex.join(a[1:]) for a in LOCAL_ARGVS])
async def test_real_kubectl_answers_our_local_calls(runner: tuple[LiveRunner, Path], argv: tuple[str, ...]) -> None:
    live, kubeconfig = runner
    result = await live.run(_pointed_at_nowhere(argv, kubeconfig)[:1] + _pointed_at_nowhere(argv, kubeconfig)[2:])
    assert result.exit_code == 0, result.stderr
    if argv[2] == "view":
        # evidence/preflight.py reads "<context>\n<server>" from the jsonpath
        assert result.stdout.splitlines() == ["ctx", SERVER]
    else:
        assert result.stdout.split() == ["ctx"]


@pytest.mark.parametrize("argv", REMOTE_ARGVS, ids=[shlex.join(a[1:]) for a in REMOTE_ARGVS])
async def test_real_kubectl_accepts_our_argv(runner: tuple[LiveRunner, Path], argv: tuple[str, ...]) -> None:
    live, kubeconfig = runner
    call = _pointed_at_nowhere(argv, kubeconfig)
    result = await live.run(call)
    connection_error, parse_error = _verdict(result.stderr)
    assert result.exit_code != 0, f"{shlex.join(call)} succeeded against a server that does not exist?"
    assert not parse_error, f"kubectl rejected our argv {shlex.join(call)}:\n{result.stderr}"
    assert connection_error, f"expected a connection error from {shlex.join(call)}, got:\n{result.stderr}"


@pytest.mark.parametrize(
    "bad",
    [
        ["kubectl", "get", "pods", "--no-such-flag"],
        ["kubectl", "get", "pods", "-Z"],
        ["kubectl", "logs", "p", "--since=1hour"],
    ],
    ids=["unknown-flag", "unknown-shorthand", "bad-duration"],
)
async def test_the_check_detects_an_argv_kubectl_rejects(runner: tuple[LiveRunner, Path], bad: list[str]) -> None:
    """The harness itself: a broken argv must be told apart from a connection error."""
    live, _ = runner
    result = await live.run([bad[0], f"--server={SERVER}", *bad[1:]])
    connection_error, parse_error = _verdict(result.stderr)
    assert parse_error and not connection_error, result.stderr
