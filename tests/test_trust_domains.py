"""Trust domains, federated SPIFFE bundles and trustDomainAliases (issue 14), on real dumps."""

from __future__ import annotations

from pathlib import Path

from istio_doctor.evidence.envoy.configdump import parse_config_dump
from istio_doctor.evidence.envoy.trust import accepted_trust_domains, chain_anchored, identity_trust_domain, trust_bundles
from istio_doctor.evidence.meshconfig import parse_mesh_config

FIX = Path(__file__).parent / "fixtures" / "envoy"


def dump(name: str):  # type: ignore[no-untyped-def]
    return parse_config_dump((FIX / name).read_bytes(), command=name)


def test_spire_bundles_are_per_trust_domain_and_the_chain_is_verified() -> None:
    # istio/istio@86c9f01 istioctl/pkg/writer/envoy/configdump/testdata/secret/spire: a workload of
    # east.local trusting the bundles of east.local and west.local
    d = dump("secret_spire_config_dump.json")
    b = trust_bundles(d)
    assert b.federated and b.domains == ["east.local", "west.local"] and not b.any_domain
    assert identity_trust_domain(d) == "east.local"
    assert chain_anchored(d, b.roots_for("east.local") or []) is True  # signature checked, leaf -> intermediate -> root
    assert chain_anchored(d, b.roots_for("west.local") or []) is False
    assert b.roots_for("north.local") is None  # no bundle: a SPIFFE validator rejects such a peer


def test_istio_ca_root_serves_every_trust_domain() -> None:
    d = dump("secret_config_dump.json")
    b = trust_bundles(d)
    assert not b.federated and len(b.any_domain) == 1
    assert b.roots_for("anything.example") == b.any_domain
    assert chain_anchored(d, b.any_domain) is True


def test_accepted_trust_domains_follow_istiods_rule() -> None:
    mesh = parse_mesh_config("trustDomain: new.td\ntrustDomainAliases: [old.td, new.td]\n"
                             "caCertificates:\n- pem: x\n  trustDomains: [partner.td]\n")
    assert accepted_trust_domains(mesh) == ["new.td", "old.td", "partner.td"]
    assert accepted_trust_domains(parse_mesh_config("")) == ["cluster.local"]


# -- verification between two proxies (generated CAs: a root per trust domain, leaves it signs) ---

def _ca(td: str):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, td)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{td}")]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(td: str, ca) -> str:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    root, root_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(root.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{td}/ns/default/sa/app")]), critical=True)
            .sign(root_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _pem(ca) -> str:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    return ca[0].public_bytes(serialization.Encoding.PEM).decode()


def _secrets(leaf: str, *, spiffe: dict[str, str] | None = None, trusted_ca: str | None = None):  # type: ignore[no-untyped-def]
    return parse_config_dump(secrets_json(leaf, spiffe=spiffe, trusted_ca=trusted_ca))


def secrets_json(leaf: str, *, spiffe: dict[str, str] | None = None, trusted_ca: str | None = None) -> str:
    """A SecretsConfigDump: ``default`` holding ``leaf``, ``ROOTCA`` a SPIFFE validator with one
    bundle per trust domain (the shape of istioctl's SPIRE golden) or a plain ``trusted_ca``."""
    import base64
    import json

    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    vc: dict[str, object]
    if spiffe is not None:  # the shape of the SPIRE golden (istio/istio#53650)
        vc = {"custom_validator_config": {"name": "envoy.tls.cert_validator.spiffe", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig",
            "trust_domains": [{"name": td, "trust_bundle": {"inline_bytes": b64(p)}} for td, p in spiffe.items()]}}}
    else:
        vc = {"trusted_ca": {"inline_bytes": b64(trusted_ca or "")}}
    return json.dumps({"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump", "dynamic_active_secrets": [
        {"name": "default", "version_info": "2024-07-15T09:00:00Z",
         "secret": {"name": "default", "tls_certificate": {"certificate_chain": {"inline_bytes": b64(leaf)}}}},
        {"name": "ROOTCA", "version_info": "2024-07-15T09:00:00Z", "secret": {"name": "ROOTCA", "validation_context": vc}}]}]})


def test_federated_bundles_decide_both_directions() -> None:
    from istio_doctor.evidence.envoy.trust import verifies

    east, west = _ca("east.local"), _ca("west.local")
    both = {"east.local": _pem(east), "west.local": _pem(west)}
    e_full = _secrets(_leaf("east.local", east), spiffe=both)
    w_full = _secrets(_leaf("west.local", west), spiffe=both)
    e_alone = _secrets(_leaf("east.local", east), spiffe={"east.local": _pem(east)})
    assert verifies(e_full, w_full).accepted is True and verifies(w_full, e_full).accepted is True
    v = verifies(e_alone, w_full)
    assert (v.accepted, v.trust_domain, v.why) == (False, "west.local", "no-bundle")  # east never federated west's bundle
    assert verifies(w_full, e_alone).accepted is True
    # a bundle that holds the wrong root for its trust domain: the chain does not end in it
    swapped = _secrets(_leaf("east.local", east), spiffe={"east.local": _pem(east), "west.local": _pem(east)})
    assert verifies(swapped, w_full).why == "no-common-root"


def test_istio_ca_roots_shared_rotated_or_different() -> None:
    from istio_doctor.evidence.envoy.trust import verifies

    a, b = _ca("cluster.local"), _ca("cluster.local")
    on_a = _secrets(_leaf("cluster.local", a), trusted_ca=_pem(a))
    on_b = _secrets(_leaf("cluster.local", b), trusted_ca=_pem(b))
    assert verifies(on_a, on_b).why == "no-common-root" and verifies(on_b, on_a).why == "no-common-root"
    # mid-rotation: the peer already trusts only the new root, its certificate still chains to the old
    rotated = _secrets(_leaf("cluster.local", a), trusted_ca=_pem(b))
    assert verifies(on_a, rotated).accepted is True
