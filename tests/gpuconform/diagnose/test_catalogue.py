"""The catalogue's schema: every entry has an id, a known layer, a meaning, a fix and the
source it came from; ids are unique across the catalogue and signatures.yaml."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

from gpuconform.diagnose.catalogue import (
    CATALOGUE_DIR,
    LAYERS,
    REQUIRED,
    CatalogueError,
    list_catalogue,
    load_catalogue,
    read_entries,
)
from gpuconform.diagnose.explain import load_signatures

FILES = sorted(CATALOGUE_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_entry_has_id_layer_meaning_fix_source(path):
    doc, entries = read_entries(path)
    assert doc["component"]
    for entry in entries:
        assert all(entry.get(key) for key in REQUIRED), entry.get("id")
        assert entry["layer"] in LAYERS
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", entry["id"]), entry["id"]
        assert entry.get("severity", "error") in ("error", "warning", "info")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_entry_has_exactly_one_way_to_be_found(path):
    _, entries = read_entries(path)
    for entry in entries:
        ways = [key for key in ("patterns", "reason", "code", "prefix") if key in entry]
        assert len(ways) == 1, (entry["id"], ways)


def test_ids_are_unique_across_the_catalogue():
    counts = Counter(row[0] for row in list_catalogue())
    # scheduler.yaml's Insufficient nvidia.com/gpu reason is explained by the curated
    # signature of the same id (its `signature:` key) - the one deliberate shared id.
    _, curated = load_signatures()
    shared = {sig.id for sig in curated} & set(counts)
    assert shared == {"insufficient-gpu"}
    assert [i for i, n in counts.items() if n > 1] == []


def test_the_layers_are_the_order_of_blame():
    layers, _ = load_signatures()
    assert tuple(layers) == LAYERS


def test_every_layer_has_entries_and_the_fallback_covers_every_layer():
    rows = list_catalogue()
    assert {layer for _, layer, _, _ in rows} == set(LAYERS)
    fallback_layers = {c.signature.layer for c in load_catalogue().components}
    assert fallback_layers == set(LAYERS)


def test_a_broken_entry_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {"component": "x", "repo": "", "ref": "", "entries": [{"id": "x", "layer": "gpu"}]}
        )
    )
    with pytest.raises(CatalogueError, match="lacks meaning, fix, source"):
        read_entries(bad)


def test_sizes_per_layer_are_printed_for_the_benchmarks():
    rows = list_catalogue()
    sizes = Counter(layer for _, layer, component, _ in rows if component != "components")
    prefixes = sum(1 for row in rows if row[2] == "components")
    print(f"\ncatalogue entries per layer: {dict(sorted(sizes.items()))}, + {prefixes} prefixes")
    assert sum(sizes.values()) > 300
