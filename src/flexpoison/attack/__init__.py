"""The attack: feasible box, goals and their effects, the objective W, Algorithm 1, baselines.

Above the engine and the model registry; below experiments, sweeps and the command
line. Reading order:

``box``        the n_sigma box around x_c (and user bounds)
``effects``    E as a function of θ: distance to a reference, or the victim's own loss
``goals``      Integrity / Availability / LossAvailability, target presets
``objective``  W = α·C ± (1 − α)·E for one candidate row, and its exact gradient
``search``     one point: its starts, the descent, the effect-share trade-off
``first_order`` starts inside a classifier's margin once a point stalls at zero gradient
``crafting``   one point of a run: its candidates, the search, its report
``specs``      the constraints as a user states them: columns by name, bounds by column
``constraints`` frozen, integer and one-hot features: pinned boxes, rounding and repair
``result``     AttackResult, per-point reports, warnings
``algorithm``  FlexiblePoisoning (Algorithm 1, several starts, passes)
``baselines``  random clone, label flip, extreme response, unconcealed — the same budget
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from .algorithm import FlexiblePoisoning, StepRule, TradeOff
    from .box import Box, feasible_box
    from .goals import (
        GOALS,
        PRESETS,
        Availability,
        Goal,
        Integrity,
        LossAvailability,
        ModelShape,
        goal_from_name,
    )
    from .objective import Evaluation, Objective
    from .result import AttackResult, PointReport

# The public names: what a user builds an attack from and reads back. The rest (the
# effects' classes, the pipeline map, the search) stays in its module, documented there.
# Names are imported from their modules on first use: the goals (all the command line
# needs at start-up) do not pull in the numerical engine.
_WHERE = {
    "FlexiblePoisoning": ".algorithm",
    "AttackResult": ".result",
    "PointReport": ".result",
    "StepRule": ".algorithm",
    "TradeOff": ".algorithm",
    "Box": ".box",
    "feasible_box": ".box",
    "GOALS": ".goals",
    "PRESETS": ".goals",
    "Goal": ".goals",
    "Integrity": ".goals",
    "Availability": ".goals",
    "LossAvailability": ".goals",
    "ModelShape": ".goals",
    "goal_from_name": ".goals",
    "Evaluation": ".objective",
    "Objective": ".objective",
}


__getattr__ = lazy_getattr(__name__, _WHERE, globals())


__all__ = [
    "FlexiblePoisoning",
    "AttackResult",
    "PointReport",
    "TradeOff",
    "StepRule",
    "Box",
    "feasible_box",
    "GOALS",
    "PRESETS",
    "Goal",
    "Integrity",
    "Availability",
    "LossAvailability",
    "ModelShape",
    "goal_from_name",
    "Evaluation",
    "Objective",
]
