"""Every kind of evidence istio-doctor gathers, each defined once.

A kind (``Need.PODS``, ``Need.CONFIG_DUMP``, ...) carries everything the rest of the tool
needs to know about it, in one place:

* ``scope``: cluster, namespace or pod (which ``EvidenceKey`` addresses it);
* ``build``: the argv (with fallbacks) that fetches it, from the connection and the key;
* ``parse``: the parser that turns that command's stdout into the typed value;
* ``value``: the type of the parsed value (``Evidence.get(Need.PODS, ns)`` is a ``list[Pod]``
  for a type checker too, because ``Need`` is generic in it);
* gathering rules that belong to the kind: it only exists with a sidecar (``proxy``), a missing
  CRD means "none" (``crd``), extra exit codes that still carry a result, whether a refused
  cluster-wide list may be narrowed to one namespace.

Adding an evidence kind is adding one ``_define(...)`` below; ``commands.build_call``,
``gather.Gatherer`` and the read-only tests pick it up from here. Parsers and models are named
as ``"module:attribute"`` strings and imported on first use, so the CLI's ``--help`` never pays
for pydantic models it does not need.

``Need`` behaves like the ``StrEnum`` it replaced: members are singletons that compare equal
to their string value, ``for need in Need`` iterates them in definition order and
``Need("pods")`` looks one up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from istio_doctor.evidence.argv import Call, kubectl_exec, kubectl_get, with_connection
from istio_doctor.evidence.target import Connection, validate_name, validate_namespace

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

    from istio_doctor.evidence.accesslog import ProxyLog
    from istio_doctor.evidence.ambient.cni_log import CniLog
    from istio_doctor.evidence.ambient.kube_models import (
        DaemonSet,
        NetworkPolicy,
        Node,
        ResourceQuota,
        SecurityGroupPolicy,
    )
    from istio_doctor.evidence.ambient.ztunnel_dump import ZtunnelDump
    from istio_doctor.evidence.ambient.ztunnel_log import ZtunnelLog
    from istio_doctor.evidence.analyze import AnalyzeMessage
    from istio_doctor.evidence.describe import DescribePod
    from istio_doctor.evidence.envoy.model import ConfigDump
    from istio_doctor.evidence.envoystats import ClusterHostStatus
    from istio_doctor.evidence.istio import (
        AuthorizationPolicy,
        DestinationRule,
        EnvoyFilter,
        Gateway,
        K8sGateway,
        K8sHTTPRoute,
        PeerAuthentication,
        RequestAuthentication,
        ServiceEntry,
        Sidecar,
        Telemetry,
        VirtualService,
    )
    from istio_doctor.evidence.kube import (
        ConfigMap,
        CustomResourceDefinition,
        Deployment,
        EndpointSlice,
        Event,
        MutatingWebhookConfiguration,
        Namespace,
        Pod,
        ReplicaSet,
        Service,
    )
    from istio_doctor.evidence.meshconfig import ControlPlaneConfigs
    from istio_doctor.evidence.podlogs import PodLogs
    from istio_doctor.evidence.proxystatus import ProxyStatusRow
    from istio_doctor.evidence.sockets import ListeningSocket
    from istio_doctor.evidence.versions import IstioVersions, KubeVersions

T = TypeVar("T")


class Scope(StrEnum):
    CLUSTER = "cluster"
    NAMESPACE = "namespace"
    POD = "pod"


@dataclass(frozen=True)
class BuildArgs:
    """What an argv builder may use besides the connection."""

    namespace: str | None = None
    name: str | None = None
    since: str = "1h"
    tail: int = 2000
    #: the istioctl client's minor version, for kinds whose flags changed (``version_dependent``)
    istioctl_minor: int | None = None
    #: a namespace to narrow a cluster-wide list to when RBAC refuses ``--all-namespaces``
    fallback_namespace: str | None = None
    #: the gathered values of the kind's ``requires`` (need value -> value, None when it could
    #: not be gathered); None when the argv is built without a session (docs, read-only tests)
    inputs: Mapping[str, Any] | None = None


class NothingToGather(Exception):
    """A kind whose argv depends on other evidence has nothing to ask for this key (the pod has
    no restarted container, no istio-cni agent runs on its node): the gatherer records the
    reason as "not applicable" instead of running a doomed call."""


@dataclass(frozen=True)
class ParseEnv:
    """What a parser may use besides the text: the command line (for error messages) and the
    time the evidence describes (a replayed recording is judged at the time it was made)."""

    command: str = ""
    now: datetime | None = None


Builder = Callable[[Connection, BuildArgs], Call]
Parser = Callable[[str, ParseEnv], Any]


class _NeedMeta(type):
    """Iteration and lookup by value over the defined kinds, as an Enum class offers."""

    _members: dict[str, Need[Any]]

    def __iter__(cls) -> Iterator[Need[Any]]:
        return iter(list(cls._members.values()))

    def __len__(cls) -> int:
        return len(cls._members)

    def __call__(cls, value: str) -> Need[Any]:  # type: ignore[override]
        try:
            return cls._members[str(value)]
        except KeyError:
            raise ValueError(f"{value!r} is not an evidence kind") from None


class Need(str, Generic[T], metaclass=_NeedMeta):
    """A kind of evidence: a checks declares the kinds it reads (``@check(needs=...)``).

    Instances are created only by ``_define``; ``Need("pods")`` returns the defined member.
    """

    _members: ClassVar[dict[str, Need[Any]]] = {}

    scope: Scope
    build: Builder
    parse: Parser
    value_type: str
    doc: str
    #: exists only when the pod runs an istio-proxy sidecar (config dump, proxy logs, exec...)
    proxy: bool
    #: the kind is a CRD that may not be installed: "no such resource type" means an empty list
    crd: bool
    #: exit codes besides 0 that still carry a valid result
    ok_exit_codes: frozenset[int]
    #: a cluster-wide list that may be narrowed to the target namespace when RBAC refuses -A
    namespace_fallback: bool
    #: the argv depends on the istioctl client version (``BuildArgs.istioctl_minor``)
    version_dependent: bool
    #: kinds whose gathered values the argv builder reads (``BuildArgs.inputs``): pod-scoped ones
    #: for the same pod, cluster-scoped ones once per session
    requires: tuple[Need[Any], ...]
    #: a pod-scope kind read from the node agent on the pod's node ("ztunnel" or "cni"): the
    #: gatherer finds that agent's pod and builds the argv with its name and namespace
    node_agent: str

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def name(self) -> str:  # the attribute name, as an Enum member's ``name``
        return self.value.upper()

    def __repr__(self) -> str:
        return f"Need.{self.name}"

    __str__ = value.fget  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (Need, (self.value,))

    def __copy__(self) -> Need[T]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Need[T]:
        return self

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema

        def validate(v: Any) -> Need[Any]:
            return v if isinstance(v, Need) else Need(v)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.value)
        )

    # -- the kinds ------------------------------------------------------------------------
    # Declared here (typed) and defined below by ``_define``.
    KUBECTL_VERSION: ClassVar[Need[KubeVersions]]
    ISTIOCTL_VERSION: ClassVar[Need[IstioVersions]]
    NAMESPACES: ClassVar[Need[list[Namespace]]]
    SERVICES: ClassVar[Need[list[Service]]]
    WEBHOOKS: ClassVar[Need[list[MutatingWebhookConfiguration]]]
    CONTROL_PLANE_CONFIGMAPS: ClassVar[Need[ControlPlaneConfigs]]
    CONTROL_PLANE_PODS: ClassVar[Need[list[Pod]]]
    CONTROL_PLANE_DEPLOYMENTS: ClassVar[Need[list[Deployment]]]
    CONTROL_PLANE_ENDPOINTSLICES: ClassVar[Need[list[EndpointSlice]]]
    PROXY_STATUS: ClassVar[Need[list[ProxyStatusRow]]]
    CRDS: ClassVar[Need[list[CustomResourceDefinition]]]
    VIRTUAL_SERVICES: ClassVar[Need[list[VirtualService]]]
    DESTINATION_RULES: ClassVar[Need[list[DestinationRule]]]
    GATEWAYS: ClassVar[Need[list[Gateway]]]
    SERVICE_ENTRIES: ClassVar[Need[list[ServiceEntry]]]
    SIDECARS: ClassVar[Need[list[Sidecar]]]
    PEER_AUTHENTICATIONS: ClassVar[Need[list[PeerAuthentication]]]
    AUTHORIZATION_POLICIES: ClassVar[Need[list[AuthorizationPolicy]]]
    REQUEST_AUTHENTICATIONS: ClassVar[Need[list[RequestAuthentication]]]
    ENVOY_FILTERS: ClassVar[Need[list[EnvoyFilter]]]
    TELEMETRIES: ClassVar[Need[list[Telemetry]]]
    K8S_GATEWAYS: ClassVar[Need[list[K8sGateway]]]
    HTTP_ROUTES: ClassVar[Need[list[K8sHTTPRoute]]]
    PODS: ClassVar[Need[list[Pod]]]
    ENDPOINTSLICES: ClassVar[Need[list[EndpointSlice]]]
    EVENTS: ClassVar[Need[list[Event]]]
    DEPLOYMENTS: ClassVar[Need[list[Deployment]]]
    REPLICASETS: ClassVar[Need[list[ReplicaSet]]]
    ANALYZE: ClassVar[Need[list[AnalyzeMessage]]]
    NAMESPACE_PROXY_LOGS: ClassVar[Need[dict[str, ProxyLog]]]
    POD: ClassVar[Need[Pod]]
    CONFIG_DUMP: ClassVar[Need[ConfigDump]]
    PROXY_LOGS: ClassVar[Need[ProxyLog]]
    INIT_LOGS: ClassVar[Need[str]]
    DESCRIBE: ClassVar[Need[DescribePod]]
    SOCKETS: ClassVar[Need[list[ListeningSocket]]]
    ENVOY_STATS: ClassVar[Need[dict[str, int]]]
    ENVOY_CLUSTERS: ClassVar[Need[list[ClusterHostStatus]]]
    # lifecycle (the pod's timeline)
    APP_LOGS: ClassVar[Need[PodLogs]]
    APP_PREVIOUS_LOGS: ClassVar[Need[PodLogs]]
    CNI_PODS: ClassVar[Need[list[Pod]]]
    # ambient (defined in the ambient section at the end of this module; CNI_PODS above serves both)
    ZTUNNEL_PODS: ClassVar[Need[list[Pod]]]
    DAEMONSETS: ClassVar[Need[list[DaemonSet]]]
    NODES: ClassVar[Need[list[Node]]]
    NETWORK_POLICIES: ClassVar[Need[list[NetworkPolicy]]]
    CNI_CONFIG: ClassVar[Need[list[ConfigMap]]]
    CILIUM_CONFIG: ClassVar[Need[list[ConfigMap]]]
    RESOURCE_QUOTAS: ClassVar[Need[list[ResourceQuota]]]
    SECURITY_GROUP_POLICIES: ClassVar[Need[list[SecurityGroupPolicy]]]
    ZTUNNEL_CONFIG: ClassVar[Need[ZtunnelDump]]
    ZTUNNEL_LOGS: ClassVar[Need[ZtunnelLog]]
    CNI_LOGS: ClassVar[Need[CniLog]]


def _define(
    attr: str,
    scope: Scope,
    build: Builder,
    parse: Parser,
    value_type: str,
    doc: str,
    *,
    proxy: bool = False,
    crd: bool = False,
    ok_exit_codes: frozenset[int] = frozenset({0}),
    namespace_fallback: bool = False,
    version_dependent: bool = False,
    requires: tuple[Need[Any], ...] = (),
    node_agent: str = "",
) -> Need[Any]:
    value = attr.lower()
    if value in Need._members:
        raise ValueError(f"evidence kind {value!r} defined twice")
    need: Need[Any] = str.__new__(Need, value)
    for k, v in dict(scope=scope, build=build, parse=parse, value_type=value_type, doc=doc, proxy=proxy, crd=crd,
                     ok_exit_codes=ok_exit_codes, namespace_fallback=namespace_fallback,
                     version_dependent=version_dependent, requires=requires, node_agent=node_agent).items():
        object.__setattr__(need, k, v)
    Need._members[value] = need
    setattr(Need, attr, need)
    return need


# -- parser and builder helpers ---------------------------------------------------------------


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _kube_list(model: str) -> Parser:
    """A ``kubectl get -o json`` List of ``model`` (``"module:Class"``)."""

    def parse(text: str, env: ParseEnv) -> Any:
        from istio_doctor.evidence.kube import parse_kube_list

        return parse_kube_list(text, _load(model), command=env.command)

    return parse


def _kube_object(model: str) -> Parser:
    """A single ``kubectl get KIND NAME -o json`` object of ``model``."""

    def parse(text: str, env: ParseEnv) -> Any:
        from istio_doctor.evidence.kube import parse_kube_object

        return parse_kube_object(text, _load(model), command=env.command)

    return parse


def _call(fn: str, *, command: bool = False, now: bool = False) -> Parser:
    """A parser function ``fn(text[, command=...][, now=...])`` named ``"module:function"``."""

    def parse(text: str, env: ParseEnv) -> Any:
        kw: dict[str, Any] = {}
        if command:
            kw["command"] = env.command
        if now:
            kw["now"] = env.now
        return _load(fn)(text, **kw)

    return parse


def _text(text: str, env: ParseEnv) -> str:
    return text


def _control_plane_configs(text: str, env: ParseEnv) -> Any:
    from istio_doctor.evidence.kube import ConfigMap, parse_kube_list
    from istio_doctor.evidence.meshconfig import control_plane_configs

    return control_plane_configs(parse_kube_list(text, ConfigMap, command=env.command))


def _c(argv: list[str], conn: Connection) -> tuple[str, ...]:
    return tuple(with_connection(argv, conn))


def _get_all(kind: str) -> Builder:
    """A cluster-wide list; narrowed to one namespace as a fallback when RBAC refuses ``-A``."""

    def build(conn: Connection, a: BuildArgs) -> Call:
        fb = (_c(kubectl_get(kind, namespace=a.fallback_namespace), conn),) if a.fallback_namespace else ()
        return Call(_c(kubectl_get(kind, all_namespaces=True), conn), fb)

    return build


def _get_in(kind: str, *, istio_namespace: bool = False) -> Builder:
    """A list in the key's namespace (or in the control plane's namespace)."""

    def build(conn: Connection, a: BuildArgs) -> Call:
        ns = conn.istio_namespace if istio_namespace else a.namespace
        return Call(_c(kubectl_get(kind, namespace=ns), conn))

    return build


def _fixed(argv: list[str], *fallbacks: list[str]) -> Builder:
    def build(conn: Connection, a: BuildArgs) -> Call:
        return Call(_c(argv, conn), tuple(_c(f, conn) for f in fallbacks))

    return build


def _pod_ns(a: BuildArgs) -> tuple[str, str]:
    return validate_name(a.name or ""), validate_namespace(a.namespace or "default")


def _exec(*commands: str) -> Builder:
    """``kubectl exec`` of allowlisted read-only commands in the istio-proxy container."""

    def build(conn: Connection, a: BuildArgs) -> Call:
        pod, ns = _pod_ns(a)
        first, *rest = (_c(kubectl_exec(pod, ns, cmd), conn) for cmd in commands)
        return Call(first, tuple(rest))

    return build


# -- cluster scope ------------------------------------------------------------------------------

_define("KUBECTL_VERSION", Scope.CLUSTER, _fixed(["kubectl", "version", "-o", "json"]),
        _call("istio_doctor.evidence.versions:parse_kubectl_version"), "KubeVersions",
        "kubectl client and API server versions")
# --remote (the default) reads the control plane and data plane versions too (GEN-VERSION-SKEW)
_define("ISTIOCTL_VERSION", Scope.CLUSTER,
        _fixed(["istioctl", "version", "-o", "json"], ["istioctl", "version", "--remote=false", "-o", "json"]),
        _call("istio_doctor.evidence.versions:parse_istioctl_version"), "IstioVersions",
        "istioctl client, control plane and data plane versions")


def _namespaces(conn: Connection, a: BuildArgs) -> Call:
    fb = (_c(kubectl_get("namespace", name=a.fallback_namespace), conn),) if a.fallback_namespace else ()
    return Call(_c(kubectl_get("namespaces"), conn), fb)


_define("NAMESPACES", Scope.CLUSTER, _namespaces, _kube_list("istio_doctor.evidence.kube:Namespace"),
        "list[Namespace]", "every namespace (labels decide injection and ambient mode)", namespace_fallback=True)
_define("SERVICES", Scope.CLUSTER, _get_all("services"), _kube_list("istio_doctor.evidence.kube:Service"),
        "list[Service]", "every Service (falls back to the target namespace)", namespace_fallback=True)
_define("WEBHOOKS", Scope.CLUSTER, _fixed(kubectl_get("mutatingwebhookconfigurations")),
        _kube_list("istio_doctor.evidence.kube:MutatingWebhookConfiguration"), "list[MutatingWebhookConfiguration]",
        "MutatingWebhookConfigurations (the sidecar injectors)")
_define("CONTROL_PLANE_CONFIGMAPS", Scope.CLUSTER, _get_in("configmaps", istio_namespace=True), _control_plane_configs,
        "ControlPlaneConfigs", "ConfigMaps istio[-rev] (mesh config) and istio-sidecar-injector[-rev]")
_define("CONTROL_PLANE_PODS", Scope.CLUSTER, _get_in("pods", istio_namespace=True),
        _kube_list("istio_doctor.evidence.kube:Pod"), "list[Pod]", "pods of the control plane namespace")
_define("CONTROL_PLANE_DEPLOYMENTS", Scope.CLUSTER, _get_in("deployments", istio_namespace=True),
        _kube_list("istio_doctor.evidence.kube:Deployment"), "list[Deployment]", "Deployments of the control plane namespace")
_define("CONTROL_PLANE_ENDPOINTSLICES", Scope.CLUSTER, _get_in("endpointslices", istio_namespace=True),
        _kube_list("istio_doctor.evidence.kube:EndpointSlice"), "list[EndpointSlice]",
        "EndpointSlices of the control plane namespace (is istiod behind its Service?)")


def _proxy_status(conn: Connection, a: BuildArgs) -> Call:
    # Format churn: <=1.26 per-type table; 1.27-1.29 needs --verbose for per-type status;
    # >=1.30 has -o json (one document per istiod). Pick by the istioctl version.
    if a.istioctl_minor is not None and a.istioctl_minor >= 30:
        return Call(_c(["istioctl", "proxy-status", "-o", "json"], conn), (_c(["istioctl", "proxy-status"], conn),))
    if a.istioctl_minor is not None and a.istioctl_minor >= 27:
        return Call(_c(["istioctl", "proxy-status", "--verbose"], conn), (_c(["istioctl", "proxy-status"], conn),))
    return Call(_c(["istioctl", "proxy-status"], conn))


_define("PROXY_STATUS", Scope.CLUSTER, _proxy_status, _call("istio_doctor.evidence.proxystatus:parse_proxy_status"),
        "list[ProxyStatusRow]", "xDS sync state of every proxy", version_dependent=True)
_define("CRDS", Scope.CLUSTER,
        _fixed(["kubectl", "get", "customresourcedefinitions", "-l", "gateway.networking.k8s.io/bundle-version", "-o", "json"]),
        _kube_list("istio_doctor.evidence.kube:CustomResourceDefinition"), "list[CustomResourceDefinition]",
        "Gateway API CRDs and their versions", crd=True)

# Istio and Gateway API kinds, fully qualified so a same-named CRD of another project (e.g.
# Knative's or Contour's Gateway) is never read by mistake.
for _attr, _kind, _model in (
    ("VIRTUAL_SERVICES", "virtualservices.networking.istio.io", "VirtualService"),
    ("DESTINATION_RULES", "destinationrules.networking.istio.io", "DestinationRule"),
    ("GATEWAYS", "gateways.networking.istio.io", "Gateway"),
    ("SERVICE_ENTRIES", "serviceentries.networking.istio.io", "ServiceEntry"),
    ("SIDECARS", "sidecars.networking.istio.io", "Sidecar"),
    ("PEER_AUTHENTICATIONS", "peerauthentications.security.istio.io", "PeerAuthentication"),
    ("AUTHORIZATION_POLICIES", "authorizationpolicies.security.istio.io", "AuthorizationPolicy"),
    ("REQUEST_AUTHENTICATIONS", "requestauthentications.security.istio.io", "RequestAuthentication"),
    ("ENVOY_FILTERS", "envoyfilters.networking.istio.io", "EnvoyFilter"),
    ("TELEMETRIES", "telemetries.telemetry.istio.io", "Telemetry"),
    ("K8S_GATEWAYS", "gateways.gateway.networking.k8s.io", "K8sGateway"),
    ("HTTP_ROUTES", "httproutes.gateway.networking.k8s.io", "K8sHTTPRoute"),
):
    _define(_attr, Scope.CLUSTER, _get_all(_kind), _kube_list(f"istio_doctor.evidence.istio:{_model}"),
            f"list[{_model}]", f"every {_kind}", crd=True, namespace_fallback=True)

# -- namespace scope ----------------------------------------------------------------------------

_define("PODS", Scope.NAMESPACE, _get_in("pods"), _kube_list("istio_doctor.evidence.kube:Pod"), "list[Pod]",
        "the namespace's pods")
_define("ENDPOINTSLICES", Scope.NAMESPACE, _get_in("endpointslices"),
        _kube_list("istio_doctor.evidence.kube:EndpointSlice"), "list[EndpointSlice]", "the namespace's EndpointSlices")
_define("EVENTS", Scope.NAMESPACE, _get_in("events"), _kube_list("istio_doctor.evidence.kube:Event"), "list[Event]",
        "the namespace's events")
_define("DEPLOYMENTS", Scope.NAMESPACE, _get_in("deployments"), _kube_list("istio_doctor.evidence.kube:Deployment"),
        "list[Deployment]", "the namespace's Deployments")
_define("REPLICASETS", Scope.NAMESPACE, _get_in("replicasets"), _kube_list("istio_doctor.evidence.kube:ReplicaSet"),
        "list[ReplicaSet]", "the namespace's ReplicaSets")


def _analyze(conn: Connection, a: BuildArgs) -> Call:
    ns = validate_namespace(a.namespace or "default")
    return Call(_c(["istioctl", "analyze", "-n", ns, "-o", "json"], conn), (_c(["istioctl", "analyze", "-n", ns], conn),))


# istioctl analyze -o log exits 79 when it found issues: the output is still the result.
_define("ANALYZE", Scope.NAMESPACE, _analyze, _call("istio_doctor.evidence.analyze:parse_analyze", command=True),
        "list[AnalyzeMessage]", "istioctl analyze messages for the namespace", ok_exit_codes=frozenset({0, 79}))


def _namespace_proxy_logs(conn: Connection, a: BuildArgs) -> Call:
    # One call for every injected pod (the injector labels them tlsMode=istio); --prefix tags
    # each line with its pod. Without -f, kubectl reads the pods one after another.
    return Call(_c(["kubectl", "logs", "-n", validate_namespace(a.namespace or "default"), "-l",
                    "security.istio.io/tlsMode=istio", "-c", "istio-proxy", "--prefix", f"--since={a.since}",
                    "--tail=200"], conn))


_define("NAMESPACE_PROXY_LOGS", Scope.NAMESPACE, _namespace_proxy_logs,
        _call("istio_doctor.evidence.accesslog:parse_prefixed_proxy_logs"), "dict[str, ProxyLog]",
        "every in-mesh pod's recent istio-proxy log in one call (namespace scans flag pods by it)")

# -- pod scope ----------------------------------------------------------------------------------


def _pod(conn: Connection, a: BuildArgs) -> Call:
    return Call(_c(kubectl_get("pod", namespace=a.namespace, name=a.name), conn))


def _config_dump(conn: Connection, a: BuildArgs) -> Call:
    # One dump, every view derived from it. The gatherer falls back to the per-type
    # `proxy-config <type> -o json` calls (commands.config_dump_per_type_calls) for istioctl
    # builds whose `all` subcommand is missing or fails.
    pod, ns = _pod_ns(a)
    return Call(_c(["istioctl", "proxy-config", "all", pod, "-n", ns, "-o", "json"], conn))


def _proxy_logs(conn: Connection, a: BuildArgs) -> Call:
    pod, ns = _pod_ns(a)
    return Call(_c(["kubectl", "logs", pod, "-n", ns, "-c", "istio-proxy", f"--since={a.since}", f"--tail={int(a.tail)}"], conn))


def _init_logs(conn: Connection, a: BuildArgs) -> Call:
    pod, ns = _pod_ns(a)
    obj = (a.inputs or {}).get("pod")
    if obj is not None and any(c.name == "istio-validation" for c in obj.spec.init_containers):
        # istio-cni pods have istio-validation instead of istio-init; asking for istio-init first
        # ends the call chain with "container istio-init is not valid" (not applicable)
        return Call(_c(["kubectl", "logs", pod, "-n", ns, "-c", "istio-validation", "--tail=200"], conn))
    return Call(_c(["kubectl", "logs", pod, "-n", ns, "-c", "istio-init", "--tail=200"], conn),
                (_c(["kubectl", "logs", pod, "-n", ns, "-c", "istio-validation", "--tail=200"], conn),))


def _describe(conn: Connection, a: BuildArgs) -> Call:
    pod, ns = _pod_ns(a)
    return Call(_c(["istioctl", "x", "describe", "pod", pod, "-n", ns], conn))


_define("POD", Scope.POD, _pod, _kube_object("istio_doctor.evidence.kube:Pod"), "Pod",
        "the pod object (spec and status)")
_define("CONFIG_DUMP", Scope.POD, _config_dump, _call("istio_doctor.evidence.envoy.configdump:parse_config_dump",
                                                      command=True, now=True),
        "ConfigDump", "the sidecar's Envoy config dump (every proxy-config view derives from it)", proxy=True)
_define("PROXY_LOGS", Scope.POD, _proxy_logs, _call("istio_doctor.evidence.accesslog:parse_proxy_log"), "ProxyLog",
        "the istio-proxy container's log (access log and component events)", proxy=True)
_define("INIT_LOGS", Scope.POD, _init_logs, _text, "str", "the istio-init (or istio-validation) container's log",
        requires=(Need.POD,))
_define("DESCRIBE", Scope.POD, _describe, _call("istio_doctor.evidence.describe:parse_describe_pod"), "DescribePod",
        "istioctl x describe pod", proxy=True)
_define("SOCKETS", Scope.POD, _exec("sockets", "sockets_ss", "sockets_proc"),
        _call("istio_doctor.evidence.sockets:parse_listening_sockets"), "list[ListeningSocket]",
        "listening sockets seen from the istio-proxy container (it shares the app's network namespace)", proxy=True)
_define("ENVOY_STATS", Scope.POD, _exec("envoy_stats"), _call("istio_doctor.evidence.envoystats:parse_envoy_stats"),
        "dict[str, int]", "Envoy admin /stats through pilot-agent", proxy=True)
_define("ENVOY_CLUSTERS", Scope.POD, _exec("envoy_clusters"),
        _call("istio_doctor.evidence.envoystats:parse_envoy_clusters"), "list[ClusterHostStatus]",
        "Envoy admin /clusters (endpoint health) through pilot-agent", proxy=True)


# -- lifecycle: the pod's timeline (issue 11) ------------------------------------------------------
# What the application and the istio-cni node agent logged, for the pod's timeline and the
# start-up / shutdown / CNI checks. Read-only `kubectl logs`, bounded by --tail and --since;
# --timestamps adds the container runtime's receive time (the node's clock, like the proxy log).

#: label of the istio-cni node agent's pods, every chart since 1.5
#: (istio/istio@1.22.0:manifests/charts/istio-cni/templates/daemonset.yaml ``k8s-app: istio-cni-node``)
CNI_AGENT_SELECTOR = "k8s-app=istio-cni-node"
#: the agent's container (same chart, every version): its log carries the CNI plugin's lines too
CNI_AGENT_CONTAINER = "install-cni"
_SAMPLE_CONTAINER = "app"  # argv shape for docs and the read-only tests (no session, no pod)
_SAMPLE_CNI_POD = ("istio-cni-node-x2k9d", "istio-system")


def _app_logs(conn: Connection, a: BuildArgs) -> Call:
    # Every container, init containers included; --ignore-errors keeps one container still
    # waiting to start from hiding the others' lines (kubectl prints "error: ..." instead).
    pod, ns = _pod_ns(a)
    return Call(_c(["kubectl", "logs", pod, "-n", ns, "--all-containers=true", "--prefix=true", "--timestamps=true",
                    "--ignore-errors=true", f"--since={a.since}", "--tail=200"], conn))


def _restarted_container(pod: Any) -> str | None:
    """The container whose previous run tells why it restarted: an app container first, then an
    app init container (Istio's own are read through INIT_LOGS)."""
    st = getattr(pod, "status", None)
    for group in (getattr(st, "container_statuses", []) or [], getattr(st, "init_container_statuses", []) or []):
        for cs in group:
            if cs.name in ("istio-proxy", "istio-init", "istio-validation"):
                continue
            if cs.restart_count and cs.last_state.terminated is not None:
                return str(cs.name)
    return None


def _app_previous_logs(conn: Connection, a: BuildArgs) -> Call:
    pod, ns = _pod_ns(a)
    if a.inputs is None:
        container = _SAMPLE_CONTAINER
    else:
        obj = a.inputs.get(Need.POD.value)
        container = _restarted_container(obj) if obj is not None else None
        if container is None:
            raise NothingToGather(f"no container of pod {ns}/{pod} has restarted, so there is no previous run to read")
    return Call(_c(["kubectl", "logs", pod, "-n", ns, "-c", validate_name(container), "--previous", "--timestamps=true",
                    "--tail=200"], conn))


def _cni_pods(conn: Connection, a: BuildArgs) -> Call:
    # The agent runs in istio-system or kube-system (GKE needs the latter): list it cluster-wide,
    # narrowed to those two namespaces when RBAC refuses --all-namespaces.
    argv = ["kubectl", "get", "pods", "--all-namespaces", "-l", CNI_AGENT_SELECTOR, "-o", "json"]
    fb = [["kubectl", "get", "pods", "-n", ns, "-l", CNI_AGENT_SELECTOR, "-o", "json"]
          for ns in dict.fromkeys((conn.istio_namespace, "kube-system"))]
    return Call(_c(argv, conn), tuple(_c(f, conn) for f in fb))


def _previous_log_parser(text: str, env: ParseEnv) -> Any:
    from istio_doctor.evidence.podlogs import parse_container_log

    argv = env.command.split()
    container = argv[argv.index("-c") + 1] if "-c" in argv[:-1] else ""
    return parse_container_log(text, container)


_define("APP_LOGS", Scope.POD, _app_logs, _call("istio_doctor.evidence.podlogs:parse_pod_logs"), "PodLogs",
        "every container's log, init containers included, with the runtime's timestamps (app network errors)")
_define("APP_PREVIOUS_LOGS", Scope.POD, _app_previous_logs, _previous_log_parser, "PodLogs",
        "the previous run of the pod's restarted container (why it crashed)", requires=(Need.POD,))
_define("CNI_PODS", Scope.CLUSTER, _cni_pods, _kube_list("istio_doctor.evidence.kube:Pod"), "list[Pod]",
        "the istio-cni node agent pods (which node's agent was ready when)")
# CNI_LOGS (the istio-cni agent's log on the pod's node) serves the timeline too: ambient section below.


# -- ambient: ztunnel, istio-cni, waypoints (issue 13) ------------------------------------------
# Cluster-wide lists are asked in every namespace first (GKE and OpenShift run ztunnel and
# istio-cni in kube-system), then narrowed to the control plane namespace when RBAC refuses -A.
# The pod-scope kinds are read from the agent on the examined pod's node (``node_agent``):
# ztunnel's /config_dump and log, istio-cni's log. Sources: istio/istio@86c9f01
# manifests/charts/{ztunnel,istio-cni} (labels app=ztunnel, k8s-app=istio-cni-node, ConfigMap
# istio-cni-config) and istioctl/cmd/root.go (ztunnel-config top level from 1.23, under `x` in 1.22).

_AMBIENT_MODELS = "istio_doctor.evidence.ambient.kube_models"


def _labelled_pods(selector: str) -> Builder:
    def build(conn: Connection, a: BuildArgs) -> Call:
        base = ["kubectl", "get", "pods"]
        return Call(_c([*base, "--all-namespaces", "-l", selector, "-o", "json"], conn),
                    (_c([*base, "-n", conn.istio_namespace, "-l", selector, "-o", "json"], conn),))

    return build


def _everywhere_or_istio_ns(kind: str) -> Builder:
    def build(conn: Connection, a: BuildArgs) -> Call:
        return Call(_c(kubectl_get(kind, all_namespaces=True), conn), (_c(kubectl_get(kind, namespace=conn.istio_namespace), conn),))

    return build


def _configmap(name: str, namespace: str | None) -> Builder:
    """One ConfigMap asked as a list filtered by name: an absent one is an empty list (a fact: not
    installed), not a NotFound gap. ``namespace`` None: wherever it is (istio-cni may run in
    kube-system), narrowed to the control plane namespace when RBAC refuses -A."""

    def build(conn: Connection, a: BuildArgs) -> Call:
        sel = ["--field-selector", f"metadata.name={validate_name(name)}", "-o", "json"]
        if namespace:
            return Call(_c(["kubectl", "get", "configmaps", "-n", namespace, *sel], conn))
        return Call(_c(["kubectl", "get", "configmaps", "--all-namespaces", *sel], conn),
                    (_c(["kubectl", "get", "configmaps", "-n", conn.istio_namespace, *sel], conn),))

    return build


def _ztunnel_config(conn: Connection, a: BuildArgs) -> Call:
    # ``all -o json`` prints the whole /config_dump (PrintFullDump): every view derives from it.
    pod, ns = validate_name(a.name or ""), validate_namespace(a.namespace or conn.istio_namespace)
    return Call(_c(["istioctl", "ztunnel-config", "all", pod, "-n", ns, "-o", "json"], conn),
                (_c(["istioctl", "x", "ztunnel-config", "all", pod, "-n", ns, "-o", "json"], conn),))


def _ztunnel_log(conn: Connection, a: BuildArgs) -> Call:
    """ztunnel's log. Its only container is ``istio-proxy``, left to kubectl's default so the ask
    differs from a sidecar's ``-c istio-proxy`` log and from istio-cni's ``-c install-cni``
    (manifests/charts/{ztunnel,istio-cni}/templates/daemonset.yaml at 1.22.0 through 86c9f01): a
    replay or a bug-report archive knows which agent's log is wanted from the argv alone."""
    pod, ns = validate_name(a.name or ""), validate_namespace(a.namespace or conn.istio_namespace)
    return Call(_c(["kubectl", "logs", pod, "-n", ns, f"--since={a.since}", f"--tail={int(a.tail)}"], conn))


_define("ZTUNNEL_PODS", Scope.CLUSTER, _labelled_pods("app=ztunnel"), _kube_list("istio_doctor.evidence.kube:Pod"),
        "list[Pod]", "ztunnel pods (one per node) in every namespace")
# CNI_PODS (the istio-cni node agents, every namespace) is defined once, in the lifecycle section above.
_define("DAEMONSETS", Scope.CLUSTER, _everywhere_or_istio_ns("daemonsets"), _kube_list(f"{_AMBIENT_MODELS}:DaemonSet"),
        "list[DaemonSet]", "DaemonSets (ztunnel, istio-cni-node, and the CNI's own: aws-node, cilium)")
_define("NODES", Scope.CLUSTER, _fixed(kubectl_get("nodes")), _kube_list(f"{_AMBIENT_MODELS}:Node"), "list[Node]",
        "nodes (platform from providerID and kubelet version, taints)")
_define("NETWORK_POLICIES", Scope.CLUSTER, _get_all("networkpolicies.networking.k8s.io"),
        _kube_list(f"{_AMBIENT_MODELS}:NetworkPolicy"), "list[NetworkPolicy]",
        "Kubernetes NetworkPolicies (HBONE port 15008 and the probe address 169.254.7.127)", namespace_fallback=True)
_define("CNI_CONFIG", Scope.CLUSTER, _configmap("istio-cni-config", None), _kube_list("istio_doctor.evidence.kube:ConfigMap"),
        "list[ConfigMap]", "istio-cni's settings (EXCLUDE_NAMESPACES, AMBIENT_ENABLED, AMBIENT_DNS_CAPTURE); empty: not installed")
_define("CILIUM_CONFIG", Scope.CLUSTER, _configmap("cilium-config", "kube-system"),
        _kube_list("istio_doctor.evidence.kube:ConfigMap"), "list[ConfigMap]",
        "Cilium's settings (bpf masquerade, cni-exclusive); empty: Cilium is not the CNI")
_define("RESOURCE_QUOTAS", Scope.CLUSTER, _get_in("resourcequotas", istio_namespace=True),
        _kube_list(f"{_AMBIENT_MODELS}:ResourceQuota"), "list[ResourceQuota]",
        "ResourceQuotas of the control plane namespace (GKE admits system-node-critical pods only with one)")
_define("SECURITY_GROUP_POLICIES", Scope.CLUSTER, _get_all("securitygrouppolicies.vpcresources.k8s.aws"),
        _kube_list(f"{_AMBIENT_MODELS}:SecurityGroupPolicy"), "list[SecurityGroupPolicy]",
        "EKS SecurityGroupPolicies (security groups for pods)", crd=True, namespace_fallback=True)
_define("ZTUNNEL_CONFIG", Scope.POD, _ztunnel_config,
        _call("istio_doctor.evidence.ambient.ztunnel_dump:parse_ztunnel_dump", command=True, now=True), "ZtunnelDump",
        "the /config_dump of the ztunnel on the pod's node (every ztunnel-config view derives from it)",
        node_agent="ztunnel")
_define("ZTUNNEL_LOGS", Scope.POD, _ztunnel_log, _call("istio_doctor.evidence.ambient.ztunnel_log:parse_ztunnel_log"),
        "ZtunnelLog", "the log of the ztunnel on the pod's node (access lines and component events)", node_agent="ztunnel")
def _cni_agent_log(conn: Connection, a: BuildArgs) -> Call:
    """``kubectl logs <istio-cni-node pod> -c install-cni --timestamps``: one gather for the
    ambient checks (enrolment lines) and the lifecycle timeline (repair lines, ordered by
    kubectl's time). A sidecar whose redirection istio-init set up (no ``istio-validation`` init
    container, istio/istio@1.22.0 manifests/charts/istio-control/istio-discovery/files/injection-template.yaml)
    is never touched by the agent: nothing to read for it."""
    if a.inputs is not None:
        obj = a.inputs.get(Need.POD.value)
        if obj is not None and obj.has_sidecar and not any(c.name == "istio-validation" for c in obj.spec.init_containers):
            raise NothingToGather(f"pod {obj.metadata.namespace}/{obj.metadata.name} is redirected by istio-init, not istio-cni "
                                  "(no istio-validation init container)")
    pod, ns = validate_name(a.name or _SAMPLE_CNI_POD[0]), validate_namespace(a.namespace or conn.istio_namespace)
    return Call(_c(["kubectl", "logs", pod, "-n", ns, "-c", CNI_AGENT_CONTAINER, "--timestamps=true", f"--since={a.since}",
                    f"--tail={int(a.tail)}"], conn))


_define("CNI_LOGS", Scope.POD, _cni_agent_log, _call("istio_doctor.evidence.ambient.cni_log:parse_cni_log", command=True),
        "CniLog", "the log of the istio-cni node agent on the pod's node (enrolment, repair: the pod's timeline)",
        requires=(Need.POD,), node_agent="cni")

