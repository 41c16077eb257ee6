"""Decode a config dump one resource at a time, and point back at each resource's JSON.

A 55 MB dump decoded in one go is ~150 MB of Python dicts and lists that then sit in memory as
long as the model points into them, and that the cyclic garbage collector walks again and
again. Instead, :func:`scan_object` / :func:`scan_list` (msgspec's typed decoding into
:class:`msgspec.Raw`) only find where each member's JSON starts and ends, without building
anything; each resource (one cluster, one listener, one load assignment, ...) is then decoded
on its own by :func:`decode_any`, modelled, and dropped. A :class:`RawRef` remembers where the
resource was, so ``-o json`` and the rare check that reads a field the model does not carry
get it back by decoding that one resource again. Memory therefore stays near the size of the
text (the :class:`msgspec.Raw` spans share the input buffer) plus the model.

msgspec was chosen over orjson and pydantic-core's ``from_json`` because it is the only one of
the three that can skip a sub-document while remembering its span; the figures are in
``bench/README.md``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Raw

from istio_doctor.evidence.errors import ParseError

__all__ = ["Raw", "RawRef", "decode_any", "raw_ref", "ref_child", "ref_get", "scan_list", "scan_object", "scan_top"]

_ANY = msgspec.json.Decoder()
_OBJECT = msgspec.json.Decoder(dict[str, Raw])
_LIST = msgspec.json.Decoder(list[Raw])
_TOP = msgspec.json.Decoder(dict[str, Raw] | list[Raw])

#: What a :class:`RawRef` can point into: a span of the dump, or an already-decoded document.
Source = Raw | bytes | str | dict[str, Any] | list[Any]


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


#: Where one resource's JSON lives: a source (a span of the dump, or an already-decoded
#: document) and a path in it. Path steps are list indexes or snake_case keys; a key missing
#: from a camelCase document is looked up under its camelCase twin, like the builders do. A
#: plain tuple on purpose: the garbage collector stops tracking tuples of untracked objects
#: (:class:`msgspec.Raw` is one), and a big dump has tens of thousands of these.
RawRef = tuple[Source, tuple[str | int, ...]]


def raw_ref(src: Source, *path: str | int) -> RawRef:
    return (src, path)


def ref_child(ref: RawRef, *path: str | int) -> RawRef:
    return (ref[0], ref[1] + path)


def ref_get(ref: RawRef) -> Any:
    """The resource as decoded JSON. Treat it as read-only: the last span decoded is shared."""
    src, path = ref
    doc: Any
    if isinstance(src, dict | list):
        doc = src
    else:
        doc = _decode_cached(src)
    for step in path:
        if isinstance(step, int):
            doc = doc[step]
        elif step in doc:
            doc = doc[step]
        else:
            doc = doc[_camel(step)]
    return doc


# One decoded span is kept: checks walk the routes of one route configuration (or the chains
# of one listener) in a loop, and each asks for its own raw; without this every step would
# decode the whole configuration again. One entry bounds the memory it can hold.
_last: tuple[object, Any] | None = None


def _decode_cached(src: Raw | bytes | str) -> Any:
    global _last
    last = _last
    if last is not None and last[0] is src:
        return last[1]
    doc = _ANY.decode(src)
    _last = (src, doc)
    return doc


def _fail(what: str, command: str, exc: Exception) -> ParseError:
    if isinstance(exc, msgspec.ValidationError):
        return ParseError(what, f"unexpected structure ({exc})", command=command)
    return ParseError(what, f"not valid JSON ({exc}; truncated?)", command=command)


def scan_top(text: str | bytes, what: str, command: str) -> dict[str, Raw] | list[Raw]:
    """The top-level object's members (or array's items) as spans; ParseError on anything else."""
    if not text or text.isspace():
        raise ParseError(what, "output is empty", command=command)
    try:
        return _TOP.decode(text)
    except msgspec.ValidationError:
        # valid JSON but a scalar: say what it is
        try:
            doc = _ANY.decode(text)
        except msgspec.DecodeError as e:  # pragma: no cover - the first decode would have said so
            raise _fail(what, command, e) from None
        raise ParseError(what, f"expected a JSON object with 'configs', got {type(doc).__name__}", command=command) from None
    except msgspec.DecodeError as e:
        raise _fail(what, command, e) from None


def scan_object(raw: Raw, what: str, command: str) -> dict[str, Raw]:
    try:
        return _OBJECT.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise _fail(what, command, e) from None


def scan_list(raw: Raw, what: str, command: str) -> list[Raw]:
    try:
        return _LIST.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise _fail(what, command, e) from None


def decode_any(raw: Raw | bytes | str, what: str, command: str) -> Any:
    try:
        return _ANY.decode(raw)
    except msgspec.DecodeError as e:
        raise _fail(what, command, e) from None
