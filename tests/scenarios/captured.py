"""Captured scenarios: real outputs from the corpus spliced into a scenario world.

Each scenario takes real captures from ``tests/fixtures/corpus`` (origin in its ``SOURCES.md``)
and places them where the tool reads them; the world answers every other call and is built to be
the cluster the capture came from (the same failure, the same kind of workload, the capture's
names mapped onto the world's). The expected verdict is worked out from the capture itself (what
the captured text says went wrong, written above each scenario), not from the tool's answer.
The recordings say ``provenance: captured`` and name the captures; ``tests/test_real_formats_e2e.py``
replays each through the installed CLI and checks the capture was read.

They live in the folder of the playbook whose symptom they show, named ``captured-*``.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.scenariokit import Capture, Expect, Scenario
from tests.scenariokit.bookinfo import bookinfo_world, proxy
from tests.scenariokit.helpers import STRICT_MESH, pod_target, ratings_calls, wl
from tests.scenariokit.world import Namespace, Request, World, cr


def _world(mutate: Callable[[World], None] | None = None, version: str = "1.22.3", **kw: object) -> World:
    w = bookinfo_world(version, **kw)  # type: ignore[arg-type]
    if mutate is not None:
        mutate(w)
    return w


def _webhook_fails(workload: str, error: str = "deadline") -> Callable[[World], None]:
    """The injector webhook cannot be called (failurePolicy Fail) while ``workload`` needs new pods."""
    def m(w: World) -> None:
        w.control_plane.webhook_error = error
        wl(w, workload).new_pods = True
    return m


def _failed_create(corpus: str) -> list[Capture]:
    """A captured FailedCreate (event or ReplicaSet status): the controller records the same error
    in the ReplicaSet's ReplicaFailure condition and in its events, so both carry it."""
    return [Capture(("get", "events"), corpus, how="events"), Capture(("get", "replicasets"), corpus, how="rs_failure")]


def _inj(name: str, desc: str, target: str, world: World, captures: list[Capture], first: str | None,
         expect: Expect | None = None) -> Scenario:
    return Scenario("injection", name, desc, target, "injection", world, expect or Expect(first, [first] if first else []), captures)


# -- injection: what the API server says when it cannot call the injector --------------------------------
#
# Each event/status says the API server could not call the sidecar injector webhook while
# creating pods: the cause is INJ-WEBHOOK-DOWN, whatever the error behind it.

INJECTION = [
    _inj("captured-webhook-deadline-eks-1-12",
         "istio/istio#36955 (1.12 on EKS): FailedCreate, the webhook call exceeded its deadline",
         "deploy/productpage-v1 -n default", _world(_webhook_fails("default/productpage-v1"), "1.12.1"),
         _failed_create("captured/events/istio-36955_rs_event_webhook_deadline_1.12_eks.txt"), "INJ-WEBHOOK-DOWN"),
    _inj("captured-webhook-replicafailure-status",
         "istio/istio#43882 (1.17): the ReplicaSet's ReplicaFailure condition, webhook call deadline exceeded",
         "deploy/details-v1 -n default", _world(_webhook_fails("default/details-v1"), "1.17.1"),
         _failed_create("captured/events/istio-43882_rs_status_replicafailure_webhook.yaml"), "INJ-WEBHOOK-DOWN"),
    _inj("captured-webhook-internal-error-1-20",
         "istio/istio#48098 (1.20): the injector answered the webhook call with Internal Server Error",
         "deploy/ratings-v1 -n default", _world(_webhook_fails("default/ratings-v1"), "1.20.3"),
         _failed_create("captured/events/istio-48098_webhook_internal_server_error_1.20.txt"), "INJ-WEBHOOK-DOWN"),
    _inj("captured-webhook-x509-unknown-authority",
         "istio/istio#6186: the API server does not trust the injector's certificate (x509, crypto/rsa verification error)",
         "deploy/reviews-v1 -n default", _world(_webhook_fails("default/reviews-v1", "x509"), "1.1.3"),
         _failed_create("captured/events/istio-6186_rs_event_x509_crypto_rsa_0.8.txt"), "INJ-WEBHOOK-DOWN"),
    _inj("captured-webhook-x509-not-valid-for-names",
         "istio/istio#7409: the injector's certificate is not valid for the service name the API server calls",
         "deploy/reviews-v2 -n default", _world(_webhook_fails("default/reviews-v2", "x509"), "1.1.3"),
         _failed_create("captured/events/istio-7409_rs_event_x509_not_valid_for_names.txt"), "INJ-WEBHOOK-DOWN"),
    _inj("captured-webhook-legacy-injector-timeouts",
         "istio/istio#13840: kubectl get events, the legacy istio-sidecar-injector webhook times out (deadline, client timeout)",
         "deploy/details-v1 -n default", _world(_webhook_fails("default/details-v1"), "1.1.3"),
         _failed_create("captured/events/istio-13840_get_events_legacy_injector_timeouts.txt"), "INJ-WEBHOOK-DOWN"),
]


# -- p503: a sidecar that never gets its configuration ---------------------------------------------
#
# istio/istio#23410 (1.5): pilot-agent says "Envoy proxy is NOT ready: config not received from
# Pilot" after Envoy's gRPC config stream to Pilot closed with a connection failure: the proxy
# never became Ready, so its pod is no endpoint and its callers get 503. The cause is
# P503-PROXY-NOT-READY (the world: ratings' sidecar cut off from istiod, reviews-v2 calling it).

def _ratings_no_config(w: World) -> None:
    wl(w, "default/ratings-v1").proxy = proxy(state="no_config", connected=False)
    ratings_calls(w)


def _ratings_log(w: World, corpus: str) -> Capture:
    """The captured istio-proxy log stands for the whole log of ratings' pod (``replace``)."""
    pod = w.pods_of(wl(w, "default/ratings-v1"))[0].name
    return Capture(("logs", pod, "istio-proxy"), corpus)


_NO_CONFIG_1_5 = _world(_ratings_no_config, "1.5.2")

P503 = [
    Scenario("p503", "captured-proxy-not-ready-pilot-1-5",
             "istio/istio#23410 (1.5): ratings' istio-proxy log says config not received from Pilot; reviews-v2 gets 503",
             "deploy/reviews-v2 -n default", "503", _NO_CONFIG_1_5,
             Expect("P503-PROXY-NOT-READY", ["P503-PROXY-NOT-READY"]),
             [_ratings_log(_NO_CONFIG_1_5, "captured/access-logs/istio-23410_proxy_log_not_ready_no_config.log")]),
]

SCENARIOS: list[Scenario] = [*INJECTION, *P503]
