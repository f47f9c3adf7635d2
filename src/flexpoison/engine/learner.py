"""A learner: one training objective, declared once; its gradient and Hessian derived.

Every supported victim minimises, over θ = (W, b) with K output rows,

    L(θ) = s(N) · Σ_i ℓ(W φ(x_i), t_i) + (λ₂/2)·‖W·diag(v)‖² + λ₁·‖W·diag(v)‖₁,

with φ(x) = (x − shift, 1) when the model has an intercept (the intercept is not
penalised, unless ``intercept_l2`` says so: liblinear's; ``shift`` = x_c keeps the
Gram matrix well conditioned and is undone by
:func:`flexpoison.attack.effects.public_map`) and φ(x) = x without one. ``s(N)`` is a
constant c, or c / N with N the number of rows trained on (scikit-learn's scaling of
each supported estimator is stated in :mod:`flexpoison.models`). v is a per-feature
scale of the penalty: 1, or a pipeline's scaler's ``scale_`` (:mod:`flexpoison.scalers`).
:class:`Learner` holds (ℓ, s, λ₁, λ₂, v); from ℓ's derivatives alone follow

* the stationarity condition g(θ) = ∇_θ L = s Σ_i ℓ'(z_i) ⊗ φ_i + Λ₂ θ (+ Λ₁ sign w);
* the Hessian H = s Σ_i ℓ''(z_i) ⊗ φ_i φ_iᵀ + Λ₂,

with Λ₂ = λ₂·diag(P v²) and Λ₁ = λ₁·diag(P v) (P masks the intercepts).

L1 terms are supported for every loss with a second derivative (exact active-set
solves: :class:`~flexpoison.engine.fit.QuadraticL1Solver` for a squared residual,
:class:`~flexpoison.engine.fit.ProximalNewtonSolver` otherwise); a piecewise-linear
loss with L1 is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from .data import Data, LossSums
from .losses import Loss, declared


@dataclass(frozen=True)
class Learner:
    """A training objective L(θ) = s(N)·Σ ℓ + (λ₂/2)‖W‖² + λ₁‖W‖₁ (see module doc).

    Parameters
    ----------
    name : str
        Human-readable name, the registry's label of the estimator (used in error
        messages).
    loss : Loss
        The per-row loss ℓ.
    fit_intercept : bool
        Whether φ(x) ends with a constant 1 (an unpenalised intercept per output).
    loss_weight : float
        c in s(N) = c, or s(N) = c / N when ``per_sample`` is true.
    per_sample : bool
        Whether the loss is averaged over the N rows trained on.
    l2, l1 : float
        λ₂ and λ₁ (both ≥ 0); λ₁ > 0 needs a loss with a second derivative (not a
        piecewise-linear one).
    scales : ndarray of shape (d,) or None
        v, the per-feature scale of the penalty (None: 1).
    intercept_l2 : float
        The L2 weight of the intercepts (default 0: unpenalised). liblinear penalises
        its intercept b = s·w₀ as the weight w₀ of a constant feature s
        (``intercept_scaling``): ½w₀² = ½(1/s²)·b², so ``intercept_l2`` = 1/s².
        Such a learner is fitted on uncentred features (shift 0), where b is the
        intercept itself.
    pinned_rows : tuple of int
        Outputs whose weights are held at 0 (default none): such an output's score is
        its intercept alone, a free scalar of the model (the Huber loss's scale σ is
        the intercept of a second output). Pinned coordinates have g = 0 and an
        identity block in H, uncoupled from the others, so that no solver moves them
        and the implicit gradient has no component on them; they are the last rows
        and are left out of the public θ (:meth:`pack`).
    """

    name: str
    loss: Loss
    fit_intercept: bool
    loss_weight: float
    per_sample: bool
    l2: float
    l1: float
    scales: np.ndarray | None = field(default=None, compare=False, repr=False)
    intercept_l2: float = 0.0
    pinned_rows: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.l1 > 0 and hasattr(self.loss, "pieces"):
            raise TypeError(
                f"{self.name}: an L1 penalty is supported for losses with a second "
                f"derivative, not the piecewise-linear {type(self.loss).__name__}"
            )

    @property
    def n_outputs(self) -> int:
        return self.loss.n_outputs

    @property
    def centres(self) -> bool:
        """Whether the features may be centred, φ = (x − shift, 1), without moving the
        public θ: with an intercept, unless it is penalised (``intercept_l2``: b itself
        is penalised) or the scores are shift invariant (softmax) under an L1 term.
        There Newton's steps keep Σ_k b_k where it starts (the Hessian's gauge,
        :meth:`from_sums`), and scikit-learn's gauge is Σ_k b_k = 0 on the raw
        features; centring moves b_k by w_k·shift, and Σ_k w_k = 0 holds at the
        optimum under an L2 penalty alone."""
        if not self.fit_intercept or self.intercept_l2:
            return False
        return not (
            self.l1 > 0 and self.n_outputs > 1 and declared(self.loss, "shift_invariant", False)
        )

    def scale(self, n: int) -> float:
        """s(N): the factor in front of Σ ℓ."""
        return self.loss_weight / n if self.per_sample else self.loss_weight

    def penalty_mask(self, d: int) -> np.ndarray:
        """P: 1 on the flattened weight coordinates, 0 on the intercepts (read-only)."""
        return _penalty_mask(self.n_outputs, d, self.fit_intercept)

    def free_mask(self, d: int) -> np.ndarray | None:
        """False on the pinned coordinates (:attr:`pinned_rows`' weights), flattened
        like θ; None when nothing is pinned."""
        if not self.pinned_rows:
            return None
        return _free_mask(self.n_outputs, d, self.fit_intercept, self.pinned_rows)

    def pack(self, Theta: np.ndarray) -> np.ndarray:
        """The flat public θ of a (K × p) parameter matrix: the pinned coordinates
        (always 0) left out."""
        free = self.free_mask(Theta.shape[1] - self.fit_intercept)
        return Theta.ravel() if free is None else Theta.ravel()[free]

    def unpack(self, theta: np.ndarray, d: int) -> np.ndarray:
        """Inverse of :meth:`pack` for d features: the (K × p) matrix, pinned zeros
        put back."""
        theta = np.asarray(theta, dtype=float)
        free = self.free_mask(d)
        if free is None:
            return theta.reshape(self.n_outputs, -1)
        full = np.zeros(free.size)
        full[free] = theta
        return full.reshape(self.n_outputs, -1)

    def l2_weights(self, d: int) -> np.ndarray:
        """The diagonal of Λ₂ = λ₂·diag(P v²), flattened like θ (plus
        ``intercept_l2`` on the intercepts)."""
        weights = self.l2 * self._scaled_mask(d, 2)
        if self.intercept_l2 and self.fit_intercept:
            weights = weights + self.intercept_l2 * (1.0 - self.penalty_mask(d))
        return weights

    def l1_weights(self, d: int) -> np.ndarray:
        """The diagonal of Λ₁ = λ₁·diag(P v), flattened like θ."""
        return self.l1 * self._scaled_mask(d, 1)

    def _scaled_mask(self, d: int, power: int) -> np.ndarray:
        P = self.penalty_mask(d)
        if self.scales is None:
            return P
        grid = np.zeros((self.n_outputs, d + self.fit_intercept))
        grid[:, :d] = self.scales**power
        return grid.ravel()

    def with_scales(self, scales: np.ndarray | None) -> Learner:
        """The same learner with the penalty's per-feature scale v."""
        return replace(self, scales=scales)

    def features(self, X: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """φ(x) for each row: (x − shift, 1) with an intercept, x without one."""
        X = np.atleast_2d(X)
        if not self.fit_intercept:
            return np.array(X, dtype=float)
        Phi = np.empty((X.shape[0], X.shape[1] + 1))
        np.subtract(X, shift, out=Phi[:, :-1])
        Phi[:, -1] = 1.0
        return Phi

    def feature_row(self, x: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """φ(x) for one row (1-D): :meth:`features` without its 2-D handling, for the
        attack's inner loop."""
        if not self.fit_intercept:
            return x - shift
        phi = np.empty(x.shape[0] + 1)
        np.subtract(x, shift, out=phi[:-1])
        phi[-1] = 1.0
        return phi

    def smooth_gradient_hessian(
        self, data: Data, Theta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """g(θ) and H(θ) of the smooth part (everything but λ₁‖W‖₁), flattened."""
        _, g, H = self.smooth_value_gradient_hessian(data, Theta)
        assert H is not None
        return g, H

    def smooth_value_gradient_hessian(
        self, data: Data, Theta: np.ndarray, want_hess: bool = True
    ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """L, g and H (None unless ``want_hess``) of the smooth part, from one pass."""
        sums = data.sums(self.loss, Theta, want_hess=want_hess)
        return self.from_sums(sums, data.n, Theta)

    def from_sums(
        self, sums: LossSums, n: int, Theta: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """L = s·Σℓ + ½θᵀΛ₂θ, g = s·Σℓ'⊗φ + Λ₂θ and H = s·Σℓ''⊗φφᵀ + Λ₂ from the
        loss sums over N = ``n`` rows (L NaN and H None when the sums lack them)."""
        K, p = Theta.shape
        s = self.scale(n)
        d = p - self.fit_intercept
        P = self.penalty_mask(d)
        L2 = self.l2_weights(d)
        theta = Theta.ravel()
        g = s * sums.grad.ravel() + L2 * theta
        free = self.free_mask(d)
        if free is not None:  # pinned coordinates: g = 0, an identity block in H
            g[~free] = 0.0
        value = (
            sums.value
            if math.isnan(sums.value)
            else s * sums.value + 0.5 * float(L2 @ (theta * theta))
        )
        if sums.hess is None:
            return value, g, None
        H = s * sums.hess
        H.flat[:: H.shape[0] + 1] += L2
        if K > 1 and self.fit_intercept and declared(self.loss, "shift_invariant", False):
            # Softmax scores are invariant to adding one constant to every intercept; the
            # Hessian is singular along that direction, g has no component on it. Fixing
            # the gauge Σ_k b_k = 0 (scikit-learn's) makes H definite without moving θ.
            # (K independent columns have no such direction: their H is left as it is.)
            u = 1.0 - P
            H += np.outer(u, u)
        if free is not None:
            H[~free, :] = 0.0
            H[:, ~free] = 0.0
            H[~free, ~free] = 1.0
        return value, g, H


@lru_cache(maxsize=16)
def identity(p: int) -> np.ndarray:
    """I_p (read-only, shared)."""
    eye = np.eye(p)
    eye.flags.writeable = False
    return eye


@lru_cache(maxsize=64)
def _penalty_mask(K: int, d: int, fit_intercept: bool) -> np.ndarray:
    grid = np.ones((K, d + fit_intercept))
    if fit_intercept:
        grid[:, d] = 0.0
    mask = grid.ravel()
    mask.flags.writeable = False
    return mask


@lru_cache(maxsize=64)
def _free_mask(K: int, d: int, fit_intercept: bool, pinned: tuple[int, ...]) -> np.ndarray:
    grid = np.ones((K, d + fit_intercept), dtype=bool)
    grid[list(pinned), :d] = False
    mask = grid.ravel()
    mask.flags.writeable = False
    return mask


__all__ = ["Learner", "identity"]
