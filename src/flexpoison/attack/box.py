"""The feasible set of a poison row: the n_sigma box around the clean data's centre.

With x_c the mean and σ the (population) standard deviation of each feature over the
clean training rows, a poison row must satisfy, feature by feature,

    x_c − n_sigma·σ ≤ x_p ≤ x_c + n_sigma·σ          (the paper's 3σ principle),

intersected with any per-feature bounds the user gives (physical ranges, the observed
range). Every iterate of the attack is projected onto it (feature-wise clipping).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import check_bounds
from ..errors import InvalidInputError


@dataclass(frozen=True)
class Box:
    """The feasible set: ``lower`` ≤ x ≤ ``upper``, per feature."""

    lower: np.ndarray
    upper: np.ndarray

    def project(self, x: np.ndarray) -> np.ndarray:
        """Euclidean projection onto the box (feature-wise clipping)."""
        return np.minimum(np.maximum(x, self.lower), self.upper)

    @property
    def diagonal(self) -> float:
        """‖upper − lower‖ (∞ when a side is unbounded)."""
        return float(np.linalg.norm(self.upper - self.lower))


def feasible_box(
    X: np.ndarray, n_sigma: float, bounds=None, feature_names: Sequence[str] | None = None
) -> Box:
    """x_c − n_sigma·σ ≤ x ≤ x_c + n_sigma·σ (σ: per-feature standard deviation of X),
    intersected with optional ``bounds = (lower, upper)``. ``feature_names`` (e.g. a
    DataFrame's columns) only make error messages name the feature."""

    def feature(j: int) -> str:
        return f"feature {j}" + (f" ({feature_names[j]!r})" if feature_names else "")

    x_c = X.mean(axis=0)
    sigma = X.std(axis=0)
    constant = np.flatnonzero(sigma <= 1e-12 * np.maximum(1.0, np.abs(x_c)))
    if constant.size:
        others = ", ".join(feature(int(j)) for j in constant[1:])
        raise InvalidInputError(
            f"X: {feature(int(constant[0]))} is constant (σ = 0), so its 3σ box is a "
            "single point and it carries no information; remove it"
            + (f" (also constant: {others})" if others else "")
        )
    lower, upper = x_c - n_sigma * sigma, x_c + n_sigma * sigma
    if bounds is not None:
        user_lower, user_upper = check_bounds(bounds, X.shape[1])
        lower, upper = np.maximum(lower, user_lower), np.minimum(upper, user_upper)
        if np.any(lower > upper):
            j = int(np.argmax(lower > upper))
            raise InvalidInputError(
                f"bounds: for {feature(j)} the user bounds do not intersect the {n_sigma:g}σ box"
            )
    return Box(lower, upper)


__all__ = ["Box", "feasible_box"]
