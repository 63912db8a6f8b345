"""Registers the gpuconform pytest plugin: options, run lifecycle, fixtures, report hooks."""

# Order matters for the session-finish hooks: later plugins run first, so history (which
# writes summary.json) is listed before session (cleanup and leak check) to run after it.
pytest_plugins = [
    "fixtures.shared",
    "fixtures.options",
    "fixtures.history",
    "fixtures.session",
    "fixtures.steps",
    "fixtures.cluster",
    "fixtures.diagnostics",
]
