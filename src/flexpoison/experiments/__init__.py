"""Experiments: one pipeline, and the studies built on it.

``pipeline``  data → split → scale → attack → refit → metrics → sanitizers
``outcomes``  what a sanitizer's screening left to measure
``paper``     the paper's section V: four data sets, α ∈ {0.5, 0}, its claims judged
``frontier``  the effect–concealment frontier against real sanitizers, with baselines
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pipeline import NO_SANITIZER, Experiment, Screened, Split, split_data

# Imported on first use, so that ``experiments.outcomes`` (read by the sweep store and
# its reports at the command line's start-up) does not pull in the numerical stack.
_WHERE = {
    name: "pipeline" for name in ("NO_SANITIZER", "Experiment", "Screened", "Split", "split_data")
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["NO_SANITIZER", "Experiment", "Screened", "Split", "split_data"]
