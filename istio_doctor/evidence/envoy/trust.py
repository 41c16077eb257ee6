"""Which roots a proxy trusts for which SPIFFE trust domain, and whether a peer's chain meets them.

An Istio proxy validates peers against its ``ROOTCA`` SDS secret. Two shapes exist:

* a ``trusted_ca`` (istiod's CA, a plugged-in ``cacerts``): one root bundle used for every peer,
  whatever its trust domain (the SAN matchers decide identity);
* a SPIFFE certificate validator (``custom_validator_config`` with
  ``SPIFFECertValidatorConfig``: SPIRE, federated or multi-cluster meshes): one bundle per trust
  domain, and Envoy verifies a peer only against the bundle of the trust domain in the peer's
  SPIFFE ID; a peer from a trust domain with no bundle is rejected (envoyproxy/envoy
  ``source/extensions/transport_sockets/tls/cert_validator/spiffe/spiffe_validator.cc``).

The server side also checks the client's trust domain: istiod gives inbound listeners SAN
prefix matchers for ``meshConfig.trustDomain``, ``trustDomainAliases`` and the trust domains of
``caCertificates`` (istio/istio ``pilot/pkg/networking/plugin/authn/util.go``
``TrustDomainsForValidation``), so a client certificate of another trust domain fails
``ssl.fail_verify_san`` unless that domain is an alias.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TrustBundles", "Verification", "accepted_trust_domains", "chain_anchored", "identity_trust_domain", "trust_bundles",
           "verifies"]

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


def _blocks(pem: str | None) -> list[str]:
    return [re.sub(r"\s+", "", b) for b in _PEM.findall(pem or "")]


@dataclass(frozen=True)
class TrustBundles:
    """The roots of one proxy's ROOTCA secret(s)."""

    #: roots of a plain ``trusted_ca``: used for peers of any trust domain
    any_domain: frozenset[str] = frozenset()
    #: roots per trust domain of a SPIFFE validator
    by_domain: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def federated(self) -> bool:
        return bool(self.by_domain)

    @property
    def empty(self) -> bool:
        return not self.any_domain and not self.by_domain

    def roots_for(self, trust_domain: str | None) -> frozenset[str] | None:
        """The roots a peer of ``trust_domain`` is verified against; None when this proxy has no
        bundle for it (a SPIFFE validator rejects such a peer outright)."""
        if self.by_domain:
            return self.by_domain.get(trust_domain or "")
        return self.any_domain

    @property
    def domains(self) -> list[str]:
        return sorted(self.by_domain)


def trust_bundles(dump: Any) -> TrustBundles:
    """The ROOTCA roots of a :class:`ConfigDump` (the model keeps public certificates only)."""
    any_domain: set[str] = set()
    by_domain: dict[str, set[str]] = {}
    for s in dump.secrets:
        if s.name != "ROOTCA":
            continue
        if s.bundle_trust_domain:
            by_domain.setdefault(s.bundle_trust_domain, set()).update(_blocks(s.cert_chain_pem))
        else:
            any_domain.update(_blocks(s.cert_chain_pem))
    return TrustBundles(frozenset(any_domain), {td: frozenset(p) for td, p in by_domain.items()})


def identity_trust_domain(dump: Any) -> str | None:
    """The trust domain of the proxy's own workload certificate (secret ``default``)."""
    for s in dump.secrets:
        if s.name == "default" and s.trust_domain:
            return str(s.trust_domain)
    return None


def _workload_chain(dump: Any) -> str | None:
    for s in dump.secrets:
        if s.name == "default" and s.cert_chain_pem:
            return str(s.cert_chain_pem)
    return None


def chain_anchored(dump: Any, roots: Iterable[str]) -> bool | None:
    """Does the proxy's workload certificate chain end in one of ``roots``?

    True when a certificate of the chain is one of the roots or is signed by one (the signature
    is verified); False when none is; None when there is no chain or nothing parses.
    """
    from cryptography import x509

    chain_pem = _workload_chain(dump)
    roots = list(roots)
    if not chain_pem or not roots:
        return None
    try:
        chain = x509.load_pem_x509_certificates(chain_pem.encode())
        anchors = [x509.load_pem_x509_certificate(_rewrap(r).encode()) for r in roots]
    except ValueError:
        return None
    anchor_der = {a.tbs_certificate_bytes for a in anchors}
    for cert in chain:
        if cert.tbs_certificate_bytes in anchor_der:
            return True
        for a in anchors:
            if cert.issuer != a.subject:
                continue
            try:
                cert.verify_directly_issued_by(a)
            except (ValueError, TypeError, Exception):  # noqa: BLE001 - InvalidSignature and unsupported keys alike
                continue
            return True
    return False


def _rewrap(block: str) -> str:
    """A whitespace-free PEM block (as stored in :class:`TrustBundles`) back into PEM lines."""
    body = block.removeprefix("-----BEGINCERTIFICATE-----").removesuffix("-----ENDCERTIFICATE-----")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def accepted_trust_domains(mesh: Any) -> list[str]:
    """Trust domains a server proxy accepts client certificates from (``TrustDomainsForValidation``:
    the mesh's, its aliases, then those of ``caCertificates``; deduplicated, in that order)."""
    out: list[str] = []
    tds = [getattr(mesh, "trust_domain", "") or "cluster.local", *(getattr(mesh, "trust_domain_aliases", None) or [])]
    for ca in getattr(mesh, "ca_certificates", None) or []:
        tds += list(getattr(ca, "trust_domains", None) or [])
    for td in tds:
        if td and td not in out:
            out.append(td)
    return out


@dataclass(frozen=True)
class Verification:
    """Would one proxy accept another's workload certificate, and why (for a finding's text)."""

    #: True accepted, False rejected, None cannot tell (no roots or no certificate to judge)
    accepted: bool | None
    #: the trust domain of the certificate being verified ("" when it has no SPIFFE ID)
    trust_domain: str
    #: "no-bundle" (a SPIFFE validator without a bundle for that trust domain), "no-common-root"
    #: (the roots share no certificate and the chain does not end in them), or "" when accepted
    why: str = ""


def verifies(verifier: Any, peer: Any) -> Verification:
    """Whether ``verifier``'s ROOTCA accepts ``peer``'s workload certificate (both ConfigDumps).

    A root both trust for the peer's trust domain means yes (how ``istioctl proxy-config
    rootca-compare`` judges); otherwise the peer's chain is verified against the verifier's
    roots, so a rotation that keeps the old root in one bundle, or an intermediate CA, is not
    reported as a mismatch.
    """
    mine = trust_bundles(verifier)
    td = identity_trust_domain(peer) or ""
    roots = mine.roots_for(td)
    if roots is None:
        return Verification(False, td, "no-bundle")
    if not roots:
        return Verification(None, td)
    theirs = trust_bundles(peer)
    their_roots = theirs.roots_for(td) or theirs.any_domain
    if their_roots and roots & their_roots:
        return Verification(True, td)
    anchored = chain_anchored(peer, roots)
    if anchored:
        return Verification(True, td)
    if anchored is None and not their_roots:
        return Verification(None, td)
    return Verification(False, td, "no-common-root")
