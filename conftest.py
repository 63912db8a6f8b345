"""Registers the gpuconform pytest plugin: options, run lifecycle, fixtures, report hooks."""

pytest_plugins = [
    "fixtures.options",
    "fixtures.session",
    "fixtures.steps",
    "fixtures.cluster",
    "fixtures.diagnostics",
]
