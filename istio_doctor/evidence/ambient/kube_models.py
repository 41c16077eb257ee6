"""Kubernetes objects only the ambient checks read: DaemonSet, NetworkPolicy, Node, ResourceQuota.

Typed where a check reads them, tolerant elsewhere (``KubeModel``: we do not own the schema).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from istio_doctor.evidence.kube import (
    Condition,
    K8sObject,
    KubeModel,
    LabelSelector,
    Pod,
    PodTemplateSpec,
)

__all__ = ["DaemonSet", "NetworkPolicy", "Node", "ResourceQuota", "SecurityGroupPolicy"]


class DaemonSetSpec(KubeModel):
    selector: LabelSelector = LabelSelector()
    template: PodTemplateSpec = PodTemplateSpec()


class DaemonSetStatus(KubeModel):
    desired_number_scheduled: int = 0
    current_number_scheduled: int = 0
    number_ready: int = 0
    number_available: int = 0
    number_unavailable: int = 0
    updated_number_scheduled: int = 0
    number_misscheduled: int = 0


class DaemonSet(K8sObject):
    KIND: ClassVar[str | None] = "DaemonSet"

    spec: DaemonSetSpec = DaemonSetSpec()
    status: DaemonSetStatus = DaemonSetStatus()

    def template_pod(self) -> Pod:
        meta = self.spec.template.metadata.model_copy(update={"namespace": self.namespace})
        return Pod(api_version="v1", kind="Pod", metadata=meta, spec=self.spec.template.spec)

    def host_path(self, volume: str) -> str | None:
        """The hostPath of a volume of the pod template (istio-cni's ``cni-bin-dir``...)."""
        for v in self.spec.template.spec.model_extra.get("volumes", []) if self.spec.template.spec.model_extra else []:
            if isinstance(v, dict) and v.get("name") == volume and isinstance(v.get("hostPath"), dict):
                return str(v["hostPath"].get("path") or "")
        return None

    def env(self, container: str, name: str) -> str | None:
        for c in self.spec.template.spec.containers:
            if c.name == container:
                return c.env_value(name)
        return None

    @property
    def images(self) -> list[str]:
        return [c.image for c in self.spec.template.spec.containers if c.image]


class NetworkPolicyPort(KubeModel):
    protocol: str = "TCP"
    #: a number or a named port (string); None = every port
    port: int | str | None = None
    end_port: int | None = None

    def allows(self, port: int) -> bool:
        if self.protocol and self.protocol != "TCP":
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            return False  # a named port is the pod's port name, never the HBONE port 15008
        return self.port == port or (self.end_port is not None and self.port <= port <= self.end_port)


class IPBlock(KubeModel):
    cidr: str = ""
    except_: list[str] = Field(default=[], alias="except")


class NetworkPolicyPeer(KubeModel):
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


class NetworkPolicyRule(KubeModel):
    from_: list[NetworkPolicyPeer] = Field(default=[], alias="from")
    to: list[NetworkPolicyPeer] = []
    #: empty = every port
    ports: list[NetworkPolicyPort] = []

    @property
    def peers(self) -> list[NetworkPolicyPeer]:
        """``from`` (ingress) or ``to`` (egress); empty = every peer."""
        return self.from_ or self.to

    def allows_port(self, port: int) -> bool:
        return not self.ports or any(p.allows(port) for p in self.ports)


class NetworkPolicySpec(KubeModel):
    pod_selector: LabelSelector = LabelSelector()
    policy_types: list[str] = []
    ingress: list[NetworkPolicyRule] = []
    egress: list[NetworkPolicyRule] = []


class NetworkPolicy(K8sObject):
    """``networking.k8s.io/v1`` NetworkPolicy, with the semantics the ambient checks need."""

    KIND: ClassVar[str | None] = "NetworkPolicy"

    spec: NetworkPolicySpec = NetworkPolicySpec()

    def selects(self, pod: Pod) -> bool:
        return pod.namespace == self.namespace and self.spec.pod_selector.matches(pod.labels)

    @property
    def restricts_ingress(self) -> bool:
        # policyTypes defaults to [Ingress] (+ Egress when egress rules exist)
        return "Ingress" in self.spec.policy_types or not self.spec.policy_types

    @property
    def restricts_egress(self) -> bool:
        return "Egress" in self.spec.policy_types or (not self.spec.policy_types and bool(self.spec.egress))

    def ingress_allows_port(self, port: int) -> bool:
        """Some ingress rule admits TCP ``port`` from some peer (peers are not weighed here)."""
        return any(r.allows_port(port) for r in self.spec.ingress)

    def egress_allows_port(self, port: int) -> bool:
        return any(r.allows_port(port) for r in self.spec.egress)

    def ingress_cidrs(self) -> list[str]:
        return [p.ip_block.cidr for r in self.spec.ingress for p in r.peers if p.ip_block is not None]


class Taint(KubeModel):
    key: str = ""
    value: str | None = None
    effect: str = ""


class NodeSpec(KubeModel):
    #: the API spells it providerID (to_camel would expect providerId)
    provider_id: str | None = Field(default=None, alias="providerID")
    taints: list[Taint] = []


class NodeInfo(KubeModel):
    kubelet_version: str = ""
    container_runtime_version: str = ""
    os_image: str = ""


class NodeStatus(KubeModel):
    node_info: NodeInfo = NodeInfo()
    conditions: list[Condition] = []


class Node(K8sObject):
    KIND: ClassVar[str | None] = "Node"

    spec: NodeSpec = NodeSpec()
    status: NodeStatus = NodeStatus()

    @property
    def platform(self) -> str:
        """The Kubernetes distribution istio-cni needs a platform profile for, or "" (see
        ``manifests/charts/istio-cni/files/profile-platform-*.yaml``)."""
        kubelet = self.status.node_info.kubelet_version
        pid = self.spec.provider_id or ""
        if pid.startswith("gce://") or "-gke" in kubelet:
            return "gke"
        if "+k3s" in kubelet:
            return "k3d" if self.name.startswith("k3d-") else "k3s"
        if self.labels.get("microk8s.io/cluster") == "true":
            return "microk8s"
        if any(k.startswith("node.openshift.io/") for k in self.labels):
            return "openshift"
        if pid.startswith("aws://"):
            return "eks"
        return ""


class ResourceQuota(K8sObject):
    KIND: ClassVar[str | None] = "ResourceQuota"

    @property
    def priority_classes(self) -> list[str]:
        """PriorityClass values its ``scopeSelector`` admits (``system-node-critical`` on GKE)."""
        spec = (self.model_extra or {}).get("spec") or {}
        out: list[str] = []
        for expr in ((spec.get("scopeSelector") or {}).get("matchExpressions") or []):
            if isinstance(expr, dict) and expr.get("scopeName") == "PriorityClass" and expr.get("operator") == "In":
                out += [str(v) for v in expr.get("values") or []]
        return out


class SecurityGroupPolicy(K8sObject):
    """``vpcresources.k8s.aws`` SecurityGroupPolicy (EKS security groups for pods)."""

    KIND: ClassVar[str | None] = "SecurityGroupPolicy"
    spec: dict[str, Any] = {}

