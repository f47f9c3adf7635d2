"""Baseline poisoning attacks with the same budget as the flexible attack (m rows).

Every baseline only ADDS m rows to the clean training set (X, y) — the attacker's
capability in the paper — and returns a :class:`BaselineResult` whose ``X_poison``,
``y_poison`` mean what :class:`~flexpoison.attack.AttackResult`'s do. Randomness comes
from ``random_state`` only (same seed → same rows).

* :func:`random_clone` — copies of random training rows; classification flips the
  label. This is Algorithm 1's initial point, without the optimisation.
* :func:`extreme_response` — the same random copies, each given the end of the
  observed response range farther from its own response (regression); for
  classification it is :func:`random_clone` (the flipped label is already extreme).
* :func:`label_flip` — flipped copies of the m rows whose flipped copy moves the fitted
  θ the most (an influence proxy).
* :func:`unconcealed` — the flexible attack with α = 0 (effect only) and responses
  optimised, in the data's range (an optimiser in the style of Jagielski et al.,
  2018) or, with ``n_sigma``, in the attack's own σ box.
* :func:`at_target` — for a ``"predict:v@x*"`` goal: m copies of x* itself (projected
  on the attack's box) with the response or label that pulls the prediction there
  hardest toward v.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import clone, is_classifier

from .. import models
from .._validation import check_count, check_features, check_targets
from ..errors import InvalidInputError, UnsupportedEstimatorError
from .algorithm import AttackResult, FlexiblePoisoning, StepRule, TradeOff
from .containers import _column_names
from .defaults import DEFAULT_MAX_ITER, DEFAULT_STEP
from .effects import PredictionEffect
from .goals import Goal, Integrity, predict_target
from .specs import label, resolve_bounds

Task = Literal["regression", "classification"]

__all__ = [
    "BaselineResult",
    "random_clone",
    "extreme_response",
    "label_flip",
    "unconcealed",
    "at_target",
]


@dataclass(frozen=True)
class BaselineResult:
    """Poison rows crafted by a baseline attack.

    Attributes
    ----------
    name : str
        ``"random_clone"``, ``"extreme_response"``, ``"label_flip"`` or
        ``"unconcealed"``.
    X_poison : ndarray of shape (m, n_features)
        The poison rows, in the units (and floating dtype) of the X passed in.
    y_poison : ndarray of shape (m,)
        Their responses or labels, in the user's values.
    source_rows : ndarray of int of shape (m,) or None
        For clone-based baselines, the training row each poison row copies.
    attack : AttackResult or None
        For :func:`unconcealed`, the full result of the underlying attack.
    """

    name: str
    X_poison: np.ndarray
    y_poison: np.ndarray
    source_rows: np.ndarray | None = None
    attack: AttackResult | None = None

    @property
    def n_points(self) -> int:
        return int(self.X_poison.shape[0])


def _check(X, y, m, task) -> tuple[np.ndarray, np.ndarray, int]:
    if task not in ("regression", "classification"):
        raise InvalidInputError(f"task: expected 'regression' or 'classification', got {task!r}")
    X = check_features(X, "X", min_rows=2)
    y = check_targets(y, X.shape[0], task, "y")
    m = check_count(m, "m")
    if task == "classification" and np.unique(y).size < 2:
        raise InvalidInputError("y: flipping labels needs at least two classes")
    return X, y, m


def _float_rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    dtype = X.dtype if X.dtype.kind == "f" else np.float64
    return X[rows].astype(dtype)


def _standardised_features(X: np.ndarray) -> np.ndarray:
    """φ(x) = ((x − x̄)/σ, 1); constant features get σ := 1 (they carry no leverage)."""
    Xf = X.astype(float)
    std = Xf.std(axis=0)
    Z = (Xf - Xf.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return np.column_stack([Z, np.ones(X.shape[0])])


def random_clone(X, y, m: int, task: Task, random_state=None) -> BaselineResult:
    """m copies of training rows drawn uniformly at random (with replacement).

    The draws follow Algorithm 1's initial point: row i ~ U{0, …, n − 1}; for
    regression the copy keeps its response y_i; for classification its label is
    flipped — binary: the other class; K > 2: a class drawn uniformly among the K − 1
    others.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Clean training features.
    y : array-like of shape (n_samples,)
        Clean responses or labels.
    m : int
        Budget: number of poison rows.
    task : {"regression", "classification"}
    random_state : int, Generator or None
        Seeds the rows (and the new classes for K > 2).

    Returns
    -------
    BaselineResult
    """
    X, y, m = _check(X, y, m, task)
    rng = np.random.default_rng(random_state)
    classes = np.unique(y) if task == "classification" else None
    rows, labels = np.empty(m, dtype=np.intp), []
    for q in range(m):
        rows[q] = rng.integers(X.shape[0])
        if classes is None:
            labels.append(y[rows[q]])
        else:
            others = classes[classes != y[rows[q]]]
            labels.append(others[0] if others.size == 1 else rng.choice(others))
    y_poison = np.asarray(labels, dtype=float if classes is None else y.dtype)
    return BaselineResult("random_clone", _float_rows(X, rows), y_poison, rows)


def extreme_response(X, y, m: int, task: Task, random_state=None) -> BaselineResult:
    """m random copies of training rows with the most extreme response they can take.

    The rows are drawn exactly as :func:`random_clone` draws them (same seed → same
    rows). For regression, each copy's response is set to the end of the observed
    range [min y, max y] farther from the row's own response y_i: min y if
    y_i > (min y + max y)/2, else max y (the rule of Algorithm 1's "opposite response"
    start). For classification there is no range to push a label to: the copy is
    :func:`random_clone`'s, whose label is flipped (binary: the other class; K > 2: a
    class drawn uniformly among the K − 1 others), only the name differs.

    Parameters
    ----------
    X, y, m, task, random_state
        As in :func:`random_clone`.

    Returns
    -------
    BaselineResult
    """
    clones = random_clone(X, y, m, task, random_state=random_state)
    rows = clones.source_rows
    assert rows is not None  # random_clone always records its rows
    y_poison = clones.y_poison
    if task == "regression":
        y_arr = np.asarray(y, dtype=float)
        low, high = float(y_arr.min()), float(y_arr.max())
        y_poison = np.where(y_arr[rows] > 0.5 * (low + high), low, high)
    return BaselineResult("extreme_response", clones.X_poison, y_poison, rows)


def label_flip(estimator, X, y, m: int, task: Task, random_state=None) -> BaselineResult:
    """Flipped copies of the m training rows whose flipped copy moves θ the most.

    The attacker may only add rows, so a "flip" is a copy of row i with its response or
    label changed:

    * regression: the response is reflected to the other end of the observed range,
      y'_i = y_max + y_min − y_i;
    * classification: the label becomes the other class (binary) or, for K > 2, the
      class the model finds least likely, argmin_{k ≠ y_i} p̂_k(x_i) (the flip with the
      largest loss gradient).

    Influence proxy (cheap, one fit of the victim on the clean data), with
    φ_i = ((x_i − x̄)/σ, 1) the standardised features plus an intercept column:

    * regression: the exact change of the least-squares θ (in standardised features)
      when the flipped copy is added — Sherman–Morrison —

          ‖Δθ_i‖ = |y'_i − ŷ_i| · ‖G⁻¹φ_i‖ / (1 + φ_iᵀG⁻¹φ_i),   G = Σ_j φ_j φ_jᵀ,

      i.e. |flipped residual| × a leverage factor, with ŷ from the victim fitted on
      (X, y) (exact for an unpenalised least-squares victim, a proxy for penalised ones);
    * classification: the norm of the flipped copy's log-loss gradient at the clean
      model, ‖∇_θ ℓ(x_i, y'_i)‖ = ‖p̂(x_i) − e_{y'_i}‖ · ‖φ_i‖ (softmax
      parametrisation), with p̂ from the victim's ``predict_proba``. A registered
      victim without probabilities uses its own loss on its decision values z
      instead: ‖ℓ'(z_i, y'_i)‖ · ‖φ_i‖, the new class (K > 2) the one of lowest score.

    The m rows with the largest proxy are copied (ties broken at random by
    ``random_state``); if m > n, the ranking is cycled through again.

    Parameters
    ----------
    estimator : scikit-learn estimator
        The victim (cloned and fitted on (X, y)); classifiers need ``predict_proba``
        or an entry in :data:`flexpoison.models.REGISTRY`.
    X, y, m, task, random_state
        As in :func:`random_clone`.

    Returns
    -------
    BaselineResult
    """
    X, y, m = _check(X, y, m, task)
    if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
        raise InvalidInputError(f"estimator: expected a scikit-learn estimator, got {estimator!r}")
    if (task == "classification") != is_classifier(estimator):
        raise InvalidInputError(
            f"estimator: {type(estimator).__name__} does not match task={task!r}"
        )
    n = X.shape[0]
    Phi = _standardised_features(X)
    model = clone(estimator).fit(X, y)
    if task == "regression":
        y_flip = y.max() + y.min() - y
        residual = y_flip - np.asarray(model.predict(X), dtype=float).ravel()
        A = np.linalg.lstsq(Phi.T @ Phi, Phi.T, rcond=None)[0]  # columns G⁻¹φ_i
        leverage = np.einsum("ij,ji->i", Phi, A)
        score = np.abs(residual) * np.linalg.norm(A, axis=0) / (1.0 + leverage)
    elif not hasattr(model, "predict_proba"):
        y_flip, score = _own_loss_flip(model, X, y)
        score = score * np.linalg.norm(Phi, axis=1)
    else:
        classes = np.asarray(model.classes_)
        proba = np.asarray(model.predict_proba(X), dtype=float)
        own = np.searchsorted(classes, y)
        masked = proba.copy()
        masked[np.arange(n), own] = np.inf
        new = np.argmin(masked, axis=1)  # least likely other class
        y_flip = classes[new]
        gap = proba.copy()
        gap[np.arange(n), new] -= 1.0
        score = np.linalg.norm(gap, axis=1) * np.linalg.norm(Phi, axis=1)
    rng = np.random.default_rng(random_state)
    shuffled = rng.permutation(n)
    order = shuffled[np.argsort(-score[shuffled], kind="stable")]
    rows = order[np.arange(m) % n]
    y_poison = y_flip[rows].astype(float if task == "regression" else y.dtype)
    return BaselineResult("label_flip", _float_rows(X, rows), y_poison, rows)


def at_target(
    estimator,
    X,
    y,
    m: int,
    goal: Integrity,
    *,
    n_sigma: float | None = 3.0,
    bounds: tuple | None = None,
) -> BaselineResult:
    """m rows at the point x* of a ``"predict:v@x*"`` goal, pulling f(x*) toward v.

    Each row is x* projected on the attack's feasible box (``n_sigma``, ``bounds``: as
    in :class:`~flexpoison.FlexiblePoisoning`) with the most extreme response or label
    toward v: for regression max y if v is above the clean model's f₀(x*), else min y;
    for binary classification the second class if v is above f₀(x*) (the decision
    value, log-odds of the second class), else the first. The obvious attack on one
    prediction, and the one the flexible attack must beat on it.

    Parameters
    ----------
    estimator : scikit-learn estimator
        A victim of :data:`flexpoison.models.REGISTRY` with a θ.
    X, y, m
        As in :func:`random_clone`.
    goal : Integrity
        With a ``"predict:v@x*"`` target.

    Returns
    -------
    BaselineResult
    """
    if not (isinstance(goal, Integrity) and goal.predicts):
        raise InvalidInputError(f"goal: at_target needs Integrity('predict:v@x*'), got {goal!r}")
    m = check_count(m, "m")
    attack = FlexiblePoisoning(estimator, goal=goal, n_sigma=n_sigma, bounds=bounds)
    setup = attack._setup(X, y, None, need_budget=False)
    effect, objective = setup.objective.effect, setup.objective
    assert isinstance(effect, PredictionEffect)
    toward_higher = effect.v > float(objective.Theta_start[0] @ effect.psi)
    if setup.victim.classes is None:
        label = float(setup.t.max() if toward_higher else setup.t.min())
    else:
        label = 1.0 if toward_higher else -1.0  # encoded: +1 is the second class
    point = setup.box.project(predict_target(str(goal.target).strip(), setup.X.shape[1])[1])
    X_poison = np.repeat(point[None, :], m, axis=0).astype(setup.box.dtype)
    y_poison = setup.victim.decode(np.full(m, label))
    return BaselineResult("at_target", X_poison, np.asarray(y_poison))


def _own_loss_flip(model, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`label_flip`'s flip for a classifier without probabilities: the other class
    of lowest decision value, and ‖ℓ'(z_i, y'_i)‖ with ℓ the victim's registered loss."""
    try:  # a kernel victim (models.kernel): the hinge loss of its decision values
        victim = models.victim(model, y)
    except UnsupportedEstimatorError:
        raise InvalidInputError(
            f"estimator: {type(model).__name__} has neither predict_proba nor a loss "
            "flexpoison knows, which the influence proxy needs"
        ) from None
    n, classes = X.shape[0], np.asarray(model.classes_)
    own = np.searchsorted(classes, y)
    z = np.asarray(model.decision_function(X), dtype=float).reshape(n, -1)
    if z.shape[1] == 1:
        new = 1 - own
    else:
        masked = z.copy()
        masked[np.arange(n), own] = np.inf
        new = np.argmin(masked, axis=1)
    y_flip = classes[new]
    gradient = victim.learner.loss.d1(z, victim.encode(y_flip))
    return y_flip, np.linalg.norm(gradient, axis=1)


def unconcealed(
    estimator,
    X,
    y,
    m: int,
    goal: Goal | None = None,
    random_state=None,
    *,
    max_iter: int = DEFAULT_MAX_ITER,
    step: StepRule = DEFAULT_STEP,
    trade_off: TradeOff = "share",
    starts: int = 4,
    passes: int = 1,
    progress: bool = False,
    n_sigma: float | None = None,
    optimize_y: bool | None = None,
    constraints: Mapping[str, Any] | None = None,
) -> BaselineResult:
    """Effect-only optimiser in the style of Jagielski et al. (2018).

    :class:`~flexpoison.attack.FlexiblePoisoning` with α = 0 (W = ±E: no concealment
    term) and, by default, ``optimize_y=True`` for regression (responses optimised
    within [min y, max y]). Its feasible set is, by default (``n_sigma=None``), exactly the
    data's range, min_i x_ij ≤ x_pj ≤ max_i x_ij — wider than the 3σ box wherever a
    feature reaches beyond 3σ of its mean, so it may gain more than an attack held to
    that box. With ``n_sigma`` a number, it is held to the σ box the flexible attack
    uses, for a comparison on the same feasible set.

    Parameters
    ----------
    estimator : scikit-learn estimator
        A victim supported by :class:`~flexpoison.attack.FlexiblePoisoning`.
    X, y : array-like
        Clean training data.
    m : int
        Budget: number of poison rows.
    goal : Integrity or Availability, default Integrity()
        The attacker's goal (default target: the task's preset).
    random_state : int, Generator or None
        Seeds the initial rows (Algorithm 1).
    n_sigma : float or None, default None
        None: the data's range. A number: the box x̄ ± n_sigma·σ (the attack's box).
    optimize_y : bool or None, default None
        Optimise regression responses (None: for regression, not for classification,
        where labels are flipped).
    max_iter, step, trade_off, starts, passes, progress
        Passed to :class:`~flexpoison.attack.FlexiblePoisoning` (``trade_off="paper",
        starts=1``: the paper's Algorithm 1 at α = 0, as the paper's experiments run it).
    constraints : mapping, optional
        FlexiblePoisoning's feature constraints (``integer_features``, ``bounds``, …:
        :data:`~flexpoison.attack.specs.ATTACK_ARGUMENTS`, ``data_units``), passed on;
        their ``bounds`` are intersected with the data's range (``n_sigma=None``).

    Returns
    -------
    BaselineResult
        With ``attack`` the full :class:`~flexpoison.attack.AttackResult`.
    """
    m = check_count(m, "m")
    names = _column_names(X)
    Xf = check_features(X, "X", min_rows=2).astype(float)
    limits = dict(constraints or {})
    bounds = resolve_bounds(limits.pop("bounds", None), Xf.shape[1], names)
    if n_sigma is None:  # the data's range, within the user's bounds
        low, high = Xf.min(axis=0), Xf.max(axis=0)
        bounds = (low, high) if bounds is None else _intersect(bounds, (low, high), names)
    attack = FlexiblePoisoning(
        estimator,
        goal=Integrity() if goal is None else goal,
        alpha=0.0,
        n_points=m,
        step=step,
        trade_off=trade_off,
        starts=starts,
        passes=passes,
        max_iter=max_iter,
        optimize_y=not is_classifier(estimator) if optimize_y is None else optimize_y,
        n_sigma=n_sigma,
        bounds=bounds,
        random_state=random_state,
        progress=progress,
        **limits,
    )
    result = attack.generate(X, y)
    return BaselineResult("unconcealed", result.X_poison, result.y_poison, None, result)


def _intersect(bounds, data_range, names) -> tuple[np.ndarray, np.ndarray]:
    """The user's bounds within the data's range; refused, naming the feature, where
    they leave none of it."""
    lower = np.maximum(bounds[0], data_range[0])
    upper = np.minimum(bounds[1], data_range[1])
    if np.any(lower > upper):
        j = int(np.argmax(lower > upper))
        raise InvalidInputError(
            f"bounds: {label(j, names)}: [{bounds[0][j]:.6g}, {bounds[1][j]:.6g}] holds none "
            f"of the data's range [{data_range[0][j]:.6g}, {data_range[1][j]:.6g}]"
        )
    return lower, upper
