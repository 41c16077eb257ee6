"""Redaction: every planted secret kind disappears, certificates and ordinary data survive."""

from __future__ import annotations

import base64
import json
import time

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from istio_doctor.evidence.redact import MARK, REDACTED_PEM, redact, redact_argv, redact_obj

JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9"
    ".eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlZmF1bHQ6c2xlZXAifQ"
    ".c2lnbmF0dXJlLWJ5dGVzLW5vdC1yZWFsbHktYS1zaWduYXR1cmU"
)


def _body(pem: str) -> str:
    """A distinctive line from the middle of a PEM block (what must not survive)."""
    return pem.strip().splitlines()[2]


@pytest.mark.parametrize("kind", ["rsa", "ec", "pkcs8", "encrypted"])
def test_pem_private_keys_are_replaced(pem, kind: str) -> None:
    key = pem.keys[kind]
    text = f"before\n{key}after\n"
    out = redact(text)
    assert _body(key) not in out
    assert REDACTED_PEM in out
    assert out.startswith("before\n") and out.endswith("after\n")


def test_pem_key_inside_json_string_stays_valid_json(pem) -> None:
    doc = {"tls.key": pem.rsa_key, "tls.crt": pem.certificate}
    out = redact(json.dumps(doc, indent=2))
    parsed = json.loads(out)
    assert _body(pem.rsa_key) not in out
    assert "[REDACTED by istio-doctor]" in parsed["tls.key"]
    assert parsed["tls.crt"] == pem.certificate


def test_pem_key_inside_yaml_block_stays_valid_yaml(pem) -> None:
    text = "a:\n  key: |\n" + "".join(f"    {line}\n" for line in pem.ec_key.splitlines()) + "  other: 1\n"
    out = redact(text)
    parsed = yaml.safe_load(out)
    assert _body(pem.ec_key) not in out
    assert parsed["a"]["other"] == 1
    assert "[REDACTED by istio-doctor]" in parsed["a"]["key"]


def test_truncated_key_without_end_line_is_still_removed_and_a_following_cert_kept(pem) -> None:
    lines = pem.rsa_key.splitlines()
    truncated = "\n".join(lines[:5]) + "\n"
    out = redact(truncated + pem.certificate)
    assert lines[3] not in out
    assert pem.certificate in out


def test_certificates_survive_untouched(pem) -> None:
    text = f"chain:\n{pem.certificate}{pem.certificate}"
    assert redact(text) == text
    b64 = base64.b64encode(pem.certificate.encode()).decode()
    dump = json.dumps({"certificate_chain": {"inline_bytes": b64}})
    assert redact(dump) == dump


def test_base64_pem_key_in_envoy_secret_inline_bytes(pem) -> None:
    key_b64 = base64.b64encode(pem.pkcs8_key.encode()).decode()
    cert_b64 = base64.b64encode(pem.certificate.encode()).decode()
    # a key that is not in a `private_key` field, found by decoding the base64 alone
    bundle_b64 = base64.b64encode((pem.certificate + pem.ec_key).encode()).decode()
    dump = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                "dynamic_active_secrets": [
                    {
                        "name": "default",
                        "secret": {
                            "tls_certificate": {
                                "certificate_chain": {"inline_bytes": cert_b64},
                                "private_key": {"inline_bytes": key_b64},
                            }
                        },
                    },
                    {"name": "bundle", "secret": {"generic_secret": {"secret": {"inline_bytes": bundle_b64}}}},
                ],
            }
        ]
    }
    out = redact(json.dumps(dump, indent=2))
    parsed = json.loads(out)
    secrets = parsed["configs"][0]["dynamic_active_secrets"]
    tls = secrets[0]["secret"]["tls_certificate"]
    assert key_b64 not in out
    assert tls["certificate_chain"]["inline_bytes"] == cert_b64
    assert base64.b64decode(tls["private_key"]["inline_bytes"]) == MARK.encode()
    bundle = base64.b64decode(secrets[1]["secret"]["generic_secret"]["secret"]["inline_bytes"]).decode()
    assert _body(pem.ec_key) not in bundle
    assert pem.certificate in bundle and "[REDACTED by istio-doctor]" in bundle


def test_camelcase_inline_bytes_and_base64_key_in_text(pem) -> None:
    key_b64 = base64.b64encode(pem.rsa_key.encode()).decode()
    text = json.dumps({"privateKey": {"inlineBytes": "c29tZSBERVIgYnl0ZXM="}}) + "\ntls.key: " + key_b64 + "\n"
    out = redact(text)
    assert "c29tZSBERVIgYnl0ZXM=" not in out
    assert key_b64 not in out


def test_jwt_and_bearer_headers() -> None:
    text = (
        f"token is {JWT} here\n"
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345\n"
        '{"headers": {"authorization": "Bearer s3cr3t-opaque-token-value"}}\n'
        "curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='\n"
    )
    out = redact(text)
    for secret in (JWT, "abcdefghijklmnopqrstuvwxyz012345", "s3cr3t-opaque-token-value", "dXNlcjpwYXNzd29yZA=="):
        assert secret not in out
    assert "token is [REDACTED] here" in out


def test_kubeconfig_credentials_are_removed_and_certificates_kept(pem) -> None:
    ca = base64.b64encode(pem.certificate.encode()).decode()
    key = base64.b64encode(pem.ec_key.encode()).decode()
    kubeconfig = f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://10.0.0.1
  name: prod
users:
- name: admin
  user:
    client-certificate-data: {ca}
    client-key-data: {key}
- name: sa
  user:
    token: sha256~0123456789abcdefghijklmnop
- name: basic
  user:
    username: admin
    password: hunter2hunter2
- name: oidc
  user:
    auth-provider:
      name: oidc
      config:
        client-id: kubernetes
        client-secret: 0a1b2c3d4e5f
        id-token: {JWT}
        refresh-token: Cg1yZWZyZXNoLXRva2Vu
        idp-issuer-url: https://issuer.example.com
- name: gcp
  user:
    auth-provider:
      name: gcp
      config:
        access-token: ya29.a0AfH6SMBx-not-real
        expiry: "2024-01-01T00:00:00Z"
"""
    out = redact(kubeconfig)
    parsed = yaml.safe_load(out)
    for secret in (key, "sha256~0123456789abcdefghijklmnop", "hunter2hunter2", "0a1b2c3d4e5f", JWT,
                   "Cg1yZWZyZXNoLXRva2Vu", "ya29.a0AfH6SMBx-not-real"):
        assert secret not in out, secret
    users = {u["name"]: u["user"] for u in parsed["users"]}
    assert users["sa"]["token"] == MARK
    assert users["admin"]["client-key-data"] == MARK
    assert users["admin"]["client-certificate-data"] == ca
    assert parsed["clusters"][0]["cluster"]["certificate-authority-data"] == ca
    assert users["oidc"]["auth-provider"]["config"]["client-id"] == "kubernetes"
    assert users["basic"]["username"] == "admin"

    as_json = redact(json.dumps(yaml.safe_load(kubeconfig), indent=4))
    assert all(s not in as_json for s in ("sha256~0123456789abcdefghijklmnop", "hunter2hunter2", "0a1b2c3d4e5f"))
    assert json.loads(as_json)["users"][1]["user"]["token"] == MARK


def _secret(name: str, pem_key: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "istio-system",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"data": {"password": "cGFzcw=="}}),
                "owner": "mesh-team",
            },
        },
        "type": "kubernetes.io/tls",
        "data": {"tls.key": base64.b64encode(pem_key.encode()).decode(), "password": "aHVudGVyMg=="},
        "stringData": {"note": "plain-text-secret"},
    }


def _configmap() -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio"}, "data": {"mesh": "accessLogFile: /dev/stdout"}}


def _assert_secret_redacted(obj: dict) -> None:
    assert set(obj["data"].values()) == {MARK}
    assert set(obj["stringData"].values()) == {MARK}
    assert obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == MARK
    assert obj["metadata"]["annotations"]["owner"] == "mesh-team"


def test_secret_json_alone_and_inside_a_list(pem) -> None:
    single = redact(json.dumps(_secret("cacerts", pem.rsa_key), indent=4))
    _assert_secret_redacted(json.loads(single))
    assert "aHVudGVyMg==" not in single and "plain-text-secret" not in single

    listing = {"apiVersion": "v1", "kind": "List", "items": [_configmap(), _secret("a", pem.ec_key)]}
    out = json.loads(redact(json.dumps(listing, indent=4)))
    _assert_secret_redacted(out["items"][1])
    assert out["items"][0] == _configmap()  # a ConfigMap's data is evidence, not a secret


def test_secret_yaml_single_multi_document_and_list(pem) -> None:
    one = redact(yaml.safe_dump(_secret("cacerts", pem.rsa_key), sort_keys=False))
    _assert_secret_redacted(yaml.safe_load(one))

    multi = yaml.safe_dump_all([_configmap(), _secret("b", pem.rsa_key)], sort_keys=False)
    docs = list(yaml.safe_load_all(redact(multi)))
    assert docs[0] == _configmap()
    _assert_secret_redacted(docs[1])

    listing = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [_secret("c", pem.ec_key)]}, sort_keys=False)
    _assert_secret_redacted(yaml.safe_load(redact(listing))["items"][0])


def test_unparseable_secret_output_is_over_redacted_rather_than_leaked() -> None:
    text = 'Warning: something\n{"kind": "Secret", "data": {"token": "dG9r", "ca.crt": "Y2VydA=="}}\n'
    out = redact(text)
    assert "dG9r" not in out and "Y2VydA==" not in out
    text_yaml = "W1122 warning line: [\nkind: Secret\ndata:\n  api-key: c2VjcmV0\n  other: dmFsdWU=\n"
    out_yaml = redact(text_yaml)
    assert "c2VjcmV0" not in out_yaml and "dmFsdWU=" not in out_yaml


def test_secret_env_values_and_credential_flags() -> None:
    pod = {"env": [{"name": "DB_PASSWORD", "value": "p4ssw0rd"}, {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"}]}
    out = json.loads(redact(json.dumps(pod)))
    assert out["env"][0]["value"] == MARK
    assert out["env"][1]["value"] == "Kubernetes"
    out_yaml = yaml.safe_load(redact(yaml.safe_dump(pod, sort_keys=False)))
    assert out_yaml["env"][0]["value"] == MARK
    assert out_yaml["env"][1]["value"] == "Kubernetes"
    assert redact_argv(["kubectl", "--token", "abc", "--password=xyz", "get", "pods"]) == [
        "kubectl", "--token", MARK, f"--password={MARK}", "get", "pods",
    ]


def test_ordinary_evidence_is_untouched() -> None:
    # fields whose names merely contain "token"/"key" are not credentials
    pod = {
        "spec": {
            "automountServiceAccountToken": True,
            "serviceAccountName": "bookinfo-productpage",
            "volumes": [{"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {"audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}}],
            "containers": [{"env": [{"name": "JWT_POLICY", "value": "third-party-jwt"}]}],
        },
        "metadata": {"labels": {"app": "productpage"}, "annotations": {"sidecar.istio.io/status": '{"initContainers":["istio-init"]}'}},
    }
    text = json.dumps(pod, indent=4)
    assert redact(text) == text
    log = '[2024-05-01T10:00:00.000Z] "GET /productpage HTTP/1.1" 503 UH no_healthy_upstream - "-" 0 19 0 - "10.0.0.1" "curl/8.0" "abc" "productpage:9080" "-" outbound|9080||productpage.default.svc.cluster.local - 10.96.0.10:9080 10.0.0.1:34567 - default\n'
    assert redact(log) == log


def test_redaction_is_idempotent(pem) -> None:
    text = json.dumps(_secret("x", pem.rsa_key)) + "\n" + pem.ec_key + f"\nAuthorization: Bearer {JWT}\ntoken: abcdef\n"
    once = redact(text)
    assert redact(once) == once


def test_redact_obj_walks_structures(pem) -> None:
    obj = {"items": [_secret("s", pem.rsa_key)], "token": "opaque", "log": f"key:\n{pem.rsa_key}", "n": 3}
    out = redact_obj(obj)
    _assert_secret_redacted(out["items"][0])
    assert out["token"] == MARK and out["n"] == 3
    assert _body(pem.rsa_key) not in out["log"]
    assert obj["token"] == "opaque"  # a copy, not in place


def test_large_input_is_fast(pem) -> None:
    cluster = {
        "cluster": {"name": "outbound|9080|v1|reviews.default.svc.cluster.local", "type": "EDS",
                    "transport_socket": {"name": "tls", "typed_config": {"common_tls_context": {"tls_certificate_sds_secret_configs": [{"name": "default"}]}}},
                    "metadata": {"filter_metadata": {"istio": {"config": "/apis/networking.istio.io/v1alpha3/namespaces/default/destination-rule/reviews"}}}},
        "ca": base64.b64encode(pem.certificate.encode()).decode(),
    }
    chunk = json.dumps(cluster, indent=2)
    text = ",\n".join([chunk] * (20_000_000 // len(chunk) + 1))
    planted = text + "\n" + json.dumps({"private_key": {"inline_bytes": base64.b64encode(pem.rsa_key.encode()).decode()}})
    assert len(planted) >= 20_000_000
    t0 = time.perf_counter()
    out = redact(planted)
    elapsed = time.perf_counter() - t0
    assert _body(pem.rsa_key) not in base64.b64decode(json.loads(out.rsplit("\n", 1)[1])["private_key"]["inline_bytes"]).decode(errors="replace")
    assert out.startswith(chunk)
    assert elapsed < 5.0, f"redacting 20 MB took {elapsed:.1f}s"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_redact_never_raises_and_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
