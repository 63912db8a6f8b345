"""Redaction: nothing secret reaches a report, a diagnostics file or the terminal.

Bearer tokens, JWTs, kubeconfig credentials (certificate and key data, tokens, passwords)
and the values of environment variables whose names contain TOKEN, PASSWORD, SECRET or KEY.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"
_RULES: list[tuple[re.Pattern[str], str]] = [
    # Authorization headers and bearer tokens.
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"), rf"\1{MASK}"),
    # JSON Web Tokens (service-account tokens) wherever they appear.
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    # kubeconfig credential fields, YAML or JSON style.
    (
        re.compile(
            r"(?i)(\"?(?:client-certificate-data|client-key-data|certificate-authority-data|"
            r"token|id-token|refresh-token|password|access-token)\"?\s*[:=]\s*)\"?[^\s\",}]+\"?"
        ),
        rf"\1{MASK}",
    ),
    # NAME=value and NAME: value where an upper-case (environment) NAME looks secret.
    (
        re.compile(
            r"\b([A-Z0-9_]*(?:TOKEN|PASSWORD|SECRET|KEY)[A-Z0-9_]*)(\s*[=:]\s*)(?!\[REDACTED\])\S+"
        ),
        rf"\1\2{MASK}",
    ),
    # PEM blocks (private keys, certificates) pasted whole.
    (
        re.compile(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", re.DOTALL),
        f"-----{MASK} PEM BLOCK-----",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
