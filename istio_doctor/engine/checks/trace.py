"""Playbook ``trace`` (checks ``TRACE-*``): follow each failing request through Envoy's configuration.

For every distinct failing request shape in the examined proxy's access log (destination,
``:authority``, path, method, protocol, what Envoy concluded), the request is traced through
that proxy's config dump (``istio_doctor.engine.trace``) and, when it leaves for a related pod
whose dump was gathered, through the server's too. Each check owns one stage of Envoy's
processing: it fails when a failing request breaks there, and its evidence is the hop list
(with the configuration that decided the break) plus the log lines.

These findings say *where* Envoy drops the request. A catalogue check that says *why* (a
VirtualService without the host, a STRICT PeerAuthentication facing a client without a sidecar,
an application bound to localhost) lists the TRACE code in its ``explains``; ranking then keeps
the catalogue finding and folds the trace into its evidence. A TRACE finding stands on its own
only when no catalogue check explains the break.
"""

from __future__ import annotations

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, EvidenceRef
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.engine.trace.failures import ShapeTrace, memo_traces
from istio_doctor.engine.trace.model import TRACE_REF_NOTE, Stage, hops_text, probe_line, request_line
from istio_doctor.evidence.bundle import Need

#: check code -> the stages whose break it reports
STAGE_CHECKS: dict[str, tuple[Stage, ...]] = {
    "TRACE-LISTENER": (Stage.LISTENER,),
    "TRACE-FILTER-CHAIN": (Stage.FILTER_CHAIN,),
    "TRACE-DOWNSTREAM-TLS": (Stage.DOWNSTREAM_TLS,),
    "TRACE-PROTOCOL": (Stage.PROTOCOL,),
    "TRACE-RBAC": (Stage.NETWORK_RBAC, Stage.HTTP_RBAC),
    "TRACE-ROUTE": (Stage.ROUTE_CONFIG, Stage.VIRTUAL_HOST, Stage.ROUTE),
    "TRACE-FAULT": (Stage.FAULT,),
    "TRACE-ROUTE-ACTION": (Stage.ROUTE_ACTION,),
    "TRACE-CLUSTER": (Stage.CLUSTER,),
    "TRACE-ENDPOINTS": (Stage.ENDPOINTS,),
    "TRACE-DELIVERY": (Stage.DELIVERY,),
}


def trace_refs(ctx: CheckContext, st: ShapeTrace) -> list[EvidenceRef]:
    """The hop list per proxy (cited from that proxy's config dump) and the log lines."""
    refs: list[EvidenceRef] = []
    proxies: list[str] = []
    for h in st.trace.hops:
        if h.proxy not in proxies:
            proxies.append(h.proxy)
    server = st.server.split("/", 1) if st.server else None
    for i, proxy in enumerate(proxies):
        hops = [h for h in st.trace.hops if h.proxy == proxy]
        ns, name = (server[0], server[1]) if (i > 0 and server) else (st.shape.namespace, st.shape.pod)
        refs.append(ctx.ref(Need.CONFIG_DUMP, hops_text(hops), TRACE_REF_NOTE.format(proxy=proxy),
                            namespace=ns, name=name))
    if st.shape.entries:
        lines = "\n".join(e.raw for e in st.shape.entries[:3])
        refs.append(ctx.ref(Need.PROXY_LOGS, lines, f"{len(st.shape.entries)} failing request(s) of this shape",
                            namespace=st.shape.namespace, name=st.shape.pod))
    return refs


def _make(code: str, stages: tuple[Stage, ...]) -> None:
    values = {s.value for s in stages}

    def stage_check(ctx: CheckContext, _: NoParams) -> CheckResult:
        traces = memo_traces(ctx.ev, ctx.namespace, ctx.pod_name, ctx.related)
        if not traces:
            return CheckResult.not_applicable("no failing request with a logged destination in the istio-proxy log, "
                                              "and no request to probe (no Service, VirtualService or Gateway names one)")
        hits = [st for st in traces if st.trace.verdict in values]
        if not hits:
            return CheckResult.passed(f"{len(traces)} failing request shape(s) traced; none breaks at {'/'.join(sorted(values))}")
        st = max(hits, key=lambda s: len(s.shape.entries))
        hop = st.trace.breaking_hop
        assert hop is not None
        count = sum(len(s.shape.entries) for s in hits)
        probe = st.shape.probe
        args = {
            "count": count, "request": request_line(st.shape.request), "proxy": hop.proxy, "stage": hop.stage.value,
            "element": hop.element, "decision": hop.decision, "why": hop.why.rstrip("."), "logged": st.shape.logged,
            "response": st.trace.response or "-", "cluster": st.trace.cluster or "none",
        } | ({"reason": probe.reason} if probe else {})
        if probe is not None:
            # a synthesised request: no log line corroborates it, so it says so and weighs less
            observed = [f"{probe_line(st.shape.request, probe.reason)}: {probe.about}"]
        else:
            observed = [f"{len(st.shape.entries)}× {st.shape.logged} for {request_line(st.shape.request)}"]
        return CheckResult.failed(
            args=args, evidence=trace_refs(ctx, st), observed=observed, message="probe" if probe else None,
            corroboration="probe" if probe else ("corroborated" if st.relation == "agrees" else None),
            resources=[f"Pod {st.shape.namespace}/{st.shape.pod}"] + ([f"Pod {st.server}"] if st.server else []),
        )

    stage_check.__name__ = stage_check.__qualname__ = "check_" + code.lower().replace("-", "_")
    stage_check.__doc__ = (f"A failing request from the proxy log, traced through the config dump, breaks at "
                           f"{' / '.join(sorted(values))}.")
    # services: a passthrough to a ClusterIP continues on a pod the Service selects. The proxy log
    # is optional: without it (forbidden, access logging off) the probes of engine/trace/probes
    # trace the requests the Services name, and the VirtualServices, DestinationRules and Gateways
    # when the session gathered them (the routes and mtls playbooks do): never fetched for a probe
    check(code, needs=(Need.POD, Need.CONFIG_DUMP), optional=(Need.PROXY_LOGS, Need.SOCKETS, Need.SERVICES),
          if_gathered=(Need.VIRTUAL_SERVICES, Need.DESTINATION_RULES, Need.GATEWAYS, Need.SIDECARS),
          peer_needs=(Need.POD, Need.CONFIG_DUMP, Need.SOCKETS))(stage_check)


for _code, _stages in STAGE_CHECKS.items():
    _make(_code, _stages)
