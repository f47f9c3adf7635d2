"""flexpoison's attack as an Adversarial Robustness Toolbox (ART) poisoning attack.

:class:`FlexiblePoisoningAttack` is an ART white-box poisoning attack
(``art.attacks.attack.PoisoningAttackWhiteBox``) that runs
:class:`flexpoison.FlexiblePoisoning` against the scikit-learn model inside one of ART's
scikit-learn wrappers — ``art.estimators.classification.SklearnClassifier`` (and the
classes it returns) or ``art.estimators.regression.ScikitlearnRegressor`` — whose model
is a victim of :data:`flexpoison.models.REGISTRY` (anything else is refused with a
``ValueError`` naming it). It maps its parameters onto :class:`FlexiblePoisoning` and
implements nothing of its own: the rows are flexpoison's, seed for seed.

ART is an optional dependency, installed with ``pip install 'flexpoison[art]'``;
``import flexpoison`` never imports it, and importing this module without it raises an
``ImportError`` that says so.

Example
-------
::

    import numpy as np
    from sklearn.datasets import load_iris
    from art.estimators.classification import SklearnClassifier
    from flexpoison import models
    from flexpoison.art import FlexiblePoisoningAttack

    X, labels = load_iris(return_X_y=True)
    x = X.astype(np.float32)                       # ART's dtype
    y = np.eye(3, dtype=np.float32)[labels]        # ART's one-hot labels
    model = models.get('logistic').make(C=1.0)     # scikit-learn's logistic regression
    classifier = SklearnClassifier(model, clip_values=(0.0, 8.0))

    attack = FlexiblePoisoningAttack(classifier, alpha=0.5, n_points=5, random_state=0)
    x_poison, y_poison = attack.poison(x, y)       # 5 rows to ADD to (x, y); y one-hot
    classifier.fit(np.vstack([x, x_poison]), np.vstack([y, y_poison]))
    attack.result.progress, attack.result.warnings # how far the model moved, and caveats

What the attack uses from the wrapper (labels, ``clip_values``, preprocessing), the
constraints it takes and how bad parameters are refused are stated on this module's
API page.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

try:
    with warnings.catch_warnings():
        # ART announces the PyTorch-only parts it skips; nothing here uses them.
        warnings.filterwarnings("ignore", message="PyTorch not found", category=UserWarning)
        import art
        from art.attacks.attack import PoisoningAttackWhiteBox
        from art.estimators.classification.scikitlearn import ScikitlearnClassifier
        from art.estimators.regression.scikitlearn import ScikitlearnRegressor
        from art.preprocessing.standardisation_mean_std.numpy import StandardisationMeanStd
except ImportError as exc:
    raise ImportError(
        "flexpoison.art needs the Adversarial Robustness Toolbox "
        "(adversarial-robustness-toolbox>=1.17), which is not installed: "
        "pip install flexpoison[art]",
        name=exc.name,
    ) from exc

from . import models
from .attack.algorithm import FlexiblePoisoning
from .attack.defaults import DEFAULT_MAX_ITER, DEFAULT_STEP, DEFAULT_TOL, SEARCH_SETTINGS
from .attack.goals import Integrity, LossAvailability, goal_from_name
from .attack.result import AttackResult
from .attack.specs import ATTACK_ARGUMENTS, resolve_bounds
from .errors import UnsupportedEstimatorError

_MIN_ART = (1, 17)


def _items(value) -> list:
    """The items of a list-like parameter (none for None or a scalar, which
    flexpoison's own checks refuse by name)."""
    if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return []
    return list(value)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


if _version_tuple(getattr(art, "__version__", "0")) < _MIN_ART:
    raise ImportError(
        f"flexpoison.art needs adversarial-robustness-toolbox>=1.17, found "
        f"{art.__version__}: pip install flexpoison[art]"
    )

logger = logging.getLogger(__name__)


class FlexiblePoisoningAttack(PoisoningAttackWhiteBox):
    """The flexible poisoning attack of Jiang et al. (:class:`flexpoison.FlexiblePoisoning`)
    as an ART white-box poisoning attack on scikit-learn linear and logistic models.

    | Paper: H. Jiang et al., "A Flexible Poisoning Attack Against Machine Learning",
    | IEEE ICC 2019.

    This module's API page says what the attack uses (the clean set passed to
    :meth:`poison`, the wrapper's hyper-parameters, clip values and preprocessing).
    """

    attack_params = PoisoningAttackWhiteBox.attack_params + [
        "goal",
        "alpha",
        *SEARCH_SETTINGS,
        "random_state",
        "verbose",
        *ATTACK_ARGUMENTS,
    ]
    _estimator_requirements = ((ScikitlearnClassifier, ScikitlearnRegressor),)

    def __init__(
        self,
        estimator: ScikitlearnClassifier | ScikitlearnRegressor,
        goal: Any = None,
        alpha: float = 0.5,
        n_points: int | None = None,
        rate: float | None = None,
        trade_off: str = "share",
        starts: int = 4,
        passes: int = 1,
        step: str = DEFAULT_STEP,
        max_iter: int = DEFAULT_MAX_ITER,
        tol: float = DEFAULT_TOL,
        optimize_y: bool = False,
        n_sigma: float | None = 3.0,
        random_state: int | np.random.Generator | None = None,
        verbose: bool = True,
        bounds: Any = None,
        integer_features: Any = None,
        frozen_features: Any = None,
        one_hot_groups: Any = None,
        round_fractional: bool = False,
    ) -> None:
        """
        Create a flexible poisoning attack.

        :param estimator: An ART scikit-learn wrapper (``SklearnClassifier(...)`` or
               ``ScikitlearnRegressor(...)``) around a model flexpoison supports; it need
               not be fitted (only its hyper-parameters are used).
        :param goal: ``flexpoison.Integrity(target=...)``, ``Availability()``,
               ``LossAvailability(X_eval, y_eval)`` or one of the names ``"integrity"``,
               ``"availability"``, ``"loss-availability"``; None: ``Integrity()`` (the
               model's default target).
        :param alpha: Trade-off in [0, 1]: 0 all effect, 1 all concealment.
        :param n_points: Number of poison rows. Give exactly one of ``n_points`` and
               ``rate``.
        :param rate: Poisoning rate m / n in (0, 1].
        :param trade_off: ``"share"`` (default: α as a share of the effect given up
               for concealment) or ``"paper"`` (the paper's W = α·C ± (1 − α)·E); see
               :class:`flexpoison.FlexiblePoisoning`.
        :param starts: Descents per point (1: the paper's Algorithm 1).
        :param passes: Passes over the points (cyclic re-crafting after the first).
        :param step: ``"lbfgs"`` (default: projected quasi-Newton), ``"backtracking"``
               (projected gradient, Armijo line search) or ``"paper"`` (s = 1/i).
        :param max_iter: Gradient iterations per descent at most.
        :param tol: Relative tolerance on W that stops a point.
        :param optimize_y: Regression only: also optimise the responses.
        :param n_sigma: Half-width of the box around the clean mean, in standard
               deviations; None: the box is the estimator's ``clip_values`` alone.
        :param random_state: Seed (integer ≥ 0) or numpy Generator.
        :param verbose: Show a progress bar over the crafted points.
        :param bounds: Per-feature bounds in the units of ``x``, intersected with the box
               and ``clip_values``: ``(lower, upper)`` arrays, or a dict by 0-based
               column index (±inf or None: no bound on that side).
        :param integer_features: Columns (0-based indices) holding integers of ``x``.
        :param frozen_features: Columns each poison row keeps from its source row.
        :param one_hot_groups: Groups of 0/1 columns holding one category each.
        :param round_fractional: Round integer columns whose clean rows hold fractions.
        """
        super().__init__(estimator)
        self.goal = goal
        self.alpha = alpha
        self.n_points = n_points
        self.rate = rate
        self.trade_off = trade_off
        self.starts = starts
        self.passes = passes
        self.step = step
        self.max_iter = max_iter
        self.tol = tol
        self.optimize_y = optimize_y
        self.n_sigma = n_sigma
        self.random_state = random_state
        self.verbose = verbose
        self.bounds = bounds
        self.integer_features = integer_features
        self.frozen_features = frozen_features
        self.one_hot_groups = one_hot_groups
        self.round_fractional = round_fractional
        #: The :class:`flexpoison.AttackResult` of the last :meth:`poison` call.
        self.result: AttackResult | None = None
        self._check_params()

    # ------------------------------------------------------------------ ART API
    def poison(
        self, x: np.ndarray, y: np.ndarray | None = None, **kwargs
    ) -> tuple[np.ndarray, np.ndarray]:
        """
        Craft poison rows against the model trained on the clean set ``(x, y)``.

        :param x: The clean training features, shape ``(n, d)``.
        :param y: The clean training labels (one-hot or index) or responses.
        :return: ``(x_poison, y_poison)``: m new rows to append to ``(x, y)``, in the
                 units and dtype of ``x`` and the label encoding of ``y``.
        """
        if kwargs:
            raise ValueError(
                f"poison: unexpected keyword arguments {sorted(kwargs)}; the attack's "
                "settings are its parameters (set_params)"
            )
        if y is None:
            raise ValueError("y: the clean training labels are required (the attack fits on them)")
        self._check_params()
        spec = self._spec()
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"x: expected shape (nb_samples, nb_features), got {x.shape}")
        steps = self._preprocessing_steps()
        labels, encode = self._labels(np.asarray(y), x.shape[0], spec.task, "y")
        z = self._forward(x, steps)
        goal = self._goal()
        if isinstance(goal, LossAvailability) and goal.X_eval is not None:
            x_eval = np.asarray(goal.X_eval)
            y_eval = None if goal.y_eval is None else np.asarray(goal.y_eval)
            if x_eval.ndim == 2 and y_eval is not None:
                goal = replace(
                    goal,
                    X_eval=self._forward(x_eval, steps),
                    y_eval=self._labels(y_eval, x_eval.shape[0], spec.task, "y_eval")[0],
                )
        from sklearn.base import clone

        units = self._data_units(steps, x.shape[1])
        attack = self._flexpoison(clone(self.estimator.model), goal, self._bounds(steps, x), units)
        result = attack.generate(z, labels)
        self.result = result
        logger.info(
            "flexpoison: %d poison rows, %s progress %.3g%s",
            result.n_points,
            result.goal,
            result.progress,
            "".join(f"; {w}" for w in result.warnings),
        )
        x_poison = self._backward(result.X_poison, steps, x)
        if units is not None:  # integers of x, exactly, after the standardisation's inverse
            groups = self.one_hot_groups or ()
            columns = [*(self.integer_features or ()), *(j for g in groups for j in g)]
            x_poison[:, columns] = np.round(x_poison[:, columns])
        return x_poison, encode(result.y_poison)

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.verbose, bool):
            raise ValueError(f"verbose: expected a bool, got {self.verbose!r}")
        if not isinstance(self.optimize_y, bool):
            raise ValueError(f"optimize_y: expected a bool, got {self.optimize_y!r}")
        spec = self._spec()
        if self.optimize_y and spec.task == "classification":
            raise ValueError(
                "optimize_y: only regression responses can be optimised; class labels "
                "are flipped instead"
            )
        if self.n_sigma is None and self.estimator.clip_values is None:
            raise ValueError(
                "n_sigma: None (no σ box) needs the estimator's clip_values, which are "
                "then the box; set clip_values or give n_sigma"
            )
        self._preprocessing_steps()
        self._check_column_indices()
        # flexpoison's own checks (InvalidInputError is a ValueError): alpha in [0, 1],
        # exactly one positive budget, counts, tol, step, trade-off, goal, seed.
        self._flexpoison(self.estimator.model, self._goal(), None)._check_params()

    def _check_column_indices(self) -> None:
        """Refuse a column named by a string: ART's ``x`` is an array, with no column
        names (flexpoison's own message would suggest a DataFrame, which ART does not
        pass on)."""
        groups = self.one_hot_groups
        named = {
            "bounds": list(self.bounds) if isinstance(self.bounds, dict) else [],
            "integer_features": _items(self.integer_features),
            "frozen_features": _items(self.frozen_features),
            "one_hot_groups": [j for g in _items(groups) for j in _items(g)],
        }
        for argument, items in named.items():
            names = [item for item in items if isinstance(item, str)]
            if names:
                raise ValueError(
                    f"{argument}: {names[0]!r} names a column, but ART's x is an array "
                    "without column names; name features by 0-based index"
                    + (", e.g. {0: (18, 90)}" if argument == "bounds" else ", e.g. [0, 3]")
                )

    # --------------------------------------------------------------- internals
    def _flexpoison(self, model, goal, bounds, data_units=None) -> FlexiblePoisoning:
        """The :class:`FlexiblePoisoning` these parameters stand for."""
        return FlexiblePoisoning(
            model,
            goal=goal,
            alpha=self.alpha,
            n_points=self.n_points,
            rate=self.rate,
            trade_off=self.trade_off,  # type: ignore[arg-type]  # checked by flexpoison
            starts=self.starts,
            passes=self.passes,
            step=self.step,  # type: ignore[arg-type]
            max_iter=self.max_iter,
            tol=self.tol,
            optimize_y=self.optimize_y,
            n_sigma=self.n_sigma,
            bounds=bounds,
            random_state=self.random_state,
            progress=self.verbose,
            integer_features=self.integer_features,
            frozen_features=self.frozen_features,
            one_hot_groups=self.one_hot_groups,
            round_fractional=self.round_fractional,
            data_units=data_units,
        )

    def _goal(self):
        return Integrity() if self.goal is None else goal_from_name(self.goal)

    def _spec(self) -> models.ModelSpec:
        """The registry entry of the wrapped model, checked against the wrapper's task
        and the registry's refusals (ValueError naming the estimator)."""
        wrapper = type(self.estimator).__name__
        model = self.estimator.model
        try:
            spec = models.spec_for(model)
        except UnsupportedEstimatorError:
            raise ValueError(
                f"{type(self).__name__}: the estimator {type(model).__name__} (in {wrapper}) "
                "is not supported; flexpoison attacks "
                + ", ".join(s.class_name for s in models.REGISTRY.values())
            ) from None
        task = (
            "classification" if isinstance(self.estimator, ScikitlearnClassifier) else "regression"
        )
        if spec.task != task:
            raise ValueError(
                f"{type(self).__name__}: {wrapper} wraps {spec.class_name}, a "
                f"{spec.task} model; wrap it in ART's "
                + ("SklearnClassifier" if spec.task == "classification" else "ScikitlearnRegressor")
            )
        spec.terms(model.get_params(deep=False), None)  # refusals, by name (a ValueError)
        return spec

    def _preprocessing_steps(self) -> list[Any]:
        """The preprocessing steps the wrapper's fit applies, all standardisations;
        anything else that applies at fit time is refused by name."""
        steps = []
        for op in getattr(self.estimator, "preprocessing_operations", None) or []:
            if not getattr(op, "apply_fit", True):
                continue  # prediction only: the trained model does not see it
            if not isinstance(op, StandardisationMeanStd):
                raise ValueError(
                    f"{type(self).__name__}: the estimator's preprocessing step "
                    f"{type(op).__name__} applies when it fits (apply_fit=True), which "
                    "flexpoison cannot attack through; only ART's standardisation "
                    "(preprocessing=(mean, std)) can be, and defences that apply at "
                    "prediction only"
                )
            steps.append(op)
        return steps

    @staticmethod
    def _mean_std(step: Any, d: int) -> tuple[np.ndarray, np.ndarray]:
        """The step's mean and std per feature (float64, shape (d,))."""
        try:
            mean = np.broadcast_to(np.asarray(step.mean, dtype=float), (d,))
            std = np.broadcast_to(np.asarray(step.std, dtype=float), (d,))
        except ValueError:
            raise ValueError(
                f"preprocessing: StandardisationMeanStd's mean {np.shape(step.mean)} and std "
                f"{np.shape(step.std)} do not broadcast to one value per feature ({d})"
            ) from None
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std != 0)):
            raise ValueError(
                "preprocessing: StandardisationMeanStd needs a finite mean and a finite, "
                "non-zero std"
            )
        return mean, std

    def _forward(self, x: np.ndarray, steps: list[Any]) -> np.ndarray:
        """x as the wrapper's fit hands it to scikit-learn (ART's own arithmetic)."""
        for step in steps:
            self._mean_std(step, x.shape[1])
            x = step(x)[0]
        return x

    def _backward(
        self, z: np.ndarray, steps: list[Any], x: np.ndarray, clip: bool = True
    ) -> np.ndarray:
        """Rows of the model's input space in the units and dtype of x (floats; other
        dtypes give float64), clipped to clip_values against rounding only: the
        attack's box already lies inside them."""
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        if not steps:
            return z.astype(dtype)
        out = np.asarray(z, dtype=float)
        for step in reversed(steps):
            mean, std = self._mean_std(step, out.shape[1])
            out = out * std + mean
        limits = self._clip(out.shape[1]) if clip else None
        if limits is not None:
            out = np.clip(out, *limits)
        return out.astype(dtype)

    def _clip(self, d: int) -> tuple[np.ndarray, np.ndarray] | None:
        clip_values = self.estimator.clip_values
        if clip_values is None:
            return None
        try:
            lower, upper = (
                np.broadcast_to(np.asarray(v, dtype=float), (d,)).copy() for v in clip_values
            )
        except ValueError:
            raise ValueError(
                f"clip_values: expected (min, max) of numbers or of {d} values per "
                f"feature, got shapes {[np.shape(v) for v in clip_values]}"
            ) from None
        return lower, upper

    def _bounds(self, steps: list[Any], x: np.ndarray) -> tuple | None:
        """``bounds`` within clip_values, in the model's input space: flexpoison's
        ``bounds``."""
        d = x.shape[1]
        clip, user = self._clip(d), resolve_bounds(self.bounds, d)
        if clip is None and user is None:
            return None
        if clip is None or user is None:
            lower, upper = clip or user
        else:
            lower, upper = np.maximum(clip[0], user[0]), np.minimum(clip[1], user[1])
        for step in steps:
            mean, std = self._mean_std(step, x.shape[1])
            a, b = (lower - mean) / std, (upper - mean) / std
            lower, upper = np.minimum(a, b), np.maximum(a, b)
        return lower, upper

    def _data_units(self, steps: list[Any], d: int) -> tuple | None:
        """(mean, scale) such that x = z·scale + mean, z the model's input (None without
        standardisation): where integer and one-hot columns are integers."""
        if not steps:
            return None
        mean = self._backward(np.zeros((1, d)), steps, np.zeros((1, d)), clip=False)[0]
        one = self._backward(np.ones((1, d)), steps, np.zeros((1, d)), clip=False)[0]
        return mean, one - mean

    def _labels(
        self, y: np.ndarray, n: int, task: str, name: str
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """Labels for flexpoison (1-D) and the map back to the caller's encoding."""
        if y.shape[:1] != (n,):
            raise ValueError(f"{name}: has shape {y.shape}, expected {n} rows like x")
        column = y.ndim == 2 and y.shape[1] == 1
        if y.ndim not in (1, 2) or (task == "regression" and y.ndim == 2 and not column):
            raise ValueError(
                f"{name}: expected shape ({n},) or ({n}, 1)"
                + (" or one-hot (n, nb_classes)" if task == "classification" else "")
                + f", got {y.shape}"
            )
        if task == "regression":
            dtype = y.dtype if y.dtype.kind == "f" else np.dtype(np.float64)
            shape_back = (-1, 1) if column else (-1,)
            return y.reshape(-1), lambda v: np.asarray(v).astype(dtype).reshape(shape_back)
        if column or y.ndim == 1:  # index labels, returned as given
            shape_back = (-1, 1) if column else (-1,)
            return y.reshape(-1), lambda v: np.asarray(v).astype(y.dtype).reshape(shape_back)
        k = y.shape[1]
        if not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
            raise ValueError(
                f"{name}: a ({n}, {k}) array must be one-hot (a single 1 per row); give "
                "index labels as shape (n,)"
            )
        nb_classes = getattr(self.estimator, "nb_classes", None)
        nb_classes = int(nb_classes) if isinstance(nb_classes, numbers.Integral) else -1
        if nb_classes >= 2 and nb_classes != k:
            raise ValueError(
                f"{name}: one-hot labels with {k} columns, but the estimator has "
                f"nb_classes={nb_classes}"
            )
        eye = np.eye(k, dtype=y.dtype)
        return np.argmax(y, axis=1), lambda v: eye[np.asarray(v, dtype=int)]


__all__ = ["FlexiblePoisoningAttack"]
