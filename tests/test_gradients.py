"""Contract suite over every learner × goal: forward fit = scikit-learn, exact gradients.

For each victim the poisoning objective's gradient is compared with central finite
differences of (a) flexpoison's own W and (b) W recomputed from an independent
scikit-learn refit on X ∪ {x_p} — so an error in the learner's declared objective, in
its derivatives, or in the implicit-function step cannot cancel out.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, Ridge

from conftest import (CLASSIFIERS, REGRESSORS, make_classification, make_regression,
                      sklearn_theta)
from sklearn.metrics import log_loss, mean_squared_error

from conftest import tight
from flexpoison import Availability, FlexiblePoisoning, Integrity, LossAvailability
from flexpoison import engine as lrn

GOALS = {"integrity": Integrity(), "availability": Availability(),
         "loss-availability": LossAvailability()}
ALPHA = 0.3


def _cases():
    for name, est in REGRESSORS.items():
        X, y = make_regression(sparse=name.startswith(("lasso", "elastic")))
        yield name, est, X, y
    for name, (est, k) in CLASSIFIERS.items():
        X, y = make_classification(k=k)
        yield name, est, X, y


CASES = {name: (est, X, y) for name, est, X, y in _cases()}


def _candidate(X, y, seed=1):
    """A poison point inside the box: a training row nudged, with a changed label."""
    rng = np.random.default_rng(seed)
    x = X.mean(0) + 0.8 * X.std(0) * rng.uniform(-1, 1, X.shape[1])
    if np.issubdtype(np.asarray(y).dtype, np.integer):
        return x, y[0] if y[0] != y[1] else y[2]
    return x, float(np.quantile(y, 0.9))


def _w_from_sklearn(est, X, y, obj, x, y_p):
    if obj.goal.kind == "loss-availability":  # mean loss of the refit on the clean rows
        model = tight(est).fit(np.vstack([X, x]), np.append(y, y_p))
        if obj.victim.task == "regression":
            E = mean_squared_error(y, model.predict(X))
        else:
            E = log_loss(y, model.predict_proba(X), labels=model.classes_)
        C = float(np.sum((x - obj.x_c) ** 2))
        return obj.alpha * C - (1 - obj.alpha) * E
    theta = sklearn_theta(est, np.vstack([X, x]), np.append(y, y_p))
    E = float(np.sum((theta - obj.theta_reference) ** 2))
    C = float(np.sum((x - obj.x_c) ** 2))
    sign = 1.0 if obj.goal.kind == "integrity" else -1.0
    return obj.alpha * C + sign * (1 - obj.alpha) * E


def _central_difference(f, x, h):
    grad = np.empty_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h[j]
        grad[j] = (f(x + e) - f(x - e)) / (2 * h[j])
    return grad


def _rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("goal", GOALS)
@pytest.mark.parametrize("case", CASES)
def test_forward_fit_matches_sklearn(case, goal):
    est, X, y = CASES[case]
    obj = FlexiblePoisoning(est, goal=GOALS[goal], alpha=ALPHA, n_points=1).objective(X, y)
    x, y_p = _candidate(X, y)
    ours = obj.theta(x, y_p)
    theirs = sklearn_theta(est, np.vstack([X, x]), np.append(y, y_p))
    assert _rel(ours, theirs) <= 1e-6


@pytest.mark.parametrize("goal", GOALS)
@pytest.mark.parametrize("case", CASES)
def test_gradient_matches_finite_differences(case, goal):
    est, X, y = CASES[case]
    obj = FlexiblePoisoning(est, goal=GOALS[goal], alpha=ALPHA, n_points=1).objective(X, y)
    x, y_p = _candidate(X, y)
    h = 1e-5 * X.std(0)
    grad = obj.gradient(x, y_p)
    fd_own = _central_difference(lambda v: obj.value(v, y_p), x, h)
    fd_sklearn = _central_difference(lambda v: _w_from_sklearn(est, X, y, obj, v, y_p), x, h)
    assert _rel(grad, fd_own) <= 1e-5
    assert _rel(grad, fd_sklearn) <= 1e-5


@pytest.mark.parametrize("case", [c for c in CASES if c in REGRESSORS])
def test_response_gradient_matches_finite_differences(case):
    est, X, y = CASES[case]
    obj = FlexiblePoisoning(est, alpha=ALPHA, n_points=1).objective(X, y)
    x, y_p = _candidate(X, y)
    h = 1e-5 * y.std()
    fd = (obj.value(x, y_p + h) - obj.value(x, y_p - h)) / (2 * h)
    fd_sk = (_w_from_sklearn(est, X, y, obj, x, y_p + h)
             - _w_from_sklearn(est, X, y, obj, x, y_p - h)) / (2 * h)
    assert obj.gradient_y(x, y_p) == pytest.approx(fd, rel=1e-5)
    assert obj.gradient_y(x, y_p) == pytest.approx(fd_sk, rel=1e-5)


def test_l1_cases_exercise_an_inactive_coefficient():
    """The Lasso/ElasticNet cases above must have a zero weight, or the active-set
    branch of the gradient is never tested; the support must not change under ±h."""
    for case in ("lasso", "elasticnet", "elasticnet-noint"):
        est, X, y = CASES[case]
        obj = FlexiblePoisoning(est, n_points=1).objective(X, y)
        x, y_p = _candidate(X, y)
        d = X.shape[1]
        theta = obj.theta(x, y_p)
        w = theta.reshape(1, -1)[:, :d].ravel()
        assert np.sum(w == 0) >= 1, case
        for j in range(d):
            for s in (-1, 1):
                v = x.copy()
                v[j] += s * 1e-5 * X.std(0)[j]
                w2 = sklearn_theta(est, np.vstack([X, v]), np.append(y, y_p))[:d]
                assert np.array_equal(w2 == 0, w == 0)


@pytest.mark.parametrize("case", CASES)
def test_optimality_residual_vanishes(case):
    """At flexpoison's fit, the stationarity (KKT) condition of the declared objective
    holds: g(θ) = 0 on the active set, |g_j| ≤ λ₁ where w_j = 0."""
    est, X, y = CASES[case]
    obj = FlexiblePoisoning(est, n_points=1).objective(X, y)
    x, y_p = _candidate(X, y)
    x_enc, t = obj._point(x, y_p)
    ev = obj.evaluate(x_enc, t, with_gradient=False)
    learner = obj.victim.learner
    phi = learner.features(x_enc, obj.shift)[0]
    data = lrn.PlusRow(obj.data, phi, t)
    g, _ = learner.smooth_gradient_hessian(data, ev.fit.Theta)
    Theta = ev.fit.Theta.ravel()
    lam = learner.l1 * learner.penalty_mask(X.shape[1])
    residual = g + lam * np.sign(Theta)
    scale = 1.0 + np.abs(g).max()
    active = Theta != 0
    assert np.abs(residual[active]).max() <= 1e-9 * scale
    assert np.all(np.abs(g[~active]) <= lam[~active] + 1e-9 * scale)


@settings(max_examples=25, deadline=None)
@given(u=st.lists(st.floats(-1, 1), min_size=3, max_size=3),
       alpha=st.floats(0, 1), availability=st.booleans(), logistic=st.booleans())
def test_gradient_property(u, alpha, availability, logistic):
    """Anywhere in the box, for any α, the gradient agrees with finite differences."""
    if logistic:
        X, y = make_classification(n=50, d=3, seed=3)
        est, y_p = LogisticRegression(C=2.0), 1
    else:
        X, y = make_regression(n=50, d=3, seed=3)
        est, y_p = Ridge(alpha=0.3), float(y.max())
    goal = Availability() if availability else Integrity()
    obj = FlexiblePoisoning(est, goal=goal, alpha=alpha, n_points=1).objective(X, y)
    x = X.mean(0) + 3 * X.std(0) * np.asarray(u)
    h = 1e-5 * X.std(0)
    fd = _central_difference(lambda v: obj.value(v, y_p), x, h)
    grad = obj.gradient(x, y_p)
    assert np.linalg.norm(grad - fd) <= 1e-5 * np.linalg.norm(fd) + 1e-7
