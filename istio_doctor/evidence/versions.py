"""Istio and Kubernetes versions: a comparable ``Version`` and the ``version`` command parsers.

Versions seen in the wild: ``1.22.3``, ``v1.29.1``, ``1.30-dev`` (master builds),
``1.21.0-alpha.2``/``-beta.1``/``-rc.0`` (pre-releases, older than the release),
``1.20.8-OSSM`` / ``v1.29.1-gke.1589000`` / ``1.22.3-distroless`` (vendor or build suffixes,
the same code as the plain release). Checks compare versions to decide which command
formats and behaviours apply, so unparseable text gives ``None`` and the ``*_or_none``
helpers propagate it instead of guessing.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from istio_doctor.evidence.errors import ParseError

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+~](.+))?$")
_PRERELEASE = re.compile(r"^(alpha|beta|rc|dev|pre)([.\-]?\d+)*$", re.I)


class Version(BaseModel):
    model_config = ConfigDict(frozen=True)

    major: int
    minor: int
    patch: int | None = None  # None for "1.30-dev"
    suffix: str = ""  # text after the first - or + ("dev", "alpha.2", "OSSM", "gke.1589000")
    raw: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION.match(text.strip())
        if m is None:
            raise ValueError(f"not a version: {text!r}")
        return cls(major=int(m[1]), minor=int(m[2]), patch=int(m[3]) if m[3] is not None else None, suffix=m[4] or "", raw=text.strip())

    @property
    def is_prerelease(self) -> bool:
        return bool(self.suffix) and _PRERELEASE.match(self.suffix) is not None

    @property
    def minor_version(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def _key(self) -> tuple[Any, ...]:
        # Pre-releases sort before their release; vendor suffixes (OSSM, gke...) do not change
        # the code level, so they compare equal to the plain version.
        pre = (0, self.suffix.lower()) if self.is_prerelease else (1, "")
        return (self.major, self.minor, self.patch if self.patch is not None else 0, pre)

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Version) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Version) -> bool:
        return self._key() >= other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def at_least(self, major: int, minor: int, patch: int = 0) -> bool:
        """Capability gate: a pre-release or dev build of X.Y already behaves like X.Y."""
        return (self.major, self.minor, self.patch or 0) >= (major, minor, patch)

    def __str__(self) -> str:
        base = f"{self.major}.{self.minor}" + (f".{self.patch}" if self.patch is not None else "")
        return base + (f"-{self.suffix}" if self.suffix else "")


def parse_version(text: str | None) -> Version | None:
    """``Version`` or ``None`` for empty/unknown text (e.g. ``unknown``, a git SHA)."""
    if not text or not isinstance(text, str):  # JSON may carry a number or an object there
        return None
    try:
        return Version.parse(text)
    except ValueError:
        return None


def minor_skew(a: Version | None, b: Version | None) -> int | None:
    """Distance in minor releases between two versions (same major assumed), or ``None``."""
    if a is None or b is None:
        return None
    if a.major != b.major:
        return None
    return abs(a.minor - b.minor)


def older_than(a: Version | None, b: Version | None) -> bool | None:
    """``a < b`` or ``None`` when either is unknown (unknown is never silently "not older")."""
    if a is None or b is None:
        return None
    return a < b


# --------------------------------------------------------------------------------------
# istioctl version
# --------------------------------------------------------------------------------------


class ComponentVersion(NamedTuple):
    component: str  # "pilot", "istiod", ...
    revision: str  # "default" or the revision name
    version: Version | None


class ProxyVersion(NamedTuple):
    proxy: str  # "pod.namespace" or "" when only counts are known
    version: Version | None
    count: int = 1


class IstioVersions(BaseModel):
    model_config = ConfigDict(frozen=True)

    client: Version | None = None
    control_plane: list[ComponentVersion] = []
    data_plane: list[ProxyVersion] = []

    @property
    def control_plane_versions(self) -> list[Version]:
        return sorted({c.version for c in self.control_plane if c.version is not None})

    @property
    def data_plane_versions(self) -> list[Version]:
        return sorted({p.version for p in self.data_plane if p.version is not None})

    @property
    def proxy_count(self) -> int:
        return sum(p.count for p in self.data_plane)


def _strip_prefix_noise(text: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("{"):
            return "\n".join(lines[i:])
    return text


def parse_istioctl_version(text: str, *, command: str = "") -> IstioVersions:
    """``istioctl version`` in ``-o json`` or plain-text form.

    JSON (field names from istio ``pkg/version``: ``ServerInfo`` has no JSON tags, so its keys
    are capitalised)::

        {"clientVersion": {"version": "1.22.3", ...},
         "meshVersion": [{"Component": "pilot", "Revision": "default", "Info": {"version": "1.22.3"}}],
         "dataPlaneVersion": [{"ID": "pod.ns", "IstioVersion": "1.22.3"}]}

    Text: ``client version: X`` / ``control plane version: X[, Y]`` (older: ``pilot version``,
    ``istiod version``...) / ``data plane version: X (N proxies)[, Y (M proxies)]``.
    """
    body = text.strip()
    if not body:
        raise ParseError("istioctl version output", "empty output", command=command)
    if body.startswith("{") or "\n{" in body:
        return _istioctl_version_json(_strip_prefix_noise(body), command)
    return _istioctl_version_text(body, command)


def _get_ci(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        for dk, v in d.items():
            if dk.lower() == k.lower():
                return v
    return None


def _json_list(data: dict[str, Any], key: str, command: str) -> list[Any]:
    """``data[key]`` as a list (absent/null: empty); any other type is unreadable output."""
    value = _get_ci(data, key) or []
    if not isinstance(value, list):
        raise ParseError("istioctl version JSON", f"{key} is not a list", command=command)
    return value


def _istioctl_version_json(body: str, command: str) -> IstioVersions:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as e:
        raise ParseError("istioctl version JSON", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", command=command) from e
    if not isinstance(data, dict):
        raise ParseError("istioctl version JSON", "expected an object", command=command)
    client_info = _get_ci(data, "clientVersion") or {}
    client = parse_version(_get_ci(client_info, "version")) if isinstance(client_info, dict) else None
    cp: list[ComponentVersion] = []
    for s in _json_list(data, "meshVersion", command):
        if not isinstance(s, dict):
            raise ParseError("istioctl version JSON", "meshVersion entry is not an object", command=command)
        info = _get_ci(s, "Info") or {}
        cp.append(
            ComponentVersion(
                str(_get_ci(s, "Component") or ""),
                str(_get_ci(s, "Revision") or "default"),
                parse_version(_get_ci(info, "version") if isinstance(info, dict) else None),
            )
        )
    dp: list[ProxyVersion] = []
    for p in _json_list(data, "dataPlaneVersion", command):
        if not isinstance(p, dict):
            raise ParseError("istioctl version JSON", "dataPlaneVersion entry is not an object", command=command)
        dp.append(ProxyVersion(str(_get_ci(p, "ID") or ""), parse_version(_get_ci(p, "IstioVersion"))))
    if client is None and not cp and not dp:
        raise ParseError("istioctl version JSON", "no clientVersion, meshVersion or dataPlaneVersion", command=command)
    return IstioVersions(client=client, control_plane=cp, data_plane=dp)


_TEXT_LINE = re.compile(r"^(?P<what>[a-z][a-z \-]*?) version:\s*(?P<value>.*)$", re.I)
_PROXIES = re.compile(r"(?P<v>[^\s,()]+)\s*\((?P<n>\d+) prox(?:y|ies)\)")


def _istioctl_version_text(body: str, command: str) -> IstioVersions:
    client: Version | None = None
    cp: list[ComponentVersion] = []
    dp: list[ProxyVersion] = []
    seen = False
    for line in body.splitlines():
        m = _TEXT_LINE.match(line.strip())
        if not m:
            continue
        seen = True
        what, value = m["what"].strip().lower(), m["value"].strip()
        if what == "client":
            client = parse_version(value)
        elif what == "data plane":
            counted = list(_PROXIES.finditer(value))
            if counted:
                dp.extend(ProxyVersion("", parse_version(c["v"]), int(c["n"])) for c in counted)
            elif value:
                dp.extend(ProxyVersion("", parse_version(v.strip())) for v in value.split(",") if v.strip())
        else:
            component = "control plane" if what == "control plane" else what
            for v in value.split(","):
                if v.strip():
                    cp.append(ComponentVersion(component, "default", parse_version(v.strip())))
    if not seen:
        raise ParseError("istioctl version output", f"no `... version:` line; first line: {body.splitlines()[0][:120]!r}", command=command)
    return IstioVersions(client=client, control_plane=cp, data_plane=dp)


# --------------------------------------------------------------------------------------
# kubectl version
# --------------------------------------------------------------------------------------


class KubeVersionInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    git_version: str = ""
    major: str = ""
    minor: str = ""  # may carry a "+" on managed clusters ("29+")
    platform: str = ""

    @property
    def version(self) -> Version | None:
        v = parse_version(self.git_version)
        if v is not None:
            return v
        try:
            return Version(major=int(self.major), minor=int(self.minor.rstrip("+")), raw=f"{self.major}.{self.minor}")
        except ValueError:
            return None


class KubeVersions(BaseModel):
    model_config = ConfigDict(frozen=True)

    client: KubeVersionInfo | None = None
    server: KubeVersionInfo | None = None


def _kube_info(d: Any) -> KubeVersionInfo | None:
    if not isinstance(d, dict):
        return None
    return KubeVersionInfo(
        git_version=str(d.get("gitVersion") or ""),
        major=str(d.get("major") or ""),
        minor=str(d.get("minor") or ""),
        platform=str(d.get("platform") or ""),
    )


def parse_kubectl_version(text: str, *, command: str = "") -> KubeVersions:
    """``kubectl version -o json`` (``serverVersion`` is absent when the cluster is unreachable)."""
    body = _strip_prefix_noise(text.strip())
    if not body:
        raise ParseError("kubectl version output", "empty output", command=command)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as e:
        raise ParseError("kubectl version JSON", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", command=command) from e
    if not isinstance(data, dict) or not ("clientVersion" in data or "serverVersion" in data):
        raise ParseError("kubectl version JSON", "no clientVersion or serverVersion", command=command)
    return KubeVersions(client=_kube_info(data.get("clientVersion")), server=_kube_info(data.get("serverVersion")))
