"""The Huber regression loss of scikit-learn, with its scale σ fitted jointly.

scikit-learn minimises, over (w, b, σ) with σ > 0,

    Σ_i (σ + H_ε(r_i / σ)·σ) + α‖w‖²,   r_i = y_i − w·x_i − b,

with H_ε(u) = u² for |u| ≤ ε and 2ε|u| − ε² beyond. flexpoison reads it as a loss of
two scores: z₁ = w·x + b and z₂ = σ, the intercept of a second output whose weights are
pinned at 0 (:attr:`flexpoison.engine.Learner.pinned_rows`). Per row, with r = t − z₁,

    ℓ(z, t) = z₂ + r²/z₂                    (|r| ≤ ε·z₂, the inliers)
    ℓ(z, t) = z₂·(1 − ε²) + 2ε·|r|          (|r| > ε·z₂, the outliers)

and ℓ = +∞ for z₂ ≤ 0, so that a line search rejects a step there. ℓ is jointly convex
in (z₁, z₂) for z₂ > 0 (r²/z₂ is a perspective function) and C¹ across |r| = ε·z₂;
its second derivative jumps there. The rule at the kink is one-sided: a row with
|r| = ε·z₂ exactly is an inlier, as in scikit-learn's ``outliers_`` mask
(|r| > ε·σ), and gets the inliers' ℓ''. The fixed points at which the contract suite
checks gradients have no row at a kink.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HuberLoss:
    """ℓ(z, t) of Huber regression (epsilon=ε) on the scores z = (w·x + b, σ) (module
    docstring). With r = t − z₁, s = z₂, inliers: ℓ' = (−2r/s, 1 − r²/s²),
    ℓ'' = (2/s)·[[1, r/s], [r/s, r²/s²]], ∂ℓ'/∂t = (−2/s, −2r/s²); outliers:
    ℓ' = (−2ε·sign r, 1 − ε²), ℓ'' = 0, ∂ℓ'/∂t = 0."""

    epsilon: float = 1.35
    n_outputs: int = 2
    curvature: float | None = None

    def _parts(self, z: np.ndarray, t: np.ndarray):
        """r, a positive s (1 where z₂ ≤ 0), whether z₂ > 0, and the inlier mask."""
        s_raw = z[:, 1]
        valid = s_raw > 0
        s = np.where(valid, s_raw, 1.0)
        r = np.asarray(t, dtype=float) - z[:, 0]
        return r, s, valid, np.abs(r) <= self.epsilon * s

    def value(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        r, s, valid, inside = self._parts(z, t)
        e = self.epsilon
        out = np.where(inside, s + r * r / s, s * (1.0 - e * e) + 2.0 * e * np.abs(r))
        return np.where(valid, out, np.inf)

    def d1(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        r, s, _, inside = self._parts(z, t)
        e = self.epsilon
        q = r / s
        out = np.empty((z.shape[0], 2))
        out[:, 0] = np.where(inside, -2.0 * q, -2.0 * e * np.sign(r))
        out[:, 1] = np.where(inside, 1.0 - q * q, 1.0 - e * e)
        return out

    def d2(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        r, s, _, inside = self._parts(z, t)
        q = r / s
        c = np.where(inside, 2.0 / s, 0.0)
        out = np.empty((z.shape[0], 2, 2))
        out[:, 0, 0] = c
        out[:, 0, 1] = out[:, 1, 0] = c * q
        out[:, 1, 1] = c * q * q
        return out

    def d1_dt(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        r, s, _, inside = self._parts(z, t)
        out = np.zeros((z.shape[0], 2))
        out[:, 0] = np.where(inside, -2.0 / s, 0.0)
        out[:, 1] = np.where(inside, -2.0 * r / (s * s), 0.0)
        return out

    def best_constant(self, t: np.ndarray) -> np.ndarray:
        """Where a fit from nothing starts: z₁ at the median response, σ at the
        responses' spread (1 if they have none)."""
        t = np.asarray(t, dtype=float)
        centre = float(np.median(t))
        spread = float(np.mean(np.abs(t - centre)))
        return np.array([centre, spread if spread > 0 else 1.0])

    def constant_target(self, c: float) -> str:
        """Responses all equal to c have no optimum: the model w = 0, b = c fits every
        row exactly (every r = 0), where L = Σ z₂ falls as the scale z₂ = σ → 0, the
        edge of the loss's domain (:func:`flexpoison.engine.losses.declared`)."""
        return (
            f"fits a scale σ of the residuals with the model, and the model w = 0, b = {c:g} "
            "leaves every residual 0: σ shrinks to 0, where the objective has no minimum, "
            "so the model is degenerate; attack rows whose responses vary, or a victim "
            "without a fitted scale (e.g. ridge regression)"
        )


__all__ = ["HuberLoss"]
