"""One point of Algorithm 1: its starts, its descent and its report, given what every
point of a run shares (:class:`Crafting`).
:class:`~flexpoison.attack.algorithm.FlexiblePoisoning` runs it once per point and
pass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import search
from .result import PointReport

if TYPE_CHECKING:
    from .algorithm import FlexiblePoisoning


@dataclass
class Crafting:
    """What every point of one run shares: the setup, the random streams (the paper's
    starts from ``rng``, the further ones from ``extra``), E before any poison, the
    responses' range (when optimised), which extra starts apply, and the points so far."""

    setup: Any  # FlexiblePoisoning._setup's
    rng: np.random.Generator
    extra: np.random.Generator
    effect_clean: float
    y_range: tuple[float, float] | None
    with_no_op: bool
    with_previous: bool
    chosen: list[search.Descent] = field(default_factory=list)
    reports: list[PointReport] = field(default_factory=list)


def craft_point(
    attack: FlexiblePoisoning,
    ctx: Crafting,
    objective,
    Theta,
    effect_before,
    target,
    previous=None,
    warm=None,
) -> tuple[search.Descent, PointReport]:
    """One point: its starts (or the α = 0 run's point ``warm``, or the point it had
    in an earlier pass, ``previous``), the descent, and its report."""
    setup, box, victim, chosen = ctx.setup, ctx.setup.box, ctx.setup.victim, ctx.chosen
    rng, extra, sign = ctx.rng, ctx.extra, attack.goal.sign
    with_no_op, with_previous = ctx.with_no_op, ctx.with_previous
    if warm is not None:  # the α = 0 run's point (the share trade-off)
        candidates = [search.resume(warm, "α = 0 point")]
    else:
        candidates = search.starts(
            rng, setup.X, setup.t, victim, box, attack.starts, extra, setup.constraints
        )
    if previous is not None:  # a later pass also descends from the point it had
        candidates.insert(0, search.resume(previous))
    if with_no_op and warm is None:
        candidates.append(search.no_op(objective, box, Theta, candidates[0]))
    if with_previous and warm is None and previous is None and chosen:
        candidates.append(search.resume(chosen[-1], "previous point"))
    crafted = search.craft(
        objective,
        candidates,
        Theta,
        box,
        ctx.y_range,
        effect_before,
        trade_off=attack.trade_off,
        step_rule=attack.step,
        max_iter=attack.max_iter,
        tol=attack.tol,
        keep=None if target is None else target - sign * (ctx.effect_clean - effect_before),
        constraints=setup.constraints,
        no_op_anchor=with_no_op,
        warm=warm is not None,
    )
    # the attack's trials may be the local model's: the point kept is exact
    best = dataclasses.replace(crafted.descent, ev=objective.exact(crafted.descent.ev))
    if warm is not None and not chosen:  # the first point, on the same rows as
        # the α = 0 run's: the descent that found its start, then its own
        best = dataclasses.replace(best, history=warm.history[:-1] + best.history)
    report = PointReport(
        crafted.n_iter,
        best.stop,
        best.start.kind,
        effect_before,
        best.ev.E,
        crafted.harmless,
        crafted.path,
        best.start.row,
        crafted.repaired,
    )
    return best, report


__all__ = ["Crafting", "craft_point"]
