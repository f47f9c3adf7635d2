"""The L1-penalised quadratic, solved exactly, also on collinear features.

    minimise f(θ) = ½θᵀAθ − cᵀθ + Σ_j λ_j|θ_j|,   A = ∇²L_smooth ⪰ 0,

the model of a squared-residual learner with an L1 penalty: :func:`solve` runs
feature-sign search (Lee, Battle, Raina & Ng, 2007) from a warm start. On a support
S with signs σ, the optimum of the sign-fixed problem solves A_SS θ_S = c_S − λ_S σ_S;
θ is the optimum when it keeps the signs and every coordinate off S meets
|c_j − A_jS θ_S| ≤ λ_j.

Collinear features
------------------
Real designs are rank deficient as a rule: one-hot levels sum to the intercept's
column, a level absent from the rows is a zero column, columns duplicate each other.
Then A_SS can be singular, and the minimiser is not unique — but the fitted values
are: along a null direction v of A_SS (X_S v = 0) the fit does not move, and at an
optimum the penalty Σλ_j|θ_j| is flat along v (its slope λ_Sᵀ(σ_S ∘ v) must vanish,
or a step along ±v would lower f). So:

* a zero column has A_jj = c_j = 0, and θ_j = 0 is the unique penalised choice;
* the sign-fixed problem on a singular A_SS is solved in the minimum-norm sense when
  c_S − λ_S σ_S lies in A_SS's range, and otherwise f falls without bound along the
  null-space part v of that vector until a coefficient reaches zero: the step then
  goes there (:func:`_solve_on`);
* every optimum is reduced to a **basic** one (:func:`_basic`): moving along a null
  direction v to where the first coefficient reaches zero leaves f unchanged and drops
  that coefficient, until A_SS is definite. θ is that basic solution (the analogue of
  a vertex), whose derivative in the data is the implicit one on S; where
  a row's change would make another basic solution the optimum, the derivative is the
  one-sided one of the solution followed. scikit-learn's coordinate descent may return
  another optimum with the same fitted values on the training rows.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_solve
from scipy.linalg.lapack import dpotrf

from ..errors import ConvergenceError, SingularHessianError

# An eigenvalue of A_SS at most this share of its largest is a null direction.
_NULL = 1e-10


def solve(
    A: np.ndarray, c: np.ndarray, lam: np.ndarray, theta0: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """argmin ½θᵀAθ − cᵀθ + Σ_j lam_j|θ_j| from ``theta0`` (module docstring): the basic
    optimum θ and its active mask (the nonzero coefficients and the unpenalised ones,
    on which A is definite). ``name`` (the learner's) heads the errors."""
    theta = theta0.copy()
    diag = np.diag(A)
    if np.any((diag <= 0) & (lam == 0)):
        raise SingularHessianError(
            f"{name}: an unpenalised coordinate has zero variance in the training rows, "
            "so its value is not determined"
        )
    theta[(diag <= 0) & (lam > 0)] = 0.0
    theta = _basic(A, lam, theta)
    for _ in range(20 * theta.size + 100):
        theta, done, definite = _feature_sign_step(A, c, lam, theta, name)
        if done:
            return theta, (theta != 0) | (lam == 0)
        if not definite:  # the step's support block was singular: back to a basic point
            theta = _basic(A, lam, theta)
    raise ConvergenceError(
        f"{name}: the L1 solver made no progress (its objective is too badly "
        "conditioned in float64); standardise the features"
    )


def objective(A: np.ndarray, c: np.ndarray, lam: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """f(θ) = ½θᵀAθ − cᵀθ + Σ lam_j|θ_j| for each row θ of ``thetas``."""
    return ((0.5 * thetas @ A - c) * thetas).sum(axis=1) + np.abs(thetas) @ lam


def _feature_sign_step(
    A: np.ndarray, c: np.ndarray, lam: np.ndarray, theta: np.ndarray, name: str
) -> tuple[np.ndarray, bool, bool]:
    """One step of feature-sign search from a basic θ: (the next θ, whether it is the
    optimum, whether A is definite on the support the step solved on last). With S the
    support of θ (and the unpenalised coordinates) and σ its signs, θ* solves the
    sign-fixed problem on S. If θ* keeps the signs and every coordinate off S meets
    KKT, |(c − Aθ*)_j| ≤ lam_j (with a rounding allowance), θ* is the optimum. If it
    keeps the signs otherwise, the zero coordinate j with the largest KKT violation
    |(c − Aθ*)_j| − lam_j joins S, signed as (c − Aθ*)_j, and θ* is solved again from
    there. θ then moves to the point of lowest f among θ* and the points of the
    segment where a coefficient reaches zero."""
    free = lam == 0
    sign = np.sign(theta)
    support = (theta != 0) | free
    target, definite = _solve_on(A, c, lam, support, sign, theta, name)
    if not np.any(support & ~free & (np.sign(target) != sign)):
        raw = np.abs(c - A @ target)
        violation = raw - lam * (1 + 1e-9) - 1e-14
        violation[support] = -np.inf
        j = int(np.argmax(violation))
        if violation[j] <= 0:
            if definite:
                return target, True, True
            polished = _polish(A, c, lam, _basic(A, lam, target))
            return (target, False, False) if polished is None else (polished, True, True)
        theta, sign = target, np.sign(target)
        sign[j] = np.sign((c - A @ target)[j])
        support = support.copy()
        support[j] = True
        target, definite = _solve_on(A, c, lam, support, sign, theta, name)
    flips = support & ~free & (np.sign(target) != sign)
    return _best_on_segment(A, c, lam, theta, target, flips), False, definite


def _solve_on(
    A: np.ndarray,
    c: np.ndarray,
    lam: np.ndarray,
    support: np.ndarray,
    sign: np.ndarray,
    theta: np.ndarray,
    name: str,
) -> tuple[np.ndarray, bool]:
    """The sign-fixed problem's step target on the support S, 0 elsewhere, and whether
    A_SS is (clearly) definite: the solution
    of A_SS θ_S = b_S = c_S − lam_S σ_S, minimum-norm where A_SS is singular and b_S in
    its range; where b_S has a part v outside the range, f falls along v without bound,
    and the target is θ + τv with τ past the first coefficient that v drives to zero
    (the segment's search stops there)."""
    out = np.zeros_like(c)
    S = np.flatnonzero(support)
    if not S.size:
        return out, True
    b = c[S] - lam[S] * sign[S]
    block = A[np.ix_(S, S)]
    factor = _definite(block)
    if factor is not None:
        out[S] = cho_solve((factor, True), b, check_finite=False)
        return out, True
    values, vectors = np.linalg.eigh(block)
    top = max(float(values[-1]), 0.0)
    keep = values > _NULL * top
    if top == 0.0 or not np.all(np.isfinite(values)):
        raise SingularHessianError(
            f"{name}: the model is not unique: the features in its support carry no "
            "variance; remove them"
        )
    coords = vectors.T @ b
    out[S] = vectors[:, keep] @ (coords[keep] / values[keep])
    v = vectors[:, ~keep] @ coords[~keep]
    if not np.any(~keep) or np.linalg.norm(v) <= 1e-12 * (np.linalg.norm(b) + 1e-300):
        return out, False
    # b_S outside the range: f = const − τ‖v‖² along θ + τv; go past the first zero
    current = theta[S]
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(current * v < 0, -current / v, np.inf)
    crossing[lam[S] == 0] = np.inf
    tau = float(np.min(crossing))
    if not np.isfinite(tau):  # nothing stops it: f is unbounded below
        raise SingularHessianError(
            f"{name}: the training objective is unbounded below on collinear "
            "unpenalised coordinates; remove redundant features"
        )
    out = theta.copy()
    out[S] = current + 2.0 * tau * v
    out[~support] = 0.0
    return out, False


def _best_on_segment(
    A: np.ndarray,
    c: np.ndarray,
    lam: np.ndarray,
    theta: np.ndarray,
    target: np.ndarray,
    flips: np.ndarray,
) -> np.ndarray:
    """The point of lowest f on the segment [θ, θ*]: θ* itself, or a point where
    coefficients in ``flips`` reach zero (set exactly to zero there)."""
    delta = target - theta
    crossing = np.full(theta.shape, np.nan)
    moving = np.flatnonzero(flips & (delta != 0))
    crossing[moving] = -theta[moving] / delta[moving]
    candidates = [target]
    for t in np.unique(crossing[(crossing > 0) & (crossing < 1)]):
        point = theta + t * delta
        point[crossing == t] = 0.0
        candidates.append(point)
    points = np.array(candidates)
    return points[int(np.argmin(objective(A, c, lam, points)))]


def _basic(A: np.ndarray, lam: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """θ moved along null directions of A on its support, each to where its first
    penalised coefficient reaches zero (f unchanged at an optimum, module docstring),
    until A is definite on the support."""
    theta = theta.copy()
    for _ in range(theta.size):
        S = np.flatnonzero((theta != 0) | (lam == 0))
        if not S.size:
            return theta
        block = A[np.ix_(S, S)]
        if _definite(block) is not None:
            return theta
        values, vectors = np.linalg.eigh(block)
        if values[0] > _NULL * max(float(values[-1]), 0.0) and values[-1] > 0:
            return theta
        v = vectors[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            steps = np.where((np.abs(v) > 1e-12) & (lam[S] > 0), -theta[S] / v, np.inf)
        j = int(np.argmin(np.abs(steps)))
        if not np.isfinite(steps[j]):
            return theta  # only unpenalised coordinates move: left to the polish's check
        theta[S] = theta[S] + steps[j] * v
        theta[S[j]] = 0.0
    return theta


def _definite(block: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of a block of A when it is clearly definite (every
    pivot² above :data:`_NULL` times the largest diagonal entry), else None (then
    an eigendecomposition decides, ~50× slower)."""
    factor, info = dpotrf(block, lower=1, clean=0)
    if info != 0:
        return None
    pivots = np.diag(factor)
    if pivots.min() ** 2 <= _NULL * float(np.max(np.diag(block))):
        return None
    return factor


def _polish(A, c, lam, theta) -> np.ndarray | None:
    """The exact solution on θ's (basic) support with θ's signs, if it is the optimum
    (signs kept, KKT met off the support, with a rounding allowance), else None."""
    active = (theta != 0) | (lam == 0)
    if not np.any(active):
        return None if np.any(np.abs(c) > lam) else np.zeros_like(theta)
    sign = np.sign(theta)
    try:
        sol = np.linalg.solve(A[np.ix_(active, active)], c[active] - lam[active] * sign[active])
    except np.linalg.LinAlgError:
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


__all__ = ["solve", "objective"]
