"""Per-row losses of the linear support vector machines: hinge and ε-insensitive.

liblinear's support vector machines train on the margin m = ỹ·z of a label ỹ = ±1
(classification) or on the residual r = z − t (regression):

=============================  ======================  ==========================
loss                           ℓ(z, t)                 smoothness
=============================  ======================  ==========================
:class:`SquaredHingeLoss`      max(0, 1 − ỹz)²         C¹, ℓ'' piecewise constant
:class:`HingeLoss`             max(0, 1 − ỹz)          piecewise linear
:class:`SquaredEpsilonLoss`    max(0, |z − t| − ε)²    C¹, ℓ'' piecewise constant
:class:`EpsilonLoss`           max(0, |z − t| − ε)     piecewise linear
=============================  ======================  ==========================

For K ≥ 3 classes the hinge losses are one-vs-rest: K independent binary problems,
ℓ(z, t) = Σ_k h(z_k, ỹ_k) with ỹ_k = +1 for the row's class t and −1 for the others
(the targets t are class indices, as for the softmax loss); for one output t is ±1.

**The squared losses** are differentiated on their active set: ℓ'' = 2 where the row
is inside the margin (ỹz < 1) or outside the tube (|r| > ε), 0 elsewhere. At a row
exactly on the boundary (ỹz = 1, |r| = ε) ℓ' = 0 is continuous but ℓ'' jumps; the rule
there is one-sided, ℓ'' = 0 (the row counted as inactive, the derivative from the
side where it leaves the active set). The fixed points at which the contract suite
checks gradients have no row on a boundary.

**The piecewise-linear losses** have no second derivative at their kinks, where the
optimum holds rows exactly (the margin support vectors, the rows on the edge of the
tube). They declare their pieces (:class:`PiecewiseLinearLoss`): per row and output,
the knots κ_1 < … < κ_q in z and the slopes σ_0 < … < σ_q of ℓ between them. The exact
solver and the implicit gradient of such a loss are in :mod:`flexpoison.engine.kinks`;
``d1`` is the slope of the piece a row is in (at a knot, one of the two slopes there:
the rows on knots get their multipliers from the solver instead) and ``d2`` is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .losses import Loss


@runtime_checkable
class PiecewiseLinearLoss(Loss, Protocol):
    """A convex loss linear between knots in z, separable across the outputs.

    ``pieces(t)`` returns the knots, shape (n, K, q), increasing along the last
    axis, and the slopes, shape (n, K, q + 1): ℓ has slope σ_j between κ_j and
    κ_{j+1} (σ_0 left of κ_1, σ_q right of κ_q), with σ_0 < σ_1 < … < σ_q."""

    def pieces(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def _signs(t: np.ndarray, K: int) -> np.ndarray:
    """ỹ, shape (n, K): the ±1 labels (one output), or one-vs-rest signs of class
    indices (K outputs)."""
    if K == 1:
        return np.asarray(t, dtype=float)[:, None]
    return np.where(np.asarray(t)[:, None] == np.arange(K), 1.0, -1.0)


def _diagonal(values: np.ndarray) -> np.ndarray:
    """(n, K) → (n, K, K) with the values on the diagonal (separable outputs)."""
    n, K = values.shape
    out = np.zeros((n, K, K))
    out[:, np.arange(K), np.arange(K)] = values
    return out


@dataclass(frozen=True)
class SquaredHingeLoss:
    """ℓ(z, t) = Σ_k max(0, 1 − ỹ_k z_k)²: ℓ' = −2ỹ·max(0, 1 − ỹz), ℓ'' = 2·[ỹz < 1]
    (one output: t = ±1; K outputs: one-vs-rest, t the class index)."""

    n_outputs: int = 1
    curvature: float | None = None

    def _slack(self, z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = _signs(t, self.n_outputs)
        return y, np.maximum(0.0, 1.0 - y * z)

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        _, a = self._slack(z, t)
        return np.sum(a * a, axis=1)

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        y, a = self._slack(z, t)
        return -2.0 * y * a

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        _, a = self._slack(z, t)
        return _diagonal(2.0 * (a > 0.0))


@dataclass(frozen=True)
class HingeLoss:
    """ℓ(z, t) = Σ_k max(0, 1 − ỹ_k z_k): one knot per output at z = ỹ (margin 1),
    slopes (−1, 0) for ỹ = +1 and (0, +1) for ỹ = −1."""

    n_outputs: int = 1
    curvature: float | None = None

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        y = _signs(t, self.n_outputs)
        return np.sum(np.maximum(0.0, 1.0 - y * z), axis=1)

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        y = _signs(t, self.n_outputs)
        return -y * (y * z < 1.0)

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.zeros((z.shape[0], self.n_outputs, self.n_outputs))

    def pieces(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = _signs(t, self.n_outputs)
        slopes = np.stack([np.minimum(-y, 0.0), np.maximum(-y, 0.0)], axis=2)
        return y[:, :, None], slopes


@dataclass(frozen=True)
class SquaredEpsilonLoss:
    """ℓ(z, t) = max(0, |z − t| − ε)², K = 1: ℓ' = 2·sign(r)·max(0, |r| − ε),
    ℓ'' = 2·[|r| > ε], ∂ℓ'/∂t = −ℓ'', r = z − t."""

    epsilon: float = 0.0
    n_outputs: int = 1
    curvature: float | None = None

    def _slack(self, z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = z - np.asarray(t, dtype=float)[:, None]
        return r, np.maximum(0.0, np.abs(r) - self.epsilon)

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        _, a = self._slack(z, t)
        return a[:, 0] * a[:, 0]

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        r, a = self._slack(z, t)
        return 2.0 * np.sign(r) * a

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        _, a = self._slack(z, t)
        return 2.0 * (a > 0.0)[:, :, None]

    def d1_dt(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        _, a = self._slack(z, t)
        return -2.0 * (a > 0.0)


@dataclass(frozen=True)
class EpsilonLoss:
    """ℓ(z, t) = max(0, |z − t| − ε), K = 1: knots at t − ε and t + ε with slopes
    (−1, 0, +1); for ε = 0 (the absolute loss) one knot at t with slopes (−1, +1).
    Off the knots ℓ' does not depend on t (∂ℓ'/∂t = 0)."""

    epsilon: float = 0.0
    n_outputs: int = 1
    curvature: float | None = None

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        r = z[:, 0] - np.asarray(t, dtype=float)
        return np.maximum(0.0, np.abs(r) - self.epsilon)

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        r = z - np.asarray(t, dtype=float)[:, None]
        return np.where(r > self.epsilon, 1.0, 0.0) - (r < -self.epsilon)

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.zeros((z.shape[0], 1, 1))

    def d1_dt(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.zeros_like(z)

    def pieces(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=float)[:, None, None]
        if self.epsilon == 0.0:
            return t, np.broadcast_to(np.array([-1.0, 1.0]), (t.shape[0], 1, 2))
        knots = t + np.array([-self.epsilon, self.epsilon])
        return knots, np.broadcast_to(np.array([-1.0, 0.0, 1.0]), (t.shape[0], 1, 3))

    def constant_target(self, c: float) -> str | None:
        """Responses all equal to c with |c| = ε: θ = 0 is the optimum (no loss, no
        penalty) and puts every row on a knot, where θ's derivative is not defined
        (:func:`flexpoison.engine.losses.declared`); None for any other c."""
        if abs(c) != self.epsilon:
            return None
        return (
            "is fitted by θ = 0 with no loss, every row on the edge of its ε-tube "
            f"(|y − θ·x| = epsilon = {self.epsilon:g}), the loss's kink, where the model's "
            "derivative is not defined; attack rows whose responses vary, or set epsilon "
            f"other than {abs(c):g}"
        )


__all__ = [
    "PiecewiseLinearLoss",
    "SquaredHingeLoss",
    "HingeLoss",
    "SquaredEpsilonLoss",
    "EpsilonLoss",
]
