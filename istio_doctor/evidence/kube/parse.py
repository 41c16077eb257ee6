"""Parsers from kubectl output to the models: ``load_documents`` (JSON, YAML, multi-document YAML,
kubectl noise stripped), ``parse_kube_list`` / ``parse_kube_object`` (any ``List`` form, other kinds
skipped), ``validate_raw`` and ``format_validation_error``. Every failure is a
:class:`~istio_doctor.evidence.errors.ParseError` naming the command and the object.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from istio_doctor.evidence.errors import ParseError
from istio_doctor.evidence.kube.meta import K8sObject

# --------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------

T = TypeVar("T", bound=K8sObject)

# kubectl writes deprecation warnings and klog lines to stderr, but wrappers and `2>&1`
# recordings put them in front of the document; they never start a JSON/YAML document.
_NOISE_LINE = re.compile(r"^(Warning: |W\d{4} |I\d{4} |E\d{4} |No resources found)")


def _strip_noise(text: str) -> str:
    lines = text.splitlines()
    i = 0
    while i < len(lines) and (not lines[i].strip() or _NOISE_LINE.match(lines[i])):
        i += 1
    return "\n".join(lines[i:])


def load_documents(text: str, *, what: str = "Kubernetes output", command: str = "") -> list[Any]:
    """Decode kubectl output (JSON, YAML, multi-document YAML) into raw documents."""
    body = _strip_noise(text)
    if not body.strip():
        raise ParseError(what, "empty output", command=command)
    if body.lstrip()[:1] in ("{", "["):
        try:
            return [json.loads(body)]
        except json.JSONDecodeError as e:
            raise ParseError(what, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", command=command) from e
    try:
        docs = [d for d in yaml.safe_load_all(body) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ParseError(what, f"invalid YAML{where}: {problem}", command=command) from e
    if not docs:
        raise ParseError(what, "no document in output", command=command)
    return docs


def _flatten(docs: list[Any], what: str, command: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for doc in docs:
        if isinstance(doc, list):  # a bare JSON/YAML array of objects
            out.extend(_flatten(doc, what, command))
            continue
        if not isinstance(doc, dict):
            raise ParseError(what, f"expected an object, got {type(doc).__name__}: {str(doc)[:60]!r}", command=command)
        kind = doc.get("kind")
        if "items" in doc and (kind is None or (isinstance(kind, str) and kind.endswith("List"))):
            items = doc["items"]
            if items is None:
                continue
            if not isinstance(items, list):
                raise ParseError(what, "`items` is not a list", command=command)
            out.extend(_flatten(items, what, command))
            continue
        out.append(doc)
    return out


def describe_raw(doc: dict[str, Any], default_kind: str) -> str:
    """``Kind ns/name`` of a raw object, for error messages."""
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    kind = doc.get("kind") or default_kind
    name = meta.get("name") or "<unnamed>"
    ns = meta.get("namespace")
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


def format_validation_error(e: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in e.errors()[:limit]:
        loc = ".".join(str(x) for x in err["loc"])
        got = err.get("input")
        got_s = f" (got {type(got).__name__} {str(got)[:40]!r})" if not isinstance(got, (dict, list)) else f" (got {type(got).__name__})"
        parts.append(f"{loc}: {err['msg']}{got_s}")
    more = len(e.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def validate_raw(doc: dict[str, Any], model: type[T], *, command: str = "") -> T:
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        raise ParseError(describe_raw(doc, model.KIND or model.__name__), format_validation_error(e), command=command) from e


def parse_kube_list(text: str, model: type[T], *, command: str = "") -> list[T]:
    """Objects of ``model``'s kind from a ``List``/``<Kind>List`` (JSON or YAML), a single
    object, a bare array, or multi-document YAML. Objects of other kinds are skipped, so a
    whole install manifest can be searched for its ConfigMaps."""
    what = f"{model.KIND or model.__name__} list"
    docs = load_documents(text, what=what, command=command)
    objs = _flatten(docs, what, command)
    return [validate_raw(d, model, command=command) for d in objs if model.accepts(d.get("kind"), d.get("apiVersion"))]


def parse_kube_object(text: str, model: type[T], *, command: str = "") -> T:
    """Exactly one object of ``model``'s kind (``kubectl get KIND NAME -o json``)."""
    what = model.KIND or model.__name__
    objs = parse_kube_list(text, model, command=command)
    if not objs:
        raise ParseError(what, f"no {what} object in output", command=command)
    if len(objs) > 1:
        raise ParseError(what, f"expected one {what}, got {len(objs)}", command=command)
    return objs[0]
