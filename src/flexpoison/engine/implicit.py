"""The poisoning gradient, by the implicit function theorem on the stationarity condition.

At the learner's optimum g(θ, x_p) = ∇_θ L = 0, so dθ/dx_p = −H⁻¹ ∂g/∂x_p and, for an
effect E that depends on θ only, ∇_{x_p} E = −(∂g/∂x_p)ᵀ u with u = H⁻¹ ∇_θ E (restricted
to the free coordinates with L1). How u is obtained, and what the rows the fit holds
add, is the fit's factor's business (:class:`~flexpoison.engine.linalg.Factor`'s
``row_gradient``); the formula itself is :mod:`flexpoison.engine.adjoint`.
"""

from __future__ import annotations

import numpy as np

from .adjoint import adjoint_gradient
from .learner import Learner
from .linalg import Fit


def implicit_gradient(
    learner: Learner,
    fit_: Fit,
    phi: np.ndarray,
    t: float,
    d: int,
    dE_dTheta: np.ndarray,
    with_target: bool,
) -> tuple[np.ndarray, float | None]:
    """∇_{x_p} E (and ∂E/∂t_p if ``with_target``) for E depending on θ only: the fit's
    factor's row gradient; with no factor (no coordinate free) u = 0 in the formula."""
    if fit_.factor is None:
        u = np.zeros(dE_dTheta.size)
        return adjoint_gradient(learner, fit_.Theta, phi, t, fit_.n, d, u, with_target)
    return fit_.factor.row_gradient(learner, fit_.Theta, phi, t, fit_.n, d, dE_dTheta, with_target)


__all__ = ["implicit_gradient"]
