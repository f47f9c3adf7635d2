"""Sanitizers that look at the rows alone: per-feature kσ, sphere, slab, IsolationForest, LOF.

Each scores a row in the defender's view (see :mod:`flexpoison.defences.base`) and
keeps the rows whose score is at most a threshold calibrated on clean rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from .._validation import check_count, check_positive
from ..errors import InvalidInputError
from .base import (
    Inputs,
    ScreenCallable,
    Screening,
    Task,
    View,
    calibration_classes,
    check_inputs,
    check_share,
    class_index,
    decide,
    label_text,
    per_class_thresholds,
    standardisation,
    upper_quantile,
)

# -------------------------------------------------------------------- sanitizers


@dataclass(frozen=True)
class Geometry:
    """What sphere and slab calibrate, in the defender's view z: per class k (one row
    for regression) a centre c_k, a unit direction u_k (slab; None for the sphere) and
    a threshold τ_k. A row of class k scores ‖z − c_k‖ (sphere) or |⟨z − c_k, u_k⟩|
    (slab) and is kept when its score is at most τ_k. ``classes``: the calibration
    classes in sorted order (None for regression)."""

    view: View
    centres: np.ndarray
    directions: np.ndarray | None
    thresholds: np.ndarray
    classes: np.ndarray | None

    def scores(self, Z: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Each row's score (rows Z in the view, ``index`` its class's position)."""
        D = Z - self.centres[index]
        if self.directions is None:
            return np.linalg.norm(D, axis=1)
        return np.abs(np.einsum("ij,ij->i", D, self.directions[index]))

    def index(self, y: np.ndarray) -> np.ndarray:
        """Each label's class position (all 0 for regression)."""
        if self.classes is None:
            return np.zeros(np.shape(y)[0], dtype=int)
        return class_index(y, self.classes, "y")

    def decide(self, name: str, data: Inputs) -> Screening:
        """The screening of the rows ``data.X``, ``data.y``."""
        index = self.index(data.y)
        return decide(name, self.scores(self.view(data.X, data.y), index), self.thresholds[index])


@dataclass(frozen=True)
class ThreeSigma(ScreenCallable):
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

    def calibrate(self, data: Inputs) -> tuple[np.ndarray, np.ndarray, float]:
        """(μ, σ, k) calibrated on the rows ``data.Xc``: a row is kept when every
        feature lies in μ ± k·σ."""
        share = check_share(self.clean_removal)
        if self.k is not None:
            check_positive(self.k, "k")
        mean, std = standardisation(data.Xc, "X_clean")
        if self.k is not None:
            return mean, std, float(self.k)
        return mean, std, upper_quantile(np.max(np.abs(data.Xc - mean) / std, axis=1), share)

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        data = check_inputs(X, y, X_clean, y_clean, task)
        mean, std, k = self.calibrate(data)
        return decide(self.name, np.max(np.abs(data.X - mean) / std, axis=1), k)


@dataclass(frozen=True)
class Sphere(ScreenCallable):
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

    def calibrate(self, data: Inputs) -> Geometry:
        """The view, the centroid(s) and the radius τ of each class (one for
        regression), calibrated on the rows ``data.Xc``."""
        share = check_share(self.clean_removal)
        view = View.calibrate(data)
        Zc = view(data.Xc, data.yc)
        if data.task == "regression":
            centre = np.zeros((1, Zc.shape[1]))
            tau = upper_quantile(np.linalg.norm(Zc, axis=1), share)
            return Geometry(view, centre, None, np.array([tau]), None)
        classes, index_c = calibration_classes(data.yc, 1)
        centroids = np.array([Zc[index_c == k].mean(axis=0) for k in range(classes.size)])
        scores_c = np.linalg.norm(Zc - centroids[index_c], axis=1)
        radii = per_class_thresholds(scores_c, index_c, classes.size, share)
        return Geometry(view, centroids, None, radii, classes)

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        data = check_inputs(X, y, X_clean, y_clean, task)
        return self.calibrate(data).decide(self.name, data)


@dataclass(frozen=True)
class Slab(ScreenCallable):
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

    def calibrate(self, data: Inputs) -> Geometry:
        """The view, the centroid(s), the unit direction(s) and the half-width τ of
        each class (one for regression), calibrated on the rows ``data.Xc``."""
        share = check_share(self.clean_removal)
        if self.direction not in ("first", "last"):
            raise InvalidInputError(
                f"direction: expected 'first' or 'last', got {self.direction!r}"
            )
        view = View.calibrate(data)
        Zc = view(data.Xc, data.yc)
        if data.task == "regression":
            _, _, Vt = np.linalg.svd(Zc - Zc.mean(axis=0), full_matrices=False)
            u = Vt[0] if self.direction == "first" else Vt[-1]
            tau_one = upper_quantile(np.abs(Zc @ u), share)
            return Geometry(view, np.zeros((1, u.size)), u[None, :], np.array([tau_one]), None)
        classes, index_c = calibration_classes(data.yc, 2)
        K = classes.size
        centroids = np.array([Zc[index_c == k].mean(axis=0) for k in range(K)])
        gaps = np.linalg.norm(centroids[:, None, :] - centroids[None, :, :], axis=2)
        gaps[np.diag_indices(K)] = np.inf
        nearest = np.argmin(gaps, axis=1)
        if np.any(gaps[np.arange(K), nearest] <= 1e-12):
            k = int(np.argmin(gaps[np.arange(K), nearest]))
            raise InvalidInputError(
                f"y_clean: classes {label_text(classes[k])} and "
                f"{label_text(classes[nearest[k]])} have the same "
                "centroid, so the slab has no direction"
            )
        directions = centroids[nearest] - centroids
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        geometry = Geometry(view, centroids, directions, np.zeros(K), classes)
        tau = per_class_thresholds(geometry.scores(Zc, index_c), index_c, K, share)
        return Geometry(view, centroids, directions, tau, classes)

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        data = check_inputs(X, y, X_clean, y_clean, task)
        return self.calibrate(data).decide(self.name, data)


@dataclass(frozen=True)
class IsolationForestFilter(ScreenCallable):
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

        share = check_share(self.clean_removal)
        check_count(self.n_estimators, "n_estimators")
        data = check_inputs(X, y, X_clean, y_clean, task)
        view = View.calibrate(data)
        Z, Zc = view(data.X, data.y), view(data.Xc, data.yc)
        forest = IsolationForest(
            n_estimators=self.n_estimators, random_state=self.random_state
        ).fit(Z)
        tau = upper_quantile(-forest.score_samples(Zc), share)
        return decide(self.name, -forest.score_samples(Z), tau)


@dataclass(frozen=True)
class LocalOutlierFactorFilter(ScreenCallable):
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
    hidden. The same clusters (in clean data too: rows of discrete columns repeat)
    give a row beside them an LOF above 10⁷, for which scikit-learn warns "Duplicate
    values are leading to incorrect results. Increase the number of neighbors". That
    warning is dropped here (:func:`_lof_scores`): the scores are what a defender
    running LOF with this k gets, which is what is measured (the rows flagged and the
    effect left say what they did); its advice, another k, is ``n_neighbors``.
    """

    clean_removal: float = 0.05
    n_neighbors: int = 20
    name: ClassVar[str] = "lof"

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        share = check_share(self.clean_removal)
        k = check_count(self.n_neighbors, "n_neighbors")
        data = check_inputs(X, y, X_clean, y_clean, task)
        for name, rows in (("X", data.X), ("X_clean", data.Xc)):
            if rows.shape[0] <= k:
                raise InvalidInputError(
                    f"{name}: LOF with n_neighbors={k} needs more "
                    f"than {k} rows, got {rows.shape[0]}"
                )
        view = View.calibrate(data)

        tau = upper_quantile(_lof_scores(view(data.Xc, data.yc), k), share)
        return decide(self.name, _lof_scores(view(data.X, data.y), k), tau)


def _lof_scores(Z: np.ndarray, k: int) -> np.ndarray:
    """LOF of every row of Z among the rows of Z (k neighbours), without scikit-learn's
    warning on duplicates (:class:`LocalOutlierFactorFilter`'s notes say why)."""
    import warnings

    from sklearn.neighbors import LocalOutlierFactor

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate values", UserWarning)
        return -LocalOutlierFactor(n_neighbors=k).fit(Z).negative_outlier_factor_


__all__ = [
    "Geometry",
    "ThreeSigma",
    "Sphere",
    "Slab",
    "IsolationForestFilter",
    "LocalOutlierFactorFilter",
]
