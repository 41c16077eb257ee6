"""Control-plane configuration read from ConfigMaps: MeshConfig and the sidecar injector's.

* ``istio[-<rev>]`` ConfigMap, key ``mesh``: a YAML MeshConfig. Absent keys take Istio's
  defaults (``enableAutoMtls: true``, ``outboundTrafficPolicy.mode: ALLOW_ANY``,
  ``rootNamespace: istio-system``), so a check never has to know them.
* ``istio-sidecar-injector[-<rev>]`` ConfigMap, key ``config`` (YAML: policy, selectors,
  templates) and ``values`` (JSON: Helm values the templates render with).

Revision ``default`` stands for the unsuffixed names. Malformed content raises ``ParseError``
naming the ConfigMap and key.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from istio_doctor.evidence.errors import ParseError
from istio_doctor.evidence.kube import ConfigMap, KubeModel, LabelSelector, StrMap, format_validation_error

DEFAULT_REVISION = "default"


# --------------------------------------------------------------------------------------
# MeshConfig
# --------------------------------------------------------------------------------------


class MeshOutboundTrafficPolicy(KubeModel):
    mode: str = "ALLOW_ANY"


class ProxyConfig(KubeModel):
    hold_application_until_proxy_starts: bool | None = None
    proxy_metadata: StrMap = {}
    discovery_address: str | None = None
    termination_drain_duration: str | None = None
    interception_mode: str | None = None


class DefaultProviders(KubeModel):
    access_logging: list[str] = []
    tracing: list[str] = []
    metrics: list[str] = []


class ExtensionProvider(KubeModel):
    name: str
    envoy_file_access_log: dict[str, Any] | None = None
    envoy_otel_als: dict[str, Any] | None = Field(default=None, alias="envoyOtelAls")
    envoy_http_als: dict[str, Any] | None = None
    envoy_tcp_als: dict[str, Any] | None = None
    envoy_ext_authz_http: dict[str, Any] | None = None
    envoy_ext_authz_grpc: dict[str, Any] | None = None

    @property
    def is_access_log(self) -> bool:
        return any(x is not None for x in (self.envoy_file_access_log, self.envoy_otel_als, self.envoy_http_als, self.envoy_tcp_als))


class MeshCaCertificate(KubeModel):
    """``meshConfig.caCertificates[]``: extra roots, and the trust domains they are for."""

    pem: str = Field(default="", repr=False)
    spiffe_bundle_url: str = ""
    cert_signers: list[str] = []
    trust_domains: list[str] = []


class MeshConfig(KubeModel):
    access_log_file: str = ""
    access_log_encoding: str = "TEXT"
    access_log_format: str = ""
    enable_auto_mtls: bool = True
    outbound_traffic_policy: MeshOutboundTrafficPolicy = MeshOutboundTrafficPolicy()
    root_namespace: str = "istio-system"
    trust_domain: str = "cluster.local"
    #: other trust domains whose identities count as this mesh's (a trust-domain migration)
    trust_domain_aliases: list[str] = []
    ca_certificates: list[MeshCaCertificate] = []
    default_config: ProxyConfig = ProxyConfig()
    default_providers: DefaultProviders = DefaultProviders()
    extension_providers: list[ExtensionProvider] = []
    #: mesh-wide exportTo for resources that set none (empty = Istio's default ``*``)
    default_service_export_to: list[str] = []
    default_virtual_service_export_to: list[str] = []
    default_destination_rule_export_to: list[str] = []

    @property
    def access_log_enabled_by_mesh(self) -> bool:
        """Access logs switched on by MeshConfig itself (the Telemetry API can also do it)."""
        return bool(self.access_log_file) or bool(self.default_providers.access_logging)

    def provider(self, name: str) -> ExtensionProvider | None:
        for p in self.extension_providers:
            if p.name == name:
                return p
        return None


def parse_mesh_config(text: str, *, what: str = "MeshConfig", command: str = "") -> MeshConfig:
    """A MeshConfig from the YAML in ``data.mesh`` (empty text = all defaults)."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        raise ParseError(what, f"invalid YAML: {str(e).splitlines()[0]}", command=command) from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParseError(what, f"expected a mapping, got {type(data).__name__}", command=command)
    try:
        return MeshConfig.model_validate(data)
    except ValidationError as e:
        raise ParseError(what, format_validation_error(e), command=command) from e


# --------------------------------------------------------------------------------------
# Injector config
# --------------------------------------------------------------------------------------


class InjectorValues(BaseModel):
    """The few Helm values of the injector that checks compare against running pods."""

    model_config = ConfigDict(frozen=True)

    hub: str | None = None
    tag: str | None = None
    proxy_image: str | None = None  # ``global.proxy.image`` as written ("proxyv2" or a full ref)
    variant: str | None = None
    revision: str | None = None
    enable_namespaces_by_default: bool = False
    rewrite_app_http_probe: bool | None = None
    #: ``global.proxy.clusterDomain``: the DNS domain injected sidecars are started with
    cluster_domain: str | None = None

    @property
    def resolved_proxy_image(self) -> str | None:
        """The image reference the injector puts in pods, as the chart computes it: a value
        containing ``/`` is used as is, otherwise ``<hub>/<image>:<tag>[-<variant>]``."""
        if not self.proxy_image:
            return None
        if "/" in self.proxy_image:
            return self.proxy_image
        if not self.hub or not self.tag:
            return None
        suffix = f"-{self.variant}" if self.variant and self.variant != "default" else ""
        return f"{self.hub}/{self.proxy_image}:{self.tag}{suffix}"


class InjectorConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    policy: str = "enabled"
    always_inject_selector: list[LabelSelector] = []
    never_inject_selector: list[LabelSelector] = []
    default_templates: list[str] = []
    templates: list[str] = []  # template names only; the bodies are Go templates we never run
    values: InjectorValues = InjectorValues()

    @property
    def enabled(self) -> bool:
        # Istio treats any policy other than "enabled" as disabled (injection only on opt-in).
        return self.policy == "enabled"


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


_POLICY_LINE = re.compile(r"^policy:\s*(\S+)\s*$", re.M)


def parse_injector_values(text: str, *, what: str = "injector values", command: str = "") -> InjectorValues:
    try:
        v = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise ParseError(what, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", command=command) from e
    if not isinstance(v, dict):
        raise ParseError(what, "expected a JSON object", command=command)
    proxy_image = _get(v, "global", "proxy", "image")
    return InjectorValues(
        hub=_get(v, "global", "hub") or None,
        tag=str(_get(v, "global", "tag")) if _get(v, "global", "tag") not in (None, "") else None,
        proxy_image=proxy_image if isinstance(proxy_image, str) else None,
        variant=_get(v, "global", "variant") or None,
        revision=v.get("revision") or None,
        enable_namespaces_by_default=bool(_get(v, "sidecarInjectorWebhook", "enableNamespacesByDefault")),
        rewrite_app_http_probe=_get(v, "sidecarInjectorWebhook", "rewriteAppHTTPProbe"),
        cluster_domain=_get(v, "global", "proxy", "clusterDomain") or None,
    )


def parse_injector_config(config: str, values: str = "", *, what: str = "injector config", command: str = "") -> InjectorConfig:
    """``InjectorConfig`` from the ``config`` YAML and the ``values`` JSON of the ConfigMap."""
    try:
        c = yaml.safe_load(config) if config.strip() else {}
    except yaml.YAMLError as e:
        # The templates are Go text embedded in YAML; a hand-edited one can break the YAML
        # while the policy line, the one thing most checks need, is still readable.
        m = _POLICY_LINE.search(config)
        if m is None:
            raise ParseError(what, f"invalid YAML: {str(e).splitlines()[0]}", command=command) from e
        c = {"policy": m.group(1)}
    if c is None:
        c = {}
    if not isinstance(c, dict):
        raise ParseError(what, f"expected a mapping, got {type(c).__name__}", command=command)
    templates = c.get("templates")
    try:
        return InjectorConfig(
            policy=str(c.get("policy") or "enabled"),
            always_inject_selector=[LabelSelector.model_validate(s) for s in c.get("alwaysInjectSelector") or []],
            never_inject_selector=[LabelSelector.model_validate(s) for s in c.get("neverInjectSelector") or []],
            default_templates=[str(t) for t in c.get("defaultTemplates") or []],
            templates=sorted(templates) if isinstance(templates, dict) else [],
            values=parse_injector_values(values, what=f"{what} values", command=command),
        )
    except ValidationError as e:
        raise ParseError(what, format_validation_error(e), command=command) from e


# --------------------------------------------------------------------------------------
# ConfigMaps -> per-revision configs
# --------------------------------------------------------------------------------------


class ControlPlaneConfigs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    mesh: dict[str, MeshConfig] = {}
    injectors: dict[str, InjectorConfig] = {}

    def mesh_for(self, revision: str | None) -> MeshConfig | None:
        return self.mesh.get(revision or DEFAULT_REVISION) or (self.mesh.get(DEFAULT_REVISION) if revision is None else None)

    def injector_for(self, revision: str | None) -> InjectorConfig | None:
        return self.injectors.get(revision or DEFAULT_REVISION)


def _revision_of(name: str, base: str) -> str | None:
    if name == base:
        return DEFAULT_REVISION
    if name.startswith(base + "-"):
        return name[len(base) + 1 :]
    return None


def control_plane_configs(configmaps: list[ConfigMap], *, command: str = "") -> ControlPlaneConfigs:
    """MeshConfig and InjectorConfig per revision from the control-plane ConfigMaps.

    ``istio-sidecar-injector`` must be matched before ``istio`` (its name also starts with
    ``istio-``); a ConfigMap named ``istio-<x>`` without a ``mesh`` key is not a mesh config
    (e.g. ``istio-ca-root-cert``) and is skipped.
    """
    mesh: dict[str, MeshConfig] = {}
    injectors: dict[str, InjectorConfig] = {}
    for cm in configmaps:
        rev = _revision_of(cm.name, "istio-sidecar-injector")
        if rev is not None:
            if "config" in cm.data or "values" in cm.data:
                injectors[rev] = parse_injector_config(
                    cm.data.get("config", ""), cm.data.get("values", ""), what=f"ConfigMap {cm.name} data.config", command=command
                )
            continue
        rev = _revision_of(cm.name, "istio")
        if rev is not None and "mesh" in cm.data:
            mesh[rev] = parse_mesh_config(cm.data["mesh"], what=f"ConfigMap {cm.name} data.mesh", command=command)
    return ControlPlaneConfigs(mesh=mesh, injectors=injectors)
