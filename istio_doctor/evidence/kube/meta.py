"""Building blocks every Kubernetes model shares: the Istio label/annotation keys, ``KubeModel``
(tolerant base: camelCase aliases, ``null`` dropped), ``ObjectMeta``, ``K8sObject``
(``KIND``/``API_GROUPS`` for list filtering, ``ref`` for findings), ``LabelSelector`` (Kubernetes
selector semantics) and ``Condition``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

# --------------------------------------------------------------------------------------
# shared building blocks
# --------------------------------------------------------------------------------------

SIDECAR_NAME = "istio-proxy"
#: UID the proxy runs as; iptables exempts its traffic, so an app with this UID bypasses the mesh.
PROXY_UID = 1337

INJECT_KEY = "sidecar.istio.io/inject"
STATUS_ANNOTATION = "sidecar.istio.io/status"
REV_KEY = "istio.io/rev"
INJECTION_NS_LABEL = "istio-injection"
DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode"


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value


def _stringify_map(value: Any) -> Any:
    # Hand-written manifests carry unquoted numbers/booleans as label values (`version: 1`);
    # the API server would store them as strings, so we do the same instead of rejecting them.
    if isinstance(value, dict):
        return {str(k): v if isinstance(v, str) else json.dumps(v) if isinstance(v, bool) else str(v) for k, v in value.items() if v is not None}
    return value


StrMap = Annotated[dict[str, str], BeforeValidator(_stringify_map)]


def _lenient_time(value: Any) -> Any:
    # Timestamps only order and age things; an unparseable one (test goldens write
    # `lastTransitionTime: fake`) is "unknown", not a reason to reject the whole object.
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value


Timestamp = Annotated[datetime | None, BeforeValidator(_lenient_time)]


class KubeModel(BaseModel):
    """Base for every model of data we do not own: typed where read, tolerant elsewhere."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        arbitrary_types_allowed=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return _drop_nones(data)


class OwnerReference(KubeModel):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool = False


class ObjectMeta(KubeModel):
    name: str = ""
    namespace: str | None = None
    labels: StrMap = {}
    annotations: StrMap = {}
    uid: str | None = None
    creation_timestamp: Timestamp = None
    deletion_timestamp: Timestamp = None
    owner_references: list[OwnerReference] = []
    generation: int | None = None
    resource_version: str | None = None
    generate_name: str | None = None


class K8sObject(KubeModel):
    """Any Kubernetes object. Subclasses set ``KIND`` (and ``API_GROUPS`` when the kind name is
    ambiguous, e.g. Istio's and Gateway API's ``Gateway``) so list parsing can skip other kinds."""

    KIND: ClassVar[str | None] = None
    API_GROUPS: ClassVar[tuple[str, ...]] = ()

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = ObjectMeta()

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.labels

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.annotations

    @property
    def api_group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def ref(self) -> str:
        """``Kind ns/name`` (cluster-scoped: ``Kind name``), the form used in findings."""
        kind = self.kind or self.KIND or "object"
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"

    @classmethod
    def accepts(cls, kind: str | None, api_version: str | None) -> bool:
        """Whether a raw object of this kind/apiVersion belongs to this model."""
        if cls.KIND is None or not kind:
            return True
        if kind != cls.KIND:
            return False
        if cls.API_GROUPS and api_version:
            group = api_version.rpartition("/")[0] if "/" in api_version else ""
            return group in cls.API_GROUPS
        return True


class LabelSelectorRequirement(KubeModel):
    key: str
    operator: str
    values: list[str] = []


class LabelSelector(KubeModel):
    """``metav1.LabelSelector`` with Kubernetes matching semantics."""

    match_labels: StrMap = {}
    match_expressions: list[LabelSelectorRequirement] = []

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: dict[str, str] | None) -> bool:
        """Kubernetes semantics: every matchLabels pair and every expression must hold; an
        empty selector matches everything. ``NotIn`` also matches objects *without* the key,
        which is exactly why ``sidecar.istio.io/inject NotIn [false]`` selects unlabeled pods."""
        labels = labels or {}
        for k, v in self.match_labels.items():
            if labels.get(k) != v:
                return False
        for req in self.match_expressions:
            present = req.key in labels
            op = req.operator
            if op == "In":
                if not present or labels[req.key] not in req.values:
                    return False
            elif op == "NotIn":
                if present and labels[req.key] in req.values:
                    return False
            elif op == "Exists":
                if not present:
                    return False
            elif op == "DoesNotExist":
                if present:
                    return False
            else:
                # The API server rejects unknown operators, so this only happens on corrupt
                # input; not matching is the conservative answer (no injection predicted).
                return False
        return True


class Condition(KubeModel):
    """The common condition shape (pods, deployments, Gateway API status...)."""

    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None
    last_transition_time: Timestamp = None
    observed_generation: int | None = None

    @property
    def is_true(self) -> bool:
        return self.status == "True"


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    """The condition of that type (a status lists each type at most once), or None."""
    return next((c for c in conditions if c.type == type_), None)
