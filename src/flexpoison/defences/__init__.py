"""Defences: sanitizers a data owner runs on a (possibly poisoned) training set.

``base``         the screening result, the :class:`Sanitizer` contract, calibration
``geometric``    per-feature kσ, sphere, slab, IsolationForest, LOF
``model_based``  loss-based filtering, TRIM

:data:`SANITIZERS` names a default configuration of each;
:func:`get_sanitizer`, :func:`screen` and :func:`apply_sanitizer` run one by name;
:func:`screen_combined` runs several as one owner does, keeping the rows every one keeps.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import numpy as np

from ..errors import InvalidInputError
from .base import (
    TASKS,
    CombinedScreening,
    Sanitizer,
    Screening,
    Task,
    TrimScreening,
    combined_name,
)
from .geometric import IsolationForestFilter, LocalOutlierFactorFilter, Slab, Sphere, ThreeSigma
from .model_based import LossFilter, Trim

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
            raise InvalidInputError(
                f"sanitizer: unknown name {name_or_obj!r}; expected one of {', '.join(SANITIZERS)}"
            )
        sanitizer = SANITIZERS[name_or_obj]
    elif isinstance(name_or_obj, Sanitizer):
        sanitizer = name_or_obj
    else:
        raise InvalidInputError(f"sanitizer: expected a name or a sanitizer, got {name_or_obj!r}")
    if estimator is not None and getattr(sanitizer, "estimator", False) is None:
        sanitizer = replace(cast(Any, sanitizer), estimator=estimator)
    return sanitizer


def screen(
    name_or_obj: str | Sanitizer, X, y, *, X_clean, y_clean, task: Task, estimator=None
) -> Screening:
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


def screen_combined(
    names_or_objs, X, y, *, X_clean, y_clean, task: Task, estimator=None
) -> CombinedScreening:
    """Run several sanitizers on (X, y) as one data owner does: each is calibrated on
    (X_clean, y_clean) as :func:`screen` calibrates it, and a row is kept when every
    one of them keeps it.

    Parameters
    ----------
    names_or_objs : sequence of str or sanitizer
        Keys of :data:`SANITIZERS` or configured sanitizers (at least one).
    X, y, X_clean, y_clean, task, estimator
        As for :func:`screen`.

    Returns
    -------
    CombinedScreening
        Each sanitizer's :class:`Screening` and the rows all of them keep.
    """
    chosen = () if isinstance(names_or_objs, (str, Sanitizer)) else tuple(names_or_objs)
    if not chosen:
        raise InvalidInputError(
            f"sanitizers: expected a list of one or more sanitizers, got {names_or_objs!r}"
        )
    return CombinedScreening(
        tuple(
            screen(s, X, y, X_clean=X_clean, y_clean=y_clean, task=task, estimator=estimator)
            for s in chosen
        )
    )


def apply_sanitizer(
    name_or_obj: str | Sanitizer, X, y, *, X_clean, y_clean, task: Task, estimator=None
) -> np.ndarray:
    """Sorted integer indices of the rows of (X, y) that the sanitizer keeps.

    Same parameters as :func:`screen`; returns ``screen(...).kept``.
    """
    return screen(
        name_or_obj, X, y, X_clean=X_clean, y_clean=y_clean, task=task, estimator=estimator
    ).kept


__all__ = [
    "Screening",
    "CombinedScreening",
    "TrimScreening",
    "Sanitizer",
    "Task",
    "TASKS",
    "ThreeSigma",
    "Sphere",
    "Slab",
    "IsolationForestFilter",
    "LocalOutlierFactorFilter",
    "LossFilter",
    "Trim",
    "SANITIZERS",
    "get_sanitizer",
    "screen",
    "screen_combined",
    "combined_name",
    "apply_sanitizer",
]
