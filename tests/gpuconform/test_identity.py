"""A run's identity: the id's shape, and the label, selector and namespaces derived from it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from gpuconform.identity import RunIdentity, new_run_id
from gpuconform.kube import RUN_ID_LABEL


def test_a_run_id_is_its_start_time_then_random_hex():
    run_id = new_run_id(datetime(2026, 12, 1, 9, 5, 7, tzinfo=UTC))
    assert re.fullmatch(r"20261201-090507-[0-9a-f]{6}", run_id)
    # The history reads the start time back from the first 15 characters.
    assert run_id[:15] == "20261201-090507"


def test_two_runs_started_in_the_same_second_get_different_ids():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert len({new_run_id(now) for _ in range(5)}) == 5  # of 16**6 suffixes: ~1e-6 to collide


def test_label_and_selector_name_only_this_run():
    identity = RunIdentity("20261201-090507-abc123")
    assert identity.labels == {RUN_ID_LABEL: "20261201-090507-abc123"}
    assert identity.selector == f"{RUN_ID_LABEL}=20261201-090507-abc123"


def test_workload_and_probe_namespaces_are_apart():
    identity = RunIdentity("20261201-090507-abc123")
    assert identity.workload_namespace == "gpuconform-20261201-090507-abc123"
    assert identity.probe_namespace == "gpuconform-20261201-090507-abc123-probe"
    # A Namespace name is a DNS-1123 label: at most 63 characters.
    assert len(identity.probe_namespace) <= 63
