"""The catalogue of implemented checks: what each finding code means, and its fix.

Data lives in ``catalogue/*.yaml`` beside this module, one file per playbook that owns checks
(injection, p503, mtls, routes, triage), named like the check module. Only implemented checks are listed:
a code in the catalogue without a registered check (or the reverse) fails the test suite.
Codes never change meaning once published.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from istio_doctor.engine.model import Severity

CATALOGUE_DIR = Path(__file__).with_name("catalogue")


class CatalogueEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    section: str = Field(description="the playbook id that owns the check: its check module and catalogue file (injection | p503 | mtls | routes | triage)")
    playbooks: list[str] = Field(description="playbook ids whose symptom this check explains")
    severity: Severity
    confidence: float = Field(ge=0.0, le=1.0, description="default confidence when the check fails")
    explanation: str = Field(description="why this cause produces the symptom")
    fix: str = Field(description="default fix summary; checks add the concrete commands")
    doc_url: str
    istio_versions: str = "all"
    #: access-log response flags / response code details this cause produces; when the target's
    #: logs show them, the finding is corroborated and ranks higher.
    signals: list[str] = []
    #: codes of consequences: when both fire, this one is the root cause and ranks first.
    explains: list[str] = []
    detected_today_by: str = "none"


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
