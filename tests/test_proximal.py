"""A smooth loss with an L1 term: the proximal Newton solver behind the Solver protocol.

``LogisticRegression`` with saga and an L1 share (``l1_ratio`` > 0, or the deprecated
``penalty='l1'``/``'elasticnet'``) minimises C·Σℓ + ((1 − ρ)/2)‖W‖² + ρ‖W‖₁; its fit
(:class:`flexpoison.engine.fit.ProximalNewtonSolver`) must equal a tight saga refit and
meet the L1 optimality conditions, and the attack's gradient in the poison row must equal
central differences of W, computed from flexpoison's fits and from saga refits.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

from conftest import make_classification
from flexpoison import Availability, FlexiblePoisoning, Integrity, engine, models
from flexpoison.errors import UnsupportedEstimatorError

SAGA = {"solver": "saga", "tol": 1e-15, "max_iter": 1_000_000, "random_state": 0}


def _saga(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecated ``penalty`` spelling
        return LogisticRegression(**{**params, **SAGA}).fit(X, y)


def _rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - b)) / max(float(np.max(np.abs(b))), 1e-300))


def _learner(C, rho, k, fit_intercept=True):
    loss = engine.LogisticLoss() if k == 2 else engine.SoftmaxLoss(k)
    return engine.Learner("sparse logistic", loss, fit_intercept, C, False, 1.0 - rho, rho)


def _fit(X, y, C, rho, fit_intercept=True, Theta0=None):
    k = int(np.unique(y).size)
    learner = _learner(C, rho, k, fit_intercept)
    t = np.where(y == 1, 1.0, -1.0) if k == 2 else y.astype(np.int64)
    data = engine.RowData(learner.features(X, np.zeros(X.shape[1])), t)
    p = X.shape[1] + fit_intercept
    start = np.zeros((learner.n_outputs, p)) if Theta0 is None else Theta0
    return learner, data, engine.fit(learner, data, start)


def test_the_solver_protocol_hands_a_smooth_loss_with_l1_to_proximal_newton():
    """One solver per (loss × penalty) pair, found by ``applies`` in SOLVERS' order;
    a piecewise-linear loss with an L1 term has none, and the learner refuses it."""
    from flexpoison.engine.fit import SOLVERS, ProximalNewtonSolver, solver_for

    assert solver_for(_learner(1.0, 0.5, 2)) is ProximalNewtonSolver
    assert solver_for(_learner(1.0, 0.0, 2)) is not ProximalNewtonSolver
    for spec in models.REGISTRY.values():
        for example in spec.examples:
            if not spec.has_theta:
                continue
            X, y = make_classification(k=example.n_classes or 2)
            if spec.task == "regression":
                y = np.exp(X[:, 0] / 3)  # positive: every loss's domain
            learner = models.victim(spec.make(**example.params), y).learner
            applying = [solver for solver in SOLVERS if solver.applies(learner)]
            assert len(applying) == 1, (spec.name, applying)
    with pytest.raises(TypeError, match="L1 penalty"):
        engine.Learner("svm", engine.HingeLoss(), True, 1.0, False, 1.0, 0.5)


def test_pure_l1_on_an_even_number_of_classes_is_refused_and_it_is_not_unique():
    """With 4 classes and l1_ratio=1 a feature's four weights can shift together at no
    cost between their middle two: saga and the engine may stop at different optima
    (measured: 4e-2 to 2e-1 apart at C = 1), so the setting is refused by name."""
    X, y = make_classification(n=80, d=4, k=4, seed=1, sparse=True)
    _, _, fit = _fit(X, y, 1.0, 1.0)
    assert _rel(fit.Theta.ravel(), models.theta_of(_saga(X, y, C=1.0, l1_ratio=1.0))) > 1e-3
    with pytest.raises(UnsupportedEstimatorError, match="l1_ratio=1"):
        FlexiblePoisoning(
            LogisticRegression(C=1.0, l1_ratio=1.0, solver="saga"), random_state=0
        ).objective(X, y)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    k=st.sampled_from([2, 3]),
    C=st.floats(0.05, 5.0),
    rho=st.floats(0.05, 1.0),
    fit_intercept=st.booleans(),
)
def test_the_fit_is_sagas_and_meets_the_l1_conditions(seed, k, C, rho, fit_intercept):
    """θ equals a tight saga refit (≤ 1e-6 relative, as the contract asks) and, at it,
    ∇L_j = −λ sign(w_j) on the support and |∇L_j| ≤ λ off it (pure L1 on a multinomial
    model is unique for an odd number of classes, and refused for an even one)."""
    X, y = make_classification(n=60, d=4, k=k, seed=seed, sparse=True)
    learner, data, fit = _fit(X, y, C, rho, fit_intercept)
    sk = _saga(X, y, C=C, l1_ratio=rho, fit_intercept=fit_intercept)
    theta = models.theta_of(sk)
    assert _rel(fit.Theta.ravel(), theta) <= 1e-6
    g, _ = learner.smooth_gradient_hessian(data, fit.Theta)
    lam = learner.l1_weights(X.shape[1])
    w = fit.Theta.ravel()
    on = (w != 0) | (lam == 0)
    scale = 1.0 + np.abs(g).max()
    assert np.abs(g[on] + lam[on] * np.sign(w[on])).max() <= 1e-9 * scale
    assert np.all(np.abs(g[~on]) <= lam[~on] + 1e-9 * scale)
    assert np.array_equal(fit.active, on)


def test_a_far_warm_start_reaches_the_same_optimum():
    """Armijo backtracking on F = L + λ‖θ‖₁ carries the steps from a start far from the
    optimum (every weight 20, signs wrong) to the cold start's optimum."""
    X, y = make_classification(n=80, d=4, k=2, seed=3, sparse=True)
    _, _, cold = _fit(X, y, 0.3, 0.8)
    _, _, warm = _fit(X, y, 0.3, 0.8, Theta0=np.full((1, 5), -20.0))
    np.testing.assert_allclose(warm.Theta, cold.Theta, rtol=1e-9, atol=1e-12)
    assert np.array_equal(warm.active, cold.active)


def _central(f, x, h):
    return np.array(
        [(f(x + h[j] * e) - f(x - h[j] * e)) / (2 * h[j]) for j, e in enumerate(np.eye(x.size))]
    )


@pytest.mark.parametrize("goal", [Integrity(), Availability()], ids=lambda g: g.kind)
@pytest.mark.parametrize(
    "k, params",
    [
        (2, {"C": 0.2, "l1_ratio": 1.0}),
        (2, {"C": 0.15, "penalty": "elasticnet", "l1_ratio": 0.5}),
        (2, {"C": 0.3, "penalty": "l1", "fit_intercept": False}),
        (3, {"C": 0.3, "l1_ratio": 0.6}),
    ],
    ids=["l1", "elasticnet", "penalty-l1-no-intercept", "multinomial"],
)
def test_the_row_gradient_matches_differences_of_saga_refits(k, params, goal):
    """∇_{x_p} W equals central differences of W computed from saga refits on X ∪ {x_p}
    (E = ‖θ_p − θ_ref‖²), with an inactive weight at the point and the same support at
    every stencil point: the implicit derivative over the nonzero coefficients."""
    X, y = make_classification(n=80, d=4, k=k, seed=1, sparse=True)
    estimator = LogisticRegression(solver="saga", **params)
    alpha = 0.3
    obj = FlexiblePoisoning(estimator, goal=goal, alpha=alpha, random_state=0).objective(X, y)
    x, y_p = X.mean(0) + 0.5 * X.std(0) * np.array([1.0, -0.5, 0.3, 0.8]), y[1]
    theta = obj.theta(x, y_p)
    support = theta.reshape(obj.victim.n_outputs, -1)[:, :4] != 0
    assert not support.all()
    refs = []

    def W(v):
        fitted = _saga(np.vstack([X, v]), np.append(y, y_p), **params)
        refs.append(models.theta_of(fitted))
        E = float(np.sum((refs[-1] - obj.theta_reference) ** 2))
        return alpha * float(np.sum((v - obj.x_c) ** 2)) + goal.sign * (1 - alpha) * E

    h = 1e-5 * X.std(0)
    grad = obj.gradient(x, y_p)
    fd = _central(W, x, h)
    assert np.linalg.norm(grad - fd) <= 1e-5 * np.linalg.norm(fd)
    assert np.linalg.norm(
        grad - _central(lambda v: obj.value(v, y_p), x, h)
    ) <= 1e-6 * np.linalg.norm(fd)
    W(x)
    assert _rel(theta, refs[-1]) <= 1e-6
    for ref in refs:
        assert np.array_equal(ref.reshape(obj.victim.n_outputs, -1)[:, :4] != 0, support)


def test_a_short_attack_on_the_sparse_logistic_victim_matches_a_refit():
    """generate() runs on the L1 victim; its θ_p is saga's on clean + poison rows."""
    X, y = make_classification(n=80, d=4, k=2, seed=2, sparse=True)
    estimator = LogisticRegression(C=0.3, l1_ratio=0.7, solver="saga")
    result = FlexiblePoisoning(
        estimator, goal=Integrity(), n_points=3, max_iter=10, random_state=0
    ).generate(X, y)
    fitted = _saga(
        np.vstack([X, result.X_poison]), np.append(y, result.y_poison), C=0.3, l1_ratio=0.7
    )
    assert _rel(result.theta_poisoned, models.theta_of(fitted)) <= 1e-6
    assert models.spec_for(estimator).name == "logistic-l1"


def test_a_scaled_pipeline_with_l1_matches_refits_and_a_centred_multinomial_is_refused():
    """A binary L1 logistic model after StandardScaler (the penalty's scale moves with
    the row) matches a refit of the pipeline; a multinomial one after a centring scaler
    is refused by name (its intercepts' gauge is fixed in the scaled units), after
    MaxAbsScaler it matches."""
    X, y = make_classification(n=80, d=4, k=2, seed=4, sparse=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.4, l1_ratio=0.6, solver="saga"))
    obj = FlexiblePoisoning(pipe, goal=Integrity(), alpha=0.3, random_state=0).objective(X, y)
    x = X.mean(0) + X.std(0) * np.array([0.3, -1.0, 0.5, 0.2])

    def raw(fitted, d, k):
        b = fitted.decision_function(np.zeros((1, d))).reshape(-1)
        w = fitted.decision_function(np.eye(d)).reshape(d, -1) - b
        return np.column_stack([w.T, b]).ravel()

    def refit(p, X_, y_):
        tight = clone(p)
        tight.steps[-1][1].set_params(**SAGA)
        return tight.fit(X_, y_)

    ours = obj.theta(x, y[0])
    assert _rel(ours, raw(refit(pipe, np.vstack([X, x]), np.append(y, y[0])), 4, 2)) <= 1e-6
    X3, y3 = make_classification(n=90, d=4, k=3, seed=4, sparse=True)
    model = LogisticRegression(C=0.4, l1_ratio=0.6, solver="saga")
    with pytest.raises(UnsupportedEstimatorError, match="StandardScaler.*centres"):
        FlexiblePoisoning(make_pipeline(StandardScaler(), clone(model)), random_state=0).objective(
            X3, y3
        )
    pipe3 = make_pipeline(MaxAbsScaler(), clone(model))
    obj3 = FlexiblePoisoning(pipe3, goal=Integrity(), alpha=0.3, random_state=0).objective(X3, y3)
    fitted = refit(pipe3, np.vstack([X3, x]), np.append(y3, 2))
    assert _rel(obj3.theta(x, 2), raw(fitted, 4, 3)) <= 1e-6


@pytest.mark.parametrize("power, a", [(1.0, 1.5), (1.5, 0.8)])
def test_a_log_link_glm_with_l1_is_solved_and_differentiated_through_the_same_solver(power, a):
    """No scikit-learn estimator fits a Poisson or Tweedie GLM with an L1 term (their
    ``alpha`` is an L2 weight), so none is registered; the engine's proximal Newton
    solver serves the objective all the same: (1/N)·Σ h_p + (a(1−ρ)/2)‖w‖² + aρ‖w‖₁
    meets its L1 conditions, and the implicit gradients of E = ‖θ_p − θ_ref‖² in the
    poison row and its response equal central differences of E over engine fits."""
    from conftest import make_glm_responses, make_regression
    from flexpoison.engine.fit import ProximalNewtonSolver, solver_for

    X, y = make_regression(n=60, d=4, seed=2, sparse=True)
    y = make_glm_responses(X, y)
    rho = 0.8
    learner = engine.Learner(
        "glm-l1", engine.TweedieLoss(power), True, 1.0, True, a * (1 - rho), a * rho
    )
    assert solver_for(learner) is ProximalNewtonSolver
    shift = X.mean(0)
    base = engine.RowData(learner.features(X, shift), y)
    Theta0 = engine.start(learner, y, 5)

    def fit(x, t):
        return engine.fit(learner, engine.PlusRow(base, learner.feature_row(x, shift), t), Theta0)

    x, t = X.mean(0) + 0.4 * X.std(0), float(np.quantile(y, 0.8))
    fitted = fit(x, t)
    data = engine.PlusRow(base, learner.feature_row(x, shift), t)
    g, _ = learner.smooth_gradient_hessian(data, fitted.Theta)
    lam, w = learner.l1_weights(4), fitted.Theta.ravel()
    on = (w != 0) | (lam == 0)
    assert not on.all()
    assert np.abs(g[on] + lam[on] * np.sign(w[on])).max() <= 1e-10 * (1 + np.abs(g).max())
    assert np.all(np.abs(g[~on]) < lam[~on])
    reference = fitted.Theta + 0.3

    def E(x_, t_):
        return float(np.sum((fit(x_, t_).Theta - reference) ** 2))

    dE = 2 * (fitted.Theta - reference)
    phi = learner.feature_row(x, shift)
    grad_x, grad_t = engine.implicit_gradient(learner, fitted, phi, t, 4, dE, True)
    h = 1e-5 * X.std(0)
    fd = _central(lambda v: E(v, t), x, h)
    assert np.linalg.norm(grad_x - fd) <= 1e-6 * np.linalg.norm(fd)
    ht = 1e-5 * y.std()
    assert grad_t == pytest.approx((E(x, t + ht) - E(x, t - ht)) / (2 * ht), rel=1e-6)


def test_the_saga_oracle_sets_the_intercepts_saga_stops_short_of():
    """saga's stopping rule ignores the intercepts: with every weight at 0 it stops after
    one epoch (b = 0.35 on these 26 balanced rows, a problem the property suite drew,
    whose optimum is b = 0); the entry's exact refit
    (:func:`flexpoison.models.saga.exact_fit`) gives the closed form there, which the
    engine's fit equals."""
    from flexpoison.models.saga import exact_fit

    x = np.array(
        [
            0.126,
            -0.132,
            0.640,
            0.105,
            -0.536,
            0.362,
            1.304,
            0.947,
            -0.704,
            -1.265,
            -0.623,
            0.041,
            -2.325,
            -0.219,
            -1.246,
            -0.732,
            -0.544,
            -0.316,
            0.412,
            1.043,
            -0.129,
            1.366,
            -0.665,
            0.352,
            0.903,
            -0.129,
        ]
    )[:, None]
    y = np.array([0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1])
    estimator = LogisticRegression(C=0.1, l1_ratio=1.0, solver="saga")
    plain = _saga(x, y, C=0.1, l1_ratio=1.0)
    assert not plain.coef_.any() and abs(plain.intercept_[0]) > 0.1
    fitted = exact_fit(estimator, x, y)
    assert not fitted.coef_.any() and fitted.intercept_[0] == 0.0
    obj = FlexiblePoisoning(estimator, goal=Availability(), random_state=0).objective(
        x[:-1], y[:-1]
    )
    np.testing.assert_allclose(obj.theta(x[-1], y[-1]), [0.0, 0.0], atol=1e-12)


def test_the_command_line_attacks_the_sparse_logistic_victim(tmp_path):
    """``flexpoison attack --model logistic-l1 --reg C --l1-ratio ρ`` builds
    LogisticRegression(C, l1_ratio=ρ, solver='saga') and attacks it; its θ_p in
    summary.json is the exact refit's (no refit warning)."""
    import csv
    import json

    from click.testing import CliRunner

    from flexpoison.cli import main

    X, y = make_classification(n=80, d=3, k=2, seed=5, sparse=True)
    path = tmp_path / "data.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["f1", "f2", "f3", "label"])
        writer.writerows([[*row, label] for row, label in zip(X.tolist(), y.tolist())])
    out = tmp_path / "out"
    args = [
        "attack",
        "--data",
        path,
        "--target-column",
        "label",
        "--model",
        "logistic-l1",
        "--reg",
        0.2,
        "--l1-ratio",
        0.8,
        "--rate",
        0.03,
        "--out",
        out,
    ]
    result = CliRunner().invoke(main, list(map(str, args)))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert "l1_ratio=0.8" in summary["model"] and "C=0.2" in summary["model"]
    np.testing.assert_allclose(
        summary["theta_poisoned"], summary["theta_poisoned_sklearn"], rtol=1e-6, atol=1e-9
    )
    assert not [w for w in summary["warnings"] if "refit" in w]
