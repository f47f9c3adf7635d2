"""First-order starts for a classifier's point whose descent is stuck at zero gradient.

A row (x, t) added to the n training rows moves the victim's optimum Θ; with
z = Θφ(x) its score, s = s(n + 1) the loss's scale and H the objective's Hessian at Θ,
the new optimum is, when ℓ(·, t) is quadratic around z and no other row changes side
(Sherman–Morrison on H + s·ℓ''·φφᵀ),

    ΔΘ = κ·H⁻¹φ,   κ = −s·ℓ'(z, t) / (1 + h),   h = s·ℓ''(z, t)·q,   q = φᵀH⁻¹φ

(h: the row's leverage), so that E changes, to first order, by κ·uᵀφ with
u = H⁻¹∇_Θ E.

Beyond a classifier's margin ℓ(·, t) is flat (ℓ' = 0): such a row moves nothing, and a
descent that ends there stops at zero gradient (:mod:`flexpoison.attack.descent`), as
every start of a point may on a squared-hinge victim. The rows that move Θ lie on the
other side of the margin's edge z_e (where ℓ' starts to vanish, found from the loss's
declared ℓ': :func:`margin_edge`). A start is built per label t, at a depth δ inside
the margin, z = (1 − δ)·z_e (δ = 1: the decision boundary):

1. **The row.** At a fixed z, ℓ'(z, t) is a constant and the first-order gain is
   linear in x: the linear programme

       max over x in the box of  sign·ℓ'(z, t)·u_wᵀx   subject to  w·(x − shift) + b = z

   (sign = +1 when the goal lowers E, −1 when it raises it; u_w the weights' part of
   u) gives the row of the largest first-order gain at that score. Its vertex is a far
   corner of the box, whose leverage h makes the model wrong; along a ray φ → λφ the
   pull's gain λ·a/(1 + λ²·h) is largest at h = 1, so the box is shrunk about its
   centre, halving its half-widths (at most :data:`HALVINGS` times), until the
   programme's row has h ≤ :data:`LEVERAGE` = 1.
2. **The depth.** E along the row's pull, E(Θ + κ·H⁻¹φ), is read at κ = 0 and ±κ(z)
   (:func:`best_step`; exact for the quadratic E_I), and its best step κ* taken; the
   depth is the one whose pull |κ(z)| is |κ*| (:func:`depth_for`, by bisection; at
   most the decision boundary). Steps 1 and 2 alternate :data:`ROUNDS` times from
   δ = ½.

No depth or box scale is tuned on a case: the depth is E's own best step along the
row's pull and the box's scale the row's leverage (the rounds, the first depth ½ and
the halvings' limit only bound the work). The descent then starts from each row.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from .. import engine
from .box import Box
from .descent import Start
from .objective import Objective

#: Rounds of (row at a depth → the depth of the best step along its pull).
ROUNDS = 3
#: Bisections of the depth.
BISECTIONS = 40
#: The largest leverage h = s·ℓ''·φᵀH⁻¹φ of a start: along φ → λφ the pull's gain
#: λ·a/(1 + λ²·h) peaks at h = 1.
LEVERAGE = 1.0
#: The box's half-widths are halved at most this many times (to 1/64) to reach it.
HALVINGS = 6
#: Where the search for the margin's edge gives up: |z| up to 2^SPAN.
SPAN = 30


def margin_edge(loss: engine.Loss, t: float) -> float | None:
    """z_e: the edge of the region where the one-output classifier's loss ℓ(·, t) is
    flat (ℓ' = 0) on t's side of the decision boundary z = 0 — found by doubling
    |z| from 1 until ℓ'(t·|z|, t) = 0, then bisecting; None when ℓ is not flat there
    or is at z = 0 too, and for a loss that states a curvature rate (logistic,
    softmax, the GLMs: its ℓ'' is positive everywhere; only a rounded ℓ' vanishes)."""

    if engine.declared(loss, "curvature_rate") is not None:
        return None  # ℓ'' within e^{±c·|Δ|} of itself: positive everywhere, never flat

    def flat(z: float) -> bool:
        return bool(loss.d1(np.array([[z]]), np.array([t]))[0, 0] == 0.0)

    if flat(0.0):
        return None
    outside = next((t * 2.0**k for k in range(SPAN) if flat(t * 2.0**k)), None)
    if outside is None:
        return None
    inside = 0.0
    for _ in range(64):  # to float precision: ℓ' is monotone in z (ℓ convex)
        middle = 0.5 * (inside + outside)
        if middle in (inside, outside):
            break
        inside, outside = (inside, middle) if flat(middle) else (middle, outside)
    return outside


def best_row(
    gain: np.ndarray, w: np.ndarray, level: float, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray | None:
    """argmax gain·x subject to w·x = level and lower ≤ x ≤ upper (None: infeasible)."""
    solved = linprog(
        -gain, A_eq=w[None], b_eq=[level], bounds=np.column_stack([lower, upper]), method="highs"
    )
    return solved.x if solved.status == 0 else None


def shrunk_row(
    gain: np.ndarray,
    w: np.ndarray,
    level: float,
    centre: np.ndarray,
    half: np.ndarray,
    curvature: float,
    quadratic_form,
) -> tuple[np.ndarray, float] | None:
    """The programme's row (:func:`best_row`) in the box about ``centre`` with its
    half-widths ``half`` halved until h = curvature·q ≤ :data:`LEVERAGE`
    (q = ``quadratic_form(x)`` = φᵀH⁻¹φ; at most :data:`HALVINGS` times), with its q;
    the last feasible row if none reaches it, None if none is feasible."""
    found = None
    for k in range(HALVINGS + 1):
        reach = half * 2.0**-k
        row = best_row(gain, w, level, centre - reach, centre + reach)
        if row is None:
            break
        found = (row, quadratic_form(row))
        if curvature * found[1] <= LEVERAGE:
            break
    return found


def pull(loss: engine.Loss, scale: float, z: float, t: float, q: float) -> float:
    """|κ(z)| = s·|ℓ'(z, t)| / (1 + s·ℓ''(z, t)·q): how far a row at score z moves Θ
    along H⁻¹φ, q = φᵀH⁻¹φ (module docstring)."""
    Z, T = np.array([[z]]), np.array([t])
    d1, d2 = float(loss.d1(Z, T)[0, 0]), float(loss.d2(Z, T)[0, 0, 0])
    return scale * abs(d1) / (1.0 + scale * d2 * q)


def best_step(effect, Theta: np.ndarray, D: np.ndarray, probe: float) -> tuple[float, float]:
    """(a, b) of E(Θ + κ·D) ≈ E(Θ) + a·κ + ½b·κ², from E at κ = 0, ±``probe``
    (central differences: exact for an E quadratic in Θ)."""
    E0, Ep, Em = effect(Theta), effect(Theta + probe * D), effect(Theta - probe * D)
    return (Ep - Em) / (2.0 * probe), (Ep + Em - 2.0 * E0) / probe**2


def depth_for(
    loss: engine.Loss, scale: float, edge: float, t: float, q: float, goal: float
) -> float:
    """The depth δ ∈ [0, 1] (z = (1 − δ)·z_e) at which the row's pull is ``goal``, by
    bisection (the pull grows with δ); 1 — the decision boundary — if it never is."""
    if pull(loss, scale, 0.0, t, q) <= goal:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(BISECTIONS):
        middle = 0.5 * (low + high)
        low, high = (
            (middle, high) if pull(loss, scale, (1 - middle) * edge, t, q) < goal else (low, middle)
        )
    return high


def starts(objective: Objective, Theta: np.ndarray, box: Box, sign: float) -> list[Start]:
    """The first-order starts (module docstring) at the optimum Θ of ``objective``'s
    training rows, for an attacker who moves E with ``sign``; none for a victim they do
    not apply to (a kernel machine, several outputs, a regressor, a pipeline, a loss
    never flat, Θ pinned: no coordinate free)."""
    victim = objective.victim
    if not victim.spec.has_theta:
        return []  # a kernel machine: no θ, no H (its objective holds no rows' data)
    data = objective.data
    learner = victim.learner
    if not isinstance(data, engine.RowData):
        return []
    if learner.n_outputs != 1 or victim.classes is None or victim.scaler is not None:
        return []
    edges = {t: margin_edge(learner.loss, t) for t in (-1.0, 1.0)}
    if all(edge is None for edge in edges.values()):
        return []
    fit = engine.fit(learner, data, Theta)
    factor = fit.factor if fit.factor is not None else engine.hessian_factor(learner, data, fit)
    if factor is None:
        return []
    Theta = fit.Theta
    u = factor.solve(objective.effect_gradient(Theta).ravel())
    d = objective.n_features
    w, u_w = Theta[0, :d], u[:d]
    offset = float(Theta[0, d]) if learner.fit_intercept else 0.0  # z = w·(x − shift) + b
    offset -= float(w @ objective.shift)
    scale = learner.scale(data.n + 1)
    centre, half = 0.5 * (box.lower + box.upper), 0.5 * (box.upper - box.lower)
    loss = learner.loss

    def leverage(x: np.ndarray) -> float:  # q = φᵀH⁻¹φ
        phi = learner.feature_row(x, objective.shift)
        return float(phi @ factor.solve(phi))

    out = []
    for t, edge in edges.items():
        if edge is None:
            continue
        depth = 0.5
        x = None
        for _ in range(ROUNDS):
            z = (1.0 - depth) * edge
            Z, T = np.array([[z]]), np.array([t])
            d1 = float(loss.d1(Z, T)[0, 0])
            curvature = scale * float(loss.d2(Z, T)[0, 0, 0])
            found = shrunk_row(sign * d1 * u_w, w, z - offset, centre, half, curvature, leverage)
            if found is None:
                x = None
                break
            x, q = found
            # the pull's direction in Θ: −sign(ℓ')·H⁻¹φ; the attacker's best step along it
            phi = learner.feature_row(x, objective.shift)
            D = -np.sign(d1) * factor.solve(phi).reshape(Theta.shape)
            a, b = best_step(objective.effect_at, Theta, D, pull(loss, scale, z, t, q))
            a, b = sign * a, sign * b
            if not a < 0:  # no gain along it
                x = None
                break
            goal = -a / b if b > 0 else np.inf
            depth = depth_for(loss, scale, edge, t, q, goal)
        if x is not None:
            out.append(Start(box.project(x), t, "first-order"))
    return out
