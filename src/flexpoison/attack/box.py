"""The feasible set of a poison row: the n_sigma box around the clean data's centre.

With x_c the mean and σ the (population) standard deviation of each feature over the
clean training rows, a poison row must satisfy, feature by feature,

    x_c − n_sigma·σ ≤ x_p ≤ x_c + n_sigma·σ          (the paper's 3σ principle),

intersected with any per-feature bounds the user gives (physical ranges, the observed
range). Every iterate of the attack is projected onto it (feature-wise clipping).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._validation import MAX_MAGNITUDE, check_bounds
from ..errors import InvalidInputError


@dataclass(frozen=True)
class Box:
    """The feasible set: ``lower`` ≤ x ≤ ``upper``, per feature, in the data's ``dtype``.

    The bounds are float64 arrays holding values of ``dtype`` (rounded inward from the
    exact box), and :meth:`project` returns a point of ``dtype`` (as float64): the rows
    the attack hands back are the rows it computed θ_p on, inside this box in their own
    precision.
    """

    lower: np.ndarray
    upper: np.ndarray
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))

    def project(self, x: np.ndarray) -> np.ndarray:
        """Euclidean projection onto the box (feature-wise clipping), rounded to ``dtype``
        (the bounds are values of ``dtype``, so rounding stays inside them)."""
        x = np.minimum(np.maximum(x, self.lower), self.upper)
        if self.dtype != np.float64:
            x = x.astype(self.dtype).astype(np.float64)
        return x

    def pinned(self, indices: np.ndarray, values: np.ndarray) -> Box:
        """The box with the features ``indices`` held at ``values`` (lower = upper
        there): the box of a point whose frozen features keep its source row's values
        (:mod:`flexpoison.attack.constraints`); ``values`` must be values of ``dtype``."""
        lower, upper = self.lower.copy(), self.upper.copy()
        lower[indices] = values
        upper[indices] = values
        return Box(lower, upper, self.dtype)

    def target(self, t: float) -> tuple[Box, float]:
        """The feasible set of a row with the encoded target t, and t itself: the box
        is the same for every target (an evading attack's sets are not, and may move a
        response that no row of theirs can hold: :mod:`flexpoison.attack.evasion`)."""
        return self, t

    @property
    def diagonal(self) -> float:
        """‖upper − lower‖, computed without overflow (∞ when a side is unbounded)."""
        return _norm(self.upper - self.lower)


def _norm(v: np.ndarray) -> float:
    """‖v‖; computed again scaled by its largest entry if the squares overflow."""
    with np.errstate(over="ignore"):
        norm = float(np.linalg.norm(v))
    top = float(np.max(np.abs(v))) if v.size else 0.0
    if np.isfinite(norm) or not np.isfinite(top):
        return norm
    return top * float(np.linalg.norm(v / top))


def _inward(lower: np.ndarray, upper: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The box rounded inward to values representable in ``dtype`` (as float64)."""
    if dtype == np.float64:
        return lower, upper
    lo = lower.astype(dtype).astype(np.float64)
    hi = upper.astype(dtype).astype(np.float64)
    lo = np.where(lo < lower, np.nextafter(lo.astype(dtype), dtype.type(np.inf)), lo)
    hi = np.where(hi > upper, np.nextafter(hi.astype(dtype), dtype.type(-np.inf)), hi)
    return lo.astype(np.float64), hi.astype(np.float64)


def _constant_columns(X: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Which columns of X hold one value (max − min = 0), given their computed ``mean``
    and ``sigma``: max − min is taken only on the columns whose σ is at most 4·n·ε·|mean|
    (on every column where n·ε > 1 %). A constant column's computed mean is off its
    value v by at most about n·ε/2·|v| (float summation of n terms, in any order), and σ
    by as much, so no constant column is missed (on 50,000 × 20 rows np.ptp over every
    column took 3 ms)."""
    n = X.shape[0]
    eps = float(np.finfo(mean.dtype if mean.dtype.kind == "f" else np.float64).eps)
    if n * eps > 0.01:
        return np.ptp(X, axis=0) == 0
    maybe = np.flatnonzero(sigma <= 4.0 * n * eps * np.abs(mean))
    constant = np.zeros(X.shape[1], dtype=bool)
    if maybe.size:
        constant[maybe] = np.ptp(X[:, maybe], axis=0) == 0
    return constant


def feasible_box(
    X: np.ndarray,
    n_sigma: float | None,
    bounds=None,
    feature_names: Sequence[str] | None = None,
    dtype: np.dtype | type = np.float64,
) -> Box:
    """x_c − n_sigma·σ ≤ x ≤ x_c + n_sigma·σ (σ: per-feature standard deviation of X),
    intersected with optional ``bounds = (lower, upper)`` and rounded inward to
    ``dtype``; ``n_sigma=None``: the ``bounds`` alone (which must then be finite).
    ``feature_names`` (e.g. a DataFrame's columns) only make error messages name the
    feature.

    A constant feature (σ = 0, e.g. a one-hot level absent from these rows) is frozen
    at its value by the σ box, and free within the user's bounds where both of its
    bounds are finite (or with ``n_sigma=None``).

    Refused: a feature that varies below float64's precision around its mean; a box
    whose bounds reach :data:`~flexpoison._validation.MAX_MAGNITUDE` (n_sigma too large
    for the data's scale)."""

    def feature(j: int) -> str:
        return f"feature {j}" + (f" ({feature_names[j]!r})" if feature_names else "")

    x_c = X.mean(axis=0)
    sigma = X.std(axis=0)
    constant = _constant_columns(X, x_c, sigma)
    if X.shape[0]:  # exactly: a constant column's box is its value, not a rounded mean
        x_c = np.where(constant, X[0], x_c)
        sigma[constant] = 0.0
    tiny = np.flatnonzero(~constant & (sigma <= 1e-12 * np.maximum(1.0, np.abs(x_c))))
    if tiny.size:
        j = int(tiny[0])
        raise InvalidInputError(
            f"X: {feature(j)} varies by σ = {sigma[j]:.3g} around a mean of {x_c[j]:.6g}, "
            "below float64's precision at that scale, so its box and gradients carry no "
            "information; centre and rescale it (standardise, e.g. --standardize), or "
            "remove it"
        )
    if n_sigma is None:
        if bounds is None:
            raise InvalidInputError("n_sigma: None (no σ box) needs bounds, the box itself")
        lower, upper = check_bounds(bounds, X.shape[1])
        if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
            raise InvalidInputError(
                "bounds: without a σ box (n_sigma None) every bound must be finite"
            )
        bounds = None
        n_sigma_text = "bounds'"
    else:
        with np.errstate(over="ignore"):
            half = n_sigma * sigma
            lower, upper = x_c - half, x_c + half
        n_sigma_text = f"{n_sigma:g}σ"
    reach = float(np.max(np.maximum(np.abs(lower), np.abs(upper))))
    if not reach <= MAX_MAGNITUDE:  # also NaN / inf
        j = int(np.argmax(np.nan_to_num(np.maximum(np.abs(lower), np.abs(upper)), nan=np.inf)))
        raise InvalidInputError(
            f"n_sigma: the {n_sigma_text} box of {feature(j)} reaches {reach:.3g}, beyond the "
            f"magnitudes flexpoison can square ({MAX_MAGNITUDE:g}); use a smaller n_sigma "
            "or give bounds"
        )
    if bounds is not None:
        user_lower, user_upper = check_bounds(bounds, X.shape[1])
        # a constant column's σ box is a point; the user's finite bounds free it
        free = constant & np.isfinite(user_lower) & np.isfinite(user_upper)
        lower = np.where(free, user_lower, np.maximum(lower, user_lower))
        upper = np.where(free, user_upper, np.minimum(upper, user_upper))
        if np.any(lower > upper):
            j = int(np.argmax(lower > upper))
            raise InvalidInputError(
                f"bounds: for {feature(j)} the user bounds do not intersect the {n_sigma_text} box"
            )
    dtype = np.dtype(dtype)
    lower, upper = _inward(lower, upper, dtype)
    if np.any(lower > upper):  # narrower than one step of dtype: a point of dtype inside
        j = int(np.argmax(lower > upper))
        raise InvalidInputError(
            f"bounds: for {feature(j)} the box holds no value of {dtype} "
            f"([{lower[j]!r}, {upper[j]!r}] rounded inward)"
        )
    return Box(lower, upper, dtype)


__all__ = ["Box", "feasible_box"]
