"""One point of Algorithm 1: its starts, its descent and its report, given what every
point of a run shares (:class:`Crafting`).
:class:`~flexpoison.attack.algorithm.FlexiblePoisoning` runs it once per point and
pass.

Or one point chosen by a :class:`RowStrategy` instead of the descent
(:func:`chosen_point`): the strategy's ``chooser(setup)`` returns a function from the
current model θ (flat, public) to the next row (x in the box, encoded target t); the
attack rounds it to the integer and one-hot constraints, adds it, and stops once
``reached``. The strategy may live above the attack (dependency injection: the attack
imports nothing of it), e.g. :class:`flexpoison.certify.ModelTargeted`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import InvalidInputError
from . import first_order, search
from .descent import Descent, Start
from .goals import Integrity
from .result import PointReport

if TYPE_CHECKING:
    from .algorithm import FlexiblePoisoning


@dataclass
class Crafting:
    """What every point of one run shares: the setup, the random streams (the paper's
    starts from ``rng``, the further ones from ``extra``), E before any poison, the
    responses' range (when optimised), which extra starts apply, the points so far,
    whether a point has stalled (``stalled``: its best descent stopped at zero
    gradient, so that it and every later point also start from the first-order rows of
    :mod:`flexpoison.attack.first_order`), and the last screening's lead
    (:func:`flexpoison.attack.search.lead`: from :data:`~flexpoison.attack.search.LEAD`
    on, a point whose start at the point before's optimum settles in the first round
    takes it alone)."""

    setup: Any  # FlexiblePoisoning._setup's
    rng: np.random.Generator
    extra: np.random.Generator
    effect_clean: float
    y_range: tuple[float, float] | None
    with_no_op: bool
    with_previous: bool
    chosen: list[search.Descent] = field(default_factory=list)
    stalled: bool = False
    reports: list[PointReport] = field(default_factory=list)
    lead: float = 0.0


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
    in an earlier pass, ``previous``), the descent, and its report. The first point
    whose best descent stops at zero gradient (every start ends where the row moves
    nothing, e.g. beyond a squared hinge's margin) is crafted again from the
    first-order starts, and every later point starts from them too (none with frozen
    features: they range over the box; none in a concealed run, whose points start
    from its α = 0 run's); a run that never stalls is unchanged."""
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
        candidates.append(search.resume(chosen[-1], search.PREVIOUS))
    keep = None if target is None else target - sign * (ctx.effect_clean - effect_before)

    def craft(candidates: list[Start]) -> tuple[search.Crafted, Descent]:
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
            keep=keep,
            constraints=setup.constraints,
            no_op_anchor=with_no_op,
            warm=warm is not None,
            alone=ctx.lead >= search.LEAD,
        )
        if crafted.lead is not None:  # a screening ran: its lead decides the next point's
            ctx.lead = crafted.lead
        # the attack's trials may be the local model's: the point kept is exact
        return crafted, dataclasses.replace(crafted.descent, ev=objective.exact(crafted.descent.ev))

    # from the box, so none with frozen features; a concealed run (``warm``) follows its
    # α = 0 run's points, which had them
    frozen = setup.constraints is not None and setup.constraints.frozen is not None
    first = not frozen and warm is None
    if ctx.stalled and first:  # a point before stalled: the first-order starts too
        candidates += first_order.starts(objective, Theta, box, sign)
    crafted, best = craft(candidates)
    if best.stop == "zero gradient" and not ctx.stalled and first:
        ctx.stalled = True
        crafted, best = _first_order(craft, crafted, best, objective, Theta, box, attack)
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


def _first_order(
    craft: Callable[[list[Start]], tuple[search.Crafted, Descent]],
    crafted: search.Crafted,
    best: Descent,
    objective,
    Theta: np.ndarray,
    box,
    attack: FlexiblePoisoning,
) -> tuple[search.Crafted, Descent]:
    """A point stuck at zero gradient, crafted again from the first-order starts
    (:mod:`flexpoison.attack.first_order`); kept if it does better (a lower W under the
    paper's trade-off, a larger gain under the share one); the iterations of both
    count."""
    sign = attack.goal.sign
    candidates = first_order.starts(objective, Theta, box, sign)
    if not candidates:
        return crafted, best
    again, other = craft(candidates)
    spent = crafted.n_iter + again.n_iter
    if attack.trade_off == "paper":
        better = other.ev.W < best.ev.W
    else:
        better = sign * other.ev.E < sign * best.ev.E
    if better:
        crafted, best = again, other
    return dataclasses.replace(crafted, n_iter=spent), best


class RowStrategy(Protocol):
    """A way to choose each poison row other than the descent (module docstring)."""

    @property
    def name(self) -> str:
        """How the attack's reports name the rows it chooses (read-only: a frozen
        dataclass's field satisfies it)."""
        ...

    def chooser(
        self, estimator: Any, setup: Any
    ) -> Callable[[np.ndarray], tuple[np.ndarray, float]]:
        """θ (flat, public) → the next row (x, encoded t), for the victim ``estimator``
        and the attack's ``setup`` (its rows, box, target)."""
        ...

    def reached(self, effect: float, effect_clean: float) -> bool:
        """Whether the attack may stop at this E."""
        ...

    def describe(self) -> dict:
        """Its settings as plain JSON values."""
        ...


def check_strategy(attack: FlexiblePoisoning) -> None:
    """A strategy chooses rows for an integrity target with no concealment and no
    further passes, and keeps no frozen feature (its rows come from the box)."""
    name = getattr(attack.strategy, "name", repr(attack.strategy))
    if not isinstance(attack.goal, Integrity) or attack.goal.predicts:
        raise InvalidInputError(f"strategy {name!r}: needs an integrity goal with a θ target")
    if attack.alpha != 0 or attack.passes != 1:
        raise InvalidInputError(f"strategy {name!r}: needs alpha=0 and passes=1")
    if attack.frozen_features:
        raise InvalidInputError(
            f"strategy {name!r}: its rows range over the box; frozen features are not supported"
        )


def chosen_point(
    name: str, chooser, ctx: Crafting, objective, Theta, effect_before, target, **_
) -> tuple[Descent, PointReport]:
    """The point the strategy chooses at the current model, rounded to the integer and
    one-hot constraints, added exactly (no descent: ``stop`` is "reached")."""
    setup = ctx.setup
    theta = ctx.chosen[-1].ev.theta if ctx.chosen else setup.theta_clean
    x, t = chooser(theta)
    x = setup.box.project(np.asarray(x, dtype=float))
    limits = setup.constraints
    if limits is not None and limits.discrete:
        x = limits.round(x)
    ev = objective.evaluate(x, float(t), Theta_init=Theta, with_gradient=False, exact=True)
    best = Descent(Start(x, float(t), name), x, float(t), ev, [ev.W], "reached")
    harmless = setup.objective.goal.sign * (ev.E - effect_before) <= 0
    report = PointReport(0, "reached", name, effect_before, ev.E, harmless, 1.0, None, 0)
    return best, report


__all__ = ["Crafting", "craft_point", "RowStrategy", "check_strategy", "chosen_point"]
