"""The direction in which the bound is best near θ_t: a cutting-plane search for the
first-order limit of A/B (a source of witnesses θ for :func:`._certificate.search`).

Along a ray θ = θ_t + η·v, A (concave, 0 at θ_t up to :data:`._bound.PRECISION`) and B
(convex, 0 at θ_t: every feasible row's gap vanishes there) give A/B non-increasing
in η, so the best bound lies as η → 0, where it tends to

    r(v) = g·v / h(v),   g = −∇G(θ_t),   h(v) = max over feasible (x, y) of c(x, y)·v,
    c(x, y) = ∇_θ ℓ(θ_t; x, y) + b·∇R(θ_t)

(a smooth loss; a subgradient otherwise). h is convex and positively homogeneous, so
sup_v r(v) = 1 / min {h(v) : g·v = 1}: a convex, piecewise-linear minimisation, whose
model from the rows seen so far, ĥ(v) = max_j c_j·v ≤ h(v), is a linear programme.
It is solved by a level bundle method (Lemaréchal, Nemirovskii and Nesterov, 1995):

* the model's minimum h_low = 1/U, U = max g·v subject to c_j·v ≤ 1 (Kelley's
  programme), bounds h from below, so U ≥ sup r;
* the best v found, v_best with h_best = h(v_best), bounds it from above;
* the next query is v_best projected (Euclidean) onto the model's level set
  {v : g·v = 1, c_j·v ≤ h_low + ½·(h_best − h_low)} — a least-distance programme,
  solved as a non-negative least-squares problem (Lawson and Hanson's LDP): it moves
  no farther than the model says it must, where Kelley's next point jumps to a vertex
  of the model far from anything evaluated;
* its cut is the feasible row of the largest gap at θ_t + η·v (the certificate's own
  inner maximum, for a small η): h(v) = c*·v;

until U and 1/h_best agree to 0.1 %. The rows of the clean data projected into the box,
with every label or the range's ends, give the first cuts. On digits 1 vs 7 at the
model 140 rows reach (61 parameters) this takes 221 rounds to a 1 % gap where
Kelley's programme steadied by querying halfway to the best v took 648 (366 rounds to
0.1 %, 18 s).

Nothing here is trusted: the direction only proposes θ's, and the bound is what
:meth:`._bound.Problem.at` proves at each (``search`` keeps the best of them and of
its own scan and ascent). Its dual, min Σλ subject to Σλ_j c_j = g, λ ≥ 0, reads:
the fewest (fractional) feasible rows whose gradients at θ_t cancel the clean
objective's, which an attack that makes θ_t the optimum must supply.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog, nnls

from ._bound import Problem

#: Rounds of cuts at most, and the relative gap between the programme's value and
#: r(v) at which they stop.
MAX_ROUNDS = 600
GAP = 1e-3
#: Where the level lies between the model's minimum and the best h found (½: the
#: method's usual choice; 0.3 and 0.7 took 227 and 267 rounds on digits, ½ 221).
LEVEL = 0.5
#: Kelley's programme is solved again every this many rounds (its value U only falls
#: as cuts are added, so an older U is still an upper bound; a level set it leaves
#: empty makes it solve at once).
KELLEY_EVERY = 4
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


def level_query(
    best: np.ndarray, g: np.ndarray, cuts: np.ndarray, level: float
) -> np.ndarray | None:
    """The Euclidean projection of ``best`` onto {v : g·v = 1, cuts·v ≤ level} (None
    when the solver finds none). With v = best + x it is the least-distance programme
    min ‖x‖ subject to Gx ≥ f, G = (−cuts; g; −g), f = (cuts·best − level; 0; 0)
    (best has g·best = 1), solved through the non-negative least squares
    min ‖Eu − e‖ over u ≥ 0, E = (Gᵀ; fᵀ), e = (0, …, 0, 1): with its residual
    ρ = Eu − e, x = −ρ_{:n}/ρ_n (Lawson and Hanson, "Solving Least Squares Problems",
    ch. 23)."""
    n = g.size
    G = np.vstack([-cuts, g[None], -g[None]])
    f = np.concatenate([cuts @ best - level, [0.0, 0.0]])
    E = np.vstack([G.T, f[None]])
    e = np.zeros(n + 1)
    e[n] = 1.0
    try:
        u, _ = nnls(E, e, maxiter=50 * E.shape[1])
    except RuntimeError:  # no convergence within maxiter
        return None
    residual = E @ u - e
    if not abs(residual[n]) > 1e-12:  # the level set is empty (not for a valid level)
        return None
    return best - residual[:n] / residual[n]


def direction(
    problem: Problem, theta_clean: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray | None:
    """The v of the best first-order bound found (module docstring), scaled to
    ‖θ₀ − θ_t‖; None where there is none (θ₀ = θ_t, g = 0, or no programme solved).
    ``start``: a direction to begin from (the best θ − θ_t found so far), the level
    method's first v_best."""
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

    def cut_at(v: np.ndarray) -> np.ndarray:
        """The cut of the feasible row with the largest gap at θ_t + η·v."""
        found = problem.inner(theta_t + (PRICING_STEP * span / _norm(v)) * v)
        return columns(problem, found.x[None], np.array([found.target]))[0]

    best, h_best = None, np.inf  # v_best (g·v = 1) and h(v_best) = 1/r(v_best)
    if start is not None and float(g @ start) > 0:
        query = start / float(g @ start)
        cut = cut_at(query)
        if float(cut @ query) > 0:
            best, h_best = query, float(cut @ query)
            cuts.append(cut)
    v, value, age = None, 0.0, KELLEY_EVERY
    for _ in range(MAX_ROUNDS):
        if age >= KELLEY_EVERY:  # Kelley's programme: U, valid however many cuts follow
            v = _solve(g, np.array(cuts), limit)
            if v is None or not float(g @ v) > 0:
                break
            value, age = float(g @ v), 0  # U ≥ r(v) for every v: the cuts relax the rows
        age += 1
        if best is not None and value - 1.0 / h_best <= GAP * value:
            break
        level = (1.0 + LEVEL * (value * h_best - 1.0)) / value  # h_low + ½(h_best − h_low)
        projected = None if best is None else level_query(best, g, np.array(cuts), level)
        if projected is None and age > 1:  # an older U's level may lie below the model
            age = KELLEY_EVERY
            continue
        if projected is not None:
            query = projected
        else:  # the first round, or no projection: Kelley's point (solved this round)
            assert v is not None
            query = v / value
        cut = cut_at(query)
        h = float(cut @ query)
        if h <= 0:  # no feasible row gains along it: θ_t may be out of reach that way
            return query * (span / _norm(query))
        if h < h_best:
            best, h_best = query, h
        cuts.append(cut)
    if best is None:
        return None
    return best * (span / _norm(best))


__all__ = ["direction", "columns", "level_query"]
