"""Facts about the certificates Envoy holds, as ``istioctl proxy-config secret`` shows them.

Only public certificates are parsed here. The PEM returned in :class:`CertFacts` is re-encoded
from the parsed certificates, so even if a caller passes a blob that also contains a private
key block, that key never leaves this function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["CertFacts", "cert_facts"]


@dataclass(frozen=True, slots=True)
class CertFacts:
    #: ``CA`` when the first certificate has basicConstraints CA=true, else ``Cert Chain`` (istioctl's rule).
    type: str
    serial: str
    not_before: datetime
    not_after: datetime
    valid: bool
    trust_domain: str
    pem: str


def cert_facts(data: bytes, *, now: datetime | None = None, trust_domain: str = "") -> CertFacts | None:
    """Facts of the first certificate in ``data`` (PEM, or DER as a fallback).

    ``serial`` is Go's ``fmt.Sprintf("%032x", serial)``: lowercase hex padded to at least 32
    digits, what istioctl prints since 1.29 (istio/istio#58449; ``%x`` before, decimal before
    1.9). ``valid`` is ``not_before < now < not_after`` (strict, as istioctl uses
    ``After``/``Before``). ``trust_domain`` is the one given (a SPIFFE trust bundle's), else the
    host of the certificate's last ``spiffe://`` URI SAN (istioctl's ``secretMetaFromCert``
    loop keeps the last). Returns ``None`` when nothing parses, and istioctl then shows the
    secret with an empty TYPE and ``false``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certs: list[x509.Certificate] = []
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            # istioctl decodes only the first PEM block; a broken later block must not hide it.
            start = data.index(b"-----BEGIN CERTIFICATE-----")
            end = data.find(b"-----END CERTIFICATE-----", start)
            if end < 0:
                return None
            try:
                certs = [x509.load_pem_x509_certificate(data[start : end + 25])]
            except ValueError:
                return None
    else:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            return None
    if not certs:
        return None
    leaf = certs[0]
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = bool(bc.ca)
    except (x509.ExtensionNotFound, ValueError):
        is_ca = False
    if not trust_domain:
        try:
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
                if uri.startswith("spiffe://"):
                    trust_domain = uri[len("spiffe://") :].split("/", 1)[0]
        except (x509.ExtensionNotFound, ValueError):
            pass
    nb = leaf.not_valid_before_utc
    na = leaf.not_valid_after_utc
    t = now or datetime.now(UTC)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    pem = "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certs)
    return CertFacts(
        type="CA" if is_ca else "Cert Chain",
        serial=_serial_hex(leaf.serial_number),
        not_before=nb,
        not_after=na,
        valid=nb < t < na,
        trust_domain=trust_domain,
        pem=pem,
    )


def _serial_hex(n: int) -> str:
    # Go's %032x of a big.Int: zero-padded to a width of 32 that counts the sign. RFC 5280
    # forbids negative serials, but broken CAs exist; keep the sign visible rather than crash.
    if n < 0:
        return "-" + format(-n, "x").zfill(31)
    return format(n, "032x")
