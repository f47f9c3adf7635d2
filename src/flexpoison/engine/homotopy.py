"""A linear-kernel classifier's exact optimum followed as its candidate row moves.

With the linear kernel k(a, b) = a·b, the soft-margin classifier of
:mod:`flexpoison.engine.dual` on the rows X (N × d, labels ỹ = ±1) plus one candidate
row (x_p, ỹ_p) with dual variable β_p = α_p·ỹ_p, 0 ≤ α_p ≤ C, has w = Σ_i β_i x_i + β_p x_p
and Σ_i β_i + β_p = 0. Seen from the N rows, the candidate is a tilt u = β_p·(x_p, 1):
the rows' dual solves the same QP with the equality Σ_i β_i = −u_b and w = Σ_i β_i x_i
+ u_w. With the rows' sets fixed (margin S, bound B, off the margin), their KKT
equalities are the margin system of :mod:`flexpoison.engine.margin`,

    M·(β_S, b) = r(u),   M = [[K_SS, 1], [1ᵀ, 0]],   K_SS = X_S X_Sᵀ,
    r(u) = (ỹ_S − X_S(X_Bᵀβ_B + u_w), −u_b − Σ_B β_B),

affine in u: along a segment of u, (β_S, b), w and every row's margin m_i = ỹ_i(x_i·w +
b) move linearly until a row's condition is about to break (α_i of a margin row reaches
0 or C; a row off the margin or at its bound reaches m = 1), where that row changes set:
a parametric active-set path (a homotopy; Best, *An algorithm for the solution of the
parametric quadratic programming problem*, 1996). Every point of it is the exact
optimum for its u. :func:`follow` runs it in two stages from the optimum at (x_from,
β_p):

1. x_p moves from x_from to x_to with β_p held (u = β_p·(x(τ), 1), τ from 0 to 1);
2. α_p moves, u = α·ỹ_p·(x_to, 1), toward the candidate's own condition: up while its
   margin m_p < 1 and α_p < C, down while m_p > 1 and α_p > 0, until m_p = 1 or α_p
   reaches its bound (m_p is nondecreasing in α: w(u) is the gradient of a convex
   function of u).

Each piece costs one factorisation of M (at most d + 2 rows) and one pass over the N
rows; a warm start from the optimum at a nearby x_p crosses few pieces. The end is then
solved once more from its sets alone (M⁻¹r with the candidate's equation when it lies on
its margin), and checked: every row meets its set's condition to max(10⁻⁹, 100ρ), ρ a
bound on f's rounding. Anything outside the generic case — a singular M (duplicated
rows, more than d + 1 rows on the margins), no margin row, no row strictly inside its
box (b not pinned), a path longer than ``max_steps``, a check that fails, or a rounding
bound 100ρ above the 10⁻⁴ at which :func:`flexpoison.engine.dual.fit` refuses the fit
(C = 1e8) — returns None, and the caller solves it with
:func:`flexpoison.engine.dual.fit`, which handles (or refuses) them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dgecon, dgetrf, dgetrs

from .active_set import BOUND, MARGIN, OFF
from .dual import _KKT_TOL, _WORST
from .margin import RANK_RTOL, MarginSystem, margin_matrix

_EPS = float(np.finfo(float).eps)
_ROUNDING = 100.0  # a row may miss its condition by _KKT_TOL or this many times f's rounding
_FREE = 1e-8  # a row strictly free: α beyond this share of C from either bound
_STILL = 1e-13  # a rate moving a quantity by less than this over the segment is still
# The end's LU serves the gradient's adjoint solve when M's reciprocal condition number
# exceeds this; below it the centred system of engine.margin is factored instead.
_DIRECT = 1e-8


@dataclass(frozen=True)
class Followed:
    """The optimum on the rows plus the candidate (its entries last): β (N + 1), b, the
    sets, w = Σ β_i x_i, the rounding allowance met, the pieces crossed, and the margin
    system of the end for the gradient (its LU, when M's reciprocal condition number
    exceeds :data:`_DIRECT`; None: :func:`margin_system` makes the centred one)."""

    beta: np.ndarray
    b: float
    codes: np.ndarray
    w: np.ndarray
    allowed: float
    steps: int
    system: MarginSystem | None = None


def _factor(A: np.ndarray, check: bool = True) -> tuple | None:
    """LAPACK's LU (getrf) of the margin matrix M of the rows A (K_SS = AAᵀ), or None
    when M fails :func:`~flexpoison.engine.margin.nonsingular`'s test (gecon; not made
    without ``check``, and the reciprocal condition number is then NaN). Raw LAPACK: M
    has at most d + 2 rows, and the wrappers' checks cost more than the
    factorisation."""
    m = A.shape[0]
    M = np.ones((m + 1, m + 1))
    M[:m, :m] = A @ A.T
    M[m, m] = 0.0
    lu, piv, info = dgetrf(M)
    if info != 0:
        return None
    if not check:
        return lu, piv, np.nan
    rcond, info = dgecon(lu, float(np.abs(M).sum(axis=0).max()), norm="1")
    if info != 0 or not rcond > RANK_RTOL:
        return None
    return lu, piv, rcond


class _State:
    """A point of the path: β of the rows, b, w and the rows' margins, moved along a
    piece by :meth:`move` (the end is solved afresh from its sets: no drift kept).
    ``side`` is +1 off the margin, −1 at the bound, 0 on it: a row crosses m = 1 when
    side·(dm/dλ) < 0. The margin system's factor is kept while S stays; its singularity
    test is made where S has grown (M(v, v_b) = 0 gives ‖X_Sᵀv‖² = −v_b·1ᵀv = 0: M is
    singular only where the rows (x_i, 1) of S are dependent, which a row leaving does
    not make them; the end is checked whatever the path)."""

    def __init__(self, X, t, C, beta, b, codes, w):
        self.X, self.t, self.C = X, t, C
        self.beta, self.b, self.codes, self.w = beta, b, codes, w
        self.margin = t * (X @ w + b)
        self.side = np.where(codes == OFF, 1.0, np.where(codes == BOUND, -1.0, 0.0))
        self.S = np.flatnonzero(codes == MARGIN)
        self.factor: tuple | None = None  # (X_S, the LU of its margin matrix), when made
        self.grown = True  # S has gained a row since the last test (or never had one)

    def system(self) -> tuple | None:
        """(X_S, its margin matrix's LU) for the current S (None: singular)."""
        if self.factor is None:
            A = self.X[self.S]
            factor = _factor(A, self.grown)
            if factor is None:
                return None
            self.factor, self.grown = (A, factor), False
        return self.factor

    def piece(self, du_w, du_b, length):
        """The rates along the piece and its end, (rate, dw, slope, λ, row): the rates
        of (β_S, b) and of w per unit of u's move (du_w, du_b) with S held,
        M·(dβ_S, db) = (−X_S du_w, −du_b), dw = X_Sᵀdβ_S + du_w, every margin's, and
        the first λ ∈ [0, length] at which a row's condition would break (a margin
        row's α reaching 0 or C, another row's margin reaching 1) with that row (−1:
        none before ``length``); None when M is singular or S empty."""
        S = self.S
        solved = self.system() if S.size else None
        if solved is None:
            return None
        A, factor = solved
        rhs = np.empty(S.size + 1)
        rhs[:-1] = -(A @ du_w)
        rhs[-1] = -du_b
        rate, _ = dgetrs(factor[0], factor[1], rhs)
        dw = A.T @ rate[:-1] + du_w
        t, C = self.t, self.C
        slope = t * (self.X @ dw + rate[-1])
        t_S = t[S]
        alpha, d_alpha = t_S * self.beta[S], t_S * rate[:-1]
        room = np.where(d_alpha < 0.0, -alpha, C - alpha) / d_alpha  # (follow: no warnings)
        reach = (1.0 - self.margin) / slope
        room[np.abs(d_alpha) * length <= _STILL * C] = np.inf
        reach[self.side * slope >= -_STILL / length] = np.inf
        lam, row = length, -1
        j = int(room.argmin())
        if room[j] < lam:
            lam, row = max(float(room[j]), 0.0), int(S[j])
        j = int(reach.argmin())
        if reach[j] < lam:
            lam, row = max(float(reach[j]), 0.0), j
        return rate, dw, slope, lam, row

    def move(self, rate, dw, slope, lam) -> None:
        self.beta[self.S] += lam * rate[:-1]
        self.b += lam * float(rate[-1])
        self.w = self.w + lam * dw
        self.margin += lam * slope

    def switch(self, row: int) -> None:
        """Row ``row`` (−1: none) changes set at its event: a margin row leaves for the
        bound its α reached; a row off the margin or at its bound joins the margin."""
        if row < 0:
            return
        codes, beta = self.codes, self.beta
        if codes[row] == MARGIN:
            bound = abs(beta[row]) >= 0.5 * self.C
            codes[row] = BOUND if bound else OFF
            beta[row] = self.C * self.t[row] if bound else 0.0
            self.side[row] = -1.0 if bound else 1.0
        else:
            codes[row] = MARGIN
            self.side[row] = 0.0
            self.grown = True
        self.S = (codes == MARGIN).nonzero()[0]
        self.factor = None


def follow(
    X: np.ndarray,
    t: np.ndarray,
    C: float,
    beta: np.ndarray,
    b: float,
    codes: np.ndarray,
    t_p: float,
    beta_p: float,
    x_from: np.ndarray,
    x_to: np.ndarray,
    max_steps: int,
) -> Followed | None:
    """The optimum on the rows (X, ỹ = t) plus the candidate (x_to, t_p), followed from
    the optimum (β of the rows, b, their sets ``codes``, the candidate's β_p) with the
    candidate at x_from (module docstring). None outside the generic case."""
    with np.errstate(divide="ignore", invalid="ignore"):  # rates of 0: no event
        return _follow(X, t, C, beta, b, codes.copy(), t_p, beta_p, x_from, x_to, max_steps)


def _follow(X, t, C, beta, b, codes, t_p, beta_p, x_from, x_to, max_steps) -> Followed | None:
    beta = np.where(codes == BOUND, C * t, np.where(codes == OFF, 0.0, beta))
    state = _State(X, t, C, beta, float(b), codes, beta @ X + beta_p * x_from)
    steps = 0
    tau = 0.0  # stage 1: x_p from x_from to x_to, β_p held
    du_w = beta_p * (x_to - x_from)
    while tau < 1.0 and beta_p != 0.0:
        found = state.piece(du_w, 0.0, 1.0 - tau) if steps < max_steps else None
        if found is None:
            return None
        rate, dw, slope, lam, row = found
        state.move(rate, dw, slope, lam)
        state.switch(row)
        tau = 1.0 if row < 0 else tau + lam
        steps += 1
    a = t_p * beta_p  # stage 2: α_p toward the candidate's condition, x_p = x_to
    while True:
        m_p = t_p * (x_to @ state.w + state.b)
        up = m_p < 1.0 and a < C
        if not (up or (m_p > 1.0 and a > 0.0)):
            break
        sign = t_p if up else -t_p  # u = α·ỹ_p·(x_to, 1) moves by sign·(x_to, 1)
        length = C - a if up else a
        found = state.piece(sign * x_to, sign, length) if steps < max_steps else None
        if found is None:
            return None
        rate, dw, slope, lam, row = found
        slope_p = t_p * (x_to @ dw + rate[-1])  # m_p's rate
        if abs(slope_p) > _STILL / length and (1.0 - m_p) * slope_p >= 0.0:
            reach = (1.0 - m_p) / slope_p
            if reach <= lam:
                lam, row = reach, -2
        state.move(rate, dw, slope, lam)
        a = a + (lam if up else -lam)
        steps += 1
        if row == -1:  # α_p reached its bound first
            a = C if up else 0.0
            break
        if row == -2:
            break
        state.switch(row)
    return _settle(state, t_p, min(max(a, 0.0), C), x_to, steps)


def _settle(state: _State, t_p: float, a: float, x_p: np.ndarray, steps: int) -> Followed | None:
    """The end of the path solved from its sets alone and checked (module docstring)."""
    X, t, C, codes = state.X, state.t, state.C, state.codes
    free_p = _FREE * C < a < C - _FREE * C
    code_p = MARGIN if free_p else (BOUND if a >= 0.5 * C else OFF)
    beta = state.beta.copy()
    beta_p = t_p * (a if free_p else (C if code_p == BOUND else 0.0))
    S, B = state.S, np.flatnonzero(codes == BOUND)
    tilt = 0.0 if free_p else beta_p  # a candidate off S is part of the right-hand side
    q = beta[B] @ X[B] + tilt * x_p
    if free_p:
        A = np.vstack([X[S], x_p[None]])
        factor = _factor(A)
        labels = np.append(t[S], t_p)
    else:
        solved = state.system() if S.size else None
        if solved is None:
            return None
        A, factor = solved
        if np.isnan(factor[2]):  # made untested on the path: its rcond decides the LU's use
            factor = _factor(A)
        labels = t[S]
    if factor is None:
        return None
    lu, piv, rcond = factor
    sol, _ = dgetrs(lu, piv, np.append(labels - A @ q, -(beta[B].sum() + tilt)))
    alpha = labels * sol[:-1]
    if not np.any((alpha > _FREE * C) & (alpha < C - _FREE * C)):
        return None  # b not pinned: libsvm's middle of the interval (engine.dual)
    box = np.maximum(0.0, np.maximum(-alpha, alpha - C))
    solved_beta = labels * np.clip(alpha, 0.0, C)
    beta[S] = solved_beta[: S.size]
    if free_p:
        beta_p = float(solved_beta[-1])
    b = float(sol[-1])
    w = beta @ X + beta_p * x_p
    m = t * (X @ w + b)
    m_p = t_p * (x_p @ w + b)
    out = np.where(codes == OFF, np.maximum(0.0, 1.0 - m), np.maximum(0.0, m - 1.0))
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    norm_p = float(np.sqrt(x_p @ x_p))
    big = max(float(norms.max(initial=0.0)), norm_p)
    out[S] = np.abs(m[S] - 1.0) + big * big * box[: S.size]
    if free_p:
        miss_p = abs(m_p - 1.0) + big * big * float(box[-1])
    else:
        miss_p = max(0.0, 1.0 - m_p) if code_p == OFF else max(0.0, m_p - 1.0)
    rho = _EPS * (big * (float(np.abs(beta) @ norms) + abs(beta_p) * norm_p) + abs(b))
    allowed = max(_KKT_TOL, _ROUNDING * rho)
    if allowed > _WORST:  # f's rounding too large: dual.fit's refusal (ConvergenceError)
        return None
    if max(float(out.max(initial=0.0)), miss_p) > allowed:
        return None
    size = sol.size
    system = (
        MarginSystem(size, np.arange(size), np.zeros(size - 1), lu=(lu, piv))
        if rcond > _DIRECT
        else None
    )
    beta_all, codes_all = np.append(beta, beta_p), np.append(codes, code_p)
    return Followed(beta_all, b, codes_all, w, allowed, steps, system)


def margin_matrix_linear(X: np.ndarray, S: np.ndarray) -> np.ndarray:
    """:func:`~flexpoison.engine.margin.margin_matrix` for the linear kernel, from the
    rows themselves: K_SS = X_S X_Sᵀ."""
    A = X[S]
    return margin_matrix(A @ A.T, np.arange(S.size))


def margin_system(X: np.ndarray, S: np.ndarray) -> MarginSystem | None:
    """The factor of the margin rows' equalities (None: no margin row), the candidate
    (the last row of X) dropped first when singular."""
    if not S.size:
        return None
    last = np.flatnonzero(S == X.shape[0] - 1)
    return MarginSystem.factor(margin_matrix_linear(X, S), int(last[0]) if last.size else None)


__all__ = ["Followed", "follow", "margin_matrix_linear", "margin_system"]
