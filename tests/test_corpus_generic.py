"""Every file of the shared real-output corpus, parsed by the parser for its format.

``tests/fixtures/corpus`` is a verbatim copy of the shared corpus (see its README.md; provenance
per file in ``istio/SOURCES.md`` and ``captured/SOURCES.md``). One parametrized test walks the
whole tree: each file is routed to a handler by folder and content (``route``), or listed in
``NOT_APPLICABLE`` with the reason nothing in istio-doctor reads that kind of text. A second
test makes sure nothing is silently skipped: every file is routed or listed, never both.

A file may only raise the parser's ``ParseError``, and only where ``EXPECT_PARSE_ERROR`` says the
input is not parseable (documentation excerpts elided with ``...``, a deliberately invalid
manifest, a ztunnel dump). ``KNOWN_PARSER_BUGS`` are files that should parse but do not: strict
xfails, so the suite stays green and the bug stays visible until the parser is fixed.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from istio_doctor.engine.checks.injection.injected import _INIT_ERR
from istio_doctor.engine.mesh.injection import _WEBHOOK_CALL, INJECTOR_SUFFIX
from istio_doctor.evidence import istio as im
from istio_doctor.evidence import kube as km
from istio_doctor.evidence.accesslog import parse_proxy_log
from istio_doctor.evidence.analyze import catalogue, messages_from_status, parse_analyze
from istio_doctor.evidence.describe import parse_describe_pod
from istio_doctor.evidence.envoy import views as v
from istio_doctor.evidence.envoy.configdump import parse_config_dump
from istio_doctor.evidence.envoystats import parse_envoy_clusters
from istio_doctor.evidence.errors import ParseError
from istio_doctor.evidence.meshconfig import control_plane_configs, parse_injector_config, parse_mesh_config
from istio_doctor.evidence.proxystatus import parse_proxy_status, parse_proxy_status_diff
from istio_doctor.evidence.recording import RecordingError
from tests import corpus_ambient

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file())

#: the instant secrets in the proxy-config goldens are judged at (as in test_proxyconfig_views.py)
NOW = datetime(2024, 1, 1, tzinfo=UTC)

# --------------------------------------------------------------------------------------
# files nothing in istio-doctor parses
# --------------------------------------------------------------------------------------

_TABLE_WE_DERIVE = "istioctl proxy-config table: istio-doctor derives this view from a config dump, it never parses it"
_KUBECTL_TABLE = "`kubectl get` TABLE text: istio-doctor always asks kubectl for -o json"
_NOT_OURS = "output of a tool istio-doctor does not run or read"

NOT_APPLICABLE: dict[str, str] = {
    # captured/: istioctl proxy-config tables (the tool renders these from the dump)
    "captured/proxy-config/istio-24867_clusters_table_1.7.txt": _TABLE_WE_DERIVE,
    "captured/proxy-config/istio-24867_routes_table_vs_column_1.7.txt": _TABLE_WE_DERIVE,
    "captured/proxy-config/istio-43821_pc_all_waypoint_ambient_1.18.txt": _TABLE_WE_DERIVE,
    "captured/proxy-config/istio-43907_ztunnel_secrets_dev.txt": _TABLE_WE_DERIVE + " (of a ztunnel dump)",
    "captured/proxy-config/istio-45979_egressgw_clusters_dr_column_1.18.txt": _TABLE_WE_DERIVE,
    "captured/proxy-config/istio-47942_listener_table_excerpt.txt": _TABLE_WE_DERIVE,
    "captured/proxy-config/istio-9440_clusters_no_header_1.0.txt": _TABLE_WE_DERIVE,
    "captured/proxy-config/istioio-8480_secret_decimal_serial_1.8.txt": _TABLE_WE_DERIVE,
    "istio/docs/istio.io/proxy-cmd/proxy-config_listeners_productpage.txt": _TABLE_WE_DERIVE,
    # istio/proxy-config goldens of views istio-doctor does not render
    "istio/proxy-config/ecds/output.yaml": "golden of `proxy-config ecds -o yaml`: istio-doctor renders the ECDS table only "
    "(the same filters are parsed from output.json and configdump.json)",
    "istio/proxy-config/log/logging.txt": "Envoy admin /logging (logger levels): istio-doctor never reads it",
    # kubectl tables and grep fragments
    "istio/docs/istio.io/injection/kubectl_get_endpoints_istiod.txt": _KUBECTL_TABLE,
    "istio/docs/istio.io/injection/kubectl_get_namespace_L_istio-injection_optin.txt": _KUBECTL_TABLE,
    "istio/docs/istio.io/injection/kubectl_get_namespace_L_istio-injection_optout.txt": _KUBECTL_TABLE,
    "istio/docs/istio.io/injection/kubectl_get_pod_istiod.txt": _KUBECTL_TABLE,
    "istio/docs/istio.io/sidecar-injection/kubectl_get_pod_sleep_injected.txt": _KUBECTL_TABLE,
    "istio/docs/istio.io/sidecar-injection/kubectl_get_pod_sleep_reinjected.txt": _KUBECTL_TABLE,
    "istio/docs/istio.io/sidecar-injection/kubectl_get_pod_sleep_uninjected.txt": _KUBECTL_TABLE,
    "istio/docs/istio.io/injection/kubectl_get_mwc_namespaceSelector_optin.txt": "`grep -A5` fragment of a "
    "MutatingWebhookConfiguration, not a whole object (the tool reads the webhook configuration as JSON)",
    "istio/docs/istio.io/injection/kubectl_get_mwc_namespaceSelector_optout.txt": "`grep -A5` fragment of a "
    "MutatingWebhookConfiguration, not a whole object (the tool reads the webhook configuration as JSON)",
    # client-side tools and prose
    "istio/docs/istio.io/access-log/access_log_default_format.txt": "the access-log FORMAT string (doc prose), not a log",
    "istio/docs/istio.io/circuit-breaking/fortio_circuit_breaker_503.txt": _NOT_OURS + " (fortio load generator)",
    "istio/docs/istio.io/egress-control/curl_registry_only_blocked.txt": _NOT_OURS + " (curl in kubectl exec)",
    "istio/docs/istio.io/egress-control/curl_timeout_504.txt": _NOT_OURS + " (curl + time)",
    "istio/docs/istio.io/mtls-migration/curl_matrix_namespace_strict_mtls.txt": _NOT_OURS + " (curl loop in the docs)",
    "istio/docs/istio.io/proxy-cmd/pilot-agent_server_info_version.json": "Envoy server_info via `pilot-agent request`: "
    "the tool reads versions from `istioctl version` and the bootstrap node",
    "istio/analyze/analyzers/testdata/common/meshnetworks.yaml": "MeshNetworks (multicluster gateways): istio-doctor "
    "does not read it",
    # inputs to `istioctl kube-inject` flags, not cluster state
    "istio/inject/istioctl-kubeinject/inject-values.yaml": "`kube-inject --valuesFile` input (YAML); the tool reads the "
    "injector ConfigMap's `values` key, which istiod always writes as JSON",
}

# --------------------------------------------------------------------------------------
# files whose correct outcome is a ParseError (the tool must say so, not crash)
# --------------------------------------------------------------------------------------

EXPECT_PARSE_ERROR: dict[str, str] = {
    "captured/configdump/kiali/ztunnel-config.json": "a ztunnel /config_dump is not an Envoy config dump",
    "istio/analyze/integration/invalid.yaml": "deliberately invalid YAML (istioctl analyze must report it too)",
    "istio/docs/istio.io/proxy-cmd/proxy-config_bootstrap_ingressgateway.json": "doc excerpt elided with `...`: not JSON",
    "istio/docs/istio.io/proxy-cmd/proxy-config_cluster_fqdn_reviews.json": "doc excerpt with a trailing comma: not JSON",
    "istio/docs/istio.io/proxy-cmd/proxy-config_routes_name9080.json": "doc excerpt elided with `...`: not JSON",
    "istio/docs/istio.io/proxy-cmd/proxy-config_listeners_0.0.0.0_9080_rds_excerpt.txt": "doc excerpt elided with `...`: "
    "a fragment of one listener, not JSON",
    "istio/docs/istio.io/circuit-breaking/kubectl_get_destinationrule_httpbin.yaml": "doc excerpt elided with `...` inside "
    "metadata: not YAML",
    "istio/docs/istio.io/istioctl-analyze/vs_status_validationMessages_new.yaml": "doc excerpt elided with `...` lines: "
    "not YAML",
    "istio/docs/istio.io/istioctl-analyze/vs_status_validationMessages_v1.9.yaml": "doc excerpt elided with `...` lines: "
    "not YAML",
    # analyzer inputs the API server itself would reject (the CRD / core schema marks the field required),
    # so `kubectl get` can never return them; the error must name the object and the field.
    "istio/analyze/analyzers/testdata/conflicting-gateways-invalid-port.yaml": "Gateway server without `port`, "
    "required by the Gateway CRD schema",
    "istio/analyze/istioctl/specific-analyzer.yaml": "Gateway servers without `port`, required by the Gateway CRD schema",
    "istio/analyze/analyzers/testdata/virtualservice_destinationhosts.yaml": "VirtualService route `{}` without "
    "`destination`, required by the VirtualService CRD schema",
    "istio/analyze/analyzers/testdata/sidecar-default-selector.yaml": "Pod container without `name`, required by the "
    "core API",
}

#: what each of those errors must say (the user has to be able to act on it)
ERROR_SAYS: dict[str, str] = {
    "captured/configdump/kiali/ztunnel-config.json": "this is not an Envoy config dump",
    "istio/analyze/integration/invalid.yaml": "expected an object, got str",
    "istio/docs/istio.io/proxy-cmd/proxy-config_bootstrap_ingressgateway.json": "not valid JSON",
    "istio/docs/istio.io/proxy-cmd/proxy-config_cluster_fqdn_reviews.json": "not valid JSON",
    "istio/docs/istio.io/proxy-cmd/proxy-config_routes_name9080.json": "not valid JSON",
    "istio/docs/istio.io/proxy-cmd/proxy-config_listeners_0.0.0.0_9080_rds_excerpt.txt": "not valid JSON",
    "istio/docs/istio.io/circuit-breaking/kubectl_get_destinationrule_httpbin.yaml": "invalid YAML at line 6",
    "istio/docs/istio.io/istioctl-analyze/vs_status_validationMessages_new.yaml": "invalid YAML at line 4",
    "istio/docs/istio.io/istioctl-analyze/vs_status_validationMessages_v1.9.yaml": "invalid YAML at line 4",
    "istio/analyze/analyzers/testdata/conflicting-gateways-invalid-port.yaml": "Gateway beta",
    "istio/analyze/istioctl/specific-analyzer.yaml": "spec.servers.0.port: Field required",
    "istio/analyze/analyzers/testdata/virtualservice_destinationhosts.yaml": "spec.http.0.route.0.destination: Field required",
    "istio/analyze/analyzers/testdata/sidecar-default-selector.yaml": "Pod ns1/random-pod",
}

#: files that should parse and do not: parser bugs, reported to the lead; strict xfails.
KNOWN_PARSER_BUGS: dict[str, str] = {}  # the four found (1.1/headerless endpoint tables, space-rendered log tabs) are fixed

# --------------------------------------------------------------------------------------
# routing: first matching pattern wins (fnmatch on the path relative to the corpus root)
# --------------------------------------------------------------------------------------

ROUTES: list[tuple[str, str]] = [
    # provenance and licences
    ("README.md", "provenance"),
    ("*/SOURCES.md", "provenance"),
    ("istio/LICENSE", "licence"),
    ("captured/LICENSES/*", "licence"),
    # analyze catalogue data
    ("istio/analyze/messages.yaml", "catalogue"),
    ("istio/analyze/analyzers/expected-messages.yaml", "expected_messages"),
    # injector config / mesh config files given to kube-inject
    ("istio/inject/istioctl-kubeinject/inject-config*.yaml", "injector_config"),
    ("istio/inject/istioctl-kubeinject/mesh-config.yaml", "mesh_config"),
    ("istio/analyze/analyzers/testdata/mesh-with-automtls.yaml", "mesh_config"),
    ("istio/analyze/analyzers/testdata/*mesh-cfg.yaml", "mesh_config"),
    ("istio/analyze/analyzers/testdata/telemetry-lightstep-meshconfig.yaml", "mesh_config"),
    # Kubernetes / Istio manifests
    ("istio/analyze/*", "manifests"),
    ("istio/config/*", "manifests"),
    ("istio/crds/*", "manifests"),
    ("istio/inject/*", "manifests"),
    # proxy-config goldens (derived views; the derivation must equal them)
    ("istio/proxy-config/all/config_dump_summary.txt", "golden"),
    ("istio/proxy-config/bootstrap/versionsummary.txt", "golden"),
    ("istio/proxy-config/ecds/output.txt", "golden"),
    ("istio/proxy-config/endpoint/emptyfilter_output.*", "golden"),
    ("istio/proxy-config/routes/*/output.txt", "golden"),
    ("istio/proxy-config/secret/istio/output", "golden"),
    # Envoy config dumps and per-type proxy-config JSON
    ("istio/proxy-config/*.json", "config_dump"),
    ("istio/configdump/*", "config_dump"),
    ("istio/describe/*.json", "config_dump"),
    ("captured/configdump/*", "config_dump"),
    ("captured/proxy-config/liucw2012-istio/eds.json", "config_dump+clusters"),
    ("captured/proxy-config/liucw2012-istio/*.json", "config_dump"),
    ("istio/docs/istio.io/proxy-cmd/*.json", "config_dump"),
    ("istio/docs/istio.io/proxy-cmd/*_excerpt.txt", "config_dump"),
    # Envoy /clusters text and endpoint tables
    ("captured/proxy-config/*", "envoy_clusters"),
    # proxy-status (table, json, yaml; single-pod diff sniffed by content)
    ("*/proxy-status/*", "proxy_status"),
    ("istio/docs/istio.io/proxy-cmd/proxy-status_*.txt", "proxy_status"),
    # istioctl analyze output and in-cluster analysis status
    ("captured/analyze/*", "analyze"),
    ("istio/docs/istio.io/istioctl-analyze/*.txt", "analyze"),
    ("istio/docs/istio.io/istioctl-analyze/*.yaml", "status_messages"),
    ("istio/docs/istio.io/circuit-breaking/*.yaml", "manifests"),
    # istioctl x describe pod
    ("*/describe/*", "describe"),
    ("istio/docs/istio.io/istioctl-describe/*", "describe"),
    # proxy / component logs (an istio-validation init-container line goes to the INJ-INIT-FAIL filter)
    ("captured/access-logs/istio-22913_istio_validation_*", "init_log"),
    ("captured/access-logs/*", "proxy_log"),
    ("istio/logs/*", "proxy_log"),
    ("istio/docs/istio.io/access-log/*", "proxy_log"),
    ("istio/docs/istio.io/egress-control/access_log_*", "proxy_log"),
    ("istio/docs/istio.io/network-issues/*", "proxy_log"),
    # kubectl describe / events / apiserver log text: the injector-webhook failure regex
    ("captured/events/*.yaml", "replicaset_status"),
    ("captured/events/*", "event_text"),
    ("captured/kubectl/*", "event_text"),
    ("istio/docs/istio.io/injection/kubectl_get_configmap_injector_policy.txt", "injector_config"),
    ("istio/docs/istio.io/injection/*", "event_text"),
]


# ambient files (ztunnel, waypoints, istio-cni): routes and handlers live in tests/corpus_ambient.py
NOT_APPLICABLE.update(corpus_ambient.NOT_APPLICABLE)
EXPECT_PARSE_ERROR.update(corpus_ambient.EXPECT_PARSE_ERROR)
ERROR_SAYS.update(corpus_ambient.ERROR_SAYS)
ROUTES[:0] = corpus_ambient.ROUTES


def route(rel: str) -> str | None:
    for pattern, kind in ROUTES:
        if fnmatch.fnmatchcase(rel, pattern):
            return kind
    return None


# --------------------------------------------------------------------------------------
# handlers
# --------------------------------------------------------------------------------------

_SOURCES_ROW = re.compile(r"^\|\s*`([^`]+)`", re.M)


def h_provenance(rel: str, text: str) -> None:
    if rel == "README.md":
        assert "SOURCES.md" in text and "verbatim" in text
        return
    # every data file of this tree has a provenance row (no file without its source)
    root = (CORPUS / rel).parent
    listed = set(_SOURCES_ROW.findall(text))
    data = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name not in ("SOURCES.md", "LICENSE") and "LICENSES" not in p.parts
    }
    assert data, rel
    assert sorted(data - listed) == [], f"{rel} gives no provenance for these files"


def h_licence(rel: str, text: str) -> None:
    assert "Apache License" in text and "Version 2.0" in text


def h_catalogue(rel: str, text: str) -> None:
    msgs = yaml.safe_load(text)["messages"]
    assert len(msgs) > 50
    ours = catalogue()
    for m in msgs:
        assert m.get("name") and m.get("code", "").startswith("IST") and m.get("level") in ("Error", "Warning", "Info"), m
        # the tool's own catalogue knows every current code, by the same name and level
        assert m["code"] in ours, m["code"]
        assert (ours[m["code"]].name, ours[m["code"]].level) == (m["name"], m["level"]), m["code"]


def h_expected_messages(rel: str, text: str) -> None:
    cases = yaml.safe_load(text)["cases"]
    assert cases
    testdata = CORPUS / Path(rel).parent / "testdata"
    ours = catalogue()
    for case in cases:
        assert case.get("name") and case.get("inputs"), case
        for inp in case["inputs"]:
            assert (testdata / inp).is_file(), f"{case['name']}: input {inp} not in the corpus"
        for exp in case.get("expected") or []:
            assert exp.get("code") and exp.get("type") and exp.get("level"), exp
            assert exp["code"] in ours and ours[exp["code"]].name == exp["type"], exp


def h_injector_config(rel: str, text: str) -> None:
    cfg = parse_injector_config(text, command=f"file {rel}")
    assert cfg.policy in ("enabled", "disabled")
    if "templates:" in text:
        assert cfg.templates, rel


def h_mesh_config(rel: str, text: str) -> None:
    mesh = parse_mesh_config(text, command=f"file {rel}")
    # every top-level setting of the file is kept (typed or as an extra)
    assert set(yaml.safe_load(text)) <= set(mesh.model_dump(by_alias=True))


# kinds -> typed model (API group checked by the model's ``accepts``)
_TYPED: list[type[km.K8sObject]] = [
    km.Pod, km.Service, km.Namespace, km.EndpointSlice, km.Endpoints, km.Event, km.MutatingWebhookConfiguration,
    km.Deployment, km.ReplicaSet, km.ConfigMap, km.CustomResourceDefinition,
    im.VirtualService, im.DestinationRule, im.Gateway, im.ServiceEntry, im.WorkloadEntry, im.Sidecar,
    im.PeerAuthentication, im.AuthorizationPolicy, im.RequestAuthentication, im.EnvoyFilter, im.Telemetry,
    im.K8sGateway, im.K8sHTTPRoute,
]  # fmt: skip
_WORKLOADS = {"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def _raw_objects(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(doc: Any) -> None:
        if isinstance(doc, list):
            for d in doc:
                add(d)
        elif isinstance(doc, dict) and "items" in doc and str(doc.get("kind") or "List").endswith("List"):
            add(doc["items"] or [])
        elif isinstance(doc, dict):
            out.append(doc)
        else:  # a scalar document: parse_kube_list must refuse it with a ParseError
            km.parse_kube_list(text, km.K8sObject)
            raise AssertionError(f"parse_kube_list accepted a {type(doc).__name__} document")

    add(km.load_documents(text))
    return out


def h_manifests(rel: str, text: str) -> None:
    raw = _raw_objects(text)
    assert raw, "no object"
    everything = [km.validate_raw(r, km.K8sObject) for r in raw]
    for obj in everything:
        assert obj.kind and obj.api_version, f"document without kind/apiVersion: {obj.model_dump(by_alias=True)}"
    for model in _TYPED:
        want = [r for r in raw if r.get("kind") == model.KIND and model.accepts(r.get("kind"), r.get("apiVersion"))]
        if not want:
            continue  # (parsing a large file once per model would make this test slow)
        got = km.parse_kube_list(text, model, command=f"file {rel}")
        assert len(got) == len(want), model.__name__
        if model is km.ConfigMap and got:
            cp = control_plane_configs(got, command=f"file {rel}")
            if any(c.name == "istio" or c.name.startswith("istio-") and "mesh" in c.data for c in got):
                assert cp.mesh, "a mesh ConfigMap gave no MeshConfig"
            if any(c.name.startswith("istio-sidecar-injector") and "config" in c.data for c in got):
                assert cp.injectors and all(i.policy in ("enabled", "disabled") for i in cp.injectors.values())
                # current injectors name their templates (pre-1.9 ones have a single `template:`)
                for c in got:
                    if c.name.startswith("istio-sidecar-injector") and "\ntemplates:" in "\n" + c.data.get("config", ""):
                        assert any(i.templates for i in cp.injectors.values()), c.name
        if model is km.MutatingWebhookConfiguration:
            assert all(w.webhooks for w in got)
        if model is km.CustomResourceDefinition:
            # apiextensions/v1 (what kubectl returns today); a v1beta1 manifest may use `spec.version`
            assert all(c.served_versions for c in got if c.api_version == "apiextensions.k8s.io/v1")
    pods = []
    for r in raw:
        if r.get("kind") in _WORKLOADS:
            pod = km.pod_template_of(r)
            assert pod is not None, f"{r.get('kind')} without a pod template"
            pods.append((r, pod))
    if rel.endswith(".injected"):
        # what the injector says it added (sidecar.istio.io/status) is what the pod spec holds
        for r, pod in pods:
            status = pod.injection_status
            if status is None and r.get("kind") == "CronJob":
                # kube-inject annotates a CronJob's jobTemplate, not its pod template
                job_meta = ((r.get("spec") or {}).get("jobTemplate") or {}).get("metadata") or {}
                status = km.Pod.model_validate({"metadata": job_meta}).injection_status
            if status is None:
                assert not pod.has_sidecar, "istio-proxy without the injector's status annotation"
                continue
            assert set(status.containers) <= {c.name for c in pod.spec.containers}
            assert set(status.init_containers) <= {c.name for c in pod.spec.init_containers}
            assert pod.has_sidecar == ("istio-proxy" in status.containers + status.init_containers)


def h_status_messages(rel: str, text: str) -> None:
    vss = km.parse_kube_list(text, im.VirtualService, command=f"file {rel}")
    msgs = [m for vs in vss for m in messages_from_status(vs.model_dump(by_alias=True).get("status") or {}, kind="VirtualService")]
    assert [m.code for m in msgs] == ["IST0101"], msgs


def _dump(rel: str, text: str) -> Any:
    return parse_config_dump(text, command=f"file {rel}", now=NOW)


def h_config_dump(rel: str, text: str) -> None:
    d = _dump(rel, text)
    assert d.clusters or d.listeners or d.routes or d.endpoints or d.secrets or d.ecds or d.node, rel


def h_config_dump_and_clusters(rel: str, text: str) -> None:
    h_config_dump(rel, text)
    h_envoy_clusters(rel, text)


_GOLDENS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "istio/proxy-config/all/config_dump_summary.txt": ("config_dump.json", lambda d: v.all_summary(d, now=NOW)),
    "istio/proxy-config/bootstrap/versionsummary.txt": ("configdump.json", v.version_summary_text),
    "istio/proxy-config/ecds/output.txt": ("configdump.json", v.ecds_table),
    "istio/proxy-config/endpoint/emptyfilter_output.txt": ("configdump.json", v.endpoint_table),
    "istio/proxy-config/endpoint/emptyfilter_output.json": ("configdump.json", lambda d: v.marshal_json(v.endpoint_json(d))),
    "istio/proxy-config/endpoint/emptyfilter_output.yaml": ("configdump.json", lambda d: v.marshal_yaml(v.endpoint_json(d))),
    "istio/proxy-config/routes/empty-gateway/output.txt": ("configdump.json", v.route_table),
    "istio/proxy-config/routes/istio-gateway-http-route-prefix/output.txt": ("configdump.json", v.route_table),
    "istio/proxy-config/secret/istio/output": ("config_dump.json", lambda d: v.secret_table(d, now=NOW)),
}


def _norm(s: str) -> str:
    return "\n".join(line.rstrip() for line in s.rstrip("\n").split("\n"))


def h_golden(rel: str, text: str) -> None:
    inp, render = _GOLDENS[rel]
    src = (CORPUS / rel).parent / inp
    assert _norm(render(_dump(str(src), src.read_text()))) == _norm(text)


def h_envoy_clusters(rel: str, text: str) -> None:
    hosts = parse_envoy_clusters(text)
    assert hosts and all(h.cluster and h.host for h in hosts)


def h_proxy_status(rel: str, text: str) -> None:
    if re.search(r"^(--- (Pilot|Istiod) |(Clusters|Listeners|Routes) (Match|Don't Match))", text, re.M):
        diff = parse_proxy_status_diff(text)
        assert diff.diff_text or diff.clusters_match is not None or diff.listeners_match is not None
        if not re.search(r"^NAME\s", text, re.M) and not re.search(r"SYNCED|NOT[ _]SENT|STALE", text):
            return
    rows = parse_proxy_status(text)
    assert rows and all(r.name for r in rows)


def h_analyze(rel: str, text: str) -> None:
    msgs = parse_analyze(text, command=f"file {rel}")
    if "No validation issues" in text:
        assert msgs == []
    else:
        assert msgs and all(m.code.startswith("IST") and m.level for m in msgs)
        assert len(msgs) == len(re.findall(r"\[IST\d{4}\]", text))


def h_describe(rel: str, text: str) -> None:
    d = parse_describe_pod(text)
    assert d.unrecognized == []
    assert d.model_dump(exclude_defaults=True), "nothing recognised"


#: logs of Istio components with nothing a check reacts to: every line must still be recognised
COMPONENT_ONLY_LOGS = {"istio/docs/istio.io/network-issues/pilot_log_non_unique_port_name.txt"}


def h_proxy_log(rel: str, text: str) -> None:
    log = parse_proxy_log(text)
    assert len(log.entries) + len(log.events) + log.component_lines + log.unparsed == log.records
    if rel in COMPONENT_ONLY_LOGS:
        assert log.unparsed == 0 and log.component_lines + len(log.events) > 0, log
        return
    assert log.entries or log.events, f"no entry or event (formats {log.formats}, unparsed {log.unparsed})"


def h_init_log(rel: str, text: str) -> None:
    lines = [ln for ln in text.splitlines() if _INIT_ERR.search(ln)]
    assert lines, "the INJ-INIT-FAIL log filter finds no error line"


_WEBHOOK_ERROR = re.compile(r"webhook\W.*sidecar-injector", re.I | re.S)


def _webhook_hits(text: str) -> list[str]:
    # doc-wrapped lines ("\" + newline) are one message
    joined = re.sub(r"\\\n\s*", "", text)
    return [m.group("hook") for m in _WEBHOOK_CALL.finditer(joined)]


def h_event_text(rel: str, text: str) -> None:
    hits = _webhook_hits(text)
    if _WEBHOOK_ERROR.search(text):
        assert hits and all(h.endswith(INJECTOR_SUFFIX) for h in hits), "injector webhook failure not recognised"
    else:
        assert hits == []
        assert re.search(r"Readiness probe failed|Warning\s+Unhealthy", text), "event text with nothing to recognise"


def h_replicaset_status(rel: str, text: str) -> None:
    (rs,) = km.parse_kube_list(text, km.ReplicaSet, command=f"file {rel}")
    cond = rs.replica_failure
    assert cond is not None and cond.message
    m = _WEBHOOK_CALL.search(cond.message)
    assert m is not None and m.group("hook").endswith(INJECTOR_SUFFIX)


HANDLERS: dict[str, Callable[[str, str], None]] = {
    "provenance": h_provenance,
    "licence": h_licence,
    "catalogue": h_catalogue,
    "expected_messages": h_expected_messages,
    "injector_config": h_injector_config,
    "mesh_config": h_mesh_config,
    "manifests": h_manifests,
    "status_messages": h_status_messages,
    "config_dump": h_config_dump,
    "config_dump+clusters": h_config_dump_and_clusters,
    "golden": h_golden,
    "envoy_clusters": h_envoy_clusters,
    "proxy_status": h_proxy_status,
    "analyze": h_analyze,
    "describe": h_describe,
    "proxy_log": h_proxy_log,
    "init_log": h_init_log,
    "event_text": h_event_text,
    "replicaset_status": h_replicaset_status,
    **corpus_ambient.HANDLERS,
}

# --------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------

ROUTED = [f for f in FILES if f not in NOT_APPLICABLE]


def _param(rel: str) -> Any:
    marks = []
    if rel in KNOWN_PARSER_BUGS:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_PARSER_BUGS[rel]))
    return pytest.param(rel, id=rel, marks=marks)


@pytest.mark.parametrize("rel", [_param(f) for f in ROUTED])
def test_corpus_file_parses(rel: str) -> None:
    kind = route(rel)
    assert kind is not None, f"{rel}: no route; add one or list it in NOT_APPLICABLE"
    text = (CORPUS / rel).read_text(encoding="utf-8")
    handler = HANDLERS[kind]
    if rel in EXPECT_PARSE_ERROR:
        with pytest.raises(ParseError) as exc:
            handler(rel, text)
        msg = str(exc.value)
        assert msg.startswith("cannot parse ") and "Traceback" not in msg
        assert ERROR_SAYS[rel] in msg
        return
    try:
        handler(rel, text)
    except (ParseError, RecordingError) as e:
        pytest.fail(f"{rel} ({kind}) should parse: {e}")


def test_every_corpus_file_is_routed_or_not_applicable() -> None:
    assert len(FILES) > 390
    unrouted = [f for f in FILES if f not in NOT_APPLICABLE and route(f) is None]
    assert unrouted == [], "route these files or list them in NOT_APPLICABLE"
    stale = sorted((set(NOT_APPLICABLE) | set(EXPECT_PARSE_ERROR) | set(KNOWN_PARSER_BUGS)) - set(FILES))
    assert stale == [], "listed files missing from the corpus"
    assert not set(NOT_APPLICABLE) & (set(EXPECT_PARSE_ERROR) | set(KNOWN_PARSER_BUGS))
    assert not set(EXPECT_PARSE_ERROR) & set(KNOWN_PARSER_BUGS)
    assert set(ERROR_SAYS) == set(EXPECT_PARSE_ERROR)


def test_corpus_is_a_verbatim_copy_with_licences() -> None:
    for lic in ("istio/LICENSE", "captured/LICENSES/Apache-2.0.txt", "istio/SOURCES.md", "captured/SOURCES.md"):
        assert (CORPUS / lic).is_file(), lic
    counts = Counter(f.split("/", 1)[0] for f in FILES)
    assert counts["istio"] >= 318 and counts["captured"] >= 73
