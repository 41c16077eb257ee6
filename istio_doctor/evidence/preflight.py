"""Preflight: can istio-doctor talk to a cluster at all? Asked before any verdict is formed.

An on-call engineer with a dropped VPN, a mistyped ``--context`` or no kubeconfig must get one
sentence that names the cause and the next step within seconds, not four minutes of doomed
calls ending in "istioctl was not found". Four questions, asked concurrently through the
runner seam (so a recording holds the answers) and with a short deadline:

1. is ``kubectl`` there? (every call below raises ``BinaryNotFound`` without it);
2. is the kubeconfig readable and does the context exist?
   ``kubectl config view --minify -o jsonpath=...`` is local to kubectl: no network;
3. does the server answer as a Kubernetes API server? ``kubectl version`` GETs ``/version``
   with ``--request-timeout``, so kubectl itself gives up on a server that accepts
   connections and never answers, and says so in its own words;
4. is ``istioctl`` there? (optional: without it the Envoy-level checks are unknown, and the
   report says which).

The session runs this concurrently with its first evidence calls; a failure of 1-3 cancels
them and ends the run (``PreflightFailure.usage`` -> exit 2 for the kubeconfig and the
context, else exit 3). A healthy preflight therefore costs no wall time.

Replay: a recording made by this version holds the preflight's calls and replays them like
any other; an older recording (or a scenario recording, which the kit builds without a
preflight) does not, and then each unanswered question is ``skipped``, never failed:
``Runner.can_answer`` tells which.

The kubectl messages classified here are the real ones, captured from kubectl v1.35 against
local servers (tests/test_first_five_minutes.py quotes them):

* no current context: ``error: current-context must exist in order to minify``
* unknown context: ``error: cannot locate context nope`` (``config view --minify``),
  ``error: context "nope" does not exist`` (``version``)
* context naming a missing cluster: ``error: cannot locate cluster gone``
* missing kubeconfig file: ``error: stat /nope/kc: no such file or directory``
* unparsable kubeconfig: ``error: error loading config file "/x": yaml: line 1: ...``
* refused: ``The connection to the server 127.0.0.1:9 was refused - did you specify the right host or port?``
* unknown host: ``Unable to connect to the server: dial tcp: lookup h on ...: no such host``
* hanging server: ``Unable to connect to the server: net/http: request canceled while waiting
  for connection (Client.Timeout exceeded while awaiting headers)``
* an HTTP server that is not Kubernetes, answering 404:
  ``Error from server (NotFound): the server could not find the requested resource``;
  answering HTML: ``error: unable to parse the server version: invalid character '<' ...``
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from istio_doctor.evidence.commands import contexts_call, preflight_calls
from istio_doctor.evidence.errors import BinaryNotFound, CommandTimeout, RunnerError
from istio_doctor.evidence.gather import clean_stderr
from istio_doctor.evidence.runner import INSTALL_HINTS, CommandResult, Runner
from istio_doctor.evidence.target import Connection

#: default deadline (seconds) for the API server's answer; ``--preflight-timeout`` changes it
DEFAULT_TIMEOUT_S = 5.0
#: the runner's own timeout on top of kubectl's --request-timeout (an exec credential plugin
#: that hangs is not covered by kubectl's request timeout)
_BACKSTOP_S = 3.0

DEMO_HINT = "to see a diagnosis without a cluster, try `istio-doctor demo`"
KUBECONFIG_WHERE = "the kubeconfig kubectl reads ($KUBECONFIG, else ~/.kube/config)"


class PreflightStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"  # the run cannot go on
    DEGRADED = "degraded"  # the run goes on; some checks will be unknown (istioctl missing)
    SKIPPED = "skipped"  # not asked: a replay of a recording that predates the preflight


class PreflightCheck(BaseModel):
    """One preflight question and its answer, for the report's header and ``-o json``."""

    model_config = ConfigDict(extra="forbid")

    name: str  # kubectl | kubeconfig | api-server | istioctl
    status: PreflightStatus
    detail: str
    command: str = ""
    duration_s: float = 0.0


class PreflightFailure(BaseModel):
    """Why the run stopped, in one sentence that names the cause and the next step."""

    model_config = ConfigDict(extra="forbid")

    check: str
    kind: str  # missing_kubectl | kubeconfig | context | unreachable | not_api_server | unauthorized | failed
    sentence: str
    command: str = ""
    #: a problem with what the user typed or configured (kubeconfig, context): exit 2, else 3
    usage: bool = False


class Preflight(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checks: list[PreflightCheck] = []
    failure: PreflightFailure | None = None
    context: str | None = None
    server: str | None = None

    @property
    def skipped(self) -> bool:
        return bool(self.checks) and all(c.status is PreflightStatus.SKIPPED for c in self.checks)

    def check(self, name: str) -> PreflightCheck | None:
        return next((c for c in self.checks if c.name == name), None)


# -- what kubectl's stderr says ---------------------------------------------------------------------

_UNREACHABLE = (
    "unable to connect to the server", "was refused", "connection refused", "no such host", "i/o timeout",
    "client.timeout exceeded", "tls handshake timeout", "context deadline exceeded", "no route to host",
    "network is unreachable", "connection reset by peer",
)
_NOT_API = ("the server could not find the requested resource", "unable to parse the server version",
            "invalid character", "the server rejected our request", "unexpected end of json")
_UNAUTHORIZED = ("unauthorized", "must be logged in", "provide credentials")
_PROMPT = ("please enter username", "please enter password")
_CERT = ("x509:", "certificate signed by unknown authority", "certificate is valid for", "tls: ")


def _has(text: str, words: tuple[str, ...]) -> bool:
    low = text.lower()
    return any(w in low for w in words)


def _between(text: str, start: str, end: str) -> str | None:
    i = text.find(start)
    if i < 0:
        return None
    rest = text[i + len(start):]
    j = rest.find(end) if end else len(rest)
    return rest[: j if j >= 0 else len(rest)].strip() or None


Outcome = CommandResult | RunnerError | None  # None: not asked (replay without that call)
#: how a call is made: the session passes its gatherer's ``call`` (progress, call list, report)
CallFn = Callable[[tuple[str, ...], float], Awaitable[CommandResult | RunnerError]]


def direct(runner: Runner) -> CallFn:
    """Calls straight through ``runner`` (no gatherer: tests, or a preflight on its own)."""

    async def call(argv: tuple[str, ...], timeout_s: float) -> CommandResult | RunnerError:
        try:
            return await runner.run(list(argv), timeout_s=timeout_s)
        except RunnerError as err:
            return err

    return call


async def _ask(runner: Runner, call: CallFn, argv: tuple[str, ...], timeout_s: float) -> tuple[Outcome, float]:
    if not runner.can_answer(argv):
        return None, 0.0
    t0 = time.monotonic()
    res: Outcome = await call(argv, timeout_s)
    return res, time.monotonic() - t0


def _cmd(argv: tuple[str, ...]) -> str:
    return shlex.join(argv)


def _message(res: Outcome) -> str:
    if isinstance(res, CommandResult):
        return clean_stderr(res.stderr) or clean_stderr(res.stdout) or f"exit code {res.exit_code}"
    return str(res) if res is not None else ""


async def run_preflight(runner: Runner, conn: Connection, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                        call: CallFn | None = None) -> Preflight:
    """Ask the four questions concurrently; never raises except on cancellation.

    ``runner`` decides what can be asked (``can_answer``); ``call`` makes the calls (default:
    straight through ``runner``).
    """
    call = call or direct(runner)
    calls = preflight_calls(conn, timeout_s)
    budget = timeout_s + _BACKSTOP_S
    names = list(calls)
    answers = await asyncio.gather(*(_ask(runner, call, calls[n], budget) for n in names))
    got = dict(zip(names, answers, strict=True))
    pf = Preflight()

    def add(name: str, status: PreflightStatus, detail: str, key: str | None = None) -> None:
        res, dur = got[key or name] if (key or name) in got else (None, 0.0)
        argv = calls.get(key or name)
        pf.checks.append(PreflightCheck(name=name, status=status, detail=detail, command=_cmd(argv) if argv else "",
                                        duration_s=round(dur, 3)))

    kc, _ = got["kubeconfig"]
    api, _ = got["api-server"]
    ictl, _ = got["istioctl"]

    # 1. kubectl itself
    if any(isinstance(r, BinaryNotFound) for r in (kc, api)):
        add("kubectl", PreflightStatus.FAILED, "kubectl was not found on PATH", "api-server")
        pf.failure = PreflightFailure(
            check="kubectl", kind="missing_kubectl", command=_cmd(calls["api-server"]),
            sentence=f"kubectl was not found on PATH, and istio-doctor reads the cluster through it. "
                     f"{INSTALL_HINTS['kubectl']} (or put it on PATH); {DEMO_HINT}.",
        )
        _istioctl(pf, ictl, add)
        return pf
    if kc is None and api is None:
        # a replay of a recording without preflight calls: nothing to say, nothing to stop
        for name in ("kubectl", "kubeconfig", "api-server", "istioctl"):
            add(name, PreflightStatus.SKIPPED, "not in the recording (made before the preflight existed)")
        return pf
    add("kubectl", PreflightStatus.OK, "found", "api-server")

    # 2. kubeconfig and context
    if kc is not None:
        failure = await _kubeconfig_failure(runner, call, conn, kc, api, calls["kubeconfig"])
        if failure is not None:
            add("kubeconfig", PreflightStatus.FAILED, failure.sentence)
            pf.failure = failure
            _istioctl(pf, ictl, add)
            return pf
        assert isinstance(kc, CommandResult)
        lines = (kc.stdout.splitlines() + ["", ""])[:2]
        pf.context, pf.server = (lines[0].strip() or None), (lines[1].strip() or None)
        add("kubeconfig", PreflightStatus.OK, f"context {pf.context or '?'} -> {pf.server or '?'}")
    else:
        add("kubeconfig", PreflightStatus.SKIPPED, "not in the recording")

    # 3. the API server
    if api is not None:
        failure, detail = _server_failure(conn, pf, api, calls["api-server"], timeout_s)
        if failure is not None:
            add("api-server", PreflightStatus.FAILED, failure.sentence)
            pf.failure = failure
        else:
            add("api-server", PreflightStatus.OK, detail)
    else:
        add("api-server", PreflightStatus.SKIPPED, "not in the recording")

    # 4. istioctl (optional)
    _istioctl(pf, ictl, add)
    return pf


def _where(conn: Connection) -> str:
    return f"--kubeconfig {conn.kubeconfig}" if conn.kubeconfig else KUBECONFIG_WHERE


async def _context_names(runner: Runner, call: CallFn, conn: Connection) -> list[str] | None:
    argv = contexts_call(conn)
    res, _ = await _ask(runner, call, argv, 10.0)
    if isinstance(res, CommandResult) and res.ok:
        return [ln.strip() for ln in res.stdout.splitlines() if ln.strip()]
    return None


def _contexts_clause(names: list[str] | None) -> str:
    if names is None:
        return ""
    if not names:
        return "; it has no contexts at all"
    shown = ", ".join(names[:12]) + (f" (+{len(names) - 12} more)" if len(names) > 12 else "")
    return f"; its contexts are: {shown}"


async def _kubeconfig_failure(runner: Runner, call: CallFn, conn: Connection, kc: Outcome, api: Outcome,
                              argv: tuple[str, ...]) -> PreflightFailure | None:
    if isinstance(kc, CommandResult) and kc.ok:
        return None
    msg = _message(kc)
    api_msg = _message(api) if isinstance(api, CommandResult) and not api.ok else ""
    where = _where(conn)

    def fail(kind: str, sentence: str) -> PreflightFailure:
        return PreflightFailure(check="kubeconfig", kind=kind, sentence=sentence, command=_cmd(argv), usage=True)

    if isinstance(kc, CommandTimeout):
        return PreflightFailure(check="kubeconfig", kind="failed", command=_cmd(argv),
                                sentence=f"kubectl did not read the kubeconfig within {kc.timeout_s:g}s ({where}); "
                                         f"run `{_cmd(argv)}` to see why.")
    if isinstance(kc, RunnerError):
        return PreflightFailure(check="kubeconfig", kind="failed", sentence=f"{kc}", command=_cmd(argv))
    missing_ctx = _between(msg, "cannot locate context", "") or _between(api_msg, 'context "', '" does not exist')
    if missing_ctx:
        name = conn.context or (missing_ctx or "").strip('"')
        names = await _context_names(runner, call, conn)
        return fail("context", f"context \"{name}\" is not in {where}{_contexts_clause(names)}. "
                               f"Pass one of them with --context, or {DEMO_HINT}.")
    gone = _between(msg, "cannot locate cluster", "") or _between(msg, "cannot locate user", "")
    if gone:
        what = "cluster" if "cannot locate cluster" in msg else "user"
        ctx = conn.context or "the current context"
        return fail("context", f"{ctx} names {what} \"{gone}\", which is not in {where} (kubectl: {msg}). "
                               f"Fix that context in the kubeconfig or pick another with --context; {DEMO_HINT}.")
    stat = _between(api_msg, "stat ", ": no such file or directory") if "no such file or directory" in api_msg else None
    if stat or ("no such file or directory" in msg):
        path = stat or conn.kubeconfig or "the kubeconfig"
        return fail("kubeconfig", f"cannot read kubeconfig {path}: no such file or directory. "
                                  f"Pass the right file with --kubeconfig (or KUBECONFIG), or {DEMO_HINT}.")
    for text in (msg, api_msg):
        if "error loading config file" in text or "permission denied" in text:
            return fail("kubeconfig", f"cannot read the kubeconfig ({where}): {text}. "
                                      f"Fix or replace the file, or {DEMO_HINT}.")
    if "current-context must exist" in msg or "current-context is not set" in msg:
        names = await _context_names(runner, call, conn)
        if names:
            nxt = f"Pass one with --context, or set one with `kubectl config use-context NAME`; {DEMO_HINT}."
        else:
            nxt = (f"Point --kubeconfig or KUBECONFIG at your cluster's kubeconfig (your cloud's CLI writes one, "
                   f"e.g. `gcloud container clusters get-credentials`, `aws eks update-kubeconfig`), or {DEMO_HINT}.")
        return fail("kubeconfig", f"no Kubernetes context is selected: {where} has no current context"
                                  f"{_contexts_clause(names)}. {nxt}")
    return fail("kubeconfig", f"kubectl cannot use {where}: {msg}. Run `{_cmd(argv)}` to see why; {DEMO_HINT}.")


def _server_failure(conn: Connection, pf: Preflight, api: Outcome, argv: tuple[str, ...],
                    timeout_s: float) -> tuple[PreflightFailure | None, str]:
    server = pf.server or "the API server"
    ctx = pf.context or conn.context or "the current context"
    nxt = f"Check the VPN, proxy or firewall and that the cluster is up (`kubectl cluster-info`); {DEMO_HINT}."

    def fail(kind: str, sentence: str) -> tuple[PreflightFailure, str]:
        return PreflightFailure(check="api-server", kind=kind, sentence=sentence, command=_cmd(argv)), ""

    if isinstance(api, CommandTimeout):
        return fail("unreachable", f"the Kubernetes API server {server} (context {ctx}) did not answer within "
                                   f"{api.timeout_s:g}s. {nxt}")
    if isinstance(api, RunnerError):
        return fail("failed", f"{api}")
    assert isinstance(api, CommandResult)
    if api.ok:
        version = ""
        try:
            version = (json.loads(api.stdout).get("serverVersion") or {}).get("gitVersion", "")
        except (ValueError, AttributeError):
            pass
        return None, f"Kubernetes {version or '(version unknown)'} at {server}"
    msg = _message(api)
    if _has(msg, ("forbidden",)):
        # It answered as an API server; it only denies /version to this user.
        return None, f"an API server at {server} (GET /version is forbidden to this user)"
    if _has(api.stdout, _PROMPT):
        # kubectl falls back to an interactive basic-auth prompt when the context's user has no token,
        # certificate or exec plugin; with stdin closed it prints "Please enter Username: " and
        # "error: EOF", which alone says nothing to the user.
        return fail("unauthorized", f"the user of context {ctx} has no credentials kubectl can use (kubectl asked "
                                    f"for a username: {msg}). Log in again or refresh this context's credentials "
                                    "(your cloud's CLI or `kubectl config view --minify` shows which user it uses).")
    if _has(msg, _UNAUTHORIZED):
        return fail("unauthorized", f"the API server {server} refused the credentials of context {ctx}: {msg}. "
                                    "Log in again or refresh this context's credentials (your cloud's CLI or "
                                    "`kubectl config view --minify` shows which user it uses).")
    if _has(msg, _NOT_API):
        return fail("not_api_server", f"{server} answered, but not as a Kubernetes API server (GET /version: {msg}). "
                                      f"Check the server URL of context {ctx} in {_where(conn)}; a proxy or "
                                      f"load balancer in front of the cluster can answer like this. {DEMO_HINT[0].upper()}{DEMO_HINT[1:]}.")
    if _has(msg, _CERT):
        return fail("unreachable", f"cannot trust the API server {server} (context {ctx}): {msg}. Check the "
                                   "cluster's certificate-authority data in the kubeconfig, or a TLS-intercepting proxy.")
    if _has(msg, _UNREACHABLE):
        if "client.timeout exceeded" in msg.lower() or "deadline exceeded" in msg.lower():
            msg = f"no answer within {timeout_s:g}s ({msg})"
        return fail("unreachable", f"cannot reach the Kubernetes API server {server} (context {ctx}): {msg}. {nxt}")
    return fail("failed", f"kubectl could not talk to the API server {server} (context {ctx}): {msg}. "
                          f"Run `{_cmd(argv)}` to see why; {DEMO_HINT}.")


def _istioctl(pf: Preflight, ictl: Outcome, add) -> None:  # type: ignore[no-untyped-def]
    if ictl is None:
        add("istioctl", PreflightStatus.SKIPPED, "not in the recording")
    elif isinstance(ictl, BinaryNotFound):
        add("istioctl", PreflightStatus.DEGRADED,
            "istioctl was not found on PATH: the checks that read Envoy's configuration, proxy-status, "
            f"istioctl analyze and x describe cannot run. {INSTALL_HINTS['istioctl']}")
    elif isinstance(ictl, RunnerError):
        add("istioctl", PreflightStatus.DEGRADED, str(ictl))
    elif not ictl.ok:
        add("istioctl", PreflightStatus.DEGRADED, f"`istioctl version` failed: {_message(ictl)}")
    else:
        version = ""
        try:
            version = (json.loads(ictl.stdout).get("clientVersion") or {}).get("version", "")
        except (ValueError, AttributeError):
            pass
        add("istioctl", PreflightStatus.OK, f"istioctl {version or '(version unknown)'}")
