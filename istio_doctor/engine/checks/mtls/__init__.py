"""Playbook ``mtls`` (checks ``MTLS-*``): "upstream connect error or disconnect/reset before headers".

The examined pod can sit on either side of the failing connection, and every check looks from
both sides because users point the tool at whichever pod they were paged about:

* as a **client**, its proxy log names the clusters it failed to reach
  (``503 UC ... outbound|9080||reviews.default.svc.cluster.local``); for each, the Service,
  the server pods behind it, the DestinationRule the client applies (its TLS settings override
  auto-mTLS) and the servers' effective PeerAuthentication on the *target* port decide the
  cause. The client's own config dump says what Envoy really does (``tls.mode`` of the
  cluster), which beats stale or shadowed config: a DR that says DISABLE while the dump shows
  ISTIO_MUTUAL is not what breaks the traffic.
* as a **server**, its proxy log shows what arrived: ``"- - -" 0 NR filter_chain_not_found``
  is plaintext (or TLS without an Istio client certificate) hitting a STRICT port; the
  downstream address names the client pod. DestinationRules anywhere in the mesh that target
  its Service tell which clients were told to send what.

Each check decides only its own cause and only from evidence; "possible" is not a failure.
The AuthorizationPolicy look-alike (403 ``rbac_access_denied_matched_policy``) is its own
finding so that, when the logs show RBAC denials, it outranks every mTLS guess.

Layout (each submodule's docstring states its contract):

* ``_reading``: what both sides' evidence says (log signals, client destinations, server ports, TLS modes, shared fixes)
* ``modes``: client TLS mode vs the server's PeerAuthentication (DR DISABLE vs STRICT, non-mesh peers, port-level PA)
* ``auto_mtls``: auto-mTLS off, shadowed DestinationRules
* ``certs``: root CA, workload certificate, SAN, missing client certificate
* ``protocols``: double TLS, HTTPS on an HTTP port, server-first protocols under PERMISSIVE
* ``authz``: AuthorizationPolicy denials that look like mTLS failures
"""

from __future__ import annotations

# Importing a submodule registers its checks (``@check`` runs at import). Importing the package
# imports every check module, so importing the playbook's package registers all of its checks as
# it did when this was one module (``load_builtin_checks`` walks subpackages as well).
from istio_doctor.engine.checks.mtls import authz, auto_mtls, certs, modes, protocols

__all__ = [
    "authz",
    "auto_mtls",
    "certs",
    "modes",
    "protocols",
]
