"""Per-row losses ℓ(z, t) of the supported learners, with their derivatives in z.

Every learner in flexpoison is a (generalised) linear model: a row x gives the
scores ``z = W φ(x) ∈ R^K`` with ``φ(x) = (x − shift, 1)``, and training minimises

    L(θ) = s(N) · Σ_i ℓ(z_i, t_i) + (λ₂ / 2)·‖w‖² + λ₁·‖w‖₁.

A loss declares ℓ and its first two derivatives in z once; the learner's gradient,
Hessian and the mixed derivative that the poisoning gradient needs are all derived
from these three functions (see :mod:`flexpoison._learners`). Shapes: ``z`` is
``(n, K)``; ``t`` is ``(n,)`` (encoded targets); ``value`` returns ``(n,)``,
``d1`` ``(n, K)``, ``d2`` ``(n, K, K)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_softmax, softmax


@dataclass(frozen=True)
class SquaredLoss:
    """ℓ(z, t) = (z − t)², K = 1: ℓ' = 2(z − t), ℓ'' = 2, ∂ℓ'/∂t = −2."""

    n_outputs: int = 1
    quadratic: bool = True  # ℓ'' is constant: one Newton step is exact

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (z[:, 0] - t) ** 2

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return 2.0 * (z - t[:, None])

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.full((z.shape[0], 1, 1), 2.0)

    def d1_dt(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        """∂ℓ'/∂t, shape (n, K): the derivative the response (y_p) gradient needs."""
        return np.full_like(z, -2.0)


@dataclass(frozen=True)
class LogisticLoss:
    """ℓ(z, t) = log(1 + exp(−t z)), t ∈ {−1, +1}, K = 1.

    ℓ' = −t·σ(−t z), ℓ'' = σ(z)·σ(−z), with σ the logistic function.
    """

    n_outputs: int = 1
    quadratic: bool = False

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, -t * z[:, 0])

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (-t * expit(-t * z[:, 0]))[:, None]

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (expit(z[:, 0]) * expit(-z[:, 0]))[:, None, None]


@dataclass(frozen=True)
class SoftmaxLoss:
    """ℓ(z, t) = −log softmax(z)_t = logsumexp(z) − z_t, t ∈ {0, …, K−1}.

    ℓ' = p − e_t, ℓ'' = diag(p) − p pᵀ, with p = softmax(z).
    """

    n_outputs: int

    quadratic: bool = False

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return -log_softmax(z, axis=1)[np.arange(z.shape[0]), t.astype(np.intp)]

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        g = softmax(z, axis=1)
        g[np.arange(z.shape[0]), t.astype(np.intp)] -= 1.0
        return g

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = softmax(z, axis=1)
        return p[:, :, None] * (np.eye(z.shape[1])[None] - p[:, None, :])


__all__ = ["SquaredLoss", "LogisticLoss", "SoftmaxLoss"]
