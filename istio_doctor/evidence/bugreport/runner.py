"""``BugReportRunner``: the runner seam answered from an ``istioctl bug-report`` archive.

Like ``ReplayRunner`` it never starts a process: each argv the gatherer builds is identified
as the evidence kind (and key) whose builder in ``kinds.py`` produces exactly that argv, then
answered by that kind's entry in :mod:`.layout` from the archive's files. The kinds' own
parsers read the answers, so every check runs unchanged offline. Evidence the archive lacks
raises :class:`NotInArchive` naming the missing file: the check that needed it is "unknown",
never healthy.
"""

from __future__ import annotations

import itertools
import shlex
import time
from pathlib import Path
from typing import Any

from istio_doctor.evidence import safety
from istio_doctor.evidence.bugreport.archive import BugReportArchive, open_archive
from istio_doctor.evidence.bugreport.layout import ABSENT, ANSWERS, Ask, BugReport, Missing, _NotFound
from istio_doctor.evidence.errors import NotInArchive
from istio_doctor.evidence.kinds import BuildArgs, Need, Scope
from istio_doctor.evidence.recording import normalise_argv
from istio_doctor.evidence.runner import CommandResult, Runner
from istio_doctor.evidence.target import Connection

__all__ = ["BugReportRunner", "archive_summary", "open_bug_report"]

_VALUE_FLAGS = frozenset({"-n", "-o", "-c", "-l", "--namespace", "--output", "--container", "--selector"})


def _wild(t: str) -> str:
    # --since / --tail values are the caller's choice, not part of what is asked
    return t.split("=", 1)[0] if t.startswith(("--since=", "--tail=")) else t


class BugReportRunner(Runner):
    """Answers the gatherer's calls from one bug-report archive. Safe to share between tasks."""

    replaying = True

    def __init__(self, path: str | Path, *, archive: BugReportArchive | None = None) -> None:
        self.path = Path(path)
        self.archive = archive or open_archive(self.path)
        self.report = BugReport(self.archive)
        self.source_name = self.path.name
        self._asks: dict[tuple[str, ...], Ask | None] = {}

    @property
    def evidence_time(self) -> Any:
        """When the report was taken: certificates and event ages are judged then."""
        return self.report.taken_at

    def connection(self, conn: Connection) -> Connection:
        """``conn`` pointed at the archive's control plane namespace when the user left the default."""
        ns = self.report.istio_namespace
        if conn.istio_namespace == "istio-system" and ns != "istio-system":
            return conn.model_copy(update={"istio_namespace": ns})
        return conn

    # -- identification ---------------------------------------------------------------------
    def identify(self, argv: list[str] | tuple[str, ...]) -> Ask | None:
        """The evidence kind, key and variant whose builder makes ``argv``; None if none does."""
        toks = normalise_argv(argv)
        if toks in self._asks:
            return self._asks[toks]
        ask = self._identify(toks, self.report.istio_namespace)
        self._asks[toks] = ask
        return ask

    @staticmethod
    def _identify(toks: tuple[str, ...], istio_namespace: str) -> Ask | None:
        cut = toks.index("--") if "--" in toks else len(toks)
        ns = toks[toks.index("-n") + 1] if "-n" in toks[:cut] and toks.index("-n") + 1 < cut else None
        names: list[str] = []
        i = 1
        while i < cut:
            if toks[i] in _VALUE_FLAGS:
                i += 2
                continue
            if not toks[i].startswith("-"):
                names.append(toks[i])
            i += 1
        tail = next((int(t.split("=", 1)[1]) for t in toks if t.startswith("--tail=") and t.split("=", 1)[1].isdigit()), None)
        target = tuple(_wild(t) for t in toks)
        # The control plane kinds differ from the namespace kinds only by that namespace.
        conn = Connection(istio_namespace=istio_namespace)
        for need in Need:
            candidates: list[str | None] = [None, *names] if need.scope is Scope.POD else [None]
            # a cluster-wide list narrowed by RBAC names the namespace with -n, or as the object
            fallbacks: list[str | None] = [ns, *names] if need.namespace_fallback else [ns]
            minors: tuple[int | None, ...] = (None, 27, 30) if need.version_dependent else (None,)
            for name, fb, minor in itertools.product(candidates, fallbacks, minors):
                try:
                    call = need.build(conn, BuildArgs(namespace=ns, name=name, istioctl_minor=minor, fallback_namespace=fb))
                except ValueError:
                    continue
                for variant, cand in enumerate((call.argv, *call.fallbacks)):
                    if tuple(_wild(t) for t in normalise_argv(cand)) == target:
                        return Ask(need, ns, name, variant, tail, toks)
        return None

    def can_answer(self, argv: list[str] | tuple[str, ...]) -> bool:
        """Only the calls an evidence kind builds: the preflight's questions (kubeconfig, API
        server) are not in an archive, so they are skipped, never failed."""
        return self.identify(argv) is not None

    # -- answering --------------------------------------------------------------------------
    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        # Same refusal as live and replay: an archive must not make a mutating call look fine.
        safety.check_read_only(argv)
        t0 = time.monotonic()
        cmd = shlex.join(argv)
        where = f"the bug-report archive {self.source_name}"
        ask = self.identify(argv)
        if ask is None:
            raise NotInArchive(argv, f"`{cmd}` is not a call istio-doctor knows how to answer from {where}")
        if ask.need in ABSENT:
            raise NotInArchive(argv, f"{ask.need.value.replace('_', ' ')} is not in {where}: {ABSENT[ask.need]}")
        answer = ANSWERS.get(ask.need)
        if answer is None:
            raise NotInArchive(argv, f"istio-doctor does not know where {where} keeps {ask.need.value.replace('_', ' ')}")
        try:
            stdout = answer(self.report, ask)
        except Missing as m:
            raise NotInArchive(argv, f"{ask.need.value.replace('_', ' ')} is not in {where}: {m}") from None
        except _NotFound as nf:
            return CommandResult(argv=tuple(argv), exit_code=1, stdout="", stderr=f"{nf}\n",
                                 duration_s=time.monotonic() - t0, replayed=True)
        return CommandResult(argv=tuple(argv), exit_code=0, stdout=stdout, duration_s=time.monotonic() - t0, replayed=True)


def open_bug_report(path: str | Path) -> BugReportRunner:
    """A runner over the archive at ``path`` (``.tar.gz``, ``.tar`` or extracted folder);
    ``ArchiveError`` (one sentence) when it cannot be read as one."""
    return BugReportRunner(path)


def archive_summary(path: str | Path) -> dict[str, str]:
    """What the TUI header shows before any diagnosis: the context and versions the report names."""
    import json

    from istio_doctor.evidence.bugreport import convert

    archive = open_archive(path)
    context = ""
    if archive.has("cluster/cluster-context"):  # `kubectl config current-context` + the API server URL
        words = archive.read_text("cluster/cluster-context").split()
        context = words[0] if words else ""
    istio = istioctl = ""
    if archive.has("versions"):
        got = convert.istioctl_version_json(archive.read_text("versions"))
        if got:
            doc = json.loads(got)
            istioctl = (doc.get("clientVersion") or {}).get("version") or ""
            istio = ", ".join(sorted({m["Info"]["version"] for m in doc.get("meshVersion") or []}))
    return {"context": context, "istio": istio, "istioctl": istioctl, "target": ""}
