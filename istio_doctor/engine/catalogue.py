"""The catalogue of implemented checks: what each finding code means, and its fix.

Data lives in ``catalogue/*.yaml`` beside this module, one file per playbook that owns checks
(injection, p503, mtls, routes, triage), named like the check module. Only implemented checks are listed:
a code in the catalogue without a registered check (or the reverse) fails the test suite.
Codes never change meaning once published.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from istio_doctor.engine.model import Severity

#: the message variant a check gets when it names none
DEFAULT_MESSAGE = "default"
#: the confidence level a finding gets when its check names none
BASE_CONFIDENCE = "base"


class TemplateError(ValueError):
    """A message or fix template could not be rendered with the arguments a check returned."""


_FORMATTER = string.Formatter()


def template_fields(template: str) -> set[str]:
    """The named arguments a ``str.format`` template uses (``{dr}``, ``{port}``...)."""
    out: set[str] = set()
    for _, field, _, _ in _FORMATTER.parse(template):
        if field is None:
            continue
        if not field or field.isdigit():
            raise TemplateError(f"template {template!r} has a positional field; use named arguments")
        out.add(field.split(".")[0].split("[")[0])
    return out


def render(template: str, args: Mapping[str, Any]) -> str:
    """Render a template; every field must be in ``args`` (a missing one is a check bug)."""
    missing = template_fields(template) - set(args)
    if missing:
        raise TemplateError(f"template {template!r} needs argument(s) {', '.join(sorted(missing))}")
    return _FORMATTER.vformat(template, (), {k: _text(v) for k, v in args.items()})


def _text(v: Any) -> Any:
    """Lists read as prose in a message: ``a, b and c``."""
    if isinstance(v, (list, tuple)):
        items = [str(x) for x in v]
        if not items:
            return "none"
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return v

CATALOGUE_DIR = Path(__file__).with_name("catalogue")


class CatalogueEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    section: str = Field(description="the playbook id that owns the check: its check module and catalogue file (injection | p503 | mtls | routes | triage)")
    playbooks: list[str] = Field(description="playbook ids whose symptom this check explains")
    severity: Severity
    #: How directly the evidence proves the cause, by corroboration level: ``base`` when the
    #: check fails on configuration alone, other named levels (e.g. ``corroborated``,
    #: ``server_logs``) when runtime evidence agrees. A check names the level it reached; the
    #: numbers live here, not in code. A bare number means ``{base: number}``.
    confidence: dict[str, float] = Field(description="confidence by corroboration level (must have 'base')")
    #: What the finding says, naming the resources and values that prove it: ``str.format``
    #: templates with named arguments the check returns (``{dr}``, ``{port}``), by variant
    #: (a check with several ways to fail names the variant; one string means ``default``).
    message: dict[str, str] = Field(default={}, description="finding summary templates by variant")
    explanation: str = Field(description="why this cause produces the symptom")
    fix: str = Field(description="fix summary template (named arguments as in message); checks add the concrete steps")
    doc_url: str
    istio_versions: str = "all"
    #: access-log response flags / response code details this cause produces; when the target's
    #: logs show them, the finding is corroborated and ranks higher.
    signals: list[str] = []
    #: codes of consequences: when both fire, this one is the root cause and ranks first.
    explains: list[str] = []
    detected_today_by: str = "none"


    @field_validator("confidence", mode="before")
    @classmethod
    def _levels(cls, v: Any) -> Any:
        return {BASE_CONFIDENCE: v} if isinstance(v, (int, float)) else v

    @field_validator("confidence")
    @classmethod
    def _check_levels(cls, v: dict[str, float]) -> dict[str, float]:
        if BASE_CONFIDENCE not in v:
            raise ValueError(f"confidence needs a '{BASE_CONFIDENCE}' level")
        bad = {k: x for k, x in v.items() if not 0.0 <= x <= 1.0}
        if bad:
            raise ValueError(f"confidence levels must be within 0..1: {bad}")
        return v

    @field_validator("message", mode="before")
    @classmethod
    def _variants(cls, v: Any) -> Any:
        return {DEFAULT_MESSAGE: v} if isinstance(v, str) else v

    @field_validator("message", "fix")
    @classmethod
    def _parses(cls, v: Any) -> Any:
        for t in v.values() if isinstance(v, dict) else [v]:
            template_fields(t)  # raises on a malformed or positional template
        return v

    def confidence_for(self, level: str | None) -> float:
        level = level or BASE_CONFIDENCE
        if level not in self.confidence:
            raise TemplateError(f"{self.id}: no confidence level {level!r} (has {', '.join(self.confidence)})")
        return self.confidence[level]

    def render_message(self, variant: str | None, args: Mapping[str, Any]) -> str:
        variant = variant or DEFAULT_MESSAGE
        if variant not in self.message:
            raise TemplateError(f"{self.id}: no message variant {variant!r} (has {', '.join(self.message) or 'none'})")
        return render(self.message[variant], args)

    def render_fix(self, args: Mapping[str, Any]) -> str:
        return render(self.fix, args)


class CatalogueError(ValueError):
    pass


@lru_cache(maxsize=4)
def load_catalogue(directory: Path = CATALOGUE_DIR) -> dict[str, CatalogueEntry]:
    entries: dict[str, CatalogueEntry] = {}
    for path in sorted(directory.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise CatalogueError(f"{path}: expected a mapping of check id -> entry")
        for cid, body in raw.items():
            if cid in entries:
                raise CatalogueError(f"{path}: {cid} is listed twice in the catalogue")
            try:
                entries[cid] = CatalogueEntry(id=cid, section=path.stem, **(body or {}))
            except (ValidationError, TypeError) as exc:
                raise CatalogueError(f"{path}: entry {cid}: {exc}") from None
    return entries
