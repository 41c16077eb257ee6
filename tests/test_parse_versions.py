"""Version parsing/comparison and `istioctl version` / `kubectl version` parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_doctor.evidence.errors import ParseError
from istio_doctor.evidence.versions import (
    Version,
    minor_skew,
    older_than,
    parse_istioctl_version,
    parse_kubectl_version,
    parse_version,
)

FIX = Path(__file__).parent / "fixtures" / "versions"
FILES = sorted(p for p in FIX.iterdir() if p.name != "SOURCES.md")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_version_fixture_parses(path: Path) -> None:
    if path.name.startswith("kubectl"):
        kv = parse_kubectl_version(path.read_text(), command="kubectl version -o json")
        assert kv.client is not None and kv.client.version is not None
    else:
        iv = parse_istioctl_version(path.read_text(), command="istioctl version")
        assert iv.client is not None


@pytest.mark.parametrize(
    ("text", "major", "minor", "patch", "suffix", "pre"),
    [
        ("1.22.3", 1, 22, 3, "", False),
        ("v1.29.1", 1, 29, 1, "", False),
        ("1.30-dev", 1, 30, None, "dev", True),
        ("1.20.8-OSSM", 1, 20, 8, "OSSM", False),
        ("1.21.0-alpha.2", 1, 21, 0, "alpha.2", True),
        ("v1.28.5-gke.1217000", 1, 28, 5, "gke.1217000", False),
    ],
)
def test_version_parse(text: str, major: int, minor: int, patch: int | None, suffix: str, pre: bool) -> None:
    v = Version.parse(text)
    assert (v.major, v.minor, v.patch, v.suffix, v.is_prerelease) == (major, minor, patch, suffix, pre)


def test_version_ordering() -> None:
    ordered = ["1.9.9", "1.20.8-OSSM", "1.21.0-alpha.2", "1.21.0-rc.0", "1.21.0", "1.22.3", "1.30-dev", "1.30.1"]
    vs = [Version.parse(s) for s in ordered]
    assert sorted(reversed(vs)) == vs
    assert Version.parse("1.20.8-OSSM") == Version.parse("1.20.8")
    assert Version.parse("1.30-dev").at_least(1, 30) and not Version.parse("1.29.9").at_least(1, 30)
    assert str(Version.parse("v1.21.0-alpha.2")) == "1.21.0-alpha.2"


def test_none_safe_helpers() -> None:
    assert parse_version("unknown") is None and parse_version(None) is None and parse_version("") is None
    a, b = parse_version("1.22.3"), parse_version("1.20.1")
    assert minor_skew(a, b) == 2 and minor_skew(a, None) is None
    assert older_than(b, a) is True and older_than(None, a) is None


def test_istioctl_version_json() -> None:
    iv = parse_istioctl_version((FIX / "istioctl_version.json").read_text())
    assert iv.client == Version.parse("1.22.3")
    assert [(c.component, c.revision, str(c.version)) for c in iv.control_plane] == [("istiod", "default", "1.22.3"), ("istiod", "canary", "1.23.0")]
    assert [(p.proxy, str(p.version)) for p in iv.data_plane] == [
        ("productpage-v1-6b746f74dc-9stvs.default", "1.22.3"),
        ("reviews-v1-545db77b95-2c4lm.default", "1.21.0"),
    ]
    assert [str(v) for v in iv.data_plane_versions] == ["1.21.0", "1.22.3"] and iv.proxy_count == 2


def test_istioctl_version_text_forms() -> None:
    plain = parse_istioctl_version((FIX / "istioctl_version.txt").read_text())
    assert str(plain.client) == "1.22.3" and [str(v) for v in plain.control_plane_versions] == ["1.22.3"]
    assert plain.proxy_count == 5
    skew = parse_istioctl_version((FIX / "istioctl_version_skew.txt").read_text())
    assert [str(v) for v in skew.control_plane_versions] == ["1.22.3", "1.23.0"]
    assert [(str(p.version), p.count) for p in skew.data_plane] == [("1.22.3", 4), ("1.21.0", 1)]
    no_cp = parse_istioctl_version((FIX / "istioctl_version_no_cp.txt").read_text())
    assert no_cp.client is not None and no_cp.client.suffix == "OSSM" and no_cp.control_plane == []


def test_kubectl_version() -> None:
    kv = parse_kubectl_version((FIX / "kubectl_version.json").read_text())
    assert kv.client is not None and str(kv.client.version) == "1.29.1"
    assert kv.server is not None and kv.server.minor == "28+"
    sv = kv.server.version
    assert sv is not None and sv.minor_version == (1, 28) and sv.suffix == "gke.1217000"
    assert parse_kubectl_version((FIX / "kubectl_version_no_server.json").read_text()).server is None


@pytest.mark.parametrize(
    ("func", "text", "fragment"),
    [
        (parse_istioctl_version, "", "empty output"),
        (parse_istioctl_version, '{"clientVersion": {"version": "1.2', "invalid JSON"),
        (parse_istioctl_version, "Error: unknown command", "no `... version:` line"),
        (parse_istioctl_version, '{"foo": 1}', "no clientVersion"),
        (parse_kubectl_version, '{"clientVersion": ', "invalid JSON"),
        (parse_kubectl_version, '{"kind": "Pod"}', "no clientVersion or serverVersion"),
    ],
)
def test_garbage_raises_parse_error(func, text: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParseError, match=fragment) as ei:
        func(text, command="x version")
    assert ei.value.command == "x version"
