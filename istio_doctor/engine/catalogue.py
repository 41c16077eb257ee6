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


def _present(v: Any) -> bool:
    """An optional argument is there unless None, empty or False (0 is a value)."""
    return v is not None and v is not False and not (isinstance(v, (str, list, tuple, dict, set)) and not v)


def _text(v: Any) -> Any:
    """Lists read as prose in a message: ``a, b and c``."""
    if isinstance(v, (list, tuple)):
        items = [str(x) for x in v]
        if not items:
            return "none"
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return v


_PARSER = string.Formatter()


def _fill(template: str, args: Mapping[str, Any]) -> str:
    """``str.format`` with two additions for findings' wording:

    * ``{x:?TEXT}`` renders TEXT when argument ``x`` is present (not None, empty or False) and
      nothing otherwise; TEXT may name arguments itself: ``{behind:? (behind {behind})}``. One
      template then covers a sentence with optional clauses instead of a variant per combination.
      ``{x:!TEXT}`` is the other branch: TEXT when ``x`` is absent. A branch not taken is not
      rendered at all, so it may format its arguments in ways only a present value supports.
    * a list renders as prose (``a, b and c``), or joined by the spec when one is given:
      ``{lines:; }`` gives ``a; b; c``.
    """
    out: list[str] = []
    for literal, field, spec, conversion in _PARSER.parse(template):
        out.append(literal)
        if field is None:
            continue
        value, _ = _PARSER.get_field(field, (), args)
        if conversion:
            value = _PARSER.convert_field(value, conversion)
        spec = spec or ""
        if spec.startswith("?"):
            out.append(_fill(spec[1:], args) if _present(value) else "")
        elif spec.startswith("!"):
            out.append("" if _present(value) else _fill(spec[1:], args))
        elif isinstance(value, (list, tuple)):
            out.append(_fill(spec, args).join(str(x) for x in value) if spec else _text(value))
        else:
            out.append(format(value, _fill(spec, args)))
    return "".join(out)


def template_fields(template: str) -> set[str]:
    """The named arguments a ``str.format`` template uses (``{dr}``, ``{port}``...), including
    those inside an optional clause's text."""
    out: set[str] = set()
    for _, field, spec, _ in _PARSER.parse(template):
        if field is None:
            continue
        if not field or field.isdigit():
            raise TemplateError(f"template {template!r} has a positional field; use named arguments")
        out.add(field.split(".")[0].split("[")[0])
        if spec:
            out |= template_fields(spec)
    return out


def render(template: str, args: Mapping[str, Any]) -> str:
    """Render a template; every field must be in ``args`` (a missing one is a check bug; an
    optional clause's argument is passed as None when absent)."""
    missing = template_fields(template) - set(args)
    if missing:
        raise TemplateError(f"template {template!r} needs argument(s) {', '.join(sorted(missing))}")
    return _fill(template, args)

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
    #: The fix summary: a template (named arguments as in ``message``), or templates by message
    #: variant where each way of failing has its own remedy (``default`` for the others). The
    #: check adds the concrete steps (commands and YAML built from the resources).
    fix: dict[str, str] = Field(description="fix summary template, or templates by message variant (checks add the concrete steps)")
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

    @field_validator("message", "fix", mode="before")
    @classmethod
    def _variants(cls, v: Any) -> Any:
        return {DEFAULT_MESSAGE: v} if isinstance(v, str) else v

    @field_validator("fix")
    @classmethod
    def _fix_variants(cls, v: dict[str, str], info: Any) -> dict[str, str]:
        if DEFAULT_MESSAGE not in v and set(v) != set(info.data.get("message") or {}):
            raise ValueError(f"fix templates by variant need a '{DEFAULT_MESSAGE}' one unless every message variant has its own")
        stray = set(v) - set(info.data.get("message") or {}) - {DEFAULT_MESSAGE}
        if stray:
            raise ValueError(f"fix variants {sorted(stray)} name no message variant")
        return v

    @field_validator("message", "fix")
    @classmethod
    def _parses(cls, v: dict[str, str]) -> dict[str, str]:
        for t in v.values():
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

    def render_fix(self, variant: str | None, args: Mapping[str, Any]) -> str:
        """The fix summary of the message variant the check named (its own, else ``default``)."""
        template = self.fix.get(variant or DEFAULT_MESSAGE) or self.fix.get(DEFAULT_MESSAGE)
        if template is None:
            raise TemplateError(f"{self.id}: no fix for message variant {variant!r} (has {', '.join(self.fix)})")
        return render(template, args)


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
