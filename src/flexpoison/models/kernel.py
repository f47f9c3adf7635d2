"""Kernel victims: scikit-learn's ``SVC`` (libsvm's C-SVC), binary, with a linear, RBF or
polynomial kernel, differentiated through its dual (:mod:`flexpoison.engine.dual`).

Its registry entry (``svc``, :data:`flexpoison.models.REGISTRY`) declares
``has_theta=False``. A kernel SVC has no parameter vector θ: its model is the decision function
f(x) = Σ_j α_j ỹ_j k(x, x_j) + b. Its goals are stated on decision values:

* ``Integrity("predict:v@x*")`` — E = (f(x*) − v)², lowered;
* ``LossAvailability(X_eval, y_eval)`` — E = the mean hinge loss max(0, 1 − ỹ f(x)) on
  the evaluation rows (default: the clean training rows), raised.

The θ-based goals — ``Availability`` (‖θ_p − θ₀‖²) and the targets ``flip-top``,
``negate``, ``swap`` or an explicit θ — are refused by name. An attack result's θ
fields hold the decision values at the goal's rows (x*, or the evaluation rows) and,
for ``theta_target``, the target values v (integrity) or the clean model's decision
values (loss availability).

Supported settings: ``kernel`` in {'linear', 'rbf', 'poly'}, ``C`` > 0, ``gamma`` a
number > 0, 'auto' (1/d) or 'scale' (scikit-learn's default, 1/(d·Var X) over the
training rows, poison included: the gradient includes its dependence on the poison
row); precomputed or callable kernels, ``class_weight`` and more than two classes are
refused by name, pipelines as unsupported estimators. The exact fit starts from libsvm
on the Gram matrix (:func:`libsvm_fit`, its work bounded) or from a previous optimum and
ends with an exact active-set method on the dual (:func:`flexpoison.engine.dual.fit`);
with the linear kernel (:data:`LINEAR`) the attack's fits follow the optimum from the
previous one as the candidate row moves (:mod:`flexpoison.engine.homotopy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from .terms import Terms, _number, _require

NAME = "svc"
CLASS_NAME = "SVC"
ESTIMATOR = "sklearn.svm:SVC"
KERNELS = ("linear", "rbf", "poly")
#: the kernel whose exact fit is followed as the candidate moves (engine.homotopy)
LINEAR = KERNELS[0]
#: goals by kind: which ones a kernel victim accepts (the others need θ)
GOALS = ("integrity", "loss-availability")
OBJECTIVE_PARAMS = ("C", "kernel", "gamma", "degree", "coef0")
DEFAULTS: Mapping[str, Any] = {"kernel": "rbf", "C": 1.0}
#: a refit by scikit-learn (the command line's metrics, the test oracles): libsvm at its
#: tightest, bounded — with a large C (1e8) or large kernel values libsvm never reaches
#: 1e-12 and would run without end; 10⁶ iterations take a few seconds
TIGHT: Mapping[str, Any] = {"tol": 1e-12, "max_iter": 1_000_000}


def goal_problem(kind: str, target: object, name: str) -> str | None:
    """Why a kernel victim (class ``name``) cannot run the goal ``kind`` with ``target``
    (None: a default preset), naming both; None when it can."""
    if kind not in GOALS:
        return f"goal {kind} measures the parameter vector θ, and {name} has none; use " + (
            " or ".join(GOALS)
        )
    if kind == "integrity" and not (
        isinstance(target, str) and target.strip().startswith("predict:")
    ):
        return (
            f"goal integrity against {name} needs a target 'predict:v@x1,x2,…' (the "
            "decision value v wanted at x*): it has no θ for a preset or a θ_t"
        )
    return None


def make(**params: Any):
    """An unfitted SVC: :data:`DEFAULTS` updated with ``params``."""
    from sklearn.svm import SVC

    return SVC(**{**DEFAULTS, **params})


def libsvm_fit(K: np.ndarray, t: np.ndarray, C: float, tol: float, max_iter: int) -> tuple:
    """libsvm's C-SVC (scikit-learn's SVC) on a precomputed Gram matrix K with targets
    ±1, at most ``max_iter`` iterations: (support rows, α·ỹ on them, intercept,
    iterations) — the solver of :func:`flexpoison.engine.dual.fit`, which checks the
    result (scikit-learn's warning that it stopped early is left to that check)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import SVC

    svc = SVC(kernel="precomputed", C=C, tol=tol, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svc.fit(K, t)
    n_iter = int(np.max(svc.n_iter_))
    return svc.support_, svc.dual_coef_[0], float(svc.intercept_[0]), n_iter


def kernel_of(estimator, n_features: int):
    """The estimator's kernel (:class:`flexpoison.engine.dual.Kernel`), C, and whether
    γ is gamma='scale' (then refitted with the rows: the kernel's γ is a placeholder),
    refusing by name what flexpoison does not model."""
    from ..engine.dual import Kernel

    params = estimator.get_params(deep=False)
    kind = params.get("kernel", "rbf")
    _require(
        isinstance(kind, str) and kind in KERNELS,
        CLASS_NAME,
        f"kernel={kind!r} is not supported; use 'linear', 'rbf' or 'poly'",
    )
    C = _number(params, "C", CLASS_NAME)
    _require(C > 0, CLASS_NAME, f"C must be a finite number > 0, got {C}")
    _require(
        params.get("class_weight") is None,
        CLASS_NAME,
        "class_weight is not supported (it reweights the loss per class)",
    )
    gamma = params.get("gamma", "scale")
    if kind == LINEAR:
        return Kernel(LINEAR), C, False
    scaled = isinstance(gamma, str) and gamma == "scale"  # γ = 1/(d·Var X), with the rows
    if scaled:
        g = 1.0
    else:
        g = 1.0 / n_features if gamma == "auto" else _number(params, "gamma", CLASS_NAME)
    _require(g > 0, CLASS_NAME, f"gamma must be > 0, got {g}")
    if kind == "rbf":
        return Kernel("rbf", g), C, scaled
    degree = params.get("degree", 3)
    _require(
        bool(
            isinstance(degree, (int, np.integer)) and not isinstance(degree, bool) and degree >= 1
        ),
        CLASS_NAME,
        f"degree must be an integer ≥ 1, got {degree!r}",
    )
    return Kernel("poly", g, int(degree), _number(params, "coef0", CLASS_NAME)), C, scaled


def label(estimator) -> str:
    params = estimator.get_params(deep=False)
    shown = [f"{k}={params[k]!r}" for k in OBJECTIVE_PARAMS if k in params]
    return f"{CLASS_NAME}({', '.join(shown)})"


def _terms(params, n_classes) -> Terms:
    """The hinge loss of f (the victim's encoding of targets and its E_L)."""
    from ..engine.hinge import HingeLoss

    return Terms(HingeLoss(1), _number(params, "C", CLASS_NAME), False, 1.0, 0.0)


def victim(estimator, y: np.ndarray):
    """A :class:`~flexpoison.models.Victim` for an SVC and its training labels: binary,
    targets ±1 (the second sorted class +1). Its learner is the hinge loss used to
    encode targets and measure E_L; the model itself is :mod:`flexpoison.engine.dual`'s."""
    from ..engine.learner import Learner
    from . import REGISTRY, Victim
    from .victim import sorted_labels

    classes = sorted_labels(y)
    if classes.size != 2:
        raise InvalidInputError(f"y: {CLASS_NAME} is supported for two classes, got {classes.size}")
    spec = REGISTRY[NAME]
    params = estimator.get_params(deep=False)
    terms = _terms(params, 2)
    learner = Learner(label(estimator), terms.loss, True, terms.loss_weight, False, 1.0, 0.0)
    return Victim(spec, learner, classes)


__all__ = [
    "NAME",
    "GOALS",
    "LINEAR",
    "goal_problem",
    "libsvm_fit",
    "make",
    "kernel_of",
    "label",
    "victim",
]
