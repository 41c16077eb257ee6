"""``security.istio.io`` models: ``PeerAuthentication`` (mesh/namespace/workload and port-level mTLS
modes), ``AuthorizationPolicy`` (rules, sources, operations, conditions) and
``RequestAuthentication`` (JWT rules).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from istio_doctor.evidence.istio.resource import SECURITY, IstioResource, PolicyTargetReference
from istio_doctor.evidence.kube import KubeModel, LabelSelector

# --------------------------------------------------------------------------------------
# security.istio.io
# --------------------------------------------------------------------------------------


class MutualTLS(KubeModel):
    mode: str | None = None  # UNSET | DISABLE | PERMISSIVE | STRICT


class PeerAuthenticationSpec(KubeModel):
    selector: LabelSelector | None = None
    mtls: MutualTLS | None = None
    port_level_mtls: dict[int, MutualTLS] = {}


class PeerAuthentication(IstioResource):
    KIND: ClassVar[str | None] = "PeerAuthentication"
    API_GROUPS: ClassVar[tuple[str, ...]] = SECURITY

    spec: PeerAuthenticationSpec = PeerAuthenticationSpec()

    @property
    def mode(self) -> str | None:
        return self.spec.mtls.mode if self.spec.mtls else None

    @property
    def is_workload_level(self) -> bool:
        return self.spec.selector is not None and not self.spec.selector.is_empty


class Source(KubeModel):
    principals: list[str] = []
    not_principals: list[str] = []
    request_principals: list[str] = []
    not_request_principals: list[str] = []
    namespaces: list[str] = []
    not_namespaces: list[str] = []
    ip_blocks: list[str] = []
    not_ip_blocks: list[str] = []
    remote_ip_blocks: list[str] = []
    not_remote_ip_blocks: list[str] = []


class Operation(KubeModel):
    hosts: list[str] = []
    not_hosts: list[str] = []
    ports: list[str] = []
    not_ports: list[str] = []
    methods: list[str] = []
    not_methods: list[str] = []
    paths: list[str] = []
    not_paths: list[str] = []


class RuleFrom(KubeModel):
    source: Source = Source()


class RuleTo(KubeModel):
    operation: Operation = Operation()


class Condition_(KubeModel):
    key: str
    values: list[str] = []
    not_values: list[str] = []


class AuthzRule(KubeModel):
    from_: list[RuleFrom] = Field(default=[], alias="from")
    to: list[RuleTo] = []
    when: list[Condition_] = []

    @property
    def needs_mtls(self) -> bool:
        """principals/namespaces are only known from a peer certificate (mTLS)."""
        return any(f.source.principals or f.source.not_principals or f.source.namespaces or f.source.not_namespaces for f in self.from_)


class AuthorizationPolicySpec(KubeModel):
    selector: LabelSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = []
    action: str = "ALLOW"
    provider: dict[str, Any] | None = None
    rules: list[AuthzRule] = []


class AuthorizationPolicy(IstioResource):
    KIND: ClassVar[str | None] = "AuthorizationPolicy"
    API_GROUPS: ClassVar[tuple[str, ...]] = SECURITY

    spec: AuthorizationPolicySpec = AuthorizationPolicySpec()

    @property
    def denies_all(self) -> bool:
        """``ALLOW`` with no rules allows nothing: the classic deny-all policy."""
        return self.spec.action == "ALLOW" and not self.spec.rules


class JWTRule(KubeModel):
    issuer: str | None = None
    jwks_uri: str | None = None
    jwks: str | None = None
    audiences: list[str] = []
    forward_original_token: bool = False


class RequestAuthenticationSpec(KubeModel):
    selector: LabelSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = []
    jwt_rules: list[JWTRule] = []


class RequestAuthentication(IstioResource):
    KIND: ClassVar[str | None] = "RequestAuthentication"
    API_GROUPS: ClassVar[tuple[str, ...]] = SECURITY

    spec: RequestAuthenticationSpec = RequestAuthenticationSpec()
