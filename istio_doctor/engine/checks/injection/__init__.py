"""Playbook ``injection``: the sidecar is not injected (checks ``INJ-*``).

Every check here re-runs the injector's own decision instead of guessing from labels:

1. the API server calls a mutating webhook only when its ``namespaceSelector`` and
   ``objectSelector`` match the namespace's and the pod's labels (the four Istio webhooks
   ``rev.namespace.`` / ``rev.object.`` / ``namespace.`` / ``object.sidecar-injector.istio.io``
   of every revision and tag are plain Kubernetes selectors, evaluated by
   ``MutatingWebhook.matches``);
2. istiod then runs ``injectRequired()`` (``pkg/kube/inject/inject.go``): never for
   ``hostNetwork`` pods, never in ``kube-system``/``kube-public``; the pod *label*
   ``sidecar.istio.io/inject`` overrides the annotation; ``y``/``yes``/``true``/``on`` (any case)
   inject, an empty value uses the defaults, and **any other value disables injection** (it does
   not fall back to the policy); with no explicit value ``neverInjectSelector`` then
   ``alwaysInjectSelector`` decide, and last the ConfigMap ``policy`` (anything but ``enabled``
   disables default injection).

The subject is the pod under examination, or — when a Deployment has no pod at all, the case
where the webhook rejected every creation — the Deployment's pod template, so a workload that
never got a pod is still diagnosable. Counterfactuals (the same decision with one label changed)
tell which setting is *the* blocker, so each check fires only when its own cause is what keeps
the sidecar out.

Layout (each submodule's docstring states its contract):

* ``rules``: the injector's decision (webhook selectors, ``injectRequired()``), the subject, ``situation``
* ``_findings``: the registration of a check on the situation, what findings cite, the arguments and fix steps they share
* ``gates``: the playbook's gates (is there a subject, is it injected)
* ``not_injected``: the configuration that keeps the sidecar out
* ``webhook``: the webhook is down, fails open, or is doubled
* ``injected``: injected, but broken (init container, proxy skew, gateway ``image: auto``, ambient conflict)
"""

from __future__ import annotations

# Importing a submodule registers its checks (``@check`` runs at import). Importing the package
# imports every check module, so importing the playbook's package registers all of its checks as
# it did when this was one module (``load_builtin_checks`` walks subpackages as well).
from istio_doctor.engine.checks.injection import gates, injected, not_injected, webhook
from istio_doctor.engine.mesh.injection import INJECTOR_SUFFIX, is_injected, situation

__all__ = [
    "gates",
    "injected",
    "INJECTOR_SUFFIX",
    "is_injected",
    "not_injected",
    "situation",
    "webhook",
]
