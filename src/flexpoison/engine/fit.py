"""The general solver: a learner's exact optimum on any data (the reference).

The attack's fast paths (:mod:`flexpoison.engine.rank_one`,
:mod:`flexpoison.engine.newton`) answer the same question faster on one training set
plus one candidate row, and fall back to :func:`fit` whenever they cannot answer
exactly; ``tests/test_contract.py`` holds all of them to scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import SingularHessianError
from .data import Data
from .learner import Learner
from .linalg import Factor, Fit, cholesky

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

    or t < 1e-10. ``evaluate(Θ)`` returns a tuple whose first entry is L(Θ) (the rest,
    e.g. g and H, is handed back for reuse). Returns (Θ − t·step, t, evaluate's tuple).
    """
    length = 1.0
    while True:
        candidate = Theta - length * step
        out = evaluate(candidate)
        if out[0] <= L - ARMIJO * length * decrease or length < 1e-10:
            return candidate, length, out
        length *= 0.5


def fit(
    learner: Learner, data: Data, Theta0: np.ndarray, *, max_iter: int = 100, tol: float = 1e-8
) -> Fit:
    """Minimise L on ``data``, starting from ``Theta0``.

    Squared residual without L1: one Newton step, θ = θ₀ − H⁻¹ g(θ₀), is exact.
    Squared residual with L1: coordinate descent on the quadratic model, finished by
    an exact solve on the active set (:func:`_solve_l1_quadratic`).
    Other losses: Newton's method with Armijo backtracking on L (:func:`backtrack`),
    stopping after a full step below ``tol`` relative to θ (quadratic convergence
    leaves an O(tol²) error).
    """
    K, p = Theta0.shape
    if learner.l1 > 0:  # the Learner guarantees a squared residual here
        g, H = learner.smooth_gradient_hessian(data, Theta0)
        c = H @ Theta0.ravel() - g  # L_smooth(θ) = ½ θᵀHθ − cᵀθ + const
        lam = learner.l1 * learner.penalty_mask(p - learner.fit_intercept)
        theta, active = _solve_l1_quadratic(H, c, lam, Theta0.ravel(), learner)
        idx = np.flatnonzero(active)
        factor = (
            cholesky(H[np.ix_(idx, idx)], learner.name, idx) if idx.size else None
        )  # every coefficient is 0 and stays 0 locally
        return Fit(theta.reshape(K, p), active, factor, data.n)

    Theta = Theta0.copy()
    if learner.loss.curvature is not None:
        g, H = learner.smooth_gradient_hessian(data, Theta)
        factor = cholesky(H, learner.name)
        Theta = Theta - factor.solve(g).reshape(K, p)
        return Fit(Theta, None, factor, data.n)
    return _newton(learner, data, Theta, max_iter, tol)


def _newton(learner: Learner, data: Data, Theta: np.ndarray, max_iter: int, tol: float) -> Fit:
    """Newton's method with Armijo backtracking on L (see :func:`fit`)."""
    K, p = Theta.shape
    L, g, H = learner.smooth_value_gradient_hessian(data, Theta)
    factor = None
    for _ in range(max_iter):
        assert H is not None
        factor = cholesky(H, learner.name)
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
        Theta, _, (L, g, H) = backtrack(
            lambda candidate: learner.smooth_value_gradient_hessian(data, candidate),
            Theta,
            step,
            L,
            decrease,
        )
    return Fit(Theta, None, factor, data.n)


def _solve_l1_quadratic(
    A: np.ndarray,
    c: np.ndarray,
    lam: np.ndarray,
    theta0: np.ndarray,
    learner: Learner,
    max_sweeps: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """argmin ½θᵀAθ − cᵀθ + Σ_j lam_j |θ_j| (A positive definite on the support).

    Cyclic coordinate descent, θ_j ← S(c_j − Σ_{k≠j} A_jk θ_k, lam_j) / A_jj with S the
    soft threshold, warm-started at ``theta0``. Whenever the support looks settled, the
    active-set system A_SS θ_S = c_S − lam_S·sign(θ_S) is solved exactly; its answer is
    accepted when it keeps the signs and the inactive coordinates satisfy the KKT
    condition |c_j − A_jS θ_S| ≤ lam_j. Returns θ and the active mask.
    """
    theta = theta0.copy()
    diag = np.diag(A)
    if np.any(diag <= 0):
        raise SingularHessianError(
            f"{learner.name}: a feature has zero variance in the "
            "training rows, so its coefficient is not determined"
        )
    for sweep in range(max_sweeps):
        if sweep % 5 == 0:
            polished = _polish_active_set(A, c, lam, theta, learner, sweep >= 50)
            if polished is not None:
                return polished, (polished != 0) | (lam == 0)
        for j in range(theta.size):
            rho = c[j] - A[j] @ theta + diag[j] * theta[j]
            theta[j] = np.sign(rho) * max(abs(rho) - lam[j], 0.0) / diag[j]
    raise SingularHessianError(f"{learner.name}: coordinate descent did not converge")


def _polish_active_set(A, c, lam, theta, learner: Learner, settled: bool) -> np.ndarray | None:
    active = (theta != 0) | (lam == 0)
    if not np.any(active):
        return None if np.any(np.abs(c) > lam) else np.zeros_like(theta)
    sign = np.sign(theta)
    try:
        sol = np.linalg.solve(A[np.ix_(active, active)], c[active] - lam[active] * sign[active])
    except np.linalg.LinAlgError:
        if settled:  # the support has stopped moving and is still degenerate
            raise SingularHessianError(
                f"{learner.name}: the model is not unique: features in its support are "
                "collinear (e.g. a duplicated column); remove redundant features"
            ) from None
        return None
    penalised = lam[active] > 0
    if np.any(np.sign(sol[penalised]) != sign[active][penalised]):
        return None
    out = np.zeros_like(theta)
    out[active] = sol
    inactive = ~active
    residual = np.abs(c[inactive] - A[np.ix_(inactive, active)] @ sol)
    if np.any(residual > lam[inactive] * (1 + 1e-9) + 1e-14):
        return None
    return out


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


__all__ = ["fit", "backtrack", "hessian_factor"]
