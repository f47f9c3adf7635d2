"""The loss filter's constraint c(x) = ℓ(θ_k(x); x, t) and its gradient
(:mod:`flexpoison.attack.loss_constraint`)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.svm import LinearSVC

from conftest import cases
from flexpoison import FlexiblePoisoning, Integrity, LossAvailability
from flexpoison.attack import evasion_check
from flexpoison.attack.loss_constraint import AIM, constraint, edge_row, effect, restore, search

VICTIMS = {
    "ridge": (Ridge, 2),
    "logistic": (LogisticRegression, 2),
    "multinomial": (LogisticRegression, 3),
    "linearsvc": (LinearSVC, 2),
    "poisson": (PoissonRegressor, 0),  # the filter's residual through the log link
}


def _setup(name: str, data_seed: int):
    make, classes = VICTIMS[name]
    if make is Ridge:
        X, y = make_regression(50, 4, noise=5.0, random_state=data_seed)
    elif make is PoissonRegressor:
        X, _ = make_regression(50, 4, random_state=data_seed)
        rng = np.random.default_rng(data_seed)
        y = rng.poisson(np.exp(1.0 + 0.3 * X @ rng.normal(size=4))).astype(float)
    else:
        X, y = make_classification(
            60, 4, n_informative=3, n_redundant=0, n_classes=classes, random_state=data_seed
        )
    attack = FlexiblePoisoning(
        make(), goal=LossAvailability(), n_points=2, evade=["loss"], random_state=0
    )
    return attack, attack._setup(X, y, None), np.asarray(X, dtype=float)


def _row(setup, X, rng):
    """A row near a training row, with a label other than its own (classification)."""
    i = int(rng.integers(X.shape[0]))
    x = X[i] + rng.normal(scale=0.7, size=X.shape[1])
    labels = np.unique(setup.t)
    t = float(setup.t[i]) + 30.0 if labels.size > 3 else float(labels[labels != setup.t[i]][0])
    return x, t


@seed(24)
@settings(max_examples=12, deadline=None)
@given(st.sampled_from(sorted(VICTIMS)), st.integers(0, 1000), st.sampled_from([1, 3]))
def test_the_constraint_gradient_is_central_differences_of_exact_refits(name, data_seed, k):
    """∇_x c from the adjoint equals central differences of c, each an exact refit on
    the training set plus k copies of the moved row."""
    _, setup, X = _setup(name, data_seed)
    objective = setup.objective
    x, t = _row(setup, X, np.random.default_rng(data_seed))
    c, grad, Theta = constraint(objective, x, t, k, objective.Theta_start)
    h = 1e-5
    fd = np.array(
        [
            (
                constraint(objective, x + h * e, t, k, Theta)[0]
                - constraint(objective, x - h * e, t, k, Theta)[0]
            )
            / (2 * h)
            for e in np.eye(x.size)
        ]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7 * max(1.0, np.abs(fd).max()))


@seed(25)
@settings(max_examples=12, deadline=None)
@given(st.sampled_from(sorted(VICTIMS)), st.integers(0, 1000), st.sampled_from([1, 3]))
def test_the_effect_gradient_with_copies_is_central_differences(name, data_seed, k):
    """∇_x E(θ_k(x)), the k copies moving together, equals central differences of E at
    exact refits."""
    _, setup, X = _setup(name, data_seed)
    objective = setup.objective
    x, t = _row(setup, X, np.random.default_rng(data_seed))
    _, grad = effect(objective, x, t, k, objective.Theta_start)
    h = 1e-5
    fd = np.array(
        [
            (
                effect(objective, x + h * e, t, k, objective.Theta_start)[0]
                - effect(objective, x - h * e, t, k, objective.Theta_start)[0]
            )
            / (2 * h)
            for e in np.eye(x.size)
        ]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize("name", sorted(VICTIMS))
def test_the_constraint_is_the_evasions_loss_at_the_refit(name):
    """c(x) with one copy is the loss filter's ℓ (Evasion.losses) at θ_p."""
    attack, setup, X = _setup(name, 3)
    evasion = evasion_check.start(attack, setup, 2)
    x, t = _row(setup, X, np.random.default_rng(3))
    c, _, Theta = constraint(setup.objective, x, t, 1, setup.objective.Theta_start)
    assert c == pytest.approx(evasion.losses(Theta, x[None], np.array([t]))[0], rel=1e-12)


@pytest.mark.parametrize("name", sorted(VICTIMS))
@pytest.mark.parametrize("k", [1, 3])
def test_restore_reaches_the_threshold_inside_the_box(name, k):
    """A row of high loss moved by restore has c ≤ τ at the refit, inside the box."""
    _, setup, X = _setup(name, 5)
    objective = setup.objective
    rng = np.random.default_rng(5)
    for _ in range(5):  # a row whose loss is worth halving
        x, t = _row(setup, X, rng)
        c, _, _ = constraint(objective, x, t, k, objective.Theta_start)
        if c > 0.05:
            break
    tau = 0.5 * c
    moved = restore(objective, setup.box, x, t, k, tau, objective.Theta_start)
    assert moved is not None
    assert np.all(moved >= setup.box.lower) and np.all(moved <= setup.box.upper)
    assert constraint(objective, moved, t, k, objective.Theta_start)[0] <= tau


@pytest.mark.parametrize("name", sorted(VICTIMS))
def test_search_holds_the_threshold_and_does_not_lose_effect(name):
    """search's point keeps c ≤ τ in the box, with an effect at least the restored
    start's (the goal's direction)."""
    _, setup, X = _setup(name, 7)
    objective = setup.objective
    x, t = _row(setup, X, np.random.default_rng(7))
    k, Theta = 2, objective.Theta_start
    tau = 0.5 * constraint(objective, x, t, k, Theta)[0]
    start = restore(objective, setup.box, x, t, k, tau, Theta)
    found = search(objective, setup.box, x, t, k, tau, Theta, X.std(axis=0))
    assert start is not None and found is not None
    assert np.all(found >= setup.box.lower) and np.all(found <= setup.box.upper)
    assert constraint(objective, found, t, k, Theta)[0] <= tau
    sign = objective.goal.sign
    assert (
        sign * effect(objective, found, t, k, Theta)[0]
        <= sign * effect(objective, start, t, k, Theta)[0]
    )


def _at_edge(X, y, v, r, k):
    """(y_v, model): the response whose k copies at v have residual r at the ridge
    refit with them (the residual is affine in y_v: two scikit-learn fits)."""

    def residual(y_v):
        model = Ridge().fit(np.vstack([X, np.tile(v, (k, 1))]), np.r_[y, np.full(k, y_v)])
        return float(model.predict(v[None])[0]) - y_v, model

    (r0, _), (r1, _) = residual(0.0), residual(1.0)
    y_v = (r - r0) / (r1 - r0)
    return y_v, residual(y_v)[1]


@seed(26)
@settings(max_examples=10, deadline=None)
@given(st.integers(0, 1000), st.sampled_from([1, 3]))
def test_edge_row_has_the_edge_residual_and_beats_every_vertex(data_seed, k):
    """Ridge, E_I: the row of :func:`edge_row` lies in the box with its response in
    the range given; its residual at a scikit-learn refit with k copies of it is
    at most ±√((1 − AIM/4)·τ); and when the response is inside the range (the
    problem is then ridge's convex QP in v) the residual is exactly that and no box
    vertex with either edge residual and a response in the range (brute force, each by
    exact refits) gives a smaller E_I."""
    X, y = make_regression(50, 4, noise=5.0, random_state=data_seed)
    attack = FlexiblePoisoning(
        Ridge(), goal=Integrity("flip-top"), n_points=2, evade=["loss"], random_state=0
    )
    setup = attack._setup(X, y, None)
    objective, box, tau = setup.objective, setup.box, 4.0
    theta_t = np.asarray(objective.theta_reference)
    t_range = (float(y.min()), float(y.max()))
    found = edge_row(objective, box, k, tau, objective.Theta_start, t_range)
    assert found is not None
    v, t_v = found
    assert np.all((v >= box.lower) & (v <= box.upper)) and t_range[0] <= t_v <= t_range[1]
    rho = np.sqrt((1 - AIM / 4) * tau)
    y_v = float(setup.victim.decode(np.array([t_v]))[0])
    model = Ridge().fit(np.vstack([X, np.tile(v, (k, 1))]), np.r_[y, np.full(k, y_v)])
    residual = abs(float(model.predict(v[None])[0]) - y_v)
    assert residual <= rho * (1 + 1e-9)
    if not t_range[0] < t_v < t_range[1]:  # the range holds the response: not a QP
        return
    np.testing.assert_allclose(residual, rho, rtol=1e-6)

    def E(m):
        return float(np.sum((np.r_[m.coef_, m.intercept_] - theta_t) ** 2))

    values = [
        E(fit)
        for c in itertools.product(*zip(box.lower, box.upper, strict=True))
        for r in (rho, -rho)
        for y_c, fit in [_at_edge(X, y, np.array(c), r, k)]
        if t_range[0] <= y_c <= t_range[1]
    ]
    assert not values or E(model) <= min(values) + 1e-9 * max(1.0, min(values))


def test_the_edge_set_replaces_the_rows_only_when_it_does_better(monkeypatch):
    """Ridge with small-integer features evading the loss filter: with the edge set
    the final E is at least as good as without it, and the filter removes no poison
    row either way (the judged integer case, smaller)."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 5, size=(40, 5)).astype(float)[rng.integers(0, 40, 150)]
    y = X @ np.array([1.0, -2.0, 0.5, 1.5, 0.0]) + rng.normal(size=150)

    def run():
        return FlexiblePoisoning(
            Ridge(),
            goal=Integrity("flip-top"),
            rate=0.03,
            evade=["loss"],
            integer_features=list(range(5)),
            random_state=0,
        ).generate(X, y)

    with_set = run()
    monkeypatch.setattr(evasion_check, "_edge_set", lambda *a: None)
    without = run()
    for result in (with_set, without):
        assert result.screenings[0].poison_removed == 0
    assert with_set.effect_final < without.effect_final


def test_the_constraint_is_scikit_learns_residual_through_the_link():
    """PoissonRegressor: c(x) with one copy is (t − ŷ)², ŷ scikit-learn's prediction
    (the mean exp(z), not the score z) of its own refit with the row added, as the
    owner's loss filter computes it."""
    _, setup, X = _setup("poisson", 5)
    x, t = _row(setup, X, np.random.default_rng(5))
    c, _, _ = constraint(setup.objective, x, t, 1, setup.objective.Theta_start)
    model = PoissonRegressor(tol=1e-12, max_iter=10_000)
    model.fit(np.vstack([X, x]), np.r_[setup.objective.victim.decode(setup.t), t])
    assert c == pytest.approx((t - model.predict(x[None])[0]) ** 2, rel=1e-6)


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_every_victim_evades_the_loss_filter(case):
    """Every registry victim with a θ runs evade=["loss"] under both calibrations (no
    crash: Huber's σ score, the GLMs' link) and the owner's filter removes no poison row."""
    for calibration in ("clean", "poisoned"):
        attack = FlexiblePoisoning(
            case.estimator,
            goal=LossAvailability(),
            alpha=0.0,
            n_points=2,
            evade=["loss"],
            evade_calibration=calibration,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = attack.generate(case.X, case.y)
        (screening,) = result.screenings
        assert screening.sanitizer == "loss" and screening.poison_removed == 0
