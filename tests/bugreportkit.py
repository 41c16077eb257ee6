"""Build ``istioctl bug-report`` archives for tests, laid out file by file as istioctl does.

No real archive is published anywhere (maintainers receive them privately), so the fixtures are
assembled here, following istio/istio@86c9f01 ``tools/bug-report/pkg`` (``archive.go``: the
``bug-report/`` prefix or none with ``--dir``; ``bugreport.go``: ``versions``, per-pod
``istio-proxy.log``, ``discovery.log``, ``cni.log``; ``content.go``: ``cluster/k8s-resources``
as one ``kubectl get ... -o yaml`` List, ``k8s-cluster-resources`` since 1.30 (istio/istio#59352),
``crs``, ``events`` as ``kubectl get events -A -o wide``; ``common.go``: proxy admin files incl.
``config_dump?include_eds``, ztunnel ``config_dump``).

* :func:`corpus_tree`: real outputs from ``tests/fixtures`` (istioctl's own dump goldens, the
  SPIRE trust-bundle dump, a live ztunnel dump, real netstat / Envoy /clusters captures, access
  logs, analyze output) plus constructed files where no real sample exists (``versions``,
  ``syncz``, ``kubectl-version``), each named below.
* :func:`world_tree`: the same layout filled from a scenario world (``tests/scenariokit``),
  through ``WorldRunner``'s answers, so a diagnosis of the archive can be compared with the
  replay of the world's recording.
* :func:`write_archive`: a tree as ``.tar.gz`` / ``.tar`` / folder, with or without the prefix.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

FIX = Path(__file__).resolve().parent / "fixtures"
#: when the corpus archive was "taken" (member mtimes): after its dumps' workload certs expired
TAKEN_AT = datetime(2026, 1, 1, tzinfo=UTC)

Tree = dict[str, bytes]


def _yaml_list(items: list[dict[str, Any]]) -> bytes:
    doc = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).encode()



def _cluster_files(layout: str, namespaced: list[dict[str, Any]], cluster_scoped: list[dict[str, Any]],
                   events: list[dict[str, Any]]) -> Tree:
    """The cluster files as each istioctl writes them: from 1.30 namespaced and cluster-scoped
    objects apart and events as a table; before, one List with everything (events included)."""
    if layout == "1.30":
        return {"cluster/k8s-resources": _yaml_list(namespaced), "cluster/k8s-cluster-resources": _yaml_list(cluster_scoped),
                "cluster/events": events_table(events, TAKEN_AT).encode()}
    return {"cluster/k8s-resources": _yaml_list(cluster_scoped + namespaced + events)}

def _items(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    if path.suffix == ".json":
        doc = json.loads(text)
        return doc["items"] if "items" in doc else [doc]
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def go_version_dump(client: str, mesh: list[tuple[str, str, str]], proxies: dict[str, list[str]]) -> str:
    """bug-report's ``versions`` file (``dumpRevisionsAndVersions``: Go ``%#v`` of the structs)."""

    def build(v: str) -> str:
        return (f'version.BuildInfo{{Version:"{v}", GitRevision:"0123456789abcdef0123456789abcdef01234567", '
                f'GolangVersion:"go1.24.4", BuildStatus:"Clean", GitTag:"{v}"}}')

    text = f"CLI version:\n{build(client)}\n\n"
    text += "\u2705 The following Istio control plane revisions/versions were found in the cluster:\n"
    revs: dict[str, list[tuple[str, str]]] = {}
    for comp, rev, v in mesh:
        revs.setdefault(rev, []).append((comp, v))
    for rev, comps in revs.items():
        infos = ", ".join(f'version.ServerInfo{{Component:"{c}", Revision:"{rev}", Info:{build(v)}}}' for c, v in comps)
        text += f"Revision {rev}:\n&version.MeshInfo{{{infos}}}\n\n"
    text += "\u2705 The following proxy revisions/versions were found in the cluster:\n"
    for rev, vs in proxies.items():
        text += f"Revision {rev}: Versions {{{', '.join(vs)}}}\n"
    return text


def events_table(events: list[dict[str, Any]], now: datetime) -> str:
    """``kubectl get events -A -o wide`` (kubernetes pkg/printers/internalversion eventColumnDefinitions,
    wide columns included; ages as ``duration.HumanDuration``)."""

    def age(ts: str | None) -> str:
        if not ts:
            return "<unknown>"
        secs = int((now - datetime.fromisoformat(ts.replace("Z", "+00:00"))).total_seconds())
        if secs < 120:
            return f"{secs}s"
        if secs < 3600:
            return f"{secs // 60}m"
        if secs < 86400:
            return f"{secs // 3600}h{(secs % 3600) // 60}m" if (secs % 3600) // 60 else f"{secs // 3600}h"
        return f"{secs // 86400}d"

    rows = [["NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"]]
    for e in events:
        io_ = e.get("involvedObject") or {}
        src = e.get("source") or {}
        rows.append([e["metadata"].get("namespace", ""), age(e.get("lastTimestamp") or e.get("eventTime")), e.get("type", ""),
                     e.get("reason", ""), f"{str(io_.get('kind', '')).lower()}/{io_.get('name', '')}", io_.get("fieldPath", ""),
                     ", ".join(x for x in (src.get("component", ""), src.get("host", "")) if x),
                     e.get("message", ""), age(e.get("firstTimestamp")), str(e.get("count", 1)), e["metadata"]["name"]])
    widths = [max(len(r[i]) for r in rows) + 3 for i in range(len(rows[0]) - 1)]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[-1] + "\n" for r in rows)


def syncz(statuses: list[tuple[str, str, dict[str, str], str]]) -> bytes:
    """istiod ``debug/syncz`` (pilot/pkg/xds/debug.go ``SyncStatus``) for (proxy ID, cluster,
    per-type status, version): SYNCED = sent and acked nonces equal, STALE = acked an older
    one, NOT SENT = nothing sent."""
    keys = {"CDS": "cluster", "LDS": "listener", "EDS": "endpoint", "RDS": "route", "ECDS": "extensionconfig"}
    out = []
    for proxy, cluster, st, version in statuses:
        s: dict[str, Any] = {"cluster_id": cluster, "proxy": proxy, "proxy_type": "sidecar", "istio_version": version}
        for t, k in keys.items():
            v = st.get(t, "NOT SENT")
            if v.startswith("SYNCED"):
                s[f"{k}_sent"] = s[f"{k}_acked"] = "9f3a1c2e-0001"
            elif v.startswith("STALE") or v.startswith("ERROR"):
                s[f"{k}_sent"], s[f"{k}_acked"] = "9f3a1c2e-0002", "9f3a1c2e-0001"
        out.append(s)
    return json.dumps(out, indent=2).encode()


# -- the corpus archive ------------------------------------------------------------------------

HELLO = "hello-7d4f8b9c6d-abcde"  # has every proxy file
HELLO_NO_DUMP = "hello-5b8c7d6f4e-fghij"  # its config dump is missing (timed out): a pod with no dump
SPIRE_POD = "spire-client-6c9f7d-k2x8q"
ZTUNNEL = "ztunnel-4tq2m"
ISTIOD = "istiod-6d9f8b7c5-xyz12"


def corpus_tree(*, layout: str = "1.30") -> Tree:
    """Real corpus outputs laid out as a bug-report (``layout``: ``"1.30"`` split cluster files,
    ``"1.29"`` the single older ``k8s-resources`` with events as objects)."""
    live = FIX / "kube" / "live"
    pods = _items(live / "pods_native_and_classic.json")
    namespaced = (pods + _items(live / "services.json") + _items(live / "endpointslices.json")
                  + _items(live / "replicasets.json") + _items(FIX / "kube" / "configmaps" / "sidecar-injector-configmap.yaml"))
    cluster_scoped = _items(live / "namespaces.json") + _items(live / "webhooks_canary.json")
    events = _items(live / "events.json")
    t: Tree = _cluster_files(layout, namespaced, cluster_scoped, events)
    crs: list[dict[str, Any]] = []
    for f in ("virtual-service-all-v1.yaml", "destination-rule-all.yaml"):
        for o in _items(FIX / "istio" / "bookinfo" / f):
            o.setdefault("metadata", {}).setdefault("namespace", "default")
            crs.append(o)
    t["cluster/crs"] = _yaml_list(crs)
    t["cluster/secrets"] = b"NAMESPACE      NAME              TYPE                DATA   AGE\nistio-system   istio-ca-secret   istio.io/ca-root   5      30d\n"
    # constructed: `kubectl version` text (kubectl cmd/version prints these three lines)
    t["cluster/kubectl-version"] = b"Client Version: v1.30.2\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\nServer Version: v1.29.4\n"
    t["cluster/cluster-context"] = b"kind-bugreport\nhttps://127.0.0.1:6443\n"
    t["versions"] = go_version_dump("1.30.0", [("pilot", "default", "1.30.0")], {"default": ["1.30.0"]}).encode()
    t["bug-report.log"] = b"2026-01-01T00:00:00.000000Z\tinfo\tRunning with the following config: \n"
    p = f"proxies/default/{HELLO}/"
    t[p + "config_dump?include_eds"] = (FIX / "envoy" / "pc_all_config_dump.json").read_bytes()
    t[p + "istio-proxy.log"] = (FIX / "logs" / "access_log_server_inbound.txt").read_bytes()
    t[p + "netstat"] = (FIX / "exec" / "netstat-natpw_real_this_host.txt").read_bytes()
    t[p + "clusters"] = (FIX / "exec" / "envoy-admin-clusters_istio-37122_unhealthy_eds_1.14.txt").read_bytes()
    t[p + "stats/prometheus"] = (
        "# TYPE envoy_listener_no_filter_chain_match counter\n"
        'envoy_listener_no_filter_chain_match{envoy_listener_address="0.0.0.0_15006"} 7\n'
        "# TYPE envoy_cluster_ssl_fail_verify_san counter\n"
        'envoy_cluster_ssl_fail_verify_san{cluster_name="outbound|9080||reviews.default.svc.cluster.local"} 3\n'
        'istio_requests_total{response_code="200",reporter="destination"} 12\n').encode()
    t[f"proxies/default/{HELLO_NO_DUMP}/istio-proxy.log"] = (FIX / "logs" / "access_log_client_outbound.txt").read_bytes()
    t[f"proxies/spire/{SPIRE_POD}/config_dump?include_eds"] = (FIX / "envoy" / "secret_spire_config_dump.json").read_bytes()
    z = f"proxies/istio-system/{ZTUNNEL}/"
    t[z + "config_dump"] = (FIX / "corpus" / "captured" / "configdump" / "kiali" / "ztunnel-config.json").read_bytes()
    t[z + "istio-proxy.log"] = (FIX / "logs" / "ztunnel-1273_ambient_rbac_rejection.log").read_bytes()
    i = f"istio/istio-system/{ISTIOD}/"
    t[i + "discovery.log"] = b"2026-01-01T00:00:00.000000Z\tinfo\tads\tADS: new connection for node:hello-7d4f8b9c6d-abcde.default-1\n"
    t[i + "debug/syncz"] = syncz([(f"{HELLO}.default", "Kubernetes", {"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "SYNCED",
                                                                      "RDS": "STALE"}, "1.30.0")])
    t["cni/istio-cni-node-x7k2p/cni.log"] = (FIX / "bugreport" / "cni_istio-52208_ns_enabled_add_pod.log").read_bytes()
    t["analyze/allNamespaces/allNamespaces"] = (FIX / "analyze" / "captured" / "istio-36048_ist0101_exportto_1.12.txt").read_bytes()
    return t


# -- an archive from a scenario world ----------------------------------------------------------


def _run(runner: Any, *argv: str) -> str:
    res = runner.run_sync(list(argv))
    return res.stdout if res.exit_code in (0, 79) else ""


def _json_items(text: str) -> list[dict[str, Any]]:
    return json.loads(text).get("items", []) if text.strip() else []


_STAT = re.compile(r"^(cluster|listener)\.(.+?)\.([a-z_][a-z0-9_.]*): (\d+)$")
_LISTENER = re.compile(r"^listener\.((?:[\d.]+|\[[^\]]*\])_\d+)\.(.+): (\d+)$")


def prometheus_from_stats(text: str, cluster_names: set[str]) -> str:
    """Envoy ``/stats`` as ``/stats/prometheus`` for the cluster and listener scopes (the names
    Envoy's tag extraction produces: ``envoy_cluster_<stat>{cluster_name=...}``)."""
    out = []
    for line in text.splitlines():
        m = _LISTENER.match(line)
        if m:
            out.append(f'envoy_listener_{m[2].replace(".", "_")}{{envoy_listener_address="{m[1]}"}} {m[3]}')
            continue
        if line.startswith("cluster."):
            name, _, rest = line[len("cluster."):].rpartition(": ")
            for c in sorted(cluster_names, key=len, reverse=True):
                if name.startswith(c + "."):
                    out.append(f'envoy_cluster_{name[len(c) + 1:].replace(".", "_")}{{cluster_name="{c}"}} {rest}')
                    break
    return "\n".join(out) + "\n"


def world_tree(world: Any, *, layout: str = "1.30") -> Tree:
    """The archive istioctl bug-report would write for ``world`` (same facts as its recording)."""
    from tests.scenariokit import render_istioctl
    from tests.scenariokit.runner import WorldRunner

    r = WorldRunner(world)
    cp_ns = world.control_plane.namespace
    namespaced: list[dict[str, Any]] = []
    ambient = getattr(world, "ambient", None) is not None
    # content.go: `all` lists DaemonSets too, and `networkpolicies` is asked by name
    kinds = ("pods", "services", "deployments", "replicasets", "endpointslices") + (
        ("daemonsets", "networkpolicies.networking.k8s.io") if ambient else ())
    for kind in kinds:
        namespaced += _json_items(_run(r, "kubectl", "get", kind, "--all-namespaces", "-o", "json"))
    namespaced += _json_items(_run(r, "kubectl", "get", "configmaps", "-n", cp_ns, "-o", "json"))
    nodes = _json_items(_run(r, "kubectl", "get", "nodes", "-o", "json")) if ambient else []
    cluster_scoped = (_json_items(_run(r, "kubectl", "get", "namespaces", "-o", "json"))
                      + _json_items(_run(r, "kubectl", "get", "mutatingwebhookconfigurations", "-o", "json"))
                      + _json_items(_run(r, "kubectl", "get", "customresourcedefinitions", "-o", "json")) + nodes)
    events = _json_items(_run(r, "kubectl", "get", "events", "--all-namespaces", "-o", "json"))
    t: Tree = _cluster_files(layout, namespaced, cluster_scoped, events)
    if nodes:
        t["cluster/nodes"] = _yaml_list(nodes)
    if ambient:
        _ambient_files(t, r, world)
    from tests.scenariokit.runner import _ISTIO_KINDS

    crs: list[dict[str, Any]] = []
    for word in _ISTIO_KINDS:
        crs += _json_items(_run(r, "kubectl", "get", word, "--all-namespaces", "-o", "json"))
    t["cluster/crs"] = _yaml_list(crs)
    kv = json.loads(render_istioctl.kubectl_version_json(world))
    t["cluster/kubectl-version"] = (f"Client Version: {kv['clientVersion']['gitVersion']}\n"
                                    f"Kustomize Version: {kv['kustomizeVersion']}\n"
                                    f"Server Version: {kv['serverVersion']['gitVersion']}\n").encode()
    iv = json.loads(render_istioctl.version_json(world))
    mesh = [(m["Component"], m["Revision"], m["Info"]["version"]) for m in iv.get("meshVersion") or []]
    proxies = sorted({d["IstioVersion"] for d in iv.get("dataPlaneVersion") or []})
    t["versions"] = go_version_dump(iv["clientVersion"]["version"], mesh, {"default": proxies} if proxies else {}).encode()
    statuses = []
    for p in world.pods:
        if p.namespace in ("kube-system", "kube-public", "kube-node-lease", "local-path-storage"):
            continue  # bug-report never visits these (inject.IgnoredNamespaces)
        if not (p.injected and not p.init_failed):
            continue
        base = f"proxies/{p.namespace}/{p.name}/"
        log = _run(r, "kubectl", "logs", p.name, "-n", p.namespace, "-c", "istio-proxy")
        if log:
            t[base + "istio-proxy.log"] = log.encode()
        dump = _run(r, "istioctl", "proxy-config", "all", p.name, "-n", p.namespace, "-o", "json")
        if not dump:
            continue
        t[base + "config_dump?include_eds"] = dump.encode()
        t[base + "netstat"] = _run(r, "kubectl", "exec", p.name, "-n", p.namespace, "-c", "istio-proxy", "--", "netstat", "-tln").encode()
        t[base + "clusters"] = _run(r, "kubectl", "exec", p.name, "-n", p.namespace, "-c", "istio-proxy", "--",
                                    "pilot-agent", "request", "GET", "clusters").encode()
        names = {c["cluster"]["name"] for s in json.loads(dump)["configs"] if "Clusters" in s["@type"]
                 for k in ("static_clusters", "dynamic_active_clusters") for c in s.get(k, [])}
        stats = _run(r, "kubectl", "exec", p.name, "-n", p.namespace, "-c", "istio-proxy", "--", "pilot-agent", "request", "GET", "stats")
        t[base + "stats/prometheus"] = prometheus_from_stats(stats, names).encode()
        if p.workload.proxy.connected:
            statuses.append((f"{p.name}.{p.namespace}", world.cluster_id, render_istioctl._xds(world, p), world.proxy_version(p.workload)))
    istiods = [p for p in world.pods if p.workload.name == "istiod" and p.namespace == cp_ns]
    for p in istiods[:1]:
        t[f"istio/{cp_ns}/{p.name}/discovery.log"] = b"info\tads\tADS: new connection\n"
        t[f"istio/{cp_ns}/{p.name}/debug/syncz"] = syncz(statuses)
    analyzed = []
    for ns in sorted({n.name for n in world.namespaces} | {"default", cp_ns}):
        out, _err, _code = render_istioctl.analyze_log(world, ns)
        analyzed.append(out)
    if "".join(analyzed).strip():
        t["analyze/allNamespaces/allNamespaces"] = "".join(analyzed).encode()
    return t


def _ambient_files(t: Tree, r: Any, world: Any) -> None:
    """ztunnel as a proxy with only its admin ``config_dump`` and ``istio-proxy.log`` (istio/istio
    tools/bug-report/pkg/common/common.go ztunnelDebugURLs, PR #43878), istio-cni's log as
    ``cni/<pod>/cni.log`` for every k8s-app=istio-cni-node pod (bugreport.go getCniLogs, PR
    #45712). Each is what the kit answers for the same ask, so the archive holds the recording's facts."""
    for selector, kind in (("app=ztunnel", "ztunnel"), ("k8s-app=istio-cni-node", "cni")):
        for pod in _json_items(_run(r, "kubectl", "get", "pods", "--all-namespaces", "-l", selector, "-o", "json")):
            name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
            if kind == "ztunnel":
                dump = _run(r, "istioctl", "ztunnel-config", "all", name, "-n", ns, "-o", "json")
                if dump.strip():
                    t[f"proxies/{ns}/{name}/config_dump"] = dump.encode()
                log = _run(r, "kubectl", "logs", name, "-n", ns)
                if log.strip():
                    t[f"proxies/{ns}/{name}/istio-proxy.log"] = log.encode()
            else:
                log = _run(r, "kubectl", "logs", name, "-n", ns, "-c", "install-cni")
                if log.strip():  # writeFile skips an empty output
                    t[f"cni/{name}/cni.log"] = log.encode()


# -- writing -----------------------------------------------------------------------------------


def write_archive(tree: Tree, dest: Path, *, form: str = "tgz", prefix: bool = True, mtime: datetime = TAKEN_AT) -> Path:
    """``tree`` as ``dest`` (``form``: ``tgz``, ``tar`` or ``dir``); entries start with
    ``bug-report/`` when ``prefix`` (istioctl's default) and not with ``--dir``."""
    root = "bug-report/" if prefix else ""
    if form == "dir":
        for name, data in tree.items():
            p = dest / root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        return dest
    mode = "w:gz" if form == "tgz" else "w"
    with tarfile.open(dest, mode, format=tarfile.PAX_FORMAT) as tf:  # Go's archive/tar writes PAX for long names
        for name in sorted(tree):
            data = tree[name]
            ti = tarfile.TarInfo(root + name)
            ti.size = len(data)
            ti.mtime = int(mtime.timestamp())
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return dest


# -- a big archive (memory) --------------------------------------------------------------------


def big_archive(dest: Path, *, pods: int, dump_mb: float, namespaces: int = 4) -> dict[str, Any]:
    """A ``.tar.gz`` with ``pods`` sidecars each holding a ``dump_mb`` config dump (the bench's
    generated dump), an access log and netstat, written member by member: neither this
    function nor the reader ever holds more than one dump. Returns what it wrote."""
    import gzip
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from gen_dump import generate_text  # type: ignore[import-not-found]

    dump = generate_text(dump_mb).encode()
    log = (FIX / "logs" / "access_log_server_inbound.txt").read_bytes()
    netstat = (FIX / "exec" / "netstat-natpw_real_this_host.txt").read_bytes()
    names = [(f"shop-{i % namespaces}", f"web-{i:04d}-5d8f7c9b6-q2w3e") for i in range(pods)]
    pod_objs = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": n, "namespace": ns, "labels": {
        "app": "web", "security.istio.io/tlsMode": "istio"}, "annotations": {"sidecar.istio.io/status": "{}"}},
        "spec": {"containers": [{"name": "web", "image": "web:1"}, {"name": "istio-proxy", "image": "proxyv2:1.30.0"}]},
        "status": {"phase": "Running"}} for ns, n in names]
    head: Tree = {"cluster/k8s-resources": _yaml_list(pod_objs), "cluster/k8s-cluster-resources": _yaml_list(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"shop-{i}"}} for i in range(namespaces)]),
        "versions": go_version_dump("1.30.0", [("pilot", "default", "1.30.0")], {"default": ["1.30.0"]}).encode()}
    t0 = time.perf_counter()
    total = 0
    # level 1: what matters here is the reader, and a test must not spend its time compressing
    with gzip.open(dest, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        def add(name: str, data: bytes) -> None:
            nonlocal total
            ti = tarfile.TarInfo("bug-report/" + name)
            ti.size, ti.mtime, ti.mode = len(data), int(TAKEN_AT.timestamp()), 0o644
            tf.addfile(ti, io.BytesIO(data))
            total += len(data)

        for name, data in head.items():
            add(name, data)
        for ns, pod in names:
            base = f"proxies/{ns}/{pod}/"
            add(base + "config_dump?include_eds", dump)
            add(base + "istio-proxy.log", log)
            add(base + "netstat", netstat)
    return {"pods": pods, "names": names, "uncompressed_bytes": total, "compressed_bytes": dest.stat().st_size,
            "dump_bytes": len(dump), "write_s": round(time.perf_counter() - t0, 2)}


MEMORY_PROBE = r'''
import asyncio, json, random, sys, time
from istio_doctor.evidence.bugreport.runner import BugReportRunner
from istio_doctor.evidence.kinds import BuildArgs, Need, ParseEnv
from istio_doctor.evidence.target import Connection

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

base = status("VmRSS")
path, pods = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
runner = BugReportRunner(path)
index_s = time.perf_counter() - t0
random.Random(14).shuffle(pods)
t1 = time.perf_counter()
for ns, pod in pods:  # in an order unrelated to the archive's
    for need in (Need.CONFIG_DUMP, Need.PROXY_LOGS, Need.SOCKETS):
        argv = need.build(Connection(), BuildArgs(namespace=ns, name=pod)).argv
        res = asyncio.run(runner.run(list(argv)))
        value = need.parse(res.stdout, ParseEnv(command=res.command_line))
        del res, value
logs = asyncio.run(runner.run(list(Need.NAMESPACE_PROXY_LOGS.build(Connection(), BuildArgs(namespace=pods[0][0])).argv)))
print(json.dumps({"baseline_mb": base, "peak_mb": status("VmHWM"), "index_s": index_s,
                  "read_s": time.perf_counter() - t1, "checkpoints": len(runner.archive._checkpoints)}))
'''


def probe_memory(path: Path, pods: list[tuple[str, str]]) -> dict[str, float]:
    """In a fresh process (its own peak): open the archive, read and parse ``pods``' dumps, logs
    and netstat in random order, and one namespace's logs; VmHWM is the peak."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), json.dumps(pods)], capture_output=True, text=True,
                         check=True, cwd=root)
    return json.loads(out.stdout)
