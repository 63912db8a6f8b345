"""Accuracy of the explainer on real failures (tests/data/real-world/, issue 12).

accuracy     = share of corpus cases whose FIRST diagnosis is the class the index expects
false alarms = healthy outputs (healthy/) that raise any error-severity diagnosis
Target: 100 % and 0. Recompute:
`pytest tests/gpuconform/diagnose/test_corpus_accuracy.py -q -s`; the
figures go to BENCHMARKS.md ("Explainer accuracy on real failures").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpuconform.diagnose.catalogue import load_catalogue
from gpuconform.diagnose.explain import load_signatures
from tests.gpuconform.diagnose.corpus import (
    HELD_OUT,
    SEEN,
    Case,
    failure_cases,
    healthy_cases,
    labelled_cases,
    labelled_healthy_cases,
)

CASES = failure_cases()
HEALTHY = healthy_cases()
LABELLED = {
    "seen": labelled_cases(SEEN),
    "held-out": labelled_cases(HELD_OUT),
    "held-out-3": labelled_cases(HELD_OUT.parent / "held-out-3"),
    "held-out-4": labelled_cases(HELD_OUT.parent / "held-out-4"),
    "held-out-5": labelled_cases(HELD_OUT.parent / "held-out-5"),
    "held-out-6": labelled_cases(HELD_OUT.parent / "held-out-6"),
    "held-out-7": labelled_cases(HELD_OUT.parent / "held-out-7"),
    "held-out-8": labelled_cases(HELD_OUT.parent / "held-out-8"),
    "held-out-9": labelled_cases(HELD_OUT.parent / "held-out-9"),
    "held-out-10": labelled_cases(HELD_OUT.parent / "held-out-10"),
}
LABELLED_HEALTHY = [
    h
    for folder in (SEEN, HELD_OUT, *(HELD_OUT.parent / f"held-out-{n}" for n in range(3, 11)))
    for h in labelled_healthy_cases(folder)
]
# Both labelled sets were measured once unseen (seen/: 32 %, held-out/: 45 %, BENCHMARKS.md)
# and are development sets since: their misses were read to find the missing vocabularies and
# rules. These floors keep what the general work reached on them (issue 22, explainer3); a
# third set (held-out-3/) that nobody who changed the explainer has read gives the held-out
# figure. Some labels were widened (`accept`) by the catalogue writer after adding an entry
# that names the labelled cause; each such case says so in its `relabelled` field.
SEEN_FLOOR = 0.92  # development: 26/28 (was 0.32 unseen)
RULES = Path(__file__).resolve().parents[3] / "gpuconform" / "diagnose"
HELD_OUT_TARGET = 0.85
HELD_OUT_FLOOR = 0.86  # development: 25/29 (was 0.45 when measured once unseen)
# held-out-3/, labelled against catalogue 4c1fe43 and measured once (2026-12-01): 40 %
# (14/35; 14 labelled none). Read since as a development set (issue 22, explainer22): 80 %
# (28/35; 9 none labels widened to entries added from the components' source, `relabelled`).
HELD_OUT_3_FLOOR = 0.80  # development: 28/35 (was 0.40 when measured once unseen)
# held-out-4/, labelled against explain22 (5c963a9) by a helper who never ran the explainer,
# measured once at e8d91cc (2026-12-01): 34 % (10/29; 12 labelled none, so 59 % was the most
# possible). Read since as a development set (issue 22, explain5): 86 % (25/29; 8 none labels
# widened to entries added from the components' source, `relabelled`).
HELD_OUT_4_FLOOR = 0.86  # development: 25/29 (was 0.34 when measured once unseen)
# held-out-5/, labelled against explain5 (ddd8da8) by a helper who never ran the explainer,
# measured once at 9b33608 (2026-12-01): 39 % (11/28; 15 labelled none, so 46 % was the
# most possible; 11 of the 13 reachable named right). Read since as a development set (issue
# 22, explain6): 78 % (22/28; 10 none labels widened to entries added from the components'
# source, `relabelled`).
HELD_OUT_5_FLOOR = 0.78  # development: 22/28 (was 0.39 when measured once unseen)
# held-out-6/, labelled against explain6 (d1b7406) by a helper who never ran the explainer,
# measured once at a2d12c9 (2026-12-01): 8 % (2/24; 14 labelled none, so 42 % was the most
# possible; 2 of the 10 reachable named right). Read since as a development set (issue 22,
# explain7): 58 % (14/24; 9 none labels widened to entries added from the components' source,
# `relabelled`).
HELD_OUT_6_FLOOR = 0.58  # development: 14/24 (was 0.08 when measured once unseen)
# held-out-7/, collected by one helper and labelled against explain7 (c2d4fc9) by another,
# neither of whom ran the explainer, measured once at that catalogue (2026-12-01): 22 % (5/23;
# 6 labelled none, so 74 % was the most possible; 5 of the 17 reachable named right). Read
# since as a development set (issue 22, explain8): 65 % (15/23; 3 none labels widened to
# entries added from the components' source, `relabelled`).
HELD_OUT_7_FLOOR = 0.65  # development: 15/23 (was 0.22 when measured once unseen)
# held-out-8/, collected by one helper and labelled against main's catalogue (eb412af, explain8)
# by another, neither of whom ran the explainer, measured once at that catalogue (2026-12-01):
# 25 % (6/24; 15 labelled none, so 38 % was the most possible; 6 of the 9 reachable named
# right), 0 false alarms on its 5 healthy outputs, none silent. Read since as a development set
# (issue 22, explain9): 79 % (19/24; 11 none labels widened to entries added from the components'
# source, `relabelled`; one of them, an unlicensed vGPU whose text never says so, still missed).
HELD_OUT_8_FLOOR = 0.79  # development: 19/24 (was 0.25 when measured once unseen)
# held-out-9/, collected by one helper and labelled against main's catalogue (42a0b66, explain9)
# by another, neither of whom ran the explainer, measured once at that catalogue (2026-12-01):
# 29 % (8/28; 12 labelled none, so 57 % was the most possible; 8 of the 16 reachable named
# right), 0 false alarms on its 5 healthy outputs, 2 silent (SILENT_HELD_OUT). Read since as a
# development set (issue 22, explain10): 61 % (17/28; 7 none labels widened to entries added
# from the components' source, `relabelled`; 36 % with the labels as given).
HELD_OUT_9_FLOOR = 0.60  # development: 17/28 (was 0.29 when measured once unseen)
# held-out-10/, collected by one helper and labelled against main's catalogue (cd8d973,
# explain10) by another, neither of whom ran the explainer, measured once at that catalogue
# (2026-12-01): 36 % (8/22; 8 labelled none, so 64 % was the most possible; 8 of the 14
# reachable named right), 0 false alarms on its 4 healthy outputs, 3 silent (SILENT_HELD_OUT).
# Read since as a development set (issue 22, explain11): 77 % (17/22; 3 none labels widened
# to entries added from the components' source, `relabelled`; 64 % with the labels as given,
# every reachable case named), none silent.
HELD_OUT_10_FLOOR = 0.77  # development: 17/22 (was 0.36 when measured once unseen)
# Labelled cases the explainer leaves silent ("No known failure signature"), each with why.
# Listed so that the gap stays visible; a case that gets a finding must leave this list.
# Empty since explain8: the last seven (a node's Capacity block with or without a GPU
# resource, a legacy alpha.kubernetes.io/nvidia-gpu listing, a CUDA error's own text in a
# program's frame, the toolkit's envvar refusal, KubeVirt's permittedHostDevices) are read by
# the general fallbacks (fallback.py: node resource lists, GPU resource names, components).
# held-out-9's measurement found two, read since explain10 from the components' source: the
# apiserver's refusal of a Node's labels (a label name over 63 characters, akash-support-277)
# and kbuild's modpost refusing a kernel module (a GPL-only symbol, gdrcopy-254) - exact
# entries, and general component markers (components.yaml) for their other wordings.
# held-out-10's measurement found three, read since explain11 from the components' source:
# the driver container's Fabric Manager start (nv-fabricmanager's driver version check, the
# NVLink5+ start script refusing bare paths) and UCX's shared-memory transport failing its
# receive FIFO under a small /dev/shm - exact entries, and general component markers
# (components.yaml: Fabric Manager, UCX) for their other wordings.
SILENT_HELD_OUT: set[str] = set()


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
    # A curated signature or a catalogue entry (a component's own message, e.g. the DRA
    # driver's): the explainer ranks both.
    _, signatures = load_signatures()
    known = {s.id for s in signatures} | {s.id for s in load_catalogue().all_signatures()}
    assert {c.entry["class"] for c in CASES} <= known


def right_causes(case: Case) -> set[str]:
    """The catalogue ids the labeller found to name this held-out case's cause ("none": no
    entry does, so the case can only be missed)."""
    return {case.entry["class"], *(case.entry.get("accept") or [])} - {"none"}


def labelled_accuracy(cases: list[Case]) -> tuple[float, dict[str, tuple[str, str | None]]]:
    misses = {
        c.name: (c.entry["class"], got)
        for c in cases
        if (got := first_diagnosis(c)) not in right_causes(c)
    }
    return 1 - len(misses) / len(cases), misses


@pytest.mark.parametrize(
    ("name", "floor"),
    [
        ("seen", SEEN_FLOOR),
        ("held-out", HELD_OUT_FLOOR),
        ("held-out-3", HELD_OUT_3_FLOOR),
        ("held-out-4", HELD_OUT_4_FLOOR),
        ("held-out-5", HELD_OUT_5_FLOOR),
        ("held-out-6", HELD_OUT_6_FLOOR),
        ("held-out-7", HELD_OUT_7_FLOOR),
        ("held-out-8", HELD_OUT_8_FLOOR),
        ("held-out-9", HELD_OUT_9_FLOOR),
        ("held-out-10", HELD_OUT_10_FLOOR),
    ],
)
def test_accuracy_on_labelled_sets(name, floor):
    cases = LABELLED[name]
    if not cases:
        pytest.fail(f"the {name} set is missing (tests/data/real-world/{name}/index.yaml)")
    accuracy, misses = labelled_accuracy(cases)
    print(
        f"\n{name} accuracy: {accuracy:.0%} ({len(cases) - len(misses)}/{len(cases)} cases, "
        f"first finding names the labelled cause); misses: {misses}"
    )
    assert len(cases) >= 20
    assert accuracy >= floor, misses


@pytest.mark.parametrize(
    "case",
    [case for cases in LABELLED.values() for case in cases],
    ids=lambda c: c.name,
)
def test_every_labelled_case_gets_a_finding_with_a_layer(case):
    explanation = case.explain()
    if case.name in SILENT_HELD_OUT:
        assert explanation.primary is None, f"{case.name} is explained now: drop it from the list"
        return
    assert explanation.primary is not None
    assert explanation.primary.signature.layer in load_signatures()[0]
    assert "No known failure signature" not in explanation.render()


def test_no_false_alarms_on_labelled_healthy_outputs():
    alarms = {
        h.name: [f.signature.id for f in h.explain().causes if f.signature.severity == "error"]
        for h in LABELLED_HEALTHY
    }
    assert {name: ids for name, ids in alarms.items() if ids} == {}


def test_no_rule_cites_a_labelled_thread():
    # Curated signatures and catalogue entries alike: none was written from a labelled case.
    rules = [RULES / "signatures.yaml", *sorted((RULES / "catalogue").glob("*.yaml"))]
    text = "\n".join(path.read_text() for path in rules)
    urls = [c.entry["source"]["url"] for cases in LABELLED.values() for c in cases]
    # A whole URL, not a prefix: issues/11 is not cited by a rule naming issues/1132.
    cited = [url for url in urls if re.search(re.escape(url) + r"(?![\w/])", text)]
    assert cited == []
