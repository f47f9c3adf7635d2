"""Per-row losses ℓ(z, t) of the supported learners, with their derivatives in z.

Every learner in flexpoison is a (generalised) linear model: a row x gives the
scores ``z = W φ(x) ∈ R^K`` with ``φ(x) = (x − shift, 1)``, and training minimises

    L(θ) = s(N) · Σ_i ℓ(z_i, t_i) + (λ₂ / 2)·‖w‖² + λ₁·‖w‖₁.

A loss declares ℓ and its first two derivatives in z once; the learner's gradient,
Hessian and the mixed derivative that the poisoning gradient needs are all derived
from these three functions (see :mod:`flexpoison.engine.learner` and
:mod:`flexpoison.engine.adjoint`). Shapes: ``z`` is ``(n, K)``; ``t`` is ``(n,)``
(encoded targets); ``value`` returns ``(n,)``, ``d1`` ``(n, K)``, ``d2`` ``(n, K, K)``.

Optional declarations (``curvature`` for a squared residual, ``d1_dt`` for a continuous
target, and more read through :func:`declared` with a default) let the engine
specialise, never guess; each is listed on the documentation's maths page ("What a loss
declares").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.special import expit, xlogy


class Loss(Protocol):
    """What every per-row loss declares (see the module docstring)."""

    @property
    def n_outputs(self) -> int: ...
    @property
    def curvature(self) -> float | None: ...

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray: ...
    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray: ...
    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class ContinuousTargetLoss(Loss, Protocol):
    """A loss of a continuous target t, differentiable in t as well."""

    def d1_dt(self, z: np.ndarray, t: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class SquaredLoss:
    """ℓ(z, t) = (z − t)², K = 1: ℓ' = 2(z − t), ℓ'' = 2, ∂ℓ'/∂t = −2 (c = 2)."""

    n_outputs: int = 1
    curvature: float | None = 2.0

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

    ℓ' = −t·σ(−t z), ℓ'' = σ(z)·σ(−z), with σ the logistic function; ℓ‴ = ℓ''·(1 − 2σ(z)),
    so |ℓ‴| ≤ ℓ'': curvature rate 1. ℓ'' ≤ ¼ (at z = 0): curvature bound ¼.
    """

    n_outputs: int = 1
    curvature: float | None = None
    curvature_rate: float = 1.0
    curvature_max: float = 0.25

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, -t * z[:, 0])

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (-t * expit(-t * z[:, 0]))[:, None]

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = expit(z[:, 0])  # σ(z)·σ(−z) = σ(z)·(1 − σ(z))
        return (p * (1.0 - p))[:, None, None]

    def d3(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = expit(z[:, 0])
        return (p * (1.0 - p) * (1.0 - 2.0 * p))[:, None, None, None]

    @staticmethod
    def scalar_d12(z: float, t: float) -> tuple[float, float]:
        """(ℓ', ℓ'') at one score, in floats (the local model's root finding calls it
        a few times per trial, where an array call costs ~5 µs): with e = exp(−|z|),
        σ(z)·σ(−z) = e/(1 + e)² and σ(−t z) = 1/(1 + e) if t·z ≤ 0, else e/(1 + e)."""
        e = math.exp(-abs(z))
        q = 1.0 / (1.0 + e)
        return (-t * (q if t * z <= 0.0 else e * q)), e * q * q


def _shifted_exp(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """m_i = max_k z_ik, e_ik = exp(z_ik − m_i) and s_i = Σ_k e_ik, row by row.

    numpy reduces along a short last axis one row at a time (≈ 15 ns a row), so for a
    few classes and many rows the K columns are combined elementwise instead (≈ 1 ns an
    element); a few rows (the attack's candidate) take the reductions, which cost fewer
    calls."""
    K = z.shape[1]
    if K > 16 or z.shape[0] <= 32:
        m = z.max(axis=1)
        e = np.exp(z - m[:, None])
        return m, e, e.sum(axis=1)
    m = z[:, 0].copy()
    for k in range(1, K):
        np.maximum(m, z[:, k], out=m)
    e = np.exp(z - m[:, None])
    total = e[:, 0].copy()
    for k in range(1, K):
        total += e[:, k]
    return m, e, total


def _softmax(z: np.ndarray) -> np.ndarray:
    """p_ik = exp(z_ik) / Σ_l exp(z_il), computed stably (see :func:`_shifted_exp`)."""
    _, e, total = _shifted_exp(z)
    e /= total[:, None]
    return e


@dataclass(frozen=True)
class SoftmaxLoss:
    """ℓ(z, t) = −log softmax(z)_t = logsumexp(z) − z_t, t ∈ {0, …, K−1}.

    ℓ' = p − e_t, ℓ'' = diag(p) − p pᵀ, with p = softmax(z). Shift invariant. A shift
    Δ moves each p_k by a factor within e^{±2‖Δ‖∞}, so vᵀℓ''v = ½Σ_kl p_k p_l (v_k − v_l)²
    moves by one within e^{±4‖Δ‖∞}: curvature rate 4. Row k of ℓ'' sums in absolute
    value to 2·p_k·(1 − p_k) ≤ ½, so its largest eigenvalue is at most ½ (Gershgorin):
    curvature bound ½.
    """

    n_outputs: int
    curvature: float | None = None
    shift_invariant: bool = True
    curvature_rate: float = 4.0
    curvature_max: float = 0.5

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        m, _, total = _shifted_exp(z)
        picked = np.take_along_axis(z, t.astype(np.intp)[:, None], axis=1)[:, 0]
        return m + np.log(total) - picked

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        g = _softmax(z)
        g -= t[:, None] == np.arange(z.shape[1])
        return g

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = _softmax(z)
        return p[:, :, None] * (np.eye(z.shape[1])[None] - p[:, None, :])

    def d3(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        """∂ℓ''_kl/∂z_m = δ_kl·p_k(δ_km − p_m) − p_k p_l(δ_km + δ_lm − 2p_m)."""
        p = _softmax(z)
        eye = np.eye(z.shape[1])
        dp = p[:, :, None] * (eye[None] - p[:, None, :])  # ∂p_k/∂z_m
        out = eye[None, :, :, None] * dp[:, :, None, :]
        out -= (
            p[:, :, None, None]
            * p[:, None, :, None]
            * (eye[None, :, None, :] + eye[None, None, :, :] - 2.0 * p[:, None, None, :])
        )
        return out


@dataclass(frozen=True)
class OneVsAllSquaredLoss:
    """ℓ(z, t) = Σ_k (z_k − y_k)², y_k = +1 if k = t else −1, t ∈ {0, …, K−1}: K
    least-squares columns on one-vs-all ±1 targets (K ≥ 3).

    ℓ' = 2(z − y), ℓ'' = 2·I. The columns share the rows and nothing else: not shift
    invariant, and no ``curvature`` (the Gram statistics and the rank-one solver hold
    one output; K columns are solved by the general and Newton solvers, in one step).
    ℓ'' is constant: curvature rate 0 (the second-order model is exact).
    """

    n_outputs: int
    curvature: float | None = None
    curvature_rate: float = 0.0

    def _signs(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.where(t.astype(np.intp)[:, None] == np.arange(z.shape[1]), 1.0, -1.0)

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        r = z - self._signs(z, t)
        return np.einsum("ik,ik->i", r, r)

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return 2.0 * (z - self._signs(z, t))

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.broadcast_to(2.0 * np.eye(z.shape[1]), (z.shape[0],) + (z.shape[1],) * 2)

    def d3(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.zeros((z.shape[0],) + (z.shape[1],) * 3)


@dataclass(frozen=True)
class Domain:
    """The targets a loss is defined for: t ≥ ``low`` (``closed``) or t > ``low``."""

    low: float
    closed: bool

    def contains(self, t: np.ndarray) -> np.ndarray:
        return t >= self.low if self.closed else t > self.low

    def __str__(self) -> str:
        return f"{'≥' if self.closed else '>'} {self.low:g}"


_EXP_MAX = 500.0  # e^500 ≈ 1e217: finite, and far beyond any model's prediction


def _exp(a: np.ndarray) -> np.ndarray:
    """exp(a), the exponent capped at 500, so that a line search's far trial step
    gives a huge finite loss (rejected) rather than an overflow."""
    return np.exp(np.minimum(a, _EXP_MAX))


@dataclass(frozen=True)
class TweedieLoss:
    """Half the Tweedie deviance of power p ∈ [1, 2] with a log link, μ = exp(z), K = 1:

        ℓ(z, t) = t^{2−p}/((1−p)(2−p)) − t·μ^{1−p}/(1−p) + μ^{2−p}/(2−p),

    p = 1 the Poisson deviance t·log(t/μ) − t + μ, p = 2 the Gamma deviance
    log(μ/t) + t/μ − 1 (the limits). ℓ ≥ 0, zero when μ = t (scikit-learn's
    ``HalfTweedieLoss`` plus the terms constant in z it drops).

    ℓ' = μ^{2−p} − t·μ^{1−p}, ℓ'' = (2−p)·μ^{2−p} − (1−p)·t·μ^{1−p} ≥ 0 (convex for
    1 ≤ p ≤ 2 and t ≥ 0), ∂ℓ'/∂t = −μ^{1−p}. Targets t ≥ 0 (t > 0 for p = 2); the
    predicted response is μ, the best constant score log(mean t). ℓ'' is a sum of two
    non-negative exponentials of rates 2 − p and p − 1: curvature rate max(2 − p, p − 1).
    """

    power: float
    n_outputs: int = 1
    curvature: float | None = None

    @property
    def domain(self) -> Domain:
        return Domain(0.0, closed=self.power < 2)

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        p, z = self.power, z[:, 0]
        if p == 1:
            return xlogy(t, t) - t * z - t + _exp(z)
        if p == 2:
            return z - np.log(t) + t * _exp(-z) - 1.0
        return (
            t ** (2 - p) / ((1 - p) * (2 - p))
            - t * _exp((1 - p) * z) / (1 - p)
            + _exp((2 - p) * z) / (2 - p)
        )

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = self.power
        return _exp((2 - p) * z) - t[:, None] * _exp((1 - p) * z)

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = self.power
        h = (2 - p) * _exp((2 - p) * z) - (1 - p) * t[:, None] * _exp((1 - p) * z)
        return h[:, :, None]

    def d3(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = self.power
        h = (2 - p) ** 2 * _exp((2 - p) * z) - (1 - p) ** 2 * t[:, None] * _exp((1 - p) * z)
        return h[:, :, None, None]

    def d1_dt(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return -_exp((1 - self.power) * z)

    def response(self, z: np.ndarray) -> np.ndarray:
        return _exp(z)

    def response_d1(self, z: np.ndarray) -> np.ndarray:
        """dμ/dz of the log link: μ itself."""
        return _exp(z)

    @property
    def curvature_rate(self) -> float:
        return max(2.0 - self.power, self.power - 1.0)

    def best_constant(self, t: np.ndarray) -> float:
        mean = float(np.mean(t))
        return float(np.log(mean)) if mean > 0 else 0.0


def declared(loss: Loss, name: str, default=None):
    """An optional declaration of ``loss`` (module docstring), else ``default``."""
    return getattr(loss, name, default)


__all__ = [
    "Loss",
    "ContinuousTargetLoss",
    "SquaredLoss",
    "LogisticLoss",
    "SoftmaxLoss",
    "OneVsAllSquaredLoss",
    "TweedieLoss",
    "Domain",
    "declared",
]
