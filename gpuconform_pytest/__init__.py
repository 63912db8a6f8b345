"""The gpuconform pytest plugin: options, run lifecycle, fixtures and report hooks.

Registered through the `pytest11` entry point (pyproject.toml), so pytest knows its options
before it reads the command line: `--chart ./path` (space form) works from any directory, and
no conftest.py is needed to run the suite.
"""

# `hooks` holds every hook (one of each kind, calling gpuconform_pytest.lifecycle); `cluster`
# the fixtures. Their order does not matter: no hook is implemented twice.
pytest_plugins = ["gpuconform_pytest.hooks", "gpuconform_pytest.cluster"]
