"""Tests of the suites package as a whole: each runs the conformance suite (`pytest
--cluster=...` against suites/) end to end, as a user would, and judges the steps' verdicts and
the report (marker `suite_run`). They test no one module but the suite's checks together with
the plugin, so they sit here rather than under tests/gpuconform_pytest/; a suite run that tests
one plugin module stays with that module's tests (test_hooks.py: the registration order of the
plugin's modules; test_report_browser.py: the plugin's HTML report in a browser)."""
