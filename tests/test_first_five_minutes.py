"""Issue #12's acceptance matrix: a new user's first five minutes against clusters that are not
healthy to reach, through the installed CLI and the real kubectl, with exit code, elapsed time
and last line asserted for each.

Every case is a real process talking to a real local endpoint (tests/localcluster.py): a
missing kubectl, no kubeconfig, a mistyped context, a refused port, a socket that accepts and
never answers, an HTTP server that is not Kubernetes, a small API server that forbids one
resource, and Ctrl-C while a call hangs. The strings asserted are kubectl v1.35's own messages,
captured against these servers (they are quoted in evidence/preflight.py):

* ``error: cannot locate context nope`` / ``error: context "nope" does not exist``
* ``error: current-context must exist in order to minify`` (no kubeconfig at all)
* ``The connection to the server 127.0.0.1:PORT was refused - did you specify the right host or port?``
* ``Unable to connect to the server: net/http: request canceled while waiting for connection
  (Client.Timeout exceeded while awaiting headers)`` (the hanging socket, --request-timeout=5s)
* ``Error from server (NotFound): the server could not find the requested resource`` (HTTP 404)
* ``Error from server (Forbidden): events is forbidden: User "oncall" cannot list resource
  "events" in API group "" in the namespace "shop"``

The real kubectl comes from ``$ISTIO_DOCTOR_REAL_KUBECTL`` or ``.cache/bin/kubectl``: absent,
these tests skip locally and fail in CI (tests/test_real_kubectl.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from istio_doctor.exitcodes import ExitCode
from tests.localcluster import FakeApiServer, HangingServer, StaticHttpServer, closed_port, write_kubeconfig
from tests.test_real_kubectl import _real_kubectl

VENV_BIN = str(Path(sys.executable).parent)
#: issue #12: "A hanging server is reported in <= 15 s with default flags"
HANG_BUDGET_S = 15.0
#: every other case ends as soon as kubectl answers; generous for a loaded CI machine
FAST_BUDGET_S = 15.0
KLOG = re.compile(r"^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+", re.M)


def _entry() -> list[str]:
    script = Path(VENV_BIN) / "istio-doctor"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]


class Desk:
    """An on-call engineer's machine: an empty HOME, a PATH holding the real kubectl (or not)
    and the installed istio-doctor, and nothing else (no istioctl: its absence only degrades)."""

    def __init__(self, root: Path, kubectl: str | None) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.bin = root / "bin"
        self.bin.mkdir()
        if kubectl is not None:
            (self.bin / "kubectl").symlink_to(kubectl)

    def env(self, **extra: str) -> dict[str, str]:
        env = {"HOME": str(self.home), "PATH": os.pathsep.join([str(self.bin), VENV_BIN]), "LANG": "C.UTF-8"}
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
        t0 = time.monotonic()
        proc = subprocess.run([*_entry(), *args], env=env or self.env(), cwd=self.root, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return proc, time.monotonic() - t0


@pytest.fixture(scope="module")
def kubectl() -> str:
    return _real_kubectl()


@pytest.fixture
def desk(tmp_path: Path, kubectl: str) -> Desk:
    return Desk(tmp_path, kubectl)


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    s = HangingServer()
    yield s
    s.close()


def last_paragraph(stdout: str) -> str:
    """The report's last line, unwrapped: the verdict (it wraps at the terminal's width)."""
    paragraphs = [p for p in stdout.strip().split("\n\n") if p.strip()]
    return " ".join(paragraphs[-1].split()) if paragraphs else ""


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    """No traceback, no klog header, no sentence repeated line after line."""
    both = proc.stdout + proc.stderr
    assert "Traceback" not in both and "Event loop is closed" not in both, proc.stderr
    assert not KLOG.search(proc.stdout), "klog headers are stripped"
    failures = re.compile(r"not found|refused|forbidden|could not|cannot|timed out|unreachable", re.I)
    # a fix command is repeated on purpose in the closing block, and "see [G1]" only points
    lines = [ln.strip() for ln in proc.stdout.splitlines()
             if failures.search(ln) and not ln.strip().startswith("$") and "see [G" not in ln]
    repeated = {ln: lines.count(ln) for ln in set(lines) if lines.count(ln) > 1}
    assert not repeated, f"the same failure said more than once (root failures must be grouped): {repeated}"


def _target() -> list[str]:
    return ["diagnose", "pod/productpage-v1-6b746f74dc-9stvs", "-n", "bookinfo", "--no-color"]


# -- the matrix -------------------------------------------------------------------------------------


def test_no_kubectl(tmp_path: Path) -> None:
    desk = Desk(tmp_path, kubectl=None)
    kc = write_kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{closed_port()}")
    proc, elapsed = desk.run(*_target(), "--kubeconfig", str(kc))
    assert_clean(proc)
    assert proc.returncode == ExitCode.EVIDENCE_INCOMPLETE, proc.stderr
    assert elapsed < FAST_BUDGET_S, elapsed
    assert last_paragraph(proc.stdout).startswith(
        "‼ Cannot diagnose: kubectl was not found on PATH, and istio-doctor reads the cluster through it. "
        "Install it: https://kubernetes.io/docs/tasks/tools/ (or put it on PATH); to see a diagnosis without a "
        "cluster, try `istio-doctor demo`.")


def test_no_kubeconfig(desk: Desk) -> None:
    proc, elapsed = desk.run(*_target())  # empty HOME, no KUBECONFIG, no --kubeconfig
    assert_clean(proc)
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert elapsed < FAST_BUDGET_S, elapsed
    last = last_paragraph(proc.stdout)
    assert last.startswith("‼ Cannot diagnose: no Kubernetes context is selected: the kubeconfig kubectl reads "
                           "($KUBECONFIG, else ~/.kube/config) has no current context; it has no contexts at all."), last
    assert "`istio-doctor demo`" in last
    # not "istioctl was not found", and not the localhost:8080 kubectl falls back to
    assert "istioctl" not in last and "8080" not in last


def test_unreadable_kubeconfig(desk: Desk, tmp_path: Path) -> None:
    proc, elapsed = desk.run(*_target(), "--kubeconfig", str(tmp_path / "missing" / "config"))
    assert_clean(proc)
    assert proc.returncode == ExitCode.USAGE
    assert elapsed < FAST_BUDGET_S, elapsed
    assert last_paragraph(proc.stdout) == (
        f"‼ Cannot diagnose: cannot read kubeconfig {tmp_path / 'missing' / 'config'}: no such file or directory. "
        "Pass the right file with --kubeconfig (or KUBECONFIG), or to see a diagnosis without a cluster, try "
        "`istio-doctor demo`.")


def test_bad_context(desk: Desk, tmp_path: Path) -> None:
    kc = write_kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{closed_port()}", contexts=("lab", "prod"), current="prod")
    proc, elapsed = desk.run(*_target(), "--kubeconfig", str(kc), "--context", "nope")
    assert_clean(proc)
    assert proc.returncode == ExitCode.USAGE, proc.stderr  # a typo is a usage error, not an unreachable cluster
    assert elapsed < FAST_BUDGET_S, elapsed
    assert last_paragraph(proc.stdout) == (
        f'‼ Cannot diagnose: context "nope" is not in --kubeconfig {kc}; its contexts are: lab, prod. '
        "Pass one of them with --context, or to see a diagnosis without a cluster, try `istio-doctor demo`.")


def test_unreachable_server(desk: Desk, tmp_path: Path) -> None:
    port = closed_port()
    kc = write_kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{port}")
    proc, elapsed = desk.run(*_target(), "--kubeconfig", str(kc))
    assert_clean(proc)
    assert proc.returncode == ExitCode.EVIDENCE_INCOMPLETE
    assert elapsed < FAST_BUDGET_S, elapsed
    assert last_paragraph(proc.stdout) == (
        f"‼ Cannot diagnose: cannot reach the Kubernetes API server https://127.0.0.1:{port} (context ctx): "
        f"The connection to the server 127.0.0.1:{port} was refused - did you specify the right host or port?. "
        "Check the VPN, proxy or firewall and that the cluster is up (`kubectl cluster-info`); to see a diagnosis "
        "without a cluster, try `istio-doctor demo`.")


def test_hanging_server_is_reported_within_15_seconds(desk: Desk, tmp_path: Path, hanging: HangingServer) -> None:
    """A socket that accepts and never answers (a dropped VPN): it used to take ~4 minutes."""
    kc = write_kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{hanging.port}")
    proc, elapsed = desk.run(*_target(), "--kubeconfig", str(kc))  # default flags
    assert_clean(proc)
    assert proc.returncode == ExitCode.EVIDENCE_INCOMPLETE
    assert elapsed <= HANG_BUDGET_S, elapsed
    assert hanging.accepted >= 1, "kubectl really dialed the socket"
    last = last_paragraph(proc.stdout)
    assert last.startswith(f"‼ Cannot diagnose: cannot reach the Kubernetes API server https://127.0.0.1:{hanging.port} "
                           "(context ctx): no answer within 5s (Unable to connect to the server:"), last
    assert last.endswith("try `istio-doctor demo`.")
    print(f"hanging server reported after {elapsed:.1f}s")


def test_hanging_server_in_a_terminal(desk: Desk, tmp_path: Path, hanging: HangingServer) -> None:
    """The same in a pseudo-terminal (progress on screen, colour): the verdict is the last line."""
    pexpect = pytest.importorskip("pexpect")
    kc = write_kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{hanging.port}")
    t0 = time.monotonic()
    child = pexpect.spawn(_entry()[0], [*_entry()[1:], *_target(), "--kubeconfig", str(kc)], env=desk.env(TERM="xterm"),
                          cwd=str(tmp_path), dimensions=(40, 120), encoding="utf-8", timeout=HANG_BUDGET_S + 10)
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close()
    elapsed = time.monotonic() - t0
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before or "").replace("\r", "")
    assert child.exitstatus == ExitCode.EVIDENCE_INCOMPLETE, out[-2000:]
    assert elapsed <= HANG_BUDGET_S, elapsed
    assert "Traceback" not in out
    assert last_paragraph(out).startswith("‼ Cannot diagnose: cannot reach the Kubernetes API server"), out[-1500:]


def test_non_api_http_server(desk: Desk, tmp_path: Path) -> None:
    server = StaticHttpServer(404)
    try:
        kc = write_kubeconfig(tmp_path / "kc", server.url)
        proc, elapsed = desk.run(*_target(), "--kubeconfig", str(kc))
    finally:
        server.close()
    assert_clean(proc)
    assert proc.returncode == ExitCode.EVIDENCE_INCOMPLETE
    assert elapsed < FAST_BUDGET_S, elapsed
    last = last_paragraph(proc.stdout)
    # not "pod bookinfo/productpage-v1-... was not found"
    assert last == (
        f"‼ Cannot diagnose: {server.url} answered, but not as a Kubernetes API server (GET /version: Error from "
        "server (NotFound): the server could not find the requested resource). Check the server URL of context ctx "
        f"in --kubeconfig {kc}; a proxy or load balancer in front of the cluster can answer like this. To see a "
        "diagnosis without a cluster, try `istio-doctor demo`.")
    assert "was not found" not in proc.stdout


def test_rbac_forbidden_on_one_resource(desk: Desk, tmp_path: Path) -> None:
    """One resource refused by RBAC is one line under 'Could not check', with the checks it
    blocked and what to do; the rest of the diagnosis goes on (here it finds no istiod)."""
    api = FakeApiServer(forbidden=("events",))
    try:
        kc = write_kubeconfig(tmp_path / "kc", api.url)
        proc, elapsed = desk.run("diagnose", f"pod/{api.POD}", "-n", api.NAMESPACE, "--kubeconfig", str(kc), "--no-color")
    finally:
        api.close()
    assert_clean(proc)
    assert proc.returncode == ExitCode.PROBLEMS_FOUND, proc.stdout[-3000:]
    assert elapsed < FAST_BUDGET_S * 2, elapsed
    section = proc.stdout.split("Could not check:\n", 1)[1].split("\n\n", 1)[0]
    rbac = [ln for ln in section.splitlines() if ln.startswith("  ‼ ") and "RBAC" in ln]
    # istioctl is not installed on this desk: [G1], more basic; the RBAC refusal is [G2], once
    assert rbac == ['  ‼ [G2] RBAC: user "oncall" may not list events in namespace shop (1 check(s) blocked)'], section
    assert "‼ could not check (1, see [G2] below): INJ-WEBHOOK-DOWN" in proc.stdout
    assert "kubectl auth can-i --list" in section and f"$ kubectl get events -n shop -o json --kubeconfig {kc}" in section
    assert last_paragraph(proc.stdout).startswith("✘ Most likely root cause: [GEN-ISTIOD-HEALTH] istiod is not healthy")
    # the fix acts on the diagnosed cluster when pasted
    assert f"$ kubectl --kubeconfig {kc} get deploy -A -l app=istiod" in proc.stdout


def test_ctrl_c_during_gather(desk: Desk, tmp_path: Path) -> None:
    """SIGINT, repeatedly, while a call hangs: a partial report, exit 130, no traceback."""
    api = FakeApiServer(hang=("/endpointslices",))
    kc = write_kubeconfig(tmp_path / "kc", api.url)
    t0 = time.monotonic()
    proc = subprocess.Popen([*_entry(), "diagnose", f"pod/{api.POD}", "-n", api.NAMESPACE, "--kubeconfig", str(kc),
                             "--no-color"], env=desk.env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    try:
        assert api.hung.wait(60), "the gathering reached the hanging call"
        time.sleep(0.2)
        for _ in range(3):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.15)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        api.close()
    elapsed = time.monotonic() - t0
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert_clean(result)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "interrupted: the report below is partial" in err
    assert elapsed < 60, elapsed
    # a partial report: what arrived was walked (here: no istiod found), the rest is one gap
    assert re.match(r"[✘‼] Interrupted: partial diagnosis from the evidence gathered so far\. ", last_paragraph(out)), out[-2000:]
    assert "[G1] interrupted (Ctrl-C) before this evidence arrived" in out
    assert "pod/web-7d4b9c8f6-x2k9p -n shop" in out.splitlines()[0]
