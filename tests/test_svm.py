"""The linear support vector machines (LinearSVC, LinearSVR): their losses, the exact
solver of the piecewise-linear ones, the gradient of a row held on a kink, the pinned
case, liblinear's penalised intercept, pipelines and refusals.

The contract suite (tests/test_contract.py) checks the registry's examples like every
victim's; this file checks what those examples cannot reach: many random problems
against liblinear, a candidate row on a knot (its response gradient too), θ pinned by
the rows on the knots, and the settings refused by name.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

from conftest import make_classification, make_regression, tight
from flexpoison import (
    Availability,
    FlexiblePoisoning,
    Integrity,
    LossAvailability,
    UnsupportedEstimatorError,
    engine,
    models,
)
from flexpoison.engine.hinge import EpsilonLoss, HingeLoss, SquaredEpsilonLoss, SquaredHingeLoss

LOSSES = {
    "squared hinge": (SquaredHingeLoss(), lambda rng, n: rng.choice([-1.0, 1.0], n)),
    "squared hinge, 3 classes": (SquaredHingeLoss(3), lambda rng, n: rng.integers(0, 3, n)),
    "hinge": (HingeLoss(), lambda rng, n: rng.choice([-1.0, 1.0], n)),
    "hinge, 3 classes": (HingeLoss(3), lambda rng, n: rng.integers(0, 3, n).astype(float)),
    "squared epsilon": (SquaredEpsilonLoss(0.3), lambda rng, n: rng.normal(size=n)),
    "epsilon": (EpsilonLoss(0.3), lambda rng, n: rng.normal(size=n)),
    "absolute": (EpsilonLoss(0.0), lambda rng, n: rng.normal(size=n)),
}


@pytest.mark.parametrize("name", LOSSES)
def test_losses_derivatives_and_pieces(name):
    """ℓ' is the gradient of ℓ and ℓ'' the Jacobian of ℓ' (central differences, away
    from the kinks); a piecewise-linear loss is linear between its knots with the
    slopes it declares, and equals ℓ there."""
    loss, targets = LOSSES[name]
    K = loss.n_outputs
    rng = np.random.default_rng(3)
    z, t = 2.0 * rng.standard_normal((60, K)), targets(rng, 60)
    h = 1e-7
    d1, d2 = loss.d1(z, t), loss.d2(z, t)
    for k in range(K):
        step = np.zeros(K)
        step[k] = h
        fd1 = (loss.value(z + step, t) - loss.value(z - step, t)) / (2 * h)
        np.testing.assert_allclose(d1[:, k], fd1, rtol=1e-6, atol=1e-7)
        fd2 = (loss.d1(z + step, t) - loss.d1(z - step, t)) / (2 * h)
        np.testing.assert_allclose(d2[:, :, k], fd2, rtol=1e-6, atol=1e-7)
    if not isinstance(loss, engine.PiecewiseLinearLoss):
        return
    knots, slopes = loss.pieces(t)
    assert np.all(np.diff(slopes, axis=2) > 0)  # convex
    for k in range(K):
        piece = np.sum(knots[:, k] < z[:, k, None], axis=1)
        np.testing.assert_array_equal(d1[:, k], slopes[np.arange(60), k, piece])
        at = z.copy()
        at[:, k] = knots[:, k, 0]  # ℓ on the first knot, from the slopes and values
        left = at.copy()
        left[:, k] -= 1.0
        value_left = loss.value(left, t) - loss.value(at, t)
        np.testing.assert_allclose(value_left, -slopes[:, k, 0], atol=1e-12)


def _problem(rng, kind: str):
    """Random data for one victim kind, with duplicated rows (clones are common in
    poisoning, and make the rows on the knots degenerate)."""
    n, d = int(rng.integers(30, 120)), int(rng.integers(2, 6))
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, d) + rng.uniform(-1, 1, d)
    if kind == "svr":
        y = X @ rng.normal(size=d) + 0.5 * rng.normal(size=n)
    else:
        k = int(rng.choice([2, 3]))
        y = np.argmax(X @ rng.normal(size=(d, k)) + rng.normal(size=(n, k)), axis=1)
        y[: 2 * k] = np.repeat(np.arange(k), 2)
    twins = rng.integers(0, n, 5)
    return np.vstack([X, X[twins]]), np.append(y, y[twins])


def _estimator(rng, kind: str):
    common = {
        "C": float(10 ** rng.uniform(-1.5, 1)),
        "fit_intercept": bool(rng.random() < 0.8),
        "intercept_scaling": float(rng.choice([0.5, 1.0, 3.0])),
    }
    if kind == "svr":
        loss = str(rng.choice(["epsilon_insensitive", "squared_epsilon_insensitive"]))
        return LinearSVR(loss=loss, epsilon=float(rng.choice([0.0, 0.1, 0.5])), **common)
    return LinearSVC(loss=str(rng.choice(["hinge", "squared_hinge"])), **common)


def _objective_value(estimator, X, y, theta) -> float:
    victim = models.victim(estimator, y)
    learner = victim.learner
    Theta = np.reshape(theta, (victim.n_outputs, -1))
    data = engine.RowData(learner.features(X, np.zeros(X.shape[1])), victim.encode(y))
    return learner.smooth_value_gradient_hessian(data, Theta, want_hess=False)[0]


@pytest.mark.parametrize("kind", ["svc", "svr"])
@pytest.mark.parametrize("seed", range(12))
def test_exact_solver_agrees_with_liblinear(kind, seed):
    """flexpoison's θ₀ is liblinear's optimum (with its penalised intercept, any
    intercept_scaling, duplicated rows): equal to a converged tight fit, and never worse
    in the objective than one that did not converge."""
    rng = np.random.default_rng(seed + (100 if kind == "svr" else 0))
    X, y = _problem(rng, kind)
    estimator = _estimator(rng, kind)
    ours = (
        FlexiblePoisoning(estimator, goal=Availability(), random_state=0)
        .objective(X, y)
        .theta_reference
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        theirs = models.theta_of(tight(estimator).fit(X, y))
    if not caught:
        assert np.linalg.norm(ours - theirs) <= 1e-6 * np.linalg.norm(theirs)
    assert _objective_value(estimator, X, y, ours) <= _objective_value(estimator, X, y, theirs) * (
        1 + 1e-12
    )


def _lattice_svc(seed: int):
    """Integer-valued rows (levels × a scale from 1e-2 to 1e3), many of them duplicated,
    against LinearSVC(loss='hinge'): at the optimum more rows sit on the margin than θ
    has coordinates, and duplicates reach the margin together."""
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(20, 120)), int(rng.integers(1, 5))
    levels = int(rng.integers(2, 5))
    X = rng.integers(0, levels, size=(n, d)).astype(float) * 10.0 ** rng.uniform(-2, 3)
    rng.choice(["svc", "svr"])  # the draws of the fuzz run that found these cases
    C = float(10 ** rng.uniform(-2, 3))
    y = (X.sum(1) + rng.normal(size=n) * X.std() > X.sum(1).mean()).astype(int)
    y[:2] = [0, 1]
    goal = [Availability(), LossAvailability(), Integrity()][int(rng.integers(3))]
    return LinearSVC(C=C, loss="hinge"), goal, X, y


@pytest.mark.parametrize("seed", [1, 8, 43, 44, 51])
def test_duplicated_rows_reaching_a_knot_do_not_stop_the_solver(seed):
    """Issue 22: rows on the knots that depend on the others (duplicates, a lattice's
    extra margin rows) raised SingularHessianError. They now leave the knot set, and
    the attack's θ_p is liblinear's optimum: no worse in the objective than a tight
    liblinear refit, and equal to it when liblinear converges."""
    estimator, goal, X, y = _lattice_svc(seed)
    assert np.unique(X, axis=0).shape[0] < X.shape[0]  # duplicated rows
    result = FlexiblePoisoning(
        estimator, goal=goal, alpha=0.0, n_points=3, random_state=seed
    ).generate(X, y)
    rows, targets = np.vstack([X, result.X_poison]), np.append(y, result.y_poison)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        theirs = models.theta_of(tight(estimator).fit(rows, targets))
    ours = result.theta_poisoned
    assert _objective_value(estimator, rows, targets, ours) <= _objective_value(
        estimator, rows, targets, theirs
    ) * (1 + 1e-12)
    if not caught:
        assert np.linalg.norm(ours - theirs) <= 1e-6 * np.linalg.norm(theirs)


def _subgradient_residual(estimator, X, y, theta, tol=1e-7) -> float:
    """How far θ = (w, b) is from liblinear's optimum, independent of any solver: the
    least ‖θ + C·Σ g_i φ_i‖ / ‖θ‖ over the subgradients g_i of the loss at each row
    (φ_i = (x_i, 1), intercept_scaling 1: every coordinate penalised by ½θ²), a bounded
    least-squares problem; 0 exactly at the optimum."""
    from scipy.optimize import lsq_linear

    Z = np.hstack([X, np.ones((X.shape[0], 1))])
    z, C = Z @ theta, estimator.C
    if isinstance(estimator, LinearSVC):
        s = np.where(y == np.unique(y)[1], 1.0, -1.0)
        m = s * z
        on = np.abs(m - 1) <= tol
        lo = np.where(on, np.minimum(-s, 0.0), np.where(m < 1, -s, 0.0))
        hi = np.where(on, np.maximum(-s, 0.0), np.where(m < 1, -s, 0.0))
    else:
        r, e = z - y, estimator.epsilon
        up, down = np.abs(r - e) <= tol, np.abs(r + e) <= tol
        lo = np.where(down, -1.0, np.where(up, 0.0, np.sign(r) * (np.abs(r) > e)))
        hi = np.where(up, 1.0, np.where(down, 0.0, np.sign(r) * (np.abs(r) > e)))
    free = lo < hi
    fixed = theta + C * Z[~free].T @ lo[~free]
    if free.any():
        g = lsq_linear(C * Z[free].T, -fixed, bounds=(lo[free], hi[free]), tol=1e-14).x
        fixed = fixed + C * Z[free].T @ g
    return float(np.linalg.norm(fixed) / np.linalg.norm(theta))


@pytest.mark.parametrize("estimator", [LinearSVC(C=2.9, loss="hinge"), LinearSVR(C=2.9)])
def test_theta_at_feature_scale_1000_is_the_optimum(estimator):
    """Issue 22: at feature scale 1000, θ_p differed from a tight liblinear refit by
    1.75e3 (LinearSVC) and 1.4e3 (LinearSVR) relative to max|θ|. liblinear is the one off
    (its coordinate descent stops at max_iter far away, where its random order leaves
    it): θ_p meets the optimality condition 0 ∈ ∂P(θ) to 1e-9, liblinear's misses it by
    orders of magnitude, and P(θ_p) is lower."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4)) * 1000.0
    score = X @ np.array([1.0, -2.0, 0.5, 0.0]) / 1000.0
    noise = np.random.default_rng(1).normal(size=100)
    y = (
        (score + 0.5 * noise > 0).astype(int)
        if isinstance(estimator, LinearSVC)
        else (score + 0.3 * noise)
    )
    result = FlexiblePoisoning(
        estimator, goal=Availability(), alpha=0.0, n_points=3, random_state=0
    ).generate(X, y)
    rows, targets = np.vstack([X, result.X_poison]), np.append(y, result.y_poison)
    ours = np.asarray(result.theta_poisoned)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = clone(estimator).set_params(tol=1e-12, max_iter=1_000_000, random_state=0)
        theirs = models.theta_of(fitted.fit(rows, targets))
    assert _subgradient_residual(estimator, rows, targets, ours) < 1e-9
    assert _subgradient_residual(estimator, rows, targets, theirs) > 1.0
    assert _objective_value(estimator, rows, targets, ours) < _objective_value(
        estimator, rows, targets, theirs
    )


def _on_a_knot(estimator, X, y, goal, targets):
    """An objective and a candidate row held on a knot of the loss (searched at random
    in the box), with its factor."""
    obj = FlexiblePoisoning(estimator, goal=goal, alpha=0.3, random_state=0).objective(X, y)
    rng = np.random.default_rng(0)
    for _ in range(400):
        x = X.mean(0) + 2.0 * X.std(0) * rng.uniform(-1, 1, X.shape[1])
        y_p = targets(rng)
        fit = obj.evaluate(*obj._point(x, y_p), with_gradient=False).fit
        if any(position >= 0 for position, _ in fit.factor.last):
            return obj, x, y_p
    raise AssertionError("no candidate on a knot found")


@pytest.mark.parametrize("which", ["svr", "svc"])
def test_gradient_of_a_row_held_on_a_knot(which):
    """A candidate row held on a knot moves θ through its knot equation φ_pᵀθ = κ_p:
    ∇_{x_p} W (and ∂W/∂y_p for a response) equals central differences of W."""
    if which == "svr":
        X, y = make_regression()
        estimator = LinearSVR(C=0.3, epsilon=0.5)
        lo, hi = float(y.min()), float(y.max())
        obj, x, y_p = _on_a_knot(estimator, X, y, Integrity(), lambda r: r.uniform(lo, hi))
    else:
        X, y = make_classification(k=3)
        estimator = LinearSVC(C=0.1, loss="hinge", intercept_scaling=2.0)
        obj, x, y_p = _on_a_knot(estimator, X, y, Availability(), lambda r: r.integers(3))
    h = 1e-6 * X.std(0)
    fd = np.array(
        [
            (obj.value(x + h[j] * e, y_p) - obj.value(x - h[j] * e, y_p)) / (2 * h[j])
            for j, e in enumerate(np.eye(X.shape[1]))
        ]
    )
    grad = obj.gradient(x, y_p)
    assert np.linalg.norm(grad - fd) <= 1e-6 * np.linalg.norm(fd)
    if which == "svr":
        step = 1e-6 * y.std()
        fd_y = (obj.value(x, y_p + step) - obj.value(x, y_p - step)) / (2 * step)
        assert fd_y != 0.0
        assert obj.gradient_y(x, y_p) == pytest.approx(fd_y, rel=1e-6)


def test_pinned_model_has_an_exactly_zero_gradient_and_the_result_says_so():
    """With as many independent rows on the knots as θ has coordinates, θ does not move
    with a row off the knots: its gradient is exactly zero, the descent does not start
    ("zero gradient"), and the result warns instead of reporting a converged attack."""
    X, y = make_regression()
    estimator = LinearSVR(C=1.0, epsilon=0.1)
    obj = FlexiblePoisoning(estimator, goal=Integrity(), alpha=0.0, random_state=0).objective(X, y)
    x, y_p = X.mean(0) + 0.3 * X.std(0), float(np.quantile(y, 0.9))
    fit = obj.evaluate(*obj._point(x, y_p), with_gradient=False).fit
    assert fit.factor.pinned and all(position < 0 for position, _ in fit.factor.last)
    assert not np.any(obj.gradient(x, y_p))
    with pytest.warns(UserWarning, match="exact gradient is zero"):
        result = FlexiblePoisoning(estimator, alpha=0.0, n_points=2, random_state=0).generate(X, y)
    assert any(point.stop == "zero gradient" for point in result.points)
    assert any("exact gradient is zero" in w for w in result.warnings)


def test_a_scaler_that_keeps_the_intercept_is_attacked_through():
    """MaxAbsScaler before LinearSVC: θ_p (in raw units) is scikit-learn's refit of the
    pipeline, and ∇_{x_p} W equals central differences of W."""
    X, y = make_classification(k=2)
    pipe = make_pipeline(MaxAbsScaler(), LinearSVC(C=0.5, loss="hinge"))
    obj = FlexiblePoisoning(pipe, goal=Integrity(), alpha=0.3, random_state=0).objective(X, y)
    x, y_p = X.mean(0) + 0.5 * X.std(0), 0
    fitted = make_pipeline(MaxAbsScaler(), tight(LinearSVC(C=0.5, loss="hinge")))
    fitted.fit(np.vstack([X, x]), np.append(y, y_p))
    b = float(fitted.decision_function(np.zeros((1, 4)))[0])
    theirs = np.append(fitted.decision_function(np.eye(4)) - b, b)
    ours = obj.theta(x, y_p)
    assert np.linalg.norm(ours - theirs) <= 1e-6 * np.linalg.norm(theirs)
    h = 1e-6 * X.std(0)
    fd = np.array(
        [
            (obj.value(x + h[j] * e, y_p) - obj.value(x - h[j] * e, y_p)) / (2 * h[j])
            for j, e in enumerate(np.eye(4))
        ]
    )
    assert np.linalg.norm(obj.gradient(x, y_p) - fd) <= 1e-6 * np.linalg.norm(fd)


@pytest.mark.parametrize(
    "estimator, words",
    [
        (LinearSVC(penalty="l1", dual=False), "LinearSVC: penalty='l1'"),
        (LinearSVC(multi_class="crammer_singer"), "LinearSVC: multi_class='crammer_singer'"),
        (LinearSVC(class_weight="balanced"), "LinearSVC: class_weight"),
        (LinearSVC(C=0.0), "LinearSVC: C must be"),
        (LinearSVC(intercept_scaling=0.0), "LinearSVC: intercept_scaling must be > 0"),
        (LinearSVR(epsilon=-1.0), "LinearSVR: epsilon must be ≥ 0"),
        (LinearSVR(loss="huber"), "LinearSVR: loss='huber'"),
        (make_pipeline(StandardScaler(), LinearSVC()), "Pipeline: StandardScaler"),
    ],
)
def test_settings_that_change_the_objective_are_refused_by_name(estimator, words):
    X, y = make_classification(k=2)
    if "SVR" in words:
        X, y = make_regression()
    with pytest.raises(UnsupportedEstimatorError, match="^" + words.replace("(", r"\(")):
        FlexiblePoisoning(estimator, random_state=0).objective(X, y)
