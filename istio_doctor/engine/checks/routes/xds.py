"""Config that reaches (or fails to reach) the proxy: ``ROUTE-XDS-STALE`` (the proxy is not in sync
with istiod, or rejected config), ``ROUTE-ENVOYFILTER`` (an EnvoyFilter applying to the workload
produces config the proxy rejects, or is misused), ``ROUTE-SE-TCP-NO-ADDRESS`` (TCP ServiceEntries
without addresses share one ``0.0.0.0:<port>`` listener) and ``ROUTE-DR-HOST-UNKNOWN`` (a
DestinationRule whose host matches nothing).
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from typing import Any

from istio_doctor.engine.checks.routes._proxy import _entries, _lines, _log, _port_of
from istio_doctor.engine.checks.routes._resources import (
    _analyze,
    _analyze_ref,
    _dump,
    _in_registry,
    _obj_excerpt,
    _relevant_hosts,
    _vs_ns,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import client_host, config_host
from istio_doctor.engine.mesh import root_namespace
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import MissingEvidence, Need
from istio_doctor.engine.mesh.visibility import exported_to

# --------------------------------------------------------------------------------------
# xDS state, EnvoyFilters, ServiceEntries, DestinationRule hosts
# --------------------------------------------------------------------------------------


def _nacks(ctx: CheckContext) -> list[Any]:
    log = _log(ctx)
    return [ev for ev in (log.events if log is not None else []) if ev.kind == "xds_rejected"]


@check("ROUTE-XDS-STALE", needs=(Need.POD, Need.PROXY_STATUS), optional=(Need.PROXY_LOGS,))
def xds_stale(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The proxy's configuration is not in sync with istiod (STALE, NACKed, or not connected)."""
    pod = ctx.pod()
    if not pod.has_sidecar and not pod.is_gateway:
        return CheckResult.not_applicable("the pod has no Istio proxy")
    rows = ctx.ev.get(Need.PROXY_STATUS)
    mine = [r for r in rows if r.pod == pod.name and (r.namespace in (None, pod.metadata.namespace))]
    nacks = _nacks(ctx)
    evidence = []
    stale: list[str] = []  # "RDS STALE": what proxy-status reports not synced
    absent = False  # not connected: missing from proxy-status
    if mine:
        bad = mine[0].not_synced
        if bad:
            stale = [f"{k.upper()} {v}" for k, v in bad.items()]
            hdr = "NAME\tCDS\tLDS\tEDS\tRDS\tISTIOD"
            r = mine[0]
            evidence.append(ctx.ref(Need.PROXY_STATUS, f"{hdr}\n{r.name}\t{r.cds or '-'}\t{r.lds or '-'}\t{r.eds or '-'}\t{r.rds or '-'}\t{r.istiod or '-'}",
                                    "xDS sync state"))
    elif rows:
        absent = True
        evidence.append(ctx.ref(Need.PROXY_STATUS, "\n".join(r.name for r in rows[:8]), "proxies connected to istiod (the pod is not among them)"))
    if nacks:
        evidence.append(ctx.ref(Need.PROXY_LOGS, "\n".join(n.raw for n in nacks[:3]), "xDS NACK"))
    if not (stale or absent or nacks):
        return CheckResult.passed(f"{pod.name} is connected and every xDS type is SYNCED")
    return CheckResult.failed(
        args={"pod": pod.name, "namespace": pod.metadata.namespace, "stale": stale, "absent": absent, "nacks": len(nacks) or None},
        # proxy-status or the proxy itself says what is out of sync; absence alone may be a short reconnect
        corroboration="stale_or_nack" if nacks or stale else None,
        evidence=evidence, observed=[f"{len(nacks)}× xDS NACK"] if nacks else [],
        resources=[f"Pod {pod.metadata.namespace}/{pod.name}"],
        fix=Fix(steps=[FixStep(description="see what differs between istiod and the proxy", command=f"istioctl proxy-status {pod.name}.{pod.metadata.namespace}"),
                       FixStep(description="read the rejection", command=f"kubectl logs {pod.name} -n {pod.metadata.namespace} -c istio-proxy | grep -i rejected"),
                       FixStep(description="if not connected, restart the proxy", command=f"kubectl delete pod {pod.name} -n {pod.metadata.namespace}")]),
    )


def _ef_applies(ctx: CheckContext, ef: Any, pod: Any) -> bool:
    ns = ef.metadata.namespace
    ws = ef.spec.workload_selector
    has_sel = ws is not None and bool(ws.labels)
    if ns == root_namespace(ctx):
        return not has_sel or ws.matches(pod.labels)  # type: ignore[union-attr]
    if ns != pod.metadata.namespace:
        return False
    if ef.spec.target_refs:
        return pod.is_gateway
    return not has_sel or ws.matches(pod.labels)  # type: ignore[union-attr]


@check("ROUTE-ENVOYFILTER", needs=(Need.POD, Need.ENVOY_FILTERS, Need.PROXY_LOGS), optional=(Need.ANALYZE, Need.PROXY_STATUS, Need.CONTROL_PLANE_CONFIGMAPS))
def envoyfilter(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An EnvoyFilter applying to the workload produces config the proxy rejects (NACK), or is misused."""
    pod = ctx.pod()
    efs = [ef for ef in ctx.resources(Need.ENVOY_FILTERS) if _ef_applies(ctx, ef, pod)]
    if not efs:
        return CheckResult.not_applicable("no EnvoyFilter applies to the pod")
    nacks = [n for n in _nacks(ctx) if re.search(r"listener|route|Listener|RouteConfiguration|filter", n.raw)]
    if nacks:
        text = " ".join(n.raw for n in nacks)
        def named(ef: Any) -> bool:
            blob = json.dumps(_dump(ef.spec))
            return any(tok in text for tok in re.findall(r'"(envoy\.[\w.\-]+|[\w\-]+\.[\w.\-]+)"', blob))
        culprit = next((ef for ef in efs if named(ef)), None)
        ef = culprit or efs[0]
        evidence = [ctx.ref(Need.PROXY_LOGS, "\n".join(n.raw for n in nacks[:3]), "the proxy rejects the listener/route config"),
                    ctx.ref(Need.ENVOY_FILTERS, _obj_excerpt(ef, "EnvoyFilter"), "EnvoyFilter applying to this workload")]
        return CheckResult.failed(
            message="nack",
            args={"envoyfilter": f"{ef.metadata.namespace}/{ef.metadata.name}", "name": ef.metadata.name, "pod": pod.name,
                  "nacks": len(nacks), "names_filter": culprit is not None},
            corroboration="nack_names_filter" if culprit else "nack",
            evidence=evidence, observed=[f"{len(nacks)}× xDS NACK naming listener/route config"],
            resources=[f"EnvoyFilter {ef.metadata.namespace}/{ef.metadata.name}"],
            fix=Fix(steps=[FixStep(description="remove it to confirm", command=f"kubectl delete envoyfilter {ef.metadata.name} -n {ef.metadata.namespace}"),
                           FixStep(description="check the proxy ACKs again", command=f"istioctl proxy-status {pod.name}.{pod.metadata.namespace}")],
                    ordered=True),
        )
    msgs = [m for m in _analyze(ctx, ["IST0151", "IST0152", "IST0153", "IST0154", "IST0155"])
            if any(m.origin_name == ef.metadata.name for ef in efs)]
    errs = [m for m in msgs if m.level == "Error"]
    if errs:
        ef = next(e for e in efs if e.metadata.name == errs[0].origin_name)
        return CheckResult.failed(
            message="analyze",
            args={"envoyfilter": f"{ef.metadata.namespace}/{ef.metadata.name}", "name": ef.metadata.name, "pod": pod.name,
                  "code": errs[0].code, "analyzer_message": errs[0].message},
            evidence=_analyze_ref(ctx, errs) + [ctx.ref(Need.ENVOY_FILTERS, _obj_excerpt(ef, "EnvoyFilter"), "the EnvoyFilter")],
            resources=[f"EnvoyFilter {ef.metadata.namespace}/{ef.metadata.name}"],
            fix=Fix(steps=[FixStep(description="edit the patch", command=f"kubectl edit envoyfilter {ef.metadata.name} -n {ef.metadata.namespace}")]),
        )
    return CheckResult.passed(f"{len(efs)} EnvoyFilter(s) apply to the pod and the proxy accepted its configuration")


def _auto_allocate(ctx: CheckContext, pod: Any) -> bool:
    """DNS proxy auto-allocation gives address-less ServiceEntries a VIP (so no listener conflict)."""
    ann = pod.annotations.get("proxy.istio.io/config", "")
    if "ISTIO_META_DNS_AUTO_ALLOCATE" in ann and "true" in ann.split("ISTIO_META_DNS_AUTO_ALLOCATE", 1)[1][:12].lower():
        return True
    try:
        md = ctx.mesh_config(pod.revision).default_config.proxy_metadata
    except MissingEvidence:  # no mesh config: Istio's default (off)
        return False
    return str(md.get("ISTIO_META_DNS_AUTO_ALLOCATE", "")).lower() == "true"


@check("ROUTE-SE-TCP-NO-ADDRESS", needs=(Need.POD, Need.SERVICE_ENTRIES),
       optional=(Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS, Need.ANALYZE))
def se_tcp_no_address(ctx: CheckContext, _: NoParams) -> CheckResult:
    """TCP ServiceEntries without addresses share one 0.0.0.0:<port> listener: traffic goes to the wrong host."""
    pod = ctx.pod()
    ses = [se for se in ctx.resources(Need.SERVICE_ENTRIES)
           if exported_to(se.spec.export_to, se.metadata.namespace or "", ctx.namespace) and not se.spec.addresses
           and not se.status.get("addresses")]
    tcp = [(se, p) for se in ses for p in se.spec.ports if (p.protocol or "TCP").upper() in ("TCP", "TLS", "MONGO", "MYSQL", "REDIS", "")]
    tcp = [(se, p) for se, p in tcp if (p.protocol or "").upper() not in ("TLS",) or se.spec.resolution == "NONE"]
    if not tcp:
        return CheckResult.not_applicable("no address-less TCP ServiceEntry is visible to the pod")
    if _auto_allocate(ctx, pod):
        return CheckResult.passed("DNS auto-allocation gives address-less ServiceEntries their own VIPs")
    by_port: dict[int, list[Any]] = {}
    for se, p in tcp:
        by_port.setdefault(p.number, []).append(se)
    log = _log(ctx)
    failing_ports = Counter(_port_of(e.downstream_local_address) for e in _entries(log)
                            if e.is_tcp and (e.response_flags or e.upstream_cluster in ("BlackHoleCluster", None)))
    for port, group in sorted(by_port.items(), key=lambda kv: -len(kv[1])):
        shared = len({(s.metadata.namespace, s.metadata.name) for s in group}) > 1
        hits = [e for e in _entries(log) if e.is_tcp and _port_of(e.downstream_local_address) == port
                and (e.response_flags or (e.upstream_cluster or "").endswith(tuple(h for s in group for h in s.spec.hosts)))]
        if not shared and not failing_ports.get(port):
            continue
        se = group[0]
        evidence = [ctx.ref(Need.SERVICE_ENTRIES, [_obj_excerpt(s, "ServiceEntry") for s in group], f"TCP port {port} without spec.addresses")]
        if hits:
            evidence.insert(0, ctx.ref(Need.PROXY_LOGS, _lines(hits), f"TCP connections on port {port}"))
        evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0134"]))
        return CheckResult.failed(
            message="shared" if shared else None,
            args={"service_entries": [f"{s.metadata.namespace}/{s.metadata.name}" for s in group], "port": port, "host": se.spec.hosts[0]},
            corroboration="logs" if hits else None,
            evidence=evidence, observed=[f"{len(hits)}× failing TCP connection on port {port}"] if hits else [],
            resources=[f"ServiceEntry {s.metadata.namespace}/{s.metadata.name}" for s in group],
            fix=Fix(steps=[FixStep(description="add spec.addresses", command=f"kubectl edit serviceentry {se.metadata.name} -n {se.metadata.namespace}",
                                   yaml_patch="spec:\n  addresses:\n  - <ip-or-cidr>"),
                           FixStep(description="or enable auto-allocation mesh-wide", yaml_patch=
                                   "meshConfig:\n  defaultConfig:\n    proxyMetadata:\n      ISTIO_META_DNS_CAPTURE: \"true\"\n      ISTIO_META_DNS_AUTO_ALLOCATE: \"true\"")]),
        )
    return CheckResult.passed("address-less TCP ServiceEntries do not share a port and no TCP traffic on their ports fails")


@check("ROUTE-DR-HOST-UNKNOWN", needs=(Need.POD, Need.DESTINATION_RULES, Need.SERVICES, Need.SERVICE_ENTRIES),
       optional=(Need.VIRTUAL_SERVICES, Need.PROXY_LOGS, Need.ANALYZE))
def dr_host_unknown(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule's host matches no Service or ServiceEntry, so the rule is silently unused."""
    pod = ctx.pod()
    hosts = _relevant_hosts(ctx, pod)
    subset_hosts = {config_host(ctx, d.host, _vs_ns(vs)) for vs in ctx.ev.get_or([], Need.VIRTUAL_SERVICES) for d in vs.destinations if d.subset}
    cands = []
    for dr in ctx.resources(Need.DESTINATION_RULES):
        if not dr.spec.host or "*" in dr.spec.host:
            continue
        ns = dr.metadata.namespace or "default"
        meant = client_host(ctx, dr.spec.host, ns)
        if ns == ctx.namespace or meant in hosts or meant in subset_hosts:
            cands.append(dr)
    if not cands:
        return CheckResult.not_applicable("no DestinationRule concerns the examined pod's traffic")
    for dr in cands:
        ns = dr.metadata.namespace or "default"
        actual = config_host(ctx, dr.spec.host, ns)
        if _in_registry(ctx, actual):
            continue
        meant = client_host(ctx, dr.spec.host, ns)
        names = [s.metadata.name for s in ctx.services(ns)]
        close = difflib.get_close_matches(dr.spec.host.split(".")[0], names, n=1)
        if meant != actual and _in_registry(ctx, meant):
            suggestion, variant = meant, "literal"  # a dotted short name is not expanded
        elif close:
            suggestion, variant = client_host(ctx, close[0], ns), "close"
        else:
            suggestion, variant = "", None
        evidence = [ctx.ref(Need.DESTINATION_RULES, _obj_excerpt(dr, "DestinationRule"), "the DestinationRule host")]
        evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0174"], kind="DestinationRule", name=dr.metadata.name))
        return CheckResult.failed(
            message=variant,
            args={"dr": f"{ns}/{dr.metadata.name}", "host": dr.spec.host, "actual": actual, "meant": meant,
                  "close": close[0] if close else None, "suggestion": suggestion or None},
            evidence=evidence, resources=[f"DestinationRule {ns}/{dr.metadata.name}"],
            fix=Fix(steps=[FixStep(description="correct the host",
                                   command=(f"kubectl patch destinationrule {dr.metadata.name} -n {ns} --type merge -p "
                                            f"'{json.dumps({'spec': {'host': suggestion}})}'" if suggestion else f"kubectl edit destinationrule {dr.metadata.name} -n {ns}"))]),
        )
    return CheckResult.passed(f"every DestinationRule concerning the pod's traffic names a known host ({len(cands)} checked)")
