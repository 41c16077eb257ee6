"""istioctl outputs for the world: version, proxy-status (per version), analyze, x describe pod.

Formats mirror the corpus: proxy-status goldens (``proxy-status/*.txt|json``) and captured
tables (1.6 ``PILOT``, 1.17/1.21 per-type with ``ISTIOD``), the analyze message catalogue
(``analyze/messages.yaml`` templates verbatim), and istio.io describe examples.
"""

from __future__ import annotations

import json
from typing import Any

from tests.scenariokit import render_envoy as rev
from tests.scenariokit.world import Pod, Ver, World, kube_suffix, labels_match, stable_hex


# --------------------------------------------------------------------------- version


def _build(version: str) -> dict[str, str]:
    return {"version": version, "revision": stable_hex("git", version, n=40), "golang_version": "go1.22.5",
            "status": "Clean", "tag": version}


def version_json(world: World, remote: bool = True) -> str:
    out: dict[str, Any] = {"clientVersion": _build(str(world.istioctl))}
    if remote:
        istiod = [p for p in world.pods if p.namespace == world.control_plane.namespace and p.workload.name == "istiod"]
        out["meshVersion"] = [{"Component": "istiod", "Revision": "default", "Info": _build(world.istio_version)}
                              for _ in istiod[:1] or [None]] if istiod else None
        if out["meshVersion"] is None:
            del out["meshVersion"]
        out["dataPlaneVersion"] = [{"ID": f"{p.name}.{p.namespace}", "IstioVersion": world.proxy_version(p.workload)}
                                   for p in world.pods if world.pod_is_mesh(p) and p.workload.proxy.connected
                                   and p.workload.proxy.state != "no_config"]
    return json.dumps(out, indent=2) + "\n"


def kubectl_version_json(world: World) -> str:
    def info(v: str, date: str) -> dict[str, str]:
        pv = Ver.parse(v)
        return {"major": str(pv.major), "minor": str(pv.minor), "gitVersion": f"v{v}",
                "gitCommit": stable_hex("k8s", v, n=40), "gitTreeState": "clean", "buildDate": date,
                "goVersion": "go1.22.4", "compiler": "gc", "platform": "linux/amd64"}
    out = {"clientVersion": info(world.kubectl_version, "2024-06-11T20:29:44Z"),
           "kustomizeVersion": "v5.0.4-0.20230601165947-6ce0bf390ce3",
           "serverVersion": info(world.server_version, "2024-05-14T10:42:02Z")}
    return json.dumps(out, indent=4) + "\n"


# --------------------------------------------------------------------------- proxy-status

_TYPES = [("CDS", "type.googleapis.com/envoy.config.cluster.v3.Cluster"),
          ("LDS", "type.googleapis.com/envoy.config.listener.v3.Listener"),
          ("EDS", "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"),
          ("RDS", "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"),
          ("ECDS", "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig")]


def _istiod_name(world: World) -> str:
    istiod = [p for p in world.pods if p.workload.name == "istiod" and p.namespace == world.control_plane.namespace]
    return istiod[0].name if istiod else f"istiod-{kube_suffix('istiod', 10)}-{kube_suffix('istiod0', 5)}"


def _xds(world: World, pod: Pod) -> dict[str, str]:
    st = pod.workload.proxy
    out = {}
    for t, _ in _TYPES:
        default = "NOT SENT" if t == "ECDS" else "SYNCED"
        if t == "RDS" and pod.is_gateway and not rev.gateway_routes(world, pod):
            default = "NOT SENT"
        if st.state == "nack" and st.nack_type.endswith({"CDS": "Cluster", "LDS": "Listener", "RDS": "RouteConfiguration",
                                                         "EDS": "ClusterLoadAssignment", "ECDS": "TypedExtensionConfig"}[t]):
            default = "STALE"
        out[t] = st.xds.get(t, default)
    return out


def _table(rows: list[list[str]]) -> str:
    """Go tabwriter with padding 5 (proxy-status): each column as wide as its widest cell + 5."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.ljust(widths[i] + 5) if i < len(r) - 1 else c for i, c in enumerate(r)]
        out.append("".join(cells).rstrip(" ") if False else "".join(cells))
    return "\n".join(out) + "\n"


def proxy_status(world: World, *, verbose: bool = False, json_out: bool = False) -> str:
    v = world.istioctl
    proxies = [p for p in world.pods if world.pod_is_mesh(p) and p.workload.proxy.connected]
    proxies.sort(key=lambda p: (p.name, p.namespace))
    istiod = _istiod_name(world)
    if json_out:
        res = []
        for p in proxies:
            x = _xds(world, p)
            res.append({"@type": "type.googleapis.com/envoy.service.status.v3.ClientConfig",
                        "node": {"id": rev.node_id(p), "metadata": {"CLUSTER_ID": world.cluster_id,
                                                                    "ISTIO_VERSION": world.proxy_version(p.workload),
                                                                    "NAMESPACE": p.namespace}},
                        "genericXdsConfigs": [{"typeUrl": url, "configStatus": x[t].replace(" ", "_")} for t, url in _TYPES]})
        ident = json.dumps({"Component": "istiod", "ID": istiod, "Info": _build(world.istio_version)}, separators=(",", ":"))
        doc = {"versionInfo": rev.version_info(world), "resources": res,
               "typeUrl": "istio.io/debug/syncz", "controlPlane": {"identifier": ident}}
        return json.dumps(doc, indent=2) + "\n"
    rows: list[list[str]]
    if v < Ver(1, 27) or verbose:
        if v < Ver(1, 7):
            header = ["NAME", "CDS", "LDS", "EDS", "RDS", "PILOT", "VERSION"]
            types = ["CDS", "LDS", "EDS", "RDS"]
        elif v < Ver(1, 11):
            header = ["NAME", "CDS", "LDS", "EDS", "RDS", "ISTIOD", "VERSION"]
            types = ["CDS", "LDS", "EDS", "RDS"]
        elif v < Ver(1, 27):
            header = ["NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ECDS", "ISTIOD", "VERSION"]
            types = ["CDS", "LDS", "EDS", "RDS", "ECDS"]
        else:
            header = ["NAME", "CLUSTER", "CDS", "ECDS", "EDS", "LDS", "RDS", "ISTIOD", "VERSION"]
            types = ["CDS", "ECDS", "EDS", "LDS", "RDS"]
        rows = [header]
        for p in proxies:
            x = _xds(world, p)
            row = [f"{p.name}.{p.namespace}"]
            if "CLUSTER" in header:
                row.append(world.cluster_id)
            row += [x[t] for t in types]
            row += [istiod, world.proxy_version(p.workload)]
            rows.append(row)
    else:
        rows = [["NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED TYPES"]]
        for p in proxies:
            x = _xds(world, p)
            subs = [t for t, _ in _TYPES if t != "ECDS" or x["ECDS"] != "NOT SENT"] if p.workload.proxy.state != "no_config" else []
            subs = ["CDS", "LDS", "EDS", "RDS", "ECDS"] if subs else []
            rows.append([f"{p.name}.{p.namespace}", world.cluster_id, istiod, world.proxy_version(p.workload),
                         f"{len(subs)} ({','.join(subs)})" if subs else "0"])
    return _table(rows)


# --------------------------------------------------------------------------- analyze

_TEMPLATES = {
    "IST0101": ("ReferencedResourceNotFound", "Error", "Referenced {} not found: {!r}"),
    "IST0102": ("NamespaceNotInjected", "Info",
                "The namespace is not enabled for Istio injection. Run 'kubectl label namespace {} istio-injection=enabled' "
                "to enable it, or 'kubectl label namespace {} istio-injection=disabled' to explicitly mark it as not needing injection."),
    "IST0103": ("PodMissingProxy", "Warning",
                "The pod {} is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload."),
    "IST0118": ("PortNameIsNotUnderNamingConvention", "Info",
                "Port name {} (port: {}, targetPort: {}) doesn't follow the naming convention of Istio port."),
    "IST0138": ("GatewayDuplicateCertificate", "Warning",
                "Duplicate certificate in multiple gateways {} may cause 404s if clients re-use HTTP2 connections."),
    "IST0144": ("InvalidApplicationUID", "Warning", "User ID (UID) 1337 is reserved for the sidecar proxy."),
    "IST0173": ("DestinationRuleSubsetNotSelectPods", "Error",
                "The Subset {} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."),
    "IST0174": ("UnknownDestinationRuleHost", "Warning",
                "The host {} defined in the DestinationRule does not match any services in the mesh."),
}


def _q(s: str) -> str:
    # Go %q
    return json.dumps(s)


def _same_certificate(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if not (rev.terminates_tls(a) and rev.terminates_tls(b)):
        return False
    ta, tb = a.get("tls") or {}, b.get("tls") or {}
    if ta.get("credentialName") and tb.get("credentialName"):
        return bool(ta["credentialName"] == tb["credentialName"])
    return bool(ta.get("serverCertificate")) and ta.get("serverCertificate") == tb.get("serverCertificate") \
        and ta.get("privateKey") == tb.get("privateKey")


def analyze_messages(world: World, namespace: str) -> list[dict[str, Any]]:
    """A few real analyzers, evaluated on the world (enough for the checks that cite IST codes)."""
    msgs: list[dict[str, Any]] = []

    def add(code: str, origin: str, *args: Any) -> None:
        name, level, tmpl = _TEMPLATES[code]
        if code == "IST0101":
            message = f"Referenced {args[0]} not found: {_q(args[1])}"
        else:
            message = tmpl.format(*args)
        msgs.append({"code": code, "documentationUrl": f"https://istio.io/v{world.istioctl.short}/docs/reference/config/analysis/{code.lower()}/",
                     "level": level, "message": message, "origin": origin})

    ns_labels = world.ns_labels(namespace)
    if namespace not in ("kube-system", "kube-public", world.control_plane.namespace) and \
            "istio-injection" not in ns_labels and "istio.io/rev" not in ns_labels:
        add("IST0102", f"Namespace {namespace}", namespace, namespace)
    for p in world.pods:
        if p.namespace != namespace:
            continue
        if ("istio-injection" in ns_labels and ns_labels["istio-injection"] == "enabled") and not p.injected \
                and p.labels.get("sidecar.istio.io/inject") != "false" and not p.workload.host_network:
            add("IST0103", f"Pod {namespace}/{p.name}", p.name)
        if any(c.run_as_user == 1337 for c in p.workload.containers) or p.workload.pod_run_as_user == 1337:
            add("IST0144", f"Pod {namespace}/{p.name}")
    for s in world.services:
        if s.namespace != namespace:
            continue
        for sp in s.ports:
            if rev.port_protocol(sp) == "UNKNOWN":
                add("IST0118", f"Service {namespace}/{s.name}", sp.name or "", sp.port, str(sp.target))
    for dr in world.resources("DestinationRule", namespace):
        host = dr["spec"].get("host", "")
        svc = next((s for s in world.services if world.host_matches(host, s.fqdn, namespace)), None)
        origin = f"DestinationRule {namespace}/{dr['metadata']['name']}"
        if svc is None and "*" not in host and not any(host in se["spec"].get("hosts", []) for se in world.resources("ServiceEntry")):
            add("IST0174", origin, host)
            continue
        for sub in dr["spec"].get("subsets") or []:
            if svc and not any(labels_match({**svc.selector, **(sub.get("labels") or {})}, p.labels) for p in world.pods
                               if p.namespace == svc.namespace):
                add("IST0173", origin, sub.get("name", ""))
    for vs in world.resources("VirtualService", namespace):
        origin = f"VirtualService {namespace}/{vs['metadata']['name']}"
        for g in vs["spec"].get("gateways") or []:
            if g == "mesh":
                continue
            gns, _, gname = g.rpartition("/")
            gns = gns or namespace
            if not any(x["metadata"]["name"] == gname for x in world.resources("Gateway", gns)):
                add("IST0101", origin, "gateway", f"{gns}/{gname}")
        for h in vs["spec"].get("http") or []:
            for d in h.get("route") or []:
                host = d["destination"]["host"]
                fq = host if "." in host and host.endswith(".svc.cluster.local") else (
                    f"{host}.{namespace}.svc.cluster.local" if "." not in host else f"{host}.svc.cluster.local")
                svc = next((s for s in world.services if s.fqdn == fq), None)
                se = any(host in se["spec"].get("hosts", []) for se in world.resources("ServiceEntry"))
                if svc is None and not se:
                    add("IST0101", origin, "host", host)
                    continue
                sub = d["destination"].get("subset")
                if sub:
                    dr = world.destination_rule(fq, namespace)
                    if not world.subset(dr, sub):
                        add("IST0101", origin, "host+subset in destinationrule", f"{host}+{sub}")
    # gateway.CertificateAnalyzer: the same certificate on Gateways selecting the same pods;
    # each Gateway reports [itself, the other] (Go %v of a []string)
    for g in world.resources("Gateway", namespace):
        gname = f"{namespace}/{g['metadata']['name']}"
        for o in world.resources("Gateway"):
            oname = f"{o['metadata']['namespace']}/{o['metadata']['name']}"
            if oname == gname or (o["spec"].get("selector") or {}) != (g["spec"].get("selector") or {}):
                continue
            if any(_same_certificate(a, b) for a in g["spec"].get("servers", []) for b in o["spec"].get("servers", [])):
                add("IST0138", f"Gateway {gname}", f"[{gname} {oname}]")
    for extra in world.analyze_extra:
        if extra.get("namespace", namespace) == namespace:
            msgs.append({k: v for k, v in extra.items() if k != "namespace"})
    return msgs


def analyze_json(world: World, namespace: str) -> str:
    msgs = analyze_messages(world, namespace)
    if not msgs:
        return "[]\n"
    # Go json.MarshalIndent(msgs, "", "\t")
    return json.dumps(msgs, indent="\t") + "\n"


def analyze_log(world: World, namespace: str) -> tuple[str, str, int]:
    """(stdout, stderr, exit code) of the default log format."""
    msgs = analyze_messages(world, namespace)
    if not msgs:
        return "", f"\u2714 No validation issues found when analyzing namespace: {namespace}.\n", 0
    lines = [f"{m['level']} [{m['code']}] ({m['origin']}) {m['message']}" for m in msgs]
    err = ""
    code = 0
    if any(m["level"] == "Error" for m in msgs):
        err = (f"Error: Analyzers found issues when analyzing namespace: {namespace}.\n"
               f"See https://istio.io/v{world.istioctl.short}/docs/reference/config/analysis for more information about causes and resolutions.\n")
        code = 79
    return "\n".join(lines) + "\n", err, code


# --------------------------------------------------------------------------- x describe pod


def describe_pod(world: World, pod: Pod) -> tuple[str, str, int]:
    """(stdout, stderr, exit) of `istioctl x describe pod`, current-version wording."""
    out: list[str] = []
    v = world.istioctl
    out.append(f"Pod: {pod.name}")
    if pod.injected:
        out.append("   Pod Revision: default")
    ports = [f"{p.port} ({c.name})" for c in pod.workload.containers for p in c.ports]
    if pod.injected:
        ports = ["15090 (istio-proxy)"] + ports
    out.append("   Pod Ports: " + ", ".join(ports) if ports else "   Pod does not expose ports")
    if any(c.run_as_user == 1337 for c in pod.workload.containers):
        out.append("   WARNING: User ID (UID) 1337 is reserved for the sidecar proxy.")
    if not pod.injected:
        out.append(f"WARNING: {pod.name}.{pod.namespace} is not part of mesh; no Istio sidecar")
        out.append("--------------------")
        err = (f"Error: failed to execute command on sidecar: error execing into {pod.name}/{pod.namespace} istio-proxy container: "
               f"container istio-proxy is not valid for pod {pod.name}\n")
        return "\n".join(out) + "\n", err, 1
    for c in pod.workload.containers:
        if not c.ready:
            out.append(f"WARNING: Pod {pod.name} Container {c.name} NOT READY")
    if not pod.proxy_ready:
        out.append(f"WARNING: Pod {pod.name} Container istio-proxy NOT READY")
    if "version" not in pod.labels and not pod.is_gateway:
        out.append("Suggestion: add 'version' label to pod for Istio telemetry.")
    svcs = world.services_selecting(pod)
    if not svcs:
        out.append(f"Warning: No Kubernetes Services select pod {pod.name}")
    for svc in svcs:
        out.append("--------------------")
        out.append(f"Service: {svc.name}")
        for sp in svc.ports:
            tp = world.target_port_number(pod, sp)
            proto = rev.port_protocol(sp)
            proto = {"UNKNOWN": "UnsupportedProtocol" if False else "TCP"}.get(proto, proto)
            if tp is None:
                out.append(f"   Port: {sp.name} {sp.port}/{proto} targets pod port {sp.target} (not found)")
            else:
                out.append(f"   Port: {sp.name} {sp.port}/{proto} targets pod port {tp}")
        dr = world.destination_rule(svc.fqdn, pod.namespace)
        if dr:
            m = dr["metadata"]
            out.append(f"DestinationRule: {m['name']}.{m['namespace']} for {_q(dr['spec']['host'])}")
            subsets = dr["spec"].get("subsets") or []
            if subsets:
                match = [s["name"] for s in subsets if labels_match(s.get("labels") or {}, pod.labels)]
                non = [s["name"] for s in subsets if s["name"] not in match]
                if match:
                    out.append(f"   Matching subsets: {','.join(match)}")
                    if non:
                        out.append(f"      (Non-matching subsets {','.join(non)})")
                else:
                    out.append(f"   WARNING POD DOES NOT MATCH ANY SUBSETS.  (Non matching subsets {','.join(non)})")
            mode = world.dr_tls_mode(dr, svc.ports[0].port)
            out.append(f"   Traffic Policy TLS Mode: {mode}" if mode else "   No Traffic Policy")
        vss = world.virtual_services(svc.fqdn, pod.namespace)
        for vs in vss[:1]:
            out.append(f"VirtualService: {vs['metadata']['name']}.{vs['metadata']['namespace']}")
            routes = vs["spec"].get("http") or []
            dr_sub = {s["name"] for s in (dr["spec"].get("subsets") or [])} if dr else set()
            pod_sub = {s["name"] for s in ((dr or {}).get("spec", {}).get("subsets") or [])
                       if labels_match(s.get("labels") or {}, pod.labels)}
            matched = 0
            for h in routes:
                for d in h.get("route") or []:
                    sub = d["destination"].get("subset")
                    if sub and not dr:
                        out.append(f"   Warning: Route to subset {sub} but NO DESTINATION RULE defining subsets!")
                    elif sub and sub not in dr_sub:
                        out.append(f"   Warning: Route to UNKNOWN subset {sub}; check DestinationRule {dr['metadata']['name']}")
                    elif not sub or sub in pod_sub:
                        matched += 1
                        if d.get("weight") is not None and len(h.get("route") or []) > 1:
                            out.append(f"   Weight {d['weight']}%")
                if h.get("fault", {}).get("abort"):
                    out.append(f"   Fault injection: abort {h['fault']['abort'].get('httpStatus', 503)}")
            if routes and not matched:
                out.append(f"   WARNING: No destinations match pod subsets (checked {len(routes)} HTTP routes)")
            elif routes:
                out.append(f"   {len(routes)} HTTP route(s)")
    out.append("--------------------")
    if v >= Ver(1, 9):
        tp0 = next((world.target_port_number(pod, sp) for s in svcs for sp in s.ports), None) or 0
        out.append("Effective PeerAuthentication:")
        out.append(f"   Workload mTLS mode: {world.peer_auth_mode(pod, 0)}")
        if tp0 and world.peer_auth_mode(pod, tp0) != world.peer_auth_mode(pod, 0):
            out.append("   Port Level mTLS mode:")
            out.append(f"      {tp0}: {world.peer_auth_mode(pod, tp0)}")
        pas = world.applied_peer_auths(pod)
        if pas:
            out.append("Applied PeerAuthentication:")
            out.append("   " + ", ".join(f"{p['metadata']['name']}.{p['metadata']['namespace']}" for p in pas))
    aps = [a for a in world.resources("AuthorizationPolicy")
           if a["metadata"]["namespace"] in (pod.namespace, world.control_plane.mesh.root_namespace)]
    if aps:
        out.append("RBAC policies: " + ", ".join(f"ns[{a['metadata']['namespace']}]-policy[{a['metadata']['name']}]-rule[0]" for a in aps))
    gws = [p for p in world.pods if p.is_gateway]
    exposed = any(pod in [] for _ in gws)
    if not gws:
        out.append("Skipping Gateway information (no ingress gateway pods)")
    elif svcs and any(
            any(world.host_matches(h, s.fqdn, vs["metadata"]["namespace"]) or h == "*" for h in vs["spec"].get("hosts", []))
            and any(world.host_matches(d["destination"]["host"], s.fqdn, vs["metadata"]["namespace"])
                    for hr in vs["spec"].get("http") or [] for d in hr.get("route") or [])
            for vs in world.resources("VirtualService") if vs["spec"].get("gateways") for s in svcs):
        out.append("")
        out.append("Exposed on Ingress Gateway http://172.18.255.200")
    del exposed
    return "\n".join(out) + "\n", "", 0
