"""The ``step="lbfgs"`` descent rule: scipy's L-BFGS-B on W inside the box.

Projected gradient with backtracking (the default rule) can run out of iterations on
ill-conditioned problems while still gaining; L-BFGS-B builds a curvature model from
the gradients and converges there. Measured on raw diabetes, a ridge victim, integrity,
5 points, α = 0: progress 0.675 against backtracking's 0.566, no point at ``max_iter``
against all five; but it costs 1–5× the CPU per point, and on the kinks of an L1
penalty it can stop early (lasso availability: 1.40 against 1.61), so it is an option,
not the default.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .box import Box
from .objective import Evaluation, Objective

if TYPE_CHECKING:
    from .search import Descent, Start, Stop


def lbfgs_descent(
    objective: Objective,
    start: Start,
    ev: Evaluation,
    box: Box,
    y_range: tuple[float, float] | None,
    *,
    max_iter: int,
    tol: float,
) -> Descent:
    """L-BFGS-B (scipy) on W from the evaluated start ``ev``, in the coordinates where
    the box is the unit cube, u = (x − lower) / w (w the box's widths; a pinned feature,
    w = 0, keeps its value; the response, when optimised, scaled by its range). It stops
    when W's relative decrease (W_k − W_{k+1}) / max(|W_k|, |W_{k+1}|, 1) falls below
    ``tol`` (``"tolerance"``), when the projected gradient vanishes or the line search
    cannot lower W any more (``"stationary"``), or after ``max_iter`` iterations. Every
    iterate lowers W (its line search enforces a sufficient decrease)."""
    from scipy.optimize import minimize  # imported here: only this rule needs it

    with_y = y_range is not None
    lower, width = box.lower, box.upper - box.lower
    free = width > 0
    scale_x = np.where(free, width, 1.0)
    y_low, y_width = (y_range[0], y_range[1] - y_range[0]) if y_range is not None else (0.0, 0.0)
    d = lower.size
    u0 = np.where(free, (ev.x - lower) / scale_x, 0.0)
    bounds = [(0.0, 1.0) if f else (0.0, 0.0) for f in free]
    if with_y:
        u0 = np.append(u0, (ev.t - y_low) / y_width if y_width > 0 else 0.0)
        bounds.append((0.0, 1.0) if y_width > 0 else (0.0, 0.0))
    seen: dict[bytes, Evaluation] = {u0.tobytes(): ev}
    warm = [ev.fit.Theta]

    def point(u: np.ndarray) -> tuple[np.ndarray, float]:
        x = box.project(np.where(free, lower + u[:d] * scale_x, ev.x))
        return x, (y_low + float(u[d]) * y_width if with_y else ev.t)

    def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
        key = u.tobytes()
        found = seen.get(key)
        if found is None:
            x, t = point(u)
            found = objective.evaluate(x, t, Theta_init=warm[0], with_y=with_y)
            seen[key] = found
        assert found.grad_x is not None
        grad = np.where(free, found.grad_x * scale_x, 0.0)
        if with_y:
            grad = np.append(grad, (found.grad_y or 0.0) * y_width)
        if not np.isfinite(found.W) or not np.all(np.isfinite(grad)):
            return math.inf, np.zeros_like(u)
        return found.W, grad

    history = [ev.W]

    def record(intermediate_result) -> None:
        history.append(float(intermediate_result.fun))
        best = seen.get(np.asarray(intermediate_result.x).tobytes())
        if best is not None:
            warm[0] = best.fit.Theta

    res = minimize(
        fun,
        u0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=record,
        options={"maxiter": max_iter, "maxfun": 20 * max_iter + 20, "ftol": tol, "gtol": 0.0},
    )
    final = seen.get(np.asarray(res.x).tobytes())
    if final is None:
        x, t = point(res.x)
        final = objective.evaluate(x, t, Theta_init=warm[0], with_y=with_y)
    if not final.W <= ev.W:  # never worse than the start (scipy returns its last iterate)
        final, history = ev, [ev.W]
    message = str(res.message).upper()
    stop: Stop = (
        "max_iter"
        if res.status == 1
        else "tolerance"
        if res.status == 0 and "REDUCTION" in message
        else "stationary"
    )
    from .search import Descent  # the search imports this module

    return Descent(start, final.x, final.t, final, history, stop)


__all__ = ["lbfgs_descent"]
