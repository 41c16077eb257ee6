"""Small helpers every scenario module uses: one world with one change, lookups, common traffic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.world import Request, Service, Workload, World, cr

#: mesh-wide and foo-namespace STRICT PeerAuthentications (the usual mTLS rollout steps)
STRICT_MESH = cr("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}})
STRICT_FOO = cr("PeerAuthentication", "default", "foo", {"mtls": {"mode": "STRICT"}})


def world(mutate: Callable[[World], None] | None = None, **kw: Any) -> World:
    """The healthy bookinfo world with one change applied."""
    w = bookinfo_world(**kw)
    if mutate is not None:
        mutate(w)
    return w


def wl(w: World, key: str) -> Workload:
    found = w.workload(key)
    assert found is not None, key
    return found


def svc(w: World, name: str, ns: str = "default") -> Service:
    found = w.service(name, ns)
    assert found is not None, name
    return found


def pod_target(w: World, key: str) -> str:
    """``pod/NAME -n NS`` of a workload's first pod (what an SRE copies from ``kubectl get pods``)."""
    ns = key.split("/", 1)[0]
    return f"pod/{w.pods_of(wl(w, key))[0].name} -n {ns}"


def ratings_calls(w: World, count: int = 4, **kw: Any) -> None:
    """reviews-v2 calls ratings, the most common failing edge in bookinfo incidents."""
    w.traffic.append(Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=count, **kw))
