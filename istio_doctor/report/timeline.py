"""The pod's timeline as report text (plain text and Markdown share these rows; the TUI has its own view).

One row per moment: the time on its own clock, the offset from the pod's start, a clock mark
when it is not the node's, what happened, and ``← CODE`` on the moments a finding decided on.
"""

from __future__ import annotations

from dataclasses import dataclass

from istio_doctor.engine.lifecycle.model import Clock, Moment, PodTimeline

#: a timeline is shown in full up to this many moments; beyond it, the deciding ones and their
#: neighbours, the first and the last ones are kept and the rest counted
MAX_ROWS = 30
_CLOCK_MARK = {Clock.NODE: "", Clock.CONTROL_PLANE: " [API]", Clock.LOCAL: " [local]"}


@dataclass(frozen=True)
class Row:
    time: str
    offset: str
    text: str
    deciding: tuple[str, ...]
    moment_id: str

    @property
    def marked(self) -> bool:
        return bool(self.deciding)


def _offset(tl: PodTimeline, m: Moment) -> str:
    if tl.origin is None:
        return ""
    s = (m.at - tl.origin).total_seconds()
    sign = "+" if s >= 0 else "-"
    s = abs(s)
    if s < 60:
        return f"{sign}{s:.1f}s" if s != int(s) else f"{sign}{int(s)}s"
    if s < 3600:
        return f"{sign}{int(s // 60)}m{int(s % 60):02d}s"
    return f"{sign}{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def _time(m: Moment) -> str:
    t = m.at
    frac = f".{t.microsecond // 1000:03d}" if t.microsecond else ""
    return t.strftime("%H:%M:%S") + frac


def rows(tl: PodTimeline) -> tuple[list[Row], int]:
    """The rows to show, and how many moments were left out."""
    ms = tl.moments
    keep = set(range(len(ms)))
    if len(ms) > MAX_ROWS:
        keep = {0, 1, len(ms) - 2, len(ms) - 1}
        for i, m in enumerate(ms):
            if m.deciding:
                keep |= {i - 1, i, i + 1}
        for i in range(len(ms)):
            if len(keep) >= MAX_ROWS:
                break
            keep.add(i)
        keep = {i for i in keep if 0 <= i < len(ms)}
    out = []
    for i in sorted(keep):
        m = ms[i]
        count = f" (x{m.count}, last {m.last_at.strftime('%H:%M:%S')})" if m.count > 1 and m.last_at is not None else (
            f" (x{m.count})" if m.count > 1 else "")
        out.append(Row(_time(m), _offset(tl, m), f"{m.summary}{count}{_CLOCK_MARK[m.clock]}", tuple(m.deciding), m.id))
    return out, len(ms) - len(keep)


def heading(tl: PodTimeline) -> str:
    where = f" on node {tl.node}" if tl.node else ""
    origin = f", offsets from the pod's start {tl.origin.strftime('%Y-%m-%dT%H:%M:%SZ')}" if tl.origin else ""
    gathered = f"; evidence gathered {tl.gathered_at.strftime('%Y-%m-%dT%H:%M:%SZ')} (local clock)" if tl.gathered_at else ""
    return f"Timeline of {tl.target}{where} (UTC, the node's clock unless marked{origin}{gathered})"


def legend(tl: PodTimeline) -> str:
    parts = []
    for c in tl.containers:
        extra = []
        if c.exit_code is not None and c.state not in ("Running",):
            extra.append(f"exit {c.exit_code}")
        if c.restarts:
            extra.append(f"{c.restarts} restarts")
        if c.state == "Running" and not c.ready:
            extra.append("not ready")
        parts.append(f"{c.name} ({c.role}) {c.state}" + (f" [{', '.join(extra)}]" if extra else ""))
    return "; ".join(parts)


def has_deciding(tl: PodTimeline) -> bool:
    return any(m.deciding for m in tl.moments)
