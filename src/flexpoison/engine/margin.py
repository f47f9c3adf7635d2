"""The margin support vectors' equality system of a kernel classifier, degenerate or not.

On the margin set S the KKT conditions of the dual (:mod:`flexpoison.engine.dual`) are
the equalities M·(β_S, b) = r, M = [[K_SS, 1], [1ᵀ, 0]] (one row per margin row, then
the row of Σ_j β_j = 0). M is singular when S is degenerate: duplicated rows, rows whose
feature-space images are affinely dependent (a linear kernel holding more than d + 1
rows on its margins, as integer-valued data does), or the candidate row placed on a
clean one. β_S is then not unique, but the decision function f is: for a positive
semi-definite kernel a null vector (v, v_b) of M has vᵀK_SS v = −v_b·1ᵀv = 0, so
Σ_j v_j φ(x_j) = 0 and v_b = 0 — it changes no f(z).

:class:`MarginSystem` keeps a maximal independent subset B of the equations, chosen in
an order of priority (:func:`independent_rows`: Σβ = 0 first, the clean rows, the
candidate row last), with every β_S still an unknown, and solves it in the minimum-norm
sense:

    solve(e)   = M_B⁺ e = Q·R⁻ᵀe         (the least-norm δ with M_B δ = e),
    adjoint(a) = (M_B⁺)ᵀ a = R⁻¹Qᵀa,

with M_Bᵀ = Q·R (thin QR). When nothing is dropped M_B = M is square and invertible
and both are exact solves (an LU factor). A dropped equation is a linear combination
of kept ones, so where its right-hand side follows the same combination (duplicated
clean rows, an over-determined clean margin) every equation holds and the derivative
of f is the exact one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgWarning, lu_factor, lu_solve, qr, solve_triangular

#: an equation whose part independent of the kept ones is below this share of the
#: largest equation's norm is dependent (an exact dependence leaves ~1e-16 × its size).
#: A near-dependence above it is solved as it is: at 1e-10, rows that differ only in a
#: feature 1e5 times smaller than another were taken for duplicates of each other
RANK_RTOL = 1e-13


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


def nonsingular(lu: tuple, rtol: float = RANK_RTOL) -> bool:
    """Whether an LU factor (partial pivoting) has every |U_kk| above rtol·max|U_kk|: an
    exactly dependent row leaves a pivot of rounding size."""
    d = np.abs(np.diag(lu[0]))
    return bool(d.size == 0 or (np.all(np.isfinite(d)) and d.min() > rtol * d.max()))


@dataclass(frozen=True)
class MarginSystem:
    """The kept equations B of M (module docstring) and their factor: ``lu`` when B is
    every equation, else ``q``, ``r`` of M_Bᵀ = Q·R. ``rows`` index M's rows (the last
    one, ``size − 1``, is Σβ = 0)."""

    size: int
    rows: np.ndarray
    lu: tuple | None = None
    q: np.ndarray | None = None
    r: np.ndarray | None = None

    @classmethod
    def factor(cls, M: np.ndarray, candidate: int | None = None) -> MarginSystem:
        """M's system; ``candidate``: the row of M (< size − 1) whose equation is
        dropped first when M is singular (the poison row's)."""
        size = M.shape[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)  # singular: the case below
            lu = lu_factor(M, check_finite=False)
        if nonsingular(lu):
            return cls(size, np.arange(size), lu=lu)
        order = [size - 1] + [i for i in range(size - 1) if i != candidate]
        if candidate is not None:
            order.append(candidate)
        rows = independent_rows(M, np.array(order))
        q, r = qr(M[rows].T, mode="economic", check_finite=False)
        return cls(size, rows, q=q, r=r)

    @property
    def degenerate(self) -> bool:
        """Whether equations were dropped (M singular)."""
        return self.rows.size < self.size

    def solve(self, e: np.ndarray) -> np.ndarray:
        """The least-norm δ with M_B δ = e_B (e has one entry per row of M)."""
        if self.lu is not None:
            return lu_solve(self.lu, e, check_finite=False)
        assert self.q is not None and self.r is not None
        y = solve_triangular(self.r, e[self.rows], trans="T", check_finite=False)
        return self.q @ y

    def adjoint(self, a: np.ndarray) -> np.ndarray:
        """(M_B⁺)ᵀa spread over M's rows (zero on the dropped ones): the u with
        uᵀe = aᵀ·solve(e) for every e."""
        if self.lu is not None:
            return lu_solve(self.lu, a, trans=1, check_finite=False)
        assert self.q is not None and self.r is not None
        u = np.zeros(self.size)
        u[self.rows] = solve_triangular(self.r, self.q.T @ a, check_finite=False)
        return u


__all__ = ["RANK_RTOL", "MarginSystem", "independent_rows", "margin_matrix", "nonsingular"]
