"""AI Conformance evidence (gpuconform/ai_conformance.py): status from the checks alone."""

from __future__ import annotations

import pytest
import yaml

from gpuconform.ai_conformance import (
    IMPLEMENTED,
    NOT_ASSESSED,
    NOT_IMPLEMENTED,
    UnknownVersionError,
    assess,
    minor_version,
    write_evidence,
)


def check(name: str, outcome: str, reason: str | None = None, pool: str | None = None):
    entry = {"name": name, "outcome": outcome, "duration_s": 1.5}
    return entry | ({"reason": reason} if reason else {}) | ({"pool": pool} if pool else {})


DRA_RUN = [
    check("test_dra_is_ready_on_every_gpu_node", "passed"),
    check("test_a_claim_gets_exactly_its_gpu_and_is_released", "passed"),
    check("test_two_claims_get_two_distinct_gpus", "passed"),
    check("test_an_unsatisfiable_claim_stays_pending_with_the_schedulers_reason", "passed"),
    check("test_only_the_container_that_claims_a_gpu_sees_one", "passed"),
    check("test_gpu_pod_runs_and_sees_exactly_its_gpu", "skipped", "GPUs are handed out by DRA."),
    check(
        "test_every_gpu_has_utilisation_and_memory_metrics",
        "skipped",
        "The profile names no accelerator metrics exporter.",
    ),
]


def by_id(results):
    return {r.id: r for r in results}


def test_checks_that_passed_implement_and_a_skipped_one_assesses_nothing():
    results = by_id(assess(DRA_RUN, "1.34"))
    assert list(results) == ["dra_support", "accelerator_metrics", "secure_accelerator_access"]
    assert results["dra_support"].status == IMPLEMENTED
    assert results["secure_accelerator_access"].status == IMPLEMENTED
    metrics = results["accelerator_metrics"]
    assert (
        metrics.status == NOT_ASSESSED and "names no accelerator metrics exporter" in metrics.notes
    )
    assert metrics.line().startswith("accelerator_metrics (MUST): not assessed - not shown")


def test_one_failed_check_of_a_requirement_makes_it_not_implemented():
    leak = check(
        "test_pod_without_gpu_request_sees_no_gpu", "failed", "a pod without a request saw GPUs"
    )
    results = by_id(
        assess([check("test_gpu_pod_runs_and_sees_exactly_its_gpu", "passed"), leak], "1.34")
    )
    secure = results["secure_accelerator_access"]
    assert secure.status == NOT_IMPLEMENTED
    assert "a pod without a request saw GPUs" in secure.notes
    # dra_support's checks never ran (the device-plugin path): not assessed, not a pass.
    assert results["dra_support"].status == NOT_ASSESSED
    assert results["dra_support"].checks == {}


def test_a_check_failed_on_one_pool_fails_the_requirement():
    tests = [
        check("test_gpu_pod_runs_and_sees_exactly_its_gpu", "passed", pool="a"),
        check("test_gpu_pod_runs_and_sees_exactly_its_gpu", "failed", "saw 2 GPUs", pool="b"),
        check("test_gpu_pod_runs_and_sees_exactly_its_gpu", "passed", pool="c"),
    ]
    assert by_id(assess(tests, "1.34"))["secure_accelerator_access"].status == NOT_IMPLEMENTED


def test_1_35_adds_driver_runtime_management_as_should():
    results = by_id(assess(DRA_RUN, "1.35"))
    assert results["driver_runtime_management"].level == "SHOULD"
    assert results["driver_runtime_management"].status == IMPLEMENTED


def test_the_evidence_files_are_the_programs_shape(tmp_path):
    write_evidence(tmp_path, DRA_RUN, "v1.34.4")
    document = yaml.safe_load((tmp_path / "ai-conformance.yaml").read_text())
    assert document["metadata"]["kubernetesVersion"] == "v1.34"
    assert list(document["spec"]) == ["accelerators", "observability", "security"]
    dra = document["spec"]["accelerators"][0]
    assert dra["id"] == "dra_support" and dra["level"] == "MUST"
    assert dra["status"] == "Implemented" and dra["evidence"] == ["junit.xml", "e2e.log"]
    assert dra["description"].startswith("Support Dynamic Resource Allocation (DRA) APIs")
    log = (tmp_path / "e2e.log").read_text().splitlines()
    assert log[0] == "test_dra_is_ready_on_every_gpu_node: passed (1.5 s)"
    assert "requirement dra_support (MUST): Implemented - passed: " in log[-3]


def test_a_version_without_a_checklist_is_one_readable_error():
    assert minor_version("v1.35.0+k3s1") == "1.35"
    with pytest.raises(
        UnknownVersionError, match=r"no AI Conformance checklist for Kubernetes 1\.33"
    ):
        assess(DRA_RUN, "1.33")
