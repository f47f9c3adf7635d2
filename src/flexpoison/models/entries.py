"""The registry's entries: one :class:`~flexpoison.models.spec.ModelSpec` per victim.

Adding a victim is one entry here (and its objective's terms in
:mod:`flexpoison.models.terms`, with a loss in :mod:`flexpoison.engine.losses` if it is
new): the command line, frontier, sweeps, reports and the contract suite read
:data:`flexpoison.models.REGISTRY`, built from :data:`ENTRIES`. Declare every
constructor parameter of the class: in ``objective_params``, ``ignored`` or an example
of ``refusals`` (the contract suite refuses an entry that leaves one out).
"""

from __future__ import annotations

from . import kernel, saga
from .huber import _huber, exact_fit
from .spec import Example, ModelSpec, Refusal
from .svm import _linear_svc, _linear_svr
from .terms import (
    _elastic,
    _glm,
    _least_squares,
    _logistic,
    _ridge,
    _ridge_classifier,
    _sparse_logistic,
    sparse_logistic_serves,
)

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
_SOLVER_LOGISTIC = ("intercept_scaling", "max_iter", "n_jobs", "random_state", "tol", "verbose")

#: Parameters of scikit-learn's solvers that do not change the optimum (ModelSpec.ignored).
_SOLVER_DIRECT = ("copy_X", "max_iter", "random_state", "solver", "tol")
_SOLVER_CD = ("copy_X", "max_iter", "precompute", "random_state", "selection", "tol", "warm_start")
_SOLVER_GLM = ("max_iter", "solver", "tol", "verbose", "warm_start")
_SOLVER_LIBLINEAR = ("dual", "max_iter", "random_state", "tol", "verbose")

#: Every entry, in the order commands list them.
ENTRIES: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="linear",
        estimator="sklearn.linear_model:LinearRegression",
        task="regression",
        objective_params=(),
        reg_param=None,
        defaults={},
        tight={},
        terms=_least_squares,
        default_target="flip-top",
        examples=(Example({}),),
        ignored=("copy_X", "n_jobs", "tol"),
        refusals=(Refusal({"positive": True}, "positive"),),
    ),
    ModelSpec(
        name="ridge",
        estimator="sklearn.linear_model:Ridge",
        task="regression",
        objective_params=("alpha",),
        reg_param="alpha",
        defaults={"alpha": 1.0},
        tight={"solver": "cholesky"},
        terms=_ridge,
        default_target="flip-top",
        examples=(Example({"alpha": 1.0}), Example({"alpha": 0.5, "fit_intercept": False})),
        ignored=_SOLVER_DIRECT,
        refusals=(Refusal({"positive": True}, "positive"), Refusal({"alpha": -1.0}, "alpha")),
    ),
    ModelSpec(
        name="lasso",
        estimator="sklearn.linear_model:Lasso",
        task="regression",
        objective_params=("alpha",),
        reg_param="alpha",
        defaults={"alpha": 1.0, "max_iter": 10000},
        tight=_EXACT_CD,
        terms=_elastic("Lasso", 1.0),
        default_target="flip-top",
        examples=(Example({"alpha": 0.3}),),
        ignored=_SOLVER_CD,
        refusals=(Refusal({"positive": True}, "positive"), Refusal({"alpha": 0.0}, "alpha")),
    ),
    ModelSpec(
        name="elasticnet",
        estimator="sklearn.linear_model:ElasticNet",
        task="regression",
        objective_params=("alpha", "l1_ratio"),
        reg_param="alpha",
        defaults={"alpha": 1.0, "l1_ratio": 0.5, "max_iter": 10000},
        tight=_EXACT_CD,
        terms=_elastic("ElasticNet", None),
        default_target="flip-top",
        examples=(
            Example({"alpha": 0.4, "l1_ratio": 0.8}),
            Example({"alpha": 0.5, "l1_ratio": 0.8, "fit_intercept": False}),
        ),
        ignored=_SOLVER_CD,
        refusals=(Refusal({"positive": True}, "positive"), Refusal({"l1_ratio": 1.5}, "l1_ratio")),
    ),
    ModelSpec(
        name="logistic",
        estimator="sklearn.linear_model:LogisticRegression",
        task="classification",
        objective_params=("C",),
        reg_param="C",
        defaults={"C": 1.0, "max_iter": 10000},
        tight={"tol": 1e-12, "max_iter": 100000, "solver": "newton-cholesky"},
        terms=_logistic,
        default_target="negate",
        default_target_multiclass="swap",
        examples=(
            Example({"C": 1.0}, 2),
            Example({"C": 0.5, "fit_intercept": False}, 2),
            Example({"C": 1.0}, 3),
        ),
        ignored=(*_SOLVER_LOGISTIC, "warm_start"),
        refusals=(
            Refusal({"class_weight": "balanced"}, "class_weight", 2),
            Refusal({"dual": True}, "dual", 2),
            Refusal({"solver": "liblinear"}, "liblinear", 2),
            Refusal({"l1_ratio": 0.5}, "l1_ratio", 2),
            Refusal({"penalty": "l1", "solver": "liblinear"}, "penalty", 2),
            Refusal({"C": 0.0}, "C", 2),
        ),
        serves=lambda params: not sparse_logistic_serves(params),
    ),
    ModelSpec(
        name="logistic-l1",
        estimator="sklearn.linear_model:LogisticRegression",
        task="classification",
        objective_params=("C", "l1_ratio", "penalty"),
        reg_param="C",
        defaults={"C": 1.0, "l1_ratio": 1.0, "solver": "saga", "max_iter": 10000},
        tight=saga.TIGHT,
        terms=_sparse_logistic,
        default_target="negate",
        default_target_multiclass="swap",
        examples=(
            Example({"C": 0.1, "l1_ratio": 1.0}, 2),
            Example({"C": 0.1, "l1_ratio": 0.5, "fit_intercept": False}, 2),
            Example({"C": 0.1, "penalty": "elasticnet", "l1_ratio": 0.7}, 2),
            Example({"C": 0.1, "l1_ratio": 0.7}, 3),
        ),
        ignored=(*_SOLVER_LOGISTIC, "warm_start"),
        refusals=(
            Refusal({"class_weight": "balanced"}, "class_weight", 2),
            Refusal({"dual": True}, "dual", 2),
            Refusal({"l1_ratio": 1.5}, "l1_ratio", 2),
            Refusal({"l1_ratio": 1.0}, "l1_ratio", 4),
            Refusal({"solver": "lbfgs"}, "solver", 2),
            Refusal({"C": 0.0}, "C", 2),
        ),
        exact_fit=saga.exact_fit,
        serves=sparse_logistic_serves,
    ),
    ModelSpec(
        name="ridgeclassifier",
        estimator="sklearn.linear_model:RidgeClassifier",
        task="classification",
        objective_params=("alpha",),
        reg_param="alpha",
        defaults={"alpha": 1.0},
        tight={"solver": "cholesky"},
        terms=_ridge_classifier,
        default_target="negate",
        default_target_multiclass="swap",
        examples=(
            Example({"alpha": 1.0}, 2),
            Example({"alpha": 0.5, "fit_intercept": False}, 2),
            Example({"alpha": 1.0}, 3),
        ),
        ignored=_SOLVER_DIRECT,
        refusals=(
            Refusal({"positive": True}, "positive", 2),
            Refusal({"class_weight": "balanced"}, "class_weight", 2),
        ),
    ),
    ModelSpec(
        name="poisson",
        estimator="sklearn.linear_model:PoissonRegressor",
        task="regression",
        objective_params=("alpha",),
        reg_param="alpha",
        defaults={"alpha": 1.0},
        tight=_EXACT_GLM,
        terms=_glm("PoissonRegressor", 1.0),
        default_target="flip-top",
        examples=(Example({"alpha": 0.1}), Example({"alpha": 0.05, "fit_intercept": False})),
        ignored=_SOLVER_GLM,
        refusals=(Refusal({"alpha": -1.0}, "alpha"),),
    ),
    ModelSpec(
        name="gamma",
        estimator="sklearn.linear_model:GammaRegressor",
        task="regression",
        objective_params=("alpha",),
        reg_param="alpha",
        defaults={"alpha": 1.0},
        tight=_EXACT_GLM,
        terms=_glm("GammaRegressor", 2.0),
        default_target="flip-top",
        examples=(Example({"alpha": 0.1}),),
        ignored=_SOLVER_GLM,
        refusals=(Refusal({"alpha": -1.0}, "alpha"),),
    ),
    ModelSpec(
        name="tweedie",
        estimator="sklearn.linear_model:TweedieRegressor",
        task="regression",
        objective_params=("power", "alpha", "link"),
        reg_param="alpha",
        defaults={"power": 1.5, "alpha": 1.0},
        tight=_EXACT_GLM,
        terms=_glm("TweedieRegressor", None),
        default_target="flip-top",
        examples=(
            Example({"power": 1.5, "alpha": 0.1}),
            Example({"power": 0.0, "alpha": 0.5, "fit_intercept": False}),
        ),
        ignored=_SOLVER_GLM,
        refusals=(
            Refusal({"power": 3.0}, "power"),
            Refusal({"power": 1.5, "link": "identity"}, "link"),
        ),
    ),
    ModelSpec(
        name="linearsvc",
        estimator="sklearn.svm:LinearSVC",
        task="classification",
        objective_params=("C", "loss", "intercept_scaling"),
        reg_param="C",
        defaults={"C": 1.0, "max_iter": 10000},
        tight=_EXACT_LIBLINEAR,
        terms=_linear_svc,
        default_target="negate",
        default_target_multiclass="swap",
        examples=(
            Example({"C": 1.0}, 2),
            Example({"C": 0.5, "loss": "hinge", "intercept_scaling": 2.0}, 2),
            Example({"C": 1.0, "fit_intercept": False}, 3),
            Example({"C": 0.1, "loss": "hinge", "intercept_scaling": 2.0}, 3),
        ),
        tol_floor=_EXACT_LIBLINEAR["tol"],
        ignored=_SOLVER_LIBLINEAR,
        refusals=(
            Refusal({"class_weight": "balanced"}, "class_weight", 2),
            Refusal({"penalty": "l1", "dual": False}, "penalty", 2),
            Refusal({"multi_class": "crammer_singer"}, "multi_class", 3),
            Refusal({"loss": "log"}, "loss", 2),
            Refusal({"intercept_scaling": 0.0}, "intercept_scaling", 2),
        ),
    ),
    ModelSpec(
        name="linearsvr",
        estimator="sklearn.svm:LinearSVR",
        task="regression",
        objective_params=("C", "epsilon", "loss", "intercept_scaling"),
        reg_param="C",
        defaults={"C": 1.0, "max_iter": 10000},
        tight=_EXACT_LIBLINEAR,
        terms=_linear_svr,
        default_target="flip-top",
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
        ignored=_SOLVER_LIBLINEAR,
        refusals=(
            Refusal({"loss": "huber"}, "loss"),
            Refusal({"epsilon": -1.0}, "epsilon"),
            Refusal({"intercept_scaling": 0.0}, "intercept_scaling"),
        ),
    ),
    ModelSpec(
        name="huber",
        estimator="sklearn.linear_model:HuberRegressor",
        task="regression",
        objective_params=("epsilon", "alpha"),
        reg_param="alpha",
        defaults={"epsilon": 1.35, "alpha": 0.0001, "max_iter": 1000},
        tight={"max_iter": 10000, "tol": 1e-10},
        terms=_huber,
        default_target="flip-top",
        examples=(Example({"epsilon": 1.5, "alpha": 0.5}), Example({"epsilon": 1.5, "alpha": 1.0})),
        extra_theta=("scale_",),
        exact_fit=exact_fit,
        ignored=("max_iter", "tol", "warm_start"),
        refusals=(
            Refusal({"epsilon": 1.0}, "epsilon"),
            Refusal({"fit_intercept": False}, "fit_intercept"),
        ),
    ),
    ModelSpec(
        name=kernel.NAME,
        estimator=kernel.ESTIMATOR,
        task="classification",
        objective_params=kernel.OBJECTIVE_PARAMS,
        reg_param="C",
        defaults=kernel.DEFAULTS,
        tight=kernel.TIGHT,
        terms=kernel._terms,
        default_target="",  # no θ: integrity needs an explicit 'predict:v@x*' target
        examples=(
            Example({"kernel": "linear", "C": 0.5}, 2),
            Example({"kernel": "rbf", "C": 1.0, "gamma": 0.3}, 2),
            Example({"kernel": "rbf", "C": 2.0, "gamma": "auto"}, 2),
            Example({"kernel": "poly", "C": 1.0, "gamma": 0.4, "coef0": 1.0}, 2),
            Example({"kernel": "rbf", "C": 1.0}, 2),
            Example({"kernel": "poly", "C": 0.5, "degree": 2, "coef0": 1.0}, 2),
        ),
        tol_floor=kernel.TIGHT["tol"],  # libsvm: no lower (slow to stop)
        has_theta=False,
        default_goal="loss-availability",
        ignored=(
            "break_ties",
            "cache_size",
            "decision_function_shape",
            "max_iter",
            "probability",
            "random_state",
            "shrinking",
            "tol",
            "verbose",
        ),
        refusals=(
            Refusal({"class_weight": "balanced"}, "class_weight", 2),
            Refusal({"kernel": "sigmoid"}, "kernel", 2),
            Refusal({"degree": 0, "kernel": "poly"}, "degree", 2),
            Refusal({"gamma": -1.0}, "gamma", 2),
        ),
    ),
)

__all__ = ["ENTRIES"]
