"""Recordings: every kubectl/istioctl call of a session, as a human-readable YAML file.

A recording is what makes a diagnosis reproducible without the cluster: ``ReplayRunner``
answers from it, scenario tests are built from it, and a colleague can attach one to a bug.
It is also *untrusted input* (it may come from anyone), so loading uses ``yaml.safe_load``,
every model forbids unknown fields, and ``stdout_file`` may not point outside the
recording's own directory.

Saving always redacts (see ``redact.py``): a recording must be safe to paste into an issue.

The matching rule used by replay lives here too (``normalise_argv``), because it is part of
what a recording *means*: a call recorded with ``--context prod`` answers the same call made
with ``--context staging``.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from istio_doctor import __version__
from istio_doctor.evidence.redact import redact, redact_argv

FORMAT = "istio-doctor/recording/v1"


class RecordingError(Exception):
    """A recording file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class RecordedError(BaseModel):
    """A call that produced no output at all; replay raises the same error again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["binary_not_found", "timeout"] = Field(
        description="binary_not_found: kubectl/istioctl missing; timeout: killed at the timeout (duration_s is the timeout)"
    )
    message: str = Field(description="the error message shown to the user")


class RecordedCall(BaseModel):
    """One call and what it returned. Non-zero exits are ordinary calls (RBAC errors are evidence)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: list[str] = Field(min_length=1, description="the argv exactly as run; argv[0] is kubectl or istioctl")
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    duration_s: float = Field(default=0.0, ge=0.0, description="wall time in seconds (replay can simulate it)")
    started_at: datetime | None = None
    error: RecordedError | None = None
    stdout_file: str | None = Field(
        default=None,
        description="stdout kept in a sibling file (relative to the recording's directory, may end in .gz); "
        "the loader inlines it. Mutually exclusive with a non-empty stdout.",
    )

    @field_validator("stdout_file")
    @classmethod
    def _relative_inside(cls, v: str | None) -> str | None:
        if v is None:
            return v
        # Checked for both path flavours: a recording written on Windows is still untrusted here.
        for flavour in (PurePosixPath(v), PureWindowsPath(v)):
            if flavour.is_absolute() or flavour.drive or ".." in flavour.parts:
                raise ValueError(f"stdout_file {v!r} must be a relative path inside the recording's directory")
        if not v.strip():
            raise ValueError("stdout_file must not be empty")
        return v

    @model_validator(mode="after")
    def _one_stdout(self) -> RecordedCall:
        if self.stdout_file is not None and self.stdout:
            raise ValueError("give either stdout or stdout_file, not both")
        return self


class RecordingMetadata(BaseModel):
    """Where and with what a recording was made (shown in replayed reports)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool_version: str = Field(default=__version__, description="istio-doctor version that made the recording")
    created: datetime
    target: str = Field(description="what was diagnosed, e.g. 'pod/productpage-v1-6b746f74dc-9stvs -n default'")
    context: str | None = None
    kubectl_version: str | None = None
    istioctl_version: str | None = None
    istio_version: str | None = None
    description: str = ""
    redacted: bool = True
    #: where the recorded behaviour comes from: "synthetic" (rendered by the scenario kit, which
    #: encodes our beliefs about Istio), "captured" (a real cluster's outputs), "" (not said:
    #: recordings older than this field)
    provenance: Literal["", "synthetic", "captured"] = ""
    #: what produced it: the scenario, or the cluster/incident it was captured from
    source: str = ""


class Recording(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["istio-doctor/recording/v1"] = FORMAT
    metadata: RecordingMetadata
    calls: list[RecordedCall] = []


# -- matching rule ------------------------------------------------------------------------

# Connection flags differ between the machine that recorded and the one replaying; they do
# not change what the call asks for. kubectl's -i means --stdin, so it is only dropped for
# istioctl, where -i is the Istio namespace and -c the kubeconfig.
_CONNECTION_FLAGS = {
    "kubectl": frozenset({"--context", "--kubeconfig"}),
    "istioctl": frozenset({"--context", "--kubeconfig", "--istioNamespace", "-i", "-c"}),
}


def normalise_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """``argv`` without its connection flags (``--context X``, ``--context=X``, ...).

    Words after ``--`` (the command run by ``kubectl exec``) are never touched.
    """
    if not argv:
        return ()
    flags = _CONNECTION_FLAGS.get(argv[0], frozenset())
    out: list[str] = [argv[0]]
    i = 1
    while i < len(argv):
        w = argv[i]
        if w == "--":
            out.extend(argv[i:])
            break
        name = w.split("=", 1)[0]
        if name in flags:
            i += 1 if "=" in w else 2
            continue
        out.append(w)
        i += 1
    return tuple(out)


# -- YAML ---------------------------------------------------------------------------------

_Dumper: type[yaml.SafeDumper] = type("_RecordingDumper", (getattr(yaml, "CSafeDumper", yaml.SafeDumper),), {})
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe either way; C is ~10x faster on 50 MB dumps

# Line breaks YAML would normalise to "\n" inside a block scalar; such strings must be quoted
# or a replayed output would differ from the recorded one.
_NON_LF_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Literal blocks keep multi-line outputs (JSON, tables) readable and diffable. The emitter
    # falls back to a quoted style by itself when a literal block cannot hold the text exactly
    # (trailing spaces, control characters).
    if "\n" in data and not any(b in data for b in _NON_LF_BREAKS):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)


def _open_text(path: Path, mode: str) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def _read_stdout_file(recording_path: Path, rel: str) -> str:
    base = recording_path.parent.resolve()
    target = (base / rel).resolve()
    # resolve() follows symlinks: a link inside the directory pointing outside is refused too.
    if not target.is_relative_to(base):
        raise RecordingError(recording_path, f"stdout_file {rel!r} points outside the recording's directory")
    try:
        if target.name.endswith(".gz"):
            with gzip.open(target, "rb") as fh:
                data = fh.read()
        else:
            data = target.read_bytes()
    except OSError as e:
        raise RecordingError(recording_path, f"stdout_file {rel!r} cannot be read: {e.strerror or e}") from None
    return data.decode("utf-8", errors="replace")


def _describe_validation(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


def load_recording(path: str | Path) -> Recording:
    """Load and validate a recording (``.yaml`` or ``.yaml.gz``), inlining ``stdout_file``s.

    Raises ``RecordingError`` (file and reason) for anything unusable; never a raw YAML or
    validation traceback.
    """
    p = Path(path)
    try:
        with _open_text(p, "r") as fh:
            text = fh.read()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        # zlib.error (a corrupt deflate stream in a .gz) is not an OSError
        raise RecordingError(p, f"cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is SafeLoader/CSafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise RecordingError(p, f"not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise RecordingError(p, "not a recording: the top level must be a mapping with format, metadata and calls")
    if raw.get("format") != FORMAT:
        raise RecordingError(p, f"unsupported format {raw.get('format')!r}; expected {FORMAT!r}")
    try:
        rec = Recording.model_validate(raw)
    except ValidationError as e:
        raise RecordingError(p, f"invalid recording: {_describe_validation(e)}") from None
    calls = []
    for call in rec.calls:
        if call.stdout_file is not None:
            call = call.model_copy(update={"stdout": _read_stdout_file(p, call.stdout_file), "stdout_file": None})
        calls.append(call)
    rec.calls = calls
    return rec


def redact_recording(rec: Recording) -> Recording:
    """A copy of ``rec`` with every output and argv redacted, marked ``redacted: true``."""
    calls = [
        c.model_copy(
            update={
                "argv": redact_argv(c.argv),
                "stdout": redact(c.stdout),
                "stderr": redact(c.stderr),
                "error": c.error.model_copy(update={"message": redact(c.error.message)}) if c.error else None,
            }
        )
        for c in rec.calls
    ]
    return Recording(
        format=rec.format,
        metadata=rec.metadata.model_copy(update={"redacted": True, "description": redact(rec.metadata.description)}),
        calls=calls,
    )


def dump_recording(rec: Recording) -> str:
    """The YAML text of ``rec`` as is (no redaction; ``save_recording`` is the redacting path)."""
    data = rec.model_dump(mode="json", exclude_none=True)
    buf = io.StringIO()
    yaml.dump(data, buf, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)
    return buf.getvalue()


def save_recording(rec: Recording, path: str | Path) -> Path:
    """Write ``rec`` redacted to ``path`` (gzip when it ends in ``.gz``). Returns the path."""
    p = Path(path)
    text = dump_recording(redact_recording(rec))
    p.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so an interrupted save never leaves half a recording behind.
    tmp = p.with_name(p.name + ".tmp")
    if p.name.endswith(".gz"):
        with gzip.open(tmp, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p


def recording_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a recording file, for editors and `istio-doctor schema recording`."""
    schema = Recording.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    # `format` has a default for programmatic use, but a file must say what it is.
    schema["required"] = ["format", *[r for r in schema.get("required", []) if r != "format"]]
    schema["title"] = "istio-doctor recording (istio-doctor/recording/v1)"
    return schema
