"""The gatherer: turns evidence keys into calls, runs them concurrently, parses each output once.

* Every call goes through the injected ``Runner`` (live, recording or replay): a recording is
  complete by construction.
* The same argv is never run twice in a session (results are shared through futures).
* Proxy evidence (config dump, proxy logs, describe, exec) waits for the pod object: a pod
  without an ``istio-proxy`` container gets a ``not_applicable`` item instead of a doomed call.
* ``proxy-status`` waits for ``istioctl version`` so its flags fit that istioctl (format churn).
* A failed call becomes an ``EvidenceFailure`` with one sentence saying what failed and why;
  parse errors too. Nothing here raises to the caller except cancellation.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from istio_doctor.evidence.bundle import (
    Evidence,
    EvidenceFailure,
    EvidenceKey,
    FailureKind,
    Item,
    Need,
    Scope,
)
from istio_doctor.evidence.commands import build_call, config_dump_per_type_calls
from istio_doctor.evidence.kinds import NothingToGather, ParseEnv
from istio_doctor.evidence.errors import (
    BinaryNotFound,
    CommandRefused,
    CommandTimeout,
    NotRecorded,
    ParseError,
    RunnerError,
)
from istio_doctor.evidence.runner import CommandResult, Runner
from istio_doctor.evidence.target import Connection

def _crd_not_installed(f: EvidenceFailure) -> bool:
    r = f.reason.lower()
    return f.kind is FailureKind.NOT_FOUND and ("doesn't have a resource type" in r or "could not find the requested resource" in r)


class ProgressEvent(BaseModel):
    """Progress of a gathering, for the CLI progress bar and the TUI calls panel."""

    model_config = ConfigDict(extra="forbid")

    phase: str  # "call_started" | "call_finished" | "phase" | "done"
    key: str = ""
    command: str = ""
    exit_code: int | None = None
    duration_s: float | None = None
    message: str = ""
    done: int = 0
    total: int = 0


# klog's line header, "Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg" (k8s.io/klog/v2 klog.go,
# "LOG LINE PREFIX FORMAT"). kubectl prints these before its own error when discovery fails:
#   E1203 13:58:00.277409   14364 memcache.go:265] "Unhandled Error" err="couldn't get current
#   server API group list: Get \"http://localhost:8080/api?timeout=32s\": dial tcp ...: connect:
#   connection refused"
#   The connection to the server localhost:8080 was refused - did you specify the right host or port?
# (kubectl v1.35 with no kubeconfig). The last line is kubectl's sentence; the klog lines are noise.
_KLOG = re.compile(r"^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+\s+[^\]\s]+\]\s?")
_KLOG_ERR = re.compile(r'^"[^"]*"\s+err="(?P<err>.*)"\s*$')


def strip_klog(line: str) -> str:
    """A klog line without its header (and without the ``"msg" err="..."`` wrapping)."""
    body = _KLOG.sub("", line.strip(), count=1)
    m = _KLOG_ERR.match(body)
    return m.group("err").replace('\\"', '"') if m else body


def clean_stderr(text: str, limit: int = 300) -> str:
    """The one line of a kubectl/istioctl error output that says what went wrong.

    The first line that is not a klog line; when every line is klog, the first one without its
    header. Never longer than ``limit`` (an ellipsis marks the cut).
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    plain = [ln for ln in lines if not _KLOG.match(ln)]
    line = plain[0] if plain else (strip_klog(lines[0]) if lines else "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


#: kubectl's own kubeconfig errors (real kubectl v1.35 messages; see evidence/preflight.py)
_CONFIG_ERRORS = (
    "context was not found for specified context", "cannot locate context", "cannot locate cluster",
    "cannot locate user", "error loading config file", "current-context must exist", "current-context is not set",
    "invalid configuration:",
)


def classify_failure(stderr: str, exit_code: int | None) -> FailureKind:
    """Read the one thing that matters from kubectl/istioctl stderr."""
    s = stderr.lower()
    if any(e in s for e in _CONFIG_ERRORS) or ('context "' in s and '" does not exist' in s):
        return FailureKind.CONFIG
    if "forbidden" in s:
        return FailureKind.FORBIDDEN
    if "unauthorized" in s or "you must be logged in" in s or "provide credentials" in s:
        return FailureKind.UNAUTHORIZED
    if "unknown flag" in s or "unknown command" in s or "unknown shorthand" in s or "unknown sub" in s:
        return FailureKind.UNSUPPORTED
    if (
        "unable to connect to the server" in s
        or "connection refused" in s
        or "was refused" in s
        or "i/o timeout" in s
        or "no such host" in s
        or "dial tcp" in s
        or "context deadline exceeded" in s
        or "tls handshake timeout" in s
    ):
        return FailureKind.UNREACHABLE
    if "is not valid for pod" in s or "container istio-proxy" in s and "not" in s:
        return FailureKind.NOT_APPLICABLE
    # `kubectl logs` of a container that has never run: 'container "istio-proxy" in pod "x" is waiting
    # to start: PodInitializing' (an init container has not completed). There is no log to read yet:
    # a fact about the pod (its timeline says why), not a gap in the evidence.
    if "is waiting to start" in s:
        return FailureKind.NOT_APPLICABLE
    if "notfound" in s or "not found" in s or "doesn't have a resource type" in s or "could not find the requested resource" in s:
        return FailureKind.NOT_FOUND
    return FailureKind.FAILED


_KIND_SENTENCE = {
    FailureKind.FORBIDDEN: "refused by RBAC",
    FailureKind.UNAUTHORIZED: "refused: not authenticated",
    FailureKind.UNSUPPORTED: "not supported by this version of the tool",
    FailureKind.UNREACHABLE: "could not reach the cluster",
    FailureKind.CONFIG: "could not use the kubeconfig",
    FailureKind.NOT_FOUND: "not found",
    FailureKind.NOT_APPLICABLE: "not applicable",
    FailureKind.FAILED: "failed",
}

#: What the user can do about it: the report's "Could not check" must say more than what
#: broke (a missing binary's message already carries its install hint).
_KIND_ADVICE = {
    FailureKind.FORBIDDEN: "Ask for read (get/list) access to it or use a context that has it; "
    "`kubectl auth can-i --list` shows what yours may read",
    FailureKind.UNAUTHORIZED: "Log in again or refresh the credentials of this kubeconfig context",
    FailureKind.UNSUPPORTED: "Use a newer kubectl/istioctl; the fallbacks istio-doctor knows were tried",
    FailureKind.UNREACHABLE: "Check the kubeconfig context (--context), VPN or proxy, and that the API server is up",
    FailureKind.CONFIG: "Check --context and --kubeconfig (`kubectl config get-contexts` lists the contexts)",
    FailureKind.FAILED: "Run the command yourself to see its full error",
    FailureKind.TIMEOUT: "Retry with a larger --timeout, or find out why the API server or the pod is slow",
}


def _with_advice(reason: str, kind: FailureKind) -> str:
    advice = _KIND_ADVICE.get(kind)
    return f"{reason.rstrip().rstrip('.')}. {advice}." if advice else reason


def failure_from_result(res: CommandResult) -> EvidenceFailure:
    kind = classify_failure(res.stderr, res.exit_code)
    detail = clean_stderr(res.stderr) or clean_stderr(res.stdout) or f"exit code {res.exit_code}"
    return EvidenceFailure(
        kind=kind,
        reason=_with_advice(f"`{res.command_line}` {_KIND_SENTENCE[kind]} (exit {res.exit_code}): {detail}", kind),
        argv=res.argv,
    )


def failure_from_error(err: RunnerError) -> EvidenceFailure:
    if isinstance(err, BinaryNotFound):
        kind = FailureKind.MISSING_BINARY
    elif isinstance(err, CommandTimeout):
        kind = FailureKind.TIMEOUT
    elif isinstance(err, NotRecorded):
        kind = FailureKind.NOT_RECORDED
    elif isinstance(err, CommandRefused):
        kind = FailureKind.REFUSED
    else:
        kind = FailureKind.FAILED
    return EvidenceFailure(kind=kind, reason=_with_advice(str(err), kind), argv=err.argv)


# -- root failures ----------------------------------------------------------------------
# Sixty calls that fail for one reason are one problem. A report lists each root failure once,
# with the evidence and checks it blocked, and its verdict names the most basic one: without
# kubectl nothing else matters, an unreachable cluster explains every RBAC-looking gap, and so on.

#: lower is more basic (the one the verdict line names)
_BASIC_RANK = {
    FailureKind.MISSING_BINARY: 0, FailureKind.CONFIG: 1, FailureKind.UNREACHABLE: 2, FailureKind.UNAUTHORIZED: 3,
    FailureKind.FORBIDDEN: 5, FailureKind.TIMEOUT: 6, FailureKind.UNSUPPORTED: 7, FailureKind.NOT_RECORDED: 7,
    FailureKind.PARSE_ERROR: 8, FailureKind.FAILED: 8, FailureKind.REFUSED: 8, FailureKind.NOT_FOUND: 9,
}
# 'Error from server (Forbidden): pods "p" is forbidden: User "oncall" cannot get resource "pods/log"
#  in API group "" in the namespace "default"' (the API server's RBAC denial, every kubectl version)
_FORBIDDEN_RE = re.compile(
    r'(?:User|user) "(?P<user>[^"]*)" cannot (?P<verb>\w+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?(?: (?:in the namespace "(?P<ns>[^"]*)"|at the cluster scope))?'
)


class RootFailure(BaseModel):
    """What one group of failed calls has in common, in words a user can act on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    kind: FailureKind
    cause: str
    advice: str = ""
    rank: int = 9


def root_failure(f: EvidenceFailure) -> RootFailure:
    """The root a failure belongs to: failures with the same root are reported once."""
    kind = f.kind
    rank = _BASIC_RANK.get(kind, 9)
    binary = f.argv[0] if f.argv else ""
    advice = _KIND_ADVICE.get(kind, "")
    reason = f.reason
    if kind is FailureKind.MISSING_BINARY:
        # istioctl's absence degrades, kubectl's stops everything: more basic
        hint = reason.split("PATH.", 1)[1].strip().rstrip(".") if "PATH." in reason else ""
        return RootFailure(key=f"missing:{binary}", kind=kind, rank=rank if binary == "kubectl" else 4,
                           cause=f"`{binary}` was not found on PATH", advice=hint)
    detail = reason.split("): ", 1)[1] if "): " in reason else reason
    if advice and detail.endswith(f"{advice}."):
        detail = detail[: -len(advice) - 1].rstrip().rstrip(".")
    if kind is FailureKind.FORBIDDEN:
        m = _FORBIDDEN_RE.search(reason)
        if m:
            group = f" in API group {m['group']}" if m["group"] else ""
            where = f" in namespace {m['ns']}" if m["ns"] else (" cluster-wide" if "cluster scope" in reason else "")
            cause = f"RBAC: user \"{m['user']}\" may not {m['verb']} {m['resource']}{group}"
            return RootFailure(key=f"forbidden:{m['verb']}:{m['resource']}:{m['group'] or ''}", kind=kind, rank=rank,
                               cause=cause + where, advice=advice)
        return RootFailure(key=f"forbidden:{shlex.join(f.argv[:3])}", kind=kind, rank=rank,
                           cause=f"RBAC refused `{shlex.join(f.argv[:3])}`: {detail}", advice=advice)
    if kind in (FailureKind.UNREACHABLE, FailureKind.CONFIG, FailureKind.UNAUTHORIZED):
        what = {FailureKind.UNREACHABLE: "could not reach the cluster", FailureKind.CONFIG: "could not use the kubeconfig",
                FailureKind.UNAUTHORIZED: "the API server refused the credentials"}[kind]
        return RootFailure(key=kind.value, kind=kind, rank=rank, cause=f"{what}: {detail}", advice=advice)
    if kind is FailureKind.TIMEOUT:
        return RootFailure(key="timeout", kind=kind, rank=rank, cause="calls ran past their timeout and were killed",
                           advice=advice)
    if kind is FailureKind.UNSUPPORTED:
        return RootFailure(key=f"unsupported:{binary}", kind=kind, rank=rank,
                           cause=f"the installed {binary or 'tool'} does not know a command or flag istio-doctor uses: {detail}",
                           advice=advice)
    if kind is FailureKind.NOT_RECORDED:
        return RootFailure(key="not_recorded", kind=kind, rank=rank, cause="calls the recording does not hold",
                           advice="Record the session again with this version of istio-doctor")
    if kind is FailureKind.PARSE_ERROR:
        # '`cmd` printed output istio-doctor cannot read: cannot parse Pod list (from `cmd`): empty
        # output': twenty calls printing nothing are one problem, named by what was wrong
        what = reason.rsplit("): ", 1)[1] if "): " in reason else reason.split("cannot read: ", 1)[-1]
        what = what.rstrip().rstrip(".")
        return RootFailure(key=f"parse:{binary}:{what}", kind=kind, rank=rank,
                           cause=f"{binary or 'a call'} printed output istio-doctor cannot read ({what})",
                           advice="Run one of the commands below yourself: a version or a proxy in between may print something else")
    if kind is FailureKind.FAILED:
        return RootFailure(key=f"failed:{binary}:{detail}", kind=kind, rank=rank, cause=f"{binary or 'a call'} failed: {detail}",
                           advice=advice)
    return RootFailure(key=f"{kind.value}:{shlex.join(f.argv)}", kind=kind, rank=rank, cause=reason)


def _pod_has_sidecar(pod: Any) -> bool:
    return bool(getattr(pod, "has_sidecar", False))


class Gatherer:
    """Fetches evidence through one runner. One instance per diagnosis session."""

    def __init__(
        self,
        runner: Runner,
        conn: Connection,
        *,
        since: str = "1h",
        tail: int = 2000,
        timeout_s: float | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None,
    ) -> None:
        self.runner = runner
        self.conn = conn
        self.since = since
        self.tail = tail
        self.timeout_s = timeout_s
        self.on_progress = on_progress
        self.evidence = Evidence()
        self.results: list[CommandResult] = []
        self.errors: list[tuple[tuple[str, ...], str]] = []  # (argv, message) of calls with no result
        self._calls: dict[tuple[str, ...], asyncio.Future[CommandResult | RunnerError]] = {}
        self._items: dict[EvidenceKey, asyncio.Future[Item[Any]]] = {}
        self._done = 0
        self._total = 0
        # Certificates in a replayed recording are judged at the time it was recorded, not
        # today: a recording attached to an incident must diagnose the same way next year.
        # An offline source other than a recording (a bug-report archive) says when it was taken.
        rec = getattr(runner, "recording", None)
        self.now: datetime | None = getattr(runner, "evidence_time", None) or (
            rec.metadata.created if runner.replaying and rec is not None else None)

    # -- progress ---------------------------------------------------------------------
    def _emit(self, **kw: Any) -> None:
        if self.on_progress is not None:
            try:
                self.on_progress(ProgressEvent(done=self._done, total=self._total, **kw))
            except Exception:  # noqa: BLE001 - a broken progress display must never break a diagnosis
                pass

    # -- calls ------------------------------------------------------------------------
    async def call(self, argv: tuple[str, ...], *, label: str, timeout_s: float | None = None) -> CommandResult | RunnerError:
        """One call outside any evidence key (the preflight's): shown in the progress display,
        the -v call list and the report's calls like every other, and never run twice."""
        return await self._run(argv, label, timeout_s=timeout_s)

    async def _run(self, argv: tuple[str, ...], key: EvidenceKey | str, *, timeout_s: float | None = None) -> CommandResult | RunnerError:
        fut = self._calls.get(argv)
        if fut is not None:
            return await fut
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._calls[argv] = fut
        self._total += 1
        cmd = shlex.join(argv)
        self._emit(phase="call_started", key=str(key), command=cmd)
        started = time.monotonic()
        try:
            res: CommandResult | RunnerError = await self.runner.run(
                list(argv), timeout_s=self.timeout_s if timeout_s is None else timeout_s)
        except RunnerError as err:
            res = err
            self.errors.append((argv, str(err)))
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: the awaiting caller re-raises it
            raise
        self._done += 1
        if isinstance(res, CommandResult):
            self.results.append(res)
            self._emit(phase="call_finished", key=str(key), command=cmd, exit_code=res.exit_code, duration_s=res.duration_s)
        else:
            self._emit(phase="call_finished", key=str(key), command=cmd, exit_code=None,
                       duration_s=time.monotonic() - started, message=str(res))
        fut.set_result(res)
        return res

    def _ok(self, need: Need, res: CommandResult) -> bool:
        return res.exit_code == 0 or res.exit_code in need.ok_exit_codes

    async def _fetch_text(self, key: EvidenceKey, argvs: list[tuple[str, ...]]) -> tuple[str, tuple[str, ...], list[tuple[str, ...]]] | EvidenceFailure:
        """Try the primary argv then its fallbacks; return (stdout, argv, tried) or the first failure."""
        first_failure: EvidenceFailure | None = None
        tried: list[tuple[str, ...]] = []
        for argv in argvs:
            tried.append(argv)
            res = await self._run(argv, key)
            if isinstance(res, RunnerError):
                fail = failure_from_error(res)
                first_failure = first_failure or fail
                if fail.kind in (FailureKind.MISSING_BINARY, FailureKind.REFUSED):
                    break  # a fallback of the same binary cannot do better
                continue
            if self._ok(key.need, res):
                return res.stdout, argv, tried
            fail = failure_from_result(res)
            first_failure = first_failure or fail
            if fail.kind in (FailureKind.UNREACHABLE, FailureKind.UNAUTHORIZED, FailureKind.NOT_APPLICABLE):
                break
        assert first_failure is not None
        return first_failure

    # -- items ------------------------------------------------------------------------
    def request(self, key: EvidenceKey) -> asyncio.Future[Item[Any]]:
        fut = self._items.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._gather_one(key))
            self._items[key] = fut
        return fut

    async def _gather_one(self, key: EvidenceKey) -> Item[Any]:
        need = key.need
        # Proxy evidence only exists with a sidecar: ask the pod first.
        if need.proxy or need is Need.INIT_LOGS:
            pod_item = await self.request(EvidenceKey(need=Need.POD, namespace=key.namespace, name=key.name))
            if pod_item.failure is not None and pod_item.failure.kind is FailureKind.NOT_FOUND:
                # No pod, nothing to ask its proxy: one clear gap instead of a row of NotFounds.
                return self._store(Item(key=key, failure=EvidenceFailure(
                    kind=FailureKind.NOT_FOUND, reason=f"pod {key.namespace}/{key.name} was not found", argv=pod_item.failure.argv)))
            if need.proxy and pod_item.ok and not _pod_has_sidecar(pod_item.value):
                return self._store(Item(key=key, failure=EvidenceFailure(
                    kind=FailureKind.NOT_APPLICABLE,
                    reason=f"pod {key.namespace}/{key.name} has no istio-proxy container, so it has no {need.value.replace('_', ' ')}",
                )))
        minor = None
        if need.version_dependent:
            ver = await self.request(EvidenceKey(need=Need.ISTIOCTL_VERSION))
            client = getattr(ver.value, "client", None) if ver.ok else None
            minor = getattr(client, "minor", None)
        fallback_ns = key.namespace if key.namespace else None
        if need.scope is Scope.CLUSTER and need.namespace_fallback:
            fallback_ns = self._fallback_namespace
        at_ns, at_name = key.namespace, key.name
        inputs = await self._inputs(key) if need.requires else None
        if need.node_agent:
            # asked of the agent (ztunnel, istio-cni) on the pod's node, not of the pod; a kind
            # that does not apply to this pod (its builder says so from the inputs) needs no agent
            try:
                build_call(need, self.conn, namespace=at_ns, name=at_name, since=self.since, tail=self.tail,
                           istioctl_minor=minor, fallback_namespace=fallback_ns, inputs=inputs)
            except NothingToGather as exc:
                return self._store(Item(key=key, failure=EvidenceFailure(kind=FailureKind.NOT_APPLICABLE, reason=str(exc))))
            agent = await self._node_agent(key)
            if isinstance(agent, EvidenceFailure):
                return self._store(Item(key=key, failure=agent))
            at_ns, at_name = agent
        try:
            call = build_call(need, self.conn, namespace=at_ns, name=at_name, since=self.since,
                              tail=self.tail, istioctl_minor=minor, fallback_namespace=fallback_ns, inputs=inputs)
        except NothingToGather as exc:
            return self._store(Item(key=key, failure=EvidenceFailure(kind=FailureKind.NOT_APPLICABLE, reason=str(exc))))
        got = await self._fetch_text(key, [call.argv, *call.fallbacks])
        if isinstance(got, EvidenceFailure) and need is Need.CONFIG_DUMP and got.kind not in (
            FailureKind.MISSING_BINARY, FailureKind.UNREACHABLE, FailureKind.NOT_APPLICABLE, FailureKind.REFUSED,
        ):
            return self._store(await self._config_dump_from_parts(key, got))
        if isinstance(got, EvidenceFailure):
            if need.crd and _crd_not_installed(got):
                # No CRD means no such resources: an empty list is the truth, not a gap.
                return self._store(Item(key=key, value=[], sources=[got.argv] if got.argv else []))
            return self._store(Item(key=key, failure=got, sources=[got.argv] if got.argv else []))
        text, argv, tried = got
        cmd = shlex.join(argv)
        try:
            value = need.parse(text, ParseEnv(command=cmd, now=self.now))
        except ParseError as exc:
            return self._store(Item(key=key, sources=tried, failure=EvidenceFailure(
                kind=FailureKind.PARSE_ERROR, reason=f"`{cmd}` printed output istio-doctor cannot read: {exc}", argv=argv)))
        except Exception as exc:  # noqa: BLE001 - a parser bug must degrade to 'unknown', not a crash
            return self._store(Item(key=key, sources=tried, failure=EvidenceFailure(
                kind=FailureKind.PARSE_ERROR, reason=f"`{cmd}` printed output istio-doctor could not parse ({type(exc).__name__}: {exc})", argv=argv)))
        return self._store(Item(key=key, value=value, sources=tried))

    async def _inputs(self, key: EvidenceKey) -> dict[str, Any]:
        """The values a kind's argv depends on (``Need.requires``), gathered first; None for a gap."""
        out: dict[str, Any] = {}
        for req in key.need.requires:
            sub = EvidenceKey(need=req, namespace=None if req.scope is Scope.CLUSTER else key.namespace,
                              name=key.name if req.scope is Scope.POD else None)
            item = await self.request(sub)
            out[req.value] = item.value if item.ok else None
        return out

    async def _node_agent(self, key: EvidenceKey) -> tuple[str, str] | EvidenceFailure:
        """(namespace, name) of the ztunnel / istio-cni pod on the node of ``key``'s pod.

        A missing agent is a gap with its reason, never an empty (healthy-looking) answer."""
        agent = key.need.node_agent
        pod_item = await self.request(EvidenceKey(need=Need.POD, namespace=key.namespace, name=key.name))
        if not pod_item.ok:
            f = pod_item.failure
            assert f is not None
            return EvidenceFailure(kind=f.kind, reason=f"the {agent} of pod {key.namespace}/{key.name} is unknown: {f.reason}", argv=f.argv)
        node = getattr(pod_item.value.spec, "node_name", None)
        if not node:
            return EvidenceFailure(kind=FailureKind.NOT_APPLICABLE,
                                   reason=f"pod {key.namespace}/{key.name} is not scheduled to a node, so no {agent} serves it yet")
        agents = await self.request(EvidenceKey(need=Need.ZTUNNEL_PODS if agent == "ztunnel" else Need.CNI_PODS))
        if not agents.ok:
            f = agents.failure
            assert f is not None
            return EvidenceFailure(kind=f.kind, reason=f"the {agent} pods could not be listed: {f.reason}", argv=f.argv)
        on_node = sorted((p for p in agents.value if p.spec.node_name == node),
                         key=lambda p: (not p.ready, p.status.phase != "Running", p.name))
        if not on_node:
            label = "app=ztunnel" if agent == "ztunnel" else "k8s-app=istio-cni-node"
            return EvidenceFailure(kind=FailureKind.NOT_FOUND, argv=agents.sources[-1] if agents.sources else (),
                                   reason=f"no {agent} pod ({label}) runs on node {node}, where pod {key.namespace}/{key.name} runs")
        return on_node[0].namespace or self.conn.istio_namespace, on_node[0].name

    async def _config_dump_from_parts(self, key: EvidenceKey, first: EvidenceFailure) -> Item[Any]:
        """`proxy-config all` failed: rebuild the dump from the per-type outputs (camelCase)."""
        from istio_doctor.evidence.envoy.configdump import config_dump_from_parts

        calls = config_dump_per_type_calls(self.conn, key.namespace or "default", key.name or "")
        texts: dict[str, str] = {}
        sources = [first.argv] if first.argv else []
        for part, argv in calls.items():
            got = await self._fetch_text(key, [argv])
            if isinstance(got, EvidenceFailure):
                if part in ("cluster", "listener", "route"):
                    return Item(key=key, failure=first, sources=sources)
                continue
            texts[part] = got[0]
            sources.append(argv)
        import json

        try:
            parts = {
                {"cluster": "clusters", "listener": "listeners", "route": "routes", "endpoint": "endpoints",
                 "secret": "secrets", "bootstrap": "bootstrap"}[p]: json.loads(t)
                for p, t in texts.items()
            }
            value = config_dump_from_parts(**parts, now=self.now)
        except (ValueError, ParseError) as exc:
            return Item(key=key, sources=sources, failure=EvidenceFailure(
                kind=FailureKind.PARSE_ERROR, reason=f"per-type proxy-config output could not be read: {exc}", argv=sources[-1]))
        return Item(key=key, value=value, sources=sources)

    def _store(self, item: Item[Any]) -> Item[Any]:
        self.evidence.put(item)
        return item

    _fallback_namespace: str | None = None

    def cancel(self) -> None:
        """Stop every call still in flight (Ctrl-C, the TUI's quit): their keys stay missing, so
        the checks that need them are unknown, never healthy. The runner kills each cancelled
        call's process group and closes its pipes (runner.py); ``cancel_pending`` also waits
        for that."""
        for fut in list(self._items.values()):
            if not fut.done():
                fut.cancel()

    async def cancel_pending(self) -> None:
        """``cancel`` and wait until the calls are gone.

        Ctrl-C and a failed preflight stop the gathering; waiting here (rather than leaving the
        cancelled tasks to asyncio.run's shutdown) means every call's process is killed and its
        pipes closed before the report is built. Further cancellations while waiting are
        absorbed: the calls settle within the runner's kill grace either way.
        """
        pending = [f for f in self._items.values() if not f.done()]
        self.cancel()
        while pending:
            try:
                await asyncio.gather(*pending, return_exceptions=True)
            except asyncio.CancelledError:
                pass
            pending = [f for f in pending if not f.done()]

    async def gather(self, keys: Iterable[EvidenceKey], *, fallback_namespace: str | None = None) -> Evidence:
        """Gather every key concurrently; returns the session's Evidence (accumulating)."""
        if fallback_namespace:
            self._fallback_namespace = fallback_namespace
        futs = [self.request(k) for k in dict.fromkeys(keys)]
        if futs:
            await asyncio.gather(*futs)
        return self.evidence
