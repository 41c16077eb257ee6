"""The ztunnel hops of an ambient request (engine/trace/hbone.py), on real ztunnel config dumps.

Rules (istio/ztunnel@1.24.0 ``src/proxy/outbound.rs`` ``build_request``, ``src/proxy/inbound.rs``):
a source workload ztunnel does not know, or knows with protocol TCP, is not proxied; a service
VIP (or a workload IP) with a ``waypoint`` goes to that waypoint over HBONE on 15008 with the
original destination as CONNECT authority; otherwise an endpoint is chosen and dialled over HBONE
(``POD_IP:15008``) when its workload speaks HBONE, plain TCP when not; an address ztunnel does
not know is passthrough. Dumps: istioctl's ztunnel-config testdata
(tests/fixtures/corpus/ambient/ztunnel-config/dump.json, istio/istio@86c9f01
istioctl/pkg/writer/ztunnel/configdump/testdata/dump.json) and kiali's captured ztunnel dump
(tests/fixtures/corpus/captured/configdump/kiali/ztunnel-config.json, kiali/kiali@d733a09
kubernetes/testdata/ztunnel-config.json).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_doctor.engine.trace import Stage
from istio_doctor.engine.trace.hbone import client_leg, server_leg
from istio_doctor.evidence.ambient.ztunnel_dump import ZtunnelDump, parse_ztunnel_dump

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"


@pytest.fixture(scope="module")
def kiali() -> ZtunnelDump:
    return parse_ztunnel_dump((CORPUS / "captured/configdump/kiali/ztunnel-config.json").read_text())


@pytest.fixture(scope="module")
def testdata() -> ZtunnelDump:
    return parse_ztunnel_dump((CORPUS / "ambient/ztunnel-config/dump.json").read_text())


def _productpage(d: ZtunnelDump) -> tuple[str, str]:
    w = next(w for w in d.workloads if w.namespace == "bookinfo" and w.name.startswith("productpage-v1"))
    return w.namespace, w.name


def test_service_with_waypoint_goes_to_the_waypoint(kiali):
    """kiali's reviews Service names waypoint ``bookinfo/waypoint.bookinfo.svc.cluster.local``:
    productpage's ztunnel tunnels to that waypoint's VIP on 15008, CONNECT to the reviews VIP."""
    ns, pod = _productpage(kiali)
    leg = client_leg(kiali, ns, pod, "10.96.224.224", 9080, proxy="zt")
    assert leg.verdict is None and leg.waypoint is not None and leg.waypoint.name == "waypoint"
    assert leg.hops[-1].stage is Stage.TUNNEL and "CONNECT 10.96.224.224:9080" in leg.hops[-1].decision
    assert leg.source_identity == "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage"


def test_workload_waypoint_by_vip(testdata):
    """A pod IP whose workload names waypoint ``/10.96.65.117`` (a VIP): the namespace waypoint."""
    leg = client_leg(testdata, "default", "sleep-7656cf8794-lxcmx", "10.244.2.54", 9080, proxy="zt")
    assert leg.waypoint is not None and leg.waypoint.name == "namespace-istio-waypoint"


def test_service_without_waypoint_dials_the_pod_over_hbone(testdata):
    """default/details has no waypoint: an endpoint is chosen, HBONE to POD_IP:15008, authority POD_IP:9080."""
    leg = client_leg(testdata, "default", "sleep-7656cf8794-lxcmx", "10.96.101.171", 9080, proxy="zt")
    assert leg.waypoint is None and leg.server_address == "10.244.2.55:9080"
    assert leg.hops[-1].decision == "HBONE to 10.244.2.55:15008, CONNECT 10.244.2.55:9080"


def test_unknown_destination_is_passthrough(kiali):
    ns, pod = _productpage(kiali)
    leg = client_leg(kiali, ns, pod, "1.1.1.1", 443, proxy="zt")
    assert leg.verdict == "delivered" and leg.hops[-1].status == "warn" and "passthrough" in leg.hops[-1].decision


def test_tcp_source_is_not_captured(kiali):
    """The gateway pod is listed with protocol TCP: ztunnel does not carry its traffic."""
    leg = client_leg(kiali, "bookinfo", "bookinfo-gateway-istio-7c875f844-dllvg", "10.96.224.224", 9080, proxy="zt")
    assert leg.verdict == "bypassed"


def test_missing_dump_or_workload_is_unknown(kiali):
    assert client_leg(None, "a", "b", "10.0.0.1", 80, proxy="zt", why_missing="forbidden").verdict == "unknown"
    leg = client_leg(kiali, "bookinfo", "no-such-pod", "10.96.224.224", 9080, proxy="zt")
    assert leg.verdict == "unknown" and leg.unknowns


def test_server_leg_policies_are_named_not_guessed(testdata):
    """default/allow-nothing (Namespace scope) binds every default workload: the outcome is unknown
    here and says which policies ztunnel enforces; a TCP workload is no HBONE destination."""
    w = next(w for w in testdata.workloads if w.namespace == "default" and w.captured)
    hops, unknowns = server_leg(testdata, w.workload_ips[0], f"{w.workload_ips[0]}:80", proxy="zt", source=None)
    assert hops[-1].stage is Stage.NETWORK_RBAC and hops[-1].status == "unknown" and "default/allow-nothing" in hops[-1].why
    tcp = next(w for w in testdata.workloads if w.namespace == "default" and not w.captured)
    hops, _ = server_leg(testdata, tcp.workload_ips[0], f"{tcp.workload_ips[0]}:80", proxy="zt", source=None)
    assert hops[0].decision == "not an HBONE workload"
    hops, unknowns = server_leg(None, "10.0.0.9", "10.0.0.9:80", proxy="zt", source=None, why_missing="forbidden")
    assert hops[0].status == "unknown" and "forbidden" in unknowns[0]
