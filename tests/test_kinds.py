"""Evidence kinds as one table: each ``Need`` is defined once (scope, argv, parser, value type).

The point of the table is that adding an evidence kind touches one place. The last test proves
it: a kind defined in the test alone is built, gathered, parsed and read back, with no other
module knowing about it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Iterator

import pytest

from istio_doctor.evidence import kinds
from istio_doctor.evidence.bundle import Evidence, EvidenceKey, Need, Scope
from istio_doctor.evidence.commands import build_call, every_argv
from istio_doctor.evidence.gather import Gatherer
from istio_doctor.evidence.kinds import BuildArgs, ParseEnv
from istio_doctor.evidence.safety import check_read_only
from istio_doctor.evidence.target import Connection
from tests.test_gather import ScriptedRunner, ok


def test_need_behaves_like_the_enum_it_replaced() -> None:
    assert Need("pods") is Need.PODS and Need.PODS == "pods" and Need.PODS.value == "pods"
    assert str(Need.CONFIG_DUMP) == "config_dump" and repr(Need.CONFIG_DUMP) == "Need.CONFIG_DUMP"
    assert list(Need)[0] is Need.KUBECTL_VERSION and len(list(Need)) == len(Need)
    with pytest.raises(ValueError, match="not an evidence kind"):
        Need("nope")
    key = EvidenceKey(need="config_dump", namespace="default", name="p")  # type: ignore[arg-type]
    assert key.need is Need.CONFIG_DUMP and key.model_dump()["need"] == "config_dump"


def test_every_declared_kind_is_defined_and_every_defined_kind_declared() -> None:
    declared = {k for k, v in Need.__annotations__.items() if "ClassVar[Need[" in str(v)}
    assert declared == {n.name for n in Need}


@pytest.mark.parametrize("need", list(Need), ids=lambda n: n.value)
def test_each_kind_builds_a_read_only_argv_and_names_an_importable_parser(need: Need) -> None:
    call = build_call(need, Connection(context="c"), namespace="default", name="p-1", istioctl_minor=30,
                      fallback_namespace="default")
    for argv in (call.argv, *call.fallbacks):
        check_read_only(argv)
        assert argv[0] in ("kubectl", "istioctl") and "--context" in argv
    # parser references are "module:attr" strings resolved on first use: each must resolve
    for cell in need.parse.__closure__ or ():
        v = cell.cell_contents
        if isinstance(v, str) and ":" in v:
            module, _, attr = v.partition(":")
            assert hasattr(importlib.import_module(module), attr), v
    assert need.scope in Scope and need.doc and need.value_type


def test_proxy_kinds_are_pod_scoped() -> None:
    assert all(n.scope is Scope.POD for n in Need if n.proxy)


def test_every_argv_covers_every_kind() -> None:
    argvs = set(every_argv())
    for need in Need:
        assert build_call(need, Connection(context="ctx", kubeconfig="/tmp/kubeconfig"), namespace="default",
                          name="productpage-v1-6b746f74dc-9stvs", fallback_namespace="default").argv in argvs


@pytest.fixture
def extra_kind() -> Iterator[Need[dict[str, int]]]:
    def build(conn: Connection, a: BuildArgs) -> kinds.Call:
        return kinds.Call(("kubectl", "get", "configmaps", "-n", a.namespace or "default", "-o", "json"))

    def parse(text: str, env: ParseEnv) -> dict[str, int]:
        return {"items": len(json.loads(text)["items"])}

    need = kinds._define("TEST_CONFIGMAP_COUNT", Scope.NAMESPACE, build, parse, "dict[str, int]", "a test-only kind")
    try:
        yield need
    finally:
        del Need._members[need.value]
        delattr(Need, "TEST_CONFIGMAP_COUNT")


def test_a_new_kind_is_one_definition(extra_kind: Need[dict[str, int]]) -> None:
    argv = ("kubectl", "get", "configmaps", "-n", "foo", "-o", "json")
    runner = ScriptedRunner({argv: ok(argv, json.dumps({"items": [{}, {}]}))})
    ev: Evidence = asyncio.run(Gatherer(runner, Connection()).gather([EvidenceKey(need=extra_kind, namespace="foo")]))
    assert ev.get(extra_kind, "foo") == {"items": 2}
    assert runner.calls == [argv]
