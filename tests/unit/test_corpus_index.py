"""The corpus keeps its rule (tests/data/real-world/README.md): quotes are verbatim, every case
cites its upstream source, every signature cites where its knowledge comes from."""

from __future__ import annotations

import re

import pytest

from gpuconform.diagnose.explain import load_signatures
from tests.unit.corpus import Case, failure_cases, healthy_cases

URL = re.compile(r"^https://[\w.-]+\.[a-z]{2,}/\S*$")
LAYERS = {"node-labels", "driver", "container-runtime", "device-plugin", "scheduler", "workload"}
ALL = failure_cases() + healthy_cases()


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.name)
def test_quote_is_verbatim_in_its_file(case: Case):
    assert case.entry["quote"] in case.text()


@pytest.mark.parametrize("case", failure_cases(), ids=lambda c: c.name)
def test_case_cites_its_upstream_source_and_a_layer(case: Case):
    source = case.entry["source"]
    assert source["repo"] and URL.match(source["url"])
    assert case.entry["layer"] in LAYERS


def test_every_signature_reference_is_a_url():
    layers, signatures = load_signatures()
    assert set(layers) == LAYERS
    assert [s.id for s in signatures if not URL.match(s.reference)] == []
    assert [s.id for s in signatures if s.layer not in layers] == []
