"""The gpuconform pytest plugin: options, run lifecycle, fixtures and report hooks.

Registered through the `pytest11` entry point (pyproject.toml), so pytest knows its options
before it reads the command line: `--chart ./path` (space form) works from any directory, and
no conftest.py is needed to run the suite.
"""

# Order matters for the session-finish hooks: later plugins run first, so history (which
# writes summary.json) is listed before session (cleanup and leak check) to run after it.
pytest_plugins = [
    "gpuconform_pytest.shared",
    "gpuconform_pytest.options",
    "gpuconform_pytest.report",
    "gpuconform_pytest.history",
    "gpuconform_pytest.session",
    "gpuconform_pytest.steps",
    "gpuconform_pytest.cluster",
    "gpuconform_pytest.diagnostics",
    "gpuconform_pytest.allocation",
]
