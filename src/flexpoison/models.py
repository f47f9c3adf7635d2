"""The registry of supported victims: everything flexpoison knows about a model, once.

Each :class:`ModelSpec` in :data:`REGISTRY` states, for one scikit-learn estimator:
its name on the command line, its task, how its hyper-parameters map onto the
engine's declared objective (and which settings are refused, by name), the default
integrity target, how an exact ("tight") refit is configured, and the settings the
contract test suite checks. Commands, experiments, sweeps, reports and tests read
the registry; adding a victim is a loss (if new) in :mod:`flexpoison.engine.losses`
plus one entry here.

Objective scaling
-----------------
Every victim minimises scikit-learn's own training objective, with N = the number of
rows trained on (clean + poison), θ = (w, b), the intercept b never penalised:

=========================  =============================================  ==========
estimator                  L(θ)                                           (c, /N, λ₂, λ₁)
=========================  =============================================  ==========
LinearRegression           Σ (w·x + b − y)²                               (1, no, 0, 0)
Ridge(alpha=a)             Σ (w·x + b − y)² + a‖w‖²                       (1, no, 2a, 0)
Lasso(alpha=a)             (1/2N) Σ (·)² + a‖w‖₁                          (½, yes, 0, a)
ElasticNet(a, l1_ratio=ρ)  (1/2N) Σ (·)² + aρ‖w‖₁ + (a(1−ρ)/2)‖w‖²        (½, yes, a(1−ρ), aρ)
LogisticRegression(C)      C Σ log(1 + exp(−ỹ(w·x + b))) + ½‖w‖²          (C, no, 1, 0)
  (K ≥ 3 classes)          C Σ −log softmax_y(Wx + b) + ½‖W‖²_F           (C, no, 1, 0)
=========================  =============================================  ==========

read as L(θ) = s(N)·Σ ℓ + (λ₂/2)‖W‖² + λ₁‖W‖₁ with s(N) = c or c/N
(:class:`flexpoison.engine.Learner`); ỹ = ±1 encodes the second / first class.

θ layout and labels
-------------------
θ is flat: (w_1, …, w_d, b) — without an intercept, b is left out; for K ≥ 3 classes
the K × (d + 1) matrix of class rows (w_k, b_k), flattened row by row, in the sorted
order of the labels, with scikit-learn's gauge Σ_k b_k = 0. Targets are encoded for
the loss: a regression response as itself, binary labels as ±1 (the second sorted
class is +1), K ≥ 3 labels as their index in the sorted classes.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import InvalidInputError, UnsupportedEstimatorError

if TYPE_CHECKING:
    from .engine import Learner, Loss

Task = Literal["regression", "classification"]


# ---------------------------------------------------------------------- the tasks


@dataclass(frozen=True)
class Metric:
    """The test metric of a task: ``name`` for humans, ``key`` for files."""

    name: str
    key: str
    higher_is_better: bool

    def score(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        if self.key == "mse":
            return float(np.mean((y_pred - y_true) ** 2))
        return float(np.mean(y_pred == y_true))


METRICS: Mapping[str, Metric] = MappingProxyType(
    {
        "regression": Metric("test MSE", "mse", higher_is_better=False),
        "classification": Metric("test accuracy", "accuracy", higher_is_better=True),
    }
)


# -------------------------------------------------------------- the declarations


@dataclass(frozen=True)
class Terms:
    """The numbers of L(θ) = s(N)·Σ ℓ + (λ₂/2)‖W‖² + λ₁‖W‖₁ for one estimator."""

    loss: Loss
    loss_weight: float
    per_sample: bool
    l2: float
    l1: float


@dataclass(frozen=True)
class Example:
    """A setting the contract test suite runs (``n_classes`` for classifiers)."""

    params: Mapping[str, Any]
    n_classes: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """One supported victim (see the module docstring).

    Attributes
    ----------
    name : str
        Its name on the command line and in sweep files, e.g. ``"ridge"``.
    estimator : str
        The scikit-learn class, ``"module:Class"`` (imported when first needed).
    task : {"regression", "classification"}
    objective_params : tuple of str
        The hyper-parameters that define the objective, shown in every label.
    reg_param : str or None
        The hyper-parameter ``--reg`` sets (None: the model is not regularised).
    defaults : mapping
        Constructor arguments of :meth:`make` (flexpoison's default victim).
    tight : mapping
        Solver settings under which scikit-learn's fit is exact to ~1e-12.
    terms : callable
        ``terms(params, n_classes) -> Terms``: the objective; refuses unsupported
        settings with :class:`~flexpoison.errors.UnsupportedEstimatorError`.
    default_target, default_target_multiclass : str
        The integrity target preset for one output, and for K ≥ 3 outputs.
    examples : tuple of Example
        Settings the contract test suite checks.
    """

    name: str
    estimator: str
    task: Task
    objective_params: tuple[str, ...]
    reg_param: str | None
    defaults: Mapping[str, Any]
    tight: Mapping[str, Any]
    terms: Callable[[Mapping[str, Any], int | None], Terms] = field(repr=False)
    default_target: str
    default_target_multiclass: str | None = None
    examples: tuple[Example, ...] = ()

    @property
    def class_name(self) -> str:
        return self.estimator.rpartition(":")[2]

    @property
    def metric(self) -> Metric:
        return METRICS[self.task]

    def estimator_class(self) -> type:
        module, _, name = self.estimator.partition(":")
        return getattr(importlib.import_module(module), name)

    def make(self, **params: Any):
        """An unfitted estimator: :attr:`defaults` updated with ``params``."""
        return self.estimator_class()(**{**self.defaults, **params})

    def tight_clone(self, estimator):
        """An unfitted clone of ``estimator`` whose solver runs to (near) machine
        precision, so that its fit reproduces the engine's exact optimum."""
        from sklearn.base import clone

        return clone(estimator).set_params(**self.tight)

    def label(self, estimator) -> str:
        """``Ridge(alpha=1)``: the class with the hyper-parameters that define its
        objective (shown even at their defaults), and ``fit_intercept=False`` if so."""
        params = estimator.get_params(deep=False)
        shown = [f"{key}={_fmt(params[key])}" for key in self.objective_params if key in params]
        if params.get("fit_intercept") is False:
            shown.append("fit_intercept=False")
        return f"{self.class_name}({', '.join(shown)})"

    @property
    def default_label(self) -> str:
        """The label of :meth:`make`'s estimator, without importing scikit-learn."""
        shown = [
            f"{key}={_fmt(self.defaults[key])}"
            for key in self.objective_params
            if key in self.defaults
        ]
        return f"{self.class_name}({', '.join(shown)})"

    def target_preset(self, n_outputs: int) -> str:
        """The default integrity target for a model with ``n_outputs`` score rows."""
        if n_outputs > 1 and self.default_target_multiclass is not None:
            return self.default_target_multiclass
        return self.default_target


def _fmt(value) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:g}"
    return repr(value)


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise UnsupportedEstimatorError(f"{name}: {message}")


def _number(params: Mapping[str, Any], key: str, name: str) -> float:
    """A finite real hyper-parameter (strings, booleans, arrays and ±inf refused)."""
    value = params[key]
    if isinstance(value, (str, bool, np.bool_)) or np.ndim(value) != 0:
        raise UnsupportedEstimatorError(f"{name}: {key} must be a single number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UnsupportedEstimatorError(
            f"{name}: {key} must be a single number, got {value!r}"
        ) from None
    if not np.isfinite(number):
        raise UnsupportedEstimatorError(f"{name}: {key} must be finite, got {number}")
    return number


def _squared():
    from .engine.losses import SquaredLoss

    return SquaredLoss()


def _least_squares(params, n_classes) -> Terms:
    _require(
        not params.get("positive", False),
        "LinearRegression",
        "positive=True (sign-constrained coefficients) is not supported",
    )
    return Terms(_squared(), 1.0, False, 0.0, 0.0)


def _ridge(params, n_classes) -> Terms:
    _require(
        not params.get("positive", False),
        "Ridge",
        "positive=True (sign-constrained coefficients) is not supported",
    )
    a = _number(params, "alpha", "Ridge")
    _require(a >= 0, "Ridge", f"alpha must be ≥ 0, got {a}")
    return Terms(_squared(), 1.0, False, 2.0 * a, 0.0)


def _elastic(name: str, rho: float | None):
    def terms(params, n_classes) -> Terms:
        _require(
            not params.get("positive", False),
            name,
            "positive=True (sign-constrained coefficients) is not supported",
        )
        a = _number(params, "alpha", name)
        _require(
            a > 0, name, f"alpha must be > 0, got {a} (use LinearRegression for an unpenalised fit)"
        )
        ratio = rho if rho is not None else _number(params, "l1_ratio", name)
        _require(0 <= ratio <= 1, name, f"l1_ratio must lie in [0, 1], got {ratio}")
        return Terms(_squared(), 0.5, True, a * (1 - ratio), a * ratio)

    return terms


def _logistic(params, n_classes) -> Terms:
    from .engine.losses import LogisticLoss, SoftmaxLoss

    name = "LogisticRegression"
    penalty = params.get("penalty", "l2")
    l1_ratio = params.get("l1_ratio")
    C = _number(params, "C", name)
    if penalty == "deprecated":  # scikit-learn ≥ 1.8 spells the penalty with l1_ratio/C
        _require(
            l1_ratio in (None, 0, 0.0),
            name,
            f"l1_ratio={l1_ratio} adds an L1 penalty; only the L2 penalty "
            "(l1_ratio=0) is supported",
        )
        penalty = "l2"
    _require(penalty == "l2", name, f"penalty={penalty!r} is not supported; only the L2 penalty is")
    _require(
        C > 0,
        name,
        f"C must be a finite number > 0, got {C} (an unpenalised logistic model may not exist)",
    )
    _require(
        params.get("class_weight") is None,
        name,
        "class_weight is not supported (it reweights the loss per class)",
    )
    _require(
        params.get("solver") != "liblinear",
        name,
        "solver='liblinear' penalises the intercept, which changes the objective; "
        "use 'lbfgs', 'newton-cg', 'newton-cholesky', 'sag' or 'saga'",
    )
    _require(not params.get("dual", False), name, "dual=True is not supported")
    k = 2 if n_classes is None else n_classes
    loss = LogisticLoss() if k == 2 else SoftmaxLoss(k)
    return Terms(loss, C, False, 1.0, 0.0)


_EXACT_CD = {"tol": 1e-12, "max_iter": 1_000_000}

REGISTRY: Mapping[str, ModelSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ModelSpec(
                "linear",
                "sklearn.linear_model:LinearRegression",
                "regression",
                (),
                None,
                {},
                {},
                _least_squares,
                "flip-top",
                examples=(Example({}),),
            ),
            ModelSpec(
                "ridge",
                "sklearn.linear_model:Ridge",
                "regression",
                ("alpha",),
                "alpha",
                {"alpha": 1.0},
                {"solver": "cholesky"},
                _ridge,
                "flip-top",
                examples=(Example({"alpha": 1.0}), Example({"alpha": 0.5, "fit_intercept": False})),
            ),
            ModelSpec(
                "lasso",
                "sklearn.linear_model:Lasso",
                "regression",
                ("alpha",),
                "alpha",
                {"alpha": 1.0, "max_iter": 10_000},
                _EXACT_CD,
                _elastic("Lasso", 1.0),
                "flip-top",
                examples=(Example({"alpha": 0.3}),),
            ),
            ModelSpec(
                "elasticnet",
                "sklearn.linear_model:ElasticNet",
                "regression",
                ("alpha", "l1_ratio"),
                "alpha",
                {"alpha": 1.0, "l1_ratio": 0.5, "max_iter": 10_000},
                _EXACT_CD,
                _elastic("ElasticNet", None),
                "flip-top",
                examples=(
                    Example({"alpha": 0.4, "l1_ratio": 0.8}),
                    Example({"alpha": 0.5, "l1_ratio": 0.8, "fit_intercept": False}),
                ),
            ),
            ModelSpec(
                "logistic",
                "sklearn.linear_model:LogisticRegression",
                "classification",
                ("C",),
                "C",
                {"C": 1.0, "max_iter": 10_000},
                {"tol": 1e-12, "max_iter": 100_000, "solver": "newton-cholesky"},
                _logistic,
                "negate",
                default_target_multiclass="swap",
                examples=(
                    Example({"C": 1.0}, 2),
                    Example({"C": 0.5, "fit_intercept": False}, 2),
                    Example({"C": 1.0}, 3),
                ),
            ),
        )
    }
)
"""Every supported victim, by name (read-only)."""

MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)

#: The victim used where none is named (frontier, the paper's experiments), per task.
DEFAULT_MODEL: Mapping[str, str] = MappingProxyType(
    {"regression": "ridge", "classification": "logistic"}
)

#: The model a sanitizer that fits one uses when it is given no victim, per task
#: (scikit-learn's defaults of the unregularised least-squares / logistic model).
DEFENDER_MODEL: Mapping[str, str] = MappingProxyType(
    {"regression": "linear", "classification": "logistic"}
)


def get(name: str) -> ModelSpec:
    """The entry named ``name`` (an :class:`InvalidInputError` lists the names)."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise InvalidInputError(
            f"model: unknown model {name!r}; expected one of " + ", ".join(MODEL_NAMES)
        ) from None


def spec_for(estimator) -> ModelSpec:
    """The entry of an estimator instance, by its exact class."""
    for spec in REGISTRY.values():
        if (
            type(estimator).__name__ == spec.class_name
            and type(estimator) is spec.estimator_class()
        ):
            return spec
    raise UnsupportedEstimatorError(
        f"unsupported estimator {type(estimator).__name__}; flexpoison supports "
        + ", ".join(s.class_name for s in REGISTRY.values())
        + " (pass an unfitted scikit-learn instance)"
    )


# --------------------------------------------------------------- θ, from outside


def theta_of(fitted) -> np.ndarray:
    """A fitted scikit-learn estimator's flat θ in flexpoison's layout."""
    coef = np.atleast_2d(fitted.coef_)
    if not fitted.fit_intercept:
        return coef.ravel()
    intercept = np.broadcast_to(np.atleast_1d(fitted.intercept_), (coef.shape[0],))
    return np.column_stack([coef, intercept]).ravel()


def decision_scores(theta: np.ndarray, X: np.ndarray, n_outputs: int) -> np.ndarray:
    """Scores X w + b (X w without an intercept) of a flat θ; shape (n, K)."""
    rows = np.asarray(theta).reshape(n_outputs, -1)
    if rows.shape[1] == X.shape[1]:
        return X @ rows.T
    return X @ rows[:, :-1].T + rows[:, -1]


def theta_names(features, classes, fit_intercept: bool) -> list[str]:
    """Names of θ's entries: ``w[feature]``… then ``b``, per class row for K ≥ 3."""
    rows = [""] if classes is None or len(classes) == 2 else [f"[{c}]" for c in classes]
    names: list[str] = []
    for row in rows:
        names += [f"w{row}[{feature}]" for feature in features]
        if fit_intercept:
            names.append(f"b{row}")
    return names


# ------------------------------------------------------------------- the victim


@dataclass(frozen=True)
class Victim:
    """An estimator read into the engine's terms, with how its targets are encoded.

    ``classes`` are the sorted labels (scikit-learn's ``classes_``) for a classifier,
    None for a regressor.
    """

    spec: ModelSpec
    learner: Learner
    classes: np.ndarray | None

    @property
    def task(self) -> Task:
        return self.spec.task

    @property
    def n_outputs(self) -> int:
        return self.learner.n_outputs

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Targets t: regression y as float; binary ±1 (classes[1] → +1); K>2 indices."""
        if self.classes is None:
            return np.asarray(y, dtype=float)
        index = np.searchsorted(self.classes, y)
        if self.n_outputs == 1:
            return np.where(index == 1, 1.0, -1.0)
        return index.astype(np.int64)

    def decode(self, t: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`, in the user's label values and dtype."""
        if self.classes is None:
            return np.asarray(t, dtype=float)
        if self.n_outputs == 1:
            return self.classes[(np.asarray(t) > 0).astype(int)]
        return self.classes[np.asarray(t, dtype=int)]

    def flipped(self, t: float, rng: np.random.Generator) -> float:
        """The paper's initial label: binary flips the sign, K>2 draws another class."""
        if self.n_outputs == 1:
            return -t
        others = [k for k in range(self.n_outputs) if k != int(t)]
        return int(rng.choice(others))

    def predict(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The model θ's predictions: responses, or labels (argmax of the scores)."""
        scores = decision_scores(theta, X, self.n_outputs)
        if self.classes is None:
            return scores[:, 0]
        index = (
            (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else np.argmax(scores, axis=1)
        )
        return self.classes[index]

    def metric(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """The task's test metric (:data:`METRICS`) of the model θ on (X, y)."""
        return self.spec.metric.score(y, self.predict(theta, X))

    def theta_names(self, features) -> list[str]:
        return theta_names(features, self.classes, self.learner.fit_intercept)


def victim(estimator, y: np.ndarray) -> Victim:
    """Read an unfitted scikit-learn estimator and its training targets into a Victim."""
    from .engine.learner import Learner

    spec = spec_for(estimator)
    params = estimator.get_params(deep=False)
    classes, suffix = None, ""
    if spec.task == "classification":
        try:
            classes = np.unique(y)
        except TypeError:
            raise InvalidInputError(
                "y: class labels of mixed types (e.g. strings and numbers) cannot be ordered"
            ) from None
        if classes.size < 2:
            raise InvalidInputError(
                f"y: {spec.class_name} needs at least two classes, got {classes.size}"
            )
        if classes.size > len(y) / 2:
            raise InvalidInputError(
                f"y: {classes.size} distinct labels in {len(y)} rows: fewer than two rows per "
                f"class, which looks like a continuous response; use a regression model"
            )
        if classes.size > 2:
            suffix = f", multinomial K={classes.size}"
    terms = spec.terms(params, None if classes is None else int(classes.size))
    learner = Learner(
        spec.label(estimator) + suffix,
        terms.loss,
        bool(params["fit_intercept"]),
        terms.loss_weight,
        terms.per_sample,
        terms.l2,
        terms.l1,
    )
    return Victim(spec, learner, classes)


__all__ = [
    "Task",
    "Metric",
    "METRICS",
    "Terms",
    "Example",
    "ModelSpec",
    "REGISTRY",
    "MODEL_NAMES",
    "DEFAULT_MODEL",
    "DEFENDER_MODEL",
    "get",
    "spec_for",
    "theta_of",
    "decision_scores",
    "theta_names",
    "Victim",
    "victim",
]
