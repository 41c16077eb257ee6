"""Fixtures shared by several test modules (keep this file small: fixtures only)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

STANDINS = Path(__file__).parent / "standins"

# Declared reads are enforced in the whole suite (and in the CLI processes the e2e tests start,
# which inherit the environment): a check that reads evidence it did not declare raises
# UndeclaredEvidence instead of working by the accident of another check's declaration.
os.environ["ISTIO_DOCTOR_STRICT_READS"] = "1"

# CI must be reproducible: property tests explore the same examples on every run there, with
# a bounded budget. Locally they stay randomised so new inputs keep being tried.
if os.environ.get("CI"):
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    settings.load_profile("ci")


@pytest.fixture
def standin_binaries() -> dict[str, str]:
    """``LiveRunner(binaries=...)`` pointing at the stand-in kubectl/istioctl scripts."""
    return {"kubectl": str(STANDINS / "kubectl"), "istioctl": str(STANDINS / "istioctl")}


@dataclass(frozen=True)
class PemMaterial:
    """Freshly generated keys (so no test ships a real-looking secret) and a certificate."""

    rsa_key: str  # -----BEGIN RSA PRIVATE KEY----- (PKCS#1)
    ec_key: str  # -----BEGIN EC PRIVATE KEY-----
    pkcs8_key: str  # -----BEGIN PRIVATE KEY-----
    encrypted_key: str  # -----BEGIN ENCRYPTED PRIVATE KEY-----
    certificate: str  # -----BEGIN CERTIFICATE-----

    @property
    def keys(self) -> dict[str, str]:
        return {"rsa": self.rsa_key, "ec": self.ec_key, "pkcs8": self.pkcs8_key, "encrypted": self.encrypted_key}


@pytest.fixture(scope="session")
def pem() -> PemMaterial:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())

    def pem_of(key: object, fmt: serialization.PrivateFormat,
               enc: serialization.KeySerializationEncryption = serialization.NoEncryption()) -> str:
        return key.private_bytes(serialization.Encoding.PEM, fmt, enc).decode()  # type: ignore[attr-defined]

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "istio-doctor-test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
    )
    return PemMaterial(
        rsa_key=pem_of(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL),
        ec_key=pem_of(ec_key, serialization.PrivateFormat.TraditionalOpenSSL),
        pkcs8_key=pem_of(rsa_key, serialization.PrivateFormat.PKCS8),
        encrypted_key=pem_of(rsa_key, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")),
        certificate=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )
