"""How close can ANY m-row poison that passes the loss filter bring a ridge model to θ_t?

Issue 24's one loss-filter miss is the integer-feature ridge case under the clean
calibration. This computes, for ridge regression (scikit-learn's objective
Σ(x̃ᵢᵀθ − yᵢ)² + a‖w‖², θ = (w, b), x̃ = (x, 1), the intercept not penalised), the
least E_I = ‖θ_p − θ_t‖² that any m poison rows kept by the loss filter can give the
poisoned model θ_p — the model the filter itself fits on all rows.

Derivation. With clean rows (X̃, y), poison rows (x̃_j, y_j) and residuals
r_j = x̃_jᵀθ_p − y_j, the optimum's gradient is zero:

    2(Aθ_p − X̃ᵀy) + 2 Σ_j r_j x̃_j = 0,   A = X̃ᵀX̃ + a·diag(1, …, 1, 0),

so θ_p = θ₀ − A⁻¹u with θ₀ = A⁻¹X̃ᵀy the clean model and u = Σ_j r_j x̃_j. The loss
filter keeps row j iff r_j² ≤ τ (its residual under θ_p, the model it fits). Since
y_j is the attacker's, r_j can be any number in [−√τ, √τ] and x_j any point the
attack's box allows; each term r_j x̃_j then lies in √τ·S, S = conv{±(x, 1) : x in
the box} (conv of the integer points, for integer features: the box with its bounds
rounded inwards), and the m-fold Minkowski sum of a convex set is m times it:

    u ∈ M·S,  M = m√τ,   S = {Σ_k c_k (v_k, 1) : Σ_k |c_k| ≤ 1}, v_k the box's vertices.

Conversely every u ∈ M·S with integer-vertex coefficients of the form (count)·r is
reached, so the set of θ_p is (up to the rounding of counts to m rows, Shapley–Folkman)
exactly θ₀ − A⁻¹(M·S). The bound is the convex QP

    E* = min_{c}  ‖θ₀ − θ_t − A⁻¹ V̄ c‖²   s.t.  Σ_k |c_k| ≤ M,

V̄ the columns (v_k, 1). It is solved here (SLSQP on c = c⁺ − c⁻) and certified by
its Frank–Wolfe gap: f convex, so min f ≥ f(ĉ) + min_{c ∈ feasible} ∇f(ĉ)ᵀ(c − ĉ),
and the inner minimum is M·(−max_k |∇f_k|) (a vertex ±M e_k). The bound reported is
that certified lower value.

What it does NOT cover: the responses y_j are left free (the attack's own response
range is not imposed), and the owner's refit after the filter — the filter also
removes clean rows that θ_p misfits, and the model refitted on the kept rows can be
nearer θ_t or farther than θ_p. "Realised" below builds m rows from the maximiser
(integer box vertices, residuals ±0.995√τ, counts rounded), refits with scikit-learn
and screens them with the library's loss filter, so that number is an attack, not a
bound; it shows how much of the bound is reachable and what the filter's refit does.

Run::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bound_loss.py
"""

from __future__ import annotations

import itertools
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import Ridge

sys.path.insert(0, str(Path(__file__).parent))
from bench_evade import RATE, _attack, _integers  # noqa: E402

from flexpoison import Integrity  # noqa: E402
from flexpoison.attack.result import kept_share  # noqa: E402
from flexpoison.defences import screen  # noqa: E402


def clean_system(X: np.ndarray, y: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray]:
    """(A, θ₀): A = X̃ᵀX̃ + a·diag(1, …, 1, 0), θ₀ = A⁻¹X̃ᵀy (scikit-learn's Ridge)."""
    Xt = np.c_[X, np.ones(len(X))]
    D = np.diag(np.r_[np.ones(X.shape[1]), 0.0])
    A = Xt.T @ Xt + a * D
    return A, np.linalg.solve(A, Xt.T @ y)


def vertices(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The columns (v, 1) for every vertex v of the box [lower, upper]."""
    corners = np.array(list(itertools.product(*zip(lower, upper, strict=True))), dtype=float)
    return np.c_[corners, np.ones(len(corners))].T


def bound(A, theta0, theta_t, V, M) -> dict:
    """min ‖θ₀ − θ_t − A⁻¹V c‖² over Σ|c| ≤ M (module docstring): the best point found,
    its value, and the certified lower value (value − Frank–Wolfe gap)."""
    B = -np.linalg.solve(A, V)
    d = theta_t - theta0
    K = V.shape[1]

    def f(z):
        c = z[:K] - z[K:]
        r = B @ c - d
        g = 2 * B.T @ r
        return float(r @ r), np.r_[g, -g]

    cons = [{"type": "ineq", "fun": lambda z: M - z.sum(), "jac": lambda z: -np.ones(2 * K)}]
    best = None
    for start in (np.zeros(2 * K), np.full(2 * K, M / (2 * K))):
        res = minimize(
            f,
            start,
            jac=True,
            method="SLSQP",
            bounds=[(0, None)] * (2 * K),
            constraints=cons,
            options={"ftol": 1e-14, "maxiter": 2000},
        )
        if best is None or res.fun < best.fun:
            best = res
    z = np.maximum(best.x, 0)
    z *= min(1.0, M / z.sum()) if z.sum() > 0 else 1.0
    c = z[:K] - z[K:]
    value, g = f(z)
    gc = g[:K]
    gap = float(gc @ c + M * np.max(np.abs(gc)))  # ∇fᵀ(c − c*) at the best vertex ±M e_k
    return {"c": c, "theta": theta0 + B @ c, "value": value, "lower": value - gap, "gap": gap}


def realise(X, y, a, c, V, m, tau, shrink=0.995):
    """m integer rows from the bound's coefficients: the vertices of largest |c_k|,
    floor/round counts n_k ≈ |c_k|/√τ, residual sign(c_k)·shrink·√τ·(|c_k| / (n_k√τ)),
    the responses y_j = x̃_jᵀθ_p − r_j found by fixed-point refits (θ_p depends on
    them). Returns (X_poison, y_poison)."""
    s = np.sqrt(tau)
    order = np.argsort(-np.abs(c))
    counts = {}
    left = m
    for k in order:
        if left == 0 or abs(c[k]) < 1e-9:
            break
        n = int(min(left, max(1, np.ceil(abs(c[k]) / s - 1e-9))))
        counts[k] = n
        left -= n
    rows, res = [], []
    for k, n in counts.items():
        r = np.sign(c[k]) * min(shrink * s, abs(c[k]) / n)
        rows += [V[:-1, k]] * n
        res += [r] * n
    Xp, rp = np.array(rows), np.array(res)
    yp = np.zeros(len(Xp))
    model = Ridge(alpha=a).fit(X, y)
    for _ in range(200):  # y_j = x̃_jᵀθ_p − r_j, θ_p the fit with those rows
        yp = model.predict(Xp) - rp
        model = Ridge(alpha=a).fit(np.vstack([X, Xp]), np.r_[y, yp])
    return Xp, yp


def main() -> None:
    warnings.simplefilter("ignore")
    X, y = _integers()
    a = 1.0
    goal = Integrity("flip-top")
    attack = _attack(Ridge, goal, 0.0, ["loss"], "clean", integer_features=list(range(5)))
    setup = attack._setup(X, y, None)
    theta_t = np.asarray(setup.objective.theta_reference, dtype=float)
    m = int(np.ceil(RATE * len(X)))
    A, theta0 = clean_system(X, y, a)
    tau = float(
        screen(
            "loss", X, y, X_clean=X, y_clean=y, task="regression", estimator=Ridge()
        ).threshold.max()
    )
    E_clean = float(np.sum((theta0 - theta_t) ** 2))
    free = _attack(Ridge, goal, 0.0, integer_features=list(range(5))).generate(X, y)
    E_a0 = float(free.effect_final)
    lo, hi = setup.box.lower, setup.box.upper
    print(f"n={len(X)} m={m} tau={tau:.4g} sqrt(tau)={np.sqrt(tau):.4g} M={m * np.sqrt(tau):.4g}")
    print(f"E_clean={E_clean:.4f}  E_alpha0 (unconstrained, no filter)={E_a0:.4f}")
    print(f"box {np.round(lo, 3)} .. {np.round(hi, 3)}")

    for label, (bl, bh) in {
        "integer box": (np.ceil(lo), np.floor(hi)),
        "real box": (lo, hi),
    }.items():
        V = vertices(bl, bh)
        out = bound(A, theta0, theta_t, V, m * np.sqrt(tau))
        print(
            f"{label}: E* in [{out['lower']:.4f}, {out['value']:.4f}] (gap {out['gap']:.2g}); "
            f"kept share of the bound {kept_share(out['lower'], E_clean, E_a0):.3f}"
        )
        if label != "integer box":
            continue
        big = np.flatnonzero(np.abs(out["c"]) > 1e-6)
        for k in big:
            print(
                f"   vertex {V[:-1, k]}  c = {out['c'][k]:+.3f}  (= {out['c'][k] / np.sqrt(tau):+.2f} √τ)"
            )
        Xp, yp = realise(X, y, a, out["c"], V, m, tau)
        X_all, y_all = np.vstack([X, Xp]), np.r_[y, yp]
        model = Ridge(alpha=a).fit(X_all, y_all)
        theta_p = np.r_[model.coef_, model.intercept_]
        E_p = float(np.sum((theta_p - theta_t) ** 2))
        s = screen("loss", X_all, y_all, X_clean=X, y_clean=y, task="regression", estimator=Ridge())
        kept = np.asarray(s.kept)
        poison_removed = int(np.sum(kept >= len(X)) != m) * (m - int(np.sum(kept >= len(X))))
        refit = Ridge(alpha=a).fit(X_all[kept], y_all[kept])
        E_after = float(np.sum((np.r_[refit.coef_, refit.intercept_] - theta_t) ** 2))
        print(
            f"   realised ({len(Xp)} rows, y in [{yp.min():.2f}, {yp.max():.2f}], data y in "
            f"[{y.min():.2f}, {y.max():.2f}]): E(θ_p)={E_p:.4f} kept {kept_share(E_p, E_clean, E_a0):.3f}; "
            f"loss filter removes {len(X_all) - len(kept)} rows, {poison_removed} poison; "
            f"E after={E_after:.4f} kept {kept_share(E_after, E_clean, E_a0):.3f}"
        )


if __name__ == "__main__":
    main()
