"""Data sanitizers: defences a data owner runs on a (possibly poisoned) training set.

Each sanitizer maps a training set (X, y) to the sorted indices of the rows it KEEPS.
Every one follows the same rule (DESIGN.md, "concealment measured, not asserted"):

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
from dataclasses import dataclass, replace
from typing import ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from sklearn.base import clone, is_classifier

from ._validation import check_features, check_positive, check_targets
from .errors import InvalidInputError

Task = Literal["regression", "classification"]
TASKS: tuple[Task, ...] = ("regression", "classification")

__all__ = [
    "Screening", "TrimScreening", "Sanitizer", "ThreeSigma", "Sphere", "Slab",
    "IsolationForestFilter", "LocalOutlierFactorFilter", "LossFilter", "Trim",
    "SANITIZERS", "get_sanitizer", "screen", "apply_sanitizer",
]


# ------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Screening:
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

    @property
    def removed(self) -> np.ndarray:
        """Sorted indices of the rows removed."""
        return np.flatnonzero(~self.kept_mask)

    @property
    def removed_share(self) -> float:
        """Share of the rows removed, in [0, 1]."""
        return 1.0 - self.kept.size / self.n_samples


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

    name: str

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        """Score every row of (X, y), calibrate on (X_clean, y_clean), decide."""
        ...

    def __call__(self, X, y, *, X_clean, y_clean, task: Task) -> np.ndarray:
        """Sorted indices of the rows of (X, y) kept."""
        ...


# ------------------------------------------------------------- shared machinery


@dataclass(frozen=True)
class _Inputs:
    """Validated data: X, y to screen and the calibration rows Xc, yc."""

    X: np.ndarray
    y: np.ndarray
    Xc: np.ndarray
    yc: np.ndarray
    task: Task


def _check_inputs(X, y, X_clean, y_clean, task, *, min_clean: int = 2) -> _Inputs:
    if task not in TASKS:
        raise InvalidInputError(f"task: expected 'regression' or 'classification', "
                                f"got {task!r}")
    X = check_features(X, "X").astype(float)
    y = check_targets(y, X.shape[0], task, "y")
    Xc = check_features(X_clean, "X_clean", min_rows=min_clean).astype(float)
    yc = check_targets(y_clean, Xc.shape[0], task, "y_clean")
    if Xc.shape[1] != X.shape[1]:
        raise InvalidInputError(f"X_clean: has {Xc.shape[1]} features but X has "
                                f"{X.shape[1]}")
    return _Inputs(X, y, Xc, yc, task)


def _check_share(value, name: str = "clean_removal") -> float:
    """A number in [0, 1): the share of clean calibration rows a threshold removes."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name}: expected a number in [0, 1), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:  # also rejects NaN
        raise InvalidInputError(f"{name}: must lie in [0, 1), got {value}")
    return value


def _upper_quantile(clean_scores: np.ndarray, share: float) -> float:
    """τ = the (1 − share) quantile (linear interpolation) of the clean scores."""
    return float(np.quantile(clean_scores, 1.0 - share))


def _scale(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations; a constant column is an error."""
    mean, std = values.mean(axis=0), values.std(axis=0)
    constant = np.flatnonzero(std <= 1e-12 * np.maximum(1.0, np.abs(mean)))
    if constant.size:
        raise InvalidInputError(
            f"{name}: column {int(constant[0])} is constant on the calibration rows "
            "(σ = 0), so it cannot be standardised; remove it")
    return mean, std


@dataclass(frozen=True)
class _View:
    """The defender's view of a row: standardised features (+ response, regression)."""

    mean: np.ndarray
    std: np.ndarray
    with_response: bool

    @classmethod
    def calibrate(cls, data: _Inputs) -> _View:
        if data.task == "regression":
            mean, std = _scale(np.column_stack([data.Xc, data.yc]), "X_clean, y_clean")
            return cls(mean, std, True)
        mean, std = _scale(data.Xc, "X_clean")
        return cls(mean, std, False)

    def __call__(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        rows = np.column_stack([X, y]) if self.with_response else X
        return (rows - self.mean) / self.std


def _label(value) -> str:
    """A class label as the user wrote it (numpy scalars unwrapped)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _class_index(y: np.ndarray, classes: np.ndarray, name: str) -> np.ndarray:
    """Position of each label of y among the calibration classes."""
    unknown = ~np.isin(y, classes)
    if np.any(unknown):
        raise InvalidInputError(f"{name}: class {_label(y[unknown][0])} has no "
                                "calibration rows (calibration classes: "
                                f"{classes.tolist()})")
    return np.searchsorted(classes, y)


def _per_class_thresholds(clean_scores: np.ndarray, clean_index: np.ndarray, K: int,
                          share: float) -> np.ndarray:
    return np.array([_upper_quantile(clean_scores[clean_index == k], share)
                     for k in range(K)])


def _classes(yc: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    classes, index, counts = np.unique(yc, return_inverse=True, return_counts=True)
    if classes.size < minimum:
        raise InvalidInputError(f"y_clean: needs at least {minimum} classes, got "
                                f"{classes.size}")
    if np.any(counts < 2):
        raise InvalidInputError(f"y_clean: class {_label(classes[counts < 2][0])} has "
                                "fewer than 2 calibration rows")
    return classes, index


def _decide(name: str, scores: np.ndarray, threshold) -> Screening:
    threshold = np.broadcast_to(np.asarray(threshold, dtype=float), scores.shape).copy()
    # A relative slack of 1e-9: a row exactly on the threshold (e.g. poison projected
    # onto the attack's 3σ box, which scores 3 + 4e-16 after rounding) is kept.
    kept = np.flatnonzero(scores <= threshold + 1e-9 * np.abs(threshold))
    return Screening(name, scores, threshold, kept)


class _Callable:
    """Mixin: calling a sanitizer returns the kept indices of :meth:`screen`."""

    def __call__(self, X, y, *, X_clean, y_clean, task: Task) -> np.ndarray:
        return self.screen(X, y, X_clean=X_clean, y_clean=y_clean, task=task).kept


# -------------------------------------------------------------------- sanitizers


@dataclass(frozen=True)
class ThreeSigma(_Callable):
    """Per-feature kσ filter — the paper's 3σ principle turned into a defence.

    With μ_j, σ_j the mean and standard deviation of feature j on the calibration
    rows, a row's score is its largest standardised deviation

        s(x) = max_j |x_j − μ_j| / σ_j,

    and the row is dropped when s(x) > k, i.e. when any feature lies outside
    μ_j ± k·σ_j. Only the features are looked at (the paper's box constrains x only).

    Parameters
    ----------
    k : float or None, default 3.0
        Fixed k = 3 is the paper's own rule and the default: it is *not* calibrated,
        and on clean data it removes P(max_j |Z_j| > 3) — for d independent Gaussian
        features 1 − (1 − 0.0027)^d, e.g. 1.3 % for d = 5, 8 % for d = 30 (more for
        heavy-tailed features). ``k=None`` calibrates it instead: k = the
        (1 − clean_removal) quantile of s on the calibration rows.
    clean_removal : float in [0, 1), default 0.05
        Share of clean calibration rows removed when ``k=None``; unused otherwise.

    Notes
    -----
    Poison crafted inside the attack's 3σ box passes this filter by construction
    (when the box is computed on the same clean rows): it is the baseline that the
    flexible attack's feasible set is designed to beat.
    """

    k: float | None = 3.0
    clean_removal: float = 0.05
    name: ClassVar[str] = "three_sigma"

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        share = _check_share(self.clean_removal)
        if self.k is not None:
            check_positive(self.k, "k")
        data = _check_inputs(X, y, X_clean, y_clean, task)
        mean, std = _scale(data.Xc, "X_clean")

        def score(A):
            return np.max(np.abs(A - mean) / std, axis=1)

        k = float(self.k) if self.k is not None else _upper_quantile(score(data.Xc),
                                                                       share)
        return _decide(self.name, score(data.X), k)


@dataclass(frozen=True)
class Sphere(_Callable):
    """Distance-to-centroid ("sphere") defence (Steinhardt et al. 2017; Koh et al. 2018).

    In the defender's view z (module docstring: standardised features, plus the
    standardised response for regression), the score is the distance to the
    calibration centroid

        classification:  s(x, y) = ‖z(x) − μ_y‖,   μ_y = centroid of clean class y;
        regression:      s(x, y) = ‖z(x, y)‖       (the clean (x, y) centroid is 0).

    Threshold: τ = (1 − clean_removal) quantile of s on the calibration rows — one
    radius τ_y per class for classification (each class loses that share of its clean
    rows), one radius for regression.

    Parameters
    ----------
    clean_removal : float in [0, 1), default 0.05
        Share of clean calibration rows outside the sphere.
    """

    clean_removal: float = 0.05
    name: ClassVar[str] = "sphere"

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        share = _check_share(self.clean_removal)
        data = _check_inputs(X, y, X_clean, y_clean, task)
        view = _View.calibrate(data)
        Z, Zc = view(data.X, data.y), view(data.Xc, data.yc)
        if task == "regression":
            scores_c = np.linalg.norm(Zc, axis=1)
            return _decide(self.name, np.linalg.norm(Z, axis=1),
                           _upper_quantile(scores_c, share))
        classes, index_c = _classes(data.yc, 1)
        index = _class_index(data.y, classes, "y")
        centroids = np.array([Zc[index_c == k].mean(axis=0) for k in range(classes.size)])
        scores_c = np.linalg.norm(Zc - centroids[index_c], axis=1)
        tau = _per_class_thresholds(scores_c, index_c, classes.size, share)
        scores = np.linalg.norm(Z - centroids[index], axis=1)
        return _decide(self.name, scores, tau[index])


@dataclass(frozen=True)
class Slab(_Callable):
    """Slab defence: distance to the class centroid along the line between centroids.

    In the defender's view z (module docstring), the score is the length of the
    projection of z − μ_y on a unit direction u_y:

        s(x, y) = |⟨z(x) − μ_y, u_y⟩|,

    * binary classification: u_y = (μ_other − μ_y) / ‖μ_other − μ_y‖, the line between
      the two clean class centroids (Steinhardt et al. 2017; Koh et al. 2018);
    * K > 2 classes: the line from μ_y to the *nearest* other clean class centroid;
    * regression (no classes, no centroid line — a fallback of ours, not from the
      papers): z = standardised (x, y), μ = 0 (the clean centroid), and u = the first
      principal direction of the calibration rows' z (``direction="first"``, the
      default), or the last one (``direction="last"``: the direction of least clean
      variance, which for a well-fitted linear relation is close to the normal of the
      regression hyperplane, so it measures a row's residual).

    Threshold: τ = (1 − clean_removal) quantile of s on the calibration rows — one per
    class for classification, one for regression.

    Parameters
    ----------
    clean_removal : float in [0, 1), default 0.05
        Share of clean calibration rows outside the slab.
    direction : {"first", "last"}, default "first"
        Regression only: which principal direction of the clean standardised (x, y).
    """

    clean_removal: float = 0.05
    direction: Literal["first", "last"] = "first"
    name: ClassVar[str] = "slab"

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        share = _check_share(self.clean_removal)
        if self.direction not in ("first", "last"):
            raise InvalidInputError(f"direction: expected 'first' or 'last', got "
                                    f"{self.direction!r}")
        data = _check_inputs(X, y, X_clean, y_clean, task)
        view = _View.calibrate(data)
        Z, Zc = view(data.X, data.y), view(data.Xc, data.yc)
        if task == "regression":
            _, _, Vt = np.linalg.svd(Zc - Zc.mean(axis=0), full_matrices=False)
            u = Vt[0] if self.direction == "first" else Vt[-1]
            tau = _upper_quantile(np.abs(Zc @ u), share)
            return _decide(self.name, np.abs(Z @ u), tau)
        classes, index_c = _classes(data.yc, 2)
        index = _class_index(data.y, classes, "y")
        K = classes.size
        centroids = np.array([Zc[index_c == k].mean(axis=0) for k in range(K)])
        gaps = np.linalg.norm(centroids[:, None, :] - centroids[None, :, :], axis=2)
        gaps[np.diag_indices(K)] = np.inf
        nearest = np.argmin(gaps, axis=1)
        if np.any(gaps[np.arange(K), nearest] <= 1e-12):
            k = int(np.argmin(gaps[np.arange(K), nearest]))
            raise InvalidInputError(f"y_clean: classes {_label(classes[k])} and "
                                    f"{_label(classes[nearest[k]])} have the same "
                                    "centroid, so the slab has no direction")
        directions = centroids[nearest] - centroids
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)

        def score(Zr, idx):
            return np.abs(np.einsum("ij,ij->i", Zr - centroids[idx], directions[idx]))

        tau = _per_class_thresholds(score(Zc, index_c), index_c, K, share)
        return _decide(self.name, score(Z, index), tau[index])


@dataclass(frozen=True)
class IsolationForestFilter(_Callable):
    """scikit-learn's IsolationForest, fitted on the data being sanitised.

    The forest (unsupervised, ``random_state`` fixed) is fitted on the defender's view
    z of the rows screened (module docstring; labels are not used for classification).
    A row's score is its anomaly score s = −``score_samples``(z) (larger = shorter
    average path = more anomalous). The *same* forest scores the calibration rows, and
    τ = (1 − clean_removal) quantile of their scores.

    Parameters
    ----------
    clean_removal : float in [0, 1), default 0.05
        Share of clean calibration rows scored above τ.
    n_estimators : int, default 100
        Trees in the forest.
    random_state : int, default 0
        Seed of the forest (fixed, so a screening is reproducible).
    """

    clean_removal: float = 0.05
    n_estimators: int = 100
    random_state: int = 0
    name: ClassVar[str] = "isolation_forest"

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        from sklearn.ensemble import IsolationForest

        share = _check_share(self.clean_removal)
        check_positive(self.n_estimators, "n_estimators", integer=True)
        data = _check_inputs(X, y, X_clean, y_clean, task)
        view = _View.calibrate(data)
        Z, Zc = view(data.X, data.y), view(data.Xc, data.yc)
        forest = IsolationForest(n_estimators=self.n_estimators,
                                 random_state=self.random_state).fit(Z)
        tau = _upper_quantile(-forest.score_samples(Zc), share)
        return _decide(self.name, -forest.score_samples(Z), tau)


@dataclass(frozen=True)
class LocalOutlierFactorFilter(_Callable):
    """scikit-learn's LocalOutlierFactor (novelty=False) on the data being sanitised.

    LOF(x) = mean over x's k nearest neighbours o of lrd(o) / lrd(x), with lrd the
    local reachability density (k = ``n_neighbors``); ≈ 1 inside a cluster, ≫ 1 for
    an isolated row. The score of a row is its LOF = −``negative_outlier_factor_``
    of a ``LocalOutlierFactor(n_neighbors, novelty=False)`` fitted on the defender's
    view z of the rows screened (labels unused for classification).

    Calibration: with ``novelty=False`` LOF scores only the rows it was fitted on, so
    the clean rows cannot be scored by the fit on the screened data (they may not be
    among them). Instead a second LOF with the same settings is fitted on the
    calibration rows alone, and τ = (1 − clean_removal) quantile of *their*
    −``negative_outlier_factor_``. LOF is a ratio of local densities, so its
    distribution on clean data is unit-free and depends little on the number of rows:
    τ transfers from the calibration sample to the screened data.

    Parameters
    ----------
    clean_removal : float in [0, 1), default 0.05
        Share of clean calibration rows whose LOF exceeds τ.
    n_neighbors : int, default 20
        k; both X and X_clean need more than k rows.

    Notes
    -----
    Identical poison rows (the attack often ends several points at the same corner of
    its box) are each other's nearest neighbours and look dense to LOF: a cluster of
    more than k duplicates is not flagged. That is LOF's behaviour, measured here, not
    hidden.
    """

    clean_removal: float = 0.05
    n_neighbors: int = 20
    name: ClassVar[str] = "lof"

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        from sklearn.neighbors import LocalOutlierFactor

        share = _check_share(self.clean_removal)
        k = check_positive(self.n_neighbors, "n_neighbors", integer=True)
        data = _check_inputs(X, y, X_clean, y_clean, task)
        for name, rows in (("X", data.X), ("X_clean", data.Xc)):
            if rows.shape[0] <= k:
                raise InvalidInputError(f"{name}: LOF with n_neighbors={k} needs more "
                                        f"than {k} rows, got {rows.shape[0]}")
        view = _View.calibrate(data)

        def lof(Zr):
            return -LocalOutlierFactor(n_neighbors=k).fit(Zr).negative_outlier_factor_

        tau = _upper_quantile(lof(view(data.Xc, data.yc)), share)
        return _decide(self.name, lof(view(data.X, data.y)), tau)


def _default_estimator(task: Task):
    from sklearn.linear_model import LinearRegression, LogisticRegression

    return LinearRegression() if task == "regression" else LogisticRegression()


def _row_losses(model, X: np.ndarray, y: np.ndarray, task: Task) -> np.ndarray:
    """Squared error (regression) or log-loss −log p(y | x) (classification)."""
    if task == "regression":
        return (y - np.asarray(model.predict(X), dtype=float).ravel()) ** 2
    proba = model.predict_proba(X)
    p = proba[np.arange(X.shape[0]), np.searchsorted(model.classes_, y)]
    return -np.log(np.maximum(p, np.finfo(float).tiny))


def _check_estimator(estimator, task: Task, name: str):
    estimator = _default_estimator(task) if estimator is None else estimator
    if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
        raise InvalidInputError(f"{name}: expected a scikit-learn estimator, got "
                                f"{estimator!r}")
    if (task == "classification") != is_classifier(estimator):
        wanted = "classifier" if task == "classification" else "regressor"
        raise InvalidInputError(f"{name}: {type(estimator).__name__} is not a {wanted}, "
                                f"but task={task!r}")
    if task == "classification" and not hasattr(estimator, "predict_proba"):
        raise InvalidInputError(f"{name}: {type(estimator).__name__} has no "
                                "predict_proba, which the log-loss needs")
    return estimator


@dataclass(frozen=True)
class LossFilter(_Callable):
    """Loss-based filtering: drop the rows the model fitted on all rows fits worst.

    A clone of the victim estimator is fitted on all the rows screened, (X, y); a
    row's score is its training loss under that model,

        regression:      s = (y − ŷ(x))²,
        classification:  s = −log p̂(y | x)   (log-loss, from ``predict_proba``).

    Calibration: another clone is fitted on the clean calibration rows; τ = the
    (1 − clean_removal) quantile of *its* losses on those rows (the losses a clean
    model has on clean data). Rows of (X, y) with s > τ are dropped.

    Parameters
    ----------
    estimator : scikit-learn estimator or None, default None
        The victim (cloned, never fitted in place). None: ``LinearRegression()`` for
        regression, ``LogisticRegression()`` for classification —
        :func:`apply_sanitizer` substitutes the victim it is given.
    clean_removal : float in [0, 1), default 0.05
        Share of clean calibration rows whose clean-model loss exceeds τ.
    """

    estimator: object | None = None
    clean_removal: float = 0.05
    name: ClassVar[str] = "loss"

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        share = _check_share(self.clean_removal)
        data = _check_inputs(X, y, X_clean, y_clean, task)
        estimator = _check_estimator(self.estimator, task, "estimator")
        for name, labels in (("y", data.y), ("y_clean", data.yc)):
            if task == "classification" and np.unique(labels).size < 2:
                raise InvalidInputError(f"{name}: the loss filter's model needs at "
                                        "least two classes")
        clean_model = clone(estimator).fit(data.Xc, data.yc)
        tau = _upper_quantile(_row_losses(clean_model, data.Xc, data.yc, task), share)
        model = clone(estimator).fit(data.X, data.y)
        return _decide(self.name, _row_losses(model, data.X, data.y, task), tau)


def _initial_subset(n: int, n_keep: int, rng: np.random.Generator) -> np.ndarray:
    """n_keep distinct rows drawn uniformly at random among all n rows (sorted)."""
    return np.sort(rng.choice(n, size=n_keep, replace=False))


@dataclass(frozen=True)
class Trim(_Callable):
    """TRIM (Jagielski et al. 2018): regression fitted on the rows it fits best.

    TRIM assumes that n_keep of the rows are clean and solves

        min_{θ, S : |S| = n_keep}  Σ_{i ∈ S} (y_i − f_θ(x_i))²

    by alternating: draw the initial subset S₀ uniformly at random among ALL rows
    (seeded by ``random_state``); then repeat — fit a clone of the estimator on S,
    compute every row's squared residual r_i = (y_i − ŷ_i)², let S be the n_keep rows
    with the smallest r (ties broken by row order) — until S stops changing or
    ``max_iter`` fits. The kept rows are the final S; scores are the r_i of the last
    fit and the threshold is max_{i ∈ S} r_i.

    n_keep is, in order of precedence: ``n_keep``; ``len(X) − n_poison``; or, when
    neither is given, ``len(X_clean)`` — exact when X_clean is the clean training set
    that the poison was added to (TRIM's own assumption: the defender knows n, the
    number of clean rows), an assumption otherwise. ``clean_removal`` does not apply.

    Parameters
    ----------
    estimator : scikit-learn regressor or None, default None
        Cloned for each fit. None: ``LinearRegression()`` (or the victim given to
        :func:`apply_sanitizer`).
    n_poison : int, optional
        Assumed number of poison rows among the rows screened.
    n_keep : int, optional
        Number of rows to keep (takes precedence over ``n_poison``).
    max_iter : int, default 100
        Fits at most.
    random_state : int, Generator or None, default 0
        Seeds the initial subset.

    Notes
    -----
    A bug in public copies of TRIM initialises the subset with the FIRST n_keep rows
    (``X[:n_keep]``) instead of a random draw. Poisoning code appends the poison rows
    after the clean ones, so that initial subset *is* the clean set: TRIM starts at
    the clean model and trivially "recovers" it, which makes it look much stronger
    than it is. Here S₀ is drawn among all rows, so where the poison sits in the array
    does not matter (tested with the poison placed first).
    """

    estimator: object | None = None
    n_poison: int | None = None
    n_keep: int | None = None
    max_iter: int = 100
    random_state: int | np.random.Generator | None = 0
    name: ClassVar[str] = "trim"

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> TrimScreening:
        if task != "regression":
            raise InvalidInputError(f"task: TRIM is defined for regression only, got "
                                    f"{task!r}")
        check_positive(self.max_iter, "max_iter", integer=True)
        data = _check_inputs(X, y, X_clean, y_clean, task)
        estimator = _check_estimator(self.estimator, task, "estimator")
        n = data.X.shape[0]
        n_keep = self._n_keep(n, data.Xc.shape[0])
        rng = np.random.default_rng(self.random_state)
        initial = _initial_subset(n, n_keep, rng)
        subset, converged, n_iter = initial, False, 0
        residuals = np.zeros(n)
        while n_iter < self.max_iter:
            model = clone(estimator).fit(data.X[subset], data.y[subset])
            n_iter += 1
            residuals = _row_losses(model, data.X, data.y, "regression")
            best = np.sort(np.argsort(residuals, kind="stable")[:n_keep])
            converged = np.array_equal(best, subset)
            subset = best
            if converged:
                break
        threshold = np.full(n, residuals[subset].max())
        return TrimScreening(self.name, residuals, threshold, subset, initial=initial,
                             n_iter=n_iter, converged=bool(converged))

    def _n_keep(self, n: int, n_clean: int) -> int:
        if self.n_keep is not None:
            n_keep = check_positive(self.n_keep, "n_keep", integer=True)
            source = "n_keep"
        elif self.n_poison is not None:
            if isinstance(self.n_poison, bool) or not isinstance(self.n_poison,
                                                                 numbers.Integral) \
                    or self.n_poison < 0:
                raise InvalidInputError(f"n_poison: expected an integer ≥ 0, got "
                                        f"{self.n_poison!r}")
            n_keep, source = n - int(self.n_poison), "len(X) − n_poison"
        else:
            n_keep, source = n_clean, "len(X_clean) (neither n_keep nor n_poison given)"
        if not 1 <= n_keep <= n:
            raise InvalidInputError(f"n_keep: {source} = {n_keep} must lie in [1, "
                                    f"len(X) = {n}]")
        return n_keep


# ---------------------------------------------------------------------- registry

SANITIZERS: dict[str, Sanitizer] = {
    "three_sigma": ThreeSigma(),
    "sphere": Sphere(),
    "slab": Slab(),
    "isolation_forest": IsolationForestFilter(),
    "lof": LocalOutlierFactorFilter(),
    "loss": LossFilter(),
    "trim": Trim(),
}
"""Registry: sanitizer name → its default configuration."""


def get_sanitizer(name_or_obj: str | Sanitizer, *, estimator=None) -> Sanitizer:
    """Resolve a registry name (or pass a sanitizer through).

    Parameters
    ----------
    name_or_obj : str or sanitizer
        A key of :data:`SANITIZERS`, or a sanitizer instance.
    estimator : scikit-learn estimator, optional
        The victim: given to sanitizers that fit a model (``loss``, ``trim``) and
        were not configured with one (``estimator=None``); ignored by the others.
    """
    if isinstance(name_or_obj, str):
        if name_or_obj not in SANITIZERS:
            raise InvalidInputError(f"sanitizer: unknown name {name_or_obj!r}; expected "
                                    f"one of {', '.join(SANITIZERS)}")
        sanitizer = SANITIZERS[name_or_obj]
    elif isinstance(name_or_obj, Sanitizer):
        sanitizer = name_or_obj
    else:
        raise InvalidInputError(f"sanitizer: expected a name or a sanitizer, got "
                                f"{name_or_obj!r}")
    if estimator is not None and getattr(sanitizer, "estimator", False) is None:
        sanitizer = replace(sanitizer, estimator=estimator)
    return sanitizer


def screen(name_or_obj: str | Sanitizer, X, y, *, X_clean, y_clean, task: Task,
           estimator=None) -> Screening:
    """Run one sanitizer on (X, y), calibrated on (X_clean, y_clean).

    Parameters
    ----------
    name_or_obj : str or sanitizer
        A key of :data:`SANITIZERS` or a configured sanitizer.
    X : array-like of shape (n_samples, n_features)
        The rows to screen (e.g. clean training rows plus poison rows).
    y : array-like of shape (n_samples,)
        Their responses or labels.
    X_clean : array-like of shape (n_clean, n_features)
        Rows the defender trusts, used for calibration.
    y_clean : array-like of shape (n_clean,)
    task : {"regression", "classification"}
    estimator : scikit-learn estimator, optional
        The victim, for the sanitizers that fit one (see :func:`get_sanitizer`).

    Returns
    -------
    Screening
        Scores, thresholds and the kept indices.
    """
    sanitizer = get_sanitizer(name_or_obj, estimator=estimator)
    return sanitizer.screen(X, y, X_clean=X_clean, y_clean=y_clean, task=task)


def apply_sanitizer(name_or_obj: str | Sanitizer, X, y, *, X_clean, y_clean,
                    task: Task, estimator=None) -> np.ndarray:
    """Sorted integer indices of the rows of (X, y) that the sanitizer keeps.

    Same parameters as :func:`screen`; returns ``screen(...).kept``.
    """
    return screen(name_or_obj, X, y, X_clean=X_clean, y_clean=y_clean, task=task,
                  estimator=estimator).kept
