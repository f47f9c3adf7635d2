"""How close can ANY m-row poison that passes the loss filter bring a ridge model to θ_t?

Issue 24's one loss-filter miss is the integer-feature ridge case under the clean
calibration (the evading attack kept 0.067 of the unconstrained α = 0 change after
the filter before its regressors' edge set, 0.146 with it; the best unconstrained α
0.41). For the judged ridge cases this computes
the least E_I = ‖θ_p − θ_t‖² that any m poison rows kept by the clean-calibrated loss
filter can give the poisoned model θ_p — the model the filter itself fits on all rows.

Derivation. scikit-learn's Ridge minimises Σᵢ(x̃ᵢᵀθ − yᵢ)² + a‖w‖², θ = (w, b),
x̃ = (x, 1), the intercept not penalised. With clean rows (X̃, y), poison rows
(x̃_j, y_j) and their residuals r_j = x̃_jᵀθ_p − y_j, the optimum's gradient is zero:

    2(Aθ_p − X̃ᵀy) + 2 Σ_j r_j x̃_j = 0,   A = X̃ᵀX̃ + a·diag(1, …, 1, 0),

so, exactly, θ_p = θ₀ − A⁻¹u with θ₀ = A⁻¹X̃ᵀy the clean model and u = Σ_j r_j x̃_j.
The filter keeps row j iff r_j² ≤ τ. The attacker picks y_j, so r_j is any number in
[−√τ, √τ], and x_j any point of the attack's box B (for integer features, the
integer points: their hull is B with its bounds rounded inwards). Each term r_j x̃_j
lies in √τ·S, S = conv{±(x, 1) : x ∈ B}, and the m-fold Minkowski sum of a convex set
is m times it, so

    u ∈ M·S,  M = m√τ,  M·S = {(p − q, s_p − s_q) : s_p·l ≤ p ≤ s_p·h,
                                 s_q·l ≤ q ≤ s_q·h, s_p, s_q ≥ 0, s_p + s_q ≤ M}

(B = [l, h]; a point of S is λ(p', 1) − (1 − λ)(q', 1), p', q' ∈ B). The bound is the
convex QP in (p, q, s_p, s_q)

    E* = min ‖θ₀ − A⁻¹u − θ_t‖²  over u ∈ M·S,

solved here with SLSQP and certified by its Frank–Wolfe gap: f is convex, so
min f ≥ f(û) + min_{u ∈ M·S} ∇f(û)ᵀ(u − û), and the linear minimum over M·S is
M·min(σ(g), σ(−g)), σ(g) = Σᵢ min(gᵢlᵢ, gᵢhᵢ) + g_b (the best box vertex). The bound
reported is that certified lower value; any loss-evading attack's θ_p has E ≥ it.

What it does NOT cover: (1) the owner's refit. The filter also removes the clean rows
that θ_p misfits, and the model refitted on the kept rows can be nearer θ_t than θ_p
(the unconstrained attack's 0.41 after the filter comes entirely from that: the filter
removes all its poison rows). (2) The responses y_j are free here; the attack keeps
them in the data's range, so the bound is looser than the attack's space needs.

"found" below are attacks, not bounds: m rows at the box's vertices (integer points)
with residuals ±0.995√τ·(1, ½) and y_j = x̃_jᵀθ_p − r_j (θ_p is then exact, from the
formula above), from the best single vertex and improved by a greedy search over the
rows (one row's vertex and residual at a time) on E after the filter; finally judged
with the library's loss filter and a scikit-learn refit.

Run::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bound_loss.py
"""

from __future__ import annotations

import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).parent))
from bench_evade import RATE, _attack, cases  # noqa: E402
from flexpoison.attack.result import kept_share  # noqa: E402
from flexpoison.defences import screen  # noqa: E402

#: The residual the found attacks give their rows, as a share of √τ.
SHRINK = 0.995


def clean_system(X: np.ndarray, a: float) -> np.ndarray:
    """A = X̃ᵀX̃ + a·diag(1, …, 1, 0), ridge's Hessian / 2 (intercept unpenalised)."""
    Xt = np.c_[X, np.ones(len(X))]
    return Xt.T @ Xt + a * np.diag(np.r_[np.ones(X.shape[1]), 0.0])


def support(g: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """σ(g) = min over x ∈ [lower, upper] of gᵀ(x, 1) = Σᵢ min(gᵢlᵢ, gᵢhᵢ) + g_b."""
    return float(np.minimum(g[:-1] * lower, g[:-1] * upper).sum() + g[-1])


def bound(A, theta0, theta_t, lower, upper, M) -> dict:
    """min ‖θ₀ − A⁻¹u − θ_t‖² over u ∈ M·S (module docstring): the best u found, its θ
    and value, and the certified lower value (value − Frank–Wolfe gap)."""
    d = lower.size
    Ainv = np.linalg.inv(A)

    def unpack(z):
        p, q, sp, sq = z[:d], z[d : 2 * d], z[2 * d], z[2 * d + 1]
        return np.r_[p - q, sp - sq]

    def f(z):
        r = theta0 - Ainv @ unpack(z) - theta_t
        g = -2 * Ainv.T @ r  # ∂f/∂u
        return float(r @ r), np.r_[g[:d], -g[:d], g[d], -g[d]]

    eye = np.eye(d)
    rows = [  # p − s_p l ≥ 0, s_p h − p ≥ 0, the same for q, M − s_p − s_q ≥ 0
        np.c_[eye, np.zeros((d, d)), -lower[:, None], np.zeros((d, 1))],
        np.c_[-eye, np.zeros((d, d)), upper[:, None], np.zeros((d, 1))],
        np.c_[np.zeros((d, d)), eye, np.zeros((d, 1)), -lower[:, None]],
        np.c_[np.zeros((d, d)), -eye, np.zeros((d, 1)), upper[:, None]],
    ]
    G = np.vstack(rows + [np.r_[np.zeros(2 * d), -1.0, -1.0][None]])
    h = np.r_[np.zeros(4 * d), M]
    res = minimize(
        f,
        np.zeros(2 * d + 2),
        jac=True,
        method="SLSQP",
        bounds=[(None, None)] * (2 * d) + [(0, None)] * 2,
        constraints=[{"type": "ineq", "fun": lambda z: G @ z + h, "jac": lambda z: G}],
        options={"ftol": 1e-15, "maxiter": 5000},
    )
    u = unpack(res.x)
    value, _ = f(res.x)
    g = -2 * Ainv.T @ (theta0 - Ainv @ u - theta_t)
    gap = float(g @ u - M * min(support(g, lower, upper), support(-g, lower, upper)))
    parts = {"p": res.x[:d], "q": res.x[d : 2 * d], "s_p": res.x[2 * d], "s_q": res.x[2 * d + 1]}
    return {
        "u": u,
        "theta": theta0 - Ainv @ u,
        "value": value,
        "lower": value - gap,
        "gap": gap,
    } | parts


class Judge:
    """E of θ_p and of the owner's refit after the clean-calibrated loss filter, for
    poison rows given by (x_j, r_j), by the normal equations (fast; the final answer is
    checked with scikit-learn and the library's filter)."""

    def __init__(self, X, y, a, tau, theta_t):
        self.X, self.y, self.a, self.tau, self.theta_t = X, y, a, tau, theta_t
        self.A = clean_system(X, a)
        self.theta0 = np.linalg.solve(self.A, np.c_[X, np.ones(len(X))].T @ y)

    def rows(self, Xp, rp):
        """y_j = x̃_jᵀθ_p − r_j, θ_p = θ₀ − A⁻¹Σ r_j x̃_j."""
        Xp1 = np.c_[Xp, np.ones(len(Xp))]
        theta = self.theta0 - np.linalg.solve(self.A, Xp1.T @ rp)
        return Xp1 @ theta - rp

    def __call__(self, Xp, rp):
        """(E(θ_p), E after the filter, poison rows removed, rows removed)."""
        Xa, ya = np.vstack([self.X, Xp]), np.r_[self.y, self.rows(Xp, rp)]
        Xa1 = np.c_[Xa, np.ones(len(Xa))]
        theta = np.linalg.solve(clean_system(Xa, self.a), Xa1.T @ ya)
        kept = (Xa1 @ theta - ya) ** 2 <= self.tau
        refit = np.linalg.solve(clean_system(Xa[kept], self.a), Xa1[kept].T @ ya[kept])
        n = len(self.X)
        return (
            float(np.sum((theta - self.theta_t) ** 2)),
            float(np.sum((refit - self.theta_t) ** 2)),
            int(np.count_nonzero(~kept[n:])),
            int(np.count_nonzero(~kept)),
        )


def found_attack(judge: Judge, V: np.ndarray, m: int, sweeps: int = 6):
    """The best m rows found on E after the filter (module docstring): each vertex
    with all m rows, then greedy one-row changes. Returns (X_poison, residuals)."""
    s = SHRINK * np.sqrt(judge.tau)
    levels = (s, -s, s / 2, -s / 2)

    def score(Xp, rp):
        _, after, removed, _ = judge(Xp, rp)
        return after if removed == 0 else np.inf

    start = min(
        ((np.tile(v, (m, 1)), np.full(m, r)) for v in V for r in levels),
        key=lambda c: score(*c),
    )
    Xp, rp = start
    best = score(Xp, rp)
    for _ in range(sweeps):
        improved = False
        for j, v, r in itertools.product(range(m), V, levels):
            X2, r2 = Xp.copy(), rp.copy()
            X2[j], r2[j] = v, r
            value = score(X2, r2)
            if value < best - 1e-12:
                Xp, rp, best, improved = X2, r2, value, True
        if not improved:
            break
    return Xp, rp


def sampled(judge: Judge, make, lower, upper, m: int, low: float, n: int = 300) -> str:
    """The derivation checked on random attacks: m rows at random box points with random
    residuals in ±√τ, their responses from θ_p = θ₀ − A⁻¹Σ r_j x̃_j; a scikit-learn refit
    must give those residuals (so the filter keeps the rows) and E ≥ the bound."""
    rng = np.random.default_rng(0)
    worst, below = 0.0, 0
    for _ in range(n):
        Xp = lower + rng.random((m, lower.size)) * (upper - lower)
        rp = rng.uniform(-1.0, 1.0, m) * np.sqrt(judge.tau)
        model = make().fit(np.vstack([judge.X, Xp]), np.r_[judge.y, judge.rows(Xp, rp)])
        worst = max(worst, float(np.max(np.abs(model.predict(Xp) - judge.rows(Xp, rp) - rp))))
        E = float(np.sum((np.r_[model.coef_, model.intercept_] - judge.theta_t) ** 2))
        below += E < low
    return (
        f"{n} random kept attacks: {below} below the bound; residuals match sklearn to {worst:.1e}"
    )


def run(name: str) -> None:
    load, make, goal, extra = cases()[name]
    X, y = load()
    X = np.asarray(X, dtype=float)
    a = float(make().get_params()["alpha"])
    setup = _attack(make, goal, 0.0, ["loss"], "clean", **extra)._setup(X, y, None)
    theta_t = np.asarray(setup.objective.theta_reference, dtype=float)
    m = int(np.ceil(RATE * len(X)))
    tau = float(
        screen(
            "loss", X, y, X_clean=X, y_clean=y, task="regression", estimator=make()
        ).threshold.max()
    )
    judge = Judge(X, y, a, tau, theta_t)
    E_clean = float(np.sum((judge.theta0 - theta_t) ** 2))
    free = _attack(make, goal, 0.0, **extra).generate(X, y)
    evading = _attack(make, goal, 0.0, ["loss"], "clean", **extra).generate(X, y)
    E_a0 = float(free.effect_final)

    def share(E):
        return kept_share(E, E_clean, E_a0)

    print(f"== {name}: n={len(X)} m={m} τ={tau:.4g} M=m√τ={m * np.sqrt(tau):.4g}")
    print(f"   E_clean={E_clean:.5g}  E of the unconstrained α=0 attack (no filter)={E_a0:.5g}")
    after = evading.screenings[0]
    print(
        f"   evading attack (evade=['loss']): θ_p E={evading.effect_final:.5g} "
        f"kept {share(evading.effect_final):.3f}; after the filter E={after.effect:.5g} "
        f"kept {share(after.effect):.3f} ({after.poison_removed} poison removed)"
    )
    lo, hi = setup.box.lower, setup.box.upper
    boxes = {"box": (lo, hi)}
    if extra.get("integer_features"):
        boxes = {"integer points of the box": (np.ceil(lo), np.floor(hi)), "real box": (lo, hi)}
    for label, (bl, bh) in boxes.items():
        started = time.perf_counter()
        out = bound(judge.A, judge.theta0, theta_t, bl, bh, m * np.sqrt(tau))
        print(
            f"   bound, {label}: E(θ_p) ≥ {out['lower']:.5g} (QP value {out['value']:.5g}, "
            f"gap {out['gap']:.1e}, {time.perf_counter() - started:.2f} s): "
            f"kept ≤ {share(out['lower']):.3f}"
        )
        for part, r in (("p", "s_p"), ("q", "s_q")):  # the optimum's rows, in units of √τ
            if out[r] > 1e-6 * np.sqrt(tau):
                point = np.round(out[part] / out[r], 3)
                sign = "+" if part == "p" else "−"
                print(f"     optimum: {out[r] / np.sqrt(tau):.3f}·√τ of residual {sign} at {point}")
    bl, bh = next(iter(boxes.values()))
    low = bound(judge.A, judge.theta0, theta_t, bl, bh, m * np.sqrt(tau))["lower"]
    print(f"   check: {sampled(judge, make, bl, bh, m, low)}")
    if bl.size > 6:
        return  # 2^d vertices: the search below is for the small integer case
    V = np.array(list(itertools.product(*zip(bl, bh, strict=True))), dtype=float)
    started = time.perf_counter()
    Xp, rp = found_attack(judge, V, m)
    yp = judge.rows(Xp, rp)
    X_all, y_all = np.vstack([X, Xp]), np.r_[y, yp]
    model = make().fit(X_all, y_all)
    E_p = float(np.sum((np.r_[model.coef_, model.intercept_] - theta_t) ** 2))
    s = screen("loss", X_all, y_all, X_clean=X, y_clean=y, task="regression", estimator=make())
    kept = np.asarray(s.kept)
    refit = make().fit(X_all[kept], y_all[kept])
    E_after = float(np.sum((np.r_[refit.coef_, refit.intercept_] - theta_t) ** 2))
    print(
        f"   found attack ({time.perf_counter() - started:.1f} s; rows at "
        f"{len(np.unique(Xp, axis=0))} vertices, y in [{yp.min():.3g}, {yp.max():.3g}], "
        f"data's y in [{y.min():.3g}, {y.max():.3g}]): θ_p E={E_p:.5g} kept {share(E_p):.3f}; "
        f"the filter removes {len(X_all) - kept.size} rows, "
        f"{m - int(np.count_nonzero(kept >= len(X)))} poison; after it E={E_after:.5g} "
        f"kept {share(E_after):.3f}"
    )


def main() -> None:
    warnings.simplefilter("ignore")
    for name in ("integers-duplicates-ridge", "diabetes-ridge-flip-top"):
        run(name)


if __name__ == "__main__":
    main()
