"""The attack's effect E as a function of the model, with its gradient in θ.

Two kinds, built by the goals (:mod:`flexpoison.attack.goals`):

* :class:`DistanceEffect` — E = ‖θ − θ_ref‖² on the public θ (E_I with θ_t, E_A with θ₀);
* :class:`LossEffect` — E = (1/n_e)·Σ_i ℓ(θ; x_i, t_i), the victim's own mean loss on
  fixed rows (E_L);
* :class:`PredictionEffect` — E = (f_θ(x*) − v)², the squared gap between the model's
  decision value at x* and the value v the attacker asks for (E_I of a
  ``"predict:v@x*"`` target).

Both are evaluated on the engine's internal parameters Θ (centred features, see
:mod:`flexpoison.engine.learner`) and the public θ together; both declare themselves
as a :class:`~flexpoison.engine.Quadratic` when E is quadratic in θ, which lets the
rank-one solver read E off without forming θ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

from ..engine import Loss, Quadratic, RowData


def public_map(p: int, shift: np.ndarray, fit_intercept: bool) -> np.ndarray:
    """T (p × p) with public Θ = Θ_internal·T: w is kept and b = b̃ − w·shift.

    The internal model is centred at ``shift``; without an intercept T = I."""
    T = np.eye(p)
    if fit_intercept:
        T[:-1, -1] = -shift
    return T


class Effect(Protocol):
    """E(θ): its value, its gradient in the internal Θ, and its quadratic form if any."""

    def value(self, Theta: np.ndarray, theta: np.ndarray) -> float: ...
    def gradient(self, Theta: np.ndarray, theta: np.ndarray) -> np.ndarray: ...
    def __call__(self, Theta: np.ndarray, theta: np.ndarray) -> tuple[float, np.ndarray]: ...
    @property
    def quadratic(self) -> Quadratic | None: ...


@dataclass(frozen=True)
class DistanceEffect:
    """E = ‖θ − θ_ref‖² on the public θ (E_I with θ_t, E_A with θ₀).

    With θ = vec(Θ·T): ∇_Θ E = 2(Θ·T − Θ_ref)·Tᵀ = Θ·(2TTᵀ) − 2Θ_ref·Tᵀ, the two
    constant factors formed once. ``free`` (a learner's
    :meth:`~flexpoison.engine.Learner.free_mask`) says where the public θ sits in
    vec(Θ·T) when pinned coordinates (always 0) are left out of it.
    """

    reference: np.ndarray
    T: np.ndarray
    free: np.ndarray | None = None
    _TT2: np.ndarray = field(init=False, repr=False, compare=False)
    _ref_T2: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        p = self.T.shape[0]
        reference = self.reference
        if self.free is not None:
            reference = np.zeros(self.free.size)
            reference[self.free] = self.reference
        object.__setattr__(self, "_TT2", 2.0 * self.T @ self.T.T)
        object.__setattr__(self, "_ref_T2", 2.0 * reference.reshape(-1, p) @ self.T.T)

    def value(self, Theta: np.ndarray, theta: np.ndarray) -> float:
        diff = theta - self.reference
        return float(diff @ diff)

    @cached_property
    def quadratic(self) -> Quadratic | None:
        """E as θᵀMθ + 2mᵀθ + m₀ on the internal θ of a one-output model:
        M = TTᵀ, m = −T·θ_ref, m₀ = ‖θ_ref‖² (None for several outputs)."""
        p = self.T.shape[0]
        if self.reference.size != p:
            return None
        return Quadratic(
            0.5 * self._TT2, -0.5 * self._ref_T2[0], float(self.reference @ self.reference)
        )

    def gradient(self, Theta: np.ndarray, theta: np.ndarray) -> np.ndarray:
        return Theta @ self._TT2 - self._ref_T2

    def __call__(self, Theta: np.ndarray, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return self.value(Theta, theta), self.gradient(Theta, theta)


@dataclass(frozen=True)
class LossEffect:
    """E = (1/n_e)·Σ_i ℓ(Θ φ_i, t_i) on fixed rows; ∇_Θ E = (1/n_e)·Σ_i ℓ'_i ⊗ φ_i."""

    loss: Loss
    Phi: np.ndarray
    t: np.ndarray

    def value(self, Theta: np.ndarray, theta: np.ndarray) -> float:
        Z = self.Phi @ Theta.T
        return float(np.sum(self.loss.value(Z, self.t))) / self.Phi.shape[0]

    def gradient(self, Theta: np.ndarray, theta: np.ndarray) -> np.ndarray:
        return self(Theta, theta)[1]

    @cached_property
    def quadratic(self) -> Quadratic | None:
        """E as θᵀMθ + 2mᵀθ + m₀ when ℓ is a squared residual (else None): by Taylor's
        formula at z = 0, ℓ(z, t) = ℓ(0, t) + ℓ'(0, t)·z + ½ℓ''·z², so
        M = ℓ''·ΦᵀΦ / (2n_e), m = Σ_i ℓ'(0, t_i)·φ_i / (2n_e), m₀ = Σ_i ℓ(0, t_i) / n_e."""
        curvature = self.loss.curvature
        if curvature is None or self.loss.n_outputs != 1:
            return None
        n = self.Phi.shape[0]
        zero = np.zeros((n, 1))
        M = (0.5 * curvature / n) * (self.Phi.T @ self.Phi)
        m = (self.loss.d1(zero, self.t)[:, 0] @ self.Phi) / (2 * n)
        return Quadratic(M, m, float(np.sum(self.loss.value(zero, self.t))) / n)

    def __call__(self, Theta: np.ndarray, theta: np.ndarray) -> tuple[float, np.ndarray]:
        sums = RowData(self.Phi, self.t).sums(self.loss, Theta, want_hess=False)
        n = self.Phi.shape[0]
        return sums.value / n, sums.grad / n


@dataclass(frozen=True)
class PredictionEffect:
    """E = (f_θ(x*) − v)² with f_θ(x*) = θ·φ* the decision value at x* (φ* = (x*, 1)
    with an intercept), on the first output of the public θ.

    With public Θ_pub = Θ·T the value is f = Θ₀·ψ, ψ = T·φ* (internal coordinates), so
    ∇_Θ E = 2(f − v)·ψ on the first row (zero elsewhere), and E is the quadratic
    θᵀ(ψψᵀ)θ − 2v·ψᵀθ + v² of a one-output model's internal θ."""

    psi: np.ndarray
    v: float
    n_rows: int = 1

    def value(self, Theta: np.ndarray, theta: np.ndarray) -> float:
        gap = float(Theta[0] @ self.psi) - self.v
        return gap * gap

    def gradient(self, Theta: np.ndarray, theta: np.ndarray) -> np.ndarray:
        return self(Theta, theta)[1]

    @cached_property
    def quadratic(self) -> Quadratic | None:
        """M = ψψᵀ, m = −v·ψ, m₀ = v² (None for several outputs)."""
        if self.n_rows != 1:
            return None
        return Quadratic(np.outer(self.psi, self.psi), -self.v * self.psi, self.v * self.v)

    def __call__(self, Theta: np.ndarray, theta: np.ndarray) -> tuple[float, np.ndarray]:
        gap = float(Theta[0] @ self.psi) - self.v
        grad = np.zeros_like(Theta, dtype=float)
        grad[0] = 2.0 * gap * self.psi
        return gap * gap, grad


__all__ = ["public_map", "Effect", "DistanceEffect", "LossEffect", "PredictionEffect"]
