"""The fast per-candidate solvers agree with the general solver and with exact algebra.

:class:`RankOneSolver` (squared loss: Sherman–Morrison on the Gram statistics, with an
active-set test for L1) and :class:`NewtonSolver` (non-quadratic losses: warm-started
Newton with chord steps) answer every objective evaluation of the attack; the general
:func:`flexpoison.engine.fit.fit` is the reference they must reproduce, and the Hessian
factors they hand to the implicit gradient must solve with the exact Hessian. The
learners are the model registry's examples (``conftest.cases``), each checked by the
fast path its loss takes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import cases, make_regression, rank_deficient_design
from flexpoison import FlexiblePoisoning, Integrity
from flexpoison import engine as lrn
from flexpoison.attack.goals import GOALS

# The registry's examples (conftest.cases), split by the fast path their loss takes.
CASES = cases()
SQUARED = [pytest.param(c, id=c.id) for c in CASES if c.victim.learner.loss.curvature is not None]
PIECEWISE = [
    pytest.param(c, id=c.id)
    for c in CASES
    if isinstance(c.victim.learner.loss, lrn.PiecewiseLinearLoss)
]
SMOOTH = [
    pytest.param(c, id=c.id)
    for c in CASES
    if c.victim.learner.loss.curvature is None
    and not isinstance(c.victim.learner.loss, lrn.PiecewiseLinearLoss)
    and c.victim.learner.l1 == 0
]  # an L1 term: the general proximal Newton solver
L1 = [
    pytest.param(c, id=c.id)
    for c in CASES  # the rank-one solver's L1 (squared residuals)
    if c.victim.learner.l1 > 0 and c.victim.learner.loss.curvature is not None
]
ALL = [pytest.param(c, id=c.id) for c in CASES]


def _objective(case, goal=None):
    return FlexiblePoisoning(
        case.estimator, goal=goal or Integrity(), alpha=0.3, random_state=0
    ).objective(case.X, case.y)


def _target(case, obj):
    """An encoded target for a candidate: a response in the upper tail, or the second
    row's label."""
    if case.spec.task == "regression":
        return float(np.quantile(case.y, 0.9))
    return float(obj.victim.encode(case.y[1:2])[0])


def _candidate(obj, X, u):
    """A row inside the data's range, from u ∈ [−1, 1]^d (repeated or cut to d)."""
    return X.mean(0) + 1.5 * X.std(0) * np.resize(np.asarray(u, dtype=float), X.shape[1])


def _reference(obj, phi, t, Theta0):
    return lrn.fit(obj.victim.learner, lrn.PlusRow(obj.data, phi, t), Theta0)


def _hessian(obj, phi, t, Theta):
    _, H = obj.victim.learner.smooth_gradient_hessian(lrn.PlusRow(obj.data, phi, t), Theta)
    return H


D = max(case.X.shape[1] for case in CASES)
unit = st.lists(st.floats(-1, 1, allow_nan=False), min_size=D, max_size=D)


@pytest.mark.parametrize("case", SQUARED)
@settings(max_examples=25, deadline=None, derandomize=True)
@given(u=unit, t=st.floats(-5, 15, allow_nan=False))
def test_rank_one_solver_matches_general_fit(case, u, t):
    """Sherman–Morrison on the Gram statistics gives the general solver's optimum, and a
    factor that solves with the exact Hessian on the free coordinates."""
    X = case.X
    obj = _objective(case)
    solver = obj._solver
    assert solver is not None
    phi = obj._features(_candidate(obj, X, u))
    ref = _reference(obj, phi, t, obj.Theta_start)
    fast = solver.fit(phi, t, obj.Theta_start)
    if fast is None:  # L1 only: the clean support is not the optimum's support here
        assert obj.victim.learner.l1 > 0
        fast = solver.fit(phi, t, ref.Theta)  # from the right support it must succeed
        assert fast is not None
    np.testing.assert_allclose(fast.Theta, ref.Theta, rtol=1e-9, atol=1e-11)
    # the factor solves with the Hessian restricted to the free coordinates
    S = np.ones(phi.size, bool) if ref.active is None else ref.active
    H = _hessian(obj, phi, t, ref.Theta)[np.ix_(S, S)]
    b = np.linspace(-1.0, 2.0, phi.size)
    expected = np.zeros_like(b)
    expected[S] = np.linalg.solve(H, b[S])
    np.testing.assert_allclose(fast.factor.solve(b), expected, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("case", L1)
@settings(max_examples=25, deadline=None, derandomize=True)
@given(u=unit, t=st.floats(-30, 30, allow_nan=False))
def test_rank_one_solvers_general_l1_solve_equals_the_general_fit(case, u, t):
    """What the objective runs on a refused L1 trial — the general L1 solver on the
    rank-one solver's own statistics, A + κφφᵀ and c + κtφ — is the general fit's
    optimum on the rows, with its active set and a factor that solves with H there."""
    obj = _objective(case)
    phi = obj._features(_candidate(obj, case.X, 2 * np.asarray(u)))
    ref = _reference(obj, phi, t, obj.Theta_start)
    fast = obj._solver.solve(phi, t, obj.Theta_start)
    np.testing.assert_allclose(fast.Theta, ref.Theta, rtol=1e-9, atol=1e-11)
    np.testing.assert_array_equal(fast.active, ref.active)
    S = ref.active
    H = _hessian(obj, phi, t, ref.Theta)[np.ix_(S, S)]
    b = np.linspace(-1.0, 2.0, phi.size)
    expected = np.zeros_like(b)
    expected[S] = np.linalg.solve(H, b[S])
    np.testing.assert_allclose(fast.factor.solve(b), expected, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("case", L1)
def test_rank_one_solver_refuses_a_changed_support(case):
    """A candidate that zeroes an L1-penalised weight (or wakes one) is left to the
    general solver, and the answer the objective returns is still the exact optimum."""
    X = case.X
    obj = _objective(case)
    learner = obj.victim.learner
    refused = 0
    rng = np.random.default_rng(3)
    for _ in range(60):
        x = X.mean(0) + 3 * X.std(0) * rng.uniform(-1, 1, X.shape[1])
        t = float(rng.uniform(-30, 30))
        phi = obj._features(x)
        ref = _reference(obj, phi, t, obj.Theta_start)
        refused += obj._solver.fit(phi, t, obj.Theta_start) is None
        ev = obj.evaluate(x, t, with_gradient=False)
        np.testing.assert_allclose(ev.fit.Theta, ref.Theta, rtol=1e-9, atol=1e-11)
        # KKT of the L1 problem at the returned θ
        g, _ = learner.smooth_gradient_hessian(lrn.PlusRow(obj.data, phi, t), ev.fit.Theta)
        theta = ev.fit.Theta.ravel()
        lam = learner.l1 * learner.penalty_mask(X.shape[1])
        on = theta != 0
        np.testing.assert_allclose(g[on], -lam[on] * np.sign(theta[on]), atol=1e-9)
        assert np.all(np.abs(g[~on]) <= lam[~on] + 1e-9)
    assert refused > 0  # the test did exercise the fallback


def test_rank_one_solver_is_not_used_when_the_statistics_are_singular():
    """OLS on fewer rows than features: A is singular, the candidate may fix it."""
    from sklearn.linear_model import LinearRegression

    X, y = make_regression(n=60, d=4)
    obj = FlexiblePoisoning(LinearRegression(), random_state=0).objective(X, y)
    G = np.zeros_like(obj.data.G)
    singular = lrn.GramData(G, np.zeros(G.shape[0]), 0.0, 3)
    assert lrn.RankOneSolver.for_data(obj.victim.learner, singular) is None


@pytest.mark.parametrize("case", SMOOTH)
@settings(max_examples=15, deadline=None, derandomize=True)
@given(u=unit, far=st.booleans())
def test_newton_solver_matches_general_fit(case, u, far):
    """Warm-started chord Newton, from the clean optimum or from far away (Θ = 0),
    reaches the general solver's optimum, where ∇L vanishes; the factor it makes on
    demand solves with the exact Hessian."""
    X, y = case.X, case.y
    obj = _objective(case)
    solver = obj._newton
    assert solver is not None
    phi = obj._features(_candidate(obj, X, u))
    t = float(obj.victim.encode(np.array([y[0]]))[0])
    Theta0 = np.zeros_like(obj.Theta_start) if far else obj.Theta_start
    ref = _reference(obj, phi, t, obj.Theta_start)
    fast = solver.fit(phi, t, Theta0)
    np.testing.assert_allclose(fast.Theta, ref.Theta, rtol=1e-9, atol=1e-11)
    g, H = obj.victim.learner.smooth_gradient_hessian(lrn.PlusRow(obj.data, phi, t), fast.Theta)
    assert np.max(np.abs(g)) <= 1e-10 * max(1.0, np.max(np.abs(H)))
    # the factor made on demand is the exact Hessian's at the returned θ
    b = np.linspace(-1.0, 2.0, H.shape[0])
    np.testing.assert_allclose(
        solver.factor(fast, phi, t).solve(b), np.linalg.solve(H, b), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("case", PIECEWISE)
@settings(max_examples=15, deadline=None, derandomize=True)
@given(u=unit, far=st.booleans(), seed=st.integers(0, 2**16))
def test_kink_solver_is_exact_from_any_start(case, u, far, seed):
    """The active-set solver of a piecewise-linear loss (engine.kinks) reaches the same
    optimum from the clean optimum and from far away (Θ = 0), where no random move
    lowers the objective; its factor solves the system of the rows held on knots:
    Λu_θ + Φ_Mᵀu_β = b and Φ_M u_θ = 0."""
    X, y = case.X, case.y
    obj = _objective(case)
    learner = obj.victim.learner
    phi = obj._features(_candidate(obj, X, u))
    t = float(obj.victim.encode(np.array([y[0]]))[0])
    data = lrn.PlusRow(obj.data, phi, t)
    far_start = np.zeros_like(obj.Theta_start)
    fit = lrn.fit(learner, data, far_start if far else obj.Theta_start)
    ref = lrn.fit(learner, data, obj.Theta_start if far else far_start)
    np.testing.assert_allclose(fit.Theta, ref.Theta, rtol=1e-9, atol=1e-11)

    def objective(Theta):
        return learner.smooth_value_gradient_hessian(data, Theta, want_hess=False)[0]

    best = objective(fit.Theta)
    rng = np.random.default_rng(seed)
    for size in (1e-3, 1e-6):
        for _ in range(10):
            move = size * rng.standard_normal(fit.Theta.shape)
            assert objective(fit.Theta + move) >= best - 1e-12 * abs(best)
    b = rng.standard_normal(fit.Theta.size)
    U, u_beta = fit.factor.adjoint(b)
    lam = fit.factor.lam
    B = b.reshape(U.shape)
    for k, A in enumerate(fit.factor.held):
        np.testing.assert_allclose(lam[k] * U[k] + A.T @ u_beta[k], B[k], atol=1e-10)
        np.testing.assert_allclose(A @ U[k], 0.0, atol=1e-10)


@pytest.mark.parametrize("case", ALL)
def test_lazy_gradient_equals_eager_gradient(case):
    """differentiate(evaluate(…, with_gradient=False)) == evaluate(…): trial points of the
    line search may skip the gradient without changing it."""
    X = case.X
    obj = _objective(case)
    t = _target(case, obj)
    with_y = case.spec.task == "regression"
    x = _candidate(obj, X, [0.3, -0.7, 0.5, 0.1])
    eager = obj.evaluate(x, t, with_y=with_y)
    lazy = obj.differentiate(obj.evaluate(x, t, with_gradient=False), with_y=with_y)
    assert lazy.W == pytest.approx(eager.W, rel=1e-12)
    np.testing.assert_allclose(lazy.grad_x, eager.grad_x, rtol=1e-9, atol=1e-12)
    if with_y:
        assert lazy.grad_y == pytest.approx(eager.grad_y, rel=1e-9)


@pytest.mark.parametrize("case", SMOOTH)
def test_newton_solver_out_of_steps_hands_over_to_the_general_solver(case):
    """A solver that runs out of steps says so (None) instead of returning a θ that is
    not the optimum, and the objective then gets the optimum from the general solver."""
    X, y = case.X, case.y
    obj = _objective(case)
    phi = obj._features(_candidate(obj, X, [0.9, -0.9, 0.9, -0.9]))
    t = float(obj.victim.encode(np.array([y[0]]))[0])
    far = np.zeros_like(obj.Theta_start)
    assert lrn.NewtonSolver(obj.victim.learner, obj.data, max_iter=1).fit(phi, t, far) is None
    obj._newton = lrn.NewtonSolver(obj.victim.learner, obj.data, max_iter=1)
    obj._local = None  # the local model's exact solve would answer first
    x = _candidate(obj, X, [0.9, -0.9, 0.9, -0.9])
    ev = obj.evaluate(x, t, Theta_init=far, with_gradient=False, exact=True)
    ref = _reference(obj, phi, t, obj.Theta_start)
    np.testing.assert_allclose(ev.fit.Theta, ref.Theta, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("goal", GOALS)
@pytest.mark.parametrize("case", SQUARED)
@settings(max_examples=10, deadline=None, derandomize=True)
@given(u=unit, t=st.floats(-5, 15, allow_nan=False), v=unit)
def test_observed_quadratic_equals_the_effect_and_its_implicit_gradient(case, goal, u, t, v):
    """RankOneSolver evaluates a quadratic E at the optimum without forming θ, and
    evaluates the gradient formula in its own basis instead of solving with H: both
    must equal the effect evaluated at the formed θ and the general implicit gradient."""
    X = case.X
    obj = _objective(case, GOALS[goal]())
    quadratic = obj.effect.quadratic
    assert quadratic is not None and obj._solver.observe is quadratic
    theta = obj.Theta_start.ravel() + 0.5 * np.asarray(v)[np.arange(obj.Theta_start.size) % D]
    assert quadratic.value(theta) == pytest.approx(
        obj.effect.value(theta[None], (theta[None] @ obj._T).ravel()), rel=1e-12, abs=1e-12
    )

    phi = obj._features(_candidate(obj, X, u))
    trial = obj._solver.trial(phi, t, obj.Theta_start)
    if trial is None:  # L1: the clean support is not this optimum's
        ref = _reference(obj, phi, t, obj.Theta_start)
        trial = obj._solver.trial(phi, t, ref.Theta)
    fit = obj._solver.fit_of(trial)
    public = (fit.Theta @ obj._T).ravel()
    E, dE = obj.effect(fit.Theta, public)
    assert trial.value == pytest.approx(E, rel=1e-10, abs=1e-12)
    d = X.shape[1]
    term = lrn.row_term(obj.victim.learner, trial.phi_theta, t, obj._solver.n)
    gx, gt = obj._solver.implicit_gradient(trial, term, d)
    ref_x, ref_t = lrn.implicit_gradient(obj.victim.learner, fit, phi, t, d, dE, True)
    scale = max(1.0, np.max(np.abs(ref_x)))
    np.testing.assert_allclose(gx, ref_x, rtol=1e-9, atol=1e-11 * scale)
    assert gt == pytest.approx(ref_t, rel=1e-9, abs=1e-11 * scale)


def test_adding_rows_at_once_equals_adding_them_one_by_one():
    """``with_rows`` (the passes' rebuild: one copy, not one per row) holds the same
    training set as repeated ``with_row``, for rows kept and for sufficient statistics."""
    rng = np.random.default_rng(0)
    Phi, t = rng.normal(size=(30, 4)), rng.normal(size=30)
    extra, t_extra = rng.normal(size=(5, 4)), rng.normal(size=5)
    rows, gram = lrn.RowData(Phi, t), lrn.GramData.from_rows(Phi, t)
    one_rows, one_gram = rows, gram
    for phi, ti in zip(extra, t_extra):
        one_rows, one_gram = one_rows.with_row(phi, ti), one_gram.with_row(phi, ti)
    at_once_rows, at_once_gram = rows.with_rows(extra, t_extra), gram.with_rows(extra, t_extra)
    assert np.array_equal(at_once_rows.Phi, one_rows.Phi)
    assert np.array_equal(at_once_rows.t, one_rows.t)
    assert at_once_gram.n == one_gram.n == 35
    assert np.allclose(at_once_gram.G, one_gram.G, rtol=1e-13, atol=1e-12)
    assert np.allclose(at_once_gram.r, one_gram.r, rtol=1e-13, atol=1e-12)
    assert at_once_gram.q == pytest.approx(one_gram.q, rel=1e-13)


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**16),
    duplicated=st.integers(0, 3),
    zero=st.booleans(),
    groups=st.integers(0, 2),
    alpha=st.floats(1e-4, 1.0),
)
def test_l1_solver_on_collinear_features_finds_scikit_learns_fit(
    seed, duplicated, zero, groups, alpha
):
    """Rank-deficient designs (duplicated columns, a zero column, one-hot groups that
    sum to the intercept's column): the L1 solver reaches scikit-learn's objective value
    and fitted values, on a basic support (A definite on it), cold or warm."""
    from sklearn.linear_model import Lasso

    from flexpoison.engine import l1

    rng = np.random.default_rng(seed)
    n = 60
    X, y = rank_deficient_design(rng, n, duplicated, zero, groups)
    Z = np.hstack([X, np.ones((n, 1))])
    A, c = Z.T @ Z / n, Z.T @ y / n
    lam = np.append(np.full(X.shape[1], alpha), 0.0)
    ref = Lasso(alpha=alpha, tol=1e-14, max_iter=10**6).fit(X, y)
    theta_ref = np.append(ref.coef_, ref.intercept_)
    f_ref = l1.objective(A, c, lam, theta_ref[None])[0]
    for start in (np.zeros(Z.shape[1]), theta_ref):
        theta, active = l1.solve(A, c, lam, start, "Lasso")
        assert l1.objective(A, c, lam, theta[None])[0] <= f_ref + 1e-10 * (1 + abs(f_ref))
        assert np.allclose(Z @ theta, Z @ theta_ref, atol=1e-6 * (1 + np.abs(y).max()))
        eigenvalues = np.linalg.eigvalsh(A[np.ix_(active, active)])
        assert eigenvalues[0] > 1e-10 * eigenvalues[-1]


WIDE = [
    pytest.param(c, id=c.id)
    for c in CASES
    if c.victim.learner.loss.curvature is not None
    and c.victim.learner.l1 == 0
    and c.victim.learner.l2 > 0
    and c.spec.task == "regression"
]


@pytest.mark.parametrize("case", WIDE)
@pytest.mark.parametrize("goal", ["flip-top", "loss"])
@settings(max_examples=10, deadline=None, derandomize=True)
@given(u=unit, t=st.floats(-5, 15, allow_nan=False))
def test_dual_rank_one_solver_equals_the_dense_one(case, goal, u, t):
    """On fewer rows than half the features the rank-one solver inverts A in the dual
    (Woodbury, n × n): its optimum, factor, observed effect and implicit gradient must
    equal the dense p × p solver's on the same statistics."""
    rng = np.random.default_rng(0)
    n, d = 12, 30
    X = rng.normal(size=(n, d)) * np.linspace(0.5, 3.0, d) + 1.0
    y = X[:, 0] - X[:, 1] + rng.normal(size=n)
    goals = {"flip-top": lambda: Integrity("flip-top"), "loss": GOALS["loss-availability"]}
    obj = FlexiblePoisoning(
        case.estimator, goal=goals[goal](), alpha=0.3, random_state=0
    ).objective(X, y)
    dual = obj._solver
    assert dual is not None and obj.data.rows is not None
    assert isinstance(dual._full.Ainv, lrn.WoodburyInverse)
    gram = obj.data
    dense = lrn.RankOneSolver(
        obj.victim.learner, lrn.GramData(gram.G, gram.r, gram.q, gram.n), obj.effect.quadratic
    )
    phi = obj._features(X.mean(0) + 2 * X.std(0) * np.resize(np.asarray(u), d))
    a, b = dual.trial(phi, t, obj.Theta_start), dense.trial(phi, t, obj.Theta_start)
    fa, fb = dual.fit_of(a), dense.fit_of(b)
    scale = np.max(np.abs(fb.Theta))
    np.testing.assert_allclose(fa.Theta, fb.Theta, rtol=1e-8, atol=1e-10 * scale)
    vec = np.linspace(-1.0, 2.0, phi.size)
    want = fb.factor.solve(vec)
    np.testing.assert_allclose(
        fa.factor.solve(vec), want, rtol=1e-7, atol=1e-9 * np.max(np.abs(want))
    )
    assert a.value == pytest.approx(b.value, rel=1e-8, abs=1e-10)
    term = lrn.row_term(obj.victim.learner, b.phi_theta, t, dense.n)
    ga, _ = dual.implicit_gradient(a, term, d)
    gb, _ = dense.implicit_gradient(b, term, d)
    np.testing.assert_allclose(ga, gb, rtol=1e-7, atol=1e-9 * np.max(np.abs(gb)))


def test_wide_ridge_attack_agrees_with_a_scikit_learn_refit():
    """An attack on fewer rows than features (the dual path) returns a θ_poisoned that a
    tight scikit-learn refit of the returned rows reproduces, and no refit warning."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 200))
    y = X[:, 0] + 0.1 * rng.normal(size=40)
    result = FlexiblePoisoning(
        Ridge(alpha=0.5),
        goal=Integrity("flip-top"),
        alpha=0.0,
        n_points=3,
        max_iter=20,
        random_state=0,
    ).generate(X, y)
    model = Ridge(alpha=0.5).fit(np.vstack([X, result.X_poison]), np.r_[y, result.y_poison])
    theta = np.r_[model.coef_, model.intercept_]
    np.testing.assert_allclose(
        result.theta_poisoned, theta, rtol=1e-7, atol=1e-9 * np.max(np.abs(theta))
    )
    assert not [w for w in result.warnings if "refit" in w]


@pytest.mark.parametrize("case", L1)
def test_rank_one_solver_stops_building_supports_that_keep_failing(case):
    """Once its active sets answer fewer than 4 L1 trials each (the support keeps
    changing), the solver builds no new one (O(p³) each, ~5 general solves) and hands
    new warm starts to the general solver; sets it already holds are still used."""
    obj = _objective(case)
    solver = obj._solver
    solver._sets.update({b"held 1": None, b"held 2": None})
    held = len(solver._sets)
    solver._answered = 4 * held - 1
    Theta0 = obj.Theta_start.copy()
    Theta0[0, : case.X.shape[1]] = np.where(Theta0[0, : case.X.shape[1]] == 0, 1.0, 0.0)
    assert solver._entry(Theta0) is None and len(solver._sets) == held
    solver._answered = 4 * held  # 4 answers per set: worth building again
    solver._entry(Theta0)
    assert len(solver._sets) == held + 1


def test_newton_from_a_warm_start_far_past_a_log_links_optimum():
    """A warm start that puts some row's score ~100 past a log link's optimum (a
    candidate at feature scale 1000) takes Newton ~100 steps: the solver restarts from
    the standard start instead of returning an iterate that is not the optimum (it did,
    silently: its objective was 10¹³ times scikit-learn's); if neither start converges
    it raises ConvergenceError."""
    from sklearn.linear_model import PoissonRegressor

    from flexpoison import ConvergenceError

    rng = np.random.default_rng(0)
    X = np.column_stack([1000.0 * rng.normal(size=40), rng.normal(size=40)])
    y = rng.poisson(1.0, size=40).astype(float)
    obj = FlexiblePoisoning(
        PoissonRegressor(alpha=0.05, fit_intercept=False), random_state=0
    ).objective(X, y)
    learner, data = obj.victim.learner, obj.data
    far = obj.Theta_start + np.array([[0.1, 0.0]])  # scores up to ~250
    fitted = lrn.fit(learner, data, far)
    np.testing.assert_allclose(fitted.Theta, obj.Theta_start, rtol=1e-8, atol=1e-12)
    with pytest.raises(ConvergenceError, match="did not converge in 2 steps"):
        lrn.fit(learner, data, far, max_iter=2)
