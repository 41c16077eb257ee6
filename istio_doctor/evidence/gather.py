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
from istio_doctor.evidence.kinds import ParseEnv
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


def classify_failure(stderr: str, exit_code: int | None) -> FailureKind:
    """Read the one thing that matters from kubectl/istioctl stderr."""
    s = stderr.lower()
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
    if "notfound" in s or "not found" in s or "doesn't have a resource type" in s or "could not find the requested resource" in s:
        return FailureKind.NOT_FOUND
    return FailureKind.FAILED


_KIND_SENTENCE = {
    FailureKind.FORBIDDEN: "refused by RBAC",
    FailureKind.UNAUTHORIZED: "refused: not authenticated",
    FailureKind.UNSUPPORTED: "not supported by this version of the tool",
    FailureKind.UNREACHABLE: "could not reach the cluster",
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
    FailureKind.FAILED: "Run the command yourself to see its full error",
    FailureKind.TIMEOUT: "Retry with a larger --timeout, or find out why the API server or the pod is slow",
}


def _with_advice(reason: str, kind: FailureKind) -> str:
    advice = _KIND_ADVICE.get(kind)
    return f"{reason.rstrip().rstrip('.')}. {advice}." if advice else reason


def _first_line(text: str, limit: int = 300) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def failure_from_result(res: CommandResult) -> EvidenceFailure:
    kind = classify_failure(res.stderr, res.exit_code)
    detail = _first_line(res.stderr) or _first_line(res.stdout) or f"exit code {res.exit_code}"
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
        rec = getattr(runner, "recording", None)
        self.now: datetime | None = rec.metadata.created if runner.replaying and rec is not None else None

    # -- progress ---------------------------------------------------------------------
    def _emit(self, **kw: Any) -> None:
        if self.on_progress is not None:
            try:
                self.on_progress(ProgressEvent(done=self._done, total=self._total, **kw))
            except Exception:  # noqa: BLE001 - a broken progress display must never break a diagnosis
                pass

    # -- calls ------------------------------------------------------------------------
    async def _run(self, argv: tuple[str, ...], key: EvidenceKey) -> CommandResult | RunnerError:
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
            res: CommandResult | RunnerError = await self.runner.run(list(argv), timeout_s=self.timeout_s)
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
        if need.node_agent:
            # ambient: asked of the agent (ztunnel, istio-cni) on the pod's node, not of the pod
            agent = await self._node_agent(key)
            if isinstance(agent, EvidenceFailure):
                return self._store(Item(key=key, failure=agent))
            at_ns, at_name = agent
        call = build_call(need, self.conn, namespace=at_ns, name=at_name, since=self.since,
                          tail=self.tail, istioctl_minor=minor, fallback_namespace=fallback_ns)
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
        the checks that need them are unknown, never healthy."""
        # The items only: a call's own task finishes (or times out) and closes its process;
        # cancelling it here would leave a subprocess transport to be collected after the loop.
        for fut in list(self._items.values()):
            if not fut.done():
                fut.cancel()

    async def gather(self, keys: Iterable[EvidenceKey], *, fallback_namespace: str | None = None) -> Evidence:
        """Gather every key concurrently; returns the session's Evidence (accumulating)."""
        if fallback_namespace:
            self._fallback_namespace = fallback_namespace
        futs = [self.request(k) for k in dict.fromkeys(keys)]
        if futs:
            await asyncio.gather(*futs)
        return self.evidence
