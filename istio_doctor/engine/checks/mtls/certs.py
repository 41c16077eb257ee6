"""Certificates: ``MTLS-ROOTCA-MISMATCH`` (peers trust different roots), ``MTLS-CERT-NOT-READY``
(the workload certificate or root is missing, still warming, or expired on this proxy or a peer),
``MTLS-SAN-MISMATCH`` (the server's identity is not a subject alternative name the client verifies)
and ``MTLS-PEER-NO-CERT`` (TLS without a client certificate reaches a STRICT port).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from istio_doctor.engine.checks.mtls._reading import (
    _CVF,
    _NO_CERT,
    Problem,
    _applied,
    _client_dests,
    _cluster_tls,
    _describe_cluster_tls,
    _dr_excerpt,
    _dr_tls,
    _drs_targeting,
    _own_served_ports,
    _pa_port_fix,
    _pod_dump,
    _raw,
    _result,
    _server_ports,
    _summarize,
    _tls_text,
    examined_pod,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import service_host
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry
from istio_doctor.evidence.bundle import MissingEvidence, Need
from istio_doctor.evidence.envoy.trust import accepted_trust_domains, identity_trust_domain, trust_bundles, verifies
from istio_doctor.evidence.podlogs import parse_rfc3339

# --------------------------------------------------------------------------------------
# certificates: MTLS-ROOTCA-MISMATCH, MTLS-CERT-NOT-READY, MTLS-SAN-MISMATCH
# --------------------------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


def _roots(dump: Any) -> tuple[set[str], Any | None]:
    """Root certificates a proxy trusts (the ``ROOTCA`` secret), as normalised PEM blocks."""
    for s in dump.secrets:
        if s.name == "ROOTCA":
            pems = {re.sub(r"\s+", "", b) for b in _PEM.findall(s.cert_chain_pem or "")}
            return pems, s
    return set(), None


def _trust_excerpt(dump: Any) -> str:
    """The ROOTCA rows (one per trust domain for SPIFFE bundles) and the workload's trust domain."""
    rows = [f"ROOTCA serial {s.serial} trust domain {s.bundle_trust_domain or s.trust_domain or '?'} valid until {s.not_after}"
            for s in dump.secrets if s.name == "ROOTCA"]
    td = identity_trust_domain(dump)
    return "\n".join(rows + ([f"workload certificate (default) trust domain {td}"] if td else []))


def _verify_failures(ctx: CheckContext, pods: Iterable[tuple[str, str]]) -> list[tuple[str, str, list[AccessLogEntry], list[Any]]]:
    out = []
    for ns, name in pods:
        log = ctx.ev.get_or(None, Need.PROXY_LOGS, ns, name)
        if log is None:
            continue
        es = [e for e in log.entries if _CVF in _tls_text(e)]
        evs = [ev for ev in log.events if _CVF in ev.raw]
        if es or evs:
            out.append((ns, name, es, evs))
    return out


#: The certificate checks compare the secrets in this proxy's config dump with its peers', and
#: quote the TLS errors the proxies logged.
_CERT_NEEDS = (Need.POD, Need.CONFIG_DUMP)
_CERT_PEER_NEEDS = (Need.CONFIG_DUMP, Need.PROXY_LOGS)


@check("MTLS-ROOTCA-MISMATCH", needs=_CERT_NEEDS, optional=(Need.PROXY_LOGS,), peer_needs=_CERT_PEER_NEEDS)
def rootca_mismatch(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod and its peers trust different root CAs (CA rotation, plugged-in cacerts, multi-cluster)."""
    pod = ctx.pod()
    dump = ctx.config_dump()
    mine, my_secret = _roots(dump)
    fails = _verify_failures(ctx, [(pod.metadata.namespace, pod.metadata.name)] + [(r.namespace, r.name) for r in ctx.related])
    if not mine:
        if fails:
            return CheckResult.unknown("the proxy shows CERTIFICATE_VERIFY_FAILED but its config dump holds no ROOTCA secret to compare",
                                       reason="no ROOTCA secret in the config dump")
        return CheckResult.not_applicable("the config dump holds no ROOTCA secret (no Istio mTLS certificates on this proxy)")
    problems: list[Problem] = []
    compared = 0
    for r in ctx.related:
        peer = ctx.ev.get_or(None, Need.CONFIG_DUMP, r.namespace, r.name)
        if peer is None:
            continue
        theirs, their_secret = _roots(peer)
        if not theirs:
            continue
        compared += 1
        # Per trust domain: a SPIFFE validator (SPIRE, federation) verifies a peer only against
        # the bundle of the peer's trust domain; otherwise a root both trust, or the peer's
        # chain verified against our roots, means the handshake verifies (envoy/trust.py).
        rejected = [(who, v) for who, v in ((pod.metadata.name, verifies(dump, peer)), (r.name, verifies(peer, dump)))
                    if v.accepted is False]
        if not rejected:
            continue
        ev = [ctx.ref(Need.CONFIG_DUMP, _trust_excerpt(dump), f"root CA of {pod.metadata.name}"),
              ctx.ref(Need.CONFIG_DUMP, _trust_excerpt(peer), f"root CA of {r.name}", namespace=r.namespace, name=r.name)]
        observed = []
        for ns, name, es, evs in fails:
            if es:
                ev.append(ctx.ref(Need.PROXY_LOGS, _raw(es), "certificate verification fails", namespace=ns, name=name))
                observed += _summarize(es, name)
            if evs:
                # Envoy's own handshake lines (debug level, as incident threads quote them, e.g.
                # istio/istio#26349) say it even when the access-log lines do too: quoted as well
                ev.append(ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in evs[:3]), "the TLS handshake fails", namespace=ns, name=name))
                if not es:
                    observed.append(f"{len(evs)}× CERTIFICATE_VERIFY_FAILED in the istio-proxy log of {name}")
        no_bundle = [(who, v) for who, v in rejected if v.why == "no-bundle"]
        if no_bundle:  # a SPIFFE validator without the bundle of the peer's trust domain
            who, v = no_bundle[0]
            variant, args = "no_bundle", {
                "who": who, "other": r.name if who == pod.metadata.name else pod.metadata.name, "trust_domain": v.trust_domain,
                "bundles": trust_bundles(dump if who == pod.metadata.name else peer).domains}
        else:
            variant, args = None, {"pod": pod.metadata.name, "serial": my_secret.serial, "peer": f"{r.namespace}/{r.name}",
                                   "peer_serial": their_secret.serial, "both": len(rejected) == 2, "rejecter": rejected[0][0]}
        problems.append(Problem(
            message=variant, args=args,
            short=f"root CA differs from {r.name}" if not no_bundle else f"no trust bundle for {no_bundle[0][1].trust_domain}",
            level="logs" if observed else None,
            evidence=ev, observed=observed,
            resources=[f"Pod {pod.metadata.namespace}/{pod.metadata.name}", f"Pod {r.namespace}/{r.name}"],
            steps=[
                FixStep(description="compare the roots yourself", command=f"istioctl proxy-config rootca-compare pod/{pod.metadata.name}.{pod.metadata.namespace} pod/{r.name}.{r.namespace}"),
                FixStep(description="check which CA istiod uses (plugged-in cacerts)", command=f"kubectl get secret cacerts -n {ctx.conn.istio_namespace} -o jsonpath='{{.data.root-cert\\.pem}}' | base64 -d | openssl x509 -noout -serial -subject"),
                FixStep(description="after restoring a common root, restart the workloads so they get certificates from it",
                        command=f"kubectl rollout restart deployment -n {pod.metadata.namespace}"),
            ],
            ordered=True,
        ))
    if problems:
        return _result(problems, ctx, check="MTLS-ROOTCA-MISMATCH", decided=True, ok_summary="", na_summary="")
    if compared:
        bundles = trust_bundles(dump)
        where = (f"SPIFFE trust bundles for {', '.join(bundles.domains)}" if bundles.federated
                 else f"root CA serial {my_secret.serial}")
        return CheckResult.passed(f"{pod.metadata.name} and {compared} peer(s) verify each other's certificates ({where})")
    if fails:
        return CheckResult.unknown("CERTIFICATE_VERIFY_FAILED is logged but no peer config dump was available to compare root CAs",
                                   reason="the peer's config dump (ROOTCA) is needed to compare roots")
    return CheckResult.not_applicable("no peer pod to compare root CAs with")


def _reference_time(logs: Iterable[Any], dumps: Iterable[Any]) -> datetime | None:
    """The latest instant the evidence itself shows (log lines, secret pushes).

    Certificate expiry is judged against it rather than against the clock of the machine that
    parses the dump: a replayed recording is read long after it was taken, and a live proxy log
    covers the last hour anyway. None when the evidence carries no time at all.
    """
    latest: datetime | None = None
    for log in logs:
        if log is None:
            continue
        for t in [e.start_time for e in log.entries] + [ev.timestamp for ev in log.events]:
            ts = parse_rfc3339(t)
            if ts is not None and (latest is None or ts > latest):
                latest = ts
    for d in dumps:
        raw = getattr(d, "secrets_raw", None) or {}
        for key in ("dynamic_active_secrets", "dynamic_warming_secrets"):
            for e in raw.get(key) or ():
                ts = parse_rfc3339(e.get("last_updated") or e.get("lastUpdated"))
                if ts is not None and (latest is None or ts > latest):
                    latest = ts
    return latest


def _cert_problems(dump: Any, ref: datetime | None = None) -> tuple[dict[str, Any], list[Any]]:
    """What is wrong with a proxy's workload certificate and root: the secrets never received from
    the CA (``default (WARMING)``), those holding no valid certificate (``ROOTCA (NOT AFTER ...)``),
    and whether the workload certificate is missing altogether. Empty when all is well."""
    not_received: list[str] = []
    invalid: list[str] = []
    secrets = []
    names = {s.name for s in dump.secrets}
    for s in dump.secrets:
        if s.name not in ("default", "ROOTCA"):
            continue
        if s.status in ("WARMING", "UNINITIALIZED") or s.status.upper().startswith("WARM"):
            not_received.append(f"{s.name} ({s.status})")
            secrets.append(s)
        elif (s.not_after is not None and s.not_after < ref) if ref is not None and s.not_after is not None else s.valid is False:
            invalid.append(f"{s.name} (NOT AFTER {s.not_after:%Y-%m-%dT%H:%M:%SZ})" if s.not_after else s.name)
            secrets.append(s)
    no_default = "default" not in names and "secrets" in dump.sections
    if not (not_received or invalid or no_default):
        return {}, secrets
    return {"not_received": not_received, "invalid": invalid, "no_default": no_default}, secrets


def _secret_row(s: Any) -> str:
    na = f"{s.not_after:%Y-%m-%dT%H:%M:%SZ}" if s.not_after else ""
    nb = f"{s.not_before:%Y-%m-%dT%H:%M:%SZ}" if s.not_before else ""
    return f"RESOURCE NAME: {s.name}  TYPE: {s.type}  STATUS: {s.status}  VALID CERT: {str(bool(s.valid)).lower()}  SERIAL NUMBER: {s.serial}  NOT AFTER: {na}  NOT BEFORE: {nb}"


@check("MTLS-CERT-NOT-READY", needs=_CERT_NEEDS, optional=(Need.PROXY_LOGS,), peer_needs=_CERT_PEER_NEEDS)
def cert_not_ready(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The workload certificate (or root) is missing, still warming, or expired on this proxy or a peer."""
    pod = ctx.pod()
    dump = ctx.config_dump()
    if "secrets" not in dump.sections and not dump.secrets:
        return CheckResult.unknown("the config dump has no secrets section", reason="secrets were not part of the config dump")
    problems: list[Problem] = []
    targets = [(pod.metadata.namespace, pod.metadata.name, dump)] + [
        (r.namespace, r.name, ctx.ev.get_or(None, Need.CONFIG_DUMP, r.namespace, r.name)) for r in ctx.related
    ]
    for ns, name, d in targets:
        if d is None or pod.is_gateway and name == pod.metadata.name and not d.secrets:
            continue
        log = ctx.ev.get_or(None, Need.PROXY_LOGS, ns, name)
        bad, secrets = _cert_problems(d, _reference_time([log], [d]))
        if not bad:
            continue
        sds = [e for e in (log.events if log is not None else []) if e.kind in ("sds_error", "warming")]
        cvf = [e for e in (log.entries if log is not None else []) if "TLS" in _tls_text(e)]
        ev = [ctx.ref(Need.CONFIG_DUMP, "\n".join(_secret_row(s) for s in secrets) or "no secret default", "istioctl proxy-config secret", namespace=ns, name=name)]
        observed = []
        if sds:
            ev.append(ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in sds[:3]), "SDS errors in the istio-proxy log", namespace=ns, name=name))
            observed.append(f"{len(sds)}× certificate/SDS error in the istio-proxy log of {name}")
        if cvf:
            observed += _summarize(cvf, name)
        problems.append(Problem(
            args={"peer": None if name == pod.metadata.name else f"{ns}/{name}", **bad},
            short=f"{name}: secret {', '.join(bad['not_received'] + bad['invalid']) or 'default missing'}",
            # a peer's dump alone is weaker than this proxy's own state or the handshake errors in a log
            level="this_pod_or_logs" if observed or name == pod.metadata.name else None,
            evidence=ev, observed=observed,
            resources=[f"Pod {ns}/{name}"],
            steps=[
                FixStep(description="see the certificate state", command=f"istioctl proxy-config secret {name} -n {ns}"),
                FixStep(description="check the CA (istiod) for signing errors", command=f"kubectl logs -n {ctx.conn.istio_namespace} -l app=istiod --tail=200"),
                FixStep(description="restart the pod so pilot-agent requests a new certificate", command=f"kubectl delete pod {name} -n {ns}"),
            ],
            ordered=True,
        ))
    return _result(problems, ctx, check="MTLS-CERT-NOT-READY", decided=True,
                   ok_summary=f"workload certificate and root CA are ACTIVE and valid on {pod.metadata.name}"
                   + (f" and {len(targets) - 1} peer(s) examined" if len(targets) > 1 else ""), na_summary="")


def _identity(td: str, pod: Any) -> str:
    return f"spiffe://{td}/ns/{pod.metadata.namespace}/sa/{pod.spec.service_account_name or 'default'}"


def _san_matches(san: str, identity: str) -> bool:
    if san == identity:
        return True
    # prefix matchers (trust-domain aliases) are printed as their prefix
    return san.endswith("/") and identity.startswith(san)


@check(
    "MTLS-SAN-MISMATCH",
    needs=(Need.POD, Need.DESTINATION_RULES, Need.SERVICES, Need.PODS),
    # PeerAuthentications: the server's effective mode decides whether the SAN check applies
    optional=(Need.CONFIG_DUMP, Need.ENVOY_STATS, Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS, Need.PEER_AUTHENTICATIONS),
    peer_needs=(Need.CONFIG_DUMP,),
)
def san_mismatch(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The subject alternative names a client verifies (DestinationRule subjectAltNames, or the ones in its
    Envoy cluster) match none of the server pods' SPIFFE identities."""
    pod = examined_pod(ctx, Need.DESTINATION_RULES)
    try:
        mesh_td = ctx.mesh_config(pod.revision).trust_domain or "cluster.local"
    except MissingEvidence:  # mesh config is corroboration only: Istio's default trust domain
        mesh_td = "cluster.local"
    problems: list[Problem] = []
    decided = False

    def server_td(server: Any) -> str:
        peer = _pod_dump(ctx, server)
        if peer is not None:
            for s in peer.secrets:
                if s.name == "default" and s.trust_domain:
                    return s.trust_domain
        return mesh_td

    def judge(dr: Any | None, sans: list[str], cluster: str | None, host: str, port: int, servers: list[Any], client: Any | None,
              extra_ev: list[EvidenceRef], entries: list[AccessLogEntry]) -> None:
        """``cluster``: the client's Envoy cluster whose matchers fail; None: the DestinationRule's subjectAltNames."""
        idents = sorted({_identity(server_td(s), s) for s in servers})
        if not idents or any(_san_matches(x, i) for x in sans for i in idents):
            return
        ev = list(extra_ev) + [ctx.ref(Need.PODS, "\n".join(idents), "identities the server pods present (service accounts)",
                                       namespace=servers[0].metadata.namespace)]
        observed: list[str] = []
        stats = ctx.ev.get_or(None, Need.ENVOY_STATS, client.metadata.namespace, client.metadata.name) if client is not None else None
        if stats:
            n = sum(v for k, v in stats.items() if k.endswith("ssl.fail_verify_san") and host in k)
            if n:
                observed.append(f"ssl.fail_verify_san = {n} on the clusters of {host}")
                ev.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in stats.items() if k.endswith("ssl.fail_verify_san") and host in k and v),
                                  "SAN verification failures", namespace=client.metadata.namespace, name=client.metadata.name))
        cvf = [e for e in entries if _CVF in _tls_text(e)]
        if cvf:
            ev.append(ctx.ref(Need.PROXY_LOGS, _raw(cvf), "certificate verification fails"))
            observed += _summarize(cvf, host)
        add(args={"cluster": cluster, "dr": f"{dr.metadata.namespace}/{dr.metadata.name}" if dr is not None else None,
                  "sans": sans, "host": host, "port": port, "identities": idents},
            short=f"SANs {sans[:2]} vs {idents[:2]}",
            evidence=ev, observed=observed,
            resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}"] if dr is not None else [],
            steps=[FixStep(description=f"set subjectAltNames of DestinationRule {dr.metadata.namespace}/{dr.metadata.name} to {idents[0]} (or remove the field)",
                           command=f"kubectl edit destinationrule {dr.metadata.name} -n {dr.metadata.namespace}")] if dr is not None
            else [FixStep(description="check the trust domain and aliases of the mesh (meshConfig.trustDomain / trustDomainAliases)",
                          command=f"kubectl -n {ctx.conn.istio_namespace} get configmap istio -o jsonpath='{{.data.mesh}}'")])

    def add(**problem: Any) -> None:
        # both ways a SAN check fails (client-side matchers, server-side trust domains): one
        # confidence rule, stronger when the failures are seen at runtime
        problems.append(Problem(level="logs" if problem["observed"] else None, **problem))

    def judge_trust_domain(client: Any, client_dump: Any, server: Any, host: str, entries: list[AccessLogEntry]) -> None:
        """The server's inbound listener accepts client certificates of its mesh's trust domain,
        trustDomainAliases and caCertificates trust domains only (SAN prefix matchers,
        istio/istio pilot/pkg/security/model/authentication.go, authn/util.go
        TrustDomainsForValidation): a client of another trust domain fails ssl.fail_verify_san."""
        nonlocal decided
        client_td = identity_trust_domain(client_dump) if client_dump is not None else None
        try:
            mesh = ctx.mesh_config(server.revision)
        except MissingEvidence:  # without the server's mesh config its accepted trust domains are unknown
            return
        if not client_td:
            return
        accepted = accepted_trust_domains(mesh)
        if client_td in accepted:
            return  # (no verdict of its own: the walk's pass/not-applicable stays the SAN matchers')
        decided = True
        ident = _identity(client_td, client)
        ev = [ctx.ref(Need.CONFIG_DUMP, _trust_excerpt(client_dump), f"the certificate {client.metadata.name} presents",
                      namespace=client.metadata.namespace, name=client.metadata.name),
              ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, {"trustDomain": mesh.trust_domain, "trustDomainAliases": list(mesh.trust_domain_aliases)},
                      "the trust domains the server's proxy accepts (meshConfig)")]
        tls_fail = [e for e in entries if "TLS" in _tls_text(e) or "tls" in _tls_text(e)]
        observed = _summarize(tls_fail, host) if tls_fail else []
        if tls_fail:
            ev.append(ctx.ref(Need.PROXY_LOGS, _raw(tls_fail), "the handshakes fail", namespace=client.metadata.namespace,
                              name=client.metadata.name))
        add(
            message="trust_domain",
            args={"client": client.metadata.name, "identity": ident, "trust_domain": client_td,
                  "server": f"{server.metadata.namespace}/{server.metadata.name}", "accepted": list(accepted), "mesh_trust_domain": accepted[0]},
            short=f"trust domain {client_td} not accepted by {server.metadata.name}",
            evidence=ev, observed=observed,
            resources=[f"Pod {client.metadata.namespace}/{client.metadata.name}", f"Pod {server.metadata.namespace}/{server.metadata.name}"],
            steps=[FixStep(description="see the trust domains the mesh accepts",
                           command=f"kubectl -n {ctx.conn.istio_namespace} get configmap istio -o jsonpath='{{.data.mesh}}'")],
        )

    my_dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, pod.metadata.namespace, pod.metadata.name)
    if pod.has_sidecar:
        for d in _client_dests(ctx, pod):
            svc, sps = _server_ports(ctx, d.host, d.port)
            servers = [s.pod for s in (sps or []) if s.pod.has_sidecar]
            if not servers:
                continue
            judge_trust_domain(pod, my_dump, servers[0], d.host, d.entries)
            applied = _applied(ctx, d.host, pod.metadata.namespace, pod.labels)
            tls = _dr_tls(applied.rule, d.port, d.subset) if applied is not None else (None, "")
            cl, ctls = _cluster_tls(ctx, pod, d.host, d.port, d.subset)
            if ctls is not None and ctls.mode == "istio_mutual" and ctls.sans:
                decided = True
                judge(applied.rule if applied and tls[0] is not None and tls[0].subject_alt_names else None, list(ctls.sans),
                      cl.name, d.host, d.port, servers, pod,
                      [ctx.ref(Need.CONFIG_DUMP, f"{_describe_cluster_tls(cl)}\nsubjectAltNames verified: {list(ctls.sans)}", "what the client's Envoy verifies")],
                      d.entries)
            elif tls[0] is not None and tls[0].mode == "ISTIO_MUTUAL" and tls[0].subject_alt_names:
                decided = True
                if ctls is not None and ctls.mode != "istio_mutual":
                    continue
                judge(applied.rule, list(tls[0].subject_alt_names), None,
                      d.host, d.port, servers, pod, [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(applied.rule), f"{tls[1]}.subjectAltNames")], d.entries)
    if pod.has_sidecar:
        for r in ctx.related:
            if r.role != "client":
                continue
            try:
                client = ctx.pod(r.namespace, r.name)
            except MissingEvidence:
                continue
            if client.has_sidecar:
                judge_trust_domain(client, ctx.ev.get_or(None, Need.CONFIG_DUMP, r.namespace, r.name), pod, r.service, [])
        for sp in _own_served_ports(ctx, pod):
            for dr, _why in _drs_targeting(ctx, service_host(ctx, sp.svc)):
                tls, where = _dr_tls(dr, sp.port.port, None)
                if tls is None or tls.mode != "ISTIO_MUTUAL" or not tls.subject_alt_names:
                    continue
                decided = True
                if any(f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}" in p.resources for p in problems):
                    continue
                judge(dr, list(tls.subject_alt_names), None, service_host(ctx, sp.svc), sp.port.port,
                      [pod], None, [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(dr), f"{where}.subjectAltNames")], [])
    return _result(problems, ctx, check="MTLS-SAN-MISMATCH", decided=decided,
                   ok_summary="the subjectAltNames verified match the server identities",
                   na_summary="no subjectAltNames are verified on the paths examined")


# --------------------------------------------------------------------------------------
# MTLS-PEER-NO-CERT
# --------------------------------------------------------------------------------------


@check(
    "MTLS-PEER-NO-CERT",
    needs=(Need.POD, Need.ENVOY_STATS),
    optional=(Need.PROXY_LOGS, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS, Need.CONTROL_PLANE_CONFIGMAPS),
)
def peer_no_cert(ctx: CheckContext, _: NoParams) -> CheckResult:
    """TLS without a client certificate reaches a STRICT port (silent in the default access log)."""
    pod = ctx.pod()
    stats = ctx.ev.get(Need.ENVOY_STATS, ctx.namespace, ctx.pod_name)
    names = {k: v for k, v in stats.items() if k.startswith("listener.") and k.endswith("ssl.fail_verify_no_cert") and v > 0}
    log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    debug = [e for e in (log.events if log is not None else []) if _NO_CERT in e.raw]
    if log is not None:
        debug += [e for e in log.entries if _NO_CERT in _tls_text(e)]  # type: ignore[misc]
    if not names and not debug:
        has_listener_ssl = any(k.startswith("listener.") and ".ssl." in k for k in stats)
        if has_listener_ssl:
            return CheckResult.passed("ssl.fail_verify_no_cert is 0 on every inbound listener")
        return CheckResult.not_applicable("no TLS listener statistics on this proxy (no inbound mTLS)")
    strict = []
    if ctx.ev.has(Need.PEER_AUTHENTICATIONS) and ctx.ev.has(Need.SERVICES):
        strict = [s for s in _own_served_ports(ctx, pod) if s.mtls is not None and s.mtls.mode == "STRICT"]
    total = sum(names.values())
    ev = []
    if names:
        ev.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in names.items()), "TLS handshakes without a client certificate"))
    if debug:
        ev.append(ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in debug[:3]), "Envoy connection log"))
    return CheckResult.failed(
        args={"count": total or len(debug), "ports": [s.target for s in strict], "source": strict[0].mtls.source if strict else None},
        corroboration="strict_port" if strict else None,
        evidence=ev,
        observed=[f"ssl.fail_verify_no_cert = {total}"] if total else [f"{len(debug)}× {_NO_CERT} in the Envoy connection log"],
        fix=Fix(steps=[FixStep(description="find the client: raise the connection log level and look for the peer address",
                               command=f"istioctl proxy-config log {pod.metadata.name} -n {pod.metadata.namespace} --level connection:debug"),
                       FixStep(description="watch the counter while reproducing",
                               command=f"kubectl exec {pod.metadata.name} -n {pod.metadata.namespace} -c istio-proxy -- pilot-agent request GET stats | grep fail_verify_no_cert")]
                + ([_pa_port_fix(strict[0], "PERMISSIVE")] if strict else [])),
        resources=[f"Pod {pod.metadata.namespace}/{pod.metadata.name}"],
    )
