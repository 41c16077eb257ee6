"""The scenario kit's ambient outputs follow the real formats of the corpus (never the reverse).

(1) every ambient output parses with the project's own parsers, with nothing left unparsed;
(2) structural comparisons with real captures in ``tests/fixtures/corpus``: the ztunnel
/config_dump's keys against the kiali 1.24 capture and istioctl's ``dump.json`` golden, the
access-line field order against istio.io's troubleshoot-ztunnel output, the istio-cni install
configuration against a reporter's agent log, the sandbox event against a real ``kubectl events``
capture, Gateway conditions against istiod's ``waypoint.status.yaml.golden``;
(3) per knob, the evidence says the cause (an unreachable CA makes ``Unavailable`` certificates
and ``identity error`` access lines; a missing ztunnel leaves pods ``pending``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from istio_doctor.evidence.ambient.cni_log import CniEventKind, CniLogKind, classify_event, parse_cni_log
from istio_doctor.evidence.ambient.conditions import conditions_of
from istio_doctor.evidence.ambient.ztunnel_dump import parse_ztunnel_dump
from istio_doctor.evidence.ambient.ztunnel_log import FMT_ISTIO, parse_ztunnel_log
from istio_doctor.evidence.ambient.ztunnel_views import ViewOptions, render
from tests.scenariokit import ambient as am
from tests.scenariokit import ambient_traffic as at
from tests.scenariokit import render_ambient as ra
from tests.scenariokit.ambient import Ambient
from tests.scenariokit.ambient_bookinfo import ambient_world, waypoint
from tests.scenariokit.world import World, cr

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
AMB = CORPUS / "ambient"


def _busy_world(**ambient: Any) -> World:
    """Healthy ambient bookinfo with a waypoint bound to ``default``, an L4 policy and STRICT mTLS:
    every section of the dump and every access-line shape is populated."""
    w = ambient_world(ambient=Ambient(**ambient))
    waypoint(w)
    ns = w.namespace("default")
    assert ns is not None
    ns.labels["istio.io/use-waypoint"] = "waypoint"
    w.istio += [
        cr("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}}),
        cr("AuthorizationPolicy", "allow-sleep", "foo", {"action": "ALLOW", "rules": [
            {"from": [{"source": {"principals": ["cluster.local/ns/foo/sa/sleep"]}}], "to": [{"operation": {"ports": ["8000"]}}]}]}),
    ]
    return w


def _nodes(w: World) -> list[str]:
    return sorted({p.node for p in w.pods})


def _keys(items: Any) -> set[str]:
    vals = items if isinstance(items, list) else list(items.values())
    return set().union(*[set(x) for x in vals]) if vals else set()


# -- every ambient kind -----------------------------------------------------------------------------


def test_every_ambient_need_is_answerable_from_the_pods_node_agent() -> None:
    """The ambient kinds of evidence/kinds.py: cluster lists answer; node-agent kinds answer from
    the ztunnel / istio-cni pod of the examined pod's node (the gatherer's resolution), and parse."""
    from istio_doctor.evidence.bundle import Need, Scope
    from istio_doctor.evidence.commands import build_call
    from istio_doctor.evidence.kinds import ParseEnv
    from istio_doctor.evidence.target import Connection
    from tests.scenariokit.runner import WorldRunner

    w = ambient_world(ambient=Ambient(platform="eks", aws_node_env={"ENABLE_POD_ENI": "true"}))
    r = WorldRunner(w)
    pod = next(p for p in w.pods if p.name.startswith("productpage"))
    conn = Connection()
    ambient_kinds = [n for n in Need if n.node_agent] + [Need.ZTUNNEL_PODS, Need.CNI_PODS, Need.DAEMONSETS, Need.NODES,
                                                          Need.NETWORK_POLICIES, Need.CNI_CONFIG, Need.CILIUM_CONFIG,
                                                          Need.RESOURCE_QUOTAS, Need.SECURITY_GROUP_POLICIES]
    for need in ambient_kinds:
        ns, name = pod.namespace, pod.name
        if need.node_agent:
            ns, name = "istio-system", am.agent_pod_name(need.node_agent, pod.node)
        call = build_call(need, conn, namespace=ns, name=name, istioctl_minor=w.istioctl.minor)
        res = r.run_sync(call.argv)
        assert res.exit_code == 0, (need, call.argv, res.stderr)
        value = need.parse(res.stdout, ParseEnv(command=" ".join(call.argv)))
        if need.scope is Scope.POD or need in (Need.ZTUNNEL_PODS, Need.CNI_PODS, Need.DAEMONSETS, Need.NODES):
            assert value, need


# -- ztunnel /config_dump -------------------------------------------------------------------------


def test_kit_dump_parses_and_has_the_kiali_capture_keys() -> None:
    """Top-level, workload and service keys are those of a real 1.24 ztunnel
    (captured/configdump/kiali/ztunnel-config.json); the kit omits ``config`` (ztunnel's own
    runtime settings, which no check reads)."""
    real = json.loads((CORPUS / "captured/configdump/kiali/ztunnel-config.json").read_text())
    w = _busy_world()
    for node in _nodes(w):
        dump = ra.ztunnel_dump(w, node)
        parsed = parse_ztunnel_dump(json.dumps(dump))
        assert parsed.workloads and parsed.services
        assert set(dump) == set(real) - {"config"}
        # "waypoint" appears in workloads bound to a waypoint (istioctl's dump.json golden has it)
        assert _keys(dump["workloads"]) - {"waypoint"} <= _keys(real["workloads"])
        assert _keys(dump["services"]) <= _keys(real["services"])


def test_kit_certificates_and_policies_have_the_istioctl_golden_shape() -> None:
    """istioctl/pkg/writer/ztunnel/configdump/testdata/dump.json: certificates carry
    identity/state/certChain of pem/serialNumber/validFrom/expirationTime; policies
    action/name/namespace/rules/scope."""
    gold = json.loads((AMB / "ztunnel-config/dump.json").read_text())
    dump = ra.ztunnel_dump(_busy_world(), _nodes(_busy_world())[0])
    assert {"identity", "state", "certChain"} <= _keys(dump["certificates"])
    assert _keys(dump["certificates"]) - {"rootCerts"} == _keys(gold["certificates"])
    assert _keys([c for cert in dump["certificates"] for c in cert["certChain"]]) == _keys(gold["certificates"][0]["certChain"])
    assert _keys(dump["policies"]) == _keys(gold["policies"])
    # serial numbers are decimal strings, as in the golden
    assert all(re.fullmatch(r"\d+", c["serialNumber"]) for cert in dump["certificates"] for c in cert["certChain"])


def test_kit_dump_renders_istioctl_views() -> None:
    """The kit's dump goes through the same views istioctl prints (tested against its goldens)."""
    w = _busy_world()
    dump = parse_ztunnel_dump(json.dumps(ra.ztunnel_dump(w, _nodes(w)[0])))
    out = render(dump, "workloads", ViewOptions())
    assert out.splitlines()[0].split() == ["NAMESPACE", "POD", "NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL"]
    assert any(ln.split()[-1] == "HBONE" for ln in out.splitlines())
    # default is bound to a waypoint for services: its Services name it, its pods do not
    svcs = {tuple(ln.split()[:2]): ln.split()[3] for ln in render(dump, "services", ViewOptions()).splitlines()[1:] if ln.strip()}
    assert svcs[("default", "reviews")] == "waypoint" and svcs[("foo", "httpbin")] == "None"
    assert "istio_converted_static_strict" in render(dump, "policies", ViewOptions())


def test_unreachable_ca_makes_unavailable_certificates_as_in_istio_56452() -> None:
    # the issue quotes two entries of the "certificates" member of a dump (cut, not JSON): read its entries
    excerpt = (AMB / "ztunnel-logs/istio-56452_configdump_certificates_unavailable.json").read_text()
    real_certs = [json.loads(m.group(0)) for m in re.finditer(r"\{[^{}]*\}", excerpt)]
    w = ambient_world(ambient=Ambient(cert_unavailable=["default/bookinfo-ratings"]))
    ratings = next(p for p in w.pods if p.name.startswith("ratings"))
    certs = ra.ztunnel_dump(w, ratings.node)["certificates"]
    bad = [c for c in certs if c["identity"].endswith("/sa/bookinfo-ratings")]
    assert bad and bad[0]["state"].startswith("Unavailable: ") and bad[0]["certChain"] == []
    assert any(str(c.get("state", "")).startswith("Unavailable: ") for c in real_certs)
    assert _keys(bad) <= _keys(real_certs) | {"rootCerts"}


# -- ztunnel logs -----------------------------------------------------------------------------------


def _corpus_access_order() -> list[str]:
    line = next(ln for ln in (AMB / "docs-outputs/istioio_troubleshoot-ztunnel_access-log.txt").read_text().splitlines()
                if "direction=" in ln)
    return [m.group(1) for m in re.finditer(r"(?:^|\s)([a-z_][\w.]*)=", line.split("connection complete", 1)[1])]


def test_kit_ztunnel_logs_parse_in_the_istio_format_with_the_real_field_order() -> None:
    order = _corpus_access_order() + ["error"]  # error= comes last (istio-53696_…os111.log)
    w = _busy_world()
    seen_access = 0
    for node in _nodes(w):
        text = at.ztunnel_log(w, node)
        log = parse_ztunnel_log(text)
        assert log.unparsed == [], (node, log.unparsed)
        assert set(log.formats) <= {FMT_ISTIO}
        for ln in log.access:
            seen_access += 1
            keys = [m.group(1) for m in re.finditer(r"(?:^|\s)([a-z_][\w.]*)=", ln.raw.split("\t")[-1])]
            positions = [order.index(k) for k in keys]
            assert positions == sorted(positions), ln.raw
            assert ln.fields["direction"] in ("inbound", "outbound")
    assert seen_access > 10


def test_kit_rejections_use_ztunnel_error_texts() -> None:
    """A STRICT mesh rejects a plaintext client with the static policy's name (captured
    access-logs/ztunnel-1273_ambient_rbac_rejection.log names its policy the same way)."""
    real = (CORPUS / "captured/access-logs/ztunnel-1273_ambient_rbac_rejection.log").read_text()
    assert "connection closed due to policy rejection" in real
    w = _busy_world()
    lines = [ln for node in _nodes(w) for ln in parse_ztunnel_log(at.ztunnel_log(w, node)).access if ln.error]
    assert any(ln.denied_by == ("istio-system", "istio_converted_static_strict") for ln in lines)
    assert all(ln.error_kind for ln in lines), [ln.raw for ln in lines if not ln.error_kind]


def test_dns_bind_fault_renders_the_istio_52487_lines() -> None:
    real = parse_ztunnel_log((AMB / "ztunnel-logs/istio-52487_inpod_bind_15053_addr_not_available.log").read_text())
    w = ambient_world(ambient=Ambient(pod_faults={"default/ratings-v1": "dns_bind"}))
    ratings = next(p for p in w.pods if p.name.startswith("ratings"))
    kit = parse_ztunnel_log(at.ztunnel_log(w, ratings.node))
    assert {ln.error_kind for ln in kit.lines if ln.error_kind} & {ln.error_kind for ln in real.lines if ln.error_kind}


# -- istio-cni logs and events ----------------------------------------------------------------------


def test_kit_cni_log_parses_with_the_real_install_configuration_keys() -> None:
    """Keys and order of ``CNI install configuration:`` as in istio-52487's agent log. The kit
    keeps the trailing spaces istio prints (cni/pkg/cmd/root.go ``"CNI install configuration:
    \\n%+v"``, cni/pkg/config/config.go ``"CNIConfName: " + c.CNIConfName``), which the
    reporter's paste lost, so lines are compared stripped."""
    real = parse_cni_log((AMB / "cni-logs/istio-52487_cni_agent_install_config.log").read_text())
    w = ambient_world(ambient=Ambient(exclude_namespaces=["kube-system"]))
    node = _nodes(w)[0]
    text = at.cni_log(w, node)
    kit = parse_cni_log(text)
    assert list(kit.install_config) == list(real.install_config)
    assert kit.install_config["K8sNodeName"] == node and kit.excluded_namespaces == ["kube-system"]
    assert kit.other == 0
    assert all(ln.kind for ln in kit.lines), [ln.raw for ln in kit.lines if not ln.kind]
    assert kit.of(CniLogKind.NS_ENABLED) and kit.of(CniLogKind.POD_ADDED)


def test_missing_ztunnel_leaves_pods_pending_and_new_sandboxes_failing() -> None:
    real = (AMB / "cni-logs/prequel-cre-0106_failedcreatepodsandbox_no_ztunnel.events").read_text()
    real_msg = next(ln for ln in real.splitlines() if "FailedCreatePodSandBox" in ln).split("FailedCreatePodSandBox", 1)[1].strip()
    w = ambient_world(ambient=Ambient(pod_faults={"default/ratings-v1": "no_sandbox"}))
    ev = [e for e in w.all_events() if e.reason == "FailedCreatePodSandBox"]
    assert ev and classify_event(ev[0].reason, ev[0].message) == classify_event("FailedCreatePodSandBox", real_msg) == CniEventKind.NO_ZTUNNEL
    # the message differs from the capture only in the sandbox id
    assert re.sub(r'"[0-9a-f]{64}"', '"ID"', ev[0].message) == re.sub(r'"[0-9a-f]{64}"', '"ID"', real_msg)

    # without a ztunnel, istio-cni 1.26 leaves the pods "pending" (meshdataplane_linux.go); 1.25 says the same
    # with Go's %!v(MISSING) for the error (server.go:280); 1.24 had no "pending" and annotated them "enabled"
    for version, annotation, message in (
            ("1.26.1", "pending", "failed to add pod to ztunnel: pod partially added, annotating with pending status"),
            ("1.25.2", "pending", "failed to add pod to ztunnel: %!v(MISSING), pod partially added, annotating with pending status"),
            ("1.24.2", "enabled", "failed to add pod to ztunnel: partial add error: no ztunnel connection")):
        w = ambient_world(version)
        node = _nodes(w)[0]
        assert w.ambient is not None
        w.ambient.ztunnel[node] = "missing"
        on_node = [p for p in w.pods if p.node == node and am.intent(w, p)]
        assert on_node and {am.redirection(w, p) for p in on_node} == {annotation}
        assert not any(am.captured(w, p) for p in on_node)
        partial = parse_cni_log(at.cni_log(w, node)).of(CniLogKind.POD_PENDING)
        assert partial and {ln.message for ln in partial} == {message}


# -- status conditions ------------------------------------------------------------------------------


def test_waypoint_conditions_have_istiods_shape() -> None:
    gold = yaml.safe_load((AMB / "status/waypoint.status.yaml.golden").read_text().split("---")[0])
    gold_keys = {k for c in gold["status"]["conditions"] for k in c}
    for state, programmed in (("programmed", "True"), ("address_not_usable", "False"), ("pending", "Unknown")):
        w = ambient_world(ambient=Ambient(waypoint_state={"default/waypoint": state}))
        gw = waypoint(w)
        st = ra.cr_status(w, gw)
        assert st is not None
        conds = conditions_of({"status": st})
        assert {c.type for c in conds} >= {"Accepted", "Programmed"}
        assert next(c for c in conds if c.type == "Programmed").status == programmed
        assert {k for c in st["conditions"] for k in c} <= gold_keys | {"observedGeneration"}
