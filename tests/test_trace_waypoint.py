"""The request trace through an ambient waypoint's Envoy (engine/trace/waypoint.py).

Two dumps: istioctl's own waypoint testdata (a real, trimmed Istio 1.21 waypoint dump:
tests/fixtures/corpus/istio/proxy-config/all/config_dump.json, from istio/istio
istioctl/pkg/proxyconfig/testdata/config_dump.json) and the scenario kit's full waypoint dump,
built from istio/istio@1.24.0 pilot/pkg/networking/core/listener_waypoint.go and
cluster_waypoint.go (tests/scenariokit/render_waypoint.py cites each rule).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from istio_doctor.engine.trace import Stage, TraceRequest, trace_request
from istio_doctor.engine.trace.waypoint import is_waypoint, trace_waypoint
from istio_doctor.evidence.envoy.configdump import parse_config_dump
from istio_doctor.evidence.envoy.model import ConfigDump

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / "tests/fixtures/corpus/istio/proxy-config/all/config_dump.json"
VIP = "10.104.171.68"  # httpbin's VIP in the testdata's main_internal matcher


def _parse(obj: Any) -> ConfigDump:
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return parse_config_dump(data, command="test")


@pytest.fixture(scope="module")
def testdata() -> ConfigDump:
    return _parse(TESTDATA.read_bytes())


@pytest.fixture(scope="module")
def kit() -> tuple[Any, Any, dict[str, Any]]:
    from tests.scenarios import waypoint as S
    from tests.scenariokit import render_waypoint as RW

    w = next(s for s in S._scenarios() if s.name == "healthy-waypoint").world
    wp = next(p for p in w.pods if RW.is_waypoint_pod(w, p))
    return w, wp, RW.config_dump(w, wp)


def _stages(t: Any) -> list[tuple[str, str]]:
    return [(h.stage.value, h.status) for h in t.hops]


# -- the real (istioctl testdata) waypoint dump ------------------------------------------------------


def test_testdata_is_a_waypoint(testdata):
    """Its node id is ``waypoint~...`` and it has Istio's ``main_internal`` listener."""
    assert is_waypoint(testdata)
    assert testdata.node.type == "waypoint"


def test_testdata_auto_direction_takes_the_waypoint_path(testdata):
    """``trace_request`` with direction auto on a waypoint dump does not look for a 15001/15006
    capture listener (a waypoint has none); it enters through HBONE."""
    t = trace_request(testdata, TraceRequest(dest_ip=VIP, dest_port=8000, authority="httpbin:8000", path="/get"))
    assert t.cluster == "inbound-vip|8000|http|httpbin.default.svc.cluster.local"
    assert [h.element for h in t.hops if h.stage is Stage.FILTER_CHAIN] == ["inbound-vip|8000||httpbin.default.svc.cluster.local-http"]


def test_testdata_missing_connect_terminate_is_an_unknown_not_a_pass(testdata):
    """The testdata was trimmed to main_internal: the HBONE termination is listed as not seen."""
    t = trace_waypoint(testdata, TraceRequest(dest_ip=VIP, dest_port=8000, authority="httpbin:8000"))
    assert t.hops[0].stage is Stage.TUNNEL and t.hops[0].status == "unknown"
    assert any("connect_terminate" in u for u in t.unknowns)


def test_testdata_empty_eds_is_503_uh(testdata):
    """The 8000 cluster has no ClusterLoadAssignment in the dump's EDS section (only 8100 has one):
    Envoy has no host for it, 503 UH no_healthy_upstream."""
    t = trace_waypoint(testdata, TraceRequest(dest_ip=VIP, dest_port=8000, authority="httpbin:8000"))
    assert t.verdict == "endpoints" and t.response == "503 UH"


def test_testdata_8100_route_names_a_cluster_the_dump_lacks(testdata):
    """The 8100 chain's inline route forwards to ``inbound-vip|8100|http|...``, a cluster absent
    from the testdata's clusters section: 503 NC cluster_not_found."""
    t = trace_waypoint(testdata, TraceRequest(dest_ip=VIP, dest_port=8100, authority="httpbin:8100"))
    assert t.verdict == "cluster" and t.details == "cluster_not_found"


def test_testdata_direct_pod_access_plaintext_tcp(testdata):
    """192.168.195.248 is a workload IP: the matcher sends a non-HTTP connection to ``direct-tcp``
    (ApplicationProtocol on_no_match), whose tcp_proxy forwards to cluster ``encap``."""
    t = trace_waypoint(testdata, TraceRequest(dest_ip="192.168.195.248", dest_port=8000, protocol="tcp"))
    assert [h.element for h in t.hops if h.stage is Stage.FILTER_CHAIN] == ["direct-tcp"]
    assert t.cluster == "encap"


# -- the kit's full waypoint dump -------------------------------------------------------------------


def test_kit_waypoint_http_reaches_the_pod_over_hbone(kit):
    """connect_terminate (15008, mTLS) -> CONNECT route -> main_internal -> VIP/port chain ->
    inbound-vip cluster -> connect_originate endpoint -> HBONE to POD_IP:15008 with authority
    POD_IP:9080 (upstream_port_override 15008, tunneling_config %DOWNSTREAM_LOCAL_ADDRESS%)."""
    w, _wp, raw = kit
    svc = w.service("reviews", "default")
    t = trace_request(_parse(raw), TraceRequest(dest_ip=w.cluster_ip(svc), dest_port=9080, authority="reviews:9080", path="/reviews/0"))
    assert t.verdict == "delivered"
    assert t.cluster == "inbound-vip|9080|http|reviews.default.svc.cluster.local"
    assert [h.element for h in t.hops[:1]] == ["connect_terminate"]
    tunnel = [h for h in t.hops if h.stage is Stage.TUNNEL]
    assert tunnel[-1].decision.startswith("HBONE CONNECT ") and ":15008 (istio_mutual)" in tunnel[-1].decision
    assert t.upstream is not None and t.upstream.address.endswith(":9080") and t.upstream.tls == "istio_mutual"
    pod_ips = {p.ip for p, _ in w.endpoints(svc, svc.ports[0])}
    assert t.upstream.address.rpartition(":")[0] in pod_ips
    assert any("ztunnel" in u for u in t.unknowns)  # the server ztunnel's acceptance is not in this dump


def test_kit_waypoint_unbound_vip_has_no_chain(kit):
    """A VIP no service bound to this waypoint owns: the matcher has no range for it and
    main_internal has no default chain: filter_chain_not_found."""
    _w, _wp, raw = kit
    t = trace_waypoint(_parse(raw), TraceRequest(dest_ip="10.200.0.1", dest_port=9080, authority="x:9080"))
    assert t.verdict == "filter_chain" and t.details == "filter_chain_not_found"


def test_kit_waypoint_without_connect_route_refuses_hbone(kit):
    """Without the connect_matcher route the CONNECT is answered 404: the tunnel never opens."""
    w, _wp, raw = kit
    raw = json.loads(json.dumps(raw))
    for sec in raw["configs"]:
        for dl in sec.get("dynamic_listeners") or ():
            lst = dl["active_state"]["listener"]
            if lst["name"] == "connect_terminate":
                rc = lst["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
                rc["virtual_hosts"][0]["routes"][0]["match"] = {"prefix": "/"}
    svc = w.service("reviews", "default")
    t = trace_waypoint(_parse(raw), TraceRequest(dest_ip=w.cluster_ip(svc), dest_port=9080, authority="reviews:9080"))
    assert t.verdict == "route" and "CONNECT" in t.response


def test_kit_waypoint_metadata_waypoint_override(kit):
    """An endpoint whose original_dst metadata names a ``waypoint`` address is tunnelled there
    (connect_originate's metadata_key path ``waypoint``: istio/istio@1.24.0
    cluster_waypoint.go buildConnectOriginate; util.BuildTunnelMetadataStruct)."""
    w, _wp, raw = kit
    raw = json.loads(json.dumps(raw))
    for sec in raw["configs"]:
        for de in sec.get("dynamic_endpoint_configs") or ():
            for llb in de["endpoint_config"].get("endpoints") or ():
                for lb in llb["lb_endpoints"]:
                    lb["metadata"]["filter_metadata"]["envoy.filters.listener.original_dst"]["waypoint"] = "10.244.9.9"
    svc = w.service("reviews", "default")
    t = trace_waypoint(_parse(raw), TraceRequest(dest_ip=w.cluster_ip(svc), dest_port=9080, authority="reviews:9080"))
    assert "via 10.244.9.9:15008" in [h for h in t.hops if h.stage is Stage.TUNNEL][-1].decision


def test_offline_cli_traces_a_waypoint_dump(tmp_path, kit):
    """``istio-doctor trace --file WAYPOINT_DUMP --to VIP:PORT --host ...`` picks the inbound-vip cluster."""
    w, _wp, raw = kit
    f = tmp_path / "waypoint.json"
    f.write_text(json.dumps(raw))
    vip = w.cluster_ip(w.service("reviews", "default"))
    out = subprocess.run([sys.executable, "-m", "istio_doctor", "trace", "--file", str(f), "--to", f"{vip}:9080",
                          "--host", "reviews:9080", "-o", "json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["cluster"] == "inbound-vip|9080|http|reviews.default.svc.cluster.local"
    assert doc["verdict"] == "delivered"


# -- the live (kit-as-cluster) ambient trace: client ztunnel -> waypoint -> server ztunnel ----------


def _live(world: Any, to: str, runner: Any = None) -> Any:
    import asyncio

    from istio_doctor.evidence.target import Connection, Target, TargetKind
    from istio_doctor.trace_session import RequestShape, trace_live
    from tests.scenariokit.runner import WorldRunner

    client = next(p for p in world.pods if p.name.startswith("productpage"))
    t = Target(kind=TargetKind.POD, namespace="default", name=client.name)
    return asyncio.run(trace_live(t, runner or WorldRunner(world), Connection(context="kind-scenarios"),
                                  RequestShape(to=to, path="/reviews/0")))


def test_live_ambient_trace_shows_the_three_proxies(kit):
    """An ambient client's trace: its node's ztunnel (HBONE workload, the service's waypoint,
    HBONE to the waypoint on 15008), the waypoint's Envoy from connect_terminate to the HBONE
    tunnel to the pod, then the server's ztunnel (termination, L4 policy, delivery)."""
    w, wp, _raw = kit
    out = _live(w, "svc/reviews:9080")
    t = out.trace
    assert t is not None and t.verdict == "delivered", out.failure
    proxies = [h.proxy for h in t.hops]
    assert proxies[0].startswith("ztunnel@") and proxies[-1].startswith("ztunnel@")
    assert any(p == f"{wp.name}.default" for p in proxies)
    assert t.cluster == "inbound-vip|9080|http|reviews.default.svc.cluster.local"
    assert t.hops[1].stage is Stage.TUNNEL and "waypoint default/waypoint" in t.hops[1].decision
    assert out.server and out.server.startswith("default/reviews-")


def test_live_ambient_trace_missing_waypoint_dump_is_unknown(kit):
    """When the waypoint's config dump cannot be read, the trace stops at the client ztunnel with
    verdict unknown and says what it could not see: never a pass."""
    from tests.scenariokit.runner import WorldRunner

    w, wp, _raw = kit

    class NoWaypointDump(WorldRunner):
        async def run(self, argv, *, timeout_s=None):  # type: ignore[no-untyped-def]
            if "proxy-config" in argv and wp.name in argv:
                from istio_doctor.evidence.runner import CommandResult

                return CommandResult(argv=tuple(argv), exit_code=1, stdout="", stderr="Error: forbidden\n", duration_s=0.0)
            return await super().run(argv, timeout_s=timeout_s)

    out = _live(w, "svc/reviews:9080", NoWaypointDump(w))
    t = out.trace
    assert t is not None and t.verdict == "unknown"
    assert any("waypoint default/waypoint" in u for u in t.unknowns)
    assert all(h.proxy.startswith("ztunnel@") for h in t.hops)


def test_sidecar_with_main_internal_is_not_traced_as_a_waypoint():
    """A 1.18 sidecar dump with HBONE inbound listeners (main_internal among them) keeps the
    sidecar path: the node id, not the listener name, says waypoint."""
    d = _parse((ROOT / "tests/fixtures/trace/istio-authz-sidecar-listeners.json").read_bytes())
    assert any(x.name == "main_internal" for x in d.listeners) and not is_waypoint(d)
    t = trace_request(d, TraceRequest(dest_ip="10.96.0.10", dest_port=9153, authority="kube-dns.kube-system:9153"))
    assert t.hops[0].stage is Stage.CAPTURE
