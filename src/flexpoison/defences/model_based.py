"""Sanitizers that fit a model: loss-based filtering and TRIM.

Both fit clones of the victim (or, when none is given, the registry's default
defender model for the task, :data:`flexpoison.models.DEFENDER_MODEL`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.base import clone, is_classifier

from .. import models
from .._validation import check_count
from ..errors import InvalidInputError, UnsupportedEstimatorError
from .base import (
    Inputs,
    ScreenCallable,
    Screening,
    Task,
    TrimScreening,
    check_inputs,
    check_share,
    decide,
    upper_quantile,
)


def _default_estimator(task: Task):
    """The defender's model when no victim is given (:data:`models.DEFENDER_MODEL`)."""
    return models.get(models.DEFENDER_MODEL[task]).estimator_class()()


def _row_losses(model, X: np.ndarray, y: np.ndarray, task: Task) -> np.ndarray:
    """Squared error (regression) or log-loss −log p(y | x) (classification); for a
    registered classifier without probabilities, its own loss on its decision values."""
    if task == "regression":
        return (y - np.asarray(model.predict(X), dtype=float).ravel()) ** 2
    if not hasattr(model, "predict_proba"):
        victim = models.victim(model, y)
        z = np.asarray(model.decision_function(X), dtype=float).reshape(X.shape[0], -1)
        return victim.learner.loss.value(z, victim.encode(y))
    proba = model.predict_proba(X)
    p = proba[np.arange(X.shape[0]), np.searchsorted(model.classes_, y)]
    return -np.log(np.maximum(p, np.finfo(float).tiny))


def _check_estimator(estimator, task: Task, name: str):
    estimator = _default_estimator(task) if estimator is None else estimator
    if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
        raise InvalidInputError(f"{name}: expected a scikit-learn estimator, got {estimator!r}")
    if (task == "classification") != is_classifier(estimator):
        wanted = "classifier" if task == "classification" else "regressor"
        raise InvalidInputError(
            f"{name}: {type(estimator).__name__} is not a {wanted}, but task={task!r}"
        )
    if task == "classification" and not hasattr(estimator, "predict_proba"):
        try:  # a registered victim is scored by its own loss instead
            models.spec_for(estimator)
        except UnsupportedEstimatorError:
            raise InvalidInputError(
                f"{name}: {type(estimator).__name__} has no predict_proba, which the log-loss needs"
            ) from None
    return estimator


@dataclass(frozen=True)
class LossFilter(ScreenCallable):
    """Loss-based filtering: drop the rows the model fitted on all rows fits worst.

    A clone of the victim estimator is fitted on all the rows screened, (X, y); a
    row's score is its training loss under that model,

        regression:      s = (y − ŷ(x))²,
        classification:  s = −log p̂(y | x)   (log-loss, from ``predict_proba``),

    or, for a victim without probabilities, its own per-row training loss ℓ(z, y) on
    its decision values z (:mod:`flexpoison.models`: e.g. the squared error on ±1
    targets of a ridge classifier).

    Calibration: another clone is fitted on the clean calibration rows; τ = the
    (1 − clean_removal) quantile of *its* losses on those rows (the losses a clean
    model has on clean data). Rows of (X, y) with s > τ are dropped.

    Parameters
    ----------
    estimator : scikit-learn estimator or None, default None
        The victim (cloned, never fitted in place). None: the registry's defender
        model for the task (:data:`flexpoison.models.DEFENDER_MODEL`) —
        :func:`apply_sanitizer` substitutes the victim it is given.
    clean_removal : float in [0, 1), default 0.05
        Share of clean calibration rows whose clean-model loss exceeds τ.
    """

    estimator: object | None = None
    clean_removal: float = 0.05
    name: ClassVar[str] = "loss"

    def screen(self, X, y, *, X_clean, y_clean, task: Task) -> Screening:
        share = check_share(self.clean_removal)
        data = check_inputs(X, y, X_clean, y_clean, task)
        estimator = _check_estimator(self.estimator, task, "estimator")
        for name, labels in (("y", data.y), ("y_clean", data.yc)):
            if task == "classification" and np.unique(labels).size < 2:
                raise InvalidInputError(
                    f"{name}: the loss filter's model needs at least two classes"
                )
        tau = self.calibrate(data, estimator, share)
        model = clone(estimator).fit(data.X, data.y)
        return decide(self.name, _row_losses(model, data.X, data.y, task), tau)

    def calibrate(self, data: Inputs, estimator=None, share: float | None = None) -> float:
        """τ: the (1 − share) quantile of the losses that a clone fitted on the
        calibration rows (``data.Xc``, ``data.yc``) has on them (``share``: default
        ``clean_removal``)."""
        share = check_share(self.clean_removal) if share is None else share
        if estimator is None:
            estimator = _check_estimator(self.estimator, data.task, "estimator")
        clean_model = clone(estimator).fit(data.Xc, data.yc)
        return upper_quantile(_row_losses(clean_model, data.Xc, data.yc, data.task), share)


def _initial_subset(n: int, n_keep: int, rng: np.random.Generator) -> np.ndarray:
    """n_keep distinct rows drawn uniformly at random among all n rows (sorted)."""
    return np.sort(rng.choice(n, size=n_keep, replace=False))


@dataclass(frozen=True)
class Trim(ScreenCallable):
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
        Cloned for each fit. None: the registry's defender model for regression
        (:data:`flexpoison.models.DEFENDER_MODEL`; or the victim given to
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
            raise InvalidInputError(f"task: TRIM is defined for regression only, got {task!r}")
        check_count(self.max_iter, "max_iter")
        data = check_inputs(X, y, X_clean, y_clean, task)
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
        return TrimScreening(
            self.name,
            residuals,
            threshold,
            subset,
            initial=initial,
            n_iter=n_iter,
            converged=bool(converged),
        )

    def _n_keep(self, n: int, n_clean: int) -> int:
        if self.n_keep is not None:
            n_keep = check_count(self.n_keep, "n_keep")
            source = "n_keep"
        elif self.n_poison is not None:
            if (
                isinstance(self.n_poison, bool)
                or not isinstance(self.n_poison, numbers.Integral)
                or self.n_poison < 0
            ):
                raise InvalidInputError(f"n_poison: expected an integer ≥ 0, got {self.n_poison!r}")
            n_keep, source = n - int(self.n_poison), "len(X) − n_poison"
        else:
            n_keep, source = n_clean, "len(X_clean) (neither n_keep nor n_poison given)"
        if not 1 <= n_keep <= n:
            raise InvalidInputError(f"n_keep: {source} = {n_keep} must lie in [1, len(X) = {n}]")
        return n_keep


__all__ = ["LossFilter", "Trim"]
