"""The local model of a smooth loss's training rows (:mod:`flexpoison.engine.local`).

It answers the attack's trial rows in O(K·p²) whatever n; what it reports is held to
the exact solvers: its θ_p within its own error bound of the exact optimum, its exact
solve to the general solver, its gradient to finite differences of exact refits, the
model it hands over to one built afresh, and every θ the attack reports to a tight
scikit-learn refit on the same rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, PoissonRegressor

from flexpoison import FlexiblePoisoning, Integrity, models
from flexpoison import engine as lrn
from flexpoison.engine.local import root_floor


def _poisson(n, seed=0, d=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.poisson(np.exp(0.3 * X[:, 0] - 0.2 * X[:, 1] + 0.5)).astype(float)
    return X, y


def _classes(n, seed=0, k=2, d=4):
    """Overlapping classes: Gaussian rows, labels drawn from a linear softmax model
    (the regime of many rows the local model is for; separable classes are not)."""
    rng = np.random.default_rng([seed, k])
    X = rng.standard_normal((n, d))
    W = rng.uniform(-1.0, 1.0, size=(k, d))
    return X, np.argmax(X @ W.T + rng.gumbel(size=(n, k)), axis=1)


MODELS = {
    "logistic": (LogisticRegression(C=1.0), _classes),
    "multinomial": (LogisticRegression(C=1.0), lambda n, s: _classes(n, s, k=3)),
    "poisson": (PoissonRegressor(alpha=0.1), _poisson),
}


def _objective(name, n=3000, seed=0):
    estimator, make = MODELS[name]
    X, y = make(n, seed)
    obj = FlexiblePoisoning(estimator, goal=Integrity(), alpha=0.0, random_state=0).objective(X, y)
    return obj, X, y


def _row(obj, X, y, u, label_row=1):
    x = X.mean(0) + 2.0 * X.std(0) * np.resize(np.asarray(u, dtype=float), X.shape[1])
    t = float(obj.victim.encode(y[label_row : label_row + 1])[0])
    return x, obj._features(x), t


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=12, deadline=None, derandomize=True)
@given(u=st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4))
def test_a_trial_is_within_its_error_bound_and_estimate_of_the_exact_optimum(name, u):
    """‖θ_model − θ_exact‖ ≤ (e^bound − 1)·‖θ_exact − θ_0‖ (the worst case over the
    rows), and ‖θ_model − θ_exact‖∞ ≤ 6·ρ²·‖θ_exact − θ_0‖∞ (the estimate that decides
    which trials are trusted; up to 5.3·ρ² measured), on points out to 2σ."""
    obj, X, y = _objective(name)
    model = obj._local
    assert model is not None
    x, phi, t = _row(obj, X, y, u)
    trial = model.trial(phi, t)
    assert trial.bound <= lrn.LocalModel.RADIUS  # else error is ∞ and the estimate moot
    exact = lrn.fit(obj.victim.learner, lrn.PlusRow(obj.data, phi, t), obj.Theta_start).Theta
    move = np.linalg.norm(exact - obj.Theta_start)
    error = np.linalg.norm(trial.Theta - exact)
    assert error <= np.expm1(trial.bound) * move + 1e-12 * np.linalg.norm(exact)
    move_max = np.abs(exact - obj.Theta_start).max()
    assert np.abs(trial.Theta - exact).max() <= 6.0 * trial.error * move_max + 1e-13


@pytest.mark.parametrize("name", MODELS)
def test_the_exact_solve_is_the_general_solvers_optimum(name):
    obj, X, y = _objective(name)
    x, phi, t = _row(obj, X, y, [0.9, -0.9, 0.5, 0.2])
    guess = obj._local.trial(phi, t).Theta
    Theta, _ = obj._local.solve(phi, t, guess)
    ref = lrn.fit(obj.victim.learner, lrn.PlusRow(obj.data, phi, t), obj.Theta_start)
    np.testing.assert_allclose(Theta, ref.Theta, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_the_model_gradient_matches_finite_differences_of_exact_refits(name):
    """The attack's trial gradient (the model's Hessian) against central differences of
    exact evaluations: within 1e-5 relative on 20,000 rows, a point 1.2σ out."""
    obj, X, y = _objective(name, n=20000)
    x, phi, t = _row(obj, X, y, [0.2, -0.3, 0.15, 0.05])
    ev = obj.evaluate(x, t)
    assert ev.modelled
    h = 1e-5 * (1.0 + np.abs(x))
    fd = np.array(
        [
            (
                obj.evaluate(x + h[j] * e, t, exact=True, with_gradient=False).W
                - obj.evaluate(x - h[j] * e, t, exact=True, with_gradient=False).W
            )
            / (2 * h[j])
            for j, e in enumerate(np.eye(x.size))
        ]
    )
    exact = obj.evaluate(x, t, exact=True).grad_x
    np.testing.assert_allclose(exact, fd, rtol=1e-5, atol=1e-8 * np.abs(fd).max())
    assert np.linalg.norm(ev.grad_x - fd) <= 1e-5 * np.linalg.norm(fd)


@pytest.mark.parametrize("name", MODELS)
def test_the_handed_over_model_answers_like_a_fresh_one(name):
    """After a kept row, the model extended by the exact solve's last pass (its Hessian
    possibly from an earlier centre) and one built afresh at the new optimum give θ_p
    within their error bounds of each other."""
    obj, X, y = _objective(name, n=20000)
    x, phi, t = _row(obj, X, y, [0.35, 0.1, -0.4, 0.2])
    kept = obj.exact(obj.evaluate(x, t, with_gradient=False))
    after = obj.with_point(x, t, kept.fit.Theta)
    fresh = lrn.LocalModel.for_data(obj.victim.learner, after.data, kept.fit.Theta)
    assert after._local is not None and after._local.data is after.data
    assert after.data.n == obj.data.n + 1
    np.testing.assert_array_equal(after.data.Phi[-1], phi)
    x2, phi2, t2 = _row(obj, X, y, [-0.25, 0.3, 0.15, -0.45], label_row=2)
    a, b = after._local.trial(phi2, t2), fresh.trial(phi2, t2)
    exact = lrn.fit(after.victim.learner, lrn.PlusRow(after.data, phi2, t2), kept.fit.Theta)
    move = np.linalg.norm(exact.Theta - kept.fit.Theta)
    for trial in (a, b):
        assert trial.trusted
        assert np.linalg.norm(trial.Theta - exact.Theta) <= np.expm1(trial.bound) * move + 1e-12
        assert np.abs(trial.Theta - exact.Theta).max() <= 6.0 * trial.error * move + 1e-13


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shift", [0.02, 0.19])
def test_the_extended_model_reads_the_rows_drift_from_their_scores(name, shift):
    """The handed-over model's drift is max_i max_k |z_ik(Θ) − z_c,ik| over the kept rows
    (their scores at the pass's Θ against their centres); past RADIUS/2 the rows that
    moved past RADIUS/4 take their scores at Θ as their centres, the others keep theirs
    (a small move, and a large one that re-expands some rows)."""
    obj, X, y = _objective(name, n=2000)
    model = obj._local
    x, phi, t = _row(obj, X, y, [0.35, 0.1, -0.4, 0.2])
    model.trial(phi, t)  # formed: the centre and its scores
    Theta_c, _, _, scores = model.centre
    z_c = scores.z[: model.data.n].copy()
    Theta = Theta_c.copy()
    Theta[0, 0] += shift / model.rate  # scores move by that times feature 0 (standard normal)
    passed = model.pass_at(phi, t, Theta)
    Z = passed[4]
    new = model.extended(passed)
    moved = np.max(np.abs(Z - z_c), axis=1)
    rate = model.rate
    if rate * moved.max() <= 0.5 * model.RADIUS:
        assert new.drift == moved.max()
        np.testing.assert_array_equal(new.centre[3].z[: model.data.n], z_c)
        return
    far = rate * moved > 0.25 * model.RADIUS
    assert 0 < far.sum() <= model.data.n // 4  # this case re-expands some rows
    expected = np.where(far[:, None], Z, z_c)
    np.testing.assert_array_equal(new.centre[3].z[: model.data.n], expected)
    assert new.drift == np.max(np.abs(Z - expected))


@pytest.mark.parametrize("name", MODELS)
def test_every_reported_theta_is_what_scikit_learn_fits_on_the_same_rows(name):
    """An attack whose trials are the model's still reports exact models: the poisoned
    θ after every point equals a tight scikit-learn refit on clean + poison rows."""
    estimator, make = MODELS[name]
    X, y = make(20000, 3)
    counted = []
    original = lrn.LocalModel.trial

    def trial(self, phi, t):
        out = original(self, phi, t)
        counted.append(out is not None and out.trusted)
        return out

    lrn.LocalModel.trial = trial
    try:
        result = FlexiblePoisoning(
            estimator, goal=Integrity(), alpha=0.5, n_points=4, max_iter=15, random_state=0
        ).generate(X, y)
    finally:
        lrn.LocalModel.trial = original
    assert sum(counted) > 0.2 * len(counted)  # the model answered many trials
    tight = models.spec_for(estimator).tight_clone(clone(estimator))
    for q in range(4):
        Xq = np.vstack([X, result.X_poison[: q + 1]])
        yq = np.concatenate([y, result.y_poison[: q + 1]])
        fitted = tight.fit(Xq, yq)
        theta = np.hstack(
            [np.atleast_2d(fitted.coef_), np.atleast_1d(fitted.intercept_)[:, None]]
        ).ravel()
        scale = np.abs(theta).max()
        np.testing.assert_allclose(result.theta_history[q], theta, rtol=0, atol=1e-6 * scale)


def test_rows_are_appended_in_place_and_never_rewritten():
    """RowData.with_row extends its store when it is the store's last set, copies
    otherwise; no set's rows change."""
    Phi = np.arange(12.0).reshape(4, 3)
    base = lrn.RowData(Phi, np.zeros(4))
    a = base.with_row(np.full(3, 1.0), 1.0)
    b = a.with_row(np.full(3, 2.0), 2.0)
    assert b.Phi.base is a.Phi.base  # in place: the same store
    c = a.with_row(np.full(3, 3.0), 3.0)  # a is no longer the store's last set: a copy
    assert c.Phi.base is not a.Phi.base
    np.testing.assert_array_equal(b.Phi[-1], 2.0)
    np.testing.assert_array_equal(c.Phi[-1], 3.0)
    np.testing.assert_array_equal(a.Phi[:4], Phi)
    assert (a.n, b.n, c.n) == (5, 6, 6)


def test_a_far_candidate_still_gets_the_models_root():
    """The scalar root r = ℓ'(z₀ − m·r) of one output: for a far row (large m) on the
    logistic loss plain Newton cycles around it; bracketed by the iterates it finds the
    root, which is the model's θ₁ (whether trusted or not, it is an answer, not None)."""
    obj, X, y = _objective("logistic", n=400)
    model = obj._local
    for scale in (3.0, 30.0, 300.0):
        x = X.mean(0) + scale * X.std(0)
        for t in (-1.0, 1.0):
            trial = model.trial(obj._features(x), t)
            assert trial is not None and np.all(np.isfinite(trial.Theta))


def test_the_model_is_not_formed_where_its_third_derivatives_cost_more_than_newton():
    """50 classes × 6 coefficients: T would hold 300³ floats (85 s to form, where the
    attack took over 90 s per point); the attack then solves by Newton alone."""
    from flexpoison.attack import LossAvailability

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(150, 5)), np.arange(150) % 50
    obj = FlexiblePoisoning(
        LogisticRegression(), goal=LossAvailability(), random_state=0
    ).objective(X, y)
    assert lrn.LocalModel.for_data(obj.victim.learner, obj.data, obj.Theta_start) is None
    r = FlexiblePoisoning(
        LogisticRegression(),
        goal=LossAvailability(),
        alpha=0.0,
        n_points=1,
        max_iter=3,
        random_state=0,
    ).generate(X, y)
    assert np.all(np.isfinite(r.theta_poisoned))


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("n", [1, 40, 5000])
def test_the_sums_are_the_row_by_row_tensors(K, n):
    """S = Σ D2 ⊗ φφᵀ and T = Σ D3 ⊗ φ⊗φ⊗φ (one product for a few rows, one per
    feature and block of 4,096 rows past that) equal the plain einsum of every row."""
    from flexpoison.engine.taylor import centred_terms

    rng = np.random.default_rng([n, K])
    Phi = np.c_[rng.normal(size=(n, 5)), np.ones(n)]
    loss = lrn.SoftmaxLoss(K) if K > 1 else lrn.LogisticLoss()
    t = rng.integers(0, K, n).astype(float) if K > 1 else rng.choice([-1.0, 1.0], n)
    Z, Z_c = rng.normal(size=(n, K)), rng.normal(size=(n, K))
    S, T = centred_terms(loss, Phi, t, Z, Z_c)
    D3 = loss.d3(Z, t)
    D2 = loss.d2(Z, t) + np.einsum("iklm,im->ikl", D3, Z_c - Z)
    p = Phi.shape[1]
    S_ref = np.einsum("ikl,ia,ib->kalb", D2, Phi, Phi).reshape(K * p, K * p)
    T_ref = np.einsum("iklm,ia,ib,ic->kalbmc", D3, Phi, Phi, Phi).reshape((K * p,) * 3)
    np.testing.assert_allclose(S, S_ref, rtol=0, atol=1e-12 * np.abs(S_ref).max())
    np.testing.assert_allclose(T, T_ref, rtol=0, atol=1e-12 * np.abs(T_ref).max())


@pytest.mark.parametrize("name", MODELS)
def test_a_loss_effect_on_the_training_rows_is_the_models_cubic_sums(name):
    """LossAvailability() on the training rows: a modelled evaluation's E and ∇_Θ E
    come from the model's cubic sums (no pass over the rows); at that θ_p they equal
    the effect's own pass within 1e-6 of E's change from the clean model (1e-5 for
    the gradient's), on 20,000 rows, a point 1.5σ out, before and after a kept row
    (the kept rows are not effect rows: their terms are taken out of the sums)."""
    from flexpoison.attack import LossAvailability

    estimator, make = MODELS[name]
    X, y = make(20000, 1)
    obj = FlexiblePoisoning(
        estimator, goal=LossAvailability(), alpha=0.0, random_state=0
    ).objective(X, y)
    assert obj._effect_rows == X.shape[0]
    for u, row in (([0.3, -0.5, 0.2, 0.4], 1), ([-0.5, 0.1, 0.45, -0.2], 2)):
        x, phi, t = _row(obj, X, y, u, label_row=row)
        ev = obj.evaluate(x, t)
        assert ev.modelled
        E0 = obj.effect_at(obj.Theta_start)
        E, dE = obj.effect(ev.fit.Theta, ev.theta)
        assert abs(ev.E - E) <= 1e-6 * abs(E - E0)
        dE0 = obj.effect.gradient(obj.Theta_start, None)
        assert np.abs(ev.dE - dE).max() <= 1e-5 * np.abs(dE - dE0).max()
        kept = obj.exact(ev)
        assert not kept.modelled and kept.E == pytest.approx(E, rel=1e-9)
        obj = obj.with_point(x, t, kept.fit.Theta)


@pytest.mark.parametrize("K", [1, 3])
def test_loss_sums_over_many_rows_are_taken_by_blocks_alike(K, monkeypatch):
    """row_sums past 2 × 8,192 rows sums block by block: the same value, gradient and
    Hessian sums as one product over every row, to rounding."""
    from flexpoison.engine import data as data_module

    rng = np.random.default_rng(K)
    n = 20000
    Phi = np.c_[rng.normal(size=(n, 6)), np.ones(n)]
    loss = lrn.SoftmaxLoss(K) if K > 1 else lrn.LogisticLoss()
    t = rng.integers(0, K, n).astype(float) if K > 1 else rng.choice([-1.0, 1.0], n)
    Theta = 0.3 * rng.normal(size=(K, 7))
    blocked = data_module.row_sums(loss, Phi, t, Theta, True)
    monkeypatch.setattr(data_module, "_BLOCK", n)
    whole = data_module.row_sums(loss, Phi, t, Theta, True)
    assert blocked.value == pytest.approx(whole.value, rel=1e-13)
    np.testing.assert_allclose(
        blocked.grad, whole.grad, rtol=0, atol=1e-12 * np.abs(whole.grad).max()
    )
    np.testing.assert_allclose(
        blocked.hess, whole.hess, rtol=0, atol=1e-12 * np.abs(whole.hess).max()
    )


def _root(loss, z0, M, t):
    """The root of r = ℓ'(z₀ − M·r) by scipy's hybrid Powell method with the Jacobian
    I + ℓ''·M, its residual checked (relative to M's size: r's rounding moves z by M)."""
    from scipy.optimize import root

    def F(r):
        return r - loss.d1((z0 - M @ r)[None], t)[0]

    def J(r):
        return np.eye(M.shape[0]) + loss.d2((z0 - M @ r)[None], t)[0] @ M

    sol = root(F, loss.d1(z0[None], t)[0], jac=J, method="hybr", tol=1e-14)
    assert np.abs(F(sol.x)).max() <= 1e-12 * (1.0 + np.abs(M).max())
    return sol.x


@pytest.mark.parametrize("K", [1, 2, 3, 5])
@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31), scale=st.sampled_from([0.01, 1.0, 30.0]))
def test_the_root_floor_is_below_the_root_and_tight_for_a_linear_gradient(K, seed, scale):
    """:func:`root_floor` ≤ ‖r*‖_M at the root of r = ℓ'(z₀ − M·r) for the logistic and
    softmax losses with their declared ``curvature_max`` (M random positive
    semi-definite, its spread bounded by the largest absolute row sum as the trial
    does); and equal to it for ℓ' = L·z with z₀ along M's top eigenvector (the bound
    cannot be raised)."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((K, K)) * scale
    M = G @ G.T
    z0 = rng.standard_normal(K) * 3.0
    if K == 1:
        loss, t = lrn.LogisticLoss(), np.array([rng.choice([-1.0, 1.0])])
    else:
        loss, t = lrn.SoftmaxLoss(K), np.array([float(rng.integers(K))])

    r = _root(loss, z0, M, t)
    r0 = loss.d1(z0[None], t)[0]
    spread = float(np.abs(M).sum(axis=1).max())
    floor = root_floor(np.sqrt(r0 @ M @ r0), loss.curvature_max, spread)
    assert floor <= np.sqrt(max(0.0, r @ M @ r)) * (1 + 1e-9) + 1e-12
    L = 0.7
    w, V = np.linalg.eigh(M)
    z0 = V[:, -1]
    r = np.linalg.solve(np.eye(K) + L * M, L * z0)  # r = L·(z₀ − M·r)
    exact = root_floor(np.sqrt(L * z0 @ M @ (L * z0)), L, w[-1])
    assert exact == pytest.approx(np.sqrt(r @ M @ r), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("data", ["wine", "breast_cancer"])
def test_a_skipped_trial_is_one_the_root_would_not_trust_and_evaluates_the_same(data, monkeypatch):
    """Trials the root's floor skips against the same trials with the skip off
    (``_beyond`` None): every skipped one is untrusted there too, its bound at least the
    floor's; every other trial is the same; and the objective's evaluations (W,
    gradient, θ_p, modelled or not) and an attack's rows are bit-identical. The
    candidates are training rows scaled by ½–1½ with their own label (mostly trusted)
    or the next one (skipped): both kinds occur (the counts are asserted)."""
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.preprocessing import StandardScaler

    from flexpoison import Availability

    X, y = (load_wine if data == "wine" else load_breast_cancer)(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rng = np.random.default_rng(0)
    K = int(y.max()) + 1
    points = [  # training rows scaled, with their own label or the next (misfit)
        (scale * X[i], (y[i] + shift) % K)
        for shift in (0, 1)
        for scale in (0.5, 1.0, 1.5)
        for i in rng.choice(len(y), 8, replace=False)
    ]

    def run():
        attack = FlexiblePoisoning(
            LogisticRegression(), Availability(), n_points=2, random_state=0, alpha=0.0
        )
        obj = attack.objective(X, y)
        model = obj._local
        trials, evals = [], []
        for x, label in points:
            t = float(obj.victim.encode(np.array([label]))[0])
            trials.append(model.trial(obj._features(x), t))
            for exact in (False, True):
                ev = obj.evaluate(x, t, exact=exact)
                evals.append((ev.W, ev.grad_x, ev.theta, ev.modelled))
        return trials, evals, attack.generate(X, y).X_poison

    skipped, ev_skip, rows_skip = run()
    monkeypatch.setattr(lrn.LocalModel, "_beyond", lambda self, size0, spread: None)
    full, ev_full, rows_full = run()
    n_skipped = n_trusted = 0
    for a, b in zip(skipped, full, strict=True):
        if a is not None and a.Theta is None:  # skipped
            n_skipped += 1
            assert b is None or (not b.trusted and b.bound >= a.bound * (1 - 1e-9))
        else:
            assert (a is None) == (b is None)
            if a is not None:
                n_trusted += a.trusted
                np.testing.assert_array_equal(a.Theta, b.Theta)
                assert (a.bound, a.error, a.trusted) == (b.bound, b.error, b.trusted)
    assert n_skipped >= 10 and n_trusted >= 5, (n_skipped, n_trusted)
    for a, b in zip(ev_skip, ev_full, strict=True):
        assert a[0] == b[0] and a[3] == b[3]
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(rows_skip, rows_full)
