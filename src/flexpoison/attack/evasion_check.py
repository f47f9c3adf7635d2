"""An evading attack's checks: each point settled inside its constraints, and the final
set screened as the data owner screens it (:mod:`flexpoison.attack.evasion`).

:func:`settle` holds a crafted point to the geometric sets and to the loss filter's
ℓ(θ_p; x, y) ≤ τ, the loss taken at a *look-ahead* model: for regression θ_p with
the point and the m − q − 1 points still to come as copies of it (later points often
start from the one before; copies of a row pull the model toward fitting it); for a
classifier, the first point is checked with m copies of it and every later point is a
copy of it (:func:`crafted`), so that the look-ahead model is the final one. With the
loss filter, the point is first searched along ℓ(θ_k) ≤ τ
(:func:`flexpoison.attack.loss_constraint.search`; for a classifier under the poisoned
calibration with τ re-calibrated at its own final model, :func:`_searched`). A point
that breaks a constraint (its rounding to integer or one-hot features, or its loss)
moves along the segment to its *anchor* — the nearest clean row of its class that every
geometric constraint keeps (with the loss filter, among those whose loss is at most
halfway from the least one to τ): the segment is probed on a grid of eighths and
bisected at its first point that holds them, and the point is the one of best effect
among those probed that hold them and the searched one (the anchor itself when none
does).

:func:`finish` screens the final set with every named sanitizer, calibrated as the
owner calibrates it, and pulls each rejected poison row a quarter of the way toward
the nearest clean row of its class that every sanitizer kept, up to that row itself,
screening again after each round; a row still rejected there (the loss filter: its
copies moved θ_p) is moved, for up to two more rounds, onto the kept clean row of its
class with the least loss. A regressor evading the loss filter also tries m copies of
one row in the box with its residual at the filter's edge (:func:`_edge_set`),
and keeps that set when it passes and does better.

What is guaranteed: a geometric sanitizer under the clean calibration never rejects a
settled point (its sets do not depend on the poison). Under the poisoned calibration,
for the loss filter (the look-ahead is a heuristic; the final model is what counts),
IsolationForest, LOF and TRIM, a row is kept if the pull reaches a position they keep
— a row duplicated onto a kept clean row is usually kept, not always (refitting on the
moved set changes their decisions) — and the result reports each sanitizer's decision
on the final set, whatever it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from .. import models
from ..defences import CombinedScreening, Screening, screen_combined
from ..defences.model_based import LossFilter
from ..errors import InvalidInputError
from .box import Box
from .descent import Descent
from .evasion import PULL_GRID, PULL_HALVINGS, Calibrated, Evasion, check, resolve
from .loss_constraint import constraint, edge_row, search
from .objective import Objective
from .result import OwnerScreening, PointReport, kept_share
from .search import replay

#: Rounds of the final pull: a rejected row moves 1/ROUNDS of the way each round; then,
#: still rejected on its anchor, up to EXTRA rounds onto the allowed row of least loss.
ROUNDS = 4
EXTRA = 2
#: Re-calibrations of the owner's τ at a classifier's final model (:func:`_searched`).
RECALIBRATIONS = 6


def _rounded(evasion: Evasion, box: Box, x: np.ndarray) -> np.ndarray:
    """x in the box's dtype, rounded to the integer and one-hot constraints."""
    x = Box.project(box, x)
    limits = evasion.constraints
    return limits.round(x) if limits is not None and limits.discrete else x


def _anchor_index(
    evasion: Evasion,
    t: float,
    allowed: np.ndarray,
    x: np.ndarray,
    losses: np.ndarray | None,
    tau: float = 0.0,
) -> int:
    """The clean row an off-limits point moves toward: of its class (any row for
    regression), allowed, nearest x in σ units — with ``losses`` (the loss filter's
    τ held), among those whose loss lies at most halfway from the least loss to τ."""
    same = allowed.copy()
    if evasion.victim.classes is not None:
        same &= evasion.t == t
        if not same.any():
            same = evasion.t == t
    candidates = np.flatnonzero(same if same.any() else np.ones_like(same))
    if losses is not None:  # the nearest of those whose loss is at most half the least's
        # way to τ (below τ with room for the point's own pull on θ_p)
        least = losses[candidates].min()
        low = losses[candidates] <= max(0.5 * (tau + least), least)
        candidates = candidates[low]
    std = np.where(evasion.X.std(axis=0) > 0, evasion.X.std(axis=0), 1.0)
    gap = np.linalg.norm((evasion.X[candidates] - x) / std, axis=1)
    return int(candidates[np.argmin(gap)])


def settle(
    evasion: Evasion,
    calibrated: Calibrated | None,
    tau: float | None,
    objective: Objective,
    Theta: np.ndarray,
    best: Descent,
    report: PointReport,
    box: Box,
    chosen: list = (),  # type: ignore[assignment]
    region: Box | None = None,
) -> tuple[Descent, PointReport]:
    """The point ``best`` held to the geometric sets and the loss (module docstring);
    ``region``: the point's feasible set for the loss search (default ``box``)."""
    decode = evasion.victim.decode

    ahead: dict[int, float] = {}  # a classifier's E with all m copies, by evaluation

    def holds(x: np.ndarray, t: float):
        if calibrated is not None and not calibrated.keeps(x[None], decode(np.array([t])))[0]:
            return False, None
        if tau is None:
            return True, None
        ev = objective.evaluate(x, t, Theta_init=Theta, with_gradient=False, exact=True)
        Theta_p = ev.fit.Theta
        if copies > 1:  # the model with the rows still to come as copies of this one
            Theta_p = objective.with_points([x] * copies, [t] * copies, Theta_p).Theta_start
            ahead[id(ev)] = objective.effect_at(Theta_p)
        return bool(evasion.losses(Theta_p, x[None], np.array([t]))[0] <= tau), ev

    copies = max(1, evasion.m - len(chosen)) if evasion.lookahead else 1
    good, ev_b = holds(best.x, best.t)
    sign = objective.goal.sign

    def key(e) -> float:  # what is minimised: a classifier's copies', E of the final model
        return sign * (ahead.get(id(e), e.E) if evasion.copies else e.E)

    held: list = []  # the evaluations of the points found to hold the constraints
    if tau is not None:  # the point searched along ℓ ≤ τ (loss_constraint.search)
        x_s, tau = _searched(evasion, objective, region or box, best, copies, tau, Theta)
        ok, ev_s = (False, None) if x_s is None else holds(_rounded(evasion, box, x_s), best.t)
        if ok:
            held.append(ev_s)
    if good and (not held or key(held[0]) >= key(ev_b)):
        return best, report
    if good:
        return _moved(best, report, held[0], sign)
    allowed = np.ones(evasion.X.shape[0], dtype=bool)
    if calibrated is not None:
        allowed = calibrated.keeps(evasion.X, evasion.y)
    losses = None if tau is None else evasion.losses(Theta, evasion.X, evasion.t)
    a = _anchor_index(evasion, best.t, allowed, best.x, losses, tau or 0.0)
    x_a, t_a = evasion.X[a], float(evasion.t[a]) if evasion.victim.classes is None else best.t

    def at(s: float) -> tuple[np.ndarray, float]:
        return _rounded(evasion, box, best.x + s * (x_a - best.x)), best.t + s * (t_a - best.t)

    def probe(s: float) -> bool:
        x, t = at(s)
        ok, ev = holds(x, t)
        if ok and ev is None:
            ev = objective.evaluate(x, t, Theta_init=Theta, with_gradient=False, exact=True)
        if ok:
            held.append(ev)
        return ok

    bad, fine = 0.0, 1.0
    for k in range(1, PULL_GRID + 1):  # the grid from the point to its anchor
        if probe(k / PULL_GRID):
            fine = k / PULL_GRID
            break
        bad = k / PULL_GRID
    for k in range(round(fine * PULL_GRID) + 1, PULL_GRID + 1):  # the rest of it
        probe(k / PULL_GRID)
    for _ in range(PULL_HALVINGS):  # the boundary, between the grid's last two
        mid = 0.5 * (bad + fine)
        if probe(mid):
            fine = mid
        else:
            bad = mid
    if not held:  # the anchor itself (the constraints may not hold it: reported)
        x, t = at(1.0)
        held.append(objective.evaluate(x, t, Theta_init=Theta, with_gradient=False, exact=True))
    return _moved(best, report, min(held, key=key), sign)


def _moved(best: Descent, report: PointReport, ev, sign: float) -> tuple[Descent, PointReport]:
    """The point ``best`` moved to the evaluation ``ev``, and its report."""
    moved = Descent(best.start, ev.x, ev.t, ev, best.history, best.stop)
    harmless = bool(sign * (ev.E - report.effect_before) <= 0)
    return moved, dataclasses.replace(report, effect_after=ev.E, harmless=harmless)


def _searched(
    evasion: Evasion, objective: Objective, box: Box, best: Descent, k: int, tau: float, Theta
) -> tuple[np.ndarray | None, float]:
    """The point searched along ℓ(θ_k) ≤ τ (:func:`~flexpoison.attack.loss_constraint.search`)
    and the τ it holds. For a classifier's copies under the poisoned calibration the
    owner's τ is that of the final model, θ_k with the k copies: it is re-calibrated at
    the found point's θ_k and the search resumed from there, up to RECALIBRATIONS
    times; the last point whose ℓ is at most the τ of its own θ_k is kept (else the
    first search's, with τ as given)."""
    std = evasion.X.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    found = search(objective, box, best.x, best.t, k, tau, Theta, scale)
    if found is None or not (evasion.copies and evasion.calibration == "poisoned"):
        return found, tau

    def own(x: np.ndarray) -> tuple[float, float]:  # (ℓ, τ) at the model of k copies of x
        c, _, Theta_k = constraint(objective, x, best.t, k, Theta)
        rows = [SimpleNamespace(x=x, t=best.t)] * k  # what Evasion.rows reads
        raised = evasion.loss_threshold(Theta_k, rows)
        assert raised is not None  # the loss filter is named (τ was given)
        return c, raised

    kept, aim, searched_at = found, tau, tau
    for _ in range(RECALIBRATIONS):
        c, raised = own(found)
        if c <= raised:
            kept, aim = found, raised
        if not raised > searched_at * 1.001:  # the owner's τ no higher: done
            break
        again = search(objective, box, found, best.t, k, raised, Theta, scale)
        if again is None:
            break
        found, searched_at = again, raised
    else:
        c, raised = own(found)
        if c <= raised:
            kept, aim = found, raised
    return kept, aim


def crafted(
    evasion: Evasion, craft: Callable, ctx, objective: Objective, Theta, effect_before, target, **kw
) -> tuple[Descent, PointReport]:
    r"""One point of an evading run: the box with the sets calibrated on the rows so
    far (:meth:`Evasion.box`), the point crafted there, then :func:`settle`\ d; or, for
    a classifier evading the loss filter, after the first point a copy of it
    (``Evasion.copies``)."""
    if evasion.copies and ctx.chosen:
        first = ctx.chosen[0]
        ev = objective.evaluate(first.x, first.t, Theta_init=Theta, with_gradient=False, exact=True)
        harmless = bool(objective.goal.sign * (ev.E - effect_before) <= 0)
        report = dataclasses.replace(
            ctx.reports[0],
            n_iter=0,
            stop="reached",
            start="copy of the first point",
            effect_before=effect_before,
            effect_after=ev.E,
            harmless=harmless,
            path=1.0,
        )
        return Descent(first.start, ev.x, ev.t, ev, [ev.W], "reached"), report
    box = evasion.box(ctx.chosen)
    ctx.setup = dataclasses.replace(ctx.setup, box=box, constraints=evasion.constraints_for(box))
    tau = evasion.loss_threshold(Theta, ctx.chosen)
    best, report = craft(objective, Theta, effect_before, target, **kw)
    calibrated = getattr(box, "calibrated", None)
    region, t = box.target(best.t)  # the sets of the point's label: its search stays in them
    # frozen features: the checks and pulls move the point's other features only
    region, base = evasion.pinned(region, best.x), evasion.pinned(evasion.base_box, best.x)
    return settle(
        evasion,
        calibrated,
        tau,
        objective,
        Theta,
        best,
        report,
        base,
        ctx.chosen,
        region if t == best.t else base,
    )


def _screenings(evasion: Evasion, X_all: np.ndarray, y_all: np.ndarray) -> CombinedScreening:
    """Every named sanitizer's screening of the set, calibrated as the owner does, and
    the rows all of them keep."""
    clean = evasion.calibration == "clean"
    X_cal, y_cal = (evasion.X, evasion.y) if clean else (X_all, y_all)
    return screen_combined(
        evasion.sanitizers,
        X_all,
        y_all,
        X_clean=X_cal,
        y_clean=y_cal,
        task=evasion.task,  # type: ignore[arg-type]
        estimator=evasion.estimator,
    )


def finish(
    evasion: Evasion, chosen: list[Descent], box: Box
) -> tuple[list[Descent], CombinedScreening, np.ndarray]:
    """The final set screened by every named sanitizer, rejected poison rows pulled
    toward the data (module docstring): the points, the last screenings and how many
    rounds each point was pulled."""
    n = evasion.X.shape[0]
    chosen = list(chosen)
    origin = [(c.x, c.t) for c in chosen]
    pulls = np.zeros(len(chosen), dtype=int)
    decode = evasion.victim.decode
    while True:
        X_all = np.vstack([evasion.X, [c.x for c in chosen]])
        y_all = np.r_[evasion.y, decode(np.array([c.t for c in chosen]))]
        screenings = _screenings(evasion, X_all, y_all)
        kept = screenings.kept_mask
        rejected = np.flatnonzero(~kept[n:])
        movable = rejected[pulls[rejected] < ROUNDS + EXTRA]
        if not movable.size:
            break
        # with the loss filter, the last anchors are of least loss (score over threshold)
        loss = next((s for s in screenings.screenings if s.name == "loss"), None)
        ratio = None if loss is None else (loss.scores / np.maximum(loss.threshold, 1e-300))[:n]
        for q in movable:
            pulls[q] += 1
            x0, t0 = origin[q]
            a = _anchor_index(evasion, t0, kept[:n], x0, None)
            if pulls[q] > ROUNDS and ratio is not None:  # at its anchor, still rejected:
                a = _anchor_index(evasion, t0, kept[:n], x0, ratio, -np.inf)  # the least loss
            s = min(1.0, pulls[q] / ROUNDS)
            t_a = float(evasion.t[a]) if evasion.victim.classes is None else t0
            x = _rounded(evasion, evasion.pinned(box, x0), x0 + s * (evasion.X[a] - x0))
            c = chosen[q]
            chosen[q] = Descent(c.start, x, t0 + s * (t_a - t0), c.ev, c.history, c.stop)
    return chosen, screenings, pulls


def owner_screenings(
    evasion: Evasion,
    screenings: CombinedScreening,
    pulls: np.ndarray,
    effect_of: Callable[[np.ndarray, np.ndarray], float | None],
    X_all: np.ndarray,
    y_all: np.ndarray,
    effects: tuple[float, float],
) -> tuple[OwnerScreening, ...]:
    """Each sanitizer's decision on the final set and E of the victim refitted on the
    rows it keeps (``effect_of``: None where no victim can be refitted); with several
    sanitizers, last, the owner who runs them all (the rows every one keeps).
    ``effects``: (E_clean, the attack's final E), for the share of the change kept."""
    n = evasion.X.shape[0]
    decisions: list[tuple[Screening | CombinedScreening, bool]]
    decisions = [(s, False) for s in screenings.screenings]
    if len(decisions) > 1:
        decisions.append((screenings, True))
    out = []
    for s, combined in decisions:
        removed = s.removed
        effect = effect_of(X_all[s.kept], y_all[s.kept])
        out.append(
            OwnerScreening(
                s.name,
                evasion.calibration,
                int(removed.size),
                int(np.count_nonzero(removed >= n)),
                effect,
                int(np.count_nonzero(pulls)),
                rows=int(X_all.shape[0]),
                kept=kept_share(effect, *effects),
                combined=combined,
            )
        )
    return tuple(out)


__all__ = [
    "ROUNDS",
    "Evasion",
    "check",
    "resolve",
    "crafted",
    "settle",
    "finish",
    "owner_screenings",
    "conclude",
    "start",
    "settings",
]


def start(attack, setup, m: int) -> Evasion | None:
    """The evading run's shared state (None when ``evade`` names no sanitizer)."""
    sanitizers = resolve(attack.evade)
    check(attack, sanitizers)
    if not sanitizers:
        return None
    victim = setup.victim
    if evasion_needs_theta(sanitizers) and (not victim.spec.has_theta or victim.scaler):
        raise InvalidInputError(
            "evade: the loss filter is held through the victim's θ_p; not supported for "
            "a pipeline or a victim without θ"
        )
    X = np.asarray(setup.X, dtype=float)
    return Evasion(
        sanitizers,
        attack.evade_calibration,
        float(attack.evade_margin),
        victim.spec.task,
        X,
        victim.decode(setup.t),
        setup.t,
        victim,
        attack.estimator,
        m,
        getattr(setup.objective, "shift", np.zeros(X.shape[1])),
        setup.box,
        setup.constraints,
        # a classifier evading the loss filter crafts one point for m copies of it: its
        # look-ahead model is then the final one (measured on the judged cases: breast
        # cancer keeps 0.29 of the effect instead of 0.06; the regressors' points, each
        # crafted with its own look-ahead, keep more: diabetes 0.80 instead of 0.57)
        copies=victim.classes is not None and evasion_needs_theta(sanitizers),
    )


def evasion_needs_theta(sanitizers) -> bool:
    return any(isinstance(s, LossFilter) for s in sanitizers)


def conclude(evasion: Evasion, setup, chosen: list[Descent], evaluations: list):
    """The final check (:func:`finish`) and what the owner sees: the points (moved
    ones re-evaluated in order), their evaluations and each sanitizer's decision. A
    regressor evading the loss filter takes instead the edge set (:func:`_edge_set`)
    when every sanitizer keeps all of it and its final E is better."""
    chosen, screenings, pulls = finish(evasion, chosen, evasion.base_box)
    if pulls.any():
        evaluations = replay(setup.objective, chosen)
        chosen = [
            Descent(c.start, ev.x, ev.t, ev, c.history, c.stop)
            for c, ev in zip(chosen, evaluations, strict=True)
        ]
    other = _edge_set(evasion, setup, chosen)
    if other is not None and _better(evasion, setup, other, (chosen, evaluations, screenings)):
        chosen, evaluations, screenings = other
        pulls = np.zeros(len(chosen), dtype=int)
    X_all = np.vstack([evasion.X, [c.x for c in chosen]])
    y_all = np.r_[evasion.y, evasion.victim.decode(np.array([c.t for c in chosen]))]
    effect_of = _effect_of(evasion, setup)
    effects = (setup.objective.effect_at(setup.objective.Theta_start), evaluations[-1].E)
    return (
        chosen,
        evaluations,
        owner_screenings(evasion, screenings, pulls, effect_of, X_all, y_all, effects),
    )


def _edge_set(evasion: Evasion, setup, chosen: list[Descent]):
    """Regression evading the loss filter (no frozen features): the other set, m
    copies of the row whose residual at the model with all m copies is at the filter's
    edge (:func:`~flexpoison.attack.loss_constraint.edge_row`, k = m), screened as
    :func:`finish` screens it; None when no such row is found.
    Why: for ridge θ_p = θ₀ − A⁻¹Σ r_j x̃_j with |r_j| ≤ √τ, and the least E over that
    convex set is a QP whose optimum, on the judged ridge cases, puts every row at
    one point with |r_j| = √τ (benchmarks/bound_loss.py). Copies keep each row's
    residual where its own model put it; rows crafted one by one at different points
    break each other's residuals.
    """
    frozen = evasion.frozen
    if evasion.loss is None or evasion.victim.classes is not None or not chosen:
        return None
    if frozen is not None and frozen.size:
        return None
    objective, m, box = setup.objective, len(chosen), evasion.base_box
    tau = evasion.loss_threshold(objective.Theta_start, [])
    assert tau is not None  # the loss filter is named
    snap = lambda v: _rounded(evasion, box, v)  # noqa: E731
    t_range = (float(evasion.t.min()), float(evasion.t.max()))  # the attack's responses
    found = edge_row(objective, box, m, tau, objective.Theta_start, t_range, snap)
    if found is None:
        return None
    x, t = found
    rows = [Descent(c.start, x, t, c.ev, c.history, c.stop) for c in chosen]
    rows, screenings, _ = finish(evasion, rows, box)
    evaluations = replay(setup.objective, rows)
    rows = [Descent(c.start, e.x, e.t, e, c.history, c.stop) for c, e in zip(rows, evaluations)]
    return rows, evaluations, screenings


def _better(evasion: Evasion, setup, other, current) -> bool:
    """Whether the set ``other`` (rows, evaluations, screenings) passes every named
    sanitizer and moves the final E further the goal's way than ``current``."""
    n = evasion.X.shape[0]
    if np.any(~other[2].kept_mask[n:]):
        return False
    sign = setup.objective.goal.sign
    return bool(sign * other[1][-1].E < sign * current[1][-1].E)


def _effect_of(evasion: Evasion, setup) -> Callable[[np.ndarray, np.ndarray], float | None]:
    """E of the victim scikit-learn fits (tightly) on some rows (None without θ or
    with fewer than two classes among them)."""
    victim = setup.victim
    objective = setup.objective
    if not victim.spec.has_theta:
        return lambda X, y: None
    d = evasion.X.shape[1]
    effect = objective.goal.effect(
        victim, evasion.X, evasion.y, np.zeros(d), objective.theta_reference
    )

    def of(X: np.ndarray, y: np.ndarray) -> float | None:
        if victim.classes is not None and np.unique(y).size < 2:
            return None
        theta = models.theta_of(victim.spec.fit_tight(evasion.estimator, X, y))
        return float(effect.value(victim.learner.unpack(theta, d), theta))

    return of


def settings(attack) -> dict:
    """An attack's evasion parameters as plain JSON values."""
    return {
        "evade": [s.name for s in resolve(attack.evade)],
        "evade_calibration": attack.evade_calibration,
        "evade_margin": attack.evade_margin,
    }
