"""Playbook ``ztunnel`` (ambient A2 + identity): connections reset or time out through ztunnel.

ztunnel logs every connection it carries (target ``access``): outbound failures on the *client's*
node, inbound ones on the *server's* node (src/proxy/metrics.rs). The error text names the cause
(src/proxy.rs ``#[error(...)]``; classified in ``evidence.ambient.ztunnel_log``). Each check reads
the ztunnel log of the pod's node and, for the peers of its failing connections, theirs
(``ctx.related``, gathered by the ambient pass), then joins it with configuration that proves
why: NetworkPolicies, certificates, ztunnel's workload view, istiod's trusted node accounts.
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks._ambient import (
    SUBJECT_NEEDS,
    SUBJECT_OPTIONAL,
    Subject,
    agent_on_node,
    excerpt,
    log_lines_about,
    optional,
    pod_line,
    subject,
    wants_ambient,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.ambient.ztunnel_log import ErrorKind, ZtunnelLogLine
from istio_doctor.evidence.ambient.ztunnel_views import cert_valid
from istio_doctor.evidence.bundle import Need

HBONE_PORT = 15008


def _ambient_subject(ctx: CheckContext) -> Subject | CheckResult:
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    return s


def _lines(ctx: CheckContext, s: Subject, *kinds: ErrorKind) -> list[tuple[ZtunnelLogLine, str, str]]:
    """(line, pod namespace, pod name whose node's log holds it) about the subject, from its own
    node's ztunnel log and its related pods' (the other end of the connection)."""
    want = {k.value for k in kinds}
    out: list[tuple[ZtunnelLogLine, str, str]] = []
    sources = [(ctx.namespace, ctx.pod_name)] + [(r.namespace, r.name) for r in ctx.related]
    seen: set[tuple[int, str]] = set()
    for ns, name in sources:
        log = ctx.ev.get_or(None, Need.ZTUNNEL_LOGS, ns, name)
        if log is None or name is None:
            continue
        for ln in log_lines_about(log, s) if (ns, name) != (ctx.namespace, ctx.pod_name) else log.lines:
            if ln.error_kind in want and (ln.line_no, ln.raw) not in seen:
                seen.add((ln.line_no, ln.raw))
                out.append((ln, ns, name))
    return out


def _cite(ctx: CheckContext, hits: list[tuple[ZtunnelLogLine, str, str]], note: str) -> list[Any]:
    refs = []
    by_src: dict[tuple[str, str], list[ZtunnelLogLine]] = {}
    for ln, ns, name in hits:
        by_src.setdefault((ns, name), []).append(ln)
    for (ns, name), lines in by_src.items():
        refs.append(ctx.ref(Need.ZTUNNEL_LOGS, excerpt(lines, 3), note, namespace=ns, name=name))
    return refs


@check("AMB-ZTUNNEL-UNHEALTHY", needs=(*SUBJECT_NEEDS, Need.ZTUNNEL_PODS), optional=(*SUBJECT_OPTIONAL, Need.DAEMONSETS))
def ztunnel_unhealthy(ctx: CheckContext, _: NoParams) -> CheckResult:
    """No Ready ztunnel on the pod's node: every captured pod there is cut off (istio/istio#47867, #52487)."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    if not s.node:
        return CheckResult.unknown(f"pod {s.ref} is not scheduled yet", reason="pod not scheduled")
    zts = agent_on_node(ctx, Need.ZTUNNEL_PODS, s.node)
    if any(p.ready for p in zts):
        return CheckResult.passed(f"ztunnel {next(p for p in zts if p.ready).name} is Ready on node {s.node}")
    reason = "missing"
    if zts:
        st = zts[0].status.container_statuses
        last = st[0].last_state.terminated if st and st[0].last_state is not None else None
        reason = f"not Ready (last exit: {last.reason})" if last is not None and last.reason else "not Ready"
    ev = [ctx.ref(Need.ZTUNNEL_PODS, "\n".join(pod_line(p) for p in zts) or f"(no ztunnel pod on node {s.node})",
                  f"ztunnel on node {s.node}")]
    ds = next((d for d in ctx.ev.get_or([], Need.DAEMONSETS) if d.name == "ztunnel"), None)
    if ds is not None:
        ev.append(ctx.ref(Need.DAEMONSETS, {"daemonset": ds.ref, "desired": ds.status.desired_number_scheduled,
                                            "ready": ds.status.number_ready}, "DESIRED vs READY"))
    return CheckResult.failed(
        args={"pod": s.ref, "node": s.node, "ztunnel": zts[0].name if zts else "none", "state": reason}, evidence=ev,
        resources=[f"Pod {s.ref}"] + [f"Pod {p.namespace}/{p.name}" for p in zts],
        fix=Fix(steps=[FixStep(description="See why the node's ztunnel is not Ready (scheduling, OOMKilled, istiod reachable on 15012)",
                               command=f"kubectl -n {zts[0].namespace if zts else ctx.conn.istio_namespace} describe pod "
                                       f"{zts[0].name if zts else '-l app=ztunnel'}")]))


def _minor(tag: str) -> str:
    return ".".join(tag.split(".")[:2])


def _tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1].removesuffix("-distroless") if ":" in last else ""


@check("AMB-UPGRADE-DRAIN", needs=(*SUBJECT_NEEDS, Need.DAEMONSETS, Need.CONTROL_PLANE_DEPLOYMENTS), optional=(*SUBJECT_OPTIONAL, Need.ZTUNNEL_LOGS))
def upgrade_drain(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Connections cut by a ztunnel restart ("connection closed due to connection drain", "pool
    draining"), or istio-cni / ztunnel on other versions than istiod (upgraded out of order:
    architecture/ambient/ztunnel-cni-lifecycle.md; istio/istio#58523)."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    hits = _lines(ctx, s, ErrorKind.DRAIN)
    istiod = next((d for d in ctx.ev.get(Need.CONTROL_PLANE_DEPLOYMENTS) if d.name == "istiod"), None)
    cp = next((_tag(c.image) for c in istiod.spec.template.spec.containers if c.name == "discovery"), "") if istiod else ""
    skew = []
    for d in ctx.ev.get(Need.DAEMONSETS):
        if d.name in ("ztunnel", "istio-cni-node"):
            tags = {_tag(i) for i in d.images} - {""}
            # patch releases of one minor interoperate; a different minor means an upgrade in progress
            if cp and tags and _minor(cp) not in {_minor(t) for t in tags}:
                skew.append(f"{d.name} {', '.join(sorted(tags))}")
    if not hits and not skew:
        return CheckResult.passed("no drain errors in ztunnel's log; ztunnel and istio-cni run istiod's version")
    ev = _cite(ctx, hits, "connections closed by a ztunnel drain") if hits else []
    if skew:
        ev.append(ctx.ref(Need.DAEMONSETS, {"istiod": cp, "agents": skew}, "image versions"))
    return CheckResult.failed(
        message="drain" if hits else "skew",
        args={"pod": s.ref, "count": len(hits), "istiod": cp or "unknown", "skew": skew or ["none"]}, evidence=ev,
        observed=[hits[0][0].error] if hits else [], resources=[f"Pod {s.ref}"],
        fix=Fix(steps=[FixStep(description="Upgrade in the documented order (istiod, then istio-cni, then ztunnel) and drain "
                                           "nodes before restarting ztunnel, or use the OnDelete update strategy")]))


@check("AMB-ZTUNNEL-DNS-BIND", needs=(*SUBJECT_NEEDS, Need.ZTUNNEL_LOGS), optional=SUBJECT_OPTIONAL)
def dns_bind(ctx: CheckContext, _: NoParams) -> CheckResult:
    """ztunnel cannot start the pod's in-pod proxy: its DNS proxy binds [::1]:15053 where IPv6 is
    off ("failed to start proxy: Bind([::1]:15053, … AddrNotAvailable", "failed to bind to address
    [::1]:15053: Address family not supported"; istio/istio#52487)."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    log = ctx.ev.get(Need.ZTUNNEL_LOGS, ctx.namespace, ctx.pod_name)
    binds = [ln for ln in log.lines if ln.error_kind == ErrorKind.DNS_BIND]
    if not binds:
        return CheckResult.passed(f"no [::1]:15053 bind failure in the ztunnel log of node {s.node}")
    # the bind error follows the "pod received, starting proxy" line that names the pod (inpod::statemanager)
    starts = [ln for ln in log.lines if ln.target.startswith("inpod::") and ln.field("name") == s.name]
    if not starts:
        named = {ln.field("name") for ln in log.lines if ln.target.startswith("inpod::") and ln.field("name")}
        if named:
            return CheckResult.passed(f"the [::1]:15053 bind failures in node {s.node}'s ztunnel log are for other pods "
                                      f"({', '.join(sorted(named))})")
        return CheckResult.unknown(f"ztunnel on node {s.node} logs [::1]:15053 bind failures without naming the pod",
                                   reason="the bind failures name no pod")
    return CheckResult.failed(
        args={"pod": s.ref, "node": s.node, "count": len(binds)},
        evidence=[ctx.ref(Need.ZTUNNEL_LOGS, excerpt(starts[:1] + binds, 3), "ztunnel on the pod's node")],
        observed=[binds[0].message[:160]], resources=[f"Pod {s.ref}"],
        fix=Fix(steps=[FixStep(description="Upgrade ztunnel (it detects disabled IPv6 since istio/ztunnel's IPv6 probe), "
                                           "or disable IPv6 binding for ztunnel as the release notes describe")]))


@check("AMB-XDS-WORKLOAD-TIMEOUT", needs=(*SUBJECT_NEEDS, Need.ZTUNNEL_LOGS), optional=SUBJECT_OPTIONAL)
def xds_workload_timeout(ctx: CheckContext, _: NoParams) -> CheckResult:
    """ztunnel has not received the pod from istiod: "timed out waiting for workload '…' from xds",
    then inbound "failed to fetch information about local workload" (istio/istio#54889)."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    log = ctx.ev.get(Need.ZTUNNEL_LOGS, ctx.namespace, ctx.pod_name)
    hits = [ln for ln in log.lines if ln.error_kind in (ErrorKind.XDS_WORKLOAD_TIMEOUT, ErrorKind.LOCAL_WORKLOAD_UNKNOWN)
            and f"({s.name})" in (ln.message + " " + ln.error)]
    dump = optional(ctx, Need.ZTUNNEL_CONFIG)
    absent = dump is not None and dump.workload_by_name(s.ns, s.name) is None
    if not hits:
        return CheckResult.passed(f"ztunnel on node {s.node} logs no xDS timeout for pod {s.ref}")
    ev = [ctx.ref(Need.ZTUNNEL_LOGS, excerpt(hits, 3), "ztunnel on the pod's node")]
    if dump is not None:
        ev.append(ctx.ref(Need.ZTUNNEL_CONFIG, f"{s.ref}: {'absent from' if absent else 'present in'} ztunnel's workloads "
                                               f"({len(dump.workloads)} known)", "istioctl ztunnel-config workloads"))
    return CheckResult.failed(
        args={"pod": s.ref, "node": s.node, "count": len(hits), "present": "absent" if absent else "present now"},
        evidence=ev, observed=[hits[0].message or hits[0].error], resources=[f"Pod {s.ref}"],
        corroboration="corroborated" if absent else None,
        fix=Fix(steps=[FixStep(description="Check istiod's load and that ztunnel reaches istiod on 15012, then restart the pod",
                               command=f"kubectl -n {ctx.conn.istio_namespace} top pod -l app=istiod")]))


def _trusted_accounts(ctx: CheckContext) -> list[str] | None:
    for d in ctx.ev.get(Need.CONTROL_PLANE_DEPLOYMENTS):
        if d.name.startswith("istiod"):
            for c in d.spec.template.spec.containers:
                if c.name == "discovery":
                    v = c.env_value("CA_TRUSTED_NODE_ACCOUNTS")
                    return [x.strip() for x in (v or "").split(",") if x.strip()]
    return None


@check("AMB-CERT-IMPERSONATION", needs=(*SUBJECT_NEEDS, Need.ZTUNNEL_LOGS, Need.CONTROL_PLANE_DEPLOYMENTS, Need.ZTUNNEL_PODS), optional=SUBJECT_OPTIONAL)
def cert_impersonation(ctx: CheckContext, _: NoParams) -> CheckResult:
    """istiod refuses to sign certificates ztunnel requests on behalf of pods: ztunnel's
    ``namespace/serviceaccount`` is not in CA_TRUSTED_NODE_ACCOUNTS (istiod chart default
    ``<istiod ns>/ztunnel``, deployment.yaml; security/pkg/server/ca/server.go; istio/istio#52057)."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    trusted = _trusted_accounts(ctx)
    zt = next((p for p in agent_on_node(ctx, Need.ZTUNNEL_PODS, s.node)), None) if s.node else None
    zsa = None
    if zt is not None:
        extra = zt.spec.model_extra or {}
        zsa = f"{zt.namespace}/{extra.get('serviceAccountName') or 'ztunnel'}"
    hits = _lines(ctx, s, ErrorKind.IDENTITY)
    imp = [h for h in hits if "impersonation" in h[0].error]
    if trusted is None or zsa is None:
        return CheckResult.unknown("istiod's CA_TRUSTED_NODE_ACCOUNTS or the node's ztunnel is unknown",
                                   reason="no istiod Deployment or no ztunnel pod on the node")
    if zsa in trusted and not imp:
        return CheckResult.passed(f"ztunnel {zsa} is in istiod's CA_TRUSTED_NODE_ACCOUNTS")
    if zsa in trusted:
        return CheckResult.passed(f"ztunnel {zsa} is trusted; the identity errors come from elsewhere")
    ev = [ctx.ref(Need.CONTROL_PLANE_DEPLOYMENTS, {"CA_TRUSTED_NODE_ACCOUNTS": ",".join(trusted) or "(unset)"}, "istiod's env"),
          ctx.ref(Need.ZTUNNEL_PODS, f"{zt.namespace}/{zt.name} serviceAccount {zsa}", "the node's ztunnel")]
    if imp:
        ev += _cite(ctx, imp, "ztunnel cannot get certificates")
    return CheckResult.failed(
        args={"ztunnel": zsa, "trusted": trusted or ["unset"], "pod": s.ref}, evidence=ev,
        observed=[imp[0][0].error[:160]] if imp else [], resources=[f"Deployment {ctx.conn.istio_namespace}/istiod"],
        corroboration="corroborated" if imp else None,
        fix=Fix(steps=[FixStep(description="Tell istiod which ztunnel to trust (istiod chart values trustedZtunnelNamespace / "
                                           "trustedZtunnelName, rendered into CA_TRUSTED_NODE_ACCOUNTS)",
                               command=f"helm upgrade istiod istio/istiod -n {ctx.conn.istio_namespace} --reuse-values "
                                       f"--set trustedZtunnelNamespace={zsa.split('/')[0]}")]))


@check("AMB-CERT-UNAVAILABLE", needs=(*SUBJECT_NEEDS, Need.ZTUNNEL_CONFIG))
def cert_unavailable(ctx: CheckContext, _: NoParams) -> CheckResult:
    """ztunnel holds no valid certificate for the pod's identity: ``Unavailable: <why>`` /
    ``Initializing`` or an expired leaf (istioctl certificates.go; istio/istio#56452)."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    dump = ctx.ev.get(Need.ZTUNNEL_CONFIG, ctx.namespace, ctx.pod_name)
    w = dump.workload_by_name(s.ns, s.name)
    ident = w.identity if w is not None else s.identity
    cert = next((c for c in dump.certificates if c.identity == ident), None)
    if cert is None:
        if s.mode.mode.value != "ambient":
            return CheckResult.not_applicable(f"pod {s.ref} is not captured: ztunnel holds no certificate for it")
        return CheckResult.passed(f"ztunnel on node {s.node} lists no certificate for {ident} yet (fetched on first connection)")
    leaf = (cert.cert_chain or [None])[0]
    when = dump.taken_at
    if cert.available and leaf is not None and (when is None or cert_valid(leaf, when)):
        return CheckResult.passed(f"ztunnel holds a valid certificate for {ident} (expires {leaf.expiration_time})")
    state = cert.state if not cert.available else f"expired (NOT AFTER {leaf.expiration_time if leaf else 'unknown'})"
    return CheckResult.failed(
        args={"identity": ident, "state": state, "node": s.node, "pod": s.ref},
        evidence=[ctx.ref(Need.ZTUNNEL_CONFIG, {"identity": cert.identity, "state": cert.state,
                                                "certChain": len(cert.cert_chain or []), "rootCerts": len(cert.root_certs or [])},
                          "istioctl ztunnel-config certificates")],
        resources=[f"Pod {s.ref}"],
        fix=Fix(steps=[FixStep(description="Restore ztunnel's path to the CA (istiod on 15012), then restart ztunnel on the node",
                               command=f"istioctl ztunnel-config certificates --node {s.node}")]))


@check("AMB-TRUST-CHAIN", needs=(*SUBJECT_NEEDS, Need.ZTUNNEL_LOGS), optional=SUBJECT_OPTIONAL,
       peer_needs=(Need.ZTUNNEL_CONFIG,))
def trust_chain(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Peers do not trust each other's certificates: "invalid peer certificate: UnknownIssuer /
    BadSignature" (rustls), legacy "CERTIFICATE_VERIFY_FAILED … unable to get issuer certificate"
    (istio/istio#46995, istio/ztunnel#1061): roots differ across nodes or the intermediate chain is
    not served."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    hits = _lines(ctx, s, ErrorKind.TLS_TRUST)
    roots: dict[str, set[str]] = {}
    for ns, name in [(ctx.namespace, ctx.pod_name)] + [(r.namespace, r.name) for r in ctx.related]:
        dump = ctx.ev.get_or(None, Need.ZTUNNEL_CONFIG, ns, name)
        if dump is not None:
            roots[f"{ns}/{name}"] = {r.serial_number for c in dump.certificates for r in (c.root_certs or [])}
    distinct = {frozenset(v) for v in roots.values() if v}
    if not hits and len(distinct) <= 1:
        return CheckResult.passed("no certificate verification error in the ztunnel logs")
    ev = _cite(ctx, hits, "certificate verification failures") if hits else []
    if len(distinct) > 1:
        ev.append(ctx.ref(Need.ZTUNNEL_CONFIG, {k: sorted(v) for k, v in roots.items()}, "root serials per node's ztunnel"))
    return CheckResult.failed(
        args={"pod": s.ref, "count": len(hits), "roots": len(distinct)}, evidence=ev,
        observed=[hits[0][0].error[:160]] if hits else [], resources=[f"Pod {s.ref}"],
        fix=Fix(steps=[FixStep(description="Serve the full chain in istio-system/cacerts (cert-chain.pem) and one root on "
                                           "every cluster and node; restart ztunnel after fixing")]))


@check("AMB-NETPOL-HBONE", needs=(*SUBJECT_NEEDS, Need.NETWORK_POLICIES), optional=(*SUBJECT_OPTIONAL, Need.ZTUNNEL_LOGS, Need.PODS))
def netpol_hbone(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A NetworkPolicy admits only app ports, but ambient traffic arrives on HBONE port 15008:
    "connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008" (ztunnel src/proxy.rs
    MaybeHBONENetworkPolicyError; istio/ztunnel#1229; istio.io ambient networkpolicy page)."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    hits = _lines(ctx, s, ErrorKind.NETPOL_HBONE, ErrorKind.DEADLINE)
    hits = [h for h in hits if h[0].field("dst.addr").endswith(f":{HBONE_PORT}") or h[0].error_kind == ErrorKind.NETPOL_HBONE]
    nps = ctx.ev.get(Need.NETWORK_POLICIES)
    blocking: list[tuple[Any, str, str]] = []
    peers = [s.pod]
    for h, _ns, _n in hits:
        dst = h.field("dst.workload")
        dns = h.field("dst.namespace")
        if dst and dns:
            p = next((x for x in ctx.ev.get_or([], Need.PODS, dns) if x.name == dst), None) or \
                ctx.ev.get_or(None, Need.POD, dns, dst)
            if p is not None:
                peers.append(p)
    for pod in peers:
        for np in nps:
            if np.selects(pod) and np.restricts_ingress and not np.ingress_allows_port(HBONE_PORT):
                blocking.append((np, f"{pod.namespace}/{pod.name}", "ingress"))
    for np in nps:
        if np.selects(s.pod) and np.restricts_egress and not np.egress_allows_port(HBONE_PORT):
            blocking.append((np, s.ref, "egress"))
    if not blocking:
        if hits:
            return CheckResult.unknown("ztunnel reports HBONE timeouts but no NetworkPolicy visible here blocks 15008 "
                                       "(a CNI-specific policy may)", reason="no matching Kubernetes NetworkPolicy")
        return CheckResult.passed(f"no NetworkPolicy restricting pod {s.ref} or its peers leaves out port {HBONE_PORT}")
    np, pod, direction = blocking[0]
    ev = [ctx.ref(Need.NETWORK_POLICIES, {"networkpolicy": np.ref, "policyTypes": np.spec.policy_types or ["Ingress"],
                                          direction: [r.model_dump(by_alias=True, exclude_none=True) for r in
                                                      (np.spec.ingress if direction == "ingress" else np.spec.egress)]},
                  f"{direction} of {pod} without port {HBONE_PORT}")]
    if hits:
        ev += _cite(ctx, hits, "the client's ztunnel")
    return CheckResult.failed(
        message="default" if hits else "config",
        args={"policy": np.ref, "pod": pod, "direction": direction, "count": len(hits)}, evidence=ev,
        observed=[hits[0][0].error[:160]] if hits else [], resources=[np.ref, f"Pod {pod}"],
        corroboration="corroborated" if hits else None,
        fix=Fix(steps=[FixStep(description=f"Allow TCP {HBONE_PORT} in the {direction} rules of {np.ref}",
                               yaml_patch=f"spec:\n  {direction}:\n  - ports:\n    - port: {HBONE_PORT}\n      protocol: TCP\n")]))


@check("AMB-SIDECAR-INTEROP", needs=(*SUBJECT_NEEDS, Need.ZTUNNEL_LOGS), optional=(*SUBJECT_OPTIONAL, Need.PODS))
def sidecar_interop(ctx: CheckContext, _: NoParams) -> CheckResult:
    """ztunnel sends HBONE to a pod that runs a sidecar and the sidecar does not take it: refused on
    15008 or a failed HTTP/2 handshake (sidecars need ISTIO_META_ENABLE_HBONE, which the ambient
    profile sets; agent ports such as 15020 are not proxied; istio/istio#56916, #57259)."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    hits = _lines(ctx, s, ErrorKind.REFUSED, ErrorKind.HBONE_HANDSHAKE)
    with_sidecar = []
    for h, ns, n in hits:
        dst, dns = h.field("dst.workload"), h.field("dst.namespace")
        pod = next((x for x in ctx.ev.get_or([], Need.PODS, dns) if x.name == dst), None) or ctx.ev.get_or(None, Need.POD, dns, dst)
        if pod is not None and pod.has_sidecar and h.direction == "outbound":
            with_sidecar.append(((h, ns, n), pod))
    if not with_sidecar:
        return CheckResult.passed("no failed HBONE connection to a pod with a sidecar")
    (h, _ns, _n), pod = with_sidecar[0]
    return CheckResult.failed(
        args={"pod": s.ref, "server": f"{pod.namespace}/{pod.name}", "error": h.error, "port": h.field("dst.hbone_addr").rpartition(":")[2]},
        evidence=_cite(ctx, [x[0] for x in with_sidecar], "HBONE to a sidecar pod") +
        [ctx.ref(Need.POD, {"pod": f"{pod.namespace}/{pod.name}", "containers": [c.name for c in pod.spec.containers + pod.spec.init_containers]},
                 "the server runs istio-proxy", namespace=pod.namespace, name=pod.name)],
        observed=[h.error[:160]], resources=[f"Pod {pod.namespace}/{pod.name}"],
        fix=Fix(steps=[FixStep(description="Re-inject the server's sidecar with the ambient profile's proxyMetadata "
                                           "(ISTIO_META_ENABLE_HBONE=true) and restart it, or move its namespace to ambient",
                               command=f"kubectl -n {pod.namespace} rollout restart deployment")]))


@check("AMB-ROLLOUT-503", needs=(*SUBJECT_NEEDS, Need.ZTUNNEL_LOGS), optional=(*SUBJECT_OPTIONAL, Need.PODS))
def rollout_refused(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Connections refused by pods that are shutting down: the container exits before ztunnel
    learns the pod is gone (istio/istio#58514)."""
    s = _ambient_subject(ctx)
    if isinstance(s, CheckResult):
        return s
    hits = _lines(ctx, s, ErrorKind.REFUSED)
    dying = []
    for h, ns, n in hits:
        dst, dns = h.field("dst.workload"), h.field("dst.namespace")
        pod = next((x for x in ctx.ev.get_or([], Need.PODS, dns) if x.name == dst), None) or ctx.ev.get_or(None, Need.POD, dns, dst)
        if pod is not None and pod.metadata.deletion_timestamp is not None and not pod.has_sidecar:
            dying.append(((h, ns, n), pod))
    if not dying:
        return CheckResult.passed("no refused connection to a pod that is terminating")
    (h, _ns, _n), pod = dying[0]
    return CheckResult.failed(
        args={"pod": s.ref, "server": f"{pod.namespace}/{pod.name}", "count": len(dying)},
        evidence=_cite(ctx, [x[0] for x in dying], "refused by a terminating pod") +
        [ctx.ref(Need.PODS, {"pod": f"{pod.namespace}/{pod.name}", "deletionTimestamp": str(pod.metadata.deletion_timestamp)},
                 "being deleted", namespace=pod.namespace)],
        observed=[h.error[:160]], resources=[f"Pod {pod.namespace}/{pod.name}"],
        fix=Fix(steps=[FixStep(description="Give the server a preStop sleep of a few seconds so ztunnel learns the pod is "
                                           "gone before it stops listening; add retries on the waypoint or gateway")]))
