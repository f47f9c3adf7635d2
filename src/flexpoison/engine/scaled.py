"""A squared residual whose penalty's per-feature weights move with the candidate row.

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

With an L1 term λ₁·Σ_j v_j(x_p)|θ_j| as well (a lasso or elastic-net pipeline), the
same holds on the support S of the warm start with its signs σ (the intercept always
in S): H_SS θ_S = κ(r + tφ)_S − λ₁(v ⊙ σ)_S, θ = 0 off S. That θ is the optimum when
it keeps the signs, σ_j θ_j > 0, and every weight j off S meets
|κ(r + tφ)_j − (Hθ)_j| ≤ λ₁v_j (the KKT conditions); otherwise the trial says so
(None) and the caller runs the general solver, as for the rank-one solver.

Its gradient. Each v_j depends on x_p through the feature's own column only, so
g_j = ∇_θ L gains ∂g_j/∂x_pj = (2λ₂ v_j θ_j + λ₁ σ_j)·∂v_j/∂x_pj beyond the row's
term of :mod:`flexpoison.engine.adjoint`, whence (:func:`scale_term`)

    ∇_{x_p} E = a·u_w + b·(φᵀu)·w  −  u_w ⊙ (2λ₂ v ⊙ w + λ₁σ) ⊙ ∂v/∂x_p,

u = H_SS⁻¹(∇_θE)_S on S and 0 off it, with one factor of H_SS serving θ and u. An
observed quadratic E = θᵀMθ + 2mᵀθ + m₀ (:class:`~flexpoison.engine.Quadratic`) is
evaluated at θ directly, with ∇_θE = 2(Mθ + m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from ..errors import SingularHessianError
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
    if info == 0:  # then H_jj > 0: the test L_jj² > c·H_jj as min_j L_jj²/H_jj > c
        pivots = L.diagonal()  # the method: a twentieth of np.diagonal's cost
        share = pivots * pivots / diagonal
        if share[share.argmin()] > _COLLINEAR:
            return CholeskyFactor(L)
    return cholesky(H, name)


#: The KKT test's allowance for rounding: |g_j| ≤ λ_j·(1 + 10⁻⁹) + 10⁻¹⁴.
_KKT_SLACK = (1e-9, 1e-14)


@dataclass(slots=True)
class ScaledTrial:
    """One candidate's optimum: θ (flat), the Cholesky factor of H (of H_SS with L1),
    φᵀθ, the observed quadratic f's value at θ and ½∇f = Mθ + m (None when nothing is
    observed), the scale v with its slope ∂v/∂x_p that defined the penalty, the rows
    trained on, and the support S as a mask (None without L1: every coordinate)."""

    theta: np.ndarray
    factor: CholeskyFactor
    phi_theta: float
    value: float | None
    half_gradient: np.ndarray | None
    v: np.ndarray
    slope: np.ndarray
    n: int
    active: np.ndarray | None = None

    def fit(self) -> Fit:
        """The optimum as a :class:`Fit` with H's factor."""
        return Fit(self.theta[None], self.active, self.factor, self.n)


class ScaledSolver:
    """The optimum of L(θ) (module docstring) for a one-output squared-residual learner
    on fixed statistics plus one row, the penalty's scale given per candidate: one
    Cholesky factorisation per candidate (of H_SS on the warm start's support with L1,
    None where that support is not the optimum's)."""

    def __init__(self, learner: Learner, gram: GramData, observe: Quadratic | None = None):
        curvature = learner.loss.curvature
        if not self.applies(learner) or curvature is None:
            raise TypeError(
                f"{learner.name}: the scaled solver needs a one-output squared-residual "
                "loss with an unpenalised intercept"
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

    def trial(
        self, phi: np.ndarray, t: float, v: np.ndarray, slope: np.ndarray, Theta0: np.ndarray
    ) -> ScaledTrial | None:
        """θ with (φ, t) added and the penalty's scale v: H θ = κ(r + tφ),
        H = κ(G + φφᵀ) + Λ(v), and the observed f(θ) = θᵀ(h + m) + m₀ with
        h = Mθ + m = ½∇f. With L1, on the support of ``Theta0`` (module docstring;
        None when it is not the optimum's). A singular H raises
        :class:`~flexpoison.errors.SingularHessianError` (without L1)."""
        kphi = self.kappa * phi
        H = kphi[:, None] * phi
        H += self.A
        diagonal = H.reshape(-1)[:: H.shape[0] + 1]  # a view of H_jj
        if self.learner.l2:
            diagonal[: self.d] += self.learner.l2 * (v * v)
        b = self.c + t * kphi
        active = None
        if self.learner.l1:
            solved = self._on_support(H, b, v, Theta0)
            if solved is None:
                return None
            theta, factor, active = solved
        else:
            factor = _factor(H, diagonal, self.learner.name)
            theta = dpotrs(factor.L, b, lower=1)[0]
        value = h = None
        if self.observe is not None:
            m = self.observe.m
            h = self.observe.M.dot(theta) + m
            value = float(theta.dot(h + m)) + self.observe.m0
        phi_theta = float(phi.dot(theta))
        return ScaledTrial(theta, factor, phi_theta, value, h, v, slope, self.n, active)

    def _on_support(
        self, H: np.ndarray, b: np.ndarray, v: np.ndarray, Theta0: np.ndarray
    ) -> tuple[np.ndarray, CholeskyFactor, np.ndarray] | None:
        """(θ, H_SS's factor, the support mask) of the sign-fixed problem on the support
        S of ``Theta0``, H_SS θ_S = b_S − λ₁(v ⊙ σ)_S, or None when θ changes a sign,
        a weight off S fails |b_j − (Hθ)_j| ≤ λ₁v_j, S holds no weight, or H_SS is
        singular (module docstring; the general solver then decides)."""
        d, l1 = self.d, self.learner.l1
        sign = np.sign(Theta0[0, :d])
        held = sign != 0
        if not held.any():
            return None
        active = np.ones(H.shape[0], dtype=bool)
        active[:d] = held
        idx = np.flatnonzero(active)
        H_S = H[np.ix_(idx, idx)]
        rhs = b.copy()
        rhs[:d] -= l1 * v * sign
        try:
            factor = _factor(H_S, H_S.diagonal(), self.learner.name)
        except SingularHessianError:
            return None
        theta = np.zeros_like(b)
        theta[idx] = dpotrs(factor.L, rhs[idx], lower=1)[0]
        weights = theta[:d]
        if np.any(sign[held] * weights[held] <= 0.0):
            return None  # a weight crossed (or reached) zero: the support changes
        off = np.flatnonzero(~held)
        if off.size:
            pull = b[off] - H[off].dot(theta)
            relative, absolute = _KKT_SLACK
            if np.any(np.abs(pull) > l1 * v[off] * (1.0 + relative) + absolute):
                return None  # a weight off S wants to enter it
        factor.idx = idx
        return theta, factor, active

    def observed_gradient(self, trial: ScaledTrial) -> np.ndarray | None:
        """∇_θf = 2(Mθ + m) of the observed quadratic f at the trial's θ (None when
        nothing is observed)."""
        return None if trial.half_gradient is None else 2.0 * trial.half_gradient

    def penalty_term(self, trial: ScaledTrial, u: np.ndarray) -> np.ndarray:
        """:func:`scale_term` at the trial: the gradient's part through v(x_p)."""
        d = self.d
        learner = self.learner
        return scale_term(u[:d], trial.theta[:d], trial.v, trial.slope, learner.l2, learner.l1)


__all__ = ["ScaledSolver", "ScaledTrial", "scale_term"]
