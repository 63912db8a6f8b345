"""Redaction of secrets before anything is written."""

from gpuconform.diagnose.redact import MASK, redact

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJlc2lnbmF0dXJl"


def test_tokens_and_kubeconfig_fields_are_masked():
    text = (
        f"Authorization: Bearer abc.def-123\n  token: {JWT}\n"
        "    client-key-data: LS0tLS1CRUdJTiBSU0E=\n"
        '{"client-certificate-data": "QUJD", "user": "admin"}\n'
    )
    out = redact(text)
    for secret in ("abc.def-123", JWT, "LS0tLS1CRUdJTiBSU0E=", "QUJD"):
        assert secret not in out
    assert out.count(MASK) == 4 and '"user": "admin"' in out


def test_secret_looking_env_vars_are_masked_others_kept():
    out = redact(
        "API_TOKEN=s3cr3t\n  AWS_SECRET_ACCESS_KEY:  abcd\n  DB_PASSWORD=pw\n  NODE_NAME: gpu-0\n"
    )
    assert "s3cr3t" not in out and "abcd" not in out and "pw\n" not in out
    assert "NODE_NAME: gpu-0" in out


def test_pem_blocks_are_masked():
    out = redact("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----")
    assert "MIIEow" not in out
