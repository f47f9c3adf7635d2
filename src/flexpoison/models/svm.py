"""The linear support vector machines' objectives (liblinear, through scikit-learn).

liblinear trains on the rows extended by a constant feature of value s =
``intercept_scaling`` whose weight w₀ is penalised like the others; the intercept is
b = s·w₀, so its penalty is ½w₀² = ½b²/s². flexpoison models that exactly: the
intercept is a coordinate of θ with the L2 weight 1/s² (``Terms.intercept_l2``), on
uncentred features. With C the loss weight:

* ``LinearSVC``: C·Σ max(0, 1 − ỹ(w·x + b))² (``loss='squared_hinge'``, the default)
  or C·Σ max(0, 1 − ỹ(w·x + b)) (``'hinge'``), + ½‖w‖² + ½b²/s²; K ≥ 3 classes are
  one-vs-rest, K such problems with ỹ_k = +1 for class k (``multi_class='ovr'``).
* ``LinearSVR``: C·Σ max(0, |w·x + b − y| − ε) (``loss='epsilon_insensitive'``, the
  default) or its square (``'squared_epsilon_insensitive'``), + ½‖w‖² + ½b²/s².

``dual`` only chooses liblinear's solver, not the objective; ``penalty='l1'``,
``multi_class='crammer_singer'`` and ``class_weight`` change the objective and are
refused by name.
"""

from __future__ import annotations

from .terms import Terms, _number, _require

# scikit-learn's defaults of the parameters read here (a caller may give only some)
_DEFAULTS = {"C": 1.0, "fit_intercept": True, "intercept_scaling": 1.0, "epsilon": 0.0}


def _intercept_l2(params, name: str) -> float:
    """1/s² for s = ``intercept_scaling`` when the model fits an intercept, else 0."""
    if not params["fit_intercept"]:
        return 0.0
    s = _number(params, "intercept_scaling", name)
    _require(s > 0, name, f"intercept_scaling must be > 0, got {s}")
    return 1.0 / (s * s)


def _C(params, name: str) -> float:
    C = _number(params, "C", name)
    _require(C > 0, name, f"C must be a finite number > 0, got {C}")
    return C


def _linear_svc(params, n_classes) -> Terms:
    from ..engine.hinge import HingeLoss, SquaredHingeLoss

    name = "LinearSVC"
    params = {**_DEFAULTS, **params}
    penalty, loss = params.get("penalty", "l2"), params.get("loss", "squared_hinge")
    _require(penalty == "l2", name, f"penalty={penalty!r} is not supported; only 'l2' is")
    _require(
        loss in ("squared_hinge", "hinge"),
        name,
        f"loss={loss!r} is not supported; use 'squared_hinge' or 'hinge'",
    )
    _require(
        params.get("multi_class", "ovr") == "ovr",
        name,
        f"multi_class={params.get('multi_class')!r} is not supported; only 'ovr' (one-vs-rest) is",
    )
    _require(
        params.get("class_weight") is None,
        name,
        "class_weight is not supported (it reweights the loss per class)",
    )
    C = _C(params, name)
    k = 1 if n_classes is None or n_classes == 2 else n_classes
    per_row = SquaredHingeLoss(k) if loss == "squared_hinge" else HingeLoss(k)
    return Terms(per_row, C, False, 1.0, 0.0, _intercept_l2(params, name))


def _linear_svr(params, n_classes) -> Terms:
    from ..engine.hinge import EpsilonLoss, SquaredEpsilonLoss

    name = "LinearSVR"
    params = {**_DEFAULTS, **params}
    loss = params.get("loss", "epsilon_insensitive")
    _require(
        loss in ("epsilon_insensitive", "squared_epsilon_insensitive"),
        name,
        f"loss={loss!r} is not supported; use 'epsilon_insensitive' or "
        "'squared_epsilon_insensitive'",
    )
    epsilon = _number(params, "epsilon", name)
    _require(epsilon >= 0, name, f"epsilon must be ≥ 0, got {epsilon}")
    C = _C(params, name)
    per_row = EpsilonLoss(epsilon) if loss == "epsilon_insensitive" else SquaredEpsilonLoss(epsilon)
    return Terms(per_row, C, False, 1.0, 0.0, _intercept_l2(params, name))


__all__ = ["_linear_svc", "_linear_svr"]
