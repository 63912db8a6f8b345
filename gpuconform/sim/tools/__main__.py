"""``python -m gpuconform.sim.tools <tool> [args]``: run one SIMULATED GPU tool."""

from __future__ import annotations

import sys
from collections.abc import Callable

from gpuconform.sim.tools import nvidia_smi, vector_add

TOOLS: dict[str, Callable[[list[str]], int]] = {
    "nvidia-smi": nvidia_smi.main,
    "vectorAdd": vector_add.main,
}


def main(argv: list[str]) -> int:
    """Dispatch on the tool name (a path's basename works too, for wrappers on PATH)."""
    if not argv or argv[0].rsplit("/", 1)[-1] not in TOOLS:
        print(
            f"usage: python -m gpuconform.sim.tools {{{','.join(TOOLS)}}} [args]", file=sys.stderr
        )
        return 127
    return TOOLS[argv[0].rsplit("/", 1)[-1]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
