"""Experiments: one pipeline, and the studies built on it.

``pipeline``  data → split → scale → attack → refit → metrics → sanitizers
``outcomes``  what a sanitizer's screening left to measure
``paper``     the paper's section V: four data sets, α ∈ {0.5, 0}, its claims judged
``frontier``  the effect–concealment frontier against real sanitizers, with baselines
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from .pipeline import (
        NO_SANITIZER,
        Experiment,
        Screened,
        Split,
        configured_attack,
        split_data,
    )

# Imported on first use, so that ``experiments.outcomes`` (read by the sweep store and
# its reports at the command line's start-up) does not pull in the numerical stack.
_WHERE = {
    name: ".pipeline"
    for name in (
        "NO_SANITIZER",
        "Experiment",
        "Screened",
        "Split",
        "configured_attack",
        "split_data",
    )
}
__getattr__ = lazy_getattr(__name__, _WHERE, globals())

__all__ = ["NO_SANITIZER", "Experiment", "Screened", "Split", "configured_attack", "split_data"]
