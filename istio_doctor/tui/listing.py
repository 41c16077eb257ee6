"""What the target picker lists: kubeconfig contexts, namespaces and pods.

Pure functions over kubectl JSON plus one async helper per list that goes through the runner
seam (so replay answers the picker exactly as it answers the diagnosis). Parsing is minimal on
purpose: the picker needs a handful of fields, and a pod the full model would reject must
still be listed so the user can diagnose it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from istio_doctor.evidence.argv import kubectl_get, with_connection
from istio_doctor.evidence.runner import CommandResult, Runner
from istio_doctor.evidence.target import Connection


class ListingError(Exception):
    """A listing call failed; the message is one line a user can act on (shown in the flash line)."""


@dataclass(frozen=True)
class ContextRow:
    name: str
    cluster: str = ""
    namespace: str = ""  # the context's default namespace, pre-selected in the picker
    current: bool = False


@dataclass(frozen=True)
class PodRow:
    name: str
    namespace: str
    ready: str
    restarts: int
    in_mesh: bool
    revision: str
    phase: str = ""
    #: ``ambient`` / ``ambient pending`` from istio-cni's ``ambient.istio.io/redirection``
    #: annotation (an un-injected pod is not ambient just because it has no sidecar)
    dataplane: str = ""
    node: str = ""

    @property
    def mesh_cell(self) -> str:
        return "✔" if self.in_mesh else (self.dataplane or "✘")


@dataclass(frozen=True)
class ContextList:
    contexts: list[ContextRow] = field(default_factory=list)
    #: why the list is empty or partial (no kubeconfig, unreadable file); shown, never raised
    problem: str = ""


def list_kube_contexts(kubeconfig: str | None) -> ContextList:
    """Contexts from kubeconfig. Imports the kubernetes package lazily: it is slow to import
    and this runs in a worker thread, never before the first screen paints."""
    try:
        from kubernetes import config as kube_config  # type: ignore[import-untyped]

        contexts, current = kube_config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception as exc:  # noqa: BLE001 - any kubeconfig problem is shown, the TUI still works
        return ContextList([], problem=f"no kubeconfig contexts: {_first_line(str(exc)) or type(exc).__name__}")
    current_name = (current or {}).get("name", "")
    rows = [
        ContextRow(
            name=c.get("name", ""),
            cluster=(c.get("context") or {}).get("cluster", ""),
            namespace=(c.get("context") or {}).get("namespace", "") or "",
            current=c.get("name", "") == current_name,
        )
        for c in contexts or []
        if c.get("name")
    ]
    return ContextList(sorted(rows, key=lambda r: r.name))


def replay_context(path: Path) -> tuple[ContextList, dict[str, str]]:
    """The recording's context (the only one a replay can answer for) and the versions its
    metadata names, so the header is filled before any diagnosis ran."""
    from istio_doctor.evidence.bugreport.archive import looks_like_bug_report
    from istio_doctor.evidence.recording import load_recording

    if looks_like_bug_report(path):
        from istio_doctor.evidence.bugreport.runner import archive_summary

        try:
            info = archive_summary(path)
        except Exception as exc:  # noqa: BLE001 - an unreadable archive is shown, not raised
            return ContextList([], problem=f"cannot read bug-report {path.name}: {_first_line(str(exc))}"), {}
        return ContextList([ContextRow(name=info["context"] or "bug-report", current=True)]), info
    try:
        meta = load_recording(path).metadata
    except Exception as exc:  # noqa: BLE001 - an unreadable recording is shown, not raised
        return ContextList([], problem=f"cannot read recording {path.name}: {_first_line(str(exc))}"), {}
    name = meta.context or "recording"
    versions = {"istio": meta.istio_version or "", "istioctl": meta.istioctl_version or "", "target": meta.target}
    return ContextList([ContextRow(name=name, current=True)]), versions


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _failure(result: CommandResult) -> ListingError:
    detail = _first_line(result.stderr) or _first_line(result.stdout) or "no output"
    return ListingError(f"`{result.command_line}` exited {result.exit_code}: {detail}")


def _items(result: CommandResult) -> list[dict[str, Any]]:
    if not result.ok:
        raise _failure(result)
    try:
        doc = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise ListingError(f"`{result.command_line}` did not print JSON ({exc.msg} at line {exc.lineno})") from None
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ListingError(f"`{result.command_line}` printed JSON without an items list")
    return [i for i in items if isinstance(i, dict)]


def parse_namespaces(result: CommandResult) -> list[str]:
    names = [((i.get("metadata") or {}).get("name") or "") for i in _items(result)]
    return sorted(n for n in names if n)


def _revision(meta: dict[str, Any]) -> str:
    labels = meta.get("labels") or {}
    if labels.get("istio.io/rev"):
        return str(labels["istio.io/rev"])
    status = (meta.get("annotations") or {}).get("sidecar.istio.io/status")
    if status:
        try:
            rev = json.loads(status).get("revision")
        except (json.JSONDecodeError, AttributeError):
            rev = None
        if rev:
            return str(rev)
    return ""


def pod_row(item: dict[str, Any]) -> PodRow:
    meta = item.get("metadata") or {}
    spec = item.get("spec") or {}
    status = item.get("status") or {}
    # Native sidecars (Kubernetes >= 1.28) are init containers with restartPolicy Always; they
    # run beside the app like ordinary containers, so kubectl counts them in READY and so do we.
    native = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    running = list(spec.get("containers") or []) + native
    in_mesh = any(c.get("name") == "istio-proxy" for c in running)
    native_names = {c.get("name") for c in native}
    statuses = list(status.get("containerStatuses") or []) + [
        s for s in status.get("initContainerStatuses") or [] if s.get("name") in native_names
    ]
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    return PodRow(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        ready=f"{ready}/{len(running)}",
        restarts=restarts,
        in_mesh=in_mesh,
        revision=_revision(meta),
        phase=str(status.get("phase") or ""),
        dataplane=_AMBIENT_CELL.get((meta.get("annotations") or {}).get("ambient.istio.io/redirection", ""), ""),
        node=str(spec.get("nodeName") or ""),
    )


#: istio-cni's annotation values (cni/pkg/util/podutil.go): ``enabled``; ``pending`` when no
#: ztunnel accepted the pod yet
_AMBIENT_CELL = {"enabled": "ambient", "pending": "ambient pending"}


def parse_pods(result: CommandResult) -> list[PodRow]:
    rows = [pod_row(i) for i in _items(result)]
    return sorted((r for r in rows if r.name), key=lambda r: r.name)


async def fetch_namespaces(runner: Runner, conn: Connection) -> list[str]:
    return parse_namespaces(await runner.run(with_connection(kubectl_get("namespaces"), conn)))


async def fetch_pods(runner: Runner, conn: Connection, namespace: str) -> list[PodRow]:
    return parse_pods(await runner.run(with_connection(kubectl_get("pods", namespace=namespace), conn)))
