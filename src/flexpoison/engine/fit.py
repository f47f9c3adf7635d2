"""The general solver: a learner's exact optimum on any data (the reference).

:func:`fit` hands the learner to the first of :data:`SOLVERS` that applies to it: a
new (loss × penalty) pair is one class with the :class:`Solver` protocol, put in that
list. The attack's fast paths (:mod:`flexpoison.engine.rank_one`,
:mod:`flexpoison.engine.newton`) answer the same question faster on one training set
plus one candidate row, and fall back to :func:`fit` whenever they cannot answer
exactly; ``tests/test_contract.py`` holds all of them to scikit-learn.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from . import kinks, l1
from .data import Data
from .learner import Learner
from .linalg import Factor, Fit, cholesky
from .smooth import backtrack, newton, proximal_newton, start


class Solver(Protocol):
    """One (loss × penalty) pair's exact solver.

    ``applies(learner)`` says whether it solves that learner's objective;
    ``fit(learner, data, Θ₀, max_iter, tol)`` returns the optimum on ``data`` from the
    warm start Θ₀ as a :class:`Fit` (its active set, and a factor the implicit gradient
    solves with, :class:`~flexpoison.engine.linalg.Factor`). ``max_iter`` and ``tol``
    bound the iterative solvers (Newton's: a full step below ``tol`` relative to θ)."""

    @staticmethod
    def applies(learner: Learner) -> bool: ...

    @staticmethod
    def fit(learner: Learner, data: Data, Theta0: np.ndarray, max_iter: int, tol: float) -> Fit: ...


def _piecewise(learner: Learner) -> bool:
    return hasattr(learner.loss, "pieces")  # a PiecewiseLinearLoss (a protocol
    # isinstance costs ~30 µs)


class PiecewiseLinearSolver:
    """Piecewise-linear losses (hinge, ε-insensitive) under a definite L2 penalty: the
    exact active-set solver of :mod:`flexpoison.engine.kinks`."""

    @staticmethod
    def applies(learner: Learner) -> bool:
        return _piecewise(learner) and learner.l1 == 0

    @staticmethod
    def fit(learner: Learner, data: Data, Theta0: np.ndarray, max_iter: int, tol: float) -> Fit:
        return kinks.fit(learner, data, Theta0)


class QuadraticL1Solver:
    """A squared residual with L1: coordinate descent on the quadratic L, finished by an
    exact solve on the active set (:func:`flexpoison.engine.l1.fit`)."""

    @staticmethod
    def applies(learner: Learner) -> bool:
        return learner.l1 > 0 and learner.loss.curvature is not None

    @staticmethod
    def fit(learner: Learner, data: Data, Theta0: np.ndarray, max_iter: int, tol: float) -> Fit:
        p = Theta0.shape[1]
        g, H = learner.smooth_gradient_hessian(data, Theta0)
        c = H @ Theta0.ravel() - g  # L_smooth(θ) = ½ θᵀHθ − cᵀθ + const
        lam = learner.l1_weights(p - learner.fit_intercept)
        return l1.fit(H, c, lam, Theta0, learner.name, data.n)


class ProximalNewtonSolver:
    """A smooth, non-quadratic loss with L1 (a logistic loss, say): proximal Newton
    steps, each model solved exactly by the L1 solver
    (:func:`flexpoison.engine.smooth.proximal_newton`)."""

    @staticmethod
    def applies(learner: Learner) -> bool:
        return learner.l1 > 0 and learner.loss.curvature is None and not _piecewise(learner)

    @staticmethod
    def fit(learner: Learner, data: Data, Theta0: np.ndarray, max_iter: int, tol: float) -> Fit:
        return proximal_newton(learner, data, Theta0.copy(), max_iter, tol)


class QuadraticSolver:
    """A squared residual without L1: one Newton step, θ = θ₀ − H⁻¹ g(θ₀), is exact."""

    @staticmethod
    def applies(learner: Learner) -> bool:
        return learner.l1 == 0 and learner.loss.curvature is not None

    @staticmethod
    def fit(learner: Learner, data: Data, Theta0: np.ndarray, max_iter: int, tol: float) -> Fit:
        K, p = Theta0.shape
        g, H = learner.smooth_gradient_hessian(data, Theta0)
        factor = cholesky(H, learner.name)
        return Fit(Theta0 - factor.solve(g).reshape(K, p), None, factor, data.n)


class NewtonMethodSolver:
    """Any other smooth loss: Newton's method with Armijo backtracking on L
    (:func:`flexpoison.engine.smooth.newton`)."""

    @staticmethod
    def applies(learner: Learner) -> bool:
        return learner.l1 == 0 and learner.loss.curvature is None and not _piecewise(learner)

    @staticmethod
    def fit(learner: Learner, data: Data, Theta0: np.ndarray, max_iter: int, tol: float) -> Fit:
        return newton(learner, data, Theta0.copy(), max_iter, tol)


#: The solvers :func:`fit` tries, in order: the first that applies solves.
SOLVERS: tuple[type[Solver], ...] = (
    PiecewiseLinearSolver,
    QuadraticL1Solver,
    ProximalNewtonSolver,
    QuadraticSolver,
    NewtonMethodSolver,
)


def solver_for(learner: Learner) -> type[Solver]:
    """The first of :data:`SOLVERS` that applies to ``learner`` (a ``TypeError`` naming
    the learner when none does)."""
    for solver in SOLVERS:
        if solver.applies(learner):
            return solver
    raise TypeError(
        f"{learner.name}: no solver minimises {type(learner.loss).__name__} with these penalties"
    )


def fit(
    learner: Learner, data: Data, Theta0: np.ndarray, *, max_iter: int = 100, tol: float = 1e-8
) -> Fit:
    """Minimise L on ``data``, starting from ``Theta0``, with the first solver of
    :data:`SOLVERS` that applies to the learner (:func:`solver_for`). Newton's methods
    stop after a full step below ``tol`` relative to θ (quadratic convergence leaves an
    O(tol²) error), or raise after ``max_iter`` steps."""
    return solver_for(learner).fit(learner, data, Theta0, max_iter, tol)


def hessian_factor(learner: Learner, data: Data, fit_: Fit) -> Factor | None:
    """The factor of H(θ) at ``fit_.Theta``, restricted to the free coordinates (for a
    fit whose solver did not make it)."""
    S = fit_.active
    if S is not None and not S.any():
        return None
    _, H = learner.smooth_gradient_hessian(data, fit_.Theta)
    if S is None:
        return cholesky(H, learner.name)
    idx = np.flatnonzero(S)
    return cholesky(H[np.ix_(idx, idx)], learner.name, idx)


__all__ = [
    "Solver",
    "SOLVERS",
    "PiecewiseLinearSolver",
    "QuadraticL1Solver",
    "ProximalNewtonSolver",
    "QuadraticSolver",
    "NewtonMethodSolver",
    "solver_for",
    "start",
    "fit",
    "backtrack",
    "hessian_factor",
]
