"""Factorisations of the Hessian, and the fitted optimum that carries one.

Linear systems are solved with a Cholesky factor (LAPACK potrf/potrs) or a
Sherman–Morrison update of one; H⁻¹ is never formed from a determinant test, and a
singular Hessian raises :class:`~flexpoison.errors.SingularHessianError`, never a NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from scipy.linalg import lu_factor, lu_solve
from scipy.linalg.lapack import dpotrf, dpotrs

from ..errors import SingularHessianError
from .adjoint import SolvedAdjoint

if TYPE_CHECKING:
    from .learner import Learner


class Factor(Protocol):
    """What a fit carries for the implicit gradient: a solve with its Hessian (on the
    free coordinates, 0 elsewhere) and the candidate row's gradient from it.

    ``row_gradient(learner, Θ, φ, t, n, d, ∇_Θ E, with_target)`` returns (∇_{x_p} E,
    ∂E/∂t_p or None) of the last row (φ, t) of the n rows fitted: the one formula fed
    with u = H⁻¹∇_Θ E (:class:`~flexpoison.engine.adjoint.SolvedAdjoint`, for every
    factor that solves with H), or, for a fit that holds rows on a loss's kinks, its
    own (:class:`~flexpoison.engine.kinks.KinkFactor`)."""

    def solve(self, b: np.ndarray) -> np.ndarray: ...

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
    ) -> tuple[np.ndarray, float | None]: ...


class CholeskyFactor(SolvedAdjoint):
    """H_SS = L·Lᵀ on the free coordinates S (all of them when ``idx`` is None).

    ``solve(b)`` returns H_SS⁻¹ b_S on S and 0 elsewhere (LAPACK potrs), so callers
    never index by the active set themselves."""

    __slots__ = ("L", "idx")

    def __init__(self, L: np.ndarray, idx: np.ndarray | None = None):
        self.L, self.idx = L, idx

    def solve(self, b: np.ndarray) -> np.ndarray:
        if self.idx is None:
            return dpotrs(self.L, b, lower=1)[0]
        out = np.zeros_like(b)
        out[self.idx] = dpotrs(self.L, b[self.idx], lower=1)[0]
        return out


class RankOneFactor(SolvedAdjoint):
    """H = A + κ·φφᵀ on S, from A_SS⁻¹ padded with zeros (``Ainv``), by Sherman–Morrison:

        H⁻¹ b = A⁻¹ b − q·(qᵀb)·κ / (1 + κ·φᵀq),   q = A⁻¹ φ,

    every inverse restricted to S and padded with zeros (or, on fewer rows than features,
    A⁻¹ as a :class:`WoodburyInverse`). ``coef`` = κ / (1 + κ·φᵀq) > 0: the update
    never loses definiteness (κ > 0)."""

    __slots__ = ("Ainv", "q", "coef")

    def __init__(self, Ainv: np.ndarray | WoodburyInverse, q: np.ndarray, coef: float):
        self.Ainv, self.q, self.coef = Ainv, q, coef

    def solve(self, b: np.ndarray) -> np.ndarray:
        q = self.q
        return self.Ainv.dot(b) - q * (self.coef * float(q.dot(b)))


class WoodburyInverse:
    """A⁻¹ as an operator, for A = D + UᵀSU with D diagonal and positive, U (k, p) with
    k ≪ p and S = diag(±1), by the Woodbury identity (S⁻¹ = S):

        A⁻¹b = D⁻¹b − Vᵀ K⁻¹ V b,   V = U D⁻¹,   K = S + V Uᵀ (k × k),

    an O(k²p) set-up and O(kp) per product, where the p × p inverse costs O(p³): the
    dual form of a ridge fit on fewer rows than features. ``dot`` takes a vector or
    the columns of a matrix, like ``ndarray.dot``. K is singular exactly when A is:
    a pivot of K's LU factor at most ``_COLLINEAR``·max|K_ii| raises
    :class:`~flexpoison.errors.SingularHessianError`."""

    __slots__ = ("dinv", "V", "lu")

    def __init__(self, d: np.ndarray, U: np.ndarray, s: np.ndarray, name: str):
        self.dinv = 1.0 / d
        self.V = U * self.dinv
        K = self.V @ U.T
        K.flat[:: K.shape[0] + 1] += s
        self.lu = lu_factor(K, check_finite=False)
        pivots = np.abs(np.diagonal(self.lu[0]))
        if not np.all(pivots > _COLLINEAR * max(float(np.max(np.abs(np.diagonal(K)))), 1.0)):
            raise SingularHessianError(
                f"{name}: the training objective's Hessian is singular, so the model is "
                "not unique; add regularisation (e.g. an L2 penalty)"
            )

    def dot(self, b: np.ndarray) -> np.ndarray:
        scaled = self.dinv * b if b.ndim == 1 else self.dinv[:, None] * b
        return scaled - self.V.T @ lu_solve(self.lu, self.V @ b, check_finite=False)


@dataclass(slots=True)
class Fit:
    """A learner's optimum on a data set, with what the implicit gradient reuses.

    ``Theta`` (K, p) is the solution; ``active`` masks the flattened coordinates that
    are free (None: all of them, as without L1; with L1 the nonzero weights and the
    intercepts); ``factor`` solves with the Hessian restricted to them (None when no
    coordinate is free, or when the solver did not need the exact Hessian at
    ``Theta``: :func:`~flexpoison.engine.fit.hessian_factor` makes it on demand);
    ``n`` is the number of rows trained on. Read-only by convention (not frozen: it is
    made on every objective evaluation, and freezing costs µs).
    """

    Theta: np.ndarray
    active: np.ndarray | None
    factor: Factor | None
    n: int


#: A pivot with L_jj² at most this share of H_jj: column j lies in the span of the
#: columns before it, to rounding (scale free: the features' units cancel).
_COLLINEAR = 1e-13


def cholesky(H: np.ndarray, name: str, idx: np.ndarray | None = None) -> CholeskyFactor:
    """Cholesky factor of H (LAPACK potrf: the systems are small, so the cost is call
    overhead, which the raw LAPACK binding keeps to microseconds). ``name`` (the
    learner's) heads the error raised when H is not positive definite — or only by
    rounding: a pivot with L_jj² ≤ :data:`_COLLINEAR`·H_jj (a feature collinear with
    others, whose float32 copy potrf factors without complaint)."""
    factor, info = dpotrf(H, lower=1, clean=0)
    if info == 0:
        pivots = np.diagonal(factor)
        if np.any(pivots * pivots <= _COLLINEAR * np.diagonal(H)):
            info = 1
    if info != 0:
        raise SingularHessianError(
            f"{name}: the training objective's Hessian is singular, so the "
            "model is not unique (collinear or duplicated features, or fewer rows than "
            "features); add regularisation (e.g. an L2 penalty) or remove redundant "
            "features"
        )
    return CholeskyFactor(factor, idx)


__all__ = ["CholeskyFactor", "RankOneFactor", "WoodburyInverse", "Factor", "Fit", "cholesky"]
