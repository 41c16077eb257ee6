"""``ConfigMap`` and ``CustomResourceDefinition``: the mesh and injector configuration istio-doctor
reads, and which CRDs (and Gateway API bundle version) a cluster serves.
"""

from __future__ import annotations

from typing import ClassVar

from istio_doctor.evidence.kube.meta import K8sObject, KubeModel, StrMap


class ConfigMap(K8sObject):
    KIND: ClassVar[str | None] = "ConfigMap"

    data: StrMap = {}


class CRDVersion(KubeModel):
    name: str
    served: bool = False
    storage: bool = False


class CRDNames(KubeModel):
    kind: str | None = None
    plural: str | None = None


class CRDSpec(KubeModel):
    group: str | None = None
    names: CRDNames = CRDNames()
    scope: str | None = None
    versions: list[CRDVersion] = []


GATEWAY_API_BUNDLE_LABEL = "gateway.networking.k8s.io/bundle-version"


class CustomResourceDefinition(K8sObject):
    KIND: ClassVar[str | None] = "CustomResourceDefinition"

    spec: CRDSpec = CRDSpec()

    @property
    def served_versions(self) -> list[str]:
        return [v.name for v in self.spec.versions if v.served]

    @property
    def storage_version(self) -> str | None:
        for v in self.spec.versions:
            if v.storage:
                return v.name
        return None

    @property
    def bundle_version(self) -> str | None:
        return self.labels.get(GATEWAY_API_BUNDLE_LABEL)
