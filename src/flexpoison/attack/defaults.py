"""The search's settings and their defaults, declared once for the library, the command
line, sweeps and the ART adapter (no numerical import: the command line reads them
before it loads numpy). What they mean: :mod:`flexpoison.attack.descent`."""

from __future__ import annotations

from typing import Literal

#: The descent rules; the first is the default.
STEP_RULES = ("lbfgs", "backtracking", "paper")
StepRule = Literal["lbfgs", "backtracking", "paper"]
DEFAULT_STEP: StepRule = "lbfgs"
#: Iterations per descent at most, and the stop test's tolerance.
DEFAULT_MAX_ITER = 100
DEFAULT_TOL = 1e-5

#: The attack's settings a command passes through by name (FlexiblePoisoning's keywords
#: of the same names), beside α, the seed, the constraints and progress.
SEARCH_SETTINGS = (
    "n_points",
    "rate",
    "trade_off",
    "starts",
    "passes",
    "step",
    "max_iter",
    "tol",
    "optimize_y",
    "n_sigma",
)

#: The ways the attack chooses its rows, by name: the paper's descent on W (the default)
#: and Suya et al.'s model-targeted online attack (:class:`flexpoison.certify.ModelTargeted`,
#: a ``strategy`` of :class:`~flexpoison.attack.FlexiblePoisoning`).
MODEL_TARGETED = "model-targeted"
STRATEGIES = ("flexpoison", MODEL_TARGETED)

__all__ = [
    "STEP_RULES",
    "StepRule",
    "DEFAULT_STEP",
    "DEFAULT_MAX_ITER",
    "DEFAULT_TOL",
    "SEARCH_SETTINGS",
    "MODEL_TARGETED",
    "STRATEGIES",
]
