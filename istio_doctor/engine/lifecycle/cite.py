"""How checks read and cite the pod's timeline (shared by the lifecycle, p503 and injection checks)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from istio_doctor.engine.lifecycle.build import SOURCES, pod_timeline
from istio_doctor.engine.lifecycle.model import Moment, PodTimeline
from istio_doctor.engine.model import EvidenceRef
from istio_doctor.evidence.bundle import EvidenceKey, MissingEvidence, Need

if TYPE_CHECKING:
    from istio_doctor.engine.context import CheckContext


def timeline_of(ctx: CheckContext, namespace: str | None = None, name: str | None = None) -> PodTimeline:
    """The examined (or named) pod's timeline, from the evidence the running check declares;
    MissingEvidence when the pod object is missing."""
    ns, nm = namespace or ctx.namespace, name or ctx.pod_name
    declares = getattr(ctx, "declares", None)
    sources = frozenset(n for n in SOURCES if declares is None or declares(n))
    base = getattr(ctx, "_base", ctx.ev)
    tl = pod_timeline(base, ns, nm, sources) if nm else None
    if tl is None:
        ctx.pod(ns, nm)  # raises MissingEvidence with the pod's own failure
        raise MissingEvidence(EvidenceKey(need=Need.POD, namespace=ns, name=nm), None)
    return tl


def when(t: datetime | None) -> str:
    """``08:30:12.345Z`` (UTC, milliseconds when the source has them)."""
    if t is None:
        return "?"
    s = t.strftime("%H:%M:%S")
    return s + (f".{t.microsecond // 1000:03d}" if t.microsecond else "") + "Z"


def quote(text: str, limit: int = 200) -> str:
    """A log line short enough to quote in a sentence: a long line keeps its end, where the
    error is ("... dial tcp 10.0.0.1:5432: connect: connection refused"), behind an ellipsis."""
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-(limit - 1):].lstrip()


def duration(seconds: float) -> str:
    """``4.2s``, ``3m10s``, ``2h05m``."""
    s = abs(seconds)
    if s < 60:
        return f"{s:.1f}s" if s < 10 and s != int(s) else f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def moment_line(tl: PodTimeline, m: Moment) -> str:
    """``[id] time (+offset) [clock] xN  excerpt``: one cited moment, its verbatim line last."""
    rel = ""
    if tl.origin is not None:
        off = (m.at - tl.origin).total_seconds()
        rel = f" (+{duration(off)})" if off >= 0 else f" (-{duration(off)})"
    count = f" x{m.count}" if m.count > 1 else ""
    body = m.excerpt or m.summary
    return f"{m.id} {m.at.isoformat().replace('+00:00', 'Z')}{rel} [{m.clock.value}]{count} {body}"


def moments_ref(ctx: CheckContext, tl: PodTimeline, moments: Iterable[Moment | None], note: str) -> EvidenceRef:
    """Cite timeline moments: their ids, times, clocks and verbatim lines, and the calls they came from."""
    order = {m.id: i for i, m in enumerate(tl.moments)}
    ms = sorted({m.id: m for m in moments if m is not None}.values(), key=lambda m: order.get(m.id, 0))
    sources = list(dict.fromkeys(m.source for m in ms if m.source))
    return EvidenceRef(source=sources[0] if len(sources) == 1 else "", key=f"timeline({tl.namespace}/{tl.pod})",
                       excerpt="\n".join(moment_line(tl, m) for m in ms), note=note)


def ids(*moments: Moment | None) -> list[str]:
    return [m.id for m in moments if m is not None]


def kube_minor(ctx: CheckContext) -> int | None:
    kv = ctx.ev.get_or(None, Need.KUBECTL_VERSION)
    v = kv.server.version if kv is not None and kv.server is not None else None
    return v.minor if v is not None else None


def injector_of(ctx: CheckContext, pod: Any) -> Any | None:
    cp = ctx.ev.get_or(None, Need.CONTROL_PLANE_CONFIGMAPS)
    if cp is None:
        return None
    return cp.injector_for(pod.revision) or cp.injector_for(None)


def mesh_of(ctx: CheckContext, pod: Any) -> Any | None:
    cp = ctx.ev.get_or(None, Need.CONTROL_PLANE_CONFIGMAPS)
    if cp is None:
        return None
    return cp.mesh_for(pod.revision) or cp.mesh_for(None)
