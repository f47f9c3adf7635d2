"""``points_needed``: the certificate, its search over θ, and its result."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .. import models
from .._validation import check_count
from ..attack import FlexiblePoisoning, Integrity, feasible_box
from ..attack.box import Box
from ..attack.containers import _column_names
from ..attack.effects import public_map
from ..attack.specs import resolve_bounds
from ..errors import InvalidInputError, UnsupportedEstimatorError
from ..models import Victim
from ._bound import Point, Problem, Scaling
from ._direction import direction
from ._inner import family


@dataclass(frozen=True)
class Certificate:
    """The result of :func:`points_needed`.

    Attributes
    ----------
    lower_bound : float
        Every set of feasible poison rows whose addition makes θ_t the victim's optimum
        has at least this many rows (a real number; +∞: no number of rows does; 0:
        the certificate found no positive bound).
    theta_witness : ndarray
        The θ at which the bound is attained (re-evaluated by
        ``points_needed(..., theta=theta_witness)``).
    theta_target, theta_clean : ndarray
        θ_t and θ₀, the victim trained on the clean rows.
    x_max : ndarray of shape (d,)
        The feasible row with the largest loss gap ℓ(θ_witness) − ℓ(θ_t) found.
    y_max : label or float
        Its label (in the user's values) or response.
    loss_gap : float
        That row's gap ℓ(θ_witness; x_max, y_max) − ℓ(θ_t; x_max, y_max).
    loss_gap_bound : float
        The proven upper bound M on the gap over the feasible set used by the bound
        (≥ ``loss_gap``; equal up to the solver's tolerance when ``exact_inner``).
    clean_gap : float
        A: the clean rows' objective excess, Σ_clean[ℓ(θ_t) − ℓ(θ)] + a·[R(θ_t) − R(θ)].
    scaling : str
        How the victim's objective scales with the number of rows, and so the form of
        the bound (:mod:`flexpoison.certify._bound`).
    box : (ndarray, ndarray)
        The feature box certified (lower, upper).
    targets : tuple
        The labels (user's values), or the response range (lo, hi), certified.
    exact_inner : bool
        Whether M is the exact maximum (False: a relaxation for K ≥ 3 classes,
        :mod:`flexpoison.certify._inner`).
    relaxed : tuple of str
        The feature constraints relaxed to the box (integer, frozen, one-hot): the
        bound holds for the box, so for every row they allow.
    """

    lower_bound: float
    theta_witness: np.ndarray
    theta_target: np.ndarray
    theta_clean: np.ndarray
    x_max: np.ndarray
    y_max: object
    loss_gap: float
    loss_gap_bound: float
    clean_gap: float
    scaling: str
    box: tuple[np.ndarray, np.ndarray]
    targets: tuple
    exact_inner: bool
    relaxed: tuple[str, ...]

    @property
    def min_points(self) -> float:
        """The smallest whole number of rows the bound allows, ⌈lower_bound⌉ (read with
        a relative slack of 1e-9 for rounding; +∞ when the bound is)."""
        if not math.isfinite(self.lower_bound):
            return math.inf
        return float(math.ceil(self.lower_bound * (1.0 - 1e-9)))


def _checked_theta(theta, theta_target: np.ndarray) -> np.ndarray:
    """``theta`` as floats of θ_t's shape, all finite; else one error naming it."""
    theta = np.asarray(theta, dtype=float)
    if theta.shape != theta_target.shape or not np.all(np.isfinite(theta)):
        raise InvalidInputError(
            f"theta: expected {theta_target.size} finite numbers, got shape {theta.shape}"
        )
    return theta


def points_needed(
    estimator,
    X,
    y,
    theta_target,
    *,
    n_sigma: float | None = 3.0,
    bounds=None,
    y_bounds: tuple[float, float] | None = None,
    integer_features=None,
    frozen_features=None,
    one_hot_groups=None,
    theta=None,
    max_iter: int = 100,
) -> Certificate:
    """A certified lower bound on the number of poison rows that make θ_t the victim's
    optimum (Suya et al., "Model-Targeted Poisoning Attacks with Provable
    Convergence", ICML 2021).

    If θ_t minimises the victim's training objective on the n clean rows plus m
    feasible poison rows, then for every θ (with 1/s(n + m) = a + b·m the inverse of
    the loss's scale, b = 0 for a total loss and 1/c for a mean)

        m·[M(θ) − b·ΔR(θ)] ≥ ΔL(θ) + a·ΔR(θ),

    where ΔL = Σ_clean [ℓ(θ_t) − ℓ(θ)], ΔR = R(θ_t) − R(θ) and M(θ) is the largest
    loss gap ℓ(θ; x, y) − ℓ(θ_t; x, y) over the feasible rows: the n_sigma box (and
    ``bounds``) for x, every label for a classifier, every response in ``y_bounds``
    (default [min y, max y]) for a regressor. Every θ with a positive bracket gives a
    bound; this scans θ between θ_t and θ₀, ascends by L-BFGS, and tries the
    direction of the best first-order bound (:mod:`flexpoison.certify._direction`; any
    θ is valid).
    M is maximised exactly over the box (:mod:`flexpoison.certify._inner`), or
    bounded above for K ≥ 3 classes. Integer, frozen and one-hot constraints are
    relaxed to the box, which keeps the bound valid (``relaxed`` says so).

    Parameters
    ----------
    estimator : unfitted scikit-learn estimator
        A linear victim of :data:`flexpoison.models.REGISTRY` (not a pipeline, not
        a kernel machine).
    X : array-like of shape (n, d)
    y : array-like of shape (n,)
    theta_target : array-like of shape (size,) or str
        θ_t in flexpoison's flat layout, or a target preset (``flip-top``,
        ``negate``, ``swap:A,B``, ``flip-subpopulation:…`` — an attainable target,
        :mod:`flexpoison.attack.subpopulation`; not ``predict:``).
    n_sigma, bounds : as for :class:`~flexpoison.attack.FlexiblePoisoning`.
    y_bounds : (lo, hi), optional
        The responses a poison row may take (regression; default the clean range).
    integer_features, frozen_features, one_hot_groups : optional
        The attack's constraints: checked, then relaxed to the box.
    theta : array-like, optional
        Evaluate the bound at this θ only (no search).
    max_iter : int, default 100
        Objective evaluations of each ascent (L-BFGS on −log(A/B)) after the scan;
        0: the scan alone (no ascent, no first-order direction).

    Returns
    -------
    Certificate
    """
    if max_iter != 0:  # 0: the scan alone
        check_count(max_iter, "max_iter")
    constraints = {
        "integer_features": integer_features,
        "frozen_features": frozen_features,
        "one_hot_groups": one_hot_groups,
    }
    setup = prepare(estimator, X, y, theta_target, n_sigma, bounds, y_bounds, constraints)
    problem, victim, theta_clean = setup.problem, setup.victim, setup.theta_clean
    if theta is not None:
        best = problem.at(_checked_theta(theta, problem.theta_target))
    else:
        best = search(problem, theta_clean, max_iter)
    relaxed = tuple(name for name, value in constraints.items() if value)
    y_max = (
        victim.decode(np.array([best.inner.target]))[0]
        if victim.classes is not None
        else best.inner.target
    )
    return Certificate(
        lower_bound=best.bound,
        theta_witness=best.theta,
        theta_target=problem.theta_target,
        theta_clean=theta_clean,
        x_max=best.inner.x,
        y_max=y_max,
        loss_gap=best.inner.value,
        loss_gap_bound=best.inner.upper,
        clean_gap=best.A,
        scaling=problem.scaling.describe(),
        box=(setup.box.lower, setup.box.upper),
        targets=setup.shown,
        exact_inner=best.inner.exact,
        relaxed=relaxed,
    )


@dataclass(frozen=True)
class Setup:
    """What :func:`points_needed` and :func:`~flexpoison.certify.online.model_targeted`
    share: the bound's :class:`Problem`, the victim, θ₀, the box and the targets as the
    user names them (labels, or the response range)."""

    problem: Problem
    victim: Victim
    theta_clean: np.ndarray
    box: Box
    shown: tuple


def prepare(
    estimator, X, y, theta_target, n_sigma, bounds, y_bounds, constraints: dict | None = None
) -> Setup:
    """Validate the arguments (through the attack's own checks: X, y, θ_t or its
    preset, the box, the ``constraints`` — the attack's keyword arguments of that
    name), fit θ₀, and read the victim's objective."""
    if isinstance(theta_target, str) and theta_target.strip().startswith("predict:"):
        raise InvalidInputError(
            "theta_target: a 'predict:' target is not a model θ_t; give θ_t or a preset"
        )
    spec = models.spec_for(estimator)
    if not spec.has_theta:
        raise UnsupportedEstimatorError(
            f"{spec.class_name}: a kernel machine has no parameter vector θ to certify"
        )
    attack = FlexiblePoisoning(
        estimator,
        goal=Integrity(theta_target),
        n_sigma=n_sigma,
        bounds=bounds,
        **(constraints or {}),
    )
    objective = attack.objective(X, y)  # validates X, y, θ_t, constraints; fits θ₀
    victim = objective.victim
    if victim.scaler is not None:
        raise UnsupportedEstimatorError(
            f"{victim.learner.name}: a pipeline's scaler moves with the poison rows, which "
            "the certificate does not model; certify the model on scaled features"
        )
    kind = family(victim.learner.loss, victim.classes is not None)
    if kind is None:
        raise UnsupportedEstimatorError(
            f"{victim.learner.name}: no certificate for its loss "
            f"{type(victim.learner.loss).__name__}"
        )
    learner = victim.learner
    names = _column_names(X)
    X_arr = np.asarray(X)
    Xf = X_arr.astype(float)
    n, d = Xf.shape
    dtype = X_arr.dtype if X_arr.dtype.kind == "f" else np.dtype(np.float64)
    box = feasible_box(Xf, n_sigma, resolve_bounds(bounds, d, names), names, dtype)
    t = victim.encode(np.asarray(y))
    if victim.classes is not None and y_bounds is not None:
        raise InvalidInputError("y_bounds: only a regressor's responses have a range")
    if victim.classes is not None:
        targets = np.array([-1.0, 1.0]) if learner.n_outputs == 1 else np.arange(victim.n_outputs)
        shown: tuple = tuple(victim.classes.tolist())
    else:
        lo_y, hi_y = (float(t.min()), float(t.max())) if y_bounds is None else _y_bounds(y_bounds)
        victim.check_targets(np.array([lo_y, hi_y]), "y_bounds")
        targets, shown = np.array([lo_y, hi_y]), (lo_y, hi_y)
    p = d + learner.fit_intercept
    theta_clean = learner.pack(
        objective.Theta_start @ public_map(p, objective.shift, learner.fit_intercept)
    )
    problem = Problem(
        learner,
        Xf,
        t,
        box.lower,
        box.upper,
        targets,
        np.asarray(objective.theta_reference, dtype=float),
        kind,
        Scaling.of(learner, n),
    )
    return Setup(problem, victim, theta_clean, box, shown)


def _y_bounds(y_bounds) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in y_bounds)
    except (TypeError, ValueError):
        raise InvalidInputError(f"y_bounds: expected (lo, hi), got {y_bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise InvalidInputError(f"y_bounds: expected finite lo <= hi, got {y_bounds!r}")
    return lo, hi


_SEARCH_RTOL = 1e-6


def search(problem: Problem, theta_clean: np.ndarray, max_iter: int) -> Point:
    """The best bound found: θ = θ_t + η·u along u = θ₀ − θ_t and along the clean
    objective's descent direction at θ_t, η = 2^-k (k = 0…12), then L-BFGS on
    −log(A/B) from the best two of them, then θ_t + 2^-k·v (k = 2…23) along the
    direction v of the best first-order bound (:func:`._direction.direction`, inner
    maximum to 1e-9); the best θ evaluated on the way is kept. The
    search takes the inner maximum to a relative 1e-6 (a valid, slightly smaller
    bound); the θ found is evaluated again to :meth:`Problem.at`'s default 1e-9."""
    best = _search(problem, theta_clean, max_iter)
    return problem.at(best.theta)


def _search(problem: Problem, theta_clean: np.ndarray, max_iter: int) -> Point:
    theta_t = problem.theta_target
    span = float(np.linalg.norm(theta_clean - theta_t))
    best = [problem.at(theta_t, _SEARCH_RTOL)]
    if span == 0.0:
        return best[0]

    def at(theta: np.ndarray) -> Point:
        point = problem.at(theta, _SEARCH_RTOL)
        if point.bound > best[0].bound:
            best[0] = point
        return point

    _, dG = problem.clean(theta_t)
    directions = [theta_clean - theta_t]
    if np.linalg.norm(dG) > 0:
        directions.append(-dG * (span / np.linalg.norm(dG)))
    scanned = [at(theta_t + 2.0**-k * u) for u in directions for k in range(13)]
    starts = sorted(scanned, key=lambda point: -point.bound)[:_STARTS]
    for start in starts if max_iter else []:
        if not (math.isfinite(best[0].bound) and start.bound > 0):
            break
        _ascend(problem, start.theta, at, max_iter)
    v = None
    if max_iter and math.isfinite(best[0].bound):  # from the best θ so far
        v = direction(problem, theta_clean, best[0].theta - theta_t)
    if v is not None:  # the first-order limit's direction, at steps down to 2^-23, with
        # the inner maximum to 1e-9: near θ_t the gap is small beside the loss itself
        along = [problem.at(theta_t + 2.0**-k * v) for k in range(2, 24)]
        best[0] = max([best[0], *along], key=lambda point: point.bound)
    return best[0]


def _ascend(problem: Problem, theta: np.ndarray, at, max_iter: int) -> None:
    """L-BFGS on −log(A/B) from θ (``at`` keeps the best point it is shown). B is a
    maximum, differentiated at its maximiser (Danskin): L-BFGS may stop early at a
    kink, which costs only tightness."""

    def f(v: np.ndarray) -> tuple[float, np.ndarray]:
        point = at(v)
        if point.bound == math.inf:  # unreachable: nothing beats it (``at`` kept it)
            raise _Unreachable
        if not point.bound > 0:  # A ≤ 0: no bound here
            return _NO_BOUND, np.zeros_like(v)
        return -math.log(point.A / point.B), -problem.gradient(point)

    try:
        minimize(f, theta, jac=True, method="L-BFGS-B", options={"maxfun": max_iter})
    except _Unreachable:
        pass


class _Unreachable(Exception):
    """Raised inside the ascent when a θ certifies that no number of rows suffices."""


#: Start the ascent from this many of the scanned points (the best first).
_STARTS = 2
#: −log(A/B) where A ≤ 0 (no bound): far above any point with one.
_NO_BOUND = 1e3


__all__ = ["Certificate", "points_needed", "search"]
