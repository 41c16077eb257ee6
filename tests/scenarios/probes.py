"""Scenarios of the ``probes`` playbook (ambient A5): probes fail after enrolment.

The kit SNATs kubelet probes of captured pods to 169.254.7.127 (istio-cni) and drops them where a
NetworkPolicy, Cilium's BPF masquerading or EKS strict security groups would; the pod turns
unready and kubelet logs probe timeouts, as in istio/istio#52765's events.
"""

from __future__ import annotations

from typing import Any

from tests.scenarios._ambient import control, fail, target, world
from tests.scenariokit.world import Probe, World


def _probe(key: str = "default/productpage-v1"):  # type: ignore[no-untyped-def]
    def m(w: World) -> None:
        wl = w.workload(key)
        assert wl is not None
        wl.containers[0].readiness = Probe("/health", 9080)
    return m


def _np(with_probe_source: bool) -> dict[str, Any]:
    peers: list[dict[str, Any]] = [{"podSelector": {}}]
    if with_probe_source:
        peers.append({"ipBlock": {"cidr": "169.254.7.127/32"}})
    return {"metadata": {"name": "productpage-ingress", "namespace": "default"},
            "spec": {"podSelector": {"matchLabels": {"app": "productpage"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": peers, "ports": [{"port": 9080, "protocol": "TCP"}, {"port": 15008, "protocol": "TCP"}]}]}}


SGP = [{"metadata": {"name": "payments-sg", "namespace": "default"},
        "spec": {"podSelector": {"matchLabels": {"app": "productpage"}}, "securityGroups": {"groupIds": ["sg-0123456789abcdef0"]}}}]


def _scenarios() -> list:  # type: ignore[type-arg]
    out = []
    w = world(_probe(), network_policies=[_np(False)])
    out.append(fail("probes", "probe-netpol", "an ingress NetworkPolicy on productpage without 169.254.7.127/32", w,
                    target(w, "productpage"), "AMB-PROBE-NETPOL"))
    w = world(_probe(), network_policies=[_np(True)])
    out.append(control("probes", "lookalike-netpol-admits-probes", "the same policy with the probe address", w,
                       target(w, "productpage"), ruled_out=("AMB-PROBE-NETPOL",)))
    w = world(_probe(), cilium={"enable-bpf-masquerade": "true", "kube-proxy-replacement": "true", "cni-exclusive": "false"})
    out.append(fail("probes", "probe-cilium-bpf-masquerade", "Cilium with BPF masquerading drops the SNATed probes", w,
                    target(w, "productpage"), "AMB-PROBE-EBPF-CNI"))
    w = world(_probe(), cilium={"enable-bpf-masquerade": "false", "cni-exclusive": "false"})
    out.append(control("probes", "lookalike-cilium-iptables-masquerade", "Cilium with iptables masquerading", w,
                       target(w, "productpage"), ruled_out=("AMB-PROBE-EBPF-CNI",)))
    w = world(_probe(), platform="eks", aws_node_env={"ENABLE_POD_ENI": "true"}, security_group_policies=SGP)
    out.append(fail("probes", "probe-eks-sgp-strict", "EKS security groups for pods in (default) strict mode", w,
                    target(w, "productpage"), "AMB-PROBE-EKS-SGP"))
    w = world(_probe(), platform="eks", aws_node_env={"ENABLE_POD_ENI": "true", "POD_SECURITY_GROUP_ENFORCING_MODE": "standard"},
              security_group_policies=SGP)
    out.append(control("probes", "lookalike-eks-sgp-standard", "EKS security groups for pods in standard mode", w,
                       target(w, "productpage"), ruled_out=("AMB-PROBE-EKS-SGP",)))
    return out


SCENARIOS = _scenarios()
