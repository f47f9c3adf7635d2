"""Smooth losses' solvers: Newton's method with Armijo backtracking, and its proximal
form for an L1 term.

Without L1, :func:`newton` minimises L by damped Newton steps (the reference for
every loss with a second derivative but no constant one). With an L1 term
λ₁‖W‖₁ on a smooth L (a logistic loss, say), :func:`proximal_newton` minimises
F(θ) = L(θ) + Σ_j λ_j|θ_j| by proximal Newton steps (Lee, Sun & Saunders, 2014): at θ
the quadratic model of L plus the exact L1 term,

    q(y) = ½yᵀHy − (Hθ − g)ᵀy + Σ_j λ_j|y_j|   (g, H: L's gradient and Hessian at θ),

is minimised exactly by the L1 solver of :mod:`flexpoison.engine.l1` (feature-sign
search, collinear designs included); the step θ → y is damped by Armijo backtracking
on F with the decrease Δ = gᵀ(θ − y) + Σλ_j(|θ_j| − |y_j|) ≥ ½(θ − y)ᵀH(θ − y). Once the
support is found the steps are Newton's on the support: quadratic convergence. The
fit's active set (the nonzero weights and the unpenalised intercepts) and the
Hessian's factor on it are the last model's, which the implicit gradient solves with
(the derivative over the nonzero coefficients only, as for the squared loss's L1).
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


def newton(learner: Learner, data: Data, Theta: np.ndarray, max_iter: int, tol: float) -> Fit:
    """Newton's method with Armijo backtracking on L (see :func:`fit`), from ``Theta``.
    A start where L is not finite (outside the loss's domain: the Huber loss's σ ≤ 0)
    is replaced by :func:`start`; so is a warm start from which ``max_iter`` steps do
    not converge (a log link's score far past the optimum falls by about 1 per step:
    a candidate row at feature scale 1000 started 130 steps away). A standard start
    that does not converge either raises :class:`ConvergenceError`."""
    return _warm_or_cold(
        learner,
        data,
        Theta,
        lambda Theta_: learner.smooth_value_gradient_hessian(data, Theta_),
        lambda Theta_, sums: _newton_steps(learner, data, Theta_, sums, max_iter, tol),
        f"Newton's method did not converge in {max_iter} steps",
    )


def _warm_or_cold(
    learner: Learner,
    data: Data,
    Theta: np.ndarray,
    evaluate: Callable[[np.ndarray], tuple],
    steps: Callable[[np.ndarray, tuple], Fit | None],
    failure: str,
) -> Fit:
    """``steps(Θ, evaluate(Θ))`` from the warm start Θ — from :func:`start` instead where
    the objective (``evaluate``'s first entry) is not finite there — and, when the warm
    start does not converge (``steps`` returns None), from :func:`start`; a standard
    start that does not converge either raises :class:`ConvergenceError` (``failure``
    says what did not converge)."""
    p = Theta.shape[1]
    sums = evaluate(Theta)
    cold = not np.isfinite(sums[0])
    if cold:
        Theta = start(learner, kinks.rows(data)[1], p)
        sums = evaluate(Theta)
    fitted = steps(Theta, sums)
    if fitted is None and not cold:
        Theta = start(learner, kinks.rows(data)[1], p)
        fitted = steps(Theta, evaluate(Theta))
    if fitted is None:
        raise ConvergenceError(
            f"{learner.name}: {failure} from the warm start or the standard one; "
            "standardise the features and responses"
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


def proximal_newton(
    learner: Learner, data: Data, Theta: np.ndarray, max_iter: int, tol: float
) -> Fit:
    """F(θ) = L(θ) + Σ_j λ_j|θ_j| minimised by proximal Newton steps from ``Theta`` (module
    docstring), stopping after a full step below ``tol`` relative to θ. A start where
    F is not finite, or from which ``max_iter`` steps do not converge, is replaced by
    :func:`start` (as in :func:`newton`); a standard start that does not converge
    either raises :class:`ConvergenceError`."""
    lam = learner.l1_weights(Theta.shape[1] - learner.fit_intercept)
    return _warm_or_cold(
        learner,
        data,
        Theta,
        lambda Theta_: _with_l1(learner, data, Theta_, lam),
        lambda Theta_, sums: _proximal_steps(learner, data, Theta_, sums, lam, max_iter, tol),
        f"proximal Newton did not converge in {max_iter} steps",
    )


def _with_l1(
    learner: Learner, data: Data, Theta: np.ndarray, lam: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """(F, g, H) at Θ: F = L + Σλ_j|θ_j|, g and H of the smooth part L."""
    L, g, H = learner.smooth_value_gradient_hessian(data, Theta)
    assert H is not None
    return L + float(lam @ np.abs(Theta.ravel())), g, H


def _proximal_steps(
    learner: Learner,
    data: Data,
    Theta: np.ndarray,
    sums: tuple,
    lam: np.ndarray,
    max_iter: int,
    tol: float,
) -> Fit | None:
    """At most ``max_iter`` proximal Newton steps from ``Theta`` (F, g, H there in
    ``sums``; module docstring): the last model's fit once its step is below ``tol``
    relative to θ, else None."""

    def evaluate(candidate: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return _with_l1(learner, data, candidate, lam)

    F, g, H = sums
    for _ in range(max_iter):
        theta = Theta.ravel()
        model = l1.fit(H, H @ theta - g, lam, Theta, learner.name, data.n)
        step = Theta - model.Theta
        size = np.max(np.abs(step)) / (1.0 + np.max(np.abs(Theta)))
        if size <= tol:  # Newton's on the support: O(size²) left (as in newton)
            return model
        if size <= 1e-5:  # quadratic regime: the full step, no line search
            Theta = model.Theta
            F, g, H = evaluate(Theta)
            continue
        y = model.Theta.ravel()
        decrease = float(g @ step.ravel() + lam @ (np.abs(theta) - np.abs(y)))
        Theta, length, (F, g, H) = backtrack(evaluate, Theta, step, F, decrease)
        if length == 0.0:
            raise ConvergenceError(
                f"{learner.name}: proximal Newton cannot make progress in float64; "
                "standardise the features"
            )
    return None


__all__ = ["ARMIJO", "backtrack", "start", "newton", "proximal_newton"]
