"""A squared residual with an L2 penalty whose weights move with the candidate row.

A pipeline of affine scalers before a ridge model (:mod:`flexpoison.scalers`) is the
model on the raw rows with the penalty on w ⊙ v, v the scalers' ``scale_`` over the
training rows *and* the candidate (the offset is absorbed by the unpenalised
intercept, so nothing else of the scalers enters). On fixed statistics (G, r) of n rows
plus the candidate (φ, t) with N = n + 1, ℓ = (c/2)(z − t)² and κ = s(N)·c:

    L(θ) = (κ/2)·(θᵀ(G + φφᵀ)θ − 2(r + tφ)ᵀθ + const) + ½·Σ_j λ_j θ_j²,
    λ_j = λ₂·v_j(x_p)²  on the weights,  0 on the intercept,

so the optimum solves H θ = κ(r + tφ) with H = κ(G + φφᵀ) + Λ(x_p). Λ moves on every
weight, so no rank-one update of a matrix factored once applies; H (p × p) is factored
per candidate instead, from κG formed once — which the general solver would also do,
after rebuilding the loss sums and the learner. :class:`ScaledSolver` does only that.

Its gradient. Each v_j depends on x_p through the feature's own column only, so
g_j = ∇_θ L gains ∂g_j/∂x_pj = λ'_j θ_j, λ'_j = 2λ₂ v_j ∂v_j/∂x_pj, beyond the row's
term of :mod:`flexpoison.engine.implicit`, whence (:func:`scale_term`)

    ∇_{x_p} E = a·u_w + b·(φᵀu)·w  −  u_w ⊙ w ⊙ λ',   u = H⁻¹∇_θE,

with one factor of H serving θ and u. An observed quadratic E = θᵀMθ + 2mᵀθ + m₀
(:class:`~flexpoison.engine.Quadratic`) is evaluated at θ directly, with ∇_θE = 2(Mθ + m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from .data import Data, GramData
from .learner import Learner
from .linalg import _COLLINEAR, CholeskyFactor, Fit, cholesky
from .rank_one import Quadratic


def scale_term(
    U: np.ndarray, W: np.ndarray, v: np.ndarray, slope: np.ndarray, l2: float, l1: float
) -> np.ndarray:
    """The share of ∇_{x_p} E that comes through the penalty's per-feature scale v:

        −Σ_k u_kj·(2λ₂·v_j·w_kj + λ₁·sign w_kj)·∂v_j/∂x_pj,

    ``U`` and ``W`` the adjoint u = H⁻¹∇_θE and the weights, both (K, d) or both (d,)
    for one output, ``slope`` = ∂v_j/∂x_pj: the penalty λ₂/2·(v_j w_kj)² +
    λ₁·v_j|w_kj| differentiated in v_j, times the adjoint, with the implicit function
    theorem's minus sign."""
    pull = (2.0 * l2) * v * W
    if l1:
        pull = pull + l1 * np.sign(W)
    pulled = U * pull
    if pulled.ndim == 2:
        pulled = pulled.sum(axis=0)
    return -pulled * slope


def _factor(H: np.ndarray, diagonal: np.ndarray, name: str) -> CholeskyFactor:
    """:func:`~flexpoison.engine.cholesky` of H (``diagonal`` its diagonal), its test
    of the pivots made with the cheapest reductions (an ``any`` of a few booleans costs
    more than the factorisation); a failed test is left to it, for its one error."""
    L, info = dpotrf(H, lower=1, clean=0)
    if info == 0:
        pivots = L.diagonal()  # the method: a twentieth of np.diagonal's cost
        margin = pivots * pivots - _COLLINEAR * diagonal
        if margin[margin.argmin()] > 0.0:
            return CholeskyFactor(L)
    return cholesky(H, name)


@dataclass(slots=True)
class ScaledTrial:
    """One candidate's optimum: θ (flat), H's Cholesky factor, φᵀθ, the observed
    quadratic f's value at θ and ½∇f = Mθ + m (None when nothing is observed), the
    scale v with its slope ∂v/∂x_p that defined the penalty, and the rows trained on."""

    theta: np.ndarray
    factor: CholeskyFactor
    phi_theta: float
    value: float | None
    half_gradient: np.ndarray | None
    v: np.ndarray
    slope: np.ndarray
    n: int

    def fit(self) -> Fit:
        """The optimum as a :class:`Fit` with H's factor."""
        return Fit(self.theta[None], None, self.factor, self.n)


class ScaledSolver:
    """The optimum of L(θ) (module docstring) for a one-output squared-residual learner
    without L1 on fixed statistics plus one row, the penalty's scale given per
    candidate: one p × p Cholesky factorisation per candidate."""

    def __init__(self, learner: Learner, gram: GramData, observe: Quadratic | None = None):
        curvature = learner.loss.curvature
        if not self.applies(learner) or curvature is None:
            raise TypeError(
                f"{learner.name}: the scaled solver needs a one-output squared-residual "
                "loss with an L2 penalty only"
            )
        p = gram.G.shape[0]
        self.learner = learner
        self.d = p - learner.fit_intercept
        self.n = gram.n + 1
        self.kappa = learner.scale(self.n) * curvature
        self.A = self.kappa * gram.G  # H without the candidate and the penalty
        self.c = self.kappa * gram.r
        self.observe = observe

    @staticmethod
    def applies(learner: Learner) -> bool:
        """Whether the learner's objective is the module docstring's L."""
        return (
            learner.loss.curvature is not None
            and learner.n_outputs == 1
            and learner.l1 == 0
            and not learner.intercept_l2
            and not learner.pinned_rows
        )

    @classmethod
    def for_data(
        cls, learner: Learner, data: Data, observe: Quadratic | None = None
    ) -> ScaledSolver | None:
        """A solver when it applies to the learner and the data are statistics."""
        if not (cls.applies(learner) and isinstance(data, GramData)):
            return None
        return cls(learner, data, observe)

    def trial(self, phi: np.ndarray, t: float, v: np.ndarray, slope: np.ndarray) -> ScaledTrial:
        """θ with (φ, t) added and the penalty's scale v: H θ = κ(r + tφ),
        H = κ(G + φφᵀ) + Λ(v), and the observed f(θ) = θᵀ(h + m) + m₀ with
        h = Mθ + m = ½∇f. A singular H raises
        :class:`~flexpoison.errors.SingularHessianError`."""
        kphi = self.kappa * phi
        H = kphi[:, None] * phi
        H += self.A
        diagonal = H.reshape(-1)[:: H.shape[0] + 1]  # a view of H_jj
        if self.learner.l2:
            diagonal[: self.d] += self.learner.l2 * (v * v)
        factor = _factor(H, diagonal, self.learner.name)
        theta = dpotrs(factor.L, self.c + t * kphi, lower=1)[0]
        value = h = None
        if self.observe is not None:
            m = self.observe.m
            h = self.observe.M.dot(theta) + m
            value = theta.dot(h + m) + self.observe.m0
        return ScaledTrial(theta, factor, phi.dot(theta), value, h, v, slope, self.n)

    def observed_gradient(self, trial: ScaledTrial) -> np.ndarray | None:
        """∇_θf = 2(Mθ + m) of the observed quadratic f at the trial's θ (None when
        nothing is observed)."""
        return None if trial.half_gradient is None else 2.0 * trial.half_gradient

    def penalty_term(self, trial: ScaledTrial, u: np.ndarray) -> np.ndarray:
        """:func:`scale_term` at the trial: the gradient's part through v(x_p)."""
        d = self.d
        return scale_term(u[:d], trial.theta[:d], trial.v, trial.slope, self.learner.l2, 0.0)


__all__ = ["ScaledSolver", "ScaledTrial", "scale_term"]
