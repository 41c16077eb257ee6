"""What the ztunnel and istio-cni log parsers share: the time and prefix grammar of a log line
as ``kubectl logs`` prints it, and the first-match classification of a message by a table of
patterns (the tables themselves are each agent's own error and event vocabulary)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["KUBECTL_POD_PREFIX", "KUBECTL_STAMP", "TS", "first_match"]

#: RFC 3339 as the agents and kubectl print it (fraction optional, ``Z`` or an offset)
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)"
#: ``kubectl logs --prefix``: ``[pod/NAME/CONTAINER] ``
KUBECTL_POD_PREFIX = re.compile(r"^\[pod/(?P<pod>[^/\]]+)/[^\]]*\]\s+")
#: ``kubectl logs --timestamps``: the runtime's RFC3339Nano receive time and one space
KUBECTL_STAMP = re.compile(rf"^(?P<stamp>{TS}) ")

K = TypeVar("K")


def first_match(table: Sequence[tuple[re.Pattern[str], K]], text: str) -> tuple[K, re.Match[str]] | None:
    """The kind of the first pattern of ``table`` found in ``text`` (order matters: a more
    specific pattern stands before the general one it would also match), with its match."""
    for pat, kind in table:
        m = pat.search(text)
        if m:
            return kind, m
    return None
