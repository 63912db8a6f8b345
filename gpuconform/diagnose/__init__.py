"""Failure diagnostics: collect evidence, explain it with known signatures, redact secrets."""
