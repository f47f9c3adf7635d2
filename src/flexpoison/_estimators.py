"""Read a scikit-learn estimator's hyper-parameters into a :class:`Learner`.

The training objectives are scikit-learn's own (DESIGN.md), with N = rows trained on:

=====================  ==========================================  ==============
estimator              L(θ)                                        (c, per N, λ₂, λ₁)
=====================  ==========================================  ==============
LinearRegression       Σ (w·x + b − y)²                            (1, no, 0, 0)
Ridge(alpha=a)         Σ (w·x + b − y)² + a‖w‖²                    (1, no, 2a, 0)
Lasso(alpha=a)         (1/2N) Σ (·)² + a‖w‖₁                       (½, yes, 0, a)
ElasticNet(a, ρ)       (1/2N) Σ (·)² + aρ‖w‖₁ + (a(1−ρ)/2)‖w‖²     (½, yes, a(1−ρ), aρ)
LogisticRegression(C)  C Σ log(1 + exp(−ỹ(w·x + b))) + ½‖w‖²       (C, no, 1, 0)
  (multinomial, K>2)   C Σ −log softmax_y(Wx + b) + ½‖W‖²_F        (C, no, 1, 0)
=====================  ==========================================  ==============

Anything that changes the objective and is not in this table (another penalty,
``positive=True``, ``class_weight``, liblinear's penalised intercept, …) is refused
with a message that names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._learners import Learner
from ._losses import LogisticLoss, SoftmaxLoss, SquaredLoss
from .errors import InvalidInputError, UnsupportedEstimatorError

SUPPORTED = ("LinearRegression", "Ridge", "Lasso", "ElasticNet", "LogisticRegression")


@dataclass(frozen=True)
class Victim:
    """A learner plus how the estimator's targets map to the loss's encoded t."""

    learner: Learner
    task: Literal["regression", "classification"]
    classes: np.ndarray | None  # classification: the sorted labels (scikit-learn's classes_)

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Targets t: regression y as float; binary ±1 (classes[1] → +1); K>2 indices."""
        if self.task == "regression":
            return np.asarray(y, dtype=float)
        index = np.searchsorted(self.classes, y)
        if self.learner.n_outputs == 1:
            return np.where(index == 1, 1.0, -1.0)
        return index.astype(np.int64)

    def decode(self, t: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`, in the user's label values and dtype."""
        if self.task == "regression":
            return np.asarray(t, dtype=float)
        if self.learner.n_outputs == 1:
            return self.classes[(np.asarray(t) > 0).astype(int)]
        return self.classes[np.asarray(t, dtype=int)]

    def flipped(self, t: float, rng: np.random.Generator) -> float:
        """The paper's initial label: binary flips the sign, K>2 draws another class."""
        if self.learner.n_outputs == 1:
            return -t
        others = [k for k in range(self.learner.n_outputs) if k != int(t)]
        return int(rng.choice(others))


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise UnsupportedEstimatorError(f"{name}: {message}")


def _positive_number(value, name: str, what: str) -> float:
    """A finite real hyper-parameter (strings, booleans, arrays and ±inf refused)."""
    if isinstance(value, (str, bool, np.bool_)) or np.ndim(value) != 0:
        raise UnsupportedEstimatorError(f"{name}: {what} must be a single number, "
                                        f"got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise UnsupportedEstimatorError(f"{name}: {what} must be a single number, "
                                        f"got {value!r}") from None
    if not np.isfinite(value):
        raise UnsupportedEstimatorError(f"{name}: {what} must be finite, got {value}")
    return value


def victim_from_estimator(estimator, y: np.ndarray) -> Victim:
    """Build the :class:`Victim` for an unfitted scikit-learn estimator and labels y."""
    from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression,
                                      LogisticRegression, Ridge)

    kind = type(estimator).__name__
    if type(estimator) not in (LinearRegression, Ridge, Lasso, ElasticNet,
                               LogisticRegression):
        raise UnsupportedEstimatorError(
            f"unsupported estimator {kind}; flexpoison supports "
            + ", ".join(SUPPORTED) + " (pass an unfitted scikit-learn instance)")
    params = estimator.get_params(deep=False)
    fit_intercept = bool(params["fit_intercept"])
    if kind != "LogisticRegression":
        _require(not params.get("positive", False), kind,
                 "positive=True (sign-constrained coefficients) is not supported")

    if kind == "LinearRegression":
        return Victim(Learner("LinearRegression()", SquaredLoss(), fit_intercept,
                              1.0, False, 0.0, 0.0), "regression", None)
    if kind == "Ridge":
        a = _positive_number(params["alpha"], kind, "alpha")
        _require(a >= 0, kind, f"alpha must be ≥ 0, got {a}")
        return Victim(Learner(f"Ridge(alpha={a:g})", SquaredLoss(), fit_intercept,
                              1.0, False, 2.0 * a, 0.0), "regression", None)
    if kind in ("Lasso", "ElasticNet"):
        a = _positive_number(params["alpha"], kind, "alpha")
        _require(a > 0, kind, f"alpha must be > 0, got {a} (use LinearRegression for "
                 "an unpenalised fit)")
        rho = 1.0 if kind == "Lasso" else _positive_number(params["l1_ratio"], kind,
                                                           "l1_ratio")
        _require(0 <= rho <= 1, kind, f"l1_ratio must lie in [0, 1], got {rho}")
        label = f"Lasso(alpha={a:g})" if kind == "Lasso" else \
            f"ElasticNet(alpha={a:g}, l1_ratio={rho:g})"
        return Victim(Learner(label, SquaredLoss(), fit_intercept, 0.5, True,
                              a * (1 - rho), a * rho), "regression", None)

    # LogisticRegression
    penalty = params.get("penalty", "l2")
    l1_ratio = params.get("l1_ratio")
    C = _positive_number(params["C"], kind, "C")
    if penalty == "deprecated":  # scikit-learn ≥ 1.8 spells the penalty with l1_ratio/C
        _require(l1_ratio in (None, 0, 0.0), kind,
                 f"l1_ratio={l1_ratio} adds an L1 penalty; only the L2 penalty "
                 "(l1_ratio=0) is supported")
        penalty = "l2"
    _require(penalty == "l2", kind, f"penalty={penalty!r} is not supported; only the L2 "
             "penalty is")
    _require(np.isfinite(C) and C > 0, kind, f"C must be a finite number > 0, got {C} "
             "(an unpenalised logistic model may not exist)")
    _require(params.get("class_weight") is None, kind,
             "class_weight is not supported (it reweights the loss per class)")
    _require(params.get("solver") != "liblinear", kind,
             "solver='liblinear' penalises the intercept, which changes the objective; "
             "use 'lbfgs', 'newton-cg', 'newton-cholesky', 'sag' or 'saga'")
    _require(not params.get("dual", False), kind, "dual=True is not supported")

    try:
        classes = np.unique(y)
    except TypeError:
        raise InvalidInputError("y: class labels of mixed types (e.g. strings and "
                                "numbers) cannot be ordered") from None
    if classes.size < 2:
        raise InvalidInputError(f"y: LogisticRegression needs at least two classes, "
                                f"got {classes.size}")
    loss = LogisticLoss() if classes.size == 2 else SoftmaxLoss(int(classes.size))
    label = f"LogisticRegression(C={C:g})" + ("" if classes.size == 2 else
                                              f", multinomial K={classes.size}")
    return Victim(Learner(label, loss, fit_intercept, C, False, 1.0, 0.0),
                  "classification", classes)


def solved_tightly(estimator):
    """An unfitted clone of ``estimator`` whose solver runs to (near) machine precision,
    so that its refit reproduces the engine's exact optimum (LinearRegression's
    least-squares solve is exact already)."""
    from sklearn.base import clone
    from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge
    est = clone(estimator)
    if isinstance(est, (Lasso, ElasticNet)):
        est.set_params(tol=1e-12, max_iter=1_000_000)
    elif isinstance(est, LogisticRegression):
        est.set_params(tol=1e-12, max_iter=100_000, solver="newton-cholesky")
    elif isinstance(est, Ridge):
        est.set_params(solver="cholesky")
    return est
