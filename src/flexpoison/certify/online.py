"""The model-targeted online attack of Suya et al. (ICML 2021, Algorithm 1).

From θ₀, one row at a time: refit the victim on the clean rows plus the rows so far,
θ_i, and add the feasible row with the largest loss gap

    (x_{i+1}, y_{i+1}) = argmax over feasible (x, y) of ℓ(θ_i; x, y) − ℓ(θ_t; x, y),

the inner maximum of the certificate (:mod:`flexpoison.certify._inner`, on the same
box, labels and response range). For a convex victim and an attainable θ_t, θ_i tends
to θ_t (Suya et al., Theorem 1). It stops when ‖θ_i − θ_t‖ ≤ ε·‖θ₀ − θ_t‖ or after
``n_points`` rows. For K ≥ 3 classes, whose inner maximum is relaxed, the row is the
best one found for the true gap.

Each θ_i is the registry's exact refit (:meth:`flexpoison.models.ModelSpec.fit_tight`),
so that :func:`~flexpoison.certify.points_needed` at θ_i certifies the rows that reach
it: efficiency = lower_bound(θ_i) / i ≤ 1.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .. import models
from .._validation import check_count, check_positive
from ..attack.defaults import MODEL_TARGETED
from ..models import theta_of
from ._certificate import prepare


@dataclass(frozen=True)
class OnlineResult:
    """The rows of :func:`model_targeted` and the models they reach.

    ``X_poison`` (m, d) and ``y_poison`` (m,) the rows in order; ``theta_history``
    (m, size) the victim refitted after each; ``distance`` (m,) ‖θ_i − θ_t‖ /
    ‖θ₀ − θ_t‖; ``reached`` whether the last is within ``epsilon``."""

    X_poison: np.ndarray
    y_poison: np.ndarray
    theta_history: np.ndarray
    theta_clean: np.ndarray
    theta_target: np.ndarray
    distance: np.ndarray
    epsilon: float
    reached: bool


def model_targeted(
    estimator,
    X,
    y,
    theta_target,
    n_points: int,
    *,
    epsilon: float = 0.0,
    n_sigma: float | None = 3.0,
    bounds=None,
    y_bounds: tuple[float, float] | None = None,
) -> OnlineResult:
    """Suya et al.'s online attack toward θ_t (module docstring).

    Parameters
    ----------
    estimator, X, y, theta_target, n_sigma, bounds, y_bounds :
        As for :func:`~flexpoison.certify.points_needed`.
    n_points : int
        The budget m.
    epsilon : float, default 0
        Stop once ‖θ_i − θ_t‖ ≤ epsilon·‖θ₀ − θ_t‖ (0: use the whole budget).

    Returns
    -------
    OnlineResult
    """
    check_count(n_points, "n_points")
    if epsilon != 0:
        check_positive(epsilon, "epsilon")
    setup = prepare(estimator, X, y, theta_target, n_sigma, bounds, y_bounds)
    problem, victim = setup.problem, setup.victim
    spec = models.spec_for(estimator)
    theta_t = problem.theta_target
    start = float(np.linalg.norm(setup.theta_clean - theta_t))
    X_clean = np.asarray(X, dtype=float)
    y_clean = np.asarray(y)
    rows, labels, history, distance = [], [], [], []
    theta = setup.theta_clean
    for _ in range(n_points):
        found = problem.inner(theta)
        rows.append(found.x)
        label = victim.decode(np.array([found.target]))[0]
        labels.append(label)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a solver's convergence chatter
            fitted = spec.fit_tight(
                estimator, np.vstack([X_clean, rows]), np.append(y_clean, labels)
            )
        theta = theta_of(fitted)
        history.append(theta)
        distance.append(float(np.linalg.norm(theta - theta_t)) / start if start else 0.0)
        if distance[-1] <= epsilon:
            break
    return OnlineResult(
        X_poison=np.array(rows),
        y_poison=np.array(labels),
        theta_history=np.array(history),
        theta_clean=setup.theta_clean,
        theta_target=theta_t,
        distance=np.array(distance),
        epsilon=float(epsilon),
        reached=bool(distance[-1] <= epsilon),
    )


@dataclass(frozen=True)
class ModelTargeted:
    """Suya et al.'s online attack as a strategy of
    :class:`~flexpoison.attack.FlexiblePoisoning`: ``FlexiblePoisoning(estimator,
    goal=Integrity(target), alpha=0, n_points=m, strategy=ModelTargeted(epsilon=0.1))``.

    Each row is the feasible row of the largest loss gap ℓ(θ_i) − ℓ(θ_t) at the current
    model θ_i, over the attack's own box (every label; responses in the clean range),
    then rounded to its integer and one-hot constraints (which may lower the gap;
    frozen features are refused); the attack stops once E_I ≤ ε²·E_I(θ₀), i.e.
    ‖θ_i − θ_t‖ ≤ ε·‖θ₀ − θ_t‖, or after m rows. Unlike :func:`model_targeted`,
    θ_i is the attack's own exact refit and the result an
    :class:`~flexpoison.attack.AttackResult`."""

    epsilon: float = 0.0
    name: str = MODEL_TARGETED

    def __post_init__(self) -> None:
        if self.epsilon != 0:
            check_positive(self.epsilon, "epsilon")

    def chooser(self, estimator, setup):
        """The inner maximiser of the certificate on the attack's rows and box."""
        X = np.asarray(setup.X, dtype=float)
        y = setup.victim.decode(setup.t)
        theta_t = np.asarray(setup.objective.theta_reference, dtype=float)
        box = (np.asarray(setup.box.lower), np.asarray(setup.box.upper))
        problem = prepare(estimator, X, y, theta_t, None, box, None).problem

        def row(theta: np.ndarray) -> tuple[np.ndarray, float]:
            found = problem.inner(np.asarray(theta, dtype=float))
            return found.x, float(found.target)

        return row

    def reached(self, effect: float, effect_clean: float) -> bool:
        """E_I ≤ ε²·E_I(θ₀)."""
        return self.epsilon > 0 and effect <= self.epsilon**2 * effect_clean

    def describe(self) -> dict:
        return {"name": self.name, "epsilon": self.epsilon}


__all__ = ["OnlineResult", "model_targeted", "ModelTargeted"]
