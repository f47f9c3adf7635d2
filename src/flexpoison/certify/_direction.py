"""The direction in which the bound is best near θ_t: a cutting-plane search for the
first-order limit of A/B (a source of witnesses θ for :func:`._certificate.search`).

Along a ray θ = θ_t + η·v, A (concave, 0 at θ_t up to :data:`._bound.PRECISION`) and B
(convex, 0 at θ_t: every feasible row's gap vanishes there) give A/B non-increasing
in η, so the best bound lies as η → 0, where it tends to

    r(v) = g·v / h(v),   g = −∇G(θ_t),   h(v) = max over feasible (x, y) of c(x, y)·v,
    c(x, y) = ∇_θ ℓ(θ_t; x, y) + b·∇R(θ_t)

(a smooth loss; a subgradient otherwise). sup_v r(v) is a linear programme in v,
max g·v subject to c·v ≤ 1 for every feasible row, solved here by cutting planes
(Kelley's, steadied by querying halfway between the programme's solution and the
best v so far): the rows of the clean data projected into the box, with every label
or the range's ends, give the first cuts; each round adds the feasible row of the
largest gap at θ_t + η·v (the certificate's own inner maximum, for a small η) and
solves again, until the programme's value and the best r found agree to 1 %.

Nothing here is trusted: the direction only proposes θ's, and the bound is what
:meth:`._bound.Problem.at` proves at each (``search`` keeps the best of them and of
its own scan and ascent). Its dual, min Σλ subject to Σλ_j c_j = g, λ ≥ 0, reads:
the fewest (fractional) feasible rows whose gradients at θ_t cancel the clean
objective's, which an attack that makes θ_t the optimum must supply.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from ._bound import Problem

#: Rounds of cuts at most, and the relative gap between the programme's value and
#: r(v) at which they stop.
MAX_ROUNDS = 150
GAP = 1e-2
#: The pricing step η, relative to ‖θ₀ − θ_t‖: small enough that the gap at
#: θ_t + η·v is its first-order term.
PRICING_STEP = 1e-5


def columns(problem: Problem, X: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """c(x, y) = ∇_θ ℓ(θ_t; x, y) + b·∇R(θ_t) of each row of X with each target, one
    row per (x, y)."""
    theta_t = problem.theta_target
    _, dR = problem.penalty(theta_t)
    out = []
    for t in targets:
        for x in X:
            row = x[None]
            Z = problem.model(theta_t).scores(row)
            out.append(problem._row_gradient(Z, np.array([t]), row))
    return np.array(out) + problem.scaling.b * dR


def _norm(v: np.ndarray) -> float:
    return float(np.linalg.norm(v))


def _solve(g: np.ndarray, cuts: np.ndarray, limit: float) -> np.ndarray | None:
    """argmax g·v subject to cuts·v ≤ 1 and |v| ≤ limit (None if not solved)."""
    solved = linprog(-g, A_ub=cuts, b_ub=np.ones(len(cuts)), bounds=(-limit, limit), method="highs")
    return solved.x if solved.status == 0 else None


def direction(
    problem: Problem, theta_clean: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray | None:
    """The v of the best first-order bound found (module docstring), scaled to
    ‖θ₀ − θ_t‖; None where there is none (θ₀ = θ_t, g = 0, or no programme solved).
    ``start``: a direction to begin from (the best θ − θ_t found so far), which the
    queries are drawn toward from the first round."""
    theta_t = problem.theta_target
    span = float(np.linalg.norm(theta_clean - theta_t))
    _, dG = problem.clean(theta_t)
    g = -dG
    if span == 0.0 or not np.any(g):
        return None
    seeds = columns(problem, np.clip(problem.X, problem.lo, problem.hi), problem.targets)
    limit = 1e6 * span / float(np.linalg.norm(g))  # keeps every programme bounded
    solved = _solve(g, seeds, limit)
    if solved is None:
        return None
    # the seeds that hold the first solution, then the cuts: small programmes
    active = seeds[seeds @ solved >= 1.0 - 1e-6]
    cuts = list(active if len(active) else seeds)
    best, best_ratio = None, 0.0
    if start is not None and float(g @ start) > 0:
        found = problem.inner(theta_t + (PRICING_STEP * span / _norm(start)) * start)
        cut = columns(problem, found.x[None], np.array([found.target]))[0]
        h = float(cut @ start)
        if h > 0:
            best, best_ratio = start, float(g @ start) / h
            cuts.append(cut)
    for _ in range(MAX_ROUNDS):
        v = _solve(g, np.array(cuts), limit)
        if v is None:
            break
        value = float(g @ v)  # ≥ r(v) for every v: the cuts relax the feasible rows
        if best is not None and value - best_ratio <= GAP * value:
            break
        # in-out: query halfway to the best so far (scaled to the same g·v), which
        # steadies Kelley's zigzag; its cut is as valid as any
        query = v if best is None else 0.5 * (v + best * (value / float(g @ best)))
        norm = float(np.linalg.norm(query))
        if norm == 0.0:
            break
        found = problem.inner(theta_t + (PRICING_STEP * span / norm) * query)
        cut = columns(problem, found.x[None], np.array([found.target]))[0]
        h = float(cut @ query)
        if h <= 0:  # no feasible row gains along it: θ_t may be out of reach that way
            return query * (span / norm)
        ratio = float(g @ query) / h
        if ratio > best_ratio:
            best, best_ratio = query, ratio
        cuts.append(cut)
    if best is None:
        return None
    return best * (span / float(np.linalg.norm(best)))


__all__ = ["direction", "columns"]
