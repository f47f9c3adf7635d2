"""Crafting one poison point: where to start, how to weigh C against E, how to descend.

:func:`starts` gives a point's starting rows: the paper's first (a random clean row,
its response kept for regression, its label flipped for classification, drawn exactly
as Algorithm 1 draws it), then clones with other labels or extreme responses; a
squared-residual regressor also starts from the *no-op* row (x_c with the response the
current model predicts there, which leaves θ where it is), and from the second point on
a victim with θ from the point before (:func:`resume`).

:func:`screen` runs the starts' descents (:mod:`flexpoison.attack.descent`) by
successive halving: every start 3 iterations, the best two (lowest W) to 10, the best
of those to its stop; a start screened out ends where it was (stop ``"screened"``) and
is still a candidate. Once the start at the point before's optimum wins a screening
by :data:`LEAD` of its gain over every other start (:func:`lead`), the next points
descend from the point before's optimum first, and where that settles within the first
round (one row more left it a stationary point of W) it is the point, the other starts
not descended; the last screening that ran decides (on 50,000 rows the point before's
optimum won every point from the second, its random rivals 26–85 % behind).

:func:`craft` picks the point. Under ``trade_off="paper"`` it is the best descent of the
paper's W = α·C ± (1 − α)·E that leaves E no worse. Under the default
``trade_off="share"``, α is the share of the α = 0 attack's cumulative gain G⁰_q given
up for concealment: the point descends the effect alone, W = sign·(E − E_before), from
the α = 0 run's point q to x* (gain G), then takes the smallest s with
sign·(E_before − E(p(s))) ≥ k_q = (1 − α)·G⁰_q − sign·(E_clean − E_before) on the
segment p(s) = a + s·(x* − a) from a concealed anchor a (grid of eighths, then
bisection). When no start gains beyond rounding there is nothing to trade: the point
is the harmless start and the result's progress says so.

With frozen features each start carries its source row and is descended in the box
pinned there; integer and one-hot points are rounded and repaired
(:mod:`flexpoison.attack.constraints`). The derivations and the reasons for each
choice are in the documentation's maths page ("The effect-share trade-off", "The
search").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..models import Victim
from .box import Box
from .constraints import Constraints, repair
from .descent import Descender, Descent, Start, Stop
from .objective import Evaluation, Objective

# Screening the starts (successive halving): every start's descent runs to the first
# round's iterations, the best ``keep`` of them (lowest W) go on to the next round's,
# and the last one left runs to its stop or ``max_iter``.
_ROUNDS = ((3, 2), (10, 1))
# The start at the point before's optimum, and the stops that settle a point there.
PREVIOUS = "previous point"
_SETTLED = ("tolerance", "stationary")
# The lead (share of its gain) by which the point before's optimum must win a screening
# over every other start for the next points to skip the other starts where it settles
# (module docstring).
LEAD = 0.25
# Gains within this share of E's magnitude are rounding, not gains.
_ROUNDING = 1e-9
# The concealment path is scanned at s = k/_GRID, then bisected _BISECTIONS times.
_GRID = 8
_BISECTIONS = 12


def starts(
    rng: np.random.Generator,
    X: np.ndarray,
    t: np.ndarray,
    victim: Victim,
    box: Box,
    count: int,
    extra: np.random.Generator | None = None,
    constraints: Constraints | None = None,
) -> list[Start]:
    """``count`` starts for one point (module docstring); the first is the paper's,
    drawn with the same calls on ``rng`` as the paper's Algorithm 1, the others from
    ``extra`` (default: ``rng``), so that the paper's starts of later points do not
    depend on ``count``. With frozen features each start keeps its row's values there
    (not projected), and rows are drawn among those whose frozen values lie in the box
    (``constraints.eligible``)."""
    frozen = None if constraints is None else constraints.frozen
    eligible = None if constraints is None else constraints.eligible
    n = X.shape[0] if eligible is None else eligible.size
    regression = victim.classes is None
    low, high = (float(t.min()), float(t.max())) if regression else (0.0, 0.0)
    out: list[Start] = []
    for k in range(count):
        draw = rng if k == 0 or extra is None else extra
        row = int(draw.integers(n))
        if eligible is not None:
            row = int(eligible[row])
        x = box.project(X[row])
        if frozen is not None:
            x[frozen] = X[row, frozen]
        if not regression:
            out.append(Start(x, victim.flipped(t[row], draw), "flipped", row, frozen))
            continue
        variant = k % 4
        if variant == 0:
            out.append(Start(x, float(t[row]), "clone", row, frozen))
        elif variant == 1:  # the far end of the observed range from its own response
            far = low if t[row] > 0.5 * (low + high) else high
            out.append(Start(x, far, "opposite response", row, frozen))
        elif variant == 2:
            out.append(Start(x, low, "lowest response", row, frozen))
        else:
            out.append(Start(x, high, "highest response", row, frozen))
    return out


def resume(previous: Descent, kind: str = "previous pass") -> Start:
    """A start at the point ``previous`` ended at (same source row): a later pass's,
    or the concealed run's from the α = 0 run's point (``kind`` says which)."""
    start = previous.start
    return Start(previous.x, previous.t, kind, start.row, start.fixed)


def no_op(objective: Objective, box: Box, Theta: np.ndarray, source: Start | None = None) -> Start:
    """The row that leaves θ where it is: x_c (in the box) with the response the model
    Θ predicts there, whose residual — and so whose pull on θ — is zero (squared
    residual losses only). With frozen features it keeps those of ``source``'s row."""
    x = box.project(objective.x_c)
    row, fixed = None, None
    if source is not None and source.fixed is not None:
        row, fixed = source.row, source.fixed
        x[fixed] = source.x[fixed]
    return Start(x, _prediction(objective, x, Theta), "no-op", row, fixed)


def _prediction(objective: Objective, x: np.ndarray, Theta: np.ndarray) -> float:
    """The response the model Θ predicts at x (the no-op row's target)."""
    return float((Theta @ objective.victim.learner.feature_row(x, objective.shift))[0])


def screen(
    objective: Objective,
    candidates: list[Start],
    Theta: np.ndarray,
    box: Box,
    y_range: tuple[float, float] | None,
    step_rule: str,
    max_iter: int,
    tol: float,
    scale: float | None = 1.0,
    enough: float | None = None,
    alone: bool = False,
) -> list[Descent]:
    """The descents from every start, screened by successive halving (``_ROUNDS``):
    all run a few iterations, the best (lowest W) go on, and one runs to its stop or
    ``max_iter``. A start screened out ends where it was (stop ``"screened"``). With
    ``enough``, a start whose gain −W already reaches it is not descended (stop
    ``"reached"``). With ``alone``, the start at the point before's optimum runs first,
    and where it settles within the first round it is the only descent (where it does
    not, the others follow it: a solver's warm starts then see them in another order,
    which can move their W by rounding)."""

    def descender(start: Start) -> Descender:
        return Descender(
            objective, start, Theta, box, y_range, step_rule=step_rule, tol=tol, scale=scale
        )

    previous = [s for s in candidates if s.kind == PREVIOUS] if alone and enough is None else []
    if previous:  # the point before's optimum first
        first = descender(previous[0])
        first.advance(min(_ROUNDS[0][0], max_iter))
        if first.stop in _SETTLED:
            return [first.result(max_iter)]
        runs = [first if s is previous[0] else descender(s) for s in candidates]
    else:  # in the candidates' order (the solvers' warm starts see the same sequence)
        runs = [descender(s) for s in candidates]
    if enough is not None:
        for run in runs:
            if run.stop is None and -run.ev.W >= enough:
                run.stop = "reached"
    live = runs
    for until, keep in _ROUNDS:
        if len(live) <= keep:
            break
        for run in live:
            run.advance(min(until, max_iter))
        live = sorted(live, key=lambda r: r.ev.W)[:keep]
    for run in live:
        run.advance(max_iter)
    return [run.result(max_iter) for run in runs]


def lead(descents: list[Descent]) -> float | None:
    """How far the start at the point before's optimum leads the other starts where it
    wins, (W₂ − W₁)/|W₁| as a share of its gain −W₁ (W₂: the best other start's W); 0
    where another start wins or ties, or nothing gains; None for a single descent (no
    screening to read)."""
    if len(descents) < 2:
        return None
    ranked = sorted(descents, key=lambda d: d.ev.W)
    first, second = ranked[0].ev.W, ranked[1].ev.W
    if ranked[0].start.kind != PREVIOUS or not first < 0.0:
        return 0.0
    return (second - first) / -first


def choose(
    descents: list[Descent],
    sign: float,
    effect_before: float,
    score: Callable[[Descent], float] = lambda d: d.ev.W,
) -> tuple[Descent, bool]:
    """The descent with the lowest ``score`` (W by default) among those that leave E
    no worse than without the point (sign·(E − E_before) ≤ 0, up to rounding); if none
    does, the one that does least harm. Returns it and whether it keeps E no worse."""
    slack = 1e-12 * max(1.0, abs(effect_before))
    harmless = [d for d in descents if sign * (d.ev.E - effect_before) <= slack]
    if harmless:
        return min(harmless, key=score), True
    return min(descents, key=lambda d: sign * d.ev.E), False


@dataclass(frozen=True)
class Crafted:
    """One crafted point: the descent that produced it, whether it leaves E no worse
    than without it, the gradient iterations spent on it over all its descents, and
    where it lies on the path from the concealed anchor to the effect's best point
    (1: that point itself; always 1 for the paper's W), and how many integer features
    or one-hot groups the repair changed from plain rounding
    (:mod:`flexpoison.attack.constraints`), and its screening's :func:`lead` (None
    where the point before's optimum was the only descent)."""

    descent: Descent
    harmless: bool
    n_iter: int
    path: float
    repaired: int = 0
    lead: float | None = None


def craft(
    objective: Objective,
    candidates: list[Start],
    Theta: np.ndarray,
    box: Box,
    y_range: tuple[float, float] | None,
    effect_before: float,
    *,
    trade_off: str,
    step_rule: str,
    max_iter: int,
    tol: float,
    keep: float | None = None,
    constraints: Constraints | None = None,
    no_op_anchor: bool = False,
    warm: bool = False,
    alone: bool = False,
) -> Crafted:
    """Craft one point from its ``candidates`` starts: the paper's W descended from
    each start, or the effect-share trade-off (module docstring), where ``keep`` is the
    gain sign·(E_before − E) the point is to reach (None: as much as it can, α = 0; a
    gain beyond the point's best is that best, a gain ≤ 0 the most concealed harmless
    point of its path). With integer features or one-hot groups in ``constraints``,
    the point is then rounded and repaired for the score it was crafted for (W, or
    for a concealed point its shortfall below ``keep``, then C) and evaluated there.
    ``no_op_anchor``: whether the concealment path starts at the no-op row (a
    squared-residual regressor's), else at x_c. ``warm``: the candidates start
    next to the point sought (the α = 0 run's point): one whose gain already reaches
    ``keep`` is concealed as it is, without a descent. ``alone``: as :func:`screen`'s;
    the result's ``lead`` is its screening's (:func:`lead`)."""
    sign = objective.goal.sign
    discrete = constraints is not None and constraints.discrete
    if trade_off == "paper":
        descents = screen(
            objective, candidates, Theta, box, y_range, step_rule, max_iter, tol, alone=alone
        )
        made = partial(Crafted, lead=lead(descents))  # every result carries the lead
        best, harmless = choose(descents, sign, effect_before)
        spent = sum(d.n_iter for d in descents)
        if not discrete:
            return made(best, harmless, spent, 1.0)
        assert constraints is not None
        rounded, changed = _discrete(objective, best, Theta, constraints, _W, _unmoved(best))
        return made(rounded, _harmless(rounded, sign, effect_before), spent, 1.0, changed)
    effect = objective.effect_gain(effect_before)  # W = sign·(E − E_before)
    first = screen(
        effect,
        candidates,
        Theta,
        box,
        y_range,
        step_rule,
        max_iter,
        tol,
        scale=None,  # the effect search's stop test
        enough=keep if warm else None,
        alone=alone,
    )
    made = partial(Crafted, lead=lead(first))
    spent = sum(d.n_iter for d in first)
    best, harmless = choose(first, sign, effect_before)
    gain = -best.ev.W
    noise = _ROUNDING * max(abs(effect_before), max(abs(d.ev.W) for d in first))
    if keep is None or keep >= gain or not harmless or not gain > noise:
        if not discrete:
            return made(best, harmless, spent, 1.0)
        assert constraints is not None
        rounded, changed = _discrete(effect, best, Theta, constraints, _W, _unmoved(best))
        return made(rounded, _harmless(rounded, sign, effect_before), spent, 1.0, changed)
    box, _ = box.target(best.t)  # the concealment path stays in the point's own sets
    if no_op_anchor:  # with best's frozen values
        anchor = no_op(objective, box, Theta, best.start)
    else:
        x = box.project(objective.x_c)
        if best.start.fixed is not None:
            x[best.start.fixed] = best.x[best.start.fixed]
        anchor = Start(x, best.t, "x_c", best.start.row, best.start.fixed)
    needed = keep - noise
    share, ev = _conceal(effect, anchor, best, needed, Theta, box)
    concealed = Descent(best.start, ev.x, ev.t, ev, best.history, best.stop)
    if not discrete:
        return made(concealed, True, spent, share)
    assert constraints is not None

    def shortfall_then_C(ev: Evaluation) -> tuple[float, float]:
        return max(0.0, needed + ev.W), ev.C  # the gain is −W

    rounded, changed = _discrete(
        effect,
        concealed,
        Theta,
        constraints,
        shortfall_then_C,
        share == 0.0 and anchor.kind == "no-op",
    )
    return made(rounded, _harmless(rounded, sign, effect_before), spent, share, changed)


def _W(ev: Evaluation) -> float:
    return ev.W


def _unmoved(descent: Descent) -> bool:
    """Whether the descent is the no-op start itself (its target must follow x)."""
    start = descent.start
    return start.kind == "no-op" and descent.t == start.t and np.array_equal(descent.x, start.x)


def _harmless(descent: Descent, sign: float, effect_before: float) -> bool:
    """Whether the point leaves E no worse than without it (as :func:`choose`)."""
    return bool(sign * (descent.ev.E - effect_before) <= 1e-12 * max(1.0, abs(effect_before)))


def _discrete(
    objective: Objective,
    descent: Descent,
    Theta: np.ndarray,
    constraints: Constraints,
    key: Callable[[Evaluation], object],
    no_op_target: bool,
) -> tuple[Descent, int]:
    """The descent's point rounded and repaired for ``key``
    (:func:`flexpoison.attack.constraints.repair`), with its evaluation there, and how
    many coordinates the repair changed. ``no_op_target``: the point is the no-op
    row, whose response follows x (the model's prediction there) so that it stays
    harmless."""

    def target(x: np.ndarray) -> float:
        return _prediction(objective, x, Theta) if no_op_target else descent.t

    def evaluate(x: np.ndarray) -> Evaluation:
        return objective.evaluate(x, target(x), Theta_init=Theta, with_gradient=False)

    fixed = repair(descent.x, constraints, evaluate, key)
    ev = fixed.value
    return Descent(descent.start, ev.x, ev.t, ev, descent.history, descent.stop), fixed.changed


def _conceal(
    effect: Objective,
    anchor: Start,
    best: Descent,
    needed: float,
    Theta: np.ndarray,
    box: Box,
) -> tuple[float, Evaluation]:
    """The point p(s) = a + s·(x* − a) with the smallest s ∈ [0, 1] whose gain
    −W(p(s)) reaches ``needed`` (a grid of eighths, then bisection), and s. Where the
    gains were the local model's (``modelled``), s is then corrected on exact gains
    (:func:`_exact_share`), so that the point keeps the gain asked of it."""

    def at(s: float, exact: bool = False) -> Evaluation:
        x = box.project(anchor.x + s * (best.x - anchor.x))  # in the box's dtype
        return effect.evaluate(
            x,
            anchor.t + s * (best.t - anchor.t),
            Theta_init=Theta,
            with_gradient=False,
            exact=exact,
        )

    low, high, found = 0.0, 1.0, best.ev
    for k in range(_GRID + 1):
        s = k / _GRID
        ev = at(s) if k < _GRID else best.ev
        if -ev.W >= needed:
            high, found = s, ev
            break
        low = s
    if high > 0.0:
        for _ in range(_BISECTIONS):
            mid = 0.5 * (low + high)
            ev = at(mid)
            if -ev.W >= needed:
                high, found = mid, ev
            else:
                low = mid
    if found.modelled and high > 0.0:
        return _exact_share(at, high, found, needed)
    return high, found


def _exact_share(
    at: Callable[..., Evaluation], s: float, modelled: Evaluation, needed: float
) -> tuple[float, Evaluation]:
    """The share s whose exact gain −W reaches ``needed``, from the modelled one (s,
    its evaluation ``modelled``): Newton steps on s with the model's slope of the gain
    (the model's error barely changes along the short segment it is taken on), at most
    4 exact evaluations; the smallest s found whose exact gain reaches ``needed`` to
    1e-7 (1, the full point, if none does)."""
    width = min(s, 1.0 / 64.0)
    slope = (-modelled.W + at(s - width).W) / width
    tol = 1e-7 * max(abs(needed), 1e-300)
    found: tuple[float, Evaluation] | None = None
    for _ in range(4):
        ev = at(s, exact=True)
        gain = -ev.W
        if gain >= needed - tol and (found is None or s < found[0]):
            found = (s, ev)
        if abs(gain - needed) <= tol or not slope > 0.0:
            break
        s = min(1.0, max(0.0, s - (gain - needed) / slope))
    return found if found is not None else (1.0, at(1.0, exact=True))


def replay(objective: Objective, points: list[Descent]) -> list[Evaluation]:
    """The evaluation of each point added in order (E and θ_p after each)."""
    out = []
    Theta = objective.Theta_start
    for p in points:
        ev = objective.evaluate(p.x, p.t, Theta_init=Theta, with_gradient=False, exact=True)
        out.append(ev)
        Theta = ev.fit.Theta
        objective = objective.with_point(p.x, p.t, Theta)
    return out


__all__ = [
    "replay",
    "Start",
    "Descent",
    "Crafted",
    "Stop",
    "starts",
    "resume",
    "no_op",
    "screen",
    "choose",
    "craft",
]
