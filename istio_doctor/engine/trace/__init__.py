"""Follow a request through Envoy: a faithful trace over a config dump (pure; no process runs).

``trace_request(dump, TraceRequest(...)) -> Trace``: the listener, filter chain, virtual host,
route, cluster, transport socket and endpoints Envoy picks, each hop with the configuration
that decided it. ``trace_path`` continues a client's trace on the server's dump.
"""

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
from istio_doctor.engine.trace.tracer import (
    continue_on_server,
    inbound_delivery,
    node_ips,
    plaintext_inbound,
    proxy_label,
    spiffe_id,
    trace_request,
)

__all__ = [
    "ANSWERED",
    "BYPASSED",
    "DELIVERED",
    "UNKNOWN",
    "Hop",
    "Stage",
    "Trace",
    "TraceRequest",
    "Upstream",
    "continue_on_server",
    "inbound_delivery",
    "node_ips",
    "plaintext_inbound",
    "proxy_label",
    "spiffe_id",
    "trace_request",
]
