"""The margin support vectors' equality system of a kernel classifier, degenerate or not.

On the margin set S the KKT conditions of the dual (:mod:`flexpoison.engine.dual`) are
the equalities M·(β_S, b) = r, M = [[K_SS, 1], [1ᵀ, 0]] (one row per margin row, then
the row of Σ_j β_j = 0). M is singular when S is degenerate: duplicated rows, rows whose
feature-space images are affinely dependent (a linear kernel holding more than d + 1
rows on its margins, as integer-valued data does), or the candidate row placed on a
clean one. β_S is then not unique, but the decision function f is: for a positive
semi-definite kernel a null vector (v, v_b) of M has vᵀK_SS v = −v_b·1ᵀv = 0, so
Σ_j v_j φ(x_j) = 0 and v_b = 0 — it changes no f(z).

:class:`MarginSystem` works on the centred form M_c (K_SS double-centred,
:func:`centred`: the same equations, up to multiples of Σβ = 0 and a shift of b), whose
conditioning does not suffer from rows far from the origin. It keeps a maximal
independent subset B of the equations, chosen in an order of priority
(:func:`independent_rows`: Σβ = 0 first, the clean rows, the candidate row last), with
every β_S still an unknown, and solves it in the least-norm sense of the centred
coordinates:

    M_c,B⁺ e = Q·R⁻ᵀe (the least-norm δ with M_c,B δ = e),   (M_c,B⁺)ᵀ a = R⁻¹Qᵀa,

with M_c,Bᵀ = Q·R (thin QR), mapped back to M by the transformations of
:class:`MarginSystem`. When nothing is dropped M_c is square and invertible and both
are exact solves (an LU factor). A dropped equation is a linear combination of kept
ones, so where its right-hand side follows the same combination (duplicated clean
rows, an over-determined clean margin) every equation holds and the derivative of f
is the exact one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgWarning, lu_factor, lu_solve, qr, solve_triangular
from scipy.linalg.lapack import dgecon

#: an equation whose part independent of the kept ones is below this share of the
#: largest equation's norm is dependent (an exact dependence leaves ~1e-16 × its size,
#: after :func:`centred`). A near-dependence above it is solved as it is: at 1e-10, rows
#: that differ only in a feature 1e5 times smaller than another were taken for duplicates
RANK_RTOL = 1e-12


def margin_matrix(K: np.ndarray, S: np.ndarray) -> np.ndarray:
    """M = [[K_SS, 1], [1ᵀ, 0]] for the margin rows S."""
    s = S.size
    M = np.zeros((s + 1, s + 1))
    M[:s, :s] = K[np.ix_(S, S)]
    M[:s, s] = 1.0
    M[s, :s] = 1.0
    return M


def independent_rows(A: np.ndarray, order: np.ndarray, rtol: float = RANK_RTOL) -> np.ndarray:
    """A maximal set of linearly independent rows of A, taken greedily in ``order``:
    row i is kept when ‖(I − QQᵀ)a_i‖ > rtol·max_j ‖a_j‖, Q an orthonormal basis of
    the rows kept before it (classical Gram–Schmidt, applied twice for stability)."""
    norms = np.linalg.norm(A, axis=1)
    floor = rtol * float(norms.max(initial=0.0))
    Q = np.empty((min(A.shape), A.shape[1]))
    k = 0
    kept = []
    for i in order:
        v = np.array(A[i], dtype=float)
        for _ in range(2):
            v -= Q[:k].T @ (Q[:k] @ v)
        size = float(np.linalg.norm(v))
        if size > floor and k < Q.shape[0]:
            Q[k] = v / size
            k += 1
            kept.append(int(i))
    return np.sort(np.array(kept, dtype=int))


def centred(M: np.ndarray) -> np.ndarray:
    """M with K_SS double-centred, K_c = HKH (H = I − 11ᵀ/s): the same equations after
    subtracting from each a multiple of Σβ = 0 and moving a multiple of β into b, so the
    same ones depend on the others (Σβ = 0 is always kept). Its rank shows where M's
    does not: rows far from the origin share a large common part of K (a linear kernel
    on features near −500: K ~ 2.5e5) that LU's pivots cancel to 1e-13 of it, not 1e-16."""
    out = M.copy()
    K = M[:-1, :-1]
    if K.size:
        m = K.mean(axis=1)
        out[:-1, :-1] = K - m[:, None] - m[None, :] + m.mean()
    return out


def rank_tolerance(M: np.ndarray, Mc: np.ndarray) -> float:
    """The share of M_c's size below which a part of it is rounding: :data:`RANK_RTOL`,
    or, when K carries a common part that centring removed, the rounding K's entries
    brought, 100ε·max|K| relative to max|K_c| (features near 300: K ~ 1e5 around a
    centred part ~ 10 holds only 1e-11 of it)."""
    big = float(np.abs(M[:-1, :-1]).max(initial=0.0))
    small = float(np.abs(Mc).max(initial=0.0))
    if small == 0.0:
        return RANK_RTOL
    return max(RANK_RTOL, 100.0 * float(np.finfo(float).eps) * big / small)


def nonsingular(M: np.ndarray, lu: tuple, rtol: float = RANK_RTOL) -> bool:
    """Whether M (factored as ``lu``) is far from singular: LAPACK's estimate of its
    reciprocal condition number (gecon, 1-norm) exceeds ``rtol``. LU's pivots alone do
    not show it: a margin set one row past a linear kernel's rank left none below
    1e-12 of the largest."""
    anorm = float(np.abs(M).sum(axis=0).max(initial=0.0))
    if not np.all(np.isfinite(lu[0])) or anorm == 0.0:
        return False
    rcond, info = dgecon(lu[0], anorm, norm="1")
    return bool(info == 0 and rcond > rtol)


@dataclass(frozen=True)
class MarginSystem:
    """The kept equations B of M (module docstring), solved in centred form: with m =
    K_SS·1/s, μ = mean(m), K = K_c + 1mᵀ + m1ᵀ − μ11ᵀ, M = P⁻¹·M_c·Q⁻¹ where

        P·e = (e_S − m·e_Σ, e_Σ),      Q·(β, b') = (β, b' − (m − μ1)ᵀβ)

    (:func:`centred`). So M δ = e is δ = Q·M_c⁻¹·P·e and the adjoint is Pᵀ·M_c⁻ᵀ·Qᵀ; with
    equations dropped, M_c⁻¹ is M_c,B⁺ (least-norm in the centred coordinates) and
    Q·M_c,B⁺·P is a generalised inverse of M_B. ``lu`` factors M_c when B is every
    equation, else ``q``, ``r`` are the thin QR of M_c,Bᵀ. ``rows`` index M's rows (the
    last one, ``size − 1``, is Σβ = 0)."""

    size: int
    rows: np.ndarray
    mean: np.ndarray
    lu: tuple | None = None
    q: np.ndarray | None = None
    r: np.ndarray | None = None

    @classmethod
    def factor(cls, M: np.ndarray, candidate: int | None = None) -> MarginSystem:
        """M's system; ``candidate``: the row of M (< size − 1) whose equation is
        dropped first when M is singular (the poison row's)."""
        size = M.shape[0]
        Mc = centred(M)
        mean = M[:-1, :-1].mean(axis=1) if size > 1 else np.zeros(0)
        rtol = rank_tolerance(M, Mc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)  # singular: the case below
            lu = lu_factor(Mc, check_finite=False)
        if nonsingular(Mc, lu, rtol):
            return cls(size, np.arange(size), mean, lu=lu)
        order = [size - 1] + [i for i in range(size - 1) if i != candidate]
        if candidate is not None:
            order.append(candidate)
        rows = independent_rows(Mc, np.array(order), rtol)
        q, r = qr(Mc[rows].T, mode="economic", check_finite=False)
        return cls(size, rows, mean, q=q, r=r)

    @property
    def degenerate(self) -> bool:
        """Whether equations were dropped (M singular)."""
        return self.rows.size < self.size

    def _centred_solve(self, e: np.ndarray, trans: bool) -> np.ndarray:
        """M_c⁻¹e (M_c⁻ᵀe with ``trans``), or M_c,B⁺ / its transpose spread over M's rows."""
        if self.lu is not None:
            return lu_solve(self.lu, e, trans=int(trans), check_finite=False)
        assert self.q is not None and self.r is not None
        if trans:
            u = np.zeros(self.size)
            u[self.rows] = solve_triangular(self.r, self.q.T @ e, check_finite=False)
            return u
        return self.q @ solve_triangular(self.r, e[self.rows], trans="T", check_finite=False)

    def solve(self, e: np.ndarray) -> np.ndarray:
        """δ = Q·M_c,B⁺·P·e: M_B δ = e_B (e has one entry per row of M)."""
        m = self.mean
        pe = np.append(e[:-1] - m * e[-1], e[-1])
        x = self._centred_solve(pe, False)
        x[-1] -= (m - (m.mean() if m.size else 0.0)) @ x[:-1]
        return x

    def adjoint(self, a: np.ndarray) -> np.ndarray:
        """Pᵀ·(M_c,B⁺)ᵀ·Qᵀ·a, zero on the dropped rows: the u with uᵀe = aᵀ·solve(e) for
        every e."""
        m = self.mean
        qa = np.append(a[:-1] - (m - (m.mean() if m.size else 0.0)) * a[-1], a[-1])
        u = self._centred_solve(qa, True)
        u[-1] -= m @ u[:-1]
        return u


__all__ = [
    "RANK_RTOL",
    "MarginSystem",
    "centred",
    "independent_rows",
    "margin_matrix",
    "nonsingular",
    "rank_tolerance",
]
