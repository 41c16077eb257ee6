"""Real captured outputs spliced into a scenario world (recordings with ``provenance: captured``).

The kit renders every output from its own beliefs; a *captured* scenario replaces the part of
one call's answer that the corpus holds a real capture of (``tests/fixtures/corpus``, each file
with its origin in a ``SOURCES.md``) and keeps the world's answer for everything else, so the
capture sits in a complete, consistent session. What is spliced, by ``Capture.how``:

* ``replace``: the call's stdout is the capture (e.g. ``istioctl analyze`` text, an init
  container's log);
* ``append``: the capture's lines follow the world's stdout (a proxy log with real lines);
* ``events``: in ``kubectl get events -o json``, the messages (and counts) of the world's events
  of ``reason`` become the captured ones, verbatim (kubectl prints the same message in every
  format): ``FailedCreate`` lines in any form the API server's error appears in, other reasons
  as ``kubectl describe`` event lines;
* ``rs_failure``: in ``kubectl get replicasets -o json``, the ``ReplicaFailure`` condition of the
  world's failing ReplicaSets carries the captured message (a captured ``status`` YAML).

``names`` maps names of the capture's cluster to the world's (pods, namespaces, hosts), applied
to the capture before it is spliced: only the names differ from the capture. A build fails when
a capture answered no call (``CapturingRunner.unused``), and the end-to-end test checks that the
installed CLI made the call and that its recorded answer holds ``Capture.proof``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from istio_doctor.evidence.runner import CommandResult, Runner

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"

How = Literal["replace", "append", "events", "rs_failure"]

#: a kubectl event line as ``describe`` / ``get events`` print it: ``(x21 over 133m)`` or a COUNT column
_EVENT_COUNT = re.compile(r"\(x(?P<n>\d+) over [^)]*\)")
_ERROR_CREATING = re.compile(r"(Error creating: .*|Internal error occurred: .*)$")


@dataclass(frozen=True)
class Capture:
    """One real output that answers (part of) the calls whose argv holds every word of ``match``."""

    match: tuple[str, ...]
    corpus: str  # path under tests/fixtures/corpus
    how: How = "replace"
    names: dict[str, str] = field(default_factory=dict)
    #: for ``events``: the reason whose messages are replaced
    reason: str = "FailedCreate"
    #: for ``replace``: the exit code of the captured command (istioctl analyze exits 79 on findings)
    exit_code: int | None = None
    #: a table capture: each renamed cell keeps its width (padded with spaces), so columns stay aligned
    keep_width: bool = False
    #: keep only the lines after the one holding ``after`` and before the one holding ``until``
    #: (a capture that quotes its command lines around the output)
    after: str = ""
    until: str = ""
    #: the capture's line holding this text is its proof (default: the last line); for a capture
    #: whose last line is context (a request that worked) rather than the failure
    proof_line: str = ""

    def applies(self, argv: tuple[str, ...]) -> bool:
        words = set(argv)
        return all(w in words for w in self.match)

    @property
    def text(self) -> str:
        raw = (CORPUS / self.corpus).read_text(encoding="utf-8")
        if self.after or self.until:
            lines = raw.splitlines(keepends=True)
            start = next(i for i, ln in enumerate(lines) if self.after in ln) + 1 if self.after else 0
            end = next((i for i, ln in enumerate(lines) if i >= start and self.until in ln), len(lines)) if self.until else len(lines)
            raw = "".join(lines[start:end])
        for old, new in self.names.items():
            if self.keep_width:
                raw = re.sub(re.escape(old) + r"( *)", lambda m: new + " " * max(1, len(old) + len(m.group(1)) - len(new)), raw)
            else:
                raw = raw.replace(old, new)
        return raw

    @property
    def messages(self) -> list[tuple[str, int]]:
        """(message, count) of each captured event line, oldest format first. From a captured
        ReplicaSet ``status``: the event the controller records with that condition, ``Error
        creating: <err>`` (kubernetes/kubernetes pkg/controller/replicaset/replica_set.go: the
        FailedCreate event and the ReplicaFailure condition carry the same error)."""
        if self.text.lstrip().startswith("status:"):
            return [(f"Error creating: {_folded_message(self.text)}", 1)]
        if self.reason != "FailedCreate":
            return self._describe_events()
        out = []
        # a documentation page wraps a long message with shell-style continuations: one line again
        for line in re.sub(r"\\\n\s*", "", self.text).splitlines():
            m = _ERROR_CREATING.search(line.strip())
            if not m:
                continue
            msg = m.group(1) if m.group(1).startswith("Error creating: ") else f"Error creating: {m.group(1)}"
            count = _EVENT_COUNT.search(line)
            if count is None and re.match(r"^\s*\S+\s+\S+\s+(\d+)\s", line):  # get events: LAST SEEN FIRST SEEN COUNT
                count = re.match(r"^\s*\S+\s+\S+\s+(?P<n>\d+)\s", line)
            out.append((msg, int(count.group("n")) if count else 1))
        return out

    def _describe_events(self) -> list[tuple[str, int]]:
        """(message, count) of the captured ``kubectl describe`` event lines of ``reason``: columns
        Type, Reason, Age (``106s (x298 over 11m)``), From (``kubelet, NODE``), Message, two or more
        spaces apart, as ``describe`` prints them."""
        out = []
        for line in self.text.splitlines():
            cols = re.split(r"\s{2,}", line.strip(), maxsplit=4)
            if len(cols) == 5 and cols[1] == self.reason:
                count = _EVENT_COUNT.search(cols[2])
                out.append((cols[4], int(count.group("n")) if count else 1))
        return out

    @property
    def condition_message(self) -> str:
        """The ReplicaFailure message: the captured status's, or the captured event's error (without
        the ``Error creating: `` the controller puts before it in the event)."""
        if self.text.lstrip().startswith("status:"):
            return _folded_message(self.text)
        return self.messages[0][0].removeprefix("Error creating: ")

    @property
    def proof(self) -> str:
        """A piece of the capture the recorded answer must hold (it was spliced, not bypassed)."""
        if self.how == "events":
            return self.messages[0][0]
        if self.how == "rs_failure":
            return self.condition_message
        lines = [ln for ln in self.text.splitlines() if ln.strip()]
        if self.proof_line:
            return next(ln for ln in lines if self.proof_line in ln)
        # the last line: a capture's first line may be a fragment cut by its source's excerpt
        return lines[-1]

    def splice(self, result: CommandResult) -> CommandResult:
        if self.how == "replace":
            return result.model_copy(update={"stdout": self.text, "exit_code": self.exit_code if self.exit_code is not None else result.exit_code})
        if self.how == "append":
            body = result.stdout if result.stdout.endswith("\n") or not result.stdout else result.stdout + "\n"
            return result.model_copy(update={"stdout": body + self.text})
        doc = json.loads(result.stdout)
        if self.how == "events":
            _splice_events(doc, self.reason, self.messages)
        else:
            _splice_rs_failure(doc, self.condition_message)
        return result.model_copy(update={"stdout": json.dumps(doc, indent=4) + "\n"})


def _splice_events(doc: dict[str, Any], reason: str, messages: list[tuple[str, int]]) -> None:
    events = [e for e in doc.get("items", []) if e.get("reason") == reason]
    if not events:
        raise ValueError(f"the world has no {reason} event to carry the captured message")
    for i, ev in enumerate(events):
        msg, count = messages[min(i, len(messages) - 1)]
        ev["message"], ev["count"] = msg, count


def _folded_message(text: str) -> str:
    """The ``ReplicaFailure`` message of a captured ``status:`` YAML (YAML folds it onto one line)."""
    import yaml

    status = (yaml.safe_load(text) or {}).get("status", {})
    for c in status.get("conditions", []):
        if c.get("type") == "ReplicaFailure":
            return str(c["message"]).strip()
    raise ValueError("the captured status has no ReplicaFailure condition")


def _splice_rs_failure(doc: dict[str, Any], message: str) -> None:
    hit = False
    for rs in doc.get("items", []):
        for c in (rs.get("status") or {}).get("conditions", []) or []:
            if c.get("type") == "ReplicaFailure":
                c["message"] = message
                hit = True
    if not hit:
        raise ValueError("the world has no ReplicaSet with a ReplicaFailure condition to carry the captured message")


class CapturingRunner(Runner):
    """Answers from the inner (world) runner, with the captures spliced into the calls they match."""

    def __init__(self, inner: Runner, captures: list[Capture]) -> None:
        self.inner = inner
        self.evidence_time = getattr(inner, "evidence_time", None)  # the world's clock
        self.captures = captures
        self.used: set[int] = set()

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        result = await self.inner.run(argv, timeout_s=timeout_s)
        for i, c in enumerate(self.captures):
            if c.applies(tuple(argv)):
                result = c.splice(result)
                self.used.add(i)
        return result

    @property
    def unused(self) -> list[Capture]:
        return [c for i, c in enumerate(self.captures) if i not in self.used]


def sources_of(captures: list[Capture]) -> str:
    """The ``source`` of a captured recording: the corpus files and where each comes from."""
    files = dict.fromkeys(c.corpus for c in captures)  # one file may answer several calls: named once
    return "real outputs spliced into the scenario kit's world: " + "; ".join(
        f"tests/fixtures/corpus/{f} ({origin(f)})" for f in files)


def origin(corpus: str) -> str:
    """The capture's origin as its ``SOURCES.md`` row names it: the row's URL (captured threads),
    else ``repo@commit:path`` (istio/istio and istio/istio.io rows)."""
    top = corpus.split("/", 1)[0]
    rel = corpus.split("/", 1)[1]
    sources = (CORPUS / top / "SOURCES.md").read_text(encoding="utf-8")
    for line in sources.splitlines():
        if f"`{rel}`" not in line:
            continue
        url = re.search(r"https?://[^\s|)>`]+", line)
        if url:
            return url.group(0)
        cells = [c.strip().strip("`") for c in line.split("|")]
        path, commit = cells[2], cells[3]
        repo = "istio/istio.io" if rel.startswith("docs/istio.io/") else "istio/istio"
        return f"{repo}@{commit[:12]}:{path}"
    raise ValueError(f"{corpus}: no SOURCES.md row names it")
