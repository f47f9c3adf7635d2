"""The general solver: a learner's exact optimum on any data (the reference).

The attack's fast paths (:mod:`flexpoison.engine.rank_one`,
:mod:`flexpoison.engine.newton`) answer the same question faster on one training set
plus one candidate row, and fall back to :func:`fit` whenever they cannot answer
exactly; ``tests/test_contract.py`` holds all of them to scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ConvergenceError, SingularHessianError
from . import kinks, l1
from .data import Data
from .learner import Learner
from .linalg import Factor, Fit, cholesky
from .losses import declared

ARMIJO = 1e-4  # sufficient-decrease constant of every Newton line search


def backtrack(
    evaluate: Callable[[np.ndarray], tuple],
    Theta: np.ndarray,
    step: np.ndarray,
    L: float,
    decrease: float,
) -> tuple[np.ndarray, float, tuple]:
    """Armijo backtracking along a Newton step: the first length t in 1, ½, ¼, … with

        L(Θ − t·step) ≤ L(Θ) − 1e-4·t·λ²,   λ² = gᵀ·step (the Newton decrement),

    or t < 1e-10 — where L is finite: a trial outside the loss's domain (L = +∞) is
    never taken; below 1e-10 the search gives up there and stays at Θ (t = 0).
    ``evaluate(Θ)`` returns a tuple whose first entry is L(Θ) (the rest, e.g. g and H,
    is handed back for reuse). Returns (Θ − t·step, t, evaluate's tuple).
    """
    length = 1.0
    while True:
        candidate = Theta - length * step
        out = evaluate(candidate)
        if out[0] <= L - ARMIJO * length * decrease:
            return candidate, length, out
        if length < 1e-10:
            if np.isfinite(out[0]):
                return candidate, length, out
            return Theta, 0.0, evaluate(Theta)
        length *= 0.5


def start(learner: Learner, t: np.ndarray, p: int) -> np.ndarray:
    """Θ (K × p) to fit from when nothing is known, for encoded targets ``t``: zero,
    with every intercept at the loss's best constant score when it declares one
    (``best_constant``: a log-link GLM's log(mean t), where scikit-learn starts too),
    so that Newton's first step is not taken from predictions off by orders of
    magnitude."""
    Theta = np.zeros((learner.n_outputs, p))
    best = declared(learner.loss, "best_constant")
    if best is not None and learner.fit_intercept and t.size:
        Theta[:, -1] = best(t)
    return Theta


def fit(
    learner: Learner, data: Data, Theta0: np.ndarray, *, max_iter: int = 100, tol: float = 1e-8
) -> Fit:
    """Minimise L on ``data``, starting from ``Theta0``.

    Squared residual without L1: one Newton step, θ = θ₀ − H⁻¹ g(θ₀), is exact.
    Squared residual with L1: coordinate descent on the quadratic model, finished by
    an exact solve on the active set (:func:`flexpoison.engine.l1.solve`).
    Other losses: Newton's method with Armijo backtracking on L (:func:`backtrack`),
    stopping after a full step below ``tol`` relative to θ (quadratic convergence
    leaves an O(tol²) error).
    Piecewise-linear losses (hinge, ε-insensitive): the exact active-set solver of
    :mod:`flexpoison.engine.kinks`.
    """
    K, p = Theta0.shape
    if hasattr(learner.loss, "pieces"):  # a PiecewiseLinearLoss (a protocol isinstance
        return kinks.fit(learner, data, Theta0)  # costs ~30 µs)
    if learner.l1 > 0:  # the Learner guarantees a squared residual here
        g, H = learner.smooth_gradient_hessian(data, Theta0)
        c = H @ Theta0.ravel() - g  # L_smooth(θ) = ½ θᵀHθ − cᵀθ + const
        lam = learner.l1_weights(p - learner.fit_intercept)
        return l1.fit(H, c, lam, Theta0, learner.name, data.n)

    Theta = Theta0.copy()
    if learner.loss.curvature is not None:
        g, H = learner.smooth_gradient_hessian(data, Theta)
        factor = cholesky(H, learner.name)
        Theta = Theta - factor.solve(g).reshape(K, p)
        return Fit(Theta, None, factor, data.n)
    return _newton(learner, data, Theta, max_iter, tol)


def _newton(learner: Learner, data: Data, Theta: np.ndarray, max_iter: int, tol: float) -> Fit:
    """Newton's method with Armijo backtracking on L (see :func:`fit`), from ``Theta``.
    A start where L is not finite (outside the loss's domain: the Huber loss's σ ≤ 0)
    is replaced by :func:`start`; so is a warm start from which ``max_iter`` steps do
    not converge (a log link's score far past the optimum falls by about 1 per step:
    a candidate row at feature scale 1000 started 130 steps away). A standard start
    that does not converge either raises :class:`ConvergenceError`."""
    K, p = Theta.shape
    sums = learner.smooth_value_gradient_hessian(data, Theta)
    cold = not np.isfinite(sums[0])
    if cold:
        Theta = start(learner, kinks.rows(data)[1], p)
        sums = learner.smooth_value_gradient_hessian(data, Theta)
    fitted = _newton_steps(learner, data, Theta, sums, max_iter, tol)
    if fitted is None and not cold:
        Theta = start(learner, kinks.rows(data)[1], p)
        sums = learner.smooth_value_gradient_hessian(data, Theta)
        fitted = _newton_steps(learner, data, Theta, sums, max_iter, tol)
    if fitted is None:
        raise ConvergenceError(
            f"{learner.name}: Newton's method did not converge in {max_iter} steps from "
            "the warm start or the standard one; standardise the features and responses"
        )
    return fitted


def _newton_steps(
    learner: Learner, data: Data, Theta: np.ndarray, sums: tuple, max_iter: int, tol: float
) -> Fit | None:
    """At most ``max_iter`` damped Newton steps from ``Theta`` (L, g, H there in
    ``sums``): the fit once a full step is below ``tol`` relative to θ, else None."""
    K, p = Theta.shape
    L, g, H = sums
    factor = None
    exact = True
    for _ in range(max_iter):
        assert H is not None
        factor, exact = _damped_cholesky(H, learner.name)
        step = factor.solve(g).reshape(K, p)
        size = np.max(np.abs(step)) / (1.0 + np.max(np.abs(Theta)))
        if size <= tol:
            # Newton converges quadratically: after a step this small the error left is
            # O(size²), far below what any caller can see.
            Theta = Theta - step
            break
        if size <= 1e-5:
            # Quadratic-convergence regime: the full step is safe, and a line search
            # would only compare values of L that differ in their last bits.
            Theta = Theta - step
            L, g, H = learner.smooth_value_gradient_hessian(data, Theta)
            continue
        decrease = float(g @ step.ravel())  # Newton decrement λ², ≥ 0
        Theta, length, (L, g, H) = backtrack(
            lambda candidate: learner.smooth_value_gradient_hessian(data, candidate),
            Theta,
            step,
            L,
            decrease,
        )
        if length == 0.0:  # every trial left the loss's domain
            raise ConvergenceError(
                f"{learner.name}: Newton's method cannot make progress in float64 (its "
                "steps leave the loss's domain); standardise the features and responses"
            )
    else:
        return None
    if not exact:  # the last step was damped: the factor of the exact H, or its error
        factor = cholesky(learner.smooth_gradient_hessian(data, Theta)[1], learner.name)
    return Fit(Theta, None, factor, data.n)


def _damped_cholesky(H: np.ndarray, name: str) -> tuple[Factor, bool]:
    """The factor of H, or, where H is singular away from the optimum (the Huber loss
    with too few inliers at a far iterate), of H + μI with the smallest μ = 10^k·1e-10
    ·(1 + max H_jj) that is definite (a Levenberg–Marquardt step, still a descent
    direction); whether it is H's own."""
    try:
        return cholesky(H, name), True
    except SingularHessianError:
        base = 1e-10 * (1.0 + float(np.max(np.abs(np.diag(H)))))
        for k in range(12):
            try:
                return cholesky(H + (base * 10.0**k) * np.eye(H.shape[0]), name), False
            except SingularHessianError:
                continue
        raise


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


__all__ = ["start", "fit", "backtrack", "hessian_factor"]
