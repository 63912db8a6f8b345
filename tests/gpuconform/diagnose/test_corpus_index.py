"""The corpus keeps its rule (tests/data/real-world/README.md): quotes are verbatim, every case
cites its upstream source, every signature cites where its knowledge comes from."""

from __future__ import annotations

import re

import pytest

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

URL = re.compile(r"^https://[\w.-]+\.[a-z]{2,}/\S*$")
LAYERS = {"node-labels", "driver", "container-runtime", "device-plugin", "scheduler", "workload"}
LABELLED = labelled_cases(SEEN) + labelled_cases(HELD_OUT)
ALL = (
    failure_cases()
    + healthy_cases()
    + LABELLED
    + labelled_healthy_cases(SEEN)
    + labelled_healthy_cases(HELD_OUT)
)


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.name)
def test_quote_is_verbatim_in_its_file(case: Case):
    assert case.entry["quote"] in case.text()


@pytest.mark.parametrize("case", failure_cases() + LABELLED, ids=lambda c: c.name)
def test_case_cites_its_upstream_source_and_a_layer(case: Case):
    source = case.entry["source"]
    assert source["repo"] and URL.match(source["url"])
    assert case.entry["layer"] in LAYERS


def test_every_signature_reference_is_a_url():
    layers, signatures = load_signatures()
    assert set(layers) == LAYERS
    assert [s.id for s in signatures if not URL.match(s.reference)] == []
    assert [s.id for s in signatures if s.layer not in layers] == []


@pytest.mark.parametrize("case", LABELLED, ids=lambda c: c.name)
def test_labelled_decisive_line_is_verbatim_and_its_thread_is_not_in_training(case: Case):
    assert case.entry["decisive"] in case.text().splitlines()
    training = {c.entry["source"].get("url") for c in failure_cases() + healthy_cases()}
    assert case.entry["source"]["url"] not in training


def test_the_held_out_set_shares_no_thread_with_the_seen_one():
    seen = {c.entry["source"]["url"] for c in labelled_cases(SEEN)}
    assert [c.name for c in labelled_cases(HELD_OUT) if c.entry["source"]["url"] in seen] == []
