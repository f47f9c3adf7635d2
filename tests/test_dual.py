"""The kernel classifier's exact fit (flexpoison.engine.dual, engine.active_set,
engine.margin) on data that breaks libsvm alone: duplicated rows, degenerate margin sets,
a huge C, large kernel values. The registry's well-conditioned examples are checked by
tests/test_contract_decision.py; here:

1. the margin system of a degenerate set: its rank seen through rounding, exact solves
   and their adjoint;
2. the active-set method finishes what libsvm leaves (stopped early, or from another
   optimum) at the optimum a tight libsvm refit finds;
3. gradients on degenerate margin sets (duplicated lattice rows; a linear kernel with more
   margin rows than d + 1) equal central differences of flexpoison's W and of W from tight
   scikit-learn refits where the sets are stable;
4. duplicate-row data, C = 1e8 and a polynomial kernel on features around 100 give a
   result or one ConvergenceError line in seconds;
5. the squared distances behind the RBF kernel keep their digits between near rows far
   from the origin (where ‖a‖² + ‖b‖² − 2a·b cancels).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.svm import SVC

from conftest import tight
from flexpoison import ConvergenceError, FlexiblePoisoning, LossAvailability
from flexpoison.engine import active_set, dual
from flexpoison.engine.margin import MarginSystem, margin_matrix
from flexpoison.models import kernel as kernel_models


def _lattice(n: int, seed: int, d: int = 2, levels: int = 4):
    """Small-integer rows (many duplicates), labels from a noisy linear rule."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, levels, size=(n, d)).astype(float)
    y = (X.sum(1) + rng.normal(scale=0.8, size=n) > (levels - 1) * d / 2).astype(int)
    return X, y


def _blobs(n: int, seed: int, d: int = 3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng.normal(size=(n, d)) + 0.8 * (2 * y[:, None] - 1), y


def _targets(y):
    return np.where(y == np.unique(y)[1], 1.0, -1.0)


@pytest.mark.parametrize("offset", [0.0, 300.0])
def test_a_degenerate_margin_system_is_solved_exactly(offset):
    """Duplicated rows make M singular: the kept equations exclude the candidate's (the
    last row's) first, consistent right-hand sides are solved to rounding — also with
    rows far from the origin (offset 300), which only the centred form sees as singular
    — and adjoint(a) satisfies uᵀe = aᵀ·solve(e) for every e."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2)) + offset
    X[4] = X[1]  # a duplicate
    X[5] = X[2]  # the candidate on another row
    K = dual.Kernel("rbf", 0.7).matrix(X, X)
    M = margin_matrix(K, np.arange(6))
    system = MarginSystem.factor(M, candidate=5)
    assert system.degenerate and 5 not in system.rows and 6 in system.rows
    e = M @ rng.normal(size=7)  # in M's range: consistent
    x = system.solve(e)
    assert np.allclose(M @ x, e, atol=1e-10 * np.abs(e).max())
    a = rng.normal(size=7)
    assert system.adjoint(a) @ e == pytest.approx(a @ x, rel=1e-9)


def test_a_linear_margin_past_its_rank_is_seen_as_degenerate():
    """A linear kernel on 2 features near 300 holds at most 3 independent margin rows;
    7 leave M singular by rounding only 1e-11 below its size, which LU's pivots miss."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 2)) + 300.0
    M = margin_matrix(dual.Kernel("linear").matrix(X, X), np.arange(7))
    system = MarginSystem.factor(M, candidate=6)
    assert system.rows.tolist() == [0, 1, 2, 7]
    e = M @ rng.normal(size=8)
    assert np.abs(M @ system.solve(e) - e).max() <= 1e-12 * np.abs(e).max()


@pytest.mark.parametrize("kind", ["linear", "rbf", "poly"])
def test_the_active_set_method_finishes_a_libsvm_stopped_early(kind):
    """libsvm stopped after 20 iterations is far from the optimum; the fit from there
    meets every row's optimality condition to 1e-9, and a tight libsvm refit agrees to
    its own precision (1e-5 × max k: it caches the kernel in single precision)."""
    X, y = _blobs(80, 1)
    t = _targets(y)
    kernel = {
        "linear": dual.Kernel("linear"),
        "rbf": dual.Kernel("rbf", 0.5),
        "poly": dual.Kernel("poly", 0.4, 3, 1.0),
    }[kind]

    def stopped(K, t, C, tol, max_iter):
        return kernel_models.libsvm_fit(K, t, C, tol, 20)

    fit = dual.fit(kernel, X, t, 2.0, solve=stopped)
    params = {"kernel": kind, "C": 2.0, "gamma": kernel.gamma, "degree": 3, "coef0": 1.0}
    sk = tight(SVC(**params)).fit(X, y)
    K = kernel.matrix(X, X)
    gap = np.abs(fit.decision(kernel, X) - sk.decision_function(X)).max()
    assert gap < 1e-5 * max(1.0, np.abs(K).max())
    codes = np.where(
        np.isin(np.arange(80), fit.margin),
        active_set.MARGIN,
        np.where(fit.beta == 0, active_set.OFF, active_set.BOUND),
    )
    missed, _ = active_set.violations(K, t, 2.0, fit.beta, fit.b, codes)
    assert missed.max() < 1e-9


def test_a_warm_start_reaches_the_same_model_as_libsvm():
    """From the optimum before one row moved, the active-set method lands on the model a
    fit from libsvm finds."""
    X, y = _blobs(60, 2)
    t = _targets(y)
    kernel = dual.Kernel("rbf", 0.5)
    before = dual.fit(kernel, X, t, 1.0, solve=kernel_models.libsvm_fit)
    X2 = X.copy()
    X2[7] += 0.6
    warm = dual.fit(kernel, X2, t, 1.0, solve=kernel_models.libsvm_fit, start=before.Theta)
    cold = dual.fit(kernel, X2, t, 1.0, solve=kernel_models.libsvm_fit)
    assert np.abs(warm.decision(kernel, X2) - cold.decision(kernel, X2)).max() < 1e-9


def _oracle_W(estimator, X, y, alpha, x, y_p) -> float:
    """W = α‖x − x_c‖² − (1 − α)·mean hinge loss at the clean rows, from a tight
    scikit-learn refit on X ∪ {x}."""
    fitted = tight(estimator).fit(np.vstack([X, x]), np.append(y, y_p))
    s = np.where(y == fitted.classes_[1], 1.0, -1.0)
    E = float(np.mean(np.maximum(0.0, 1.0 - s * fitted.decision_function(X))))
    return alpha * float(np.sum((x - X.mean(0)) ** 2)) - (1 - alpha) * E


def _central(f, x, h):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # slow on lattices
@pytest.mark.parametrize(
    "estimator, seed, x, t",
    [
        (SVC(kernel="rbf", C=1.0, gamma=0.5), 1, [1.3, 1.7], 1.0),  # duplicated margin rows
        (SVC(kernel="linear", C=10.0), 0, [1.3, 1.7], 1.0),  # 6 margin rows, d + 2 = 4 kept
        (SVC(kernel="linear", C=10.0), 1, [0.5, 2.5], -1.0),
    ],
)
def test_the_gradient_on_a_degenerate_margin_set(estimator, seed, x, t):
    """On lattice data the margin set is degenerate (M singular, β's split between
    duplicates not unique); where the rows on and inside the margin stay the same within
    the stencil the gradient equals central differences of flexpoison's W (1e-5) and of
    W from tight scikit-learn refits (1e-3)."""
    X, y = _lattice(60, seed)
    alpha = 0.3
    obj = FlexiblePoisoning(
        estimator, goal=LossAvailability(), alpha=alpha, random_state=0
    ).objective(X, y)
    x = np.array(x)
    fit = obj.evaluate(x, t, with_gradient=False).dual
    assert fit.system is not None and fit.system.degenerate
    y_p = obj.victim.decode(np.array([t]))[0]

    def sets(v):  # which rows are on and inside the margin: f's, not β's split
        d = obj.evaluate(v, t, with_gradient=False).dual
        m = d.t * d.decision(obj.kernel, d.X)
        return tuple(np.flatnonzero(np.abs(m - 1) < 1e-9)), tuple(np.flatnonzero(m < 1 - 1e-9))

    held = sets(x)
    for h in (1e-6, 1e-3):
        assert all(sets(x + s * h * e) == held for e in np.eye(2) for s in (-1, 1))
    grad = obj.gradient(x, y_p)
    own = _central(lambda v: obj.value(v, y_p), x, 1e-6)
    theirs = _central(lambda v: _oracle_W(estimator, X, y, alpha, v, y_p), x, 1e-3)
    assert np.linalg.norm(grad - own) <= 1e-5 * np.linalg.norm(own)
    assert np.linalg.norm(grad - theirs) <= 1e-3 * np.linalg.norm(theirs)


def _fair_like(n: int = 300, seed: int = 0):
    """Like statsmodels' ``fair``: small-integer features, most rows duplicated, labels
    that disagree on some duplicates."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(1, 6, n), rng.integers(0, 4, n), rng.integers(1, 5, n)])
    y = (X @ np.array([-0.6, 0.5, -0.3]) + rng.normal(size=n) > -1.5).astype(int)
    return X.astype(float), y


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["rbf", "linear"])
def test_duplicate_rows_give_a_result(kind):
    """Issue 22: on data whose rows are mostly duplicates the attack returns a result
    that raises the hinge loss."""
    X, y = _fair_like()
    assert np.unique(X, axis=0).shape[0] < X.shape[0] / 3
    result = FlexiblePoisoning(
        SVC(kernel=kind),
        goal=LossAvailability(),
        alpha=0.0,
        n_points=3,
        max_iter=20,
        random_state=0,
    ).generate(X, y)
    assert result.effect_final > result.effect_clean


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["rbf", "linear"])
def test_statsmodels_fair_gives_a_result(kind):
    """The case of issue 22: statsmodels' ``fair`` (300 rows, small-integer features,
    most rows duplicated) raised SingularHessianError (RBF) or ran for minutes (linear)."""
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.fair.load_pandas().data.sample(300, random_state=0)
    X, y = data.drop(columns="affairs"), (data.affairs > 0).astype(int)
    result = FlexiblePoisoning(
        SVC(kernel=kind),
        goal=LossAvailability(),
        alpha=0.0,
        n_points=2,
        max_iter=20,
        random_state=0,
    ).generate(X, y)
    assert result.effect_final > result.effect_clean


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["rbf", "linear", "poly"])
def test_a_huge_C_gives_a_result_or_a_convergence_error_quickly(kind):
    """Issue 22: SVC(C=1e8) ran without end. It now returns within seconds, a result
    or a ConvergenceError that names C and the remedy."""
    X, y = _blobs(120, 3, d=4)
    X[:, 0] += 0.5 * np.random.default_rng(0).normal(size=120)  # not separable
    start = time.perf_counter()
    try:
        result = FlexiblePoisoning(
            SVC(kernel=kind, C=1e8),
            goal=LossAvailability(),
            alpha=0.0,
            n_points=2,
            max_iter=10,
            random_state=0,
        ).generate(X, y)
    except ConvergenceError as exc:
        assert "C = 1e+08" in str(exc) and "standardise the features or lower C" in str(exc)
        assert "\n" not in str(exc)
    else:
        assert np.isfinite(result.effect_final)
    assert time.perf_counter() - start < 30


@pytest.mark.timeout(60)
def test_a_polynomial_kernel_on_features_near_100_is_refused_quickly():
    """Kernel values of 1e12 leave f to rounding: one ConvergenceError line, at once."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4)) + 100.0
    y = (X[:, 0] + X[:, 1] + 0.5 * rng.normal(size=100) > 200).astype(int)
    start = time.perf_counter()
    with pytest.raises(ConvergenceError, match="kernel values up to 1.1e\\+12.*standardise"):
        FlexiblePoisoning(
            SVC(kernel="poly"), goal=LossAvailability(), n_points=1, random_state=0
        ).generate(X, y)
    assert time.perf_counter() - start < 20


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    offset=st.sampled_from([0.0, 1e2, 1e4]),
    spread=st.sampled_from([1e-6, 1e-3, 1.0, 1e3]),
)
def test_squared_distances_keep_their_digits_between_near_rows(seed, offset, spread):
    """Rows spread by ``spread`` around far-apart centres (``offset`` from the origin),
    some duplicated: every entry within a few ε of ‖a − b‖² summed directly, in relative
    terms, and exactly 0 between duplicates."""
    rng = np.random.default_rng(seed)
    centres = offset + 1e3 * rng.normal(size=(3, 4))
    A = centres[rng.integers(0, 3, 12)] + spread * rng.normal(size=(12, 4))
    A[5] = A[2]
    B = np.vstack([A[::2], A[:2] + spread * 1e-3 * rng.normal(size=(2, 4))])
    got = dual.squared_distances(A, B)
    centre = A.mean(axis=0)
    direct = (((A - centre)[:, None, :] - (B - centre)[None, :, :]) ** 2).sum(-1)
    assert np.all(np.abs(got - direct) <= 1e-13 * direct + 1e-300)
    assert got[5, 1] == 0.0 and got[2, 1] == 0.0
