"""The poisoning gradient, by the implicit function theorem on the stationarity condition.

At the learner's optimum g(θ, x_p) = ∇_θ L = 0. Differentiating it in the poison row
gives dθ/dx_p = −H⁻¹ ∂g/∂x_p, so for an effect E that depends on θ only

    ∇_{x_p} E = −(∂g/∂x_p)ᵀ u,   u = H⁻¹ ∇_θ E     (the adjoint form: one solve),

restricted to the active set S with L1 (inactive coordinates do not move). The row's
term of g is s·ℓ'(z_p) ⊗ φ_p with z_p = W φ_p, so entry (k·p + a, j) of ∂g/∂x_p is
s·(ℓ'_k·[a = j] + φ_a·Σ_l ℓ''_kl W_lj), and ∂g/∂t_p = s·(∂ℓ'/∂t) ⊗ φ_p. For one output
(K = 1) this is, without forming ∂g/∂x_p (:class:`RowTerm`),

    −(∂g/∂x_p)ᵀ u = a·u_w + b·(φ_pᵀu)·w,   −(∂g/∂t_p)ᵀ u = c·(φ_pᵀu),
    a = −s·ℓ'(z_p, t_p),  b = −s·ℓ''(z_p, t_p),  c = −s·∂ℓ'/∂t(z_p, t_p),

with u_w and w the first d coordinates of u and θ. :func:`adjoint_gradient` is that
formula (∂g/∂x_p formed for K > 1, where it is a small (K·p × d) matrix); the solvers
differ only in how they obtain u: :meth:`SolvedAdjoint.row_gradient` solves with the fit's
factor, the rank-one solver evaluates the same :class:`RowTerm` in a basis it already
holds (:meth:`flexpoison.engine.RankOneSolver.implicit_gradient`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .learner import Learner


@dataclass(frozen=True, slots=True)
class RowTerm:
    """The candidate row's coefficients in the one-output gradient formula (module
    docstring): a = −s·ℓ'(z_p, t_p), b = −s·ℓ''(z_p, t_p), c = −s·∂ℓ'/∂t (None for
    a loss of labels)."""

    a: float
    b: float
    c: float | None


def row_term(learner: Learner, z: float, t: float, n: int) -> RowTerm:
    """:class:`RowTerm` of a one-output learner at the score z_p = φ_pᵀθ, target t_p,
    trained on n rows, from the loss's declared derivatives."""
    loss = learner.loss
    s = learner.scale(n)
    z_arr, t_arr = np.array([[z]]), np.array([t])
    d1 = float(loss.d1(z_arr, t_arr)[0, 0])
    d2 = loss.curvature if loss.curvature is not None else float(loss.d2(z_arr, t_arr)[0, 0, 0])
    d1_dt = getattr(loss, "d1_dt", None)  # ContinuousTargetLoss (a protocol isinstance
    c = None if d1_dt is None else -s * float(d1_dt(z_arr, t_arr)[0, 0])  # costs ~30 µs)
    return RowTerm(-s * d1, -s * d2, c)


def mixed_derivative(
    learner: Learner, Theta: np.ndarray, phi: np.ndarray, t: float, n: int, d: int
) -> np.ndarray:
    """∂g/∂x_p for one row, shape (K·p, d) (module docstring)."""
    K, p = Theta.shape
    z = (Theta @ phi)[None]
    t_arr = np.array([t])
    d1 = learner.loss.d1(z, t_arr)[0]
    d2 = learner.loss.d2(z, t_arr)[0]
    J = np.zeros((K, p, d))
    J[:, np.arange(d), np.arange(d)] = d1[:, None]
    J += phi[None, :, None] * (d2 @ Theta[:, :d])[:, None, :]
    return learner.scale(n) * J.reshape(K * p, d)


def adjoint_gradient(
    learner: Learner,
    Theta: np.ndarray,
    phi: np.ndarray,
    t: float,
    n: int,
    d: int,
    u: np.ndarray,
    with_target: bool,
) -> tuple[np.ndarray, float | None]:
    """(−(∂g/∂x_p)ᵀ u, −(∂g/∂t_p)ᵀ u) for the adjoint u = H⁻¹∇_θE of one row (module
    docstring). The second entry is None unless ``with_target``, which needs a
    continuous target (:class:`~flexpoison.engine.losses.ContinuousTargetLoss`)."""
    K = Theta.shape[0]
    if K > 1:
        free = learner.free_mask(d)
        if free is not None:  # pinned coordinates do not move: their g is identically 0
            u = np.where(free, u, 0.0)
        grad_x = -(mixed_derivative(learner, Theta, phi, t, n, d).T @ u)
        if not with_target:
            return grad_x, None
        d1_dt = getattr(learner.loss, "d1_dt", None)
        if d1_dt is None:
            raise TypeError(f"{learner.name}: class labels have no gradient")
        dt = d1_dt((Theta @ phi)[None], np.array([t]))[0]  # ∂ℓ'/∂t, (K,)
        phi_u = u.reshape(K, -1) @ phi
        return grad_x, -learner.scale(n) * float(dt @ phi_u)
    term = row_term(learner, float((Theta @ phi)[0]), t, n)
    phi_u = float(phi @ u)
    grad_x = term.a * u[:d] + (term.b * phi_u) * Theta[0, :d]
    if not with_target:
        return grad_x, None
    if term.c is None:
        raise TypeError(f"{learner.name}: class labels have no gradient")
    return grad_x, term.c * phi_u


class SolvedAdjoint:
    """The row gradient of a factor that solves with H: the one formula
    (:func:`adjoint_gradient`) fed with u = H⁻¹∇_θ E from its own ``solve`` (the
    :class:`~flexpoison.engine.linalg.Factor` protocol's ``row_gradient`` for every
    factor but the kinks', whose rows on knots add their own terms)."""

    __slots__ = ()

    def solve(self, b: np.ndarray) -> np.ndarray:  # each factor its own
        raise NotImplementedError

    def row_gradient(
        self,
        learner: Learner,
        Theta: np.ndarray,
        phi: np.ndarray,
        t: float,
        n: int,
        d: int,
        dE_dTheta: np.ndarray,
        with_target: bool,
    ) -> tuple[np.ndarray, float | None]:
        """(∇_{x_p} E, ∂E/∂t_p or None) of the last row (φ, t) of the n rows fitted,
        for E with ∇_Θ E = ``dE_dTheta``."""
        u = self.solve(dE_dTheta.ravel())
        return adjoint_gradient(learner, Theta, phi, t, n, d, u, with_target)


__all__ = ["RowTerm", "row_term", "mixed_derivative", "adjoint_gradient", "SolvedAdjoint"]
