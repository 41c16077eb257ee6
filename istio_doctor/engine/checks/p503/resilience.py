"""What the traffic policy and the upstream connection did, read from the response flags:
``P503-CIRCUIT-BREAKER`` (UO), ``P503-OUTLIER-EJECTED``, ``P503-KEEPALIVE-UC`` (UC
connection_termination), ``P503-RETRIES-EXHAUSTED`` (URX), ``P503-TIMEOUT`` (UT) and
``P503-FAULT-CONFIG`` (FI/DI, injected on purpose).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import yaml

from istio_doctor.engine.checks.p503._reading import (
    _uh,
    describe_group,
    details_base,
    dump,
    has_flag,
    log_ref,
    pod_logs,
    services_of,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import client_host, service_host
from istio_doctor.engine.mesh import destination_rule_for, virtual_services_for_host
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry, is_failure
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.istio import parse_duration

# --------------------------------------------------------------------------------------
# UO / outlier / UC / URX / UT / FI
# --------------------------------------------------------------------------------------


def _pool_limits(tp: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tp is None:
        return out
    for pol in [tp, *[p for p in tp.port_level_settings]]:
        cp = pol.connection_pool
        if cp is None:
            continue
        if cp.tcp is not None and cp.tcp.max_connections is not None:
            out["tcp.maxConnections"] = cp.tcp.max_connections
        if cp.http is not None:
            for k, v in (("http.http1MaxPendingRequests", cp.http.http1_max_pending_requests), ("http.http2MaxRequests", cp.http.http2_max_requests),
                         ("http.maxRequestsPerConnection", cp.http.max_requests_per_connection), ("http.maxRetries", cp.http.max_retries)):
                if v is not None:
                    out[k] = v
    return out


@check("P503-CIRCUIT-BREAKER", needs=(Need.POD, Need.PROXY_LOGS),
       optional=(Need.DESTINATION_RULES, Need.SERVICES, Need.ENVOY_STATS, Need.CONFIG_DUMP, Need.CONTROL_PLANE_CONFIGMAPS),
       peer_needs=(Need.PROXY_LOGS,))
def circuit_breaker(ctx: CheckContext, _: NoParams) -> CheckResult:
    """503 UO: the DestinationRule connectionPool limits overflow (circuit breaking)."""
    pls = pod_logs(ctx)
    stats = ctx.ev.get_or({}, Need.ENVOY_STATS, ctx.namespace, ctx.pod_name)
    overflow = {k: v for k, v in stats.items() if k.startswith("cluster.") and (k.endswith(".upstream_rq_pending_overflow") or k.endswith(".upstream_cx_overflow")) and v > 0}
    for pl in pls:
        uo = [e for e in pl.log.entries if has_flag(e, "UO") or "overflow" in (e.response_code_details or "")]
        if not uo and not (pl.role == "target" and overflow):
            continue
        cluster = uo[0].upstream_cluster if uo else next(iter(overflow)).split(".", 1)[1].rsplit(".", 1)[0]
        es = [e for e in uo if e.upstream_cluster == cluster]
        from istio_doctor.evidence.accesslog import parse_cluster_name

        us = parse_cluster_name(cluster)
        host = us.fqdn if us and us.fqdn else None
        applied = destination_rule_for(ctx, host, pl.namespace) if host else None
        limits = _pool_limits(applied.rule.spec.traffic_policy) if applied else {}
        sub = applied.rule.subset(us.subset) if applied and us and us.subset else None
        if sub is not None and sub.traffic_policy is not None:
            limits.update(_pool_limits(sub.traffic_policy))
        evidence = []
        observed = []
        if es:
            evidence.append(log_ref(ctx, pl, es, "Envoy rejected the requests: connection pool overflow"))
            observed.append(describe_group(es))
        cl_stats = {k: v for k, v in overflow.items() if cluster and cluster in k}
        if cl_stats:
            evidence.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in cl_stats.items()), "overflow counters"))
            observed.append(", ".join(f"{k.rsplit('.', 1)[1]}={v}" for k, v in cl_stats.items()))
        if not observed:
            continue
        if applied and limits:
            evidence.insert(0, ctx.ref(Need.DESTINATION_RULES, {"host": applied.rule.spec.host, "trafficPolicy": dump(applied.rule.spec.traffic_policy)},
                                       applied.why))
            return CheckResult.failed(
                message="limits",
                args={"dr": applied.why, "limits": [f"{k}: {v}" for k, v in limits.items()], "cluster": cluster, "observed": observed[0]},
                corroboration="dr_limits",
                evidence=evidence, observed=observed,
                resources=[f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}"],
                fix=Fix(steps=[
                    FixStep(description="Raise http1MaxPendingRequests / maxConnections / http2MaxRequests",
                            command=f"kubectl edit destinationrule {applied.rule.metadata.name} -n {applied.rule.metadata.namespace}")]),
            )
        return CheckResult.failed(
            args={"cluster": cluster, "observed": observed[0]},
            evidence=evidence, observed=observed, resources=[],
            fix=Fix(),
        )
    return CheckResult.passed("no UO overflow in the proxy logs or stats")


@check("P503-OUTLIER-EJECTED", needs=(Need.POD, Need.ENVOY_CLUSTERS),
       optional=(Need.PROXY_LOGS, Need.DESTINATION_RULES, Need.ENVOY_STATS, Need.CONTROL_PLANE_CONFIGMAPS))
def outlier_ejected(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Outlier detection ejected the hosts of a cluster the pod calls (503 UH / failing requests)."""
    hosts = ctx.ev.get(Need.ENVOY_CLUSTERS, ctx.namespace, ctx.pod_name)
    ejected = [h for h in hosts if h.outlier_failed and h.cluster.startswith("outbound|")]
    if not ejected:
        return CheckResult.passed("no endpoint is ejected by outlier detection")
    log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    by_cluster: dict[str, list[Any]] = {}
    for h in hosts:
        by_cluster.setdefault(h.cluster, []).append(h)
    best = None
    for cl in dict.fromkeys(h.cluster for h in ejected):
        allh = by_cluster[cl]
        ej = [h for h in allh if h.outlier_failed]
        failing = [e for e in (log.entries if log else []) if e.upstream_cluster == cl and is_failure(e)]
        score = (len(ej) == len(allh), len(failing))
        if best is None or score > best[0]:
            best = (score, cl, allh, ej, failing)
    assert best is not None
    (_, cl, allh, ej, failing) = best
    all_out = len(ej) == len(allh)
    from istio_doctor.evidence.accesslog import parse_cluster_name

    us = parse_cluster_name(cl)
    applied = destination_rule_for(ctx, us.fqdn, ctx.namespace) if us and us.fqdn and ctx.ev.has(Need.DESTINATION_RULES) else None
    evidence = [ctx.ref(Need.ENVOY_CLUSTERS, "\n".join(f"{h.cluster}::{h.host}::health_flags::{'/' + '/'.join(h.health_flags) if h.health_flags else 'healthy'}" for h in allh),
                        f"{len(ej)}/{len(allh)} endpoint(s) ejected")]
    if applied and applied.rule.spec.traffic_policy and applied.rule.spec.traffic_policy.outlier_detection:
        evidence.append(ctx.ref(Need.DESTINATION_RULES, {"host": applied.rule.spec.host,
                                                         "outlierDetection": dump(applied.rule.spec.traffic_policy.outlier_detection)}, applied.why))
    observed = []
    if failing and log is not None:
        evidence.append(ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in failing[:4]), "failing requests to the cluster"))
        observed.append(describe_group(failing))
    if not all_out and not any(_uh(e) for e in failing):
        # a partly ejected cluster still serves from the remaining hosts: the ejection is a
        # consequence of those hosts failing, not the cause of the 503s
        return CheckResult.passed(f"{len(ej)}/{len(allh)} endpoint(s) of {cl} ejected; the others still serve",
                                  evidence=evidence)
    return CheckResult.failed(
        args={"ejected": len(ej), "total": len(allh), "cluster": cl, "dr": applied.why if applied else None, "all_out": all_out},
        corroboration="logs" if observed else None,
        evidence=evidence, observed=observed,
        resources=[f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}"] if applied else [],
        fix=Fix(steps=[FixStep(description="See the endpoints' outlier status", command=f"istioctl proxy-config endpoint {ctx.pod_name} -n {ctx.namespace} --cluster '{cl}'")]
                + ([FixStep(description="Tune or remove outlierDetection", command=f"kubectl edit destinationrule {applied.rule.metadata.name} -n {applied.rule.metadata.namespace}")] if applied else [])),
    )


def _uc_termination(e: AccessLogEntry) -> bool:
    return has_flag(e, "UC") and "connection_termination" in (e.response_code_details or "connection_termination")


@check("P503-KEEPALIVE-UC", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.DESTINATION_RULES, Need.SERVICES, Need.CONTROL_PLANE_CONFIGMAPS),
       peer_needs=(Need.PROXY_LOGS,))
def keepalive_uc(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Sporadic 503 UC connection_termination on a healthy upstream: the app closes idle keep-alive connections Envoy reuses."""
    for pl in pod_logs(ctx):
        by_cluster: dict[str, list[AccessLogEntry]] = {}
        for e in pl.log.entries:
            if e.upstream_cluster and not e.is_tcp:
                by_cluster.setdefault(e.upstream_cluster, []).append(e)
        for cl, es in by_cluster.items():
            uc = [e for e in es if _uc_termination(e)]
            ok = [e for e in es if 200 <= e.response_code < 400]
            # sporadic: the same upstream answers most requests; a UC on every request is a
            # different cause (mTLS conflict, protocol mismatch, app crash)
            if not uc or len(ok) < len(uc) or len(ok) < 2:
                continue
            us = next((e.upstream_service for e in uc if e.upstream_service), None)
            host = us.fqdn if us and us.fqdn else None
            applied = destination_rule_for(ctx, host, pl.namespace) if host and ctx.ev.has(Need.DESTINATION_RULES) else None
            idle = None
            if applied and applied.rule.spec.traffic_policy and applied.rule.spec.traffic_policy.connection_pool and applied.rule.spec.traffic_policy.connection_pool.http:
                idle = applied.rule.spec.traffic_policy.connection_pool.http.idle_timeout
            own = services_of(ctx, ctx.pod(), required=False)
            fix_host = host or (service_host(ctx, own[0]) if cl.startswith("inbound") and own else "<host>")
            return CheckResult.failed(
                args={"count": len(uc), "total": len(es), "cluster": cl, "ok": len(ok), "inbound": cl.startswith("inbound"), "idle_timeout": idle},
                # an idleTimeout already set makes the keep-alive race less likely the explanation
                corroboration="idle_timeout_set" if idle else None,
                evidence=[log_ref(ctx, pl, uc, "upstream closed the connection before responding"),
                          log_ref(ctx, pl, ok, "the same upstream answers other requests", limit=2)],
                observed=[describe_group(uc)], resources=[],
                fix=Fix(steps=[
                    FixStep(description="Set connectionPool.http.idleTimeout below the app's keep-alive timeout",
                            yaml_patch=yaml.safe_dump({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                                                       "metadata": {"name": fix_host.split(".")[0], "namespace": pl.namespace},
                                                       "spec": {"host": fix_host, "trafficPolicy": {"connectionPool": {"http": {"idleTimeout": "30s"}}}}},
                                                      sort_keys=False)),
                    FixStep(description="And/or retry on reset in the VirtualService (retries.retryOn: reset,connect-failure)"),
                ]),
            )
    return CheckResult.passed("no sporadic 503 UC connection_termination on an otherwise healthy upstream")


@check("P503-RETRIES-EXHAUSTED", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.VIRTUAL_SERVICES, Need.CONTROL_PLANE_CONFIGMAPS),
       peer_needs=(Need.PROXY_LOGS,))
def retries_exhausted(ctx: CheckContext, _: NoParams) -> CheckResult:
    """503 URX: Envoy retried and every attempt failed; the other flags name the real failure."""
    for pl in pod_logs(ctx):
        urx = [e for e in pl.log.entries if has_flag(e, "URX")]
        if not urx:
            continue
        roots = Counter(f for e in urx for f in e.response_flags if f != "URX")
        if not roots:
            # "503 URX via_upstream": every attempt got a 503 from upstream. Who made it? The
            # server-side lines of the same requests say: an app answer (via_upstream, no
            # flags) is the application's own 503, which Istio merely retried.
            server = {e.request_id: (p, e) for p in pod_logs(ctx, required=False) if p is not pl
                      for e in p.log.entries if e.direction == "inbound" and e.request_id}
            seen = [server[e.request_id] for e in urx if e.request_id in server]
            if seen and all(x.app_responded and not x.response_flags for _, x in seen):
                return CheckResult.passed(
                    f"{describe_group(urx)}: the application answered every attempt with {seen[0][1].response_code} itself "
                    "(server side: via_upstream, no flags); Istio only retried it",
                    evidence=[log_ref(ctx, pl, urx, "client side"), log_ref(ctx, seen[0][0], [x for _, x in seen], "server side")])
            roots = Counter(f for _, x in seen for f in x.response_flags)
        dets = Counter(e.response_code_details for e in urx if e.response_code_details)
        us = next((e.upstream_service for e in urx if e.upstream_service), None)
        vs_retry = []
        if us and us.fqdn and ctx.ev.has(Need.VIRTUAL_SERVICES):
            for vs in virtual_services_for_host(ctx, us.fqdn, client_namespace=pl.namespace):
                for r in vs.spec.http:
                    if r.retries is not None:
                        vs_retry.append((vs, r.retries))
        evidence = [log_ref(ctx, pl, urx, "every retry attempt failed")]
        if vs_retry:
            evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, {"name": vs_retry[0][0].metadata.name, "retries": dump(vs_retry[0][1])}, "retry policy"))
        return CheckResult.failed(
            args={"requests": describe_group(urx), "roots": [f"{f} ({n}×)" for f, n in roots.most_common(3)],
                  "detail": dets.most_common(1)[0][0] if dets else None},
            evidence=evidence, observed=[describe_group(urx)], resources=[],
            fix=Fix(steps=[FixStep(description="Read the server-side line of the same x-request-id",
                                   command=f"kubectl logs {ctx.pod_name} -n {ctx.namespace} -c istio-proxy | grep URX")]),
        )
    return CheckResult.passed("no URX (retries exhausted) in the proxy logs")


@check("P503-TIMEOUT", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.VIRTUAL_SERVICES, Need.CONFIG_DUMP, Need.CONTROL_PLANE_CONFIGMAPS),
       peer_needs=(Need.PROXY_LOGS,))
def timeout(ctx: CheckContext, _: NoParams) -> CheckResult:
    """504 UT: the route timeout (VirtualService timeout/perTryTimeout) is shorter than the upstream's latency."""
    for pl in pod_logs(ctx):
        ut = [e for e in pl.log.entries if has_flag(e, "UT") or details_base(e) == "response_timeout"]
        if not ut:
            continue
        if any(has_flag(e, "DI") for e in ut):
            continue  # a delay injected by a fault: P503-FAULT-CONFIG
        us = next((e.upstream_service for e in ut if e.upstream_service), None)
        durs = sorted(e.duration_ms for e in ut if e.duration_ms is not None)
        configured: list[tuple[str, float, str]] = []
        vs_obj = None
        if us and us.fqdn and ctx.ev.has(Need.VIRTUAL_SERVICES):
            for vs in virtual_services_for_host(ctx, us.fqdn, client_namespace=pl.namespace):
                for r in vs.spec.http:
                    for label, val in (("timeout", r.timeout), ("retries.perTryTimeout", r.retries.per_try_timeout if r.retries else None)):
                        secs = parse_duration(val)
                        if secs:
                            configured.append((f"VirtualService {vs.metadata.namespace}/{vs.metadata.name} {label}: {val}", secs, label))
                            vs_obj = vs
        med = durs[len(durs) // 2] if durs else None
        evidence = [log_ref(ctx, pl, ut, "upstream request timeout")]
        if vs_obj is not None:
            evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, {"name": vs_obj.metadata.name, "namespace": vs_obj.metadata.namespace,
                                                            "http": [dump(r) for r in vs_obj.spec.http if r.timeout or r.retries]}, "route timeout"))
        if configured:
            label, secs, _ = min(configured, key=lambda c: c[1])
            return CheckResult.failed(
                message="configured",
                args={"requests": describe_group(ut), "median_ms": med, "setting": label, "limit_ms": int(secs * 1000)},
                corroboration="vs_timeout",
                evidence=evidence, observed=[describe_group(ut)],
                resources=[f"VirtualService {vs_obj.metadata.namespace}/{vs_obj.metadata.name}"] if vs_obj is not None else [],
                fix=Fix(steps=[
                    FixStep(description="Edit the timeout", command=f"kubectl edit virtualservice {vs_obj.metadata.name} -n {vs_obj.metadata.namespace}" if vs_obj else None)]),
            )
        return CheckResult.failed(
            args={"requests": describe_group(ut), "median_ms": med, "host": us.fqdn if us and us.fqdn else None},
            evidence=evidence, observed=[describe_group(ut)],
            fix=Fix(steps=[FixStep(description="Read the route's timeout", command=f"istioctl proxy-config route {pl.pod} -n {pl.namespace} -o json | grep -n timeout")]),
        )
    return CheckResult.passed("no 504 UT (upstream request timeout) in the proxy logs")


@check("P503-FAULT-CONFIG", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.VIRTUAL_SERVICES, Need.SERVICES, Need.CONTROL_PLANE_CONFIGMAPS),
       peer_needs=(Need.PROXY_LOGS,))
def fault_config(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The 503s/delays are injected on purpose: a VirtualService fault (FI abort / DI delay)."""
    for pl in pod_logs(ctx):
        fi = [e for e in pl.log.entries if has_flag(e, "FI", "DI") or details_base(e) == "fault_filter_abort"]
        if not fi:
            continue
        us = next((e.upstream_service for e in fi if e.upstream_service), None)
        host = us.fqdn if us and us.fqdn else None
        if host is None:
            auth = next((e.authority for e in fi if e.authority), None)
            if auth:
                host = client_host(ctx, auth.split(":")[0], pl.namespace)
        faults = []
        if host and ctx.ev.has(Need.VIRTUAL_SERVICES):
            for vs in virtual_services_for_host(ctx, host, client_namespace=pl.namespace):
                for r in vs.spec.http:
                    if r.fault is not None:
                        faults.append((vs, r))
        evidence = [log_ref(ctx, pl, fi, "Envoy's fault filter answered, not the upstream")]
        if faults:
            vs, r = faults[0]
            evidence.insert(0, ctx.ref(Need.VIRTUAL_SERVICES, {"name": vs.metadata.name, "namespace": vs.metadata.namespace,
                                                               "fault": dump(r.fault), **({"retries": dump(r.retries)} if r.retries else {})},
                                       "fault injection configured"))
            ab = r.fault.abort
            what = []
            if ab is not None:
                what.append(f"abort httpStatus {ab.http_status}" + (f" for {ab.percentage.value}%" if ab.percentage else ""))
            if r.fault.delay is not None:
                what.append(f"delay {r.fault.delay.fixed_delay}")
            return CheckResult.failed(
                message="virtual_service",
                args={"vs": f"{vs.metadata.namespace}/{vs.metadata.name}", "host": host, "faults": what, "requests": describe_group(fi),
                      "retries": r.retries is not None},  # a route's retries do not apply to injected faults
                corroboration="vs_fault",
                evidence=evidence, observed=[describe_group(fi)],
                resources=[f"VirtualService {vs.metadata.namespace}/{vs.metadata.name}"],
                fix=Fix(steps=[
                    FixStep(description="Remove the fault from the route",
                            command=f"kubectl edit virtualservice {vs.metadata.name} -n {vs.metadata.namespace}")]),
            )
        return CheckResult.failed(
            args={"requests": describe_group(fi), "host": host},
            evidence=evidence, observed=[describe_group(fi)],
            fix=Fix(),
        )
    return CheckResult.passed("no FI/DI fault-injected responses in the proxy logs")
