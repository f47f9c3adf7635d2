"""scikit-learn's HuberRegressor: its objective, and an exact refit of it.

HuberRegressor(epsilon=ε, alpha=a) minimises over (w, b, σ), σ > 0,

    Σ_i (σ + H_ε((y_i − w·x_i − b)/σ)·σ) + a‖w‖²,

H_ε(u) = u² for |u| ≤ ε and 2ε|u| − ε² beyond (``_huber_loss_and_gradient`` in
scikit-learn). flexpoison reads σ as the intercept of a second output whose weights
are pinned at 0 (:class:`flexpoison.engine.HuberLoss`), so that L(θ) = Σ ℓ + a‖w‖²
(c = 1, not averaged, λ₂ = 2a), and its public θ is (w_1, …, w_d, b, σ), σ read from
the fitted estimator's ``scale_``. ``fit_intercept=False`` leaves σ no intercept to be
and is refused by name; ε < 1 is refused as scikit-learn refuses it.

scikit-learn fits it with L-BFGS-B, whose relative stopping rule on L (not settable
through the estimator) leaves θ ~1e-6 from the optimum whatever ``tol``;
:func:`exact_fit` finishes that fit on the same function, which the registry declares
as the entry's exact refit.
"""

from __future__ import annotations

import numpy as np

from .terms import Terms, _number, _require

NAME = "HuberRegressor"


def _huber(params, n_classes) -> Terms:
    from ..engine.huber import HuberLoss

    params = {"epsilon": 1.35, "alpha": 1e-4, "fit_intercept": True, **params}
    epsilon = _number(params, "epsilon", NAME)
    _require(epsilon >= 1, NAME, f"epsilon must be ≥ 1, got {epsilon}")
    _require(
        epsilon > 1,
        NAME,
        "epsilon=1 leaves the scale σ undetermined (the objective is then the absolute "
        "loss Σ 2|r| for every σ below the smallest residual); use epsilon > 1",
    )
    a = _number(params, "alpha", NAME)
    _require(a >= 0, NAME, f"alpha must be ≥ 0, got {a}")
    _require(
        bool(params["fit_intercept"]),
        NAME,
        "fit_intercept=False is not supported (flexpoison models the scale σ as an "
        "intercept); fit an intercept",
    )
    return Terms(HuberLoss(epsilon), 1.0, False, 2.0 * a, 0.0, pinned_rows=(1,))


def exact_fit(estimator, X, y):
    """``estimator`` fitted on (X, y) by scikit-learn, then finished on scikit-learn's
    own objective and gradient (``_huber_loss_and_gradient``), in coordinates where
    the features are standardised (θ = T·v, ∇_v = Tᵀ∇_θ: badly scaled features leave
    scikit-learn's L-BFGS-B far from the optimum): L-BFGS-B continued with ``ftol=0``
    and ``gtol=1e-14`` (which stalls ~1e-9 away: L's changes there are below its
    rounding), then the gradient's root found from that point by MINPACK's hybrid
    method (a finite-difference Jacobian, no values of L), kept when it lowers the
    gradient and keeps σ > 0. The coefficients, intercept, scale and outlier mask are
    replaced by the result (~1e-15 from the optimum on well-scaled data)."""
    from scipy.optimize import minimize, root
    from sklearn.base import clone
    from sklearn.linear_model._huber import _huber_loss_and_gradient

    fitted = clone(estimator).set_params(max_iter=10_000, tol=1e-12).fit(X, y)
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    p = fitted.get_params()
    d, intercept = X.shape[1], bool(p["fit_intercept"])
    args = (X, y, p["epsilon"], p["alpha"], np.ones(y.size))
    spread = X.std(axis=0)
    spread[spread == 0] = 1.0
    mean = X.mean(axis=0) if intercept else np.zeros(d)

    def theta(v):  # T·v
        out = v.copy()
        out[:d] = v[:d] / spread
        if intercept:
            out[d] = v[d] - out[:d] @ mean
        return out

    def gradient_v(v):  # L and Tᵀ∇_θ L at θ = T·v
        value, g = _huber_loss_and_gradient(theta(v), *args)
        out = g.copy()
        out[:d] = g[:d] / spread - (g[d] * mean / spread if intercept else 0.0)
        return value, out

    w = fitted.coef_
    start = np.concatenate(
        [w * spread, [fitted.intercept_ + w @ mean] if intercept else [], [fitted.scale_]]
    )
    bounds = [(None, None)] * (start.size - 1) + [(10 * np.finfo(float).eps, None)]
    for _ in range(3):  # a restart refreshes L-BFGS's memory after an abnormal stop
        res = minimize(
            gradient_v,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 0.0, "gtol": 1e-14, "maxiter": 100_000, "maxcor": 30},
        )
        if np.array_equal(res.x, start):
            break
        start = res.x

    def gradient(v):
        return gradient_v(v)[1]

    found = root(gradient, start, method="hybr", options={"xtol": 1e-15})
    if found.x[-1] > 0 and np.abs(gradient(found.x)).max() < np.abs(gradient(start)).max():
        start = found.x
    result = theta(start)
    fitted.coef_ = result[:d].copy()
    fitted.intercept_ = float(result[d]) if intercept else 0.0
    fitted.scale_ = float(result[-1])
    residual = np.abs(y - X @ fitted.coef_ - fitted.intercept_)
    fitted.outliers_ = residual > fitted.scale_ * p["epsilon"]
    return fitted


__all__ = ["_huber", "exact_fit"]
