"""Playbook ``probes`` (ambient A5): probes fail after the pod was enrolled in ambient.

istio-cni SNATs the kubelet's probes of captured pods to 169.254.7.127 so ztunnel lets them
through (host rule ``ISTIO_POSTRT … SNAT --to-source 169.254.7.127``, cilium/cilium#36022; in-pod
``-s 169.254.7.127/32 -j ACCEPT``, istio.io traffic-redirection). Whatever drops packets from
that link-local address breaks every probe: a NetworkPolicy without the ipBlock, Cilium's BPF
masquerading, EKS security groups for pods in strict mode (istio.io ambient
platform-prerequisites and networkpolicy pages; istio/istio#52208, #52765).
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks._ambient import SUBJECT_NEEDS, SUBJECT_OPTIONAL, subject
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.ambient.cni_log import CniEventKind, classify_event
from istio_doctor.evidence.ambient.dataplane import DataplaneMode
from istio_doctor.evidence.bundle import Need

PROBE_SOURCE = "169.254.7.127/32"


def _probe_timeouts(ctx: CheckContext, s: Any) -> list[Any]:
    return [e for e in ctx.ev.get(Need.EVENTS, s.ns) if getattr(e.involved_object, "name", "") == s.name
            and classify_event(e.reason or "", e.message or "") is CniEventKind.PROBE_TIMEOUT]


def _captured(s: Any) -> CheckResult | None:
    if s.mode.mode is not DataplaneMode.AMBIENT:
        return CheckResult.not_applicable(f"pod {s.ref} is not captured by ztunnel: its probes are not SNATed")
    return None


def _event_ref(ctx: CheckContext, s: Any, evs: list[Any]) -> Any:
    return ctx.ref(Need.EVENTS, "\n".join(f"{e.type}  {e.reason}  {e.message}  (x{e.count or 1})" for e in evs[:2]),
                   "kubelet probe failures", namespace=s.ns)


@check("AMB-PROBE-NETPOL", needs=(*SUBJECT_NEEDS, Need.EVENTS, Need.NETWORK_POLICIES), optional=SUBJECT_OPTIONAL)
def probe_netpol(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Probe timeouts on a captured pod that an ingress NetworkPolicy selects without admitting
    169.254.7.127/32 (istio.io docs/ambient/usage/networkpolicy §health probes)."""
    s = subject(ctx)
    if (na := _captured(s)) is not None:
        return na
    evs = _probe_timeouts(ctx, s)
    if not evs:
        return CheckResult.passed(f"no probe timeout event for pod {s.ref}")
    nps = [np for np in ctx.ev.get(Need.NETWORK_POLICIES) if np.selects(s.pod) and np.restricts_ingress
           and PROBE_SOURCE not in np.ingress_cidrs() and not any(not r.peers for r in np.spec.ingress)]
    if not nps:
        return CheckResult.passed(f"no ingress NetworkPolicy of pod {s.ref} leaves out {PROBE_SOURCE}")
    np = nps[0]
    return CheckResult.failed(
        args={"pod": s.ref, "policy": np.ref, "count": sum(int(e.count or 1) for e in evs)},
        evidence=[_event_ref(ctx, s, evs), ctx.ref(Need.NETWORK_POLICIES, {"networkpolicy": np.ref, "ingress from": np.ingress_cidrs() or
                                                                           "pods/namespaces only"}, f"no ipBlock {PROBE_SOURCE}")],
        observed=[evs[0].message[:160]], resources=[np.ref, f"Pod {s.ref}"], corroboration="corroborated",
        fix=Fix(steps=[FixStep(description=f"Admit the kubelet's SNATed probes in {np.ref}",
                               yaml_patch=f"spec:\n  ingress:\n  - from:\n    - ipBlock:\n        cidr: {PROBE_SOURCE}\n")]))


@check("AMB-PROBE-EBPF-CNI", needs=(*SUBJECT_NEEDS, Need.EVENTS, Need.CILIUM_CONFIG), optional=SUBJECT_OPTIONAL)
def probe_ebpf(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Probe timeouts on captured pods while Cilium masquerades in BPF (``enable-bpf-masquerade:
    "true"``): the SNATed probe's return path is lost (istio.io platform-prerequisites §Cilium;
    istio/istio#52208, #57911)."""
    s = subject(ctx)
    if (na := _captured(s)) is not None:
        return na
    cms = ctx.ev.get(Need.CILIUM_CONFIG)
    if not cms:
        return CheckResult.not_applicable("Cilium is not the CNI (no kube-system/cilium-config)")
    evs = _probe_timeouts(ctx, s)
    data = cms[0].data
    if not evs:
        return CheckResult.passed(f"no probe timeout event for pod {s.ref}")
    if data.get("enable-bpf-masquerade") != "true":
        return CheckResult.passed("Cilium does not masquerade in BPF (enable-bpf-masquerade is not true)")
    return CheckResult.failed(
        args={"pod": s.ref, "setting": "enable-bpf-masquerade: \"true\"", "count": sum(int(e.count or 1) for e in evs)},
        evidence=[_event_ref(ctx, s, evs), ctx.ref(Need.CILIUM_CONFIG, {"enable-bpf-masquerade": "true",
                                                                         "kube-proxy-replacement": data.get("kube-proxy-replacement", "(unset)")},
                                                   "kube-system/cilium-config")],
        observed=[evs[0].message[:160]], resources=["ConfigMap kube-system/cilium-config"], corroboration="corroborated",
        fix=Fix(steps=[FixStep(description="Use iptables masquerading in Cilium (bpf.masquerade=false) and allow "
                                           f"{PROBE_SOURCE} with a CiliumClusterwideNetworkPolicy when default-deny is used",
                               command="helm upgrade cilium cilium/cilium -n kube-system --reuse-values --set bpf.masquerade=false")]))


@check("AMB-PROBE-EKS-SGP", needs=(*SUBJECT_NEEDS, Need.EVENTS, Need.NODES, Need.DAEMONSETS, Need.SECURITY_GROUP_POLICIES), optional=SUBJECT_OPTIONAL)
def probe_eks_sgp(ctx: CheckContext, _: NoParams) -> CheckResult:
    """EKS with security groups for pods in strict mode routes the link-local probe packets
    through the trunk ENI, where they are dropped (istio.io platform-prerequisites §EKS;
    aws/amazon-vpc-cni-k8s#2797)."""
    s = subject(ctx)
    if (na := _captured(s)) is not None:
        return na
    if not any(n.platform == "eks" for n in ctx.ev.get(Need.NODES)):
        return CheckResult.not_applicable("not an EKS cluster")
    aws = next((d for d in ctx.ev.get(Need.DAEMONSETS) if d.name == "aws-node" and d.namespace == "kube-system"), None)
    if aws is None:
        return CheckResult.not_applicable("no aws-node DaemonSet: not the AWS VPC CNI")
    eni = aws.env("aws-node", "ENABLE_POD_ENI")
    mode = aws.env("aws-node", "POD_SECURITY_GROUP_ENFORCING_MODE") or "strict"
    sgps = ctx.ev.get(Need.SECURITY_GROUP_POLICIES)
    evs = _probe_timeouts(ctx, s)
    if eni != "true" or mode == "standard" or not sgps:
        return CheckResult.passed(f"security groups for pods are off or in standard mode (ENABLE_POD_ENI={eni}, mode {mode})")
    if not evs:
        return CheckResult.passed(f"no probe timeout event for pod {s.ref}")
    return CheckResult.failed(
        args={"pod": s.ref, "mode": mode, "sgps": len(sgps), "count": sum(int(e.count or 1) for e in evs)},
        evidence=[_event_ref(ctx, s, evs), ctx.ref(Need.DAEMONSETS, {"daemonset": aws.ref, "ENABLE_POD_ENI": eni,
                                                                     "POD_SECURITY_GROUP_ENFORCING_MODE": mode}, "aws-node env"),
                  ctx.ref(Need.SECURITY_GROUP_POLICIES, [g.ref for g in sgps[:3]], "SecurityGroupPolicies")],
        observed=[evs[0].message[:160]], resources=[aws.ref], corroboration="corroborated",
        fix=Fix(steps=[FixStep(description="Switch security groups for pods to standard mode, then recycle the pods",
                               command="kubectl -n kube-system set env daemonset aws-node POD_SECURITY_GROUP_ENFORCING_MODE=standard")]))
