"""The inner maximum of the certificate: a difference of convex functions of two scores
over a zonotope in the plane, with a proven upper bound.

For a linear model a feasible row x enters ℓ(θ; x, y) − ℓ(θ_t; x, y) only through two
numbers, a = α·x and c = γ·x (for one label or response). Over a box
lo ≤ x ≤ hi the reachable pairs (a, c) form a zonotope

    Z = p₀ + Σ_j λ_j g_j,   λ ∈ [0, 1]^G,   g_j = (hi_j − lo_j)·(α_j, γ_j),

a convex polygon with at most 2G vertices (:func:`boundary`). The objective is
h(a, c) = f₁(a) − f₂(c) with f₁, f₂ convex. For a fixed c, h is convex in a, so its
maximum over the slice {a : (a, c) ∈ Z} is at an end of the slice, on the boundary:
**the maximum over Z is the maximum over its 2G edges**.

On one edge, h(s) = f₁(a(s)) − f₂(c(s)) for s ∈ [0, 1] is a difference of convex
functions of s. On a sub-interval [l, r] with midpoint m, f₁ lies below its chord and
f₂ above its tangent at m (any subgradient gives one), so

    h(s) ≤ chord_f₁(s) − tangent_f₂(s),

a linear function of s whose maximum over [l, r] is at l or r
(:func:`maximize_edges`). Splitting the intervals whose bound exceeds the best value
found (branch and bound) closes the gap; the bound returned, the largest remaining
one, is a proven upper bound on max h (up to float64 rounding, which a relative
margin of 1e-12 absorbs), and the best value found a lower one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Relative rounding margin added to every upper bound (module docstring).
MARGIN = 1e-12


@dataclass(frozen=True)
class Boundary:
    """The edges of a zonotope p₀ + Σ λ_j g_j: edge e runs from ``start[e]`` (a point
    (a, c)) along ``step[e]``, and the point at s ∈ [0, 1] along it has the
    coefficients ``lam[e]`` with entry ``moving[e]`` replaced by
    ``lam[e, moving[e]] + s·sign[e]``."""

    start: np.ndarray  # (E, 2)
    step: np.ndarray  # (E, 2)
    lam: np.ndarray  # (E, G)
    moving: np.ndarray  # (E,) int
    sign: np.ndarray  # (E,) ±1

    def coefficients(self, edge: int, s: float) -> np.ndarray:
        """λ ∈ [0, 1]^G of the point at s along ``edge``."""
        lam = self.lam[edge].copy()
        if lam.size:
            lam[self.moving[edge]] += s * self.sign[edge]
        return np.clip(lam, 0.0, 1.0)


def boundary(origin: np.ndarray, generators: np.ndarray) -> Boundary:
    """The boundary of Z = ``origin`` + Σ_j λ_j g_j (``generators`` of shape (G, 2)),
    walked once around.

    Each g_j is first turned to point into the upper half plane (angle in [0, π)):
    g_j ↦ −g_j with λ_j ↦ 1 − λ_j moves the origin by g_j. With the turned generators
    sorted by angle, the vertices are v_k = v₀ + Σ_{i<k} g_(i) (k = 0…G) and then back,
    v_{G+k} = v_G − Σ_{i<k} g_(i): 2G edges, each along one generator. A zero
    generator leaves Z unchanged and gives no edge; with none left Z is the point
    ``origin`` (one edge of length 0)."""
    generators = np.asarray(generators, dtype=float)
    flip = (generators[:, 1] < 0) | ((generators[:, 1] == 0) & (generators[:, 0] < 0))
    turned = np.where(flip[:, None], -generators, generators)
    base_lam = flip.astype(float)  # λ at the first vertex, in the original coefficients
    v0 = origin + generators[flip].sum(axis=0)
    live = np.flatnonzero(np.any(turned != 0.0, axis=1))
    if live.size == 0:
        return Boundary(v0[None], np.zeros((1, 2)), base_lam[None], np.zeros(1, int), np.ones(1))
    order = live[np.argsort(np.arctan2(turned[live, 1], turned[live, 0]), kind="stable")]
    # moving along a turned generator raises λ' = λ (unflipped) or lowers λ (flipped)
    up = np.where(flip, -1.0, 1.0)
    starts, steps, lams, moving, signs = [], [], [], [], []
    point, lam = v0.copy(), base_lam.copy()
    for sense in (1.0, -1.0):
        for j in order:
            starts.append(point.copy())
            steps.append(sense * turned[j])
            lams.append(lam.copy())
            moving.append(j)
            signs.append(sense * up[j])
            point = point + sense * turned[j]
            lam[j] += sense * up[j]
    return Boundary(
        np.array(starts), np.array(steps), np.array(lams), np.array(moving), np.array(signs)
    )


Convex = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""f(v, k) → (f_k(v), f_k'(v)): a convex function (value and a subgradient) of the
problem k ∈ ``k`` at the points v, elementwise."""


@dataclass(frozen=True)
class EdgeMaximum:
    """The maximum of f₁(a) − f₂(c) over a set of edges, per problem: ``value`` the best
    value found, at edge ``edge`` and position ``s``; ``upper`` a proven upper bound."""

    value: np.ndarray
    upper: np.ndarray
    edge: np.ndarray
    s: np.ndarray


def maximize_edges(
    start: np.ndarray,
    step: np.ndarray,
    problem: np.ndarray,
    n_problems: int,
    f1: Convex,
    f2: Convex,
    rtol: float = 1e-9,
    max_rounds: int = 60,
    max_intervals: int = 100_000,
) -> EdgeMaximum:
    """max over s ∈ [0, 1] and the edges of each problem of
    h = f₁(a + s·da, k) − f₂(c + s·dc, k), edge e of problem k = ``problem[e]`` from
    ``start[e]`` = (a, c) along ``step[e]`` = (da, dc), by branch and bound on the
    chord–tangent bound (module docstring).

    Stops when every interval's bound is within rtol·(|best| + |f|) of its problem's
    best value (|f| the magnitude of the terms of the interval's bound), after
    ``max_rounds`` halvings, or before the open intervals exceed ``max_intervals``;
    the bound returned is valid either way (larger when stopped early)."""
    E = start.shape[0]
    edge = np.arange(E)
    lo, hi = np.zeros(E), np.ones(E)
    best = np.full(n_problems, -np.inf)
    best_edge = np.zeros(n_problems, dtype=int)
    best_s = np.zeros(n_problems)
    upper = np.full(n_problems, -np.inf)

    def h(e: np.ndarray, s: np.ndarray) -> np.ndarray:
        k = problem[e]
        a = start[e, 0] + s * step[e, 0]
        c = start[e, 1] + s * step[e, 1]
        return f1(a, k)[0] - f2(c, k)[0]

    def record(e: np.ndarray, s: np.ndarray) -> None:
        values = h(e, s)
        k = problem[e]
        order = np.argsort(values, kind="stable")  # the last write per problem wins
        e, s, values, k = e[order], s[order], values[order], k[order]
        better = values > best[k]
        best[k[better]] = values[better]  # with repeats, numpy keeps the last (largest)
        best_edge[k[better]] = e[better]
        best_s[k[better]] = s[better]

    record(edge, lo)
    record(edge, hi)
    f1_lo = f1(start[edge, 0], problem[edge])[0]
    f1_hi = f1(start[edge, 0] + step[edge, 0], problem[edge])[0]
    for _ in range(max_rounds + 1):
        k = problem[edge]
        mid = 0.5 * (lo + hi)
        c_mid = start[edge, 1] + mid * step[edge, 1]
        f2_mid, slope = f2(c_mid, k)
        slope = slope * step[edge, 1]  # d f₂ / ds
        bound_lo = f1_lo - f2_mid - slope * (lo - mid)
        bound_hi = f1_hi - f2_mid - slope * (hi - mid)
        bound = np.maximum(bound_lo, bound_hi)
        scale = np.abs(f1_lo) + np.abs(f1_hi) + np.abs(f2_mid) + np.abs(slope * (hi - lo))
        bound = bound + MARGIN * scale
        record(edge, mid)
        gap = rtol * (np.abs(best[k]) + scale)
        open_ = bound > best[k] + gap
        closed = ~open_
        np.maximum.at(upper, k[closed], np.maximum(bound[closed], best[k[closed]]))
        if not np.any(open_) or _ == max_rounds or 2 * np.count_nonzero(open_) > max_intervals:
            np.maximum.at(upper, k[open_], bound[open_])
            break
        edge, lo, hi, mid = edge[open_], lo[open_], hi[open_], mid[open_]
        f1_lo, f1_hi = f1_lo[open_], f1_hi[open_]
        f1_mid = f1(start[edge, 0] + mid * step[edge, 0], problem[edge])[0]
        edge = np.concatenate([edge, edge])
        lo, hi = np.concatenate([lo, mid]), np.concatenate([mid, hi])
        f1_lo, f1_hi = np.concatenate([f1_lo, f1_mid]), np.concatenate([f1_mid, f1_hi])
    upper = np.maximum(upper, best)
    return EdgeMaximum(best, upper, best_edge, best_s)


__all__ = ["MARGIN", "Boundary", "boundary", "EdgeMaximum", "maximize_edges"]
