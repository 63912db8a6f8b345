"""One format truth for ``nvidia-smi -q``: a real capture (tests/data/h200-host/nvidia-smi-q.txt,
a real H200, driver 580.159.04). Both SIMULATED formatters, the Python one of KWOK nodes and the
Go one of real nodes' driver roots, are held to it by ``assert_real_layout``."""

from __future__ import annotations

from pathlib import Path

REAL_Q = Path(__file__).resolve().parent / "data" / "h200-host" / "nvidia-smi-q.txt"
LABEL_END = 55  # the real report pads labels (with their indentation) to column 55


def layout(line: str) -> str:
    """A line without its value: the label with its padding and ``: `` for a field; a GPU
    block's opening line as ``GPU``; a section line as it is."""
    if line.startswith("GPU ") and line[4:5].isdigit():
        return "GPU"
    if len(line) > LABEL_END + 1 and line[LABEL_END : LABEL_END + 2] == ": ":
        return line[: LABEL_END + 2]
    return line


def assert_real_layout(ours: str, capture: str | None = None) -> int:
    """Every non-blank line of ``ours`` is laid out as a line of the real report, and they come
    in the real report's order (each GPU block against the capture's one GPU block); returns
    how many lines were matched."""
    real = [layout(line) for line in (capture or REAL_Q.read_text()).splitlines()]
    gpu_at = real.index("GPU")
    matched, at = 0, -1
    for line in ours.splitlines():
        if not line.strip():
            continue
        shape = layout(line)
        if shape == "GPU":
            at = gpu_at - 1  # a new GPU block: the capture's block again from its start
        later = [i for i, r in enumerate(real) if r == shape and i > at]
        assert later, f"not a line of the real report, or out of its order: {line!r}"
        at = later[0]
        matched += 1
    return matched
