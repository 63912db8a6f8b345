"""Accuracy of the explainer on real failures (tests/data/real-world/, issue 12).

accuracy     = share of corpus cases whose FIRST diagnosis is the class the index expects
false alarms = healthy outputs (healthy/) that raise any error-severity diagnosis
Target: 100 % and 0. Recompute: `pytest tests/unit/test_corpus_accuracy.py -q -s`; the
figures go to BENCHMARKS.md ("Explainer accuracy on real failures").
"""

from __future__ import annotations

import pytest

from gpuconform.diagnose.explain import load_signatures
from tests.unit.corpus import Case, failure_cases, healthy_cases

CASES = failure_cases()
HEALTHY = healthy_cases()


def first_diagnosis(case: Case) -> str | None:
    primary = case.explain().primary
    return primary.signature.id if primary else None


def test_accuracy_on_the_real_world_corpus():
    misses = {
        c.name: (c.entry["class"], got)
        for c in CASES
        if (got := first_diagnosis(c)) != c.entry["class"]
    }
    classes = {c.entry["class"] for c in CASES}
    accuracy = 1 - len(misses) / len(CASES)
    print(
        f"\ncorpus accuracy: {accuracy:.0%} ({len(CASES) - len(misses)}/{len(CASES)} cases, "
        f"{len(classes)} classes, first diagnosis = expected class)"
    )
    assert len(classes) >= 25
    assert misses == {}, "expected class, first diagnosis: " + repr(misses)


def test_no_false_alarms_on_the_healthy_set():
    alarms = {
        h.name: [f.signature.id for f in h.explain().causes if f.signature.severity == "error"]
        for h in HEALTHY
    }
    alarms = {name: ids for name, ids in alarms.items() if ids}
    print(f"\nfalse alarms: {len(alarms)} of {len(HEALTHY)} healthy outputs")
    assert alarms == {}


@pytest.mark.parametrize("case", HEALTHY, ids=lambda c: c.name)
def test_healthy_output_gives_its_positive_finding(case):
    expected = case.entry["expect"]
    found = [h.summary() for h in case.explain().healthy]
    # The finding may name the GPU model after the counts: "... 1 GPU(s) (NVIDIA H200)".
    assert any(s == expected or s.startswith(f"{expected} (") for s in found), found
    assert case.explain().primary is None
    for forbidden in case.entry.get("must_not_match", []):
        assert forbidden not in [f.signature.id for f in case.explain().findings]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_case_names_its_layer_and_its_other_causes(case):
    explanation = case.explain()
    assert explanation.primary.signature.layer == case.entry["layer"]
    found = {f.signature.id for f in explanation.causes}
    assert set(case.entry.get("also_matches", [])) <= found
    assert explanation.healthy == []  # a failure is never read as a healthy driver


def test_every_corpus_class_is_a_signature():
    _, signatures = load_signatures()
    known = {s.id for s in signatures}
    assert {c.entry["class"] for c in CASES} <= known
