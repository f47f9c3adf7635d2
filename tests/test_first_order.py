"""The first-order starts of a point stuck at zero gradient (flexpoison.attack.first_order):
the margin's edge from the loss, the row's pull against a real refit, E's best step
along it, the depth that gives that step, the linear programme against brute force,
and the attack that stalled on digits 1 vs 7 moving on with them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from conftest import make_classification
from flexpoison import FlexiblePoisoning, Integrity, engine
from flexpoison.attack import first_order
from flexpoison.engine.hinge import HingeLoss, SquaredHingeLoss
from flexpoison.engine.losses import LogisticLoss


@pytest.mark.parametrize("t", [-1.0, 1.0])
def test_margin_edge_is_where_the_loss_turns_flat(t):
    """ℓ' vanishes from the edge on and not just before it: ±1 for the hinges (to float
    precision); a logistic loss is never flat."""
    for loss in (SquaredHingeLoss(), HingeLoss()):
        edge = first_order.margin_edge(loss, t)
        assert edge == pytest.approx(t, abs=1e-12)
        assert loss.d1(np.array([[edge]]), np.array([t]))[0, 0] == 0.0
        assert loss.d1(np.array([[edge - 1e-9 * t]]), np.array([t]))[0, 0] != 0.0
    assert first_order.margin_edge(LogisticLoss(), t) is None


def _svc_objective(seed=0, goal=None, n=60):
    X, y = make_classification(n=n, d=3, seed=seed)
    attack = FlexiblePoisoning(
        LinearSVC(C=1.0, max_iter=100_000), goal=goal or Integrity(), alpha=0.0, random_state=0
    )
    return attack.objective(X, y), X


def _factor(objective):
    learner, data = objective.victim.learner, objective.data
    fit = engine.fit(learner, data, objective.Theta_start)
    return fit, fit.factor or engine.hessian_factor(learner, data, fit)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_pull_of_a_row_inside_the_margin_is_the_refit(seed):
    """ΔΘ = κ·H⁻¹φ with |κ| = s·|ℓ'|/(1 + s·ℓ''·φᵀH⁻¹φ) (Sherman–Morrison) is the
    squared hinge's exact refit with the row added, when no other row changes side."""
    objective, X = _svc_objective(seed, n=400)
    learner, data = objective.victim.learner, objective.data
    fit, factor = _factor(objective)
    Theta = fit.Theta
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(40):
        # a row on a random line through the mean, just inside t's margin: t·z = 1 − δ
        t, depth = rng.choice([-1.0, 1.0]), rng.uniform(0.005, 0.05)
        x0, v = X.mean(axis=0), rng.standard_normal(X.shape[1])
        z0 = float(Theta[0] @ learner.feature_row(x0, objective.shift))
        x = x0 + (t * (1 - depth) - z0) / float(Theta[0, : X.shape[1]] @ v) * v
        phi = learner.feature_row(x, objective.shift)
        z = float(Theta[0] @ phi)
        q = float(phi @ factor.solve(phi))
        d1 = float(learner.loss.d1(np.array([[z]]), np.array([t]))[0, 0])
        kappa = -np.sign(d1) * first_order.pull(learner.loss, learner.scale(data.n + 1), z, t, q)
        predicted = Theta + kappa * factor.solve(phi).reshape(Theta.shape)
        refit = engine.fit(learner, data.with_row(phi, t), Theta, tol=1e-14).Theta
        before = data.t * (data.Phi @ Theta[0]) < 1
        after = data.t * (data.Phi @ refit[0]) < 1
        if not np.array_equal(before, after):
            continue
        np.testing.assert_allclose(refit, predicted, rtol=1e-8, atol=1e-10)
        checked += 1
    assert checked >= 10


def test_best_step_reads_the_gradient_and_curvature_of_E():
    """(a, b) of E along D: a = ∇_Θ E·D (the objective's effect gradient), and b the
    same from two probe sizes (E_I is quadratic in Θ)."""
    objective, _ = _svc_objective(goal=Integrity("negate"))
    Theta = objective.Theta_start
    D = np.random.default_rng(0).standard_normal(Theta.shape)
    a, b = first_order.best_step(objective.effect_at, Theta, D, 1e-3)
    a2, b2 = first_order.best_step(objective.effect_at, Theta, D, 1e-1)
    grad = objective.effect_gradient(Theta)
    assert a == pytest.approx(float(np.sum(grad * D)), rel=1e-6)
    assert b == pytest.approx(b2, rel=1e-5) and b > 0
    assert a2 == pytest.approx(a, rel=1e-6)


def test_effect_gradient_matches_finite_differences():
    objective, _ = _svc_objective(goal=Integrity("negate"))
    Theta = objective.Theta_start
    grad = objective.effect_gradient(Theta)
    h = 1e-6
    for i in range(Theta.size):
        step = np.zeros(Theta.size)
        step[i] = h
        step = step.reshape(Theta.shape)
        fd = (objective.effect_at(Theta + step) - objective.effect_at(Theta - step)) / (2 * h)
        assert grad.ravel()[i] == pytest.approx(fd, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("q", [0.0, 0.5, 30.0])
def test_depth_for_gives_the_pull_asked_for(q):
    """The depth's pull is the goal (to the bisection's precision); past the decision
    boundary's pull, the boundary."""
    loss, t = SquaredHingeLoss(), -1.0
    edge = first_order.margin_edge(loss, t)
    most = first_order.pull(loss, 1.0, 0.0, t, q)
    for goal in (0.01 * most, 0.5 * most):
        depth = first_order.depth_for(loss, 1.0, edge, t, q, goal)
        assert 0 < depth < 1
        assert first_order.pull(loss, 1.0, (1 - depth) * edge, t, q) == pytest.approx(
            goal, rel=1e-9
        )
    assert first_order.depth_for(loss, 1.0, edge, t, q, 2 * most) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_best_row_is_the_best_point_of_the_segment(seed):
    """In two dimensions {w·x = c} ∩ box is a segment whose ends are on the box's
    edges: the programme's optimum is the better end."""
    rng = np.random.default_rng(seed)
    gain, w = rng.standard_normal(2), rng.standard_normal(2)
    lower, upper = -rng.uniform(0.5, 2, 2), rng.uniform(0.5, 2, 2)
    c = 0.3 * float(w @ (lower + upper))
    ends = []
    for i in range(2):  # the line meets x_i = lower_i or upper_i
        j = 1 - i
        for v in (lower[i], upper[i]):
            x = np.empty(2)
            x[i], x[j] = v, (c - w[i] * v) / w[j]
            if lower[j] - 1e-12 <= x[j] <= upper[j] + 1e-12:
                ends.append(x)
    x = first_order.best_row(gain, w, c, lower, upper)
    assert x is not None
    assert float(w @ x) == pytest.approx(c, abs=1e-9)
    assert float(gain @ x) == pytest.approx(max(float(gain @ e) for e in ends), abs=1e-9)
    assert (
        first_order.best_row(
            gain, w, float(np.abs(w) @ np.maximum(-lower, upper)) + 1, lower, upper
        )
        is None
    )


def test_no_starts_for_a_loss_never_flat():
    X, y = make_classification(n=60, d=3, seed=0)
    objective = FlexiblePoisoning(LogisticRegression(), random_state=0).objective(X, y)
    starts = first_order.starts(objective, objective.Theta_start, _box(X), 1.0)
    assert starts == []


def _box(X):
    from flexpoison.attack import feasible_box

    return feasible_box(X, 3.0, None, None, np.dtype(np.float64))


def _digits():
    """bench_certify's digits 1 vs 7: 70 % of the rows, constant pixels dropped,
    standardised."""
    digits = load_digits()
    rows = np.isin(digits.target, (1, 7))
    X, _, y, _ = train_test_split(
        digits.data[rows],
        digits.target[rows],
        test_size=0.3,
        random_state=0,
        stratify=digits.target[rows],
    )
    X = X[:, X.std(axis=0) > 0]
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def _distance(monkeypatch, with_starts: bool) -> tuple[list[float], list[str]]:
    if not with_starts:
        monkeypatch.setattr(first_order, "starts", lambda *args: [])
    X, y = _digits()
    estimator = LinearSVC(max_iter=10_000)
    goal = Integrity("flip-subpopulation:class=7,cluster=3/8")
    attack = FlexiblePoisoning(estimator, goal=goal, alpha=0.0, n_points=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = attack.generate(X, y)
    monkeypatch.undo()
    return [p.effect_after for p in result.points], [p.stop for p in result.points]


def test_a_stalled_attack_moves_on_from_the_first_order_starts(monkeypatch):
    """Digits 1 vs 7, a squared-hinge victim: without the starts the attack stalls at
    zero gradient (E stays put); with them E keeps falling after the stall."""
    without, stops = _distance(monkeypatch, False)
    assert "zero gradient" in stops
    stall = stops.index("zero gradient")
    assert without[-1] == pytest.approx(without[stall - 1], rel=1e-9)
    with_starts, _ = _distance(monkeypatch, True)
    assert with_starts[:stall] == without[:stall]  # the same until the stall
    assert with_starts[-1] < 0.9 * without[-1]


def test_a_concealed_run_keeps_to_its_unconcealed_run_s_points():
    """At α = 0.5 the α = 0 run (which stalls, then uses the first-order starts) gives
    E_unconcealed; the concealed points start from its points, never from new
    first-order rows."""
    X, y = _digits()
    goal = Integrity("flip-subpopulation:class=7,cluster=3/8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = FlexiblePoisoning(
            LinearSVC(max_iter=10_000), goal=goal, alpha=0.0, n_points=6, random_state=0
        ).generate(X, y)
        concealed = FlexiblePoisoning(
            LinearSVC(max_iter=10_000), goal=goal, alpha=0.5, n_points=6, random_state=0
        ).generate(X, y)
    assert "first-order" in [p.start for p in plain.points]
    assert concealed.effect_unconcealed == pytest.approx(plain.effect_final, rel=1e-9)
    assert {p.start for p in concealed.points} == {"α = 0 point"}


def test_shrunk_row_halves_the_box_until_the_leverage_is_at_most_one():
    """The row of a box halved k times, the first k with curvature·q ≤ 1 (here
    q = ‖x‖², the box centred at 0): the rows of the boxes before have q > 1."""
    rng = np.random.default_rng(0)
    gain, w = rng.normal(size=4), rng.normal(size=4)
    centre, half = np.zeros(4), np.full(4, 8.0)
    found = first_order.shrunk_row(gain, w, 0.0, centre, half, 1.0, lambda x: float(x @ x))
    assert found is not None
    x, q = found
    assert q == pytest.approx(float(x @ x)) and q <= 1.0
    k = int(round(np.log2(8.0 / np.max(np.abs(x))))) if np.max(np.abs(x)) > 0 else 0
    for j in range(k):  # every larger box's row is too far out
        bigger = first_order.best_row(gain, w, 0.0, centre - half / 2**j, centre + half / 2**j)
        assert float(bigger @ bigger) > 1.0


def test_a_kernel_machine_that_stalls_gets_no_first_order_starts():
    """A kernel SVC's point may stop at zero gradient too; it has no θ and no rows'
    Hessian, so the run goes on without first-order starts (it once raised there)."""
    from sklearn.datasets import make_classification as sklearn_classification
    from sklearn.svm import SVC

    X, y = sklearn_classification(40, 3, n_informative=2, n_redundant=0, random_state=1)
    goal = Integrity(f"predict:3@{X[0, 0]},{X[0, 1]},{X[0, 2]}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = FlexiblePoisoning(
            SVC(kernel="linear", C=0.1), goal=goal, alpha=0.0, n_points=4, random_state=0
        ).generate(X, y)
    stops = [p.stop for p in result.points]
    assert "zero gradient" in stops
    assert "first-order" not in [p.start for p in result.points]
