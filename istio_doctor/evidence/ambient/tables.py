"""Reading Go ``text/tabwriter`` tables back: ``istioctl ztunnel-config`` and ``istioctl waypoint``.

istio-doctor renders these tables itself from JSON when it gathers evidence, but an SRE pastes
tables into tickets and istio.io shows them in docs, and older istioctl builds print other
columns (``IP`` before ``ADDRESS``, services without ``ENDPOINTS``). Header names may contain a
space (``POD NAME``, ``SERVICE VIP``) and cells may be empty (``REMOTE TARGET`` of an inbound
connection, ``REASON`` of a ready waypoint), so a row is cut at the header's column offsets,
which tabwriter guarantees. Rows a person re-aligned by hand (a trimmed paste) fall back to
whitespace splitting when that gives exactly one value per column.

Lines around the table that are not rows are tolerated and counted: a ``$ istioctl …`` prompt,
doc elisions (``...``, ``--snip--``), ``Found N pods`` notices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from istio_doctor.evidence.errors import ParseError

__all__ = ["Table", "parse_table"]

_ELISION = re.compile(r"^\s*(\.\.\.|…|--snip--|-- snip --)\s*$")
_NOISE = re.compile(r"^\s*(\$ |# |Found \d+ pods|Defaulting )")


class Table(BaseModel):
    """A parsed table: its column names as printed, one dict per row, and what was skipped."""

    model_config = ConfigDict(extra="forbid")

    columns: list[str]
    rows: list[dict[str, str]]
    #: lines that were not rows (prompts, elisions, notices), for honesty in reports
    skipped: int = 0
    #: rows cut by whitespace because they were not aligned with the header
    realigned: int = 0


def _header_cells(line: str, vocabulary: Iterable[str]) -> list[tuple[str, int]] | None:
    """Column names and their start offsets; names may contain one space (``POD NAME``)."""
    vocab = sorted(set(vocabulary), key=len, reverse=True)
    out: list[tuple[str, int]] = []
    i = 0
    n = len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        for name in vocab:
            if line.startswith(name, i):
                end = i + len(name)
                # a name ends at a space or the line end; a stray character (a typo "WAYPOINT.") is kept
                while end < n and line[end] != " ":
                    end += 1
                out.append((name, i))
                i = end
                break
        else:
            return None
    return out


def parse_table(text: str, vocabulary: Iterable[str], *, what: str, command: str = "",
                required: Iterable[str] = (), spaced: Iterable[str] = ()) -> Table:
    """Parse the first table whose header is made only of ``vocabulary`` names.

    ``spaced`` names the columns whose values may contain spaces (a status message): in any
    other column a space means the row was not cut where its cells are.
    """
    spaced = set(spaced)
    vocabulary = list(vocabulary)
    lines = text.splitlines()
    skipped = 0
    header: list[tuple[str, int]] | None = None
    start = 0
    for start, line in enumerate(lines):
        header = _header_cells(line.rstrip(), vocabulary) if line.strip() else None
        if header and len(header) >= 2:
            break
        skipped += 1 if line.strip() else 0
        header = None
    if header is None:
        raise ParseError(what, "no table header found (expected columns such as "
                         + ", ".join(vocabulary[:4]) + ")", command=command)
    names = [h for h, _ in header]
    missing = [r for r in required if r not in names]
    if missing:
        raise ParseError(what, f"the table has no {', '.join(missing)} column (columns: {', '.join(names)})", command=command)
    rows: list[dict[str, str]] = []
    realigned = 0
    offsets = [o for _, o in header]
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        if _ELISION.match(line) or _NOISE.match(line):
            skipped += 1
            continue
        cells = _cut(line, offsets)
        if cells is not None and any(" " in c for n, c in zip(names, cells, strict=True) if n not in spaced):
            cells = None
        if cells is None:
            words = line.split()
            if len(words) != len(names):
                raise ParseError(what, f"row {line.strip()!r} does not fit the columns {', '.join(names)}", command=command)
            cells = words
            realigned += 1
        rows.append(dict(zip(names, cells, strict=True)))
    return Table(columns=names, rows=rows, skipped=skipped, realigned=realigned)


def _cut(line: str, offsets: list[int]) -> list[str] | None:
    """Cells at the header's offsets, or None when a cut would split a word (not aligned)."""
    line = line.rstrip()
    cells = []
    for i, off in enumerate(offsets):
        end = offsets[i + 1] if i + 1 < len(offsets) else len(line)
        if off > 0 and off < len(line) and line[off - 1] != " ":
            return None
        if i + 1 < len(offsets) and end < len(line) and line[end - 1] != " " and line[end] != " ":
            return None
        cells.append(line[off:end].strip() if off < len(line) else "")
    if line[: offsets[0]].strip():
        return None
    return cells
