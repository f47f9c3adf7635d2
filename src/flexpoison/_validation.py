"""Input checks: each bad input gets one :class:`InvalidInputError` naming the problem."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import InvalidInputError

# The limits every part of flexpoison applies (documented in the package docstring).

#: The largest magnitude accepted in any number the attack squares (features, responses,
#: the box): sums of squares of float64 numbers overflow near 1e154.
MAX_MAGNITUDE = 1e150
#: The largest poisoning rate m / n: at most one poison row per clean training row.
MAX_RATE = 1.0
#: The fewest training rows an experiment (a command) attacks, and the fewest test rows
#: it measures a test metric on.
MIN_TRAIN_ROWS = 10
MIN_TEST_ROWS = 5


def check_features(X, name: str = "X", min_rows: int = 1) -> np.ndarray:
    """A finite, numeric 2-D array of at least ``min_rows`` rows and one column."""
    if hasattr(X, "tocsr"):
        raise InvalidInputError(f"{name}: sparse matrices are not supported; pass a dense array")
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: cannot be read as an array ({exc})") from None
    if arr.dtype.kind == "b":
        raise InvalidInputError(
            f"{name}: boolean features are not supported (the box "
            "and gradients are continuous); cast to float and give "
            "bounds=(0, 1) if they must stay in [0, 1]"
        )
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name}: expected numeric values, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{name}: expected a 2-D array (n_samples, n_features), got shape {arr.shape}"
        )
    if arr.shape[0] < min_rows or arr.shape[1] == 0:
        raise InvalidInputError(
            f"{name}: expected at least {min_rows} rows and 1 column, got shape {arr.shape}"
        )
    _check_finite(arr, name)
    return arr


def check_point(x, d: int, name: str = "x_p") -> np.ndarray:
    """A finite vector of d features."""
    try:
        arr = np.asarray(x)
    except ValueError:  # ragged nested sequences
        raise InvalidInputError(f"{name}: expected a vector of {d} numbers") from None
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name}: expected numeric values, got dtype {arr.dtype}")
    arr = arr.astype(float)
    if arr.shape != (d,):
        raise InvalidInputError(f"{name}: expected shape ({d},), got {arr.shape}")
    _check_finite(arr, name)
    return arr


def check_targets(y, n: int, task: str, name: str = "y") -> np.ndarray:
    """y of length n: finite floats for regression, discrete labels for classification."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise InvalidInputError(f"{name}: has {arr.shape[0]} values but X has {n} rows")
    if task == "regression":
        if arr.dtype.kind not in "biuf":
            raise InvalidInputError(f"{name}: expected numeric responses, got dtype {arr.dtype}")
        arr = arr.astype(float)
        _check_finite(arr, name)
        return arr
    if arr.dtype.kind == "f":
        _check_finite(arr, name)
        if np.any(arr != np.round(arr)):
            raise InvalidInputError(
                f"{name}: classification needs class labels, got "
                "continuous values (e.g. "
                f"{arr[arr != np.round(arr)][0].item()!r})"
            )
    elif arr.dtype.kind not in "biuUSO":
        raise InvalidInputError(f"{name}: cannot use dtype {arr.dtype} as class labels")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    """Refuse NaN and ±inf, and numbers so large that their squares overflow."""
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        where = f"row {bad[0]}" + (f", column {bad[1]}" if bad.size > 1 else "")
        raise InvalidInputError(f"{name}: contains NaN or infinite values (first at {where})")
    check_scale(arr, name)


def check_scale(arr: np.ndarray, name: str, remedy: str = "") -> None:
    """Refuse magnitudes above :data:`MAX_MAGNITUDE`: the training objective sums their
    squares, which overflow float64 near 1e154."""
    if arr.size and arr.dtype.kind in "iuf":
        largest = float(np.max(np.abs(arr)))
        if largest > MAX_MAGNITUDE:
            raise InvalidInputError(
                f"{name}: values up to {largest:.3g} are too large: the training objective "
                f"sums their squares, which overflow float64 (flexpoison accepts magnitudes "
                f"up to {MAX_MAGNITUDE:g}); {remedy or 'rescale them (e.g. standardise)'}"
            )


def check_fraction(value, name: str) -> float:
    """A real number in [0, 1] (not clamped)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name}: expected a number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise InvalidInputError(f"{name}: must lie in [0, 1], got {value}")
    return value


def check_positive(value, name: str) -> float:
    """A finite real number > 0 (not clamped)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name}: expected a positive number, got {value!r}")
    return _positive(float(value), name)


def check_rate(value, name: str = "rate") -> float:
    """A poisoning rate m / n in (0, :data:`MAX_RATE`]."""
    rate = check_positive(value, name)
    if rate > MAX_RATE:
        raise InvalidInputError(
            f"{name}: {rate:g} is above {MAX_RATE:g}: flexpoison adds at most one poison row "
            "per clean row"
        )
    return rate


def poison_count(n_points: int | None, rate: float | None, n: int) -> int:
    """The number of poison rows m for n clean rows: ``n_points`` (at most
    :data:`MAX_RATE`·n), else round(rate·n) (at least 1); exactly one of the two is set
    (checked by the caller)."""
    if n_points is not None:
        if n_points > MAX_RATE * n:
            raise InvalidInputError(
                f"n_points: {n_points} poison rows for {n} clean rows is a rate of "
                f"{n_points / n:.3g}; flexpoison adds at most one poison row per clean row"
            )
        return int(n_points)
    assert rate is not None
    m = round(rate * n)
    if m < 1:
        raise InvalidInputError(
            f"rate: {rate} of {n} rows rounds to 0 poison points; use a larger rate or n_points"
        )
    return m


def check_count(value, name: str) -> int:
    """An integer > 0 (numpy integers accepted, booleans and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{name}: expected a positive integer, got {value!r}")
    count = int(value)
    try:
        float(count)
    except OverflowError:  # an integer too large for a float
        raise InvalidInputError(f"{name}: {str(count)[:12]}… is too large") from None
    if count <= 0:
        raise InvalidInputError(f"{name}: must be a finite number > 0, got {count}")
    return count


def _positive(value: float, name: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"{name}: must be a finite number > 0, got {value}")
    return value


def check_bounds(bounds, d: int) -> tuple[np.ndarray, np.ndarray]:
    """User bounds (lower, upper), each of length d; ±inf allowed, NaN not."""
    try:
        lower, upper = (np.asarray(b, dtype=float) for b in bounds)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"bounds: expected a pair (lower, upper) of arrays of length {d}"
        ) from None
    for side, arr in (("lower", lower), ("upper", upper)):
        if arr.shape != (d,):
            raise InvalidInputError(f"bounds: {side} must have shape ({d},), got {arr.shape}")
        if np.any(np.isnan(arr)):
            raise InvalidInputError(f"bounds: {side} contains NaN")
    if np.any(lower > upper):
        j = int(np.argmax(lower > upper))
        raise InvalidInputError(f"bounds: lower > upper for feature {j} ({lower[j]} > {upper[j]})")
    return lower, upper
