"""The registry of supported victims: everything flexpoison knows about a model, once.

Each :class:`ModelSpec` in :data:`REGISTRY` states, for one scikit-learn estimator:
its name on the command line, its task, how its hyper-parameters map onto the
engine's declared objective (and which settings are refused, by name), the default
integrity target, how an exact ("tight") refit is configured, and the settings the
contract test suite checks. Commands, experiments, sweeps, reports and tests read
the registry; adding a victim is a loss (if new) in :mod:`flexpoison.engine.losses`
plus one entry here.

Goals by victim
---------------
Every entry with a parameter vector θ accepts every goal: ``Integrity`` (any target:
presets, ``predict:v@x*``, an explicit θ_t), ``Availability`` (‖θ_p − θ₀‖²) and
``LossAvailability`` (its own mean loss). ``svc``, scikit-learn's ``SVC``
(:mod:`flexpoison.models.kernel`: linear, RBF or polynomial kernel, binary), has no θ
(``has_theta=False``): it accepts the goals stated on decision values only —
``Integrity("predict:v@x*")`` (E = (f(x*) − v)²) and ``LossAvailability`` (mean hinge
loss, its default goal) — and refuses the others by name
(:meth:`ModelSpec.goal_problem`); its θ outputs are its decision values at the goal's
rows (:mod:`flexpoison.experiments.pipeline`).

Objective scaling
-----------------
Every victim minimises scikit-learn's own training objective, with N = the number of
rows trained on (clean + poison), θ = (w, b), the intercept b not penalised but by
liblinear's support vector machines (s = intercept_scaling, :mod:`flexpoison.models.svm`):

=========================  =============================================  ==========
estimator                  L(θ)                                           (c, /N, λ₂, λ₁)
=========================  =============================================  ==========
LinearRegression           Σ (w·x + b − y)²                               (1, no, 0, 0)
Ridge(alpha=a)             Σ (w·x + b − y)² + a‖w‖²                       (1, no, 2a, 0)
Lasso(alpha=a)             (1/2N) Σ (·)² + a‖w‖₁                          (½, yes, 0, a)
ElasticNet(a, l1_ratio=ρ)  (1/2N) Σ (·)² + aρ‖w‖₁ + (a(1−ρ)/2)‖w‖²        (½, yes, a(1−ρ), aρ)
LogisticRegression(C)      C Σ log(1 + exp(−ỹ(w·x + b))) + ½‖w‖²          (C, no, 1, 0)
  (K ≥ 3 classes)          C Σ −log softmax_y(Wx + b) + ½‖W‖²_F           (C, no, 1, 0)
RidgeClassifier(alpha=a)   Σ (w·x + b − ỹ)² + a‖w‖²                       (1, no, 2a, 0)
  (K ≥ 3 classes)          Σ_k Σ (w_k·x + b_k − ỹ_k)² + a‖W‖²_F           (1, no, 2a, 0)
PoissonRegressor(alpha=a)  (1/N) Σ h₁(y, exp(w·x + b)) + (a/2)‖w‖²        (1, yes, a, 0)
GammaRegressor(alpha=a)    (1/N) Σ h₂(y, exp(w·x + b)) + (a/2)‖w‖²        (1, yes, a, 0)
TweedieRegressor(power=p)  (1/N) Σ h_p(y, exp(w·x + b)) + (a/2)‖w‖²       (1, yes, a, 0)
 (power=0, identity link)  (1/2N) Σ (w·x + b − y)² + (a/2)‖w‖²            (½, yes, a, 0)
LinearSVC(C)               C Σ max(0, 1 − ỹ(w·x + b))² + ½‖w‖² + ½b²/s²   (C, no, 1, 0)
  (loss='hinge')           C Σ max(0, 1 − ỹ(w·x + b)) + ½‖w‖² + ½b²/s²    (C, no, 1, 0)
  (K ≥ 3 classes)          Σ_k of the above with ỹ_k (one-vs-rest)        (C, no, 1, 0)
LinearSVR(C, epsilon=ε)    C Σ max(0, |r| − ε) + ½‖w‖² + ½b²/s²           (C, no, 1, 0)
  (squared ε-insensitive)  C Σ max(0, |r| − ε)² + ½‖w‖² + ½b²/s²          (C, no, 1, 0)
HuberRegressor(ε, a)       Σ (σ + σ·H_ε(r/σ)) + a‖w‖², over (w, b, σ)     (1, no, 2a, 0)
=========================  =============================================  ==========

read as L(θ) = s(N)·Σ ℓ + (λ₂/2)‖W‖² + λ₁‖W‖₁ with s(N) = c or c/N
(:class:`flexpoison.engine.Learner`); r = w·x + b − y is a residual; ỹ = ±1 encodes the
second / first class, and ỹ_k = +1 class k, −1 the others (scikit-learn's one-vs-all
coding). h_p(y, μ) is half the Tweedie deviance of power p
(:class:`flexpoison.engine.TweedieLoss`: 1 Poisson, 2 Gamma; scikit-learn's loss plus
the terms constant in θ, so that E_L is a deviance, ≥ 0); the log link is supported for
1 ≤ p ≤ 2, where h_p is convex in w·x + b, the identity link for p = 0 only (other
settings are refused by name). Responses must lie in h_p's domain: y ≥ 0 (y > 0 for p =
2); a GLM's prediction is exp(w·x + b). The support vector machines' intercept weight
1/s² is ``Terms.intercept_l2``; their hinge and ε-insensitive losses are piecewise
linear, solved and differentiated on the rows held on their kinks
(:mod:`flexpoison.engine.kinks`). HuberRegressor fits its scale σ > 0 jointly, with
H_ε(u) = u² for |u| ≤ ε and 2ε|u| − ε² beyond (ε ≥ 1; an intercept is required): σ is
the intercept of a second, weightless output (:mod:`flexpoison.models.huber`).

θ layout and labels
-------------------
θ is flat: (w_1, …, w_d, b) — without an intercept, b is left out; HuberRegressor's
is (w_1, …, w_d, b, σ), σ its ``scale_``; for K ≥ 3 classes
the K × (d + 1) matrix of class rows (w_k, b_k), flattened row by row, in the sorted
order of the labels (the multinomial logistic model with scikit-learn's gauge
Σ_k b_k = 0). Targets are encoded for
the loss: a regression response as itself, binary labels as ±1 (the second sorted
class is +1), K ≥ 3 labels as their index in the sorted classes.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from ..errors import InvalidInputError, UnsupportedEstimatorError
from . import kernel
from .huber import _huber, exact_fit
from .svm import _linear_svc, _linear_svr
from .terms import (
    Terms,
    _elastic,
    _glm,
    _least_squares,
    _logistic,
    _ridge,
    _ridge_classifier,
)

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
    tol_floor : float
        The smallest ``tol`` at which scikit-learn's solver still stops by its own
        criterion (0: any): below ~1e-11 liblinear's coordinate descent runs to
        ``max_iter`` and returns a point far from the optimum, so an oracle that
        tightens :attr:`tight` lowers ``tol`` no further.
    extra_theta : tuple of str
        Fitted attributes that end the public θ after (w, b), e.g. HuberRegressor's
        ``scale_`` (the learner's pinned outputs' intercepts, in that order).
    exact_fit : callable or None
        ``exact_fit(estimator, X, y) -> fitted``: an exact refit for an estimator whose
        solver cannot be tightened through its parameters (None: :meth:`tight_clone`
        fitted); :meth:`fit_tight` chooses.
    has_theta : bool
        Whether the model is a parameter vector θ (every linear victim). False: a
        kernel victim (:mod:`flexpoison.models.kernel`), "decision-value goals only" —
        it accepts the goals of :attr:`goals`, integrity with a ``predict:`` target
        only, has no ``fit_intercept``, and every θ output of a command holds the
        decision values f at the goal's rows instead (:mod:`flexpoison.experiments`).
    default_goal : str
        The goal a command runs when none is named (``integrity``: its default target
        preset applies; ``loss-availability`` for a victim without θ).
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
    tol_floor: float = 0.0
    extra_theta: tuple[str, ...] = ()
    exact_fit: Callable[[Any, Any, Any], Any] | None = field(default=None, repr=False)
    has_theta: bool = True
    default_goal: str = "integrity"

    @property
    def goals(self) -> tuple[str, ...]:
        """The goals (by name) this victim accepts."""
        return (
            ("integrity", "availability", "loss-availability") if self.has_theta else kernel.GOALS
        )

    def goal_problem(self, kind: str, target: object = None) -> str | None:
        """Why this victim cannot run the goal named ``kind`` with ``target`` (None:
        its default preset), in one sentence naming both; None when it can."""
        if self.has_theta:
            return None
        return kernel.goal_problem(kind, target, self.class_name)

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

    def fit_tight(self, estimator, X, y):
        """``estimator`` (unfitted) fitted on (X, y) to (near) machine precision: with
        :attr:`exact_fit` when the entry has one, else :meth:`tight_clone`'s fit."""
        if self.exact_fit is not None and type(estimator) is self.estimator_class():
            return self.exact_fit(estimator, X, y)
        return self.tight_clone(estimator).fit(X, y)

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


_EXACT_CD = {"tol": 1e-12, "max_iter": 1_000_000}
# liblinear's dual coordinate descent, seeded: at tol 1e-10 it stops after ~10³ passes
# within ~1e-11 of the optimum on standardised data; below ~1e-11 it runs to max_iter
# and may stop far from it (ModelSpec.tol_floor). Its primal Newton solver (dual=False)
# stalls ~1e-8 away whatever tol. On raw, badly scaled features it converges slowly
# (its intercept is penalised, the data uncentred): max_iter bounds the time it spends.
_EXACT_LIBLINEAR = {"dual": True, "tol": 1e-10, "max_iter": 20_000, "random_state": 0}
# newton-cholesky stops at max |∇L| ≤ tol (absolute): 1e-12 lies below the rounding
# floor of responses and features in the hundreds (e.g. CCPP), where its line search
# fails and it falls back to L-BFGS; at 1e-10 Newton's last step leaves ~1e-16.
_EXACT_GLM = {"solver": "newton-cholesky", "tol": 1e-10, "max_iter": 1000}

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
            ModelSpec(
                "ridgeclassifier",
                "sklearn.linear_model:RidgeClassifier",
                "classification",
                ("alpha",),
                "alpha",
                {"alpha": 1.0},
                {"solver": "cholesky"},
                _ridge_classifier,
                "negate",
                default_target_multiclass="swap",
                examples=(
                    Example({"alpha": 1.0}, 2),
                    Example({"alpha": 0.5, "fit_intercept": False}, 2),
                    Example({"alpha": 1.0}, 3),
                ),
            ),
            ModelSpec(
                "poisson",
                "sklearn.linear_model:PoissonRegressor",
                "regression",
                ("alpha",),
                "alpha",
                {"alpha": 1.0},
                _EXACT_GLM,
                _glm("PoissonRegressor", 1.0),
                "flip-top",
                examples=(
                    Example({"alpha": 0.1}),
                    Example({"alpha": 0.05, "fit_intercept": False}),
                ),
            ),
            ModelSpec(
                "gamma",
                "sklearn.linear_model:GammaRegressor",
                "regression",
                ("alpha",),
                "alpha",
                {"alpha": 1.0},
                _EXACT_GLM,
                _glm("GammaRegressor", 2.0),
                "flip-top",
                examples=(Example({"alpha": 0.1}),),
            ),
            ModelSpec(
                "tweedie",
                "sklearn.linear_model:TweedieRegressor",
                "regression",
                ("power", "alpha", "link"),
                "alpha",
                {"power": 1.5, "alpha": 1.0},
                _EXACT_GLM,
                _glm("TweedieRegressor", None),
                "flip-top",
                examples=(
                    Example({"power": 1.5, "alpha": 0.1}),
                    Example({"power": 0.0, "alpha": 0.5, "fit_intercept": False}),
                ),
            ),
            ModelSpec(
                "linearsvc",
                "sklearn.svm:LinearSVC",
                "classification",
                ("C", "loss", "intercept_scaling"),
                "C",
                {"C": 1.0, "max_iter": 10_000},
                _EXACT_LIBLINEAR,
                _linear_svc,
                "negate",
                default_target_multiclass="swap",
                examples=(
                    Example({"C": 1.0}, 2),
                    Example({"C": 0.5, "loss": "hinge", "intercept_scaling": 2.0}, 2),
                    Example({"C": 1.0, "fit_intercept": False}, 3),
                    Example({"C": 0.1, "loss": "hinge", "intercept_scaling": 2.0}, 3),
                ),
                tol_floor=_EXACT_LIBLINEAR["tol"],
            ),
            ModelSpec(
                "linearsvr",
                "sklearn.svm:LinearSVR",
                "regression",
                ("C", "epsilon", "loss", "intercept_scaling"),
                "C",
                {"C": 1.0, "max_iter": 10_000},
                _EXACT_LIBLINEAR,
                _linear_svr,
                "flip-top",
                examples=(
                    Example({"C": 0.1, "epsilon": 0.5}),
                    Example(
                        {
                            "C": 0.5,
                            "epsilon": 0.1,
                            "loss": "squared_epsilon_insensitive",
                            "intercept_scaling": 2.0,
                        }
                    ),
                ),
                tol_floor=_EXACT_LIBLINEAR["tol"],
            ),
            ModelSpec(
                "huber",
                "sklearn.linear_model:HuberRegressor",
                "regression",
                ("epsilon", "alpha"),
                "alpha",
                {"epsilon": 1.35, "alpha": 1e-4, "max_iter": 1000},
                {"max_iter": 10_000, "tol": 1e-10},
                _huber,
                "flip-top",
                examples=(
                    Example({"epsilon": 1.5, "alpha": 0.5}),
                    Example({"epsilon": 1.5, "alpha": 1.0}),
                ),
                extra_theta=("scale_",),
                exact_fit=exact_fit,
            ),
            ModelSpec(
                kernel.NAME,
                kernel.ESTIMATOR,
                "classification",
                kernel.OBJECTIVE_PARAMS,
                "C",
                kernel.DEFAULTS,
                kernel.TIGHT,
                kernel._terms,
                "",  # no θ: integrity needs an explicit 'predict:v@x*' target
                examples=(
                    Example({"kernel": "linear", "C": 0.5}, 2),
                    Example({"kernel": "rbf", "C": 1.0, "gamma": 0.3}, 2),
                    Example({"kernel": "rbf", "C": 2.0, "gamma": "auto"}, 2),
                    Example({"kernel": "poly", "C": 1.0, "gamma": 0.4, "coef0": 1.0}, 2),
                    Example({"kernel": "rbf", "C": 1.0}, 2),  # gamma='scale': moves with x_p
                    Example({"kernel": "poly", "C": 0.5, "degree": 2, "coef0": 1.0}, 2),
                ),
                tol_floor=kernel.TIGHT["tol"],  # libsvm: no lower (slow to stop)
                has_theta=False,
                default_goal="loss-availability",
            ),
        )
    }
)
"""Every supported victim, by name (read-only)."""

MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)

#: Where no goal is named: the goal each victim runs by default (``--goal``'s help).
DEFAULT_GOAL_HELP = "; ".join(
    [
        "integrity",
        *(
            f"{spec.default_goal} for {spec.name}"
            for spec in REGISTRY.values()
            if spec.default_goal != "integrity"
        ),
    ]
)

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
    """The entry of an estimator instance, by its exact class (a pipeline's: its
    model's, :mod:`flexpoison.scalers`)."""
    from ..scalers import read_pipeline

    estimator = read_pipeline(estimator)[1]
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


from .victim import (  # noqa: E402  (it reads the registry above)
    Victim,
    decision_scores,
    theta_names,
    theta_of,
    victim,
)

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
    "DEFAULT_GOAL_HELP",
    "get",
    "spec_for",
    "theta_of",
    "decision_scores",
    "theta_names",
    "Victim",
    "victim",
]
