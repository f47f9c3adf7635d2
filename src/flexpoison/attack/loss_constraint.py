"""The loss filter as a constraint of the poison row, its gradient, and the step that
restores it (:func:`flexpoison.attack.evasion_check.settle` uses them).

With θ_k(x) the victim's optimum on the training set plus k copies of the row (x, t)
(k = 1, or the look-ahead's copies), the constraint is

    c(x) = ℓ(θ_k(x); x, t) ≤ τ,   z = Θφ(x),

ℓ the loss filter's: (z − t)² for regression, the victim's own loss for a classifier.
Its gradient adds the row's direct term to the implicit one, the k copies moving
together (each has the same mixed derivative ∂g/∂x, so their terms add):

    ∇_x c = W_{:, :d}ᵀ ℓ'(z) + k·(−(∂g/∂x)ᵀ H⁻¹ ∇_Θ ℓ),   ∇_Θ ℓ = ℓ'(z) φᵀ,

the second term by the attack's own adjoint (:func:`flexpoison.engine.implicit_gradient`,
H the Hessian of the training objective with the k rows).

:func:`restore` moves a row that breaks the constraint onto it by Gauss–Newton steps,
the minimum-norm linearised correction x ← Π(x − (c(x) − τ')·∇c / ‖∇c‖²), Π the
projection onto the point's feasible set (the box, or its Region with the geometric
sanitizers' sets; coordinates held at a bound take no step), τ' slightly below τ.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from .. import engine
from .box import Box

#: Gauss–Newton steps of :func:`restore`, and the target τ' = (1 − AIM)·τ it aims at.
STEPS = 8
#: Steps of :func:`search` along the constraint's boundary.
SEARCH = 12
AIM = 0.02


def filter_losses(victim, Z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss filter's ℓ of rows with scores Z (n × K) and encoded targets t, and
    ∂ℓ/∂Z (n × K). Regression: ℓ = (ŷ − t)², ŷ = g⁻¹(z₀) the victim's response (the
    loss's declared inverse link, z₀ itself without one), ∂ℓ/∂z₀ = 2(ŷ − t)·(g⁻¹)'(z₀);
    a further score (Huber's σ) has derivative 0. Classification: the victim's own loss
    and its derivative (the log-loss for a logistic one, −log p(y | x))."""
    Z = np.asarray(Z, dtype=float)
    t = np.asarray(t, dtype=float)
    loss = victim.learner.loss
    if victim.classes is not None:
        return loss.value(Z, t), np.asarray(loss.d1(Z, t), dtype=float)
    response = engine.declared(loss, "response")
    z = Z[:, 0]
    r = (z if response is None else response(z)) - t
    dZ = np.zeros_like(Z)
    dZ[:, 0] = 2.0 * r * (1.0 if response is None else engine.declared(loss, "response_d1")(z))
    return r * r, dZ


def row_loss(victim, Theta: np.ndarray, phi: np.ndarray, t: float) -> tuple[float, np.ndarray]:
    """(ℓ, ∂ℓ/∂z) of one row at Θ, z = Θφ (:func:`filter_losses`)."""
    value, dz = filter_losses(victim, (Theta @ phi)[None], np.array([t]))
    return float(value[0]), dz[0]


def _fit_with_copies(objective, x: np.ndarray, t: float, k: int, Theta0: np.ndarray):
    """(learner, φ(x), the exact fit on the training set plus k copies of (x, t) with
    its Hessian factor)."""
    learner = objective.learner_at(None)[0]
    phi = objective._features(x)
    data = objective.data.with_rows(np.tile(phi, (k, 1)), np.full(k, float(t)))
    fit = engine.fit(learner, data, Theta0)
    if fit.factor is None:
        fit = engine.Fit(fit.Theta, fit.active, engine.hessian_factor(learner, data, fit), fit.n)
    return learner, phi, fit


def constraint(
    objective, x: np.ndarray, t: float, k: int, Theta0: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """(c(x), ∇_x c, θ_k) for k copies of (x, t) added to the objective's training set
    (module docstring): one exact fit, the Hessian factor at its optimum, one solve."""
    learner, phi, fit = _fit_with_copies(objective, x, t, k, Theta0)
    c, dz = row_loss(objective.victim, fit.Theta, phi, t)
    d = objective.n_features
    g_theta, _ = engine.implicit_gradient(learner, fit, phi, t, d, np.outer(dz, phi), False)
    return c, fit.Theta[:, :d].T @ dz + k * g_theta, fit.Theta


def effect(
    objective, x: np.ndarray, t: float, k: int, Theta0: np.ndarray
) -> tuple[float, np.ndarray]:
    """(E(θ_k(x)), ∇_x E) with k copies of (x, t): E depends on θ only, so
    ∇_x E = k·(−(∂g/∂x)ᵀ H⁻¹ ∇_Θ E), the attack's adjoint with the k rows in H."""
    learner, phi, fit = _fit_with_copies(objective, x, t, k, Theta0)
    E, dE = objective.effect(fit.Theta, learner.pack(fit.Theta @ objective._T))
    g, _ = engine.implicit_gradient(learner, fit, phi, t, objective.n_features, dE, False)
    return float(E), k * g


def restore(
    objective, box: Box, x: np.ndarray, t: float, k: int, tau: float, Theta0: np.ndarray
) -> np.ndarray | None:
    """x moved onto c ≤ τ by at most :data:`STEPS` Gauss–Newton steps (module
    docstring), or None when they do not reach it."""
    aim = (1.0 - AIM) * tau
    Theta = Theta0
    for _ in range(STEPS):
        c, grad, Theta = constraint(objective, x, t, k, Theta)
        if c <= aim:
            return x
        free = ~(((x <= box.lower) & (grad > 0)) | ((x >= box.upper) & (grad < 0)))
        grad = np.where(free, grad, 0.0)
        norm2 = float(grad @ grad)
        if not norm2 > 0.0:
            return None
        x = box.project(x - ((c - aim) / norm2) * grad)
    c, _, _ = constraint(objective, x, t, k, Theta)
    return x if c <= aim else None


def search(
    objective,
    box: Box,
    x: np.ndarray,
    t: float,
    k: int,
    tau: float,
    Theta0: np.ndarray,
    scale: np.ndarray,
    steps: int = SEARCH,
) -> np.ndarray | None:
    """The best point found for E(θ_k) on c ≤ τ: from x restored onto it, steps along
    −sign·∇E in units of ``scale`` (per-feature σ), near the boundary (c ≥ (1 − 2·AIM)·τ)
    with the part that raises c removed (the boundary's tangent), each step restored
    onto c ≤ τ; a step that does not improve E is halved, one that does grows by half.
    None when x cannot be restored."""
    c, _, _ = constraint(objective, x, t, k, Theta0)
    if c > (1.0 - AIM) * tau:
        restored = restore(objective, box, x, t, k, tau, Theta0)
        if restored is None:
            return None
        x = restored
    sign = objective.goal.sign
    E, gE = effect(objective, x, t, k, Theta0)
    eta = 0.5
    for _ in range(steps):
        c, gc, _ = constraint(objective, x, t, k, Theta0)
        d, gc_u = -sign * scale * gE, scale * gc  # in σ units, u = x/σ
        raise_c = float(d @ gc_u)
        if c >= (1.0 - 2 * AIM) * tau and raise_c > 0 and gc_u @ gc_u > 0:
            d = d - (raise_c / float(gc_u @ gc_u)) * gc_u
        d = np.where(((x <= box.lower) & (d < 0)) | ((x >= box.upper) & (d > 0)), 0.0, d)
        norm = float(np.linalg.norm(d))
        if not norm > 0.0:
            break
        step = box.project(x + scale * (eta / norm) * d)
        trial = restore(objective, box, step, t, k, tau, Theta0)
        if trial is None:
            eta *= 0.5
            continue
        E_trial, gE_trial = effect(objective, trial, t, k, Theta0)
        if sign * E_trial >= sign * E:
            eta *= 0.5
            continue
        x, E, gE, eta = trial, E_trial, gE_trial, 1.5 * eta
    return x


def _box_minimum(unit, room, room_jac, z0: np.ndarray, r: float, inset: float) -> np.ndarray:
    """The minimum of ``unit`` over [0, 1]^d from z0 (L-BFGS-B); when the response
    leaves its range there (``room`` < −inset), SLSQP from it with room ≥ 0."""
    bounds = [(0.0, 1.0)] * z0.size
    z = minimize(
        unit,
        z0,
        args=(r,),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500},
    ).x
    if not np.any(room(z, r) < -inset):
        return z
    return minimize(
        unit,
        z,
        args=(r,),
        jac=True,
        method="SLSQP",
        bounds=bounds,
        constraints=[{"type": "ineq", "fun": room, "jac": room_jac, "args": (r,)}],
        options={"ftol": 1e-12, "maxiter": 500},
    ).x


def _placed(objective, Theta0, v, r: float, k: int, rho: float, t_range):
    """(sign·E at θ_k, v, t_v) for k copies of (v, t_v) with residual r at θ_k, t_v
    from two exact fits (the residual is affine in it) and clipped into ``t_range``;
    None when the residual does not fall with t_v or the clip takes it past ±ρ."""

    def fitted(t_v: float) -> tuple[float, np.ndarray]:
        _, phi, fit_v = _fit_with_copies(objective, v, t_v, k, Theta0)
        return float((fit_v.Theta @ phi)[0] - t_v), fit_v.Theta

    t_a = float((Theta0 @ objective._features(v))[0]) - r
    (r_a, _), (r_b, _) = fitted(t_a), fitted(t_a + 1.0)
    if not r_b - r_a < 0:
        return None
    t_v = min(max(t_a + (r - r_a) / (r_b - r_a), t_range[0]), t_range[1])
    if abs(r_a + (r_b - r_a) * (t_v - t_a)) > rho * (1 + 1e-9):
        return None
    return objective.goal.sign * objective.effect_at(fitted(t_v)[1]), v, t_v


def edge_row(
    objective,
    box: Box,
    k: int,
    tau: float,
    Theta0: np.ndarray,
    t_range: tuple[float, float],
    snap: Callable[[np.ndarray], np.ndarray] = lambda v: v,
) -> tuple[np.ndarray, float] | None:
    """Regression: the row (v, t_v) whose k copies have the residual ρ = ±√((1 − AIM/4)·τ)
    (the loss filter's edge) at their own model θ_k, v the box point that moves E most
    the goal's way, t_v in ``t_range`` (the responses the attack uses). At the optimum
    of s·Σℓ + ½θᵀΛ₂θ the k rows with residual ρ enter
    only through their gradient, so

        θ_k = θ₀ − H⁻¹·k·s·ℓ'(ρ)·φ(v),

    H the Hessian of the training objective at θ₀, exact for ridge (ℓ quadratic, H
    constant; benchmarks/bound_loss.py), first order otherwise. For each sign of ρ,
    sign·E(θ_k(v)) is minimised over the box (L-BFGS-B in units of its widths, from the
    vertex that the first-order change −k·s·ℓ'(ρ)·uᵀφ(v), u = H⁻¹∇E, favours) and
    ``snap``-ped (rounded to integer features). When the response t(v) = φ(v)ᵀθ_k(v) − ρ
    of that optimum leaves ``t_range`` by more than ρ/4, SLSQP holds it inside (drawn
    in by ρ/4) from there. The residual is affine in t_v for the squared loss, so two
    exact fits give the response, which is then clipped into ``t_range`` (a candidate
    whose residual leaves ±ρ by the clip is dropped). The candidates (each sign's
    optimum and its starting vertex: rounding can cost the optimum more than the
    vertex) are compared by E at their own exact θ_k. None when none can be placed, for
    a model with a score besides the prediction (Huber's σ), and for a loss on a
    restricted domain (the GLMs: a log link, responses t ≥ 0)."""
    learner, _, fit = _fit_with_copies(objective, box.lower, 0.0, 0, Theta0)
    factor, shape, d = fit.factor, fit.Theta.shape, box.lower.size
    if factor is None or shape[0] > 1 or engine.declared(learner.loss, "domain"):
        return None  # nothing moves (an L1 model at zero), or not the formula's loss
    sign, scale = objective.goal.sign, learner.scale(fit.n)
    rho = np.sqrt((1.0 - AIM / 4) * tau)  # the final check judges; E is steep in ρ
    width = box.upper - box.lower

    def weight(r: float) -> float:  # k·s·ℓ'(r)
        return k * scale * float(np.ravel(learner.loss.d1(np.array([[r]]), np.zeros(1)))[0])

    lo, hi = t_range
    inset = min(rho, hi - lo) / 4  # the constrained search's range, inside the attack's

    def state(v: np.ndarray, r: float, w: float = 1.0):
        """(φ(v), H⁻¹φ(v), θ₀ − w·H⁻¹·k·s·ℓ'(r)·φ(v))."""
        phi = objective._features(v)
        u = np.ravel(factor.solve(np.ravel(phi[None])))
        return phi, u, fit.Theta - (w * weight(r) * u).reshape(shape)

    def moved(v: np.ndarray, r: float, w: float = 1.0) -> tuple[float, np.ndarray]:
        """(sign·E, its gradient in v) at θ₀ − w·H⁻¹·k·s·ℓ'(r)·φ(v)."""
        _, _, Theta = state(v, r, w)
        E, dE = objective.effect(Theta, learner.pack(Theta @ objective._T))
        return sign * float(E), -sign * weight(r) * np.ravel(factor.solve(np.ravel(dE)))[:d]

    def response(v: np.ndarray, r: float) -> tuple[float, np.ndarray]:
        """(t(v) = φ(v)ᵀθ_k(v) − r, its gradient in v)."""
        phi, u, Theta = state(v, r)
        return float((Theta @ phi)[0]) - r, Theta[0, :d] - weight(r) * u[:d]

    found = []
    for r in (rho, -rho):
        _, g = moved(box.lower, r, 0.0)  # at θ₀: the first-order change's vertex

        def unit(z: np.ndarray, r: float) -> tuple[float, np.ndarray]:
            value, grad = moved(box.lower + z * width, r)  # v = lower + z·width
            return value, grad * width

        def room(z: np.ndarray, r: float) -> np.ndarray:  # ≥ 0: t(v) inside the range
            t, _ = response(box.lower + z * width, r)
            return np.array([hi - inset - t, t - lo - inset])

        def room_jac(z: np.ndarray, r: float) -> np.ndarray:
            _, dt = response(box.lower + z * width, r)
            return np.vstack([-dt * width, dt * width])

        z = _box_minimum(unit, room, room_jac, (g < 0).astype(float), r, inset)
        for v in (box.lower + z * width, box.lower + (g < 0) * width):  # optimum, vertex
            placed = _placed(objective, fit.Theta, snap(box.project(v)), r, k, rho, t_range)
            if placed is not None:
                found.append(placed)
    if not found:
        return None
    _, v, t_v = min(found, key=lambda f: f[0])
    return v, t_v


__all__ = [
    "STEPS",
    "SEARCH",
    "AIM",
    "filter_losses",
    "row_loss",
    "constraint",
    "effect",
    "restore",
    "search",
    "edge_row",
]
