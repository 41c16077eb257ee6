"""What a diagnosis is about, and the connection settings every call carries."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator

# RFC 1123 label (namespaces) and subdomain (most object names). Validated before any name
# reaches argv, so a name can never be read as a flag or smuggle shell syntax.
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


_MESH_LABEL = re.compile(r"^mesh \(control plane in ([a-z0-9-]+)\)$")


class InvalidName(ValueError):
    """A namespace or resource name that is not a valid Kubernetes name."""


def validate_namespace(value: str) -> str:
    if not isinstance(value, str) or not _DNS1123_LABEL.match(value):
        raise InvalidName(f"{value!r} is not a valid namespace name (RFC 1123 label: lower-case letters, digits and '-')")
    return value


def validate_name(value: str) -> str:
    if not isinstance(value, str) or not _DNS1123_SUBDOMAIN.match(value):
        raise InvalidName(f"{value!r} is not a valid Kubernetes resource name (RFC 1123 subdomain)")
    return value


class TargetKind(StrEnum):
    POD = "pod"
    DEPLOYMENT = "deploy"
    SERVICE = "svc"
    NAMESPACE = "ns"
    #: a finding about the whole mesh (a check that reads only cluster-wide evidence: the control
    #: plane); ``namespace`` is the control plane's. Never typed by a user.
    MESH = "mesh"


_KIND_ALIASES = {
    "pod": TargetKind.POD,
    "pods": TargetKind.POD,
    "po": TargetKind.POD,
    "deploy": TargetKind.DEPLOYMENT,
    "deployment": TargetKind.DEPLOYMENT,
    "deployments": TargetKind.DEPLOYMENT,
    "svc": TargetKind.SERVICE,
    "service": TargetKind.SERVICE,
    "services": TargetKind.SERVICE,
    "ns": TargetKind.NAMESPACE,
    "namespace": TargetKind.NAMESPACE,
    "namespaces": TargetKind.NAMESPACE,
}


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TargetKind
    namespace: str
    name: str = ""  # empty for namespace targets

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        return validate_namespace(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return validate_name(v) if v else v

    @classmethod
    def parse(cls, text: str, namespace: str | None = None) -> Target:
        """Parse ``pod/NAME``, ``deploy/NAME``, ``svc/NAME``, ``ns/NAME`` (kubectl style).

        A bare ``NAME`` means a pod. ``-n`` supplies the namespace except for ``ns/NAME``.
        """
        if "/" in text:
            kind_s, _, name = text.partition("/")
            kind = _KIND_ALIASES.get(kind_s.lower())
            if kind is None:
                raise InvalidName(f"unknown target kind {kind_s!r}: use pod/, deploy/, svc/ or ns/")
        else:
            kind, name = TargetKind.POD, text
        if kind is TargetKind.NAMESPACE:
            return cls(kind=kind, namespace=name)
        # ``NAME.NAMESPACE`` (istioctl style) is accepted for pods when -n is not given
        if namespace is None and kind is TargetKind.POD and "." in name:
            name, _, namespace = name.partition(".")
        return cls(kind=kind, namespace=namespace or "default", name=name)

    @classmethod
    def mesh(cls, control_plane_namespace: str) -> Target:
        return cls(kind=TargetKind.MESH, namespace=control_plane_namespace)

    @classmethod
    def from_label(cls, text: str) -> Target:
        """The inverse of ``str(target)`` (reports read back from JSON/YAML)."""
        m = _MESH_LABEL.match(text)
        if m:
            return cls.mesh(m.group(1))
        kind_name, _, ns = text.partition(" -n ")
        return cls.parse(kind_name.strip(), ns.strip() or None)

    @property
    def pod_resource(self) -> str | None:
        """``Pod NS/NAME`` (how findings name resources) for a pod target."""
        return f"Pod {self.namespace}/{self.name}" if self.kind is TargetKind.POD else None

    def __str__(self) -> str:
        if self.kind is TargetKind.NAMESPACE:
            return f"ns/{self.namespace}"
        if self.kind is TargetKind.MESH:
            return f"mesh (control plane in {self.namespace})"
        return f"{self.kind.value}/{self.name} -n {self.namespace}"


class Connection(BaseModel):
    """Settings passed consistently to both kubectl and istioctl."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    context: str | None = None
    kubeconfig: str | None = None
    istio_namespace: str = "istio-system"

    @field_validator("istio_namespace")
    @classmethod
    def _ins(cls, v: str) -> str:
        return validate_namespace(v)

    @field_validator("context")
    @classmethod
    def _ctx(cls, v: str | None) -> str | None:
        # contexts are free-form names in kubeconfig, but never flags and never empty
        if v is not None and (not v or v.startswith("-") or any(c in v for c in "\n\r\0")):
            raise InvalidName(f"{v!r} is not a usable kubeconfig context name")
        return v

    @field_validator("kubeconfig")
    @classmethod
    def _kc(cls, v: str | None) -> str | None:
        if v is not None and (not v or v.startswith("-") or "\0" in v):
            raise InvalidName(f"{v!r} is not a usable kubeconfig path")
        return v
