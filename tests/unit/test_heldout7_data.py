"""Held-out set 7 keeps the corpus rule and labels every failure (tests/data/real-world/README.md).

Data checks only (tests/unit/heldout_data.py), including that no thread of this set is cited by an
earlier set: nothing here imports or runs the explainer, and there is deliberately no accuracy
test - the set is measured once, by the lead.

This folder also holds the collector's and labeller's README.md, which the shared every-file check
would count as a case without an entry; the local check below skips it.
"""

from __future__ import annotations

from tests.unit.heldout_data import REAL_WORLD, data_tests, load_entries

NAME = "held-out-7"
SHARED_EVERY_FILE = "test_every_file_in_the_folder_has_an_entry"

# Built per set so that every set runs the same checks; pytest collects them from the globals.
globals().update({k: v for k, v in data_tests(NAME).items() if k != SHARED_EVERY_FILE})


def test_every_case_file_in_the_folder_has_an_entry() -> None:
    folder = REAL_WORLD / NAME
    every = load_entries(folder) + load_entries(folder / "healthy")
    listed = {(f / entry["file"]).resolve() for f, entry in every}
    present = {
        p.resolve()
        for f in (folder, folder / "healthy")
        for p in f.iterdir()
        if p.is_file() and p.name not in {"index.yaml", "README.md"}
    }
    assert present == listed


def test_failures_carry_the_collectors_keys() -> None:
    for _, entry in load_entries(REAL_WORLD / NAME):
        assert entry["cause"] and entry["resolution"] and entry["decisive"]
        assert {"repo", "issue", "url"} <= set(entry["source"])
