"""The training objectives of the registry's victims: scikit-learn's hyper-parameters
read into the engine's terms L(θ) = s(N)·Σ ℓ + (λ₂/2)‖W‖² + λ₁‖W‖₁ (the table on
the documentation's maths page), refusing by name the settings that change the objective."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UnsupportedEstimatorError

if TYPE_CHECKING:
    from ..engine import Loss


@dataclass(frozen=True)
class Terms:
    """The numbers of L(θ) = s(N)·Σ ℓ + (λ₂/2)‖W‖² + λ₁‖W‖₁ for one estimator
    (``intercept_l2``: the intercept's L2 weight, liblinear's 1/intercept_scaling²;
    0, unpenalised, for every other estimator; ``pinned_rows``: outputs whose weights
    are held at 0, :attr:`flexpoison.engine.Learner.pinned_rows`)."""

    loss: Loss
    loss_weight: float
    per_sample: bool
    l2: float
    l1: float
    intercept_l2: float = 0.0
    pinned_rows: tuple[int, ...] = ()


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
    from ..engine.losses import SquaredLoss

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
    from ..engine.losses import LogisticLoss, SoftmaxLoss

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


def _ridge_classifier(params, n_classes) -> Terms:
    """Ridge on ±1 targets: one column (the second class +1) for two classes, K
    one-vs-all columns for K ≥ 3, each Σ (w_k·x + b_k − y_k)² + a‖w_k‖²."""
    from ..engine.losses import OneVsAllSquaredLoss

    name = "RidgeClassifier"
    _require(
        not params.get("positive", False),
        name,
        "positive=True (sign-constrained coefficients) is not supported",
    )
    _require(
        params.get("class_weight") is None,
        name,
        "class_weight is not supported (it reweights the loss per class)",
    )
    a = _number(params, "alpha", name)
    _require(a >= 0, name, f"alpha must be ≥ 0, got {a}")
    k = 2 if n_classes is None else n_classes
    loss = _squared() if k == 2 else OneVsAllSquaredLoss(k)
    return Terms(loss, 1.0, False, 2.0 * a, 0.0)


def _glm(name: str, power: float | None):
    """A scikit-learn GLM: (1/N)·Σ half-deviance + (a/2)‖w‖². ``power`` fixed
    (Poisson 1, Gamma 2) or read with ``link`` (Tweedie)."""

    def terms(params, n_classes) -> Terms:
        from ..engine.losses import TweedieLoss

        a = _number(params, "alpha", name)
        _require(a >= 0, name, f"alpha must be ≥ 0, got {a}")
        p = power if power is not None else _number(params, "power", name)
        link = "log" if power is not None else params.get("link", "auto")
        if link == "auto":
            link = "identity" if p <= 0 else "log"
        if link == "identity":
            _require(
                p == 0,
                name,
                f"link='identity' with power={p:g} is not supported (its predictions must "
                "stay positive, a constraint on θ flexpoison does not model); use "
                "link='log', or power=0 (least squares)",
            )
            return Terms(_squared(), 0.5, True, a, 0.0)
        _require(link == "log", name, f"link={link!r} is not supported; use 'log' or 'auto'")
        _require(
            1 <= p <= 2,
            name,
            f"power={p:g} with the log link is not supported: flexpoison needs a deviance "
            "convex in the linear predictor, which holds for 1 ≤ power ≤ 2 (Poisson to "
            "Gamma); power=0 with link='identity' is least squares",
        )
        return Terms(TweedieLoss(p), 1.0, True, a, 0.0)

    return terms


__all__ = ["Terms"]
