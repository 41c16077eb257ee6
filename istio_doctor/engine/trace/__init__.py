"""Follow a request through Envoy: a faithful trace over a config dump (pure; no process runs).

``trace_request(dump, TraceRequest(...)) -> Trace``: the listener, filter chain, virtual host,
route, cluster, transport socket and endpoints Envoy picks, each hop with the configuration
that decided it. ``continue_on_server`` continues a client's trace on the server's dump.

The models load eagerly (the report model embeds ``Trace``); the tracer itself loads on first
use, so importing the report (the TUI's first paint) does not pay for it.
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.trace.model import (
    ANSWERED,
    BYPASSED,
    DELIVERED,
    UNKNOWN,
    Hop,
    Stage,
    Trace,
    TraceRequest,
    Upstream,
)

_TRACER = ("continue_on_server", "inbound_delivery", "node_ips", "plaintext_inbound", "proxy_label", "spiffe_id", "trace_request")

__all__ = ["ANSWERED", "BYPASSED", "DELIVERED", "UNKNOWN", "Hop", "Stage", "Trace", "TraceRequest", "Upstream", *_TRACER]


def __getattr__(name: str) -> Any:
    if name in _TRACER:
        from istio_doctor.engine.trace import tracer

        return getattr(tracer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
