"""The lower bound at one θ, from the learner's declared objective (Suya et al. 2021).

The learner trained on the n clean rows plus m poison rows minimises
(:class:`flexpoison.engine.Learner`)

    F(θ) = s(n + m)·[Σ_clean ℓ(θ) + Σ_poison ℓ(θ)] + R(θ),
    R(θ) = ½θᵀΛ₂θ + ‖Λ₁θ‖₁.

Dividing by s(n + m) > 0 does not move the optimum. For every supported scaling,
s(N) = c (a total loss) or c/N (a per-row mean), 1/s(n + m) = a + b·m is affine in m,
with a = 1/s(n) and b = 1/s(n + 1) − 1/s(n) read from the learner (b = 0 for a total
loss, b = 1/c for a mean). If θ_t is that optimum, then for every θ

    Σ_clean ℓ(θ_t) + (a + b·m)·R(θ_t) + Σ_poison ℓ(θ_t)
        ≤ Σ_clean ℓ(θ) + (a + b·m)·R(θ) + Σ_poison ℓ(θ),

and each poison row's ℓ(θ) − ℓ(θ_t) is at most M(θ), the maximum over the feasible
set (:mod:`flexpoison.certify._inner`). With ΔL = Σ_clean [ℓ(θ_t) − ℓ(θ)] and
ΔR = R(θ_t) − R(θ) this is, solved for m,

    A(θ) ≤ m·B(θ),   A = ΔL + a·ΔR,   B = M(θ) − b·ΔR,

so that

    m ≥ A / B                when B > 0,
    no m ≥ 0 reaches θ_t     when B ≤ 0 < A (the bound is +∞),
    nothing is learnt        when A ≤ 0 (the bound is 0).

A is (1/s(n)) times the clean objective's excess at θ_t over θ: the best θ for the
numerator is the clean model θ₀. For a per-row mean (b > 0) the penalty moves into
the denominator as well: m poison rows also dilute the penalty's weight.

The bound needs θ_t to be the optimum; a θ_t fitted to a relative precision δ in the
objective only satisfies F(θ_t) ≤ F(θ) + δ·|F|. A is therefore taken
:data:`PRECISION` (1e-9) times max(|G(θ_t)|, |G(θ)|) lower than the difference, G the
clean part Σ_clean ℓ + a·R: that absorbs float64's rounding of the sums and a θ_t
fitted to 1e-9 (scikit-learn's exact settings in the registry reach ~1e-12). Without
it a θ within 1e-11 of an inexactly fitted θ_t makes A/B a ratio of two rounding
errors (a one-vs-rest hinge model fitted by liblinear gave 2.2 for one poison row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine import Learner
from ._inner import Family, InnerMaximum, Model, inner_maximum

#: The relative precision A is reduced by (module docstring).
PRECISION = 1e-9


@dataclass(frozen=True)
class Scaling:
    """1/s(n + m) = a + b·m (module docstring), read from the learner's s(N)."""

    a: float
    b: float

    @classmethod
    def of(cls, learner: Learner, n: int) -> Scaling:
        """a = 1/s(n), b = 1/s(n + 1) − 1/s(n); checked affine on one more row."""
        inv = [1.0 / learner.scale(n + k) for k in range(3)]
        b = inv[1] - inv[0]
        if not math.isclose(inv[2] - inv[1], b, rel_tol=1e-9, abs_tol=1e-12 * abs(inv[0])):
            raise TypeError(f"{learner.name}: 1/s(N) is not affine in N")  # no such learner
        return cls(inv[0], b)

    def describe(self) -> str:
        if self.b == 0:
            return f"total loss: 1/s = {self.a:g}; m ≥ A/M"
        return f"mean loss: 1/s(n + m) = {self.a:g} + {self.b:g}·m; m ≥ A/(M − {self.b:g}·ΔR)"


@dataclass(frozen=True)
class Point:
    """The bound at one θ: ``bound`` = A/B (module docstring; +∞ when B ≤ 0 < A, 0 when
    A ≤ 0), with its parts and the inner maximum's row."""

    theta: np.ndarray
    bound: float
    A: float
    B: float
    inner: InnerMaximum


@dataclass(frozen=True)
class Problem:
    """What the bound needs: the victim's learner and encoded clean rows, the box and
    the targets a poison row may take, θ_t, and how the inner maximum is taken."""

    learner: Learner
    X: np.ndarray
    t: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    targets: np.ndarray
    theta_target: np.ndarray
    kind: Family
    scaling: Scaling

    @property
    def d(self) -> int:
        return self.X.shape[1]

    def model(self, theta: np.ndarray) -> Model:
        full = self.learner.unpack(theta, self.d)
        b = full[:, self.d] if self.learner.fit_intercept else np.zeros(full.shape[0])
        return Model(full[:, : self.d], b)

    def penalty(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """R(θ) = ½θᵀΛ₂θ + ‖Λ₁θ‖₁ and a subgradient, in the public layout."""
        full = self.learner.unpack(theta, self.d).ravel()
        L2, L1 = self.learner.l2_weights(self.d), self.learner.l1_weights(self.d)
        value = 0.5 * float(L2 @ (full * full)) + float(L1 @ np.abs(full))
        grad = L2 * full + L1 * np.sign(full)
        return value, self.learner.pack(grad.reshape(self.learner.n_outputs, -1))

    def _row_gradient(self, Z: np.ndarray, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Σ_i ∇_θ ℓ(θ; x_i, t_i) = Σ_i ℓ'(z_i) ⊗ (x_i, 1), in the public layout."""
        D1 = self.learner.loss.d1(Z, t)
        G = D1.T @ X
        if self.learner.fit_intercept:
            G = np.column_stack([G, D1.sum(axis=0)])
        return self.learner.pack(G)

    def clean(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """G(θ) = Σ_clean ℓ(θ) + a·R(θ) and its (sub)gradient."""
        Z = self.model(theta).scores(self.X)
        value = float(np.sum(self.learner.loss.value(Z, self.t)))
        r, r_grad = self.penalty(theta)
        a = self.scaling.a
        return value + a * r, self._row_gradient(Z, self.t, self.X) + a * r_grad

    def inner(self, theta: np.ndarray, rtol: float = 1e-9) -> InnerMaximum:
        """M(θ): the largest loss gap over the feasible rows (:mod:`._inner`)."""
        return inner_maximum(
            self.learner.loss,
            self.kind,
            self.model(theta),
            self.model(self.theta_target),
            self.lo,
            self.hi,
            self.targets,
            rtol,
        )

    def at(self, theta: np.ndarray, rtol: float = 1e-9) -> Point:
        """The bound at θ (module docstring)."""
        theta = np.asarray(theta, dtype=float)
        g_t, _ = self.clean(self.theta_target)
        g, _ = self.clean(theta)
        r_t, _ = self.penalty(self.theta_target)
        r, _ = self.penalty(theta)
        nan_inner = InnerMaximum(np.nan, np.nan, np.full(self.d, np.nan), np.nan, False)
        if not (math.isfinite(g) and math.isfinite(g_t)):  # outside ℓ's domain (σ ≤ 0)
            return Point(theta, -math.inf, -math.inf, math.nan, nan_inner)
        A = g_t - g - PRECISION * max(abs(g_t), abs(g))
        inner = self.inner(theta, rtol)
        B = inner.upper - self.scaling.b * (r_t - r)
        return Point(theta, ratio(A, B), A, B, inner)

    def gradient(self, point: Point) -> np.ndarray:
        """∇ log(A/B) at a point with A, B > 0: ∇A/A − ∇B/B, with ∇A = −∇G and
        ∇B = ∇_θ ℓ(θ; x*, t*) + b·∇R at the inner maximum's row (Danskin's theorem
        where the inner maximum is exact; a direction to try otherwise)."""
        _, dG = self.clean(point.theta)
        _, dR = self.penalty(point.theta)
        x = point.inner.x[None]
        Z = self.model(point.theta).scores(x)
        dl = self._row_gradient(Z, np.array([point.inner.target]), x)
        return -dG / point.A - (dl + self.scaling.b * dR) / point.B


def ratio(A: float, B: float) -> float:
    """A/B when B > 0; +∞ when B ≤ 0 < A; 0 when A ≤ 0 (module docstring)."""
    if not A > 0:
        return 0.0
    if not B > 0:
        return math.inf
    return A / B


__all__ = ["PRECISION", "Scaling", "Point", "Problem", "ratio"]
