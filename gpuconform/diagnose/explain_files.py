"""`gpuconform explain FILE...`: the suite's explainer on saved outputs."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from gpuconform.diagnose.catalogue import list_catalogue
from gpuconform.diagnose.explain import Evidence, explain, load_signatures
from gpuconform.diagnose.redact import redact


class UnreadableInput(ValueError):
    """A file that cannot be explained: missing, empty or binary."""


def read_text_file(path: Path) -> str:
    if not path.exists():
        raise UnreadableInput(f"{path}: no such file")
    if path.is_dir():
        raise UnreadableInput(f"{path}: is a directory; pass the files in it")
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableInput(f"{path}: the file is empty")
    if b"\0" in data[:8192]:
        raise UnreadableInput(f"{path}: a binary file; pass saved text output (logs, describe)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def explain_files(paths: list[str], out: TextIO, err: TextIO) -> int:
    """Print the diagnosis; exit 2 if any input was unusable, 1 if a cause was found, else 0
    (also when the text only names a component and no line of it reads as an error)."""
    evidence, problems = [], []
    for name in paths:
        try:
            evidence.append(Evidence("file", name, read_text_file(Path(name))))
        except (UnreadableInput, OSError) as problem:
            problems.append(str(problem))
    for problem in problems:
        err.write(f"gpuconform: {problem}\n")
    if problems:
        return 2
    explanation = explain(evidence)
    out.write(redact(explanation.render()))
    return 1 if explanation.primary and not explanation.primary.only_named else 0


def list_known(out: TextIO) -> int:
    """Every id the explainer can name, tab-separated: id, layer, component, meaning."""
    _, signatures = load_signatures()
    rows = [(s.id, s.layer, "signatures.yaml", s.diagnosis) for s in signatures]
    for row in rows + list_catalogue():
        out.write("\t".join(row) + "\n")
    return 0
