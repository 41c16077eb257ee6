"""Playbook ``p503``: 503 after sidecar injection (checks ``P503-*``).

Every check here decides one cause of the same symptom, so the first thing each one does is
tell the sides apart: a client-side line (``outbound|...``) says what the caller's proxy saw,
a server-side line (``inbound|PORT||``) says the server's own proxy could not reach its app.
Causes that live on the server (localhost bind, wrong targetPort, failing readiness) are read
on the server pods: the target itself when it is the server, or the related server pods
(``ctx.related``, role ``server``) found from the target's failing requests.

A cause that is merely possible is never a failure: config-only findings fire only when the
config itself breaks traffic (a subset selecting no pod that a route uses, an app running as
UID 1337); the rest need the runtime signal that cause produces (the flag, the socket table,
the ejected host).

Layout (each submodule's docstring states its contract):

* ``_reading``: ports and protocols, proxy logs, the servers and Services behind a failure, citations
* ``inbound``: the server's sidecar cannot reach its app (localhost bind, targetPort)
* ``protocol``: declared vs spoken protocol, Services that disagree, no Service
* ``endpoints``: UH (no ready endpoint, probes hitting STRICT, empty subsets)
* ``resilience``: UO / outlier / UC / URX / UT / FI
* ``lifecycle``: start-up and shutdown races, UID 1337, proxy readiness
* ``outbound``: REGISTRY_ONLY blackholing, headless pods called by IP
"""

from __future__ import annotations

# Importing a submodule registers its checks (``@check`` runs at import). Importing the package
# imports every check module, so importing the playbook's package registers all of its checks as
# it did when this was one module (``load_builtin_checks`` walks subpackages as well).
from istio_doctor.engine.checks.p503 import endpoints, inbound, lifecycle, outbound, protocol, resilience
from istio_doctor.engine.checks.p503._reading import port_protocol

__all__ = [
    "endpoints",
    "inbound",
    "lifecycle",
    "outbound",
    "port_protocol",
    "protocol",
    "resilience",
]
