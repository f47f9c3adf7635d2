"""A kernel classifier's exact dual optimum from a feasible start: a primal active-set method.

In β = αỹ the dual of the soft-margin classifier is the convex QP

    min L(β) = ½βᵀKβ − ỹᵀβ   s.t.  Σ_i β_i = 0,   l_i ≤ β_i ≤ u_i,

[l_i, u_i] = [0, C] for ỹ_i = +1 and [−C, 0] for ỹ_i = −1. With b the multiplier of
Σβ = 0 and f = Kβ + b (the decision values), ∂L/∂β_i + b = f_i − ỹ_i; β is optimal
when, in margins m = ỹf, every free row (0 < α < C: the margin set S) has m = 1, every
row at α = 0 has m ≥ 1 and every row at α = C has m ≤ 1 (:func:`violations`).

libsvm (SMO, with its kernel cache in single precision) gives a feasible β whose sets
are right on well-conditioned data; with a large C or large kernel values its sets can
be wrong (margins off by more than 1) or it stops at its iteration limit. From such a
start :func:`finish` runs the primal active-set method (Nocedal and Wright, *Numerical
Optimization*, §16.5), each row at a bound or free:

* the step solves the equality problem on S — the margin system M·(β_S, b) = r of
  :mod:`flexpoison.engine.margin` — from the current point: p = M_B⁻(r − M·x), its
  least-norm step (M_B⁻: M_B's generalised inverse there); it goes as far as the free
  rows' boxes allow (τ ≤ 1), and a row that blocks it joins its bound;
* when M is singular and a dropped equation i is contradicted (residual ρ_i ≠ 0), the
  problem is unbounded below along M's null vector w given by row i's dependence
  (w_B = λ with M_i = λᵀM_B, w_i = −1): L is linear along w with slope ρ_i, and the step
  follows −sign(ρ_i)·w until a row blocks it;
* at the solution of the equality problem (a full step), the bound row whose condition
  fails most (beyond the tolerance) is freed — one not freed before from the same sets,
  so that a degenerate step that leads back cannot cycle; none: β is optimal.

L never increases; the work is bounded by ``max_steps``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .margin import MarginSystem, margin_matrix

OFF, MARGIN, BOUND = 0, 1, 2  # a row's set: α = 0, 0 < α < C, α = C
_EPS = float(np.finfo(float).eps)
_STILL = 1e-12  # a row whose β moves by less than this share of C in a step is still


def snap(beta: np.ndarray, t: np.ndarray, C: float, codes: np.ndarray) -> np.ndarray:
    """β with the rows at a bound set exactly to it: 0 off the margin, Cỹ bound."""
    return np.where(codes == BOUND, C * t, np.where(codes == OFF, 0.0, beta))


def violations(
    K: np.ndarray, t: np.ndarray, C: float, beta: np.ndarray, b: float, codes: np.ndarray
) -> tuple[np.ndarray, float]:
    """How far each row misses its set's optimality condition, in units of f, and the
    rounding of f in float64.

    With m_i = ỹ_i f_i: max(0, 1 − m) off the margin, max(0, m − 1) at α = C, and
    |m − 1| + κ·max(0, −α, α − C) on it (κ = max k(x, x): how far an α outside its box
    moves f). The rounding is ρ = ε·(max_i Σ_j |β_j k(x_i, x_j)| + |b|)."""
    f = K @ beta + b
    m = t * f
    out = np.where(codes == OFF, np.maximum(0.0, 1.0 - m), np.maximum(0.0, m - 1.0))
    on = codes == MARGIN
    alpha = t[on] * beta[on]
    kappa = float(np.abs(np.diag(K)).max(initial=1.0))
    box = np.maximum(0.0, np.maximum(-alpha, alpha - C))
    out[on] = np.abs(m[on] - 1.0) + kappa * box
    sv = np.flatnonzero(beta)
    rho = _EPS * (float((np.abs(K[:, sv]) @ np.abs(beta[sv])).max(initial=0.0)) + abs(b))
    return out, rho


def equality_system(
    K: np.ndarray, t: np.ndarray, beta: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, MarginSystem]:
    """S, M, r and the factor of the margin rows' equalities M·(β_S, b) = r, r = (ỹ_S −
    K_SF β_F, −Σ_F β_F) over the bound rows F; the last row of K (the candidate's) is
    the first whose equation a singular M drops."""
    S = np.flatnonzero(codes == MARGIN)
    fixed = np.flatnonzero(codes == BOUND)
    r = np.append(t[S] - K[np.ix_(S, fixed)] @ beta[fixed], -beta[fixed].sum())
    M = margin_matrix(K, S)
    last = np.flatnonzero(S == K.shape[0] - 1)
    return S, M, r, MarginSystem.factor(M, int(last[0]) if last.size else None)


def _ratio(beta: np.ndarray, p: np.ndarray, low: np.ndarray, high: np.ndarray, still: float):
    """The largest τ ≥ 0 with low ≤ β + τp ≤ high, and the row that blocks it (−1: none);
    a row moving by at most ``still`` (rounding) blocks nothing."""
    moving = np.abs(p) > still
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(p > 0, (high - beta) / p, (low - beta) / p)
    room = np.where(moving, np.maximum(room, 0.0), np.inf)
    j = int(np.argmin(room)) if room.size else -1
    return (float(room[j]), j) if j >= 0 and np.isfinite(room[j]) else (np.inf, -1)


def _along(K, t, beta, S, d, low, high, still, codes) -> np.ndarray:
    """β_S moved along ±d (a null vector of M: Σd = 0, K_SS·d ≈ 0) to the minimum of L
    on that line, L(β + τd) = L(β) + τ·gᵀd + ½τ²·dᵀK_SS d with g = Kβ − ỹ, or to the
    first bound before it (that row joins its bound in ``codes``)."""
    g = K[S] @ beta - t[S]
    slope = float(d @ g)
    if slope > 0.0:
        d, slope = -d, -slope
    curve = float(d @ K[np.ix_(S, S)] @ d)
    best = -slope / curve if curve > 0.0 else np.inf
    tau, j = _ratio(beta[S], d, low, high, still)
    if best < tau:
        return beta[S] + best * d
    if j >= 0:
        codes[S[j]] = OFF if d[j] * t[S[j]] < 0 else BOUND
    return beta[S] + tau * d if np.isfinite(tau) else beta[S]


def _free_intercept(K, t, beta, codes) -> float:
    """b with no margin row: the middle of the interval that the bound rows' conditions
    leave, [max −g_i over rows at their lower bound, min −g_i over rows at their upper
    bound] with g = Kβ − ỹ (libsvm's rule; the interval may be empty)."""
    g = K @ beta - t  # f_i − ỹ_i = g_i + b
    lower = ((codes == OFF) & (t > 0)) | ((codes == BOUND) & (t < 0))  # needs g + b ≥ 0
    lo = float((-g[lower]).max(initial=-np.inf))
    hi = float((-g[~lower]).min(initial=np.inf))
    if np.isfinite(lo) and np.isfinite(hi):
        return 0.5 * (lo + hi)
    return lo if np.isfinite(lo) else hi


def canonical_intercept(K, t, C: float, beta: np.ndarray, b: float) -> float:
    """b as libsvm states it. A row strictly free (0 < α < C, beyond 1e-8·C of either
    bound) pins b by its equality: b is kept. With none, every b in the interval that
    the rows' conditions leave is optimal (w is unique, b is not) and libsvm returns its
    middle (:func:`_free_intercept`); so does this, so that f(x) does not depend on
    where the method started."""
    alpha = t * beta
    edge = 1e-8 * C
    if np.any((alpha > edge) & (alpha < C - edge)):
        return b
    return _free_intercept(K, t, beta, np.where(alpha >= C - edge, BOUND, OFF))


class Finished(NamedTuple):
    """What :func:`finish` ends with: β, b, the rows' sets, the margin system (None: S
    empty), the largest violation left, the violation allowed, and whether the method
    stopped at its floor (``missed`` then also the allowance)."""

    beta: np.ndarray
    b: float
    codes: np.ndarray
    system: MarginSystem | None
    missed: float
    allowed: float
    floored: bool

    @property
    def converged(self) -> bool:
        return self.missed <= self.allowed


def finish(
    K: np.ndarray,
    t: np.ndarray,
    C: float,
    beta: np.ndarray,
    b: float,
    codes: np.ndarray,
    max_steps: int,
    tol: float,
    floor: float = 0.0,
) -> Finished:
    """The active-set method of the module docstring from a feasible β (its rows at a
    bound marked in ``codes``, which is updated in place). A row may miss its condition
    by max(``tol``, 100·ρ) (ρ: :func:`violations`) — or by up to ``floor`` when every row
    that misses it has been freed from these sets and the step left it where it was:
    the rounding of solves with an ill-conditioned M (kernel values ~1e7), which the
    estimate ρ does not see, is the method's floor. The violation left exceeds the
    allowance when ``max_steps`` ran out or the method cycled above ``floor``."""
    low = np.where(t > 0, 0.0, -C)
    high = np.where(t > 0, C, 0.0)
    beta = snap(beta, t, C, codes)
    still = _STILL * C
    system = None
    missed, allowed = np.inf, max(tol, 100.0 * violations(K, t, C, beta, b, codes)[1])
    lined = False
    freed: dict[bytes, set] = {}
    for _ in range(max_steps):
        if not np.any(codes == MARGIN):
            system = None
            b = _free_intercept(K, t, beta, codes)
        else:
            S, M, r, system = equality_system(K, t, beta, codes)
            x = np.append(beta[S], b)
            p = system.solve(r - M @ x)
            residual = r - M @ (x + p)
            residual[system.rows] = 0.0  # kept equations hold; dropped ones may not
            i = int(np.argmax(np.abs(residual)))
            if abs(residual[i]) > allowed and not lined:  # unbounded along M's null vector
                w = system.adjoint(M[i])
                w[i] = -1.0
                before = codes.copy()
                beta[S] = _along(K, t, beta, S, w[:-1], low[S], high[S], still, codes)
                beta = snap(beta, t, C, codes)
                lined = np.array_equal(before, codes)  # at the line's minimum: once per S
                continue
            lined = False
            tau, j = _ratio(beta[S], p[:-1], low[S], high[S], still)
            if tau >= 1.0:  # rows moving by rounding stay in their box
                # M invertible: M⁻¹r itself, so that the optimum depends on the sets
                # alone, not (in its last bits) on the point the method came from
                sol = x + p if system.degenerate else system.solve(r)
                beta[S] = np.clip(sol[:-1], low[S], high[S])
                b = float(sol[-1])
            else:
                beta[S] = x[:-1] + tau * p[:-1]
                b = float(x[-1] + tau * p[-1])
                codes[S[j]] = OFF if p[j] * t[S[j]] < 0 else BOUND
                beta = snap(beta, t, C, codes)
                continue
        out, rho = violations(K, t, C, beta, b, codes)
        allowed = max(tol, 100.0 * rho)
        missed = float(out.max())
        if missed <= allowed:
            break
        row = _to_free(out, allowed, codes, freed.setdefault(codes.tobytes(), set()))
        if row < 0:  # every violating row was freed here before: a cycle, or the floor
            if missed <= floor:
                return Finished(
                    beta, canonical_intercept(K, t, C, beta, b), codes, system, missed, missed, True
                )
            break
        codes[row] = MARGIN
    return Finished(
        beta, canonical_intercept(K, t, C, beta, b), codes, system, missed, allowed, False
    )


def _to_free(out: np.ndarray, allowed: float, codes: np.ndarray, tried: set) -> int:
    """The bound row to free: the one whose condition fails most, among those not freed
    before from these same sets (``tried``, updated) — a degenerate step can bring the
    method back to sets it left, and freeing the same row again would cycle; −1: none."""
    for row in np.argsort(-out, kind="stable"):
        if out[row] <= allowed:
            break
        if codes[row] != MARGIN and int(row) not in tried:
            tried.add(int(row))
            return int(row)
    return -1


__all__ = [
    "OFF",
    "MARGIN",
    "BOUND",
    "Finished",
    "canonical_intercept",
    "equality_system",
    "finish",
    "snap",
    "violations",
]
