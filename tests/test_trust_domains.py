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
