"""Playbooks are data: decision trees in YAML whose nodes name registered checks.

A playbook::

    id: mtls
    title: mTLS "upstream connect error or disconnect/reset before headers"
    symptoms: [mtls]
    signals: [UC, UF, filter_chain_not_found]      # auto mode picks it when logs show these
    nodes:
      - id: in-mesh
        check: gate.pod-has-sidecar
        title: Is the pod in the mesh?
        on: {fail: end}
      - id: dr-disable
        check: MTLS-DR-DISABLE-VS-STRICT
        title: Does a DestinationRule turn TLS off towards a STRICT workload?

Semantics: the walk starts at ``start`` (default: the first node). Each outcome of a node
(``pass``, ``fail``, ``unknown``, ``not_applicable``) leads to a node id, ``next`` (the
following node in the list; the default) or ``end``. A failing catalogue check becomes a
finding; ``gate.*`` checks only branch. Errors name the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Edges(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    pass_: str = Field(default="next", alias="pass")
    fail: str = "next"
    unknown: str = "next"
    not_applicable: str = "next"

    def target(self, outcome: str) -> str:
        return {"pass": self.pass_, "fail": self.fail, "unknown": self.unknown}.get(outcome, self.not_applicable)


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    check: str
    title: str
    params: dict[str, Any] = {}
    on: Edges = Edges()


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    description: str = ""
    symptoms: list[str] = Field(description="values of --symptom that select this playbook")
    signals: list[str] = Field(default=[], description="access-log flags/details that make auto mode choose it")
    auto: str = Field(default="always", pattern=r"^(always|signature)$",
                      description="auto mode walks it always, or only for pods whose timeline shows its signature")
    dataplane: list[Literal["sidecar", "ambient", "none"]] = Field(
        default=["sidecar", "none"],
        description="data-plane modes of the pods it is walked for: sidecar (istio-proxy), ambient (enrolled in "
        "ztunnel, or meant to be) or none (out of the mesh); ambient-only playbooks that list none run for "
        "out-of-mesh pods only where the cluster uses ambient")
    start: str | None = None
    nodes: list[Node] = Field(min_length=1)

    @model_validator(mode="after")
    def _edges_point_to_nodes(self) -> Playbook:
        ids = [n.id for n in self.nodes]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate node ids: {sorted(dupes)}")
        known = set(ids) | {"next", "end"}
        if self.start is not None and self.start not in ids:
            raise ValueError(f"start {self.start!r} is not a node id")
        for n in self.nodes:
            for outcome in ("pass", "fail", "unknown", "not_applicable"):
                tgt = n.on.target(outcome)
                if tgt not in known:
                    raise ValueError(f"node {n.id!r}: on.{outcome} -> {tgt!r} is not a node id, 'next' or 'end'")
        return self

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def following(self, node_id: str) -> str:
        ids = [n.id for n in self.nodes]
        i = ids.index(node_id)
        return ids[i + 1] if i + 1 < len(ids) else "end"


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 would read the ``on:`` key as ``True``."""


_Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class PlaybookError(ValueError):
    """A playbook file that cannot be used; the message names the file, the line and the problem."""


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to a 1-based line."""
    cur = node
    line = cur.start_mark.line + 1 if cur is not None else None
    for part in loc:
        if isinstance(cur, yaml.MappingNode):
            nxt = None
            for k, v in cur.value:
                if k.value == part or (part == "pass_" and k.value == "pass"):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            cur = nxt
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int) and part < len(cur.value):
            cur = cur.value[part]
            line = cur.start_mark.line + 1
        else:
            break
    return line


def load_playbook_file(path: Path, *, known_checks: set[str] | None = None) -> Playbook:
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=_Yaml12Loader)
        data = yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PlaybookError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise PlaybookError(f"{path}:1: a playbook is a mapping with id, title, symptoms and nodes")
    try:
        pb = Playbook.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        line = _line_of(root, tuple(err["loc"]))
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise PlaybookError(f"{path}:{line or 1}: {field}: {err['msg']}") from None
    if known_checks is not None:
        for i, n in enumerate(pb.nodes):
            if n.check not in known_checks:
                line = _line_of(root, ("nodes", i, "check"))
                raise PlaybookError(f"{path}:{line}: node {n.id!r} names unknown check {n.check!r}")
    return pb


def builtin_playbook_dir() -> Path:
    """Installed wheels carry the playbooks under istio_doctor/_data; a checkout has them at the root."""
    pkg = Path(__file__).resolve().parent.parent
    installed = pkg / "_data" / "playbooks"
    return installed if installed.is_dir() else pkg.parent / "playbooks"


AUTO_SYMPTOM = "auto"


def symptoms_of(playbooks: dict[str, Playbook]) -> list[str]:
    """The symptoms a user may ask for: ``auto`` and every symptom a loaded playbook declares
    (the one definition; the CLI's ``--symptom`` and the TUI's picker read it)."""
    out = [AUTO_SYMPTOM]
    # ambient playbooks share the sidecar symptoms: the sidecar playbooks set the order
    for pb in sorted(playbooks.values(), key=lambda pb: "sidecar" not in pb.dataplane):
        out += [s for s in pb.symptoms if s not in out]
    return out


def load_playbooks(dirs: list[Path] | None = None, *, known_checks: set[str] | None = None) -> dict[str, Playbook]:
    """Load the built-in playbooks plus any extra folders (``--playbooks DIR``); later ids override."""
    out: dict[str, Playbook] = {}
    for d in [builtin_playbook_dir(), *(dirs or [])]:
        if not d.is_dir():
            raise PlaybookError(f"{d}: playbook folder not found")
        for path in sorted(d.glob("*.yaml")):
            pb = load_playbook_file(path, known_checks=known_checks)
            out[pb.id] = pb
    return out


def playbook_json_schema() -> dict[str, Any]:
    return Playbook.model_json_schema(by_alias=True)
