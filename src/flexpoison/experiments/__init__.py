"""Experiments: one pipeline, and the studies built on it.

``pipeline``  data → split → scale → attack → refit → metrics → sanitizers
``paper``     the paper's section V: four data sets, α ∈ {0.5, 0}, its claims judged
``frontier``  the effect–concealment frontier against real sanitizers, with baselines
"""

from .pipeline import NO_SANITIZER, Experiment, Screened, Split, split_data

__all__ = ["NO_SANITIZER", "Experiment", "Screened", "Split", "split_data"]
