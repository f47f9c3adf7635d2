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


def logistic_penalty(params: Mapping[str, Any]) -> tuple[Any, Any]:
    """scikit-learn's effective penalty of a ``LogisticRegression`` and its L1 share:
    ``penalty`` when set (deprecated since 1.8: ``"l2"``, ``"l1"``, ``"elasticnet"``
    with ``l1_ratio``, or None), else — ``"deprecated"``, or absent from ``params`` —
    from ``l1_ratio`` (0 or None: ``"l2"``, 1: ``"l1"``, otherwise ``"elasticnet"``).
    The share is 0 for L2, 1 for L1, else ``l1_ratio`` (unchecked: the terms check it)."""
    penalty = params.get("penalty", "deprecated")
    ratio = params.get("l1_ratio")
    if penalty == "deprecated":
        penalty = "l2" if ratio is None or ratio == 0 else "l1" if ratio == 1 else "elasticnet"
    share = {"l2": 0.0, "l1": 1.0}.get(penalty, ratio) if isinstance(penalty, str) else 0.0
    return penalty, share


def sparse_logistic_serves(params: Mapping[str, Any]) -> bool:
    """Whether a ``LogisticRegression`` has an L1 term fitted by saga (the sparse
    logistic entry's; liblinear's L1 penalises the intercept and is refused)."""
    return logistic_penalty(params)[0] in ("l1", "elasticnet") and params.get("solver") == "saga"


def _logistic_common(params: Mapping[str, Any], name: str) -> float:
    """C, with what every logistic entry refuses: C ≤ 0, class weights, the dual."""
    C = _number(params, "C", name)
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
    _require(not params.get("dual", False), name, "dual=True is not supported")
    return C


def _logistic_loss(n_classes: int | None) -> Loss:
    from ..engine.losses import LogisticLoss, SoftmaxLoss

    k = 2 if n_classes is None else n_classes
    return LogisticLoss() if k == 2 else SoftmaxLoss(k)


def _logistic(params, n_classes) -> Terms:
    """C·Σ log(1 + e^{−t z}) + ½‖w‖² (softmax for K ≥ 3); an L1 term is the sparse
    logistic entry's (:func:`_sparse_logistic`), with solver='saga'."""
    name = "LogisticRegression"
    penalty, _ = logistic_penalty(params)
    if penalty in ("l1", "elasticnet"):
        shown = (
            f"l1_ratio={params.get('l1_ratio')}"
            if params.get("penalty", "deprecated") == "deprecated"
            else f"penalty={penalty!r}"
        )
        _require(
            False,
            name,
            f"{shown} adds an L1 penalty, supported with solver='saga' only (got "
            f"solver={params.get('solver')!r}; liblinear's L1 also penalises the intercept)",
        )
    _require(penalty == "l2", name, f"penalty={penalty!r} is not supported; only the L2 penalty is")
    C = _logistic_common(params, name)
    _require(
        params.get("solver") != "liblinear",
        name,
        "solver='liblinear' penalises the intercept, which changes the objective; "
        "use 'lbfgs', 'newton-cg', 'newton-cholesky', 'sag' or 'saga'",
    )
    return Terms(_logistic_loss(n_classes), C, False, 1.0, 0.0)


def _sparse_logistic(params, n_classes) -> Terms:
    """C·Σ log(1 + e^{−t z}) + ((1 − ρ)/2)‖w‖² + ρ‖w‖₁ (softmax for K ≥ 3), ρ the
    effective L1 share (:func:`logistic_penalty`), fitted by saga."""
    name = "LogisticRegression"
    penalty, ratio = logistic_penalty(params)
    _require(
        penalty in ("l1", "elasticnet"),
        name,
        f"penalty={penalty!r} (l1_ratio={params.get('l1_ratio')!r}) has no L1 term; the "
        "L2 logistic entry models it",
    )
    _require(
        ratio is not None,
        name,
        "l1_ratio must be given with penalty='elasticnet' (the L1 share, in [0, 1])",
    )
    rho = _number({"l1_ratio": ratio}, "l1_ratio", name)
    _require(0 <= rho <= 1, name, f"l1_ratio must lie in [0, 1], got {rho}")
    _require(
        params.get("solver") == "saga",
        name,
        f"an L1 penalty is supported with solver='saga' only, got solver="
        f"{params.get('solver')!r} (liblinear's also penalises the intercept)",
    )
    k = 2 if n_classes is None else n_classes
    _require(
        rho < 1 or k == 2 or k % 2 == 1,
        name,
        f"l1_ratio=1 (pure L1) on a multinomial model of {k} classes has no unique "
        "optimum: with an even number of classes a feature's weights can shift together "
        "at no cost; use l1_ratio < 1",
    )
    C = _logistic_common(params, name)
    return Terms(_logistic_loss(n_classes), C, False, 1.0 - rho, rho)


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
