"""The suite on a lent GPU host (issue 20): one real node on the host's real NVIDIA driver.

``host_driver``: a real node whose driver root is the host's own driver (no mock).
``prebuilt``: image archives built elsewhere and carried to the host.
``bundle``: what the host needs, packed into chunks one device call can carry.
``runbook``: the runbook's steps run by hand, timed, for BENCHMARKS.md.
"""
