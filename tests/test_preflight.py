"""The preflight (evidence/preflight.py): each answer kubectl can give, classified into one
sentence and an exit code, through a scripted runner. The stderr texts are kubectl v1.35's own,
captured against local servers (tests/test_first_five_minutes.py runs the real thing).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest

from istio_doctor.evidence.errors import BinaryNotFound, CommandTimeout
from istio_doctor.evidence.preflight import PreflightStatus, run_preflight
from istio_doctor.evidence.recording import RecordedCall, Recording, RecordingMetadata
from istio_doctor.evidence.runner import INSTALL_HINTS, CommandResult, ReplayRunner, Runner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.exitcodes import ExitCode

CLIENT = json.dumps({"clientVersion": {"gitVersion": "v1.35.2"}})
SERVER = json.dumps({"clientVersion": {"gitVersion": "v1.35.2"}, "serverVersion": {"gitVersion": "v1.30.0"}})
ISTIOCTL = json.dumps({"clientVersion": {"version": "1.22.3"}})
KC_OK = "prod\nhttps://10.0.0.1:6443"


class Scripted(Runner):
    """Answers by the argv's first three words; anything else is an empty success."""

    def __init__(self, answers: dict[tuple[str, ...], CommandResult | Exception | tuple[int, str, str]],
                 delay_s: float = 0.0) -> None:
        self.answers = answers
        self.delay_s = delay_s
        self.calls: list[tuple[str, ...]] = []

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        self.calls.append(tuple(argv))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        a = self.answers.get(tuple(argv[:3]))
        if isinstance(a, Exception):
            raise a
        if isinstance(a, tuple):
            code, out, err = a
            return CommandResult(argv=tuple(argv), exit_code=code, stdout=out, stderr=err, duration_s=0.01)
        return CommandResult(argv=tuple(argv), exit_code=0, stdout="", duration_s=0.01)


def healthy(over: dict[tuple[str, ...], object] | None = None) -> dict[tuple[str, ...], object]:
    base: dict[tuple[str, ...], object] = {
        ("kubectl", "config", "view"): (0, KC_OK, ""),
        ("kubectl", "version", "-o"): (0, SERVER, ""),
        ("istioctl", "version", "--remote=false"): (0, ISTIOCTL, ""),
        ("kubectl", "config", "get-contexts"): (0, "dev\nprod\n", ""),
    }
    base.update(over or {})
    return base


def pf(answers: dict[tuple[str, ...], object], conn: Connection | None = None):  # type: ignore[no-untyped-def]
    return asyncio.run(run_preflight(Scripted(answers), conn or Connection()))  # type: ignore[arg-type]


VERSION = ("kubectl", "version", "-o")
VIEW = ("kubectl", "config", "view")


def test_a_healthy_cluster() -> None:
    p = pf(healthy())
    assert p.failure is None and (p.context, p.server) == ("prod", "https://10.0.0.1:6443")
    assert [(c.name, c.status) for c in p.checks] == [
        ("kubectl", PreflightStatus.OK), ("kubeconfig", PreflightStatus.OK), ("api-server", PreflightStatus.OK),
        ("istioctl", PreflightStatus.OK)]
    assert p.check("api-server").detail == "Kubernetes v1.30.0 at https://10.0.0.1:6443"
    assert p.check("istioctl").detail == "istioctl 1.22.3"


def test_no_kubectl_stops_the_run_with_its_install_page() -> None:
    missing = BinaryNotFound(["kubectl"], "kubectl", INSTALL_HINTS["kubectl"])
    p = pf(healthy({VIEW: missing, VERSION: missing}))
    assert p.failure is not None and p.failure.kind == "missing_kubectl" and not p.failure.usage
    assert "https://kubernetes.io/docs/tasks/tools/" in p.failure.sentence and "istio-doctor demo" in p.failure.sentence


@pytest.mark.parametrize(
    ("view_err", "version_err", "kind", "words"),
    [
        ("error: cannot locate context nope\n", 'error: context "nope" does not exist\n', "context",
         ['context "nope" is not in', "its contexts are: dev, prod", "--context"]),
        ("error: current-context must exist in order to minify\n",
         "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n",
         "kubeconfig", ["no current context", "its contexts are: dev, prod", "kubectl config use-context"]),
        ("error: current-context must exist in order to minify\n", "error: stat /nope/kc: no such file or directory\n",
         "kubeconfig", ["cannot read kubeconfig /nope/kc: no such file or directory"]),
        ('error: error loading config file "/x": yaml: line 1: did not find expected node content\n',
         'error: error loading config file "/x": yaml: line 1: did not find expected node content\n', "kubeconfig",
         ["cannot read the kubeconfig", "did not find expected node content"]),
        ("error: cannot locate cluster gone\n", "", "context", ['names cluster "gone"']),
    ],
    ids=["unknown-context", "no-current-context", "missing-file", "bad-yaml", "dangling-cluster"],
)
def test_kubeconfig_problems_are_usage_errors(view_err: str, version_err: str, kind: str, words: list[str]) -> None:
    conn = Connection(context="nope") if kind == "context" and "nope" in view_err else Connection()
    p = pf(healthy({VIEW: (1, "", view_err), VERSION: (1, CLIENT, version_err)}), conn)
    assert p.failure is not None and p.failure.usage and p.failure.kind == kind, p.failure
    for w in words:
        assert w in p.failure.sentence, p.failure.sentence
    assert "8080" not in p.failure.sentence  # kubectl's fallback server is not the cause


def test_a_kubeconfig_without_any_context_points_at_the_cloud_clis() -> None:
    p = pf(healthy({VIEW: (1, "", "error: current-context must exist in order to minify\n"),
                      VERSION: (1, CLIENT, "The connection to the server localhost:8080 was refused\n"),
                      ("kubectl", "config", "get-contexts"): (0, "", "")}))
    assert p.failure is not None and "it has no contexts at all" in p.failure.sentence
    assert "aws eks update-kubeconfig" in p.failure.sentence


@pytest.mark.parametrize(
    ("stderr", "kind", "words"),
    [
        ("The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?\n",
         "unreachable", ["cannot reach the Kubernetes API server https://10.0.0.1:6443 (context prod)", "was refused"]),
        ("Unable to connect to the server: dial tcp: lookup api.example on 10.0.0.53:53: no such host\n",
         "unreachable", ["no such host", "VPN"]),
        ("Unable to connect to the server: net/http: request canceled while waiting for connection (Client.Timeout "
         "exceeded while awaiting headers)\n", "unreachable", ["no answer within 5s"]),
        ("Unable to connect to the server: net/http: TLS handshake timeout\n", "unreachable", ["TLS handshake timeout"]),
        ("Error from server (NotFound): the server could not find the requested resource\n", "not_api_server",
         ["answered, but not as a Kubernetes API server (GET /version: Error from server (NotFound)"]),
        ("error: unable to parse the server version: invalid character '<' looking for beginning of value\n",
         "not_api_server", ["not as a Kubernetes API server"]),
        ("error: You must be logged in to the server (Unauthorized)\n", "unauthorized", ["refused the credentials of context prod"]),
        ("Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown "
         "authority\n", "unreachable", ["cannot trust the API server"]),
        ('E1203 13:58:00.277409   14364 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API '
         'group list: Get \\"https://10.0.0.1:6443/api?timeout=32s\\": dial tcp 10.0.0.1:6443: connect: connection '
         'refused"\nThe connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?\n',
         "unreachable", ["The connection to the server 10.0.0.1:6443 was refused"]),
    ],
    ids=["refused", "no-such-host", "hanging", "tls-handshake", "http-404", "html", "unauthorized", "x509", "klog"],
)
def test_server_problems_exit_3_in_kubectls_words(stderr: str, kind: str, words: list[str]) -> None:
    p = pf(healthy({VERSION: (1, CLIENT, stderr)}))
    assert p.failure is not None and p.failure.kind == kind and not p.failure.usage, p.failure
    for w in words:
        assert w in p.failure.sentence, p.failure.sentence
    assert "memcache.go" not in p.failure.sentence and "E1203" not in p.failure.sentence


def test_a_user_without_credentials_is_named_not_error_eof() -> None:
    # Real kubectl v1.35 with a kubeconfig user `{}`: it prompts for basic auth on stdout and, stdin
    # being closed, fails with a bare "error: EOF" on stderr.
    p = pf(healthy({VERSION: (1, "Please enter Username: ", "error: EOF")}))
    assert p.failure is not None and p.failure.kind == "unauthorized", p.failure
    assert "the user of context prod has no credentials" in p.failure.sentence, p.failure.sentence


def test_the_runners_own_timeout_is_unreachable_too() -> None:
    p = pf(healthy({VERSION: CommandTimeout(["kubectl", "version"], 8.0)}))
    assert p.failure is not None and p.failure.kind == "unreachable" and "did not answer within 8s" in p.failure.sentence


def test_forbidden_version_still_is_an_api_server() -> None:
    p = pf(healthy({VERSION: (1, CLIENT, 'Error from server (Forbidden): forbidden: User "x" cannot get path "/version"\n')}))
    assert p.failure is None and "forbidden to this user" in p.check("api-server").detail


def test_no_istioctl_degrades_and_says_what() -> None:
    p = pf(healthy({("istioctl", "version", "--remote=false"): BinaryNotFound(["istioctl"], "istioctl")}))
    assert p.failure is None
    c = p.check("istioctl")
    assert c.status is PreflightStatus.DEGRADED and "proxy-status" in c.detail and "Install it" in c.detail


# -- replay -----------------------------------------------------------------------------------------


def _recording(calls: list[RecordedCall]) -> Recording:
    return Recording(metadata=RecordingMetadata(created=datetime(2024, 5, 1, tzinfo=UTC), target="pod/p -n default"),
                     calls=calls)


def test_replay_of_a_recording_without_preflight_calls_skips_it() -> None:
    p = asyncio.run(run_preflight(ReplayRunner(_recording([]), strict=False), Connection()))
    assert p.skipped and p.failure is None


def test_replay_of_a_recording_with_a_failed_preflight_fails_the_same_way() -> None:
    from istio_doctor.evidence.commands import preflight_calls

    calls = preflight_calls(Connection(), 5.0)
    rec = _recording([
        RecordedCall(argv=list(calls["kubeconfig"]), exit_code=0, stdout=KC_OK),
        RecordedCall(argv=list(calls["api-server"]), exit_code=1, stdout=CLIENT,
                     stderr="The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?\n"),
    ])
    p = asyncio.run(run_preflight(ReplayRunner(rec, strict=True), Connection()))
    assert p.failure is not None and p.failure.kind == "unreachable"
    assert p.check("istioctl").status is PreflightStatus.SKIPPED


# -- in the session ---------------------------------------------------------------------------------


def _session(runner: Runner, target: str = "pod/p", conn: Connection | None = None, **kw: object):  # type: ignore[no-untyped-def]
    from istio_doctor.run import run_diagnosis

    return asyncio.run(run_diagnosis(Target.parse(target, "default"), runner, conn or Connection(), **kw))  # type: ignore[arg-type]


def test_a_failed_preflight_stops_the_gathering_with_one_sentence() -> None:
    runner = Scripted(healthy({VERSION: (1, CLIENT, "The connection to the server 10.0.0.1:6443 was refused\n")}),
                      delay_s=0.05)
    report = _session(runner, preflight=True).report
    assert report.exit_code == ExitCode.EVIDENCE_INCOMPLETE and report.verdict == "inconclusive"
    assert report.headline.startswith("Cannot diagnose: cannot reach the Kubernetes API server https://10.0.0.1:6443")
    assert report.playbooks == [] and report.findings == []
    assert [u.evidence for u in report.unchecked] == ["preflight: api-server"]
    # the calls the preflight ran are in the report like every other
    assert any(c.command.startswith("kubectl version -o json --request-timeout=5s") for c in report.calls)


def test_a_usage_problem_exits_2() -> None:
    runner = Scripted(healthy({VIEW: (1, "", "error: cannot locate context nope\n")}))
    report = _session(runner, preflight=True, conn=Connection(context="nope")).report
    assert report.exit_code == ExitCode.USAGE and 'context "nope"' in report.headline


def test_a_healthy_preflight_adds_no_wall_time() -> None:
    """Every call takes 0.3 s: the preflight's run alongside the first pass, not before it."""
    def timed(preflight: bool) -> float:
        t0 = time.monotonic()
        _session(Scripted(healthy(), delay_s=0.3), preflight=preflight)
        return time.monotonic() - t0

    without, with_ = timed(False), timed(True)
    assert with_ < without + 0.25, (without, with_)


def test_the_demo_recording_replays_without_a_preflight() -> None:
    """Recordings made before the preflight (the demo, every scenario) replay as they did."""
    from istio_doctor.evidence.recording import load_recording
    from istio_doctor.run import load_demo_recording_path

    replay = ReplayRunner(load_recording(load_demo_recording_path()), strict=True)
    report = _session(replay, "pod/reviews-v2-xfvhbgf8r4-vw88b", preflight=True).report
    assert report.exit_code == ExitCode.PROBLEMS_FOUND
    assert report.findings[0].code == "MTLS-DR-DISABLE-VS-STRICT"
    assert {c.status for c in report.preflight} == {PreflightStatus.SKIPPED}
