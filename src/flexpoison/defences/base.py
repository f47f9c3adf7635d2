"""What every sanitizer shares: the screening result, the contract, calibration helpers.

Sanitizers are defences a data owner runs on a (possibly poisoned) training set.

Each sanitizer maps a training set (X, y) to the sorted indices of the rows it KEEPS.
Every one follows the same rule (concealment is measured, not asserted):

1. it gives each row an outlier score s(x, y) — larger means more suspicious;
2. its threshold τ is calibrated on data the defender trusts, (X_clean, y_clean): the
   clean training set or a held-out clean sample. τ is the (1 − q) quantile of the
   score on the clean calibration rows, q = ``clean_removal`` (default 0.05), so that
   τ removes a share q of them;
3. it keeps the rows with s ≤ τ (ties are kept).

The two exceptions say so: :class:`ThreeSigma` uses the paper's fixed k = 3 by
default, and :class:`Trim` keeps a fixed number of rows instead of thresholding.

Usage::

    kept = apply_sanitizer("sphere", X, y, X_clean=X_train, y_clean=y_train,
                           task="regression")
    report = screen(Sphere(clean_removal=0.01), X, y, X_clean=..., y_clean=...,
                    task="classification")   # scores, thresholds, kept, removed

The geometric sanitizers (sphere, slab, isolation forest, LOF) look at a row through
the defender's *view*: the features standardised with the calibration rows' mean and
standard deviation — and, for regression, the response standardised the same way as
one more column, since a poison row's response is part of what makes it a poison. No
unit then dominates a distance. Centroids are the calibration rows' ("oracle"
centroids, as in Steinhardt et al. 2017): poison cannot move them.

References
----------
Steinhardt, Koh, Liang (2017), "Certified defenses for data poisoning attacks".
Koh, Steinhardt, Liang (2018), "Stronger data poisoning attacks break data
sanitization defenses".
Jagielski et al. (2018), "Manipulating machine learning: poisoning attacks and
countermeasures for regression learning".
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from .._validation import check_features, check_targets
from ..errors import InvalidInputError

Task = Literal["regression", "classification"]
TASKS: tuple[Task, ...] = ("regression", "classification")

# ------------------------------------------------------------------------ results


class _Removed:
    """What a decision keeps (``kept``, ``kept_mask``, ``n_samples``) gives what it removes."""

    if TYPE_CHECKING:  # provided by each decision

        @property
        def kept(self) -> np.ndarray: ...
        @property
        def kept_mask(self) -> np.ndarray: ...
        @property
        def n_samples(self) -> int: ...

    @property
    def removed(self) -> np.ndarray:
        """Sorted indices of the rows removed."""
        return np.flatnonzero(~self.kept_mask)

    @property
    def removed_share(self) -> float:
        """Share of the rows removed, in [0, 1]."""
        return 1.0 - self.kept.size / self.n_samples


@dataclass(frozen=True)
class Screening(_Removed):
    """What a sanitizer decided about each row of the data it screened.

    Attributes
    ----------
    name : str
        The sanitizer's registry name.
    scores : ndarray of shape (n_samples,)
        Outlier score of each row (larger = more suspicious).
    threshold : ndarray of shape (n_samples,)
        The threshold τ applied to each row: constant, except for sanitizers that
        calibrate one per class (sphere and slab on classification data).
    kept : ndarray of int of shape (n_kept,)
        Sorted indices of the rows kept (``scores <= threshold``, except TRIM).
    """

    name: str
    scores: np.ndarray
    threshold: np.ndarray
    kept: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.scores.shape[0])

    @property
    def kept_mask(self) -> np.ndarray:
        """Boolean mask of shape (n_samples,), True for kept rows."""
        mask = np.zeros(self.n_samples, dtype=bool)
        mask[self.kept] = True
        return mask


def combined_name(names: Iterable[str]) -> str:
    """The name of the owner who runs several sanitizers together: their names joined
    by ``+`` in the order given (``"sphere+slab"``)."""
    return "+".join(names)


@dataclass(frozen=True)
class CombinedScreening(_Removed):
    """Several sanitizers run by one data owner on the same rows: a row stays in the
    training set only when every one of them keeps it, kept = ∩ₛ keptₛ. Each sanitizer
    is calibrated as it is alone (on the same calibration rows), not on what the others
    left.

    Attributes
    ----------
    screenings : tuple of Screening
        Each sanitizer's own decision, in the order they were named.
    """

    screenings: tuple[Screening, ...]

    def __post_init__(self):
        sizes = {s.n_samples for s in self.screenings}
        if len(sizes) != 1:
            raise InvalidInputError(
                "screenings: expected one or more screenings of the same rows, got sizes "
                f"{sorted(sizes)}"
            )

    @property
    def name(self) -> str:
        """The sanitizers' names joined by ``+`` (e.g. ``"sphere+slab"``)."""
        return combined_name(s.name for s in self.screenings)

    @property
    def n_samples(self) -> int:
        return self.screenings[0].n_samples

    @property
    def kept_mask(self) -> np.ndarray:
        """Boolean mask of shape (n_samples,), True for the rows every sanitizer keeps."""
        return np.logical_and.reduce([s.kept_mask for s in self.screenings])

    @property
    def kept(self) -> np.ndarray:
        """Sorted indices of the rows every sanitizer keeps."""
        return np.flatnonzero(self.kept_mask)


@dataclass(frozen=True, kw_only=True)
class TrimScreening(Screening):
    """A :class:`Screening` by TRIM, with its iterations.

    Attributes
    ----------
    initial : ndarray of int of shape (n_keep,)
        The random initial subset (sorted), drawn among all rows.
    n_iter : int
        Fits performed.
    converged : bool
        Whether the kept set stopped changing before ``max_iter``.
    """

    initial: np.ndarray
    n_iter: int
    converged: bool


@runtime_checkable
class Sanitizer(Protocol):
    """The contract every sanitizer meets."""

    @property
    def name(self) -> str:
        """The sanitizer's registry name."""
        ...

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        """Score every row of (X, y), calibrate on (X_clean, y_clean), decide."""
        ...

    def __call__(self, X, y, *, X_clean, y_clean, task: Task) -> np.ndarray:
        """Sorted indices of the rows of (X, y) kept."""
        ...


# ------------------------------------------------------------- shared machinery


@dataclass(frozen=True)
class Inputs:
    """Validated data: X, y to screen and the calibration rows Xc, yc."""

    X: np.ndarray
    y: np.ndarray
    Xc: np.ndarray
    yc: np.ndarray
    task: Task


def check_inputs(X, y, X_clean, y_clean, task, *, min_clean: int = 2) -> Inputs:
    if task not in TASKS:
        raise InvalidInputError(f"task: expected 'regression' or 'classification', got {task!r}")
    X = check_features(X, "X").astype(float)
    y = check_targets(y, X.shape[0], task, "y")
    Xc = check_features(X_clean, "X_clean", min_rows=min_clean).astype(float)
    yc = check_targets(y_clean, Xc.shape[0], task, "y_clean")
    if Xc.shape[1] != X.shape[1]:
        raise InvalidInputError(f"X_clean: has {Xc.shape[1]} features but X has {X.shape[1]}")
    return Inputs(X, y, Xc, yc, task)


def check_share(value, name: str = "clean_removal") -> float:
    """A number in [0, 1): the share of clean calibration rows a threshold removes."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name}: expected a number in [0, 1), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:  # also rejects NaN
        raise InvalidInputError(f"{name}: must lie in [0, 1), got {value}")
    return value


def upper_quantile(clean_scores: np.ndarray, share: float) -> float:
    """τ = the (1 − share) quantile (linear interpolation) of the clean scores."""
    return float(np.quantile(clean_scores, 1.0 - share))


def standardisation(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations. A column that is constant on the
    calibration rows (a one-hot level they lack) keeps its raw units, σ = 1, as
    scikit-learn's StandardScaler does; one that varies below float64's precision
    around its mean is an error."""
    mean, std = values.mean(axis=0), values.std(axis=0)
    constant = np.ptp(values, axis=0) == 0
    tiny = np.flatnonzero(~constant & (std <= 1e-12 * np.maximum(1.0, np.abs(mean))))
    if tiny.size:
        raise InvalidInputError(
            f"{name}: column {int(tiny[0])} varies below float64's precision on the "
            "calibration rows, so it cannot be standardised; rescale or remove it"
        )
    return mean, np.where(constant, 1.0, std)


@dataclass(frozen=True)
class View:
    """The defender's view of a row: standardised features (+ response, regression)."""

    mean: np.ndarray
    std: np.ndarray
    with_response: bool

    @classmethod
    def calibrate(cls, data: Inputs) -> View:
        if data.task == "regression":
            mean, std = standardisation(np.column_stack([data.Xc, data.yc]), "X_clean, y_clean")
            return cls(mean, std, True)
        mean, std = standardisation(data.Xc, "X_clean")
        return cls(mean, std, False)

    def __call__(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        rows = np.column_stack([X, y]) if self.with_response else X
        return (rows - self.mean) / self.std


def label_text(value) -> str:
    """A class label as the user wrote it (numpy scalars unwrapped)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def class_index(y: np.ndarray, classes: np.ndarray, name: str) -> np.ndarray:
    """Position of each label of y among the calibration classes."""
    unknown = ~np.isin(y, classes)
    if np.any(unknown):
        raise InvalidInputError(
            f"{name}: class {label_text(y[unknown][0])} has no "
            "calibration rows (calibration classes: "
            f"{classes.tolist()})"
        )
    return np.searchsorted(classes, y)


def per_class_thresholds(
    clean_scores: np.ndarray, clean_index: np.ndarray, K: int, share: float
) -> np.ndarray:
    return np.array([upper_quantile(clean_scores[clean_index == k], share) for k in range(K)])


def calibration_classes(yc: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    classes, index, counts = np.unique(yc, return_inverse=True, return_counts=True)
    if classes.size < minimum:
        raise InvalidInputError(f"y_clean: needs at least {minimum} classes, got {classes.size}")
    if np.any(counts < 2):
        raise InvalidInputError(
            f"y_clean: class {label_text(classes[counts < 2][0])} has fewer than 2 calibration rows"
        )
    return classes, index


def decide(name: str, scores: np.ndarray, threshold) -> Screening:
    threshold = np.broadcast_to(np.asarray(threshold, dtype=float), scores.shape).copy()
    # A relative slack of 1e-9: a row exactly on the threshold (e.g. poison projected
    # onto the attack's 3σ box, which scores 3 + 4e-16 after rounding) is kept.
    kept = np.flatnonzero(scores <= threshold + 1e-9 * np.abs(threshold))
    return Screening(name, scores, threshold, kept)


class ScreenCallable:
    """Mixin: calling a sanitizer returns the kept indices of :meth:`screen`."""

    screen: Callable[..., Screening]  # provided by the sanitizer

    def __call__(self, X, y, *, X_clean, y_clean, task: Task) -> np.ndarray:
        return self.screen(X, y, X_clean=X_clean, y_clean=y_clean, task=task).kept


__all__ = [
    "Task",
    "TASKS",
    "Screening",
    "CombinedScreening",
    "combined_name",
    "TrimScreening",
    "Sanitizer",
    "Inputs",
    "check_inputs",
    "check_share",
    "upper_quantile",
    "standardisation",
    "View",
    "label_text",
    "class_index",
    "per_class_thresholds",
    "calibration_classes",
    "decide",
    "ScreenCallable",
]
